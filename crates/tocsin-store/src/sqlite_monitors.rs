//! SQLite side of monitors and heartbeats: one row per monitor holding the core's state (JSON),
//! its next due moment (a check, or a heartbeat's deadline) claimed with a lease like the
//! engine's other work, and a results table. Effects of a transition (open, resolve) are applied
//! in the same transaction through `ingest_alert`, on the monitor's own integration.

use super::{backend, ingest_alert, ms, new_id, ts};
use crate::*;
use jiff::{SignedDuration, Timestamp};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use tocsin_core::monitor::{Effect, Heartbeat, MonitorKind, PING_BODY_MAX, Thresholds, Verdict};
use tocsin_core::*;

pub(super) const MONITOR_COLS: &str = "id, service_id, type, name, config, interval_ms, retry_interval_ms, \
     thresholds, state, due_at, last_result_at, created_at";

/// Results kept per monitor (the oldest go first).
pub const RESULTS_KEPT_MAX: u32 = 10_000;

fn json_err(e: serde_json::Error) -> StoreError {
    backend(e)
}

pub(super) fn monitor_row(r: &Row<'_>, now: Timestamp) -> rusqlite::Result<Monitor> {
    let kind: String = r.get(2)?;
    let kind = MonitorKind::parse(&kind).unwrap_or(MonitorKind::Http);
    let config: String = r.get(4)?;
    let thresholds: String = r.get(7)?;
    let state: String = r.get(8)?;
    let th: Thresholds = serde_json::from_str(&thresholds).unwrap_or_default();
    let interval: Option<i64> = r.get(5)?;
    let retry: Option<i64> = r.get(6)?;
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
        let due: Option<i64> = r.get(9)?;
        let status = match (due, v.down) {
            (None, _) => "paused",
            (_, Some(true)) => "down",
            (_, Some(false)) => "up",
            (_, None) => "new",
        };
        (status.to_owned(), None, None)
    };
    Ok(Monitor {
        id: r.get(0)?,
        service_id: ServiceId(r.get(1)?),
        kind,
        name: r.get(3)?,
        config: serde_json::from_str(&config).unwrap_or(serde_json::Value::Null),
        interval_seconds: secs(interval),
        retry_interval_seconds: secs(retry),
        period_seconds: period,
        grace_seconds: grace,
        cron,
        time_zone,
        failures_before_alert: th.failures_before_alert,
        successes_before_resolve: th.successes_before_resolve,
        status,
        due_at: r.get::<_, Option<i64>>(9)?.map(ts),
        last_result_at: r.get::<_, Option<i64>>(10)?.map(ts),
        created_at: ts(r.get(11)?),
    })
}

pub(super) fn load_monitor(c: &Connection, id: &str, now: Timestamp) -> Result<Monitor> {
    c.prepare_cached(&format!(
        "SELECT {MONITOR_COLS} FROM monitors WHERE id = ?1"
    ))?
    .query_row([id], |r| monitor_row(r, now))
    .optional()?
    .ok_or(StoreError::NotFound("monitor"))
}

pub(super) fn create(tx: &Transaction<'_>, m: NewMonitor, now: Timestamp) -> Result<Monitor> {
    let exists: bool = tx.query_row(
        "SELECT COUNT(*) > 0 FROM services WHERE id = ?1",
        [m.service_id.as_str()],
        |r| r.get(0),
    )?;
    if !exists {
        return Err(StoreError::Invalid {
            field: "service_id".into(),
            message: "names no existing service".into(),
        });
    }
    let integration_id = new_id();
    tx.execute(
        "INSERT INTO integrations (id, service_id, type, name, key, created_at)
         VALUES (?1, ?2, 'monitor', ?3, ?4, ?5)",
        params![
            integration_id,
            m.service_id.as_str(),
            format!("monitor: {}", m.name),
            m.integration_key,
            ms(now)
        ],
    )?;
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
    tx.execute(
        "INSERT INTO monitors (id, service_id, integration_id, type, name, config, interval_ms,
           retry_interval_ms, thresholds, state, ping_token_hash, due_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            id,
            m.service_id.as_str(),
            integration_id,
            m.kind.as_str(),
            m.name,
            m.config.to_string(),
            interval,
            retry,
            serde_json::to_string(&m.thresholds).map_err(json_err)?,
            state,
            m.ping_token_hash,
            due,
            ms(now)
        ],
    )?;
    load_monitor(tx, &id, now)
}

/// The monitor's own integration, for the alerts it raises.
fn monitor_integration(tx: &Connection, id: &str) -> Result<Integration> {
    Ok(tx
        .prepare_cached(&format!(
            "SELECT {} FROM integrations WHERE id = (SELECT integration_id FROM monitors WHERE id = ?1)",
            super::INTEGRATION_COLS
        ))?
        .query_row([id], super::integration_row)?)
}

/// Applies a transition's effect as the monitor's alert, in the same transaction.
fn apply(
    tx: &Transaction<'_>,
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
        integration: monitor_integration(tx, monitor_id)?,
        event: IngestEvent::Alert(ev.clone()),
        received_at: at,
    };
    Ok(ingest_alert(tx, &item, &ev)?.incident_id)
}

fn insert_result(
    tx: &Transaction<'_>,
    id: &str,
    at: Timestamp,
    ok: bool,
    latency_ms: Option<u64>,
    message: &str,
    log: Option<&str>,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO monitor_results (monitor_id, at, ok, latency_ms, message, log)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        id,
        ms(at),
        ok,
        latency_ms.map(|l| l as i64),
        message,
        log
    ])?;
    // The minute's, the hour's and the day's roll-ups.
    for (span, width) in [("minute", MINUTE_MS), ("hour", HOUR_MS), ("day", DAY_MS)] {
        tx.prepare_cached(
            "INSERT INTO monitor_rollups (monitor_id, span, bucket, checks, failures, latency_sum_ms,
               latency_count, latency_max_ms)
             VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?5)
             ON CONFLICT (monitor_id, span, bucket) DO UPDATE SET
               checks = checks + 1,
               failures = failures + excluded.failures,
               latency_sum_ms = latency_sum_ms + excluded.latency_sum_ms,
               latency_count = latency_count + excluded.latency_count,
               latency_max_ms = MAX(latency_max_ms, excluded.latency_max_ms)",
        )?
        .execute(params![
            id,
            span,
            ms(at).div_euclid(width) * width,
            i64::from(!ok),
            latency_ms.map_or(0, |l| l as i64),
            i64::from(latency_ms.is_some()),
        ])?;
    }
    Ok(())
}

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// Uptime over 24 h and 7 d (from hourly roll-ups) and 30 d and 90 d (daily), as percentages of
/// checks that passed; `None` where there was no check.
pub(super) fn uptime(c: &Connection, id: &str, now: Timestamp) -> Result<Uptime> {
    let ratio = |span: &str, window: i64| -> Result<Option<f64>> {
        let width = if span == "hour" { HOUR_MS } else { DAY_MS };
        let from = (ms(now) - window).div_euclid(width) * width;
        let (checks, failures): (i64, i64) = c
            .prepare_cached(
                "SELECT COALESCE(SUM(checks), 0), COALESCE(SUM(failures), 0) FROM monitor_rollups
                 WHERE monitor_id = ?1 AND span = ?2 AND bucket >= ?3",
            )?
            .query_row(params![id, span, from], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok((checks > 0).then(|| 100.0 * (checks - failures) as f64 / checks as f64))
    };
    Ok(Uptime {
        last_24h: ratio("hour", DAY_MS)?,
        last_7d: ratio("hour", 7 * DAY_MS)?,
        last_30d: ratio("day", 30 * DAY_MS)?,
        last_90d: ratio("day", 90 * DAY_MS)?,
    })
}

/// Roll-ups of one span from `from`, oldest first.
pub(super) fn series(
    c: &Connection,
    id: &str,
    span: &str,
    from: Timestamp,
) -> Result<Vec<RollupPoint>> {
    let mut st = c.prepare_cached(
        "SELECT bucket, checks, failures, latency_sum_ms, latency_count, latency_max_ms
         FROM monitor_rollups WHERE monitor_id = ?1 AND span = ?2 AND bucket >= ?3 ORDER BY bucket",
    )?;
    let rows = st.query_map(params![id, span, ms(from)], |r| {
        let count: i64 = r.get(4)?;
        let sum: i64 = r.get(3)?;
        Ok(RollupPoint {
            start: ts(r.get(0)?),
            checks: r.get::<_, i64>(1)?.max(0) as u64,
            failures: r.get::<_, i64>(2)?.max(0) as u64,
            latency_avg_ms: (count > 0).then(|| (sum / count).max(0) as u64),
            latency_max_ms: (count > 0)
                .then(|| r.get::<_, i64>(5).map(|m| m.max(0) as u64))
                .transpose()?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A heartbeat ping, inside the ingest batch's transaction.
pub(super) fn ingest_ping(
    tx: &Transaction<'_>,
    item: &IngestItem,
    p: &HeartbeatPing,
) -> Result<IngestOutcome> {
    let row: Option<(String, String, String)> = tx
        .prepare_cached(
            "SELECT name, config, state FROM monitors WHERE id = ?1 AND type = 'heartbeat'",
        )?
        .query_row([&p.monitor_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((name, config, state)) = row else {
        // Deleted since its token was looked up: nothing to record (and the rest of the batch
        // must not fail with it).
        return Ok(IngestOutcome {
            decision: None,
            incident_id: None,
        });
    };
    let mut h: Heartbeat = serde_json::from_str(&state).map_err(json_err)?;
    let at = item.received_at;
    let out = h.ping(p.kind, p.rid.as_deref(), at);
    tx.prepare_cached(
        "UPDATE monitors SET state = ?2, due_at = ?3, last_result_at = ?4 WHERE id = ?1",
    )?
    .execute(params![
        p.monitor_id,
        serde_json::to_string(&h).map_err(json_err)?,
        h.deadline().map(ms),
        ms(at)
    ])?;
    let mut message = format!("ping: {}", p.kind.as_str());
    if let Some(rid) = &p.rid {
        message.push_str(&format!(" (run {rid})"));
    }
    // A ping that opens the alert leaves the heartbeat down: one test says both.
    let ok = h.status != tocsin_core::monitor::HeartbeatStatus::Down;
    let log: Option<String> = p
        .body
        .as_ref()
        .map(|b| b.chars().take(PING_BODY_MAX).collect());
    insert_result(
        tx,
        &p.monitor_id,
        at,
        ok,
        out.duration.map(|d| d.as_millis().max(0) as u64),
        &message,
        log.as_deref(),
    )?;
    let config: serde_json::Value = serde_json::from_str(&config).unwrap_or_default();
    let incident_id = apply(tx, &p.monitor_id, &name, &config, &out.effect, None, at)?;
    Ok(IngestOutcome {
        decision: None,
        incident_id,
    })
}

pub(super) fn claim_due(
    tx: &Transaction<'_>,
    node: &str,
    now: Timestamp,
    until: Timestamp,
    limit: u32,
) -> Result<Vec<DueMonitor>> {
    let rows: Vec<(String, String, String, String, i64)> = tx
        .prepare_cached(
            "SELECT id, type, name, config, due_at FROM monitors
             WHERE due_at <= ?1 AND (claimed_until IS NULL OR claimed_until < ?1)
             ORDER BY due_at LIMIT ?2",
        )?
        .query_map(params![ms(now), limit], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, kind, name, config, due) in rows {
        tx.prepare_cached("UPDATE monitors SET claimed_by = ?2, claimed_until = ?3 WHERE id = ?1")?
            .execute(params![id, node, ms(until)])?;
        out.push(DueMonitor {
            id,
            kind: MonitorKind::parse(&kind).unwrap_or(MonitorKind::Http),
            name,
            config: serde_json::from_str(&config).unwrap_or_default(),
            due_at: ts(due),
        });
    }
    Ok(out)
}

/// Records one check (or looks at one heartbeat deadline); false when the claim was lost.
pub(super) fn record_check(tx: &Transaction<'_>, c: &CheckRecord, now: Timestamp) -> Result<bool> {
    /// type, name, config, state, interval_ms, retry_interval_ms, due_at
    type Row = (
        String,
        String,
        String,
        String,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        String,
    );
    let row: Option<Row> = tx
        .prepare_cached(
            "SELECT type, name, config, state, interval_ms, retry_interval_ms, due_at, thresholds
             FROM monitors WHERE id = ?1 AND claimed_by = ?2",
        )?
        .query_row(params![c.monitor_id, c.node], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .optional()?;
    let Some((kind, name, config, state, interval, retry, due, thresholds)) = row else {
        return Ok(false);
    };
    let config: serde_json::Value = serde_json::from_str(&config).unwrap_or_default();
    let (effect, state, next) = if kind == MonitorKind::Heartbeat.as_str() {
        let mut h: Heartbeat = serde_json::from_str(&state).map_err(json_err)?;
        let effect = h.check(now);
        if let Effect::Open(why) = &effect {
            insert_result(tx, &c.monitor_id, now, false, None, why, None)?;
        }
        (
            effect,
            serde_json::to_string(&h).map_err(json_err)?,
            h.deadline(),
        )
    } else {
        let Some(result) = &c.result else {
            return Ok(false);
        };
        let th: Thresholds = serde_json::from_str(&thresholds).unwrap_or_default();
        let mut v: Verdict = serde_json::from_str(&state).unwrap_or_default();
        let effect = v.record(result.ok, &result.message, &th, now);
        insert_result(
            tx,
            &c.monitor_id,
            now,
            result.ok,
            result.latency_ms,
            &result.message,
            None,
        )?;
        // A fixed cadence on the monitor's phase (a slow check does not push the next one),
        // faster while failing; slots missed by a late check are skipped, not caught up.
        let step = if v.retrying() { retry } else { interval }.unwrap_or(60_000);
        let next = cadence::next_due(
            &c.monitor_id,
            SignedDuration::from_millis(step),
            due.map_or(c.due_at, ts),
            now,
        );
        // Paused (due NULL) stays paused.
        let next = due.map(|_| next);
        (effect, serde_json::to_string(&v).map_err(json_err)?, next)
    };
    tx.prepare_cached(
        "UPDATE monitors SET state = ?2, due_at = ?3, claimed_by = NULL, claimed_until = NULL,
           last_result_at = ?4 WHERE id = ?1",
    )?
    .execute(params![c.monitor_id, state, next.map(ms), ms(now)])?;
    let severity = c.result.as_ref().and_then(|r| r.severity);
    apply(tx, &c.monitor_id, &name, &config, &effect, severity, now)?;
    // Keep the results bounded.
    tx.prepare_cached(
        "DELETE FROM monitor_results WHERE monitor_id = ?1 AND at < (
           SELECT at FROM monitor_results WHERE monitor_id = ?1 ORDER BY at DESC LIMIT 1 OFFSET ?2)",
    )?
    .execute(params![c.monitor_id, RESULTS_KEPT_MAX])?;
    Ok(true)
}

pub(super) fn results(c: &Connection, id: &str, limit: u32) -> Result<Vec<MonitorResult>> {
    let mut st = c.prepare_cached(
        "SELECT at, ok, latency_ms, message, log FROM monitor_results WHERE monitor_id = ?1
         ORDER BY at DESC, rowid DESC LIMIT ?2",
    )?;
    let rows = st.query_map(params![id, limit], |r| {
        Ok(MonitorResult {
            at: ts(r.get(0)?),
            ok: r.get(1)?,
            latency_ms: r.get::<_, Option<i64>>(2)?.map(|l| l.max(0) as u64),
            message: r.get(3)?,
            log: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn set_paused(
    tx: &Transaction<'_>,
    id: &str,
    paused: bool,
    now: Timestamp,
) -> Result<Monitor> {
    let m = load_monitor(tx, id, now)?;
    let state: String = tx.query_row("SELECT state FROM monitors WHERE id = ?1", [id], |r| {
        r.get(0)
    })?;
    if m.kind == MonitorKind::Heartbeat {
        let mut h: Heartbeat = serde_json::from_str(&state).map_err(json_err)?;
        if paused {
            h.pause();
        } else if h.status == tocsin_core::monitor::HeartbeatStatus::Paused {
            h.status = tocsin_core::monitor::HeartbeatStatus::New;
        }
        tx.execute(
            "UPDATE monitors SET state = ?2, due_at = ?3 WHERE id = ?1",
            params![
                id,
                serde_json::to_string(&h).map_err(json_err)?,
                h.deadline().map(ms)
            ],
        )?;
    } else {
        tx.execute(
            "UPDATE monitors SET due_at = ?2, claimed_by = NULL, claimed_until = NULL WHERE id = ?1",
            params![
                id,
                if paused {
                    None
                } else {
                    Some(ms(resume_at(tx, id, now)?))
                }
            ],
        )?;
    }
    load_monitor(tx, id, now)
}

/// When a resumed monitor's next check is due: its first slot from `now` on.
fn resume_at(c: &Connection, id: &str, now: Timestamp) -> Result<Timestamp> {
    let interval: Option<i64> = c.query_row(
        "SELECT interval_ms FROM monitors WHERE id = ?1",
        [id],
        |r| r.get(0),
    )?;
    Ok(cadence::first_due(
        id,
        SignedDuration::from_millis(interval.unwrap_or(60_000)),
        now,
    ))
}

/// Deletes a monitor and its history; its open incident (if any) resolves first, since nothing
/// would resolve it later. Its integration stays, for the incidents that name it.
pub(super) fn delete(tx: &Transaction<'_>, id: &str, now: Timestamp) -> Result<()> {
    let (name, config): (String, String) = tx
        .query_row(
            "SELECT name, config FROM monitors WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or(StoreError::NotFound("monitor"))?;
    let config: serde_json::Value = serde_json::from_str(&config).unwrap_or_default();
    apply(tx, id, &name, &config, &Effect::Resolve, None, now)?;
    tx.execute("DELETE FROM monitors WHERE id = ?1", [id])?;
    Ok(())
}

/// Changes a monitor's name, cadence, thresholds or (heartbeats) period and grace; its state,
/// history and ping token stay. A new interval puts the next check on the new grid.
pub(super) fn update(
    tx: &Transaction<'_>,
    id: &str,
    ch: &MonitorChanges,
    now: Timestamp,
) -> Result<Monitor> {
    type Row = (
        String,
        String,
        Option<i64>,
        Option<i64>,
        String,
        String,
        Option<i64>,
    );
    let row: Option<Row> = tx
        .query_row(
            "SELECT type, name, interval_ms, retry_interval_ms, thresholds, state, due_at
             FROM monitors WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .optional()?;
    let Some((kind, name, interval_ms, retry_ms, thresholds, state, due_ms)) = row else {
        return Err(StoreError::NotFound("monitor"));
    };
    let row = crate::monitors::edited_row(
        id,
        &kind,
        crate::monitors::EditableRow {
            name,
            interval_ms,
            retry_ms,
            thresholds,
            state,
            due_ms,
        },
        ch,
        now,
    )?;
    tx.execute(
        "UPDATE monitors SET name = ?2, interval_ms = ?3, retry_interval_ms = ?4, thresholds = ?5,
           state = ?6, due_at = ?7 WHERE id = ?1",
        params![
            id,
            row.name,
            row.interval_ms,
            row.retry_ms,
            row.thresholds,
            row.state,
            row.due_ms
        ],
    )?;
    tx.execute(
        "UPDATE integrations SET name = ?2
         WHERE id = (SELECT integration_id FROM monitors WHERE id = ?1)",
        params![id, format!("monitor: {}", row.name)],
    )?;
    load_monitor(tx, id, now)
}

/// Prunes the history of up to `limit` monitors after `after` (by id) as `keep` says; returns
/// the rows deleted and the last monitor seen (`None` when there are no more).
pub(super) fn prune_history(
    tx: &Transaction<'_>,
    keep: MonitorRetention,
    now: Timestamp,
    after: &str,
    limit: u32,
) -> Result<(u64, Option<String>)> {
    let ids: Vec<String> = tx
        .prepare_cached("SELECT id FROM monitors WHERE id > ?1 ORDER BY id LIMIT ?2")?
        .query_map(params![after, limit], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let days = |d: u32| ms(now) - i64::from(d) * DAY_MS;
    let minutes_from = ms(now) - i64::from(keep.minute_hours) * HOUR_MS;
    let mut deleted = 0;
    for id in &ids {
        deleted += tx
            .prepare_cached("DELETE FROM monitor_results WHERE monitor_id = ?1 AND at < ?2")?
            .execute(params![id, days(keep.results_days)])?;
        for (span, from) in [
            ("minute", minutes_from),
            ("hour", days(keep.hourly_days)),
            ("day", days(keep.daily_days)),
        ] {
            deleted += tx
                .prepare_cached(
                    "DELETE FROM monitor_rollups WHERE monitor_id = ?1 AND span = ?2 AND bucket < ?3",
                )?
                .execute(params![id, span, from])?;
        }
    }
    Ok((deleted as u64, ids.last().cloned()))
}
