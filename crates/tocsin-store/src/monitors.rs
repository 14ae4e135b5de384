//! Records of monitors and heartbeats (see `tocsin_core::monitor` for their logic).

use jiff::Timestamp;
use serde::Serialize;
use tocsin_core::monitor::{PingKind, Thresholds};
use tocsin_core::*;

/// A monitor to create: its type-specific options are already validated (`config`).
#[derive(Clone, Debug)]
pub struct NewMonitor {
    pub service_id: ServiceId,
    pub kind: tocsin_core::monitor::MonitorKind,
    pub name: String,
    pub config: serde_json::Value,
    /// Active checks only.
    pub interval_seconds: Option<u32>,
    pub retry_interval_seconds: Option<u32>,
    /// Heartbeats only.
    pub period_seconds: Option<u32>,
    pub grace_seconds: Option<u32>,
    /// Heartbeats on a cron schedule instead of a period (checked by `check_cron`).
    pub cron: Option<String>,
    pub time_zone: Option<String>,
    pub thresholds: Thresholds,
    /// Heartbeats: SHA-256 of the ping token.
    pub ping_token_hash: Option<String>,
    /// The integration key of the monitor's own integration (made by the caller).
    pub integration_key: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Monitor {
    pub id: String,
    pub service_id: ServiceId,
    #[serde(rename = "type")]
    pub kind: tocsin_core::monitor::MonitorKind,
    pub name: String,
    /// The type's options (`url`, `host`, `port`, …).
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_seconds: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_interval_seconds: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period_seconds: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_seconds: Option<u32>,
    /// Heartbeats on a cron schedule: the expression and its IANA time zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    pub failures_before_alert: u32,
    pub successes_before_resolve: u32,
    /// new, up, late (heartbeats), down or paused.
    pub status: String,
    /// The next check, or the heartbeat's deadline.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_result_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// One check result or ping.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MonitorResult {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub ok: bool,
    pub latency_ms: Option<u64>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

/// The share of checks that passed, in percent, over recent windows (`None`: no check).
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Uptime {
    #[serde(rename = "24h")]
    pub last_24h: Option<f64>,
    #[serde(rename = "7d")]
    pub last_7d: Option<f64>,
    #[serde(rename = "30d")]
    pub last_30d: Option<f64>,
    #[serde(rename = "90d")]
    pub last_90d: Option<f64>,
}

/// One hour or day of a monitor's history.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RollupPoint {
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    pub checks: u64,
    pub failures: u64,
    pub latency_avg_ms: Option<u64>,
    pub latency_max_ms: Option<u64>,
}

/// A heartbeat ping on its way into a group commit.
#[derive(Clone, Debug, PartialEq)]
pub struct HeartbeatPing {
    pub monitor_id: String,
    pub kind: PingKind,
    pub rid: Option<String>,
    /// The request body, already cut to `PING_BODY_MAX` bytes.
    pub body: Option<String>,
}

/// A monitor whose check or deadline is due, claimed by this node.
#[derive(Clone, Debug)]
pub struct DueMonitor {
    pub id: String,
    pub kind: tocsin_core::monitor::MonitorKind,
    pub name: String,
    pub config: serde_json::Value,
    pub due_at: Timestamp,
}

/// What a check found (active monitors), or a deadline to look at (heartbeats: `result` None).
#[derive(Clone, Debug)]
pub struct CheckRecord {
    pub monitor_id: String,
    pub node: String,
    /// When this scheduled check was due (the next is due one interval later: a fixed cadence).
    pub due_at: Timestamp,
    pub result: Option<CheckOutcome>,
}

#[derive(Clone, Debug)]
pub struct CheckOutcome {
    pub ok: bool,
    pub latency_ms: Option<u64>,
    pub message: String,
    /// The severity of the alert this failure opens, when not the monitor's own (a TLS
    /// certificate in its warning window opens a `warning`, low-urgency alert).
    pub severity: Option<Severity>,
}
