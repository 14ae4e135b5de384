//! `cargo xtask bench monitors [--monitors N] [--interval S]`: N HTTP monitors (default 10,000)
//! checking every S seconds (default 30) against local targets. Does every check start within
//! 1 s of its schedule, at what RSS and CPU? `cargo xtask bench heartbeats [--pings N]`: how
//! many heartbeat pings a second Tocsin accepts (durably) from wrk, and are they all recorded?
//!
//! - **The targets** are this process: [`Receiver`]s (a thread per connection, 200 at once) on
//!   `TARGET_PORTS` loopback ports; monitor i checks `/m/i` on port i mod `TARGET_PORTS`, and
//!   each arrival is filed under its path, so the targets see each monitor's cadence.
//! - **Tocsin** (`target/release/tocsin`, rebuilt when older than the sources) gets N monitors
//!   through `POST /api/v1/monitors` over a few keep-alive connections (the first check of each
//!   is due at its creation), then runs for 3 intervals (at most 10 minutes) untouched but for
//!   `/metrics`, read at the window's ends, and its `/proc` files, read once a second.
//! - **lateness**: `tocsin_monitor_check_lateness_seconds` (recorded when a check's result is
//!   recorded, so it bounds start lateness from above) over the window, and, from the targets,
//!   each arrival − (the monitor's first `due_at` as the API returned it + k × interval): the
//!   start's lateness plus the connection and the request.
//! - **The peer**: Debian's `prometheus-blackbox-exporter`, probing the same targets (`/b/i`)
//!   at the same rate, with this process standing in for Prometheus' scheduler (monitor i's
//!   probe at i × S / N into each interval). Skipped, and said so, when it cannot be installed.
//!   Uptime Kuma, the issue's reference (about 500 monitors), is not run here.
//! - **heartbeats**: 1,000 heartbeat monitors (period 1 h), then wrk at 64 connections for
//!   N / 10,000 s (the time N pings take at the target rate), cycling through their ping URLs
//!   (`GET /ping/{token}`); then every heartbeat's results are counted against the 2xx answers.
//!
//! Every wait is bounded; every process started here is stopped by its own handle; the
//! temporary folder is removed. docs/benchmarks.md explains the figures and records a run.

use crate::bench::{
    self, Api, Env, Histogram, Kind, Load, Receiver, Server, Shape, Stats, TempDir, WrkResult,
    bound_text, id_of, metric_sum, num, stats,
};
use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// Monitors and their interval by default (the issue's figures), and the bounds of the options.
const MONITORS_DEFAULT: usize = 10_000;
const MONITORS_MAX: usize = 100_000;
const INTERVAL_DEFAULT_SECONDS: u64 = 30;
const INTERVAL_MAX_SECONDS: u64 = 300;
/// The measured window: this many intervals after the last monitor was created, at most
/// `WINDOW_MAX`.
const WINDOW_INTERVALS: u32 = 3;
const WINDOW_MAX: Duration = Duration::from_secs(600);
/// Loopback ports the targets listen on ("a few": connections spread over them).
const TARGET_PORTS: usize = 8;
/// Keep-alive connections that create monitors through the API.
const CREATE_CONNECTIONS: usize = 8;
/// The check's timeout (never above the interval).
const CHECK_TIMEOUT_SECONDS: u64 = 10;
/// The targets (issue 6): start lateness, RSS, CPU.
const LATENESS_TARGET_S: f64 = 1.0;
const RSS_TARGET_MB: f64 = 300.0;
const CPU_TARGET_CORES: f64 = 1.0;
/// Tocsin's histogram of check lateness (recording time − due time), seconds.
const LATENESS_METRIC: &str = "tocsin_monitor_check_lateness_seconds";
/// Threads that send the peer's probes (each with a keep-alive connection to it).
const PROBE_THREADS: usize = 64;
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Heartbeats: how many, their period, the load, and the target rate.
const HEARTBEATS: usize = 1_000;
const HEARTBEAT_PERIOD_SECONDS: u64 = 3_600;
const PINGS_DEFAULT: u64 = 100_000;
const PING_CONNECTIONS: u32 = 64;
const PINGS_TARGET_PER_SECOND: f64 = 10_000.0;
/// wrk's run is N / the target rate, within these bounds.
const PING_SECONDS_MIN: u64 = 2;
const PING_SECONDS_MAX: u64 = 60;
/// Results read per heartbeat at most (the API's page limit).
const RESULTS_PAGE_MAX: usize = 1_000;

/// wrk script of the heartbeat load: ingest.lua's accounting (statuses, `BENCH_JSON`), with
/// `GET /ping/{token}` requests cycling through tokens.txt.
const PINGS_LUA: &str = r#"-- pings.lua, written by `cargo xtask bench heartbeats`: ingest.lua's accounting (response(),
-- done() and its BENCH_JSON line), with GET /ping/TOKEN requests cycling through the tokens in
-- tokens.txt (one a line), each thread starting at its own place.
dofile("ingest.lua")
local ingest_init = init
function init(args)
   ingest_init(args)
   paths = {}
   for line in io.lines("tokens.txt") do
      paths[#paths + 1] = "/ping/" .. line
   end
   at = ((tid - 1) * 7919) % #paths
end
function request()
   at = at % #paths + 1
   return wrk.format("GET", paths[at])
end
"#;

// ---- options ----

struct MonitorOptions {
    monitors: usize,
    interval: u64,
}

impl MonitorOptions {
    fn parse(args: &[String]) -> anyhow::Result<Self> {
        const USAGE: &str = "usage: bench monitors [--monitors N] [--interval S]";
        let mut o = MonitorOptions {
            monitors: MONITORS_DEFAULT,
            interval: INTERVAL_DEFAULT_SECONDS,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--monitors" => o.monitors = number(it.next(), "--monitors")? as usize,
                "--interval" => o.interval = number(it.next(), "--interval")?,
                other => bail!("unknown option {other:?}; {USAGE}"),
            }
        }
        ensure!(
            (10..=MONITORS_MAX).contains(&o.monitors),
            "--monitors must be between 10 and {}",
            num(MONITORS_MAX as f64, 0)
        );
        ensure!(
            (2..=INTERVAL_MAX_SECONDS).contains(&o.interval),
            "--interval must be between 2 and {INTERVAL_MAX_SECONDS} seconds"
        );
        Ok(o)
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(self.interval)
    }

    fn window(&self) -> Duration {
        (self.interval() * WINDOW_INTERVALS).min(WINDOW_MAX)
    }
}

fn number(v: Option<&String>, name: &str) -> anyhow::Result<u64> {
    v.with_context(|| format!("{name} needs a number"))?
        .replace(['_', ','], "")
        .parse()
        .with_context(|| format!("{name} must be a whole number"))
}

// ---- shared ----

/// Files every request under its path.
fn by_path(path: &str, _: &[u8]) -> Option<Vec<String>> {
    Some(vec![path.to_owned()])
}

fn metrics_text(addr: SocketAddr) -> anyhow::Result<String> {
    let r = bench::request(addr, "GET", "/metrics", &[], b"")?;
    ensure!(r.status == 200, "/metrics answered {}", r.status);
    Ok(String::from_utf8_lossy(&r.body).into_owned())
}

/// A `/proc/PID/status` figure in MB (VmRSS, VmHWM).
fn proc_mb(pid: u32, field: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))?;
    Ok(kib / 1024.0)
}

/// Creates `count` monitors over [`CREATE_CONNECTIONS`] keep-alive connections; for each, in
/// order: the moment its request was about to be written, and the answer.
fn create_monitors(
    addr: SocketAddr,
    token: &str,
    count: usize,
    body: &(dyn Fn(usize) -> Value + Sync),
) -> anyhow::Result<Vec<(Instant, Value)>> {
    let out: Mutex<Vec<Option<(Instant, Value)>>> = Mutex::new(vec![None; count]);
    // The first on its own: a server without monitors fails here, with a clear message.
    {
        let mut api = Api::new(addr, token)?;
        let sent = Instant::now();
        let v = api.post("/api/v1/monitors", &body(0)).context(
            "creating the first monitor (is this a tocsin with monitors? rebuild with cargo build --release -p tocsin)",
        )?;
        out.lock().map_err(|_| anyhow::anyhow!("poisoned"))?[0] = Some((sent, v));
    }
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..CREATE_CONNECTIONS)
            .map(|t| {
                let out = &out;
                s.spawn(move || -> anyhow::Result<()> {
                    let mut api = Api::new(addr, token)?;
                    for i in (1 + t..count).step_by(CREATE_CONNECTIONS) {
                        let sent = Instant::now();
                        let v = api.post("/api/v1/monitors", &body(i))?;
                        out.lock().map_err(|_| anyhow::anyhow!("poisoned"))?[i] = Some((sent, v));
                    }
                    Ok(())
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .map_err(|_| anyhow::anyhow!("a creating thread panicked"))?
        })
    })?;
    out.into_inner()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .into_iter()
        .enumerate()
        .map(|(i, v)| v.with_context(|| format!("monitor {i} was not created")))
        .collect()
}

/// What the targets saw in the window for one prefix (`/m/` or `/b/`).
#[derive(Clone, Debug, Default)]
struct Arrivals {
    checks: usize,
    /// Monitors with no check in the window.
    silent: usize,
    /// Each arrival − (its monitor's schedule base + k × interval), ms.
    lateness: Stats,
    /// |consecutive arrivals − interval|, ms, over every pair inside the window.
    gap_error: Stats,
}

/// `base[i]`: the moment monitor i's schedule starts (an arrival k intervals later is on time).
fn arrivals(
    targets: &[Receiver],
    prefix: &str,
    base: &[Instant],
    interval: Duration,
    from: Instant,
    to: Instant,
) -> Arrivals {
    let s = interval.as_secs_f64();
    let (mut lateness, mut gaps, mut checks, mut heard) = (Vec::new(), Vec::new(), 0, 0);
    for rx in targets {
        for (key, times) in rx.arrivals_by_key(prefix) {
            let Some(i) = key[prefix.len()..]
                .parse::<usize>()
                .ok()
                .filter(|i| *i < base.len())
            else {
                continue;
            };
            let inside: Vec<Instant> = times
                .into_iter()
                .filter(|t| *t >= from && *t < to)
                .collect();
            if !inside.is_empty() {
                heard += 1;
            }
            checks += inside.len();
            for t in &inside {
                let since = t.saturating_duration_since(base[i]).as_secs_f64();
                let k = (since / s).round();
                lateness.push((since - k * s) * 1000.0);
            }
            for w in inside.windows(2) {
                gaps.push((w[1].duration_since(w[0]).as_secs_f64() - s).abs() * 1000.0);
            }
        }
    }
    Arrivals {
        checks,
        silent: base.len().saturating_sub(heard),
        lateness: stats(lateness),
        gap_error: stats(gaps),
    }
}

/// What a server did over the window.
#[derive(Clone, Debug, Default)]
struct Usage {
    seconds: f64,
    cpu_seconds: f64,
    /// The largest VmRSS sampled once a second, and VmHWM (the peak since start) at the end.
    rss_peak_mb: f64,
    hwm_mb: f64,
    /// This process (targets, and the peer's driver) over the same window.
    own_cpu_seconds: f64,
}

impl Usage {
    fn cores(&self) -> f64 {
        self.cpu_seconds / self.seconds.max(1e-9)
    }
}

/// Samples `pid`'s RSS once a second until `until`, and its CPU and this process's over it.
fn watch(pid: u32, until: Instant) -> anyhow::Result<Usage> {
    let me = std::process::id();
    let (t0, cpu0, own0) = (
        Instant::now(),
        bench::cpu_seconds_of(pid)?,
        bench::cpu_seconds_of(me)?,
    );
    let mut peak: f64 = 0.0;
    while Instant::now() < until {
        peak = peak.max(proc_mb(pid, "VmRSS")?);
        std::thread::sleep(
            until
                .saturating_duration_since(Instant::now())
                .min(Duration::from_secs(1)),
        );
    }
    let (cpu1, own1) = (bench::cpu_seconds_of(pid)?, bench::cpu_seconds_of(me)?);
    peak = peak.max(proc_mb(pid, "VmRSS")?);
    Ok(Usage {
        seconds: t0.elapsed().as_secs_f64(),
        cpu_seconds: cpu1 - cpu0,
        rss_peak_mb: peak,
        hwm_mb: proc_mb(pid, "VmHWM")?,
        own_cpu_seconds: own1 - own0,
    })
}

// ---- bench monitors ----

pub fn run_monitors(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let opts = MonitorOptions::parse(args)?;
    let tocsin_bin = bench::release_binary_if_stale(root)?;
    let work = TempDir::new()?;
    let targets = (0..TARGET_PORTS)
        .map(|_| Receiver::start(by_path))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let env = Env {
        tocsin_bin,
        scripts: work.path.join("scripts"),
        work,
        starts_at: bench::rfc3339(SystemTime::now()),
        duration: 0,
    };
    eprintln!(
        "bench: {} core(s); {} HTTP monitors every {} s against {TARGET_PORTS} local ports; window {} s; work folder {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        num(opts.monitors as f64, 0),
        opts.interval,
        opts.window().as_secs(),
        env.work.path.display()
    );
    let tocsin = tocsin_monitors(&env, &targets, &opts)?;
    let peer = blackbox(&env, &targets, &opts).map_err(|e| {
        eprintln!("bench: blackbox_exporter: not measured: {e:#}");
        format!("{e:#}")
    });
    print!("{}", monitors_report(&env, &opts, &tocsin, &peer));
    Ok(())
}

#[derive(Clone, Debug, Default)]
struct MonitorFigures {
    create_seconds: f64,
    /// The histogram over the window.
    histogram: Option<Histogram>,
    arrivals: Arrivals,
    usage: Usage,
    /// At the end: monitors whose status is `up`, and the results sampled (ok, all).
    up: usize,
    sampled_ok: usize,
    sampled: usize,
}

fn tocsin_monitors(
    env: &Env,
    targets: &[Receiver],
    opts: &MonitorOptions,
) -> anyhow::Result<MonitorFigures> {
    eprintln!("bench: ---- tocsin ----");
    let n = opts.monitors;
    let server = Server::start(env, Kind::Tocsin, "monitors")?;
    let token = bench::admin_token(env, &bench::tocsin_data(env, "monitors"))?;
    let mut api = Api::new(server.addr, &token)?;
    let service = id_of(&api.post("/api/v1/services", &json!({"name": "monitored"}))?)?;
    let t0 = Instant::now();
    let created = create_monitors(server.addr, &token, n, &|i| {
        json!({"type": "http", "name": format!("target {i}"), "service_id": service,
               "target": targets[i % TARGET_PORTS].url(&format!("/m/{i}")),
               "interval_seconds": opts.interval,
               "timeout_seconds": CHECK_TIMEOUT_SECONDS.min(opts.interval)})
    })?;
    let create_seconds = t0.elapsed().as_secs_f64();
    eprintln!(
        "bench: tocsin: {} monitors created in {create_seconds:.1} s ({:.0}/s)",
        num(n as f64, 0),
        n as f64 / create_seconds.max(1e-9)
    );

    // The window: nothing asked of the server but /metrics at its ends.
    let from = Instant::now();
    let before = Histogram::parse(&metrics_text(server.addr)?, LATENESS_METRIC);
    let usage = watch(server.pid(), from + opts.window())?;
    let to = Instant::now();
    let after = Histogram::parse(&metrics_text(server.addr)?, LATENESS_METRIC);
    let histogram = match (after, before) {
        (Some(a), Some(b)) => Some(a.since(&b)),
        (a, _) => a,
    };
    // Each schedule starts at the monitor's first due time, as the server stored it (its
    // clock is this machine's); the moment its creation request was sent when it is missing.
    let (anchor, anchor_ms) = (Instant::now(), bench::now_unix_ms());
    let base: Vec<Instant> = created
        .iter()
        .map(|(sent, v)| {
            v["due_at"]
                .as_str()
                .and_then(bench::unix_ms)
                .and_then(|due_ms| {
                    let back = Duration::from_secs_f64(((anchor_ms - due_ms) / 1000.0).max(0.0));
                    anchor.checked_sub(back)
                })
                .unwrap_or(*sent)
        })
        .collect();
    let arrivals = arrivals(targets, "/m/", &base, opts.interval(), from, to);

    // The monitors' own view: statuses, and a sample of results.
    let list = api.get(&format!("/api/v1/monitors?service_id={service}"))?;
    let up = list["monitors"]
        .as_array()
        .map_or(0, |m| m.iter().filter(|m| m["status"] == "up").count());
    let (mut sampled, mut sampled_ok) = (0, 0);
    for (_, v) in created.iter().step_by((n / 50).max(1)) {
        let r = api.get(&format!("/api/v1/monitors/{}/results?limit=10", id_of(v)?))?;
        for r in r["results"].as_array().into_iter().flatten() {
            sampled += 1;
            sampled_ok += usize::from(r["ok"] == true);
        }
    }
    let f = MonitorFigures {
        create_seconds,
        histogram,
        arrivals,
        usage,
        up,
        sampled_ok,
        sampled,
    };
    eprintln!(
        "bench: tocsin: {} checks arrived in {:.1} s; arrival lateness p99 {:.1} ms; {:.2} cores; RSS peak {:.1} MB",
        f.arrivals.checks,
        f.usage.seconds,
        f.arrivals.lateness.p99,
        f.usage.cores(),
        f.usage.rss_peak_mb
    );
    Ok(f)
}

// ---- the peer: blackbox_exporter, driven as Prometheus would ----

#[derive(Clone, Debug, Default)]
struct PeerFigures {
    version: String,
    probes: usize,
    failed: usize,
    /// Probe request → answer at the driver, ms; and the driver's own lateness sending it.
    probe_ms: Stats,
    driver_late_ms: Stats,
    arrivals: Arrivals,
    usage: Usage,
}

/// The exporter's process, stopped (kill + wait, by its own handle) when dropped.
struct Exporter(Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const BLACKBOX_YML: &str =
    "# Written by `cargo xtask bench monitors`: one HTTP module, 2xx expected.
modules:
  http_2xx:
    prober: http
    timeout: 10s
    http:
      preferred_ip_protocol: ip4
";

/// The peer's figures, or why it was not measured.
type Peer = Result<PeerFigures, String>;

fn blackbox(env: &Env, targets: &[Receiver], opts: &MonitorOptions) -> anyhow::Result<PeerFigures> {
    eprintln!("bench: ---- blackbox_exporter ----");
    crate::ensure_packages(&[(
        "command -v prometheus-blackbox-exporter",
        "prometheus-blackbox-exporter",
    )])?;
    let n = opts.monitors;
    let config = env.work.path.join("blackbox.yml");
    std::fs::write(&config, BLACKBOX_YML)?;
    let addr = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let log = env.work.path.join("blackbox.log");
    let out = std::fs::File::create(&log)?;
    let mut exporter = Exporter(
        Command::new("prometheus-blackbox-exporter")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("starting prometheus-blackbox-exporter")?,
    );
    let deadline = Instant::now() + READY_TIMEOUT;
    while !bench::request(addr, "GET", "/-/healthy", &[], b"").is_ok_and(|r| r.status == 200) {
        if let Some(status) = exporter.0.try_wait()? {
            bail!(
                "blackbox_exporter exited with {status}: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        ensure!(
            Instant::now() < deadline,
            "blackbox_exporter not ready after {READY_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = exporter.0.id();
    eprintln!("bench: blackbox_exporter is up on {addr}, pid {pid}");

    // Monitor i is probed at start + i × S / N + k × S: one interval to warm up, then the
    // window. Each thread has its own connection and monitors i ≡ t (mod PROBE_THREADS).
    let interval = opts.interval();
    let start = Instant::now() + Duration::from_secs(1);
    let from = start + interval;
    let to = from + opts.window();
    let base: Vec<Instant> = (0..n)
        .map(|i| start + interval.mul_f64(i as f64 / n as f64))
        .collect();
    type Probe = (f64, f64, bool);
    let results: Mutex<Vec<Probe>> = Mutex::default();
    let usage = std::thread::scope(|s| -> anyhow::Result<Usage> {
        let workers: Vec<_> = (0..PROBE_THREADS)
            .map(|t| {
                let (base, results) = (&base, &results);
                s.spawn(move || -> anyhow::Result<()> {
                    if t >= n {
                        return Ok(());
                    }
                    let mut conn = bench::Http::connect(addr)?;
                    let mut mine = Vec::new();
                    for k in 0u32.. {
                        for i in (t..n).step_by(PROBE_THREADS) {
                            let due = base[i] + interval * k;
                            if due >= to {
                                results
                                    .lock()
                                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                                    .extend(mine);
                                return Ok(());
                            }
                            if let Some(d) = due.checked_duration_since(Instant::now()) {
                                std::thread::sleep(d);
                            }
                            let sent = Instant::now();
                            let target = targets[i % TARGET_PORTS].url(&format!("/b/{i}"));
                            let r = conn.send(
                                "GET",
                                &format!("/probe?module=http_2xx&target={target}"),
                                &[],
                                b"",
                            )?;
                            if due >= from {
                                let ok = r.status == 200
                                    && String::from_utf8_lossy(&r.body)
                                        .lines()
                                        .any(|l| l == "probe_success 1");
                                mine.push((
                                    bench::ms(sent.duration_since(due)),
                                    bench::ms(sent.elapsed()),
                                    ok,
                                ));
                            }
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        std::thread::sleep(from.saturating_duration_since(Instant::now()));
        let usage = watch(pid, to);
        for w in workers {
            w.join()
                .map_err(|_| anyhow::anyhow!("a probing thread panicked"))??;
        }
        usage
    })?;
    let results = results
        .into_inner()
        .map_err(|_| anyhow::anyhow!("poisoned"))?;
    let f = PeerFigures {
        version: bench::command_line("prometheus-blackbox-exporter", &["--version"]),
        probes: results.len(),
        failed: results.iter().filter(|r| !r.2).count(),
        driver_late_ms: stats(results.iter().map(|r| r.0).collect()),
        probe_ms: stats(results.iter().map(|r| r.1).collect()),
        arrivals: arrivals(targets, "/b/", &base, interval, from, to),
        usage,
    };
    eprintln!(
        "bench: blackbox_exporter: {} probes ({} failed) in {:.1} s; {:.2} cores; RSS peak {:.1} MB",
        f.probes,
        f.failed,
        f.usage.seconds,
        f.usage.cores(),
        f.usage.rss_peak_mb
    );
    Ok(f)
}

// ---- the report ----

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

fn monitors_report(env: &Env, opts: &MonitorOptions, t: &MonitorFigures, peer: &Peer) -> String {
    let n = opts.monitors as f64;
    let p = peer.as_ref().ok();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n{} HTTP monitors every {} s against local targets ({TARGET_PORTS} ports, served by this process), Tocsin vs blackbox_exporter driven at the same rate, on the same {}-core machine",
        num(n, 0),
        opts.interval,
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    let _ = writeln!(
        s,
        "run started {}; tocsin {} (binary built {}); {}",
        env.starts_at,
        bench::command_line("git", &["describe", "--always", "--dirty"]),
        bench::built_at(&env.tocsin_bin),
        p.map_or("blackbox_exporter: not measured", |p| p.version.as_str())
    );
    let _ = writeln!(
        s,
        "{:<58} {:>14} {:>14}  {:<22}",
        "figure", "Tocsin", "blackbox_exp.", "target (Tocsin)"
    );
    let _ = writeln!(s, "{}", "-".repeat(112));
    let mut row = |name: &str, tv: String, pv: String, target: String| {
        let _ = writeln!(s, "{name:<58} {tv:>14} {pv:>14}  {target:<22}");
    };
    let dash = || "-".to_owned();
    let pn = |f: &dyn Fn(&PeerFigures) -> f64, d: usize| p.map_or_else(dash, |p| num(f(p), d));
    row(
        "monitors created through the API, per s",
        num(n / t.create_seconds.max(1e-9), 0),
        dash(),
        String::new(),
    );
    row(
        "measured window, s",
        num(t.usage.seconds, 1),
        pn(&|p| p.usage.seconds, 1),
        String::new(),
    );
    let expected = n * t.usage.seconds / opts.interval as f64;
    row(
        &format!(
            "checks at the targets in the window (~{} due)",
            num(expected, 0)
        ),
        num(t.arrivals.checks as f64, 0),
        pn(&|p| p.arrivals.checks as f64, 0),
        String::new(),
    );
    row(
        "checks/s",
        num(t.arrivals.checks as f64 / t.usage.seconds.max(1e-9), 0),
        pn(&|p| p.arrivals.checks as f64 / p.usage.seconds.max(1e-9), 0),
        String::new(),
    );
    row(
        "monitors with no check in the window",
        num(t.arrivals.silent as f64, 0),
        pn(&|p| p.arrivals.silent as f64, 0),
        format!("0: {}", met(t.arrivals.silent == 0)),
    );
    if let Some(h) = &t.histogram {
        let last = h
            .buckets
            .iter()
            .rev()
            .find(|(b, _)| b.is_finite())
            .map_or(0.0, |(b, _)| *b);
        let p99 = h.quantile_bound(0.99);
        row(
            "check lateness (histogram, checks counted)",
            num(h.count, 0),
            dash(),
            String::new(),
        );
        row(
            "  p50",
            bound_text(h.quantile_bound(0.5), last),
            dash(),
            String::new(),
        );
        row(
            "  p99",
            bound_text(p99, last),
            dash(),
            format!("≤1 s: {}", met(p99 <= LATENESS_TARGET_S)),
        );
        let max = h.quantile_bound(1.0);
        row(
            "  max",
            bound_text(max, last),
            dash(),
            format!("≤1 s: {}", met(max <= LATENESS_TARGET_S)),
        );
        row(
            "  mean ms",
            num(1000.0 * h.sum / h.count.max(1.0), 1),
            dash(),
            String::new(),
        );
    } else {
        row(
            &format!("check lateness: no {LATENESS_METRIC}"),
            dash(),
            dash(),
            String::new(),
        );
    }
    let lat = &t.arrivals.lateness;
    row(
        "arrival at the target − schedule, p50 ms",
        num(lat.p50, 1),
        pn(&|p| p.arrivals.lateness.p50, 1),
        String::new(),
    );
    row(
        "  p99 ms",
        num(lat.p99, 1),
        pn(&|p| p.arrivals.lateness.p99, 1),
        format!("≤1,000 ms: {}", met(lat.p99 <= 1000.0 * LATENESS_TARGET_S)),
    );
    row(
        "  max ms",
        num(lat.max, 1),
        pn(&|p| p.arrivals.lateness.max, 1),
        format!("≤1,000 ms: {}", met(lat.max <= 1000.0 * LATENESS_TARGET_S)),
    );
    let gap = &t.arrivals.gap_error;
    row(
        &format!("|arrival − previous − {} s|, p50 ms", opts.interval),
        num(gap.p50, 1),
        pn(&|p| p.arrivals.gap_error.p50, 1),
        String::new(),
    );
    row(
        "  p99 ms",
        num(gap.p99, 1),
        pn(&|p| p.arrivals.gap_error.p99, 1),
        String::new(),
    );
    row(
        "  max ms (pairs)",
        format!("{} ({})", num(gap.max, 1), num(gap.count as f64, 0)),
        p.map_or_else(dash, |p| {
            format!(
                "{} ({})",
                num(p.arrivals.gap_error.max, 1),
                num(p.arrivals.gap_error.count as f64, 0)
            )
        }),
        String::new(),
    );
    row(
        "failed checks (Tocsin: sampled results; peer: probes)",
        format!("{} of {}", t.sampled - t.sampled_ok, t.sampled),
        p.map_or_else(dash, |p| format!("{} of {}", p.failed, p.probes)),
        String::new(),
    );
    row(
        "monitors up at the end",
        num(t.up as f64, 0),
        dash(),
        format!("{}: {}", num(n, 0), met(t.up == opts.monitors)),
    );
    row(
        "peer: probe request → answer p50 / p99 ms",
        dash(),
        p.map_or_else(dash, |p| {
            format!("{} / {}", num(p.probe_ms.p50, 1), num(p.probe_ms.p99, 1))
        }),
        String::new(),
    );
    row(
        "peer: the driver's own lateness p99 ms",
        dash(),
        pn(&|p| p.driver_late_ms.p99, 1),
        String::new(),
    );
    row(
        "RSS MB, peak in the window (VmRSS once a second)",
        num(t.usage.rss_peak_mb, 1),
        pn(&|p| p.usage.rss_peak_mb, 1),
        String::new(),
    );
    row(
        "RSS MB, peak since start (VmHWM)",
        num(t.usage.hwm_mb, 1),
        pn(&|p| p.usage.hwm_mb, 1),
        format!(
            "<300 MB: {}",
            met(t.usage.hwm_mb < RSS_TARGET_MB && t.usage.rss_peak_mb < RSS_TARGET_MB)
        ),
    );
    row(
        "server CPU, cores (user + system over the window)",
        num(t.usage.cores(), 3),
        pn(&|p| p.usage.cores(), 3),
        format!("<1 core: {}", met(t.usage.cores() < CPU_TARGET_CORES)),
    );
    let per_check = |u: &Usage, a: &Arrivals| 1000.0 * u.cpu_seconds / (a.checks.max(1) as f64);
    row(
        "server CPU ms per check",
        num(per_check(&t.usage, &t.arrivals), 3),
        pn(&|p| per_check(&p.usage, &p.arrivals), 3),
        String::new(),
    );
    row(
        "this process (targets; peer: + driver) CPU, cores",
        num(t.usage.own_cpu_seconds / t.usage.seconds.max(1e-9), 3),
        pn(&|p| p.usage.own_cpu_seconds / p.usage.seconds.max(1e-9), 3),
        String::new(),
    );
    let _ = writeln!(
        s,
        "\nThe window starts when the last monitor is created and lasts {WINDOW_INTERVALS} intervals (at most {} s). Tocsin's histogram is recorded when a check's result is recorded (recording time − due time), so it bounds start lateness from above; bucket bounds only. Arrival − schedule: each check's arrival at its target − (its monitor's first due time as the API returned it + k intervals): start lateness plus the connection and request (blackbox_exporter: its schedule is this process's). For blackbox_exporter, this process stands in for Prometheus, sending monitor i's probe at i × S / N into each interval over {PROBE_THREADS} keep-alive connections; its figures are what the exporter costs, not a scheduler of its own.",
        WINDOW_MAX.as_secs()
    );
    if let Err(why) = peer {
        let _ = writeln!(s, "blackbox_exporter: peer not measured ({why}).");
    }
    let _ = writeln!(
        s,
        "Reference (the issue's, not measured here): Uptime Kuma degrades at about 500 monitors; {} is {}× that (the issue's aim is two orders of magnitude, 50,000).",
        num(n, 0),
        num(n / 500.0, 0)
    );
    s
}

// ---- bench heartbeats ----

pub fn run_heartbeats(root: &Path, args: &[String]) -> anyhow::Result<()> {
    const USAGE: &str = "usage: bench heartbeats [--pings N]";
    let mut pings = PINGS_DEFAULT;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--pings" => pings = number(it.next(), "--pings")?,
            other => bail!("unknown option {other:?}; {USAGE}"),
        }
    }
    ensure!(
        (1_000..=10_000_000).contains(&pings),
        "--pings must be between 1,000 and 10,000,000"
    );
    let seconds = ((pings as f64 / PINGS_TARGET_PER_SECOND).ceil() as u64)
        .clamp(PING_SECONDS_MIN, PING_SECONDS_MAX);
    crate::ensure_packages(&[("command -v wrk", "wrk")])?;
    let tocsin_bin = bench::release_binary_if_stale(root)?;
    let work = TempDir::new()?;
    let scripts = work.path.join("scripts");
    std::fs::create_dir_all(&scripts)?;
    std::fs::copy(
        root.join("xtask/bench/ingest.lua"),
        scripts.join("ingest.lua"),
    )
    .context("copying xtask/bench/ingest.lua")?;
    std::fs::write(scripts.join("pings.lua"), PINGS_LUA)?;
    let env = Env {
        tocsin_bin,
        scripts,
        work,
        starts_at: bench::rfc3339(SystemTime::now()),
        duration: seconds,
    };
    eprintln!(
        "bench: {} core(s); {HEARTBEATS} heartbeats; wrk at {PING_CONNECTIONS} connections for {seconds} s; work folder {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        env.work.path.display()
    );
    let server = Server::start(&env, Kind::Tocsin, "heartbeats")?;
    let token = bench::admin_token(&env, &bench::tocsin_data(&env, "heartbeats"))?;
    let mut api = Api::new(server.addr, &token)?;
    let service = id_of(&api.post("/api/v1/services", &json!({"name": "jobs"}))?)?;
    let created = create_monitors(server.addr, &token, HEARTBEATS, &|i| {
        json!({"type": "heartbeat", "name": format!("job {i}"), "service_id": service,
               "period_seconds": HEARTBEAT_PERIOD_SECONDS,
               "grace_seconds": HEARTBEAT_PERIOD_SECONDS})
    })?;
    let mut tokens = String::new();
    for (_, v) in &created {
        let url = v["ping_url"]
            .as_str()
            .context("a heartbeat without ping_url")?;
        let token = url.rsplit_once("/ping/").context("odd ping_url")?.1;
        let _ = writeln!(tokens, "{token}");
    }
    std::fs::write(env.scripts.join("tokens.txt"), tokens)?;

    let text0 = metrics_text(server.addr)?;
    let cpu0 = server.cpu_seconds()?;
    let wrk = bench::run_wrk_script(
        &env,
        &server,
        &Load {
            shape: Shape::Single,
            connections: PING_CONNECTIONS,
            seconds,
            rate: None,
            key: None,
            prefix: "pings",
        },
        "pings.lua",
    )?;
    let cpu = (server.cpu_seconds()? - cpu0) / wrk.seconds.max(1e-9);
    std::thread::sleep(Duration::from_millis(1500));
    let text1 = metrics_text(server.addr)?;
    let delta = |name: &str| metric_sum(&text1, name, None) - metric_sum(&text0, name, None);
    let commits = delta("tocsin_ingest_commits_total");
    let rss = proc_mb(server.pid(), "VmRSS")?;
    let hwm = proc_mb(server.pid(), "VmHWM")?;
    eprintln!(
        "bench: tocsin: {:.0} pings/s accepted, p50 {:.2} ms, p99 {:.2} ms; answers {}",
        wrk.ok_per_second(),
        wrk.p50_ms,
        wrk.p99_ms,
        wrk.statuses_text()
    );

    // Every heartbeat's results, against the 2xx answers; and their statuses.
    let (mut stored, mut capped, mut fewest, mut most) = (0usize, 0usize, usize::MAX, 0usize);
    for (_, v) in &created {
        let r = api.get(&format!(
            "/api/v1/monitors/{}/results?limit={RESULTS_PAGE_MAX}",
            id_of(v)?
        ))?;
        let c = r["results"].as_array().map_or(0, Vec::len);
        stored += c;
        capped += usize::from(c == RESULTS_PAGE_MAX);
        fewest = fewest.min(c);
        most = most.max(c);
    }
    let list = api.get(&format!("/api/v1/monitors?service_id={service}"))?;
    let up = list["monitors"]
        .as_array()
        .map_or(0, |m| m.iter().filter(|m| m["status"] == "up").count());
    print!(
        "{}",
        heartbeats_report(
            &env,
            &wrk,
            &HeartbeatFigures {
                cpu,
                commits,
                rss,
                hwm,
                stored,
                capped,
                fewest,
                most,
                up,
            }
        )
    );
    Ok(())
}

struct HeartbeatFigures {
    cpu: f64,
    commits: f64,
    rss: f64,
    hwm: f64,
    /// Results over every heartbeat; heartbeats whose page was full; fewest and most each.
    stored: usize,
    capped: usize,
    fewest: usize,
    most: usize,
    up: usize,
}

fn heartbeats_report(env: &Env, wrk: &WrkResult, f: &HeartbeatFigures) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nHeartbeat pings, GET /ping/{{token}} cycling over {HEARTBEATS} heartbeats, wrk -t2 -c{PING_CONNECTIONS} for {} s on the same {}-core machine",
        env.duration,
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    let _ = writeln!(
        s,
        "run started {}; tocsin {} (binary built {})",
        env.starts_at,
        bench::command_line("git", &["describe", "--always", "--dirty"]),
        bench::built_at(&env.tocsin_bin),
    );
    let _ = writeln!(s, "{:<52} {:>16}  {:<26}", "figure", "Tocsin", "target");
    let _ = writeln!(s, "{}", "-".repeat(98));
    let mut row = |name: &str, v: String, target: String| {
        let _ = writeln!(s, "{name:<52} {v:>16}  {target:<26}");
    };
    let rate = wrk.ok_per_second();
    row(
        "pings accepted/s (2xx)",
        num(rate, 0),
        format!("≥10,000/s: {}", met(rate >= PINGS_TARGET_PER_SECOND)),
    );
    row(
        "pings answered (2xx)",
        num(wrk.ok() as f64, 0),
        String::new(),
    );
    row(
        "other answers and socket errors",
        num((wrk.requests - wrk.ok() + wrk.socket_errors) as f64, 0),
        String::new(),
    );
    row("  answers by status", wrk.statuses_text(), String::new());
    row("request p50 ms", num(wrk.p50_ms, 2), String::new());
    row("request p99 ms", num(wrk.p99_ms, 2), String::new());
    row("request max ms", num(wrk.max_ms, 2), String::new());
    row(
        "commits/s (tocsin_ingest_commits_total); pings/commit",
        format!(
            "{}; {}",
            num(f.commits / wrk.seconds.max(1e-9), 0),
            num(wrk.ok() as f64 / f.commits.max(1.0), 1)
        ),
        String::new(),
    );
    row("server CPU, cores", num(f.cpu, 2), String::new());
    row(
        "RSS MB after; peak (VmHWM)",
        format!("{}; {}", num(f.rss, 1), num(f.hwm, 1)),
        String::new(),
    );
    let all = f.capped == 0;
    row(
        "pings stored (results over every heartbeat)",
        num(f.stored as f64, 0),
        if all {
            // Requests in flight when wrk stopped are stored but not counted: at most one a
            // connection.
            let extra = (f.stored as u64).checked_sub(wrk.ok());
            format!(
                "2xx + 0..{PING_CONNECTIONS} in flight: {}",
                met(extra.is_some_and(|e| e <= u64::from(PING_CONNECTIONS)))
            )
        } else {
            format!(
                "{} heartbeats over {RESULTS_PAGE_MAX}: not comparable",
                f.capped
            )
        },
    );
    row(
        "  per heartbeat, fewest / most",
        format!("{} / {}", num(f.fewest as f64, 0), num(f.most as f64, 0)),
        String::new(),
    );
    row(
        "heartbeats up at the end",
        num(f.up as f64, 0),
        format!("{HEARTBEATS}: {}", met(f.up == HEARTBEATS)),
    );
    let _ = writeln!(
        s,
        "\nEach 2xx means the ping is committed (it is written with the ingest batch). Reference (the issue's, not measured here): Healthchecks' open-source ping handler does about 250 pings/s."
    );
    s
}
