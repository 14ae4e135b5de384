//! The records the store takes and returns: plain data, serialisable, no behaviour.

use jiff::Timestamp;
use serde::Serialize;
use tocsin_core::rate::RateLimit;
use tocsin_core::*;

/// Who did something: a user, an API token, an integration, or Tocsin itself.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Actor {
    /// `user:ID`, `token:ID`, `integration:ID` or `system`.
    pub id: String,
    pub name: String,
}

impl Actor {
    pub fn system() -> Self {
        Self {
            id: "system".into(),
            name: "Tocsin".into(),
        }
    }
    pub fn user(u: &User) -> Self {
        Self {
            id: format!("user:{}", u.id),
            name: u.name.clone(),
        }
    }
    pub fn integration(i: &Integration) -> Self {
        Self {
            id: format!("integration:{}", i.id),
            name: i.name.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct NewUser {
    pub name: String,
    pub email: String,
    pub time_zone: String,
    pub role: Role,
    /// Argon2id PHC string; `None` for users who sign in another way (or not at all yet).
    pub password_hash: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub email: String,
    pub time_zone: String,
    pub role: Role,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// False once an admin deactivated them: they cannot sign in, their API tokens are refused
    /// and escalations skip them.
    pub active: bool,
}

/// What `Store::update_user` changes: each field that is `Some` (already checked).
#[derive(Clone, Debug, Default)]
pub struct UserChanges {
    pub name: Option<String>,
    pub time_zone: Option<String>,
    pub role: Option<Role>,
    pub active: Option<bool>,
}

#[derive(Clone, Debug)]
pub struct NewTeam {
    pub name: String,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Team {
    pub id: TeamId,
    pub name: String,
    pub description: String,
    pub members: Vec<UserId>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct NewApiToken {
    pub name: String,
    pub role: Role,
    pub user_id: Option<UserId>,
    /// Hex SHA-256 of the secret.
    pub token_hash: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: TokenId,
    pub name: String,
    pub role: Role,
    pub user_id: Option<UserId>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<Timestamp>,
}

#[derive(Clone, Debug)]
pub struct NewService {
    pub name: String,
    pub description: String,
    pub team_id: Option<TeamId>,
    pub escalation_policy_id: Option<String>,
    /// Minutes after which an acknowledged, unresolved incident is triggered again.
    pub ack_timeout_minutes: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Service {
    pub id: ServiceId,
    pub name: String,
    pub description: String,
    pub team_id: Option<TeamId>,
    pub escalation_policy_id: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Minutes after which an acknowledged, unresolved incident is triggered again.
    pub ack_timeout_minutes: Option<u32>,
}

#[derive(Clone, Debug)]
pub struct NewIntegration {
    pub service_id: ServiceId,
    pub kind: IntegrationType,
    pub name: String,
    /// The routing key, made by the caller (32 unguessable characters).
    pub key: String,
    /// `None`: the server's default.
    pub rate_limit: Option<RateLimit>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Integration {
    pub id: IntegrationId,
    pub service_id: ServiceId,
    pub kind: IntegrationType,
    pub name: String,
    pub key: String,
    pub rate_limit: Option<RateLimit>,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Incident {
    pub id: IncidentId,
    pub number: i64,
    pub title: String,
    pub status: IncidentStatus,
    pub urgency: Urgency,
    pub severity: Severity,
    pub service_id: ServiceId,
    pub dedup_key: Option<String>,
    pub alert_count: i64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub acknowledged_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<Timestamp>,
    pub assignees: Vec<UserId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Alert {
    pub id: AlertId,
    pub incident_id: IncidentId,
    pub integration_id: IntegrationId,
    pub dedup_key: String,
    pub status: AlertStatus,
    pub summary: String,
    pub source: String,
    pub severity: Severity,
    pub component: Option<String>,
    pub group: Option<String>,
    pub class: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub custom_details: Option<serde_json::Value>,
    pub links: Vec<Link>,
    pub images: Vec<Image>,
    pub client: Option<String>,
    pub client_url: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub first_seen: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub last_seen: Timestamp,
    pub occurrences: i64,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// `triggered`, `alert_added`, `acknowledged`, `resolved`, `alert_resolved`, `note`, …
    pub kind: String,
    pub actor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChangeRecord {
    pub id: String,
    pub service_id: ServiceId,
    pub summary: String,
    pub source: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub timestamp: Timestamp,
    #[schema(value_type = Option<Object>)]
    pub custom_details: Option<serde_json::Value>,
    pub links: Vec<Link>,
}

/// One target of an escalation level, as stored and shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TargetRecord {
    User { id: UserId },
    Schedule { id: String },
    RoundRobin { ids: Vec<UserId> },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct LevelRecord {
    pub delay_minutes: u32,
    pub targets: Vec<TargetRecord>,
}

#[derive(Clone, Debug)]
pub struct NewEscalationPolicy {
    pub name: String,
    pub description: String,
    pub repeat: u32,
    /// Already validated against `tocsin_core::escalation::Policy`.
    pub levels: Vec<LevelRecord>,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EscalationPolicy {
    pub id: String,
    pub name: String,
    pub description: String,
    pub repeat: u32,
    pub levels: Vec<LevelRecord>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct NewContactMethod {
    pub user_id: UserId,
    pub kind: tocsin_core::contact::ContactType,
    /// Already checked with `ContactType::parse_address`.
    pub address: String,
    pub label: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ContactMethod {
    pub id: String,
    pub user_id: UserId,
    #[serde(rename = "type")]
    pub kind: tocsin_core::contact::ContactType,
    pub address: String,
    pub label: String,
    pub verified: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct NewNotificationRule {
    pub user_id: UserId,
    pub contact_method_id: String,
    pub delay_minutes: u32,
    /// `None`: both urgencies.
    pub urgency: Option<Urgency>,
    /// Voice only: call again every N minutes until the incident is acknowledged.
    pub repeat_every_minutes: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct NotificationRule {
    pub id: String,
    pub user_id: UserId,
    pub contact_method_id: String,
    pub delay_minutes: u32,
    pub urgency: Option<Urgency>,
    /// Voice only: the call repeats every N minutes (at most `CALL_REPEATS_MAX` more times)
    /// until the incident is acknowledged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat_every_minutes: Option<u32>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// Calls a repeating voice rule places after the first, at most.
pub const CALL_REPEATS_MAX: u32 = 10;

impl LevelRecord {
    /// The core's view of this level (the same rules plan and validate).
    pub fn to_core(&self) -> tocsin_core::escalation::Level {
        use tocsin_core::escalation::{Level, Target};
        Level {
            delay: jiff::SignedDuration::from_mins(i64::from(self.delay_minutes)),
            targets: self
                .targets
                .iter()
                .map(|t| match t {
                    TargetRecord::User { id } => Target::User(id.clone()),
                    TargetRecord::Schedule { id } => Target::Schedule(id.clone()),
                    TargetRecord::RoundRobin { ids } => Target::RoundRobin(ids.clone()),
                })
                .collect(),
        }
    }
}

impl EscalationPolicy {
    /// The validated core policy, or why it no longer is one.
    pub fn to_core(
        &self,
    ) -> Result<tocsin_core::escalation::Policy, tocsin_core::escalation::PolicyError> {
        tocsin_core::escalation::Policy::new(
            self.levels.iter().map(LevelRecord::to_core).collect(),
            self.repeat,
        )
    }
}

/// Where an incident stands in its policy (the core's `Cursor`, as stored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepCursor {
    pub level: u32,
    pub round: u32,
    pub step: u32,
}

/// An escalation whose next step is due, claimed by this node.
#[derive(Clone, Debug)]
pub struct DueEscalation {
    pub incident: Incident,
    pub policy: EscalationPolicy,
    /// `None` before the first step.
    pub cursor: Option<StepCursor>,
    /// A level (0-based) a human asked for, instead of the next in turn.
    pub manual_level: Option<u32>,
    /// When the step fell due (its lateness is measured against it).
    pub due_at: Timestamp,
    /// A person a human reassigned the incident to: this step pages them.
    pub reassign_to: Option<UserId>,
}

/// A notification to queue in the outbox.
#[derive(Clone, Debug)]
pub struct NewNotification {
    pub user_id: UserId,
    pub contact_method_id: String,
    pub due_at: Timestamp,
    pub idempotency_key: String,
}

/// A step the engine took.
#[derive(Clone, Debug)]
pub struct EscalationStep {
    pub incident_id: IncidentId,
    /// The node that holds the claim.
    pub node: String,
    pub cursor: StepCursor,
    /// `None`: nothing more to do (the policy is exhausted).
    pub next_due: Option<Timestamp>,
    pub notifications: Vec<NewNotification>,
    /// For the timeline: who was notified, how.
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct NotificationRecord {
    pub id: String,
    pub user_id: UserId,
    pub contact_method_id: String,
    #[serde(rename = "type")]
    pub contact_type: Option<tocsin_core::contact::ContactType>,
    pub step: u32,
    /// queued, sending, sent, failed or cancelled.
    pub state: String,
    pub attempts: u32,
    #[schema(value_type = String, format = DateTime)]
    pub due_at: Timestamp,
    pub idempotency_key: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// A stored schedule: its id beside the canonical document it was created from.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ScheduleRecord {
    pub id: String,
    #[serde(flatten)]
    pub spec: tocsin_core::schedule::ScheduleSpec,
    /// The id of each override, in the order of `overrides`: what
    /// `DELETE /api/v1/schedules/{id}/overrides/{override_id}` takes.
    pub override_ids: Vec<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// An override's id: a digest of who covers and when (FNV-1a, 64 bits, in hex). Overrides live
/// inside the schedule's document, so the id needs no column, and it stays the same while the
/// override exists however others are added or dropped around it.
pub fn override_id(o: &tocsin_core::schedule::OverrideSpec) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [o.user_id.as_str(), o.start.as_str(), o.end.as_str()] {
        for b in part.bytes().chain([0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

impl ScheduleRecord {
    /// A record with its overrides' ids.
    pub fn new(
        id: String,
        spec: tocsin_core::schedule::ScheduleSpec,
        created_at: Timestamp,
    ) -> Self {
        let override_ids = spec.overrides.iter().map(override_id).collect();
        Self {
            id,
            spec,
            override_ids,
            created_at,
        }
    }

    /// The resolvable schedule (stored documents were validated on the way in).
    pub fn parse(
        &self,
    ) -> Result<tocsin_core::schedule::Schedule, tocsin_core::schedule::SpecError> {
        tocsin_core::schedule::Schedule::parse(&self.spec)
    }
}

/// A queued notification whose time has come, claimed by this node, with what a message needs.
#[derive(Clone, Debug)]
pub struct DueNotification {
    pub id: String,
    pub idempotency_key: String,
    pub incident: Incident,
    pub service_name: String,
    pub user_id: UserId,
    pub user_name: String,
    pub contact_method: ContactMethod,
    /// Attempts made before this one.
    pub attempts: u32,
    pub step: u32,
    /// Postponed earlier to a send slot reserved in its destination's budget: send it now
    /// without taking from the budget again.
    pub reserved: bool,
}

/// One delivery attempt to record: which notification, by which node, how it ended, the
/// fallback to queue when the contact method failed for good, and when.
#[derive(Clone, Debug)]
pub struct Completion {
    pub id: String,
    pub node: String,
    pub result: DeliveryResult,
    pub fallback: Option<NewNotification>,
    pub at: Timestamp,
}

/// How one delivery attempt ended.
#[derive(Clone, Debug, PartialEq)]
pub enum DeliveryResult {
    Sent {
        provider_id: Option<String>,
    },
    /// Not attempted: the destination's rate limit was reached; send at `at` (no attempt is
    /// counted and nothing goes on the timeline).
    Postpone {
        at: Timestamp,
        /// The slot at `at` was reserved in the destination's budget.
        reserved: bool,
    },
    /// Try again at `at`.
    Retry {
        error: String,
        at: Timestamp,
    },
    /// Given up on this contact method.
    Failed {
        error: String,
    },
}

/// What an acknowledge link names.
#[derive(Clone, Debug)]
pub struct LinkTarget {
    pub notification_id: String,
    pub incident: Incident,
    pub user_id: UserId,
    pub user_name: String,
    pub used: bool,
}

// ---- Web UI sessions ----

/// A person who may sign in: their account and argon2id password hash (`None`: no password is
/// set, so they cannot sign in to the web UI).
#[derive(Clone, Debug)]
pub struct Login {
    pub user: User,
    pub password_hash: Option<String>,
}

/// A web session to store. The cookie's token itself never reaches the store.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// Hex SHA-256 of the cookie's token.
    pub token_hash: String,
    pub user_id: UserId,
    pub expires_at: Timestamp,
}

/// A live web session and the person it signs in.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub user: User,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
}
