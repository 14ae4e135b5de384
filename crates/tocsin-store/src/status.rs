//! Records of the public status page: components, public incidents and their updates,
//! maintenance windows, subscribers and the page's settings (see `tocsin_core::status` for the
//! decisions made on them).

use jiff::Timestamp;
use serde::Serialize;
use tocsin_core::ServiceId;
use tocsin_core::status::{ComponentFacts, PublicStage};

/// What a component reflects, chosen by the operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reflects {
    Service(ServiceId),
    Monitor(String),
}

#[derive(Clone, Debug)]
pub struct NewStatusComponent {
    pub name: String,
    pub group: String,
    pub reflects: Reflects,
    pub position: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StatusComponent {
    pub id: String,
    /// The public name.
    pub name: String,
    /// The group it is shown in (empty: none).
    pub group: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitor_id: Option<String>,
    /// Display order (then the name).
    pub position: i64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// A component with the facts its state is derived from, and since when it has a history.
#[derive(Clone, Debug)]
pub struct ComponentView {
    pub component: StatusComponent,
    pub facts: ComponentFacts,
    /// When the service or monitor it reflects was created.
    pub since: Timestamp,
}

/// The raw history of a component for its uptime bar, from `from` on.
#[derive(Clone, Debug)]
pub enum ComponentHistory {
    /// A service: its incidents' open intervals (an open one ends at `now`).
    Outages(Vec<(Timestamp, Timestamp)>),
    /// A monitor: per UTC day, (midnight, good results, all results).
    Checks(Vec<(Timestamp, u64, u64)>),
}

#[derive(Clone, Debug)]
pub struct NewStatusIncident {
    pub title: String,
    pub stage: PublicStage,
    pub message: String,
    pub incident_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StatusUpdate {
    pub id: String,
    #[schema(value_type = String)]
    pub stage: PublicStage,
    pub message: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StatusIncident {
    pub id: String,
    pub title: String,
    #[schema(value_type = String)]
    pub stage: PublicStage,
    /// The Tocsin incident it is about (not shown publicly).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<Timestamp>,
    /// Newest first.
    pub updates: Vec<StatusUpdate>,
}

#[derive(Clone, Debug)]
pub struct NewMaintenance {
    pub title: String,
    pub description: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub services: Vec<ServiceId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Maintenance {
    pub id: String,
    pub title: String,
    pub description: String,
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: Timestamp,
    #[schema(value_type = Vec<String>)]
    pub service_ids: Vec<ServiceId>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// A subscriber to add. An email stays unconfirmed until its double opt-in token comes back.
#[derive(Clone, Debug)]
pub struct NewSubscriber {
    /// `email` or `webhook`.
    pub kind: String,
    pub address: String,
    /// SHA-256 of the opt-in token; `None`: confirmed at once (added by an admin).
    pub confirm_token_hash: Option<String>,
    pub unsubscribe_token_hash: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Subscriber {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub address: String,
    pub confirmed: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct StatusSettings {
    pub title: String,
    pub logo_url: Option<String>,
}

impl Default for StatusSettings {
    fn default() -> Self {
        Self {
            title: "Status".into(),
            logo_url: None,
        }
    }
}
