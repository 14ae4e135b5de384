//! `cargo xtask bench timers [--steps N] [--delay-minutes M]`: N pending escalation steps. Does
//! each fire within 1 s of its due time (p99), and does the engine idle at under 1 % of a core
//! while they wait? Beside it, Prometheus Alertmanager (Debian's `prometheus-alertmanager`)
//! holding N active alerts, each its own aggregation group with its own timer. Everything runs
//! on 127.0.0.1.
//!
//! Tocsin is set up through its API: users A and B, each with a webhook contact method (at this
//! process's receiver) and one notification rule that waits 24 hours, so that no page is due
//! during a run; a policy whose level 1 pages A and, M minutes later (default 2), level 2 pages
//! B; a service with that policy. N distinct critical triggers then go in over 32 keep-alive
//! connections (`POST /v2/enqueue`). Each incident's level-1 step runs at once and schedules its
//! level-2 step at the step's time + M minutes: those are the N pending steps.
//!
//! - **idle CPU**: the server's user + system time (`/proc/PID/stat`) over a quiet window that
//!   starts 3 s after the last level-1 step and ends at least 5 s before the first level-2 step
//!   is due (at most 60 s). Nothing is asked of the server meanwhile. Alertmanager: the same
//!   window after its N alerts went in (`group_wait: 0s`, `group_interval` M minutes, a receiver
//!   with no integrations).
//! - **lateness** of each level-2 step, firing time − due time: from the timelines of a random
//!   sample of 2,000 incidents (the `escalated` entry of level 2 − that of level 1 − M minutes),
//!   and, as a cross-check, from `tocsin_escalation_lateness_seconds` on `/metrics` when the
//!   server exports it (buckets, so bounds: ≤ 0.25 s, ≤ 1 s, …), the level-2 steps being the
//!   difference between its readings after the level-1 and after the level-2 steps.
//! - **level-1 steps/s**: N over the time from the first trigger to the newest incident's
//!   level-1 step (the last one taken, steps being claimed in due order).
//!
//! The server is `target/release/tocsin` as built (built only when missing). Every wait is
//! bounded; every process started here is stopped by its own handle; the temporary folder is
//! removed. docs/benchmarks.md explains the figures and records a run.

use crate::bench::{
    self, Api, Env, Histogram, Kind, Receiver, Server, Stats, TempDir, bound_text, id_of,
    metric_sum, num, stats, unix_ms,
};
use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// Pending steps by default (the figure).
const STEPS_DEFAULT: usize = 100_000;
const STEPS_MAX: usize = 500_000;
/// Level 1's delay: when the level-2 steps fall due (the figure).
const DELAY_MINUTES_DEFAULT: u64 = 2;
/// Every notification rule waits this long (the API's maximum): no page is due during a run.
const RULE_DELAY_MINUTES: u32 = 1_440;
/// Incidents whose timelines are read.
const SAMPLE: usize = 2_000;
/// Keep-alive connections that send the triggers: enough that the server's group commit, not
/// the round trips, bounds the rate.
const INGEST_CONNECTIONS: usize = 32;
const INGEST_TIMEOUT: Duration = Duration::from_secs(900);
/// The quiet window starts this long after the last level-1 step (or after the last alert went
/// into Alertmanager), ends at least `WINDOW_MARGIN` before the first level-2 step is due, and
/// lasts at most `WINDOW_MAX`; shorter than `WINDOW_MIN`, it is not measured.
const SETTLE: Duration = Duration::from_secs(3);
const WINDOW_MARGIN: Duration = Duration::from_secs(5);
const WINDOW_MAX: Duration = Duration::from_secs(60);
const WINDOW_MIN: Duration = Duration::from_secs(10);
/// How long the level-1 steps may take after the triggers went in, beyond level 1's delay; and
/// how late the last level-2 step may be before the run stops waiting for it.
const LEVEL1_EXTRA: Duration = Duration::from_secs(600);
const LATE_MAX: Duration = Duration::from_secs(300);
/// How often the run looks for progress (never during the quiet window).
const POLL: Duration = Duration::from_millis(500);
/// The escalator's histogram of step lateness (firing time − due time), in seconds.
const LATENESS_METRIC: &str = "tocsin_escalation_lateness_seconds";
/// The target: p99 lateness and idle CPU (% of one core).
const LATENESS_P99_TARGET_MS: f64 = 1_000.0;
const IDLE_CPU_TARGET_PERCENT: f64 = 1.0;

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
    std::fs::write(
        scripts.join("alertmanager.yml"),
        alertmanager_config(opts.delay_minutes),
    )?;
    // Every request to the receiver is only counted: no page should come at all.
    let rx = Receiver::start(|_, _| None)?;
    let env = Env {
        tocsin_bin,
        scripts,
        work,
        starts_at: bench::rfc3339(SystemTime::now()),
        duration: 0,
    };
    eprintln!(
        "bench: {} core(s); {} incidents, level 2 due {} min after level 1; work folder {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        num(opts.steps as f64, 0),
        opts.delay_minutes,
        env.work.path.display()
    );
    let am = alertmanager(&env, &opts)?;
    let tocsin = tocsin(&env, &rx, &opts)?;
    print!("{}", report(&env, &opts, &tocsin, &am, &rx));
    Ok(())
}

struct Options {
    steps: usize,
    delay_minutes: u64,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Self> {
        const USAGE: &str = "usage: bench timers [--steps N] [--delay-minutes M]";
        let mut o = Options {
            steps: STEPS_DEFAULT,
            delay_minutes: DELAY_MINUTES_DEFAULT,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| -> anyhow::Result<u64> {
                it.next()
                    .with_context(|| format!("{name} needs a number"))?
                    .replace(['_', ','], "")
                    .parse()
                    .with_context(|| format!("{name} must be a whole number"))
            };
            match a.as_str() {
                "--steps" => o.steps = value("--steps")? as usize,
                "--delay-minutes" => o.delay_minutes = value("--delay-minutes")?,
                other => bail!("unknown option {other:?}; {USAGE}"),
            }
        }
        ensure!(
            (100..=STEPS_MAX).contains(&o.steps),
            "--steps must be between 100 and {}",
            num(STEPS_MAX as f64, 0)
        );
        ensure!(
            (1..=60).contains(&o.delay_minutes),
            "--delay-minutes must be between 1 and 60"
        );
        Ok(o)
    }

    fn delay(&self) -> Duration {
        Duration::from_secs(self.delay_minutes * 60)
    }
}

fn alertmanager_config(delay_minutes: u64) -> String {
    format!(
        "# Written by `cargo xtask bench timers`: every alert is its own aggregation group (group_by
# alertname and id), flushed at once (group_wait: 0s) and then every {delay_minutes} minutes
# (group_interval) to a receiver with no integrations, so nothing leaves the machine.
route:
  receiver: blackhole
  group_by: ['alertname', 'id']
  group_wait: 0s
  group_interval: {delay_minutes}m
  repeat_interval: 4h
receivers:
  - name: blackhole
"
    )
}

// ---- measuring ----

/// CPU over a quiet window.
#[derive(Clone, Copy, Debug)]
struct Window {
    seconds: f64,
    cpu_seconds: f64,
}

impl Window {
    fn percent(&self) -> f64 {
        100.0 * self.cpu_seconds / self.seconds.max(1e-9)
    }
}

/// Sleeps until `from`, then measures the server's CPU until `until`; `None` when that is
/// shorter than [`WINDOW_MIN`]. Nothing is asked of the server meanwhile.
fn quiet_window(server: &Server, from: Instant, until: Instant) -> anyhow::Result<Option<Window>> {
    let until = until.min(from + WINDOW_MAX);
    if until.saturating_duration_since(from) < WINDOW_MIN {
        eprintln!(
            "bench: {}: no quiet window ({:.1} s available, {} s needed)",
            server.kind.name(),
            until.saturating_duration_since(from).as_secs_f64(),
            WINDOW_MIN.as_secs()
        );
        return Ok(None);
    }
    sleep_until(from);
    let (t0, cpu0) = (Instant::now(), server.cpu_seconds()?);
    sleep_until(until);
    let (t1, cpu1) = (Instant::now(), server.cpu_seconds()?);
    let w = Window {
        seconds: t1.duration_since(t0).as_secs_f64(),
        cpu_seconds: cpu1 - cpu0,
    };
    eprintln!(
        "bench: {}: quiet window of {:.1} s: {:.2} CPU s, {:.2} % of one core",
        server.kind.name(),
        w.seconds,
        w.cpu_seconds,
        w.percent()
    );
    Ok(Some(w))
}

fn sleep_until(t: Instant) {
    if let Some(d) = t.checked_duration_since(Instant::now()) {
        std::thread::sleep(d);
    }
}

/// Alertmanager's figures.
#[derive(Clone, Debug, Default)]
struct AmFigures {
    ingest_seconds: f64,
    /// What it holds after the alerts went in: active alerts and aggregation groups.
    active_alerts: f64,
    groups: f64,
    window: Option<Window>,
}

fn alertmanager(env: &Env, opts: &Options) -> anyhow::Result<AmFigures> {
    eprintln!("bench: ---- alertmanager ----");
    let server = Server::start(env, Kind::Alertmanager, "timers")?;
    // Active for a day: Alertmanager resolves an alert without endsAt after resolve_timeout (5m).
    let ends_at = bench::rfc3339(SystemTime::now() + Duration::from_secs(86_400));
    let t0 = Instant::now();
    bench::post_many(
        server.addr,
        INGEST_CONNECTIONS,
        opts.steps,
        INGEST_TIMEOUT,
        &|i| {
            let body = json!([{
                "labels": {"alertname": "TocsinTimer", "id": format!("timers-{i}"), "severity": "critical"},
                "annotations": {"summary": format!("Bench timer timers-{i}")},
                "startsAt": env.starts_at, "endsAt": ends_at}]);
            ("/api/v2/alerts".to_owned(), body.to_string())
        },
    )?;
    let ingested = Instant::now();
    let ingest_seconds = ingested.duration_since(t0).as_secs_f64();
    let window = quiet_window(
        &server,
        ingested + SETTLE,
        t0 + opts.delay() - WINDOW_MARGIN,
    )?;
    let text = metrics_text(&server)?;
    let f = AmFigures {
        ingest_seconds,
        active_alerts: metric_sum(&text, "alertmanager_alerts", Some("state=\"active\"")),
        groups: metric_sum(&text, "alertmanager_dispatcher_aggregation_groups", None),
        window,
    };
    eprintln!(
        "bench: alertmanager: {} alerts in {ingest_seconds:.1} s; holds {:.0} active alerts in {:.0} aggregation groups",
        num(opts.steps as f64, 0),
        f.active_alerts,
        f.groups
    );
    Ok(f)
}

fn metrics_text(server: &Server) -> anyhow::Result<String> {
    let r = bench::request(server.addr, "GET", "/metrics", &[], b"")?;
    ensure!(r.status == 200, "/metrics answered {}", r.status);
    Ok(String::from_utf8_lossy(&r.body).into_owned())
}

/// What the sampled timelines say.
#[derive(Clone, Debug, Default)]
struct Sampled {
    /// Incidents read.
    incidents: usize,
    /// Trigger → level-1 step, and level-2 lateness (infinite when the step is missing), ms.
    to_level1: Stats,
    lateness: Stats,
}

/// Tocsin's figures.
#[derive(Clone, Debug, Default)]
struct TocsinFigures {
    ingest_seconds: f64,
    /// First trigger → the newest incident's level-1 step (the last one taken).
    level1_seconds: f64,
    /// The last level-1 step was seen before the first level-2 step was due.
    level1_in_time: bool,
    window: Option<Window>,
    /// The level-2 steps the histogram counted (or, without it, whether the newest incident's
    /// came), and how long after the last level-1 step the wait for them ended.
    level2_fired: Option<f64>,
    level2_all: bool,
    sampled: Sampled,
    /// The histogram over the level-2 steps, when the server exports it.
    histogram: Option<Histogram>,
    /// Pages that reached the receiver, and that the server counted as sent.
    pages_received: u64,
    pages_sent: f64,
}

/// The incidents' service and its key.
struct Setup {
    service: String,
    key: String,
}

/// Users A and B with a webhook each and a rule that waits a day; a policy (A, then B after
/// `delay_minutes`); a service with it and an unlimited events_v2 key.
fn set_up(api: &mut Api, rx: &Receiver, delay_minutes: u64) -> anyhow::Result<Setup> {
    let mut user = |name: &str, hook: &str| -> anyhow::Result<String> {
        let id = id_of(&api.post(
            "/api/v1/users",
            &json!({"name": format!("Timer {name}"), "email": format!("timer-{name}@example.com")}),
        )?)?;
        let method = id_of(&api.post(
            &format!("/api/v1/users/{id}/contact-methods"),
            &json!({"type": "webhook", "address": rx.url(hook)}),
        )?)?;
        // No urgency: the rule holds for both, so no page is due for a day.
        api.post(
            &format!("/api/v1/users/{id}/notification-rules"),
            &json!({"contact_method_id": method, "delay_minutes": RULE_DELAY_MINUTES}),
        )?;
        Ok(id)
    };
    let (a, b) = (user("a", "/a")?, user("b", "/b")?);
    let policy = id_of(&api.post(
        "/api/v1/escalation-policies",
        &json!({"name": "timers", "levels": [
            {"delay_minutes": delay_minutes, "targets": [{"type": "user", "id": a}]},
            {"delay_minutes": 1, "targets": [{"type": "user", "id": b}]}]}),
    )?)?;
    let service = id_of(&api.post(
        "/api/v1/services",
        &json!({"name": "timers", "escalation_policy_id": policy}),
    )?)?;
    let integration = api.post(
        &format!("/api/v1/services/{service}/integrations"),
        &json!({"type": "events_v2", "rate_limit_per_second": 0}),
    )?;
    let key = integration["key"]
        .as_str()
        .context("integration without key")?
        .to_owned();
    Ok(Setup { service, key })
}

/// The levels of the `escalated` entries of an incident's timeline, with their times (ms
/// since the epoch), and when it was triggered.
#[derive(Clone, Debug, Default, PartialEq)]
struct Steps {
    triggered: Option<f64>,
    level1: Option<f64>,
    level2: Option<f64>,
}

fn steps_of(timeline: &Value) -> Steps {
    let mut s = Steps::default();
    for e in timeline["entries"].as_array().into_iter().flatten() {
        let Some(at) = e["at"].as_str().and_then(unix_ms) else {
            continue;
        };
        let message = e["message"].as_str().unwrap_or("");
        match e["kind"].as_str() {
            Some("triggered") => {
                s.triggered.get_or_insert(at);
            }
            Some("escalated") => match level_of(message) {
                Some(1) => {
                    s.level1.get_or_insert(at);
                }
                Some(2) => {
                    s.level2.get_or_insert(at);
                }
                _ => {}
            },
            _ => {}
        }
    }
    s
}

/// The level of an `escalated` entry: "Escalated to level 2: notifying …" → 2.
fn level_of(message: &str) -> Option<u32> {
    let rest = message.strip_prefix("Escalated to level ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn timeline(api: &mut Api, incident: &str) -> anyhow::Result<Steps> {
    Ok(steps_of(
        &api.get(&format!("/api/v1/incidents/{incident}/timeline"))?,
    ))
}

/// Every incident id of the service, newest first (bounded by the pages it takes).
fn incident_ids(api: &mut Api, service: &str, expected: usize) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::with_capacity(expected);
    let mut cursor = String::new();
    for _ in 0..expected / 100 + 10 {
        let page = api.get(&format!(
            "/api/v1/incidents?service_id={service}&limit=100{cursor}"
        ))?;
        for i in page["incidents"].as_array().into_iter().flatten() {
            if let Some(id) = i["id"].as_str() {
                ids.push(id.to_owned());
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    Ok(ids)
}

/// Progress as the server shows it: the histogram's count when it exports one, else whether
/// the newest incident has the level's step.
fn steps_seen(
    server: &Server,
    api: &mut Api,
    newest: &str,
    level: u32,
) -> anyhow::Result<(Option<f64>, bool)> {
    if let Some(h) = Histogram::parse(&metrics_text(server)?, LATENESS_METRIC) {
        return Ok((Some(h.count), false));
    }
    let s = timeline(api, newest)?;
    Ok((
        None,
        match level {
            1 => s.level1.is_some(),
            _ => s.level2.is_some(),
        },
    ))
}

fn tocsin(env: &Env, rx: &Receiver, opts: &Options) -> anyhow::Result<TocsinFigures> {
    eprintln!("bench: ---- tocsin ----");
    let n = opts.steps;
    let server = Server::start(env, Kind::Tocsin, "timers")?;
    let token = bench::admin_token(env, &bench::tocsin_data(env, "timers"))?;
    let mut api = Api::new(server.addr, &token)?;
    let setup = set_up(&mut api, rx, opts.delay_minutes)?;

    // The triggers.
    let t0 = Instant::now();
    let t0_ms = bench::now_unix_ms();
    bench::post_many(server.addr, INGEST_CONNECTIONS, n, INGEST_TIMEOUT, &|i| {
        let body = json!({"routing_key": setup.key, "event_action": "trigger",
            "dedup_key": format!("timers-{i}"),
            "payload": {"summary": format!("Bench timer timers-{i}"), "source": "bench",
                        "severity": "critical", "component": "bench"}});
        ("/v2/enqueue".to_owned(), body.to_string())
    })?;
    let ingest_seconds = t0.elapsed().as_secs_f64();
    eprintln!(
        "bench: tocsin: {} triggers answered in {ingest_seconds:.1} s ({:.0}/s)",
        num(n as f64, 0),
        n as f64 / ingest_seconds.max(1e-9)
    );
    let newest = api.get(&format!(
        "/api/v1/incidents?service_id={}&limit=1",
        setup.service
    ))?["incidents"][0]["id"]
        .as_str()
        .context("no incident after the triggers")?
        .to_owned();

    // Level 1: every step taken.
    let level2_first_due = t0 + opts.delay();
    let deadline = Instant::now() + opts.delay() + LEVEL1_EXTRA;
    let after_level1 = loop {
        let (count, newest_done) = steps_seen(&server, &mut api, &newest, 1)?;
        if count.is_some_and(|c| c >= n as f64) || newest_done {
            break Instant::now();
        }
        if Instant::now() > deadline {
            eprintln!(
                "bench: tocsin: the level-1 steps were not all taken {} s after the triggers",
                (opts.delay() + LEVEL1_EXTRA).as_secs()
            );
            break Instant::now();
        }
        std::thread::sleep(POLL);
    };
    let level1_in_time = after_level1 < level2_first_due;
    let hist_level1 = Histogram::parse(&metrics_text(&server)?, LATENESS_METRIC);
    eprintln!(
        "bench: tocsin: level-1 steps taken by {:.1} s after the first trigger",
        after_level1.duration_since(t0).as_secs_f64()
    );

    // The quiet window, before the first level-2 step is due.
    let window = quiet_window(
        &server,
        after_level1 + SETTLE,
        level2_first_due - WINDOW_MARGIN,
    )?;

    // Level 2: wait for every step (bounded), looking no more than every POLL.
    let deadline = after_level1.max(level2_first_due) + opts.delay() + LATE_MAX;
    let (level2_fired, level2_all) = loop {
        sleep_until(level2_first_due);
        let (count, newest_done) = steps_seen(&server, &mut api, &newest, 2)?;
        let base = hist_level1.as_ref().map_or(0.0, |h| h.count);
        let fired = count.map(|c| c - base);
        if fired.is_some_and(|f| f >= n as f64) || newest_done {
            break (fired, true);
        }
        if Instant::now() > deadline {
            eprintln!(
                "bench: tocsin: not every level-2 step had fired {} s after the last was due",
                LATE_MAX.as_secs()
            );
            break (fired, false);
        }
        std::thread::sleep(POLL);
    };
    eprintln!(
        "bench: tocsin: level-2 steps done {:.1} s after the first trigger",
        t0.elapsed().as_secs_f64()
    );
    // Let a step taken in the last pass be recorded before reading.
    std::thread::sleep(Duration::from_secs(2));
    let text = metrics_text(&server)?;
    let histogram = match (Histogram::parse(&text, LATENESS_METRIC), &hist_level1) {
        (Some(h), Some(h1)) => Some(h.since(h1)),
        (Some(h), None) => Some(h),
        _ => None,
    };

    // The timelines.
    let newest_steps = timeline(&mut api, &newest)?;
    let ids = incident_ids(&mut api, &setup.service, n)?;
    ensure!(
        ids.len() == n,
        "the service has {} incidents, {n} were triggered",
        ids.len()
    );
    let picked = bench::sample(ids, SAMPLE);
    let delay_ms = opts.delay().as_secs_f64() * 1000.0;
    let (mut to_level1, mut lateness) = (Vec::new(), Vec::new());
    for id in &picked {
        let s = timeline(&mut api, id)?;
        if let (Some(t), Some(l1)) = (s.triggered, s.level1) {
            to_level1.push(l1 - t);
        }
        lateness.push(match (s.level1, s.level2) {
            (Some(l1), Some(l2)) => l2 - (l1 + delay_ms),
            _ => f64::INFINITY,
        });
    }
    let f = TocsinFigures {
        ingest_seconds,
        level1_seconds: newest_steps
            .level1
            .map_or(f64::NAN, |l1| (l1 - t0_ms) / 1000.0),
        level1_in_time,
        window,
        level2_fired,
        level2_all,
        sampled: Sampled {
            incidents: picked.len(),
            to_level1: stats(to_level1),
            lateness: stats(lateness),
        },
        histogram,
        pages_received: rx.counted(),
        pages_sent: metric_sum(&text, "tocsin_notifications_sent_total", None),
    };
    eprintln!(
        "bench: tocsin: level-2 lateness over {} sampled incidents: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        f.sampled.incidents, f.sampled.lateness.p50, f.sampled.lateness.p99, f.sampled.lateness.max
    );
    Ok(f)
}

// ---- the report ----

fn report(env: &Env, opts: &Options, t: &TocsinFigures, am: &AmFigures, rx: &Receiver) -> String {
    let n = opts.steps as f64;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n{} pending escalation steps, Tocsin vs Prometheus Alertmanager ({} active alerts, each its own group) — level 2 due {} min after level 1, on the same {}-core machine",
        num(n, 0),
        num(n, 0),
        opts.delay_minutes,
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
        "{:<58} {:>14} {:>14}  {:<22}",
        "figure", "Tocsin", "Alertmanager", "target (Tocsin)"
    );
    let _ = writeln!(s, "{}", "-".repeat(112));
    let mut row = |name: &str, tv: String, av: String, target: String| {
        let _ = writeln!(s, "{name:<58} {tv:>14} {av:>14}  {target:<22}");
    };
    let met = |ok: bool| if ok { "met" } else { "MISSED" };
    let dash = || "-".to_owned();
    let cell = |v: f64, digits: usize| {
        if v.is_infinite() {
            "lost".to_owned()
        } else {
            num(v, digits)
        }
    };
    row(
        &format!(
            "ingest: {} triggers, one per request, {INGEST_CONNECTIONS} conns, /s",
            num(n, 0)
        ),
        num(n / t.ingest_seconds.max(1e-9), 0),
        num(n / am.ingest_seconds.max(1e-9), 0),
        String::new(),
    );
    row(
        "level-1 steps/s (first trigger → last level-1 step)",
        num(n / t.level1_seconds, 0),
        dash(),
        String::new(),
    );
    row(
        "level 1: trigger → step p50 / p99 ms (sample)",
        format!(
            "{} / {}",
            cell(t.sampled.to_level1.p50, 0),
            cell(t.sampled.to_level1.p99, 0)
        ),
        dash(),
        String::new(),
    );
    row(
        "held: pending steps (T) / aggregation groups (AM)",
        num(n, 0),
        num(am.groups, 0),
        String::new(),
    );
    let window_cell = |w: &Option<Window>| w.map_or("none".to_owned(), |w| num(w.seconds, 1));
    row(
        "quiet window, s",
        window_cell(&t.window),
        window_cell(&am.window),
        String::new(),
    );
    let cpu_cell = |w: &Option<Window>| w.map_or("-".to_owned(), |w| num(w.percent(), 2));
    row(
        "idle CPU in the window, % of one core",
        cpu_cell(&t.window),
        cpu_cell(&am.window),
        match t.window {
            Some(w) => format!(
                "<{IDLE_CPU_TARGET_PERCENT}%: {}",
                met(w.percent() < IDLE_CPU_TARGET_PERCENT)
            ),
            None => "<1%: not measured".into(),
        },
    );
    row(
        "level-2 steps fired (histogram count)",
        t.level2_fired.map_or_else(
            || {
                if t.level2_all {
                    "newest: yes".into()
                } else {
                    "newest: no".into()
                }
            },
            |f| num(f, 0),
        ),
        dash(),
        format!("{}: {}", num(n, 0), met(t.level2_all)),
    );
    let l = &t.sampled.lateness;
    row(
        &format!(
            "level-2 lateness p50 ms (timelines of {})",
            num(t.sampled.incidents as f64, 0)
        ),
        cell(l.p50, 0),
        dash(),
        String::new(),
    );
    row(
        "level-2 lateness p99 ms",
        cell(l.p99, 0),
        dash(),
        format!(
            "≤{} ms: {}",
            num(LATENESS_P99_TARGET_MS, 0),
            met(l.p99 <= LATENESS_P99_TARGET_MS)
        ),
    );
    row(
        "level-2 lateness max ms",
        cell(l.max, 0),
        dash(),
        String::new(),
    );
    row(
        "level-2 lateness mean ms",
        cell(l.mean, 0),
        dash(),
        String::new(),
    );
    match &t.histogram {
        Some(h) => {
            let last = h
                .buckets
                .iter()
                .rev()
                .find(|(b, _)| b.is_finite())
                .map_or(0.0, |(b, _)| *b);
            row(
                &format!("{LATENESS_METRIC}, level 2: p50"),
                bound_text(h.quantile_bound(0.5), last),
                dash(),
                String::new(),
            );
            let p99 = h.quantile_bound(0.99);
            row(
                "  the same: p99",
                bound_text(p99, last),
                dash(),
                format!("≤1 s: {}", met(p99 <= 1.0)),
            );
            row(
                "  the same: max",
                bound_text(h.quantile_bound(1.0), last),
                dash(),
                String::new(),
            );
            row(
                "  the same: mean ms, steps counted",
                format!(
                    "{} ({})",
                    num(1000.0 * h.sum / h.count.max(1.0), 0),
                    num(h.count, 0)
                ),
                dash(),
                String::new(),
            );
        }
        None => row(
            LATENESS_METRIC,
            "not exported".into(),
            dash(),
            String::new(),
        ),
    }
    row(
        "pages received during the run (rules wait 24 h)",
        num(t.pages_received as f64, 0),
        dash(),
        format!("0: {}", met(t.pages_received == 0)),
    );
    let _ = writeln!(
        s,
        "\nLateness = firing time − due time of each incident's level-2 step. From the timelines: the `escalated` entry of level 2 − (that of level 1 + {} min), ms resolution; \"lost\" when a sampled incident had no level-2 step when the run ended. The histogram gives bucket bounds only. Idle CPU: user + system time of the process over the window, which starts {} s after the last level-1 step (Alertmanager: after its last alert went in) and ends {} s before the first level-2 step (group flush) is due, at most {} s.",
        opts.delay_minutes,
        SETTLE.as_secs(),
        WINDOW_MARGIN.as_secs(),
        WINDOW_MAX.as_secs()
    );
    if !t.level1_in_time {
        let _ = writeln!(
            s,
            "WARNING Tocsin: the level-1 steps were not all taken before the first level-2 step was due, so there was no quiet window and the level-2 steps competed with them"
        );
    }
    if (am.active_alerts - n).abs() > 0.5 {
        let _ = writeln!(
            s,
            "WARNING Alertmanager: {} alerts sent, {:.0} active",
            num(n, 0),
            am.active_alerts
        );
    }
    if t.pages_sent > 0.0 {
        let _ = writeln!(
            s,
            "WARNING Tocsin counted {:.0} notifications sent",
            t.pages_sent
        );
    }
    let (unmatched, errors) = (
        rx.shared
            .unmatched
            .load(std::sync::atomic::Ordering::Relaxed),
        rx.shared.errors.load(std::sync::atomic::Ordering::Relaxed),
    );
    if unmatched > 0 || errors > 0 {
        let _ = writeln!(
            s,
            "WARNING receiver: {unmatched} unmatched requests, {errors} connections ended in an error"
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_parse_subtract_and_give_bucket_bounds() {
        let before = "# TYPE x histogram\nx_bucket{le=\"0.25\"} 10\nx_bucket{le=\"1\"} 10\nx_bucket{le=\"+Inf\"} 10\nx_sum 1\nx_count 10\n";
        let after = "x_bucket{level=\"2\",le=\"0.25\"} 60\nx_bucket{level=\"2\",le=\"1\"} 108\nx_bucket{level=\"2\",le=\"+Inf\"} 110\nx_sum 31\nx_count 110\n";
        let h = Histogram::parse(after, "x")
            .unwrap()
            .since(&Histogram::parse(before, "x").unwrap());
        assert_eq!((h.count, h.sum), (100.0, 30.0));
        assert_eq!(h.quantile_bound(0.5), 0.25);
        assert_eq!(h.quantile_bound(0.98), 1.0);
        assert!(h.quantile_bound(0.99).is_infinite());
        assert_eq!(bound_text(h.quantile_bound(0.99), 1.0), ">1 s");
        assert!(Histogram::parse("y_count 3\n", "x").is_none());
    }

    #[test]
    fn timeline_steps_by_level() {
        let tl = json!({"entries": [
            {"at": "2026-11-25T20:58:35.059Z", "kind": "triggered", "message": "Triggered by Events API v2"},
            {"at": "2026-11-25T20:58:35.06Z", "kind": "escalated", "message": "Escalated to level 1: notifying A (webhook in 1440 min)"},
            {"at": "2026-11-25T21:00:35.5Z", "kind": "escalated", "message": "Escalated to level 2: notifying B (webhook in 1440 min)"}]});
        let s = steps_of(&tl);
        assert_eq!(s.level2.unwrap() - s.level1.unwrap(), 120_440.0);
        assert_eq!(s.level1.unwrap() - s.triggered.unwrap(), 1.0);
        assert_eq!(level_of("Escalated to level 12, repeat 1"), Some(12));
        assert_eq!(level_of("Escalation policy exhausted"), None);
    }
}
