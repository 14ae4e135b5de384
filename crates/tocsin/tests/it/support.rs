//! `TestApp`: one server per test on port 0 with a fresh data folder (and its SQLite file, or a
//! fresh PostgreSQL database) and a manual clock, plus helpers to call it the way a user or a
//! sender would.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use tocsin::config::{Database, ServeConfig};
use tocsin::server::{self, Running};
use tocsin_core::Role;
use tocsin_core::rate::RateLimit;
use tocsin_engine::{IngestorConfig, ManualClock};
use tocsin_store::NewApiToken;

pub const T0: &str = "2026-11-25T10:00:00Z";

pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tocsin-it-{tag}-{}-{}",
        std::process::id(),
        uuid_like()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{nanos:x}{}", N.fetch_add(1, Ordering::Relaxed))
}

pub struct TestApp {
    pub url: String,
    pub dir: PathBuf,
    pub clock: Arc<ManualClock>,
    pub client: reqwest::Client,
    pub admin: String,
    pub running: Option<Running>,
    keep_dir: bool,
    /// The PostgreSQL database of this server (shared with its other nodes), dropped with the
    /// last of them.
    postgres: Option<Arc<tocsin_store::postgres::ScratchDatabase>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if !self.keep_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub struct Options {
    pub rate_limit: RateLimit,
    pub ingest: IngestorConfig,
    pub notify: tocsin::config::NotifySection,
    /// What the node runs (`all`; `api` and `engine` need PostgreSQL).
    pub role: tocsin::config::NodeRole,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            rate_limit: RateLimit::INGEST_DEFAULT,
            ingest: IngestorConfig::default(),
            notify: tocsin::config::NotifySection::default(),
            role: tocsin::config::NodeRole::All,
        }
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(o: Options) -> Self {
        Self::spawn_in(temp_dir("app"), T0.parse().expect("T0"), o).await
    }

    /// A server on an existing data folder, its clock starting at `start`.
    pub async fn spawn_in(dir: PathBuf, start: jiff::Timestamp, o: Options) -> Self {
        let database = Database::Sqlite(dir.join("tocsin.db"));
        let mut app = Self::start(dir, database, start, o).await;
        app.admin = app.make_admin_token().await;
        app
    }

    /// A server on a fresh PostgreSQL database on the server `TOCSIN_TEST_DATABASE_URL` names,
    /// or `None` (saying so) when the variable is unset.
    pub async fn spawn_on_postgres(test: &str, o: Options) -> Option<Self> {
        let Some(server) = tocsin_store::postgres::test_server_url() else {
            eprintln!(
                "SKIPPED {test} on PostgreSQL: {} is not set (a server URL such as \
                 postgres://postgres@127.0.0.1:5432/postgres; `cargo xtask test` starts one)",
                tocsin_store::postgres::TEST_DATABASE_URL_VAR
            );
            return None;
        };
        let scratch = tocsin_store::postgres::ScratchDatabase::create(&server)
            .await
            .expect("create a scratch database");
        let database = Database::Postgres(scratch.url().to_owned());
        let start = T0.parse().expect("T0");
        let mut app = Self::start(temp_dir("pg"), database, start, o).await;
        app.postgres = Some(Arc::new(scratch));
        app.admin = app.make_admin_token().await;
        Some(app)
    }

    /// The URL of this server's PostgreSQL database (for pg_dump), if it runs on one.
    pub fn postgres_url(&self) -> Option<&str> {
        self.postgres.as_deref().map(|p| p.url())
    }

    /// Another node on this server's PostgreSQL database and data folder (so with the same
    /// link and webhook secrets), with a clock of its own set to this one's time.
    pub async fn another_node(&self, o: Options) -> Self {
        let scratch = self.postgres.clone().expect("a node on PostgreSQL");
        let database = Database::Postgres(scratch.url().to_owned());
        let now = tocsin_engine::Clock::now(&*self.clock);
        let mut app = Self::start(self.dir.clone(), database, now, o).await;
        app.postgres = Some(scratch);
        app.keep_dir = true;
        app.admin = self.admin.clone();
        app
    }

    async fn start(dir: PathBuf, database: Database, start: jiff::Timestamp, o: Options) -> Self {
        crypto();
        let config = ServeConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: dir.clone(),
            database,
            public_url: None,
            rate_limit: o.rate_limit,
            ingest: o.ingest,
            notify: o.notify,
            role: o.role,
            politeness: Default::default(),
            retention: Default::default(),
        };
        let clock = Arc::new(ManualClock::new(start));
        let running = server::start(config, clock.clone())
            .await
            .expect("server starts");
        Self {
            url: running.url.clone(),
            dir,
            clock,
            client: reqwest::Client::new(),
            admin: String::new(),
            running: Some(running),
            keep_dir: false,
            postgres: None,
        }
    }

    /// An admin API token made straight in the store.
    async fn make_admin_token(&self) -> String {
        let admin = tocsin_web::auth::new_token();
        self.running
            .as_ref()
            .expect("running")
            .state
            .store
            .create_api_token(
                NewApiToken {
                    name: "test admin".into(),
                    role: Role::Admin,
                    user_id: None,
                    token_hash: tocsin_web::auth::hash_secret(&admin),
                },
                tocsin_engine::Clock::now(&*self.clock),
            )
            .await
            .expect("admin token");
        admin
    }

    /// Stops the server as a crash would (every task aborted, nothing flushed or drained) and
    /// hands back the data folder for a restart.
    pub fn crash(mut self) -> PathBuf {
        if let Some(r) = self.running.take() {
            r.abort();
        }
        self.keep_dir = true;
        self.dir.clone()
    }

    /// Sends every notification due now (the background dispatcher does too).
    pub async fn dispatch(&self) {
        self.running
            .as_ref()
            .expect("running")
            .dispatcher
            .run_due()
            .await
            .expect("dispatch pass");
    }

    /// Takes every escalation step due now (the background engine does too; either way the
    /// lease makes each step happen once).
    pub async fn escalate(&self) {
        self.running
            .as_ref()
            .expect("running")
            .escalator
            .run_due()
            .await
            .expect("escalation pass");
    }

    /// Runs every monitor check (and heartbeat deadline) due now, and records them.
    pub async fn check_monitors(&self) {
        self.running
            .as_ref()
            .expect("running")
            .monitors
            .run_due()
            .await
            .expect("monitor pass");
    }

    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await.expect("clean shutdown");
        }
    }

    /// Sends JSON (or nothing) with an optional bearer token; returns status, headers and body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Resp::from(req.send().await.expect("request sent")).await
    }

    /// Posts raw bytes (for malformed bodies).
    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> Resp {
        let req = self
            .client
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body);
        Resp::from(req.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call("GET", path, Some(&self.admin), None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call("POST", path, Some(&self.admin), Some(body)).await
    }

    pub async fn service(&self, name: &str) -> String {
        let r = self.post("/api/v1/services", json!({"name": name})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["id"].as_str().expect("id").to_owned()
    }

    /// An escalation policy with these `levels`, a service using it and an Events API v2
    /// integration on it; returns the service's id and the integration key.
    pub async fn paging_service(&self, name: &str, levels: Value) -> (String, String) {
        let r = self
            .post(
                "/api/v1/escalation-policies",
                json!({"name": name, "levels": levels}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let r = self
            .post(
                "/api/v1/services",
                json!({"name": name, "escalation_policy_id": r.body["id"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let svc = r.body["id"].as_str().expect("id").to_owned();
        let key = self.integration(&svc, "events_v2").await;
        (svc, key)
    }

    /// Creates an integration; returns its key.
    pub async fn integration(&self, service: &str, kind: &str) -> String {
        self.integration_with(service, json!({"type": kind})).await
    }

    pub async fn integration_with(&self, service: &str, body: Value) -> String {
        let r = self
            .post(&format!("/api/v1/services/{service}/integrations"), body)
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["key"].as_str().expect("key").to_owned()
    }

    /// A token of the given role, made through the API.
    pub async fn token(&self, role: &str) -> String {
        let r = self
            .post("/api/v1/tokens", json!({"name": role, "role": role}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["secret"].as_str().expect("secret").to_owned()
    }

    pub async fn enqueue(&self, body: Value) -> Resp {
        self.call("POST", "/v2/enqueue", None, Some(body)).await
    }

    /// Every incident of a service, all pages.
    pub async fn incidents(&self, service: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor = String::new();
        loop {
            let r = self
                .get(&format!(
                    "/api/v1/incidents?service_id={service}&limit=100&cursor={cursor}"
                ))
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            all.extend(r.body["incidents"].as_array().cloned().unwrap_or_default());
            match r.body["next_cursor"].as_str() {
                Some(c) => cursor = c.to_owned(),
                None => return all,
            }
        }
    }
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub async fn from(r: reqwest::Response) -> Self {
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            body,
            text,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A fixture file's text.
pub fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// A fixture with `{{KEY}}` replaced.
pub fn fixture_with_key(name: &str, key: &str) -> Value {
    serde_json::from_str(&fixture(name).replace("{{KEY}}", key)).expect("fixture is JSON")
}

/// As `main` does: one rustls provider for every HTTP client in the process (nextest runs
/// each test in a process of its own, so every entry point calls this).
pub fn crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The `tocsin` binary built for these tests.
pub fn bin() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_tocsin"));
    c.env_remove("TOCSIN_DATA_DIR")
        .env_remove("TOCSIN_DATABASE_URL")
        .env_remove("TOCSIN_CONFIG")
        .env_remove("TOCSIN_LISTEN");
    c
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `tocsin serve` as a child process; killed (SIGKILL) on drop if still running.
pub struct ServeProcess {
    pub child: std::process::Child,
    pub url: String,
    pub stdout: std::sync::mpsc::Receiver<String>,
}

impl ServeProcess {
    pub async fn start(data_dir: &std::path::Path) -> Self {
        Self::start_with(data_dir, &[]).await
    }

    /// `tocsin serve --data-dir DATA_DIR ARGS…` (ARGS such as `--database-url URL`).
    pub async fn start_with(data_dir: &std::path::Path, args: &[&str]) -> Self {
        use std::io::BufRead;
        crypto();
        let port = free_port();
        let mut child = bin()
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data_dir)
            .args(args)
            .env("TOCSIN_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn tocsin serve");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let url = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if client
                .get(format!("{url}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("tocsin serve exited early: {status}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "tocsin serve did not come up"
            );
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        Self {
            child,
            url,
            stdout: rx,
        }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Runs the CLI to completion; returns (success, stdout, stderr).
pub fn cli(args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    use std::io::Write;
    let mut child = bin()
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn tocsin");
    // Write the input (if any), then close standard input by dropping the handle.
    if let (Some(mut input), Some(s)) = (child.stdin.take(), stdin) {
        input.write_all(s.as_bytes()).expect("stdin");
    }
    let out = child.wait_with_output().expect("tocsin ran");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
