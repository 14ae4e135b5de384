//! `cargo xtask bench page-latency [--incidents N] [--no-storm | --storm-only]` (`cargo xtask bench
//! storm` is `--storm-only`): the time from a trigger to the
//! first page arriving at a webhook receiver, for Tocsin and for Prometheus Alertmanager
//! (Debian's `prometheus-alertmanager`, `group_wait: 0s`), everything on 127.0.0.1.
//!
//! The receiver is this process: a small HTTP/1.1 server (std's `TcpListener`, a thread per
//! connection) that answers 200 at once and records when each page arrived. Pages are matched to
//! triggers by a unique id: Tocsin's page carries it in `incident.title` (the trigger's summary),
//! Alertmanager's in the alert's `id` label.
//!
//! - **latency**: N incidents (default 1,000, after 10 not counted), one at a time: trigger, wait
//!   for its page, next trigger. Tocsin: `POST /v2/enqueue` (critical) on a service whose policy's
//!   level 1 pages one user on a webhook; the answer comes after the durable commit, and the page
//!   after the escalation step and the dispatcher's claim are committed too. Alertmanager: `POST
//!   /api/v2/alerts` with one alert, its own group (`group_by: ['alertname', 'id']`), flushed at
//!   once to a webhook receiver.
//! - **storm**: 40,000 distinct low-urgency alerts (severity `info`) in 10 s through wrk (storm.lua,
//!   ingest.lua's paced load with other bodies) on a second service (Alertmanager: a second route
//!   and receiver), while critical triggers go to the first every 60 ms without waiting for their
//!   pages; afterwards each page is awaited for up to 60 s.
//!
//! Tocsin sends to one webhook address at most 20 times a second (burst 50: the dispatcher's
//! per-destination budget), so the triggers are paced to one every 60 ms, for both servers. Every
//! server is a fresh process with fresh storage; every wait is bounded; every process started
//! here is stopped by its own handle; the temporary folder is removed. docs/benchmarks.md
//! explains the figures and records a run.

use crate::bench::{
    self, Env, Http, Kind, Load, Receiver, Server, Shape, Stats, TempDir, WrkResult, admin_token,
    ms, num, stats, unix_ms,
};
use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Incidents measured by default (the issue's figure).
const INCIDENTS_DEFAULT: usize = 1_000;
/// Incidents sent first and not counted: the first page opens the server's connection to the
/// receiver, and the first requests warm caches and prepared statements.
const WARM_UP: usize = 10;
/// Start-to-start gap between triggers: 16.7 a second, under Tocsin's budget of 20 sends a
/// second to one webhook address (`tocsin_engine::dispatcher::destination_limit`).
const GAP: Duration = Duration::from_millis(60);
/// How long one page is awaited in the latency phase.
const PAGE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on the whole latency phase, and pages lost in a row before giving up.
const PHASE_TIMEOUT: Duration = Duration::from_secs(900);
const LOST_IN_A_ROW_MAX: usize = 5;
/// The storm: distinct low-urgency alerts offered in `STORM_SECONDS`, over this many wrk
/// connections (paced, so the rate holds whatever the latency).
const STORM_ALERTS: f64 = 40_000.0;
const STORM_SECONDS: u64 = 10;
const STORM_CONNECTIONS: u32 = 64;
/// Critical triggers during the storm: one every `GAP`, from `STORM_LEAD` after wrk starts until
/// one second before it stops; each page is then awaited until `DRAIN_TIMEOUT` after the storm.
const STORM_LEAD: Duration = Duration::from_millis(500);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);
/// The prefix of a page's title (Tocsin) or summary (Alertmanager) before its id.
const TITLE_PREFIX: &str = "Bench page ";

/// wrk script of the storm, written into the work folder beside copies of ingest.lua and
/// paced.lua: paced.lua's load and accounting, with low-urgency bodies that carry a unique id.
const STORM_LUA: &str = r#"-- storm.lua, written by `cargo xtask bench page-latency`: paced.lua's load (same
-- arguments), each request one new low-urgency alert (severity "info") with a unique id.
dofile("paced.lua")

local storm_headers = { ["Content-Type"] = "application/json" }

function request()
   n = n + 1
   local id = prefix .. "-" .. tid .. "-" .. n
   local storm_path, body
   if target == "tocsin" then
      storm_path = "/v2/enqueue"
      body = '{"routing_key":"' .. key .. '","event_action":"trigger","dedup_key":"' .. id ..
         '","payload":{"summary":"Storm alert ' .. id .. '","source":"storm-' .. tid ..
         '","severity":"info","component":"bench"}}'
   else
      storm_path = "/api/v2/alerts"
      body = '[{"labels":{"alertname":"TocsinStorm","id":"' .. id .. '","severity":"info"},' ..
         '"annotations":{"summary":"Storm alert ' .. id .. '"},"startsAt":"' .. starts_at .. '"}]'
   end
   return wrk.format("POST", storm_path, storm_headers, body)
end
"#;

pub fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let opts = Options::parse(args)?;
    bench::ensure_tools()?;
    let tocsin_bin = bench::release_binary(root)?;
    let work = TempDir::new()?;
    let scripts = work.path.join("scripts");
    std::fs::create_dir_all(&scripts)?;
    for f in ["ingest.lua", "paced.lua"] {
        std::fs::copy(root.join("xtask/bench").join(f), scripts.join(f))
            .with_context(|| format!("copying xtask/bench/{f}"))?;
    }
    std::fs::write(scripts.join("storm.lua"), STORM_LUA)?;
    let rx = Receiver::start(page_or_storm)?;
    std::fs::write(
        scripts.join("alertmanager.yml"),
        alertmanager_config(rx.addr),
    )?;
    let env = Env {
        tocsin_bin,
        scripts,
        work,
        starts_at: bench::rfc3339(SystemTime::now()),
        duration: STORM_SECONDS,
    };
    eprintln!(
        "bench: {} core(s); receiver on {}; {} incidents one at a time, every {} ms; work folder {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        rx.addr,
        opts.incidents,
        GAP.as_millis(),
        env.work.path.display()
    );
    let am = measure(&env, &rx, Kind::Alertmanager, &opts)?;
    let tocsin = measure(&env, &rx, Kind::Tocsin, &opts)?;
    print!("{}", report(&env, &opts, &tocsin, &am, &rx));
    Ok(())
}

struct Options {
    incidents: usize,
    latency: bool,
    storm: bool,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Self> {
        const USAGE: &str =
            "usage: bench page-latency [--incidents N] [--no-storm | --storm-only], or bench storm";
        let mut o = Options {
            incidents: INCIDENTS_DEFAULT,
            latency: true,
            storm: true,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--incidents" => {
                    o.incidents = it
                        .next()
                        .context("--incidents needs a number")?
                        .parse()
                        .context("--incidents must be a whole number")?;
                }
                "--no-storm" => o.storm = false,
                "--storm-only" => o.latency = false,
                other => bail!("unknown option {other:?}; {USAGE}"),
            }
        }
        ensure!(
            (10..=10_000).contains(&o.incidents),
            "--incidents must be between 10 and 10,000"
        );
        ensure!(
            o.latency || o.storm,
            "--no-storm and --storm-only leave nothing to run"
        );
        Ok(o)
    }
}

fn alertmanager_config(receiver: SocketAddr) -> String {
    format!(
        "# Written by `cargo xtask bench page-latency`: every alert is its own group (group_by
# alertname and id), flushed at once (group_wait: 0s) to a webhook on 127.0.0.1; the storm's
# low-urgency alerts (severity=\"info\") go to a second receiver.
route:
  receiver: page
  group_by: ['alertname', 'id']
  group_wait: 0s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - receiver: storm
      matchers: ['severity=\"info\"']
receivers:
  - name: page
    webhook_configs:
      - url: 'http://{receiver}/hook'
        send_resolved: false
  - name: storm
    webhook_configs:
      - url: 'http://{receiver}/storm'
        send_resolved: false
"
    )
}

// ---- the receiver's filing ----

/// Pages on `/storm` are only counted; the others are filed under the ids they name.
fn page_or_storm(path: &str, body: &[u8]) -> Option<Vec<String>> {
    if path.starts_with("/storm") {
        None
    } else {
        Some(page_ids(body))
    }
}

/// The ids a page names: Tocsin's `incident.title` after [`TITLE_PREFIX`]; Alertmanager's
/// alerts' `id` labels.
fn page_ids(body: &[u8]) -> Vec<String> {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    if let Some(title) = v["incident"]["title"].as_str() {
        return title
            .strip_prefix(TITLE_PREFIX)
            .map(|id| vec![id.to_owned()])
            .unwrap_or_default();
    }
    v["alerts"]
        .as_array()
        .map(|alerts| {
            alerts
                .iter()
                .filter_map(|a| a["labels"]["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

// ---- the servers, set up ----

/// A server to trigger: for Tocsin, an admin token, the paging service and the keys of the
/// paging and storm services (Alertmanager needs none).
struct Target<'a> {
    server: &'a Server,
    token: String,
    page_service: String,
    page_key: String,
    storm_key: String,
}

impl<'a> Target<'a> {
    fn new(env: &Env, server: &'a Server, session: &str, rx: &Receiver) -> anyhow::Result<Self> {
        let mut t = Target {
            server,
            token: String::new(),
            page_service: String::new(),
            page_key: String::new(),
            storm_key: String::new(),
        };
        if server.kind == Kind::Tocsin {
            let data = env
                .work
                .path
                .join(format!("{}-{session}-data", Kind::Tocsin.name()));
            t.token = admin_token(env, &data)?;
            (t.page_service, t.page_key) =
                paging_service(server.addr, &t.token, "page", &rx.url("/hook"))?;
            (_, t.storm_key) = paging_service(server.addr, &t.token, "storm", &rx.url("/storm"))?;
        }
        Ok(t)
    }

    /// The request of one critical trigger named `id`.
    fn trigger(&self, id: &str) -> (&'static str, String) {
        let summary = format!("{TITLE_PREFIX}{id}");
        match self.server.kind {
            Kind::Tocsin => (
                "/v2/enqueue",
                json!({"routing_key": self.page_key, "event_action": "trigger", "dedup_key": id,
                       "payload": {"summary": summary, "source": "bench", "severity": "critical",
                                   "component": "bench"}})
                .to_string(),
            ),
            Kind::Alertmanager => (
                "/api/v2/alerts",
                json!([{"labels": {"alertname": "TocsinPage", "id": id, "severity": "critical"},
                        "annotations": {"summary": summary}}])
                .to_string(),
            ),
        }
    }
}

/// A user paged on a webhook at `hook`, a policy whose level 1 pages them, a service with that
/// policy, and its unlimited events_v2 key: returns (service id, key).
fn paging_service(
    addr: SocketAddr,
    token: &str,
    name: &str,
    hook: &str,
) -> anyhow::Result<(String, String)> {
    let bearer = format!("Bearer {token}");
    let post = |path: &str, body: Value| -> anyhow::Result<Value> {
        let r = bench::request(
            addr,
            "POST",
            path,
            &[
                ("Authorization", &bearer),
                ("Content-Type", "application/json"),
            ],
            body.to_string().as_bytes(),
        )?;
        ensure!(
            r.status == 201 || r.status == 200,
            "POST {path} answered {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        Ok(serde_json::from_slice(&r.body)?)
    };
    let id = |v: &Value| -> anyhow::Result<String> {
        Ok(v["id"].as_str().context("no id in the answer")?.to_owned())
    };
    let user = id(&post(
        "/api/v1/users",
        json!({"name": name, "email": format!("{name}@example.com")}),
    )?)?;
    post(
        &format!("/api/v1/users/{user}/contact-methods"),
        json!({"type": "webhook", "address": hook}),
    )?;
    let policy = id(&post(
        "/api/v1/escalation-policies",
        json!({"name": name, "levels": [{"delay_minutes": 5,
               "targets": [{"type": "user", "id": user}]}]}),
    )?)?;
    let service = id(&post(
        "/api/v1/services",
        json!({"name": name, "escalation_policy_id": policy}),
    )?)?;
    let integration = post(
        &format!("/api/v1/services/{service}/integrations"),
        json!({"type": "events_v2", "rate_limit_per_second": 0}),
    )?;
    let key = integration["key"]
        .as_str()
        .context("integration without key")?
        .to_owned();
    Ok((service, key))
}

// ---- measuring ----

/// One trigger: when it was sent and answered, and when its first page arrived.
#[derive(Clone, Copy, Debug)]
struct Sample {
    sent: Instant,
    answered: Instant,
    arrived: Option<Instant>,
}

impl Sample {
    fn page_ms(&self) -> f64 {
        self.arrived
            .map_or(f64::INFINITY, |a| ms(a.duration_since(self.sent)))
    }
    fn answer_ms(&self) -> f64 {
        ms(self.answered.duration_since(self.sent))
    }
}

/// The latency phase: triggers one at a time, each awaited until its page arrives.
fn sequential(
    target: &Target,
    rx: &Receiver,
    prefix: &str,
    n: usize,
) -> anyhow::Result<Vec<Sample>> {
    let mut conn = Http::connect(target.server.addr)?;
    let start = Instant::now();
    let deadline = start + PHASE_TIMEOUT;
    let mut out = Vec::with_capacity(n);
    let mut lost_in_a_row = 0;
    for i in 0..WARM_UP + n {
        if let Some(wait) = (start + GAP * i as u32).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        ensure!(
            Instant::now() < deadline,
            "the latency phase took longer than {PHASE_TIMEOUT:?}"
        );
        let id = format!("{prefix}-{i}");
        let (path, body) = target.trigger(&id);
        let sent = Instant::now();
        let r = conn.send(
            "POST",
            path,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )?;
        let answered = Instant::now();
        ensure!(
            (200..300).contains(&r.status),
            "{path} answered {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        let arrived = rx.wait_for(&id, answered + PAGE_TIMEOUT);
        if arrived.is_none() {
            lost_in_a_row += 1;
            eprintln!("bench: no page for {id} within {PAGE_TIMEOUT:?}");
            ensure!(
                lost_in_a_row < LOST_IN_A_ROW_MAX,
                "{LOST_IN_A_ROW_MAX} pages in a row did not arrive within {PAGE_TIMEOUT:?}"
            );
        } else {
            lost_in_a_row = 0;
        }
        if i >= WARM_UP {
            out.push(Sample {
                sent,
                answered,
                arrived,
            });
        }
        if i >= WARM_UP && out.len() % 250 == 0 {
            let s = stats(out.iter().map(Sample::page_ms).collect());
            eprintln!(
                "bench: {} {}/{n}: trigger → page p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                target.server.kind.name(),
                out.len(),
                s.p50,
                s.p99,
                s.max
            );
        }
    }
    Ok(out)
}

/// The storm phase's results.
#[derive(Clone, Debug, Default)]
struct Storm {
    wrk: WrkResult,
    /// Critical triggers sent during the storm, and their pages (awaited after it).
    critical: Vec<Sample>,
    /// Critical triggers not answered 2xx.
    refused: u64,
    /// Low-urgency pages the receiver got while wrk ran, and by the end of the wait after it.
    storm_pages_during: u64,
    storm_pages_after: u64,
    /// Seconds from wrk's end until the last critical page arrived (or the wait ended).
    drain_seconds: f64,
    server_cores: f64,
}

/// A critical trigger of the storm phase: its id, when it was sent and when it was answered.
type Sent = (String, Instant, Instant);

fn storm(env: &Env, rx: &Receiver, target: &Target, prefix: &str) -> anyhow::Result<Storm> {
    let pages_before = rx.counted();
    let cpu0 = target.server.cpu_seconds()?;
    let wrk_done = AtomicBool::new(false);
    let (wrk, sent, refused) = std::thread::scope(|s| -> anyhow::Result<_> {
        let wrk = s.spawn(|| {
            let r = bench::run_wrk_script(
                env,
                target.server,
                &Load {
                    shape: Shape::Single,
                    connections: STORM_CONNECTIONS,
                    seconds: STORM_SECONDS,
                    rate: Some(STORM_ALERTS / STORM_SECONDS as f64),
                    key: Some(&target.storm_key),
                    prefix: "storm",
                },
                "storm.lua",
            );
            wrk_done.store(true, Ordering::Relaxed);
            r
        });
        let critical = || -> anyhow::Result<(Vec<Sent>, u64)> {
            std::thread::sleep(STORM_LEAD);
            let mut conn = Http::connect(target.server.addr)?;
            let start = Instant::now();
            let until = start + Duration::from_secs(STORM_SECONDS - 1) - STORM_LEAD;
            let (mut sent, mut refused) = (Vec::new(), 0);
            for i in 0.. {
                let due = start + GAP * i;
                if due >= until || wrk_done.load(Ordering::Relaxed) {
                    break;
                }
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let id = format!("{prefix}-{i}");
                let (path, body) = target.trigger(&id);
                let t0 = Instant::now();
                let r = conn.send(
                    "POST",
                    path,
                    &[("Content-Type", "application/json")],
                    body.as_bytes(),
                )?;
                if (200..300).contains(&r.status) {
                    sent.push((id, t0, Instant::now()));
                } else {
                    refused += 1;
                }
            }
            Ok((sent, refused))
        };
        let result = critical();
        let wrk = wrk
            .join()
            .map_err(|_| anyhow::anyhow!("the wrk thread panicked"))??;
        let (sent, refused) = result?;
        Ok((wrk, sent, refused))
    })?;
    let storm_end = Instant::now();
    let cpu1 = target.server.cpu_seconds()?;
    let storm_pages_during = rx.counted() - pages_before;
    let deadline = storm_end + DRAIN_TIMEOUT;
    let critical: Vec<Sample> = sent
        .iter()
        .map(|(id, sent, answered)| Sample {
            sent: *sent,
            answered: *answered,
            arrived: rx.wait_for(id, deadline),
        })
        .collect();
    let last = critical
        .iter()
        .map(|s| s.arrived.unwrap_or(deadline))
        .max()
        .unwrap_or(storm_end);
    let s = Storm {
        server_cores: (cpu1 - cpu0) / wrk.seconds.max(1e-9),
        wrk,
        critical,
        refused,
        storm_pages_during,
        storm_pages_after: rx.counted() - pages_before,
        drain_seconds: last.saturating_duration_since(storm_end).as_secs_f64(),
    };
    let st = stats(s.critical.iter().map(Sample::page_ms).collect());
    eprintln!(
        "bench: {} storm: {:.0} low-urgency alerts/s accepted ({}); {} critical triggers, {} paged: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} low-urgency pages during the storm",
        target.server.kind.name(),
        s.wrk.ok_per_second(),
        s.wrk.statuses_text(),
        st.count,
        st.finite,
        st.p50,
        st.p99,
        st.max,
        s.storm_pages_during
    );
    Ok(s)
}

/// Where Tocsin's time went, from its own timeline of each measured incident (server
/// timestamps, millisecond resolution): `triggered` → `escalated` (the escalator's pass began:
/// its wake-up and any backlog), `escalated` → `notified` over the incidents that got that far
/// (the step's claim and commit, the dispatcher's wake-up, claim and send).
#[derive(Clone, Copy, Debug, Default)]
struct Breakdown {
    to_escalated: Stats,
    to_notified: Stats,
}

/// Reads the timelines of the paging service's incidents named `{prefix}-{n}` with n ≥ `from`.
fn breakdown(target: &Target, prefix: &str, from: usize) -> anyhow::Result<Breakdown> {
    let bearer = format!("Bearer {}", target.token);
    let mut conn = Http::connect(target.server.addr)?;
    let mut get = |path: &str| -> anyhow::Result<Value> {
        let r = conn.send("GET", path, &[("Authorization", &bearer)], b"")?;
        ensure!(
            r.status == 200,
            "GET {path} answered {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        Ok(serde_json::from_slice(&r.body)?)
    };
    let named = format!("{TITLE_PREFIX}{prefix}-");
    let mut incidents = Vec::new();
    let mut cursor = String::new();
    // Bounded: at most 1,000 pages of 100 incidents.
    for _ in 0..1_000 {
        let page = get(&format!(
            "/api/v1/incidents?service_id={}&limit=100{cursor}",
            target.page_service
        ))?;
        for i in page["incidents"].as_array().into_iter().flatten() {
            let n = i["title"]
                .as_str()
                .and_then(|t| t.strip_prefix(&named))
                .and_then(|n| n.parse::<usize>().ok());
            if let (Some(n), Some(id)) = (n, i["id"].as_str())
                && n >= from
            {
                incidents.push(id.to_owned());
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    let (mut to_escalated, mut to_notified) = (Vec::new(), Vec::new());
    for id in incidents {
        let tl = get(&format!("/api/v1/incidents/{id}/timeline"))?;
        let first = |kind: &str| {
            tl["entries"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["kind"] == kind)
                .and_then(|e| unix_ms(e["at"].as_str()?))
        };
        let (t, e, n) = (first("triggered"), first("escalated"), first("notified"));
        let gap = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => b - a,
            _ => f64::INFINITY,
        };
        to_escalated.push(gap(t, e));
        // The dispatcher's share, over the incidents the escalator got to.
        if e.is_some() {
            to_notified.push(gap(e, n));
        }
    }
    Ok(Breakdown {
        to_escalated: stats(to_escalated),
        to_notified: stats(to_notified),
    })
}

/// Everything measured for one server.
#[derive(Clone, Debug, Default)]
struct Figures {
    latency: Vec<Sample>,
    duplicates: u64,
    storm: Option<Storm>,
    /// Tocsin only: its timelines of the latency phase's and the storm's critical incidents.
    latency_breakdown: Option<Breakdown>,
    storm_breakdown: Option<Breakdown>,
}

fn measure(env: &Env, rx: &Receiver, kind: Kind, opts: &Options) -> anyhow::Result<Figures> {
    eprintln!("bench: ---- {} ----", kind.name());
    let prefix = format!("{}-latency", kind.name());
    let tocsin = kind == Kind::Tocsin;
    let (latency, duplicates, latency_breakdown) = if opts.latency {
        let server = Server::start(env, kind, "latency")?;
        let target = Target::new(env, &server, "latency", rx)?;
        let latency = sequential(&target, rx, &prefix, opts.incidents)?;
        // Let a repeated page (there should be none) arrive before counting.
        std::thread::sleep(Duration::from_secs(1));
        let b = if tocsin {
            Some(breakdown(&target, &prefix, WARM_UP)?)
        } else {
            None
        };
        (latency, rx.duplicates(&prefix), b)
    } else {
        (Vec::new(), 0, None)
    };
    let (storm, storm_breakdown) = if opts.storm {
        let prefix = format!("{}-storm", kind.name());
        let server = Server::start(env, kind, "storm")?;
        let target = Target::new(env, &server, "storm", rx)?;
        let s = storm(env, rx, &target, &prefix)?;
        let b = if tocsin {
            Some(breakdown(&target, &prefix, 0)?)
        } else {
            None
        };
        (Some(s), b)
    } else {
        (None, None)
    };
    Ok(Figures {
        latency,
        duplicates,
        storm,
        latency_breakdown,
        storm_breakdown,
    })
}

// ---- the report ----

/// A figure for the table: "lost" when it is beyond the wait (a page that never came).
fn cell(v: f64, digits: usize) -> String {
    if v.is_infinite() {
        "lost".into()
    } else {
        num(v, digits)
    }
}

fn report(env: &Env, opts: &Options, t: &Figures, am: &Figures, rx: &Receiver) -> String {
    let mut s = String::new();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    if opts.latency {
        let _ = writeln!(
            s,
            "\nTrigger → first page at a webhook on 127.0.0.1, Tocsin vs Prometheus Alertmanager — {} incidents one at a time, one every {} ms ({WARM_UP} before not counted), on the same {cores}-core machine",
            num(opts.incidents as f64, 0),
            GAP.as_millis(),
        );
    } else {
        let _ = writeln!(
            s,
            "\nHigh-urgency pages during a storm of low-urgency alerts, at a webhook on 127.0.0.1, Tocsin vs Prometheus Alertmanager — storm phase only, on the same {cores}-core machine",
        );
    }
    let _ = writeln!(
        s,
        "run started {}; tocsin {}; {}",
        env.starts_at,
        bench::command_line("git", &["describe", "--always", "--dirty"]),
        bench::command_line("prometheus-alertmanager", &["--version"])
    );
    let _ = writeln!(
        s,
        "{:<50} {:>12} {:>12} {:>8}  {:<22}",
        "figure", "Tocsin", "Alertmanager", "T/AM", "target (Tocsin)"
    );
    let _ = writeln!(s, "{}", "-".repeat(110));
    if !opts.latency {
        let _ = writeln!(s, "latency phase: not run (--storm-only)");
    }
    let mut row = |name: &str, tv: f64, av: f64, digits: usize, target: &str| {
        let ratio = if av > 0.0 && tv.is_finite() && av.is_finite() {
            format!("{:.2}", tv / av)
        } else {
            "-".into()
        };
        let _ = writeln!(
            s,
            "{name:<50} {:>12} {:>12} {ratio:>8}  {target:<22}",
            cell(tv, digits),
            cell(av, digits)
        );
    };
    let met = |ok: bool| if ok { "met" } else { "MISSED" };
    if opts.latency {
        let (tp, ap) = (
            stats(t.latency.iter().map(Sample::page_ms).collect()),
            stats(am.latency.iter().map(Sample::page_ms).collect()),
        );
        let (ta, aa) = (
            stats(t.latency.iter().map(Sample::answer_ms).collect()),
            stats(am.latency.iter().map(Sample::answer_ms).collect()),
        );
        row(
            "trigger → first page p50 ms",
            tp.p50,
            ap.p50,
            2,
            &format!("≤5 ms: {}", met(tp.p50 <= 5.0)),
        );
        row(
            "trigger → first page p99 ms",
            tp.p99,
            ap.p99,
            2,
            &format!("≤25 ms: {}", met(tp.p99 <= 25.0)),
        );
        row("trigger → first page max ms", tp.max, ap.max, 2, "");
        row("trigger → first page mean ms", tp.mean, ap.mean, 2, "");
        row(
            "trigger answered p50 ms (Tocsin: after its commit)",
            ta.p50,
            aa.p50,
            2,
            "",
        );
        row("trigger answered p99 ms", ta.p99, aa.p99, 2, "");
        row(
            &format!("pages arrived (of {})", num(opts.incidents as f64, 0)),
            tp.finite as f64,
            ap.finite as f64,
            0,
            "",
        );
        row(
            "duplicate pages",
            t.duplicates as f64,
            am.duplicates as f64,
            0,
            &format!("0: {}", met(t.duplicates == 0)),
        );
    }
    if let (Some(ts), Some(ams)) = (&t.storm, &am.storm) {
        let (tc, ac) = (
            stats(ts.critical.iter().map(Sample::page_ms).collect()),
            stats(ams.critical.iter().map(Sample::page_ms).collect()),
        );
        row(
            "storm: low-urgency alerts/s accepted (2xx)",
            ts.wrk.ok_per_second(),
            ams.wrk.ok_per_second(),
            0,
            "",
        );
        row(
            "storm: high-urgency trigger → page p50 ms",
            tc.p50,
            ac.p50,
            1,
            "",
        );
        row(
            "storm: high-urgency trigger → page p99 ms",
            tc.p99,
            ac.p99,
            1,
            &format!("≤1,000 ms: {}", met(tc.p99 <= 1_000.0)),
        );
        row(
            "storm: high-urgency trigger → page max ms",
            tc.max,
            ac.max,
            1,
            "",
        );
        row(
            "storm: high-urgency triggers sent",
            tc.count as f64,
            ac.count as f64,
            0,
            "",
        );
        row(
            &format!(
                "storm: their pages arrived (by {} s after)",
                DRAIN_TIMEOUT.as_secs()
            ),
            tc.finite as f64,
            ac.finite as f64,
            0,
            "",
        );
        row(
            "storm: low-urgency pages during the storm",
            ts.storm_pages_during as f64,
            ams.storm_pages_during as f64,
            0,
            "",
        );
        row(
            "storm: low-urgency pages by the end of the wait",
            ts.storm_pages_after as f64,
            ams.storm_pages_after as f64,
            0,
            "",
        );
        row(
            "storm: last high-urgency page, s after the storm",
            ts.drain_seconds,
            ams.drain_seconds,
            1,
            "",
        );
        row(
            "storm: server CPU, cores",
            ts.server_cores,
            ams.server_cores,
            2,
            "",
        );
    } else {
        let _ = writeln!(s, "storm: not run (--no-storm)");
    }
    let breakdowns = [
        ("latency phase", t.latency_breakdown),
        ("storm, high urgency", t.storm_breakdown),
    ];
    if breakdowns.iter().any(|(_, b)| b.is_some()) {
        let _ = writeln!(
            s,
            "\nTocsin's own timeline of those incidents when the run ended (server timestamps, ms resolution):"
        );
        let _ = writeln!(
            s,
            "{:<22} {:>13} {:>34} {:>13} {:>34}",
            "phase",
            "escalated",
            "triggered → escalated p50/p99/max",
            "notified",
            "escalated → notified p50/p99/max"
        );
        let three = |st: &Stats| {
            format!(
                "{} / {} / {} ms",
                cell(st.p50, 0),
                cell(st.p99, 0),
                cell(st.max, 0)
            )
        };
        for (name, b) in breakdowns {
            if let Some(b) = b {
                let _ = writeln!(
                    s,
                    "{name:<22} {:>13} {:>34} {:>13} {:>34}",
                    format!("{}/{}", b.to_escalated.finite, b.to_escalated.count),
                    three(&b.to_escalated),
                    format!("{}/{}", b.to_notified.finite, b.to_notified.count),
                    three(&b.to_notified)
                );
            }
        }
    }
    let _ = writeln!(
        s,
        "\nTimes are measured by this process: from just before the trigger request is written to the moment the receiver has read the whole page. \"lost\": some of them never arrived (in the latency phase within {} s of the trigger, in the storm within {} s after it ended), so the percentile is beyond the wait.",
        PAGE_TIMEOUT.as_secs(),
        DRAIN_TIMEOUT.as_secs()
    );
    for (name, f) in [("Tocsin", t), ("Alertmanager", am)] {
        let lost = f.latency.iter().filter(|x| x.arrived.is_none()).count();
        if lost > 0 {
            let _ = writeln!(
                s,
                "WARNING {name}: {lost} pages did not arrive within {PAGE_TIMEOUT:?}"
            );
        }
        if let Some(st) = &f.storm {
            if st.refused > 0 {
                let _ = writeln!(
                    s,
                    "WARNING {name} storm: {} high-urgency triggers were refused",
                    st.refused
                );
            }
            if st.wrk.ok() < st.wrk.requests || st.wrk.socket_errors > 0 {
                let _ = writeln!(
                    s,
                    "WARNING {name} storm: not every answer was 2xx: {}",
                    st.wrk.statuses_text()
                );
            }
        }
    }
    let (unmatched, errors) = (
        rx.shared.unmatched.load(Ordering::Relaxed),
        rx.shared.errors.load(Ordering::Relaxed),
    );
    if unmatched > 0 || errors > 0 {
        let _ = writeln!(
            s,
            "WARNING receiver: {unmatched} pages named no id, {errors} connections ended in an error"
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_matched_by_title_or_id_label() {
        let tocsin = json!({"event": "incident.page", "idempotency_key": "k",
            "incident": {"number": 1, "title": "Bench page tocsin-latency-7", "urgency": "high"}});
        assert_eq!(
            page_ids(tocsin.to_string().as_bytes()),
            vec!["tocsin-latency-7"]
        );
        let am = json!({"receiver": "page", "status": "firing",
            "alerts": [{"labels": {"alertname": "TocsinPage", "id": "alertmanager-latency-3"}}]});
        assert_eq!(
            page_ids(am.to_string().as_bytes()),
            vec!["alertmanager-latency-3"]
        );
        assert!(page_ids(b"not json").is_empty());
    }
}
