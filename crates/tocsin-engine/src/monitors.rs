//! The monitor runner: claims monitors whose check (or heartbeat deadline) is due, with a lease
//! as every piece of due work, runs the checks concurrently (bounded), and records the results
//! in batches; the store turns each monitor's state changes into its alert. A slow or hanging
//! target holds only its own slot, for at most its own timeout: claiming goes on as slots free.

use crate::checks::{self, Clients};
use crate::lease::{Lease, Ticket};
use crate::politeness::Gates;
use crate::{Clock, LiveEvent};
use std::sync::Arc;
use std::time::Duration;
use tocsin_core::cadence::Politeness;
use tocsin_core::monitor::MonitorKind;
use tocsin_store::*;
use tokio::sync::{Notify, Semaphore, broadcast, mpsc, watch};

/// Checks in flight at once.
const CHECKS_IN_FLIGHT_MAX: usize = 256;
/// Claimed at a time, and recorded in one commit at most.
const CHECKS_PER_BATCH_MAX: u32 = 256;
/// The longest the loop sleeps without looking.
const IDLE_MAX: Duration = Duration::from_secs(1);

pub struct MonitorRunner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// What claims are made with (renewed while checks run, however long they take).
    lease: Arc<Lease>,
    clients: Clients,
    live: broadcast::Sender<LiveEvent>,
    slots: Arc<Semaphore>,
    pass: tokio::sync::Mutex<()>,
    /// Checks claimed by the running loop and not yet recorded.
    outstanding: watch::Sender<usize>,
    recorded: Notify,
    /// Per-host politeness: checks of one host wait for each other (see `politeness`).
    gates: Arc<Gates>,
}

impl MonitorRunner {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        lease: Arc<Lease>,
        live: broadcast::Sender<LiveEvent>,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            gates: Arc::new(Gates::new(Politeness::default(), clock.clone())),
            store,
            clock,
            lease,
            clients: Clients::new()?,
            live,
            slots: Arc::new(Semaphore::new(CHECKS_IN_FLIGHT_MAX)),
            pass: tokio::sync::Mutex::new(()),
            outstanding: watch::Sender::new(0),
            recorded: Notify::new(),
        })
    }

    /// The same runner with these per-host limits instead of the default ones.
    pub fn with_politeness(mut self, rule: Politeness) -> Self {
        self.gates = Arc::new(Gates::new(rule, self.clock.clone()));
        self
    }

    /// Runs a check once its host allows it (at the latest when waiting longer would delay it
    /// beyond its interval).
    async fn run_check(&self, m: &DueMonitor) -> CheckOutcome {
        let _pass = match checks::target_host(m.kind, &m.config) {
            Some(host) => Some(self.gates.enter(host, m.due_at, self.wait_max(&m.id)).await),
            None => None,
        };
        checks::run(&self.clients, m.kind, &m.config).await
    }

    /// How long a check of monitor `id` may wait for its host: its shorter interval (looked up
    /// only when a check has to wait; none when the monitor cannot be read).
    async fn wait_max(&self, id: &str) -> jiff::SignedDuration {
        let seconds = match self.store.get_monitor(id, self.clock.now()).await {
            Ok(m) => m
                .interval_seconds
                .into_iter()
                .chain(m.retry_interval_seconds)
                .min()
                .unwrap_or(0),
            Err(_) => 0,
        };
        jiff::SignedDuration::from_secs(i64::from(seconds))
    }

    /// One check (none for a heartbeat: its deadline is looked at when recorded).
    async fn check(&self, m: DueMonitor, ticket: &Ticket) -> CheckRecord {
        let result = if m.kind == MonitorKind::Heartbeat {
            None
        } else {
            Some(self.run_check(&m).await)
        };
        CheckRecord {
            monitor_id: m.id,
            node: ticket.token().to_owned(),
            due_at: m.due_at,
            result,
        }
    }

    async fn record(&self, done: Vec<CheckRecord>) -> Result<()> {
        if done.is_empty() {
            return Ok(());
        }
        let now = self.clock.now();
        for c in &done {
            let late = now.duration_since(c.due_at).as_secs_f64().max(0.0);
            metrics::histogram!("tocsin_monitor_check_lateness_seconds").record(late);
        }
        self.store.record_checks(done, now).await?;
        // Incidents may have opened or resolved: wake the escalator and live views.
        let _ = self.live.send(LiveEvent::MonitorsChecked);
        Ok(())
    }

    /// Runs every check due now and records them before returning (tests call this; the
    /// running loop does not wait for a batch: see `run`). Returns how many were recorded.
    pub async fn run_due(self: &Arc<Self>) -> Result<usize> {
        let _pass = self.pass.lock().await;
        let mut n = 0;
        loop {
            let _ = self.outstanding.subscribe().wait_for(|n| *n == 0).await;
            let now = self.clock.now();
            let ticket = self.lease.ticket();
            let due = self
                .store
                .claim_due_monitors(ticket.token(), now, ticket.until(), CHECKS_PER_BATCH_MAX)
                .await?;
            if due.is_empty() {
                return Ok(n);
            }
            n += due.len();
            let mut tasks = tokio::task::JoinSet::new();
            for m in due {
                let this = self.clone();
                let ticket = ticket.clone();
                tasks.spawn(async move { this.check(m, &ticket).await });
            }
            let mut done = Vec::new();
            while let Some(r) = tasks.join_next().await {
                if let Ok(c) = r {
                    done.push(c);
                }
            }
            self.record(done).await?;
        }
    }

    /// Records finished checks in batches. Each check's ticket is kept until its record is
    /// written, so that its claim stays renewed meanwhile.
    async fn recorder(self: Arc<Self>, mut done: mpsc::Receiver<(CheckRecord, Ticket)>) {
        while let Some(first) = done.recv().await {
            let mut batch = vec![first];
            while batch.len() < CHECKS_PER_BATCH_MAX as usize {
                match done.try_recv() {
                    Ok(d) => batch.push(d),
                    Err(_) => break,
                }
            }
            let count = batch.len();
            let (batch, _tickets): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            if let Err(e) = self.record(batch).await {
                tracing::error!(error = %e, "recording checks failed; they run again when their leases end");
            }
            self.outstanding
                .send_modify(|n| *n = n.saturating_sub(count));
            self.recorded.notify_one();
        }
    }

    /// Runs until `stop` turns true: claims due checks as slots free up, sleeping until the
    /// next one is due (at most a second) or something changes.
    pub async fn run(
        self: Arc<Self>,
        mut live: broadcast::Receiver<LiveEvent>,
        mut stop: watch::Receiver<bool>,
    ) {
        let (tx, rx) = mpsc::channel(CHECKS_IN_FLIGHT_MAX * 2);
        let recorder = tokio::spawn(self.clone().recorder(rx));
        while !*stop.borrow() {
            if let Err(e) = self.pump(&tx, &mut live, &mut stop).await {
                tracing::error!(error = %e, "monitor pass failed");
                tokio::select! {
                    () = tokio::time::sleep(IDLE_MAX) => {}
                    _ = stop.changed() => {}
                }
            }
        }
        drop(tx);
        let _ = tokio::time::timeout(Duration::from_secs(15), recorder).await;
    }

    async fn pump(
        self: &Arc<Self>,
        done: &mpsc::Sender<(CheckRecord, Ticket)>,
        live: &mut broadcast::Receiver<LiveEvent>,
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
            let claiming = self.pass.lock().await;
            let now = self.clock.now();
            let ticket = self.lease.ticket();
            let due = self
                .store
                .claim_due_monitors(
                    ticket.token(),
                    now,
                    ticket.until(),
                    u32::try_from(free)
                        .unwrap_or(u32::MAX)
                        .min(CHECKS_PER_BATCH_MAX),
                )
                .await?;
            if due.is_empty() {
                drop(claiming);
                drop(first);
                let sleep = match self.store.next_monitor_due().await {
                    Ok(Some(t)) => Duration::try_from(t.duration_since(self.clock.now()))
                        .unwrap_or(Duration::ZERO)
                        .min(IDLE_MAX),
                    _ => IDLE_MAX,
                };
                if !crate::wake::idle(sleep, &self.recorded, live, stop, wakes_monitors).await {
                    return Ok(());
                }
                continue;
            }
            let mut first = Some(first);
            for m in due {
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
                    let record = this.check(m, &ticket).await;
                    if done.send((record, ticket)).await.is_err() {
                        this.outstanding.send_modify(|n| *n = n.saturating_sub(1));
                    }
                });
            }
            drop(claiming);
        }
    }
}

/// Whether a live event may bring a check forward: a monitor created, changed or checked
/// elsewhere. An incident's change (every ingested alert) does not, and
/// ingestion under load must not make the runner look for due checks after every batch.
fn wakes_monitors(e: &LiveEvent) -> bool {
    !matches!(e, LiveEvent::IncidentChanged { .. })
}
