//! PostgreSQL side of the public status page and maintenance windows, mirroring
//! `sqlite_status.rs`. A window holds paging back by moving the first escalation step of a new
//! incident on its services to the window's end (`hold_for_maintenance`, called from
//! `start_paging`); deleting the window makes the held steps due at once. What SQLite's single
//! writer serialises by itself is serialised here by row locks (`FOR UPDATE` on the public
//! incident an update is added to) and by upserts on the unique keys (settings, subscribers,
//! a window's services), so nodes doing the same at once neither fail nor double anything.

use super::{Entry, insert_timeline, ms, new_id, opt_ts, ts, word};
use crate::*;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use std::collections::{HashMap, HashSet};
use tocsin_core::status::{ComponentFacts, PublicStage};
use tocsin_core::*;

/// The end of the latest active maintenance window covering the service at `now`, and its
/// title.
pub(super) async fn hold_until(
    c: &mut PgConnection,
    service_id: &str,
    now: Timestamp,
) -> Result<Option<(Timestamp, String)>> {
    let row = sqlx::query(
        "SELECT w.ends_at, w.title FROM maintenance_windows w
         JOIN maintenance_services m ON m.window_id = w.id
         WHERE m.service_id = $1 AND w.starts_at <= $2 AND w.ends_at > $2
         ORDER BY w.ends_at DESC LIMIT 1",
    )
    .bind(service_id)
    .bind(ms(now))
    .fetch_optional(&mut *c)
    .await?;
    row.map(|r| Ok((ts(r.try_get(0)?), r.try_get(1)?)))
        .transpose()
}

/// Holds a just-inserted first escalation step back while its service is in maintenance, and
/// says so on the incident's timeline.
pub(super) async fn hold_for_maintenance(
    c: &mut PgConnection,
    incident_id: &str,
    service_id: &str,
    now: Timestamp,
) -> Result<()> {
    let Some((until, title)) = hold_until(c, service_id, now).await? else {
        return Ok(());
    };
    let held = sqlx::query("UPDATE escalations SET due_at = $2 WHERE incident_id = $1")
        .bind(incident_id)
        .bind(ms(until))
        .execute(&mut *c)
        .await?
        .rows_affected();
    if held > 0 {
        insert_timeline(
            c,
            Entry {
                incident_id: Some(incident_id),
                service_id,
                at: now,
                kind: "maintenance",
                actor: &Actor::system(),
                channel: Channel::System,
                message: &format!(
                    "Not paging: the service is in maintenance ({title}) until {until}; paging \
                     starts then if the incident is still open"
                ),
            },
        )
        .await?;
    }
    Ok(())
}

/// Holds an automatic escalation step that fell due while its incident's service is in
/// maintenance until the window ends, and says so on the timeline: true when held. Any step
/// is held, not only the first (an incident opened before the window escalates into it). A
/// person's explicit escalation or reassignment is not held: someone asked for it.
pub(super) async fn hold_step_for_maintenance(
    c: &mut PgConnection,
    incident_id: &str,
    now: Timestamp,
) -> Result<bool> {
    let row = sqlx::query(
        "SELECT i.service_id, e.manual_level IS NOT NULL OR e.reassign_to IS NOT NULL
         FROM escalations e JOIN incidents i ON i.id = e.incident_id WHERE e.incident_id = $1",
    )
    .bind(incident_id)
    .fetch_one(&mut *c)
    .await?;
    let service_id: String = row.try_get(0)?;
    let asked: bool = row.try_get(1)?;
    if asked {
        return Ok(false);
    }
    let Some((until, title)) = hold_until(c, &service_id, now).await? else {
        return Ok(false);
    };
    sqlx::query(
        "UPDATE escalations SET due_at = $2, claimed_by = NULL, claimed_until = NULL
         WHERE incident_id = $1",
    )
    .bind(incident_id)
    .bind(ms(until))
    .execute(&mut *c)
    .await?;
    insert_timeline(
        c,
        Entry {
            incident_id: Some(incident_id),
            service_id: &service_id,
            at: now,
            kind: "maintenance",
            actor: &Actor::system(),
            channel: Channel::System,
            message: &format!(
                "Not escalating: the service is in maintenance ({title}) until {until}; the \
                 next step pages then if the incident is still open"
            ),
        },
    )
    .await?;
    Ok(true)
}

/// After a window ending at `ends` was removed: the steps of open incidents on its services
/// that it held (a first step never started, or any step due at its end) are due at once, or
/// when another window ends.
async fn release(
    c: &mut PgConnection,
    services: &[String],
    ends: Timestamp,
    now: Timestamp,
) -> Result<()> {
    for service in services {
        let due = hold_until(c, service, now).await?.map_or(now, |(t, _)| t);
        sqlx::query(
            "UPDATE escalations SET due_at = $3
             WHERE (level IS NULL OR due_at = $4) AND due_at > $2 AND incident_id IN (
               SELECT id FROM incidents WHERE service_id = $1 AND status = 'triggered')",
        )
        .bind(service)
        .bind(ms(now))
        .bind(ms(due))
        .bind(ms(ends))
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

pub(super) async fn settings(c: &mut PgConnection) -> Result<StatusSettings> {
    let row = sqlx::query("SELECT title, logo_url FROM status_settings WHERE id = 1")
        .fetch_optional(&mut *c)
        .await?;
    Ok(match row {
        Some(r) => StatusSettings {
            title: r.try_get(0)?,
            logo_url: r.try_get(1)?,
        },
        None => StatusSettings::default(),
    })
}

pub(super) async fn set_settings(c: &mut PgConnection, s: &StatusSettings) -> Result<()> {
    sqlx::query(
        "INSERT INTO status_settings (id, title, logo_url) VALUES (1, $1, $2)
         ON CONFLICT (id) DO UPDATE SET title = excluded.title, logo_url = excluded.logo_url",
    )
    .bind(&s.title)
    .bind(&s.logo_url)
    .execute(&mut *c)
    .await?;
    Ok(())
}

const COMPONENT_COLS: &str = "id, name, group_name, service_id, monitor_id, position, created_at";

fn component_row(r: &PgRow) -> Result<StatusComponent> {
    Ok(StatusComponent {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        group: r.try_get(2)?,
        service_id: r.try_get(3)?,
        monitor_id: r.try_get(4)?,
        position: r.try_get(5)?,
        created_at: ts(r.try_get(6)?),
    })
}

async fn exists(c: &mut PgConnection, table: &str, id: &str) -> Result<bool> {
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT EXISTS (SELECT 1 FROM {table} WHERE id = $1)"
    )))
    .bind(id)
    .fetch_one(&mut *c)
    .await?)
}

pub(super) async fn create_component(
    c: &mut PgConnection,
    n: NewStatusComponent,
    now: Timestamp,
) -> Result<StatusComponent> {
    let (service, monitor, table, field) = match &n.reflects {
        Reflects::Service(s) => (Some(s.0.clone()), None, "services", "service_id"),
        Reflects::Monitor(m) => (None, Some(m.clone()), "monitors", "monitor_id"),
    };
    let target = service.clone().or(monitor.clone()).unwrap_or_default();
    if !exists(c, table, &target).await? {
        return Err(StoreError::Invalid {
            field: field.into(),
            message: format!("names no existing {}", &table[..table.len() - 1]),
        });
    }
    let id = new_id();
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO status_components (id, name, group_name, service_id, monitor_id, position,
           created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COMPONENT_COLS}"
    )))
    .bind(&id)
    .bind(&n.name)
    .bind(&n.group)
    .bind(service)
    .bind(monitor)
    .bind(n.position)
    .bind(ms(now))
    .fetch_one(&mut *c)
    .await?;
    component_row(&row)
}

pub(super) async fn delete_component(c: &mut PgConnection, id: &str) -> Result<()> {
    let n = sqlx::query("DELETE FROM status_components WHERE id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?
        .rows_affected();
    match n {
        0 => Err(StoreError::NotFound("status component")),
        _ => Ok(()),
    }
}

/// Every component in display order: position, then the name byte by byte (as SQLite sorts).
async fn components(c: &mut PgConnection) -> Result<Vec<StatusComponent>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COMPONENT_COLS} FROM status_components
         ORDER BY position, name COLLATE \"C\", id"
    )))
    .fetch_all(&mut *c)
    .await?
    .iter()
    .map(component_row)
    .collect()
}

/// Every component with its facts at `now`, in a fixed number of queries however many there are
/// (the public page is read by every visitor, most of all during an outage).
pub(super) async fn component_views(
    c: &mut PgConnection,
    now: Timestamp,
) -> Result<Vec<ComponentView>> {
    let comps = components(c).await?;
    let service_ids: Vec<&str> = comps
        .iter()
        .filter_map(|x| x.service_id.as_deref())
        .collect();
    let monitor_ids: Vec<&str> = comps
        .iter()
        .filter_map(|x| x.monitor_id.as_deref())
        .collect();
    let mut monitors: HashMap<String, Monitor> = HashMap::new();
    for r in sqlx::query(concat!(
        "SELECT ",
        super::monitors::monitor_cols!(),
        " FROM monitors WHERE id = ANY($1)"
    ))
    .bind(&monitor_ids)
    .fetch_all(&mut *c)
    .await?
    {
        let m = super::monitors::monitor_row(&r, now)?;
        monitors.insert(m.id.clone(), m);
    }
    // The services the components stand for: their own, or their monitor's.
    let mut services: Vec<&str> = service_ids.clone();
    services.extend(monitors.values().map(|m| m.service_id.as_str()));
    let created: HashMap<String, i64> =
        sqlx::query_as("SELECT id, created_at FROM services WHERE id = ANY($1)")
            .bind(&services)
            .fetch_all(&mut *c)
            .await?
            .into_iter()
            .collect();
    let mut open: HashMap<String, ComponentFacts> = HashMap::new();
    for r in sqlx::query(
        "SELECT service_id, urgency, status, COUNT(*) FROM incidents
         WHERE service_id = ANY($1) AND status IN ('triggered', 'acknowledged')
         GROUP BY service_id, urgency, status",
    )
    .bind(&service_ids)
    .fetch_all(&mut *c)
    .await?
    {
        let (s, u, st, n): (String, String, String, i64) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        let f = open.entry(s).or_default();
        match (u.as_str(), st.as_str()) {
            ("high", "triggered") => f.high_triggered += n,
            ("high", _) => f.high_acknowledged += n,
            _ => f.low_open += n,
        }
    }
    let in_maintenance: HashSet<String> = sqlx::query_scalar(
        "SELECT DISTINCT m.service_id FROM maintenance_services m
         JOIN maintenance_windows w ON w.id = m.window_id
         WHERE m.service_id = ANY($1) AND w.starts_at <= $2 AND w.ends_at > $2",
    )
    .bind(&services)
    .bind(ms(now))
    .fetch_all(&mut *c)
    .await?
    .into_iter()
    .collect();
    let mut out = Vec::with_capacity(comps.len());
    for comp in comps {
        let (mut facts, service, since) = match (&comp.service_id, &comp.monitor_id) {
            (Some(s), _) => {
                let since = created.get(s).ok_or(StoreError::NotFound("service"))?;
                (
                    open.get(s).copied().unwrap_or_default(),
                    s.clone(),
                    ts(*since),
                )
            }
            (None, Some(m)) => {
                let monitor = monitors.get(m).ok_or(StoreError::NotFound("monitor"))?;
                let facts = ComponentFacts {
                    monitor_down: monitor.status == "down",
                    ..ComponentFacts::default()
                };
                (facts, monitor.service_id.0.clone(), monitor.created_at)
            }
            (None, None) => {
                return Err(StoreError::Backend("a component reflects nothing".into()));
            }
        };
        facts.in_maintenance = in_maintenance.contains(&service);
        out.push(ComponentView {
            component: comp,
            facts,
            since,
        });
    }
    Ok(out)
}

/// Incidents on a service counted as outages, at most this many per component (the newest).
const OUTAGES_PER_COMPONENT_MAX: i64 = 10_000;

pub(super) async fn history(
    c: &mut PgConnection,
    from: Timestamp,
    now: Timestamp,
) -> Result<Vec<(String, ComponentHistory)>> {
    let mut out = Vec::new();
    for comp in components(c).await? {
        let h = if let Some(service) = &comp.service_id {
            let rows = sqlx::query(
                "SELECT created_at, COALESCE(resolved_at, $3) FROM incidents
                 WHERE service_id = $1 AND (resolved_at IS NULL OR resolved_at > $2)
                 ORDER BY created_at DESC LIMIT $4",
            )
            .bind(service)
            .bind(ms(from))
            .bind(ms(now))
            .bind(OUTAGES_PER_COMPONENT_MAX)
            .fetch_all(&mut *c)
            .await?;
            ComponentHistory::Outages(
                rows.iter()
                    .map(|r| Ok((ts(r.try_get(0)?), ts(r.try_get(1)?))))
                    .collect::<Result<_>>()?,
            )
        } else {
            let monitor = comp.monitor_id.clone().unwrap_or_default();
            let rows = sqlx::query(
                "SELECT at / 86400000 * 86400000 AS day,
                        COUNT(*) FILTER (WHERE ok), COUNT(*)
                 FROM monitor_results WHERE monitor_id = $1 AND at >= $2
                 GROUP BY day ORDER BY day",
            )
            .bind(&monitor)
            .bind(ms(from))
            .fetch_all(&mut *c)
            .await?;
            ComponentHistory::Checks(
                rows.iter()
                    .map(|r| {
                        Ok((
                            ts(r.try_get(0)?),
                            r.try_get::<i64, _>(1)?.max(0) as u64,
                            r.try_get::<i64, _>(2)?.max(0) as u64,
                        ))
                    })
                    .collect::<Result<_>>()?,
            )
        };
        out.push((comp.id, h));
    }
    Ok(out)
}

fn stage(s: String) -> Result<PublicStage> {
    word(s, PublicStage::parse)
}

/// A public incident with its updates; `lock` takes its row lock for the transaction.
async fn load_incident_with(c: &mut PgConnection, id: &str, lock: bool) -> Result<StatusIncident> {
    let sql = if lock {
        "SELECT id, title, stage, incident_id, created_at, updated_at, resolved_at
         FROM status_incidents WHERE id = $1 FOR UPDATE"
    } else {
        "SELECT id, title, stage, incident_id, created_at, updated_at, resolved_at
         FROM status_incidents WHERE id = $1"
    };
    let r = sqlx::query(sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .ok_or(StoreError::NotFound("status incident"))?;
    let mut inc = StatusIncident {
        id: r.try_get(0)?,
        title: r.try_get(1)?,
        stage: stage(r.try_get(2)?)?,
        incident_id: r.try_get(3)?,
        created_at: ts(r.try_get(4)?),
        updated_at: ts(r.try_get(5)?),
        resolved_at: opt_ts(r.try_get(6)?),
        updates: Vec::new(),
    };
    inc.updates = sqlx::query(
        "SELECT id, stage, message, at FROM status_updates WHERE status_incident_id = $1
         ORDER BY at DESC, seq DESC",
    )
    .bind(id)
    .fetch_all(&mut *c)
    .await?
    .iter()
    .map(|r| {
        Ok(StatusUpdate {
            id: r.try_get(0)?,
            stage: stage(r.try_get(1)?)?,
            message: r.try_get(2)?,
            at: ts(r.try_get(3)?),
        })
    })
    .collect::<Result<_>>()?;
    Ok(inc)
}

pub(super) async fn load_incident(c: &mut PgConnection, id: &str) -> Result<StatusIncident> {
    load_incident_with(c, id, false).await
}

pub(super) async fn create_incident(
    c: &mut PgConnection,
    n: NewStatusIncident,
    now: Timestamp,
) -> Result<StatusIncident> {
    if let Some(incident) = &n.incident_id
        && !exists(c, "incidents", incident).await?
    {
        return Err(StoreError::Invalid {
            field: "incident_id".into(),
            message: "names no existing incident".into(),
        });
    }
    let id = new_id();
    let resolved = (n.stage == PublicStage::Resolved).then(|| ms(now));
    sqlx::query(
        "INSERT INTO status_incidents (id, title, stage, incident_id, created_at, updated_at,
           resolved_at)
         VALUES ($1, $2, $3, $4, $5, $5, $6)",
    )
    .bind(&id)
    .bind(&n.title)
    .bind(n.stage.as_str())
    .bind(&n.incident_id)
    .bind(ms(now))
    .bind(resolved)
    .execute(&mut *c)
    .await?;
    insert_update(c, &id, n.stage, &n.message, now).await?;
    load_incident(c, &id).await
}

async fn insert_update(
    c: &mut PgConnection,
    id: &str,
    stage: PublicStage,
    message: &str,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO status_updates (id, status_incident_id, stage, message, at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(new_id())
    .bind(id)
    .bind(stage.as_str())
    .bind(message)
    .bind(ms(now))
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub(super) async fn add_update(
    c: &mut PgConnection,
    id: &str,
    stage: PublicStage,
    message: &str,
    now: Timestamp,
) -> Result<StatusIncident> {
    // Updates of one public incident from several nodes go one after the other.
    load_incident_with(c, id, true).await?;
    insert_update(c, id, stage, message, now).await?;
    sqlx::query(
        "UPDATE status_incidents SET stage = $2, updated_at = $3,
           resolved_at = CASE WHEN $2 = 'resolved' THEN COALESCE(resolved_at, $3) ELSE NULL END
         WHERE id = $1",
    )
    .bind(id)
    .bind(stage.as_str())
    .bind(ms(now))
    .execute(&mut *c)
    .await?;
    load_incident(c, id).await
}

pub(super) async fn list_incidents(
    c: &mut PgConnection,
    limit: u32,
) -> Result<Vec<StatusIncident>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM status_incidents
         ORDER BY resolved_at IS NOT NULL, COALESCE(resolved_at, created_at) DESC LIMIT $1",
    )
    .bind(i64::from(limit))
    .fetch_all(&mut *c)
    .await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(load_incident(c, &id).await?);
    }
    Ok(out)
}

async fn load_window(c: &mut PgConnection, id: &str) -> Result<Maintenance> {
    let r = sqlx::query(
        "SELECT id, title, description, starts_at, ends_at, created_at
         FROM maintenance_windows WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *c)
    .await?
    .ok_or(StoreError::NotFound("maintenance window"))?;
    let service_ids: Vec<String> = sqlx::query_scalar(
        "SELECT service_id FROM maintenance_services WHERE window_id = $1
         ORDER BY service_id COLLATE \"C\"",
    )
    .bind(id)
    .fetch_all(&mut *c)
    .await?;
    Ok(Maintenance {
        id: r.try_get(0)?,
        title: r.try_get(1)?,
        description: r.try_get(2)?,
        starts_at: ts(r.try_get(3)?),
        ends_at: ts(r.try_get(4)?),
        service_ids: service_ids.into_iter().map(ServiceId).collect(),
        created_at: ts(r.try_get(5)?),
    })
}

pub(super) async fn create_window(
    c: &mut PgConnection,
    w: NewMaintenance,
    now: Timestamp,
) -> Result<Maintenance> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO maintenance_windows (id, title, description, starts_at, ends_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(&w.title)
    .bind(&w.description)
    .bind(ms(w.starts_at))
    .bind(ms(w.ends_at))
    .bind(ms(now))
    .execute(&mut *c)
    .await?;
    for (i, s) in w.services.iter().enumerate() {
        if !exists(c, "services", s.as_str()).await? {
            return Err(StoreError::Invalid {
                field: format!("service_ids[{i}]"),
                message: "names no existing service".into(),
            });
        }
        sqlx::query(
            "INSERT INTO maintenance_services (window_id, service_id) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(s.as_str())
        .execute(&mut *c)
        .await?;
    }
    load_window(c, &id).await
}

pub(super) async fn list_windows(c: &mut PgConnection, now: Timestamp) -> Result<Vec<Maintenance>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM maintenance_windows WHERE ends_at > $1 ORDER BY starts_at, id",
    )
    .bind(ms(now))
    .fetch_all(&mut *c)
    .await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(load_window(c, &id).await?);
    }
    Ok(out)
}

pub(super) async fn delete_window(c: &mut PgConnection, id: &str, now: Timestamp) -> Result<()> {
    let w = load_window(c, id).await?;
    let deleted = sqlx::query("DELETE FROM maintenance_windows WHERE id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?
        .rows_affected();
    if deleted == 0 {
        // Another node deleted it meanwhile (and released what it held).
        return Err(StoreError::NotFound("maintenance window"));
    }
    let services: Vec<String> = w.service_ids.into_iter().map(|s| s.0).collect();
    release(c, &services, w.ends_at, now).await
}

const SUBSCRIBER_COLS: &str = "id, kind, address, confirmed_at, created_at";

fn subscriber_row(r: &PgRow) -> Result<Subscriber> {
    Ok(Subscriber {
        id: r.try_get(0)?,
        kind: r.try_get(1)?,
        address: r.try_get(2)?,
        confirmed: r.try_get::<Option<i64>, _>(3)?.is_some(),
        created_at: ts(r.try_get(4)?),
    })
}

async fn load_subscriber(c: &mut PgConnection, id: &str) -> Result<Subscriber> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SUBSCRIBER_COLS} FROM status_subscribers WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *c)
    .await?
    .ok_or(StoreError::NotFound("subscriber"))?;
    subscriber_row(&r)
}

pub(super) async fn add_subscriber(
    c: &mut PgConnection,
    s: NewSubscriber,
    now: Timestamp,
) -> Result<Subscriber> {
    let confirmed = s.confirm_token_hash.is_none().then(|| ms(now));
    // A new address is inserted; one that exists (also one another node inserted a moment
    // ago: the insert then does nothing) is locked and looked at.
    let inserted: Option<String> = sqlx::query_scalar(
        "INSERT INTO status_subscribers (id, kind, address, confirm_token_hash,
           unsubscribe_token_hash, confirmed_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (kind, address) DO NOTHING RETURNING id",
    )
    .bind(new_id())
    .bind(&s.kind)
    .bind(&s.address)
    .bind(&s.confirm_token_hash)
    .bind(&s.unsubscribe_token_hash)
    .bind(confirmed)
    .bind(ms(now))
    .fetch_optional(&mut *c)
    .await?;
    if let Some(id) = inserted {
        return load_subscriber(c, &id).await;
    }
    let r = sqlx::query(
        "SELECT id, confirmed_at FROM status_subscribers WHERE kind = $1 AND address = $2
         FOR UPDATE",
    )
    .bind(&s.kind)
    .bind(&s.address)
    .fetch_one(&mut *c)
    .await?;
    let (id, was_confirmed): (String, Option<i64>) = (r.try_get(0)?, r.try_get(1)?);
    if was_confirmed.is_some() {
        return Err(StoreError::Conflict("already subscribed".into()));
    }
    sqlx::query(
        "UPDATE status_subscribers SET confirm_token_hash = $2, unsubscribe_token_hash = $3,
           confirmed_at = $4, created_at = $5 WHERE id = $1",
    )
    .bind(&id)
    .bind(&s.confirm_token_hash)
    .bind(&s.unsubscribe_token_hash)
    .bind(confirmed)
    .bind(ms(now))
    .execute(&mut *c)
    .await?;
    load_subscriber(c, &id).await
}

pub(super) async fn confirm(
    c: &mut PgConnection,
    token_hash: &str,
    not_before: Timestamp,
    now: Timestamp,
) -> Result<Option<Subscriber>> {
    let id: Option<String> = sqlx::query_scalar(
        "UPDATE status_subscribers SET confirmed_at = $3, confirm_token_hash = NULL
         WHERE confirm_token_hash = $1 AND created_at >= $2 RETURNING id",
    )
    .bind(token_hash)
    .bind(ms(not_before))
    .bind(ms(now))
    .fetch_optional(&mut *c)
    .await?;
    match id {
        Some(id) => load_subscriber(c, &id).await.map(Some),
        None => Ok(None),
    }
}

pub(super) async fn unsubscribe(c: &mut PgConnection, token_hash: &str) -> Result<bool> {
    Ok(
        sqlx::query("DELETE FROM status_subscribers WHERE unsubscribe_token_hash = $1")
            .bind(token_hash)
            .execute(&mut *c)
            .await?
            .rows_affected()
            > 0,
    )
}

pub(super) async fn subscribers(
    c: &mut PgConnection,
    confirmed_only: bool,
) -> Result<Vec<Subscriber>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SUBSCRIBER_COLS} FROM status_subscribers
         WHERE NOT $1 OR confirmed_at IS NOT NULL ORDER BY created_at, id"
    )))
    .bind(confirmed_only)
    .fetch_all(&mut *c)
    .await?
    .iter()
    .map(subscriber_row)
    .collect()
}

pub(super) async fn delete_subscriber(c: &mut PgConnection, id: &str) -> Result<()> {
    let n = sqlx::query("DELETE FROM status_subscribers WHERE id = $1")
        .bind(id)
        .execute(&mut *c)
        .await?
        .rows_affected();
    match n {
        0 => Err(StoreError::NotFound("subscriber")),
        _ => Ok(()),
    }
}
