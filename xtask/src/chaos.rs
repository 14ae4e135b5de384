//! `cargo xtask chaos`: three `tocsin serve` nodes on one throwaway PostgreSQL, under a steady
//! stream of Events v2 triggers whose incidents escalate through three levels, while faults hit
//! them in turn:
//!
//! 1. SIGKILL of the node doing the most work (the one that delivered the most pages in the
//!    last seconds, found by who owns the receiving sockets), restarted 5 s later;
//! 2. SIGKILL of another one, restarted 5 s later;
//! 3. SIGSTOP of the busiest node for the engine's claim lease plus [`LATE_MARGIN`] plus 3 s,
//!    then SIGCONT;
//! 4. `pg_ctl restart -m fast` of the database.
//!
//! Afterwards it reads the database and the receivers' records and checks, printing each
//! verdict: every event answered 2xx is stored once (one alert, one incident); every due
//! escalation step was taken once (one `escalated` timeline entry and one sent notification per
//! level); every page (idempotency key) arrived at the receiver once; no step was later than
//! the lease plus [`LATE_MARGIN`]. It exits non-zero when one fails. Every process started here
//! is stopped by its own handle, also on failure; the run is bounded by [`RUN_MAX`].
//!
//! The receivers are this process: an HTTP/1.1 server on loopback recording each page's
//! `Idempotency-Key`, arrival time and sending node (the node whose process owns the
//! connecting socket, read from /proc).

use crate::bench::{self, Api, TempDir, id_of};
use crate::pg::TestPostgres;
use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Nodes in the cluster.
pub(crate) const NODES: usize = 3;
/// Escalation levels of the policy, one minute apart (the API's smallest delay), each paging
/// its own user on its own webhook.
const LEVELS: usize = 3;
const LEVEL_DELAY: Duration = Duration::from_secs(60);
/// Triggers per second in the stream (spread over the nodes).
const RATE: f64 = 4.0;
/// The receiver answers each page this long after it arrived: with ~12 pages a second a few
/// sends are always in flight, so a kill or a pause catches a node between sending and
/// recording.
const RECEIVER_DELAY: Duration = Duration::from_millis(300);
/// How late a step may be beyond the lease: the engines' pass every second, a reconnection
/// after the database restart, and the delivery itself.
const LATE_MARGIN: Duration = Duration::from_secs(5);
/// The whole run, bounded (setup, stream, faults, drain and checks).
const RUN_MAX: Duration = Duration::from_secs(600);
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// One trigger request, and attempts on other nodes when a node does not answer 2xx.
const TRIGGER_TIMEOUT: Duration = Duration::from_secs(3);
const TRIGGER_ATTEMPTS: usize = 3;
/// A page whose sender was killed or paused within this long after sending it may be sent
/// again by the node that takes the work over (the crash fell between sending and recording).
const IN_FLIGHT: Duration = Duration::from_secs(2);

/// The engine's claim lease: `TOCSIN_CHAOS_LEASE_SECONDS`, or read from the engine's source
/// (`const …LEASE… = SignedDuration::from_secs(N)` / `from_millis(N)`: lease.rs's when it has
/// one, else the longest in the escalator and the dispatcher), else 60 s.
pub(crate) fn engine_lease(root: &Path) -> Duration {
    if let Some(s) = std::env::var("TOCSIN_CHAOS_LEASE_SECONDS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
    {
        return Duration::from_secs_f64(s);
    }
    let mut longest = Duration::ZERO;
    for f in [
        "crates/tocsin-engine/src/lease.rs",
        "crates/tocsin-engine/src/escalator.rs",
        "crates/tocsin-engine/src/dispatcher.rs",
    ] {
        if !longest.is_zero() {
            break;
        }
        let text = std::fs::read_to_string(root.join(f)).unwrap_or_default();
        for line in text.lines() {
            let l = line.trim_start();
            if !(l.starts_with("const ") || l.starts_with("pub const ")) || !l.contains("LEASE") {
                continue;
            }
            let number = |after: &str| -> Option<u64> {
                let rest = l.split(after).nth(1)?;
                rest.chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '_')
                    .filter(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .ok()
            };
            if let Some(s) = number("from_secs(") {
                longest = longest.max(Duration::from_secs(s));
            } else if let Some(ms) = number("from_millis(") {
                longest = longest.max(Duration::from_millis(ms));
            }
        }
    }
    if longest.is_zero() {
        Duration::from_secs(60)
    } else {
        longest
    }
}

pub(crate) fn unix_ms_of(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

// ---- the receiver ----

/// One request received.
#[derive(Clone, Debug)]
pub(crate) struct Page {
    pub(crate) key: String,
    pub(crate) title: String,
    pub(crate) at: SystemTime,
    pub(crate) instant: Instant,
    /// The node whose process owned the connecting socket.
    pub(crate) sender: Option<usize>,
}

pub(crate) struct RxState {
    pub(crate) pages: Mutex<Vec<Page>>,
    /// The live node processes: (pid, node index).
    pids: Mutex<Vec<(u32, usize)>>,
    port: u16,
    errors: AtomicU64,
    /// Each answer waits this long after the page is recorded, so that sends are in flight
    /// when a fault strikes; and the sends in flight now, per node.
    delay_ms: AtomicU64,
    in_flight: Mutex<[usize; NODES]>,
}

/// The webhook receiver: answers 200 at once and records every request.
pub(crate) struct Receiver {
    pub(crate) addr: SocketAddr,
    pub(crate) state: Arc<RxState>,
    stop: Arc<AtomicBool>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    /// A receiver answering each page `delay` after it arrived (recorded on arrival).
    pub(crate) fn start(delay: Duration) -> anyhow::Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let state = Arc::new(RxState {
            pages: Mutex::default(),
            pids: Mutex::default(),
            port: addr.port(),
            errors: AtomicU64::new(0),
            delay_ms: AtomicU64::new(delay.as_millis() as u64),
            in_flight: Mutex::default(),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::Builder::new()
                .name("chaos-receiver".into())
                .spawn(move || {
                    for stream in listener.incoming() {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let Ok(stream) = stream else { continue };
                        let mine = state.clone();
                        let _ =
                            std::thread::Builder::new()
                                .stack_size(256 * 1024)
                                .spawn(move || {
                                    if serve(stream, &mine).is_err() {
                                        mine.errors.fetch_add(1, Ordering::Relaxed);
                                    }
                                });
                    }
                })?
        };
        Ok(Receiver {
            addr,
            state,
            stop,
            accept: Some(accept),
        })
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn set_pid(&self, node: usize, pid: Option<u32>) {
        if let Ok(mut p) = self.state.pids.lock() {
            p.retain(|(_, n)| *n != node);
            if let Some(pid) = pid {
                p.push((pid, node));
            }
        }
    }

    pub(crate) fn pages(&self) -> Vec<Page> {
        self.state
            .pages
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default()
    }

    /// From now on, answers wait `delay` after each page.
    pub(crate) fn set_delay(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }

    /// Sends in flight (received, not answered yet) per node.
    pub(crate) fn in_flight(&self) -> [usize; NODES] {
        self.state.in_flight.lock().map_or([0; NODES], |v| *v)
    }

    /// Pages per node since `since`.
    pub(crate) fn sent_by(&self, since: Instant) -> [usize; NODES] {
        let mut out = [0; NODES];
        if let Ok(p) = self.state.pages.lock() {
            for page in p.iter().filter(|p| p.instant >= since) {
                if let Some(n) = page.sender {
                    out[n] += 1;
                }
            }
        }
        out
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// The process among `pids` owning the loopback socket connected from `peer_port` to
/// `our_port` (`/proc/net/tcp` gives its inode, `/proc/PID/fd` its owner).
fn socket_owner(peer_port: u16, our_port: u16, pids: &[(u32, usize)]) -> Option<usize> {
    let mut inode = None;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let port = |a: &str| {
                a.rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
            };
            if f.len() > 9 && port(f[1]) == Some(peer_port) && port(f[2]) == Some(our_port) {
                inode = Some(f[9].to_owned());
            }
        }
    }
    let want = format!("socket:[{}]", inode?);
    for &(pid, node) in pids {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy() == want) {
                return Some(node);
            }
        }
    }
    None
}

fn serve(stream: TcpStream, state: &RxState) -> anyhow::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    stream.set_nodelay(true)?;
    let peer = stream.peer_addr()?.port();
    let pids = state.pids.lock().map(|p| p.clone()).unwrap_or_default();
    let sender = socket_owner(peer, state.port, &pids);
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
        let (mut length, mut close, mut key) = (0usize, false, String::new());
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
            } else if k.eq_ignore_ascii_case("idempotency-key") {
                key = v.to_owned();
            }
        }
        ensure!(length <= 4 << 20, "body of {length} bytes");
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let (at, instant) = (SystemTime::now(), Instant::now());
        let v = serde_json::from_slice::<Value>(&body).unwrap_or_default();
        // Tocsin's page names the incident; Alertmanager's webhook lists alerts (by `id` label).
        let mut found: Vec<(String, String)> = v["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["labels"]["id"].as_str())
            .map(|id| (format!("am-{id}"), id.to_owned()))
            .collect();
        if found.is_empty() {
            let title = v["incident"]["title"].as_str().unwrap_or_default();
            found.push((key, title.to_owned()));
        }
        if let Ok(mut pages) = state.pages.lock() {
            for (key, title) in found {
                pages.push(Page {
                    key,
                    title,
                    at,
                    instant,
                    sender,
                });
            }
        }
        let delay = Duration::from_millis(state.delay_ms.load(Ordering::Relaxed));
        if !delay.is_zero() {
            let track = |d: isize| {
                if let (Some(n), Ok(mut v)) = (sender, state.in_flight.lock()) {
                    v[n] = v[n].saturating_add_signed(d);
                }
            };
            track(1);
            std::thread::sleep(delay);
            track(-1);
        }
        writer.write_all(if close {
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        } else {
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        })?;
        if close {
            return Ok(());
        }
    }
}

// ---- the nodes ----

/// One `tocsin serve` node (restartable on the same port).
pub(crate) struct Node {
    pub(crate) index: usize,
    pub(crate) addr: SocketAddr,
    child: Option<Child>,
    log: PathBuf,
    pub(crate) stopped: bool,
}

impl Node {
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub(crate) fn up(&self) -> bool {
        self.child.is_some() && !self.stopped
    }
}

/// Three nodes on one database, sharing one data folder (the link and webhook secrets).
pub(crate) struct Cluster {
    bin: PathBuf,
    pub(crate) data: PathBuf,
    pub(crate) url: String,
    pub(crate) nodes: Vec<Node>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                // SIGKILL ends a stopped process too.
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn signal(pid: u32, sig: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .context("running kill")?;
    ensure!(status.success(), "kill -{sig} {pid} failed");
    Ok(())
}

impl Cluster {
    /// Starts the nodes: the first alone (it writes the shared secrets), then the others at
    /// once.
    pub(crate) fn start(
        bin: &Path,
        work: &Path,
        url: &str,
        rx: Option<&Receiver>,
    ) -> anyhow::Result<Cluster> {
        let data = work.join("node-data");
        std::fs::create_dir_all(&data)?;
        let mut c = Cluster {
            bin: bin.to_owned(),
            data,
            url: url.to_owned(),
            nodes: Vec::new(),
        };
        for index in 0..NODES {
            let addr: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
            c.nodes.push(Node {
                index,
                addr,
                child: None,
                log: work.join(format!("node-{index}.log")),
                stopped: false,
            });
        }
        c.spawn(0, rx)?;
        c.wait_ready(0)?;
        for i in 1..NODES {
            c.spawn(i, rx)?;
        }
        for i in 1..NODES {
            c.wait_ready(i)?;
        }
        Ok(c)
    }

    fn spawn(&mut self, i: usize, rx: Option<&Receiver>) -> anyhow::Result<()> {
        let node = &mut self.nodes[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)?;
        let url = format!("{}?application_name=tocsin-node-{i}", self.url);
        let mut cmd = Command::new(&self.bin);
        cmd.arg("serve")
            .arg("--listen")
            .arg(node.addr.to_string())
            .arg("--data-dir")
            .arg(&self.data)
            .arg("--database-url")
            .arg(url);
        for var in [
            "TOCSIN_CONFIG",
            "TOCSIN_DATABASE_URL",
            "TOCSIN_DATA_DIR",
            "TOCSIN_ROLE",
        ] {
            cmd.env_remove(var);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting tocsin serve")?;
        eprintln!(
            "chaos: node {i} started on {} (pid {})",
            node.addr,
            child.id()
        );
        if let Some(rx) = rx {
            rx.set_pid(i, Some(child.id()));
        }
        node.child = Some(child);
        node.stopped = false;
        Ok(())
    }

    pub(crate) fn wait_ready(&mut self, i: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let node = &mut self.nodes[i];
        loop {
            if let Some(c) = node.child.as_mut()
                && let Some(status) = c.try_wait()?
            {
                bail!(
                    "node {i} exited with {status} while starting:\n{}",
                    tail(&node.log)
                );
            }
            if bench::request(node.addr, "GET", "/readyz", &[], b"").is_ok_and(|r| r.status == 200)
            {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "node {i} not ready after {READY_TIMEOUT:?}:\n{}",
                tail(&node.log)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn restart(&mut self, i: usize, rx: Option<&Receiver>) -> anyhow::Result<()> {
        ensure!(self.nodes[i].child.is_none(), "node {i} is still running");
        self.spawn(i, rx)?;
        self.wait_ready(i)
    }

    /// SIGKILL, and reaps the process.
    pub(crate) fn kill(&mut self, i: usize, rx: Option<&Receiver>) -> anyhow::Result<()> {
        let mut c = self.nodes[i].child.take().context("node not running")?;
        c.kill().context("SIGKILL")?;
        let _ = c.wait();
        self.nodes[i].stopped = false;
        if let Some(rx) = rx {
            rx.set_pid(i, None);
        }
        Ok(())
    }

    pub(crate) fn pause(&mut self, i: usize) -> anyhow::Result<()> {
        signal(self.nodes[i].pid().context("node not running")?, "STOP")?;
        self.nodes[i].stopped = true;
        Ok(())
    }

    pub(crate) fn resume(&mut self, i: usize) -> anyhow::Result<()> {
        signal(self.nodes[i].pid().context("node not running")?, "CONT")?;
        self.nodes[i].stopped = false;
        Ok(())
    }

    /// An admin API token (`tocsin token create` on the database).
    pub(crate) fn admin_token(&self) -> anyhow::Result<String> {
        let out = Command::new(&self.bin)
            .args(["token", "create", "--name", "chaos", "--role", "admin"])
            .arg("--data-dir")
            .arg(&self.data)
            .arg("--database-url")
            .arg(&self.url)
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

    pub(crate) fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| {
                format!(
                    "--- node {} ({}) ---\n{}",
                    n.index,
                    n.log.display(),
                    tail(&n.log)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Users paged on `rx` at `/level-N` (one per level, each its own webhook), a policy of
/// `levels` levels `delay_minutes` apart, a service, and its events_v2 key: (service id, key,
/// user ids by level).
pub(crate) fn paging_setup(
    api: &mut Api,
    rx: &Receiver,
    name: &str,
    levels: usize,
    delay_minutes: u64,
) -> anyhow::Result<(String, String, Vec<String>)> {
    let mut users = Vec::new();
    let mut policy_levels = Vec::new();
    for l in 1..=levels {
        let user = id_of(&api.post(
            "/api/v1/users",
            &json!({"name": format!("{name} level {l}"),
                    "email": format!("{name}-{l}@example.com")}),
        )?)?;
        api.post(
            &format!("/api/v1/users/{user}/contact-methods"),
            &json!({"type": "webhook", "address": rx.url(&format!("/{name}/level-{l}"))}),
        )?;
        policy_levels.push(json!({"delay_minutes": delay_minutes,
                                  "targets": [{"type": "user", "id": user}]}));
        users.push(user);
    }
    let policy = id_of(&api.post(
        "/api/v1/escalation-policies",
        &json!({"name": name, "repeat": 0, "levels": policy_levels}),
    )?)?;
    let service = id_of(&api.post(
        "/api/v1/services",
        &json!({"name": name, "escalation_policy_id": policy}),
    )?)?;
    let integration = api.post(
        &format!("/api/v1/services/{service}/integrations"),
        &json!({"type": "events_v2", "rate_limit_per_second": 0}),
    )?;
    let key = integration["key"]
        .as_str()
        .context("integration without key")?
        .to_owned();
    Ok((service, key, users))
}

// ---- the stream of triggers ----

/// One event of the stream.
#[derive(Clone, Debug)]
pub(crate) struct Sent {
    pub(crate) dedup_key: String,
    pub(crate) sent: Instant,
    /// The node that answered 2xx, if one did.
    pub(crate) accepted_by: Option<usize>,
    /// Attempts' outcomes ("node 1: 503", "node 2: connection refused").
    pub(crate) failures: Vec<String>,
}

/// A POST with a short timeout on its own connection: the status, or the error.
pub(crate) fn post_quick(
    addr: SocketAddr,
    path: &str,
    body: &str,
    timeout: Duration,
) -> anyhow::Result<u16> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.set_nodelay(true)?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut reader = BufReader::new(s);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {line:?}"))
}

/// Sends triggers at `rate` a second until `stop`, each to the next node that is up (round
/// robin, as a load balancer would), trying up to [`TRIGGER_ATTEMPTS`] nodes with the same
/// dedup key until one answers 2xx.
pub(crate) struct Stream {
    pub(crate) sent: Arc<Mutex<Vec<Sent>>>,
    /// Which nodes the load balancer sends to.
    pub(crate) up: Arc<Mutex<[bool; NODES]>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Stream {
    pub(crate) fn start(
        addrs: [SocketAddr; NODES],
        key: String,
        prefix: String,
        rate: f64,
    ) -> anyhow::Result<Stream> {
        let sent: Arc<Mutex<Vec<Sent>>> = Arc::default();
        let up = Arc::new(Mutex::new([true; NODES]));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (sent, up, stop) = (sent.clone(), up.clone(), stop.clone());
            std::thread::Builder::new()
                .name("chaos-stream".into())
                .spawn(move || {
                    let start = Instant::now();
                    let gap = Duration::from_secs_f64(1.0 / rate);
                    let mut i = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        if let Some(w) =
                            (start + gap * i as u32).checked_duration_since(Instant::now())
                        {
                            std::thread::sleep(w);
                        }
                        let dedup_key = format!("{prefix}-{i}");
                        let body = json!({"routing_key": key, "event_action": "trigger",
                            "dedup_key": dedup_key,
                            "payload": {"summary": format!("Chaos {dedup_key}"),
                                        "source": "chaos", "severity": "critical"}})
                        .to_string();
                        let mut s = Sent {
                            dedup_key,
                            sent: Instant::now(),
                            accepted_by: None,
                            failures: Vec::new(),
                        };
                        let live = up.lock().map(|u| *u).unwrap_or([true; NODES]);
                        let order = (0..NODES)
                            .map(|k| (i + k) % NODES)
                            .filter(|n| live[*n])
                            .take(TRIGGER_ATTEMPTS);
                        for n in order {
                            match post_quick(addrs[n], "/v2/enqueue", &body, TRIGGER_TIMEOUT) {
                                Ok(status) if (200..300).contains(&status) => {
                                    s.accepted_by = Some(n);
                                    break;
                                }
                                Ok(status) => s.failures.push(format!("node {n}: {status}")),
                                Err(e) => s.failures.push(format!("node {n}: {e}")),
                            }
                        }
                        if let Ok(mut v) = sent.lock() {
                            v.push(s);
                        }
                        i += 1;
                    }
                })?
        };
        Ok(Stream {
            sent,
            up,
            stop,
            thread: Some(thread),
        })
    }

    pub(crate) fn set_up(&self, node: usize, up: bool) {
        if let Ok(mut u) = self.up.lock() {
            u[node] = up;
        }
    }

    pub(crate) fn stop(&mut self) -> Vec<Sent> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.sent.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---- reading the database ----

/// Rows of a query, tab-separated fields (psql, unaligned, tuples only).
pub(crate) fn psql(url: &str, sql: &str) -> anyhow::Result<Vec<Vec<String>>> {
    let bin = crate::pg::ensure_installed()?;
    let out = Command::new(bin.join("psql"))
        .arg(url)
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-F",
            "\t",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
        ])
        .arg(sql)
        .output()
        .context("running psql")?;
    ensure!(
        out.status.success(),
        "psql failed on {sql:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect())
}

/// Claims held right now, per node name (escalations and notifications being sent).
pub(crate) fn claims(url: &str) -> String {
    let sql = "SELECT claimed_by, count(*) FROM (
                 SELECT claimed_by FROM escalations WHERE claimed_by IS NOT NULL
                 UNION ALL SELECT claimed_by FROM notifications WHERE state = 'sending'
               ) c GROUP BY 1 ORDER BY 2 DESC";
    match psql(url, sql) {
        Ok(rows) if rows.is_empty() => "none".into(),
        Ok(rows) => rows
            .iter()
            .map(|r| r.join(": "))
            .collect::<Vec<_>>()
            .join(", "),
        Err(e) => format!("? ({e:#})"),
    }
}

// ---- the run ----

/// A fault applied, for the report and for telling expected redeliveries apart.
#[derive(Clone, Debug)]
struct Fault {
    what: String,
    node: Option<usize>,
    at: SystemTime,
    /// SIGKILL or SIGSTOP: pages the node sent just before may be sent again.
    loses_in_flight: bool,
}

pub fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    ensure!(args.is_empty(), "usage: cargo xtask chaos");
    let bin = bench::release_binary_if_stale(root)?;
    let began = Instant::now();
    let lease = engine_lease(root);
    let work = TempDir::new()?;
    let postgres = TestPostgres::start()?;
    let rx = Receiver::start(RECEIVER_DELAY)?;
    eprintln!(
        "chaos: lease {:.1} s (the engine's longest claim lease), late margin {} s, receiver {}",
        lease.as_secs_f64(),
        LATE_MARGIN.as_secs(),
        rx.addr
    );
    let mut cluster = Cluster::start(&bin, &work.path, &postgres.url, Some(&rx))?;
    let result = scenario(&mut cluster, &postgres, &rx, lease, began);
    if result.is_err() {
        eprintln!("chaos: the nodes' last log lines:\n{}", cluster.logs());
    }
    drop(cluster);
    drop(rx);
    drop(postgres);
    result
}

/// The node holding the most sends in flight at the receiver (then: that sent the most pages in
/// the last 5 s), among those up and not excluded.
fn busiest(rx: &Receiver, cluster: &Cluster, exclude: &[usize]) -> usize {
    let sent = rx.sent_by(Instant::now() - Duration::from_secs(5));
    let flying = rx.in_flight();
    (0..NODES)
        .filter(|n| cluster.nodes[*n].up() && !exclude.contains(n))
        .max_by_key(|n| (flying[*n], sent[*n]))
        .unwrap_or(0)
}

fn scenario(
    cluster: &mut Cluster,
    postgres: &TestPostgres,
    rx: &Receiver,
    lease: Duration,
    began: Instant,
) -> anyhow::Result<()> {
    let token = cluster.admin_token()?;
    let mut api = Api::new(cluster.nodes[0].addr, &token)?;
    let (_service, key, users) = paging_setup(&mut api, rx, "chaos", LEVELS, 1)?;
    let addrs: [SocketAddr; NODES] = std::array::from_fn(|i| cluster.nodes[i].addr);
    let mut stream = Stream::start(addrs, key, "chaos".into(), RATE)?;
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let sleep_until = |t: Instant| {
        if let Some(w) = t.checked_duration_since(Instant::now()) {
            std::thread::sleep(w);
        }
    };
    let mut faults: Vec<Fault> = Vec::new();
    let mut note = |f: Fault| {
        eprintln!("chaos: +{:.1} s {}", t0.elapsed().as_secs_f64(), f.what);
        faults.push(f);
    };
    // The first minute's incidents reach level 2 from t0 + 60 s: the kills fall on first
    // pages, the pause and the restart on escalation steps as well.
    sleep_until(at(40));
    let a = busiest(rx, cluster, &[]);
    let flying = rx.in_flight();
    let held = claims(&cluster.url);
    stream.set_up(a, false);
    cluster.kill(a, Some(rx))?;
    note(Fault {
        what: format!(
            "SIGKILL node {a} (sends in flight per node: {flying:?}, pages in the last 5 s: {:?}; claims held: {held})",
            rx.sent_by(Instant::now() - Duration::from_secs(5))
        ),
        node: Some(a),
        at: SystemTime::now(),
        loses_in_flight: true,
    });
    sleep_until(at(45));
    cluster.restart(a, Some(rx))?;
    stream.set_up(a, true);
    note(Fault {
        what: format!("node {a} restarted"),
        node: None,
        at: SystemTime::now(),
        loses_in_flight: false,
    });
    sleep_until(at(62));
    let b = busiest(rx, cluster, &[a]);
    let flying = rx.in_flight();
    let held = claims(&cluster.url);
    stream.set_up(b, false);
    cluster.kill(b, Some(rx))?;
    note(Fault {
        what: format!(
            "SIGKILL node {b} (another; sends in flight per node: {flying:?}; claims held: {held})"
        ),
        node: Some(b),
        at: SystemTime::now(),
        loses_in_flight: true,
    });
    sleep_until(at(67));
    cluster.restart(b, Some(rx))?;
    stream.set_up(b, true);
    note(Fault {
        what: format!("node {b} restarted"),
        node: None,
        at: SystemTime::now(),
        loses_in_flight: false,
    });
    sleep_until(at(75));
    let c = busiest(rx, cluster, &[]);
    let flying = rx.in_flight();
    let held = claims(&cluster.url);
    stream.set_up(c, false);
    cluster.pause(c)?;
    // Longer than the lease plus the margin: work the paused node still blocks (a row lock of
    // a transaction it had open, say) would then be late and fail the check.
    let pause = lease + LATE_MARGIN + Duration::from_secs(3);
    note(Fault {
        what: format!(
            "SIGSTOP node {c} for {:.1} s (sends in flight per node: {flying:?}; claims held: {held})",
            pause.as_secs_f64()
        ),
        node: Some(c),
        at: SystemTime::now(),
        loses_in_flight: true,
    });
    std::thread::sleep(pause);
    cluster.resume(c)?;
    let resumed = Instant::now();
    let resumed_at = SystemTime::now();
    stream.set_up(c, true);
    note(Fault {
        what: format!("SIGCONT node {c}"),
        node: None,
        at: resumed_at,
        loses_in_flight: false,
    });
    std::thread::sleep(Duration::from_secs(8));
    note(Fault {
        what: "PostgreSQL restart (pg_ctl restart -m fast) begins".into(),
        node: None,
        at: SystemTime::now(),
        loses_in_flight: false,
    });
    postgres.restart()?;
    note(Fault {
        what: "PostgreSQL is back".into(),
        node: None,
        at: SystemTime::now(),
        loses_in_flight: false,
    });
    std::thread::sleep(Duration::from_secs(10));
    let sent = stream.stop();
    eprintln!(
        "chaos: +{:.1} s stream stopped: {} triggers, {} accepted",
        t0.elapsed().as_secs_f64(),
        sent.len(),
        sent.iter().filter(|s| s.accepted_by.is_some()).count()
    );
    // Every node must be alive at the end (none crashed by itself).
    for n in &mut cluster.nodes {
        if let Some(child) = n.child.as_mut()
            && let Some(status) = child.try_wait()?
        {
            bail!("node {} exited by itself with {status}", n.index);
        }
    }
    // Wait for the last step of the last incident: due (LEVELS - 1) minutes after it, plus the
    // lease and the margin; done earlier when everything due was sent.
    let last = sent.last().map_or(Instant::now(), |s| s.sent);
    let all_due = last + LEVEL_DELAY * (LEVELS as u32 - 1);
    let deadline = (all_due + lease + LATE_MARGIN + Duration::from_secs(2)).min(began + RUN_MAX);
    sleep_until(all_due);
    loop {
        let pending = psql(
            &cluster.url,
            "SELECT (SELECT count(*) FROM escalations WHERE due_at IS NOT NULL)
                  + (SELECT count(*) FROM notifications WHERE state IN ('queued', 'sending'))",
        )?;
        let pending: u64 = pending
            .first()
            .and_then(|r| r.first())
            .and_then(|v| v.parse().ok())
            .unwrap_or(u64::MAX);
        if pending == 0 || Instant::now() >= deadline {
            eprintln!(
                "chaos: +{:.1} s {pending} steps or pages still pending; checking",
                t0.elapsed().as_secs_f64()
            );
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    // A moment for deliveries in flight to be recorded.
    std::thread::sleep(Duration::from_millis(500));
    let report = check(
        cluster, rx, &sent, &users, &faults, lease, c, resumed, resumed_at,
    )?;
    println!("{}", report.text);
    println!(
        "chaos: {} in {:.0} s",
        if report.failures == 0 {
            "PASSED".to_owned()
        } else {
            format!("FAILED ({} checks)", report.failures)
        },
        began.elapsed().as_secs_f64()
    );
    ensure!(
        report.failures == 0,
        "{} chaos checks failed (see above)",
        report.failures
    );
    Ok(())
}

struct Report {
    text: String,
    failures: usize,
}

#[allow(clippy::too_many_arguments)]
fn check(
    cluster: &Cluster,
    rx: &Receiver,
    sent: &[Sent],
    users: &[String],
    faults: &[Fault],
    lease: Duration,
    paused: usize,
    resumed: Instant,
    resumed_at: SystemTime,
) -> anyhow::Result<Report> {
    let url = &cluster.url;
    let mut out = String::new();
    let mut failures = 0usize;
    let mut verdict = |ok: bool, line: String, out: &mut String| {
        out.push_str(if ok { "  ok    " } else { "  FAIL  " });
        out.push_str(&line);
        out.push('\n');
        if !ok {
            failures += 1;
        }
    };
    let limit_ms = (lease + LATE_MARGIN).as_secs_f64() * 1000.0;
    out.push_str("\nchaos: faults applied\n");
    for f in faults {
        out.push_str(&format!("  {} {}\n", bench::rfc3339(f.at), f.what));
    }
    out.push_str("\nchaos: checks\n");

    // 1. Events: every 2xx stored once, the others at most once.
    let alerts = psql(
        url,
        "SELECT a.dedup_key, a.incident_id, i.created_at FROM alerts a
         JOIN incidents i ON i.id = a.incident_id WHERE a.dedup_key LIKE 'chaos-%'",
    )?;
    let mut by_key: HashMap<&str, Vec<(&str, f64)>> = HashMap::new();
    for r in &alerts {
        if let [k, inc, created] = r.as_slice() {
            by_key
                .entry(k)
                .or_default()
                .push((inc, created.parse().unwrap_or(0.0)));
        }
    }
    let accepted: Vec<&Sent> = sent.iter().filter(|s| s.accepted_by.is_some()).collect();
    let lost: Vec<&str> = accepted
        .iter()
        .filter(|s| by_key.get(s.dedup_key.as_str()).is_none_or(Vec::is_empty))
        .map(|s| s.dedup_key.as_str())
        .collect();
    let doubled: Vec<&str> = by_key
        .iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(k, _)| *k)
        .collect();
    let refused = sent.len() - accepted.len();
    let refused_stored = sent
        .iter()
        .filter(|s| s.accepted_by.is_none() && by_key.contains_key(s.dedup_key.as_str()))
        .count();
    verdict(
        lost.is_empty() && doubled.is_empty(),
        format!(
            "events: {} sent, {} answered 2xx, all stored once (lost: {} {:?}; stored twice: {} {:?}); \
             {refused} never answered 2xx, of which {refused_stored} stored anyway (allowed: at most once)",
            sent.len(),
            accepted.len(),
            lost.len(),
            &lost[..lost.len().min(5)],
            doubled.len(),
            &doubled[..doubled.len().min(5)]
        ),
        &mut out,
    );
    let refusals: BTreeMap<String, usize> =
        sent.iter()
            .flat_map(|s| s.failures.iter())
            .fold(BTreeMap::new(), |mut m, f| {
                let short: String = f.chars().take(60).collect();
                *m.entry(short).or_default() += 1;
                m
            });
    if !refusals.is_empty() {
        out.push_str("        failed attempts (then tried on the next node):\n");
        for (f, n) in refusals.iter().take(8) {
            out.push_str(&format!("          {n} × {f}\n"));
        }
    }
    let created: HashMap<&str, f64> = by_key.values().flat_map(|v| v.iter().copied()).collect();

    // 2. Steps: one `escalated` entry per level per incident, on time.
    let entries = psql(
        url,
        "SELECT incident_id, at, message FROM timeline WHERE kind = 'escalated'
         AND incident_id IS NOT NULL",
    )?;
    let mut steps: HashMap<(&str, usize), Vec<f64>> = HashMap::new();
    for r in &entries {
        if let [inc, at, msg] = r.as_slice() {
            let level = msg
                .strip_prefix("Escalated to level ")
                .map(|r| {
                    r.chars()
                        .take_while(char::is_ascii_digit)
                        .collect::<String>()
                })
                .and_then(|d| d.parse::<usize>().ok())
                .unwrap_or(0);
            steps
                .entry((inc, level))
                .or_default()
                .push(at.parse().unwrap_or(0.0));
        }
    }
    let (mut missing, mut repeated, mut late_steps) = (Vec::new(), Vec::new(), Vec::new());
    let mut step_late_max = 0.0f64;
    for (inc, c) in &created {
        for level in 1..=LEVELS {
            let due = c + (level - 1) as f64 * LEVEL_DELAY.as_secs_f64() * 1000.0;
            match steps.get(&(*inc, level)).map(Vec::as_slice) {
                None | Some([]) => missing.push(format!("{inc} level {level}")),
                Some([at]) => {
                    step_late_max = step_late_max.max(at - due);
                    if at - due > limit_ms {
                        late_steps.push(format!("{inc} level {level}: {:.1} s", (at - due) / 1e3));
                    }
                }
                Some(more) => repeated.push(format!("{inc} level {level}: {} times", more.len())),
            }
        }
    }
    let extra = steps
        .iter()
        .filter(|((inc, l), _)| !created.contains_key(inc) || *l == 0 || *l > LEVELS)
        .count();
    verdict(
        missing.is_empty() && repeated.is_empty() && extra == 0,
        format!(
            "escalation steps: {} due ({} incidents × {LEVELS} levels), each taken once \
             (missing: {} {:?}; taken twice: {} {:?}; unexpected: {extra})",
            created.len() * LEVELS,
            created.len(),
            missing.len(),
            &missing[..missing.len().min(5)],
            repeated.len(),
            &repeated[..repeated.len().min(5)]
        ),
        &mut out,
    );
    verdict(
        late_steps.is_empty(),
        format!(
            "steps on time: latest {:.1} s after due (limit: lease {:.1} s + {} s); late: {} {:?}",
            step_late_max / 1e3,
            lease.as_secs_f64(),
            LATE_MARGIN.as_secs(),
            late_steps.len(),
            &late_steps[..late_steps.len().min(5)]
        ),
        &mut out,
    );

    // 3. Notifications: one per step, sent.
    let rows = psql(
        url,
        "SELECT idempotency_key, incident_id, user_id, state FROM notifications",
    )?;
    // For the ones not sent: their claim, as the database has it now.
    let unsent_detail = psql(
        url,
        "SELECT idempotency_key, state, coalesce(claimed_by, '-'),
                coalesce(claimed_until - (extract(epoch from clock_timestamp()) * 1000)::bigint, 0),
                attempts, coalesce(last_error, '-'),
                due_at - (extract(epoch from clock_timestamp()) * 1000)::bigint
         FROM notifications WHERE state <> 'sent'",
    )?;
    let mut notes: HashMap<&str, (&str, usize)> = HashMap::new();
    let mut per_step: HashMap<(&str, usize), usize> = HashMap::new();
    let mut unsent = Vec::new();
    for r in &rows {
        if let [key, inc, user, state] = r.as_slice() {
            let level = users.iter().position(|u| u == user).map_or(0, |p| p + 1);
            notes.insert(key, (inc, level));
            *per_step.entry((inc, level)).or_default() += 1;
            if state != "sent" {
                unsent.push(format!("{key}: {state}"));
            }
        }
    }
    let wrong: Vec<String> = created
        .keys()
        .flat_map(|inc| (1..=LEVELS).map(move |l| (*inc, l)))
        .filter(|k| per_step.get(k).copied().unwrap_or(0) != 1)
        .map(|(inc, l)| format!("{inc} level {l}: {}", per_step.get(&(inc, l)).unwrap_or(&0)))
        .collect();
    verdict(
        wrong.is_empty() && unsent.is_empty(),
        format!(
            "notifications: {} recorded, one per step (wrong: {} {:?}), all sent (not sent: {} {:?})",
            rows.len(),
            wrong.len(),
            &wrong[..wrong.len().min(5)],
            unsent.len(),
            &unsent[..unsent.len().min(5)]
        ),
        &mut out,
    );
    let pages = rx.pages();
    for r in unsent_detail.iter().take(5) {
        if let [key, state, by, until_ms, attempts, error, due_ms] = r.as_slice() {
            let seen: Vec<String> = pages
                .iter()
                .filter(|p| &p.key == key)
                .map(|p| {
                    format!(
                        "{} by node {}",
                        bench::rfc3339(p.at),
                        p.sender.map_or("?".into(), |n| n.to_string())
                    )
                })
                .collect();
            out.push_str(&format!(
                "        {key}: {state}, claimed by {by} for {until_ms} ms more, due {due_ms} ms from now, \
                 {attempts} attempt(s), last error {error}; received: {seen:?}\n"
            ));
        }
    }

    // 4. Pages at the receiver: one per idempotency key, on time.
    let mut arrivals: HashMap<&str, Vec<&Page>> = HashMap::new();
    for p in &pages {
        arrivals.entry(p.key.as_str()).or_default().push(p);
    }
    let never: Vec<&str> = notes
        .keys()
        .filter(|k| !arrivals.contains_key(*k))
        .copied()
        .collect();
    let unknown = arrivals.keys().filter(|k| !notes.contains_key(*k)).count();
    let (mut redelivered, mut duplicates) = (Vec::new(), Vec::new());
    let (mut late_pages, mut page_late_max) = (Vec::new(), 0.0f64);
    for (key, v) in &arrivals {
        let first = v[0];
        if v.len() > 1 {
            // Sent again because its first sender died or paused right after sending it?
            let crash = faults.iter().find(|f| {
                f.loses_in_flight
                    && f.node.is_some()
                    && f.node == first.sender
                    && f.at.duration_since(first.at).is_ok_and(|d| d <= IN_FLIGHT)
            });
            let senders: Vec<String> = v
                .iter()
                .map(|p| {
                    format!(
                        "{} by node {}",
                        bench::rfc3339(p.at),
                        p.sender.map_or("?".into(), |n| n.to_string())
                    )
                })
                .collect();
            match crash {
                Some(f) => redelivered.push(format!("{key} ({}; {})", senders.join(", "), f.what)),
                None => duplicates.push(format!("{key} ({})", senders.join(", "))),
            }
        }
        if let Some(&(inc, level)) = notes.get(key)
            && let Some(c) = created.get(inc)
            && level > 0
        {
            let due = c + (level - 1) as f64 * LEVEL_DELAY.as_secs_f64() * 1000.0;
            let late = unix_ms_of(first.at) - due;
            page_late_max = page_late_max.max(late);
            if late > limit_ms {
                late_pages.push(format!("{key}: {:.1} s", late / 1e3));
            }
        }
    }
    verdict(
        never.is_empty() && unknown == 0,
        format!(
            "pages: {} received, every recorded notification arrived (never: {} {:?}; unknown keys: {unknown})",
            pages.len(),
            never.len(),
            &never[..never.len().min(5)]
        ),
        &mut out,
    );
    verdict(
        duplicates.is_empty(),
        format!(
            "no duplicate page per idempotency key: {} duplicated {:?}",
            duplicates.len(),
            &duplicates[..duplicates.len().min(5)]
        ),
        &mut out,
    );
    if !redelivered.is_empty() {
        out.push_str(&format!(
            "  note  {} page(s) sent again, same Idempotency-Key, because the first sender was \
             killed or paused within {} s of sending (between the send and its record; an \
             idempotent receiver drops them): {:?}\n",
            redelivered.len(),
            IN_FLIGHT.as_secs(),
            &redelivered[..redelivered.len().min(5)]
        ));
    }
    verdict(
        late_pages.is_empty(),
        format!(
            "pages on time: latest {:.1} s after its step was due (limit {:.1} s); late: {} {:?}",
            page_late_max / 1e3,
            limit_ms / 1e3,
            late_pages.len(),
            &late_pages[..late_pages.len().min(5)]
        ),
        &mut out,
    );

    // 5. Fencing: what the paused node sent after it resumed, and whether another node had
    // already sent it.
    let after: Vec<&Page> = pages
        .iter()
        .filter(|p| p.sender == Some(paused) && p.instant >= resumed)
        .collect();
    let stale: Vec<&str> = after
        .iter()
        .filter(|p| {
            arrivals.get(p.key.as_str()).is_some_and(|v| {
                v.iter()
                    .any(|q| q.instant < p.instant && q.sender != Some(paused))
            })
        })
        .map(|p| p.key.as_str())
        .collect();
    let first_after = after
        .iter()
        .map(|p| p.at.duration_since(resumed_at).unwrap_or_default())
        .min();
    verdict(
        stale.is_empty(),
        format!(
            "fencing: node {paused} sent {} page(s) after SIGCONT (first {}), {} of them work another node had taken over {:?}",
            after.len(),
            first_after.map_or("-".into(), |d| format!("{:.2} s after", d.as_secs_f64())),
            stale.len(),
            &stale[..stale.len().min(5)]
        ),
        &mut out,
    );
    let by_node = pages.iter().fold([0usize; NODES + 1], |mut a, p| {
        a[p.sender.unwrap_or(NODES)] += 1;
        a
    });
    out.push_str(&format!(
        "  info  pages sent per node: {:?} (unattributed: {}); receiver errors: {}\n",
        &by_node[..NODES],
        by_node[NODES],
        rx.state.errors.load(Ordering::Relaxed)
    ));
    Ok(Report {
        text: out,
        failures,
    })
}
