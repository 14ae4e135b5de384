//! Real local peers for the channel tests: an axum receiver on 127.0.0.1:0 that records every
//! request and answers from a script (status, headers, body, or hang), and a real SMTP server
//! (aiosmtpd) with throw-away certificates. No mocks of the notifier's own code.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::VecDeque;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;
use tocsin_core::Urgency;
use tocsin_notify::{Message, MessageKind, Notifier, NotifyConfig, Secret};

pub const WEBHOOK_SECRET: &str = "whsec-test-0123456789";

pub fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn config() -> NotifyConfig {
    init();
    let mut config = NotifyConfig::new(Secret::new(WEBHOOK_SECRET));
    config.request_timeout = Duration::from_secs(5);
    config
}

pub fn notifier(config: NotifyConfig) -> Notifier {
    Notifier::new(config).expect("the test configuration is valid")
}

pub fn page() -> Message {
    Message {
        idempotency_key: "inc-42:step-1:user-7".into(),
        incident_number: 42,
        title: "db down".into(),
        urgency: Urgency::High,
        service: "payments".into(),
        open_for: Duration::from_secs(307),
        url: "https://tocsin.example/incidents/42".into(),
        ack_url: Some("https://tocsin.example/ack/tok.sig".into()),
        ack_token: Some("tok.sig".into()),
        ack_token_short: None,
        hooks_url: Some("https://tocsin.example/hooks".into()),
        ack_code: Some("4821".into()),
        kind: MessageKind::Page,
    }
}

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What the receiver answers next.
#[derive(Clone, Debug)]
pub enum Reply {
    Status {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Never answers (the client must time out).
    Hang,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply::Status {
            status,
            headers: vec![],
            body: String::new(),
        }
    }

    pub fn with_body(status: u16, body: impl Into<String>) -> Reply {
        Reply::Status {
            status,
            headers: vec![],
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        if let Reply::Status { headers, .. } = &mut self {
            headers.push((name, value.into()));
        }
        self
    }
}

#[derive(Clone)]
struct ReceiverState {
    requests: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    default: Reply,
}

/// An HTTP server on 127.0.0.1:0 recording every request; answers scripted replies in order,
/// then the default. Stops when dropped.
pub struct Receiver {
    pub base: String,
    state: ReceiverState,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        Receiver::start_with(Reply::with_body(200, "ok")).await
    }

    pub async fn start_with(default: Reply) -> Receiver {
        let state = ReceiverState {
            requests: Arc::default(),
            script: Arc::default(),
            default,
        };
        let app = Router::new().fallback(record).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { base, state, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Queues replies for the next requests.
    pub fn then(&self, reply: Reply) -> &Self {
        self.state.script.lock().expect("lock").push_back(reply);
        self
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().expect("lock").clone()
    }

    pub fn only_request(&self) -> Recorded {
        let all = self.requests();
        assert_eq!(all.len(), 1, "expected exactly one request, got {all:#?}");
        all.into_iter().next().expect("one request")
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(
    State(state): State<ReceiverState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.requests.lock().expect("lock").push(Recorded {
        method,
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        headers,
        body,
    });
    let next = state.script.lock().expect("lock").pop_front();
    match next.unwrap_or(state.default) {
        Reply::Hang => std::future::pending().await,
        Reply::Status {
            status,
            headers,
            body,
        } => {
            let mut resp = (StatusCode::from_u16(status).expect("status"), body).into_response();
            for (name, value) in headers {
                resp.headers_mut()
                    .insert(name, value.parse().expect("header value"));
            }
            resp
        }
    }
}

/// A port on which nothing listens (bound, then released).
pub fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Standard base64, for checking `Authorization: Basic …`.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// A real SMTP server: Debian's python3-aiosmtpd, driven by tests/it/smtp_server.py.

/// How the test SMTP server protects its connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpMode {
    Plain,
    StartTls,
    Tls,
}

/// A mail as aiosmtpd received it.
#[derive(Debug)]
pub struct Mail {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub data: String,
    pub tls: bool,
    pub auth: bool,
}

impl Mail {
    /// A header's value (first occurrence, unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// The body with quoted-printable soft breaks and `=3D` undone: good enough to search.
    pub fn body_text(&self) -> String {
        self.data.replace("=\r\n", "").replace("=3D", "=")
    }
}

pub struct SmtpServer {
    pub port: u16,
    /// PEM of the CA that signed the server's certificate (for TLS modes).
    pub ca_pem: Option<String>,
    child: Child,
    mails: mpsc::Receiver<Value>,
    dir: PathBuf,
}

static SERVERS: AtomicU32 = AtomicU32::new(0);

const AIOSMTPD_MISSING: &str = "the SMTP tests run a real SMTP server from Debian's python3-aiosmtpd \
     package, which is not installed: run `apt-get install -y python3-aiosmtpd`";

/// A Python 3 that can import aiosmtpd (Debian's lives in /usr/bin, which a pyenv or venv on
/// PATH may hide).
fn python_with_aiosmtpd() -> &'static str {
    ["/usr/bin/python3", "python3"]
        .into_iter()
        .find(|py| {
            Command::new(py)
                .args(["-c", "import aiosmtpd"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .unwrap_or_else(|| panic!("{AIOSMTPD_MISSING}"))
}

fn openssl(dir: &PathBuf, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("the TLS SMTP tests need the openssl command (Debian package openssl): {e}")
        });
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throw-away CA and a certificate for `localhost` and 127.0.0.1 signed by it.
fn make_certificates(dir: &PathBuf) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Tocsin test CA",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n\
         subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .expect("write ext file");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
}

impl SmtpServer {
    /// Starts aiosmtpd on 127.0.0.1 (a free port). With `login`, AUTH is required and only
    /// that user and password pass. Recipients `busy@…` get 451, `nobody@…` get 550.
    pub fn start(mode: SmtpMode, login: Option<(&str, &str)>) -> SmtpServer {
        let python = python_with_aiosmtpd();
        let n = SERVERS.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("tocsin-notify-smtp-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let ca_pem = if mode == SmtpMode::Plain {
            None
        } else {
            make_certificates(&dir);
            Some(std::fs::read_to_string(dir.join("ca.pem")).expect("ca.pem"))
        };
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/smtp_server.py");
        let mode_word = match mode {
            SmtpMode::Plain => "plain",
            SmtpMode::StartTls => "starttls",
            SmtpMode::Tls => "tls",
        };
        let (user, password) = login.unwrap_or(("", ""));
        let mut child = Command::new(python)
            .arg(&script)
            .args([mode_word, "server.pem", "server.key", user, password])
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {python} {}: {e}", script.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && tx.send(v).is_err()
                {
                    break;
                }
            }
        });
        let ready = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("the SMTP server did not start; {AIOSMTPD_MISSING}?"));
        assert_eq!(ready["event"], "ready", "{ready}");
        let port = ready["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .expect("port");
        SmtpServer {
            port,
            ca_pem,
            child,
            mails: rx,
            dir,
        }
    }

    /// The next mail the server accepted.
    pub fn next_mail(&self) -> Mail {
        let v = self
            .mails
            .recv_timeout(Duration::from_secs(10))
            .expect("a mail within 10 s");
        assert_eq!(v["event"], "mail", "{v}");
        let strings = |k: &str| -> Vec<String> {
            v[k].as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        Mail {
            mail_from: v["mail_from"].as_str().unwrap_or("").to_string(),
            rcpt_tos: strings("rcpt_tos"),
            data: v["data"].as_str().unwrap_or("").to_string(),
            tls: v["tls"].as_bool().unwrap_or(false),
            auth: v["auth"].as_bool().unwrap_or(false),
        }
    }

    /// Whether a mail arrived (waits briefly).
    pub fn has_mail(&self) -> bool {
        self.mails.recv_timeout(Duration::from_millis(300)).is_ok()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
