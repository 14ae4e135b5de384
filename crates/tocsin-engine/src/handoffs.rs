//! Shift hand-off notices: shortly before someone's on-call shift starts, tell them ("you are on
//! call for Primary from Mon 24 Nov 09:00 CET to Tue 25 Nov 09:00 CET") on the contact methods
//! their rules use at once. Once per shift (the store remembers), best effort: a notice that
//! cannot be delivered is logged, not retried, because it is a reminder, not a page.

use crate::Clock;
use crate::reach;
use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;
use std::time::Duration;
use tocsin_core::Urgency;
use tocsin_core::schedule::{self, QueryRange};
use tocsin_notify::{Channel, Destination, Message, MessageKind};
use tocsin_store::{Result, Store};
use tokio::sync::watch;

/// How long before a shift starts its notice goes out.
pub const HANDOFF_LEAD: SignedDuration = SignedDuration::from_mins(15);
/// How often the schedules are looked at.
const HANDOFF_TICK: Duration = Duration::from_secs(30);

pub struct Handoffs {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    channel: Arc<dyn Channel>,
    public_url: String,
}

fn local(t: Timestamp, zone: &str) -> String {
    match jiff::tz::TimeZone::get(zone) {
        Ok(tz) => t
            .to_zoned_datetime(tz)
            .strftime("%a %-d %b %H:%M %Z")
            .to_string(),
        Err(_) => t.strftime("%a %-d %b %H:%M UTC").to_string(),
    }
}

impl Handoffs {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        channel: Arc<dyn Channel>,
        public_url: String,
    ) -> Self {
        Self {
            store,
            clock,
            channel,
            public_url,
        }
    }

    /// Sends the notices of shifts starting within `HANDOFF_LEAD`; returns how many people were told.
    pub async fn run_due(&self) -> Result<usize> {
        let now = self.clock.now();
        let Ok(range) = QueryRange::new(now, now + HANDOFF_LEAD) else {
            return Ok(0);
        };
        let mut told = 0;
        for record in self.store.list_schedules().await? {
            let Ok(parsed) = record.parse() else { continue };
            for shift in schedule::final_shifts(&parsed, range) {
                // A shift in progress is clipped to `now`: only shifts that are still to start.
                if shift.start <= now {
                    continue;
                }
                if !self
                    .store
                    .claim_handoff_notice(&record.id, &shift.user, shift.start, now)
                    .await?
                {
                    continue;
                }
                let Ok(user) = self.store.get_user(&shift.user).await else {
                    continue;
                };
                let methods = reach::contact_plan(self.store.as_ref(), &shift.user, Urgency::Low)
                    .await?
                    .methods;
                let ends = schedule::oncall_at(&parsed, shift.start).map_or(shift.end, |s| s.end);
                let msg = Message {
                    idempotency_key: format!(
                        "handoff:{}:{}:{}",
                        record.id,
                        shift.user,
                        shift.start.as_second()
                    ),
                    incident_number: 0,
                    title: String::new(),
                    urgency: Urgency::Low,
                    service: String::new(),
                    open_for: Duration::ZERO,
                    url: self.public_url.clone(),
                    ack_url: None,
                    ack_token: None,
                    ack_token_short: None,
                    hooks_url: None,
                    ack_code: None,
                    kind: MessageKind::ShiftStart {
                        schedule: record.spec.name.clone(),
                        starts: local(shift.start, &user.time_zone),
                        ends: local(ends, &user.time_zone),
                    },
                };
                for (m, _) in methods.iter().filter(|(_, delay)| *delay == 0) {
                    let sent = match Destination::parse(m.kind.as_str(), &m.address) {
                        Ok(to) => self
                            .channel
                            .send(&to, &msg)
                            .await
                            .map(|_| ())
                            .map_err(|e| e.reason().to_owned()),
                        Err(e) => Err(e.to_string()),
                    };
                    if let Err(e) = sent {
                        tracing::warn!(user = %user.id, kind = %m.kind, error = %e, "shift hand-off notice not delivered");
                    }
                }
                told += 1;
            }
        }
        Ok(told)
    }

    /// Looks every `HANDOFF_TICK` until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.run_due().await {
                tracing::error!(error = %e, "hand-off pass failed");
            }
            tokio::select! {
                () = tokio::time::sleep(HANDOFF_TICK) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}
