//! The notification dispatcher: claims queued notifications that are due (with a lease: a
//! sender that dies mid-send has its notifications sent again, at least once), renders and
//! sends them through a `tocsin_notify::Channel`, and records each attempt. Retryable failures
//! back off exponentially with jitter; a contact method that fails for good falls back at once to
//! the person's next one; when nobody is left to try, the incident escalates early.

use crate::Clock;
use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;
use std::time::Duration;
use tocsin_core::contact::ContactType;
use tocsin_core::rate::{RateLimit, TokenBucket};
use tocsin_notify::{Channel, Destination, Message, MessageKind, SendError};
use tocsin_store::*;
use tokio::sync::{Semaphore, broadcast, watch};
use tokio::task::JoinSet;

/// How long a claimed notification stays with its sender (a send takes at most the channel's
/// request timeout, 10 s by default).
const SEND_LEASE: SignedDuration = SignedDuration::from_secs(60);
/// Notifications claimed per pass.
const NOTIFICATIONS_PER_PASS_MAX: u32 = 256;
/// Sends in flight at once.
const SENDS_IN_FLIGHT_MAX: usize = 32;
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
    node: String,
    /// Where links in messages point.
    public_url: String,
    /// Signs each message's acknowledge link.
    links: crate::links::LinkSigner,
    pass: tokio::sync::Mutex<()>,
    /// One budget per destination (address), so that a storm never floods one chat channel
    /// or phone. Bounded: idle buckets are dropped when the map grows.
    budgets: std::sync::Mutex<std::collections::HashMap<String, TokenBucket>>,
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
        node: String,
        public_url: String,
        links: crate::links::LinkSigner,
    ) -> Self {
        Self {
            store,
            clock,
            channel,
            node,
            public_url,
            links,
            pass: tokio::sync::Mutex::new(()),
            budgets: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Sends every notification due now; returns how many attempts were made.
    pub async fn run_due(self: &Arc<Self>) -> Result<usize> {
        let _pass = self.pass.lock().await;
        let mut attempts = 0;
        loop {
            let now = self.clock.now();
            let due = self
                .store
                .claim_due_notifications(
                    &self.node,
                    now,
                    now + SEND_LEASE,
                    NOTIFICATIONS_PER_PASS_MAX,
                )
                .await?;
            if due.is_empty() {
                return Ok(attempts);
            }
            attempts += due.len();
            let limit = Arc::new(Semaphore::new(SENDS_IN_FLIGHT_MAX));
            let mut sends = JoinSet::new();
            for n in due {
                let this = self.clone();
                let limit = limit.clone();
                sends.spawn(async move {
                    let _slot = limit.acquire().await;
                    let id = n.id.clone();
                    if let Err(e) = this.deliver(n).await {
                        tracing::error!(notification = %id, error = %e, "recording a delivery failed; it is retried when its lease ends");
                    }
                });
            }
            while sends.join_next().await.is_some() {}
        }
    }

    fn message(&self, n: &DueNotification, now: Timestamp) -> Message {
        let open_for =
            Duration::try_from(now.duration_since(n.incident.created_at)).unwrap_or_default();
        Message {
            idempotency_key: n.idempotency_key.clone(),
            incident_number: n.incident.number,
            title: n.incident.title.clone(),
            urgency: n.incident.urgency,
            service: n.service_name.clone(),
            open_for,
            url: format!("{}/incidents/{}", self.public_url, n.incident.id),
            ack_url: Some(format!(
                "{}/ack/{}",
                self.public_url,
                self.links
                    .sign_ack(&n.id, now + crate::links::ACK_LINK_VALIDITY)
            )),
            // SMS replies name the incident by its number: "42 ack", "42 resolve".
            ack_code: Some(n.incident.number.to_string()),
            kind: MessageKind::Page,
        }
    }

    /// Takes one send from the destination's budget, or says when there will be one.
    fn budget(&self, m: &ContactMethod, now: Timestamp) -> Result<(), SignedDuration> {
        let Ok(mut budgets) = self.budgets.lock() else {
            return Ok(());
        };
        if budgets.len() >= BUDGETS_MAX {
            budgets.retain(|_, b| !b.is_full(now));
        }
        let key = format!("{}:{}", m.kind, m.address);
        budgets
            .entry(key)
            .or_insert_with(|| TokenBucket::new(destination_limit(m.kind), now))
            .take(1, now)
    }

    async fn deliver(&self, n: DueNotification) -> Result<()> {
        let started = self.clock.now();
        if let Err(wait) = self.budget(&n.contact_method, started) {
            let at = started + wait;
            return self
                .store
                .complete_notification(
                    &n.id,
                    &self.node,
                    DeliveryResult::Postpone { at },
                    None,
                    started,
                )
                .await;
        }
        let result =
            match Destination::parse(n.contact_method.kind.as_str(), &n.contact_method.address) {
                Err(e) => Err(SendError::permanent(e.to_string())),
                Ok(to) => self.channel.send(&to, &self.message(&n, started)).await,
            };
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
        let nobody_left = give_up && fallback.is_none();
        self.store
            .complete_notification(&n.id, &self.node, outcome, fallback, now)
            .await?;
        if nobody_left {
            // This person cannot be reached on any method: do not wait for the level's delay.
            self.store.escalate_early(&n.incident.id, now).await?;
            // And if there is no level left either, nobody at all could be reached.
            if self
                .store
                .raise_meta_alert(&n.incident.id, now)
                .await?
                .is_some()
            {
                metrics::counter!("tocsin_meta_alerts_total").increment(1);
            }
        }
        Ok(())
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

    /// Runs until `stop` turns true: a pass whenever something changes or a notification falls
    /// due, and at least every second.
    pub async fn run(
        self: Arc<Self>,
        mut live: broadcast::Receiver<crate::LiveEvent>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            if let Err(e) = self.run_due().await {
                tracing::error!(error = %e, "notification pass failed");
            }
            let sleep = match self.store.next_notification_due().await {
                Ok(Some(t)) => Duration::try_from(t.duration_since(self.clock.now()))
                    .unwrap_or(Duration::ZERO)
                    .min(IDLE_MAX),
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
