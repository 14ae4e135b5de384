//! PostgreSQL side of monitors and heartbeats, mirroring `sqlite_monitors.rs`: one row per monitor
//! holding the core's state (JSON text), its next due moment claimed with a lease through
//! `FOR UPDATE SKIP LOCKED`, and a results table. A transition's effect (open, resolve) is applied
//! in the same transaction through `ingest_alert`, under the same advisory lock as ingestion of
//! the monitor's dedup key, so a ping and a check of one monitor never open two incidents.
//! Each result also adds itself to its hour's and day's roll-up (an adding upsert, safe when
//! several nodes record at once), which uptime and the response-time series read.

use super::ingest::ingest_alert;
use super::{integration_row, ms, new_id, opt_ts, ts, word};
use crate::*;
use jiff::{SignedDuration, Timestamp};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use tocsin_core::monitor::{
    Effect, Heartbeat, HeartbeatStatus, MonitorKind, PING_BODY_MAX, Thresholds, Verdict,
};
use tocsin_core::*;

macro_rules! monitor_cols {
    () => {
        "id, service_id, type, name, config, interval_ms, retry_interval_ms, thresholds, state, \
         due_at, last_result_at, created_at"
    };
}
pub(super) use monitor_cols;

/// Results kept per monitor (the oldest go first), as on SQLite.
const RESULTS_KEPT_MAX: i64 = 10_000;

fn json_err(e: serde_json::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// The advisory-lock key of a monitor's alert: the one ingestion takes for its dedup key.
pub(super) fn alert_lock_key(integration_id: &str, monitor_id: &str) -> String {
    format!("alert\u{1f}{integration_id}\u{1f}monitor:{monitor_id}")
}

pub(super) fn monitor_row(r: &PgRow, now: Timestamp) -> Result<Monitor> {
    let kind = word(r.try_get(2)?, MonitorKind::parse)?;
    let config: String = r.try_get(4)?;
    let thresholds: String = r.try_get(7)?;
    let state: String = r.try_get(8)?;
    let th: Thresholds = serde_json::from_str(&thresholds).unwrap_or_default();
    let due: Option<i64> = r.try_get(9)?;
    let secs = |v: Option<i64>| v.map(|ms| u32::try_from(ms / 1000).unwrap_or(u32::MAX));
    let mut cron = None;
    let mut time_zone = None;
    let (status, period, grace) = if kind == MonitorKind::Heartbeat {
        match serde_json::from_str::<Heartbeat>(&state) {
            Ok(h) => {
                let status = if h.late(now) {
                    "late".to_owned()
                } else {
                    h.status.as_str().to_owned()
                };
                let period = h.cron.is_none().then_some(h.period.as_secs() as u32);
                cron.clone_from(&h.cron);
                time_zone.clone_from(&h.time_zone);
                (status, period, Some(h.grace.as_secs() as u32))
            }
            Err(_) => ("new".to_owned(), None, None),
        }
    } else {
        let v: Verdict = serde_json::from_str(&state).unwrap_or_default();
        let status = match (due, v.down) {
            (None, _) => "paused",
            (_, Some(true)) => "down",
            (_, Some(false)) => "up",
            (_, None) => "new",
        };
        (status.to_owned(), None, None)
    };
    Ok(Monitor {
        id: r.try_get(0)?,
        service_id: ServiceId(r.try_get(1)?),
        kind,
        name: r.try_get(3)?,
        config: serde_json::from_str(&config).unwrap_or(serde_json::Value::Null),
        interval_seconds: secs(r.try_get(5)?),
        retry_interval_seconds: secs(r.try_get(6)?),
        period_seconds: period,
        grace_seconds: grace,
        cron,
        time_zone,
        failures_before_alert: th.failures_before_alert,
        successes_before_resolve: th.successes_before_resolve,
        status,
        due_at: opt_ts(due),
        last_result_at: opt_ts(r.try_get(10)?),
        created_at: ts(r.try_get(11)?),
    })
}

pub(super) async fn load_monitor(
    c: &mut PgConnection,
    id: &str,
    now: Timestamp,
) -> Result<Monitor> {
    let row = sqlx::query(concat!(
        "SELECT ",
        monitor_cols!(),
        " FROM monitors WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *c)
    .await?
    .ok_or(StoreError::NotFound("monitor"))?;
    monitor_row(&row, now)
}

pub(super) async fn create(c: &mut PgConnection, m: NewMonitor, now: Timestamp) -> Result<Monitor> {
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM services WHERE id = $1)")
        .bind(m.service_id.as_str())
        .fetch_one(&mut *c)
        .await?;
    if !exists {
        return Err(StoreError::Invalid {
            field: "service_id".into(),
            message: "names no existing service".into(),
        });
    }
    let integration_id = new_id();
    sqlx::query(
        "INSERT INTO integrations (id, service_id, type, name, key, created_at)
         VALUES ($1, $2, 'monitor', $3, $4, $5)",
    )
    .bind(&integration_id)
    .bind(m.service_id.as_str())
    .bind(format!("monitor: {}", m.name))
    .bind(&m.integration_key)
    .bind(ms(now))
    .execute(&mut *c)
    .await?;
    let id = new_id();
    let (state, interval, retry, due) = if m.kind == MonitorKind::Heartbeat {
        let grace = SignedDuration::from_secs(i64::from(m.grace_seconds.unwrap_or(3_600)));
        let h = match &m.cron {
            Some(cron) => {
                Heartbeat::with_cron(cron, m.time_zone.as_deref().unwrap_or("UTC"), grace)
            }
            None => Heartbeat::new(
                SignedDuration::from_secs(i64::from(m.period_seconds.unwrap_or(86_400))),
                grace,
            ),
        };
        (
            serde_json::to_string(&h).map_err(json_err)?,
            None,
            None,
            None,
        )
    } else {
        let interval = i64::from(m.interval_seconds.unwrap_or(60)) * 1000;
        let retry = m
            .retry_interval_seconds
            .map_or(interval, |r| i64::from(r) * 1000);
        (
            serde_json::to_string(&Verdict::default()).map_err(json_err)?,
            Some(interval),
            Some(retry),
            // The first check on the monitor's own phase: monitors made together spread out.
            Some(ms(cadence::first_due(
                &id,
                SignedDuration::from_millis(interval),
                now,
            ))),
        )
    };
    sqlx::query(
        "INSERT INTO monitors (id, service_id, integration_id, type, name, config, interval_ms,
           retry_interval_ms, thresholds, state, ping_token_hash, due_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&id)
    .bind(m.service_id.as_str())
    .bind(&integration_id)
    .bind(m.kind.as_str())
    .bind(&m.name)
    .bind(m.config.to_string())
    .bind(interval)
    .bind(retry)
    .bind(serde_json::to_string(&m.thresholds).map_err(json_err)?)
    .bind(state)
    .bind(&m.ping_token_hash)
    .bind(due)
    .bind(ms(now))
    .execute(&mut *c)
    .await?;
    load_monitor(c, &id, now).await
}

/// The monitor's own integration, for the alerts it raises.
async fn monitor_integration(c: &mut PgConnection, id: &str) -> Result<Integration> {
    let row = sqlx::query(concat!(
        "SELECT ",
        "i.id, i.service_id, i.type, i.name, i.key, i.rate_per_second, i.rate_burst, i.created_at",
        " FROM integrations i JOIN monitors m ON m.integration_id = i.id WHERE m.id = $1"
    ))
    .bind(id)
    .fetch_one(&mut *c)
    .await?;
    integration_row(&row)
}

/// Applies a transition's effect as the monitor's alert, in the same transaction (whose caller
/// holds the alert's advisory lock).
async fn apply(
    c: &mut PgConnection,
    monitor_id: &str,
    name: &str,
    config: &serde_json::Value,
    effect: &Effect,
    severity: Option<Severity>,
    at: Timestamp,
) -> Result<Option<IncidentId>> {
    let action = match effect {
        Effect::None => return Ok(None),
        Effect::Open(why) => AlertAction::Trigger(Box::new(AlertDetails {
            summary: format!("{name}: {why}"),
            source: format!("tocsin monitor {monitor_id}"),
            severity: Some(severity.unwrap_or_else(|| {
                config["severity"]
                    .as_str()
                    .and_then(Severity::parse)
                    .unwrap_or(Severity::Critical)
            })),
            timestamp: Some(at),
            component: None,
            group: None,
            class: Some("monitor".into()),
            custom_details: None,
            links: Vec::new(),
            images: Vec::new(),
            client: Some("Tocsin monitor".into()),
            client_url: None,
        })),
        Effect::Resolve => AlertAction::Resolve,
    };
    let ev = AlertEvent {
        dedup_key: format!("monitor:{monitor_id}"),
        action,
        group_key: None,
    };
    let item = IngestItem {
        integration: monitor_integration(c, monitor_id).await?,
        event: IngestEvent::Alert(ev.clone()),
        received_at: at,
    };
    Ok(ingest_alert(c, &item, &ev).await?.incident_id)
}

async fn insert_result(
    c: &mut PgConnection,
    id: &str,
    at: Timestamp,
    ok: bool,
    latency_ms: Option<u64>,
    message: &str,
    log: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO monitor_results (monitor_id, at, ok, latency_ms, message, log)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(ms(at))
    .bind(ok)
    .bind(latency_ms.map(|l| i64::try_from(l).unwrap_or(i64::MAX)))
    .bind(message)
    .bind(log)
    .execute(&mut *c)
    .await?;
    add_to_rollups(c, id, at, ok, latency_ms).await
}

/// A heartbeat ping, inside the ingest batch's transaction (which took the lock on the
/// monitor's alert first, see `ingest::lock_keys`).
pub(super) async fn ingest_ping(
    c: &mut PgConnection,
    item: &IngestItem,
    p: &HeartbeatPing,
) -> Result<IngestOutcome> {
    let row = sqlx::query(
        "SELECT name, config, state FROM monitors WHERE id = $1 AND type = 'heartbeat' FOR UPDATE",
    )
    .bind(&p.monitor_id)
    .fetch_optional(&mut *c)
    .await?;
    let Some(row) = row else {
        // Deleted since its token was looked up: nothing to record (and the rest of the batch
        // must not fail with it).
        return Ok(IngestOutcome {
            decision: None,
            incident_id: None,
        });
    };
    let name: String = row.try_get(0)?;
    let config: String = row.try_get(1)?;
    let state: String = row.try_get(2)?;
    let mut h: Heartbeat = serde_json::from_str(&state).map_err(json_err)?;
    let at = item.received_at;
    let out = h.ping(p.kind, p.rid.as_deref(), at);
    sqlx::query("UPDATE monitors SET state = $2, due_at = $3, last_result_at = $4 WHERE id = $1")
        .bind(&p.monitor_id)
        .bind(serde_json::to_string(&h).map_err(json_err)?)
        .bind(h.deadline().map(ms))
        .bind(ms(at))
        .execute(&mut *c)
        .await?;
    let mut message = format!("ping: {}", p.kind.as_str());
    if let Some(rid) = &p.rid {
        message.push_str(&format!(" (run {rid})"));
    }
    // A ping that opens the alert leaves the heartbeat down: one test says both.
    let ok = h.status != HeartbeatStatus::Down;
    let log: Option<String> = p
        .body
        .as_ref()
        .map(|b| b.chars().take(PING_BODY_MAX).collect());
    insert_result(
        c,
        &p.monitor_id,
        at,
        ok,
        out.duration.map(|d| d.as_millis().max(0) as u64),
        &message,
        log.as_deref(),
    )
    .await?;
    let config: serde_json::Value = serde_json::from_str(&config).unwrap_or_default();
    let incident_id = apply(c, &p.monitor_id, &name, &config, &out.effect, None, at).await?;
    Ok(IngestOutcome {
        decision: None,
        incident_id,
    })
}

pub(super) async fn claim_due(
    c: &mut PgConnection,
    node: &str,
    now: Timestamp,
    until: Timestamp,
    limit: u32,
) -> Result<Vec<DueMonitor>> {
    // Rows another node is claiming right now are skipped, not waited for: it takes them.
    let mut rows = sqlx::query(
        "WITH picked AS (
           SELECT id FROM monitors
           WHERE due_at <= $1 AND (claimed_until IS NULL OR claimed_until < $1)
           ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED)
         UPDATE monitors m SET claimed_by = $3, claimed_until = $4
         FROM picked WHERE m.id = picked.id
         RETURNING m.id, m.type, m.name, m.config, m.due_at",
    )
    .bind(ms(now))
    .bind(i64::from(limit))
    .bind(node)
    .bind(ms(until))
    .fetch_all(&mut *c)
    .await?;
    rows.sort_by_key(|r| r.try_get::<i64, _>(4).unwrap_or(0));
    rows.iter()
        .map(|r| {
            let config: String = r.try_get(3)?;
            Ok(DueMonitor {
                id: r.try_get(0)?,
                kind: word(r.try_get(1)?, MonitorKind::parse)?,
                name: r.try_get(2)?,
                config: serde_json::from_str(&config).unwrap_or_default(),
                due_at: ts(r.try_get(4)?),
            })
        })
        .collect()
}

/// The advisory-lock keys of the alerts these checks may raise or resolve, so that
/// `record_checks` takes them, in hash order, before any row lock (as ingestion does).
pub(super) async fn check_lock_keys(
    c: &mut PgConnection,
    checks: &[CheckRecord],
) -> Result<Vec<String>> {
    let ids: Vec<&str> = checks.iter().map(|c| c.monitor_id.as_str()).collect();
    let rows = sqlx::query("SELECT id, integration_id FROM monitors WHERE id = ANY($1)")
        .bind(&ids)
        .fetch_all(&mut *c)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(alert_lock_key(
                &r.try_get::<String, _>(1)?,
                &r.try_get::<String, _>(0)?,
            ))
        })
        .collect()
}

/// Records one check (or looks at one heartbeat deadline); false when the claim was lost.
pub(super) async fn record_check(
    c: &mut PgConnection,
    check: &CheckRecord,
    now: Timestamp,
) -> Result<bool> {
    let row = sqlx::query(
        "SELECT type, name, config, state, interval_ms, retry_interval_ms, due_at, thresholds
         FROM monitors WHERE id = $1 AND claimed_by = $2 FOR UPDATE",
    )
    .bind(&check.monitor_id)
    .bind(&check.node)
    .fetch_optional(&mut *c)
    .await?;
    let Some(row) = row else {
        return Ok(false);
    };
    let kind: String = row.try_get(0)?;
    let name: String = row.try_get(1)?;
    let config: String = row.try_get(2)?;
    let state: String = row.try_get(3)?;
    let interval: Option<i64> = row.try_get(4)?;
    let retry: Option<i64> = row.try_get(5)?;
    let due: Option<i64> = row.try_get(6)?;
    let thresholds: String = row.try_get(7)?;
    let config: serde_json::Value = serde_json::from_str(&config).unwrap_or_default();
    let (effect, state, next) = if kind == MonitorKind::Heartbeat.as_str() {
        let mut h: Heartbeat = serde_json::from_str(&state).map_err(json_err)?;
        let effect = h.check(now);
        if let Effect::Open(why) = &effect {
            insert_result(c, &check.monitor_id, now, false, None, why, None).await?;
        }
        (
            effect,
            serde_json::to_string(&h).map_err(json_err)?,
            h.deadline(),
        )
    } else {
        let Some(result) = &check.result else {
            return Ok(false);
        };
        let th: Thresholds = serde_json::from_str(&thresholds).unwrap_or_default();
        let mut v: Verdict = serde_json::from_str(&state).unwrap_or_default();
        let effect = v.record(result.ok, &result.message, &th, now);
        insert_result(
            c,
            &check.monitor_id,
            now,
            result.ok,
            result.latency_ms,
            &result.message,
            None,
        )
        .await?;
        // A fixed cadence on the monitor's phase (a slow check does not push the next one),
        // faster while failing; slots missed by a late check are skipped, not caught up.
        let step = if v.retrying() { retry } else { interval }.unwrap_or(60_000);
        let next = cadence::next_due(
            &check.monitor_id,
            SignedDuration::from_millis(step),
            due.map_or(check.due_at, ts),
            now,
        );
        // Paused (due NULL) stays paused.
        let next = due.map(|_| next);
        (effect, serde_json::to_string(&v).map_err(json_err)?, next)
    };
    sqlx::query(
        "UPDATE monitors SET state = $2, due_at = $3, claimed_by = NULL, claimed_until = NULL,
           last_result_at = $4 WHERE id = $1",
    )
    .bind(&check.monitor_id)
    .bind(state)
    .bind(next.map(ms))
    .bind(ms(now))
    .execute(&mut *c)
    .await?;
    let severity = check.result.as_ref().and_then(|r| r.severity);
    apply(c, &check.monitor_id, &name, &config, &effect, severity, now).await?;
    // Keep the results bounded.
    sqlx::query(
        "DELETE FROM monitor_results WHERE monitor_id = $1 AND seq < (
           SELECT seq FROM monitor_results WHERE monitor_id = $1
           ORDER BY seq DESC LIMIT 1 OFFSET $2)",
    )
    .bind(&check.monitor_id)
    .bind(RESULTS_KEPT_MAX)
    .execute(&mut *c)
    .await?;
    Ok(true)
}

pub(super) async fn results(
    c: &mut PgConnection,
    id: &str,
    limit: u32,
) -> Result<Vec<MonitorResult>> {
    sqlx::query(
        "SELECT at, ok, latency_ms, message, log FROM monitor_results WHERE monitor_id = $1
         ORDER BY at DESC, seq DESC LIMIT $2",
    )
    .bind(id)
    .bind(i64::from(limit))
    .fetch_all(&mut *c)
    .await?
    .iter()
    .map(|r| {
        Ok(MonitorResult {
            at: ts(r.try_get(0)?),
            ok: r.try_get(1)?,
            latency_ms: r.try_get::<Option<i64>, _>(2)?.map(|l| l.max(0) as u64),
            message: r.try_get(3)?,
            log: r.try_get(4)?,
        })
    })
    .collect()
}

pub(super) async fn set_paused(
    c: &mut PgConnection,
    id: &str,
    paused: bool,
    now: Timestamp,
) -> Result<Monitor> {
    let row = sqlx::query("SELECT type, state FROM monitors WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .ok_or(StoreError::NotFound("monitor"))?;
    let kind: String = row.try_get(0)?;
    let state: String = row.try_get(1)?;
    if kind == MonitorKind::Heartbeat.as_str() {
        let mut h: Heartbeat = serde_json::from_str(&state).map_err(json_err)?;
        if paused {
            h.pause();
        } else if h.status == HeartbeatStatus::Paused {
            h.status = HeartbeatStatus::New;
        }
        sqlx::query("UPDATE monitors SET state = $2, due_at = $3 WHERE id = $1")
            .bind(id)
            .bind(serde_json::to_string(&h).map_err(json_err)?)
            .bind(h.deadline().map(ms))
            .execute(&mut *c)
            .await?;
    } else {
        sqlx::query(
            "UPDATE monitors SET due_at = $2, claimed_by = NULL, claimed_until = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(if paused { None } else { Some(ms(resume_at(c, id, now).await?)) })
        .execute(&mut *c)
        .await?;
    }
    load_monitor(c, id, now).await
}

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// Adds a result to its hour's and its day's roll-ups, in the transaction that records it. An
/// upsert that adds (never a read then a write), in one statement for both rows in a fixed
/// order: nodes recording results of one monitor at once each add theirs, and never deadlock.
async fn add_to_rollups(
    c: &mut PgConnection,
    id: &str,
    at: Timestamp,
    ok: bool,
    latency_ms: Option<u64>,
) -> Result<()> {
    let at = ms(at);
    let latency = latency_ms.map_or(0, |l| i64::try_from(l).unwrap_or(i64::MAX));
    sqlx::query(
        "INSERT INTO monitor_rollups (monitor_id, span, bucket, checks, failures, latency_sum_ms,
           latency_count, latency_max_ms)
         VALUES ($1, 'day', $2, 1, $4, $5, $6, $5), ($1, 'hour', $3, 1, $4, $5, $6, $5),
                ($1, 'minute', $7, 1, $4, $5, $6, $5)
         ON CONFLICT (monitor_id, span, bucket) DO UPDATE SET
           checks = monitor_rollups.checks + 1,
           failures = monitor_rollups.failures + excluded.failures,
           latency_sum_ms = monitor_rollups.latency_sum_ms + excluded.latency_sum_ms,
           latency_count = monitor_rollups.latency_count + excluded.latency_count,
           latency_max_ms = GREATEST(monitor_rollups.latency_max_ms, excluded.latency_max_ms)",
    )
    .bind(id)
    .bind(at.div_euclid(DAY_MS) * DAY_MS)
    .bind(at.div_euclid(HOUR_MS) * HOUR_MS)
    .bind(i64::from(!ok))
    .bind(latency)
    .bind(i64::from(latency_ms.is_some()))
    .bind(at.div_euclid(MINUTE_MS) * MINUTE_MS)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Uptime over 24 h and 7 d (from hourly roll-ups) and 30 d and 90 d (daily), as percentages of
/// checks that passed; `None` where there was no check.
pub(super) async fn uptime(c: &mut PgConnection, id: &str, now: Timestamp) -> Result<Uptime> {
    let mut ratios = [None; 4];
    let windows = [
        ("hour", DAY_MS),
        ("hour", 7 * DAY_MS),
        ("day", 30 * DAY_MS),
        ("day", 90 * DAY_MS),
    ];
    for (ratio, (span, window)) in ratios.iter_mut().zip(windows) {
        let width = if span == "hour" { HOUR_MS } else { DAY_MS };
        let from = (ms(now) - window).div_euclid(width) * width;
        let r = sqlx::query(
            "SELECT COALESCE(SUM(checks), 0)::BIGINT, COALESCE(SUM(failures), 0)::BIGINT
             FROM monitor_rollups WHERE monitor_id = $1 AND span = $2 AND bucket >= $3",
        )
        .bind(id)
        .bind(span)
        .bind(from)
        .fetch_one(&mut *c)
        .await?;
        let (checks, failures): (i64, i64) = (r.try_get(0)?, r.try_get(1)?);
        *ratio = (checks > 0).then(|| 100.0 * (checks - failures) as f64 / checks as f64);
    }
    let [last_24h, last_7d, last_30d, last_90d] = ratios;
    Ok(Uptime {
        last_24h,
        last_7d,
        last_30d,
        last_90d,
    })
}

/// Roll-ups of one span from `from`, oldest first.
pub(super) async fn series(
    c: &mut PgConnection,
    id: &str,
    span: &str,
    from: Timestamp,
) -> Result<Vec<RollupPoint>> {
    sqlx::query(
        "SELECT bucket, checks, failures, latency_sum_ms, latency_count, latency_max_ms
         FROM monitor_rollups WHERE monitor_id = $1 AND span = $2 AND bucket >= $3
         ORDER BY bucket",
    )
    .bind(id)
    .bind(span)
    .bind(ms(from))
    .fetch_all(&mut *c)
    .await?
    .iter()
    .map(|r| {
        let sum: i64 = r.try_get(3)?;
        let count: i64 = r.try_get(4)?;
        let max: i64 = r.try_get(5)?;
        Ok(RollupPoint {
            start: ts(r.try_get(0)?),
            checks: r.try_get::<i64, _>(1)?.max(0) as u64,
            failures: r.try_get::<i64, _>(2)?.max(0) as u64,
            latency_avg_ms: (count > 0).then(|| (sum / count).max(0) as u64),
            latency_max_ms: (count > 0).then(|| max.max(0) as u64),
        })
    })
    .collect()
}

/// When a resumed monitor's next check is due: its first slot from `now` on.
async fn resume_at(c: &mut PgConnection, id: &str, now: Timestamp) -> Result<Timestamp> {
    let interval: Option<i64> =
        sqlx::query_scalar("SELECT interval_ms FROM monitors WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *c)
            .await?;
    Ok(cadence::first_due(
        id,
        SignedDuration::from_millis(interval.unwrap_or(60_000)),
        now,
    ))
}

/// Deletes a monitor and its history; its open incident (if any) resolves first, since nothing
/// would resolve it later. Its integration stays, for the incidents that name it.
pub(super) async fn delete(c: &mut PgConnection, id: &str, now: Timestamp) -> Result<()> {
    let row = sqlx::query("SELECT name, config FROM monitors WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .ok_or(StoreError::NotFound("monitor"))?;
    let name: String = row.try_get(0)?;
    let config: String = row.try_get(1)?;
    let config: serde_json::Value = serde_json::from_str(&config).unwrap_or_default();
    apply(c, id, &name, &config, &Effect::Resolve, None, now).await?;
    sqlx::query("DELETE FROM monitors WHERE id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Changes a monitor's name, cadence, thresholds or (heartbeats) period and grace; its state,
/// history and ping token stay. A new interval puts the next check on the new grid.
pub(super) async fn update(
    c: &mut PgConnection,
    id: &str,
    ch: &MonitorChanges,
    now: Timestamp,
) -> Result<Monitor> {
    let row = sqlx::query(
        "SELECT type, name, interval_ms, retry_interval_ms, thresholds, state, due_at
         FROM monitors WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *c)
    .await?
    .ok_or(StoreError::NotFound("monitor"))?;
    let kind: String = row.try_get(0)?;
    let row = crate::monitors::edited_row(
        id,
        &kind,
        crate::monitors::EditableRow {
            name: row.try_get(1)?,
            interval_ms: row.try_get(2)?,
            retry_ms: row.try_get(3)?,
            thresholds: row.try_get(4)?,
            state: row.try_get(5)?,
            due_ms: row.try_get(6)?,
        },
        ch,
        now,
    )?;
    sqlx::query(
        "UPDATE monitors SET name = $2, interval_ms = $3, retry_interval_ms = $4, thresholds = $5,
           state = $6, due_at = $7 WHERE id = $1",
    )
    .bind(id)
    .bind(&row.name)
    .bind(row.interval_ms)
    .bind(row.retry_ms)
    .bind(&row.thresholds)
    .bind(&row.state)
    .bind(row.due_ms)
    .execute(&mut *c)
    .await?;
    sqlx::query(
        "UPDATE integrations SET name = $2
         WHERE id = (SELECT integration_id FROM monitors WHERE id = $1)",
    )
    .bind(id)
    .bind(format!("monitor: {}", row.name))
    .execute(&mut *c)
    .await?;
    load_monitor(c, id, now).await
}

/// Prunes the history of up to `limit` monitors after `after` (by id) as `keep` says; returns
/// the rows deleted and the last monitor seen (`None` when there are no more).
pub(super) async fn prune_history(
    c: &mut PgConnection,
    keep: MonitorRetention,
    now: Timestamp,
    after: &str,
    limit: i64,
) -> Result<(u64, Option<String>)> {
    let ids: Vec<String> = sqlx::query_scalar(
        r#"SELECT id FROM monitors WHERE id > $1 COLLATE "C" ORDER BY id COLLATE "C" LIMIT $2"#,
    )
    .bind(after)
    .bind(limit)
    .fetch_all(&mut *c)
    .await?;
    let days = |d: u32| ms(now) - i64::from(d) * DAY_MS;
    let r = sqlx::query(
        "WITH r AS (DELETE FROM monitor_results WHERE monitor_id = ANY($1) AND at < $2 RETURNING 1),
              h AS (DELETE FROM monitor_rollups WHERE monitor_id = ANY($1) AND span = 'hour'
                      AND bucket < $3 RETURNING 1),
              d AS (DELETE FROM monitor_rollups WHERE monitor_id = ANY($1) AND span = 'day'
                      AND bucket < $4 RETURNING 1),
              m AS (DELETE FROM monitor_rollups WHERE monitor_id = ANY($1) AND span = 'minute'
                      AND bucket < $5 RETURNING 1)
         SELECT (SELECT COUNT(*) FROM r) + (SELECT COUNT(*) FROM h) + (SELECT COUNT(*) FROM d)
                + (SELECT COUNT(*) FROM m)",
    )
    .bind(&ids)
    .bind(days(keep.results_days))
    .bind(days(keep.hourly_days))
    .bind(days(keep.daily_days))
    .bind(ms(now) - i64::from(keep.minute_hours) * HOUR_MS)
    .fetch_one(&mut *c)
    .await?;
    let deleted: i64 = r.try_get(0)?;
    Ok((u64::try_from(deleted).unwrap_or(0), ids.last().cloned()))
}
