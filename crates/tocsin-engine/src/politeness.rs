//! Per-host politeness for monitor checks: a check whose host already has its fill of checks in
//! flight (or had one start too recently) waits, without holding anyone else up, until the
//! host frees up or until waiting longer would delay it beyond its interval; then it runs anyway
//! and is counted. The rule is `tocsin_core::cadence::Politeness`; this file only waits.

use crate::Clock;
use jiff::{SignedDuration, Timestamp};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tocsin_core::cadence::{Admission, HostGate, Politeness};
use tokio::sync::Notify;

/// Checks waiting for their host at once, at most: past this, a check runs over its host's
/// limits (and is counted) rather than wait, so that one crowded host can never hold more than
/// this many of the runner's slots.
pub const WAITING_MAX: usize = 128;
/// The longest a check waits for its host, whatever its interval.
pub const WAIT_MAX: SignedDuration = SignedDuration::from_secs(60);
/// A waiting check looks again at least this often (the clock may have been moved).
const LOOK_AGAIN_MAX: Duration = Duration::from_millis(250);
/// Hosts remembered at most; idle ones are forgotten first.
const HOSTS_MAX: usize = 100_000;

pub struct Gates {
    rule: Politeness,
    clock: Arc<dyn Clock>,
    hosts: Mutex<HashMap<String, HostGate>>,
    waiting: AtomicUsize,
    finished: Notify,
}

/// A check's place at its host: the host counts it in flight until this is dropped.
pub struct Pass {
    gates: Arc<Gates>,
    host: String,
}

impl Drop for Pass {
    fn drop(&mut self) {
        let now = self.gates.clock.now();
        let mut hosts = self.gates.hosts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(g) = hosts.get_mut(&self.host) {
            g.finished();
            if g.idle(self.gates.rule.spacing, now) {
                hosts.remove(&self.host);
            }
        }
        drop(hosts);
        self.gates.finished.notify_waiters();
    }
}

impl Gates {
    pub fn new(rule: Politeness, clock: Arc<dyn Clock>) -> Self {
        Gates {
            rule,
            clock,
            hosts: Mutex::new(HashMap::new()),
            waiting: AtomicUsize::new(0),
            finished: Notify::new(),
        }
    }

    pub fn rule(&self) -> Politeness {
        self.rule
    }

    fn admit(&self, host: &str, latest: Timestamp) -> Admission {
        let now = self.clock.now();
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        if hosts.len() >= HOSTS_MAX && !hosts.contains_key(host) {
            hosts.retain(|_, g| g.in_flight > 0);
        }
        let gate = hosts.entry(host.to_owned()).or_default();
        let a = self.rule.admit(gate, now, latest);
        if !matches!(a, Admission::Wait { .. }) {
            gate.started(now);
        }
        a
    }

    /// Waits until a check due at `due` may start at `host`. `wait_max` says how long it may be
    /// held at most (its interval), looked up only if it has to wait at all.
    pub async fn enter(
        self: &Arc<Self>,
        host: String,
        due: Timestamp,
        wait_max: impl Future<Output = SignedDuration>,
    ) -> Pass {
        let mut wait_max = std::pin::pin!(wait_max);
        let mut latest: Option<Timestamp> = None;
        let mut counted = false;
        loop {
            let finished = self.finished.notified();
            let mut finished = std::pin::pin!(finished);
            finished.as_mut().enable();
            match self.admit(&host, latest.unwrap_or(Timestamp::MAX)) {
                Admission::Start => break,
                Admission::StartOverLimit => {
                    metrics::counter!("tocsin_monitor_politeness_overrides_total").increment(1);
                    break;
                }
                Admission::Wait { until } => {
                    let Some(latest_at) = latest else {
                        let max = wait_max.as_mut().await.min(WAIT_MAX);
                        latest = Some(due + max);
                        continue;
                    };
                    if !counted {
                        if self.waiting.fetch_add(1, Ordering::SeqCst) >= WAITING_MAX {
                            self.waiting.fetch_sub(1, Ordering::SeqCst);
                            // Too many waiting already: run now rather than hold a slot.
                            latest = Some(self.clock.now().min(latest_at));
                            continue;
                        }
                        counted = true;
                        metrics::counter!("tocsin_monitor_politeness_waits_total").increment(1);
                    }
                    let sleep = Duration::try_from(until.duration_since(self.clock.now()))
                        .unwrap_or(Duration::ZERO)
                        .min(LOOK_AGAIN_MAX);
                    tokio::select! {
                        () = tokio::time::sleep(sleep) => {}
                        () = finished => {}
                    }
                }
            }
        }
        if counted {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
        Pass {
            gates: self.clone(),
            host,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use std::sync::atomic::AtomicU32;

    fn gates(checks_max: u32, spacing_ms: i64) -> Arc<Gates> {
        Arc::new(Gates::new(
            Politeness {
                checks_max,
                spacing: SignedDuration::from_millis(spacing_ms),
            },
            Arc::new(SystemClock),
        ))
    }

    #[tokio::test]
    async fn a_host_never_has_more_checks_in_flight_than_its_limit() {
        let g = gates(2, 0);
        let (now_in, most) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..10 {
            let (g, now_in, most) = (g.clone(), now_in.clone(), most.clone());
            tasks.spawn(async move {
                let due = SystemClock.now();
                let _pass = g
                    .enter("a.example".into(), due, async {
                        SignedDuration::from_secs(30)
                    })
                    .await;
                let n = now_in.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                now_in.fetch_sub(1, Ordering::SeqCst);
            });
        }
        // Another host is not held up by the first one's queue.
        let other = g
            .enter("b.example".into(), SystemClock.now(), async {
                SignedDuration::from_secs(30)
            })
            .await;
        drop(other);
        while tasks.join_next().await.is_some() {}
        assert_eq!(most.load(Ordering::SeqCst), 2);
        assert!(
            g.hosts.lock().unwrap().is_empty(),
            "idle hosts are forgotten"
        );
    }

    #[tokio::test]
    async fn a_check_runs_over_the_limit_rather_than_miss_its_interval() {
        let g = gates(1, 0);
        let due = SystemClock.now();
        let held = g
            .enter("a.example".into(), due, async {
                SignedDuration::from_secs(30)
            })
            .await;
        // Its interval is 300 ms: it waits about that long, then runs while the first still holds.
        let started = std::time::Instant::now();
        let second = g
            .enter("a.example".into(), due, async {
                SignedDuration::from_millis(300)
            })
            .await;
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(250), "{waited:?}");
        assert!(waited < Duration::from_secs(2), "{waited:?}");
        drop((held, second));
    }

    #[test]
    fn the_host_of_each_kind_of_check() {
        use crate::checks::target_host;
        use serde_json::json;
        use tocsin_core::monitor::MonitorKind as K;
        let cases = [
            (
                K::Http,
                json!({"url": "https://API.example.com:8443/health"}),
                Some("api.example.com"),
            ),
            (K::Http, json!({"url": "http://[::1]:80/"}), Some("::1")),
            (
                K::Tcp,
                json!({"host": "db.example", "port": 5432}),
                Some("db.example"),
            ),
            (
                K::Dns,
                json!({"query_name": "x.example", "resolver": "127.0.0.1:5353"}),
                Some("127.0.0.1"),
            ),
            (K::Dns, json!({"query_name": "x.example"}), None),
            (K::Heartbeat, json!({}), None),
        ];
        for (kind, config, host) in cases {
            assert_eq!(target_host(kind, &config).as_deref(), host, "{config}");
        }
    }

    #[tokio::test]
    async fn starts_at_one_host_keep_their_spacing() {
        let g = gates(0, 100);
        let due = SystemClock.now();
        let started = std::time::Instant::now();
        for _ in 0..4 {
            drop(
                g.enter("a.example".into(), due, async {
                    SignedDuration::from_secs(30)
                })
                .await,
            );
        }
        assert!(started.elapsed() >= Duration::from_millis(290));
    }
}
