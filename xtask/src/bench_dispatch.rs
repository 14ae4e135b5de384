//! `cargo xtask bench dispatch [--notifications N]`: how fast notifications leave for webhooks
//! on 127.0.0.1, Tocsin beside Prometheus Alertmanager (Debian's `prometheus-alertmanager`).
//! The target: at least 2,000 notifications/s, with bounded concurrency per destination.
//!
//! Tocsin sends to one webhook address at most 20 times a second (burst 50: the dispatcher's
//! per-destination budget), so the pages go to 500 destinations: 500 users, each with a webhook
//! contact method at its own path on this process's receiver (`/t/{i}`) and no notification
//! rule (so every page is due at once). A level names at most 50 targets, so there are 10
//! policies of one level with 50 users each, and a service for each policy. N / 500 critical
//! incidents per service then go in at once over 8 keep-alive connections (`POST /v2/enqueue`):
//! each incident's level-1 step queues 50 pages, every destination gets N / 500 of them, within
//! its burst.
//!
//! Alertmanager gets one receiver with 500 `webhook_configs` (`/a/{i}`), so one alert (its own
//! group, `group_wait: 0s`) fans out to 500 webhooks; N / 500 alerts. Alertmanager starts a
//! request per webhook and group at once, without a bound, each webhook with its own connection
//! pool: all the alerts at once would open about N connections, beyond the 20,000 file
//! descriptors each process may have here. So at most 4 of its alerts are in flight (2,000
//! requests): the next alert goes in when the receiver has all but 4 alerts' worth of pages.
//!
//! The receiver files each page by its idempotency key (Tocsin) or by path and alert (Alertmanager):
//! a key seen twice is a duplicate. Figures: pages per second from the first to the last page,
//! and from the first trigger; the time to the first page; duplicates and missing pages; the
//! most connections open to the receiver at once (the concurrency each sender allowed itself);
//! the server's CPU. Every wait is bounded; every process started here is stopped by its own
//! handle; the temporary folder is removed. docs/benchmarks.md explains the figures and records
//! a run.

use crate::bench::{self, Api, Env, Http, Kind, Receiver, Server, TempDir, id_of, metric_sum, num};
use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// Notifications by default (the figure), and the most a run may ask for.
const NOTIFICATIONS_DEFAULT: usize = 20_000;
const NOTIFICATIONS_MAX: usize = 500_000;
/// Webhook destinations (distinct paths on the receiver).
const DESTINATIONS: usize = 500;
/// Targets one level of a Tocsin policy may name (`tocsin_core::escalation::Policy::new`).
const TARGETS_PER_LEVEL_MAX: usize = 50;
/// Keep-alive connections that send Tocsin's triggers.
const TRIGGER_CONNECTIONS: usize = 8;
/// Alertmanager's webhook requests in flight at most, in whole alerts (see the module doc).
const AM_SENDS_IN_FLIGHT_MAX: usize = 2_000;
/// The wait for the pages ends when none came for `STALL`, or after `WAIT_BASE` plus a second
/// per `WAIT_PER_SECOND` pages expected.
const STALL: Duration = Duration::from_secs(30);
const WAIT_BASE: Duration = Duration::from_secs(60);
const WAIT_PER_SECOND: usize = 100;
const POLL: Duration = Duration::from_millis(20);
/// The target, notifications/s.
const RATE_TARGET: f64 = 2_000.0;

pub fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let opts = Options::parse(args)?;
    crate::ensure_packages(&[(
        "command -v prometheus-alertmanager",
        "prometheus-alertmanager",
    )])?;
    let tocsin_bin = bench::release_binary_if_missing(root)?;
    let work = TempDir::new()?;
    let scripts = work.path.join("scripts");
    std::fs::create_dir_all(&scripts)?;
    let rx = Receiver::start(file_page)?;
    std::fs::write(scripts.join("alertmanager.yml"), alertmanager_config(&rx))?;
    let env = Env {
        tocsin_bin,
        scripts,
        work,
        starts_at: bench::rfc3339(SystemTime::now()),
        duration: 0,
    };
    eprintln!(
        "bench: {} core(s); receiver on {}; {} notifications to {DESTINATIONS} webhooks ({} each); work folder {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        rx.addr,
        num(opts.total() as f64, 0),
        opts.per_destination(),
        env.work.path.display()
    );
    let am = alertmanager(&env, &rx, &opts)?;
    let tocsin = tocsin(&env, &rx, &opts)?;
    print!("{}", report(&env, &opts, &tocsin, &am, &rx));
    Ok(())
}

struct Options {
    notifications: usize,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Self> {
        const USAGE: &str = "usage: bench dispatch [--notifications N]";
        let mut o = Options {
            notifications: NOTIFICATIONS_DEFAULT,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--notifications" => {
                    o.notifications = it
                        .next()
                        .context("--notifications needs a number")?
                        .replace(['_', ','], "")
                        .parse()
                        .context("--notifications must be a whole number")?;
                }
                other => bail!("unknown option {other:?}; {USAGE}"),
            }
        }
        ensure!(
            (DESTINATIONS..=NOTIFICATIONS_MAX).contains(&o.notifications),
            "--notifications must be between {DESTINATIONS} and {}",
            num(NOTIFICATIONS_MAX as f64, 0)
        );
        Ok(o)
    }

    /// Pages each destination gets: N / 500, rounded up.
    fn per_destination(&self) -> usize {
        self.notifications.div_ceil(DESTINATIONS)
    }

    /// Notifications sent in all (N rounded up to a multiple of 500).
    fn total(&self) -> usize {
        self.per_destination() * DESTINATIONS
    }
}

fn alertmanager_config(rx: &Receiver) -> String {
    let mut s = String::from(
        "# Written by `cargo xtask bench dispatch`: every alert is its own group (group_by alertname
# and id), flushed at once (group_wait: 0s) to one receiver with a webhook per destination.
route:
  receiver: fanout
  group_by: ['alertname', 'id']
  group_wait: 0s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: fanout
    webhook_configs:
",
    );
    for i in 0..DESTINATIONS {
        let _ = writeln!(
            s,
            "      - url: '{}'\n        send_resolved: false",
            rx.url(&format!("/a/{i}"))
        );
    }
    s
}

/// Files a page: Tocsin's (`/t/…`) by its idempotency key, Alertmanager's (`/a/…`) by path and
/// alert id; anything else is only counted.
fn file_page(path: &str, body: &[u8]) -> Option<Vec<String>> {
    let tocsin = path.starts_with("/t/");
    if !tocsin && !path.starts_with("/a/") {
        return None;
    }
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Some(Vec::new());
    };
    if tocsin {
        return Some(
            v["idempotency_key"]
                .as_str()
                .map(|k| vec![format!("t {k}")])
                .unwrap_or_default(),
        );
    }
    Some(
        v["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["labels"]["id"].as_str())
            .map(|id| format!("a {path} {id}"))
            .collect(),
    )
}

// ---- measuring ----

/// One server's figures.
#[derive(Clone, Debug, Default)]
struct Figures {
    expected: usize,
    /// Distinct pages (keys) and all arrivals.
    distinct: usize,
    arrivals: usize,
    duplicates: u64,
    /// Seconds: first trigger → first page, first → last page, first trigger → last page.
    to_first: f64,
    first_to_last: f64,
    to_last: f64,
    /// The server's CPU from the first trigger to the last page, in cores; and this process's
    /// (the receiver's, mostly).
    cores: f64,
    receiver_cores: f64,
    peak_connections: u64,
    /// Tocsin only: `tocsin_notifications_sent_total` and `…_failed_total` after the phase.
    sent_metric: Option<f64>,
    failed_metric: Option<f64>,
}

impl Figures {
    /// Pages per second between the first and the last.
    fn rate(&self) -> f64 {
        if self.arrivals < 2 {
            return f64::NAN;
        }
        (self.arrivals - 1) as f64 / self.first_to_last.max(1e-9)
    }

    fn rate_from_trigger(&self) -> f64 {
        self.arrivals as f64 / self.to_last.max(1e-9)
    }
}

/// The receiver's progress and the server's CPU at the last page seen.
struct Progress<'a> {
    rx: &'a Receiver,
    server: &'a Server,
    base: u64,
    last_count: u64,
    last_at: Instant,
    last_cpu: f64,
    last_own_cpu: f64,
}

impl<'a> Progress<'a> {
    fn new(rx: &'a Receiver, server: &'a Server) -> anyhow::Result<Self> {
        Ok(Progress {
            rx,
            server,
            base: rx.recorded(),
            last_count: 0,
            last_at: Instant::now(),
            last_cpu: server.cpu_seconds()?,
            last_own_cpu: bench::cpu_seconds_of(std::process::id())?,
        })
    }

    /// Pages arrived in this phase; notes the time and CPU whenever more came.
    fn poll(&mut self) -> anyhow::Result<u64> {
        let count = self.rx.recorded() - self.base;
        if count > self.last_count {
            self.last_count = count;
            self.last_at = Instant::now();
            self.last_cpu = self.server.cpu_seconds()?;
            self.last_own_cpu = bench::cpu_seconds_of(std::process::id())?;
        }
        Ok(count)
    }

    fn stalled(&self) -> bool {
        self.last_at.elapsed() > STALL
    }
}

/// Waits until `expected` pages came, none came for [`STALL`], or `deadline`.
fn wait_for_pages(p: &mut Progress, expected: usize, deadline: Instant) -> anyhow::Result<()> {
    loop {
        if p.poll()? >= expected as u64 {
            return Ok(());
        }
        if p.stalled() || Instant::now() > deadline {
            eprintln!(
                "bench: {}: {} of {expected} pages after {:.0} s; giving up",
                p.server.kind.name(),
                p.last_count,
                p.last_at.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
}

fn wait_budget(expected: usize) -> Duration {
    WAIT_BASE + Duration::from_secs((expected / WAIT_PER_SECOND) as u64)
}

/// The figures of a phase whose first trigger was at `t0` (the server and this process having
/// used `cpu0` CPU seconds then), from the receiver's keys under `prefix`.
fn figures(
    rx: &Receiver,
    p: &Progress,
    prefix: &str,
    expected: usize,
    t0: Instant,
    cpu0: (f64, f64),
) -> Figures {
    let elapsed = p
        .last_at
        .saturating_duration_since(t0)
        .as_secs_f64()
        .max(1e-9);
    let (distinct, arrivals) = rx.arrivals(prefix);
    let (first, last) = match (arrivals.first(), arrivals.last()) {
        (Some(f), Some(l)) => (*f, *l),
        _ => (t0, t0),
    };
    let f = Figures {
        expected,
        distinct,
        arrivals: arrivals.len(),
        duplicates: rx.duplicates(prefix),
        to_first: first.saturating_duration_since(t0).as_secs_f64(),
        first_to_last: last.saturating_duration_since(first).as_secs_f64(),
        to_last: last.saturating_duration_since(t0).as_secs_f64(),
        cores: (p.last_cpu - cpu0.0) / elapsed,
        receiver_cores: (p.last_own_cpu - cpu0.1) / elapsed,
        peak_connections: rx.reset_peak(),
        sent_metric: None,
        failed_metric: None,
    };
    eprintln!(
        "bench: {}: {} pages ({} distinct of {expected}) in {:.2} s from the first: {:.0}/s ({:.0}/s from the first trigger); {} duplicates; at most {} connections",
        p.server.kind.name(),
        f.arrivals,
        f.distinct,
        f.first_to_last,
        f.rate(),
        f.rate_from_trigger(),
        f.duplicates,
        f.peak_connections
    );
    f
}

fn alertmanager(env: &Env, rx: &Receiver, opts: &Options) -> anyhow::Result<Figures> {
    eprintln!("bench: ---- alertmanager ----");
    let server = Server::start(env, Kind::Alertmanager, "dispatch")?;
    let alerts = opts.per_destination();
    let expected = opts.total();
    let in_flight = (AM_SENDS_IN_FLIGHT_MAX / DESTINATIONS).max(1);
    let mut conn = Http::connect(server.addr)?;
    rx.reset_peak();
    let mut p = Progress::new(rx, &server)?;
    let (t0, cpu0) = (Instant::now(), (p.last_cpu, p.last_own_cpu));
    let deadline = t0 + wait_budget(expected);
    for k in 0..alerts {
        // At most `in_flight` alerts whose pages have not all come.
        let done_needed = (k + 1).saturating_sub(in_flight) * DESTINATIONS;
        while p.poll()? < done_needed as u64 {
            ensure!(
                !p.stalled() && Instant::now() < deadline,
                "alertmanager: only {} of {done_needed} pages came before alert {k}",
                p.last_count
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let body = json!([{
            "labels": {"alertname": "TocsinDispatch", "id": format!("dispatch-{k}"), "severity": "critical"},
            "annotations": {"summary": format!("Bench dispatch {k}")}}]);
        let r = conn.send(
            "POST",
            "/api/v2/alerts",
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )?;
        ensure!(
            (200..300).contains(&r.status),
            "alertmanager answered {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    wait_for_pages(&mut p, expected, deadline)?;
    Ok(figures(rx, &p, "a ", expected, t0, cpu0))
}

/// Tocsin's setup: the services' integration keys.
fn set_up(api: &mut Api, rx: &Receiver) -> anyhow::Result<Vec<String>> {
    let mut users = Vec::with_capacity(DESTINATIONS);
    for i in 0..DESTINATIONS {
        let user = id_of(&api.post(
            "/api/v1/users",
            &json!({"name": format!("Destination {i}"), "email": format!("dest-{i}@example.com")}),
        )?)?;
        api.post(
            &format!("/api/v1/users/{user}/contact-methods"),
            &json!({"type": "webhook", "address": rx.url(&format!("/t/{i}"))}),
        )?;
        users.push(user);
    }
    let mut keys = Vec::new();
    for (p, group) in users.chunks(TARGETS_PER_LEVEL_MAX).enumerate() {
        let targets: Vec<Value> = group
            .iter()
            .map(|u| json!({"type": "user", "id": u}))
            .collect();
        let policy = id_of(&api.post(
            "/api/v1/escalation-policies",
            &json!({"name": format!("dispatch-{p}"),
                    "levels": [{"delay_minutes": 60, "targets": targets}]}),
        )?)?;
        let service = id_of(&api.post(
            "/api/v1/services",
            &json!({"name": format!("dispatch-{p}"), "escalation_policy_id": policy}),
        )?)?;
        let integration = api.post(
            &format!("/api/v1/services/{service}/integrations"),
            &json!({"type": "events_v2", "rate_limit_per_second": 0}),
        )?;
        keys.push(
            integration["key"]
                .as_str()
                .context("integration without key")?
                .to_owned(),
        );
    }
    Ok(keys)
}

fn tocsin(env: &Env, rx: &Receiver, opts: &Options) -> anyhow::Result<Figures> {
    eprintln!("bench: ---- tocsin ----");
    let server = Server::start(env, Kind::Tocsin, "dispatch")?;
    let token = bench::admin_token(env, &bench::tocsin_data(env, "dispatch"))?;
    let mut api = Api::new(server.addr, &token)?;
    let keys = set_up(&mut api, rx)?;
    let incidents = opts.per_destination() * keys.len();
    let expected = opts.total();
    eprintln!(
        "bench: tocsin: {DESTINATIONS} users with a webhook each, {} services of {TARGETS_PER_LEVEL_MAX}; {incidents} incidents",
        keys.len()
    );
    rx.reset_peak();
    let mut p = Progress::new(rx, &server)?;
    let (t0, cpu0) = (Instant::now(), (p.last_cpu, p.last_own_cpu));
    let deadline = t0 + wait_budget(expected);
    trigger(server.addr, &keys, incidents)?;
    eprintln!(
        "bench: tocsin: {incidents} triggers answered in {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    wait_for_pages(&mut p, expected, deadline)?;
    let mut f = figures(rx, &p, "t ", expected, t0, cpu0);
    // Let a send in flight be recorded before reading the counters.
    std::thread::sleep(Duration::from_secs(1));
    let r = bench::request(server.addr, "GET", "/metrics", &[], b"")?;
    let text = String::from_utf8_lossy(&r.body);
    f.sent_metric = Some(metric_sum(&text, "tocsin_notifications_sent_total", None));
    f.failed_metric = Some(metric_sum(&text, "tocsin_notifications_failed_total", None));
    Ok(f)
}

/// `incidents` critical triggers at once, taking the services in turn.
fn trigger(addr: SocketAddr, keys: &[String], incidents: usize) -> anyhow::Result<()> {
    bench::post_many(
        addr,
        TRIGGER_CONNECTIONS,
        incidents,
        Duration::from_secs(120),
        &|j| {
            let body = json!({"routing_key": keys[j % keys.len()], "event_action": "trigger",
                "dedup_key": format!("dispatch-{j}"),
                "payload": {"summary": format!("Bench dispatch {j}"), "source": "bench",
                            "severity": "critical", "component": "bench"}});
            ("/v2/enqueue".to_owned(), body.to_string())
        },
    )
}

// ---- the report ----

fn report(env: &Env, opts: &Options, t: &Figures, am: &Figures, rx: &Receiver) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nNotification dispatch to {DESTINATIONS} webhooks on 127.0.0.1, Tocsin vs Prometheus Alertmanager — {} notifications ({} per destination), on the same {}-core machine",
        num(opts.total() as f64, 0),
        opts.per_destination(),
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    let _ = writeln!(
        s,
        "run started {}; tocsin {} (binary built {}); {}",
        env.starts_at,
        bench::command_line("git", &["describe", "--always", "--dirty"]),
        bench::built_at(&env.tocsin_bin),
        bench::command_line("prometheus-alertmanager", &["--version"])
    );
    let _ = writeln!(
        s,
        "{:<52} {:>12} {:>12} {:>8}  {:<22}",
        "figure", "Tocsin", "Alertmanager", "T/AM", "target (Tocsin)"
    );
    let _ = writeln!(s, "{}", "-".repeat(112));
    let mut row = |name: &str, tv: f64, av: f64, digits: usize, target: &str| {
        let ratio = if av > 0.0 && tv.is_finite() && av.is_finite() {
            format!("{:.2}", tv / av)
        } else {
            "-".into()
        };
        let _ = writeln!(
            s,
            "{name:<52} {:>12} {:>12} {ratio:>8}  {target:<22}",
            num(tv, digits),
            num(av, digits)
        );
    };
    let met = |ok: bool| if ok { "met" } else { "MISSED" };
    row(
        "notifications/s, first → last page",
        t.rate(),
        am.rate(),
        0,
        &format!(
            "≥{}: {}",
            num(RATE_TARGET, 0),
            met(t.rate() >= RATE_TARGET && t.distinct == t.expected)
        ),
    );
    row(
        "notifications/s, first trigger → last page",
        t.rate_from_trigger(),
        am.rate_from_trigger(),
        0,
        "",
    );
    row(
        "first trigger → first page ms",
        t.to_first * 1000.0,
        am.to_first * 1000.0,
        1,
        "",
    );
    row("first trigger → last page s", t.to_last, am.to_last, 2, "");
    row(
        &format!("pages arrived (of {})", num(opts.total() as f64, 0)),
        t.distinct as f64,
        am.distinct as f64,
        0,
        "",
    );
    row(
        "duplicate pages (same key again)",
        t.duplicates as f64,
        am.duplicates as f64,
        0,
        &format!("0: {}", met(t.duplicates == 0)),
    );
    row(
        "most connections open to the receiver at once",
        t.peak_connections as f64,
        am.peak_connections as f64,
        0,
        "",
    );
    row("server CPU, cores", t.cores, am.cores, 2, "");
    row(
        "receiver (this process) CPU, cores",
        t.receiver_cores,
        am.receiver_cores,
        2,
        "",
    );
    let _ = writeln!(
        s,
        "\nTocsin: {} incidents at once over {TRIGGER_CONNECTIONS} connections, 50 pages each; tocsin_notifications_sent_total {}, failed {}. Alertmanager: {} alerts of 500 webhooks each, at most {} alerts in flight. Times by this process's clock: from just before the first trigger was written to when the receiver had read each page.",
        opts.per_destination() * DESTINATIONS / TARGETS_PER_LEVEL_MAX,
        t.sent_metric.map_or("-".into(), |v| num(v, 0)),
        t.failed_metric.map_or("-".into(), |v| num(v, 0)),
        opts.per_destination(),
        (AM_SENDS_IN_FLIGHT_MAX / DESTINATIONS).max(1)
    );
    for (name, f) in [("Tocsin", t), ("Alertmanager", am)] {
        if f.distinct < f.expected {
            let _ = writeln!(
                s,
                "WARNING {name}: {} of {} pages never arrived",
                f.expected - f.distinct,
                f.expected
            );
        }
    }
    let (unmatched, errors) = (
        rx.shared
            .unmatched
            .load(std::sync::atomic::Ordering::Relaxed),
        rx.shared.errors.load(std::sync::atomic::Ordering::Relaxed),
    );
    if unmatched > 0 || errors > 0 || rx.counted() > 0 {
        let _ = writeln!(
            s,
            "WARNING receiver: {unmatched} pages named no key, {} on unknown paths, {errors} connections ended in an error",
            rx.counted()
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_filed_by_key_or_path_and_alert() {
        let t = json!({"event": "incident.page", "idempotency_key": "i1:1:u:m:0",
            "incident": {"number": 1, "title": "Bench dispatch 0"}});
        assert_eq!(
            file_page("/t/3", t.to_string().as_bytes()),
            Some(vec!["t i1:1:u:m:0".to_owned()])
        );
        let a = json!({"receiver": "fanout", "alerts": [{"labels": {"id": "dispatch-2"}}]});
        assert_eq!(
            file_page("/a/7", a.to_string().as_bytes()),
            Some(vec!["a /a/7 dispatch-2".to_owned()])
        );
        assert_eq!(file_page("/t/1", b"not json"), Some(Vec::new()));
        assert_eq!(file_page("/other", b"{}"), None);
    }

    #[test]
    fn notifications_round_up_to_whole_destinations() {
        let o = Options::parse(&["--notifications".into(), "20,001".into()]).unwrap();
        assert_eq!((o.per_destination(), o.total()), (41, 20_500));
        assert!(Options::parse(&["--notifications".into(), "10".into()]).is_err());
    }
}
