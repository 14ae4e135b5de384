//! Ingestion on PostgreSQL: one transaction applies a batch of events in order. After taking
//! the batch's advisory locks it reads, in a few statements, what most events need to know (which
//! dedup keys have an open alert, which group keys an open incident, which services are in
//! maintenance); events whose outcome follows from that alone (a new incident, an alert joining
//! its group's incident) are written together in one statement per batch, and the others
//! (repeats, acknowledgements, resolves, pings, changes) each run their own statements, in order,
//! after what was gathered before them has been written.

use super::*;
use std::collections::HashMap;

/// The advisory lock keys an ingest batch needs: one per (integration, dedup key) it touches and
/// one per (integration, group key) a trigger may open or join. Taken in sorted order at the
/// start of the transaction, they make two batches that touch the same alert or group run one
/// after the other (two triggers with one dedup key make one incident), without deadlocks
/// between batches, while batches about other alerts commit side by side.
pub(super) fn lock_keys(batch: &[IngestItem]) -> Vec<String> {
    let mut keys = Vec::new();
    for item in batch {
        if let IngestEvent::Alert(ev) = &item.event {
            let integration = item.integration.id.as_str();
            keys.push(format!("alert\u{1f}{integration}\u{1f}{}", ev.dedup_key));
            if let Some(g) = &ev.group_key {
                keys.push(format!("group\u{1f}{integration}\u{1f}{g}"));
            }
        }
        // A ping may open or resolve its monitor's alert, which checks touch too.
        if let IngestEvent::Ping(p) = &item.event {
            keys.push(monitors::alert_lock_key(
                item.integration.id.as_str(),
                &p.monitor_id,
            ));
        }
    }
    keys
}

pub(super) async fn lock(c: &mut PgConnection, keys: &[String]) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    // In hash order (migration 0012), as `apply_new`'s statement takes them too.
    sqlx::query("SELECT ingest_lock($1)")
        .bind(keys)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Whether a batch is only triggers without a group key, each about another alert: if none of
/// those alerts is open, each opens an incident, and `apply_new` can write them at once.
pub(super) fn looks_new(batch: &[IngestItem]) -> bool {
    let mut seen = HashSet::with_capacity(batch.len());
    batch.iter().all(|item| match &item.event {
        // A group's open incident is not unique in the schema: only the locks of a transaction
        // that reads before it writes keep two nodes from opening one each.
        IngestEvent::Alert(ev) => {
            ev.group_key.is_none()
                && matches!(ev.action, AlertAction::Trigger(_))
                && seen.insert((item.integration.id.as_str(), ev.dedup_key.as_str()))
        }
        _ => false,
    })
}

/// Applies a batch that `looks_new`, assuming none of its alerts is open and none of its
/// services in maintenance: decided on that assumption and written in one statement without an
/// explicit transaction, one round trip instead of five. The statement first calls
/// `ingest_new_batch_allowed` (migration 0012), which takes the batch's locks and checks the
/// assumption; it writes nothing when that fails. `None`: nothing was written, and the batch
/// goes the usual way.
pub(super) async fn apply_new(
    c: &mut PgConnection,
    keys: &[String],
    batch: &[IngestItem],
) -> Option<Vec<IngestOutcome>> {
    let mut facts = BatchFacts {
        read: true,
        ..BatchFacts::unread()
    };
    let mut pending = Pending::default();
    let mut out = Vec::with_capacity(batch.len());
    for item in batch {
        let IngestEvent::Alert(ev) = &item.event else {
            return None;
        };
        let outcome = gather(&mut facts, &mut pending, item, ev)?;
        if outcome.decision != Some(dedup::Decision::OpenIncident) {
            return None;
        }
        out.push(outcome);
    }
    if out.is_empty() {
        return None;
    }
    pending.guard = Guard {
        locks: keys.to_vec(),
        questions: Questions::of(batch),
    };
    match pending.write(c, &mut facts).await {
        Ok(true) => Some(out),
        Ok(false) => None,
        Err(e) => {
            tracing::warn!(error = %e, "writing a batch of new alerts failed; trying the usual way");
            None
        }
    }
}

/// Applies an ingest batch in order, inside the caller's transaction; `keys` are the batch's
/// `lock_keys`.
pub(super) async fn apply(
    c: &mut PgConnection,
    keys: &[String],
    batch: &[IngestItem],
) -> Result<Vec<IngestOutcome>> {
    lock(c, keys).await?;
    let mut facts = BatchFacts::read(c, batch).await?;
    let mut pending = Pending::default();
    let mut out = Vec::with_capacity(batch.len());
    for item in batch {
        let outcome = match &item.event {
            IngestEvent::Alert(ev) => match gather(&mut facts, &mut pending, item, ev) {
                Some(outcome) => outcome,
                None => {
                    pending.write(c, &mut facts).await?;
                    let outcome = ingest_alert_in_batch(c, &mut facts, item, ev).await?;
                    facts.forget(item, ev.group_key.as_deref(), &outcome);
                    outcome
                }
            },
            IngestEvent::Change(ev) => {
                pending.write(c, &mut facts).await?;
                ingest_change(c, item, ev).await?
            }
            IngestEvent::Ping(p) => {
                pending.write(c, &mut facts).await?;
                let outcome = monitors::ingest_ping(c, item, p).await?;
                facts.forget(item, None, &outcome);
                outcome
            }
        };
        out.push(outcome);
    }
    pending.write(c, &mut facts).await?;
    Ok(out)
}

/// What a batch knows of an (integration, group key) pair's open incident.
#[derive(Clone, Debug)]
enum Group {
    /// No open incident with this group key.
    None,
    /// This open incident (locked by the batch), at this severity.
    Open { id: String, severity: Severity },
    /// The new incident at this index of the batch's pending writes.
    Pending(usize),
}

/// What an ingest batch reads once, after taking its locks, so that most events need no
/// lookup of their own (each statement is a round trip to the server).
struct BatchFacts {
    /// False: nothing was read up front, every event looks its state up.
    read: bool,
    /// (integration, dedup key) pairs of the batch's alert events with an open alert when the
    /// batch started.
    open_keys: HashSet<(String, String)>,
    /// Pairs an earlier event of this batch may have opened, changed or resolved (alert events
    /// and monitors' pings): their state is looked up again.
    touched: HashSet<(String, String)>,
    /// Services of the batch in a maintenance window at some moment of the batch: their new
    /// incidents take the path that holds the first step.
    maintenance_services: HashSet<String>,
    /// The open incident of each (integration, group key) pair the batch's triggers name, as far
    /// as the batch knows it; a pair missing here is looked up by the event.
    groups: HashMap<(String, String), Group>,
}

impl BatchFacts {
    fn unread() -> Self {
        Self {
            read: false,
            open_keys: HashSet::new(),
            touched: HashSet::new(),
            maintenance_services: HashSet::new(),
            groups: HashMap::new(),
        }
    }

    async fn read(c: &mut PgConnection, batch: &[IngestItem]) -> Result<Self> {
        let mut group_pairs = HashSet::new();
        let mut touched = HashSet::new();
        for item in batch {
            match &item.event {
                IngestEvent::Alert(ev) => {
                    if let (AlertAction::Trigger(_), Some(g)) = (&ev.action, &ev.group_key) {
                        group_pairs.insert((item.integration.id.as_str().to_owned(), g.clone()));
                    }
                }
                IngestEvent::Ping(p) => {
                    touched.insert((
                        item.integration.id.as_str().to_owned(),
                        format!("monitor:{}", p.monitor_id),
                    ));
                }
                IngestEvent::Change(_) => {}
            }
        }
        let mut facts = Self {
            read: true,
            touched,
            ..Self::unread()
        };
        let q = Questions::of(batch);
        if q.integrations.is_empty() {
            return Ok(facts);
        }
        // Which of the batch's dedup keys have an open alert ('a'), and which of its services
        // are in a maintenance window at some moment of the batch ('m'), in one round trip
        // (the functions of migration 0012, which `ingest_new_batch_allowed` asks too).
        let rows = sqlx::query_as::<_, (String, String, Option<String>)>(
            "SELECT 'a', o.integration_id, o.dedup_key FROM ingest_open_alerts($1, $2) AS o
             UNION ALL
             SELECT 'm', m.service_id, NULL FROM ingest_services_in_maintenance($3, $4, $5) AS m",
        )
        .bind(&q.integrations)
        .bind(&q.dedup_keys)
        .bind(&q.services)
        .bind(q.first)
        .bind(q.last)
        .fetch_all(&mut *c)
        .await?;
        for (kind, a, b) in rows {
            match (kind.as_str(), b) {
                ("a", Some(dedup_key)) => {
                    facts.open_keys.insert((a, dedup_key));
                }
                _ => {
                    facts.maintenance_services.insert(a);
                }
            }
        }
        if !group_pairs.is_empty() {
            let (g_integrations, g_keys): (Vec<String>, Vec<String>) =
                group_pairs.iter().cloned().unzip();
            // Locked like the single lookup of `ingest_alert_in_batch`, so that a human's resolve
            // cannot slip in between this read and the join; the newest open incident of each
            // group, looked up in `incidents_open_group` one group at a time.
            let rows = sqlx::query_as::<_, (String, String, String, String)>(
                "SELECT k.integration_id, k.group_key, i.id, i.severity
                 FROM unnest($1::text[], $2::text[]) AS k(integration_id, group_key)
                 CROSS JOIN LATERAL (
                   SELECT id, severity FROM incidents
                   WHERE integration_id = k.integration_id AND group_key = k.group_key
                     AND status <> 'resolved'
                   ORDER BY number DESC LIMIT 1 FOR UPDATE
                 ) AS i",
            )
            .bind(&g_integrations)
            .bind(&g_keys)
            .fetch_all(&mut *c)
            .await?;
            for (integration, group, id, severity) in rows {
                let severity = Severity::parse(&severity)
                    .ok_or_else(|| StoreError::Backend(format!("bad severity {severity:?}")))?;
                facts
                    .groups
                    .entry((integration, group))
                    .or_insert(Group::Open { id, severity });
            }
            for pair in group_pairs {
                facts.groups.entry(pair).or_insert(Group::None);
            }
        }
        Ok(facts)
    }

    /// After an event took its own statements: what the batch knew of the incident it touched,
    /// and of its group, may be out of date, so later events look them up.
    fn forget(&mut self, item: &IngestItem, group_key: Option<&str>, outcome: &IngestOutcome) {
        if let Some(g) = group_key {
            self.groups
                .remove(&(item.integration.id.as_str().to_owned(), g.to_owned()));
        }
        if let Some(incident) = &outcome.incident_id {
            self.groups.retain(
                |_, group| !matches!(group, Group::Open { id, .. } if id == incident.as_str()),
            );
        }
    }
}

/// Decides an alert event from what the batch knows, without a statement, and gathers what it
/// writes into `pending`; `None` when the event needs its own lookups (its alert may be open, its
/// group is unknown, its service is in maintenance).
fn gather(
    facts: &mut BatchFacts,
    pending: &mut Pending,
    item: &IngestItem,
    ev: &AlertEvent,
) -> Option<IngestOutcome> {
    let integ = &item.integration;
    let key = (integ.id.as_str().to_owned(), ev.dedup_key.clone());
    if !facts.read || facts.open_keys.contains(&key) || facts.touched.contains(&key) {
        return None;
    }
    let AlertAction::Trigger(d) = &ev.action else {
        // An acknowledgement or a resolve for an alert that is not open.
        let decision = dedup::decide(ev.action.kind(), None, false);
        return (decision == dedup::Decision::Drop).then_some(IngestOutcome {
            decision: Some(decision),
            incident_id: None,
        });
    };
    let group = match &ev.group_key {
        None => Group::None,
        Some(g) => facts
            .groups
            .get(&(integ.id.as_str().to_owned(), g.clone()))?
            .clone(),
    };
    let decision = dedup::decide(EventAction::Trigger, None, !matches!(group, Group::None));
    let incident_id = match (decision, group) {
        (dedup::Decision::OpenIncident, _) => {
            if facts
                .maintenance_services
                .contains(integ.service_id.as_str())
            {
                return None;
            }
            let (id, index) = pending.open(item, ev, d);
            if let Some(g) = &ev.group_key {
                facts.groups.insert(
                    (integ.id.as_str().to_owned(), g.clone()),
                    Group::Pending(index),
                );
            }
            id
        }
        (dedup::Decision::JoinIncident, Group::Pending(index)) => pending.join_new(index, item, d),
        (dedup::Decision::JoinIncident, Group::Open { id, severity }) => {
            let severity = worse(severity, d.severity_or_default());
            pending.join_open(&id, severity, item, d);
            if let Some(g) = &ev.group_key {
                facts.groups.insert(
                    (integ.id.as_str().to_owned(), g.clone()),
                    Group::Open {
                        id: id.clone(),
                        severity,
                    },
                );
            }
            id
        }
        _ => return None,
    };
    facts.touched.insert(key);
    Some(IngestOutcome {
        decision: Some(decision),
        incident_id: Some(IncidentId(incident_id)),
    })
}

/// New incidents, alerts joining incidents, and their timeline entries, gathered from a run of
/// events and written in one statement (arrays unnested server-side): the statements of a
/// batch do not grow with its events. Column-wise, as the statement binds them.
#[derive(Default)]
struct Pending {
    // New incidents.
    inc_id: Vec<String>,
    inc_service: Vec<String>,
    inc_integration: Vec<String>,
    inc_title: Vec<String>,
    inc_urgency: Vec<String>,
    inc_severity: Vec<String>,
    inc_dedup_key: Vec<String>,
    inc_group_key: Vec<Option<String>>,
    inc_alerts: Vec<i64>,
    inc_created: Vec<i64>,
    inc_updated: Vec<i64>,
    /// The escalation lane of the incident's first step: its urgency when it opened.
    inc_priority: Vec<i64>,
    // Alerts (of new incidents and of joins).
    al_id: Vec<String>,
    al_integration: Vec<String>,
    al_service: Vec<String>,
    al_incident: Vec<String>,
    al_dedup_key: Vec<String>,
    al_summary: Vec<String>,
    al_source: Vec<String>,
    al_severity: Vec<String>,
    al_component: Vec<Option<String>>,
    al_group: Vec<Option<String>>,
    al_class: Vec<Option<String>>,
    al_details: Vec<Option<String>>,
    al_links: Vec<Option<String>>,
    al_images: Vec<Option<String>>,
    al_client: Vec<Option<String>>,
    al_client_url: Vec<Option<String>>,
    al_detected: Vec<Option<i64>>,
    al_at: Vec<i64>,
    // Alerts joining incidents opened before the batch: one row per incident.
    up_index: HashMap<String, usize>,
    up_id: Vec<String>,
    up_added: Vec<i64>,
    up_severity: Vec<String>,
    up_urgency: Vec<String>,
    up_at: Vec<i64>,
    // Timeline entries, in order.
    tl_incident: Vec<String>,
    tl_service: Vec<String>,
    tl_at: Vec<i64>,
    tl_kind: Vec<&'static str>,
    tl_actor_id: Vec<String>,
    tl_actor_name: Vec<String>,
    tl_channel: Vec<&'static str>,
    tl_message: Vec<String>,
    /// What the statement checks before it writes anything: empty inside a transaction that
    /// took its locks and read first.
    guard: Guard,
}

/// What a batch asks before it decides (migration 0012's functions): whether its alerts are
/// open, and whether its services are in a maintenance window at some moment between the first
/// and the last of its alert events.
#[derive(Default)]
struct Questions {
    integrations: Vec<String>,
    dedup_keys: Vec<String>,
    services: Vec<String>,
    first: i64,
    last: i64,
}

impl Questions {
    /// The questions of the batch's alert events.
    fn of(batch: &[IngestItem]) -> Self {
        let mut q = Self {
            first: i64::MAX,
            last: i64::MIN,
            ..Self::default()
        };
        for item in batch {
            if let IngestEvent::Alert(ev) = &item.event {
                q.integrations.push(item.integration.id.as_str().to_owned());
                q.dedup_keys.push(ev.dedup_key.clone());
                q.services
                    .push(item.integration.service_id.as_str().to_owned());
                q.first = q.first.min(ms(item.received_at));
                q.last = q.last.max(ms(item.received_at));
            }
        }
        q.services.sort_unstable();
        q.services.dedup();
        q
    }
}

/// For a batch written without an explicit transaction (`apply_new`): the locks the statement
/// takes, and what must hold for it to write (none of the alerts open, none of the services in
/// maintenance).
#[derive(Default)]
struct Guard {
    locks: Vec<String>,
    questions: Questions,
}

impl Guard {
    fn checks(&self) -> bool {
        !self.questions.integrations.is_empty()
    }
}

impl Pending {
    /// A new incident with its first alert; returns its id and index.
    fn open(&mut self, item: &IngestItem, ev: &AlertEvent, d: &AlertDetails) -> (String, usize) {
        let integ = &item.integration;
        let severity = d.severity_or_default();
        let id = new_id();
        let index = self.inc_id.len();
        self.inc_id.push(id.clone());
        self.inc_service.push(integ.service_id.as_str().to_owned());
        self.inc_integration.push(integ.id.as_str().to_owned());
        self.inc_title.push(d.summary.clone());
        self.inc_urgency
            .push(severity.urgency().as_str().to_owned());
        self.inc_severity.push(severity.as_str().to_owned());
        self.inc_dedup_key.push(ev.dedup_key.clone());
        self.inc_group_key.push(ev.group_key.clone());
        self.inc_alerts.push(1);
        self.inc_created.push(ms(item.received_at));
        self.inc_updated.push(ms(item.received_at));
        self.inc_priority
            .push(i64::from(severity.urgency() == Urgency::High));
        self.alert(&id, item, &ev.dedup_key, d);
        self.entry(
            &id,
            item,
            "triggered",
            format!("Triggered by {} ({}): {}", integ.name, severity, d.summary),
        );
        (id, index)
    }

    /// An alert joining the new incident at `index`; returns the incident's id.
    fn join_new(&mut self, index: usize, item: &IngestItem, d: &AlertDetails) -> String {
        let id = self.inc_id[index].clone();
        let current = Severity::parse(&self.inc_severity[index]).unwrap_or(Severity::Info);
        let severity = worse(current, d.severity_or_default());
        self.inc_severity[index] = severity.as_str().to_owned();
        self.inc_urgency[index] = severity.urgency().as_str().to_owned();
        self.inc_alerts[index] += 1;
        self.inc_updated[index] = ms(item.received_at);
        self.joined(&id, item, d);
        id
    }

    /// An alert joining an incident opened before the batch, which then has `severity`.
    fn join_open(&mut self, id: &str, severity: Severity, item: &IngestItem, d: &AlertDetails) {
        let at = ms(item.received_at);
        match self.up_index.get(id) {
            Some(&i) => {
                self.up_added[i] += 1;
                self.up_severity[i] = severity.as_str().to_owned();
                self.up_urgency[i] = severity.urgency().as_str().to_owned();
                self.up_at[i] = at;
            }
            None => {
                self.up_index.insert(id.to_owned(), self.up_id.len());
                self.up_id.push(id.to_owned());
                self.up_added.push(1);
                self.up_severity.push(severity.as_str().to_owned());
                self.up_urgency.push(severity.urgency().as_str().to_owned());
                self.up_at.push(at);
            }
        }
        self.joined(id, item, d);
    }

    fn joined(&mut self, incident: &str, item: &IngestItem, d: &AlertDetails) {
        let IngestEvent::Alert(ev) = &item.event else {
            return;
        };
        self.alert(incident, item, &ev.dedup_key, d);
        self.entry(
            incident,
            item,
            "alert_added",
            format!("Alert added ({}): {}", d.severity_or_default(), d.summary),
        );
    }

    fn alert(&mut self, incident: &str, item: &IngestItem, dedup_key: &str, d: &AlertDetails) {
        self.al_id.push(new_id());
        self.al_integration
            .push(item.integration.id.as_str().to_owned());
        self.al_service
            .push(item.integration.service_id.as_str().to_owned());
        self.al_incident.push(incident.to_owned());
        self.al_dedup_key.push(dedup_key.to_owned());
        self.al_summary.push(d.summary.clone());
        self.al_source.push(d.source.clone());
        self.al_severity
            .push(d.severity_or_default().as_str().to_owned());
        self.al_component.push(d.component.clone());
        self.al_group.push(d.group.clone());
        self.al_class.push(d.class.clone());
        self.al_details
            .push(d.custom_details.as_ref().map(json_or_null));
        self.al_links
            .push((!d.links.is_empty()).then(|| json_or_null(&d.links)));
        self.al_images
            .push((!d.images.is_empty()).then(|| json_or_null(&d.images)));
        self.al_client.push(d.client.clone());
        self.al_client_url.push(d.client_url.clone());
        self.al_detected.push(d.timestamp.map(ms));
        self.al_at.push(ms(item.received_at));
    }

    fn entry(&mut self, incident: &str, item: &IngestItem, kind: &'static str, message: String) {
        let actor = Actor::integration(&item.integration);
        self.tl_incident.push(incident.to_owned());
        self.tl_service
            .push(item.integration.service_id.as_str().to_owned());
        self.tl_at.push(ms(item.received_at));
        self.tl_kind.push(kind);
        self.tl_actor_id.push(actor.id);
        self.tl_actor_name.push(actor.name);
        self.tl_channel
            .push(Channel::from(item.integration.kind).as_str());
        self.tl_message.push(message);
    }

    /// Writes what was gathered, in one statement, and starts over. The incidents' numbers come
    /// from the `incident_numbers` sequence, in the order the incidents opened; the new incidents
    /// of services with an escalation policy are due for their first step when they opened.
    async fn write(&mut self, c: &mut PgConnection, facts: &mut BatchFacts) -> Result<bool> {
        if self.al_id.is_empty() {
            return Ok(true);
        }
        let opened = i64::try_from(self.inc_id.len())
            .map_err(|_| StoreError::Backend("too many incidents in one batch".into()))?;
        let done = sqlx::query(
            "WITH g AS MATERIALIZED (
               SELECT cardinality($46::text[]) = 0
                 OR ingest_new_batch_allowed($45, $46, $47, $48, $49, $50) AS ok
             ), i AS (
               INSERT INTO incidents (id, number, service_id, integration_id, title, status,
                 urgency, severity, dedup_key, group_key, alert_count, open_alerts, created_at,
                 updated_at)
               SELECT o.id, nextval('incident_numbers'), o.service_id, o.integration_id, o.title,
                 'triggered', o.urgency, o.severity, o.dedup_key, o.group_key, o.alerts, o.alerts,
                 o.created, o.updated
               FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                   $7::text[], $8::text[], $9::text[], $10::bigint[], $11::bigint[],
                   $12::bigint[])
                 WITH ORDINALITY AS o(id, service_id, integration_id, title, urgency, severity,
                   dedup_key, group_key, alerts, created, updated, ord)
               WHERE (SELECT ok FROM g)
               ORDER BY o.ord
               RETURNING 1
             ), e AS (
               INSERT INTO escalations (incident_id, policy_id, due_at, priority)
               SELECT o.id, s.escalation_policy_id, o.created, o.priority
               FROM unnest($2::text[], $3::text[], $11::bigint[], $13::bigint[])
                 AS o(id, service_id, created, priority)
               JOIN services s ON s.id = o.service_id
               WHERE s.escalation_policy_id IS NOT NULL AND (SELECT ok FROM g)
             ), a AS (
               INSERT INTO alerts (id, integration_id, service_id, incident_id, dedup_key, status,
                 summary, source, severity, component, grp, class, custom_details, links, images,
                 client, client_url, detected_at, first_seen, last_seen, occurrences)
               SELECT a.id, a.integration_id, a.service_id, a.incident_id, a.dedup_key, 'open',
                 a.summary, a.source, a.severity, a.component, a.grp, a.class, a.details, a.links,
                 a.images, a.client, a.client_url, a.detected, a.at, a.at, 1
               FROM unnest($14::text[], $15::text[], $16::text[], $17::text[], $18::text[],
                   $19::text[], $20::text[], $21::text[], $22::text[], $23::text[], $24::text[],
                   $25::text[], $26::text[], $27::text[], $28::text[], $29::text[],
                   $30::bigint[], $31::bigint[])
                 AS a(id, integration_id, service_id, incident_id, dedup_key, summary, source,
                   severity, component, grp, class, details, links, images, client, client_url,
                   detected, at)
               WHERE (SELECT ok FROM g)
             ), u AS (
               UPDATE incidents SET alert_count = alert_count + x.added,
                 open_alerts = open_alerts + x.added, severity = x.severity,
                 urgency = x.urgency, updated_at = x.at
               FROM unnest($32::text[], $33::bigint[], $34::text[], $35::text[], $36::bigint[])
                 AS x(id, added, severity, urgency, at)
               WHERE incidents.id = x.id AND (SELECT ok FROM g)
             )
             INSERT INTO timeline (incident_id, service_id, at, kind, actor_id, actor_name,
               channel, message)
             SELECT t.incident_id, t.service_id, t.at, t.kind, t.actor_id, t.actor_name,
               t.channel, t.message
             FROM unnest($37::text[], $38::text[], $39::bigint[], $40::text[], $41::text[],
                 $42::text[], $43::text[], $44::text[])
               WITH ORDINALITY AS t(incident_id, service_id, at, kind, actor_id, actor_name,
                 channel, message, ord)
             WHERE (SELECT ok FROM g) AND (SELECT count(*) FROM i) = $1
             ORDER BY t.ord",
        )
        .bind(opened)
        .bind(&self.inc_id)
        .bind(&self.inc_service)
        .bind(&self.inc_integration)
        .bind(&self.inc_title)
        .bind(&self.inc_urgency)
        .bind(&self.inc_severity)
        .bind(&self.inc_dedup_key)
        .bind(&self.inc_group_key)
        .bind(&self.inc_alerts)
        .bind(&self.inc_created)
        .bind(&self.inc_updated)
        .bind(&self.inc_priority)
        .bind(&self.al_id)
        .bind(&self.al_integration)
        .bind(&self.al_service)
        .bind(&self.al_incident)
        .bind(&self.al_dedup_key)
        .bind(&self.al_summary)
        .bind(&self.al_source)
        .bind(&self.al_severity)
        .bind(&self.al_component)
        .bind(&self.al_group)
        .bind(&self.al_class)
        .bind(&self.al_details)
        .bind(&self.al_links)
        .bind(&self.al_images)
        .bind(&self.al_client)
        .bind(&self.al_client_url)
        .bind(&self.al_detected)
        .bind(&self.al_at)
        .bind(&self.up_id)
        .bind(&self.up_added)
        .bind(&self.up_severity)
        .bind(&self.up_urgency)
        .bind(&self.up_at)
        .bind(&self.tl_incident)
        .bind(&self.tl_service)
        .bind(&self.tl_at)
        .bind(&self.tl_kind)
        .bind(&self.tl_actor_id)
        .bind(&self.tl_actor_name)
        .bind(&self.tl_channel)
        .bind(&self.tl_message)
        .bind(&self.guard.locks)
        .bind(&self.guard.questions.integrations)
        .bind(&self.guard.questions.dedup_keys)
        .bind(&self.guard.questions.services)
        .bind(self.guard.questions.first)
        .bind(self.guard.questions.last)
        .execute(&mut *c)
        .await?;
        if done.rows_affected() == 0 && self.guard.checks() {
            // The batch was not all new after all: nothing was written.
            *self = Self::default();
            return Ok(false);
        }
        // Every gathered event has a timeline entry, written once every new incident was.
        if done.rows_affected() != self.tl_incident.len() as u64 {
            return Err(StoreError::Backend(
                "an ingest batch's incidents were not all written".into(),
            ));
        }
        // The new incidents are now open incidents the batch holds.
        for group in facts.groups.values_mut() {
            if let Group::Pending(index) = *group {
                *group = Group::Open {
                    id: self.inc_id[index].clone(),
                    severity: Severity::parse(&self.inc_severity[index]).unwrap_or(Severity::Info),
                };
            }
        }
        *self = Self::default();
        Ok(true)
    }
}

/// Applies one alert event inside the transaction, looking everything up.
pub(super) async fn ingest_alert(
    c: &mut PgConnection,
    item: &IngestItem,
    ev: &AlertEvent,
) -> Result<IngestOutcome> {
    ingest_alert_in_batch(c, &mut BatchFacts::unread(), item, ev).await
}

/// Applies one alert event of an ingest batch, with what the batch read up front.
async fn ingest_alert_in_batch(
    c: &mut PgConnection,
    facts: &mut BatchFacts,
    item: &IngestItem,
    ev: &AlertEvent,
) -> Result<IngestOutcome> {
    let integ = &item.integration;
    let now = item.received_at;
    let actor = Actor::integration(integ);
    let channel = Channel::from(integ.kind);
    let key = (integ.id.as_str().to_owned(), ev.dedup_key.clone());
    // No open alert when the batch started and no earlier event of the batch touched the key:
    // none now either (the batch holds the key's lock), so no lookup.
    let may_be_open = !facts.read || facts.open_keys.contains(&key) || facts.touched.contains(&key);
    facts.touched.insert(key);
    let open: Option<(String, String, String, u32)> = if !may_be_open {
        None
    } else {
        match sqlx::query(
            "SELECT a.id, a.incident_id, i.status, i.open_alerts FROM alerts a
             JOIN incidents i ON i.id = a.incident_id
             WHERE a.integration_id = $1 AND a.dedup_key = $2 AND a.status = 'open'
             FOR UPDATE",
        )
        .bind(integ.id.as_str())
        .bind(&ev.dedup_key)
        .fetch_optional(&mut *c)
        .await?
        {
            Some(r) => Some((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, u32_at(&r, 3)?)),
            None => None,
        }
    };
    let open_view = match &open {
        Some((_, _, status, n)) => Some(OpenAlert {
            incident_status: IncidentStatus::parse(status)
                .ok_or_else(|| StoreError::Backend(format!("bad incident status {status:?}")))?,
            incident_open_alerts: *n,
        }),
        None => None,
    };
    let group_incident: Option<(String, String)> = match (&ev.group_key, &open) {
        (Some(g), None) if ev.action.kind() == EventAction::Trigger => {
            match sqlx::query(
                "SELECT id, severity FROM incidents
                 WHERE integration_id = $1 AND group_key = $2 AND status <> 'resolved'
                 ORDER BY number DESC LIMIT 1 FOR UPDATE",
            )
            .bind(integ.id.as_str())
            .bind(g)
            .fetch_optional(&mut *c)
            .await?
            {
                Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
                None => None,
            }
        }
        _ => None,
    };
    let decision = dedup::decide(ev.action.kind(), open_view, group_incident.is_some());
    let incident_id: Option<String> = match decision {
        dedup::Decision::OpenIncident => {
            let AlertAction::Trigger(d) = &ev.action else {
                return Err(StoreError::Backend("open decision without trigger".into()));
            };
            let severity = d.severity_or_default();
            if facts.read
                && !facts
                    .maintenance_services
                    .contains(integ.service_id.as_str())
            {
                // In one statement, as the gathered new incidents of a batch are written.
                let mut one = Pending::default();
                let (incident_id, _) = one.open(item, ev, d);
                one.write(c, facts).await?;
                return Ok(IngestOutcome {
                    decision: Some(decision),
                    incident_id: Some(IncidentId(incident_id)),
                });
            }
            let number: i64 = sqlx::query_scalar("SELECT nextval('incident_numbers')")
                .fetch_one(&mut *c)
                .await?;
            let incident_id = new_id();
            sqlx::query(
                "INSERT INTO incidents (id, number, service_id, integration_id, title, status,
                   urgency, severity, dedup_key, group_key, alert_count, open_alerts, created_at,
                   updated_at)
                 VALUES ($1, $2, $3, $4, $5, 'triggered', $6, $7, $8, $9, 1, 1, $10, $10)",
            )
            .bind(&incident_id)
            .bind(number)
            .bind(integ.service_id.as_str())
            .bind(integ.id.as_str())
            .bind(&d.summary)
            .bind(severity.urgency().as_str())
            .bind(severity.as_str())
            .bind(&ev.dedup_key)
            .bind(&ev.group_key)
            .bind(ms(now))
            .execute(&mut *c)
            .await?;
            insert_alert(c, item, ev, d, &incident_id).await?;
            start_paging(c, &incident_id, integ.service_id.as_str(), now).await?;
            insert_timeline(
                c,
                Entry {
                    incident_id: Some(&incident_id),
                    service_id: integ.service_id.as_str(),
                    at: now,
                    kind: "triggered",
                    actor: &actor,
                    channel,
                    message: &format!("Triggered by {} ({}): {}", integ.name, severity, d.summary),
                },
            )
            .await?;
            Some(incident_id)
        }
        dedup::Decision::JoinIncident => {
            let (AlertAction::Trigger(d), Some((incident_id, inc_severity))) =
                (&ev.action, group_incident)
            else {
                return Err(StoreError::Backend("join decision without group".into()));
            };
            let new = d.severity_or_default();
            let severity = Severity::parse(&inc_severity).map_or(new, |c| worse(c, new));
            // The alert, the incident's counts and the timeline entry in one statement, as
            // the gathered joins of a batch are written.
            let mut one = Pending::default();
            one.join_open(&incident_id, severity, item, d);
            one.write(c, facts).await?;
            Some(incident_id)
        }
        dedup::Decision::Repeat => {
            let (Some((alert_id, incident_id, _, _)), AlertAction::Trigger(d)) = (open, &ev.action)
            else {
                return Err(StoreError::Backend(
                    "repeat decision without open alert".into(),
                ));
            };
            // The alert and its incident in one statement. Severity only ever rises on an open
            // incident.
            sqlx::query(
                "WITH a AS (
                   UPDATE alerts SET last_seen = $2, occurrences = occurrences + 1, summary = $3,
                     severity = $4, custom_details = $5 WHERE id = $1
                 )
                 UPDATE incidents SET updated_at = $2,
                   severity = CASE WHEN $7 > (CASE severity WHEN 'critical' THEN 3 WHEN 'error' THEN 2
                       WHEN 'warning' THEN 1 ELSE 0 END) THEN $4 ELSE severity END,
                   urgency = CASE WHEN $7 > (CASE severity WHEN 'critical' THEN 3 WHEN 'error' THEN 2
                       WHEN 'warning' THEN 1 ELSE 0 END) THEN $8 ELSE urgency END
                 WHERE id = $6",
            )
            .bind(&alert_id)
            .bind(ms(now))
            .bind(&d.summary)
            .bind(d.severity_or_default().as_str())
            .bind(d.custom_details.as_ref().map(json_or_null))
            .bind(&incident_id)
            .bind(i64::from(d.severity_or_default().rank()))
            .bind(d.severity_or_default().urgency().as_str())
            .execute(&mut *c)
            .await?;
            Some(incident_id)
        }
        dedup::Decision::Acknowledge => {
            let Some((_, incident_id, _, _)) = open else {
                return Err(StoreError::Backend(
                    "ack decision without open alert".into(),
                ));
            };
            sqlx::query(
                "UPDATE incidents SET status = 'acknowledged', acknowledged_at = $2, updated_at = $2
                 WHERE id = $1",
            )
            .bind(&incident_id)
            .bind(ms(now))
            .execute(&mut *c)
            .await?;
            stop_paging(c, &incident_id, Some(now)).await?;
            insert_timeline(
                c,
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
            )
            .await?;
            Some(incident_id)
        }
        dedup::Decision::AlreadyAcknowledged => open.map(|(_, incident_id, _, _)| incident_id),
        dedup::Decision::Resolve { incident_too } => {
            let Some((alert_id, incident_id, _, _)) = open else {
                return Err(StoreError::Backend(
                    "resolve decision without open alert".into(),
                ));
            };
            sqlx::query("UPDATE alerts SET status = 'resolved', resolved_at = $2 WHERE id = $1")
                .bind(&alert_id)
                .bind(ms(now))
                .execute(&mut *c)
                .await?;
            if incident_too {
                sqlx::query(
                    "UPDATE incidents SET status = 'resolved', open_alerts = 0, resolved_at = $2,
                       updated_at = $2 WHERE id = $1",
                )
                .bind(&incident_id)
                .bind(ms(now))
                .execute(&mut *c)
                .await?;
                stop_paging(c, &incident_id, None).await?;
                insert_timeline(
                    c,
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
                )
                .await?;
            } else {
                sqlx::query(
                    "UPDATE incidents SET open_alerts = open_alerts - 1, updated_at = $2 WHERE id = $1",
                )
                .bind(&incident_id)
                .bind(ms(now))
                .execute(&mut *c)
                .await?;
                insert_timeline(
                    c,
                    Entry {
                        incident_id: Some(&incident_id),
                        service_id: integ.service_id.as_str(),
                        at: now,
                        kind: "alert_resolved",
                        actor: &actor,
                        channel,
                        message: &format!("Alert {} resolved by {}", ev.dedup_key, integ.name),
                    },
                )
                .await?;
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

/// The severity of an incident at `current` that an alert at `new` joins.
fn worse(current: Severity, new: Severity) -> Severity {
    if current.rank() >= new.rank() {
        current
    } else {
        new
    }
}

async fn insert_alert(
    c: &mut PgConnection,
    item: &IngestItem,
    ev: &AlertEvent,
    d: &AlertDetails,
    incident_id: &str,
) -> Result<()> {
    let now = ms(item.received_at);
    sqlx::query(
        "INSERT INTO alerts (id, integration_id, service_id, incident_id, dedup_key, status,
           summary, source, severity, component, grp, class, custom_details, links, images, client,
           client_url, detected_at, first_seen, last_seen, occurrences)
         VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                 $17, $18, $18, 1)",
    )
    .bind(new_id())
    .bind(item.integration.id.as_str())
    .bind(item.integration.service_id.as_str())
    .bind(incident_id)
    .bind(&ev.dedup_key)
    .bind(&d.summary)
    .bind(&d.source)
    .bind(d.severity_or_default().as_str())
    .bind(&d.component)
    .bind(&d.group)
    .bind(&d.class)
    .bind(d.custom_details.as_ref().map(json_or_null))
    .bind((!d.links.is_empty()).then(|| json_or_null(&d.links)))
    .bind((!d.images.is_empty()).then(|| json_or_null(&d.images)))
    .bind(&d.client)
    .bind(&d.client_url)
    .bind(d.timestamp.map(ms))
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(())
}

async fn ingest_change(
    c: &mut PgConnection,
    item: &IngestItem,
    ev: &ChangeEvent,
) -> Result<IngestOutcome> {
    let integ = &item.integration;
    let at = ev.timestamp.unwrap_or(item.received_at);
    sqlx::query(
        r#"INSERT INTO change_events (id, service_id, integration_id, summary, source, "timestamp",
             custom_details, links, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"#,
    )
    .bind(new_id())
    .bind(integ.service_id.as_str())
    .bind(integ.id.as_str())
    .bind(&ev.summary)
    .bind(&ev.source)
    .bind(ms(at))
    .bind(ev.custom_details.as_ref().map(json_or_null))
    .bind((!ev.links.is_empty()).then(|| json_or_null(&ev.links)))
    .bind(ms(item.received_at))
    .execute(&mut *c)
    .await?;
    insert_timeline(
        c,
        Entry {
            incident_id: None,
            service_id: integ.service_id.as_str(),
            at,
            kind: "change",
            actor: &Actor::integration(integ),
            channel: Channel::EventsV2,
            message: &format!("Change: {}", ev.summary),
        },
    )
    .await?;
    Ok(IngestOutcome {
        decision: None,
        incident_id: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{service_with_integration, t, trigger};
    use dedup::Decision;

    /// A batch of new alerts is written in one statement (`apply_new`) only when none of them is
    /// open and none of their services in maintenance. Otherwise nothing is written (no incident
    /// number is used up either) and the store takes the batch the usual way, deciding it as
    /// before.
    #[tokio::test]
    async fn new_alerts_are_written_at_once_only_when_they_are_new() {
        let Some(db) = crate::contract::pg_store("ingest_apply_new").await else {
            return;
        };
        let s = &db.store;
        let i = service_with_integration(s, IntegrationType::EventsV2).await;
        let item = |key: &str, group: Option<&str>, at: i64| IngestItem {
            integration: i.clone(),
            event: IngestEvent::Alert(trigger(key, "down", Severity::Error, group)),
            received_at: t(at),
        };
        let decisions = |out: &[IngestOutcome]| -> Vec<Decision> {
            out.iter().filter_map(|o| o.decision).collect()
        };
        let mut c = s.ingest_pool.acquire().await.unwrap();

        let batch = vec![item("a", None, 1), item("b", None, 1)];
        assert!(looks_new(&batch));
        let out = apply_new(&mut c, &lock_keys(&batch), &batch)
            .await
            .expect("written at once");
        assert_eq!(
            decisions(&out),
            [Decision::OpenIncident, Decision::OpenIncident]
        );
        assert_eq!(s.count_open_incidents().await.unwrap(), 2);

        // "a" is open: nothing is written at once, and the usual way repeats it.
        let batch = vec![item("c", None, 2), item("a", None, 2)];
        assert!(looks_new(&batch));
        assert!(
            apply_new(&mut c, &lock_keys(&batch), &batch)
                .await
                .is_none()
        );
        assert_eq!(s.count_open_incidents().await.unwrap(), 2);
        let out = s.ingest(batch).await.unwrap();
        assert_eq!(decisions(&out), [Decision::OpenIncident, Decision::Repeat]);

        // A maintenance window over the service: a new incident's first step is held, which
        // only the usual way does.
        s.create_maintenance(
            NewMaintenance {
                title: "upgrade".into(),
                description: String::new(),
                starts_at: t(0),
                ends_at: t(100),
                services: vec![i.service_id.clone()],
            },
            t(0),
        )
        .await
        .unwrap();
        let batch = vec![item("d", None, 3)];
        assert!(
            apply_new(&mut c, &lock_keys(&batch), &batch)
                .await
                .is_none()
        );
        let out = s.ingest(batch).await.unwrap();
        assert_eq!(decisions(&out), [Decision::OpenIncident]);

        // Batches that do not look new: a key twice, a group key, anything but a trigger.
        assert!(!looks_new(&[item("e", None, 4), item("e", None, 4)]));
        assert!(!looks_new(&[item("e", Some("g"), 4)]));
        let ack = IngestItem {
            event: IngestEvent::Alert(AlertEvent {
                dedup_key: "e".into(),
                action: AlertAction::Acknowledge,
                group_key: None,
            }),
            ..item("e", None, 4)
        };
        assert!(!looks_new(&[item("f", None, 4), ack]));

        let mut numbers: Vec<i64> = s
            .list_incidents(IncidentFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .iter()
            .map(|i| i.number)
            .collect();
        numbers.sort_unstable();
        assert_eq!(
            numbers,
            [1, 2, 3, 4],
            "no number used up by a batch not written"
        );
    }

    /// During a rolling upgrade, nodes of the release before the `incident_numbers` sequence
    /// number incidents by adding one to the `counters` row: they draw from the same sequence.
    #[tokio::test]
    async fn the_previous_release_draws_incident_numbers_from_the_sequence() {
        let Some(db) = crate::contract::pg_store("ingest_numbers_upgrade").await else {
            return;
        };
        let pool = &db.store.pool;
        let new: i64 = sqlx::query_scalar("SELECT nextval('incident_numbers')")
            .fetch_one(pool)
            .await
            .unwrap();
        let old: i64 = sqlx::query_scalar(
            "UPDATE counters SET value = value + 1 WHERE name = 'incident_number' RETURNING value",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        let newer: i64 = sqlx::query_scalar("SELECT nextval('incident_numbers')")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!((new, old, newer), (1, 2, 3));
    }
}
