//! The escalation driver: claims the escalation steps that are due (with a lease, so several
//! nodes never take the same step and a crashed node's steps are taken over), asks the core
//! what the step is, resolves its targets to the people's contact methods and notification
//! rules, and records the step, the queued notifications and the timeline in one transaction.
//! Its state lives in the database: a restart resumes exactly where it stopped.

use crate::lease::{Lease, Ticket};
use crate::reach::{ContactPlan, Unreachable};
use crate::{Clock, LiveEvent};
use jiff::{SignedDuration, Timestamp};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tocsin_core::escalation::{self, Cursor, Notify};
use tocsin_core::{Urgency, UserId};
use tocsin_store::*;
use tokio::sync::{broadcast, watch};

/// Steps claimed, planned and recorded (in one commit) at a time. The store hands out
/// high-urgency steps first, so this bounds how long a new high-urgency step can wait behind
/// low-urgency work already taken: one batch.
const STEPS_PER_BATCH_MAX: u32 = 64;
/// The longest the loop sleeps without looking (a wake-up is also sent on every change).
const IDLE_MAX: Duration = Duration::from_secs(1);

pub struct Escalator {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// What claims are made with (and fenced by).
    lease: Arc<Lease>,
    /// One pass at a time on this node: when `run_due` returns, every step that was due when
    /// it was called has been taken, including one another pass had claimed.
    pass: tokio::sync::Mutex<()>,
    live: broadcast::Sender<LiveEvent>,
}

impl Escalator {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        lease: Arc<Lease>,
        live: broadcast::Sender<LiveEvent>,
    ) -> Self {
        Self {
            store,
            clock,
            lease,
            pass: tokio::sync::Mutex::new(()),
            live,
        }
    }

    /// Takes every step due now; returns how many were recorded.
    pub async fn run_due(&self) -> Result<usize> {
        self.pass(None).await
    }

    /// Takes every step due now, batch by batch, until none is left or `stop` turns true.
    async fn pass(&self, stop: Option<&watch::Receiver<bool>>) -> Result<usize> {
        let _pass = self.pass.lock().await;
        let mut done = 0;
        for id in self
            .store
            .retrigger_expired_acknowledgements(self.clock.now())
            .await?
        {
            tracing::info!(incident = %id, "acknowledgement timed out: triggered again");
            let _ = self.live.send(LiveEvent::IncidentChanged { id });
        }
        loop {
            if stop.is_some_and(|s| *s.borrow()) {
                return Ok(done);
            }
            let now = self.clock.now();
            let ticket = self.lease.ticket();
            let due = self
                .store
                .claim_due_escalations(ticket.token(), now, ticket.until(), STEPS_PER_BATCH_MAX)
                .await?;
            if due.is_empty() {
                return Ok(done);
            }
            done += self.batch(due, &ticket, now).await?;
        }
    }

    /// Plans each claimed step, then records them all in one commit.
    async fn batch(
        &self,
        due: Vec<DueEscalation>,
        ticket: &Ticket,
        now: Timestamp,
    ) -> Result<usize> {
        // Lookups shared by the batch: in a storm, most steps page the same people.
        let mut cache = Lookups::default();
        let mut steps = Vec::with_capacity(due.len());
        let mut stranded = Vec::with_capacity(due.len());
        for d in due {
            let lateness = now.duration_since(d.due_at).as_secs_f64().max(0.0);
            metrics::histogram!("tocsin_escalation_lateness_seconds").record(lateness);
            let id = d.incident.id.clone();
            match self.plan(d, ticket.token(), now, &mut cache).await {
                Ok((step, nobody)) => {
                    steps.push(step);
                    stranded.push(nobody);
                }
                Err(e) => {
                    tracing::error!(incident = %id, error = %e, "planning an escalation step failed; it is retried when its lease ends")
                }
            }
        }
        let ids: Vec<_> = steps.iter().map(|s| s.incident_id.clone()).collect();
        let recorded = self.store.record_escalation_steps(steps, now).await?;
        let mut done = 0;
        for ((id, recorded), stranded) in ids.into_iter().zip(recorded).zip(stranded) {
            if !recorded {
                continue;
            }
            done += 1;
            if stranded {
                self.meta_alert(&id, now).await?;
            }
            let _ = self.live.send(LiveEvent::IncidentChanged { id });
        }
        if done > 0 {
            // Wake the dispatchers: the steps queued notifications due now.
            let _ = self.live.send(LiveEvent::PagesQueued);
        }
        Ok(done)
    }

    /// What one step does: the next level's targets resolved to the people's contact methods.
    /// Also says whether the step leaves the incident with nobody reached and no level left.
    async fn plan(
        &self,
        d: DueEscalation,
        token: &str,
        now: Timestamp,
        cache: &mut Lookups,
    ) -> Result<(EscalationStep, bool)> {
        let policy = match d.policy.to_core() {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(policy = %d.policy.id, error = %e, "stored escalation policy is invalid");
                let step = self.exhausted(
                    &d,
                    token,
                    "Escalation policy is invalid: escalation stopped",
                );
                return Ok((step, false));
            }
        };
        let cursor = d.cursor.map(|c| Cursor {
            level: c.level as usize,
            round: c.round,
            step: c.step,
        });
        let plan = match (d.reassign_to.clone(), d.manual_level, d.cursor) {
            (Some(user), _, _) => Some(escalation::reassign(&policy, cursor, user, now)),
            (None, Some(level), _) => escalation::escalate_to(&policy, cursor, level as usize, now),
            // Each incident starts its steps at its number, so round-robins take turns.
            (None, None, None) => Some(escalation::begin_from(
                &policy,
                now,
                u32::try_from(d.incident.number).unwrap_or(0),
            )),
            (None, None, Some(_)) => cursor.and_then(|c| escalation::advance(&policy, c, now)),
        };
        let Some(plan) = plan else {
            // Nothing left: stop looking at this incident.
            let step = self.exhausted(
                &d,
                token,
                "Escalation policy exhausted: the incident stays with the last level",
            );
            return Ok((step, false));
        };
        let cursor = StepCursor {
            level: u32::try_from(plan.cursor.level).unwrap_or(u32::MAX),
            round: plan.cursor.round,
            step: plan.cursor.step,
        };
        let mut notifications = Vec::new();
        let mut reached: Vec<String> = Vec::new();
        let mut unreachable: Vec<String> = Vec::new();
        for target in &plan.notify {
            let users: Vec<UserId> = match target {
                Notify::User(u) => vec![u.clone()],
                Notify::Schedule(s) => match cache.on_call(self.store.as_ref(), s, now).await? {
                    Some(u) => vec![u],
                    None => {
                        unreachable.push(format!("schedule {s} (nobody on call)"));
                        Vec::new()
                    }
                },
            };
            for user in users {
                let (name, queued, why) = self
                    .notifications_for(&d.incident, &user, cursor.step, now, cache)
                    .await?;
                if queued.is_empty() {
                    let why = why.unwrap_or(Unreachable::NoContactMethod);
                    unreachable.push(format!("{name} ({})", why.as_str()));
                } else {
                    let how: Vec<String> = queued.iter().map(|(_, how)| how.clone()).collect();
                    reached.push(format!("{name} ({})", how.join(", ")));
                    notifications.extend(queued.into_iter().map(|(n, _)| n));
                }
            }
        }
        let level_name = format!("level {}", cursor.level + 1);
        let round = if cursor.round > 0 {
            format!(", repeat {}", cursor.round)
        } else {
            String::new()
        };
        let mut message = if d.reassign_to.is_some() {
            format!("Reassigned, at {level_name}{round}")
        } else {
            format!("Escalated to {level_name}{round}")
        };
        if !reached.is_empty() {
            message.push_str(&format!(": notifying {}", reached.join("; ")));
        }
        if !unreachable.is_empty() {
            message.push_str(&format!(". Could not reach {}", unreachable.join("; ")));
        }
        // Nobody at this level can be reached: go on to the next level at once.
        let next_due = match (notifications.is_empty(), plan.next_at) {
            (true, Some(_)) => Some(now),
            (_, next) => next,
        };
        let stranded = notifications.is_empty() && next_due.is_none();
        let step = EscalationStep {
            incident_id: d.incident.id.clone(),
            node: token.to_owned(),
            cursor,
            next_due,
            notifications,
            message,
        };
        Ok((step, stranded))
    }

    /// A step that ends the escalation, keeping the cursor where it was.
    fn exhausted(&self, d: &DueEscalation, token: &str, message: &str) -> EscalationStep {
        EscalationStep {
            incident_id: d.incident.id.clone(),
            node: token.to_owned(),
            cursor: d.cursor.unwrap_or(StepCursor {
                level: 0,
                round: 0,
                step: 0,
            }),
            next_due: None,
            notifications: Vec::new(),
            message: message.into(),
        }
    }

    /// Nobody could be reached at all: alert the admins (the store checks that it is so).
    async fn meta_alert(&self, incident: &tocsin_core::IncidentId, now: Timestamp) -> Result<()> {
        match self.store.raise_meta_alert(incident, now).await? {
            // Somebody was reached earlier, or still may be: no meta-alert.
            None => {}
            Some(0) => {
                metrics::counter!("tocsin_meta_alerts_total").increment(1);
                tracing::error!(incident = %incident, "nobody could be reached, not even an admin");
            }
            Some(_) => metrics::counter!("tocsin_meta_alerts_total").increment(1),
        }
        Ok(())
    }

    /// The notifications one person gets for one step (see `reach::contact_plan`), each with a
    /// short "type in N min" label. Returns their name too, and why nothing reaches them.
    async fn notifications_for(
        &self,
        incident: &Incident,
        user: &UserId,
        step: u32,
        now: Timestamp,
        cache: &mut Lookups,
    ) -> Result<(String, Vec<(NewNotification, String)>, Option<Unreachable>)> {
        let plan = cache
            .contact_plan(self.store.as_ref(), user, incident.urgency)
            .await?;
        let out = plan
            .methods
            .iter()
            .map(|(m, delay)| {
                let delay = *delay;
                let n = NewNotification {
                    user_id: user.clone(),
                    contact_method_id: m.id.clone(),
                    due_at: now + SignedDuration::from_mins(i64::from(delay)),
                    // The delay is part of the key: two rules on one method are two notifications.
                    idempotency_key: format!("{}:{step}:{}:{}:{delay}", incident.id, user, m.id),
                };
                (n, crate::reach::label(m, delay))
            })
            .collect();
        Ok((plan.name.clone(), out, plan.unreachable))
    }

    /// Runs until `stop` turns true: a pass whenever something changes, or when the next
    /// step falls due, and at least every second.
    pub async fn run(
        self: Arc<Self>,
        mut live: broadcast::Receiver<LiveEvent>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            if let Err(e) = self.pass(Some(&stop)).await {
                tracing::error!(error = %e, "escalation pass failed");
            }
            let sleep = match self.store.next_escalation_due().await {
                Ok(Some(t)) => {
                    let wait = t.duration_since(self.clock.now());
                    Duration::try_from(wait)
                        .unwrap_or(Duration::ZERO)
                        .min(IDLE_MAX)
                }
                _ => IDLE_MAX,
            };
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                r = live.recv() => {
                    if let Err(broadcast::error::RecvError::Closed) = r {
                        return;
                    }
                    // A burst of changes (an ingest batch opens many incidents) is one reason
                    // to look, not many.
                    while live.try_recv().is_ok() {}
                }
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}

/// Lookups that one batch of steps shares: who is on call (all steps of a batch are planned
/// at the same moment) and how each person wants to be reached.
#[derive(Default)]
struct Lookups {
    on_call: HashMap<String, Option<UserId>>,
    plans: HashMap<(UserId, Urgency), ContactPlan>,
}

impl Lookups {
    async fn on_call(
        &mut self,
        store: &dyn Store,
        schedule: &str,
        now: Timestamp,
    ) -> Result<Option<UserId>> {
        if let Some(u) = self.on_call.get(schedule) {
            return Ok(u.clone());
        }
        let u = crate::reach::on_call(store, schedule, now).await?;
        self.on_call.insert(schedule.to_owned(), u.clone());
        Ok(u)
    }

    async fn contact_plan(
        &mut self,
        store: &dyn Store,
        user: &UserId,
        urgency: Urgency,
    ) -> Result<&ContactPlan> {
        let key = (user.clone(), urgency);
        if !self.plans.contains_key(&key) {
            let plan = crate::reach::contact_plan(store, user, urgency).await?;
            self.plans.insert(key.clone(), plan);
        }
        self.plans
            .get(&key)
            .ok_or(StoreError::NotFound("contact plan"))
    }
}

/// Urgency words for messages.
pub fn urgency_word(u: Urgency) -> &'static str {
    match u {
        Urgency::High => "HIGH",
        Urgency::Low => "low",
    }
}
