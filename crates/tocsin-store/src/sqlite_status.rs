//! SQLite side of the public status page and maintenance windows. A window holds paging back by
//! moving the first escalation step of a new incident on its services to the window's end
//! (`hold_until`, called from `start_paging`): the escalator takes it then, unless the incident
//! was acknowledged or resolved meanwhile (which clears the step), so nothing pages late.

use super::{Entry, backend, insert_timeline, ms, new_id, ts};
use crate::*;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use tocsin_core::status::{ComponentFacts, PublicStage};
use tocsin_core::*;

/// The end of the latest active maintenance window covering the service at `now`, and its
/// title.
pub(super) fn hold_until(
    c: &Connection,
    service_id: &str,
    now: Timestamp,
) -> Result<Option<(Timestamp, String)>> {
    Ok(c.prepare_cached(
        "SELECT w.ends_at, w.title FROM maintenance_windows w
         JOIN maintenance_services m ON m.window_id = w.id
         WHERE m.service_id = ?1 AND w.starts_at <= ?2 AND w.ends_at > ?2
         ORDER BY w.ends_at DESC LIMIT 1",
    )?
    .query_row(params![service_id, ms(now)], |r| {
        Ok((ts(r.get(0)?), r.get(1)?))
    })
    .optional()?)
}

/// Holds a just-inserted first escalation step back while its service is in maintenance, and
/// says so on the incident's timeline.
pub(super) fn hold_for_maintenance(
    tx: &Transaction<'_>,
    incident_id: &str,
    service_id: &str,
    now: Timestamp,
) -> Result<()> {
    let Some((until, title)) = hold_until(tx, service_id, now)? else {
        return Ok(());
    };
    let held = tx
        .prepare_cached("UPDATE escalations SET due_at = ?2 WHERE incident_id = ?1")?
        .execute(params![incident_id, ms(until)])?;
    if held > 0 {
        insert_timeline(
            tx,
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
        )?;
    }
    Ok(())
}

/// Holds an automatic escalation step that fell due while its incident's service is in
/// maintenance until the window ends, and says so on the timeline: true when held. Any step
/// is held, not only the first (an incident opened before the window escalates into it). A
/// person's explicit escalation or reassignment is not held: someone asked for it.
pub(super) fn hold_step_for_maintenance(
    tx: &Transaction<'_>,
    incident_id: &str,
    now: Timestamp,
) -> Result<bool> {
    let (service_id, asked): (String, bool) = tx
        .prepare_cached(
            "SELECT i.service_id, e.manual_level IS NOT NULL OR e.reassign_to IS NOT NULL
             FROM escalations e JOIN incidents i ON i.id = e.incident_id WHERE e.incident_id = ?1",
        )?
        .query_row([incident_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if asked {
        return Ok(false);
    }
    let Some((until, title)) = hold_until(tx, &service_id, now)? else {
        return Ok(false);
    };
    tx.prepare_cached(
        "UPDATE escalations SET due_at = ?2, claimed_by = NULL, claimed_until = NULL
         WHERE incident_id = ?1",
    )?
    .execute(params![incident_id, ms(until)])?;
    insert_timeline(
        tx,
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
    )?;
    Ok(true)
}

/// After a window ending at `ends` was removed: the steps of open incidents on its services
/// that it held (a first step never started, or any step due at its end) are due at once, or
/// when another window ends.
fn release(
    tx: &Transaction<'_>,
    services: &[String],
    ends: Timestamp,
    now: Timestamp,
) -> Result<()> {
    for service in services {
        let due = hold_until(tx, service, now)?.map_or(now, |(t, _)| t);
        tx.prepare_cached(
            "UPDATE escalations SET due_at = ?3
             WHERE (level IS NULL OR due_at = ?4) AND due_at > ?2 AND incident_id IN (
               SELECT id FROM incidents WHERE service_id = ?1 AND status = 'triggered')",
        )?
        .execute(params![service, ms(now), ms(due), ms(ends)])?;
    }
    Ok(())
}

pub(super) fn settings(c: &Connection) -> Result<StatusSettings> {
    Ok(c.query_row(
        "SELECT title, logo_url FROM status_settings WHERE id = 1",
        [],
        |r| {
            Ok(StatusSettings {
                title: r.get(0)?,
                logo_url: r.get(1)?,
            })
        },
    )
    .optional()?
    .unwrap_or_default())
}

pub(super) fn set_settings(tx: &Transaction<'_>, s: &StatusSettings) -> Result<()> {
    tx.execute(
        "INSERT INTO status_settings (id, title, logo_url) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET title = excluded.title, logo_url = excluded.logo_url",
        params![s.title, s.logo_url],
    )?;
    Ok(())
}

const COMPONENT_COLS: &str = "id, name, group_name, service_id, monitor_id, position, created_at";

fn component_row(r: &Row<'_>) -> rusqlite::Result<StatusComponent> {
    Ok(StatusComponent {
        id: r.get(0)?,
        name: r.get(1)?,
        group: r.get(2)?,
        service_id: r.get(3)?,
        monitor_id: r.get(4)?,
        position: r.get(5)?,
        created_at: ts(r.get(6)?),
    })
}

pub(super) fn create_component(
    tx: &Transaction<'_>,
    c: NewStatusComponent,
    now: Timestamp,
) -> Result<StatusComponent> {
    let (service, monitor, table, field) = match &c.reflects {
        Reflects::Service(s) => (Some(s.0.clone()), None, "services", "service_id"),
        Reflects::Monitor(m) => (None, Some(m.clone()), "monitors", "monitor_id"),
    };
    let target = service.clone().or(monitor.clone()).unwrap_or_default();
    let exists: bool = tx.query_row(
        &format!("SELECT COUNT(*) > 0 FROM {table} WHERE id = ?1"),
        [&target],
        |r| r.get(0),
    )?;
    if !exists {
        return Err(StoreError::Invalid {
            field: field.into(),
            message: format!("names no existing {}", &table[..table.len() - 1]),
        });
    }
    let id = new_id();
    tx.execute(
        "INSERT INTO status_components (id, name, group_name, service_id, monitor_id, position, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![id, c.name, c.group, service, monitor, c.position, ms(now)],
    )?;
    Ok(tx.query_row(
        &format!("SELECT {COMPONENT_COLS} FROM status_components WHERE id = ?1"),
        [&id],
        component_row,
    )?)
}

pub(super) fn delete_component(tx: &Transaction<'_>, id: &str) -> Result<()> {
    match tx.execute("DELETE FROM status_components WHERE id = ?1", [id])? {
        0 => Err(StoreError::NotFound("status component")),
        _ => Ok(()),
    }
}

fn components(c: &Connection) -> Result<Vec<StatusComponent>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {COMPONENT_COLS} FROM status_components ORDER BY position, name, id"
    ))?;
    let rows = st.query_map([], component_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn component_views(c: &Connection, now: Timestamp) -> Result<Vec<ComponentView>> {
    let mut out = Vec::new();
    for comp in components(c)? {
        let mut facts = ComponentFacts::default();
        let (service, since) = match (&comp.service_id, &comp.monitor_id) {
            (Some(s), _) => {
                let since: i64 = c
                    .prepare_cached("SELECT created_at FROM services WHERE id = ?1")?
                    .query_row([s], |r| r.get(0))?;
                (s.clone(), ts(since))
            }
            (None, Some(m)) => {
                let monitor = super::monitors::load_monitor(c, m, now)?;
                facts.monitor_down = monitor.status == "down";
                (monitor.service_id.0, monitor.created_at)
            }
            (None, None) => return Err(backend("a component reflects nothing")),
        };
        if comp.service_id.is_some() {
            let mut st = c.prepare_cached(
                "SELECT urgency, status, COUNT(*) FROM incidents
                 WHERE service_id = ?1 AND status IN ('triggered', 'acknowledged')
                 GROUP BY urgency, status",
            )?;
            let rows = st.query_map([&service], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, u32>(2)?,
                ))
            })?;
            for row in rows {
                match row? {
                    (u, s, n) if u == "high" && s == "triggered" => facts.high_triggered += n,
                    (u, _, n) if u == "high" => facts.high_acknowledged += n,
                    (_, _, n) => facts.low_open += n,
                }
            }
        }
        facts.in_maintenance = hold_until(c, &service, now)?.is_some();
        out.push(ComponentView {
            component: comp,
            facts,
            since,
        });
    }
    Ok(out)
}

/// Incidents on a service counted as outages, at most this many per component (the newest).
const OUTAGES_PER_COMPONENT_MAX: u32 = 10_000;

pub(super) fn history(
    c: &Connection,
    from: Timestamp,
    now: Timestamp,
) -> Result<Vec<(String, ComponentHistory)>> {
    let mut out = Vec::new();
    for comp in components(c)? {
        let h = if let Some(service) = &comp.service_id {
            let mut st = c.prepare_cached(
                "SELECT created_at, COALESCE(resolved_at, ?3) FROM incidents
                 WHERE service_id = ?1 AND (resolved_at IS NULL OR resolved_at > ?2)
                 ORDER BY created_at DESC LIMIT ?4",
            )?;
            let rows = st.query_map(
                params![service, ms(from), ms(now), OUTAGES_PER_COMPONENT_MAX],
                |r| Ok((ts(r.get(0)?), ts(r.get(1)?))),
            )?;
            ComponentHistory::Outages(rows.collect::<rusqlite::Result<_>>()?)
        } else {
            let monitor = comp.monitor_id.clone().unwrap_or_default();
            let mut st = c.prepare_cached(
                "SELECT at / 86400000 * 86400000, SUM(ok), COUNT(*) FROM monitor_results
                 WHERE monitor_id = ?1 AND at >= ?2 GROUP BY 1",
            )?;
            let rows = st.query_map(params![monitor, ms(from)], |r| {
                Ok((
                    ts(r.get(0)?),
                    r.get::<_, i64>(1)?.max(0) as u64,
                    r.get::<_, i64>(2)?.max(0) as u64,
                ))
            })?;
            ComponentHistory::Checks(rows.collect::<rusqlite::Result<_>>()?)
        };
        out.push((comp.id, h));
    }
    Ok(out)
}

fn stage(s: String) -> rusqlite::Result<PublicStage> {
    super::word(s, PublicStage::parse)
}

pub(super) fn load_incident(c: &Connection, id: &str) -> Result<StatusIncident> {
    let mut inc = c
        .prepare_cached(
            "SELECT id, title, stage, incident_id, created_at, updated_at, resolved_at
             FROM status_incidents WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok(StatusIncident {
                id: r.get(0)?,
                title: r.get(1)?,
                stage: stage(r.get(2)?)?,
                incident_id: r.get(3)?,
                created_at: ts(r.get(4)?),
                updated_at: ts(r.get(5)?),
                resolved_at: r.get::<_, Option<i64>>(6)?.map(ts),
                updates: Vec::new(),
            })
        })
        .optional()?
        .ok_or(StoreError::NotFound("status incident"))?;
    let mut st = c.prepare_cached(
        "SELECT id, stage, message, at FROM status_updates WHERE status_incident_id = ?1
         ORDER BY at DESC, rowid DESC",
    )?;
    let rows = st.query_map([id], |r| {
        Ok(StatusUpdate {
            id: r.get(0)?,
            stage: stage(r.get(1)?)?,
            message: r.get(2)?,
            at: ts(r.get(3)?),
        })
    })?;
    inc.updates = rows.collect::<rusqlite::Result<_>>()?;
    Ok(inc)
}

pub(super) fn create_incident(
    tx: &Transaction<'_>,
    n: NewStatusIncident,
    now: Timestamp,
) -> Result<StatusIncident> {
    if let Some(incident) = &n.incident_id {
        let exists: bool = tx.query_row(
            "SELECT COUNT(*) > 0 FROM incidents WHERE id = ?1",
            [incident],
            |r| r.get(0),
        )?;
        if !exists {
            return Err(StoreError::Invalid {
                field: "incident_id".into(),
                message: "names no existing incident".into(),
            });
        }
    }
    let id = new_id();
    let resolved = (n.stage == PublicStage::Resolved).then(|| ms(now));
    tx.execute(
        "INSERT INTO status_incidents (id, title, stage, incident_id, created_at, updated_at, resolved_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
        params![id, n.title, n.stage.as_str(), n.incident_id, ms(now), resolved],
    )?;
    insert_update(tx, &id, n.stage, &n.message, now)?;
    load_incident(tx, &id)
}

fn insert_update(
    tx: &Transaction<'_>,
    id: &str,
    stage: PublicStage,
    message: &str,
    now: Timestamp,
) -> Result<()> {
    tx.execute(
        "INSERT INTO status_updates (id, status_incident_id, stage, message, at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![new_id(), id, stage.as_str(), message, ms(now)],
    )?;
    Ok(())
}

pub(super) fn add_update(
    tx: &Transaction<'_>,
    id: &str,
    stage: PublicStage,
    message: &str,
    now: Timestamp,
) -> Result<StatusIncident> {
    load_incident(tx, id)?;
    insert_update(tx, id, stage, message, now)?;
    tx.execute(
        "UPDATE status_incidents SET stage = ?2, updated_at = ?3,
           resolved_at = CASE WHEN ?2 = 'resolved' THEN COALESCE(resolved_at, ?3) ELSE NULL END
         WHERE id = ?1",
        params![id, stage.as_str(), ms(now)],
    )?;
    load_incident(tx, id)
}

pub(super) fn list_incidents(c: &Connection, limit: u32) -> Result<Vec<StatusIncident>> {
    let ids: Vec<String> = c
        .prepare_cached(
            "SELECT id FROM status_incidents
             ORDER BY resolved_at IS NOT NULL, COALESCE(resolved_at, created_at) DESC LIMIT ?1",
        )?
        .query_map([limit], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    ids.iter().map(|id| load_incident(c, id)).collect()
}

fn load_window(c: &Connection, id: &str) -> Result<Maintenance> {
    let mut w = c
        .prepare_cached(
            "SELECT id, title, description, starts_at, ends_at, created_at
             FROM maintenance_windows WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok(Maintenance {
                id: r.get(0)?,
                title: r.get(1)?,
                description: r.get(2)?,
                starts_at: ts(r.get(3)?),
                ends_at: ts(r.get(4)?),
                service_ids: Vec::new(),
                created_at: ts(r.get(5)?),
            })
        })
        .optional()?
        .ok_or(StoreError::NotFound("maintenance window"))?;
    let mut st = c.prepare_cached(
        "SELECT service_id FROM maintenance_services WHERE window_id = ?1 ORDER BY service_id",
    )?;
    w.service_ids = st
        .query_map([id], |r| Ok(ServiceId(r.get(0)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(w)
}

pub(super) fn create_window(
    tx: &Transaction<'_>,
    w: NewMaintenance,
    now: Timestamp,
) -> Result<Maintenance> {
    let id = new_id();
    tx.execute(
        "INSERT INTO maintenance_windows (id, title, description, starts_at, ends_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            id,
            w.title,
            w.description,
            ms(w.starts_at),
            ms(w.ends_at),
            ms(now)
        ],
    )?;
    for (i, s) in w.services.iter().enumerate() {
        let exists: bool = tx.query_row(
            "SELECT COUNT(*) > 0 FROM services WHERE id = ?1",
            [s.as_str()],
            |r| r.get(0),
        )?;
        if !exists {
            return Err(StoreError::Invalid {
                field: format!("service_ids[{i}]"),
                message: "names no existing service".into(),
            });
        }
        tx.execute(
            "INSERT OR IGNORE INTO maintenance_services (window_id, service_id) VALUES (?1, ?2)",
            params![id, s.as_str()],
        )?;
    }
    load_window(tx, &id)
}

pub(super) fn list_windows(c: &Connection, now: Timestamp) -> Result<Vec<Maintenance>> {
    let ids: Vec<String> = c
        .prepare_cached(
            "SELECT id FROM maintenance_windows WHERE ends_at > ?1 ORDER BY starts_at, id",
        )?
        .query_map([ms(now)], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    ids.iter().map(|id| load_window(c, id)).collect()
}

pub(super) fn delete_window(tx: &Transaction<'_>, id: &str, now: Timestamp) -> Result<()> {
    let w = load_window(tx, id)?;
    tx.execute("DELETE FROM maintenance_windows WHERE id = ?1", [id])?;
    let services: Vec<String> = w.service_ids.into_iter().map(|s| s.0).collect();
    release(tx, &services, w.ends_at, now)
}

const SUBSCRIBER_COLS: &str = "id, kind, address, confirmed_at, created_at";

fn subscriber_row(r: &Row<'_>) -> rusqlite::Result<Subscriber> {
    Ok(Subscriber {
        id: r.get(0)?,
        kind: r.get(1)?,
        address: r.get(2)?,
        confirmed: r.get::<_, Option<i64>>(3)?.is_some(),
        created_at: ts(r.get(4)?),
    })
}

fn load_subscriber(c: &Connection, id: &str) -> Result<Subscriber> {
    c.prepare_cached(&format!(
        "SELECT {SUBSCRIBER_COLS} FROM status_subscribers WHERE id = ?1"
    ))?
    .query_row([id], subscriber_row)
    .optional()?
    .ok_or(StoreError::NotFound("subscriber"))
}

pub(super) fn add_subscriber(
    tx: &Transaction<'_>,
    s: NewSubscriber,
    now: Timestamp,
) -> Result<Subscriber> {
    let existing: Option<(String, Option<i64>)> = tx
        .prepare_cached(
            "SELECT id, confirmed_at FROM status_subscribers WHERE kind = ?1 AND address = ?2",
        )?
        .query_row(params![s.kind, s.address], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let confirmed = s.confirm_token_hash.is_none().then(|| ms(now));
    match existing {
        Some((_, Some(_))) => Err(StoreError::Conflict("already subscribed".into())),
        Some((id, None)) => {
            tx.execute(
                "UPDATE status_subscribers SET confirm_token_hash = ?2, unsubscribe_token_hash = ?3,
                   confirmed_at = ?4, created_at = ?5 WHERE id = ?1",
                params![
                    id,
                    s.confirm_token_hash,
                    s.unsubscribe_token_hash,
                    confirmed,
                    ms(now)
                ],
            )?;
            load_subscriber(tx, &id)
        }
        None => {
            let id = new_id();
            tx.execute(
                "INSERT INTO status_subscribers (id, kind, address, confirm_token_hash,
                   unsubscribe_token_hash, confirmed_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id,
                    s.kind,
                    s.address,
                    s.confirm_token_hash,
                    s.unsubscribe_token_hash,
                    confirmed,
                    ms(now)
                ],
            )?;
            load_subscriber(tx, &id)
        }
    }
}

pub(super) fn confirm(
    tx: &Transaction<'_>,
    token_hash: &str,
    not_before: Timestamp,
    now: Timestamp,
) -> Result<Option<Subscriber>> {
    let id: Option<String> = tx
        .prepare_cached(
            "SELECT id FROM status_subscribers WHERE confirm_token_hash = ?1 AND created_at >= ?2",
        )?
        .query_row(params![token_hash, ms(not_before)], |r| r.get(0))
        .optional()?;
    let Some(id) = id else {
        return Ok(None);
    };
    tx.execute(
        "UPDATE status_subscribers SET confirmed_at = ?2, confirm_token_hash = NULL WHERE id = ?1",
        params![id, ms(now)],
    )?;
    load_subscriber(tx, &id).map(Some)
}

pub(super) fn unsubscribe(tx: &Transaction<'_>, token_hash: &str) -> Result<bool> {
    Ok(tx.execute(
        "DELETE FROM status_subscribers WHERE unsubscribe_token_hash = ?1",
        [token_hash],
    )? > 0)
}

pub(super) fn subscribers(c: &Connection, confirmed_only: bool) -> Result<Vec<Subscriber>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {SUBSCRIBER_COLS} FROM status_subscribers
         WHERE NOT ?1 OR confirmed_at IS NOT NULL ORDER BY created_at, id"
    ))?;
    let rows = st.query_map([confirmed_only], subscriber_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn delete_subscriber(tx: &Transaction<'_>, id: &str) -> Result<()> {
    match tx.execute("DELETE FROM status_subscribers WHERE id = ?1", [id])? {
        0 => Err(StoreError::NotFound("subscriber")),
        _ => Ok(()),
    }
}
