//! The escalation driver: claims the escalation steps that are due (with a lease, so several
//! nodes never take the same step and a crashed node's steps are taken over), asks the core
//! what the step is, resolves its targets to the people's contact methods and notification
//! rules, and records the step, the queued notifications and the timeline in one transaction.
//! Its state lives in the database: a restart resumes exactly where it stopped.

use crate::{Clock, LiveEvent};
use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;
use std::time::Duration;
use tocsin_core::escalation::{self, Cursor, Notify};
use tocsin_core::{Urgency, UserId};
use tocsin_store::*;
use tokio::sync::{broadcast, watch};

/// How long a claimed step stays with its node before another may take it over.
const CLAIM_LEASE: SignedDuration = SignedDuration::from_secs(60);
/// Steps claimed per pass.
const STEPS_PER_PASS_MAX: u32 = 256;
/// The longest the loop sleeps without looking (a wake-up is also sent on every change).
const IDLE_MAX: Duration = Duration::from_secs(1);

pub struct Escalator {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    node: String,
    /// One pass at a time on this node: when `run_due` returns, every step that was due when
    /// it was called has been taken, including one another pass had claimed.
    pass: tokio::sync::Mutex<()>,
    live: broadcast::Sender<LiveEvent>,
}

impl Escalator {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        node: String,
        live: broadcast::Sender<LiveEvent>,
    ) -> Self {
        Self {
            store,
            clock,
            node,
            pass: tokio::sync::Mutex::new(()),
            live,
        }
    }

    /// Takes every step due now; returns how many were recorded.
    pub async fn run_due(&self) -> Result<usize> {
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
            let now = self.clock.now();
            let due = self
                .store
                .claim_due_escalations(&self.node, now, now + CLAIM_LEASE, STEPS_PER_PASS_MAX)
                .await?;
            if due.is_empty() {
                return Ok(done);
            }
            for d in due {
                let id = d.incident.id.clone();
                match self.step(d, now).await {
                    Ok(true) => {
                        done += 1;
                        // Wake the dispatcher: the step queued notifications due now.
                        let _ = self
                            .live
                            .send(LiveEvent::IncidentChanged { id: id.clone() });
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!(incident = %id, error = %e, "escalation step failed; it is retried when its lease ends")
                    }
                }
            }
        }
    }

    async fn step(&self, d: DueEscalation, now: Timestamp) -> Result<bool> {
        let policy = match d.policy.to_core() {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(policy = %d.policy.id, error = %e, "stored escalation policy is invalid");
                return Ok(false);
            }
        };
        let cursor = d.cursor.map(|c| Cursor {
            level: c.level as usize,
            round: c.round,
            step: c.step,
        });
        let plan = match (d.manual_level, d.cursor) {
            (Some(level), _) => escalation::escalate_to(&policy, cursor, level as usize, now),
            // Each incident starts its steps at its number, so round-robins take turns.
            (None, None) => Some(escalation::begin_from(
                &policy,
                now,
                u32::try_from(d.incident.number).unwrap_or(0),
            )),
            (None, Some(_)) => cursor.and_then(|c| escalation::advance(&policy, c, now)),
        };
        let Some(plan) = plan else {
            // Nothing left: stop looking at this incident.
            let cursor = d.cursor.unwrap_or(StepCursor {
                level: 0,
                round: 0,
                step: 0,
            });
            let step = EscalationStep {
                incident_id: d.incident.id.clone(),
                node: self.node.clone(),
                cursor,
                next_due: None,
                notifications: Vec::new(),
                message: "Escalation policy exhausted: the incident stays with the last level"
                    .into(),
            };
            return self.store.record_escalation_step(step, now).await;
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
                Notify::Schedule(s) => {
                    match crate::reach::on_call(self.store.as_ref(), s, now).await? {
                        Some(u) => vec![u],
                        None => {
                            unreachable.push(format!("schedule {s} (nobody on call)"));
                            Vec::new()
                        }
                    }
                }
            };
            for user in users {
                let (name, queued) = self
                    .notifications_for(&d.incident, &user, cursor.step, now)
                    .await?;
                if queued.is_empty() {
                    unreachable.push(format!("{name} (no usable contact method)"));
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
        let mut message = format!("Escalated to {level_name}{round}");
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
        let step = EscalationStep {
            incident_id: d.incident.id.clone(),
            node: self.node.clone(),
            cursor,
            next_due,
            notifications,
            message,
        };
        let stranded = step.notifications.is_empty() && step.next_due.is_none();
        let recorded = self.store.record_escalation_step(step, now).await?;
        if recorded && stranded {
            self.meta_alert(&d.incident.id, now).await?;
        }
        Ok(recorded)
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
    /// short "type in N min" label. Returns their name too.
    async fn notifications_for(
        &self,
        incident: &Incident,
        user: &UserId,
        step: u32,
        now: Timestamp,
    ) -> Result<(String, Vec<(NewNotification, String)>)> {
        let (name, plan) =
            crate::reach::contact_plan(self.store.as_ref(), user, incident.urgency).await?;
        let out = plan
            .into_iter()
            .map(|(m, delay)| {
                let n = NewNotification {
                    user_id: user.clone(),
                    contact_method_id: m.id.clone(),
                    due_at: now + SignedDuration::from_mins(i64::from(delay)),
                    // The delay is part of the key: two rules on one method are two notifications.
                    idempotency_key: format!("{}:{step}:{}:{}:{delay}", incident.id, user, m.id),
                };
                (n, crate::reach::label(&m, delay))
            })
            .collect();
        Ok((name, out))
    }

    /// Runs until `stop` turns true: a pass whenever something changes, or when the next
    /// step falls due, and at least every second.
    pub async fn run(
        self: Arc<Self>,
        mut live: broadcast::Receiver<LiveEvent>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            if let Err(e) = self.run_due().await {
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
                }
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}

/// Urgency words for messages.
pub fn urgency_word(u: Urgency) -> &'static str {
    match u {
        Urgency::High => "HIGH",
        Urgency::Low => "low",
    }
}
