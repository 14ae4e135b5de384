//! The PostgreSQL backend: the same use cases as `sqlite.rs`, for several nodes sharing one
//! database. Each write runs in one READ COMMITTED transaction, retried on a serialization failure
//! or a deadlock; what SQLite's single writer serialises by itself is serialised here with row
//! locks, transaction-scoped advisory locks (ingest, by dedup and group key) and a counter row
//! (incident numbers). Due work is claimed with `FOR UPDATE SKIP LOCKED`. Backups are pg_dump's.

use crate::*;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgConnection, PgPool, Row};
use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;
use tocsin_core::dedup::{self, OpenAlert};
use tocsin_core::incident::{self, Transition};
use tocsin_core::rate::RateLimit;

/// Migrations, applied in order, each recorded in `tocsin_migrations`.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_init",
        include_str!("../migrations/postgres/0001_init.sql"),
    ),
    (
        "0002_web_sessions",
        include_str!("../migrations/postgres/0002_web_sessions.sql"),
    ),
    (
        "0003_monitors",
        include_str!("../migrations/postgres/0003_monitors.sql"),
    ),
    (
        "0004_call_repeats",
        include_str!("../migrations/postgres/0004_call_repeats.sql"),
    ),
    (
        "0005_status_page_rollups",
        include_str!("../migrations/postgres/0005_status_page_rollups.sql"),
    ),
    (
        "0006_claim_renewal",
        include_str!("../migrations/postgres/0006_claim_renewal.sql"),
    ),
    (
        "0007_incident_filters",
        include_str!("../migrations/postgres/0007_incident_filters.sql"),
    ),
    (
        "0008_snooze",
        include_str!("../migrations/postgres/0008_snooze.sql"),
    ),
    (
        "0009_deactivated_users",
        include_str!("../migrations/postgres/0009_deactivated_users.sql"),
    ),
    (
        "0010_incident_search",
        include_str!("../migrations/postgres/0010_incident_search.sql"),
    ),
    (
        "0011_incident_numbers",
        include_str!("../migrations/postgres/0011_incident_numbers.sql"),
    ),
    (
        "0012_ingest_guard",
        include_str!("../migrations/postgres/0012_ingest_guard.sql"),
    ),
];
#[path = "pg_copy.rs"]
pub mod copy;
#[path = "pg_ingest.rs"]
mod ingest;
#[path = "pg_monitors.rs"]
mod monitors;
#[path = "pg_notify.rs"]
pub mod notify;
#[path = "pg_status.rs"]
mod status;
/// The advisory lock that makes nodes starting at once apply migrations one after the other
/// ("tocsin migrations" as a number).
const MIGRATION_LOCK: i64 = 0x746f_6373_696e_6d69;
/// The advisory lock that lets one first admin be made at a time.
const SETUP_LOCK: i64 = 0x746f_6373_696e_7375;
/// Work lanes in the order they are claimed: high urgency (1), then low (0).
/// How long a session may sit idle inside a transaction before the server ends it (as long as
/// a claim's lease, `tocsin_engine::lease::LEASE`).
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "5s";
/// Monitors whose history one transaction prunes.
const PRUNE_MONITORS_PER_COMMIT: i64 = 200;
const LANES: [i64; 2] = [1, 0];
/// Wrong guesses of a verification code before a new code is needed.
const VERIFY_ATTEMPTS_MAX: u32 = 5;
/// Connections per node: the ingest writer, the two engine loops and HTTP requests share them.
const CONNECTIONS_MAX: u32 = 16;
/// Ingest batches of one node that may commit at once (each holds a connection while it
/// commits); the database's group commit then shares fsyncs between them. Two keep one batch
/// forming while another commits; more made batches smaller and each event dearer
/// (docs/benchmarks.md).
const INGEST_WRITERS: usize = 2;
/// After a batch that looked new was not (some alert was open), this many batches go the usual
/// way before `ingest::apply_new` is tried again.
const NEW_BATCHES_SKIPPED: u32 = 16;
/// How long a call waits for a free connection before it fails.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// How many times a transaction that lost a serialization conflict or a deadlock is run again.
const TRANSACTION_RETRIES_MAX: u32 = 8;
/// Marks a backend error that is worth running the transaction again for.
const TRANSIENT: &str = "transient conflict between transactions";

/// A store on a PostgreSQL database, shared by any number of nodes.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Ingestion's connections (`Store::ingest`), up to `INGEST_WRITERS`.
    ingest_pool: PgPool,
    /// Batches to apply the usual way before trying `ingest::apply_new` again, after a batch
    /// that looked new was not: a sender of repeats should not pay a wasted round trip a batch.
    new_batches_skip: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound("record"),
            sqlx::Error::Database(d) => match d.code().as_deref() {
                // serialization_failure, deadlock_detected: run the transaction again.
                Some("40001" | "40P01") => StoreError::Backend(format!("{TRANSIENT}: {d}")),
                // Class 23: integrity constraint violations (unique, foreign key, not null, check).
                Some(c) if c.starts_with("23") => StoreError::Conflict(d.message().to_owned()),
                _ => StoreError::Backend(e.to_string()),
            },
            _ => StoreError::Backend(e.to_string()),
        }
    }
}

fn transient(e: &StoreError) -> bool {
    matches!(e, StoreError::Backend(m) if m.starts_with(TRANSIENT))
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

fn word<T>(s: String, parse: fn(&str) -> Option<T>) -> Result<T> {
    parse(&s).ok_or_else(|| StoreError::Backend(format!("unknown value {s:?}")))
}

/// A non-negative count stored as BIGINT.
fn count(v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| StoreError::Backend(format!("count out of range: {v}")))
}

fn u32_at(r: &PgRow, i: usize) -> Result<u32> {
    count(r.try_get(i)?)
}

fn opt_u32_at(r: &PgRow, i: usize) -> Result<Option<u32>> {
    r.try_get::<Option<i64>, _>(i)?.map(count).transpose()
}

fn json_or_null<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn from_json<T: serde::de::DeserializeOwned + Default>(s: Option<String>) -> T {
    s.and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

fn conflict_as(e: sqlx::Error, message: &str) -> StoreError {
    match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(message.to_owned()),
        other => other,
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`, with
    /// libpq's parameters such as `sslmode`) and applies pending migrations, one node at a time.
    pub async fn connect(url: &str) -> Result<Self> {
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Backend(format!("the database URL is not valid: {e}")))?;
        if options.get_application_name().is_none() {
            options = options.application_name("tocsin");
        }
        // A node paused inside a transaction (SIGSTOP, a frozen VM) would hold its row locks,
        // and the others skip locked rows: the server ends such a session instead, about when
        // the node's claims run out. Tocsin's transactions never wait on anything outside.
        options = options.options([(
            "idle_in_transaction_session_timeout",
            IDLE_IN_TRANSACTION_TIMEOUT,
        )]);
        let pool = PgPoolOptions::new()
            .max_connections(CONNECTIONS_MAX)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await?;
        migrate(&pool).await?;
        // Ingestion's statements are the same every batch but for the size of their arrays,
        // which a custom plan re-plans each time (a third of a millisecond a batch for the write
        // of `ingest::Pending`): on ingestion's own connections they keep one generic plan.
        let ingest_pool = PgPoolOptions::new()
            .max_connections(INGEST_WRITERS as u32)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options.options([("plan_cache_mode", "force_generic_plan")]));
        Ok(Self {
            pool,
            ingest_pool,
            new_batches_skip: Default::default(),
        })
    }
}

/// Pins a future's output to this crate's `Result`, so that `?` inside an async block knows
/// which error to convert to.
fn typed<T, F: std::future::Future<Output = Result<T>>>(f: F) -> F {
    f
}

/// `transaction!(store, |c| body)` (or `transaction!(pool: p, |c| body)`): runs `body` (with `c: &mut PgConnection`) in one transaction
/// and commits it. When it lost a serialization conflict or a deadlock to another transaction,
/// it runs `body` again from the start in a new one (up to `TRANSACTION_RETRIES_MAX` times).
/// `?` and `return` inside `body` leave the attempt, which then rolls back.
macro_rules! transaction {
    (pool: $pool:expr, |$c:ident| $body:expr) => {{
        let mut attempt = 0;
        loop {
            let mut tx = $pool.begin().await?;
            let result = typed(async {
                let $c: &mut PgConnection = &mut tx;
                $body
            })
            .await;
            let result = match result {
                Ok(v) => tx.commit().await.map(|()| v).map_err(StoreError::from),
                Err(e) => Err(e),
            };
            match result {
                Err(e) if transient(&e) && attempt < TRANSACTION_RETRIES_MAX => {
                    attempt += 1;
                    tracing::debug!(attempt, error = %e, "running a transaction again");
                    // A short pause, longer each time, so that the winner can finish.
                    tokio::time::sleep(Duration::from_millis(u64::from(attempt) * 2)).await;
                }
                other => break other,
            }
        }
    }};
    ($store:expr, |$c:ident| $body:expr) => {
        transaction!(pool: $store.pool, |$c| $body)
    };
}

/// `on_connection!(store, |c| body)`: runs `body` on a pooled connection, outside any explicit
/// transaction (each statement sees the latest commits, as SQLite's readers do).
macro_rules! on_connection {
    ($store:expr, |$c:ident| $body:expr) => {{
        let mut conn = $store.pool.acquire().await?;
        typed(async {
            let $c: &mut PgConnection = &mut conn;
            $body
        })
        .await
    }};
}

/// Applies pending migrations in one transaction, under an advisory lock, so that nodes that
/// start at once apply each migration once and none serves before the schema is complete.
async fn migrate(pool: &PgPool) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS tocsin_migrations (
           version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    let applied: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM tocsin_migrations")
            .fetch_one(&mut *tx)
            .await?;
    let applied = usize::try_from(applied).map_err(|e| StoreError::Backend(e.to_string()))?;
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "the database has schema version {applied}, newer than this binary knows ({}): upgrade Tocsin",
            MIGRATIONS.len()
        )));
    }
    for (i, (name, sql)) in MIGRATIONS.iter().enumerate().skip(applied) {
        sqlx::raw_sql(*sql).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO tocsin_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(i64::try_from(i + 1).map_err(|e| StoreError::Backend(e.to_string()))?)
        .bind(*name)
        .bind(ms(Timestamp::now()))
        .execute(&mut *tx)
        .await?;
        tracing::info!(version = i + 1, name, "applied database migration");
    }
    tx.commit().await?;
    Ok(())
}

macro_rules! user_cols {
    () => {
        "id, name, email, time_zone, role, created_at, deactivated_at"
    };
}

fn user_row(r: &PgRow) -> Result<User> {
    Ok(User {
        id: UserId(r.try_get(0)?),
        name: r.try_get(1)?,
        email: r.try_get(2)?,
        time_zone: r.try_get(3)?,
        role: word(r.try_get(4)?, Role::parse)?,
        created_at: ts(r.try_get(5)?),
        active: r.try_get::<Option<i64>, _>(6)?.is_none(),
    })
}

macro_rules! token_cols {
    () => {
        "id, name, role, user_id, created_at, last_used_at"
    };
}

fn token_row(r: &PgRow) -> Result<ApiToken> {
    Ok(ApiToken {
        id: TokenId(r.try_get(0)?),
        name: r.try_get(1)?,
        role: word(r.try_get(2)?, Role::parse)?,
        user_id: r.try_get::<Option<String>, _>(3)?.map(UserId),
        created_at: ts(r.try_get(4)?),
        last_used_at: opt_ts(r.try_get(5)?),
    })
}

macro_rules! service_cols {
    () => {
        "id, name, description, team_id, escalation_policy_id, created_at, ack_timeout_minutes"
    };
}

fn service_row(r: &PgRow) -> Result<Service> {
    Ok(Service {
        id: ServiceId(r.try_get(0)?),
        name: r.try_get(1)?,
        description: r.try_get(2)?,
        team_id: r.try_get::<Option<String>, _>(3)?.map(TeamId),
        escalation_policy_id: r.try_get(4)?,
        created_at: ts(r.try_get(5)?),
        ack_timeout_minutes: opt_u32_at(r, 6)?,
    })
}

macro_rules! integration_cols {
    () => {
        "id, service_id, type, name, key, rate_per_second, rate_burst, created_at"
    };
}

fn integration_row(r: &PgRow) -> Result<Integration> {
    let rate = opt_u32_at(r, 5)?;
    let burst = opt_u32_at(r, 6)?;
    Ok(Integration {
        id: IntegrationId(r.try_get(0)?),
        service_id: ServiceId(r.try_get(1)?),
        kind: word(r.try_get(2)?, IntegrationType::parse)?,
        name: r.try_get(3)?,
        key: r.try_get(4)?,
        rate_limit: rate.map(|per_second| RateLimit {
            per_second,
            burst: burst.unwrap_or(per_second),
        }),
        created_at: ts(r.try_get(7)?),
    })
}

macro_rules! incident_cols {
    () => {
        "id, number, title, status, urgency, severity, service_id, dedup_key, alert_count, \
         created_at, acknowledged_at, resolved_at"
    };
}

fn incident_row(r: &PgRow) -> Result<Incident> {
    Ok(Incident {
        id: IncidentId(r.try_get(0)?),
        number: r.try_get(1)?,
        title: r.try_get(2)?,
        status: word(r.try_get(3)?, IncidentStatus::parse)?,
        urgency: word(r.try_get(4)?, Urgency::parse)?,
        severity: word(r.try_get(5)?, Severity::parse)?,
        service_id: ServiceId(r.try_get(6)?),
        dedup_key: r.try_get(7)?,
        alert_count: r.try_get(8)?,
        created_at: ts(r.try_get(9)?),
        acknowledged_at: opt_ts(r.try_get(10)?),
        resolved_at: opt_ts(r.try_get(11)?),
        assignees: Vec::new(),
    })
}

async fn with_assignees(c: &mut PgConnection, mut incident: Incident) -> Result<Incident> {
    incident.assignees = sqlx::query_scalar::<_, String>(
        r#"SELECT user_id FROM incident_assignees WHERE incident_id = $1 ORDER BY user_id COLLATE "C""#,
    )
    .bind(incident.id.as_str())
    .fetch_all(&mut *c)
    .await?
    .into_iter()
    .map(UserId)
    .collect();
    Ok(incident)
}

async fn load_incident(c: &mut PgConnection, id: &str) -> Result<Incident> {
    let row = sqlx::query(concat!(
        "SELECT ",
        incident_cols!(),
        " FROM incidents WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *c)
    .await?
    .ok_or(StoreError::NotFound("incident"))?;
    with_assignees(c, incident_row(&row)?).await
}

/// Loads an incident and locks its row until the transaction ends, so that a decision taken on
/// its status holds when the change is written (as SQLite's single writer guarantees).
async fn lock_incident(c: &mut PgConnection, id: &str) -> Result<Incident> {
    let row = sqlx::query(concat!(
        "SELECT ",
        incident_cols!(),
        " FROM incidents WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *c)
    .await?
    .ok_or(StoreError::NotFound("incident"))?;
    with_assignees(c, incident_row(&row)?).await
}

/// The people an incident is with now: replaces its assignees.
async fn assign(c: &mut PgConnection, incident_id: &str, users: &[&str]) -> Result<()> {
    sqlx::query("DELETE FROM incident_assignees WHERE incident_id = $1")
        .bind(incident_id)
        .execute(&mut *c)
        .await?;
    for u in users {
        sqlx::query(
            "INSERT INTO incident_assignees (incident_id, user_id)
             SELECT $1, id FROM users WHERE id = $2 ON CONFLICT DO NOTHING",
        )
        .bind(incident_id)
        .bind(*u)
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

async fn incident_service(c: &mut PgConnection, incident_id: &str) -> Result<String> {
    Ok(
        sqlx::query_scalar("SELECT service_id FROM incidents WHERE id = $1")
            .bind(incident_id)
            .fetch_one(&mut *c)
            .await?,
    )
}

/// Queues one notification unless its idempotency key is taken; returns whether it was queued.
async fn queue_notification(
    c: &mut PgConnection,
    incident_id: &str,
    step: i64,
    n: &NewNotification,
    now: Timestamp,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO notifications (id, idempotency_key, incident_id, user_id, contact_method_id,
           step, state, due_at, created_at, priority)
         VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $8,
                 (SELECT CASE WHEN urgency = 'high' THEN 1 ELSE 0 END FROM incidents WHERE id = $3))
         ON CONFLICT DO NOTHING",
    )
    .bind(new_id())
    .bind(&n.idempotency_key)
    .bind(incident_id)
    .bind(n.user_id.as_str())
    .bind(&n.contact_method_id)
    .bind(step)
    .bind(ms(n.due_at))
    .bind(ms(now))
    .execute(&mut *c)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// A service's team and escalation policy, when it names them, must exist.
async fn check_service_links(c: &mut PgConnection, s: &NewService) -> Result<()> {
    if let Some(t) = &s.team_id {
        load_team(c, t.as_str()).await?;
    }
    if let Some(p) = &s.escalation_policy_id {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM escalation_policies WHERE id = $1)")
                .bind(p)
                .fetch_one(&mut *c)
                .await?;
        if !exists {
            return Err(StoreError::Invalid {
                field: "escalation_policy_id".into(),
                message: "names no existing escalation policy".into(),
            });
        }
    }
    Ok(())
}

/// Records one escalation step inside the transaction (see `Store::record_escalation_steps`).
async fn record_step(c: &mut PgConnection, step: &EscalationStep, now: Timestamp) -> Result<bool> {
    let id = step.incident_id.as_str();
    // The claim row stays locked until the commit: an acknowledgement waits for this step to
    // be recorded, then cancels what it queued.
    let held = sqlx::query(
        "SELECT 1 FROM escalations e JOIN incidents i ON i.id = e.incident_id
         WHERE e.incident_id = $1 AND e.claimed_by = $2 AND i.status = 'triggered'
         FOR UPDATE OF e",
    )
    .bind(id)
    .bind(&step.node)
    .fetch_optional(&mut *c)
    .await?
    .is_some();
    if !held {
        return Ok(false);
    }
    // A service in maintenance pages nobody: the step waits for the window's end.
    if status::hold_step_for_maintenance(c, id, now).await? {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE escalations SET level = $2, round = $3, step = $4, due_at = $5,
           claimed_by = NULL, claimed_until = NULL, manual_level = NULL, reassign_to = NULL
         WHERE incident_id = $1",
    )
    .bind(id)
    .bind(i64::from(step.cursor.level))
    .bind(i64::from(step.cursor.round))
    .bind(i64::from(step.cursor.step))
    .bind(step.next_due.map(ms))
    .execute(&mut *c)
    .await?;
    for n in &step.notifications {
        queue_notification(c, id, i64::from(step.cursor.step), n, now).await?;
    }
    // The incident is with whoever this step pages.
    let mut paged: Vec<&str> = step
        .notifications
        .iter()
        .map(|n| n.user_id.as_str())
        .collect();
    paged.dedup();
    if !paged.is_empty() {
        assign(c, id, &paged).await?;
    }
    let service_id = incident_service(c, id).await?;
    insert_timeline(
        c,
        Entry {
            incident_id: Some(id),
            service_id: &service_id,
            at: now,
            kind: "escalated",
            actor: &Actor::system(),
            channel: Channel::System,
            message: &step.message,
        },
    )
    .await?;
    Ok(true)
}

/// Records one delivery attempt inside the transaction (see `Store::complete_notifications`).
async fn complete_one(c: &mut PgConnection, done: &Completion) -> Result<()> {
    let Completion {
        id,
        node,
        result,
        fallback,
        at: now,
    } = done;
    let now = *now;
    let row = sqlx::query(
        "SELECT n.incident_id, u.name, m.type, n.step FROM notifications n
         JOIN users u ON u.id = n.user_id JOIN contact_methods m ON m.id = n.contact_method_id
         WHERE n.id = $1 AND n.claimed_by = $2 AND n.state = 'sending'
         FOR UPDATE OF n",
    )
    .bind(id)
    .bind(node)
    .fetch_optional(&mut *c)
    .await?;
    let Some(row) = row else {
        return Ok(());
    };
    let incident_id: String = row.try_get(0)?;
    let user_name: String = row.try_get(1)?;
    let kind: String = row.try_get(2)?;
    let step: i64 = row.try_get(3)?;
    let still_paging: bool =
        sqlx::query_scalar("SELECT status = 'triggered' FROM incidents WHERE id = $1")
            .bind(&incident_id)
            .fetch_one(&mut *c)
            .await?;
    let (kind_word, message) = match result {
        DeliveryResult::Postpone { at, reserved } => {
            sqlx::query(
                "UPDATE notifications SET state = 'queued', due_at = $2, claimed_by = NULL,
                   claimed_until = NULL, reserved = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(ms(*at))
            .bind(*reserved)
            .execute(&mut *c)
            .await?;
            return Ok(());
        }
        DeliveryResult::Sent { provider_id } => {
            sqlx::query(
                "UPDATE notifications SET state = 'sent', attempts = attempts + 1, sent_at = $2,
                   provider_id = $3, claimed_by = NULL, claimed_until = NULL, last_error = NULL
                 WHERE id = $1",
            )
            .bind(id)
            .bind(ms(now))
            .bind(provider_id)
            .execute(&mut *c)
            .await?;
            ("notified", format!("Notified {user_name} by {kind}"))
        }
        DeliveryResult::Retry { error, .. } if !still_paging => {
            // Acknowledged or resolved while this attempt was in flight: stop here.
            sqlx::query(
                "UPDATE notifications SET state = 'cancelled', attempts = attempts + 1,
                   last_error = $2, claimed_by = NULL, claimed_until = NULL WHERE id = $1",
            )
            .bind(id)
            .bind(error)
            .execute(&mut *c)
            .await?;
            (
                "notification_cancelled",
                format!(
                    "Stopped notifying {user_name} by {kind}: the incident is no longer triggered"
                ),
            )
        }
        DeliveryResult::Retry { error, at } => {
            sqlx::query(
                "UPDATE notifications SET state = 'queued', attempts = attempts + 1, due_at = $2,
                   last_error = $3, claimed_by = NULL, claimed_until = NULL WHERE id = $1",
            )
            .bind(id)
            .bind(ms(*at))
            .bind(error)
            .execute(&mut *c)
            .await?;
            (
                "notification_retry",
                format!("Notifying {user_name} by {kind} failed ({error}); retrying at {at}"),
            )
        }
        DeliveryResult::Failed { error } => {
            sqlx::query(
                "UPDATE notifications SET state = 'failed', attempts = attempts + 1,
                   last_error = $2, claimed_by = NULL, claimed_until = NULL WHERE id = $1",
            )
            .bind(id)
            .bind(error)
            .execute(&mut *c)
            .await?;
            (
                "notification_failed",
                format!("Notifying {user_name} by {kind} failed for good ({error})"),
            )
        }
    };
    let service_id = incident_service(c, &incident_id).await?;
    insert_timeline(
        c,
        Entry {
            incident_id: Some(&incident_id),
            service_id: &service_id,
            at: now,
            kind: kind_word,
            actor: &Actor::system(),
            channel: Channel::System,
            message: &message,
        },
    )
    .await?;
    if let Some(n) = fallback.as_ref().filter(|_| still_paging)
        && queue_notification(c, &incident_id, step, n, now).await?
    {
        let kind: String = sqlx::query_scalar("SELECT type FROM contact_methods WHERE id = $1")
            .bind(&n.contact_method_id)
            .fetch_optional(&mut *c)
            .await?
            .unwrap_or_else(|| "another method".into());
        insert_timeline(
            c,
            Entry {
                incident_id: Some(&incident_id),
                service_id: &service_id,
                at: now,
                kind: "notification_fallback",
                actor: &Actor::system(),
                channel: Channel::System,
                message: &format!("Falling back to {user_name}'s {kind}"),
            },
        )
        .await?;
    }
    Ok(())
}

/// A new incident on a service with an escalation policy is due for its first step now, or at
/// the end of the maintenance window the service is in.
async fn start_paging(
    c: &mut PgConnection,
    incident_id: &str,
    service_id: &str,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO escalations (incident_id, policy_id, due_at, priority)
         SELECT $1, escalation_policy_id, $3,
                (SELECT CASE WHEN urgency = 'high' THEN 1 ELSE 0 END FROM incidents WHERE id = $1)
         FROM services WHERE id = $2 AND escalation_policy_id IS NOT NULL",
    )
    .bind(incident_id)
    .bind(service_id)
    .bind(ms(now))
    .execute(&mut *c)
    .await?;
    // An active maintenance window on the service holds the first step until it ends.
    status::hold_for_maintenance(c, incident_id, service_id, now).await
}

/// Acknowledged (`acknowledged_at` given) or resolved (`None`): no further step, and nothing
/// queued goes out. An acknowledgement on a service with an acknowledgement timeout arms it.
async fn stop_paging(
    c: &mut PgConnection,
    incident_id: &str,
    acknowledged_at: Option<Timestamp>,
) -> Result<()> {
    sqlx::query(
        "UPDATE escalations SET due_at = NULL, claimed_by = NULL, claimed_until = NULL,
           manual_level = NULL, snoozed = FALSE,
           ack_timeout_at = $2 + (SELECT s.ack_timeout_minutes * 60000 FROM incidents i
                                  JOIN services s ON s.id = i.service_id WHERE i.id = $1)
         WHERE incident_id = $1",
    )
    .bind(incident_id)
    .bind(acknowledged_at.map(ms))
    .execute(&mut *c)
    .await?;
    sqlx::query(
        "UPDATE notifications SET state = 'cancelled' WHERE incident_id = $1 AND state = 'queued'",
    )
    .bind(incident_id)
    .execute(&mut *c)
    .await?;
    Ok(())
}

async fn user_exists(c: &mut PgConnection, user: &str) -> Result<bool> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)")
            .bind(user)
            .fetch_one(&mut *c)
            .await?,
    )
}

/// A user named by the path or the caller: 404 when missing.
async fn user_found(c: &mut PgConnection, user: &str) -> Result<()> {
    if user_exists(c, user).await? {
        Ok(())
    } else {
        Err(StoreError::NotFound("user"))
    }
}

/// A user named by a field of the request: 400 naming the field when missing.
async fn user_must_exist(c: &mut PgConnection, user: &UserId, field: &str) -> Result<()> {
    if user_exists(c, user.as_str()).await? {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            field: field.to_owned(),
            message: "names no existing user".into(),
        })
    }
}

async fn load_schedule(c: &mut PgConnection, id: &str) -> Result<ScheduleRecord> {
    let row = sqlx::query("SELECT id, spec, created_at FROM schedules WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .ok_or(StoreError::NotFound("schedule"))?;
    let spec: String = row.try_get(1)?;
    Ok(ScheduleRecord::new(
        row.try_get(0)?,
        serde_json::from_str(&spec)
            .map_err(|e| StoreError::Backend(format!("stored schedule: {e}")))?,
        ts(row.try_get(2)?),
    ))
}

/// Fails naming the field when a user or schedule a policy names does not exist.
async fn policy_refs_exist(c: &mut PgConnection, refs: &[crate::edits::PolicyRef]) -> Result<()> {
    for (kind, id, field) in refs {
        let sql = if *kind == "user" {
            "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)"
        } else {
            "SELECT EXISTS (SELECT 1 FROM schedules WHERE id = $1)"
        };
        let exists: bool = sqlx::query_scalar(sql).bind(id).fetch_one(&mut *c).await?;
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
async fn index_policy_refs(
    c: &mut PgConnection,
    id: &str,
    refs: &[crate::edits::PolicyRef],
) -> Result<()> {
    sqlx::query("DELETE FROM escalation_policy_refs WHERE policy_id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?;
    for (kind, ref_id, _) in refs {
        sqlx::query(
            "INSERT INTO escalation_policy_refs (policy_id, ref_type, ref_id)
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(*kind)
        .bind(ref_id)
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

/// Loads a schedule and locks its row until the transaction ends: its document (layers and
/// overrides) is rewritten whole, so two changes at once must not lose one another.
async fn lock_schedule(c: &mut PgConnection, id: &str) -> Result<ScheduleRecord> {
    sqlx::query("SELECT 1 FROM schedules WHERE id = $1 FOR UPDATE")
        .bind(id)
        .execute(&mut *c)
        .await?;
    load_schedule(c, id).await
}

async fn load_policy(c: &mut PgConnection, id: &str) -> Result<EscalationPolicy> {
    let row = sqlx::query(
        "SELECT id, name, description, repeat, levels, created_at
         FROM escalation_policies WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *c)
    .await?
    .ok_or(StoreError::NotFound("escalation policy"))?;
    let levels: String = row.try_get(4)?;
    Ok(EscalationPolicy {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        description: row.try_get(2)?,
        repeat: u32_at(&row, 3)?,
        levels: serde_json::from_str(&levels)
            .map_err(|e| StoreError::Backend(format!("stored escalation policy: {e}")))?,
        created_at: ts(row.try_get(5)?),
    })
}

macro_rules! contact_cols {
    () => {
        "id, user_id, type, address, label, verified_at, created_at"
    };
}

fn contact_row(r: &PgRow) -> Result<ContactMethod> {
    Ok(ContactMethod {
        id: r.try_get(0)?,
        user_id: UserId(r.try_get(1)?),
        kind: word(r.try_get(2)?, tocsin_core::contact::ContactType::parse)?,
        address: r.try_get(3)?,
        label: r.try_get(4)?,
        verified: r.try_get::<Option<i64>, _>(5)?.is_some(),
        created_at: ts(r.try_get(6)?),
    })
}

async fn load_contact(c: &mut PgConnection, id: &str) -> Result<ContactMethod> {
    let row = sqlx::query(concat!(
        "SELECT ",
        contact_cols!(),
        " FROM contact_methods WHERE id = $1"
    ))
    .bind(id)
    .fetch_one(&mut *c)
    .await?;
    contact_row(&row)
}

macro_rules! rule_cols {
    () => {
        "id, user_id, contact_method_id, delay_minutes, urgency, created_at, repeat_every_minutes"
    };
}

fn rule_row(r: &PgRow) -> Result<NotificationRule> {
    Ok(NotificationRule {
        id: r.try_get(0)?,
        user_id: UserId(r.try_get(1)?),
        contact_method_id: r.try_get(2)?,
        delay_minutes: u32_at(r, 3)?,
        urgency: match r.try_get::<Option<String>, _>(4)? {
            Some(u) => Some(word(u, Urgency::parse)?),
            None => None,
        },
        created_at: ts(r.try_get(5)?),
        // An INTEGER column (INT4): reading it as i64 fails once a rule repeats.
        repeat_every_minutes: r
            .try_get::<Option<i32>, _>(6)?
            .and_then(|n| u32::try_from(n).ok()),
    })
}

async fn load_team(c: &mut PgConnection, id: &str) -> Result<Team> {
    let row = sqlx::query("SELECT name, description, created_at FROM teams WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .ok_or(StoreError::NotFound("team"))?;
    let members = sqlx::query_scalar::<_, String>(
        r#"SELECT user_id FROM team_members WHERE team_id = $1 ORDER BY user_id COLLATE "C""#,
    )
    .bind(id)
    .fetch_all(&mut *c)
    .await?
    .into_iter()
    .map(UserId)
    .collect();
    Ok(Team {
        id: TeamId(id.to_owned()),
        name: row.try_get(0)?,
        description: row.try_get(1)?,
        members,
        created_at: ts(row.try_get(2)?),
    })
}

/// Every id the query lists, in its order.
async fn ids(c: &mut PgConnection, sql: &'static str) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(sql).fetch_all(&mut *c).await?)
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

async fn insert_timeline(c: &mut PgConnection, e: Entry<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO timeline (incident_id, service_id, at, kind, actor_id, actor_name, channel, message)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(e.incident_id)
    .bind(e.service_id)
    .bind(ms(e.at))
    .bind(e.kind)
    .bind(&e.actor.id)
    .bind(&e.actor.name)
    .bind(e.channel.as_str())
    .bind(e.message)
    .execute(&mut *c)
    .await?;
    Ok(())
}

async fn insert_user(c: &mut PgConnection, u: &NewUser, now: Timestamp) -> Result<User> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO users (id, email, name, time_zone, role, password_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(&u.email)
    .bind(&u.name)
    .bind(&u.time_zone)
    .bind(u.role.as_str())
    .bind(&u.password_hash)
    .bind(ms(now))
    .execute(&mut *c)
    .await
    .map_err(|e| conflict_as(e, "a user with this email already exists"))?;
    let row = sqlx::query(concat!(
        "SELECT ",
        user_cols!(),
        " FROM users WHERE id = $1"
    ))
    .bind(&id)
    .fetch_one(&mut *c)
    .await?;
    user_row(&row)
}

/// Acknowledges a locked, open incident: stops paging and says who did it.
async fn acknowledge_locked(
    c: &mut PgConnection,
    inc: &Incident,
    by: &Actor,
    channel: Channel,
    message: &str,
    now: Timestamp,
) -> Result<()> {
    let id = inc.id.as_str();
    sqlx::query(
        "UPDATE incidents SET status = 'acknowledged', acknowledged_at = $2, updated_at = $2
         WHERE id = $1",
    )
    .bind(id)
    .bind(ms(now))
    .execute(&mut *c)
    .await?;
    stop_paging(c, id, Some(now)).await?;
    insert_timeline(
        c,
        Entry {
            incident_id: Some(id),
            service_id: inc.service_id.as_str(),
            at: now,
            kind: "acknowledged",
            actor: by,
            channel,
            message,
        },
    )
    .await
}

#[async_trait]
impl Store for PgStore {
    async fn ingest(&self, batch: Vec<IngestItem>) -> Result<Vec<IngestOutcome>> {
        use std::sync::atomic::Ordering::Relaxed;
        let keys = ingest::lock_keys(&batch);
        if ingest::looks_new(&batch) {
            let skip = self.new_batches_skip.load(Relaxed);
            if skip > 0 {
                self.new_batches_skip.store(skip - 1, Relaxed);
            } else {
                let mut c = self.ingest_pool.acquire().await?;
                if let Some(out) = ingest::apply_new(&mut c, &keys, &batch).await {
                    return Ok(out);
                }
                self.new_batches_skip.store(NEW_BATCHES_SKIPPED, Relaxed);
            }
        }
        transaction!(pool: self.ingest_pool, |c| ingest::apply(
            c, &keys, &batch
        )
        .await)
    }

    fn ingest_writers(&self) -> usize {
        INGEST_WRITERS
    }

    async fn create_user(&self, u: NewUser, now: Timestamp) -> Result<User> {
        transaction!(self, |c| insert_user(c, &u, now).await)
    }

    async fn get_user(&self, id: &UserId) -> Result<User> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("user"))?;
        user_row(&row)
    }

    async fn set_user_role(&self, id: &UserId, role: Role) -> Result<User> {
        transaction!(self, |c| {
            // Admin changes are serialised, so two demotions cannot each see the other admin.
            sqlx::query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *c)
                .await?;
            let row = sqlx::query(concat!(
                "SELECT ",
                user_cols!(),
                " FROM users WHERE id = $1"
            ))
            .bind(id.as_str())
            .fetch_optional(&mut *c)
            .await?
            .ok_or(StoreError::NotFound("user"))?;
            let user = user_row(&row)?;
            if user.role == Role::Admin && role != Role::Admin {
                let admins: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM users WHERE role = 'admin' AND deactivated_at IS NULL",
                )
                .fetch_one(&mut *c)
                .await?;
                if admins <= 1 {
                    return Err(StoreError::Conflict(
                        "this is the last admin: make another person admin first".into(),
                    ));
                }
            }
            let row = sqlx::query(concat!(
                "UPDATE users SET role = $2 WHERE id = $1 RETURNING ",
                user_cols!()
            ))
            .bind(id.as_str())
            .bind(role.as_str())
            .fetch_one(&mut *c)
            .await?;
            user_row(&row)
        })
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>> {
        sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users WHERE lower(email) = lower($1)"
        ))
        .bind(email)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(user_row)
        .transpose()
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            r#" FROM users ORDER BY name COLLATE "C", id COLLATE "C""#
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(user_row)
        .collect()
    }

    async fn count_users(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(n.unsigned_abs())
    }

    async fn create_team(&self, t: NewTeam, now: Timestamp) -> Result<Team> {
        transaction!(self, |c| {
            let id = new_id();
            sqlx::query(
                "INSERT INTO teams (id, name, description, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&id)
            .bind(&t.name)
            .bind(&t.description)
            .bind(ms(now))
            .execute(&mut *c)
            .await
            .map_err(|e| conflict_as(e, "a team with this name already exists"))?;
            load_team(c, &id).await
        })
    }

    async fn get_team(&self, id: &TeamId) -> Result<Team> {
        on_connection!(self, |c| load_team(c, id.as_str()).await)
    }

    async fn list_teams(&self) -> Result<Vec<Team>> {
        on_connection!(self, |c| {
            let mut out = Vec::new();
            for id in ids(
                c,
                r#"SELECT id FROM teams ORDER BY lower(name) COLLATE "C""#,
            )
            .await?
            {
                out.push(load_team(c, &id).await?);
            }
            Ok(out)
        })
    }

    async fn add_team_member(&self, team: &TeamId, user: &UserId) -> Result<Team> {
        transaction!(self, |c| {
            load_team(c, team.as_str()).await?;
            user_found(c, user.as_str()).await?;
            sqlx::query(
                "INSERT INTO team_members (team_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(team.as_str())
            .bind(user.as_str())
            .execute(&mut *c)
            .await?;
            load_team(c, team.as_str()).await
        })
    }

    async fn create_api_token(&self, t: NewApiToken, now: Timestamp) -> Result<ApiToken> {
        transaction!(self, |c| {
            if let Some(u) = &t.user_id {
                user_found(c, u.as_str()).await?;
            }
            let id = new_id();
            sqlx::query(
                "INSERT INTO api_tokens (id, name, role, user_id, token_hash, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&id)
            .bind(&t.name)
            .bind(t.role.as_str())
            .bind(t.user_id.as_ref().map(UserId::as_str))
            .bind(&t.token_hash)
            .bind(ms(now))
            .execute(&mut *c)
            .await?;
            let row = sqlx::query(concat!(
                "SELECT ",
                token_cols!(),
                " FROM api_tokens WHERE id = $1"
            ))
            .bind(&id)
            .fetch_one(&mut *c)
            .await?;
            token_row(&row)
        })
    }

    async fn find_api_token(&self, token_hash: &str, now: Timestamp) -> Result<Option<ApiToken>> {
        let found = sqlx::query(concat!(
            "SELECT ",
            token_cols!(),
            " FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM users u
                               WHERE u.id = api_tokens.user_id AND u.deactivated_at IS NOT NULL)"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(token_row)
        .transpose()?;
        // Record use at most once a minute, so that authentication stays a read.
        if let Some(t) = &found
            && t.last_used_at
                .is_none_or(|u| now.duration_since(u).as_secs() >= 60)
        {
            sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
                .bind(t.id.as_str())
                .bind(ms(now))
                .execute(&self.pool)
                .await?;
        }
        Ok(found)
    }

    async fn list_api_tokens(&self) -> Result<Vec<ApiToken>> {
        sqlx::query(concat!(
            "SELECT ",
            token_cols!(),
            " FROM api_tokens WHERE revoked_at IS NULL ORDER BY created_at"
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(token_row)
        .collect()
    }

    async fn revoke_api_token(&self, id: &TokenId, now: Timestamp) -> Result<()> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id.as_str())
        .bind(ms(now))
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("API token"));
        }
        Ok(())
    }

    async fn create_setup_token(
        &self,
        hash: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(hash)
        .bind(ms(now))
        .bind(ms(expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn setup_token_valid(&self, hash: &str, now: Timestamp) -> Result<bool> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM setup_tokens WHERE token_hash = $1 AND used_at IS NULL
               AND expires_at > $2) AND NOT EXISTS (SELECT 1 FROM users)",
        )
        .bind(hash)
        .bind(ms(now))
        .fetch_one(&self.pool)
        .await?)
    }

    async fn complete_setup(&self, hash: &str, admin: NewUser, now: Timestamp) -> Result<User> {
        transaction!(self, |c| {
            // One first admin, even when two setup links are used at once on two nodes.
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(SETUP_LOCK)
                .execute(&mut *c)
                .await?;
            let done = sqlx::query(
                "UPDATE setup_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL
                   AND expires_at > $2 AND NOT EXISTS (SELECT 1 FROM users)",
            )
            .bind(hash)
            .bind(ms(now))
            .execute(&mut *c)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound(
                    "setup link (used, expired, or an admin exists)",
                ));
            }
            insert_user(c, &admin, now).await
        })
    }

    async fn create_service(&self, s: NewService, now: Timestamp) -> Result<Service> {
        transaction!(self, |c| {
            check_service_links(c, &s).await?;
            let id = new_id();
            sqlx::query(
                "INSERT INTO services (id, name, description, team_id, escalation_policy_id,
                   created_at, ack_timeout_minutes) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&id)
            .bind(&s.name)
            .bind(&s.description)
            .bind(s.team_id.as_ref().map(TeamId::as_str))
            .bind(&s.escalation_policy_id)
            .bind(ms(now))
            .bind(s.ack_timeout_minutes.map(i64::from))
            .execute(&mut *c)
            .await
            .map_err(|e| conflict_as(e, "a service with this name already exists"))?;
            let row = sqlx::query(concat!(
                "SELECT ",
                service_cols!(),
                " FROM services WHERE id = $1"
            ))
            .bind(&id)
            .fetch_one(&mut *c)
            .await?;
            service_row(&row)
        })
    }

    async fn update_service(&self, id: &ServiceId, s: NewService) -> Result<Service> {
        transaction!(self, |c| {
            check_service_links(c, &s).await?;
            let changed = sqlx::query(
                "UPDATE services SET name = $2, description = $3, team_id = $4,
                   escalation_policy_id = $5, ack_timeout_minutes = $6 WHERE id = $1",
            )
            .bind(id.as_str())
            .bind(&s.name)
            .bind(&s.description)
            .bind(s.team_id.as_ref().map(TeamId::as_str))
            .bind(&s.escalation_policy_id)
            .bind(s.ack_timeout_minutes.map(i64::from))
            .execute(&mut *c)
            .await
            .map_err(|e| conflict_as(e, "a service with this name already exists"))?
            .rows_affected();
            if changed == 0 {
                return Err(StoreError::NotFound("service"));
            }
            let row = sqlx::query(concat!(
                "SELECT ",
                service_cols!(),
                " FROM services WHERE id = $1"
            ))
            .bind(id.as_str())
            .fetch_one(&mut *c)
            .await?;
            service_row(&row)
        })
    }

    async fn get_service(&self, id: &ServiceId) -> Result<Service> {
        let row = sqlx::query(concat!(
            "SELECT ",
            service_cols!(),
            " FROM services WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("service"))?;
        service_row(&row)
    }

    async fn list_services(&self) -> Result<Vec<Service>> {
        sqlx::query(concat!(
            "SELECT ",
            service_cols!(),
            r#" FROM services ORDER BY lower(name) COLLATE "C""#
        ))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(service_row)
        .collect()
    }

    async fn create_integration(&self, i: NewIntegration, now: Timestamp) -> Result<Integration> {
        transaction!(self, |c| {
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM services WHERE id = $1)")
                    .bind(i.service_id.as_str())
                    .fetch_one(&mut *c)
                    .await?;
            if !exists {
                return Err(StoreError::NotFound("service"));
            }
            let id = new_id();
            sqlx::query(
                "INSERT INTO integrations (id, service_id, type, name, key, rate_per_second,
                   rate_burst, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&id)
            .bind(i.service_id.as_str())
            .bind(i.kind.as_str())
            .bind(&i.name)
            .bind(&i.key)
            .bind(i.rate_limit.map(|r| i64::from(r.per_second)))
            .bind(i.rate_limit.map(|r| i64::from(r.burst)))
            .bind(ms(now))
            .execute(&mut *c)
            .await?;
            let row = sqlx::query(concat!(
                "SELECT ",
                integration_cols!(),
                " FROM integrations WHERE id = $1"
            ))
            .bind(&id)
            .fetch_one(&mut *c)
            .await?;
            integration_row(&row)
        })
    }

    async fn list_integrations(&self, service: &ServiceId) -> Result<Vec<Integration>> {
        sqlx::query(concat!(
            "SELECT ",
            integration_cols!(),
            " FROM integrations WHERE service_id = $1 ORDER BY created_at"
        ))
        .bind(service.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(integration_row)
        .collect()
    }

    async fn find_integration_by_key(&self, key: &str) -> Result<Option<Integration>> {
        sqlx::query(concat!(
            "SELECT ",
            integration_cols!(),
            " FROM integrations WHERE key = $1"
        ))
        .bind(key)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(integration_row)
        .transpose()
    }

    async fn delete_integration(&self, id: &IntegrationId) -> Result<()> {
        let done = sqlx::query("DELETE FROM integrations WHERE id = $1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("integration"));
        }
        Ok(())
    }

    async fn list_change_events(
        &self,
        service: &ServiceId,
        limit: u32,
    ) -> Result<Vec<ChangeRecord>> {
        sqlx::query(
            r#"SELECT id, service_id, summary, source, "timestamp", custom_details, links
               FROM change_events WHERE service_id = $1 ORDER BY "timestamp" DESC LIMIT $2"#,
        )
        .bind(service.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(ChangeRecord {
                id: r.try_get(0)?,
                service_id: ServiceId(r.try_get(1)?),
                summary: r.try_get(2)?,
                source: r.try_get(3)?,
                timestamp: ts(r.try_get(4)?),
                custom_details: r
                    .try_get::<Option<String>, _>(5)?
                    .and_then(|s| serde_json::from_str(&s).ok()),
                links: from_json(r.try_get(6)?),
            })
        })
        .collect()
    }

    async fn create_escalation_policy(
        &self,
        p: NewEscalationPolicy,
        now: Timestamp,
    ) -> Result<EscalationPolicy> {
        let refs = crate::edits::policy_refs(&p.levels);
        transaction!(self, |c| {
            policy_refs_exist(c, &refs).await?;
            let id = new_id();
            sqlx::query(
                "INSERT INTO escalation_policies (id, name, description, repeat, levels, created_at,
                   updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
            )
            .bind(&id)
            .bind(&p.name)
            .bind(&p.description)
            .bind(i64::from(p.repeat))
            .bind(json_or_null(&p.levels))
            .bind(ms(now))
            .execute(&mut *c)
            .await
            .map_err(|e| conflict_as(e, "an escalation policy with this name already exists"))?;
            index_policy_refs(c, &id, &refs).await?;
            load_policy(c, &id).await
        })
    }

    async fn update_escalation_policy(
        &self,
        id: &str,
        p: NewEscalationPolicy,
        now: Timestamp,
    ) -> Result<EscalationPolicy> {
        let refs = crate::edits::policy_refs(&p.levels);
        transaction!(self, |c| {
            let found = sqlx::query("SELECT 1 FROM escalation_policies WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *c)
                .await?;
            if found.is_none() {
                return Err(StoreError::NotFound("escalation policy"));
            }
            policy_refs_exist(c, &refs).await?;
            sqlx::query(
                "UPDATE escalation_policies SET name = $2, description = $3, repeat = $4,
                   levels = $5, updated_at = $6 WHERE id = $1",
            )
            .bind(id)
            .bind(&p.name)
            .bind(&p.description)
            .bind(i64::from(p.repeat))
            .bind(json_or_null(&p.levels))
            .bind(ms(now))
            .execute(&mut *c)
            .await
            .map_err(|e| conflict_as(e, "an escalation policy with this name already exists"))?;
            index_policy_refs(c, id, &refs).await?;
            load_policy(c, id).await
        })
    }

    async fn get_escalation_policy(&self, id: &str) -> Result<EscalationPolicy> {
        on_connection!(self, |c| load_policy(c, id).await)
    }

    async fn list_escalation_policies(&self) -> Result<Vec<EscalationPolicy>> {
        on_connection!(self, |c| {
            let mut out = Vec::new();
            let sql = r#"SELECT id FROM escalation_policies ORDER BY lower(name) COLLATE "C""#;
            for id in ids(c, sql).await? {
                out.push(load_policy(c, &id).await?);
            }
            Ok(out)
        })
    }

    async fn create_contact_method(
        &self,
        m: NewContactMethod,
        now: Timestamp,
    ) -> Result<ContactMethod> {
        transaction!(self, |c| {
            user_found(c, m.user_id.as_str()).await?;
            let id = new_id();
            let verified_at = (!m.kind.needs_verification()).then(|| ms(now));
            sqlx::query(
                "INSERT INTO contact_methods (id, user_id, type, address, label, verified_at,
                   created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&id)
            .bind(m.user_id.as_str())
            .bind(m.kind.as_str())
            .bind(&m.address)
            .bind(&m.label)
            .bind(verified_at)
            .bind(ms(now))
            .execute(&mut *c)
            .await
            .map_err(|e| conflict_as(e, "this user already has this contact method"))?;
            load_contact(c, &id).await
        })
    }

    async fn list_contact_methods(&self, user: &UserId) -> Result<Vec<ContactMethod>> {
        sqlx::query(concat!(
            "SELECT ",
            contact_cols!(),
            r#" FROM contact_methods WHERE user_id = $1 ORDER BY created_at, id COLLATE "C""#
        ))
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(contact_row)
        .collect()
    }

    async fn get_contact_method(&self, user: &UserId, id: &str) -> Result<ContactMethod> {
        let row = sqlx::query(concat!(
            "SELECT ",
            contact_cols!(),
            " FROM contact_methods WHERE id = $1 AND user_id = $2"
        ))
        .bind(id)
        .bind(user.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("contact method"))?;
        contact_row(&row)
    }

    async fn start_verification(
        &self,
        user: &UserId,
        id: &str,
        code_hash: &str,
        expires: Timestamp,
    ) -> Result<ContactMethod> {
        transaction!(self, |c| {
            let done = sqlx::query(
                "UPDATE contact_methods SET verify_code_hash = $3, verify_expires_at = $4,
                   verify_attempts = 0
                 WHERE id = $1 AND user_id = $2 AND verified_at IS NULL",
            )
            .bind(id)
            .bind(user.as_str())
            .bind(code_hash)
            .bind(ms(expires))
            .execute(&mut *c)
            .await?;
            if done.rows_affected() == 0 {
                let exists: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM contact_methods WHERE id = $1 AND user_id = $2)",
                )
                .bind(id)
                .bind(user.as_str())
                .fetch_one(&mut *c)
                .await?;
                return Err(if exists {
                    StoreError::Conflict("this contact method is already verified".into())
                } else {
                    StoreError::NotFound("contact method")
                });
            }
            load_contact(c, id).await
        })
    }

    async fn finish_verification(
        &self,
        user: &UserId,
        id: &str,
        code_hash: &str,
        now: Timestamp,
    ) -> Result<ContactMethod> {
        // The closure's own result is committed either way: a wrong guess must be counted.
        transaction!(self, |c| {
            let row = sqlx::query(
                "SELECT verify_code_hash, verify_expires_at, verify_attempts, verified_at
                 FROM contact_methods WHERE id = $1 AND user_id = $2 FOR UPDATE",
            )
            .bind(id)
            .bind(user.as_str())
            .fetch_optional(&mut *c)
            .await?
            .ok_or(StoreError::NotFound("contact method"))?;
            let hash: Option<String> = row.try_get(0)?;
            let expires: Option<i64> = row.try_get(1)?;
            let attempts = u32_at(&row, 2)?;
            let verified: Option<i64> = row.try_get(3)?;
            if verified.is_some() {
                return Ok(Err(StoreError::Conflict(
                    "this contact method is already verified".into(),
                )));
            }
            let invalid = |m: &str| StoreError::Invalid {
                field: "code".into(),
                message: m.into(),
            };
            let (Some(hash), Some(expires)) = (hash, expires) else {
                return Ok(Err(invalid("was never sent: ask for a code first")));
            };
            if attempts >= VERIFY_ATTEMPTS_MAX {
                return Ok(Err(invalid(
                    "was guessed wrong too often: ask for a new code",
                )));
            }
            if ms(now) > expires {
                return Ok(Err(invalid("has expired: ask for a new code")));
            }
            if hash != code_hash {
                sqlx::query(
                    "UPDATE contact_methods SET verify_attempts = verify_attempts + 1 WHERE id = $1",
                )
                .bind(id)
                .execute(&mut *c)
                .await?;
                return Ok(Err(invalid("is wrong")));
            }
            sqlx::query(
                "UPDATE contact_methods SET verified_at = $2, verify_code_hash = NULL,
                   verify_expires_at = NULL WHERE id = $1",
            )
            .bind(id)
            .bind(ms(now))
            .execute(&mut *c)
            .await?;
            Ok(Ok(load_contact(c, id).await?))
        })?
    }

    async fn create_notification_rule(
        &self,
        r: NewNotificationRule,
        now: Timestamp,
    ) -> Result<NotificationRule> {
        transaction!(self, |c| {
            let owner: Option<(String, String)> =
                sqlx::query_as("SELECT user_id, type FROM contact_methods WHERE id = $1")
                    .bind(&r.contact_method_id)
                    .fetch_optional(&mut *c)
                    .await?;
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
            sqlx::query(
                "INSERT INTO notification_rules (id, user_id, contact_method_id, delay_minutes,
                   urgency, created_at, repeat_every_minutes) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&id)
            .bind(r.user_id.as_str())
            .bind(&r.contact_method_id)
            .bind(i64::from(r.delay_minutes))
            .bind(r.urgency.map(Urgency::as_str))
            .bind(ms(now))
            .bind(r.repeat_every_minutes.map(i64::from))
            .execute(&mut *c)
            .await?;
            let row = sqlx::query(concat!(
                "SELECT ",
                rule_cols!(),
                " FROM notification_rules WHERE id = $1"
            ))
            .bind(&id)
            .fetch_one(&mut *c)
            .await?;
            rule_row(&row)
        })
    }

    async fn list_notification_rules(&self, user: &UserId) -> Result<Vec<NotificationRule>> {
        sqlx::query(concat!(
            "SELECT ",
            rule_cols!(),
            r#" FROM notification_rules WHERE user_id = $1
                ORDER BY delay_minutes, created_at, id COLLATE "C""#
        ))
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rule_row)
        .collect()
    }

    async fn create_schedule(
        &self,
        spec: tocsin_core::schedule::ScheduleSpec,
        now: Timestamp,
    ) -> Result<ScheduleRecord> {
        transaction!(self, |c| {
            for (l, layer) in spec.layers.iter().enumerate() {
                for (u, user) in layer.users.iter().enumerate() {
                    user_must_exist(c, user, &format!("layers[{l}].users[{u}]")).await?;
                }
            }
            for (o, ov) in spec.overrides.iter().enumerate() {
                user_must_exist(c, &ov.user_id, &format!("overrides[{o}].user_id")).await?;
            }
            let id = new_id();
            sqlx::query(
                "INSERT INTO schedules (id, name, time_zone, spec, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $5)",
            )
            .bind(&id)
            .bind(&spec.name)
            .bind(&spec.time_zone)
            .bind(json_or_null(&spec))
            .bind(ms(now))
            .execute(&mut *c)
            .await
            .map_err(|e| conflict_as(e, "a schedule with this name already exists"))?;
            load_schedule(c, &id).await
        })
    }

    async fn get_schedule(&self, id: &str) -> Result<ScheduleRecord> {
        on_connection!(self, |c| load_schedule(c, id).await)
    }

    async fn list_schedules(&self) -> Result<Vec<ScheduleRecord>> {
        on_connection!(self, |c| {
            let mut out = Vec::new();
            let sql = r#"SELECT id FROM schedules ORDER BY lower(name) COLLATE "C""#;
            for id in ids(c, sql).await? {
                out.push(load_schedule(c, &id).await?);
            }
            Ok(out)
        })
    }

    async fn update_schedule(
        &self,
        id: &str,
        spec: tocsin_core::schedule::ScheduleSpec,
        now: Timestamp,
    ) -> Result<ScheduleRecord> {
        transaction!(self, |c| {
            // The row stays locked: an override added meanwhile is not lost.
            let record = lock_schedule(c, id).await?;
            for (l, layer) in spec.layers.iter().enumerate() {
                for (u, user) in layer.users.iter().enumerate() {
                    user_must_exist(c, user, &format!("layers[{l}].users[{u}]")).await?;
                }
            }
            let spec = crate::edits::edited_schedule(&record, spec.clone())?;
            sqlx::query(
                "UPDATE schedules SET name = $2, time_zone = $3, spec = $4, updated_at = $5
                 WHERE id = $1",
            )
            .bind(id)
            .bind(&spec.name)
            .bind(&spec.time_zone)
            .bind(json_or_null(&spec))
            .bind(ms(now))
            .execute(&mut *c)
            .await
            .map_err(|e| conflict_as(e, "a schedule with this name already exists"))?;
            load_schedule(c, id).await
        })
    }

    async fn delete_schedule_override(
        &self,
        id: &str,
        override_id: &str,
        now: Timestamp,
    ) -> Result<ScheduleRecord> {
        transaction!(self, |c| {
            let spec = crate::edits::without_override(&lock_schedule(c, id).await?, override_id)?;
            sqlx::query("UPDATE schedules SET spec = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(json_or_null(&spec))
                .bind(ms(now))
                .execute(&mut *c)
                .await?;
            load_schedule(c, id).await
        })
    }

    async fn add_schedule_override(
        &self,
        id: &str,
        o: tocsin_core::schedule::OverrideSpec,
        now: Timestamp,
    ) -> Result<ScheduleRecord> {
        transaction!(self, |c| {
            // The row stays locked: two overrides added at once both end up in the document.
            let record = lock_schedule(c, id).await?;
            user_must_exist(c, &o.user_id, "user_id").await?;
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
                .add_override(o.clone().parse().map_err(invalid)?)
                .map_err(invalid)?;
            schedule.prune_overrides(now);
            let spec = schedule.to_spec();
            sqlx::query("UPDATE schedules SET spec = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(json_or_null(&spec))
                .bind(ms(now))
                .execute(&mut *c)
                .await?;
            load_schedule(c, id).await
        })
    }

    async fn feed_token(
        &self,
        kind: &str,
        target: &str,
        fresh: &str,
        now: Timestamp,
    ) -> Result<String> {
        transaction!(self, |c| {
            sqlx::query(
                "INSERT INTO feed_tokens (token, kind, target_id, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
            )
            .bind(fresh)
            .bind(kind)
            .bind(target)
            .bind(ms(now))
            .execute(&mut *c)
            .await?;
            Ok(sqlx::query_scalar(
                "SELECT token FROM feed_tokens WHERE kind = $1 AND target_id = $2",
            )
            .bind(kind)
            .bind(target)
            .fetch_one(&mut *c)
            .await?)
        })
    }

    async fn revoke_feed(&self, kind: &str, target: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM feed_tokens WHERE kind = $1 AND target_id = $2")
            .bind(kind)
            .bind(target)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn find_feed(&self, token: &str) -> Result<Option<(String, String)>> {
        Ok(
            sqlx::query_as("SELECT kind, target_id FROM feed_tokens WHERE token = $1")
                .bind(token)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn claim_handoff_notice(
        &self,
        schedule: &str,
        user: &UserId,
        shift_start: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO handoff_notices (schedule_id, user_id, shift_start, sent_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(schedule)
        .bind(user.as_str())
        .bind(ms(shift_start))
        .bind(ms(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn claim_due_escalations(
        &self,
        node: &str,
        now: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> Result<Vec<DueEscalation>> {
        transaction!(self, |c| {
            // The high-urgency lane first, then the low one; each in due order. Rows another
            // node is claiming right now are skipped, not waited for: it takes them.
            let mut due: Vec<PgRow> = Vec::new();
            for lane in LANES {
                let room = i64::from(limit) - due.len() as i64;
                if room <= 0 {
                    break;
                }
                let mut rows = sqlx::query(
                    "WITH picked AS (
                       SELECT incident_id FROM escalations
                       WHERE priority = $3 AND due_at <= $1
                         AND (claimed_until IS NULL OR claimed_until < $1)
                       ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED)
                     UPDATE escalations e SET claimed_by = $4, claimed_until = $5
                     FROM picked WHERE e.incident_id = picked.incident_id
                     RETURNING e.incident_id, e.policy_id, e.level, e.round, e.step,
                               e.manual_level, e.due_at, e.reassign_to",
                )
                .bind(ms(now))
                .bind(room)
                .bind(lane)
                .bind(node)
                .bind(ms(until))
                .fetch_all(&mut *c)
                .await?;
                rows.sort_by_key(|r| r.try_get::<i64, _>(6).unwrap_or(0));
                due.extend(rows);
            }
            let mut out = Vec::with_capacity(due.len());
            for row in due {
                let incident_id: String = row.try_get(0)?;
                let policy_id: String = row.try_get(1)?;
                let incident = load_incident(c, &incident_id).await?;
                let policy = match load_policy(c, &policy_id).await {
                    Ok(p) => p,
                    // The policy is gone: nothing to escalate through.
                    Err(StoreError::NotFound(_)) => {
                        sqlx::query("UPDATE escalations SET due_at = NULL WHERE incident_id = $1")
                            .bind(&incident_id)
                            .execute(&mut *c)
                            .await?;
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let cursor = match (
                    opt_u32_at(&row, 2)?,
                    opt_u32_at(&row, 3)?,
                    opt_u32_at(&row, 4)?,
                ) {
                    (Some(level), Some(round), Some(step)) => {
                        Some(StepCursor { level, round, step })
                    }
                    _ => None,
                };
                out.push(DueEscalation {
                    incident,
                    policy,
                    cursor,
                    manual_level: opt_u32_at(&row, 5)?,
                    due_at: ts(row.try_get(6)?),
                    reassign_to: row.try_get::<Option<String>, _>(7)?.map(UserId),
                });
            }
            Ok(out)
        })
    }

    async fn record_escalation_steps(
        &self,
        steps: Vec<EscalationStep>,
        now: Timestamp,
    ) -> Result<Vec<bool>> {
        // One commit for the whole batch (group commit), as ingest does.
        transaction!(self, |c| {
            let mut out = Vec::with_capacity(steps.len());
            for step in &steps {
                out.push(record_step(c, step, now).await?);
            }
            Ok(out)
        })
    }

    async fn retrigger_expired_acknowledgements(&self, now: Timestamp) -> Result<Vec<IncidentId>> {
        transaction!(self, |c| {
            // Each expired timeout once, whichever node takes it.
            let due: Vec<(String, String, Option<i64>, bool)> = sqlx::query_as(
                "SELECT e.incident_id, i.service_id, s.ack_timeout_minutes, e.snoozed
                 FROM escalations e
                 JOIN incidents i ON i.id = e.incident_id JOIN services s ON s.id = i.service_id
                 WHERE e.ack_timeout_at IS NOT NULL AND e.ack_timeout_at <= $1
                 FOR UPDATE OF e, i SKIP LOCKED",
            )
            .bind(ms(now))
            .fetch_all(&mut *c)
            .await?;
            let mut out = Vec::new();
            for (incident_id, service_id, minutes, snoozed) in due {
                let status: String =
                    sqlx::query_scalar("SELECT status FROM incidents WHERE id = $1")
                        .bind(&incident_id)
                        .fetch_one(&mut *c)
                        .await?;
                sqlx::query(
                    "UPDATE escalations SET ack_timeout_at = NULL, snoozed = FALSE
                     WHERE incident_id = $1",
                )
                .bind(&incident_id)
                .execute(&mut *c)
                .await?;
                if status != "acknowledged" {
                    continue;
                }
                sqlx::query(
                    "UPDATE incidents SET status = 'triggered', acknowledged_at = NULL,
                       updated_at = $2 WHERE id = $1",
                )
                .bind(&incident_id)
                .bind(ms(now))
                .execute(&mut *c)
                .await?;
                // From the first level again, as a new step (new idempotency keys).
                sqlx::query(
                    "UPDATE escalations SET due_at = $2, manual_level = 0, claimed_by = NULL,
                       claimed_until = NULL WHERE incident_id = $1",
                )
                .bind(&incident_id)
                .bind(ms(now))
                .execute(&mut *c)
                .await?;
                let minutes = minutes.unwrap_or(0);
                insert_timeline(
                    c,
                    Entry {
                        incident_id: Some(&incident_id),
                        service_id: &service_id,
                        at: now,
                        kind: if snoozed {
                            "snooze_ended"
                        } else {
                            "ack_timeout"
                        },
                        actor: &Actor::system(),
                        channel: Channel::System,
                        message: &if snoozed {
                            "Snooze ended and not resolved: triggered again".to_owned()
                        } else {
                            format!(
                                "Acknowledged {minutes} min ago and not resolved: triggered again"
                            )
                        },
                    },
                )
                .await?;
                out.push(IncidentId(incident_id));
            }
            Ok(out)
        })
    }

    async fn renew_claims(
        &self,
        tokens: &[String],
        now: Timestamp,
        until: Timestamp,
    ) -> Result<u64> {
        // One statement, one round trip: the three tables a node claims work in.
        let n: i64 = sqlx::query_scalar(
            "WITH e AS (UPDATE escalations SET claimed_until = $3
                        WHERE claimed_by = ANY($1) AND claimed_until >= $2 RETURNING 1),
                  n AS (UPDATE notifications SET claimed_until = $3
                        WHERE state = 'sending' AND claimed_until >= $2 AND claimed_by = ANY($1)
                        RETURNING 1),
                  m AS (UPDATE monitors SET claimed_until = $3
                        WHERE claimed_by = ANY($1) AND claimed_until >= $2 RETURNING 1)
             SELECT (SELECT COUNT(*) FROM e) + (SELECT COUNT(*) FROM n) + (SELECT COUNT(*) FROM m)",
        )
        .bind(tokens)
        .bind(ms(now))
        .bind(ms(until))
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn next_escalation_due(&self) -> Result<Option<Timestamp>> {
        let t: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(t) FROM (
               SELECT MIN(due_at) AS t FROM escalations WHERE priority = 0 AND due_at IS NOT NULL
               UNION ALL SELECT MIN(due_at) FROM escalations WHERE priority = 1 AND due_at IS NOT NULL
               UNION ALL SELECT MIN(ack_timeout_at) FROM escalations WHERE ack_timeout_at IS NOT NULL
             ) AS due",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(t.map(ts))
    }

    async fn list_notifications(&self, incident: &IncidentId) -> Result<Vec<NotificationRecord>> {
        on_connection!(self, |c| {
            load_incident(c, incident.as_str()).await?;
            sqlx::query(
                r#"SELECT n.id, n.user_id, n.contact_method_id, m.type, n.step, n.state, n.attempts,
                     n.due_at, n.idempotency_key, n.created_at, n.sent_at, n.last_error
                   FROM notifications n LEFT JOIN contact_methods m ON m.id = n.contact_method_id
                   WHERE n.incident_id = $1 ORDER BY n.created_at, n.due_at, n.id COLLATE "C""#,
            )
            .bind(incident.as_str())
            .fetch_all(&mut *c)
            .await?
            .iter()
            .map(|r| {
                Ok(NotificationRecord {
                    id: r.try_get(0)?,
                    user_id: UserId(r.try_get(1)?),
                    contact_method_id: r.try_get(2)?,
                    contact_type: r
                        .try_get::<Option<String>, _>(3)?
                        .and_then(|t| tocsin_core::contact::ContactType::parse(&t)),
                    step: u32_at(r, 4)?,
                    state: r.try_get(5)?,
                    attempts: u32_at(r, 6)?,
                    due_at: ts(r.try_get(7)?),
                    idempotency_key: r.try_get(8)?,
                    created_at: ts(r.try_get(9)?),
                    sent_at: opt_ts(r.try_get(10)?),
                    last_error: r.try_get(11)?,
                })
            })
            .collect()
        })
    }

    async fn claim_due_notifications(
        &self,
        node: &str,
        now: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> Result<Vec<DueNotification>> {
        transaction!(self, |c| {
            // Sends whose sender's lease ran out first (they are late already), then the
            // high-urgency lane, then the low one. Rows another node is claiming are skipped.
            let mut picked: Vec<PgRow> = sqlx::query(
                "WITH picked AS (
                   SELECT n.id FROM notifications n
                   WHERE n.state = 'sending' AND n.claimed_until < $1
                     AND EXISTS (SELECT 1 FROM incidents i
                                 WHERE i.id = n.incident_id AND i.status = 'triggered')
                   ORDER BY n.priority DESC, n.due_at LIMIT $2 FOR UPDATE OF n SKIP LOCKED)
                 UPDATE notifications n SET state = 'sending', claimed_by = $3,
                   claimed_until = $4, reserved = FALSE
                 FROM picked WHERE n.id = picked.id
                 RETURNING n.id, n.idempotency_key, n.incident_id, n.user_id,
                           n.contact_method_id, n.attempts, n.step, n.reserved, n.priority,
                           n.due_at",
            )
            .bind(ms(now))
            .bind(i64::from(limit))
            .bind(node)
            .bind(ms(until))
            .fetch_all(&mut *c)
            .await?;
            // The value of `reserved` before the claim cleared it.
            let mut reserved_before: std::collections::HashMap<String, bool> =
                std::collections::HashMap::new();
            picked.sort_by_key(|r| {
                (
                    -r.try_get::<i64, _>(8).unwrap_or(0),
                    r.try_get::<i64, _>(9).unwrap_or(0),
                )
            });
            for lane in LANES {
                let room = i64::from(limit) - picked.len() as i64;
                if room <= 0 {
                    break;
                }
                let rows = sqlx::query(
                    "SELECT n.id, n.reserved FROM notifications n
                     WHERE n.state = 'queued' AND n.priority = $3 AND n.due_at <= $1
                       AND (n.claimed_until IS NULL OR n.claimed_until < $1)
                       AND EXISTS (SELECT 1 FROM incidents i
                                   WHERE i.id = n.incident_id AND i.status = 'triggered')
                     ORDER BY n.due_at LIMIT $2 FOR UPDATE OF n SKIP LOCKED",
                )
                .bind(ms(now))
                .bind(room)
                .bind(lane)
                .fetch_all(&mut *c)
                .await?;
                let lane_ids: Vec<String> = rows
                    .iter()
                    .map(|r| r.try_get::<String, _>(0))
                    .collect::<Result<_, _>>()?;
                for r in &rows {
                    reserved_before.insert(r.try_get(0)?, r.try_get(1)?);
                }
                let mut claimed = sqlx::query(
                    "UPDATE notifications n SET state = 'sending', claimed_by = $2,
                       claimed_until = $3, reserved = FALSE
                     WHERE n.id = ANY($1)
                     RETURNING n.id, n.idempotency_key, n.incident_id, n.user_id,
                               n.contact_method_id, n.attempts, n.step, n.reserved, n.priority,
                               n.due_at",
                )
                .bind(&lane_ids)
                .bind(node)
                .bind(ms(until))
                .fetch_all(&mut *c)
                .await?;
                claimed.sort_by_key(|r| r.try_get::<i64, _>(9).unwrap_or(0));
                picked.extend(claimed);
            }
            let mut out = Vec::with_capacity(picked.len());
            for row in picked {
                let id: String = row.try_get(0)?;
                let key: String = row.try_get(1)?;
                let incident_id: String = row.try_get(2)?;
                let user_id: String = row.try_get(3)?;
                let method_id: String = row.try_get(4)?;
                let attempts = u32_at(&row, 5)?;
                let step = u32_at(&row, 6)?;
                let reserved = reserved_before.get(&id).copied().unwrap_or(false);
                let incident = load_incident(c, &incident_id).await?;
                let method = sqlx::query(concat!(
                    "SELECT ",
                    contact_cols!(),
                    " FROM contact_methods WHERE id = $1"
                ))
                .bind(&method_id)
                .fetch_optional(&mut *c)
                .await?
                .as_ref()
                .map(contact_row)
                .transpose()?;
                let user_name: Option<String> =
                    sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
                        .bind(&user_id)
                        .fetch_optional(&mut *c)
                        .await?;
                let (Some(contact_method), Some(user_name)) = (method, user_name) else {
                    // The person or the method is gone: nothing to send.
                    sqlx::query(
                        "UPDATE notifications SET state = 'failed',
                           last_error = 'contact method or user deleted', claimed_by = NULL
                         WHERE id = $1",
                    )
                    .bind(&id)
                    .execute(&mut *c)
                    .await?;
                    continue;
                };
                let service_name: String =
                    sqlx::query_scalar("SELECT name FROM services WHERE id = $1")
                        .bind(incident.service_id.as_str())
                        .fetch_one(&mut *c)
                        .await?;
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
    }

    async fn complete_notifications(&self, done: Vec<Completion>) -> Result<()> {
        // One commit for the whole batch (group commit).
        transaction!(self, |c| {
            for d in &done {
                complete_one(c, d).await?;
            }
            Ok(())
        })
    }

    async fn escalate_early(&self, incident: &IncidentId, now: Timestamp) -> Result<()> {
        sqlx::query(
            "UPDATE escalations SET due_at = $2
             WHERE incident_id = $1 AND due_at IS NOT NULL AND due_at > $2
               AND EXISTS (SELECT 1 FROM incidents WHERE id = $1 AND status = 'triggered')
               -- Only when nobody of this step can still be reached (someone was paged, or a
               -- later rule is still to go out: the level keeps its delay).
               AND NOT EXISTS (SELECT 1 FROM notifications n
                               WHERE n.incident_id = $1 AND n.step = escalations.step
                                 AND n.state IN ('queued', 'sending', 'sent'))",
        )
        .bind(incident.as_str())
        .bind(ms(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn raise_meta_alert(
        &self,
        incident: &IncidentId,
        now: Timestamp,
    ) -> Result<Option<usize>> {
        let id = incident.as_str();
        transaction!(self, |c| {
            // Locked: two nodes raising it at once write one timeline entry.
            let status: Option<String> =
                sqlx::query_scalar("SELECT status FROM incidents WHERE id = $1 FOR UPDATE")
                    .bind(id)
                    .fetch_optional(&mut *c)
                    .await?;
            let stranded: bool = status.as_deref() == Some("triggered")
                && sqlx::query_scalar(
                    "SELECT NOT EXISTS (SELECT 1 FROM escalations
                                        WHERE incident_id = $1 AND due_at IS NOT NULL)
                       AND NOT EXISTS (SELECT 1 FROM notifications WHERE incident_id = $1
                                       AND state IN ('queued', 'sending', 'sent'))",
                )
                .bind(id)
                .fetch_one(&mut *c)
                .await?;
            if !stranded {
                return Ok(None);
            }
            let targets: Vec<(String, String)> = sqlx::query_as(
                r#"SELECT m.user_id, m.id FROM contact_methods m JOIN users u ON u.id = m.user_id
                   WHERE u.role = 'admin' AND u.deactivated_at IS NULL AND m.verified_at IS NOT NULL
                   ORDER BY m.user_id COLLATE "C", m.created_at"#,
            )
            .fetch_all(&mut *c)
            .await?;
            let mut queued = 0;
            for (user, method) in &targets {
                let done = sqlx::query(
                    "INSERT INTO notifications (id, idempotency_key, incident_id, user_id,
                       contact_method_id, step, state, due_at, created_at, priority)
                     VALUES ($1, $2, $3, $4, $5, 0, 'queued', $6, $6, 1) ON CONFLICT DO NOTHING",
                )
                .bind(new_id())
                .bind(format!("{id}:meta:{user}:{method}"))
                .bind(id)
                .bind(user)
                .bind(method)
                .bind(ms(now))
                .execute(&mut *c)
                .await?;
                queued += usize::try_from(done.rows_affected()).unwrap_or(0);
            }
            if queued > 0 || targets.is_empty() {
                let service_id = incident_service(c, id).await?;
                let message = if targets.is_empty() {
                    "Nobody could be reached, and no admin has a verified contact method to alert"
                        .to_owned()
                } else {
                    format!("Nobody could be reached: alerting the admins ({queued} notifications)")
                };
                // Once: a second call finds the keys taken and the entry written.
                let said: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM timeline
                                    WHERE incident_id = $1 AND kind = 'meta_alert')",
                )
                .bind(id)
                .fetch_one(&mut *c)
                .await?;
                if !said {
                    insert_timeline(
                        c,
                        Entry {
                            incident_id: Some(id),
                            service_id: &service_id,
                            at: now,
                            kind: "meta_alert",
                            actor: &Actor::system(),
                            channel: Channel::System,
                            message: &message,
                        },
                    )
                    .await?;
                }
            }
            Ok(Some(queued))
        })
    }

    async fn next_notification_due(&self) -> Result<Option<Timestamp>> {
        let t: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(t) FROM (
               SELECT MIN(due_at) AS t FROM notifications WHERE state = 'queued' AND priority = 0
               UNION ALL
               SELECT MIN(due_at) FROM notifications WHERE state = 'queued' AND priority = 1
             ) AS due",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(t.map(ts))
    }

    async fn list_incidents(&self, f: IncidentFilter) -> Result<Vec<Incident>> {
        let statuses: Vec<String> = f.statuses.iter().map(|s| s.as_str().to_owned()).collect();
        let search = f.search.as_deref().and_then(crate::Search::parse);
        // The text search: the incident it names by number, or every word in the title. A word
        // of three characters or more is a `LIKE` pattern, which the trigram index of
        // `0010_incident_search.sql` serves; a shorter one no index can help (`strpos`, the
        // same substring test), so the planner reads titles newest first instead.
        let mut text = String::new();
        let mut text_args: Vec<String> = Vec::new();
        if let Some(search) = &search {
            let mut next = if search.number.is_some() { 10 } else { 9 };
            let words: Vec<String> = search
                .words
                .iter()
                .zip(&search.patterns)
                .map(|(word, pattern)| {
                    let n = next;
                    next += 1;
                    if word.chars().count() >= crate::SEARCH_INDEXED_CHARS_MIN {
                        text_args.push(pattern.clone());
                        format!("lower(title) LIKE ${n}")
                    } else {
                        text_args.push(word.clone());
                        format!("strpos(lower(title), ${n}) > 0")
                    }
                })
                .collect();
            let number = if search.number.is_some() {
                "number = $9 OR "
            } else {
                ""
            };
            text = format!(" AND ({number}({}))", words.join(" AND "));
        }
        let sql = format!(
            concat!(
                "SELECT ",
                incident_cols!(),
                " FROM incidents
                 WHERE (cardinality($1::text[]) = 0 OR status = ANY($1))
                   AND ($2::text IS NULL OR service_id = $2)
                   AND ($3::bigint IS NULL OR number < $3)
                   AND ($5::text IS NULL OR urgency = $5)
                   AND ($6::text IS NULL
                        OR service_id IN (SELECT id FROM services WHERE team_id = $6))
                   AND ($7::bigint IS NULL OR created_at >= $7)
                   AND ($8::bigint IS NULL OR created_at < $8){}
                 ORDER BY number DESC LIMIT $4"
            ),
            text
        );
        on_connection!(self, |c| {
            // Only placeholders are formatted into the text; every value is bound.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(&statuses)
                .bind(f.service_id.as_ref().map(ServiceId::as_str))
                .bind(f.before_number)
                .bind(i64::from(f.limit))
                .bind(f.urgency.map(Urgency::as_str))
                .bind(f.team_id.as_ref().map(|t| t.0.as_str()))
                .bind(f.created_from.map(ms))
                .bind(f.created_to.map(ms));
            if let Some(n) = search.as_ref().and_then(|s| s.number) {
                q = q.bind(n);
            }
            for arg in &text_args {
                q = q.bind(arg);
            }
            // A search is planned with its own words every time (not as a cached generic
            // plan): whether the index pays depends on how common they are.
            let rows = q.persistent(search.is_none()).fetch_all(&mut *c).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(with_assignees(c, incident_row(r)?).await?);
            }
            Ok(out)
        })
    }

    async fn get_incident(&self, id: &IncidentId) -> Result<Incident> {
        on_connection!(self, |c| load_incident(c, id.as_str()).await)
    }

    async fn incident_alerts(&self, id: &IncidentId) -> Result<Vec<Alert>> {
        on_connection!(self, |c| {
            load_incident(c, id.as_str()).await?;
            sqlx::query(
                r#"SELECT id, incident_id, integration_id, dedup_key, status, summary, source,
                     severity, component, grp, class, custom_details, links, images, client,
                     client_url, first_seen, last_seen, occurrences, resolved_at
                   FROM alerts WHERE incident_id = $1 ORDER BY first_seen, id COLLATE "C""#,
            )
            .bind(id.as_str())
            .fetch_all(&mut *c)
            .await?
            .iter()
            .map(|r| {
                Ok(Alert {
                    id: AlertId(r.try_get(0)?),
                    incident_id: IncidentId(r.try_get(1)?),
                    integration_id: IntegrationId(r.try_get(2)?),
                    dedup_key: r.try_get(3)?,
                    status: word(r.try_get(4)?, AlertStatus::parse)?,
                    summary: r.try_get(5)?,
                    source: r.try_get(6)?,
                    severity: word(r.try_get(7)?, Severity::parse)?,
                    component: r.try_get(8)?,
                    group: r.try_get(9)?,
                    class: r.try_get(10)?,
                    custom_details: r
                        .try_get::<Option<String>, _>(11)?
                        .and_then(|s| serde_json::from_str(&s).ok()),
                    links: from_json(r.try_get(12)?),
                    images: from_json(r.try_get(13)?),
                    client: r.try_get(14)?,
                    client_url: r.try_get(15)?,
                    first_seen: ts(r.try_get(16)?),
                    last_seen: ts(r.try_get(17)?),
                    occurrences: r.try_get(18)?,
                    resolved_at: opt_ts(r.try_get(19)?),
                })
            })
            .collect()
        })
    }

    async fn acknowledge_incident(
        &self,
        id: &IncidentId,
        by: &Actor,
        channel: Channel,
        now: Timestamp,
    ) -> Result<Incident> {
        transaction!(self, |c| {
            let inc = lock_incident(c, id.as_str()).await?;
            if let Transition::To(_) = incident::acknowledge(inc.status)? {
                let message = format!("Acknowledged by {}", by.name);
                acknowledge_locked(c, &inc, by, channel, &message, now).await?;
                // Whoever acknowledges takes the incident.
                if let Some(user) = by.id.strip_prefix("user:") {
                    assign(c, id.as_str(), &[user]).await?;
                }
            }
            load_incident(c, id.as_str()).await
        })
    }

    async fn snooze_incident(
        &self,
        id: &IncidentId,
        by: &Actor,
        channel: Channel,
        minutes: u32,
        now: Timestamp,
    ) -> Result<Incident> {
        transaction!(self, |c| {
            let inc = lock_incident(c, id.as_str()).await?;
            if inc.status != IncidentStatus::Acknowledged {
                return Err(StoreError::Conflict(format!(
                    "only an acknowledged incident can be snoozed (this one is {})",
                    inc.status.as_str()
                )));
            }
            let until = now + jiff::SignedDuration::from_mins(i64::from(minutes));
            let n = sqlx::query(
                "UPDATE escalations SET ack_timeout_at = $2, snoozed = TRUE WHERE incident_id = $1",
            )
            .bind(id.as_str())
            .bind(ms(until))
            .execute(&mut *c)
            .await?
            .rows_affected();
            if n == 0 {
                return Err(StoreError::Conflict(
                    "the incident's service has no escalation policy: nobody would be paged when the snooze ends".into(),
                ));
            }
            sqlx::query("UPDATE incidents SET updated_at = $2 WHERE id = $1")
                .bind(id.as_str())
                .bind(ms(now))
                .execute(&mut *c)
                .await?;
            insert_timeline(
                c,
                Entry {
                    incident_id: Some(id.as_str()),
                    service_id: inc.service_id.as_str(),
                    at: now,
                    kind: "snoozed",
                    actor: by,
                    channel,
                    message: &crate::snoozed_message(&by.name, minutes, until),
                },
            )
            .await?;
            load_incident(c, id.as_str()).await
        })
    }

    async fn resolve_incident(
        &self,
        id: &IncidentId,
        by: &Actor,
        channel: Channel,
        now: Timestamp,
    ) -> Result<Incident> {
        transaction!(self, |c| {
            let inc = lock_incident(c, id.as_str()).await?;
            incident::resolve(inc.status)?;
            sqlx::query(
                "UPDATE alerts SET status = 'resolved', resolved_at = $2
                 WHERE incident_id = $1 AND status = 'open'",
            )
            .bind(id.as_str())
            .bind(ms(now))
            .execute(&mut *c)
            .await?;
            sqlx::query(
                "UPDATE incidents SET status = 'resolved', open_alerts = 0, resolved_at = $2,
                   updated_at = $2 WHERE id = $1",
            )
            .bind(id.as_str())
            .bind(ms(now))
            .execute(&mut *c)
            .await?;
            stop_paging(c, id.as_str(), None).await?;
            insert_timeline(
                c,
                Entry {
                    incident_id: Some(id.as_str()),
                    service_id: inc.service_id.as_str(),
                    at: now,
                    kind: "resolved",
                    actor: by,
                    channel,
                    message: &format!("Resolved by {}", by.name),
                },
            )
            .await?;
            load_incident(c, id.as_str()).await
        })
    }

    async fn escalate_incident(
        &self,
        id: &IncidentId,
        level: Option<u32>,
        by: &Actor,
        now: Timestamp,
    ) -> Result<Incident> {
        transaction!(self, |c| {
            let inc = lock_incident(c, id.as_str()).await?;
            let transition = incident::escalate(inc.status)?;
            let row =
                sqlx::query("SELECT policy_id, level FROM escalations WHERE incident_id = $1")
                    .bind(id.as_str())
                    .fetch_optional(&mut *c)
                    .await?;
            let Some(row) = row else {
                return Err(StoreError::Conflict(
                    "the incident's service has no escalation policy".into(),
                ));
            };
            let policy_id: String = row.try_get(0)?;
            let current = opt_u32_at(&row, 1)?;
            let levels = load_policy(c, &policy_id).await?.levels.len() as u32;
            let target = match level {
                Some(l) if (1..=levels).contains(&l) => l - 1,
                Some(_) => {
                    return Err(StoreError::Invalid {
                        field: "level".into(),
                        message: format!("must be from 1 to {levels}"),
                    });
                }
                // The next level, staying on the last.
                None => current.map_or(0, |c| (c + 1).min(levels - 1)),
            };
            if let Transition::To(_) = transition {
                sqlx::query(
                    "UPDATE incidents SET status = 'triggered', acknowledged_at = NULL,
                       updated_at = $2 WHERE id = $1",
                )
                .bind(id.as_str())
                .bind(ms(now))
                .execute(&mut *c)
                .await?;
            }
            sqlx::query(
                "UPDATE escalations SET due_at = $2, manual_level = $3, claimed_by = NULL,
                   claimed_until = NULL, ack_timeout_at = NULL, reassign_to = NULL
                 WHERE incident_id = $1",
            )
            .bind(id.as_str())
            .bind(ms(now))
            .bind(i64::from(target))
            .execute(&mut *c)
            .await?;
            insert_timeline(
                c,
                Entry {
                    incident_id: Some(id.as_str()),
                    service_id: inc.service_id.as_str(),
                    at: now,
                    kind: "escalate_requested",
                    actor: by,
                    channel: Channel::Api,
                    message: &format!("{} escalated the incident to level {}", by.name, target + 1),
                },
            )
            .await?;
            load_incident(c, id.as_str()).await
        })
    }

    async fn reassign_incident(
        &self,
        id: &IncidentId,
        user: &UserId,
        by: &Actor,
        now: Timestamp,
    ) -> Result<Incident> {
        transaction!(self, |c| {
            let inc = lock_incident(c, id.as_str()).await?;
            let transition = incident::escalate(inc.status)?;
            user_must_exist(c, user, "user_id").await?;
            people::not_deactivated(c, user.as_str(), "user_id").await?;
            let paging: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM escalations WHERE incident_id = $1)",
            )
            .bind(id.as_str())
            .fetch_one(&mut *c)
            .await?;
            if !paging {
                return Err(StoreError::Conflict(
                    "the incident's service has no escalation policy to page through".into(),
                ));
            }
            if let Transition::To(_) = transition {
                sqlx::query(
                    "UPDATE incidents SET status = 'triggered', acknowledged_at = NULL,
                       updated_at = $2 WHERE id = $1",
                )
                .bind(id.as_str())
                .bind(ms(now))
                .execute(&mut *c)
                .await?;
            }
            sqlx::query(
                "UPDATE escalations SET due_at = $2, reassign_to = $3, manual_level = NULL,
                   claimed_by = NULL, claimed_until = NULL, ack_timeout_at = NULL
                 WHERE incident_id = $1",
            )
            .bind(id.as_str())
            .bind(ms(now))
            .bind(user.as_str())
            .execute(&mut *c)
            .await?;
            assign(c, id.as_str(), &[user.as_str()]).await?;
            let name: String = sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
                .bind(user.as_str())
                .fetch_one(&mut *c)
                .await?;
            insert_timeline(
                c,
                Entry {
                    incident_id: Some(id.as_str()),
                    service_id: inc.service_id.as_str(),
                    at: now,
                    kind: "reassigned",
                    actor: by,
                    channel: Channel::Api,
                    message: &format!("{} reassigned the incident to {name}", by.name),
                },
            )
            .await?;
            load_incident(c, id.as_str()).await
        })
    }

    async fn notification_link(&self, id: &str) -> Result<LinkTarget> {
        on_connection!(self, |c| {
            let row = sqlx::query(
                "SELECT n.incident_id, n.user_id, u.name, n.link_used_at FROM notifications n
                 LEFT JOIN users u ON u.id = n.user_id WHERE n.id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *c)
            .await?
            .ok_or(StoreError::NotFound("notification"))?;
            let incident_id: String = row.try_get(0)?;
            let user_id: String = row.try_get(1)?;
            let user_name: Option<String> = row.try_get(2)?;
            let used: Option<i64> = row.try_get(3)?;
            Ok(LinkTarget {
                notification_id: id.to_owned(),
                incident: load_incident(c, &incident_id).await?,
                user_id: UserId(user_id.clone()),
                user_name: user_name.unwrap_or(user_id),
                used: used.is_some(),
            })
        })
    }

    async fn acknowledge_by_notification(
        &self,
        id: &str,
        channel: Channel,
        means: Option<String>,
        now: Timestamp,
    ) -> Result<Incident> {
        transaction!(self, |c| {
            let row = sqlx::query(
                "SELECT n.incident_id, n.user_id, u.name, n.link_used_at, m.type
                 FROM notifications n
                 LEFT JOIN users u ON u.id = n.user_id
                 LEFT JOIN contact_methods m ON m.id = n.contact_method_id
                 WHERE n.id = $1 FOR UPDATE OF n",
            )
            .bind(id)
            .fetch_optional(&mut *c)
            .await?
            .ok_or(StoreError::NotFound("notification"))?;
            let incident_id: String = row.try_get(0)?;
            let user_id: String = row.try_get(1)?;
            let user_name: Option<String> = row.try_get(2)?;
            let used: Option<i64> = row.try_get(3)?;
            let kind: Option<String> = row.try_get(4)?;
            if used.is_some() {
                return Err(StoreError::Conflict(
                    "this acknowledge link was already used".into(),
                ));
            }
            sqlx::query("UPDATE notifications SET link_used_at = $2 WHERE id = $1")
                .bind(id)
                .bind(ms(now))
                .execute(&mut *c)
                .await?;
            let inc = lock_incident(c, &incident_id).await?;
            if let Transition::To(_) = incident::acknowledge(inc.status)? {
                let name = user_name.unwrap_or_else(|| user_id.clone());
                let by = Actor {
                    id: format!("user:{user_id}"),
                    name: name.clone(),
                };
                let via = match &means {
                    Some(m) => m.clone(),
                    None => format!(
                        "the link in {}",
                        kind.as_ref().map_or_else(
                            || "a notification".to_owned(),
                            |k| format!("the {k} notification")
                        )
                    ),
                };
                let message = format!("Acknowledged by {name} with {via}");
                acknowledge_locked(c, &inc, &by, channel, &message, now).await?;
                assign(c, &incident_id, &[&user_id]).await?;
            }
            load_incident(c, &incident_id).await
        })
    }

    async fn get_incident_by_number(&self, number: i64) -> Result<Incident> {
        on_connection!(self, |c| {
            let id: String = sqlx::query_scalar("SELECT id FROM incidents WHERE number = $1")
                .bind(number)
                .fetch_optional(&mut *c)
                .await?
                .ok_or(StoreError::NotFound("incident"))?;
            load_incident(c, &id).await
        })
    }

    async fn find_user_by_phone(&self, phone: &str) -> Result<Option<User>> {
        sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users WHERE id = (SELECT user_id FROM contact_methods
               WHERE type IN ('sms', 'voice') AND address = $1 AND verified_at IS NOT NULL
               ORDER BY created_at LIMIT 1) AND deactivated_at IS NULL"
        ))
        .bind(phone)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(user_row)
        .transpose()
    }

    async fn notification_by_key(&self, key: &str) -> Result<Option<(IncidentId, UserId)>> {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT incident_id, user_id FROM notifications WHERE idempotency_key = $1",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(i, u)| (IncidentId(i), UserId(u))))
    }

    async fn add_note(
        &self,
        id: &IncidentId,
        by: &Actor,
        channel: Channel,
        text: &str,
        now: Timestamp,
    ) -> Result<TimelineEntry> {
        transaction!(self, |c| {
            let inc = load_incident(c, id.as_str()).await?;
            insert_timeline(
                c,
                Entry {
                    incident_id: Some(id.as_str()),
                    service_id: inc.service_id.as_str(),
                    at: now,
                    kind: "note",
                    actor: by,
                    channel,
                    message: text,
                },
            )
            .await?;
            Ok(TimelineEntry {
                at: now,
                kind: "note".into(),
                actor: by.name.clone(),
                actor_id: Some(by.id.clone()),
                channel: Some(channel),
                message: text.to_owned(),
            })
        })
    }

    async fn timeline(&self, id: &IncidentId) -> Result<Vec<TimelineEntry>> {
        on_connection!(self, |c| {
            load_incident(c, id.as_str()).await?;
            sqlx::query(
                "SELECT at, kind, actor_name, actor_id, channel, message FROM timeline
                 WHERE incident_id = $1 ORDER BY seq",
            )
            .bind(id.as_str())
            .fetch_all(&mut *c)
            .await?
            .iter()
            .map(|r| {
                Ok(TimelineEntry {
                    at: ts(r.try_get(0)?),
                    kind: r.try_get(1)?,
                    actor: r.try_get(2)?,
                    actor_id: r.try_get(3)?,
                    channel: r
                        .try_get::<Option<String>, _>(4)?
                        .and_then(|c| Channel::parse(&c)),
                    message: r.try_get(5)?,
                })
            })
            .collect()
        })
    }

    async fn count_open_incidents(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM incidents WHERE status IN ('triggered', 'acknowledged')",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(n.unsigned_abs())
    }

    // ---- Monitors and heartbeats (see pg_monitors.rs) ----

    async fn create_monitor(&self, m: NewMonitor, now: Timestamp) -> Result<Monitor> {
        transaction!(self, |c| monitors::create(c, m.clone(), now).await)
    }

    async fn get_monitor(&self, id: &str, now: Timestamp) -> Result<Monitor> {
        on_connection!(self, |c| monitors::load_monitor(c, id, now).await)
    }

    async fn list_monitors(
        &self,
        service: Option<&ServiceId>,
        now: Timestamp,
    ) -> Result<Vec<Monitor>> {
        sqlx::query(concat!(
            "SELECT ",
            monitors::monitor_cols!(),
            " FROM monitors WHERE $1::text IS NULL OR service_id = $1 ORDER BY name, id"
        ))
        .bind(service.map(ServiceId::as_str))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| monitors::monitor_row(r, now))
        .collect()
    }

    async fn monitor_results(&self, id: &str, limit: u32) -> Result<Vec<MonitorResult>> {
        on_connection!(self, |c| {
            monitors::load_monitor(c, id, Timestamp::UNIX_EPOCH).await?;
            monitors::results(c, id, limit).await
        })
    }

    async fn find_heartbeat(&self, token_hash: &str) -> Result<Option<(String, Integration)>> {
        let row = sqlx::query(concat!(
            "SELECT m.id, i.id, i.service_id, i.type, i.name, i.key, i.rate_per_second, ",
            "i.rate_burst, i.created_at FROM monitors m ",
            "JOIN integrations i ON i.id = m.integration_id WHERE m.ping_token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let id: String = row.try_get(0)?;
        let integration = Integration {
            id: IntegrationId(row.try_get(1)?),
            service_id: ServiceId(row.try_get(2)?),
            kind: word(row.try_get(3)?, IntegrationType::parse)?,
            name: row.try_get(4)?,
            key: row.try_get(5)?,
            rate_limit: opt_u32_at(&row, 6)?.map(|per_second| RateLimit {
                per_second,
                burst: opt_u32_at(&row, 7).ok().flatten().unwrap_or(per_second),
            }),
            created_at: ts(row.try_get(8)?),
        };
        Ok(Some((id, integration)))
    }

    async fn claim_due_monitors(
        &self,
        node: &str,
        now: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> Result<Vec<DueMonitor>> {
        transaction!(self, |c| monitors::claim_due(c, node, now, until, limit)
            .await)
    }

    async fn record_checks(&self, checks: Vec<CheckRecord>, now: Timestamp) -> Result<Vec<bool>> {
        transaction!(self, |c| {
            // The monitors' alerts are locked first, in hash order, as an ingest batch does.
            let keys = monitors::check_lock_keys(c, &checks).await?;
            ingest::lock(c, &keys).await?;
            let mut out = Vec::with_capacity(checks.len());
            for check in &checks {
                out.push(monitors::record_check(c, check, now).await?);
            }
            Ok(out)
        })
    }

    async fn prune_monitor_history(&self, keep: MonitorRetention, now: Timestamp) -> Result<u64> {
        let mut after = String::new();
        let mut deleted = 0;
        loop {
            let from = after.clone();
            let (n, last) = transaction!(self, |c| {
                monitors::prune_history(c, keep, now, &from, PRUNE_MONITORS_PER_COMMIT).await
            })?;
            deleted += n;
            match last {
                Some(id) => after = id,
                None => return Ok(deleted),
            }
        }
    }

    async fn next_monitor_due(&self) -> Result<Option<Timestamp>> {
        let t: Option<i64> =
            sqlx::query_scalar("SELECT MIN(due_at) FROM monitors WHERE due_at IS NOT NULL")
                .fetch_one(&self.pool)
                .await?;
        Ok(opt_ts(t))
    }

    async fn pause_monitor(&self, id: &str, paused: bool, now: Timestamp) -> Result<Monitor> {
        transaction!(self, |c| monitors::set_paused(c, id, paused, now).await)
    }

    async fn delete_monitor(&self, id: &str, now: Timestamp) -> Result<()> {
        transaction!(self, |c| monitors::delete(c, id, now).await)
    }

    async fn update_monitor(
        &self,
        id: &str,
        changes: MonitorChanges,
        now: Timestamp,
    ) -> Result<Monitor> {
        transaction!(self, |c| monitors::update(c, id, &changes, now).await)
    }

    async fn monitor_uptime(&self, id: &str, now: Timestamp) -> Result<Uptime> {
        on_connection!(self, |c| {
            monitors::load_monitor(c, id, now).await?;
            monitors::uptime(c, id, now).await
        })
    }

    async fn monitor_series(
        &self,
        id: &str,
        span: RollupSpan,
        from: Timestamp,
    ) -> Result<Vec<RollupPoint>> {
        on_connection!(self, |c| {
            monitors::load_monitor(c, id, from).await?;
            monitors::series(c, id, span.as_str(), from).await
        })
    }

    // ---- Status page and maintenance windows (see pg_status.rs) ----

    async fn status_settings(&self) -> Result<StatusSettings> {
        on_connection!(self, |c| status::settings(c).await)
    }

    async fn set_status_settings(&self, settings: StatusSettings) -> Result<StatusSettings> {
        transaction!(self, |c| {
            status::set_settings(c, &settings).await?;
            status::settings(c).await
        })
    }

    async fn create_status_component(
        &self,
        component: NewStatusComponent,
        now: Timestamp,
    ) -> Result<StatusComponent> {
        transaction!(self, |c| status::create_component(
            c,
            component.clone(),
            now
        )
        .await)
    }

    async fn delete_status_component(&self, id: &str) -> Result<()> {
        transaction!(self, |c| status::delete_component(c, id).await)
    }

    async fn status_components(&self, now: Timestamp) -> Result<Vec<ComponentView>> {
        // One snapshot for every component's facts.
        transaction!(self, |c| {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .execute(&mut *c)
                .await?;
            status::component_views(c, now).await
        })
    }

    async fn status_history(
        &self,
        from: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<(String, ComponentHistory)>> {
        transaction!(self, |c| {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .execute(&mut *c)
                .await?;
            status::history(c, from, now).await
        })
    }

    async fn create_status_incident(
        &self,
        incident: NewStatusIncident,
        now: Timestamp,
    ) -> Result<StatusIncident> {
        transaction!(self, |c| status::create_incident(c, incident.clone(), now)
            .await)
    }

    async fn add_status_update(
        &self,
        id: &str,
        stage: tocsin_core::status::PublicStage,
        message: &str,
        now: Timestamp,
    ) -> Result<StatusIncident> {
        transaction!(self, |c| status::add_update(c, id, stage, message, now)
            .await)
    }

    async fn get_status_incident(&self, id: &str) -> Result<StatusIncident> {
        transaction!(self, |c| status::load_incident(c, id).await)
    }

    async fn list_status_incidents(&self, limit: u32) -> Result<Vec<StatusIncident>> {
        transaction!(self, |c| status::list_incidents(c, limit).await)
    }

    async fn create_maintenance(
        &self,
        window: NewMaintenance,
        now: Timestamp,
    ) -> Result<Maintenance> {
        transaction!(self, |c| status::create_window(c, window.clone(), now)
            .await)
    }

    async fn list_maintenance(&self, now: Timestamp) -> Result<Vec<Maintenance>> {
        transaction!(self, |c| status::list_windows(c, now).await)
    }

    async fn delete_maintenance(&self, id: &str, now: Timestamp) -> Result<()> {
        transaction!(self, |c| status::delete_window(c, id, now).await)
    }

    async fn add_subscriber(&self, s: NewSubscriber, now: Timestamp) -> Result<Subscriber> {
        transaction!(self, |c| status::add_subscriber(c, s.clone(), now).await)
    }

    async fn confirm_subscriber(
        &self,
        token_hash: &str,
        not_before: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Subscriber>> {
        transaction!(self, |c| status::confirm(c, token_hash, not_before, now)
            .await)
    }

    async fn unsubscribe(&self, token_hash: &str) -> Result<bool> {
        transaction!(self, |c| status::unsubscribe(c, token_hash).await)
    }

    async fn list_subscribers(&self, confirmed_only: bool) -> Result<Vec<Subscriber>> {
        on_connection!(self, |c| status::subscribers(c, confirmed_only).await)
    }

    async fn delete_subscriber(&self, id: &str) -> Result<()> {
        transaction!(self, |c| status::delete_subscriber(c, id).await)
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// PostgreSQL is backed up with its own tools (`pg_dump`, or the server's continuous
    /// archiving), which copy a consistent snapshot without stopping any node.
    async fn backup(&self, to: &Path) -> Result<()> {
        Err(StoreError::Invalid {
            field: "to".into(),
            message: format!(
                "cannot be written for a PostgreSQL database: back it up with \
                 `pg_dump --format=custom --file={} DATABASE_URL` and restore with pg_restore \
                 (see docs/postgresql.md)",
                to.display()
            ),
        })
    }

    /// Closes the pool's connections; PostgreSQL has nothing to fold back in.
    async fn close(&self) -> Result<()> {
        self.ingest_pool.close().await;
        self.pool.close().await;
        Ok(())
    }

    // ---- Editing people, contact methods, rules and teams (pg_people.rs) ----

    async fn update_user(&self, id: &UserId, changes: UserChanges, now: Timestamp) -> Result<User> {
        transaction!(self, |c| {
            people::update_user(c, id.as_str(), &changes, now).await
        })
    }

    async fn update_contact_method(
        &self,
        user: &UserId,
        id: &str,
        address: &str,
        label: &str,
        now: Timestamp,
    ) -> Result<ContactMethod> {
        transaction!(self, |c| {
            people::update_contact_method(c, user.as_str(), id, address, label, now).await
        })
    }

    async fn delete_contact_method(&self, user: &UserId, id: &str) -> Result<Vec<String>> {
        transaction!(self, |c| {
            people::delete_contact_method(c, user.as_str(), id).await
        })
    }

    async fn update_notification_rule(
        &self,
        id: &str,
        rule: NewNotificationRule,
    ) -> Result<NotificationRule> {
        transaction!(self, |c| {
            people::update_notification_rule(c, id, &rule).await
        })
    }

    async fn delete_notification_rule(&self, user: &UserId, id: &str) -> Result<()> {
        transaction!(self, |c| {
            people::delete_notification_rule(c, user.as_str(), id).await
        })
    }

    async fn remove_team_member(&self, team: &TeamId, user: &UserId) -> Result<Team> {
        transaction!(self, |c| {
            people::remove_team_member(c, team.as_str(), user.as_str()).await
        })
    }

    // ---- Web UI sign-in and sessions ----

    async fn find_login(&self, email: &str) -> Result<Option<Login>> {
        sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            ", password_hash FROM users WHERE lower(email) = lower($1) AND deactivated_at IS NULL"
        ))
        .bind(email.trim())
        .fetch_optional(&self.pool)
        .await?
        .map(|r| {
            Ok(Login {
                user: user_row(&r)?,
                password_hash: r.try_get(7)?,
            })
        })
        .transpose()
    }

    async fn create_session(&self, s: NewSession, now: Timestamp) -> Result<()> {
        transaction!(self, |c| {
            user_found(c, s.user_id.as_str()).await?;
            if people::deactivated(c, s.user_id.as_str()).await? {
                return Err(StoreError::Conflict("this person is deactivated".into()));
            }
            sqlx::query("DELETE FROM web_sessions WHERE user_id = $1 AND expires_at <= $2")
                .bind(s.user_id.as_str())
                .bind(ms(now))
                .execute(&mut *c)
                .await?;
            // Keep room for the new one: the least recently used beyond the limit go.
            sqlx::query(
                "DELETE FROM web_sessions WHERE token_hash IN (
                   SELECT token_hash FROM web_sessions WHERE user_id = $1
                   ORDER BY last_seen_at DESC, created_at DESC OFFSET $2)",
            )
            .bind(s.user_id.as_str())
            .bind(i64::from(SESSIONS_PER_USER_MAX) - 1)
            .execute(&mut *c)
            .await?;
            sqlx::query(
                "INSERT INTO web_sessions (token_hash, user_id, created_at, last_seen_at, expires_at)
                 VALUES ($1, $2, $3, $3, $4)",
            )
            .bind(&s.token_hash)
            .bind(s.user_id.as_str())
            .bind(ms(now))
            .bind(ms(s.expires_at))
            .execute(&mut *c)
            .await?;
            Ok(())
        })
    }

    async fn find_session(&self, token_hash: &str, now: Timestamp) -> Result<Option<Session>> {
        sqlx::query(
            "SELECT u.id, u.name, u.email, u.time_zone, u.role, u.created_at, u.deactivated_at,
               s.created_at, s.last_seen_at, s.expires_at
             FROM web_sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.deactivated_at IS NULL",
        )
        .bind(token_hash)
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await?
        .map(|r| {
            Ok(Session {
                user: user_row(&r)?,
                created_at: ts(r.try_get(7)?),
                last_seen_at: ts(r.try_get(8)?),
                expires_at: ts(r.try_get(9)?),
            })
        })
        .transpose()
    }

    async fn touch_session(
        &self,
        token_hash: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE web_sessions SET last_seen_at = $2, expires_at = $3 WHERE token_hash = $1",
        )
        .bind(token_hash)
        .bind(ms(now))
        .bind(ms(expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_password(
        &self,
        user: &UserId,
        password_hash: &str,
        keep: Option<&str>,
    ) -> Result<()> {
        transaction!(self, |c| {
            let done = sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                .bind(user.as_str())
                .bind(password_hash)
                .execute(&mut *c)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound("user"));
            }
            sqlx::query(
                "DELETE FROM web_sessions WHERE user_id = $1 AND token_hash IS DISTINCT FROM $2",
            )
            .bind(user.as_str())
            .bind(keep)
            .execute(&mut *c)
            .await?;
            Ok(())
        })
    }
}

/// The variable that names a PostgreSQL server for tests: the contract tests and the server's
/// integration tests make a fresh database on it per test.
pub const TEST_DATABASE_URL_VAR: &str = "TOCSIN_TEST_DATABASE_URL";

/// The server URL tests make their databases on, when one is configured.
pub fn test_server_url() -> Option<String> {
    std::env::var(TEST_DATABASE_URL_VAR)
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// `url` with its database (the path) replaced by `database`, its other parts kept.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    let mut out = format!("{}/{database}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A database made for one test on a PostgreSQL server, dropped when this value is (even when
/// the test panicked), so that tests share a server but never data.
pub struct ScratchDatabase {
    server: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// Makes an empty database (`t_<random>`) on the server `server_url` names.
    pub async fn create(server_url: &str) -> Result<Self> {
        use sqlx::Connection;
        let name = format!("t_{}", uuid::Uuid::now_v7().simple());
        let mut admin = PgConnection::connect(server_url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        Ok(Self {
            url: with_database(server_url, &name),
            server: server_url.to_owned(),
            name,
        })
    }

    /// The URL of the new database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on: drop the database
        // from a thread with a runtime of its own, and wait for it.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                use sqlx::Connection;
                let mut admin = PgConnection::connect(&server).await?;
                // FORCE ends the connections the test's pool may still hold.
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
                )))
                .execute(&mut admin)
                .await?;
                admin.close().await?;
                Ok::<_, sqlx::Error>(())
            })
            .map_err(std::io::Error::other)
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the scratch database {}", self.name);
        }
    }
}

// Declared after the column macros above, which it uses.
#[path = "pg_people.rs"]
mod people;
