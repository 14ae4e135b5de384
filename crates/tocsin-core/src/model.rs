//! The glossary's value types: severities, statuses, roles, integration types, and the
//! normalised `AlertEvent` every ingestion format is parsed into.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Declares a closed set of snake_case words with `as_str`, `parse` and serde both ways.
macro_rules! word_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $word:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),* }
            }

            /// Exact, case-sensitive parse of the canonical word.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($word => Some($name::$variant),)* _ => None }
            }

            /// The accepted words, for error messages.
            pub fn words() -> String {
                [$($word),*].join(", ")
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use word_enum;

word_enum!(
    /// How bad an alert says things are (PagerDuty's four levels).
    Severity { Critical = "critical", Error = "error", Warning = "warning", Info = "info" }
);

impl Severity {
    /// Case-insensitive, as some senders capitalise (`"Critical"`).
    pub fn parse_lenient(s: &str) -> Option<Self> {
        Self::parse(&s.trim().to_ascii_lowercase())
    }

    /// Urgency derived from severity: critical and error page now; warning and info are low.
    pub fn urgency(self) -> Urgency {
        match self {
            Severity::Critical | Severity::Error => Urgency::High,
            Severity::Warning | Severity::Info => Urgency::Low,
        }
    }

    /// Higher is worse; used to keep the worst severity of an incident's alerts.
    pub fn rank(self) -> u8 {
        match self {
            Severity::Critical => 3,
            Severity::Error => 2,
            Severity::Warning => 1,
            Severity::Info => 0,
        }
    }
}

word_enum!(
    /// How fast a human must act on an incident.
    Urgency { High = "high", Low = "low" }
);

word_enum!(
    /// An incident's place in its lifecycle: triggered → acknowledged → resolved.
    IncidentStatus { Triggered = "triggered", Acknowledged = "acknowledged", Resolved = "resolved" }
);

impl IncidentStatus {
    pub fn is_open(self) -> bool {
        self != IncidentStatus::Resolved
    }
}

word_enum!(
    /// An alert is open until its source (or a human resolving its incident) resolves it.
    AlertStatus { Open = "open", Resolved = "resolved" }
);

word_enum!(
    /// What a principal may do. Each role includes the ones below it.
    Role { Admin = "admin", Responder = "responder", Viewer = "viewer" }
);

impl Role {
    fn level(self) -> u8 {
        match self {
            Role::Admin => 2,
            Role::Responder => 1,
            Role::Viewer => 0,
        }
    }

    /// Whether a principal with this role may do what needs `required`.
    pub fn allows(self, required: Role) -> bool {
        self.level() >= required.level()
    }
}

word_enum!(
    /// The inbound formats an integration key accepts.
    /// (`monitor`: a built-in monitor's own, made with it; it takes no external events.)
    IntegrationType { EventsV2 = "events_v2", Alertmanager = "alertmanager", Generic = "generic", Monitor = "monitor" }
);

word_enum!(
    /// What an event asks for.
    EventAction { Trigger = "trigger", Acknowledge = "acknowledge", Resolve = "resolve" }
);

word_enum!(
    /// Through which door an action reached Tocsin; recorded on every timeline entry.
    Channel {
        Api = "api",
        Web = "web",
        Cli = "cli",
        EventsV2 = "events_v2",
        Alertmanager = "alertmanager",
        Generic = "generic",
        System = "system",
        Link = "link",
        Chat = "chat",
        Monitor = "monitor",
        Sms = "sms",
        Voice = "voice"
    }
);

impl From<IntegrationType> for Channel {
    fn from(t: IntegrationType) -> Self {
        match t {
            IntegrationType::EventsV2 => Channel::EventsV2,
            IntegrationType::Alertmanager => Channel::Alertmanager,
            IntegrationType::Generic => Channel::Generic,
            IntegrationType::Monitor => Channel::Monitor,
        }
    }
}

/// A link attached to an alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Link {
    pub href: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// An image attached to an alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Image {
    pub src: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt: Option<String>,
}

/// Everything a trigger says about the alert; already validated.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct AlertDetails {
    pub summary: String,
    pub source: String,
    pub severity: Option<Severity>,
    /// When the sender detected it; the receipt time when absent.
    pub timestamp: Option<Timestamp>,
    pub component: Option<String>,
    pub group: Option<String>,
    pub class: Option<String>,
    pub custom_details: Option<serde_json::Value>,
    pub links: Vec<Link>,
    pub images: Vec<Image>,
    pub client: Option<String>,
    pub client_url: Option<String>,
}

impl AlertDetails {
    pub fn severity_or_default(&self) -> Severity {
        self.severity.unwrap_or(Severity::Error)
    }
}

/// What an event does to the alert its dedup key names.
#[derive(Clone, Debug, PartialEq)]
pub enum AlertAction {
    Trigger(Box<AlertDetails>),
    Acknowledge,
    Resolve,
}

impl AlertAction {
    pub fn kind(&self) -> EventAction {
        match self {
            AlertAction::Trigger(_) => EventAction::Trigger,
            AlertAction::Acknowledge => EventAction::Acknowledge,
            AlertAction::Resolve => EventAction::Resolve,
        }
    }
}

/// One alert event from any source, parsed at the edge. The dedup key is always present here:
/// the edge makes one up for a trigger that came without.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertEvent {
    pub dedup_key: String,
    pub action: AlertAction,
    /// Alerts with the same group key on one integration share an open incident
    /// (Alertmanager's alert group). `None`: the alert gets an incident of its own.
    pub group_key: Option<String>,
}

/// A PagerDuty change event: context on a service's timeline, never a page.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeEvent {
    pub summary: String,
    pub source: Option<String>,
    pub timestamp: Option<Timestamp>,
    pub custom_details: Option<serde_json::Value>,
    pub links: Vec<Link>,
}
