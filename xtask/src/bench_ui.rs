//! `cargo xtask bench ui [--incidents N] [--alerts-per-incident K] [--requests R] [--changes C]
//! [--peer-alerts M | --no-peer]`: the web UI's server time with a large database, and how fast
//! a change reaches a connected browser. Everything runs on 127.0.0.1 with the release server.
//!
//! Seeding goes through the real ingestion path: N Alertmanager webhook notifications
//! (`POST /api/v1/integrations/alertmanager/{key}`), each one group (`groupKey`) of K alerts,
//! so N incidents of K alerts each, over several keep-alive connections. The two services have
//! no escalation policy, so nothing is paged. One incident in ten goes to a second service (the
//! service filter) and one in a hundred is a `warning` (low urgency: a sparse filter).
//!
//! An admin is made with `tocsin user create … ` (password on standard input) and signs in as a
//! browser does: `GET /login` gives the `tocsin_login` cookie and the form's `csrf` field;
//! `POST /login` with them and an `Origin` header gives the session cookie. Then, over one
//! keep-alive connection with that cookie, R requests each (after a short warm-up) of the
//! incidents list (first page, filtered by service, filtered by urgency, page 2 by the page's
//! own "Older incidents" link, and a deep page halfway down) and of random incidents' pages.
//! The time is the client's (request written → body read): the server's time plus loopback.
//! When the server exports an HTTP request-duration histogram on `/metrics` it is read too.
//!
//! Live updates: a client holds `GET /ui/events` open with the session cookie; C changes are
//! made one at a time, alternately an acknowledgement over the REST API (admin token) of a
//! random triggered incident and a new trigger through `/v2/enqueue`, and each is timed from
//! just before the request to the arrival of the SSE `incident` event naming that incident.
//!
//! The peer: Prometheus Alertmanager (Debian's `prometheus-alertmanager`) holding M active
//! alerts (default min(N × K, 100,000)), timed on `GET /api/v2/alerts` (every alert: what its
//! UI lists) and on the same filtered to one alert; reported as ratios Tocsin / Alertmanager.
//!
//! Every wait is bounded; every process started here is stopped by its own handle; the
//! temporary folder is removed. docs/benchmarks.md ("Web UI") explains the figures and records
//! a run.

use crate::bench::{
    self, Api, Env, Histogram, Http, Kind, Server, TempDir, id_of, metric_sum, num,
};
use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// The issue's figures: 100,000 incidents of 10 alerts (1,000,000 alerts).
const INCIDENTS_DEFAULT: usize = 100_000;
const ALERTS_PER_INCIDENT_DEFAULT: usize = 10;
const INCIDENTS_MAX: usize = 1_000_000;
/// Requests per measured page, after `WARM_UP` unmeasured ones.
const REQUESTS_DEFAULT: usize = 300;
const WARM_UP: usize = 5;
/// Changes timed on the live stream.
const CHANGES_DEFAULT: usize = 200;
/// Alerts Alertmanager holds, at most by default.
const PEER_ALERTS_DEFAULT_MAX: usize = 100_000;
/// Alerts per request when filling Alertmanager.
const PEER_BATCH: usize = 1_000;
/// Full listings of Alertmanager's alerts (each is every alert), and filtered ones at most.
const PEER_FULL_REQUESTS: usize = 10;
const PEER_FILTERED_REQUESTS_MAX: usize = 100;
/// Seeding: keep-alive connections, and the bound on the whole.
const SEED_CONNECTIONS: usize = 8;
const SEED_TIMEOUT: Duration = Duration::from_secs(3_600);
/// A series of requests stops (and says so) after this long.
const SERIES_BUDGET: Duration = Duration::from_secs(180);
/// How long a change may take to show on the stream before it counts as lost.
const LIVE_WAIT: Duration = Duration::from_secs(5);
/// Between two changes: the stream is quiet before each.
const LIVE_GAP: Duration = Duration::from_millis(25);
/// Connecting the stream and reading incident ids.
const CONNECT_WAIT: Duration = Duration::from_secs(10);
const IDS_BUDGET: Duration = Duration::from_secs(300);
/// One incident in this many goes to the second service; one in `LOW_EVERY` is low urgency.
const OTHER_SERVICE_EVERY: usize = 10;
const LOW_EVERY: usize = 100;
/// The targets.
const PAGE_P95_TARGET_MS: f64 = 50.0;
const LIVE_TARGET_MS: f64 = 200.0;
/// The admin the browser signs in as.
const EMAIL: &str = "ui-bench@example.com";
const PASSWORD: &str = "ui-bench-password-not-secret";

pub fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let opts = Options::parse(args)?;
    if opts.peer_alerts > 0 {
        crate::ensure_packages(&[(
            "command -v prometheus-alertmanager",
            "prometheus-alertmanager",
        )])?;
    }
    let tocsin_bin = bench::release_binary_if_stale(root)?;
    let env = Env {
        tocsin_bin,
        scripts: root.join("xtask/bench"),
        work: TempDir::new()?,
        starts_at: bench::rfc3339(SystemTime::now()),
        duration: 0,
    };
    let load_before = load_average();
    eprintln!(
        "bench: {} core(s), load average {load_before}; {} incidents × {} alerts; work folder {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        num(opts.incidents as f64, 0),
        opts.alerts_per_incident,
        env.work.path.display()
    );
    let t = tocsin(&env, &opts)?;
    let am = if opts.peer_alerts > 0 {
        Some(alertmanager(&env, &opts)?)
    } else {
        None
    };
    let load_after = load_average();
    print!(
        "{}",
        report(&env, &opts, &t, am.as_ref(), &load_before, &load_after)
    );
    Ok(())
}

struct Options {
    incidents: usize,
    alerts_per_incident: usize,
    requests: usize,
    changes: usize,
    /// 0: no peer.
    peer_alerts: usize,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Self> {
        const USAGE: &str = "usage: bench ui [--incidents N] [--alerts-per-incident K] [--requests R] [--changes C] [--peer-alerts M | --no-peer]";
        let mut o = Options {
            incidents: INCIDENTS_DEFAULT,
            alerts_per_incident: ALERTS_PER_INCIDENT_DEFAULT,
            requests: REQUESTS_DEFAULT,
            changes: CHANGES_DEFAULT,
            peer_alerts: usize::MAX,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (a.as_str(), None),
            };
            let mut value = |name: &str| -> anyhow::Result<usize> {
                inline
                    .clone()
                    .or_else(|| it.next().cloned())
                    .with_context(|| format!("{name} needs a number"))?
                    .replace(['_', ','], "")
                    .parse()
                    .with_context(|| format!("{name} must be a whole number"))
            };
            match name {
                "--incidents" => o.incidents = value(name)?,
                "--alerts-per-incident" => o.alerts_per_incident = value(name)?,
                "--requests" => o.requests = value(name)?,
                "--changes" => o.changes = value(name)?,
                "--peer-alerts" => o.peer_alerts = value(name)?,
                "--no-peer" => o.peer_alerts = 0,
                other => bail!("unknown option {other:?}; {USAGE}"),
            }
        }
        ensure!(
            (100..=INCIDENTS_MAX).contains(&o.incidents),
            "--incidents must be between 100 and {}",
            num(INCIDENTS_MAX as f64, 0)
        );
        ensure!(
            (1..=1_000).contains(&o.alerts_per_incident),
            "--alerts-per-incident must be between 1 and 1,000 (Tocsin's limit per notification)"
        );
        ensure!(
            (10..=100_000).contains(&o.requests),
            "--requests must be between 10 and 100,000"
        );
        ensure!(
            (2..=10_000).contains(&o.changes),
            "--changes must be between 2 and 10,000"
        );
        if o.peer_alerts == usize::MAX {
            o.peer_alerts = (o.incidents * o.alerts_per_incident).min(PEER_ALERTS_DEFAULT_MAX);
        }
        ensure!(
            o.peer_alerts <= 1_000_000,
            "--peer-alerts must be at most 1,000,000"
        );
        Ok(o)
    }
}

/// `/proc/loadavg`'s three averages, for the report (other builds share the machine).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".into())
}

// ---- times ----

/// One measured page: client-side times (ms) and the mean size of the answer.
#[derive(Clone, Debug, Default)]
struct Series {
    label: String,
    times: Vec<f64>,
    bytes: f64,
    /// The series stopped at its time budget before all its requests.
    cut_short: bool,
}

/// Nearest-rank percentiles of a series (infinite for lost ones), as [`bench::stats`] does.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Pcts {
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
}

fn pcts(v: &[f64]) -> Pcts {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = |q: f64| {
        if v.is_empty() {
            return f64::NAN;
        }
        let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        v[i]
    };
    Pcts {
        p50: rank(0.50),
        p95: rank(0.95),
        p99: rank(0.99),
        max: v.last().copied().unwrap_or(f64::NAN),
    }
}

impl Series {
    fn pcts(&self) -> Pcts {
        pcts(&self.times)
    }
}

/// GETs `paths` in turn (`n` in all, after [`WARM_UP`] unmeasured) over one keep-alive
/// connection with `headers`; every answer must be 200. Stops at `budget`.
fn series(
    addr: SocketAddr,
    label: &str,
    headers: &[(&str, &str)],
    paths: &[String],
    n: usize,
    budget: Duration,
) -> anyhow::Result<Series> {
    ensure!(!paths.is_empty(), "{label}: nothing to request");
    let mut conn = Http::connect(addr)?;
    let mut s = Series {
        label: label.to_owned(),
        ..Series::default()
    };
    let started = Instant::now();
    let mut total_bytes = 0usize;
    for i in 0..n + WARM_UP {
        if started.elapsed() > budget {
            s.cut_short = true;
            break;
        }
        let path = &paths[i % paths.len()];
        let t0 = Instant::now();
        let r = conn.send("GET", path, headers, b"")?;
        let took = bench::ms(t0.elapsed());
        ensure!(
            r.status == 200,
            "GET {path} answered {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body[..r.body.len().min(300)])
        );
        if i >= WARM_UP {
            s.times.push(took);
            total_bytes += r.body.len();
        }
    }
    s.bytes = total_bytes as f64 / s.times.len().max(1) as f64;
    let p = s.pcts();
    eprintln!(
        "bench: {label}: {} requests, p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {} bytes{}",
        s.times.len(),
        p.p50,
        p.p95,
        p.p99,
        p.max,
        num(s.bytes, 0),
        if s.cut_short {
            " (stopped at its time budget)"
        } else {
            ""
        }
    );
    Ok(s)
}

// ---- Tocsin ----

#[derive(Debug, Default)]
struct TocsinFigures {
    seed_seconds: f64,
    /// What /metrics counted after seeding.
    open_incidents: f64,
    alerts_accepted: f64,
    pages: Vec<Series>,
    /// The server's own HTTP histogram over the page requests (name, histogram), if exported.
    server_histogram: Option<(String, Histogram)>,
    ack: Series,
    trigger: Series,
    resyncs: usize,
    notifications_sent: f64,
}

/// The two services' integration keys, and the first service's id.
struct Setup {
    service: String,
    other_service: String,
    webhook: String,
    other_webhook: String,
    events: String,
}

fn set_up(api: &mut Api) -> anyhow::Result<Setup> {
    let mut service = |name: &str| -> anyhow::Result<(String, String)> {
        // No escalation policy: nothing is paged while seeding.
        let id = id_of(&api.post("/api/v1/services", &json!({"name": name}))?)?;
        let i = api.post(
            &format!("/api/v1/services/{id}/integrations"),
            &json!({"type": "alertmanager", "rate_limit_per_second": 0}),
        )?;
        Ok((
            id,
            i["key"]
                .as_str()
                .context("integration without key")?
                .to_owned(),
        ))
    };
    let (a, webhook) = service("ui-bench")?;
    let (b, other_webhook) = service("ui-bench-other")?;
    let events = api.post(
        &format!("/api/v1/services/{a}/integrations"),
        &json!({"type": "events_v2", "rate_limit_per_second": 0}),
    )?["key"]
        .as_str()
        .context("integration without key")?
        .to_owned();
    Ok(Setup {
        service: a,
        other_service: b,
        webhook,
        other_webhook,
        events,
    })
}

/// Incident `i`'s Alertmanager notification: one group of `k` new alerts.
fn notification(setup: &Setup, i: usize, k: usize, starts_at: &str) -> (String, String) {
    let severity = if i % LOW_EVERY == 1 {
        "warning"
    } else {
        "critical"
    };
    let alerts: Vec<Value> = (0..k)
        .map(|n| {
            let id = format!("ui-{i}-{n}");
            json!({"status": "firing",
                "labels": {"alertname": "TocsinUi", "group": format!("ui-{i}"), "instance": id,
                           "job": "bench", "severity": severity},
                "annotations": {"summary": format!("UI bench group {i}"),
                                "description": format!("alert {n} of group {i}, generated by cargo xtask bench ui"),
                                "runbook_url": "https://example.com/runbook"},
                "startsAt": starts_at, "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example.com/graph", "fingerprint": id})
        })
        .collect();
    let body = json!({"version": "4", "groupKey": format!("{{}}:{{group=\"ui-{i}\"}}"),
        "truncatedAlerts": 0, "status": "firing", "receiver": "tocsin",
        "groupLabels": {"group": format!("ui-{i}")},
        "commonLabels": {"alertname": "TocsinUi", "group": format!("ui-{i}"), "job": "bench",
                         "severity": severity},
        "commonAnnotations": {}, "externalURL": "http://alertmanager.example.com",
        "alerts": alerts});
    let key = if i.is_multiple_of(OTHER_SERVICE_EVERY) {
        &setup.other_webhook
    } else {
        &setup.webhook
    };
    (
        format!("/api/v1/integrations/alertmanager/{key}"),
        body.to_string(),
    )
}

/// `tocsin user create` (an admin; the password on standard input) against the server's data.
fn create_admin(env: &Env, data: &Path) -> anyhow::Result<()> {
    let mut child = Command::new(&env.tocsin_bin)
        .args([
            "user", "create", "--email", EMAIL, "--name", "UI Bench", "--role", "admin",
        ])
        .arg("--data-dir")
        .arg(data)
        .env_remove("TOCSIN_CONFIG")
        .env_remove("TOCSIN_DATABASE_URL")
        .env_remove("TOCSIN_DATA_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running tocsin user create")?;
    child
        .stdin
        .take()
        .context("no stdin")?
        .write_all(format!("{PASSWORD}\n").as_bytes())?;
    let out = child.wait_with_output()?;
    ensure!(
        out.status.success(),
        "tocsin user create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn metrics_text(addr: SocketAddr) -> anyhow::Result<String> {
    let r = bench::request(addr, "GET", "/metrics", &[], b"")?;
    ensure!(r.status == 200, "/metrics answered {}", r.status);
    Ok(String::from_utf8_lossy(&r.body).into_owned())
}

/// The name of an HTTP request-duration histogram on `/metrics`, if the server exports one.
fn http_histogram_name(metrics: &str) -> Option<String> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once("_bucket{").map(|(name, _)| name))
        .find(|name| name.contains("http") && name.contains("duration"))
        .map(str::to_owned)
}

/// Every incident (id, number) of the server, newest first, through the REST API (bounded).
fn incidents(api: &mut Api, expected: usize) -> anyhow::Result<Vec<(String, i64)>> {
    let mut out = Vec::with_capacity(expected);
    let mut cursor = String::new();
    let started = Instant::now();
    for _ in 0..expected / 100 + 10 {
        if started.elapsed() > IDS_BUDGET {
            eprintln!(
                "bench: read {} incident ids in {} s; sampling from those",
                out.len(),
                IDS_BUDGET.as_secs()
            );
            break;
        }
        let page = api.get(&format!("/api/v1/incidents?limit=100{cursor}"))?;
        for i in page["incidents"].as_array().into_iter().flatten() {
            if let (Some(id), Some(n)) = (i["id"].as_str(), i["number"].as_i64()) {
                out.push((id.to_owned(), n));
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    Ok(out)
}

fn tocsin(env: &Env, opts: &Options) -> anyhow::Result<TocsinFigures> {
    eprintln!("bench: ---- tocsin ----");
    let server = Server::start(env, Kind::Tocsin, "ui")?;
    let addr = server.addr;
    let data = bench::tocsin_data(env, "ui");
    let token = bench::admin_token(env, &data)?;
    create_admin(env, &data)?;
    let mut api = Api::new(addr, &token)?;
    let setup = set_up(&mut api)?;
    let mut f = TocsinFigures::default();

    // Seeding.
    let (n, k) = (opts.incidents, opts.alerts_per_incident);
    let t0 = Instant::now();
    let progress = std::sync::atomic::AtomicUsize::new(0);
    bench::post_many(addr, SEED_CONNECTIONS, n, SEED_TIMEOUT, &|i| {
        let done = progress.fetch_add(1, Ordering::Relaxed) + 1;
        if done.is_multiple_of(10_000) {
            eprintln!(
                "bench: tocsin: {} notifications sent in {:.0} s",
                num(done as f64, 0),
                t0.elapsed().as_secs_f64()
            );
        }
        notification(&setup, i, k, &env.starts_at)
    })?;
    f.seed_seconds = t0.elapsed().as_secs_f64();
    let text = metrics_text(addr)?;
    f.open_incidents = metric_sum(&text, "tocsin_open_incidents", None);
    f.alerts_accepted = metric_sum(&text, "tocsin_events_accepted_total", None);
    eprintln!(
        "bench: tocsin: {} incidents × {k} alerts in {:.1} s ({:.0} alerts/s); the server counts {:.0} open incidents, {:.0} events accepted",
        num(n as f64, 0),
        f.seed_seconds,
        (n * k) as f64 / f.seed_seconds.max(1e-9),
        f.open_incidents,
        f.alerts_accepted
    );

    // Signing in, as a browser.
    let session = sign_in(addr)?;
    let cookie = format!("tocsin_session={session}");
    let headers = [("Cookie", cookie.as_str()), ("Accept", "text/html")];

    // The pages.
    let all = incidents(&mut api, n)?;
    ensure!(!all.is_empty(), "no incidents after seeding");
    let newest = all[0].1;
    let mut conn = Http::connect(addr)?;
    let first = conn.send("GET", "/incidents", &headers, b"")?;
    ensure!(
        first.status == 200,
        "GET /incidents answered {}",
        first.status
    );
    let page2 = older_link(&String::from_utf8_lossy(&first.body))
        .context("the incidents list has no \"Older incidents\" link")?;
    drop(conn);
    let before = metrics_text(addr)?;
    let hist_name = http_histogram_name(&before);
    let lists: [(&str, String); 9] = [
        ("list: open, first page", "/incidents".to_owned()),
        (
            "list: filtered by service (1 in 10)",
            format!("/incidents?status=open&service={}", setup.other_service),
        ),
        (
            "list: filtered by urgency low (1 in 100)",
            "/incidents?status=open&urgency=low".to_owned(),
        ),
        ("list: page 2 (its Older link)", page2),
        (
            "list: a page halfway down",
            format!("/incidents?status=open&before={}", newest - (n as i64) / 2),
        ),
        // The text search (titles are "UI bench group {i}"): a number found in a few titles,
        // a word in none, a word in every one, and two letters (no trigram: titles are read).
        (
            "search: q=4242 (a number, ~20 titles)",
            "/incidents?q=4242".to_owned(),
        ),
        (
            "search: q=nothing (no title)",
            "/incidents?q=nothing".to_owned(),
        ),
        (
            "search: q=bench (every title)",
            "/incidents?q=bench".to_owned(),
        ),
        (
            "search: q=zz (two letters, no title)",
            "/incidents?q=zz".to_owned(),
        ),
    ];
    for (label, path) in lists {
        f.pages.push(series(
            addr,
            label,
            &headers,
            &[path],
            opts.requests,
            SERIES_BUDGET,
        )?);
    }
    let picked: Vec<String> = bench::sample(
        all.iter().map(|(id, _)| id.clone()).collect(),
        opts.requests,
    )
    .into_iter()
    .map(|id| format!("/incidents/{id}"))
    .collect();
    f.pages.push(series(
        addr,
        &format!("incident page ({k} alerts, random)"),
        &headers,
        &picked,
        opts.requests,
        SERIES_BUDGET,
    )?);
    if let Some(name) = hist_name {
        let after = metrics_text(addr)?;
        if let (Some(a), Some(b)) = (
            Histogram::parse(&after, &name),
            Histogram::parse(&before, &name),
        ) {
            f.server_histogram = Some((name, a.since(&b)));
        }
    }

    // Live updates.
    let live = LiveClient::connect(addr, &cookie)?;
    let mut events = Http::connect(addr)?;
    let mut to_ack = bench::sample(
        all.iter()
            .skip(1)
            .map(|(id, _)| id.clone())
            .collect::<Vec<_>>(),
        opts.changes,
    );
    let (mut ack, mut trigger) = (Vec::new(), Vec::new());
    let started = Instant::now();
    for c in 0..opts.changes {
        if started.elapsed() > SERIES_BUDGET {
            break;
        }
        std::thread::sleep(LIVE_GAP);
        if c % 2 == 0 {
            let Some(id) = to_ack.pop() else { continue };
            let t0 = Instant::now();
            api.post(&format!("/api/v1/incidents/{id}/acknowledge"), &json!({}))?;
            ack.push(live.latency(&id, t0, LIVE_WAIT));
        } else {
            let dedup = format!("ui-live-{c}");
            let body = json!({"routing_key": setup.events, "event_action": "trigger",
                "dedup_key": dedup,
                "payload": {"summary": format!("UI bench live {c}"), "source": "bench",
                            "severity": "critical"}});
            let t0 = Instant::now();
            let r = events.send(
                "POST",
                "/v2/enqueue",
                &[("Content-Type", "application/json")],
                body.to_string().as_bytes(),
            )?;
            ensure!(
                r.status == 202,
                "/v2/enqueue answered {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
            let newest = api.get(&format!(
                "/api/v1/incidents?service_id={}&limit=1",
                setup.service
            ))?;
            let inc = &newest["incidents"][0];
            ensure!(
                inc["dedup_key"].as_str() == Some(dedup.as_str()),
                "the newest incident is not the one just triggered: {inc}"
            );
            trigger.push(live.latency(&id_of(inc)?, t0, LIVE_WAIT));
        }
    }
    f.resyncs = live.resyncs();
    drop(live);
    f.ack = Series {
        label: "live: acknowledge (REST) → SSE event".into(),
        times: ack,
        ..Series::default()
    };
    f.trigger = Series {
        label: "live: new trigger (/v2/enqueue) → SSE event".into(),
        times: trigger,
        ..Series::default()
    };
    for s in [&f.ack, &f.trigger] {
        let p = s.pcts();
        eprintln!(
            "bench: {}: {} changes, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            s.label,
            s.times.len(),
            p.p50,
            p.p99,
            p.max
        );
    }
    f.notifications_sent = metric_sum(
        &metrics_text(addr)?,
        "tocsin_notifications_sent_total",
        None,
    );
    drop(server);
    Ok(f)
}

// ---- signing in ----

/// A whole answer read from a connection that closes after it.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

/// One request with `Connection: close`, read to its end.
fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> anyhow::Result<Raw> {
    let mut s = TcpStream::connect_timeout(&addr, CONNECT_WAIT)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        let _ = write!(head, "{k}: {v}\r\n");
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes)?;
    parse_answer(&bytes).with_context(|| format!("{method} {path}: a malformed answer"))
}

/// Status, headers (names lowercased) and body of a plain (not chunked) HTTP/1.1 answer.
fn parse_answer(bytes: &[u8]) -> Option<Raw> {
    let end = find(bytes, b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some(Raw {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes[end + 4..]).into_owned(),
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The value a `Set-Cookie` header gives cookie `name` (`None` when unset or emptied).
fn set_cookie(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .filter_map(|(_, v)| v.split(';').next()?.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

/// The `value` of the form input named `name`.
fn form_field(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let v = tag.split("value=\"").nth(1)?.split('"').next()?;
    Some(unescape(v))
}

/// The href of the page's `rel="next"` link ("Older incidents").
fn older_link(html: &str) -> Option<String> {
    let at = html.find("rel=\"next\"")?;
    let tag = &html[html[..at].rfind('<')?..at];
    let href = tag.split("href=\"").nth(1)?.split('"').next()?;
    Some(unescape(href))
}

fn unescape(s: &str) -> String {
    s.replace("&#38;", "&")
        .replace("&#x26;", "&")
        .replace("&amp;", "&")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
}

/// `application/x-www-form-urlencoded` of some pairs.
fn form_encode(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".into(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Signs in as a browser does; the session cookie's value.
fn sign_in(addr: SocketAddr) -> anyhow::Result<String> {
    let form = exchange(addr, "GET", "/login", &[("Accept", "text/html")], b"")?;
    ensure!(form.status == 200, "GET /login answered {}", form.status);
    let login_cookie = set_cookie(&form.headers, "tocsin_login")
        .context("GET /login set no tocsin_login cookie")?;
    let csrf = form_field(&form.body, "csrf").context("the sign-in form has no csrf field")?;
    let body = form_encode(&[
        ("email", EMAIL),
        ("password", PASSWORD),
        ("csrf", &csrf),
        ("next", "/"),
    ]);
    let origin = format!("http://{addr}");
    let cookie = format!("tocsin_login={login_cookie}");
    let r = exchange(
        addr,
        "POST",
        "/login",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", &origin),
            ("Cookie", &cookie),
        ],
        body.as_bytes(),
    )?;
    ensure!(
        r.status == 303 || r.status == 302,
        "POST /login answered {} (expected a redirect)",
        r.status
    );
    set_cookie(&r.headers, "tocsin_session").context("POST /login set no session cookie")
}

// ---- the live stream ----

/// Incremental decoding of an HTTP/1.1 chunked body.
#[derive(Default)]
struct Chunked {
    buf: Vec<u8>,
    done: bool,
}

impl Chunked {
    /// The payload bytes that `bytes` completes (whole chunks only).
    fn feed(&mut self, bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while !self.done {
            let Some(eol) = find(&self.buf, b"\r\n") else {
                break;
            };
            let text = std::str::from_utf8(&self.buf[..eol])?;
            let size = usize::from_str_radix(text.split(';').next().unwrap_or("").trim(), 16)
                .with_context(|| format!("bad chunk size {text:?}"))?;
            if size == 0 {
                self.done = true;
                self.buf.clear();
                break;
            }
            let need = eol + 2 + size + 2;
            if self.buf.len() < need {
                break;
            }
            out.extend_from_slice(&self.buf[eol + 2..eol + 2 + size]);
            self.buf.drain(..need);
        }
        Ok(out)
    }
}

/// One Server-Sent Event: its type (`message` when unnamed) and data.
#[derive(Clone, Debug, PartialEq)]
struct SseEvent {
    event: String,
    data: String,
}

/// Incremental parsing of `text/event-stream` (fields `event` and `data`; comments counted).
#[derive(Default)]
struct SseParser {
    line: Vec<u8>,
    event: String,
    data: Vec<String>,
    comments: usize,
}

impl SseParser {
    fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                let raw = std::mem::take(&mut self.line);
                let line = String::from_utf8_lossy(&raw);
                self.line_done(line.strip_suffix('\r').unwrap_or(&line), &mut out);
            } else {
                self.line.push(b);
            }
        }
        out
    }

    fn line_done(&mut self, line: &str, out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if !self.data.is_empty() {
                out.push(SseEvent {
                    event: if self.event.is_empty() {
                        "message".into()
                    } else {
                        std::mem::take(&mut self.event)
                    },
                    data: self.data.join("\n"),
                });
            }
            self.event.clear();
            self.data.clear();
        } else if line.starts_with(':') {
            self.comments += 1;
        } else {
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => self.event = value.to_owned(),
                "data" => self.data.push(value.to_owned()),
                _ => {}
            }
        }
    }
}

/// What the stream's reader saw: each `incident` event's id with its arrival.
#[derive(Default)]
struct LiveState {
    seen: Vec<(String, Instant)>,
    comments: usize,
    resyncs: usize,
    ended: Option<String>,
}

struct LiveShared {
    state: Mutex<LiveState>,
    changed: Condvar,
    stop: AtomicBool,
}

/// A browser's `GET /ui/events`, read by a thread; stopped (and joined) when dropped.
struct LiveClient {
    shared: Arc<LiveShared>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl LiveClient {
    fn connect(addr: SocketAddr, cookie: &str) -> anyhow::Result<LiveClient> {
        let mut s = TcpStream::connect_timeout(&addr, CONNECT_WAIT)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_millis(200)))?;
        s.write_all(
            format!(
                "GET /ui/events HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n"
            )
            .as_bytes(),
        )?;
        let shared = Arc::new(LiveShared {
            state: Mutex::new(LiveState::default()),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let reader = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                let end = match read_stream(s, &shared) {
                    Ok(()) => "the stream ended".to_owned(),
                    Err(e) => format!("{e:#}"),
                };
                let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
                st.ended = Some(end);
                shared.changed.notify_all();
            })
        };
        let client = LiveClient {
            shared,
            reader: Some(reader),
        };
        // Connected once the stream's first comment came.
        let deadline = Instant::now() + CONNECT_WAIT;
        let mut st = client.lock();
        while st.comments == 0 {
            if let Some(e) = &st.ended {
                bail!("GET /ui/events: {e}");
            }
            let left = deadline.saturating_duration_since(Instant::now());
            ensure!(
                !left.is_zero(),
                "GET /ui/events sent nothing in {CONNECT_WAIT:?}"
            );
            st = client
                .shared
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        drop(st);
        Ok(client)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LiveState> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Milliseconds from `since` to the first `incident` event naming `id` that arrived after
    /// it; infinite when none came within `wait`.
    fn latency(&self, id: &str, since: Instant, wait: Duration) -> f64 {
        let deadline = Instant::now() + wait;
        let mut st = self.lock();
        loop {
            if let Some((_, at)) = st.seen.iter().find(|(d, at)| d == id && *at >= since) {
                return bench::ms(at.duration_since(since));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || st.ended.is_some() {
                return f64::INFINITY;
            }
            st = self
                .shared
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn resyncs(&self) -> usize {
        self.lock().resyncs
    }
}

impl Drop for LiveClient {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

/// How the stream's body comes: not yet known (reading the head), chunked, or plain.
enum Body {
    Head(Vec<u8>),
    Chunked(Chunked),
    Plain,
}

/// Reads the answer's head, then its (chunked) body as Server-Sent Events, until told to stop.
fn read_stream(mut s: TcpStream, shared: &LiveShared) -> anyhow::Result<()> {
    let mut buf = [0u8; 16 * 1024];
    let mut body = Body::Head(Vec::new());
    let mut parser = SseParser::default();
    let head_deadline = Instant::now() + CONNECT_WAIT;
    while !shared.stop.load(Ordering::SeqCst) {
        let n = match s.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                ensure!(
                    !matches!(body, Body::Head(_)) || Instant::now() < head_deadline,
                    "no answer in {CONNECT_WAIT:?}"
                );
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let at = Instant::now();
        let bytes: Vec<u8> = match &mut body {
            Body::Chunked(c) => c.feed(&buf[..n])?,
            Body::Plain => buf[..n].to_vec(),
            Body::Head(head) => {
                head.extend_from_slice(&buf[..n]);
                let Some(end) = find(head, b"\r\n\r\n") else {
                    ensure!(head.len() < 64 * 1024, "an endless answer head");
                    continue;
                };
                let raw = parse_answer(head).context("a malformed answer head")?;
                ensure!(raw.status == 200, "answered {}: {}", raw.status, raw.body);
                let rest = head[end + 4..].to_vec();
                if raw
                    .headers
                    .iter()
                    .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
                {
                    let mut c = Chunked::default();
                    let out = c.feed(&rest)?;
                    body = Body::Chunked(c);
                    out
                } else {
                    body = Body::Plain;
                    rest
                }
            }
        };
        let events = parser.feed(&bytes);
        let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
        st.comments = parser.comments;
        for e in events {
            match e.event.as_str() {
                "incident" => st.seen.push((e.data, at)),
                "resync" => st.resyncs += 1,
                _ => {}
            }
        }
        shared.changed.notify_all();
    }
    Ok(())
}

// ---- Alertmanager ----

#[derive(Debug, Default)]
struct AmFigures {
    alerts: usize,
    seed_seconds: f64,
    active: f64,
    full: Series,
    filtered: Series,
}

fn alertmanager(env: &Env, opts: &Options) -> anyhow::Result<AmFigures> {
    eprintln!("bench: ---- alertmanager ----");
    let server = Server::start(env, Kind::Alertmanager, "ui")?;
    let addr = server.addr;
    let n = opts.peer_alerts;
    let k = opts.alerts_per_incident;
    // Active for a day: without endsAt, Alertmanager resolves an alert after resolve_timeout.
    let ends_at = bench::rfc3339(SystemTime::now() + Duration::from_secs(86_400));
    let t0 = Instant::now();
    bench::post_many(addr, 4, n.div_ceil(PEER_BATCH), SEED_TIMEOUT, &|b| {
        let alerts: Vec<Value> = (b * PEER_BATCH..((b + 1) * PEER_BATCH).min(n))
            .map(|a| {
                let (i, j) = (a / k, a % k);
                json!({"labels": {"alertname": "TocsinUi", "group": format!("ui-{i}"),
                                  "instance": format!("ui-{i}-{j}"), "job": "bench",
                                  "severity": "critical"},
                       "annotations": {"summary": format!("UI bench group {i}"),
                                       "description": format!("alert {j} of group {i}, generated by cargo xtask bench ui")},
                       "startsAt": env.starts_at, "endsAt": ends_at,
                       "generatorURL": "http://prometheus.example.com/graph"})
            })
            .collect();
        (
            "/api/v2/alerts".to_owned(),
            Value::Array(alerts).to_string(),
        )
    })?;
    let seed_seconds = t0.elapsed().as_secs_f64();
    // Alerts are taken in asynchronously: wait (bounded) until it holds them all, whatever
    // their state (active, or not yet processed).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let held = metric_sum(&metrics_text(addr)?, "alertmanager_alerts", None);
        if held >= n as f64 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    // What its API lists: every alert, one object each.
    let listing = bench::request(addr, "GET", "/api/v2/alerts", &[], b"")?;
    ensure!(
        listing.status == 200,
        "GET /api/v2/alerts answered {}",
        listing.status
    );
    let active = String::from_utf8_lossy(&listing.body)
        .matches("\"fingerprint\"")
        .count() as f64;
    drop(listing);
    eprintln!(
        "bench: alertmanager: {} alerts in {seed_seconds:.1} s; it lists {active:.0}",
        num(n as f64, 0)
    );
    let json = [("Accept", "application/json")];
    let full = series(
        addr,
        "alertmanager: GET /api/v2/alerts (all)",
        &json,
        &["/api/v2/alerts".to_owned()],
        PEER_FULL_REQUESTS,
        SERIES_BUDGET,
    )?;
    let picked: Vec<String> = bench::sample((0..n).collect(), PEER_FILTERED_REQUESTS_MAX)
        .into_iter()
        .map(|a| {
            format!(
                "/api/v2/alerts?filter=instance%3D%22ui-{}-{}%22",
                a / k,
                a % k
            )
        })
        .collect();
    let filtered = series(
        addr,
        "alertmanager: GET /api/v2/alerts?filter=instance=\"…\" (one)",
        &json,
        &picked,
        opts.requests.min(PEER_FILTERED_REQUESTS_MAX),
        SERIES_BUDGET,
    )?;
    drop(server);
    Ok(AmFigures {
        alerts: n,
        seed_seconds,
        active,
        full,
        filtered,
    })
}

// ---- the report ----

fn report(
    env: &Env,
    opts: &Options,
    t: &TocsinFigures,
    am: Option<&AmFigures>,
    load_before: &str,
    load_after: &str,
) -> String {
    let (n, k) = (opts.incidents as f64, opts.alerts_per_incident as f64);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nWeb UI: {} incidents × {} alerts ({} alerts) in Tocsin's database, on the same {}-core machine",
        num(n, 0),
        k,
        num(n * k, 0),
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    let _ = writeln!(
        s,
        "run started {}; tocsin {} (binary built {}); load average {load_before} before, {load_after} after (other builds share the machine)",
        env.starts_at,
        bench::command_line("git", &["describe", "--always", "--dirty"]),
        bench::built_at(&env.tocsin_bin),
    );
    let _ = writeln!(
        s,
        "seeded through the Alertmanager webhook ({SEED_CONNECTIONS} conns, one group of {k} per request) in {:.1} s: {} alerts/s, {} incidents/s; the server counts {} open incidents, {} events accepted",
        t.seed_seconds,
        num(n * k / t.seed_seconds.max(1e-9), 0),
        num(n / t.seed_seconds.max(1e-9), 0),
        num(t.open_incidents, 0),
        num(t.alerts_accepted, 0)
    );
    let _ = writeln!(
        s,
        "\n{:<46} {:>6} {:>8} {:>8} {:>8} {:>8} {:>9}  target",
        "server time, client-side over loopback (ms)", "n", "p50", "p95", "p99", "max", "bytes"
    );
    let _ = writeln!(s, "{}", "-".repeat(118));
    let met = |ok: bool| if ok { "met" } else { "MISSED" };
    let cell = |v: f64| {
        if v.is_infinite() {
            "lost".to_owned()
        } else {
            num(v, 1)
        }
    };
    for p in &t.pages {
        let q = p.pcts();
        let _ = writeln!(
            s,
            "{:<46} {:>6} {:>8} {:>8} {:>8} {:>8} {:>9}  p95 <{PAGE_P95_TARGET_MS} ms: {}{}",
            p.label,
            p.times.len(),
            cell(q.p50),
            cell(q.p95),
            cell(q.p99),
            cell(q.max),
            num(p.bytes, 0),
            met(q.p95 < PAGE_P95_TARGET_MS),
            if p.cut_short { " (cut short)" } else { "" }
        );
    }
    match &t.server_histogram {
        Some((name, h)) => {
            let last = h
                .buckets
                .iter()
                .rev()
                .find(|(b, _)| b.is_finite())
                .map_or(0.0, |(b, _)| *b);
            let _ = writeln!(
                s,
                "server's own {name} over those requests: p50 {}, p95 {}, p99 {} ({} requests)",
                bench::bound_text(h.quantile_bound(0.5), last),
                bench::bound_text(h.quantile_bound(0.95), last),
                bench::bound_text(h.quantile_bound(0.99), last),
                num(h.count, 0)
            );
        }
        None => {
            let _ = writeln!(
                s,
                "the server exports no HTTP request-duration histogram on /metrics: the times above are the client's"
            );
        }
    }
    let _ = writeln!(
        s,
        "\n{:<46} {:>6} {:>8} {:>8} {:>8} {:>8} {:>9}  target",
        "live update: change → SSE event (ms)", "n", "p50", "p95", "p99", "max", ""
    );
    let _ = writeln!(s, "{}", "-".repeat(118));
    for l in [&t.ack, &t.trigger] {
        let q = l.pcts();
        let lost = l.times.iter().filter(|x| x.is_infinite()).count();
        let _ = writeln!(
            s,
            "{:<46} {:>6} {:>8} {:>8} {:>8} {:>8} {:>9}  p99 <{LIVE_TARGET_MS} ms: {}{}",
            l.label,
            l.times.len(),
            cell(q.p50),
            cell(q.p95),
            cell(q.p99),
            cell(q.max),
            "",
            met(q.p99 < LIVE_TARGET_MS),
            if lost > 0 {
                format!(" ({lost} never came within {} s)", LIVE_WAIT.as_secs())
            } else {
                String::new()
            }
        );
    }
    if t.resyncs > 0 {
        let _ = writeln!(
            s,
            "WARNING the stream fell behind {} times (resync)",
            t.resyncs
        );
    }
    if t.notifications_sent > 0.0 {
        let _ = writeln!(
            s,
            "WARNING Tocsin counted {:.0} notifications sent (no policy was set)",
            t.notifications_sent
        );
    }
    if let Some(am) = am {
        let _ = writeln!(
            s,
            "\nPeer: Prometheus Alertmanager ({}) listing {} alerts (filled in {:.1} s, {} alerts/s)",
            bench::command_line("prometheus-alertmanager", &["--version"]),
            num(am.active, 0),
            am.seed_seconds,
            num(am.alerts as f64 / am.seed_seconds.max(1e-9), 0)
        );
        let _ = writeln!(
            s,
            "{:<46} {:>6} {:>8} {:>8} {:>8} {:>8} {:>9}  Tocsin / AM (p50, p95)",
            "Alertmanager (ms)", "n", "p50", "p95", "p99", "max", "bytes"
        );
        let _ = writeln!(s, "{}", "-".repeat(118));
        let ratio = |tocsin: Option<&Series>, peer: &Series| match tocsin {
            Some(tl) => {
                let (a, b) = (tl.pcts(), peer.pcts());
                format!(
                    "{} / {} ({})",
                    ratio_text(a.p50 / b.p50),
                    ratio_text(a.p95 / b.p95),
                    tl.label
                )
            }
            None => "-".into(),
        };
        for (peer, mine) in [(&am.full, t.pages.first()), (&am.filtered, t.pages.last())] {
            let q = peer.pcts();
            let _ = writeln!(
                s,
                "{:<46} {:>6} {:>8} {:>8} {:>8} {:>8} {:>9}  {}{}",
                peer.label.trim_start_matches("alertmanager: "),
                peer.times.len(),
                cell(q.p50),
                cell(q.p95),
                cell(q.p99),
                cell(q.max),
                num(peer.bytes, 0),
                ratio(mine, peer),
                if peer.cut_short { " (cut short)" } else { "" }
            );
        }
        if (am.active - am.alerts as f64).abs() > 0.5 {
            let _ = writeln!(
                s,
                "WARNING Alertmanager: {} alerts sent, {:.0} listed",
                num(am.alerts as f64, 0),
                am.active
            );
        }
        let _ = writeln!(
            s,
            "Alertmanager's API has no pages: its list is every alert in one answer, so the first ratio compares a page of 25 incidents with all of its alerts; the second compares an incident's page with one alert found by a label filter."
        );
    }
    s
}

/// A ratio with two significant digits however small ("0.00011"), for the report.
fn ratio_text(r: f64) -> String {
    if !r.is_finite() || r <= 0.0 {
        return "-".into();
    }
    let digits = (1.0 - r.log10().floor()).clamp(2.0, 8.0) as usize;
    format!("{r:.digits$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let p = pcts(&(1..=200).rev().map(f64::from).collect::<Vec<_>>());
        assert_eq!(
            p,
            Pcts {
                p50: 100.0,
                p95: 190.0,
                p99: 198.0,
                max: 200.0
            }
        );
        let mut v: Vec<f64> = (1..=99).map(f64::from).collect();
        v.push(f64::INFINITY);
        assert!(pcts(&v).max.is_infinite());
        assert_eq!(pcts(&v).p99, 99.0);
        assert!(pcts(&[]).p50.is_nan());
    }

    #[test]
    fn small_ratios_keep_two_significant_digits() {
        assert_eq!(ratio_text(0.000_113_6), "0.00011");
        assert_eq!(ratio_text(0.0386), "0.039");
        assert_eq!(ratio_text(0.74), "0.74");
        assert_eq!(ratio_text(3.456), "3.46");
        assert_eq!(ratio_text(f64::NAN), "-");
    }

    #[test]
    fn answers_cookies_and_forms_parse() {
        let raw = b"HTTP/1.1 303 See Other\r\nLocation: /\r\nSet-Cookie: tocsin_session=abc123; Path=/; HttpOnly; SameSite=Lax; Max-Age=2592000\r\nset-cookie: tocsin_login=; Path=/; Max-Age=0\r\ncontent-length: 0\r\n\r\n";
        let r = parse_answer(raw).unwrap();
        assert_eq!(r.status, 303);
        assert_eq!(
            set_cookie(&r.headers, "tocsin_session").as_deref(),
            Some("abc123")
        );
        assert_eq!(set_cookie(&r.headers, "tocsin_login"), None);
        assert_eq!(set_cookie(&r.headers, "other"), None);
        let html = r#"<form method="post" action="/login">
  <input type="hidden" name="csrf" value="f00d">
  <input name="email" type="email" value="a&#38;b@example.com"></form>"#;
        assert_eq!(form_field(html, "csrf").as_deref(), Some("f00d"));
        assert_eq!(
            form_field(html, "email").as_deref(),
            Some("a&b@example.com")
        );
        assert_eq!(form_field(html, "next"), None);
        assert_eq!(
            form_encode(&[("email", "a+b@x.com"), ("password", "p w&=")]),
            "email=a%2Bb%40x.com&password=p+w%26%3D"
        );
        assert!(parse_answer(b"HTTP/1.1 200 OK\r\n").is_none());
    }

    #[test]
    fn the_older_link_is_found_and_unescaped() {
        let html = r#"<nav class="pager" aria-label="Pages">
    <a href="/incidents?status=open">Newest</a>
    <a href="/incidents?status=open&#38;service=s1&#38;before=99975" rel="next">Older incidents</a>
  </nav>"#;
        assert_eq!(
            older_link(html).as_deref(),
            Some("/incidents?status=open&service=s1&before=99975")
        );
        assert_eq!(older_link("<p>No incidents match.</p>"), None);
    }

    #[test]
    fn chunked_bodies_decode_across_reads() {
        let mut c = Chunked::default();
        let mut out = c.feed(b"7\r\n: live").unwrap();
        assert!(out.is_empty());
        out.extend(
            c.feed(b"\n\r\n1b\r\nevent: incident\ndata: i-1\n\n\r\n0\r\n\r\n")
                .unwrap(),
        );
        assert_eq!(out, b": live\nevent: incident\ndata: i-1\n\n");
        assert!(c.done);
        assert!(Chunked::default().feed(b"zz\r\n").is_err());
    }

    #[test]
    fn sse_events_parse_across_reads() {
        let mut p = SseParser::default();
        assert!(p.feed(b": live\nretry: 2000\n\nevent: inci").is_empty());
        assert_eq!(p.comments, 1);
        let e =
            p.feed(b"dent\r\ndata: 0193-abc\r\n\r\nevent: resync\ndata: \n\ndata:x\ndata:y\n\n");
        assert_eq!(
            e,
            vec![
                SseEvent {
                    event: "incident".into(),
                    data: "0193-abc".into()
                },
                SseEvent {
                    event: "resync".into(),
                    data: String::new()
                },
                SseEvent {
                    event: "message".into(),
                    data: "x\ny".into()
                },
            ]
        );
    }

    #[test]
    fn http_histograms_are_found_by_name() {
        let text = "# TYPE tocsin_ingest_batch_size histogram\ntocsin_ingest_batch_size_bucket{le=\"1\"} 3\ntocsin_http_request_duration_seconds_bucket{route=\"/incidents\",le=\"0.05\"} 9\n";
        assert_eq!(
            http_histogram_name(text).as_deref(),
            Some("tocsin_http_request_duration_seconds")
        );
        assert_eq!(http_histogram_name("x_bucket{le=\"1\"} 1\n"), None);
    }

    #[test]
    fn options_parse_with_defaults_and_bounds() {
        let args = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        let o = Options::parse(&[]).unwrap();
        assert_eq!(
            (o.incidents, o.alerts_per_incident, o.peer_alerts),
            (100_000, 10, 100_000)
        );
        let o =
            Options::parse(&args("--incidents 2,000 --alerts-per-incident=3 --no-peer")).unwrap();
        assert_eq!(
            (o.incidents, o.alerts_per_incident, o.peer_alerts),
            (2_000, 3, 0)
        );
        let o = Options::parse(&args("--incidents 1000")).unwrap();
        assert_eq!(o.peer_alerts, 10_000);
        assert!(Options::parse(&args("--incidents 5")).is_err());
        assert!(Options::parse(&args("--bogus")).is_err());
    }

    #[test]
    fn notifications_group_k_alerts_and_spread_services() {
        let setup = Setup {
            service: "a".into(),
            other_service: "b".into(),
            webhook: "ka".into(),
            other_webhook: "kb".into(),
            events: "ke".into(),
        };
        let (path, body) = notification(&setup, 1, 10, "2026-11-26T00:00:00Z");
        assert_eq!(path, "/api/v1/integrations/alertmanager/ka");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["alerts"].as_array().unwrap().len(), 10);
        assert_eq!(v["commonLabels"]["severity"], "warning");
        assert_eq!(v["groupKey"], "{}:{group=\"ui-1\"}");
        assert_eq!(
            notification(&setup, 20, 1, "x").0,
            "/api/v1/integrations/alertmanager/kb"
        );
    }
}
