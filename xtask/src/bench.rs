//! `cargo xtask bench ingest [--duration SECS]`: Tocsin's ingestion measured beside Prometheus
//! Alertmanager (Debian's `prometheus-alertmanager`, `group_wait: 0s`) on this machine, with
//! Debian's `wrk` as the load generator, everything on 127.0.0.1.
//!
//! For each of the two servers it runs, on a fresh process and fresh storage each time:
//! - memory: idle RSS right after start, then batches of 64 new alerts until 100,032 are open,
//!   then RSS again (reported per open alert);
//! - load: (c) a steady ~1,000 events/s (accept latency p99), (a) single events per request
//!   (16 and 64 connections),
//!   (b) batches of 64 alerts per request; and for Tocsin only (e) an overload at twice its
//!   sustainable batch rate (answers must be 2xx/429/503, with Retry-After, memory bounded,
//!   nothing acknowledged lost) and a rate-limited key (429 + Retry-After).
//!
//! Tocsin's `/metrics` gives events accepted and commits per phase, so events per commit (the
//! group commit at work) shows beside events/s. Every wait and loop is bounded in time; every
//! process started here is stopped by its own handle; temporary folders are removed.
//! docs/benchmarks.md explains each figure and records a run.

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Alerts in one batch request (the figure).
const BATCH: usize = 64;
/// Open alerts for the memory figure: the smallest whole number of batches ≥ 100,000.
const OPEN_ALERTS: usize = 100_000_usize.div_ceil(BATCH) * BATCH;
/// wrk threads: the machine has two cores, shared with the server under test.
const WRK_THREADS: u32 = 2;
/// Connections for the single-event and batch loads ("a few"). Single events run at two
/// concurrencies: group commit batches at most as many events as are in flight.
const SINGLE_CONNECTIONS: u32 = 16;
const SINGLE_WIDE_CONNECTIONS: u32 = 64;
const BATCH_CONNECTIONS: u32 = 8;
/// The steady load: requests/s, paced by paced.lua, over a few connections.
const STEADY_RATE: f64 = 1_000.0;
const STEADY_CONNECTIONS: u32 = 10;
/// The overload: paced at twice the sustainable rate, over enough connections that the
/// requests in flight (× 64 alerts) can far exceed any sane ingest queue.
const OVERLOAD_CONNECTIONS: u32 = 1_500;
/// The rate-limited key's limit (events/s, and its burst).
const LIMITED_RATE: u32 = 2_000;
/// Connections of the loader that fills memory.
const FILL_CONNECTIONS: usize = 4;
/// Bounds on waiting.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const FILL_TIMEOUT: Duration = Duration::from_secs(180);
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

pub fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    match args.first().map(String::as_str) {
        Some("ingest") => ingest(root, Options::parse(&args[1..])?),
        Some("page-latency") => crate::bench_page::run(root, &args[1..]),
        Some("storm") => {
            let mut rest = vec!["--storm-only".to_owned()];
            rest.extend_from_slice(&args[1..]);
            crate::bench_page::run(root, &rest)
        }
        Some("timers") => crate::bench_timers::run(root, &args[1..]),
        Some("dispatch") => crate::bench_dispatch::run(root, &args[1..]),
        Some("monitors") => crate::bench_monitors::run_monitors(root, &args[1..]),
        Some("heartbeats") => crate::bench_monitors::run_heartbeats(root, &args[1..]),
        Some("oncall") => oncall(root),
        Some("failover") => crate::bench_failover::run(root, &args[1..]),
        Some("ui") => crate::bench_ui::run(root, &args[1..]),
        other => bail!(
            "unknown benchmark {other:?}; available: ingest [--duration SECS], page-latency [--incidents N] [--no-storm | --storm-only], storm, timers [--steps N] [--delay-minutes M], dispatch [--notifications N], monitors [--monitors N] [--interval S], heartbeats [--pings N], oncall, failover, ui [--incidents N] [--alerts-per-incident K]"
        ),
    }
}

struct Options {
    /// Seconds of each throughput and latency phase.
    duration: u64,
    /// `--database-url postgres://…`: Tocsin runs on this PostgreSQL server (a fresh database
    /// per server start, made and dropped here); `--postgres`: on a throwaway one.
    database_url: Option<String>,
    postgres: bool,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut o = Options {
            duration: 10,
            database_url: None,
            postgres: false,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let value = |v: Option<&String>| -> anyhow::Result<u64> {
                v.context("--duration needs a number of seconds")?
                    .parse()
                    .context("--duration must be a whole number of seconds")
            };
            match a.as_str() {
                "--duration" => o.duration = value(it.next())?,
                s if s.starts_with("--duration=") => {
                    o.duration = value(Some(&s["--duration=".len()..].to_owned()))?;
                }
                "--database-url" => {
                    o.database_url = Some(
                        it.next()
                            .context("--database-url needs postgres://…")?
                            .to_owned(),
                    );
                }
                s if s.starts_with("--database-url=") => {
                    o.database_url = Some(s["--database-url=".len()..].to_owned());
                }
                "--postgres" => o.postgres = true,
                other => bail!(
                    "unknown option {other:?}; usage: bench ingest [--duration SECS] [--database-url postgres://… | --postgres]"
                ),
            }
        }
        ensure!(
            (2..=600).contains(&o.duration),
            "--duration must be between 2 and 600 seconds"
        );
        ensure!(
            o.database_url
                .as_deref()
                .is_none_or(|u| u.starts_with("postgres://") || u.starts_with("postgresql://")),
            "--database-url must be a postgres:// URL"
        );
        ensure!(
            !(o.postgres && o.database_url.is_some()),
            "give --database-url or --postgres, not both"
        );
        Ok(o)
    }
}

/// What every phase needs.
pub(crate) struct Env {
    pub(crate) tocsin_bin: PathBuf,
    /// wrk's scripts and Alertmanager's configuration (`alertmanager.yml`).
    pub(crate) scripts: PathBuf,
    pub(crate) work: TempDir,
    pub(crate) starts_at: String,
    pub(crate) duration: u64,
}

/// Builds the release server (`cargo build --release -p tocsin`) and returns its path.
pub(crate) fn release_binary(root: &Path) -> anyhow::Result<PathBuf> {
    crate::run(crate::cargo().args(["build", "--release", "-p", "tocsin"]))?;
    let bin = release_path(root);
    ensure!(bin.exists(), "{} was not built", bin.display());
    Ok(bin)
}

/// The release server as it is, built only when it is missing: for benchmarks that should not
/// rebuild a tree others are changing. Run `cargo build --release -p tocsin` first to measure
/// the current tree; the report shows when the binary was built.
pub(crate) fn release_binary_if_missing(root: &Path) -> anyhow::Result<PathBuf> {
    let bin = release_path(root);
    if bin.exists() {
        eprintln!(
            "bench: using {} as built at {} (not rebuilt)",
            bin.display(),
            built_at(&bin)
        );
        return Ok(bin);
    }
    release_binary(root)
}

/// The release server, built (`cargo build --release -p tocsin`) when it is missing or older
/// than any source it is built from (`crates/`, the workspace's Cargo.toml and Cargo.lock). A
/// failed build with a binary present is a warning, and the old binary is used: the report
/// shows when it was built.
pub(crate) fn release_binary_if_stale(root: &Path) -> anyhow::Result<PathBuf> {
    let bin = release_path(root);
    let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
    let newest = newest_source(root);
    match (built, newest) {
        (Some(b), Some(n)) if b >= n => {
            eprintln!(
                "bench: using {} as built at {} (newer than every source)",
                bin.display(),
                built_at(&bin)
            );
            Ok(bin)
        }
        (Some(_), _) => release_binary(root).or_else(|e| {
            eprintln!(
                "bench: WARNING: the build failed ({e:#}); using {} as built at {}",
                bin.display(),
                built_at(&bin)
            );
            Ok(bin)
        }),
        (None, _) => release_binary(root),
    }
}

/// The newest modification time of the files the server is built from.
fn newest_source(root: &Path) -> Option<SystemTime> {
    fn walk(dir: &Path, newest: &mut Option<SystemTime>, depth: u32) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                // Bounded: the crates are a few levels deep.
                if depth < 8 {
                    walk(&path, newest, depth + 1);
                }
            } else if let Ok(t) = meta.modified() {
                *newest = (*newest).max(Some(t));
            }
        }
    }
    let mut newest = None;
    walk(&root.join("crates"), &mut newest, 0);
    for f in ["Cargo.toml", "Cargo.lock"] {
        if let Ok(t) = std::fs::metadata(root.join(f)).and_then(|m| m.modified()) {
            newest = newest.max(Some(t));
        }
    }
    newest
}

fn release_path(root: &Path) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map_or_else(|| root.join("target"), |t| root.join(t));
    target.join("release/tocsin")
}

/// When a file was last written, for the report (`?` when unknown).
pub(crate) fn built_at(path: &Path) -> String {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_or_else(|_| "?".into(), rfc3339)
}

/// `cargo xtask bench oncall`: who is on call for 1,000 schedules over a year of shifts (the
/// issue's target: under a second in total), measured by the core's ignored measurement
/// `a_thousand_schedules_over_a_year`, built optimised. No peer runs this: Alertmanager has no
/// schedules.
fn oncall(root: &Path) -> anyhow::Result<()> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args([
            "test",
            "--release",
            "-p",
            "tocsin-core",
            "--lib",
            "--",
            "--ignored",
            "--exact",
            "schedule::tests::a_thousand_schedules_over_a_year",
            "--nocapture",
        ])
        .stderr(Stdio::inherit())
        .output()
        .context("running the core's on-call measurement")?;
    ensure!(out.status.success(), "the on-call measurement failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("bench-oncall "))
        .context("the measurement printed no bench-oncall line")?;
    let field = |name: &str| -> anyhow::Result<f64> {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no {name} in {line:?}"))
    };
    let (final_ms, oncall_ms) = (field("final_shifts_ms")?, field("oncall_ms")?);
    let verdict = |ms: f64| if ms < 1000.0 { "met" } else { "MISSED" };
    println!(
        "Who is on call: 1,000 schedules (4 time zones, 2 layers with restrictions, an override each) over a year"
    );
    println!("{:<52} {:>10}  target", "figure", "ms");
    println!(
        "{:<52} {:>10.1}  <1,000 ms: {}",
        "final shifts of every schedule for 365 days",
        final_ms,
        verdict(final_ms)
    );
    println!(
        "{:<52} {:>10.1}  <1,000 ms: {}",
        "on call at noon of each day (365,000 queries)",
        oncall_ms,
        verdict(oncall_ms)
    );
    Ok(())
}

fn ingest(root: &Path, opts: Options) -> anyhow::Result<()> {
    ensure_tools()?;
    // On PostgreSQL: the server's URL, kept for every Tocsin started below.
    let throwaway = if opts.postgres {
        Some(crate::pg::TestPostgres::start()?)
    } else {
        None
    };
    if let Some(url) = throwaway
        .as_ref()
        .map(|p| p.url.clone())
        .or(opts.database_url)
    {
        let _ = POSTGRES.set(url);
    }
    // On PostgreSQL (a run beside the SQLite one, usually while others work on the tree): the
    // existing binary when the tree does not build, said in the log with its build time.
    let tocsin_bin = if POSTGRES.get().is_some() {
        release_binary_if_stale(root)?
    } else {
        release_binary(root)?
    };
    let env = Env {
        tocsin_bin,
        scripts: root.join("xtask/bench"),
        work: TempDir::new()?,
        starts_at: rfc3339(SystemTime::now()),
        duration: opts.duration,
    };
    eprintln!(
        "bench: {} core(s); loader (wrk) on the same machine; {} s per phase; work folder {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        env.duration,
        env.work.path.display()
    );
    let am = measure(&env, Kind::Alertmanager)?;
    let tocsin = measure(&env, Kind::Tocsin)?;
    print!("{}", report(&env, &tocsin, &am));
    if let Some(url) = POSTGRES.get() {
        println!(
            "Tocsin's store: PostgreSQL ({}) at {}, a fresh database per server start",
            command_line(
                "psql",
                &["-X", "-A", "-t", "-c", "SHOW server_version", url.as_str()]
            ),
            redacted(url)
        );
    }
    drop(throwaway);
    Ok(())
}

/// `bench ingest --database-url`/`--postgres`: the PostgreSQL server Tocsin runs on.
static POSTGRES: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// A URL without its password, for the report.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if url[s + 3..at].contains(':') => {
            let colon = s + 3 + url[s + 3..at].find(':').unwrap_or(0);
            format!("{}:[redacted]{}", &url[..colon], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// `url` with its database name replaced by `db` (the query kept).
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, ""), |(b, q)| (b, q));
    let host_end = base
        .find("://")
        .map(|s| s + 3)
        .and_then(|s| base[s..].find('/').map(|p| s + p))
        .unwrap_or(base.len());
    let mut out = format!("{}/{db}", &base[..host_end]);
    if !query.is_empty() {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// A fresh database on the bench's PostgreSQL server, dropped with the server under test.
struct BenchDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl BenchDatabase {
    fn create(admin_url: &str, session: &str) -> anyhow::Result<BenchDatabase> {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() % 1_000_000_000;
        let name = format!("tocsin_bench_{session}_{}_{nanos}", std::process::id());
        crate::chaos::psql(admin_url, &format!("CREATE DATABASE {name}"))?;
        Ok(BenchDatabase {
            admin_url: admin_url.to_owned(),
            url: with_database(admin_url, &name),
            name,
        })
    }
}

impl Drop for BenchDatabase {
    fn drop(&mut self) {
        if let Err(e) = crate::chaos::psql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        ) {
            eprintln!("bench: dropping database {}: {e:#}", self.name);
        }
    }
}

// ---- tools ----

pub(crate) fn ensure_tools() -> anyhow::Result<()> {
    crate::ensure_packages(&[
        ("command -v wrk", "wrk"),
        (
            "command -v prometheus-alertmanager",
            "prometheus-alertmanager",
        ),
    ])
}

// ---- the two servers ----

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Tocsin,
    Alertmanager,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Tocsin => "tocsin",
            Kind::Alertmanager => "alertmanager",
        }
    }
}

/// A running server under test, stopped (kill + wait, by its own handle) when dropped.
pub(crate) struct Server {
    pub(crate) kind: Kind,
    child: Child,
    log: PathBuf,
    pub(crate) addr: SocketAddr,
    /// Tocsin's integration keys: events_v2 and alertmanager (unlimited), events_v2 limited.
    events_key: String,
    webhook_key: String,
    limited_key: String,
    /// On PostgreSQL (`bench ingest --database-url`/`--postgres`): its database.
    database: Option<BenchDatabase>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // After the process: the database is dropped (forcing off any session left).
        self.database.take();
    }
}

impl Server {
    pub(crate) fn start(env: &Env, kind: Kind, session: &str) -> anyhow::Result<Server> {
        let port = free_port()?;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let name = format!("{}-{session}", kind.name());
        let log = env.work.path.join(format!("{name}.log"));
        let out = std::fs::File::create(&log)?;
        let database = match (kind, POSTGRES.get()) {
            (Kind::Tocsin, Some(url)) => Some(BenchDatabase::create(url, session)?),
            _ => None,
        };
        let mut cmd = match kind {
            Kind::Tocsin => {
                let data = env.work.path.join(format!("{name}-data"));
                let mut c = Command::new(&env.tocsin_bin);
                c.arg("serve")
                    .arg("--listen")
                    .arg(addr.to_string())
                    .arg("--data-dir")
                    .arg(&data);
                if let Some(db) = &database {
                    c.arg("--database-url").arg(&db.url);
                }
                c
            }
            Kind::Alertmanager => {
                let config = env.work.path.join(format!("{name}.yml"));
                std::fs::copy(env.scripts.join("alertmanager.yml"), &config)
                    .context("copying xtask/bench/alertmanager.yml")?;
                let mut c = Command::new("prometheus-alertmanager");
                c.arg(format!("--config.file={}", config.display()))
                    .arg(format!(
                        "--storage.path={}",
                        env.work.path.join(format!("{name}-data")).display()
                    ))
                    .arg(format!("--web.listen-address={addr}"))
                    .arg("--cluster.listen-address=")
                    .arg("--log.level=warn");
                c
            }
        };
        for var in ["TOCSIN_CONFIG", "TOCSIN_DATABASE_URL", "TOCSIN_DATA_DIR"] {
            cmd.env_remove(var);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", kind.name()))?;
        let mut server = Server {
            kind,
            child,
            log,
            addr,
            events_key: String::new(),
            webhook_key: String::new(),
            limited_key: String::new(),
            database,
        };
        let ready = match kind {
            Kind::Tocsin => "/readyz",
            Kind::Alertmanager => "/-/ready",
        };
        server.wait_ready(ready)?;
        if kind == Kind::Tocsin {
            let data = env.work.path.join(format!("{name}-data"));
            server.set_up_tocsin(env, &data)?;
        }
        eprintln!(
            "bench: {} ({session}) is up on {addr}, pid {}",
            kind.name(),
            server.child.id()
        );
        Ok(server)
    }

    fn wait_ready(&mut self, path: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited with {status} while starting:\n{}",
                    self.kind.name(),
                    log_tail(&self.log)
                );
            }
            if request(self.addr, "GET", path, &[], b"").is_ok_and(|r| r.status == 200) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} not ready after {READY_TIMEOUT:?}:\n{}",
                    self.kind.name(),
                    log_tail(&self.log)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// An admin token from the CLI, then a service with three integrations over the API.
    fn set_up_tocsin(&mut self, env: &Env, data: &Path) -> anyhow::Result<()> {
        let mut cmd = Command::new(&env.tocsin_bin);
        cmd.args(["token", "create", "--name", "bench", "--role", "admin"])
            .arg("--data-dir")
            .arg(data);
        if let Some(db) = &self.database {
            cmd.arg("--database-url").arg(&db.url);
        }
        let out = cmd
            .env_remove("TOCSIN_CONFIG")
            .env_remove("TOCSIN_DATABASE_URL")
            .output()
            .context("running tocsin token create")?;
        ensure!(
            out.status.success(),
            "tocsin token create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = String::from_utf8(out.stdout)?.trim().to_owned();
        let bearer = format!("Bearer {token}");
        let post = |path: &str, body: Value| -> anyhow::Result<Value> {
            let r = request(
                self.addr,
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
        let key = |service: &Value, body: Value| -> anyhow::Result<String> {
            let id = service["id"].as_str().context("service without id")?;
            let i = post(&format!("/api/v1/services/{id}/integrations"), body)?;
            Ok(i["key"]
                .as_str()
                .context("integration without key")?
                .to_owned())
        };
        let service = post("/api/v1/services", json!({"name": "bench"}))?;
        self.events_key = key(
            &service,
            json!({"type": "events_v2", "rate_limit_per_second": 0}),
        )?;
        self.webhook_key = key(
            &service,
            json!({"type": "alertmanager", "rate_limit_per_second": 0}),
        )?;
        let limited = post("/api/v1/services", json!({"name": "bench-limited"}))?;
        self.limited_key = key(
            &limited,
            json!({"type": "events_v2", "rate_limit_per_second": LIMITED_RATE,
                   "rate_limit_burst": LIMITED_RATE}),
        )?;
        Ok(())
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    fn rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .context("no VmRSS in /proc/PID/status")
    }

    /// CPU seconds (user + system) the process has used so far.
    pub(crate) fn cpu_seconds(&self) -> anyhow::Result<f64> {
        cpu_seconds_of(self.pid())
    }

    /// `/metrics`: Tocsin's counters, or Alertmanager's active alerts.
    fn metrics(&self) -> anyhow::Result<Metrics> {
        let r = request(self.addr, "GET", "/metrics", &[], b"")?;
        ensure!(r.status == 200, "/metrics answered {}", r.status);
        let text = String::from_utf8_lossy(&r.body);
        Ok(Metrics {
            accepted: metric_sum(&text, "tocsin_events_accepted_total", None),
            commits: metric_sum(&text, "tocsin_ingest_commits_total", None),
            open_incidents: metric_sum(&text, "tocsin_open_incidents", None),
            // Alerts Alertmanager holds, whatever their state (active, unprocessed, suppressed).
            am_alerts: metric_sum(&text, "alertmanager_alerts", None),
        })
    }

    /// The body of one request carrying `count` new alerts named `{prefix}-{n}`.
    fn batch_body(&self, prefix: &str, count: usize, starts_at: &str) -> (String, String) {
        let labels = |id: &str| json!({"alertname": "TocsinBench", "instance": id, "job": "bench", "severity": "critical"});
        let annotations = |id: &str| {
            json!({"summary": format!("Bench alert {id}"),
                   "description": "generated by cargo xtask bench ingest"})
        };
        match self.kind {
            Kind::Tocsin => {
                let alerts: Vec<Value> = (0..count)
                    .map(|n| {
                        let id = format!("{prefix}-{n}");
                        json!({"status": "firing", "labels": labels(&id),
                               "annotations": annotations(&id), "startsAt": starts_at,
                               "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "",
                               "fingerprint": id})
                    })
                    .collect();
                let body = json!({"version": "4", "groupKey": format!("bench/{prefix}"),
                    "truncatedAlerts": 0, "status": "firing", "receiver": "tocsin",
                    "groupLabels": {"job": "bench"},
                    "commonLabels": {"alertname": "TocsinBench", "job": "bench", "severity": "critical"},
                    "commonAnnotations": {}, "externalURL": "http://127.0.0.1:9093",
                    "alerts": alerts});
                (
                    format!("/api/v1/integrations/alertmanager/{}", self.webhook_key),
                    body.to_string(),
                )
            }
            Kind::Alertmanager => {
                let alerts: Vec<Value> = (0..count)
                    .map(|n| {
                        let id = format!("{prefix}-{n}");
                        json!({"labels": labels(&id), "annotations": annotations(&id),
                               "startsAt": starts_at})
                    })
                    .collect();
                (
                    "/api/v2/alerts".to_owned(),
                    Value::Array(alerts).to_string(),
                )
            }
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Metrics {
    accepted: f64,
    commits: f64,
    open_incidents: f64,
    am_alerts: f64,
}

/// `k` of `items` at random (all of them when there are fewer), by a partial Fisher–Yates
/// shuffle with xorshift64 seeded from the clock.
pub(crate) fn sample<T>(mut items: Vec<T>, k: usize) -> Vec<T> {
    let mut x = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64)
        | 1;
    let k = k.min(items.len());
    for i in 0..k {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = i + (x % (items.len() - i) as u64) as usize;
        items.swap(i, j);
    }
    items.truncate(k);
    items
}

/// Sums every series of `name` (optionally only those whose labels contain `label`).
pub(crate) fn metric_sum(text: &str, name: &str, label: Option<&str>) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let labels = match rest.chars().next()? {
                '{' => &rest[..rest.find('}')?],
                ' ' => "",
                _ => return None,
            };
            if label.is_some_and(|want| !labels.contains(want)) {
                return None;
            }
            l.rsplit(' ').next()?.parse::<f64>().ok()
        })
        .sum()
}

// ---- measuring ----

/// One wrk run, as ingest.lua's done() reports it.
#[derive(Clone, Debug, Default)]
pub(crate) struct WrkResult {
    pub(crate) requests: u64,
    pub(crate) seconds: f64,
    pub(crate) socket_errors: u64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
    pub(crate) statuses: BTreeMap<u16, u64>,
    pub(crate) missing_retry_after: u64,
}

impl WrkResult {
    pub(crate) fn ok(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(s, _)| (200..300).contains(*s))
            .map(|(_, n)| n)
            .sum()
    }
    pub(crate) fn ok_per_second(&self) -> f64 {
        self.ok() as f64 / self.seconds.max(1e-9)
    }
    pub(crate) fn statuses_text(&self) -> String {
        let mut s = self
            .statuses
            .iter()
            .map(|(c, n)| format!("{c}×{n}"))
            .collect::<Vec<_>>()
            .join(" ");
        if self.socket_errors > 0 {
            let _ = write!(s, " socket-errors×{}", self.socket_errors);
        }
        s
    }
}

/// One load phase: what wrk saw, the server's CPU, and for Tocsin what /metrics counted.
#[derive(Clone, Debug, Default)]
struct Phase {
    wrk: WrkResult,
    /// Cores the server used on average while wrk ran.
    server_cores: f64,
    /// Tocsin only: deltas of its counters over the phase (read after in-flight work settles).
    accepted: f64,
    commits: f64,
    open_incidents: f64,
}

impl Phase {
    fn commits_per_second(&self) -> f64 {
        self.commits / self.wrk.seconds.max(1e-9)
    }
    fn accepted_per_second(&self) -> f64 {
        self.accepted / self.wrk.seconds.max(1e-9)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    Single,
    Batch,
}

pub(crate) struct Load<'a> {
    pub(crate) shape: Shape,
    pub(crate) connections: u32,
    pub(crate) seconds: u64,
    /// Offer this many requests/s in all (paced.lua) instead of sending as fast as answers come.
    pub(crate) rate: Option<f64>,
    /// Overrides the integration key (the rate-limited one).
    pub(crate) key: Option<&'a str>,
    pub(crate) prefix: &'a str,
}

fn run_wrk(env: &Env, server: &Server, load: &Load) -> anyhow::Result<WrkResult> {
    let script = if load.rate.is_some() {
        "paced.lua"
    } else {
        "ingest.lua"
    };
    run_wrk_script(env, server, load, script)
}

/// [`run_wrk`] with a given script from `env.scripts`, which takes ingest.lua's arguments (and
/// paced.lua's rate) and prints its `BENCH_JSON` line.
pub(crate) fn run_wrk_script(
    env: &Env,
    server: &Server,
    load: &Load,
    script: &str,
) -> anyhow::Result<WrkResult> {
    let (target, key) = match server.kind {
        Kind::Tocsin => (
            "tocsin",
            load.key.unwrap_or(match load.shape {
                Shape::Single => &server.events_key,
                Shape::Batch => &server.webhook_key,
            }),
        ),
        Kind::Alertmanager => ("alertmanager", "-"),
    };
    let shape = match load.shape {
        Shape::Single => "single",
        Shape::Batch => "batch",
    };
    let threads = WRK_THREADS.min(load.connections);
    let out_path = env
        .work
        .path
        .join(format!("wrk-{}-{}.out", server.kind.name(), load.prefix));
    let out = std::fs::File::create(&out_path)?;
    let mut cmd = Command::new("wrk");
    cmd.current_dir(&env.scripts)
        .arg("-t")
        .arg(threads.to_string())
        .arg("-c")
        .arg(load.connections.to_string())
        .arg("-d")
        .arg(format!("{}s", load.seconds))
        .args(["--timeout", "10s", "-s", script])
        .arg(format!("http://{}/", server.addr))
        .arg("--")
        .args([target, shape, key, load.prefix, &env.starts_at])
        .arg(BATCH.to_string())
        .arg(format!(
            "{:.3}",
            load.rate.unwrap_or(0.0) / f64::from(threads)
        ))
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    let mut child = cmd.spawn().context("starting wrk")?;
    let deadline = Instant::now() + Duration::from_secs(load.seconds + 60);
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "wrk ran past its deadline; output in {}",
                out_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&out_path)?;
    ensure!(status.success(), "wrk failed ({status}):\n{text}");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("BENCH_JSON "))
        .with_context(|| format!("no BENCH_JSON line in wrk's output:\n{text}"))?;
    let v: Value = serde_json::from_str(line).with_context(|| format!("parsing {line}"))?;
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    let ms = |k: &str| n(k) as f64 / 1000.0;
    let statuses = v["statuses"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, c)| Some((k.parse().ok()?, c.as_u64()?)))
                .collect()
        })
        .unwrap_or_default();
    Ok(WrkResult {
        requests: n("requests"),
        seconds: n("duration_us") as f64 / 1e6,
        socket_errors: n("connect_errors") + n("read_errors") + n("write_errors") + n("timeouts"),
        p50_ms: ms("p50_us"),
        p99_ms: ms("p99_us"),
        max_ms: ms("max_us"),
        statuses,
        missing_retry_after: n("missing_retry_after"),
    })
}

fn phase(env: &Env, server: &Server, label: &str, load: &Load) -> anyhow::Result<Phase> {
    let before = server.metrics()?;
    let cpu0 = server.cpu_seconds()?;
    let wrk = run_wrk(env, server, load)?;
    let cpu1 = server.cpu_seconds()?;
    // Let requests still in flight when wrk stopped reach their commit before counting.
    std::thread::sleep(Duration::from_millis(1500));
    let after = server.metrics()?;
    let p = Phase {
        server_cores: (cpu1 - cpu0) / wrk.seconds.max(1e-9),
        accepted: after.accepted - before.accepted,
        commits: after.commits - before.commits,
        open_incidents: after.open_incidents - before.open_incidents,
        wrk,
    };
    eprintln!(
        "bench: {} {label}: {:.0} ok requests/s, p50 {:.2} ms, p99 {:.2} ms, server {:.2} cores; answers {}",
        server.kind.name(),
        p.wrk.ok_per_second(),
        p.wrk.p50_ms,
        p.wrk.p99_ms,
        p.server_cores,
        p.wrk.statuses_text()
    );
    if server.kind == Kind::Tocsin {
        eprintln!(
            "bench:   tocsin counted {:.0} events accepted in {:.0} commits ({:.1} events/commit), {:.0} incidents opened",
            p.accepted,
            p.commits,
            p.accepted / p.commits.max(1.0),
            p.open_incidents
        );
    }
    Ok(p)
}

/// The memory figure: idle RSS, then batches until [`OPEN_ALERTS`] alerts are open.
#[derive(Clone, Debug, Default)]
struct Memory {
    idle_kib: u64,
    full_kib: u64,
    open_alerts: u64,
    fill_seconds: f64,
    /// What the server itself reports after the fill (accepted events / active alerts).
    server_count: f64,
}

impl Memory {
    fn bytes_per_alert(&self) -> f64 {
        (self.full_kib.saturating_sub(self.idle_kib) * 1024) as f64 / self.open_alerts.max(1) as f64
    }
}

fn memory(env: &Env, kind: Kind) -> anyhow::Result<Memory> {
    let server = Server::start(env, kind, "memory")?;
    std::thread::sleep(Duration::from_secs(1));
    let idle_kib = server.rss_kib()?;
    let started = Instant::now();
    let open_alerts = fill(env, &server, OPEN_ALERTS)?;
    let fill_seconds = started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(2));
    let full_kib = server.rss_kib()?;
    let m = server.metrics()?;
    let server_count = match kind {
        Kind::Tocsin => m.accepted,
        Kind::Alertmanager => m.am_alerts,
    };
    eprintln!(
        "bench: {} memory: idle {} KiB; {open_alerts} open alerts in {fill_seconds:.1} s (server counts {server_count:.0}); {full_kib} KiB",
        kind.name(),
        idle_kib
    );
    Ok(Memory {
        idle_kib,
        full_kib,
        open_alerts,
        fill_seconds,
        server_count,
    })
}

/// Posts batches of new alerts over a few keep-alive connections until `alerts` are accepted,
/// honouring Retry-After; bounded by [`FILL_TIMEOUT`].
fn fill(env: &Env, server: &Server, alerts: usize) -> anyhow::Result<u64> {
    let batches = alerts.div_ceil(BATCH);
    post_many(server.addr, FILL_CONNECTIONS, batches, FILL_TIMEOUT, &|i| {
        server.batch_body(&format!("fill-{i}"), BATCH, &env.starts_at)
    })?;
    Ok((batches * BATCH) as u64)
}

/// Sends `count` POST requests of JSON over `connections` keep-alive connections, each as soon
/// as the previous answer on its connection came; `make(i)` gives request i's path and body. A
/// 429 or 503 is sent again after its Retry-After (1 to 5 s); any other answer but a 2xx fails.
/// Bounded by `timeout`.
pub(crate) fn post_many(
    addr: SocketAddr,
    connections: usize,
    count: usize,
    timeout: Duration,
    make: &(dyn Fn(usize) -> (String, String) + Sync),
) -> anyhow::Result<()> {
    let next = AtomicUsize::new(0);
    let deadline = Instant::now() + timeout;
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..connections.max(1))
            .map(|_| {
                s.spawn(|| -> anyhow::Result<()> {
                    let mut conn = Http::connect(addr)?;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            return Ok(());
                        }
                        let (path, body) = make(i);
                        loop {
                            ensure!(
                                Instant::now() < deadline,
                                "{count} requests took longer than {timeout:?}"
                            );
                            let r = conn.send(
                                "POST",
                                &path,
                                &[("Content-Type", "application/json")],
                                body.as_bytes(),
                            )?;
                            match r.status {
                                200..=299 => break,
                                429 | 503 => {
                                    let secs: u64 = r
                                        .header("retry-after")
                                        .and_then(|v| v.parse().ok())
                                        .unwrap_or(1);
                                    std::thread::sleep(Duration::from_secs(secs.clamp(1, 5)));
                                }
                                other => bail!(
                                    "{} answered {other}: {}",
                                    path,
                                    String::from_utf8_lossy(&r.body)
                                ),
                            }
                        }
                    }
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .map_err(|_| anyhow::anyhow!("a sending thread panicked"))?
        })
    })
}

/// Tocsin at twice its sustainable rate: what it answered, whether memory stayed bounded,
/// and whether everything it acknowledged is stored.
#[derive(Clone, Debug, Default)]
struct Overload {
    offered_alerts_per_second: f64,
    phase: Phase,
    rss_before_kib: u64,
    rss_peak_kib: u64,
    rss_after_kib: u64,
}

impl Overload {
    fn unexpected_statuses(&self) -> u64 {
        self.phase
            .wrk
            .statuses
            .iter()
            .filter(|(s, _)| !((200..300).contains(*s) || **s == 429 || **s == 503))
            .map(|(_, n)| n)
            .sum()
    }
}

fn overload(
    env: &Env,
    server: &Server,
    sustainable_alerts_per_second: f64,
) -> anyhow::Result<Overload> {
    let offered = 2.0 * sustainable_alerts_per_second.max(1_000.0);
    let seconds = (env.duration / 2).clamp(3, 10);
    let rss_before_kib = server.rss_kib()?;
    let stop = AtomicBool::new(false);
    let peak = AtomicU64::new(rss_before_kib);
    let phase = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(k) = server.rss_kib() {
                    peak.fetch_max(k, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let r = phase(
            env,
            server,
            "overload (2x batch rate)",
            &Load {
                shape: Shape::Batch,
                connections: OVERLOAD_CONNECTIONS,
                seconds,
                rate: Some(offered / BATCH as f64),
                key: None,
                prefix: "overload",
            },
        );
        stop.store(true, Ordering::Relaxed);
        r
    })?;
    let rss_after_kib = server.rss_kib()?;
    Ok(Overload {
        offered_alerts_per_second: offered,
        phase,
        rss_before_kib,
        rss_peak_kib: peak.into_inner(),
        rss_after_kib,
    })
}

/// Everything measured for one server.
#[derive(Clone, Debug, Default)]
struct Figures {
    memory: Memory,
    steady: Phase,
    single: Phase,
    single_wide: Phase,
    batch: Phase,
    overload: Option<Overload>,
    limited: Option<Phase>,
}

fn measure(env: &Env, kind: Kind) -> anyhow::Result<Figures> {
    eprintln!("bench: ---- {} ----", kind.name());
    let memory = memory(env, kind)?;
    let server = Server::start(env, kind, "load")?;
    let d = env.duration;
    let steady = phase(
        env,
        &server,
        "steady ~1,000/s",
        &Load {
            shape: Shape::Single,
            connections: STEADY_CONNECTIONS,
            seconds: d,
            rate: Some(STEADY_RATE),
            key: None,
            prefix: "steady",
        },
    )?;
    let single = phase(
        env,
        &server,
        "single events",
        &Load {
            shape: Shape::Single,
            connections: SINGLE_CONNECTIONS,
            seconds: d,
            rate: None,
            key: None,
            prefix: "single",
        },
    )?;
    let single_wide = phase(
        env,
        &server,
        "single events, 64 conns",
        &Load {
            shape: Shape::Single,
            connections: SINGLE_WIDE_CONNECTIONS,
            seconds: d,
            rate: None,
            key: None,
            prefix: "wide",
        },
    )?;
    let batch = phase(
        env,
        &server,
        "batches of 64",
        &Load {
            shape: Shape::Batch,
            connections: BATCH_CONNECTIONS,
            seconds: d,
            rate: None,
            key: None,
            prefix: "batch",
        },
    )?;
    let (overload, limited) = if kind == Kind::Tocsin {
        let sustainable = batch.wrk.ok_per_second() * BATCH as f64;
        let o = overload(env, &server, sustainable)?;
        let limited = phase(
            env,
            &server,
            "rate-limited key",
            &Load {
                shape: Shape::Single,
                connections: SINGLE_CONNECTIONS,
                seconds: 3,
                rate: None,
                key: Some(server.limited_key.as_str()),
                prefix: "limited",
            },
        )?;
        (Some(o), Some(limited))
    } else {
        (None, None)
    };
    drop(server);
    Ok(Figures {
        memory,
        steady,
        single,
        single_wide,
        batch,
        overload,
        limited,
    })
}

// ---- the report ----

fn report(env: &Env, t: &Figures, am: &Figures) -> String {
    let mut s = String::new();
    let mb = |kib: u64| kib as f64 / 1024.0;
    let _ = writeln!(
        s,
        "\nTocsin ingestion vs Prometheus Alertmanager — {} s per phase, wrk -t{WRK_THREADS} on the same {}-core machine",
        env.duration,
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    let _ = writeln!(
        s,
        "run started {}; tocsin {}; {}",
        env.starts_at,
        command_line("git", &["describe", "--always", "--dirty"]),
        command_line("prometheus-alertmanager", &["--version"])
    );
    let _ = writeln!(
        s,
        "{:<44} {:>12} {:>12} {:>8}  {:<26}",
        "figure", "Tocsin", "Alertmanager", "T/AM", "target (Tocsin)"
    );
    let _ = writeln!(s, "{}", "-".repeat(108));
    let mut row = |name: &str, tv: f64, av: f64, digits: usize, target: &str| {
        let ratio = if av > 0.0 {
            format!("{:.2}", tv / av)
        } else {
            "-".into()
        };
        let _ = writeln!(
            s,
            "{name:<44} {:>12} {:>12} {ratio:>8}  {target:<26}",
            num(tv, digits),
            num(av, digits)
        );
    };
    let met = |ok: bool| if ok { "met" } else { "MISSED" };
    let single = t.single.wrk.ok_per_second();
    row(
        &format!("(a) single events/s, {SINGLE_CONNECTIONS} conns (2xx)"),
        single,
        am.single.wrk.ok_per_second(),
        0,
        &format!("≥10,000 (goal 20,000+): {}", met(single >= 10_000.0)),
    );
    row(
        "(a) single: request p99 ms",
        t.single.wrk.p99_ms,
        am.single.wrk.p99_ms,
        2,
        "",
    );
    row(
        "(a) single: server CPU, cores",
        t.single.server_cores,
        am.single.server_cores,
        2,
        "",
    );
    let wide = t.single_wide.wrk.ok_per_second();
    row(
        &format!("(a) single events/s, {SINGLE_WIDE_CONNECTIONS} conns (2xx)"),
        wide,
        am.single_wide.wrk.ok_per_second(),
        0,
        &format!("≥10,000 (goal 20,000+): {}", met(wide >= 10_000.0)),
    );
    row(
        "(a) single, 64 conns: request p99 ms",
        t.single_wide.wrk.p99_ms,
        am.single_wide.wrk.p99_ms,
        2,
        "",
    );
    row(
        "(a) single, 64 conns: server CPU, cores",
        t.single_wide.server_cores,
        am.single_wide.server_cores,
        2,
        "",
    );
    let batch = t.batch.wrk.ok_per_second() * BATCH as f64;
    row(
        &format!("(b) alerts/s, batches of {BATCH}, {BATCH_CONNECTIONS} conns"),
        batch,
        am.batch.wrk.ok_per_second() * BATCH as f64,
        0,
        &format!("≥30,000: {}", met(batch >= 30_000.0)),
    );
    row(
        "(b) batch: request p99 ms",
        t.batch.wrk.p99_ms,
        am.batch.wrk.p99_ms,
        2,
        "",
    );
    row(
        "(b) batch: server CPU, cores",
        t.batch.server_cores,
        am.batch.server_cores,
        2,
        "",
    );
    row(
        "(c) steady load: events/s achieved",
        t.steady.wrk.ok_per_second(),
        am.steady.wrk.ok_per_second(),
        0,
        "",
    );
    row(
        "(c) steady load: accept latency p50 ms",
        t.steady.wrk.p50_ms,
        am.steady.wrk.p50_ms,
        2,
        "",
    );
    row(
        "(c) steady load: accept latency p99 ms",
        t.steady.wrk.p99_ms,
        am.steady.wrk.p99_ms,
        2,
        &format!("≤10 ms: {}", met(t.steady.wrk.p99_ms <= 10.0)),
    );
    row(
        "(d) idle RSS MB",
        mb(t.memory.idle_kib),
        mb(am.memory.idle_kib),
        1,
        &format!("≤25 MB: {}", met(mb(t.memory.idle_kib) <= 25.0)),
    );
    row(
        &format!("(d) RSS MB with {} open alerts", num(OPEN_ALERTS as f64, 0)),
        mb(t.memory.full_kib),
        mb(am.memory.full_kib),
        1,
        &format!("≤200 MB: {}", met(mb(t.memory.full_kib) <= 200.0)),
    );
    row(
        "(d) RSS bytes per open alert",
        t.memory.bytes_per_alert(),
        am.memory.bytes_per_alert(),
        0,
        "",
    );
    row(
        "(d) fill: alerts/s (4 conns, batches of 64)",
        t.memory.open_alerts as f64 / t.memory.fill_seconds.max(1e-9),
        am.memory.open_alerts as f64 / am.memory.fill_seconds.max(1e-9),
        0,
        "",
    );

    let _ = writeln!(
        s,
        "\nTocsin group commit (from /metrics deltas; durable = acknowledged after fsync):"
    );
    let _ = writeln!(
        s,
        "{:<28} {:>14} {:>14} {:>12} {:>14} {:>14}",
        "phase", "2xx events/s", "accepted/s", "commits/s", "events/commit", "incidents +"
    );
    let mut commit_row = |name: &str, p: &Phase, per_request: f64| {
        let _ = writeln!(
            s,
            "{name:<28} {:>14} {:>14} {:>12} {:>14} {:>14}",
            num(p.wrk.ok_per_second() * per_request, 0),
            num(p.accepted_per_second(), 0),
            num(p.commits_per_second(), 0),
            num(p.accepted / p.commits.max(1.0), 1),
            num(p.open_incidents, 0),
        );
    };
    commit_row("(c) steady ~1,000/s", &t.steady, 1.0);
    commit_row("(a) single, 16 conns", &t.single, 1.0);
    commit_row("(a) single, 64 conns", &t.single_wide, 1.0);
    commit_row("(b) batches of 64", &t.batch, BATCH as f64);
    if let Some(o) = &t.overload {
        commit_row("(e) overload", &o.phase, BATCH as f64);
    }
    if let Some(l) = &t.limited {
        commit_row("(e) rate-limited key", l, 1.0);
    }

    if let Some(o) = &t.overload {
        let w = &o.phase.wrk;
        let acked = w.ok();
        // Each batch opens one incident (its own group key), so incidents opened = batches stored.
        let stored = o.phase.open_incidents;
        let lost = acked as f64 > stored;
        let _ = writeln!(
            s,
            "\n(e) overload: {} conns offering ~{} alerts/s (2x the batch rate) for {:.0} s",
            OVERLOAD_CONNECTIONS,
            num(o.offered_alerts_per_second, 0),
            w.seconds
        );
        let _ = writeln!(
            s,
            "    answers: {}; acknowledged {} alerts/s, stored {} alerts/s; p99 {:.1} ms, max {:.1} ms",
            w.statuses_text(),
            num(w.ok_per_second() * BATCH as f64, 0),
            num(stored * BATCH as f64 / w.seconds.max(1e-9), 0),
            w.p99_ms,
            w.max_ms
        );
        let _ = writeln!(
            s,
            "    only 2xx/429/503: {}; 429/503 without Retry-After: {}",
            if o.unexpected_statuses() == 0 && w.socket_errors == 0 {
                "yes".to_owned()
            } else {
                format!(
                    "NO ({} other statuses, {} socket errors)",
                    o.unexpected_statuses(),
                    w.socket_errors
                )
            },
            w.missing_retry_after
        );
        let _ = writeln!(
            s,
            "    acknowledged batches {acked}, stored (incidents opened) {stored:.0}, events counted {:.0} vs {} acknowledged: {}",
            o.phase.accepted,
            acked * BATCH as u64,
            if lost {
                "LOST SOME"
            } else {
                "nothing acknowledged was lost"
            }
        );
        let _ = writeln!(
            s,
            "    RSS before {:.1} MB, peak {:.1} MB, after {:.1} MB",
            mb(o.rss_before_kib),
            mb(o.rss_peak_kib),
            mb(o.rss_after_kib)
        );
    }
    if let Some(l) = &t.limited {
        let _ = writeln!(
            s,
            "(e) rate-limited key ({LIMITED_RATE}/s, burst {LIMITED_RATE}): answers {}; 429 without Retry-After: {}; accepted {:.0}/s",
            l.wrk.statuses_text(),
            l.wrk.missing_retry_after,
            l.accepted_per_second()
        );
    }
    let checks = [
        ("Tocsin single", &t.single, 1u64),
        ("Tocsin single, 64 conns", &t.single_wide, 1),
        ("Tocsin batch", &t.batch, BATCH as u64),
        ("Tocsin steady", &t.steady, 1),
    ];
    for (name, p, per) in checks {
        let acked = p.wrk.ok() * per;
        if p.accepted < acked as f64 || p.open_incidents < (p.wrk.ok() as f64) {
            let _ = writeln!(
                s,
                "WARNING {name}: {acked} events acknowledged but /metrics counts {:.0} accepted, {:.0} incidents",
                p.accepted, p.open_incidents
            );
        }
    }
    for (name, f) in [("Tocsin", t), ("Alertmanager", am)] {
        for (phase, p) in [
            ("single", &f.single),
            ("single, 64 conns", &f.single_wide),
            ("batch", &f.batch),
            ("steady", &f.steady),
        ] {
            if p.wrk.ok() < p.wrk.requests || p.wrk.socket_errors > 0 {
                let _ = writeln!(
                    s,
                    "WARNING {name} {phase}: not every answer was 2xx: {}",
                    p.wrk.statuses_text()
                );
            }
        }
        if (f.memory.server_count - f.memory.open_alerts as f64).abs() > 0.5 {
            let _ = writeln!(
                s,
                "WARNING {name} memory: sent {} alerts, the server counts {:.0}",
                f.memory.open_alerts, f.memory.server_count
            );
        }
    }
    s
}

/// A number with thousands separators.
pub(crate) fn num(v: f64, digits: usize) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let text = format!("{:.*}", digits, v.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    if v < 0.0 { format!("-{out}") } else { out }
}

// ---- small helpers: HTTP/1.1 client, ports, temp folder, time ----

pub(crate) struct Reply {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A keep-alive HTTP/1.1 connection: enough for JSON requests to our two servers.
pub(crate) struct Http {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
}

impl Http {
    pub(crate) fn connect(addr: SocketAddr) -> anyhow::Result<Http> {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .with_context(|| format!("connecting to {addr}"))?;
        s.set_read_timeout(Some(HTTP_TIMEOUT))?;
        s.set_write_timeout(Some(HTTP_TIMEOUT))?;
        s.set_nodelay(true)?;
        Ok(Http {
            addr,
            reader: BufReader::new(s),
        })
    }

    pub(crate) fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> anyhow::Result<Reply> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (k, v) in headers {
            let _ = write!(head, "{k}: {v}\r\n");
        }
        head.push_str("\r\n");
        let stream = self.reader.get_mut();
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {line:?} from {path}"))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            ensure!(
                self.reader.read_line(&mut line)? > 0,
                "connection closed in the headers"
            );
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let mut reply = Reply {
            status,
            headers,
            body: Vec::new(),
        };
        let chunked = reply
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let length = reply.header("content-length").map(str::parse::<usize>);
        if method == "HEAD" || status == 204 || status == 304 || status < 200 {
        } else if chunked {
            loop {
                line.clear();
                self.reader.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .context("bad chunk size")?;
                if size == 0 {
                    loop {
                        line.clear();
                        if self.reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                            break;
                        }
                    }
                    break;
                }
                let start = reply.body.len();
                reply.body.resize(start + size, 0);
                self.reader.read_exact(&mut reply.body[start..])?;
                line.clear();
                self.reader.read_line(&mut line)?;
            }
        } else if let Some(len) = length {
            reply.body.resize(len?, 0);
            self.reader.read_exact(&mut reply.body)?;
        } else {
            self.reader.read_to_end(&mut reply.body)?;
        }
        Ok(reply)
    }
}

/// One request on its own connection.
pub(crate) fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> anyhow::Result<Reply> {
    let mut all = headers.to_vec();
    all.push(("Connection", "close"));
    Http::connect(addr)?.send(method, path, &all, body)
}

/// The first line a command prints (stdout or stderr), for the report's header.
pub(crate) fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .unwrap_or_else(|| "?".into())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// CPU seconds (user + system) process `pid` has used so far (`/proc/PID/stat`).
pub(crate) fn cpu_seconds_of(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(')').context("odd /proc/PID/stat")?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 =
        f.get(11).context("utime")?.parse::<u64>()? + f.get(12).context("stime")?.parse::<u64>()?;
    Ok(ticks as f64 / clock_ticks())
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A fresh folder under the system's temporary folder, removed when dropped.
pub(crate) struct TempDir {
    pub(crate) path: PathBuf,
}

impl TempDir {
    pub(crate) fn new() -> anyhow::Result<TempDir> {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
        let path = std::env::temp_dir().join(format!(
            "tocsin-bench-{}-{}",
            std::process::id(),
            nanos % 1_000_000_000
        ));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a moment (UTC).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

// ---- shared by the paging benchmarks: the webhook receiver, the API, times and percentiles ----

/// A receiver connection idle this long is closed: far longer than any pause between pages in
/// a run, so a page never meets a connection being closed.
const RECEIVER_IDLE: Duration = Duration::from_secs(120);

/// How the receiver files one request, from its path and body: under these keys, each recorded
/// with the arrival time (no key: counted as unmatched); or, for `None`, only counted.
pub(crate) type Classify = fn(&str, &[u8]) -> Option<Vec<String>>;

/// The webhook receiver: an HTTP/1.1 server on a free loopback port (a thread per connection)
/// that answers 200 at once and files each request as its [`Classify`] says. Stops accepting
/// when dropped; a connection's thread ends when its peer closes it (or after
/// [`RECEIVER_IDLE`]).
pub(crate) struct Receiver {
    pub(crate) addr: SocketAddr,
    pub(crate) shared: Arc<ReceiverState>,
    stop: Arc<AtomicBool>,
    accept: Option<std::thread::JoinHandle<()>>,
}

pub(crate) struct ReceiverState {
    classify: Classify,
    /// Arrival times of the pages filed under each key (more than one is a duplicate).
    pages: Mutex<HashMap<String, Vec<Instant>>>,
    arrived: Condvar,
    /// Requests only counted, and requests filed under at least one key.
    counted: AtomicU64,
    recorded: AtomicU64,
    /// Requests whose body named no key.
    pub(crate) unmatched: AtomicU64,
    /// Connections that ended in a protocol or I/O error (other than an idle timeout).
    pub(crate) errors: AtomicU64,
    /// Connections open now, and the most open at once since [`Receiver::reset_peak`].
    open: AtomicU64,
    peak_open: AtomicU64,
}

impl Receiver {
    pub(crate) fn start(classify: Classify) -> anyhow::Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(ReceiverState {
            classify,
            pages: Mutex::default(),
            arrived: Condvar::new(),
            counted: AtomicU64::new(0),
            recorded: AtomicU64::new(0),
            unmatched: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            open: AtomicU64::new(0),
            peak_open: AtomicU64::new(0),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::Builder::new()
                .name("receiver".into())
                .spawn(move || {
                    for stream in listener.incoming() {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let Ok(stream) = stream else {
                            // Out of file descriptors, say: let the peer retry.
                            std::thread::sleep(Duration::from_millis(1));
                            continue;
                        };
                        let mine = shared.clone();
                        let open = shared.open.fetch_add(1, Ordering::Relaxed) + 1;
                        shared.peak_open.fetch_max(open, Ordering::Relaxed);
                        let spawned =
                            std::thread::Builder::new()
                                .stack_size(256 * 1024)
                                .spawn(move || {
                                    if serve(stream, &mine).is_err() {
                                        mine.errors.fetch_add(1, Ordering::Relaxed);
                                    }
                                    mine.open.fetch_sub(1, Ordering::Relaxed);
                                });
                        if spawned.is_err() {
                            shared.open.fetch_sub(1, Ordering::Relaxed);
                            shared.errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })?
        };
        Ok(Receiver {
            addr,
            shared,
            stop,
            accept: Some(accept),
        })
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The first arrival of `id`'s page, waiting for it until `deadline`.
    pub(crate) fn wait_for(&self, id: &str, deadline: Instant) -> Option<Instant> {
        let mut pages = self.shared.pages.lock().ok()?;
        loop {
            if let Some(first) = pages.get(id).and_then(|v| v.first()) {
                return Some(*first);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            pages = self.shared.arrived.wait_timeout(pages, left).ok()?.0;
        }
    }

    /// Pages beyond the first, over the ids starting with `prefix`.
    pub(crate) fn duplicates(&self, prefix: &str) -> u64 {
        self.shared.pages.lock().map_or(0, |p| {
            p.iter()
                .filter(|(id, _)| id.starts_with(prefix))
                .map(|(_, v)| v.len().saturating_sub(1) as u64)
                .sum()
        })
    }

    /// The keys starting with `prefix`, and every arrival filed under them, in order.
    pub(crate) fn arrivals(&self, prefix: &str) -> (usize, Vec<Instant>) {
        self.shared.pages.lock().map_or((0, Vec::new()), |p| {
            let mine: Vec<&Vec<Instant>> = p
                .iter()
                .filter(|(id, _)| id.starts_with(prefix))
                .map(|(_, v)| v)
                .collect();
            let mut all: Vec<Instant> = mine.iter().flat_map(|v| v.iter().copied()).collect();
            all.sort();
            (mine.len(), all)
        })
    }

    /// Every key starting with `prefix`, with its arrivals in order.
    pub(crate) fn arrivals_by_key(&self, prefix: &str) -> Vec<(String, Vec<Instant>)> {
        self.shared.pages.lock().map_or(Vec::new(), |p| {
            p.iter()
                .filter(|(id, _)| id.starts_with(prefix))
                .map(|(id, v)| {
                    let mut v = v.clone();
                    v.sort();
                    (id.clone(), v)
                })
                .collect()
        })
    }

    /// Requests only counted (their [`Classify`] said `None`).
    pub(crate) fn counted(&self) -> u64 {
        self.shared.counted.load(Ordering::Relaxed)
    }

    /// Requests filed under at least one key.
    pub(crate) fn recorded(&self) -> u64 {
        self.shared.recorded.load(Ordering::Relaxed)
    }

    /// The most connections open at once since the last call (and starts counting again).
    pub(crate) fn reset_peak(&self) -> u64 {
        let now = self.shared.open.load(Ordering::Relaxed);
        self.shared.peak_open.swap(now, Ordering::Relaxed)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so that it sees `stop`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// One connection: HTTP/1.1 requests with a Content-Length body, each answered 200 at once.
fn serve(stream: TcpStream, shared: &ReceiverState) -> anyhow::Result<()> {
    stream.set_read_timeout(Some(RECEIVER_IDLE))?;
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
        if line.trim().is_empty() {
            continue;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
        let (mut length, mut close) = (0usize, false);
        loop {
            line.clear();
            ensure!(reader.read_line(&mut line)? > 0, "closed in the headers");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let Some((k, v)) = l.split_once(':') else {
                continue;
            };
            let (k, v) = (k.trim(), v.trim());
            if k.eq_ignore_ascii_case("content-length") {
                length = v.parse().context("bad Content-Length")?;
            } else if k.eq_ignore_ascii_case("connection") {
                close = v.eq_ignore_ascii_case("close");
            } else if k.eq_ignore_ascii_case("transfer-encoding") {
                bail!("chunked bodies are not supported");
            }
        }
        ensure!(length <= 4 << 20, "body of {length} bytes");
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let at = Instant::now();
        let answer: &[u8] = if close {
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        } else {
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        };
        writer.write_all(answer)?;
        record(shared, &path, &body, at);
        if close {
            return Ok(());
        }
    }
}

fn record(shared: &ReceiverState, path: &str, body: &[u8], at: Instant) {
    let Some(ids) = (shared.classify)(path, body) else {
        shared.counted.fetch_add(1, Ordering::Relaxed);
        return;
    };
    if ids.is_empty() {
        shared.unmatched.fetch_add(1, Ordering::Relaxed);
        return;
    }
    if let Ok(mut pages) = shared.pages.lock() {
        for id in ids {
            pages.entry(id).or_default().push(at);
        }
    }
    shared.recorded.fetch_add(1, Ordering::Relaxed);
    shared.arrived.notify_all();
}

/// `tocsin token create` against the data folder of the running server.
pub(crate) fn admin_token(env: &Env, data: &Path) -> anyhow::Result<String> {
    let out = Command::new(&env.tocsin_bin)
        .args(["token", "create", "--name", "b", "--role", "admin"])
        .arg("--data-dir")
        .arg(data)
        .env_remove("TOCSIN_CONFIG")
        .env_remove("TOCSIN_DATABASE_URL")
        .env_remove("TOCSIN_DATA_DIR")
        .output()
        .context("running tocsin token create")?;
    ensure!(
        out.status.success(),
        "tocsin token create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

/// The data folder [`Server::start`] gives Tocsin in a session.
pub(crate) fn tocsin_data(env: &Env, session: &str) -> PathBuf {
    env.work
        .path
        .join(format!("{}-{session}-data", Kind::Tocsin.name()))
}

/// Tocsin's REST API as an admin, over one keep-alive connection (opened again once if it
/// broke, for reads).
pub(crate) struct Api {
    addr: SocketAddr,
    conn: Http,
    bearer: String,
}

impl Api {
    pub(crate) fn new(addr: SocketAddr, token: &str) -> anyhow::Result<Api> {
        Ok(Api {
            addr,
            conn: Http::connect(addr)?,
            bearer: format!("Bearer {token}"),
        })
    }

    /// POST a JSON body; the answer must be 200 or 201.
    pub(crate) fn post(&mut self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let r = self.conn.send(
            "POST",
            path,
            &[
                ("Authorization", &self.bearer),
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
    }

    /// GET; the answer must be 200.
    pub(crate) fn get(&mut self, path: &str) -> anyhow::Result<Value> {
        let headers = [("Authorization", self.bearer.as_str())];
        let r = match self.conn.send("GET", path, &headers, b"") {
            Ok(r) => r,
            Err(_) => {
                self.conn = Http::connect(self.addr)?;
                self.conn.send("GET", path, &headers, b"")?
            }
        };
        ensure!(
            r.status == 200,
            "GET {path} answered {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        Ok(serde_json::from_slice(&r.body)?)
    }
}

/// The `id` of an API answer.
pub(crate) fn id_of(v: &Value) -> anyhow::Result<String> {
    Ok(v["id"].as_str().context("no id in the answer")?.to_owned())
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Percentiles (nearest rank) of some values; a page that never came counts as infinite.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Stats {
    pub(crate) count: usize,
    pub(crate) finite: usize,
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
    pub(crate) mean: f64,
}

pub(crate) fn stats(mut v: Vec<f64>) -> Stats {
    v.sort_by(f64::total_cmp);
    let rank = |q: f64| {
        if v.is_empty() {
            return f64::NAN;
        }
        let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        v[i]
    };
    let finite: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    Stats {
        count: v.len(),
        finite: finite.len(),
        p50: rank(0.50),
        p99: rank(0.99),
        max: v.last().copied().unwrap_or(f64::NAN),
        mean: finite.iter().sum::<f64>() / finite.len().max(1) as f64,
    }
}

/// A Prometheus histogram's cumulative buckets (upper bound, count), with `_count` and `_sum`,
/// summed over its label sets.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Histogram {
    pub(crate) buckets: Vec<(f64, f64)>,
    pub(crate) count: f64,
    pub(crate) sum: f64,
}

impl Histogram {
    pub(crate) fn parse(text: &str, name: &str) -> Option<Histogram> {
        let bucket = format!("{name}_bucket{{");
        let mut buckets: Vec<(f64, f64)> = Vec::new();
        for line in text.lines().filter(|l| l.starts_with(&bucket)) {
            let le = line.split("le=\"").nth(1)?.split('"').next()?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            let n: f64 = line.rsplit(' ').next()?.parse().ok()?;
            match buckets.iter_mut().find(|(b, _)| *b == le) {
                Some((_, c)) => *c += n,
                None => buckets.push((le, n)),
            }
        }
        if buckets.is_empty() {
            return None;
        }
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        Some(Histogram {
            buckets,
            count: metric_sum(text, &format!("{name}_count"), None),
            sum: metric_sum(text, &format!("{name}_sum"), None),
        })
    }

    /// What was observed after `earlier`.
    pub(crate) fn since(&self, earlier: &Histogram) -> Histogram {
        let before = |le: f64| {
            earlier
                .buckets
                .iter()
                .find(|(b, _)| *b == le)
                .map_or(0.0, |(_, c)| *c)
        };
        Histogram {
            buckets: self
                .buckets
                .iter()
                .map(|&(le, c)| (le, c - before(le)))
                .collect(),
            count: self.count - earlier.count,
            sum: self.sum - earlier.sum,
        }
    }

    /// The upper bound of the bucket holding quantile `q` (nearest rank); infinite above the
    /// last finite bucket, NaN when empty.
    pub(crate) fn quantile_bound(&self, q: f64) -> f64 {
        if self.count <= 0.0 {
            return f64::NAN;
        }
        let rank = (q * self.count).ceil().max(1.0);
        self.buckets
            .iter()
            .find(|(_, c)| *c >= rank)
            .map_or(f64::INFINITY, |(le, _)| *le)
    }
}

/// A bucket bound as the report shows it: "≤0.25 s", or "> 5 s" above the last one.
pub(crate) fn bound_text(b: f64, last_finite: f64) -> String {
    if b.is_nan() {
        "-".into()
    } else if b.is_infinite() {
        format!(">{last_finite} s")
    } else {
        format!("≤{b} s")
    }
}

/// Milliseconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
pub(crate) fn unix_ms(s: &str) -> Option<f64> {
    let (date, time) = s.strip_suffix('Z')?.split_once('T')?;
    let mut d = date.splitn(3, '-').map(str::parse::<i64>);
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.splitn(3, ':');
    let (h, min) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let sec: f64 = t.next()?.parse().ok()?;
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3_600 + min * 60) as f64 + sec) * 1000.0)
}

/// Milliseconds since the epoch, now.
pub(crate) fn now_unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_moments() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_709_210_096); // a leap day
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56Z");
    }

    #[test]
    fn samples_are_distinct_and_bounded() {
        let s = sample((0..1000).collect(), 100);
        let mut d = s.clone();
        d.sort_unstable();
        d.dedup();
        assert_eq!((s.len(), d.len()), (100, 100));
        assert_eq!(sample(vec![1, 2, 3], 10).len(), 3);
    }

    #[test]
    fn metric_sums_over_labels() {
        let text = "# TYPE x counter\nx_total{a=\"1\"} 2\nx_total{a=\"2\"} 3.5\nx_total_other 9\nalertmanager_alerts{state=\"active\"} 7\nalertmanager_alerts{state=\"suppressed\"} 1\n";
        assert_eq!(metric_sum(text, "x_total", None), 5.5);
        assert_eq!(
            metric_sum(text, "alertmanager_alerts", Some("state=\"active\"")),
            7.0
        );
    }

    #[test]
    fn nearest_rank_percentiles_count_lost_pages_as_infinite() {
        let s = stats((1..=100).map(f64::from).collect());
        assert_eq!((s.p50, s.p99, s.max), (50.0, 99.0, 100.0));
        let mut v: Vec<f64> = (1..=99).map(f64::from).collect();
        v.push(f64::INFINITY);
        let s = stats(v);
        assert_eq!((s.p99, s.finite), (99.0, 99));
        assert!(s.max.is_infinite());
    }

    #[test]
    fn timestamps_parse_back() {
        let t = std::time::UNIX_EPOCH + Duration::from_secs(1_709_210_096);
        assert_eq!(unix_ms(&rfc3339(t)), Some(1_709_210_096_000.0));
        let (a, b) = (
            unix_ms("2026-11-25T20:58:35.06Z").unwrap(),
            unix_ms("2026-11-25T20:58:35Z").unwrap(),
        );
        assert!((a - b - 60.0).abs() < 0.01, "{a} - {b}");
        assert_eq!(unix_ms("1970-01-01T00:00:00.001Z"), Some(1.0));
    }

    #[test]
    fn postgres_urls_for_a_bench_database() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "b1"),
            "postgres://u:p@h:5432/b1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "b2"), "postgres://h/b2");
        assert_eq!(
            redacted("postgres://u:secret@h/db"),
            "postgres://u:[redacted]@h/db"
        );
        assert_eq!(redacted("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn numbers_get_separators() {
        assert_eq!(num(1234567.0, 0), "1,234,567");
        assert_eq!(num(999.456, 2), "999.46");
        assert_eq!(num(-1000.0, 0), "-1,000");
    }
}
