//! Housekeeping: deletes monitor history past its retention (`[monitors]` settings) a minute
//! after start and then every ten minutes. Any number of nodes may do it at once: the deletes
//! are idempotent, monitor by monitor in short transactions.

use crate::Clock;
use std::sync::Arc;
use std::time::Duration;
use tocsin_store::{MonitorRetention, Store};
use tokio::sync::watch;

const FIRST_AFTER: Duration = Duration::from_secs(60);
const EVERY: Duration = Duration::from_secs(600);

pub struct Housekeeping {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    keep: MonitorRetention,
}

impl Housekeeping {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, keep: MonitorRetention) -> Self {
        Self { store, clock, keep }
    }

    /// One pass; returns how many rows went.
    pub async fn run_once(&self) -> tocsin_store::Result<u64> {
        let deleted = self
            .store
            .prune_monitor_history(self.keep, self.clock.now())
            .await?;
        if deleted > 0 {
            tracing::info!(rows = deleted, "monitor history past its retention deleted");
        }
        Ok(deleted)
    }

    /// Passes until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut wait = FIRST_AFTER;
        loop {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            if let Err(e) = self.run_once().await {
                tracing::error!(error = %e, "pruning monitor history failed; it is tried again later");
            }
            wait = EVERY;
        }
    }
}
