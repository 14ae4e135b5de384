//! Tocsin's storage boundary: the `Store` trait, whose methods are use cases that each run in one
//! transaction, the records they return, and its SQLite and PostgreSQL backends. Only this crate
//! contains SQL. No transaction handle crosses the trait: each backend keeps its own.

mod edits;
mod monitors;
pub mod postgres;
mod records;
pub mod sqlite;
mod status;

#[cfg(test)]
#[macro_use]
mod contract;
#[cfg(test)]
mod contract_people;
#[cfg(test)]
mod contract_search;
#[cfg(test)]
mod contract_status;

pub use monitors::*;
pub use records::*;
pub use status::*;

use async_trait::async_trait;
use jiff::Timestamp;
use std::path::Path;
use thiserror::Error;
use tocsin_core::dedup::Decision;
use tocsin_core::incident::Rejection;
use tocsin_core::*;

/// Why a store call failed.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness rule was broken (the message names what).
    #[error("{0}")]
    Conflict(String),
    /// The domain refused the change.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// A field names something that does not exist or cannot be used (the API answers 400
    /// naming the field).
    #[error("'{field}' {message}")]
    Invalid { field: String, message: String },
    /// The database failed; the message is for logs, not for users.
    #[error("database: {0}")]
    Backend(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// One ingested event, already parsed and authorised, on its way into a group commit.
#[derive(Clone, Debug)]
pub struct IngestItem {
    pub integration: Integration,
    pub event: IngestEvent,
    pub received_at: Timestamp,
}

#[derive(Clone, Debug)]
pub enum IngestEvent {
    Alert(AlertEvent),
    Change(ChangeEvent),
    /// A heartbeat's ping (`integration` is its monitor's own).
    Ping(HeartbeatPing),
}

/// What one ingested event did.
#[derive(Clone, Debug, PartialEq)]
pub struct IngestOutcome {
    /// `None` for change events.
    pub decision: Option<Decision>,
    /// The incident the event touched, if any.
    pub incident_id: Option<IncidentId>,
}

/// What `list_incidents` returns at most, and from where.
#[derive(Clone, Debug, Default)]
pub struct IncidentFilter {
    /// Empty: every status.
    pub statuses: Vec<IncidentStatus>,
    pub service_id: Option<ServiceId>,
    pub limit: u32,
    /// Incidents with a number below this one (the cursor of the previous page).
    pub before_number: Option<i64>,
    /// `None`: both urgencies.
    pub urgency: Option<Urgency>,
    /// Only incidents of this team's services.
    pub team_id: Option<TeamId>,
    /// Only incidents created at or after this instant.
    pub created_from: Option<Timestamp>,
    /// Only incidents created before this instant.
    pub created_to: Option<Timestamp>,
    /// A text search: a number ("42" or "#42") finds that incident; otherwise every word must
    /// appear in the title (ASCII case-insensitively, `%` and `_` taken literally). Callers
    /// bound it to [`SEARCH_MAX_CHARS`]; longer text is cut, and at most
    /// [`SEARCH_MAX_WORDS`] words count.
    pub search: Option<String>,
}

/// The timeline's words for a snooze: `Snoozed for 30 min by Ada, until 2026-11-26 03:30 UTC`.
pub(crate) fn snoozed_message(by: &str, minutes: u32, until: Timestamp) -> String {
    let length = if minutes.is_multiple_of(60) {
        format!("{} h", minutes / 60)
    } else {
        format!("{minutes} min")
    };
    format!(
        "Snoozed for {length} by {by}, until {}",
        until.strftime("%Y-%m-%d %H:%M UTC")
    )
}

/// The longest text search `list_incidents` takes, in characters.
pub const SEARCH_MAX_CHARS: usize = 200;
/// The most words of a text search that `list_incidents` matches.
pub const SEARCH_MAX_WORDS: usize = 8;

/// Words shorter than this (in characters) cannot use the trigram index of titles
/// (`0022_incident_search.sql`, PostgreSQL's `0010_incident_search.sql`): a search made only of
/// them reads titles one by one.
pub(crate) const SEARCH_INDEXED_CHARS_MIN: usize = 3;

/// A text search, ready for SQL: the incident number it names, if it is one, and the words
/// (lowercase), also as `LIKE` patterns (`%word%`, with `\` escaping `\`, `%` and `_`).
pub(crate) struct Search {
    pub number: Option<i64>,
    pub words: Vec<String>,
    pub patterns: Vec<String>,
}

impl Search {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let text: String = text.chars().take(SEARCH_MAX_CHARS).collect();
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let number = text
            .strip_prefix('#')
            .unwrap_or(text)
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0);
        let words: Vec<String> = text
            .split_whitespace()
            .take(SEARCH_MAX_WORDS)
            .map(str::to_lowercase)
            .collect();
        let patterns = words
            .iter()
            .map(|w| {
                let mut p = String::with_capacity(w.len() + 2);
                p.push('%');
                for c in w.chars() {
                    if matches!(c, '\\' | '%' | '_') {
                        p.push('\\');
                    }
                    p.push(c);
                }
                p.push('%');
                p
            })
            .collect();
        Some(Self {
            number,
            words,
            patterns,
        })
    }
}

/// Storage use cases. Each method is one transaction; implementations never keep state that
/// another node would need.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies a batch of events in one durable transaction (group commit): dedup, alerts,
    /// incidents and timeline, deciding with `tocsin_core::dedup`. Returns one outcome per item,
    /// in order, only after the commit is durable.
    async fn ingest(&self, batch: Vec<IngestItem>) -> Result<Vec<IngestOutcome>>;

    /// How many `ingest` batches may be committing at once: 1 where one writer serialises
    /// every commit anyway (SQLite), more where transactions about different alerts commit side
    /// by side (PostgreSQL).
    fn ingest_writers(&self) -> usize {
        1
    }

    // People and access.
    async fn create_user(&self, user: NewUser, now: Timestamp) -> Result<User>;
    async fn get_user(&self, id: &UserId) -> Result<User>;
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>>;
    async fn list_users(&self) -> Result<Vec<User>>;
    /// Gives a person another role, at once (sessions read the role on every request). The
    /// last admin cannot lose the role: `Conflict`.
    async fn set_user_role(&self, id: &UserId, role: Role) -> Result<User>;
    async fn count_users(&self) -> Result<u64>;
    async fn create_team(&self, team: NewTeam, now: Timestamp) -> Result<Team>;
    async fn get_team(&self, id: &TeamId) -> Result<Team>;
    async fn list_teams(&self) -> Result<Vec<Team>>;
    async fn add_team_member(&self, team: &TeamId, user: &UserId) -> Result<Team>;
    /// Stores a token by its hash; the secret itself never reaches the store.
    async fn create_api_token(&self, token: NewApiToken, now: Timestamp) -> Result<ApiToken>;
    /// The live (not revoked) token with this hash.
    async fn find_api_token(&self, token_hash: &str, now: Timestamp) -> Result<Option<ApiToken>>;
    async fn list_api_tokens(&self) -> Result<Vec<ApiToken>>;
    async fn revoke_api_token(&self, id: &TokenId, now: Timestamp) -> Result<()>;
    async fn create_setup_token(
        &self,
        token_hash: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()>;
    /// Creates the first admin with a one-time setup token: fails when the token is unknown,
    /// used or expired, or when any user already exists.
    async fn complete_setup(
        &self,
        token_hash: &str,
        admin: NewUser,
        now: Timestamp,
    ) -> Result<User>;
    /// Whether a setup token is still usable.
    async fn setup_token_valid(&self, token_hash: &str, now: Timestamp) -> Result<bool>;

    // Services and integrations.
    async fn create_service(&self, service: NewService, now: Timestamp) -> Result<Service>;
    async fn get_service(&self, id: &ServiceId) -> Result<Service>;
    async fn list_services(&self) -> Result<Vec<Service>>;
    /// Replaces a service's name, description, team, escalation policy and acknowledgement
    /// timeout (checked as on creation); its integrations and incidents stay.
    async fn update_service(&self, id: &ServiceId, service: NewService) -> Result<Service>;
    async fn create_integration(
        &self,
        integration: NewIntegration,
        now: Timestamp,
    ) -> Result<Integration>;
    async fn list_integrations(&self, service: &ServiceId) -> Result<Vec<Integration>>;
    async fn find_integration_by_key(&self, key: &str) -> Result<Option<Integration>>;
    async fn delete_integration(&self, id: &IntegrationId) -> Result<()>;
    async fn list_change_events(
        &self,
        service: &ServiceId,
        limit: u32,
    ) -> Result<Vec<ChangeRecord>>;

    // Escalation policies and how people are reached.
    async fn create_escalation_policy(
        &self,
        policy: NewEscalationPolicy,
        now: Timestamp,
    ) -> Result<EscalationPolicy>;
    async fn get_escalation_policy(&self, id: &str) -> Result<EscalationPolicy>;
    /// Replaces a policy's name, description, repeat and levels (checked as on creation); the
    /// id stays, so its services keep it. An incident being paged takes its next step with the
    /// new levels; one at a level the policy no longer has goes on as after the last level
    /// (the next round, or nothing more), and a step already due keeps its time.
    async fn update_escalation_policy(
        &self,
        id: &str,
        policy: NewEscalationPolicy,
        now: Timestamp,
    ) -> Result<EscalationPolicy>;
    async fn list_escalation_policies(&self) -> Result<Vec<EscalationPolicy>>;
    async fn create_contact_method(
        &self,
        method: NewContactMethod,
        now: Timestamp,
    ) -> Result<ContactMethod>;
    async fn list_contact_methods(&self, user: &UserId) -> Result<Vec<ContactMethod>>;
    async fn get_contact_method(&self, user: &UserId, id: &str) -> Result<ContactMethod>;
    /// Records a fresh verification code (by its hash) for an unverified contact method.
    async fn start_verification(
        &self,
        user: &UserId,
        id: &str,
        code_hash: &str,
        expires: Timestamp,
    ) -> Result<ContactMethod>;
    /// Verifies the contact method when the code matches, is unexpired and not guessed too often.
    async fn finish_verification(
        &self,
        user: &UserId,
        id: &str,
        code_hash: &str,
        now: Timestamp,
    ) -> Result<ContactMethod>;
    async fn create_notification_rule(
        &self,
        rule: NewNotificationRule,
        now: Timestamp,
    ) -> Result<NotificationRule>;
    async fn list_notification_rules(&self, user: &UserId) -> Result<Vec<NotificationRule>>;

    // Schedules.
    /// Stores a schedule document already validated by `tocsin_core::schedule::Schedule::parse`;
    /// fails naming the field when a user it names does not exist.
    async fn create_schedule(
        &self,
        spec: tocsin_core::schedule::ScheduleSpec,
        now: Timestamp,
    ) -> Result<ScheduleRecord>;
    async fn get_schedule(&self, id: &str) -> Result<ScheduleRecord>;
    async fn list_schedules(&self) -> Result<Vec<ScheduleRecord>>;
    /// Replaces a schedule's name, time zone and layers (validated by `Schedule::parse`, users
    /// must exist); its overrides stay as they are (those in `spec` are ignored).
    async fn update_schedule(
        &self,
        id: &str,
        spec: tocsin_core::schedule::ScheduleSpec,
        now: Timestamp,
    ) -> Result<ScheduleRecord>;
    /// Removes the override with this id (`ScheduleRecord::override_ids`); `NotFound` when the
    /// schedule has none such.
    async fn delete_schedule_override(
        &self,
        id: &str,
        override_id: &str,
        now: Timestamp,
    ) -> Result<ScheduleRecord>;
    /// Adds an override (and drops the ones that ended before `now`) in one transaction.
    async fn add_schedule_override(
        &self,
        id: &str,
        o: tocsin_core::schedule::OverrideSpec,
        now: Timestamp,
    ) -> Result<ScheduleRecord>;

    /// The calendar-feed token of a schedule or user (`kind` = "schedule" | "user"), made from
    /// `fresh` the first time.
    async fn feed_token(
        &self,
        kind: &str,
        target: &str,
        fresh: &str,
        now: Timestamp,
    ) -> Result<String>;
    /// Revokes a schedule's or user's calendar feed URL; the next `feed_token` makes a new one.
    /// Returns whether there was one.
    async fn revoke_feed(&self, kind: &str, target: &str) -> Result<bool>;
    /// What a feed token opens: (kind, id).
    async fn find_feed(&self, token: &str) -> Result<Option<(String, String)>>;

    /// Records that the hand-off notice of a shift is being sent; false when it already was.
    async fn claim_handoff_notice(
        &self,
        schedule: &str,
        user: &UserId,
        shift_start: Timestamp,
        now: Timestamp,
    ) -> Result<bool>;

    // The engine's due work.
    /// Escalations due at `now` whose lease (if any) has run out, claimed for `node` until
    /// `until`, with what planning the next step needs.
    async fn claim_due_escalations(
        &self,
        node: &str,
        now: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> Result<Vec<DueEscalation>>;
    /// Records a step taken (new cursor, next due time, notifications queued, timeline) in one
    /// transaction. Returns false, changing nothing, when the incident is no longer triggered or
    /// `step.node` no longer holds the claim.
    async fn record_escalation_step(&self, step: EscalationStep, now: Timestamp) -> Result<bool> {
        let recorded = self.record_escalation_steps(vec![step], now).await?;
        Ok(recorded.first().copied().unwrap_or(false))
    }
    /// Records several steps in one transaction (one commit); one answer per step, in order,
    /// as `record_escalation_step` gives.
    async fn record_escalation_steps(
        &self,
        steps: Vec<EscalationStep>,
        now: Timestamp,
    ) -> Result<Vec<bool>>;
    /// Triggers again every incident whose acknowledgement timed out (its service's
    /// `ack_timeout_minutes`), from the first level; returns them.
    async fn retrigger_expired_acknowledgements(&self, now: Timestamp) -> Result<Vec<IncidentId>>;
    /// Pushes to `until` the lease of every claim (escalation step, notification being sent,
    /// monitor check) held with one of `tokens` whose lease has not run out at `now`. An
    /// `until` before `now` gives them up at once. Returns how many claims were touched.
    async fn renew_claims(
        &self,
        tokens: &[String],
        now: Timestamp,
        until: Timestamp,
    ) -> Result<u64>;
    /// The earliest due escalation step (or acknowledgement timeout), to sleep until it.
    async fn next_escalation_due(&self) -> Result<Option<Timestamp>>;
    async fn list_notifications(&self, incident: &IncidentId) -> Result<Vec<NotificationRecord>>;
    /// Queued notifications due at `now` (and ones whose sender's lease ran out mid-send),
    /// marked `sending` and claimed for `node` until `until`.
    async fn claim_due_notifications(
        &self,
        node: &str,
        now: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> Result<Vec<DueNotification>>;
    /// Records how an attempt ended, with its timeline entry, and queues `fallback` (the
    /// person's next contact method) in the same transaction. Ignored when `node` no longer
    /// holds the claim.
    async fn complete_notification(
        &self,
        id: &str,
        node: &str,
        result: DeliveryResult,
        fallback: Option<NewNotification>,
        now: Timestamp,
    ) -> Result<()> {
        let done = Completion {
            id: id.to_owned(),
            node: node.to_owned(),
            result,
            fallback,
            at: now,
        };
        self.complete_notifications(vec![done]).await
    }
    /// Records several delivery attempts in one transaction (one commit).
    async fn complete_notifications(&self, done: Vec<Completion>) -> Result<()>;
    /// Moves a triggered incident's next escalation step to `now` (nobody could be reached).
    async fn escalate_early(&self, incident: &IncidentId, now: Timestamp) -> Result<()>;
    /// When nothing was delivered for a triggered incident, nothing is on its way and no
    /// escalation step is pending, nobody at all could be reached: queues a page to every admin
    /// on every verified contact method (once per incident) and says so on the timeline.
    /// Returns how many notifications were queued, or `None` when somebody was (or may still
    /// be) reached.
    async fn raise_meta_alert(
        &self,
        incident: &IncidentId,
        now: Timestamp,
    ) -> Result<Option<usize>>;
    /// The earliest queued notification, to sleep until it.
    async fn next_notification_due(&self) -> Result<Option<Timestamp>>;

    // Incidents.
    async fn list_incidents(&self, filter: IncidentFilter) -> Result<Vec<Incident>>;
    async fn get_incident(&self, id: &IncidentId) -> Result<Incident>;
    async fn incident_alerts(&self, id: &IncidentId) -> Result<Vec<Alert>>;
    async fn acknowledge_incident(
        &self,
        id: &IncidentId,
        by: &Actor,
        channel: Channel,
        now: Timestamp,
    ) -> Result<Incident>;
    /// Snoozes an acknowledged incident for `minutes` (checked by the caller): its
    /// acknowledgement timeout is set to `now + minutes`, after which
    /// `retrigger_expired_acknowledgements` triggers it again and paging starts over from the
    /// first level. `Conflict` unless acknowledged, or when its service has no escalation policy.
    async fn snooze_incident(
        &self,
        id: &IncidentId,
        by: &Actor,
        channel: Channel,
        minutes: u32,
        now: Timestamp,
    ) -> Result<Incident>;
    /// Resolves the incident and every alert still open in it.
    async fn resolve_incident(
        &self,
        id: &IncidentId,
        by: &Actor,
        channel: Channel,
        now: Timestamp,
    ) -> Result<Incident>;
    /// A human escalates: to `level` (1-based) or the next one; an acknowledged incident is
    /// triggered again. The step runs at once through the engine.
    async fn escalate_incident(
        &self,
        id: &IncidentId,
        level: Option<u32>,
        by: &Actor,
        now: Timestamp,
    ) -> Result<Incident>;
    /// A human hands the incident to a person: they become its assignee and are paged at once
    /// (an acknowledged incident is triggered again); if they do not acknowledge within the
    /// current level's delay, the escalation goes on from that level.
    async fn reassign_incident(
        &self,
        id: &IncidentId,
        user: &UserId,
        by: &Actor,
        now: Timestamp,
    ) -> Result<Incident>;
    /// What an acknowledge link points at (for its confirmation page).
    async fn notification_link(&self, notification: &str) -> Result<LinkTarget>;
    /// Uses a notification's acknowledge link: once only; acknowledges the incident as the
    /// notified person (nothing changes when it is already acknowledged).
    async fn acknowledge_by_link(&self, notification: &str, now: Timestamp) -> Result<Incident> {
        self.acknowledge_by_notification(notification, Channel::Link, None, now)
            .await
    }
    /// `acknowledge_by_link`, from another channel: a chat button carrying the link's token.
    /// `means` tells the timeline how ("the Acknowledge button in Slack, pressed by @carol");
    /// `None` says "the link in the <type> notification".
    async fn acknowledge_by_notification(
        &self,
        notification: &str,
        channel: Channel,
        means: Option<String>,
        now: Timestamp,
    ) -> Result<Incident>;
    async fn get_incident_by_number(&self, number: i64) -> Result<Incident>;
    /// The user owning a verified SMS or voice contact method with this E.164 number.
    async fn find_user_by_phone(&self, phone: &str) -> Result<Option<User>>;
    /// The incident and person a notification (by its idempotency key) was for.
    async fn notification_by_key(&self, key: &str) -> Result<Option<(IncidentId, UserId)>>;
    async fn add_note(
        &self,
        id: &IncidentId,
        by: &Actor,
        channel: Channel,
        text: &str,
        now: Timestamp,
    ) -> Result<TimelineEntry>;
    async fn timeline(&self, id: &IncidentId) -> Result<Vec<TimelineEntry>>;
    async fn count_open_incidents(&self) -> Result<u64>;

    // Operations.
    /// Whether the database answers.
    async fn ping(&self) -> Result<()>;
    /// A consistent online copy of the whole database into `to` (a new file).
    async fn backup(&self, to: &Path) -> Result<()>;
    // ---- Monitors and heartbeats ----
    // SQLite (sqlite_monitors.rs) and PostgreSQL (pg_monitors.rs) implement them all.
    /// Creates a monitor and its own integration (type `monitor`) on the service.
    async fn create_monitor(&self, monitor: NewMonitor, now: Timestamp) -> Result<Monitor>;
    async fn get_monitor(&self, id: &str, now: Timestamp) -> Result<Monitor>;
    async fn list_monitors(
        &self,
        service: Option<&ServiceId>,
        now: Timestamp,
    ) -> Result<Vec<Monitor>>;
    /// The newest results first.
    async fn monitor_results(&self, id: &str, limit: u32) -> Result<Vec<MonitorResult>>;
    /// The heartbeat a ping token (by its SHA-256) belongs to, and its integration.
    async fn find_heartbeat(&self, token_hash: &str) -> Result<Option<(String, Integration)>>;
    /// Monitors whose check or heartbeat deadline is due, claimed for `node` until `until`.
    async fn claim_due_monitors(
        &self,
        node: &str,
        now: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> Result<Vec<DueMonitor>>;
    /// Records checks (and looks at heartbeat deadlines) in one transaction, raising or
    /// resolving each monitor's alert as its state changes; false where the claim was lost.
    async fn record_checks(&self, checks: Vec<CheckRecord>, now: Timestamp) -> Result<Vec<bool>>;
    /// The earliest due check or heartbeat deadline.
    async fn next_monitor_due(&self) -> Result<Option<Timestamp>>;
    /// Deletes monitor results and roll-ups older than `keep` says, monitor by monitor in
    /// short transactions; returns how many rows went.
    async fn prune_monitor_history(&self, keep: MonitorRetention, now: Timestamp) -> Result<u64>;
    /// Uptime over 24 h, 7 d, 30 d and 90 d.
    async fn monitor_uptime(&self, id: &str, now: Timestamp) -> Result<Uptime>;
    /// Hourly (`hourly` true) or daily roll-ups since `from`, oldest first.
    async fn monitor_series(
        &self,
        id: &str,
        span: RollupSpan,
        from: Timestamp,
    ) -> Result<Vec<RollupPoint>>;
    /// Pauses (no checks, no alerts) or resumes a monitor.
    async fn pause_monitor(&self, id: &str, paused: bool, now: Timestamp) -> Result<Monitor>;
    /// Changes a monitor's name, cadence, thresholds or heartbeat schedule.
    async fn update_monitor(
        &self,
        id: &str,
        changes: MonitorChanges,
        now: Timestamp,
    ) -> Result<Monitor>;
    /// Deletes a monitor with its results and roll-ups, resolving its open incident.
    async fn delete_monitor(&self, id: &str, now: Timestamp) -> Result<()>;
    // ---- Status page and maintenance windows (a backend mirrors this block as a unit) ----
    // SQLite (sqlite_status.rs) and PostgreSQL (pg_status.rs) implement them all.
    async fn status_settings(&self) -> Result<StatusSettings>;
    async fn set_status_settings(&self, settings: StatusSettings) -> Result<StatusSettings>;
    /// Fails naming `service_id` or `monitor_id` when it names nothing.
    async fn create_status_component(
        &self,
        component: NewStatusComponent,
        now: Timestamp,
    ) -> Result<StatusComponent>;
    async fn delete_status_component(&self, id: &str) -> Result<()>;
    /// Every component in display order, with the facts its state derives from at `now`.
    async fn status_components(&self, now: Timestamp) -> Result<Vec<ComponentView>>;
    /// Each component's raw history from `from` to `now`, by component id.
    async fn status_history(
        &self,
        from: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<(String, ComponentHistory)>>;
    /// A public incident with its first update.
    async fn create_status_incident(
        &self,
        incident: NewStatusIncident,
        now: Timestamp,
    ) -> Result<StatusIncident>;
    /// Adds an update; `resolved` closes the public incident, anything else reopens it.
    async fn add_status_update(
        &self,
        id: &str,
        stage: tocsin_core::status::PublicStage,
        message: &str,
        now: Timestamp,
    ) -> Result<StatusIncident>;
    async fn get_status_incident(&self, id: &str) -> Result<StatusIncident>;
    /// Unresolved ones, and the latest resolved ones up to `limit` in all, newest first.
    async fn list_status_incidents(&self, limit: u32) -> Result<Vec<StatusIncident>>;
    /// Creates a window. While it is active, a new incident on one of its services is recorded
    /// but its first escalation step is held until the window ends.
    async fn create_maintenance(
        &self,
        window: NewMaintenance,
        now: Timestamp,
    ) -> Result<Maintenance>;
    /// Windows that have not ended at `now`, soonest first.
    async fn list_maintenance(&self, now: Timestamp) -> Result<Vec<Maintenance>>;
    /// Deletes a window; steps it held are due at once (or when another window ends).
    async fn delete_maintenance(&self, id: &str, now: Timestamp) -> Result<()>;
    /// Adds a subscriber, or for an unconfirmed one with the same address, renews its tokens.
    /// A confirmed one is a `Conflict`.
    async fn add_subscriber(&self, s: NewSubscriber, now: Timestamp) -> Result<Subscriber>;
    /// Confirms the subscriber whose opt-in token has this hash, if it was made after
    /// `not_before` (older tokens have expired).
    async fn confirm_subscriber(
        &self,
        token_hash: &str,
        not_before: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Subscriber>>;
    /// Removes the subscriber whose unsubscribe token has this hash; false when none has.
    async fn unsubscribe(&self, token_hash: &str) -> Result<bool>;
    async fn list_subscribers(&self, confirmed_only: bool) -> Result<Vec<Subscriber>>;
    async fn delete_subscriber(&self, id: &str) -> Result<()>;

    // ---- Editing people, their contact methods and rules, and teams (a backend mirrors this
    // block as a unit: SQLite in sqlite_people.rs, PostgreSQL in pg_people.rs) ----
    /// Changes a person's name, time zone, role and whether they are active — each field of
    /// `changes` that is `Some`, checked by the caller — in one transaction. Deactivating ends
    /// their web sessions and cancels the notifications queued for them; while deactivated
    /// they cannot sign in, their API tokens are refused and escalations skip them. The last
    /// active admin can neither lose the role nor be deactivated: `Conflict`.
    async fn update_user(&self, id: &UserId, changes: UserChanges, now: Timestamp) -> Result<User>;
    /// Changes a contact method's address (already checked for its type) and label. A new
    /// address of a type that needs verifying is unverified again: its pending code is dropped
    /// and the notifications queued to it are cancelled. `Conflict` when the person already
    /// has that address.
    async fn update_contact_method(
        &self,
        user: &UserId,
        id: &str,
        address: &str,
        label: &str,
        now: Timestamp,
    ) -> Result<ContactMethod>;
    /// Deletes a contact method together with the notification rules that use it (as
    /// PagerDuty and GoAlert do) and cancels the notifications queued to it; returns the ids of
    /// the rules deleted.
    async fn delete_contact_method(&self, user: &UserId, id: &str) -> Result<Vec<String>>;
    /// Replaces a rule's contact method, delay, urgency and repeat, checked as on creation
    /// (`rule.user_id` owns it, or `NotFound`).
    async fn update_notification_rule(
        &self,
        id: &str,
        rule: NewNotificationRule,
    ) -> Result<NotificationRule>;
    async fn delete_notification_rule(&self, user: &UserId, id: &str) -> Result<()>;
    /// Removes a person from a team; `NotFound` when they are not a member.
    async fn remove_team_member(&self, team: &TeamId, user: &UserId) -> Result<Team>;

    /// Called once on graceful shutdown, after the last write: leaves the database in one
    /// self-contained file (SQLite folds its write-ahead log back in).
    async fn close(&self) -> Result<()>;

    // ---- Web UI sign-in and sessions (a backend mirrors this block as a unit) ----
    // The default bodies refuse, so that a backend still being written builds; every backend
    // that serves the web UI overrides all six (SQLite does; the contract tests say how).
    /// The account with this email (any case) and its password hash.
    async fn find_login(&self, email: &str) -> Result<Option<Login>> {
        let _ = email;
        Err(sessions_unsupported())
    }
    /// Stores a new session, and drops the user's expired sessions and, beyond
    /// `SESSIONS_PER_USER_MAX`, their least recently used ones, in one transaction.
    async fn create_session(&self, session: NewSession, now: Timestamp) -> Result<()> {
        let _ = (session, now);
        Err(sessions_unsupported())
    }
    /// The unexpired session with this token hash, with its user.
    async fn find_session(&self, token_hash: &str, now: Timestamp) -> Result<Option<Session>> {
        let _ = (token_hash, now);
        Err(sessions_unsupported())
    }
    /// Records that a session was used at `now` and moves its expiry to `expires_at`.
    async fn touch_session(
        &self,
        token_hash: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()> {
        let _ = (token_hash, now, expires_at);
        Err(sessions_unsupported())
    }
    /// Ends a session (sign-out); ending one that is gone is not an error.
    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        let _ = token_hash;
        Err(sessions_unsupported())
    }
    /// Sets a user's password hash and ends all their sessions but `keep` (the one that asked),
    /// in one transaction.
    async fn set_password(
        &self,
        user: &UserId,
        password_hash: &str,
        keep: Option<&str>,
    ) -> Result<()> {
        let _ = (user, password_hash, keep);
        Err(sessions_unsupported())
    }
}

fn sessions_unsupported() -> StoreError {
    StoreError::Backend("this storage backend does not implement web sessions yet".into())
}

/// Web sessions one person may hold at once (browsers and phones); signing in beyond this ends
/// their least recently used session.
pub const SESSIONS_PER_USER_MAX: u32 = 20;
