//! The node's hold on the work it claimed: fencing for due work shared by several nodes.
//!
//! Every claim (an escalation step, a notification, a monitor check) is written with the
//! node's *claim token* and a short deadline (`LEASE`). While the node lives, a renewal every
//! `RENEW_EVERY` pushes the deadline of everything it holds forward; when it dies (kill -9, a
//! lost machine), its claims run out within `LEASE` and another node takes the work over.
//!
//! The token is the node's name, its *lease epoch* and the batch: `node-….3.41`. Every write
//! that records the outcome of claimed work checks, in the same transaction, that the row is
//! still claimed with the writer's token; a row another node took over carries that node's
//! token, so a late write changes nothing. Only batches still at work are renewed: a `Ticket`
//! lives as long as the work claimed with it (until its outcome is recorded), and once every
//! copy is dropped — the work is done, or failed without a record — its claims are left to run
//! out and be taken again. When this node itself failed to renew in time (it was paused past its
//! deadline: SIGSTOP, a long GC-like stall, a frozen VM), it moves to the next epoch: the work
//! claimed under the old token is abandoned (not sent, not recorded) and taken again, by
//! whichever node comes first, once its lease has run out.
//!
//! Before each send the dispatcher asks `holds`: a node whose lease has run out no longer
//! sends. (A send that was already on the wire when the node stopped may still arrive; a send
//! taken over after a crash carries the same idempotency key, which receivers that honour it
//! use to drop the second copy.)

use crate::Clock;
use jiff::{SignedDuration, Timestamp};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tocsin_store::Store;
use tokio::sync::watch;

/// How long a claim lasts without renewal: the longest a dead node's work waits for another
/// node (plus that node's next look, at most a second).
pub const LEASE: SignedDuration = SignedDuration::from_secs(5);
/// How often a live node renews what it holds.
pub const RENEW_EVERY: Duration = Duration::from_secs(1);
/// A send starts only while this much of its lease is left, so that it is on the wire well
/// before the lease runs out.
const SEND_MARGIN: SignedDuration = SignedDuration::from_millis(1500);

/// The node's lease: its current epoch, until when it is known to hold its claims, and the
/// batches at work.
pub struct Lease {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    node: String,
    state: Mutex<State>,
}

struct State {
    epoch: u64,
    /// Every claim made under `epoch` is held at least until then.
    held_until: Timestamp,
    /// Batches handed out so far (the last part of each token).
    batches: u64,
    /// Tickets handed out whose work may still be going on.
    live: Vec<Weak<Claim>>,
}

#[derive(Debug)]
struct Claim {
    token: String,
    epoch: u64,
    until: Timestamp,
}

/// What a batch of claims was made with: the token written in the rows, its epoch, and the
/// deadline written with them. Keep a copy with the work until its outcome is recorded.
#[derive(Clone, Debug)]
pub struct Ticket(Arc<Claim>);

impl Ticket {
    /// The token the rows are claimed with (and every write about them is checked against).
    pub fn token(&self) -> &str {
        &self.0.token
    }

    /// The deadline the claim is written with.
    pub fn until(&self) -> Timestamp {
        self.0.until
    }
}

impl Lease {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, node: String) -> Self {
        let held_until = clock.now() + LEASE;
        Self {
            store,
            clock,
            node,
            state: Mutex::new(State {
                epoch: 1,
                held_until,
                batches: 0,
                live: Vec::new(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        }
    }

    /// Moves to the next epoch when the lease ran out unrenewed (the node was paused, or its
    /// clock jumped); returns the current epoch and until when it holds.
    fn current(&self, st: &mut State) -> (u64, Timestamp) {
        let now = self.clock.now();
        if now >= st.held_until {
            metrics::counter!("tocsin_lease_lapses_total").increment(1);
            tracing::warn!(
                node = %self.node,
                epoch = st.epoch + 1,
                late_ms = now.duration_since(st.held_until).as_millis() as i64,
                "this node's lease ran out unrenewed (was it paused?): its claimed work is left to whichever node takes it first"
            );
            st.epoch += 1;
            st.held_until = now + LEASE;
        }
        (st.epoch, st.held_until)
    }

    /// A ticket to claim a batch of work with now.
    pub fn ticket(&self) -> Ticket {
        let mut st = self.state();
        let (epoch, _) = self.current(&mut st);
        st.batches += 1;
        let claim = Arc::new(Claim {
            token: format!("{}.{epoch}.{}", self.node, st.batches),
            epoch,
            until: self.clock.now() + LEASE,
        });
        st.live.retain(|w| w.strong_count() > 0);
        st.live.push(Arc::downgrade(&claim));
        Ticket(claim)
    }

    /// Whether work claimed with `ticket` is still this node's, with time left to send it.
    pub fn holds(&self, ticket: &Ticket) -> bool {
        let mut st = self.state();
        let (epoch, held_until) = self.current(&mut st);
        ticket.0.epoch == epoch && self.clock.now() + SEND_MARGIN < ticket.0.until.max(held_until)
    }

    /// Gives up at once what was claimed with `ticket` (and is not held any more), so that
    /// whichever node looks next takes it without waiting for its lease to run out.
    pub async fn give_up(&self, ticket: &Ticket) -> tocsin_store::Result<()> {
        let now = self.clock.now();
        self.store
            .renew_claims(
                std::slice::from_ref(&ticket.0.token),
                now,
                now - SignedDuration::from_millis(1),
            )
            .await?;
        Ok(())
    }

    /// Pushes forward the deadline of every claim of the batches still at work in the current
    /// epoch, after giving up what batches of a lapsed epoch still hold (that work is never
    /// sent or recorded here; another node may have taken it over already).
    pub async fn renew(&self) -> tocsin_store::Result<()> {
        let (epoch, current, lapsed) = {
            let mut st = self.state();
            let (epoch, _) = self.current(&mut st);
            let mut current = Vec::new();
            let mut lapsed = Vec::new();
            st.live.retain(|w| match w.upgrade() {
                Some(c) if c.epoch == epoch => {
                    current.push(c.token.clone());
                    true
                }
                Some(c) => {
                    lapsed.push(c.token.clone());
                    false
                }
                None => false,
            });
            (epoch, current, lapsed)
        };
        let now = self.clock.now();
        if !lapsed.is_empty() {
            self.store
                .renew_claims(&lapsed, now, now - SignedDuration::from_millis(1))
                .await?;
        }
        let until = now + LEASE;
        if !current.is_empty() {
            self.store.renew_claims(&current, now, until).await?;
        }
        let mut st = self.state();
        if st.epoch == epoch {
            st.held_until = st.held_until.max(until);
        }
        Ok(())
    }

    /// Renews every `RENEW_EVERY` until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(RENEW_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            if let Err(e) = self.renew().await {
                tracing::error!(error = %e, "renewing this node's claims failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use tocsin_store::sqlite::SqliteStore;

    #[tokio::test]
    async fn a_node_paused_past_its_lease_moves_to_a_new_epoch_and_drops_old_claims() {
        let dir = std::env::temp_dir().join(format!("tocsin-lease-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Arc::new(SqliteStore::open(&dir.join("t.db")).unwrap());
        let clock = Arc::new(ManualClock::new(
            Timestamp::from_second(1_800_000_000).unwrap(),
        ));
        let lease = Lease::new(store, clock.clone(), "node-a".into());

        let first = lease.ticket();
        assert_eq!(first.token(), "node-a.1.1");
        assert!(lease.holds(&first));
        // Renewed every second, the claim holds however long its send waits.
        for _ in 0..10 {
            clock.advance(SignedDuration::from_secs(1));
            lease.renew().await.unwrap();
            assert!(lease.holds(&first));
        }
        // Not within the last moments of the lease: a send must be on the wire well before.
        clock.advance(SignedDuration::from_millis(4000));
        assert!(
            !lease.holds(&first),
            "too little of the lease left to start a send"
        );

        // Paused past the lease: the next renewal finds it ran out and moves on.
        clock.advance(SignedDuration::from_secs(30));
        lease.renew().await.unwrap();
        assert!(!lease.holds(&first), "work of the old epoch is never sent");
        let second = lease.ticket();
        assert_eq!(second.token(), "node-a.2.2");
        assert!(lease.holds(&second));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
