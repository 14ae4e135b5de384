//! Group commit: every accepted event goes through one writer task that commits whatever is
//! queued in one transaction, and answers each sender only after that commit is durable.
//! Batches form by themselves under load (events queue while the previous commit syncs), so a
//! quiet server answers at once and a busy one pays one fsync for many events. Where the store
//! lets several transactions commit at once (`Store::ingest_writers`: PostgreSQL), up to that
//! many batches commit side by side, except that a batch waits for an earlier one about the same
//! alert, group or monitor, and a second batch starts only when many requests are waiting.

use crate::LiveEvent;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use tocsin_store::{IngestEvent, IngestItem, IngestOutcome, Store};
use tokio::sync::{Semaphore, broadcast, mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

#[derive(Clone, Copy, Debug)]
pub struct IngestorConfig {
    /// Events accepted but not yet committed; beyond this, senders are told to come back
    /// (503 + Retry-After) instead of the queue growing without bound.
    pub queued_events_max: u32,
    /// Events in one transaction: bounds the time one commit holds the write lock.
    pub batch_events_max: usize,
}

impl Default for IngestorConfig {
    fn default() -> Self {
        Self {
            queued_events_max: 20_000,
            batch_events_max: 2_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestError {
    /// Too much is queued: the sender should retry after a moment.
    Overloaded,
    /// The server is shutting down and takes nothing more.
    ShuttingDown,
    /// The database failed; nothing of this request was stored.
    Failed(String),
}

impl std::fmt::Display for IngestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IngestError::Overloaded => f.write_str("too many events queued; retry shortly"),
            IngestError::ShuttingDown => f.write_str("the server is shutting down"),
            IngestError::Failed(m) => write!(f, "storing the event failed: {m}"),
        }
    }
}

impl std::error::Error for IngestError {}

type Reply = oneshot::Sender<Result<Vec<IngestOutcome>, IngestError>>;

struct Job {
    items: Vec<IngestItem>,
    reply: Reply,
    _room: Room,
}

/// Room for some events in the ingest queue, held until they are committed.
pub struct Room {
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// The handle senders use. Cloning is cheap; when every handle is dropped the writer drains
/// what is queued, commits it, and stops.
#[derive(Clone)]
pub struct Ingestor {
    jobs: mpsc::UnboundedSender<Job>,
    capacity: Arc<Semaphore>,
    queued_events_max: u32,
}

impl Ingestor {
    pub fn start(
        store: Arc<dyn Store>,
        live: broadcast::Sender<LiveEvent>,
        config: IngestorConfig,
    ) -> (Ingestor, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let capacity = Arc::new(Semaphore::new(config.queued_events_max.max(1) as usize));
        let task = tokio::spawn(writer(store, live, rx, config));
        let queued_events_max = config.queued_events_max.max(1);
        (
            Ingestor {
                jobs: tx,
                capacity,
                queued_events_max,
            },
            task,
        )
    }

    /// Stores the items in one transaction (with whatever else is queued) and returns their
    /// outcomes once durable. All or nothing for this call's items.
    pub async fn submit(&self, items: Vec<IngestItem>) -> Result<Vec<IngestOutcome>, IngestError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let room = self.reserve(items.len())?;
        self.submit_reserved(room, items).await
    }

    /// Takes room for `n` events in the queue, or answers `Overloaded` at once. A request
    /// larger than the whole queue costs the whole queue: it passes when the queue is empty
    /// instead of never.
    pub fn reserve(&self, n: usize) -> Result<Room, IngestError> {
        let n = u32::try_from(n)
            .unwrap_or(u32::MAX)
            .clamp(1, self.queued_events_max);
        self.capacity
            .clone()
            .try_acquire_many_owned(n)
            .map(|p| Room { _permit: p })
            .map_err(|_| IngestError::Overloaded)
    }

    /// Commits items in room reserved before; the room is released when they are committed.
    pub async fn submit_reserved(
        &self,
        room: Room,
        items: Vec<IngestItem>,
    ) -> Result<Vec<IngestOutcome>, IngestError> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job {
                items,
                reply,
                _room: room,
            })
            .map_err(|_| IngestError::ShuttingDown)?;
        rx.await.map_err(|_| IngestError::ShuttingDown)?
    }

    /// Whether the queue has room right now: checked before reading a request's body, so that
    /// a saturated server refuses cheaply instead of buffering bodies it cannot queue.
    pub fn has_room(&self) -> bool {
        self.capacity.available_permits() > 0
    }
}

/// Requests waiting before another batch starts committing beside one in flight: below this,
/// they wait and share the next commit (on PostgreSQL, at 64 connections, 24 gave batches of
/// about 23 events and the most events a second; 6 made them small and each event dearer).
const PARALLEL_BATCH_REQUESTS_MIN: usize = 24;

async fn writer(
    store: Arc<dyn Store>,
    live: broadcast::Sender<LiveEvent>,
    mut rx: mpsc::UnboundedReceiver<Job>,
    config: IngestorConfig,
) {
    let writers = store.ingest_writers().max(1);
    // Batches committing now, by task, with the keys they touch.
    let mut in_flight: JoinSet<()> = JoinSet::new();
    let mut touching: HashMap<tokio::task::Id, HashSet<u64>> = HashMap::new();
    // Requests received and not yet in a batch, in the order they came (bounded by the queue's
    // room), and a formed batch waiting for an earlier one about the same alert, group or
    // monitor.
    let mut waiting: VecDeque<Job> = VecDeque::new();
    let mut held: Option<(Vec<Job>, usize, HashSet<u64>)> = None;
    let mut open = true;
    loop {
        while let Ok(j) = rx.try_recv() {
            waiting.push_back(j);
        }
        while in_flight.len() < writers {
            // Events about one alert, group or monitor are applied in the order they came: a
            // batch that shares one with a batch still committing waits for it, and everything
            // after it waits too.
            if held.is_none() {
                // With a batch committing, another starts beside it only when enough requests
                // wait to be worth a commit of their own; otherwise they wait and share the
                // next one (fewer, larger commits are what a busy database does best).
                if waiting.is_empty()
                    || (!in_flight.is_empty() && waiting.len() < PARALLEL_BATCH_REQUESTS_MIN)
                {
                    break;
                }
                let (jobs, total) = take_batch(&mut waiting, config.batch_events_max);
                let keys = batch_keys(&jobs);
                held = Some((jobs, total, keys));
            }
            let Some((jobs, total, keys)) = held.take() else {
                break;
            };
            if touching.values().any(|k| !k.is_disjoint(&keys)) {
                held = Some((jobs, total, keys));
                break;
            }
            let (store, live) = (store.clone(), live.clone());
            let task =
                in_flight.spawn(async move { commit(store.as_ref(), &live, jobs, total).await });
            touching.insert(task.id(), keys);
        }
        if !open && waiting.is_empty() && held.is_none() && in_flight.is_empty() {
            break;
        }
        tokio::select! {
            j = rx.recv(), if open => match j {
                Some(j) => waiting.push_back(j),
                None => open = false,
            },
            _ = finished(&mut in_flight, &mut touching), if !in_flight.is_empty() => {}
        }
    }
    tracing::debug!("ingest writer drained and stopped");
}

/// The next batch: requests in the order they came, up to `max` events (a larger request alone).
fn take_batch(waiting: &mut VecDeque<Job>, max: usize) -> (Vec<Job>, usize) {
    let mut jobs = Vec::new();
    let mut total = 0;
    while let Some(j) = waiting.front() {
        if !jobs.is_empty() && total + j.items.len() > max {
            break;
        }
        total += j.items.len();
        jobs.extend(waiting.pop_front());
    }
    (jobs, total)
}

/// Waits for one committing batch to finish and forgets its keys.
async fn finished(
    in_flight: &mut JoinSet<()>,
    touching: &mut HashMap<tokio::task::Id, HashSet<u64>>,
) {
    match in_flight.join_next_with_id().await {
        Some(Ok((id, ()))) => {
            touching.remove(&id);
        }
        Some(Err(e)) => {
            // A panic in a commit: its senders were dropped, which answers them with an error.
            tracing::error!(error = %e, "an ingest commit task failed");
            touching.remove(&e.id());
        }
        None => {}
    }
}

/// What a batch's events are about (alerts, groups, monitors), hashed.
fn batch_keys(jobs: &[Job]) -> HashSet<u64> {
    use std::hash::{Hash, Hasher};
    let mut keys = HashSet::new();
    let mut add = |integration: &str, kind: u8, key: &str| {
        let mut h = std::hash::DefaultHasher::new();
        (integration, kind, key).hash(&mut h);
        keys.insert(h.finish());
    };
    for item in jobs.iter().flat_map(|j| &j.items) {
        let integration = item.integration.id.as_str();
        match &item.event {
            IngestEvent::Alert(ev) => {
                add(integration, 0, &ev.dedup_key);
                if let Some(g) = &ev.group_key {
                    add(integration, 1, g);
                }
            }
            IngestEvent::Ping(p) => add(integration, 2, &p.monitor_id),
            IngestEvent::Change(_) => {}
        }
    }
    keys
}

async fn commit(
    store: &dyn Store,
    live: &broadcast::Sender<LiveEvent>,
    jobs: Vec<Job>,
    total: usize,
) {
    let started = std::time::Instant::now();
    let batch: Vec<IngestItem> = jobs.iter().flat_map(|j| j.items.iter().cloned()).collect();
    match store.ingest(batch).await {
        Ok(outcomes) => {
            metrics::counter!("tocsin_ingest_commits_total").increment(1);
            metrics::histogram!("tocsin_ingest_batch_events").record(total as f64);
            metrics::histogram!("tocsin_ingest_commit_seconds")
                .record(started.elapsed().as_secs_f64());
            publish(live, &outcomes);
            let mut rest = outcomes.into_iter();
            for job in jobs {
                let mine: Vec<IngestOutcome> = rest.by_ref().take(job.items.len()).collect();
                let _ = job.reply.send(Ok(mine));
            }
        }
        Err(e) if jobs.len() > 1 => {
            // Isolate the failing request: commit each on its own so one bad request cannot
            // fail the others it happened to share a batch with.
            tracing::warn!(error = %e, jobs = jobs.len(), "batch commit failed; retrying requests one by one");
            for job in jobs {
                let n = job.items.len();
                Box::pin(commit(store, live, vec![job], n)).await;
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "ingest commit failed");
            for job in jobs {
                let _ = job.reply.send(Err(IngestError::Failed(e.to_string())));
            }
        }
    }
}

fn publish(live: &broadcast::Sender<LiveEvent>, outcomes: &[IngestOutcome]) {
    if live.receiver_count() == 0 {
        return;
    }
    let mut last: Option<&tocsin_core::IncidentId> = None;
    for id in outcomes.iter().filter_map(|o| o.incident_id.as_ref()) {
        if last != Some(id) {
            let _ = live.send(LiveEvent::IncidentChanged { id: id.clone() });
            last = Some(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;
    use tocsin_core::dedup::Decision;
    use tocsin_core::*;
    use tocsin_store::sqlite::SqliteStore;
    use tocsin_store::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_senders_share_commits_and_each_gets_its_own_outcome() {
        let dir = std::env::temp_dir().join(format!("tocsin-engine-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Arc::new(SqliteStore::open(&dir.join("t.db")).unwrap());
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let svc = store
            .create_service(
                NewService {
                    name: "s".into(),
                    description: String::new(),
                    team_id: None,
                    escalation_policy_id: None,
                    ack_timeout_minutes: None,
                },
                now,
            )
            .await
            .unwrap();
        let integ = store
            .create_integration(
                NewIntegration {
                    service_id: svc.id,
                    kind: IntegrationType::EventsV2,
                    name: "i".into(),
                    key: "k".repeat(32),
                    rate_limit: None,
                },
                now,
            )
            .await
            .unwrap();
        let (live, mut live_rx) = broadcast::channel(1024);
        let (ing, task) = Ingestor::start(store.clone(), live, IngestorConfig::default());
        let mut handles = Vec::new();
        for n in 0..200 {
            let ing = ing.clone();
            let integ = integ.clone();
            handles.push(tokio::spawn(async move {
                let ev = AlertEvent {
                    dedup_key: format!("k{}", n % 50),
                    action: AlertAction::Trigger(Box::new(AlertDetails {
                        summary: "x".into(),
                        source: "s".into(),
                        ..Default::default()
                    })),
                    group_key: None,
                };
                ing.submit(vec![IngestItem {
                    integration: integ,
                    event: IngestEvent::Alert(ev),
                    received_at: now,
                }])
                .await
            }));
        }
        let mut opened = 0;
        for h in handles {
            let out = h.await.unwrap().unwrap();
            assert_eq!(out.len(), 1);
            if out[0].decision == Some(Decision::OpenIncident) {
                opened += 1;
            }
        }
        assert_eq!(
            opened, 50,
            "one incident per dedup key, however the batches fell"
        );
        assert_eq!(store.count_open_incidents().await.unwrap(), 50);
        assert!(matches!(
            live_rx.try_recv(),
            Ok(LiveEvent::IncidentChanged { .. })
        ));
        drop(ing);
        task.await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_full_queue_answers_overloaded_instead_of_growing() {
        let dir = std::env::temp_dir().join(format!("tocsin-engine-full-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Arc::new(SqliteStore::open(&dir.join("t.db")).unwrap());
        let (live, _) = broadcast::channel(16);
        let config = IngestorConfig {
            queued_events_max: 2,
            batch_events_max: 10,
        };
        let (ing, _task) = Ingestor::start(store, live, config);
        let held = ing.reserve(1).unwrap();
        assert!(ing.has_room());
        let full = ing.reserve(1).unwrap();
        assert!(!ing.has_room());
        assert_eq!(ing.reserve(1).err(), Some(IngestError::Overloaded));
        drop((held, full));
        // A request larger than the whole queue takes all of it, when it is all free.
        let all = ing.reserve(500).unwrap();
        assert_eq!(ing.reserve(1).err(), Some(IngestError::Overloaded));
        drop(all);
        assert!(ing.reserve(2).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
