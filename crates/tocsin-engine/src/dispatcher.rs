//! The notification dispatcher: claims queued notifications that are due (with a lease: a
//! sender that dies mid-send has its notifications sent again, at least once), renders and
//! sends them through a `tocsin_notify::Channel`, and records each attempt. Retryable failures
//! back off exponentially with jitter; a contact method that fails for good falls back at once to
//! the person's next one; when nobody is left to try, the incident escalates early.

use crate::Clock;
use crate::lease::{Lease, Ticket};
use jiff::{SignedDuration, Timestamp};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tocsin_core::Urgency;
use tocsin_core::contact::ContactType;
use tocsin_core::rate::{RateLimit, TokenBucket};
use tocsin_notify::{Channel, Destination, Message, MessageKind, SendError};
use tocsin_store::*;
use tokio::sync::{Notify, Semaphore, broadcast, mpsc, watch};
use tokio::task::JoinSet;

/// Notifications claimed at a time (the store hands out high-urgency ones first).
const NOTIFICATIONS_PER_BATCH_MAX: u32 = 256;
/// Attempts recorded in one commit at most.
const RECORDS_PER_BATCH_MAX: usize = 256;
/// Tries to record a batch of attempts (waits of 0.5 s, 1 s, 1.5 s… between them).
const RECORD_TRIES_MAX: u32 = 6;
const RECORD_RETRY_WAIT: Duration = Duration::from_millis(500);
/// Sends in flight at once.
const SENDS_IN_FLIGHT_MAX: usize = 64;
/// Sends in flight to one destination at once; more wait `BUSY_DESTINATION_WAIT`.
const SENDS_PER_DESTINATION_MAX: usize = 8;
const BUSY_DESTINATION_WAIT: SignedDuration = SignedDuration::from_secs(1);
/// How long a stopping dispatcher waits for its sends in flight.
const STOP_GRACE: Duration = Duration::from_secs(15);
/// Attempts on one contact method before falling back to the next.
pub const ATTEMPTS_MAX: u32 = 5;
/// First retry delay; doubles each attempt, up to `BACKOFF_MAX`.
const BACKOFF_BASE: SignedDuration = SignedDuration::from_secs(5);
const BACKOFF_MAX: SignedDuration = SignedDuration::from_mins(5);
/// The longest the loop sleeps without looking.
const IDLE_MAX: Duration = Duration::from_secs(1);

/// Delay before retry number `attempt` (1-based), with up to ±20 % jitter derived from the
/// notification's key, so that retries of many notifications spread out, yet a test sees the
/// same delay every run.
pub fn backoff(attempt: u32, key: &str) -> SignedDuration {
    let exp = BACKOFF_BASE.as_millis() as i64 * (1i64 << attempt.saturating_sub(1).min(16));
    let base = exp.min(BACKOFF_MAX.as_millis() as i64);
    let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let h = h ^ u64::from(attempt).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let jitter_permille = (h % 401) as i64 - 200;
    SignedDuration::from_millis(base + base * jitter_permille / 1000)
}

pub struct Dispatcher {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    channel: Arc<dyn Channel>,
    /// What claims are made with; a send starts only while the lease holds.
    lease: Arc<Lease>,
    /// Where links in messages point.
    public_url: String,
    /// Signs each message's acknowledge link.
    links: crate::links::LinkSigner,
    /// Wakes the escalator when a person turns out to be unreachable.
    live: broadcast::Sender<crate::LiveEvent>,
    pass: tokio::sync::Mutex<()>,
    /// One budget per destination (address), so that a storm never floods one chat channel
    /// or phone. Bounded: idle budgets are dropped when the map grows.
    budgets: std::sync::Mutex<HashMap<String, Budget>>,
    /// Sends in flight per destination, bounded by `SENDS_PER_DESTINATION_MAX`.
    in_flight: std::sync::Mutex<HashMap<String, usize>>,
    /// Sends in flight in all.
    slots: Arc<Semaphore>,
    /// Rung when recorded attempts may have queued work (fallbacks, retries).
    recorded: Notify,
    /// Attempts the running loop has claimed and not yet recorded.
    outstanding: watch::Sender<usize>,
}

/// A destination's budget: a token bucket, and the send slots booked ahead in each lane when
/// the bucket ran dry. A postponed notification books the next slot once, so a backlog for one
/// destination is rewritten once, not at every refill; a high-urgency one books in its own lane
/// and never waits behind low-urgency bookings.
struct Budget {
    bucket: TokenBucket,
    /// The last booked slot, per lane: [low, high].
    booked_until: [Option<Timestamp>; 2],
    interval: SignedDuration,
}

impl Budget {
    fn new(kind: ContactType, now: Timestamp) -> Self {
        let limit = destination_limit(kind);
        Self {
            bucket: TokenBucket::new(limit, now),
            booked_until: [None, None],
            interval: SignedDuration::from_millis(1000 / i64::from(limit.per_second.max(1))),
        }
    }

    /// Sends now, or books a slot and says when it is.
    fn take(&mut self, high: bool, now: Timestamp) -> Result<(), Timestamp> {
        let lane = usize::from(high);
        // Slots already booked in this lane come first: queue behind them.
        if let Some(last) = self.booked_until[lane].filter(|t| *t > now) {
            let slot = last + self.interval;
            self.booked_until[lane] = Some(slot);
            return Err(slot);
        }
        match self.bucket.take(1, now) {
            Ok(()) => Ok(()),
            Err(wait) => {
                let slot = now + wait;
                self.booked_until[lane] = Some(slot);
                Err(slot)
            }
        }
    }

    /// A booked slot is used: it counts against the bucket as far as the bucket has tokens.
    fn use_booked(&mut self, now: Timestamp) {
        let _ = self.bucket.take(1, now);
    }

    fn idle(&self, now: Timestamp) -> bool {
        self.bucket.is_full(now) && self.booked_until.iter().flatten().all(|t| *t <= now)
    }
}

/// One attempt, ready to record.
#[derive(Clone)]
struct Done {
    completion: Completion,
    incident: tocsin_core::IncidentId,
    /// The person could not be reached on any method: escalate early.
    nobody_left: bool,
    /// Keeps the claim renewed until the attempt is recorded.
    _ticket: Ticket,
}

/// Destinations with a budget kept at once; beyond this, full (idle) buckets are dropped.
const BUDGETS_MAX: usize = 10_000;

/// How fast one destination may be sent to: chat tools and phones accept about one message a
/// second; mail relays and webhooks more.
pub fn destination_limit(kind: ContactType) -> RateLimit {
    match kind {
        ContactType::Slack
        | ContactType::Teams
        | ContactType::Mattermost
        | ContactType::Discord
        | ContactType::Telegram => RateLimit {
            per_second: 1,
            burst: 5,
        },
        ContactType::Sms | ContactType::Voice => RateLimit {
            per_second: 1,
            burst: 3,
        },
        ContactType::Email => RateLimit {
            per_second: 5,
            burst: 10,
        },
        ContactType::Webhook | ContactType::Ntfy => RateLimit {
            per_second: 20,
            burst: 50,
        },
    }
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        channel: Arc<dyn Channel>,
        lease: Arc<Lease>,
        public_url: String,
        links: crate::links::LinkSigner,
        live: broadcast::Sender<crate::LiveEvent>,
    ) -> Self {
        Self {
            store,
            clock,
            channel,
            lease,
            public_url,
            links,
            live,
            pass: tokio::sync::Mutex::new(()),
            budgets: std::sync::Mutex::new(HashMap::new()),
            in_flight: std::sync::Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(SENDS_IN_FLIGHT_MAX)),
            recorded: Notify::new(),
            outstanding: watch::Sender::new(0),
        }
    }

    /// Sends every notification due now and records the attempts before returning; returns how
    /// many attempts were made. (The running loop, `run`, does not wait for a batch to finish
    /// before claiming more: see there.)
    pub async fn run_due(self: &Arc<Self>) -> Result<usize> {
        let _pass = self.pass.lock().await;
        let mut attempts = 0;
        loop {
            // What the running loop has in flight is finished and recorded first.
            self.settled().await;
            let now = self.clock.now();
            let ticket = self.lease.ticket();
            let due = self
                .store
                .claim_due_notifications(
                    ticket.token(),
                    now,
                    ticket.until(),
                    NOTIFICATIONS_PER_BATCH_MAX,
                )
                .await?;
            if due.is_empty() {
                if *self.outstanding.borrow() == 0 {
                    return Ok(attempts);
                }
                continue;
            }
            attempts += due.len();
            let mut sends = JoinSet::new();
            for n in due {
                let this = self.clone();
                let slots = self.slots.clone();
                let ticket = ticket.clone();
                sends.spawn(async move {
                    let _slot = slots.acquire_owned().await;
                    this.attempt(n, &ticket).await
                });
            }
            let mut done = Vec::new();
            while let Some(d) = sends.join_next().await {
                match d {
                    Ok(Ok(Some(d))) => done.push(d),
                    Ok(Ok(None)) => {}
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "a delivery attempt failed; it is retried when its lease ends")
                    }
                    Err(e) => tracing::error!(error = %e, "a delivery task failed"),
                }
            }
            self.record(done).await?;
        }
    }

    /// Waits until every attempt the running loop claimed is recorded.
    async fn settled(&self) {
        let _ = self.outstanding.subscribe().wait_for(|n| *n == 0).await;
    }

    /// Claims due notifications as send slots free up and hands each finished attempt to the
    /// recorder, which commits them in batches: a slow or hanging destination holds its own
    /// slots only, never a whole batch, and high-urgency work is claimed first every time.
    async fn pump(
        self: &Arc<Self>,
        done: &mpsc::Sender<Done>,
        live: &mut broadcast::Receiver<crate::LiveEvent>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<()> {
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            let first = tokio::select! {
                p = self.slots.clone().acquire_owned() => p.map_err(|e| StoreError::Backend(e.to_string()))?,
                _ = stop.changed() => return Ok(()),
            };
            let free = self.slots.available_permits() + 1;
            // Claimed and counted as outstanding under the pass lock, so that `run_due` never
            // sees a claimed attempt that is not counted yet.
            let claiming = self.pass.lock().await;
            let now = self.clock.now();
            let ticket = self.lease.ticket();
            let due = self
                .store
                .claim_due_notifications(
                    ticket.token(),
                    now,
                    ticket.until(),
                    u32::try_from(free)
                        .unwrap_or(u32::MAX)
                        .min(NOTIFICATIONS_PER_BATCH_MAX),
                )
                .await?;
            if due.is_empty() {
                drop(claiming);
                drop(first);
                let sleep = match self.store.next_notification_due().await {
                    Ok(Some(t)) => Duration::try_from(t.duration_since(self.clock.now()))
                        .unwrap_or(Duration::ZERO)
                        .min(IDLE_MAX),
                    _ => IDLE_MAX,
                };
                if !crate::wake::idle(sleep, &self.recorded, live, stop, wakes_dispatcher).await {
                    return Ok(());
                }
                continue;
            }
            let mut first = Some(first);
            for n in due {
                let slot = match first.take() {
                    Some(p) => p,
                    None => self
                        .slots
                        .clone()
                        .acquire_owned()
                        .await
                        .map_err(|e| StoreError::Backend(e.to_string()))?,
                };
                let this = self.clone();
                let done = done.clone();
                let ticket = ticket.clone();
                self.outstanding.send_modify(|n| *n += 1);
                tokio::spawn(async move {
                    let _slot = slot;
                    let id = n.id.clone();
                    let sent = match this.attempt(n, &ticket).await {
                        Ok(Some(d)) => done.send(d).await.is_ok(),
                        Ok(None) => false,
                        Err(e) => {
                            tracing::error!(notification = %id, error = %e, "a delivery attempt failed; it is retried when its lease ends");
                            false
                        }
                    };
                    if !sent {
                        this.outstanding.send_modify(|n| *n = n.saturating_sub(1));
                    }
                });
            }
            drop(claiming);
        }
    }

    /// Records finished attempts in batches (one commit each) until every sender is gone.
    async fn recorder(self: Arc<Self>, mut done: mpsc::Receiver<Done>) {
        while let Some(first) = done.recv().await {
            let mut batch = vec![first];
            while batch.len() < RECORDS_PER_BATCH_MAX {
                match done.try_recv() {
                    Ok(d) => batch.push(d),
                    Err(_) => break,
                }
            }
            let count = batch.len();
            // The sends happened: recording them is worth a few tries (a database restart takes
            // seconds), the claims staying renewed meanwhile. Given up, the notifications are
            // sent again, with the same idempotency keys, once their leases run out.
            let mut tries = 0;
            while let Err(e) = self.record(batch.clone()).await {
                tries += 1;
                if tries >= RECORD_TRIES_MAX {
                    tracing::error!(error = %e, "recording delivery attempts failed; they are sent again when their leases end");
                    break;
                }
                tracing::warn!(error = %e, tries, "recording delivery attempts failed; trying again");
                tokio::time::sleep(RECORD_RETRY_WAIT * tries).await;
            }
            self.outstanding
                .send_modify(|n| *n = n.saturating_sub(count));
            self.recorded.notify_one();
        }
    }

    /// Commits a batch of attempts, then escalates early for people nobody could reach.
    async fn record(&self, done: Vec<Done>) -> Result<()> {
        if done.is_empty() {
            return Ok(());
        }
        let mut stranded = Vec::new();
        let completions = done
            .into_iter()
            .map(|d| {
                if d.nobody_left {
                    stranded.push(d.incident);
                }
                d.completion
            })
            .collect();
        self.store.complete_notifications(completions).await?;
        for incident in stranded {
            let now = self.clock.now();
            // This person cannot be reached on any method: do not wait for the level's delay.
            self.store.escalate_early(&incident, now).await?;
            // And if there is no level left either, nobody at all could be reached.
            if self.store.raise_meta_alert(&incident, now).await?.is_some() {
                metrics::counter!("tocsin_meta_alerts_total").increment(1);
            }
            let _ = self
                .live
                .send(crate::LiveEvent::IncidentChanged { id: incident });
        }
        Ok(())
    }

    fn message(&self, n: &DueNotification, now: Timestamp) -> Message {
        let open_for =
            Duration::try_from(now.duration_since(n.incident.created_at)).unwrap_or_default();
        let expires = now + crate::links::ACK_LINK_VALIDITY;
        let token = self.links.sign_ack(&n.id, expires);
        Message {
            idempotency_key: n.idempotency_key.clone(),
            incident_number: n.incident.number,
            title: n.incident.title.clone(),
            urgency: n.incident.urgency,
            service: n.service_name.clone(),
            open_for,
            url: format!("{}/incidents/{}", self.public_url, n.incident.id),
            ack_url: Some(format!("{}/ack/{token}", self.public_url)),
            ack_token: Some(token),
            ack_token_short: self.links.sign_ack_short(&n.id, expires),
            hooks_url: Some(format!("{}/hooks", self.public_url)),
            // SMS replies name the incident by its number: "42 ack", "42 resolve".
            ack_code: Some(n.incident.number.to_string()),
            kind: MessageKind::Page,
        }
    }

    /// Takes one send from the destination's budget, or says until when the send is postponed
    /// (and whether that slot is booked for it).
    fn budget(&self, n: &DueNotification, now: Timestamp) -> Result<(), (Timestamp, bool)> {
        let Ok(mut budgets) = self.budgets.lock() else {
            return Ok(());
        };
        if budgets.len() >= BUDGETS_MAX {
            budgets.retain(|_, b| !b.idle(now));
        }
        let m = &n.contact_method;
        let key = format!("{}:{}", m.kind, m.address);
        let budget = budgets
            .entry(key)
            .or_insert_with(|| Budget::new(m.kind, now));
        if n.reserved {
            budget.use_booked(now);
            return Ok(());
        }
        budget
            .take(n.incident.urgency == Urgency::High, now)
            .map_err(|slot| (slot, true))
    }

    /// Takes a send in flight to the destination, or says it has too many already.
    fn enter(&self, key: &str) -> bool {
        let Ok(mut in_flight) = self.in_flight.lock() else {
            return true;
        };
        let count = in_flight.entry(key.to_owned()).or_insert(0);
        if *count >= SENDS_PER_DESTINATION_MAX {
            return false;
        }
        *count += 1;
        true
    }

    fn leave(&self, key: &str) {
        if let Ok(mut in_flight) = self.in_flight.lock()
            && let Some(count) = in_flight.get_mut(key)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                in_flight.remove(key);
            }
        }
    }

    /// One delivery attempt: budget, send, outcome; the record is the caller's. `None` when
    /// the node's lease on it ran out before it could be sent (this node was paused or cut
    /// off): whichever node claims it next sends it, and nothing is recorded here.
    async fn attempt(&self, n: DueNotification, ticket: &Ticket) -> Result<Option<Done>> {
        if !self.lease.holds(ticket) {
            metrics::counter!("tocsin_sends_abandoned_total").increment(1);
            tracing::warn!(notification = %n.id, "not sent: this node's lease on it ran out; whichever node looks next sends it");
            self.lease.give_up(ticket).await?;
            return Ok(None);
        }
        let started = self.clock.now();
        let postpone = |at: Timestamp, reserved: bool| Done {
            completion: Completion {
                id: n.id.clone(),
                node: ticket.token().to_owned(),
                result: DeliveryResult::Postpone { at, reserved },
                fallback: None,
                at: started,
            },
            incident: n.incident.id.clone(),
            nobody_left: false,
            _ticket: ticket.clone(),
        };
        if let Err((at, reserved)) = self.budget(&n, started) {
            return Ok(Some(postpone(at, reserved)));
        }
        let key = format!("{}:{}", n.contact_method.kind, n.contact_method.address);
        if !self.enter(&key) {
            // Too many sends to this destination are still waiting for an answer.
            return Ok(Some(postpone(started + BUSY_DESTINATION_WAIT, true)));
        }
        let result =
            match Destination::parse(n.contact_method.kind.as_str(), &n.contact_method.address) {
                Err(e) => Err(SendError::permanent(e.to_string())),
                Ok(to) => self.channel.send(&to, &self.message(&n, started)).await,
            };
        self.leave(&key);
        let now = self.clock.now();
        let attempt = n.attempts + 1;
        let (outcome, give_up) = match result {
            Ok(o) => {
                metrics::counter!("tocsin_notifications_sent_total", "type" => n.contact_method.kind.as_str()).increment(1);
                (
                    DeliveryResult::Sent {
                        provider_id: o.provider_id,
                    },
                    false,
                )
            }
            Err(SendError::Retryable {
                reason,
                retry_after,
            }) if attempt < ATTEMPTS_MAX => {
                let wait = backoff(attempt, &n.idempotency_key);
                let wait = retry_after
                    .and_then(|r| SignedDuration::try_from(r).ok())
                    .map_or(wait, |r| r.max(wait));
                (
                    DeliveryResult::Retry {
                        error: reason,
                        at: now + wait,
                    },
                    false,
                )
            }
            Err(e) => {
                metrics::counter!("tocsin_notifications_failed_total", "type" => n.contact_method.kind.as_str()).increment(1);
                (
                    DeliveryResult::Failed {
                        error: e.reason().to_owned(),
                    },
                    true,
                )
            }
        };
        let fallback = if give_up {
            self.fallback(&n, now).await?
        } else {
            None
        };
        Ok(Some(Done {
            nobody_left: give_up && fallback.is_none(),
            completion: Completion {
                id: n.id.clone(),
                node: ticket.token().to_owned(),
                result: outcome,
                fallback,
                at: now,
            },
            incident: n.incident.id.clone(),
            _ticket: ticket.clone(),
        }))
    }

    /// The person's next verified contact method not yet tried in this step.
    async fn fallback(
        &self,
        n: &DueNotification,
        now: Timestamp,
    ) -> Result<Option<NewNotification>> {
        let tried: Vec<String> = self
            .store
            .list_notifications(&n.incident.id)
            .await?
            .into_iter()
            .filter(|r| r.user_id == n.user_id && r.step == n.step)
            .map(|r| r.contact_method_id)
            .collect();
        let next = self
            .store
            .list_contact_methods(&n.user_id)
            .await?
            .into_iter()
            .find(|m| m.verified && m.id != n.contact_method.id && !tried.contains(&m.id));
        Ok(next.map(|m| NewNotification {
            user_id: n.user_id.clone(),
            idempotency_key: format!(
                "{}:{}:{}:{}:fallback",
                n.incident.id, n.step, n.user_id, m.id
            ),
            contact_method_id: m.id,
            due_at: now,
        }))
    }

    /// Runs until `stop` turns true, sending whatever falls due (see `pump`). On stop, the
    /// sends in flight finish and are recorded (bounded by `STOP_GRACE`); one cut short is sent
    /// again when its lease ends: at least once.
    pub async fn run(
        self: Arc<Self>,
        mut live: broadcast::Receiver<crate::LiveEvent>,
        mut stop: watch::Receiver<bool>,
    ) {
        let (done, finished) = mpsc::channel(RECORDS_PER_BATCH_MAX * 4);
        let recorder = tokio::spawn(self.clone().recorder(finished));
        loop {
            match self.pump(&done, &mut live, &mut stop).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::error!(error = %e, "notification pass failed");
                    tokio::select! {
                        () = tokio::time::sleep(IDLE_MAX) => {}
                        _ = stop.changed() => {}
                    }
                }
            }
        }
        drop(done);
        if tokio::time::timeout(STOP_GRACE, recorder).await.is_err() {
            tracing::warn!(
                "sends still in flight at stop; they are sent again when their leases end"
            );
        }
    }
}

/// Whether a live event may mean pages are due: steps queued them (here or on another node),
/// or "look again". Incidents and services change all the time (every ingested alert)
/// without queueing anything.
fn wakes_dispatcher(e: &crate::LiveEvent) -> bool {
    !matches!(
        e,
        crate::LiveEvent::IncidentChanged { .. } | crate::LiveEvent::ServiceChanged { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_destinations_are_throttled_to_about_one_message_a_second() {
        let t0 = Timestamp::from_second(1_800_000_000).unwrap();
        let mut b = TokenBucket::new(destination_limit(ContactType::Slack), t0);
        for _ in 0..5 {
            assert!(b.take(1, t0).is_ok());
        }
        assert_eq!(b.take(1, t0).unwrap_err().as_millis(), 1000);
    }

    #[test]
    fn a_backlog_books_one_slot_each_and_high_urgency_does_not_queue_behind_it() {
        let t0 = Timestamp::from_second(1_800_000_000).unwrap();
        let at = |ms: i64| t0 + SignedDuration::from_millis(ms);
        let mut b = Budget::new(ContactType::Sms, t0);
        for _ in 0..3 {
            assert!(b.take(false, t0).is_ok(), "the burst");
        }
        // Each postponed send books the next free slot, one second apart: rewritten once.
        assert_eq!(b.take(false, t0), Err(at(1000)));
        assert_eq!(b.take(false, t0), Err(at(2000)));
        assert_eq!(b.take(false, at(500)), Err(at(3000)));
        // A high-urgency send books in its own lane: the bucket's next token, not the queue's end.
        assert_eq!(b.take(true, at(500)), Err(at(1000)));
        assert_eq!(b.take(true, at(600)), Err(at(2000)));
        // A booked send uses its slot; once the bookings are over, the bucket decides again.
        b.use_booked(at(1000));
        assert!(b.take(false, at(10_000)).is_ok());
        assert!(!b.idle(at(10_000)));
        assert!(b.idle(at(20_000)));
    }

    #[test]
    fn backoff_doubles_with_bounded_jitter_and_a_cap() {
        for attempt in 1..=10 {
            let nominal = (5_000i64 << (attempt - 1)).min(300_000);
            let d = backoff(attempt, "incident:0:user:method").as_millis() as i64;
            assert!(
                d >= nominal * 8 / 10 && d <= nominal * 12 / 10,
                "attempt {attempt}: {d} ms"
            );
        }
        assert_eq!(backoff(3, "k"), backoff(3, "k"), "deterministic per key");
        assert_ne!(backoff(3, "k1"), backoff(3, "k2"), "spread across keys");
    }
}
