//! The node's hold on the work it claimed: fencing for due work shared by several nodes.
//!
//! Every claim (an escalation step, a notification, a monitor check) is written with the
//! node's *claim token* and a short deadline (`LEASE`). While the node lives, a renewal every
//! `RENEW_EVERY` pushes the deadline of everything it holds forward; when it dies (kill -9, a
//! lost machine), its claims run out within `LEASE` and another node takes the work over.
//!
//! The token is the node's name and a *lease epoch*: `node-…​.3`. Every write that records the
//! outcome of claimed work checks, in the same transaction, that the row is still claimed with
//! the writer's token; a row another node took over carries that node's token, so a late write
//! changes nothing. When this node itself failed to renew in time (it was paused past its
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
use std::sync::{Arc, Mutex};
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
/// Lapsed epochs remembered until the next renewal gives up their claims.
const LAPSED_KEPT_MAX: usize = 16;

/// The node's lease: its current epoch and until when it is known to hold its claims.
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
    /// Earlier epochs whose remaining claims are still to be given up.
    lapsed: Vec<u64>,
}

/// What a batch of claims was made with: the token written in the rows, its epoch, and the
/// deadline written with them.
#[derive(Clone, Debug)]
pub struct Ticket {
    pub token: String,
    epoch: u64,
    pub until: Timestamp,
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
                lapsed: Vec::new(),
            }),
        }
    }

    /// The current epoch and until when it holds, moving to the next epoch first when the
    /// lease ran out unrenewed (the node was paused, or its clock jumped).
    fn current(&self) -> (u64, Timestamp) {
        let now = self.clock.now();
        let mut st = match self.state.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        if now >= st.held_until {
            metrics::counter!("tocsin_lease_lapses_total").increment(1);
            tracing::warn!(
                node = %self.node,
                epoch = st.epoch + 1,
                late_ms = now.duration_since(st.held_until).as_millis() as i64,
                "this node's lease ran out unrenewed (was it paused?): its claimed work is left to whichever node takes it first"
            );
            let old = st.epoch;
            // Bounded: when nothing renews (a node that runs no engine loop), what older
            // epochs hold simply runs out.
            if st.lapsed.len() >= LAPSED_KEPT_MAX {
                st.lapsed.remove(0);
            }
            st.lapsed.push(old);
            st.epoch += 1;
            st.held_until = now + LEASE;
        }
        (st.epoch, st.held_until)
    }

    fn token_of(&self, epoch: u64) -> String {
        format!("{}.{epoch}", self.node)
    }

    /// The node's name (without epoch).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The token and deadline to claim with now.
    pub fn ticket(&self) -> Ticket {
        let (epoch, _) = self.current();
        Ticket {
            token: self.token_of(epoch),
            epoch,
            until: self.clock.now() + LEASE,
        }
    }

    /// Whether work claimed with `ticket` is still this node's, with time left to send it.
    pub fn holds(&self, ticket: &Ticket) -> bool {
        let (epoch, held_until) = self.current();
        ticket.epoch == epoch && self.clock.now() + SEND_MARGIN < ticket.until.max(held_until)
    }

    /// Gives up at once what was claimed with `ticket` (and is not held any more), so that
    /// whichever node looks next takes it without waiting for its lease to run out.
    pub async fn give_up(&self, ticket: &Ticket) -> tocsin_store::Result<()> {
        let now = self.clock.now();
        self.store
            .renew_claims(&ticket.token, now, now - SignedDuration::from_millis(1))
            .await?;
        Ok(())
    }

    /// Pushes the deadline of every claim of the current epoch forward, after giving up what
    /// lapsed epochs still hold (claims of a lapsed epoch are never sent or recorded here;
    /// another node may have taken them over already).
    pub async fn renew(&self) -> tocsin_store::Result<()> {
        let (epoch, _) = self.current();
        let lapsed = match self.state.lock() {
            Ok(mut s) => std::mem::take(&mut s.lapsed),
            Err(p) => std::mem::take(&mut p.into_inner().lapsed),
        };
        let now = self.clock.now();
        for old in lapsed {
            self.store
                .renew_claims(
                    &self.token_of(old),
                    now,
                    now - SignedDuration::from_millis(1),
                )
                .await?;
        }
        let until = now + LEASE;
        self.store
            .renew_claims(&self.token_of(epoch), now, until)
            .await?;
        if let Ok(mut st) = self.state.lock()
            && st.epoch == epoch
        {
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
        assert_eq!(first.token, "node-a.1");
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
        assert_eq!(second.token, "node-a.2");
        assert!(lease.holds(&second));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
