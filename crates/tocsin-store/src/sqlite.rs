//! The SQLite backend: one writer connection (WAL, `synchronous=FULL`, `BEGIN IMMEDIATE`) behind a
//! mutex, and a small pool of read-only connections. Blocking calls run on tokio's blocking pool.
//! It does not batch by itself: group commit is the engine's job, one `ingest` call per batch.

use crate::*;
use rusqlite::config::DbConfig;
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Row, Transaction, TransactionBehavior, params,
};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tocsin_core::dedup::{self, OpenAlert};
use tocsin_core::incident::{self, Transition};
use tocsin_core::rate::RateLimit;

/// Migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_init.sql"),
    include_str!("../migrations/sqlite/0002_paging.sql"),
    include_str!("../migrations/sqlite/0003_escalations.sql"),
    include_str!("../migrations/sqlite/0004_manual_escalation.sql"),
    include_str!("../migrations/sqlite/0005_ack_links.sql"),
    include_str!("../migrations/sqlite/0006_verification.sql"),
    include_str!("../migrations/sqlite/0007_ack_timeout.sql"),
    include_str!("../migrations/sqlite/0008_feeds.sql"),
    include_str!("../migrations/sqlite/0009_handoffs.sql"),
    include_str!("../migrations/sqlite/0010_sending_index.sql"),
    include_str!("../migrations/sqlite/0011_priority_lanes.sql"),
    include_str!("../migrations/sqlite/0012_reassign.sql"),
    include_str!("../migrations/sqlite/0013_web_sessions.sql"),
    include_str!("../migrations/sqlite/0014_monitors.sql"),
    include_str!("../migrations/sqlite/0015_status_page.sql"),
    include_str!("../migrations/sqlite/0016_monitor_rollups.sql"),
    include_str!("../migrations/sqlite/0017_call_repeats.sql"),
    include_str!("../migrations/sqlite/0018_claim_renewal.sql"),
    include_str!("../migrations/sqlite/0019_incident_filters.sql"),
    include_str!("../migrations/sqlite/0020_snooze.sql"),
    include_str!("../migrations/sqlite/0021_deactivated_users.sql"),
    include_str!("../migrations/sqlite/0022_incident_search.sql"),
    include_str!("../migrations/sqlite/0023_search_backlog.sql"),
];
#[path = "sqlite_monitors.rs"]
mod monitors;
#[path = "sqlite_people.rs"]
mod people;
#[path = "sqlite_status.rs"]
mod status;

/// Work lanes in the order they are claimed: high urgency (1), then low (0).
/// Monitors whose history one commit prunes (the writer is shared: keep each short).
const PRUNE_MONITORS_PER_COMMIT: u32 = 200;
const LANES: [i64; 2] = [1, 0];
/// Wrong guesses of a verification code before a new code is needed.
const VERIFY_ATTEMPTS_MAX: u32 = 5;
/// Read connections kept open between calls.
const READERS_POOLED_MAX: usize = 8;
/// How long a connection waits for another process's lock (the CLI next to a running server).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, msg)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                StoreError::Conflict(msg.clone().unwrap_or_else(|| "already exists".into()))
            }
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound("record"),
            _ => StoreError::Backend(e.to_string()),
        }
    }
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn opt_ts(ms: Option<i64>) -> Option<Timestamp> {
    ms.map(ts)
}

fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

fn word<T>(s: String, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    parse(&s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown value {s:?}").into(),
        )
    })
}

fn json_or_null<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn from_json<T: serde::de::DeserializeOwned + Default>(s: Option<String>) -> T {
    s.and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(backend)?;
        }
        let mut writer = Connection::open(path)?;
        writer.busy_timeout(BUSY_TIMEOUT)?;
        // WAL so readers never block the writer; FULL so a commit survives a power cut.
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.pragma_update(None, "synchronous", "FULL")?;
        writer.pragma_update(None, "foreign_keys", "ON")?;
        writer.set_prepared_statement_cache_capacity(64);
        stable_plans(&writer)?;
        migrate(&mut writer)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.writer.lock().map_err(backend)?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
        .map_err(backend)?
    }

    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().map_err(backend)?.pop();
            let conn = match pooled {
                Some(c) => c,
                None => {
                    let c = Connection::open_with_flags(
                        &inner.path,
                        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )?;
                    c.busy_timeout(BUSY_TIMEOUT)?;
                    c.set_prepared_statement_cache_capacity(64);
                    stable_plans(&c)?;
                    c
                }
            };
            let out = f(&conn);
            let mut pool = inner.readers.lock().map_err(backend)?;
            if pool.len() < READERS_POOLED_MAX {
                pool.push(conn);
            }
            out
        })
        .await
        .map_err(backend)?
    }
}

/// Keeps one query plan per prepared statement. Without it, SQLite re-prepares statements
/// that touch partial indexes (the open-alert lookup) whenever a parameter is re-bound, which
/// cost about half of the writer's time under load; the plans are the same either way.
fn stable_plans(conn: &Connection) -> Result<()> {
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let applied: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let applied = usize::try_from(applied).map_err(backend)?;
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "the database has schema version {applied}, newer than this binary knows ({}): upgrade Tocsin",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i64::try_from(i + 1).map_err(backend)?)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "applied database migration");
    }
    Ok(())
}

const USER_COLS: &str = "id, name, email, time_zone, role, created_at, deactivated_at";

fn user_row(r: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: UserId(r.get(0)?),
        name: r.get(1)?,
        email: r.get(2)?,
        time_zone: r.get(3)?,
        role: word(r.get(4)?, Role::parse)?,
        created_at: ts(r.get(5)?),
        active: r.get::<_, Option<i64>>(6)?.is_none(),
    })
}

const TOKEN_COLS: &str = "id, name, role, user_id, created_at, last_used_at";

fn token_row(r: &Row<'_>) -> rusqlite::Result<ApiToken> {
    Ok(ApiToken {
        id: TokenId(r.get(0)?),
        name: r.get(1)?,
        role: word(r.get(2)?, Role::parse)?,
        user_id: r.get::<_, Option<String>>(3)?.map(UserId),
        created_at: ts(r.get(4)?),
        last_used_at: opt_ts(r.get(5)?),
    })
}

const SERVICE_COLS: &str =
    "id, name, description, team_id, escalation_policy_id, created_at, ack_timeout_minutes";

fn service_row(r: &Row<'_>) -> rusqlite::Result<Service> {
    Ok(Service {
        id: ServiceId(r.get(0)?),
        name: r.get(1)?,
        description: r.get(2)?,
        team_id: r.get::<_, Option<String>>(3)?.map(TeamId),
        escalation_policy_id: r.get(4)?,
        created_at: ts(r.get(5)?),
        ack_timeout_minutes: r.get(6)?,
    })
}

const INTEGRATION_COLS: &str =
    "id, service_id, type, name, key, rate_per_second, rate_burst, created_at";

fn integration_row(r: &Row<'_>) -> rusqlite::Result<Integration> {
    let rate: Option<u32> = r.get(5)?;
    let burst: Option<u32> = r.get(6)?;
    Ok(Integration {
        id: IntegrationId(r.get(0)?),
        service_id: ServiceId(r.get(1)?),
        kind: word(r.get(2)?, IntegrationType::parse)?,
        name: r.get(3)?,
        key: r.get(4)?,
        rate_limit: rate.map(|per_second| RateLimit {
            per_second,
            burst: burst.unwrap_or(per_second),
        }),
        created_at: ts(r.get(7)?),
    })
}

const INCIDENT_COLS: &str = "id, number, title, status, urgency, severity, service_id, dedup_key, \
     alert_count, created_at, acknowledged_at, resolved_at";

/// The FTS5 query that finds titles holding every search word of at least
/// [`crate::SEARCH_INDEXED_CHARS_MIN`] characters (each a quoted phrase, which the trigram
/// tokenizer matches as a case-insensitive substring; `%`, `_` and the rest are literal), or
/// `None` when no word is that long.
fn trigram_query(words: &[String]) -> Option<String> {
    let phrases: Vec<String> = words
        .iter()
        .filter(|w| w.chars().count() >= crate::SEARCH_INDEXED_CHARS_MIN)
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect();
    (!phrases.is_empty()).then(|| phrases.join(" AND "))
}

fn incident_row(r: &Row<'_>) -> rusqlite::Result<Incident> {
    Ok(Incident {
        id: IncidentId(r.get(0)?),
        number: r.get(1)?,
        title: r.get(2)?,
        status: word(r.get(3)?, IncidentStatus::parse)?,
        urgency: word(r.get(4)?, Urgency::parse)?,
        severity: word(r.get(5)?, Severity::parse)?,
        service_id: ServiceId(r.get(6)?),
        dedup_key: r.get(7)?,
        alert_count: r.get(8)?,
        created_at: ts(r.get(9)?),
        acknowledged_at: opt_ts(r.get(10)?),
        resolved_at: opt_ts(r.get(11)?),
        assignees: Vec::new(),
    })
}

fn with_assignees(conn: &Connection, mut incident: Incident) -> Result<Incident> {
    let mut st = conn.prepare_cached(
        "SELECT user_id FROM incident_assignees WHERE incident_id = ?1 ORDER BY user_id",
    )?;
    incident.assignees = st
        .query_map([incident.id.as_str()], |r| {
            r.get::<_, String>(0).map(UserId)
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(incident)
}

fn load_incident(conn: &Connection, id: &str) -> Result<Incident> {
    let sql = format!("SELECT {INCIDENT_COLS} FROM incidents WHERE id = ?1");
    let incident = conn
        .prepare_cached(&sql)?
        .query_row([id], incident_row)
        .optional()?
        .ok_or(StoreError::NotFound("incident"))?;
    with_assignees(conn, incident)
}

/// The people an incident is with now: replaces its assignees.
fn assign(tx: &Transaction<'_>, incident_id: &str, users: &[&str]) -> Result<()> {
    tx.prepare_cached("DELETE FROM incident_assignees WHERE incident_id = ?1")?
        .execute([incident_id])?;
    for u in users {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO incident_assignees (incident_id, user_id)
             SELECT ?1, id FROM users WHERE id = ?2",
        )?
        .execute(params![incident_id, u])?;
    }
    Ok(())
}

/// A service's team and escalation policy, when it names them, must exist.
fn check_service_links(tx: &Transaction<'_>, s: &NewService) -> Result<()> {
    if let Some(t) = &s.team_id {
        load_team(tx, t.as_str())?;
    }
    if let Some(p) = &s.escalation_policy_id {
        let exists: bool = tx.query_row(
            "SELECT COUNT(*) > 0 FROM escalation_policies WHERE id = ?1",
            [p],
            |r| r.get(0),
        )?;
        if !exists {
            return Err(StoreError::Invalid {
                field: "escalation_policy_id".into(),
                message: "names no existing escalation policy".into(),
            });
        }
    }
    Ok(())
}

/// Records one escalation step inside `tx` (see `Store::record_escalation_steps`).
fn record_step(tx: &Transaction<'_>, step: &EscalationStep, now: Timestamp) -> Result<bool> {
    let id = step.incident_id.as_str();
    let held: bool = tx
        .prepare_cached(
            "SELECT COUNT(*) > 0 FROM escalations e JOIN incidents i ON i.id = e.incident_id
             WHERE e.incident_id = ?1 AND e.claimed_by = ?2 AND i.status = 'triggered'",
        )?
        .query_row(params![id, step.node], |r| r.get(0))?;
    if !held {
        return Ok(false);
    }
    // A service in maintenance pages nobody: the step waits for the window's end.
    if status::hold_step_for_maintenance(tx, id, now)? {
        return Ok(false);
    }
    tx.prepare_cached(
        "UPDATE escalations SET level = ?2, round = ?3, step = ?4, due_at = ?5,
           claimed_by = NULL, claimed_until = NULL, manual_level = NULL, reassign_to = NULL
         WHERE incident_id = ?1",
    )?
    .execute(params![
        id,
        step.cursor.level,
        step.cursor.round,
        step.cursor.step,
        step.next_due.map(ms)
    ])?;
    for n in &step.notifications {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO notifications (id, idempotency_key, incident_id, user_id,
               contact_method_id, step, state, due_at, created_at, priority)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?8,
                     (SELECT urgency = 'high' FROM incidents WHERE id = ?3))",
        )?
        .execute(params![
            new_id(),
            n.idempotency_key,
            id,
            n.user_id.as_str(),
            n.contact_method_id,
            step.cursor.step,
            ms(n.due_at),
            ms(now)
        ])?;
    }
    // The incident is with whoever this step pages.
    let mut paged: Vec<&str> = step
        .notifications
        .iter()
        .map(|n| n.user_id.as_str())
        .collect();
    paged.dedup();
    if !paged.is_empty() {
        assign(tx, id, &paged)?;
    }
    let service_id: String = tx
        .prepare_cached("SELECT service_id FROM incidents WHERE id = ?1")?
        .query_row([id], |r| r.get(0))?;
    insert_timeline(
        tx,
        Entry {
            incident_id: Some(id),
            service_id: &service_id,
            at: now,
            kind: "escalated",
            actor: &Actor::system(),
            channel: Channel::System,
            message: &step.message,
        },
    )?;
    Ok(true)
}

/// Records one delivery attempt inside `tx` (see `Store::complete_notifications`).
fn complete_one(tx: &Transaction<'_>, done: &Completion) -> Result<()> {
    let Completion {
        id,
        node,
        result,
        fallback,
        at: now,
    } = done;
    let now = *now;
    let row: Option<(String, String, String, u32)> = tx
        .prepare_cached(
            "SELECT n.incident_id, u.name, m.type, n.step FROM notifications n
             JOIN users u ON u.id = n.user_id JOIN contact_methods m ON m.id = n.contact_method_id
             WHERE n.id = ?1 AND n.claimed_by = ?2 AND n.state = 'sending'",
        )?
        .query_row(params![id, node], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let Some((incident_id, user_name, kind, step)) = row else {
        return Ok(());
    };
    let still_paging: bool = tx
        .prepare_cached("SELECT status = 'triggered' FROM incidents WHERE id = ?1")?
        .query_row([&incident_id], |r| r.get(0))?;
    if let DeliveryResult::Postpone { at, reserved } = &result {
        tx.prepare_cached("UPDATE notifications SET state = 'queued', due_at = ?2, claimed_by = NULL, claimed_until = NULL, reserved = ?3 WHERE id = ?1")?.execute(params![id, ms(*at), reserved],
        )?;
        return Ok(());
    }
    let (kind_word, message) = match &result {
        DeliveryResult::Postpone { .. } => return Ok(()),
        DeliveryResult::Sent { provider_id } => {
            tx.prepare_cached("UPDATE notifications SET state = 'sent', attempts = attempts + 1, sent_at = ?2,
                   provider_id = ?3, claimed_by = NULL, claimed_until = NULL, last_error = NULL WHERE id = ?1")?.execute(params![id, ms(now), provider_id],
            )?;
            ("notified", format!("Notified {user_name} by {kind}"))
        }
        DeliveryResult::Retry { error, .. } if !still_paging => {
            // Acknowledged or resolved while this attempt was in flight: stop here.
            tx.prepare_cached("UPDATE notifications SET state = 'cancelled', attempts = attempts + 1, last_error = ?2,
                   claimed_by = NULL, claimed_until = NULL WHERE id = ?1")?.execute(params![id, error],
            )?;
            (
                "notification_cancelled",
                format!(
                    "Stopped notifying {user_name} by {kind}: the incident is no longer triggered"
                ),
            )
        }
        DeliveryResult::Retry { error, at } => {
            tx.prepare_cached(
                "UPDATE notifications SET state = 'queued', attempts = attempts + 1, due_at = ?2,
                   last_error = ?3, claimed_by = NULL, claimed_until = NULL WHERE id = ?1",
            )?
            .execute(params![id, ms(*at), error])?;
            (
                "notification_retry",
                format!("Notifying {user_name} by {kind} failed ({error}); retrying at {at}"),
            )
        }
        DeliveryResult::Failed { error } => {
            tx.prepare_cached("UPDATE notifications SET state = 'failed', attempts = attempts + 1, last_error = ?2,
                   claimed_by = NULL, claimed_until = NULL WHERE id = ?1")?.execute(params![id, error],
            )?;
            (
                "notification_failed",
                format!("Notifying {user_name} by {kind} failed for good ({error})"),
            )
        }
    };
    let service_id: String = tx
        .prepare_cached("SELECT service_id FROM incidents WHERE id = ?1")?
        .query_row([&incident_id], |r| r.get(0))?;
    insert_timeline(
        tx,
        Entry {
            incident_id: Some(&incident_id),
            service_id: &service_id,
            at: now,
            kind: kind_word,
            actor: &Actor::system(),
            channel: Channel::System,
            message: &message,
        },
    )?;
    if let Some(n) = fallback.as_ref().filter(|_| still_paging) {
        let inserted = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO notifications (id, idempotency_key, incident_id, user_id,
                   contact_method_id, step, state, due_at, created_at, priority)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?8,
                         (SELECT urgency = 'high' FROM incidents WHERE id = ?3))",
            )?
            .execute(params![
                new_id(),
                n.idempotency_key,
                incident_id,
                n.user_id.as_str(),
                n.contact_method_id,
                step,
                ms(n.due_at),
                ms(now)
            ])?;
        if inserted > 0 {
            let kind: String = tx
                .prepare_cached("SELECT type FROM contact_methods WHERE id = ?1")?
                .query_row([&n.contact_method_id], |r| r.get(0))
                .unwrap_or_else(|_| "another method".into());
            insert_timeline(
                tx,
                Entry {
                    incident_id: Some(&incident_id),
                    service_id: &service_id,
                    at: now,
                    kind: "notification_fallback",
                    actor: &Actor::system(),
                    channel: Channel::System,
                    message: &format!("Falling back to {user_name}'s {kind}"),
                },
            )?;
        }
    }
    Ok(())
}

/// A new incident on a service with an escalation policy is due for its first step now, or at
/// the end of the maintenance window the service is in.
fn start_paging(
    tx: &Transaction<'_>,
    incident_id: &str,
    service_id: &str,
    now: Timestamp,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO escalations (incident_id, policy_id, due_at, priority)
         SELECT ?1, escalation_policy_id, ?3, (SELECT urgency = 'high' FROM incidents WHERE id = ?1)
         FROM services WHERE id = ?2 AND escalation_policy_id IS NOT NULL",
    )?
    .execute(params![incident_id, service_id, ms(now)])?;
    // An active maintenance window on the service holds the first step until it ends.
    status::hold_for_maintenance(tx, incident_id, service_id, now)
}

/// Acknowledged or resolved: no further step, and nothing queued goes out.
/// Acknowledged (`acknowledged_at` given) or resolved (`None`): no further step, and nothing
/// queued goes out. An acknowledgement on a service with an acknowledgement timeout arms it.
fn stop_paging(
    tx: &Transaction<'_>,
    incident_id: &str,
    acknowledged_at: Option<Timestamp>,
) -> Result<()> {
    tx.prepare_cached(
        "UPDATE escalations SET due_at = NULL, claimed_by = NULL, claimed_until = NULL, manual_level = NULL,
           snoozed = 0,
           ack_timeout_at = ?2 + (SELECT s.ack_timeout_minutes * 60000 FROM incidents i
                                  JOIN services s ON s.id = i.service_id WHERE i.id = ?1)
         WHERE incident_id = ?1",
    )?
    .execute(params![incident_id, acknowledged_at.map(ms)])?;
    tx.prepare_cached(
        "UPDATE notifications SET state = 'cancelled' WHERE incident_id = ?1 AND state = 'queued'",
    )?
    .execute([incident_id])?;
    Ok(())
}

fn user_exists(conn: &Connection, user: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) > 0 FROM users WHERE id = ?1")?
        .query_row([user], |r| r.get(0))?)
}

/// A user named by the path or the caller: 404 when missing.
fn user_found(conn: &Connection, user: &str) -> Result<()> {
    if user_exists(conn, user)? {
        Ok(())
    } else {
        Err(StoreError::NotFound("user"))
    }
}

/// A user named by a field of the request: 400 naming the field when missing.
fn user_must_exist(conn: &Connection, user: &UserId, field: &str) -> Result<()> {
    if user_exists(conn, user.as_str())? {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            field: field.to_owned(),
            message: "names no existing user".into(),
        })
    }
}

fn load_schedule(conn: &Connection, id: &str) -> Result<ScheduleRecord> {
    conn.query_row(
        "SELECT id, spec, created_at FROM schedules WHERE id = ?1",
        [id],
        |r| {
            let spec: String = r.get(1)?;
            Ok(ScheduleRecord::new(
                r.get(0)?,
                serde_json::from_str(&spec).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        1,
                        rusqlite::types::Type::Text,
                        Box::new(e),
                    )
                })?,
                ts(r.get(2)?),
            ))
        },
    )
    .optional()?
    .ok_or(StoreError::NotFound("schedule"))
}

fn load_policy(conn: &Connection, id: &str) -> Result<EscalationPolicy> {
    conn.query_row(
        "SELECT id, name, description, repeat, levels, created_at FROM escalation_policies WHERE id = ?1",
        [id],
        |r| {
            let levels: String = r.get(4)?;
            Ok(EscalationPolicy {
                id: r.get(0)?,
                name: r.get(1)?,
                description: r.get(2)?,
                repeat: r.get(3)?,
                levels: serde_json::from_str(&levels).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, Box::new(e))
                })?,
                created_at: ts(r.get(5)?),
            })
        },
    )
    .optional()?
    .ok_or(StoreError::NotFound("escalation policy"))
}

/// Fails naming the field when a user or schedule a policy names does not exist.
fn policy_refs_exist(conn: &Connection, refs: &[crate::edits::PolicyRef]) -> Result<()> {
    for (kind, id, field) in refs {
        let sql = if *kind == "user" {
            "SELECT COUNT(*) > 0 FROM users WHERE id = ?1"
        } else {
            "SELECT COUNT(*) > 0 FROM schedules WHERE id = ?1"
        };
        let exists: bool = conn.query_row(sql, [id], |r| r.get(0))?;
        if !exists {
            return Err(StoreError::Invalid {
                field: field.clone(),
                message: format!("names no existing {kind}"),
            });
        }
    }
    Ok(())
}

/// Records what a policy names (replacing what it named before).
fn index_policy_refs(conn: &Connection, id: &str, refs: &[crate::edits::PolicyRef]) -> Result<()> {
    conn.execute(
        "DELETE FROM escalation_policy_refs WHERE policy_id = ?1",
        [id],
    )?;
    for (kind, ref_id, _) in refs {
        conn.execute(
            "INSERT OR IGNORE INTO escalation_policy_refs (policy_id, ref_type, ref_id) VALUES (?1, ?2, ?3)",
            params![id, kind, ref_id],
        )?;
    }
    Ok(())
}

const CONTACT_COLS: &str = "id, user_id, type, address, label, verified_at, created_at";

fn contact_row(r: &Row<'_>) -> rusqlite::Result<ContactMethod> {
    Ok(ContactMethod {
        id: r.get(0)?,
        user_id: UserId(r.get(1)?),
        kind: word(r.get(2)?, tocsin_core::contact::ContactType::parse)?,
        address: r.get(3)?,
        label: r.get(4)?,
        verified: r.get::<_, Option<i64>>(5)?.is_some(),
        created_at: ts(r.get(6)?),
    })
}

const RULE_COLS: &str =
    "id, user_id, contact_method_id, delay_minutes, urgency, created_at, repeat_every_minutes";

fn rule_row(r: &Row<'_>) -> rusqlite::Result<NotificationRule> {
    Ok(NotificationRule {
        id: r.get(0)?,
        user_id: UserId(r.get(1)?),
        contact_method_id: r.get(2)?,
        delay_minutes: r.get(3)?,
        urgency: match r.get::<_, Option<String>>(4)? {
            Some(u) => Some(word(u, Urgency::parse)?),
            None => None,
        },
        created_at: ts(r.get(5)?),
        repeat_every_minutes: r.get(6)?,
    })
}

/// Loads every record whose id the query lists, in its order.
fn load_each<T>(
    c: &Connection,
    ids_sql: &str,
    load: fn(&Connection, &str) -> Result<T>,
) -> Result<Vec<T>> {
    let ids: Vec<String> = c
        .prepare_cached(ids_sql)?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    ids.iter().map(|id| load(c, id)).collect()
}

fn load_team(conn: &Connection, id: &str) -> Result<Team> {
    let (name, description, created_at): (String, String, i64) = conn
        .query_row(
            "SELECT name, description, created_at FROM teams WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?
        .ok_or(StoreError::NotFound("team"))?;
    let members = conn
        .prepare_cached("SELECT user_id FROM team_members WHERE team_id = ?1 ORDER BY user_id")?
        .query_map([id], |r| r.get::<_, String>(0).map(UserId))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Team {
        id: TeamId(id.to_owned()),
        name,
        description,
        members,
        created_at: ts(created_at),
    })
}

/// One timeline entry to append.
struct Entry<'a> {
    incident_id: Option<&'a str>,
    service_id: &'a str,
    at: Timestamp,
    kind: &'a str,
    actor: &'a Actor,
    channel: Channel,
    message: &'a str,
}

fn insert_timeline(tx: &Transaction<'_>, e: Entry<'_>) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO timeline (incident_id, service_id, at, kind, actor_id, actor_name, channel, message)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        e.incident_id,
        e.service_id,
        ms(e.at),
        e.kind,
        e.actor.id,
        e.actor.name,
        e.channel.as_str(),
        e.message
    ])?;
    Ok(())
}

/// Incidents newer than the search index holds before ingestion indexes them together (one
/// FTS5 segment for them all instead of one per commit; migration 0023). A search reads at most
/// this many titles one by one.
#[cfg(not(test))]
const SEARCH_BACKLOG_MAX: i64 = 256;
/// Small in the store's own tests, so that a few incidents span the index and the backlog.
#[cfg(test)]
const SEARCH_BACKLOG_MAX: i64 = 5;

/// After incident `number` opened: indexes the titles the search index lacks once there are
/// `SEARCH_BACKLOG_MAX` of them.
fn index_search_backlog(tx: &Transaction<'_>, number: i64) -> Result<()> {
    let through: i64 = tx
        .prepare_cached("SELECT indexed_through FROM incidents_search_state")?
        .query_row([], |r| r.get(0))?;
    if number - through < SEARCH_BACKLOG_MAX {
        return Ok(());
    }
    tx.prepare_cached(
        "INSERT INTO incidents_search (rowid, title_trigrams)
         SELECT number, title FROM incidents WHERE number > ?1 AND number <= ?2 ORDER BY number",
    )?
    .execute(params![through, number])?;
    tx.prepare_cached("UPDATE incidents_search_state SET indexed_through = ?1")?
        .execute([number])?;
    Ok(())
}

/// Applies one alert event inside the batch's transaction.
fn ingest_alert(tx: &Transaction<'_>, item: &IngestItem, ev: &AlertEvent) -> Result<IngestOutcome> {
    let integ = &item.integration;
    let now = item.received_at;
    let actor = Actor::integration(integ);
    let channel = Channel::from(integ.kind);
    let open: Option<(String, String, String, u32)> = tx
        .prepare_cached(
            "SELECT a.id, a.incident_id, i.status, i.open_alerts FROM alerts a
             JOIN incidents i ON i.id = a.incident_id
             WHERE a.integration_id = ?1 AND a.dedup_key = ?2 AND a.status = 'open'",
        )?
        .query_row(params![integ.id.as_str(), ev.dedup_key], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let open_view = match &open {
        Some((_, _, status, n)) => Some(OpenAlert {
            incident_status: IncidentStatus::parse(status)
                .ok_or_else(|| StoreError::Backend(format!("bad incident status {status:?}")))?,
            incident_open_alerts: *n,
        }),
        None => None,
    };
    let group_incident: Option<(String, String)> = match (&ev.group_key, &open) {
        (Some(g), None) if ev.action.kind() == EventAction::Trigger => tx
            .prepare_cached(
                "SELECT id, severity FROM incidents
                 WHERE integration_id = ?1 AND group_key = ?2 AND status != 'resolved'
                 ORDER BY number DESC LIMIT 1",
            )?
            .query_row(params![integ.id.as_str(), g], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?,
        _ => None,
    };
    let decision = dedup::decide(ev.action.kind(), open_view, group_incident.is_some());
    let incident_id: Option<String> = match decision {
        dedup::Decision::OpenIncident => {
            let AlertAction::Trigger(d) = &ev.action else {
                return Err(StoreError::Backend("open decision without trigger".into()));
            };
            let severity = d.severity_or_default();
            let number: i64 = tx
                .prepare_cached("SELECT COALESCE(MAX(number), 0) + 1 FROM incidents")?
                .query_row([], |r| r.get(0))?;
            let incident_id = new_id();
            tx.prepare_cached(
                "INSERT INTO incidents (id, number, service_id, integration_id, title, status, urgency,
                   severity, dedup_key, group_key, alert_count, open_alerts, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'triggered', ?6, ?7, ?8, ?9, 1, 1, ?10, ?10)",
            )?
            .execute(params![
                incident_id,
                number,
                integ.service_id.as_str(),
                integ.id.as_str(),
                d.summary,
                severity.urgency().as_str(),
                severity.as_str(),
                ev.dedup_key,
                ev.group_key,
                ms(now),
            ])?;
            index_search_backlog(tx, number)?;
            insert_alert(tx, item, ev, d, &incident_id)?;
            insert_timeline(
                tx,
                Entry {
                    incident_id: Some(&incident_id),
                    service_id: integ.service_id.as_str(),
                    at: now,
                    kind: "triggered",
                    actor: &actor,
                    channel,
                    message: &format!("Triggered by {} ({}): {}", integ.name, severity, d.summary),
                },
            )?;
            start_paging(tx, &incident_id, integ.service_id.as_str(), now)?;
            Some(incident_id)
        }
        dedup::Decision::JoinIncident => {
            let (AlertAction::Trigger(d), Some((incident_id, inc_severity))) =
                (&ev.action, group_incident)
            else {
                return Err(StoreError::Backend("join decision without group".into()));
            };
            insert_alert(tx, item, ev, d, &incident_id)?;
            let severity = worse(&inc_severity, d.severity_or_default());
            tx.prepare_cached(
                "UPDATE incidents SET alert_count = alert_count + 1, open_alerts = open_alerts + 1,
                   severity = ?2, urgency = ?3, updated_at = ?4 WHERE id = ?1",
            )?
            .execute(params![
                incident_id,
                severity.as_str(),
                severity.urgency().as_str(),
                ms(now)
            ])?;
            insert_timeline(
                tx,
                Entry {
                    incident_id: Some(&incident_id),
                    service_id: integ.service_id.as_str(),
                    at: now,
                    kind: "alert_added",
                    actor: &actor,
                    channel,
                    message: &format!("Alert added ({}): {}", d.severity_or_default(), d.summary),
                },
            )?;
            Some(incident_id)
        }
        dedup::Decision::Repeat => {
            let (Some((alert_id, incident_id, _, _)), AlertAction::Trigger(d)) = (open, &ev.action)
            else {
                return Err(StoreError::Backend(
                    "repeat decision without open alert".into(),
                ));
            };
            tx.prepare_cached(
                "UPDATE alerts SET last_seen = ?2, occurrences = occurrences + 1, summary = ?3,
                   severity = ?4, custom_details = ?5 WHERE id = ?1",
            )?
            .execute(params![
                alert_id,
                ms(now),
                d.summary,
                d.severity_or_default().as_str(),
                d.custom_details.as_ref().map(json_or_null),
            ])?;
            // Severity only ever rises on an open incident.
            tx.prepare_cached(
                "UPDATE incidents SET updated_at = ?2,
                   severity = CASE WHEN ?3 > (CASE severity WHEN 'critical' THEN 3 WHEN 'error' THEN 2
                       WHEN 'warning' THEN 1 ELSE 0 END) THEN ?4 ELSE severity END,
                   urgency = CASE WHEN ?3 > (CASE severity WHEN 'critical' THEN 3 WHEN 'error' THEN 2
                       WHEN 'warning' THEN 1 ELSE 0 END) THEN ?5 ELSE urgency END
                 WHERE id = ?1",
            )?
            .execute(params![
                incident_id,
                ms(now),
                d.severity_or_default().rank(),
                d.severity_or_default().as_str(),
                d.severity_or_default().urgency().as_str(),
            ])?;
            Some(incident_id)
        }
        dedup::Decision::Acknowledge => {
            let Some((_, incident_id, _, _)) = open else {
                return Err(StoreError::Backend(
                    "ack decision without open alert".into(),
                ));
            };
            tx.prepare_cached(
                "UPDATE incidents SET status = 'acknowledged', acknowledged_at = ?2, updated_at = ?2
                 WHERE id = ?1",
            )?
            .execute(params![incident_id, ms(now)])?;
            stop_paging(tx, &incident_id, Some(now))?;
            insert_timeline(
                tx,
                Entry {
                    incident_id: Some(&incident_id),
                    service_id: integ.service_id.as_str(),
                    at: now,
                    kind: "acknowledged",
                    actor: &actor,
                    channel,
                    message: &format!(
                        "Acknowledged by {} (dedup key {})",
                        integ.name, ev.dedup_key
                    ),
                },
            )?;
            Some(incident_id)
        }
        dedup::Decision::AlreadyAcknowledged => open.map(|(_, incident_id, _, _)| incident_id),
        dedup::Decision::Resolve { incident_too } => {
            let Some((alert_id, incident_id, _, _)) = open else {
                return Err(StoreError::Backend(
                    "resolve decision without open alert".into(),
                ));
            };
            tx.prepare_cached(
                "UPDATE alerts SET status = 'resolved', resolved_at = ?2 WHERE id = ?1",
            )?
            .execute(params![alert_id, ms(now)])?;
            if incident_too {
                tx.prepare_cached(
                    "UPDATE incidents SET status = 'resolved', open_alerts = 0, resolved_at = ?2,
                       updated_at = ?2 WHERE id = ?1",
                )?
                .execute(params![incident_id, ms(now)])?;
                stop_paging(tx, &incident_id, None)?;
                insert_timeline(
                    tx,
                    Entry {
                        incident_id: Some(&incident_id),
                        service_id: integ.service_id.as_str(),
                        at: now,
                        kind: "resolved",
                        actor: &actor,
                        channel,
                        message: &format!(
                            "Resolved by {} (dedup key {})",
                            integ.name, ev.dedup_key
                        ),
                    },
                )?;
            } else {
                tx.prepare_cached(
                    "UPDATE incidents SET open_alerts = open_alerts - 1, updated_at = ?2 WHERE id = ?1",
                )?
                .execute(params![incident_id, ms(now)])?;
                insert_timeline(
                    tx,
                    Entry {
                        incident_id: Some(&incident_id),
                        service_id: integ.service_id.as_str(),
                        at: now,
                        kind: "alert_resolved",
                        actor: &actor,
                        channel,
                        message: &format!("Alert {} resolved by {}", ev.dedup_key, integ.name),
                    },
                )?;
            }
            Some(incident_id)
        }
        dedup::Decision::Drop => None,
    };
    Ok(IngestOutcome {
        decision: Some(decision),
        incident_id: incident_id.map(IncidentId),
    })
}

fn worse(current: &str, new: Severity) -> Severity {
    match Severity::parse(current) {
        Some(c) if c.rank() >= new.rank() => c,
        _ => new,
    }
}

fn insert_alert(
    tx: &Transaction<'_>,
    item: &IngestItem,
    ev: &AlertEvent,
    d: &AlertDetails,
    incident_id: &str,
) -> Result<()> {
    let now = ms(item.received_at);
    tx.prepare_cached(
        "INSERT INTO alerts (id, integration_id, service_id, incident_id, dedup_key, status, summary,
           source, severity, component, grp, class, custom_details, links, images, client, client_url,
           detected_at, first_seen, last_seen, occurrences)
         VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?18, 1)",
    )?
    .execute(params![
        new_id(),
        item.integration.id.as_str(),
        item.integration.service_id.as_str(),
        incident_id,
        ev.dedup_key,
        d.summary,
        d.source,
        d.severity_or_default().as_str(),
        d.component,
        d.group,
        d.class,
        d.custom_details.as_ref().map(json_or_null),
        (!d.links.is_empty()).then(|| json_or_null(&d.links)),
        (!d.images.is_empty()).then(|| json_or_null(&d.images)),
        d.client,
        d.client_url,
        d.timestamp.map(ms),
        now,
    ])?;
    Ok(())
}

fn ingest_change(
    tx: &Transaction<'_>,
    item: &IngestItem,
    ev: &ChangeEvent,
) -> Result<IngestOutcome> {
    let integ = &item.integration;
    let at = ev.timestamp.unwrap_or(item.received_at);
    tx.prepare_cached(
        "INSERT INTO change_events (id, service_id, integration_id, summary, source, timestamp,
           custom_details, links, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        new_id(),
        integ.service_id.as_str(),
        integ.id.as_str(),
        ev.summary,
        ev.source,
        ms(at),
        ev.custom_details.as_ref().map(json_or_null),
        (!ev.links.is_empty()).then(|| json_or_null(&ev.links)),
        ms(item.received_at),
    ])?;
    insert_timeline(
        tx,
        Entry {
            incident_id: None,
            service_id: integ.service_id.as_str(),
            at,
            kind: "change",
            actor: &Actor::integration(integ),
            channel: Channel::EventsV2,
            message: &format!("Change: {}", ev.summary),
        },
    )?;
    Ok(IngestOutcome {
        decision: None,
        incident_id: None,
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn ingest(&self, batch: Vec<IngestItem>) -> Result<Vec<IngestOutcome>> {
        self.write(move |tx| {
            batch
                .iter()
                .map(|item| match &item.event {
                    IngestEvent::Alert(ev) => ingest_alert(tx, item, ev),
                    IngestEvent::Change(ev) => ingest_change(tx, item, ev),
                    IngestEvent::Ping(p) => monitors::ingest_ping(tx, item, p),
                })
                .collect()
        })
        .await
    }

    async fn create_user(&self, u: NewUser, now: Timestamp) -> Result<User> {
        self.write(move |tx| insert_user(tx, u, now)).await
    }

    async fn get_user(&self, id: &UserId) -> Result<User> {
        let id = id.0.clone();
        self.read(move |c| {
            c.query_row(
                &format!("SELECT {USER_COLS} FROM users WHERE id = ?1"),
                [id],
                user_row,
            )
            .optional()?
            .ok_or(StoreError::NotFound("user"))
        })
        .await
    }

    async fn set_user_role(&self, id: &UserId, role: Role) -> Result<User> {
        let id = id.0.clone();
        self.write(move |tx| {
            let user = tx
                .query_row(
                    &format!("SELECT {USER_COLS} FROM users WHERE id = ?1"),
                    [&id],
                    user_row,
                )
                .optional()?
                .ok_or(StoreError::NotFound("user"))?;
            if user.role == Role::Admin && role != Role::Admin {
                let admins: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM users WHERE role = 'admin' AND deactivated_at IS NULL",
                    [],
                    |r| r.get(0),
                )?;
                if admins <= 1 {
                    return Err(StoreError::Conflict(
                        "this is the last admin: make another person admin first".into(),
                    ));
                }
            }
            tx.execute(
                "UPDATE users SET role = ?2 WHERE id = ?1",
                params![id, role.as_str()],
            )?;
            Ok(tx.query_row(
                &format!("SELECT {USER_COLS} FROM users WHERE id = ?1"),
                [&id],
                user_row,
            )?)
        })
        .await
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>> {
        let email = email.to_owned();
        self.read(move |c| {
            Ok(c.query_row(
                &format!("SELECT {USER_COLS} FROM users WHERE email = ?1"),
                [email],
                user_row,
            )
            .optional()?)
        })
        .await
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        self.read(|c| {
            let mut st = c.prepare(&format!("SELECT {USER_COLS} FROM users ORDER BY name, id"))?;
            Ok(st
                .query_map([], user_row)?
                .collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn count_users(&self) -> Result<u64> {
        self.read(|c| {
            let n: i64 = c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
            Ok(n.unsigned_abs())
        })
        .await
    }

    async fn create_team(&self, t: NewTeam, now: Timestamp) -> Result<Team> {
        self.write(move |tx| {
            let id = new_id();
            tx.execute(
                "INSERT INTO teams (id, name, description, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![id, t.name, t.description, ms(now)],
            )
            .map_err(|e| conflict_as(e, "a team with this name already exists"))?;
            load_team(tx, &id)
        })
        .await
    }

    async fn get_team(&self, id: &TeamId) -> Result<Team> {
        let id = id.0.clone();
        self.read(move |c| load_team(c, &id)).await
    }

    async fn list_teams(&self) -> Result<Vec<Team>> {
        self.read(|c| load_each(c, "SELECT id FROM teams ORDER BY name", load_team))
            .await
    }

    async fn add_team_member(&self, team: &TeamId, user: &UserId) -> Result<Team> {
        let (team, user) = (team.0.clone(), user.0.clone());
        self.write(move |tx| {
            load_team(tx, &team)?;
            user_found(tx, &user)?;
            tx.execute(
                "INSERT OR IGNORE INTO team_members (team_id, user_id) VALUES (?1, ?2)",
                params![team, user],
            )?;
            load_team(tx, &team)
        })
        .await
    }

    async fn create_api_token(&self, t: NewApiToken, now: Timestamp) -> Result<ApiToken> {
        self.write(move |tx| {
            if let Some(u) = &t.user_id {
                user_found(tx, u.as_str())?;
            }
            let id = new_id();
            tx.execute(
                "INSERT INTO api_tokens (id, name, role, user_id, token_hash, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    id,
                    t.name,
                    t.role.as_str(),
                    t.user_id.as_ref().map(|u| u.0.clone()),
                    t.token_hash,
                    ms(now)
                ],
            )?;
            Ok(tx.query_row(
                &format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE id = ?1"),
                [id],
                token_row,
            )?)
        })
        .await
    }

    async fn find_api_token(&self, token_hash: &str, now: Timestamp) -> Result<Option<ApiToken>> {
        let hash = token_hash.to_owned();
        let found = self
            .read(move |c| {
                Ok(c.prepare_cached(&format!(
                    "SELECT {TOKEN_COLS} FROM api_tokens WHERE token_hash = ?1 AND revoked_at IS NULL
                       AND NOT EXISTS (SELECT 1 FROM users u
                                       WHERE u.id = api_tokens.user_id AND u.deactivated_at IS NOT NULL)"
                ))?
                .query_row([hash], token_row)
                .optional()?)
            })
            .await?;
        // Record use at most once a minute, so that authentication stays a read.
        if let Some(t) = &found
            && t.last_used_at
                .is_none_or(|u| now.duration_since(u).as_secs() >= 60)
        {
            let id = t.id.0.clone();
            self.write(move |tx| {
                tx.execute(
                    "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1",
                    params![id, ms(now)],
                )?;
                Ok(())
            })
            .await?;
        }
        Ok(found)
    }

    async fn list_api_tokens(&self) -> Result<Vec<ApiToken>> {
        self.read(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {TOKEN_COLS} FROM api_tokens WHERE revoked_at IS NULL ORDER BY created_at"
            ))?;
            Ok(st
                .query_map([], token_row)?
                .collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn revoke_api_token(&self, id: &TokenId, now: Timestamp) -> Result<()> {
        let id = id.0.clone();
        self.write(move |tx| {
            let n = tx.execute(
                "UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, ms(now)],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound("API token"));
            }
            Ok(())
        })
        .await
    }

    async fn create_setup_token(
        &self,
        hash: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()> {
        let hash = hash.to_owned();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES (?1, ?2, ?3)",
                params![hash, ms(now), ms(expires_at)],
            )?;
            Ok(())
        })
        .await
    }

    async fn setup_token_valid(&self, hash: &str, now: Timestamp) -> Result<bool> {
        let hash = hash.to_owned();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT COUNT(*) > 0 FROM setup_tokens WHERE token_hash = ?1 AND used_at IS NULL
                   AND expires_at > ?2 AND NOT EXISTS (SELECT 1 FROM users)",
                params![hash, ms(now)],
                |r| r.get(0),
            )?)
        })
        .await
    }

    async fn complete_setup(&self, hash: &str, admin: NewUser, now: Timestamp) -> Result<User> {
        let hash = hash.to_owned();
        self.write(move |tx| {
            let n = tx.execute(
                "UPDATE setup_tokens SET used_at = ?2 WHERE token_hash = ?1 AND used_at IS NULL
                   AND expires_at > ?2 AND NOT EXISTS (SELECT 1 FROM users)",
                params![hash, ms(now)],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(
                    "setup link (used, expired, or an admin exists)",
                ));
            }
            insert_user(tx, admin, now)
        })
        .await
    }

    async fn create_service(&self, s: NewService, now: Timestamp) -> Result<Service> {
        self.write(move |tx| {
            check_service_links(tx, &s)?;
            let id = new_id();
            tx.execute(
                "INSERT INTO services (id, name, description, team_id, escalation_policy_id, created_at, ack_timeout_minutes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id, s.name, s.description, s.team_id.map(|t| t.0), s.escalation_policy_id, ms(now), s.ack_timeout_minutes],
            )
            .map_err(|e| conflict_as(e, "a service with this name already exists"))?;
            Ok(tx.query_row(&format!("SELECT {SERVICE_COLS} FROM services WHERE id = ?1"), [id], service_row)?)
        })
        .await
    }

    async fn update_service(&self, id: &ServiceId, s: NewService) -> Result<Service> {
        let id = id.0.clone();
        self.write(move |tx| {
            check_service_links(tx, &s)?;
            let changed = tx
                .execute(
                    "UPDATE services SET name = ?2, description = ?3, team_id = ?4,
                       escalation_policy_id = ?5, ack_timeout_minutes = ?6 WHERE id = ?1",
                    params![
                        id,
                        s.name,
                        s.description,
                        s.team_id.map(|t| t.0),
                        s.escalation_policy_id,
                        s.ack_timeout_minutes
                    ],
                )
                .map_err(|e| conflict_as(e, "a service with this name already exists"))?;
            if changed == 0 {
                return Err(StoreError::NotFound("service"));
            }
            Ok(tx.query_row(
                &format!("SELECT {SERVICE_COLS} FROM services WHERE id = ?1"),
                [id],
                service_row,
            )?)
        })
        .await
    }

    async fn get_service(&self, id: &ServiceId) -> Result<Service> {
        let id = id.0.clone();
        self.read(move |c| {
            c.query_row(
                &format!("SELECT {SERVICE_COLS} FROM services WHERE id = ?1"),
                [id],
                service_row,
            )
            .optional()?
            .ok_or(StoreError::NotFound("service"))
        })
        .await
    }

    async fn list_services(&self) -> Result<Vec<Service>> {
        self.read(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {SERVICE_COLS} FROM services ORDER BY name"
            ))?;
            Ok(st
                .query_map([], service_row)?
                .collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn create_integration(&self, i: NewIntegration, now: Timestamp) -> Result<Integration> {
        self.write(move |tx| {
            let exists: bool = tx.query_row(
                "SELECT COUNT(*) > 0 FROM services WHERE id = ?1",
                [i.service_id.as_str()],
                |r| r.get(0),
            )?;
            if !exists {
                return Err(StoreError::NotFound("service"));
            }
            let id = new_id();
            tx.execute(
                "INSERT INTO integrations (id, service_id, type, name, key, rate_per_second, rate_burst, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    id,
                    i.service_id.as_str(),
                    i.kind.as_str(),
                    i.name,
                    i.key,
                    i.rate_limit.map(|r| r.per_second),
                    i.rate_limit.map(|r| r.burst),
                    ms(now)
                ],
            )?;
            Ok(tx.query_row(
                &format!("SELECT {INTEGRATION_COLS} FROM integrations WHERE id = ?1"),
                [id],
                integration_row,
            )?)
        })
        .await
    }

    async fn list_integrations(&self, service: &ServiceId) -> Result<Vec<Integration>> {
        let service = service.0.clone();
        self.read(move |c| {
            let mut st = c.prepare(&format!(
                "SELECT {INTEGRATION_COLS} FROM integrations WHERE service_id = ?1 ORDER BY created_at"
            ))?;
            Ok(st.query_map([service], integration_row)?.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn find_integration_by_key(&self, key: &str) -> Result<Option<Integration>> {
        let key = key.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {INTEGRATION_COLS} FROM integrations WHERE key = ?1"
            ))?
            .query_row([key], integration_row)
            .optional()?)
        })
        .await
    }

    async fn delete_integration(&self, id: &IntegrationId) -> Result<()> {
        let id = id.0.clone();
        self.write(move |tx| {
            if tx.execute("DELETE FROM integrations WHERE id = ?1", [id])? == 0 {
                return Err(StoreError::NotFound("integration"));
            }
            Ok(())
        })
        .await
    }

    async fn list_change_events(
        &self,
        service: &ServiceId,
        limit: u32,
    ) -> Result<Vec<ChangeRecord>> {
        let service = service.0.clone();
        self.read(move |c| {
            let mut st = c.prepare(
                "SELECT id, service_id, summary, source, timestamp, custom_details, links
                 FROM change_events WHERE service_id = ?1 ORDER BY timestamp DESC LIMIT ?2",
            )?;
            Ok(st
                .query_map(params![service, limit], |r| {
                    Ok(ChangeRecord {
                        id: r.get(0)?,
                        service_id: ServiceId(r.get(1)?),
                        summary: r.get(2)?,
                        source: r.get(3)?,
                        timestamp: ts(r.get(4)?),
                        custom_details: r
                            .get::<_, Option<String>>(5)?
                            .and_then(|s| serde_json::from_str(&s).ok()),
                        links: from_json(r.get(6)?),
                    })
                })?
                .collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn create_escalation_policy(
        &self,
        p: NewEscalationPolicy,
        now: Timestamp,
    ) -> Result<EscalationPolicy> {
        self.write(move |tx| {
            let refs = crate::edits::policy_refs(&p.levels);
            policy_refs_exist(tx, &refs)?;
            let id = new_id();
            tx.execute(
                "INSERT INTO escalation_policies (id, name, description, repeat, levels, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                params![id, p.name, p.description, p.repeat, json_or_null(&p.levels), ms(now)],
            )
            .map_err(|e| conflict_as(e, "an escalation policy with this name already exists"))?;
            index_policy_refs(tx, &id, &refs)?;
            load_policy(tx, &id)
        })
        .await
    }

    async fn update_escalation_policy(
        &self,
        id: &str,
        p: NewEscalationPolicy,
        now: Timestamp,
    ) -> Result<EscalationPolicy> {
        let id = id.to_owned();
        self.write(move |tx| {
            load_policy(tx, &id)?;
            let refs = crate::edits::policy_refs(&p.levels);
            policy_refs_exist(tx, &refs)?;
            tx.execute(
                "UPDATE escalation_policies SET name = ?2, description = ?3, repeat = ?4, levels = ?5,
                   updated_at = ?6 WHERE id = ?1",
                params![id, p.name, p.description, p.repeat, json_or_null(&p.levels), ms(now)],
            )
            .map_err(|e| conflict_as(e, "an escalation policy with this name already exists"))?;
            index_policy_refs(tx, &id, &refs)?;
            load_policy(tx, &id)
        })
        .await
    }

    async fn get_escalation_policy(&self, id: &str) -> Result<EscalationPolicy> {
        let id = id.to_owned();
        self.read(move |c| load_policy(c, &id)).await
    }

    async fn list_escalation_policies(&self) -> Result<Vec<EscalationPolicy>> {
        self.read(|c| {
            load_each(
                c,
                "SELECT id FROM escalation_policies ORDER BY name",
                load_policy,
            )
        })
        .await
    }

    async fn create_contact_method(
        &self,
        m: NewContactMethod,
        now: Timestamp,
    ) -> Result<ContactMethod> {
        self.write(move |tx| {
            user_found(tx, m.user_id.as_str())?;
            let id = new_id();
            let verified_at = (!m.kind.needs_verification()).then(|| ms(now));
            tx.execute(
                "INSERT INTO contact_methods (id, user_id, type, address, label, verified_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id, m.user_id.as_str(), m.kind.as_str(), m.address, m.label, verified_at, ms(now)],
            )
            .map_err(|e| conflict_as(e, "this user already has this contact method"))?;
            Ok(tx.query_row(&format!("SELECT {CONTACT_COLS} FROM contact_methods WHERE id = ?1"), [id], contact_row)?)
        })
        .await
    }

    async fn list_contact_methods(&self, user: &UserId) -> Result<Vec<ContactMethod>> {
        let user = user.0.clone();
        self.read(move |c| {
            let mut st = c.prepare(&format!(
                "SELECT {CONTACT_COLS} FROM contact_methods WHERE user_id = ?1 ORDER BY created_at, id"
            ))?;
            Ok(st.query_map([user], contact_row)?.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn create_notification_rule(
        &self,
        r: NewNotificationRule,
        now: Timestamp,
    ) -> Result<NotificationRule> {
        self.write(move |tx| {
            let owner: Option<(String, String)> = tx
                .query_row("SELECT user_id, type FROM contact_methods WHERE id = ?1", [&r.contact_method_id], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            let Some((_, kind)) = owner.filter(|(o, _)| o == r.user_id.as_str()) else {
                return Err(StoreError::Invalid {
                    field: "contact_method_id".into(),
                    message: "names no contact method of this user".into(),
                });
            };
            if r.repeat_every_minutes.is_some() && kind != "voice" {
                return Err(StoreError::Invalid {
                    field: "repeat_every_minutes".into(),
                    message: "applies to voice contact methods only".into(),
                });
            }
            let id = new_id();
            tx.execute(
                "INSERT INTO notification_rules (id, user_id, contact_method_id, delay_minutes, urgency, created_at,
                   repeat_every_minutes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id, r.user_id.as_str(), r.contact_method_id, r.delay_minutes, r.urgency.map(Urgency::as_str), ms(now), r.repeat_every_minutes],
            )?;
            Ok(tx.query_row(&format!("SELECT {RULE_COLS} FROM notification_rules WHERE id = ?1"), [id], rule_row)?)
        })
        .await
    }

    async fn list_notification_rules(&self, user: &UserId) -> Result<Vec<NotificationRule>> {
        let user = user.0.clone();
        self.read(move |c| {
            let mut st = c.prepare(&format!(
                "SELECT {RULE_COLS} FROM notification_rules WHERE user_id = ?1 ORDER BY delay_minutes, created_at, id"
            ))?;
            Ok(st.query_map([user], rule_row)?.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn claim_due_escalations(
        &self,
        node: &str,
        now: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> Result<Vec<DueEscalation>> {
        let node = node.to_owned();
        self.write(move |tx| {
            // The high-urgency lane first, then the low one; each in due order, each a range
            // scan of the lane index.
            type Row = (String, String, Option<u32>, Option<u32>, Option<u32>, Option<u32>, i64, Option<String>);
            let mut due: Vec<Row> = Vec::new();
            for lane in LANES {
                let room = limit.saturating_sub(due.len() as u32);
                if room == 0 {
                    break;
                }
                let mut st = tx.prepare_cached(
                    "SELECT incident_id, policy_id, level, round, step, manual_level, due_at, reassign_to FROM escalations
                     WHERE priority = ?3 AND due_at <= ?1
                       AND (claimed_until IS NULL OR claimed_until < ?1)
                     ORDER BY due_at LIMIT ?2",
                )?;
                let rows = st.query_map(params![ms(now), room, lane], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
                })?;
                for row in rows {
                    due.push(row?);
                }
            }
            let mut out = Vec::with_capacity(due.len());
            for (incident_id, policy_id, level, round, step, manual_level, due_at, reassign_to) in due {
                tx.prepare_cached("UPDATE escalations SET claimed_by = ?2, claimed_until = ?3 WHERE incident_id = ?1")?
                    .execute(params![incident_id, node, ms(until)])?;
                let incident = load_incident(tx, &incident_id)?;
                let policy = match load_policy(tx, &policy_id) {
                    Ok(p) => p,
                    // The policy is gone: nothing to escalate through.
                    Err(StoreError::NotFound(_)) => {
                        tx.execute("UPDATE escalations SET due_at = NULL WHERE incident_id = ?1", [&incident_id])?;
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let cursor = match (level, round, step) {
                    (Some(level), Some(round), Some(step)) => Some(StepCursor { level, round, step }),
                    _ => None,
                };
out.push(DueEscalation { incident, policy, cursor, manual_level, due_at: ts(due_at), reassign_to: reassign_to.map(UserId) });
            }
            Ok(out)
        })
        .await
    }

    async fn record_escalation_steps(
        &self,
        steps: Vec<EscalationStep>,
        now: Timestamp,
    ) -> Result<Vec<bool>> {
        // One commit for the whole batch (group commit), as ingest does.
        self.write(move |tx| {
            steps
                .iter()
                .map(|step| record_step(tx, step, now))
                .collect()
        })
        .await
    }

    async fn renew_claims(
        &self,
        tokens: &[String],
        now: Timestamp,
        until: Timestamp,
    ) -> Result<u64> {
        let tokens = tokens.to_vec();
        self.write(move |tx| {
            let mut n = 0;
            for token in &tokens {
                for sql in [
                    "UPDATE escalations SET claimed_until = ?3 WHERE claimed_by = ?1 AND claimed_until >= ?2",
                    "UPDATE notifications SET claimed_until = ?3
                     WHERE state = 'sending' AND claimed_until >= ?2 AND claimed_by = ?1",
                    "UPDATE monitors SET claimed_until = ?3 WHERE claimed_by = ?1 AND claimed_until >= ?2",
                ] {
                    n += tx.prepare_cached(sql)?.execute(params![token, ms(now), ms(until)])? as u64;
                }
            }
            Ok(n)
        })
        .await
    }

    async fn next_escalation_due(&self) -> Result<Option<Timestamp>> {
        self.read(|c| {
            let t: Option<i64> = c.query_row(
                "SELECT MIN(t) FROM (SELECT MIN(due_at) AS t FROM escalations WHERE priority = 0 AND due_at IS NOT NULL
                   UNION ALL SELECT MIN(due_at) FROM escalations WHERE priority = 1 AND due_at IS NOT NULL
                   UNION ALL SELECT MIN(ack_timeout_at) FROM escalations WHERE ack_timeout_at IS NOT NULL)",
                [],
                |r| r.get(0),
            )?;
            Ok(t.map(ts))
        })
        .await
    }

    async fn list_notifications(&self, incident: &IncidentId) -> Result<Vec<NotificationRecord>> {
        let id = incident.0.clone();
        self.read(move |c| {
            load_incident(c, &id)?;
            let mut st = c.prepare(
                "SELECT n.id, n.user_id, n.contact_method_id, m.type, n.step, n.state, n.attempts, n.due_at,
                   n.idempotency_key, n.created_at, n.sent_at, n.last_error
                 FROM notifications n LEFT JOIN contact_methods m ON m.id = n.contact_method_id
                 WHERE n.incident_id = ?1 ORDER BY n.created_at, n.due_at, n.id",
            )?;
            Ok(st
                .query_map([id], |r| {
                    Ok(NotificationRecord {
                        id: r.get(0)?,
                        user_id: UserId(r.get(1)?),
                        contact_method_id: r.get(2)?,
                        contact_type: r.get::<_, Option<String>>(3)?.and_then(|t| tocsin_core::contact::ContactType::parse(&t)),
                        step: r.get(4)?,
                        state: r.get(5)?,
                        attempts: r.get(6)?,
                        due_at: ts(r.get(7)?),
                        idempotency_key: r.get(8)?,
                        created_at: ts(r.get(9)?),
                        sent_at: opt_ts(r.get(10)?),
                        last_error: r.get(11)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn create_schedule(
        &self,
        spec: tocsin_core::schedule::ScheduleSpec,
        now: Timestamp,
    ) -> Result<ScheduleRecord> {
        self.write(move |tx| {
            for (l, layer) in spec.layers.iter().enumerate() {
                for (u, user) in layer.users.iter().enumerate() {
                    user_must_exist(tx, user, &format!("layers[{l}].users[{u}]"))?;
                }
            }
            for (o, ov) in spec.overrides.iter().enumerate() {
                user_must_exist(tx, &ov.user_id, &format!("overrides[{o}].user_id"))?;
            }
            let id = new_id();
            tx.execute(
                "INSERT INTO schedules (id, name, time_zone, spec, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                params![id, spec.name, spec.time_zone, json_or_null(&spec), ms(now)],
            )
            .map_err(|e| conflict_as(e, "a schedule with this name already exists"))?;
            load_schedule(tx, &id)
        })
        .await
    }

    async fn get_schedule(&self, id: &str) -> Result<ScheduleRecord> {
        let id = id.to_owned();
        self.read(move |c| load_schedule(c, &id)).await
    }

    async fn list_schedules(&self) -> Result<Vec<ScheduleRecord>> {
        self.read(|c| load_each(c, "SELECT id FROM schedules ORDER BY name", load_schedule))
            .await
    }

    async fn update_schedule(
        &self,
        id: &str,
        spec: tocsin_core::schedule::ScheduleSpec,
        now: Timestamp,
    ) -> Result<ScheduleRecord> {
        let id = id.to_owned();
        self.write(move |tx| {
            let record = load_schedule(tx, &id)?;
            for (l, layer) in spec.layers.iter().enumerate() {
                for (u, user) in layer.users.iter().enumerate() {
                    user_must_exist(tx, user, &format!("layers[{l}].users[{u}]"))?;
                }
            }
            let spec = crate::edits::edited_schedule(&record, spec)?;
            tx.execute(
                "UPDATE schedules SET name = ?2, time_zone = ?3, spec = ?4, updated_at = ?5 WHERE id = ?1",
                params![id, spec.name, spec.time_zone, json_or_null(&spec), ms(now)],
            )
            .map_err(|e| conflict_as(e, "a schedule with this name already exists"))?;
            load_schedule(tx, &id)
        })
        .await
    }

    async fn delete_schedule_override(
        &self,
        id: &str,
        override_id: &str,
        now: Timestamp,
    ) -> Result<ScheduleRecord> {
        let (id, override_id) = (id.to_owned(), override_id.to_owned());
        self.write(move |tx| {
            let spec = crate::edits::without_override(&load_schedule(tx, &id)?, &override_id)?;
            tx.execute(
                "UPDATE schedules SET spec = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, json_or_null(&spec), ms(now)],
            )?;
            load_schedule(tx, &id)
        })
        .await
    }

    async fn add_schedule_override(
        &self,
        id: &str,
        o: tocsin_core::schedule::OverrideSpec,
        now: Timestamp,
    ) -> Result<ScheduleRecord> {
        let id = id.to_owned();
        self.write(move |tx| {
            let record = load_schedule(tx, &id)?;
            user_must_exist(tx, &o.user_id, "user_id")?;
            let invalid = |e: tocsin_core::schedule::SpecError| {
                let p = e.problems.into_iter().next();
                StoreError::Invalid {
                    field: p
                        .as_ref()
                        .map_or_else(|| "override".into(), |p| p.field.clone()),
                    message: p.map_or_else(|| "is invalid".into(), |p| p.problem.to_string()),
                }
            };
            let mut schedule = record
                .parse()
                .map_err(|e| StoreError::Backend(format!("stored schedule is invalid: {e}")))?;
            schedule
                .add_override(o.parse().map_err(invalid)?)
                .map_err(invalid)?;
            schedule.prune_overrides(now);
            let spec = schedule.to_spec();
            tx.execute(
                "UPDATE schedules SET spec = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, json_or_null(&spec), ms(now)],
            )?;
            load_schedule(tx, &id)
        })
        .await
    }

    async fn claim_due_notifications(
        &self,
        node: &str,
        now: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> Result<Vec<DueNotification>> {
        let node = node.to_owned();
        self.write(move |tx| {
            // Sends whose sender's lease ran out first (they are late already), then the
            // high-urgency lane, then the low one; each an indexed range scan (an OR across
            // them would scan the whole table).
            let mut ids: Vec<String> = tx
                .prepare_cached(
                    "SELECT n.id FROM notifications n
                     WHERE n.state = 'sending' AND n.claimed_until < ?1
                       AND EXISTS (SELECT 1 FROM incidents i WHERE i.id = n.incident_id AND i.status = 'triggered')
                     ORDER BY n.priority DESC, n.due_at LIMIT ?2",
                )?
                .query_map(params![ms(now), limit], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for lane in LANES {
                let room = limit.saturating_sub(ids.len() as u32);
                if room == 0 {
                    break;
                }
                let mut st = tx.prepare_cached(
                    "SELECT n.id FROM notifications n
                     WHERE n.state = 'queued' AND n.priority = ?3 AND n.due_at <= ?1
                       AND (n.claimed_until IS NULL OR n.claimed_until < ?1)
                       AND EXISTS (SELECT 1 FROM incidents i WHERE i.id = n.incident_id AND i.status = 'triggered')
                     ORDER BY n.due_at LIMIT ?2",
                )?;
                let rows = st.query_map(params![ms(now), room, lane], |r| r.get(0))?;
                for row in rows {
                    ids.push(row?);
                }
            }
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                let row: (String, String, String, String, u32, u32, bool) = tx.prepare_cached(
                    "SELECT idempotency_key, incident_id, user_id, contact_method_id, attempts, step, reserved FROM notifications WHERE id = ?1",
                )?
                .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)))?;
                let (key, incident_id, user_id, method_id, attempts, step, reserved) = row;
                tx.prepare_cached("UPDATE notifications SET state = 'sending', claimed_by = ?2, claimed_until = ?3, reserved = 0 WHERE id = ?1")?
                    .execute(params![id, node, ms(until)])?;
                let incident = load_incident(tx, &incident_id)?;
                let method = tx
                    .query_row(&format!("SELECT {CONTACT_COLS} FROM contact_methods WHERE id = ?1"), [&method_id], contact_row)
                    .optional()?;
                let user_name: Option<String> = tx.query_row("SELECT name FROM users WHERE id = ?1", [&user_id], |r| r.get(0)).optional()?;
                let (Some(contact_method), Some(user_name)) = (method, user_name) else {
                    // The person or the method is gone: nothing to send.
                    tx.execute(
                        "UPDATE notifications SET state = 'failed', last_error = 'contact method or user deleted', claimed_by = NULL WHERE id = ?1",
                        [&id],
                    )?;
                    continue;
                };
                let service_name: String = tx.query_row("SELECT name FROM services WHERE id = ?1", [incident.service_id.as_str()], |r| r.get(0))?;
                out.push(DueNotification {
                    id,
                    idempotency_key: key,
                    incident,
                    service_name,
                    user_id: UserId(user_id),
                    user_name,
                    contact_method,
                    attempts,
                    step,
                    reserved,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn complete_notifications(&self, done: Vec<Completion>) -> Result<()> {
        // One commit for the whole batch (group commit).
        self.write(move |tx| done.iter().try_for_each(|c| complete_one(tx, c)))
            .await
    }

    async fn escalate_early(&self, incident: &IncidentId, now: Timestamp) -> Result<()> {
        let id = incident.0.clone();
        self.write(move |tx| {
            tx.execute(
                "UPDATE escalations SET due_at = ?2
                 WHERE incident_id = ?1 AND due_at IS NOT NULL AND due_at > ?2
                   AND EXISTS (SELECT 1 FROM incidents WHERE id = ?1 AND status = 'triggered')
                   -- Only when nobody of this step can still be reached (someone was paged, or a
                   -- later rule is still to go out: the level keeps its delay).
                   AND NOT EXISTS (SELECT 1 FROM notifications n
                                   WHERE n.incident_id = ?1 AND n.step = escalations.step
                                     AND n.state IN ('queued', 'sending', 'sent'))",
                params![id, ms(now)],
            )?;
            Ok(())
        })
        .await
    }

    async fn next_notification_due(&self) -> Result<Option<Timestamp>> {
        self.read(|c| {
            let t: Option<i64> = c.query_row(
                "SELECT MIN(t) FROM (SELECT MIN(due_at) AS t FROM notifications WHERE state = 'queued' AND priority = 0
                   UNION ALL SELECT MIN(due_at) FROM notifications WHERE state = 'queued' AND priority = 1)",
                [],
                |r| r.get(0),
            )?;
            Ok(t.map(ts))
        })
        .await
    }

    async fn escalate_incident(
        &self,
        id: &IncidentId,
        level: Option<u32>,
        by: &Actor,
        now: Timestamp,
    ) -> Result<Incident> {
        let (id, by) = (id.0.clone(), by.clone());
        self.write(move |tx| {
            let inc = load_incident(tx, &id)?;
            let transition = incident::escalate(inc.status)?;
            let row: Option<(String, Option<u32>)> = tx
                .query_row("SELECT policy_id, level FROM escalations WHERE incident_id = ?1", [&id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((policy_id, current)) = row else {
                return Err(StoreError::Conflict("the incident's service has no escalation policy".into()));
            };
            let levels = load_policy(tx, &policy_id)?.levels.len() as u32;
            let target = match level {
                Some(l) if (1..=levels).contains(&l) => l - 1,
                Some(_) => {
                    return Err(StoreError::Invalid { field: "level".into(), message: format!("must be from 1 to {levels}") });
                }
                // The next level, staying on the last.
                None => current.map_or(0, |c| (c + 1).min(levels - 1)),
            };
            if let Transition::To(_) = transition {
                tx.execute(
                    "UPDATE incidents SET status = 'triggered', acknowledged_at = NULL, updated_at = ?2 WHERE id = ?1",
                    params![id, ms(now)],
                )?;
            }
            tx.execute(
                "UPDATE escalations SET due_at = ?2, manual_level = ?3, claimed_by = NULL, claimed_until = NULL,
                   ack_timeout_at = NULL, reassign_to = NULL WHERE incident_id = ?1",
                params![id, ms(now), target],
            )?;
            insert_timeline(tx, Entry {
                incident_id: Some(&id),
                service_id: inc.service_id.as_str(),
                at: now,
                kind: "escalate_requested",
                actor: &by,
                channel: Channel::Api,
                message: &format!("{} escalated the incident to level {}", by.name, target + 1),
            })?;
            load_incident(tx, &id)
        })
        .await
    }

    async fn reassign_incident(
        &self,
        id: &IncidentId,
        user: &UserId,
        by: &Actor,
        now: Timestamp,
    ) -> Result<Incident> {
        let (id, user, by) = (id.0.clone(), user.clone(), by.clone());
        self.write(move |tx| {
            let inc = load_incident(tx, &id)?;
            let transition = incident::escalate(inc.status)?;
            user_must_exist(tx, &user, "user_id")?;
            people::not_deactivated(tx, user.as_str(), "user_id")?;
            let paging: bool = tx
                .query_row("SELECT COUNT(*) > 0 FROM escalations WHERE incident_id = ?1", [&id], |r| r.get(0))?;
            if !paging {
                return Err(StoreError::Conflict("the incident's service has no escalation policy to page through".into()));
            }
            if let Transition::To(_) = transition {
                tx.execute(
                    "UPDATE incidents SET status = 'triggered', acknowledged_at = NULL, updated_at = ?2 WHERE id = ?1",
                    params![id, ms(now)],
                )?;
            }
            tx.execute(
                "UPDATE escalations SET due_at = ?2, reassign_to = ?3, manual_level = NULL, claimed_by = NULL,
                   claimed_until = NULL, ack_timeout_at = NULL WHERE incident_id = ?1",
                params![id, ms(now), user.as_str()],
            )?;
            assign(tx, &id, &[user.as_str()])?;
            let name: String = tx.query_row("SELECT name FROM users WHERE id = ?1", [user.as_str()], |r| r.get(0))?;
            insert_timeline(tx, Entry {
                incident_id: Some(&id),
                service_id: inc.service_id.as_str(),
                at: now,
                kind: "reassigned",
                actor: &by,
                channel: Channel::Api,
                message: &format!("{} reassigned the incident to {name}", by.name),
            })?;
            load_incident(tx, &id)
        })
        .await
    }

    async fn notification_link(&self, id: &str) -> Result<LinkTarget> {
        let id = id.to_owned();
        self.read(move |c| {
            let row: Option<(String, String, Option<String>, Option<i64>)> = c
                .query_row(
                    "SELECT n.incident_id, n.user_id, u.name, n.link_used_at FROM notifications n
                     LEFT JOIN users u ON u.id = n.user_id WHERE n.id = ?1",
                    [&id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let (incident_id, user_id, user_name, used) =
                row.ok_or(StoreError::NotFound("notification"))?;
            Ok(LinkTarget {
                notification_id: id,
                incident: load_incident(c, &incident_id)?,
                user_id: UserId(user_id.clone()),
                user_name: user_name.unwrap_or(user_id),
                used: used.is_some(),
            })
        })
        .await
    }

    async fn acknowledge_by_notification(
        &self,
        id: &str,
        channel: Channel,
        means: Option<String>,
        now: Timestamp,
    ) -> Result<Incident> {
        let id = id.to_owned();
        self.write(move |tx| {
            let row: Option<(String, String, Option<String>, Option<i64>, Option<String>)> = tx
                .query_row(
                    "SELECT n.incident_id, n.user_id, u.name, n.link_used_at, m.type FROM notifications n
                     LEFT JOIN users u ON u.id = n.user_id LEFT JOIN contact_methods m ON m.id = n.contact_method_id
                     WHERE n.id = ?1",
                    [&id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                .optional()?;
            let (incident_id, user_id, user_name, used, kind) = row.ok_or(StoreError::NotFound("notification"))?;
            if used.is_some() {
                return Err(StoreError::Conflict("this acknowledge link was already used".into()));
            }
            tx.execute("UPDATE notifications SET link_used_at = ?2 WHERE id = ?1", params![id, ms(now)])?;
            let inc = load_incident(tx, &incident_id)?;
            if let Transition::To(_) = incident::acknowledge(inc.status)? {
                tx.execute(
                    "UPDATE incidents SET status = 'acknowledged', acknowledged_at = ?2, updated_at = ?2 WHERE id = ?1",
                    params![incident_id, ms(now)],
                )?;
                stop_paging(tx, &incident_id, Some(now))?;
                assign(tx, &incident_id, &[&user_id])?;
                let name = user_name.unwrap_or_else(|| user_id.clone());
                let by = Actor { id: format!("user:{user_id}"), name: name.clone() };
                let via = match means {
                    Some(m) => m,
                    None => format!("the link in {}", kind.map_or_else(|| "a notification".to_owned(), |k| format!("the {k} notification"))),
                };
                insert_timeline(tx, Entry {
                    incident_id: Some(&incident_id),
                    service_id: inc.service_id.as_str(),
                    at: now,
                    kind: "acknowledged",
                    actor: &by,
                    channel,
                    message: &format!("Acknowledged by {name} with {via}"),
                })?;
            }
            load_incident(tx, &incident_id)
        })
        .await
    }

    async fn get_contact_method(&self, user: &UserId, id: &str) -> Result<ContactMethod> {
        let (user, id) = (user.0.clone(), id.to_owned());
        self.read(move |c| {
            c.query_row(
                &format!(
                    "SELECT {CONTACT_COLS} FROM contact_methods WHERE id = ?1 AND user_id = ?2"
                ),
                params![id, user],
                contact_row,
            )
            .optional()?
            .ok_or(StoreError::NotFound("contact method"))
        })
        .await
    }

    async fn start_verification(
        &self,
        user: &UserId,
        id: &str,
        code_hash: &str,
        expires: Timestamp,
    ) -> Result<ContactMethod> {
        let (user, id, code_hash) = (user.0.clone(), id.to_owned(), code_hash.to_owned());
        self.write(move |tx| {
            let n = tx.execute(
                "UPDATE contact_methods SET verify_code_hash = ?3, verify_expires_at = ?4, verify_attempts = 0
                 WHERE id = ?1 AND user_id = ?2 AND verified_at IS NULL",
                params![id, user, code_hash, ms(expires)],
            )?;
            if n == 0 {
                let exists: bool = tx.query_row(
                    "SELECT COUNT(*) > 0 FROM contact_methods WHERE id = ?1 AND user_id = ?2",
                    params![id, user],
                    |r| r.get(0),
                )?;
                return Err(if exists {
                    StoreError::Conflict("this contact method is already verified".into())
                } else {
                    StoreError::NotFound("contact method")
                });
            }
            Ok(tx.query_row(&format!("SELECT {CONTACT_COLS} FROM contact_methods WHERE id = ?1"), [&id], contact_row)?)
        })
        .await
    }

    async fn finish_verification(
        &self,
        user: &UserId,
        id: &str,
        code_hash: &str,
        now: Timestamp,
    ) -> Result<ContactMethod> {
        let (user, id, code_hash) = (user.0.clone(), id.to_owned(), code_hash.to_owned());
        // The closure's own result is committed either way: a wrong guess must be counted.
        self.write(move |tx| -> Result<Result<ContactMethod>> {
            let row: Option<(Option<String>, Option<i64>, u32, Option<i64>)> = tx
                .query_row(
                    "SELECT verify_code_hash, verify_expires_at, verify_attempts, verified_at FROM contact_methods
                     WHERE id = ?1 AND user_id = ?2",
                    params![id, user],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let (hash, expires, attempts, verified) = row.ok_or(StoreError::NotFound("contact method"))?;
            if verified.is_some() {
                return Ok(Err(StoreError::Conflict("this contact method is already verified".into())));
            }
            let invalid = |m: &str| StoreError::Invalid { field: "code".into(), message: m.into() };
            let (Some(hash), Some(expires)) = (hash, expires) else {
                return Ok(Err(invalid("was never sent: ask for a code first")));
            };
            if attempts >= VERIFY_ATTEMPTS_MAX {
                return Ok(Err(invalid("was guessed wrong too often: ask for a new code")));
            }
            if ms(now) > expires {
                return Ok(Err(invalid("has expired: ask for a new code")));
            }
            if hash != code_hash {
                tx.execute("UPDATE contact_methods SET verify_attempts = verify_attempts + 1 WHERE id = ?1", [&id])?;
                return Ok(Err(invalid("is wrong")));
            }
            tx.execute(
                "UPDATE contact_methods SET verified_at = ?2, verify_code_hash = NULL, verify_expires_at = NULL WHERE id = ?1",
                params![id, ms(now)],
            )?;
            Ok(Ok(tx.query_row(&format!("SELECT {CONTACT_COLS} FROM contact_methods WHERE id = ?1"), [&id], contact_row)?))
        })
        .await?
    }

    async fn retrigger_expired_acknowledgements(&self, now: Timestamp) -> Result<Vec<IncidentId>> {
        self.write(move |tx| {
            let due: Vec<(String, String, i64, bool)> = tx
                .prepare_cached(
                    "SELECT e.incident_id, i.service_id, s.ack_timeout_minutes, e.snoozed FROM escalations e
                     JOIN incidents i ON i.id = e.incident_id JOIN services s ON s.id = i.service_id
                     WHERE e.ack_timeout_at IS NOT NULL AND e.ack_timeout_at <= ?1",
                )?
                .query_map([ms(now)], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, Option<i64>>(2)?.unwrap_or(0), r.get(3)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut out = Vec::new();
            for (incident_id, service_id, minutes, snoozed) in due {
                let status: String = tx.query_row("SELECT status FROM incidents WHERE id = ?1", [&incident_id], |r| r.get(0))?;
                tx.execute("UPDATE escalations SET ack_timeout_at = NULL, snoozed = 0 WHERE incident_id = ?1", [&incident_id])?;
                if status != "acknowledged" {
                    continue;
                }
                tx.execute(
                    "UPDATE incidents SET status = 'triggered', acknowledged_at = NULL, updated_at = ?2 WHERE id = ?1",
                    params![incident_id, ms(now)],
                )?;
                // From the first level again, as a new step (new idempotency keys).
                tx.execute(
                    "UPDATE escalations SET due_at = ?2, manual_level = 0, claimed_by = NULL, claimed_until = NULL WHERE incident_id = ?1",
                    params![incident_id, ms(now)],
                )?;
                insert_timeline(tx, Entry {
                    incident_id: Some(&incident_id),
                    service_id: &service_id,
                    at: now,
                    kind: if snoozed { "snooze_ended" } else { "ack_timeout" },
                    actor: &Actor::system(),
                    channel: Channel::System,
                    message: &if snoozed {
                        "Snooze ended and not resolved: triggered again".to_owned()
                    } else {
                        format!("Acknowledged {minutes} min ago and not resolved: triggered again")
                    },
                })?;
                out.push(IncidentId(incident_id));
            }
            Ok(out)
        })
        .await
    }

    async fn feed_token(
        &self,
        kind: &str,
        target: &str,
        fresh: &str,
        now: Timestamp,
    ) -> Result<String> {
        let (kind, target, fresh) = (kind.to_owned(), target.to_owned(), fresh.to_owned());
        self.write(move |tx| {
            tx.execute(
                "INSERT OR IGNORE INTO feed_tokens (token, kind, target_id, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![fresh, kind, target, ms(now)],
            )?;
            Ok(tx.query_row(
                "SELECT token FROM feed_tokens WHERE kind = ?1 AND target_id = ?2",
                params![kind, target],
                |r| r.get(0),
            )?)
        })
        .await
    }

    async fn revoke_feed(&self, kind: &str, target: &str) -> Result<bool> {
        let (kind, target) = (kind.to_owned(), target.to_owned());
        self.write(move |tx| {
            let n = tx.execute(
                "DELETE FROM feed_tokens WHERE kind = ?1 AND target_id = ?2",
                params![kind, target],
            )?;
            Ok(n > 0)
        })
        .await
    }

    async fn find_feed(&self, token: &str) -> Result<Option<(String, String)>> {
        let token = token.to_owned();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT kind, target_id FROM feed_tokens WHERE token = ?1",
                [token],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
        })
        .await
    }

    async fn get_incident_by_number(&self, number: i64) -> Result<Incident> {
        self.read(move |c| {
            let id: String = c
                .query_row(
                    "SELECT id FROM incidents WHERE number = ?1",
                    [number],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or(StoreError::NotFound("incident"))?;
            load_incident(c, &id)
        })
        .await
    }

    async fn find_user_by_phone(&self, phone: &str) -> Result<Option<User>> {
        let phone = phone.to_owned();
        self.read(move |c| {
            Ok(c.query_row(
                &format!(
                    "SELECT {} FROM users WHERE id = (SELECT user_id FROM contact_methods
                       WHERE type IN ('sms', 'voice') AND address = ?1 AND verified_at IS NOT NULL
                       ORDER BY created_at LIMIT 1) AND deactivated_at IS NULL",
                    USER_COLS
                ),
                [phone],
                user_row,
            )
            .optional()?)
        })
        .await
    }

    async fn notification_by_key(&self, key: &str) -> Result<Option<(IncidentId, UserId)>> {
        let key = key.to_owned();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT incident_id, user_id FROM notifications WHERE idempotency_key = ?1",
                [key],
                |r| Ok((IncidentId(r.get(0)?), UserId(r.get(1)?))),
            )
            .optional()?)
        })
        .await
    }

    async fn raise_meta_alert(
        &self,
        incident: &IncidentId,
        now: Timestamp,
    ) -> Result<Option<usize>> {
        let id = incident.0.clone();
        self.write(move |tx| {
            let stranded: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM incidents WHERE id = ?1 AND status = 'triggered')
                   AND NOT EXISTS (SELECT 1 FROM escalations WHERE incident_id = ?1 AND due_at IS NOT NULL)
                   AND NOT EXISTS (SELECT 1 FROM notifications WHERE incident_id = ?1
                                   AND state IN ('queued', 'sending', 'sent'))",
                [&id],
                |r| r.get(0),
            )?;
            if !stranded {
                return Ok(None);
            }
            let targets: Vec<(String, String)> = tx
                .prepare_cached(
                    "SELECT m.user_id, m.id FROM contact_methods m JOIN users u ON u.id = m.user_id
                     WHERE u.role = 'admin' AND u.deactivated_at IS NULL AND m.verified_at IS NOT NULL
                     ORDER BY m.user_id, m.created_at",
                )?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut queued = 0;
            for (user, method) in &targets {
                queued += tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO notifications (id, idempotency_key, incident_id, user_id,
                           contact_method_id, step, state, due_at, created_at, priority)
                         VALUES (?1, ?2, ?3, ?4, ?5, 0, 'queued', ?6, ?6, 1)",
                    )?
                    .execute(params![new_id(), format!("{id}:meta:{user}:{method}"), id, user, method, ms(now)])?;
            }
            if queued > 0 || targets.is_empty() {
                let service_id: String = tx.query_row("SELECT service_id FROM incidents WHERE id = ?1", [&id], |r| r.get(0))?;
                let message = if targets.is_empty() {
                    "Nobody could be reached, and no admin has a verified contact method to alert".to_owned()
                } else {
                    format!("Nobody could be reached: alerting the admins ({queued} notifications)")
                };
                // Once: a second call finds the keys taken and the entry written.
                let said: bool = tx.query_row(
                    "SELECT COUNT(*) > 0 FROM timeline WHERE incident_id = ?1 AND kind = 'meta_alert'",
                    [&id],
                    |r| r.get(0),
                )?;
                if !said {
                    insert_timeline(tx, Entry {
                        incident_id: Some(&id),
                        service_id: &service_id,
                        at: now,
                        kind: "meta_alert",
                        actor: &Actor::system(),
                        channel: Channel::System,
                        message: &message,
                    })?;
                }
            }
            Ok(Some(queued))
        })
        .await
    }

    async fn claim_handoff_notice(
        &self,
        schedule: &str,
        user: &UserId,
        shift_start: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        let (schedule, user) = (schedule.to_owned(), user.0.clone());
        self.write(move |tx| {
            let n = tx.execute(
                "INSERT OR IGNORE INTO handoff_notices (schedule_id, user_id, shift_start, sent_at) VALUES (?1, ?2, ?3, ?4)",
                params![schedule, user, ms(shift_start), ms(now)],
            )?;
            Ok(n > 0)
        })
        .await
    }

    async fn list_incidents(&self, f: IncidentFilter) -> Result<Vec<Incident>> {
        self.read(move |c| {
            // The filters other than the text search, as `AND …` conditions.
            let mut filters = String::new();
            let mut args: Vec<rusqlite::types::Value> = Vec::new();
            if !f.statuses.is_empty() {
                let marks: Vec<&str> = f.statuses.iter().map(|_| "?").collect();
                filters.push_str(&format!(" AND status IN ({})", marks.join(", ")));
                args.extend(f.statuses.iter().map(|s| s.as_str().to_owned().into()));
            }
            if let Some(s) = &f.service_id {
                filters.push_str(" AND service_id = ?");
                args.push(s.0.clone().into());
            }
            if let Some(n) = f.before_number {
                filters.push_str(" AND number < ?");
                args.push(n.into());
            }
            if let Some(u) = f.urgency {
                filters.push_str(" AND urgency = ?");
                args.push(u.as_str().to_owned().into());
            }
            if let Some(t) = &f.team_id {
                filters.push_str(" AND service_id IN (SELECT id FROM services WHERE team_id = ?)");
                args.push(t.0.clone().into());
            }
            if let Some(from) = f.created_from {
                filters.push_str(" AND created_at >= ?");
                args.push(ms(from).into());
            }
            if let Some(to) = f.created_to {
                filters.push_str(" AND created_at < ?");
                args.push(ms(to).into());
            }
            let limit = i64::from(f.limit);
            let query = |sql: &str, args: Vec<rusqlite::types::Value>| -> Result<Vec<Incident>> {
                let mut st = c.prepare_cached(sql)?;
                let rows = st
                    .query_map(rusqlite::params_from_iter(args), incident_row)?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(rows)
            };
            let search = f.search.as_deref().and_then(crate::Search::parse);
            let rows = match search {
                None => {
                    let sql = format!(
                        "SELECT {INCIDENT_COLS} FROM incidents WHERE 1 = 1{filters} \
                         ORDER BY number DESC LIMIT ?"
                    );
                    args.push(limit.into());
                    query(&sql, args)?
                }
                Some(search) => {
                    let likes = search
                        .patterns
                        .iter()
                        .map(|_| "lower(title) LIKE ? ESCAPE '\\'")
                        .collect::<Vec<_>>()
                        .join(" AND ");
                    match trigram_query(&search.words) {
                        // Every word is shorter than a trigram: titles are read one by one,
                        // newest first, until the page is full.
                        None => {
                            let mut sql = format!(
                                "SELECT {INCIDENT_COLS} FROM incidents WHERE 1 = 1{filters} AND ("
                            );
                            if let Some(n) = search.number {
                                sql.push_str("number = ? OR ");
                                args.push(n.into());
                            }
                            sql.push_str(&format!("({likes})) ORDER BY number DESC LIMIT ?"));
                            args.extend(search.patterns.into_iter().map(Into::into));
                            args.push(limit.into());
                            query(&sql, args)?
                        }
                        // Incidents newer than the index holds (fewer than
                        // `SEARCH_BACKLOG_MAX`) are read one by one, newest first; then the
                        // trigram index names the older incidents whose titles hold every long
                        // word, newest first (it streams in that order, so a common word stops
                        // at the page's end). The `LIKE`s decide exactly as a scan would.
                        Some(matching) => {
                            let through: i64 = c.query_row(
                                "SELECT indexed_through FROM incidents_search_state",
                                [],
                                |r| r.get(0),
                            )?;
                            let before = |column: &str, values: &mut Vec<rusqlite::types::Value>| {
                                f.before_number.map_or(String::new(), |n| {
                                    values.push(n.into());
                                    format!(" AND {column} < ?")
                                })
                            };
                            let mut newer: Vec<rusqlite::types::Value> = vec![through.into()];
                            let sql = format!(
                                "SELECT {INCIDENT_COLS} FROM incidents WHERE number > ?{}{filters} \
                                 AND {likes} ORDER BY number DESC LIMIT ?",
                                before("number", &mut newer)
                            );
                            newer.extend(args.iter().cloned());
                            newer.extend(search.patterns.iter().cloned().map(Into::into));
                            newer.push(limit.into());
                            let mut rows = query(&sql, newer)?;
                            let room = limit - rows.len() as i64;
                            if room > 0 {
                                let mut indexed: Vec<rusqlite::types::Value> =
                                    vec![matching.into(), through.into()];
                                let sql = format!(
                                    "SELECT {INCIDENT_COLS} FROM incidents_search \
                                     CROSS JOIN incidents ON incidents.number = incidents_search.rowid \
                                     WHERE incidents_search MATCH ? AND incidents_search.rowid <= ?{}\
                                     {filters} AND {likes} ORDER BY incidents_search.rowid DESC LIMIT ?",
                                    before("incidents_search.rowid", &mut indexed)
                                );
                                indexed.extend(args.iter().cloned());
                                indexed.extend(search.patterns.into_iter().map(Into::into));
                                indexed.push(room.into());
                                rows.extend(query(&sql, indexed)?);
                            }
                            // The incident the search names by number, whatever its title.
                            if let Some(n) = search.number
                                && !rows.iter().any(|i| i.number == n)
                            {
                                let sql = format!(
                                    "SELECT {INCIDENT_COLS} FROM incidents WHERE number = ?{filters}"
                                );
                                let mut by_number: Vec<rusqlite::types::Value> = vec![n.into()];
                                by_number.extend(args);
                                rows.extend(query(&sql, by_number)?);
                                rows.sort_by_key(|i| std::cmp::Reverse(i.number));
                                rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
                            }
                            rows
                        }
                    }
                }
            };
            rows.into_iter().map(|i| with_assignees(c, i)).collect()
        })
        .await
    }

    async fn get_incident(&self, id: &IncidentId) -> Result<Incident> {
        let id = id.0.clone();
        self.read(move |c| load_incident(c, &id)).await
    }

    async fn incident_alerts(&self, id: &IncidentId) -> Result<Vec<Alert>> {
        let id = id.0.clone();
        self.read(move |c| {
            load_incident(c, &id)?;
            let mut st = c.prepare(
                "SELECT id, incident_id, integration_id, dedup_key, status, summary, source, severity,
                   component, grp, class, custom_details, links, images, client, client_url,
                   first_seen, last_seen, occurrences, resolved_at
                 FROM alerts WHERE incident_id = ?1 ORDER BY first_seen, id",
            )?;
            Ok(st
                .query_map([id], |r| {
                    Ok(Alert {
                        id: AlertId(r.get(0)?),
                        incident_id: IncidentId(r.get(1)?),
                        integration_id: IntegrationId(r.get(2)?),
                        dedup_key: r.get(3)?,
                        status: word(r.get(4)?, AlertStatus::parse)?,
                        summary: r.get(5)?,
                        source: r.get(6)?,
                        severity: word(r.get(7)?, Severity::parse)?,
                        component: r.get(8)?,
                        group: r.get(9)?,
                        class: r.get(10)?,
                        custom_details: r
                            .get::<_, Option<String>>(11)?
                            .and_then(|s| serde_json::from_str(&s).ok()),
                        links: from_json(r.get(12)?),
                        images: from_json(r.get(13)?),
                        client: r.get(14)?,
                        client_url: r.get(15)?,
                        first_seen: ts(r.get(16)?),
                        last_seen: ts(r.get(17)?),
                        occurrences: r.get(18)?,
                        resolved_at: opt_ts(r.get(19)?),
                    })
                })?
                .collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn acknowledge_incident(
        &self,
        id: &IncidentId,
        by: &Actor,
        channel: Channel,
        now: Timestamp,
    ) -> Result<Incident> {
        let (id, by) = (id.0.clone(), by.clone());
        self.write(move |tx| {
            let inc = load_incident(tx, &id)?;
            if let Transition::To(_) = incident::acknowledge(inc.status)? {
                tx.execute(
                    "UPDATE incidents SET status = 'acknowledged', acknowledged_at = ?2, updated_at = ?2 WHERE id = ?1",
                    params![id, ms(now)],
                )?;
                stop_paging(tx, &id, Some(now))?;
                // Whoever acknowledges takes the incident.
                if let Some(user) = by.id.strip_prefix("user:") {
                    assign(tx, &id, &[user])?;
                }
                insert_timeline(tx, Entry { incident_id: Some(&id), service_id: inc.service_id.as_str(), at: now, kind: "acknowledged", actor: &by, channel, message: &format!("Acknowledged by {}", by.name) })?;
            }
            load_incident(tx, &id)
        })
        .await
    }

    async fn snooze_incident(
        &self,
        id: &IncidentId,
        by: &Actor,
        channel: Channel,
        minutes: u32,
        now: Timestamp,
    ) -> Result<Incident> {
        let (id, by) = (id.0.clone(), by.clone());
        self.write(move |tx| {
            let inc = load_incident(tx, &id)?;
            if inc.status != IncidentStatus::Acknowledged {
                return Err(StoreError::Conflict(format!(
                    "only an acknowledged incident can be snoozed (this one is {})",
                    inc.status.as_str()
                )));
            }
            let until = now + jiff::SignedDuration::from_mins(i64::from(minutes));
            let n = tx.execute(
                "UPDATE escalations SET ack_timeout_at = ?2, snoozed = 1 WHERE incident_id = ?1",
                params![id, ms(until)],
            )?;
            if n == 0 {
                return Err(StoreError::Conflict(
                    "the incident's service has no escalation policy: nobody would be paged when the snooze ends".into(),
                ));
            }
            tx.execute("UPDATE incidents SET updated_at = ?2 WHERE id = ?1", params![id, ms(now)])?;
            insert_timeline(tx, Entry { incident_id: Some(&id), service_id: inc.service_id.as_str(), at: now, kind: "snoozed", actor: &by, channel, message: &crate::snoozed_message(&by.name, minutes, until) })?;
            load_incident(tx, &id)
        })
        .await
    }

    async fn resolve_incident(
        &self,
        id: &IncidentId,
        by: &Actor,
        channel: Channel,
        now: Timestamp,
    ) -> Result<Incident> {
        let (id, by) = (id.0.clone(), by.clone());
        self.write(move |tx| {
            let inc = load_incident(tx, &id)?;
            incident::resolve(inc.status)?;
            tx.execute(
                "UPDATE alerts SET status = 'resolved', resolved_at = ?2 WHERE incident_id = ?1 AND status = 'open'",
                params![id, ms(now)],
            )?;
            tx.execute(
                "UPDATE incidents SET status = 'resolved', open_alerts = 0, resolved_at = ?2, updated_at = ?2 WHERE id = ?1",
                params![id, ms(now)],
            )?;
            stop_paging(tx, &id, None)?;
            insert_timeline(tx, Entry { incident_id: Some(&id), service_id: inc.service_id.as_str(), at: now, kind: "resolved", actor: &by, channel, message: &format!("Resolved by {}", by.name) })?;
            load_incident(tx, &id)
        })
        .await
    }

    async fn add_note(
        &self,
        id: &IncidentId,
        by: &Actor,
        channel: Channel,
        text: &str,
        now: Timestamp,
    ) -> Result<TimelineEntry> {
        let (id, by, text) = (id.0.clone(), by.clone(), text.to_owned());
        self.write(move |tx| {
            let inc = load_incident(tx, &id)?;
            insert_timeline(
                tx,
                Entry {
                    incident_id: Some(&id),
                    service_id: inc.service_id.as_str(),
                    at: now,
                    kind: "note",
                    actor: &by,
                    channel,
                    message: &text,
                },
            )?;
            Ok(TimelineEntry {
                at: now,
                kind: "note".into(),
                actor: by.name,
                actor_id: Some(by.id),
                channel: Some(channel),
                message: text,
            })
        })
        .await
    }

    async fn timeline(&self, id: &IncidentId) -> Result<Vec<TimelineEntry>> {
        let id = id.0.clone();
        self.read(move |c| {
            load_incident(c, &id)?;
            let mut st = c.prepare_cached(
                "SELECT at, kind, actor_name, actor_id, channel, message FROM timeline
                 WHERE incident_id = ?1 ORDER BY seq",
            )?;
            Ok(st
                .query_map([id], |r| {
                    Ok(TimelineEntry {
                        at: ts(r.get(0)?),
                        kind: r.get(1)?,
                        actor: r.get(2)?,
                        actor_id: r.get(3)?,
                        channel: r
                            .get::<_, Option<String>>(4)?
                            .and_then(|c| Channel::parse(&c)),
                        message: r.get(5)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn count_open_incidents(&self) -> Result<u64> {
        self.read(|c| {
            let n: i64 = c.query_row(
                "SELECT COUNT(*) FROM incidents WHERE status IN ('triggered', 'acknowledged')",
                [],
                |r| r.get(0),
            )?;
            Ok(n.unsigned_abs())
        })
        .await
    }

    // ---- Monitors and heartbeats (see sqlite_monitors.rs) ----

    async fn create_monitor(&self, m: NewMonitor, now: Timestamp) -> Result<Monitor> {
        self.write(move |tx| monitors::create(tx, m, now)).await
    }

    async fn get_monitor(&self, id: &str, now: Timestamp) -> Result<Monitor> {
        let id = id.to_owned();
        self.read(move |c| monitors::load_monitor(c, &id, now))
            .await
    }

    async fn list_monitors(
        &self,
        service: Option<&ServiceId>,
        now: Timestamp,
    ) -> Result<Vec<Monitor>> {
        let service = service.map(|s| s.0.clone());
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {} FROM monitors WHERE ?1 IS NULL OR service_id = ?1 ORDER BY name, id",
                monitors::MONITOR_COLS
            ))?;
            let rows = st.query_map([service], |r| monitors::monitor_row(r, now))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn monitor_results(&self, id: &str, limit: u32) -> Result<Vec<MonitorResult>> {
        let id = id.to_owned();
        self.read(move |c| {
            monitors::load_monitor(c, &id, Timestamp::UNIX_EPOCH)?;
            monitors::results(c, &id, limit)
        })
        .await
    }

    async fn find_heartbeat(&self, token_hash: &str) -> Result<Option<(String, Integration)>> {
        let hash = token_hash.to_owned();
        self.read(move |c| {
            let row: Option<(String, String)> = c
                .prepare_cached(
                    "SELECT id, integration_id FROM monitors WHERE ping_token_hash = ?1",
                )?
                .query_row([hash], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((id, integration)) = row else {
                return Ok(None);
            };
            let integ = c
                .prepare_cached(&format!(
                    "SELECT {INTEGRATION_COLS} FROM integrations WHERE id = ?1"
                ))?
                .query_row([integration], integration_row)?;
            Ok(Some((id, integ)))
        })
        .await
    }

    async fn claim_due_monitors(
        &self,
        node: &str,
        now: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> Result<Vec<DueMonitor>> {
        let node = node.to_owned();
        self.write(move |tx| monitors::claim_due(tx, &node, now, until, limit))
            .await
    }

    async fn record_checks(&self, checks: Vec<CheckRecord>, now: Timestamp) -> Result<Vec<bool>> {
        self.write(move |tx| {
            checks
                .iter()
                .map(|c| monitors::record_check(tx, c, now))
                .collect()
        })
        .await
    }

    async fn prune_monitor_history(&self, keep: MonitorRetention, now: Timestamp) -> Result<u64> {
        let mut after = String::new();
        let mut deleted = 0;
        loop {
            let from = after.clone();
            let (n, last) = self
                .write(move |tx| {
                    monitors::prune_history(tx, keep, now, &from, PRUNE_MONITORS_PER_COMMIT)
                })
                .await?;
            deleted += n;
            match last {
                Some(id) => after = id,
                None => return Ok(deleted),
            }
        }
    }

    async fn next_monitor_due(&self) -> Result<Option<Timestamp>> {
        self.read(|c| {
            let t: Option<i64> = c.query_row(
                "SELECT MIN(due_at) FROM monitors WHERE due_at IS NOT NULL",
                [],
                |r| r.get(0),
            )?;
            Ok(t.map(ts))
        })
        .await
    }

    async fn monitor_uptime(&self, id: &str, now: Timestamp) -> Result<Uptime> {
        let id = id.to_owned();
        self.read(move |c| {
            monitors::load_monitor(c, &id, now)?;
            monitors::uptime(c, &id, now)
        })
        .await
    }

    async fn monitor_series(
        &self,
        id: &str,
        span: RollupSpan,
        from: Timestamp,
    ) -> Result<Vec<RollupPoint>> {
        let id = id.to_owned();
        self.read(move |c| {
            monitors::load_monitor(c, &id, from)?;
            monitors::series(c, &id, span.as_str(), from)
        })
        .await
    }

    async fn pause_monitor(&self, id: &str, paused: bool, now: Timestamp) -> Result<Monitor> {
        let id = id.to_owned();
        self.write(move |tx| monitors::set_paused(tx, &id, paused, now))
            .await
    }

    async fn delete_monitor(&self, id: &str, now: Timestamp) -> Result<()> {
        let id = id.to_owned();
        self.write(move |tx| monitors::delete(tx, &id, now)).await
    }

    async fn update_monitor(
        &self,
        id: &str,
        changes: MonitorChanges,
        now: Timestamp,
    ) -> Result<Monitor> {
        let id = id.to_owned();
        self.write(move |tx| monitors::update(tx, &id, &changes, now))
            .await
    }

    // ---- Status page and maintenance windows (see sqlite_status.rs) ----

    async fn status_settings(&self) -> Result<StatusSettings> {
        self.read(status::settings).await
    }

    async fn set_status_settings(&self, settings: StatusSettings) -> Result<StatusSettings> {
        self.write(move |tx| {
            status::set_settings(tx, &settings)?;
            status::settings(tx)
        })
        .await
    }

    async fn create_status_component(
        &self,
        component: NewStatusComponent,
        now: Timestamp,
    ) -> Result<StatusComponent> {
        self.write(move |tx| status::create_component(tx, component, now))
            .await
    }

    async fn delete_status_component(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.write(move |tx| status::delete_component(tx, &id))
            .await
    }

    async fn status_components(&self, now: Timestamp) -> Result<Vec<ComponentView>> {
        self.read(move |c| status::component_views(c, now)).await
    }

    async fn status_history(
        &self,
        from: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<(String, ComponentHistory)>> {
        self.read(move |c| status::history(c, from, now)).await
    }

    async fn create_status_incident(
        &self,
        incident: NewStatusIncident,
        now: Timestamp,
    ) -> Result<StatusIncident> {
        self.write(move |tx| status::create_incident(tx, incident, now))
            .await
    }

    async fn add_status_update(
        &self,
        id: &str,
        stage: tocsin_core::status::PublicStage,
        message: &str,
        now: Timestamp,
    ) -> Result<StatusIncident> {
        let (id, message) = (id.to_owned(), message.to_owned());
        self.write(move |tx| status::add_update(tx, &id, stage, &message, now))
            .await
    }

    async fn get_status_incident(&self, id: &str) -> Result<StatusIncident> {
        let id = id.to_owned();
        self.read(move |c| status::load_incident(c, &id)).await
    }

    async fn list_status_incidents(&self, limit: u32) -> Result<Vec<StatusIncident>> {
        self.read(move |c| status::list_incidents(c, limit)).await
    }

    async fn create_maintenance(
        &self,
        window: NewMaintenance,
        now: Timestamp,
    ) -> Result<Maintenance> {
        self.write(move |tx| status::create_window(tx, window, now))
            .await
    }

    async fn list_maintenance(&self, now: Timestamp) -> Result<Vec<Maintenance>> {
        self.read(move |c| status::list_windows(c, now)).await
    }

    async fn delete_maintenance(&self, id: &str, now: Timestamp) -> Result<()> {
        let id = id.to_owned();
        self.write(move |tx| status::delete_window(tx, &id, now))
            .await
    }

    async fn add_subscriber(&self, s: NewSubscriber, now: Timestamp) -> Result<Subscriber> {
        self.write(move |tx| status::add_subscriber(tx, s, now))
            .await
    }

    async fn confirm_subscriber(
        &self,
        token_hash: &str,
        not_before: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Subscriber>> {
        let hash = token_hash.to_owned();
        self.write(move |tx| status::confirm(tx, &hash, not_before, now))
            .await
    }

    async fn unsubscribe(&self, token_hash: &str) -> Result<bool> {
        let hash = token_hash.to_owned();
        self.write(move |tx| status::unsubscribe(tx, &hash)).await
    }

    async fn list_subscribers(&self, confirmed_only: bool) -> Result<Vec<Subscriber>> {
        self.read(move |c| status::subscribers(c, confirmed_only))
            .await
    }

    async fn delete_subscriber(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.write(move |tx| status::delete_subscriber(tx, &id))
            .await
    }

    async fn ping(&self) -> Result<()> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    async fn close(&self) -> Result<()> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.checkpoint_now())
            .await
            .map_err(backend)?
    }

    async fn backup(&self, to: &Path) -> Result<()> {
        let to = to.to_owned();
        if to.exists() {
            return Err(StoreError::Conflict(format!(
                "{} already exists",
                to.display()
            )));
        }
        self.read(move |c| {
            // VACUUM INTO reads one consistent snapshot and writes a compact, self-contained file.
            c.execute("VACUUM INTO ?1", [to.to_string_lossy()])?;
            Ok(())
        })
        .await
    }

    // ---- Editing people, contact methods, rules and teams (sqlite_people.rs) ----

    async fn update_user(&self, id: &UserId, changes: UserChanges, now: Timestamp) -> Result<User> {
        let id = id.0.clone();
        self.write(move |tx| people::update_user(tx, &id, changes, now))
            .await
    }

    async fn update_contact_method(
        &self,
        user: &UserId,
        id: &str,
        address: &str,
        label: &str,
        now: Timestamp,
    ) -> Result<ContactMethod> {
        let (user, id) = (user.0.clone(), id.to_owned());
        let (address, label) = (address.to_owned(), label.to_owned());
        self.write(move |tx| people::update_contact_method(tx, &user, &id, &address, &label, now))
            .await
    }

    async fn delete_contact_method(&self, user: &UserId, id: &str) -> Result<Vec<String>> {
        let (user, id) = (user.0.clone(), id.to_owned());
        self.write(move |tx| people::delete_contact_method(tx, &user, &id))
            .await
    }

    async fn update_notification_rule(
        &self,
        id: &str,
        rule: NewNotificationRule,
    ) -> Result<NotificationRule> {
        let id = id.to_owned();
        self.write(move |tx| people::update_notification_rule(tx, &id, rule))
            .await
    }

    async fn delete_notification_rule(&self, user: &UserId, id: &str) -> Result<()> {
        let (user, id) = (user.0.clone(), id.to_owned());
        self.write(move |tx| people::delete_notification_rule(tx, &user, &id))
            .await
    }

    async fn remove_team_member(&self, team: &TeamId, user: &UserId) -> Result<Team> {
        let (team, user) = (team.0.clone(), user.0.clone());
        self.write(move |tx| people::remove_team_member(tx, &team, &user))
            .await
    }

    // ---- Web UI sign-in and sessions ----

    async fn find_login(&self, email: &str) -> Result<Option<Login>> {
        let email = email.trim().to_owned();
        self.read(move |c| {
            Ok(c.query_row(
                &format!(
                    "SELECT {USER_COLS}, password_hash FROM users
                     WHERE email = ?1 AND deactivated_at IS NULL"
                ),
                [email],
                |r| {
                    Ok(Login {
                        user: user_row(r)?,
                        password_hash: r.get(7)?,
                    })
                },
            )
            .optional()?)
        })
        .await
    }

    async fn create_session(&self, s: NewSession, now: Timestamp) -> Result<()> {
        self.write(move |tx| {
            user_found(tx, &s.user_id.0)?;
            if people::deactivated(tx, &s.user_id.0)? {
                return Err(StoreError::Conflict("this person is deactivated".into()));
            }
            tx.execute(
                "DELETE FROM web_sessions WHERE user_id = ?1 AND expires_at <= ?2",
                params![s.user_id.0, ms(now)],
            )?;
            // Keep room for the new one: the least recently used beyond the limit go.
            tx.execute(
                "DELETE FROM web_sessions WHERE token_hash IN (
                   SELECT token_hash FROM web_sessions WHERE user_id = ?1
                   ORDER BY last_seen_at DESC, created_at DESC LIMIT -1 OFFSET ?2)",
                params![s.user_id.0, i64::from(SESSIONS_PER_USER_MAX) - 1],
            )?;
            tx.execute(
                "INSERT INTO web_sessions (token_hash, user_id, created_at, last_seen_at, expires_at)
                 VALUES (?1, ?2, ?3, ?3, ?4)",
                params![s.token_hash, s.user_id.0, ms(now), ms(s.expires_at)],
            )?;
            Ok(())
        })
        .await
    }

    async fn find_session(&self, token_hash: &str, now: Timestamp) -> Result<Option<Session>> {
        let hash = token_hash.to_owned();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT u.id, u.name, u.email, u.time_zone, u.role, u.created_at, u.deactivated_at,
                   s.created_at, s.last_seen_at, s.expires_at
                 FROM web_sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND u.deactivated_at IS NULL",
                params![hash, ms(now)],
                |r| {
                    Ok(Session {
                        user: user_row(r)?,
                        created_at: ts(r.get(7)?),
                        last_seen_at: ts(r.get(8)?),
                        expires_at: ts(r.get(9)?),
                    })
                },
            )
            .optional()?)
        })
        .await
    }

    async fn touch_session(
        &self,
        token_hash: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()> {
        let hash = token_hash.to_owned();
        self.write(move |tx| {
            tx.execute(
                "UPDATE web_sessions SET last_seen_at = ?2, expires_at = ?3 WHERE token_hash = ?1",
                params![hash, ms(now), ms(expires_at)],
            )?;
            Ok(())
        })
        .await
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        let hash = token_hash.to_owned();
        self.write(move |tx| {
            tx.execute("DELETE FROM web_sessions WHERE token_hash = ?1", [hash])?;
            Ok(())
        })
        .await
    }

    async fn set_password(
        &self,
        user: &UserId,
        password_hash: &str,
        keep: Option<&str>,
    ) -> Result<()> {
        let (user, hash, keep) = (
            user.0.clone(),
            password_hash.to_owned(),
            keep.map(str::to_owned),
        );
        self.write(move |tx| {
            let n = tx.execute(
                "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                params![user, hash],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound("user"));
            }
            tx.execute(
                "DELETE FROM web_sessions WHERE user_id = ?1 AND token_hash IS NOT ?2",
                params![user, keep],
            )?;
            Ok(())
        })
        .await
    }
}

impl SqliteStore {
    fn checkpoint_now(&self) -> Result<()> {
        let conn = self.inner.writer.lock().map_err(backend)?;
        // (busy, log frames, checkpointed frames): busy means a reader (a backup, say) kept
        // the log from being folded in; the data is safe either way, only the file layout differs.
        let (busy, log, done): (i64, i64, i64) =
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
        if busy != 0 {
            tracing::warn!(
                log,
                done,
                "the write-ahead log could not be folded in: a reader was active"
            );
        }
        Ok(())
    }
}

fn insert_user(tx: &Transaction<'_>, u: NewUser, now: Timestamp) -> Result<User> {
    let id = new_id();
    tx.execute(
        "INSERT INTO users (id, email, name, time_zone, role, password_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            id,
            u.email,
            u.name,
            u.time_zone,
            u.role.as_str(),
            u.password_hash,
            ms(now)
        ],
    )
    .map_err(|e| conflict_as(e, "a user with this email already exists"))?;
    Ok(tx.query_row(
        &format!("SELECT {USER_COLS} FROM users WHERE id = ?1"),
        [id],
        user_row,
    )?)
}

fn conflict_as(e: rusqlite::Error, message: &str) -> StoreError {
    match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(message.to_owned()),
        other => other,
    }
}
