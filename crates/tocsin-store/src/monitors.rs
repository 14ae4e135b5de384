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

/// What `update_monitor` changes (`None`: unchanged). Checked at the edge like a new monitor.
#[derive(Clone, Debug, Default)]
pub struct MonitorChanges {
    pub name: Option<String>,
    /// Active checks only.
    pub interval_seconds: Option<u32>,
    pub retry_interval_seconds: Option<u32>,
    pub failures_before_alert: Option<u32>,
    pub successes_before_resolve: Option<u32>,
    /// Heartbeats on a period only.
    pub period_seconds: Option<u32>,
    pub grace_seconds: Option<u32>,
}

fn invalid(field: &str, message: &str) -> crate::StoreError {
    crate::StoreError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// The columns of a monitor's row that `update_monitor` rewrites, as both backends store them
/// (times in milliseconds, thresholds and state as JSON).
pub(crate) struct EditableRow {
    pub name: String,
    pub interval_ms: Option<i64>,
    pub retry_ms: Option<i64>,
    pub thresholds: String,
    pub state: String,
    pub due_ms: Option<i64>,
}

/// What `ch` makes of monitor `id`'s row (`kind` as stored): name and thresholds, and either a
/// heartbeat's period and grace (its deadline moves when they change) or a check's cadence.
pub(crate) fn edited_row(
    id: &str,
    kind: &str,
    row: EditableRow,
    ch: &MonitorChanges,
    now: Timestamp,
) -> crate::Result<EditableRow> {
    let json_err = |e: serde_json::Error| crate::StoreError::Backend(e.to_string());
    let mut th: Thresholds = serde_json::from_str(&row.thresholds).unwrap_or_default();
    if let Some(n) = ch.failures_before_alert {
        th.failures_before_alert = n;
    }
    if let Some(n) = ch.successes_before_resolve {
        th.successes_before_resolve = n;
    }
    let (state, interval_ms, retry_ms, due_ms) =
        if kind == tocsin_core::monitor::MonitorKind::Heartbeat.as_str() {
            let mut h: tocsin_core::monitor::Heartbeat =
                serde_json::from_str(&row.state).map_err(json_err)?;
            let due = if changed_schedule(&mut h, ch)? {
                h.deadline().map(|t| t.as_millisecond())
            } else {
                row.due_ms
            };
            (
                serde_json::to_string(&h).map_err(json_err)?,
                row.interval_ms,
                row.retry_ms,
                due,
            )
        } else {
            let (interval_ms, retry_ms, due) =
                changed_cadence(id, row.interval_ms, row.retry_ms, row.due_ms, ch, now)?;
            (row.state, interval_ms, retry_ms, due)
        };
    Ok(EditableRow {
        name: ch.name.clone().unwrap_or(row.name),
        interval_ms,
        retry_ms,
        thresholds: serde_json::to_string(&th).map_err(json_err)?,
        state,
        due_ms,
    })
}

/// Applies period and grace changes to a heartbeat; true when its schedule changed.
pub(crate) fn changed_schedule(
    h: &mut tocsin_core::monitor::Heartbeat,
    ch: &MonitorChanges,
) -> crate::Result<bool> {
    if ch.interval_seconds.is_some() || ch.retry_interval_seconds.is_some() {
        let field = if ch.interval_seconds.is_some() {
            "interval_seconds"
        } else {
            "retry_interval_seconds"
        };
        return Err(invalid(field, "does not apply to a heartbeat"));
    }
    if let Some(p) = ch.period_seconds {
        if h.cron.is_some() {
            return Err(invalid("period_seconds", "cannot be used with cron"));
        }
        h.period = jiff::SignedDuration::from_secs(i64::from(p));
    }
    if let Some(g) = ch.grace_seconds {
        h.grace = jiff::SignedDuration::from_secs(i64::from(g));
    }
    Ok(ch.period_seconds.is_some() || ch.grace_seconds.is_some())
}

/// An active monitor's new interval and retry interval (ms), and when its next check is due: on
/// the new grid when the interval changed (a paused monitor stays paused).
pub(crate) fn changed_cadence(
    id: &str,
    interval_ms: Option<i64>,
    retry_ms: Option<i64>,
    due_ms: Option<i64>,
    ch: &MonitorChanges,
    now: Timestamp,
) -> crate::Result<(Option<i64>, Option<i64>, Option<i64>)> {
    if ch.period_seconds.is_some() || ch.grace_seconds.is_some() {
        let field = if ch.period_seconds.is_some() {
            "period_seconds"
        } else {
            "grace_seconds"
        };
        return Err(invalid(field, "applies to heartbeats only"));
    }
    let old = interval_ms.unwrap_or(60_000);
    let interval = ch.interval_seconds.map_or(old, |s| i64::from(s) * 1000);
    let retry = ch
        .retry_interval_seconds
        .map_or(retry_ms.unwrap_or(interval), |s| i64::from(s) * 1000);
    if retry > interval {
        return Err(invalid(
            "retry_interval_seconds",
            "must not be longer than the interval",
        ));
    }
    let due = match due_ms {
        Some(_) if interval != old => Some(
            tocsin_core::cadence::first_due(id, jiff::SignedDuration::from_millis(interval), now)
                .as_millisecond(),
        ),
        other => other,
    };
    Ok((Some(interval), Some(retry), due))
}

/// The width of a roll-up bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RollupSpan {
    Minute,
    Hour,
    Day,
}

impl RollupSpan {
    pub fn as_str(self) -> &'static str {
        match self {
            RollupSpan::Minute => "minute",
            RollupSpan::Hour => "hour",
            RollupSpan::Day => "day",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "minute" => Some(RollupSpan::Minute),
            "hour" => Some(RollupSpan::Hour),
            "day" => Some(RollupSpan::Day),
            _ => None,
        }
    }
}

/// How long monitor history is kept (`[monitors]` in the configuration file). Each check's
/// result is also bounded per monitor (the newest 10,000); roll-ups are one row per monitor and
/// hour or day, so they cost little to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MonitorRetention {
    /// Days each check's result (time, outcome, latency, status, message) is kept.
    pub results_days: u32,
    /// Hours per-minute roll-ups are kept.
    pub minute_hours: u32,
    /// Days hourly roll-ups are kept (the 24-hour and 7-day uptime and charts need 7).
    pub hourly_days: u32,
    /// Days daily roll-ups are kept (the 30- and 90-day uptime and the status page's bars need 90).
    pub daily_days: u32,
}

impl MonitorRetention {
    pub const HOURLY_DAYS_MIN: u32 = 7;
    pub const DAILY_DAYS_MIN: u32 = 90;
}

impl Default for MonitorRetention {
    fn default() -> Self {
        MonitorRetention {
            results_days: 30,
            minute_hours: 6,
            hourly_days: 35,
            daily_days: 400,
        }
    }
}
