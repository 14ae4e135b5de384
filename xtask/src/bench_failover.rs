//! `cargo xtask bench failover`: three `tocsin serve` nodes on one throwaway PostgreSQL under a
//! steady stream of critical triggers (Events v2, round robin over the nodes as a load balancer
//! would, the next node tried when one refuses), each paging one user on a webhook served by
//! this process (chaos.rs's receiver: it records each page's arrival and which node's process
//! sent it).
//!
//! - **latency**: trigger → page, p50/p99, with all three nodes up; beside it Prometheus
//!   Alertmanager (Debian's `prometheus-alertmanager`, one instance, `group_wait: 0s`) given the
//!   same stream of alerts.
//! - **kill -9**: the receiver starts holding each answer 300 ms (so that nodes have sends on
//!   the wire), and the node with the most sends in flight is killed; measured from the kill:
//!   the first page of a trigger sent after it, the last page of the triggers sent before it
//!   that had not arrived yet, when the dead node's sends on the wire were sent again by
//!   another node (same Idempotency-Key: its lease had to run out), and the longest gap
//!   between two page arrivals around the kill.
//! - **pause**: the busiest node is stopped (SIGSTOP) for the lease plus 3 s, then resumed;
//!   counted: the pages it sent after SIGCONT, and those of them another node had already
//!   delivered (0 when fencing works).
//!
//! Every process started here is stopped by its own handle; docs/benchmarks.md records a run.

use crate::bench::{self, Api, Stats, TempDir, ms, num, stats};
use crate::chaos::{self, Cluster, NODES, Page, Receiver, Stream};
use crate::pg::TestPostgres;
use anyhow::{Context, bail, ensure};
use serde_json::json;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Triggers per second (spread over the nodes; each pages the same webhook, under the
/// dispatcher's 20 a second per destination).
const RATE: f64 = 10.0;
const WARM_UP: Duration = Duration::from_secs(5);
const LATENCY_PHASE: Duration = Duration::from_secs(30);
/// How long the receiver holds each answer around the kill and the pause, so that the node
/// hit has sends in flight (arrival times are taken before the hold).
const HOLD: Duration = Duration::from_millis(300);
/// After the kill: the stream goes on this long beyond the lease.
const AFTER_KILL: Duration = Duration::from_secs(10);
/// Pages still missing at the end are awaited this long.
const DRAIN: Duration = Duration::from_secs(20);
const RECOVERY_TARGET_S: f64 = 10.0;
const RECOVERY_GOAL_S: f64 = 3.0;
const P99_TARGET_MS: f64 = 50.0;
const PREFIX: &str = "fo";

pub fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    ensure!(args.is_empty(), "usage: cargo xtask bench failover");
    crate::ensure_packages(&[(
        "command -v prometheus-alertmanager",
        "prometheus-alertmanager",
    )])?;
    let bin = bench::release_binary_if_stale(root)?;
    let built = bench::built_at(&bin);
    let lease = chaos::engine_lease(root);
    let work = TempDir::new()?;
    let rx = Receiver::start(Duration::ZERO)?;
    let am = alertmanager(&work, &rx)?;
    let postgres = TestPostgres::start()?;
    let mut cluster = Cluster::start(&bin, &work.path, &postgres.url, Some(&rx))?;
    let result = measure(&mut cluster, &rx, lease);
    if result.is_err() {
        eprintln!("bench: the nodes' last log lines:\n{}", cluster.logs());
    }
    drop(cluster);
    drop(postgres);
    let figures = result?;
    print!("{}", report(&figures, &am, lease, &built));
    Ok(())
}

struct Figures {
    latency: Stats,
    lost_in_latency: usize,
    killed: usize,
    /// From the kill: first page of a trigger sent after it; last page of the triggers sent
    /// before it that had not arrived yet (and how many those were).
    first_new_s: f64,
    held_last_s: f64,
    held: usize,
    /// Longest gap between page arrivals from 1 s before the kill to the end of the phase, and
    /// before the kill for comparison.
    gap_s: f64,
    gap_before_s: f64,
    triggers_refused: usize,
    paused: usize,
    paused_for: Duration,
    after_resume: usize,
    stale_after_resume: usize,
    pause_held_last_s: f64,
    duplicates: usize,
    /// In-flight sends of the killed node sent again by another: how many, the last after.
    resent: usize,
    resent_last_s: f64,
    lost: usize,
    pages: usize,
}

/// The stream's dedup key of a page ("Chaos fo-12" → "fo-12").
fn trigger_of(p: &Page) -> Option<&str> {
    p.title.strip_prefix("Chaos ")
}

fn measure(cluster: &mut Cluster, rx: &Receiver, lease: Duration) -> anyhow::Result<Figures> {
    let token = cluster.admin_token()?;
    let mut api = Api::new(cluster.nodes[0].addr, &token)?;
    // One level: a page per trigger, the next level 5 minutes later (after the run).
    let (_service, key, _users) = chaos::paging_setup(&mut api, rx, "failover", 1, 5)?;
    let addrs: [SocketAddr; NODES] = std::array::from_fn(|i| cluster.nodes[i].addr);
    let mut stream = Stream::start(addrs, key, PREFIX.into(), RATE)?;
    let t0 = Instant::now();
    std::thread::sleep(WARM_UP);
    let latency_from = Instant::now();
    std::thread::sleep(LATENCY_PHASE);
    let latency_until = Instant::now();

    // kill -9 of the node doing the work: the receiver now holds each answer for a while, so
    // that nodes have sends in flight; the one with the most (then: the most pages lately).
    rx.set_delay(HOLD);
    std::thread::sleep(Duration::from_secs(2));
    let wait_until = Instant::now() + Duration::from_secs(5);
    while rx.in_flight().iter().all(|n| *n == 0) && Instant::now() < wait_until {
        std::thread::sleep(Duration::from_millis(5));
    }
    let recent = rx.sent_by(Instant::now() - Duration::from_secs(2));
    let flying = rx.in_flight();
    let killed = (0..NODES)
        .max_by_key(|n| (flying[*n], recent[*n]))
        .unwrap_or(0);
    let held_db = chaos::claims(&cluster.url);
    let kill = Instant::now();
    cluster.kill(killed, Some(rx))?;
    eprintln!(
        "bench: +{:.1} s kill -9 node {killed} (sends in flight per node: {flying:?}; pages in the last 2 s: {recent:?}; claims: {held_db})",
        t0.elapsed().as_secs_f64()
    );
    std::thread::sleep(lease + AFTER_KILL);
    let kill_until = Instant::now();
    cluster.restart(killed, Some(rx))?;
    std::thread::sleep(Duration::from_secs(3));

    // SIGSTOP of the busiest node past its lease.
    let recent = rx.sent_by(Instant::now() - Duration::from_secs(2));
    let paused = (0..NODES).max_by_key(|n| recent[*n]).unwrap_or(0);
    let paused_for = lease + Duration::from_secs(3);
    stream.set_up(paused, false);
    let pause = Instant::now();
    cluster.pause(paused)?;
    eprintln!(
        "bench: +{:.1} s SIGSTOP node {paused} for {:.1} s",
        t0.elapsed().as_secs_f64(),
        paused_for.as_secs_f64()
    );
    std::thread::sleep(paused_for);
    cluster.resume(paused)?;
    let resumed = Instant::now();
    stream.set_up(paused, true);
    std::thread::sleep(Duration::from_secs(5));
    rx.set_delay(Duration::ZERO);
    let sent = stream.stop();
    // Wait for the pages still due.
    let deadline = Instant::now() + DRAIN;
    loop {
        let arrived: std::collections::HashSet<String> = rx
            .pages()
            .iter()
            .filter_map(|p| trigger_of(p).map(str::to_owned))
            .collect();
        let missing = sent
            .iter()
            .filter(|s| s.accepted_by.is_some() && !arrived.contains(&s.dedup_key))
            .count();
        if missing == 0 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    let secs = |a: Instant, b: Instant| a.saturating_duration_since(b).as_secs_f64();
    let pages = rx.pages();
    let mut first: HashMap<&str, &Page> = HashMap::new();
    let mut per_key: HashMap<&str, usize> = HashMap::new();
    for p in &pages {
        *per_key.entry(p.key.as_str()).or_default() += 1;
        if let Some(t) = trigger_of(p) {
            first.entry(t).or_insert(p);
        }
    }
    let duplicates = per_key.values().map(|n| n - 1).sum();
    // Sends on the wire when their node was killed, sent again by another node: when.
    let mut resent_after: Vec<f64> = Vec::new();
    let mut by_key: HashMap<&str, Vec<&Page>> = HashMap::new();
    for p in &pages {
        by_key.entry(p.key.as_str()).or_default().push(p);
    }
    for v in by_key.values() {
        if let [first, second, ..] = v.as_slice()
            && first.sender == Some(killed)
            && first.instant < kill
            && second.instant > kill
        {
            resent_after.push(secs(second.instant, kill));
        }
    }
    let accepted: Vec<&chaos::Sent> = sent.iter().filter(|s| s.accepted_by.is_some()).collect();
    let lost = accepted
        .iter()
        .filter(|s| !first.contains_key(s.dedup_key.as_str()))
        .count();
    let arrival = |s: &chaos::Sent| first.get(s.dedup_key.as_str()).map(|p| p.instant);
    let window: Vec<&&chaos::Sent> = accepted
        .iter()
        .filter(|s| s.sent >= latency_from && s.sent < latency_until)
        .collect();
    let latency = stats(
        window
            .iter()
            .map(|s| arrival(s).map_or(f64::INFINITY, |a| ms(a.duration_since(s.sent))))
            .collect(),
    );
    let lost_in_latency = window.iter().filter(|s| arrival(s).is_none()).count();
    let first_new_s = accepted
        .iter()
        .filter(|s| s.sent >= kill)
        .filter_map(|s| arrival(s))
        .min()
        .map_or(f64::INFINITY, |a| secs(a, kill));
    let held: Vec<Instant> = accepted
        .iter()
        .filter(|s| s.sent < kill)
        .filter_map(|s| match arrival(s) {
            Some(a) if a > kill => Some(a),
            None => Some(kill + Duration::from_secs(3600)),
            _ => None,
        })
        .collect();
    let held_last_s = held.iter().max().map_or(0.0, |a| secs(*a, kill));
    let mut times: Vec<Instant> = pages.iter().map(|p| p.instant).collect();
    times.sort();
    let gap = |from: Instant, to: Instant| {
        let w: Vec<Instant> = std::iter::once(from)
            .chain(times.iter().copied().filter(|t| *t > from && *t < to))
            .chain(std::iter::once(to))
            .collect();
        w.windows(2)
            .map(|p| secs(p[1], p[0]))
            .fold(0.0f64, f64::max)
    };
    let gap_s = gap(kill - Duration::from_secs(1), kill_until);
    let gap_before_s = gap(latency_from, latency_until);
    let after: Vec<&Page> = pages
        .iter()
        .filter(|p| p.sender == Some(paused) && p.instant >= resumed)
        .collect();
    let stale_after_resume = after
        .iter()
        .filter(|p| {
            pages
                .iter()
                .any(|q| q.key == p.key && q.instant < p.instant && q.sender != Some(paused))
        })
        .count();
    let pause_held_last_s = accepted
        .iter()
        .filter(|s| s.sent < pause)
        .filter_map(|s| arrival(s).filter(|a| *a > pause))
        .max()
        .map_or(0.0, |a| secs(a, pause));
    // The pages of triggers sent before the pause that came more than the lease after it.
    for s in accepted.iter().filter(|s| s.sent < pause) {
        if let Some(p) = first.get(s.dedup_key.as_str())
            && p.instant > pause + lease + Duration::from_secs(1)
        {
            eprintln!(
                "bench: late after the pause: {} (trigger sent {:.2} s before the pause, taken by node {:?} after {:?}), page {:.2} s after the pause, sent by node {:?}, key {}",
                s.dedup_key,
                secs(pause, s.sent),
                s.accepted_by,
                s.failures,
                secs(p.instant, pause),
                p.sender,
                p.key
            );
        }
    }
    Ok(Figures {
        latency,
        lost_in_latency,
        killed,
        first_new_s,
        held_last_s,
        held: held.len(),
        gap_s,
        gap_before_s,
        triggers_refused: sent.iter().filter(|s| s.accepted_by.is_none()).count(),
        paused,
        paused_for,
        after_resume: after.len(),
        stale_after_resume,
        pause_held_last_s,
        duplicates,
        resent: resent_after.len(),
        resent_last_s: resent_after.iter().copied().fold(0.0, f64::max),
        lost,
        pages: pages
            .iter()
            .filter(|p| trigger_of(p).is_some_and(|t| t.starts_with(PREFIX)))
            .count(),
    })
}

// ---- Alertmanager, the peer ----

struct AmFigures {
    latency: Stats,
    lost: usize,
}

/// A stopped-on-drop Alertmanager.
struct Am(Child);

impl Drop for Am {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One Alertmanager, each alert its own group flushed at once to `rx`; the same stream rate
/// for the same time as Tocsin's latency phase.
fn alertmanager(work: &TempDir, rx: &Receiver) -> anyhow::Result<AmFigures> {
    let addr: SocketAddr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let config = work.path.join("failover-alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "# Written by `cargo xtask bench failover`: each alert its own group, sent at once.
route:
  receiver: page
  group_by: ['alertname', 'id']
  group_wait: 0s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: page
    webhook_configs:
      - url: '{}'
        send_resolved: false
",
            rx.url("/am")
        ),
    )?;
    let log = std::fs::File::create(work.path.join("failover-alertmanager.log"))?;
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.path={}",
            work.path.join("failover-am-data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--cluster.listen-address=")
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting prometheus-alertmanager")?;
    let _am = Am(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !bench::request(addr, "GET", "/-/ready", &[], b"").is_ok_and(|r| r.status == 200) {
        ensure!(
            Instant::now() < deadline,
            "Alertmanager not ready after 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("bench: alertmanager is up on {addr}");
    let gap = Duration::from_secs_f64(1.0 / RATE);
    let start = Instant::now();
    let n = ((WARM_UP + LATENCY_PHASE).as_secs_f64() * RATE) as usize;
    let warm = (WARM_UP.as_secs_f64() * RATE) as usize;
    let mut sent = Vec::with_capacity(n);
    for i in 0..n {
        if let Some(w) = (start + gap * i as u32).checked_duration_since(Instant::now()) {
            std::thread::sleep(w);
        }
        let id = format!("am{i}");
        let body = json!([{"labels": {"alertname": "FailoverPage", "id": id,
                                       "severity": "critical"},
                           "annotations": {"summary": format!("Chaos {id}")}}])
        .to_string();
        let at = Instant::now();
        match chaos::post_quick(addr, "/api/v2/alerts", &body, Duration::from_secs(3)) {
            Ok(s) if (200..300).contains(&s) => {}
            Ok(s) => bail!("Alertmanager answered {s}"),
            Err(e) => bail!("Alertmanager: {e:#}"),
        }
        if i >= warm {
            sent.push((format!("am-{id}"), at));
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    let pages = rx.pages();
    let first: HashMap<&str, Instant> = pages.iter().fold(HashMap::new(), |mut m, p| {
        m.entry(p.key.as_str()).or_insert(p.instant);
        m
    });
    let v: Vec<f64> = sent
        .iter()
        .map(|(k, at)| {
            first
                .get(k.as_str())
                .map_or(f64::INFINITY, |a| ms(a.duration_since(*at)))
        })
        .collect();
    let lost = v.iter().filter(|x| x.is_infinite()).count();
    Ok(AmFigures {
        latency: stats(v),
        lost,
    })
}

// ---- the report ----

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

fn report(f: &Figures, am: &AmFigures, lease: Duration, built: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Failover: 3 tocsin nodes on one PostgreSQL {} (loopback), {RATE} critical triggers/s round robin, \
         one page each to a webhook on loopback; lease {:.1} s; {} core(s); tocsin built {built}",
        bench::command_line("/usr/lib/postgresql/15/bin/postgres", &["--version"]),
        lease.as_secs_f64(),
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    let _ = writeln!(o, "{:<64} {:>12}  target", "figure", "value");
    let row = |o: &mut String, name: &str, v: String, t: &str| {
        let _ = writeln!(o, "{name:<64} {v:>12}  {t}");
    };
    row(
        &mut o,
        &format!(
            "trigger → page p50, 3 nodes ({} triggers over {} s)",
            f.latency.count,
            LATENCY_PHASE.as_secs()
        ),
        format!("{} ms", num(f.latency.p50, 2)),
        "",
    );
    row(
        &mut o,
        "trigger → page p99, 3 nodes",
        format!("{} ms", num(f.latency.p99, 2)),
        &format!(
            "≤{P99_TARGET_MS} ms: {}",
            verdict(f.latency.p99 <= P99_TARGET_MS)
        ),
    );
    row(
        &mut o,
        "  lost in the latency phase",
        f.lost_in_latency.to_string(),
        "",
    );
    row(
        &mut o,
        "Alertmanager (1 instance) trigger → page p50 / p99",
        format!("{} / {} ms", num(am.latency.p50, 2), num(am.latency.p99, 2)),
        &format!("lost {}", am.lost),
    );
    let recovery = f.held_last_s.max(f.first_new_s).max(f.resent_last_s);
    row(
        &mut o,
        &format!(
            "kill -9 node {}: first page of a new trigger after",
            f.killed
        ),
        format!("{} s", num(f.first_new_s, 2)),
        "",
    );
    row(
        &mut o,
        &format!(
            "kill -9: last page of the {} triggers in flight at the kill",
            f.held
        ),
        format!("{} s", num(f.held_last_s, 2)),
        &format!(
            "≤{RECOVERY_TARGET_S} s: {}; goal {RECOVERY_GOAL_S} s: {}",
            verdict(recovery <= RECOVERY_TARGET_S),
            verdict(recovery <= RECOVERY_GOAL_S)
        ),
    );
    row(
        &mut o,
        &format!(
            "kill -9: its {} send(s) on the wire sent again by another node after",
            f.resent
        ),
        format!("{} s", num(f.resent_last_s, 2)),
        "same Idempotency-Key",
    );
    row(
        &mut o,
        "kill -9: longest gap between pages (before the kill)",
        format!("{} s ({})", num(f.gap_s, 2), num(f.gap_before_s, 2)),
        "",
    );
    row(
        &mut o,
        "  triggers no node took (3 attempts)",
        f.triggers_refused.to_string(),
        "",
    );
    row(
        &mut o,
        &format!(
            "SIGSTOP node {} for {:.1} s: last held page after the pause",
            f.paused,
            f.paused_for.as_secs_f64()
        ),
        format!("{} s", num(f.pause_held_last_s, 2)),
        "",
    );
    row(
        &mut o,
        "  pages it sent after SIGCONT / of them already sent by another",
        format!("{} / {}", f.after_resume, f.stale_after_resume),
        &format!("0 stale: {}", verdict(f.stale_after_resume == 0)),
    );
    row(
        &mut o,
        "pages received / duplicated / lost (of accepted triggers)",
        format!("{} / {} / {}", f.pages, f.duplicates, f.lost),
        &format!("0 lost: {}", verdict(f.lost == 0)),
    );
    o
}
