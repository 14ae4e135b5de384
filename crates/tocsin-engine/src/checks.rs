//! The active checks: one attempt against a target, bounded in time and in what it reads.
//! Every fault (bad URL, unresolvable host, refused connection, certificate error, timeout,
//! redirect loop, endless body) is a failed result with a clear message, never a stuck task.

use std::time::{Duration, Instant};
use tocsin_core::monitor::MonitorKind;
use tocsin_store::CheckOutcome;

/// Bytes of a response body read at most (the rest is not waited for).
pub const BODY_READ_MAX: usize = 1024 * 1024;
/// Redirects followed at most.
const REDIRECTS_MAX: usize = 10;

/// HTTP clients for each (follow redirects, verify TLS) pair, built once.
pub struct Clients {
    clients: [[reqwest::Client; 2]; 2],
}

impl Clients {
    pub fn new() -> Result<Self, reqwest::Error> {
        let build = |follow: bool, verify: bool| {
            reqwest::Client::builder()
                .redirect(if follow {
                    reqwest::redirect::Policy::limited(REDIRECTS_MAX)
                } else {
                    reqwest::redirect::Policy::none()
                })
                .tls_danger_accept_invalid_certs(!verify)
                .user_agent(concat!("Tocsin-monitor/", env!("CARGO_PKG_VERSION")))
                .pool_max_idle_per_host(2)
                .build()
        };
        Ok(Clients {
            clients: [
                [build(false, false)?, build(false, true)?],
                [build(true, false)?, build(true, true)?],
            ],
        })
    }

    fn get(&self, follow: bool, verify: bool) -> &reqwest::Client {
        &self.clients[usize::from(follow)][usize::from(verify)]
    }
}

/// Runs one check of a monitor with these options (as validated by the API).
pub async fn run(clients: &Clients, kind: MonitorKind, config: &serde_json::Value) -> CheckOutcome {
    let timeout = Duration::from_secs(
        config["timeout_seconds"]
            .as_u64()
            .unwrap_or(10)
            .clamp(1, 60),
    );
    let started = Instant::now();
    let result = tokio::time::timeout(timeout, async {
        match kind {
            MonitorKind::Http => http(clients, config, started).await,
            MonitorKind::Tcp => tcp(config).await,
            other => Err(format!("{other} checks are not available")),
        }
    })
    .await;
    let latency_ms = Some(started.elapsed().as_millis() as u64);
    match result {
        Ok(Ok(message)) => CheckOutcome {
            ok: true,
            latency_ms,
            message,
        },
        Ok(Err(message)) => CheckOutcome {
            ok: false,
            latency_ms,
            message,
        },
        Err(_) => CheckOutcome {
            ok: false,
            latency_ms,
            message: format!("timed out after {} s", timeout.as_secs()),
        },
    }
}

async fn tcp(config: &serde_json::Value) -> Result<String, String> {
    let host = config["host"].as_str().ok_or("no host configured")?;
    let port = config["port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .ok_or("no port configured")?;
    let addrs: Vec<_> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let mut last = format!("{host} has no address");
    for addr in addrs {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(_) => return Ok(format!("connected to {addr}")),
            Err(e) => last = format!("connecting to {addr}: {e}"),
        }
    }
    Err(last)
}

/// Why a request failed, in a person's words.
fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut chain = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_redirect() {
        format!("too many redirects ({chain})")
    } else if e.is_timeout() {
        format!("timed out ({chain})")
    } else {
        chain
    }
}

async fn http(
    clients: &Clients,
    c: &serde_json::Value,
    started: Instant,
) -> Result<String, String> {
    let url = c["url"].as_str().ok_or("no URL configured")?;
    let method = reqwest::Method::from_bytes(c["method"].as_str().unwrap_or("GET").as_bytes())
        .map_err(|_| "invalid method".to_owned())?;
    let client = clients.get(
        c["follow_redirects"].as_bool().unwrap_or(true),
        c["verify_tls"].as_bool().unwrap_or(true),
    );
    let mut req = client.request(method, url);
    if let Some(h) = c["headers"].as_object() {
        for (k, v) in h {
            if let Some(v) = v.as_str() {
                req = req.header(k.as_str(), v);
            }
        }
    }
    if let Some(b) = c["body"].as_str() {
        req = req.body(b.to_owned());
    }
    let mut resp = req.send().await.map_err(|e| describe(&e))?;
    let status = resp.status().as_u16();
    let expected_ok = match c["expected_status"].as_array() {
        Some(codes) => codes.iter().any(|x| x.as_u64() == Some(u64::from(status))),
        None => (200..400).contains(&status),
    };
    if !expected_ok {
        return Err(format!("HTTP {status}"));
    }
    let needs_body = ["body_contains", "body_not_contains", "json_pointer"]
        .iter()
        .any(|k| !c[*k].is_null());
    let mut body = Vec::new();
    if needs_body {
        while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&e))? {
            let room = BODY_READ_MAX - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() >= BODY_READ_MAX {
                break;
            }
        }
    }
    let elapsed = started.elapsed().as_millis() as u64;
    if let Some(max) = c["max_response_ms"].as_u64()
        && elapsed > max
    {
        return Err(format!(
            "HTTP {status} in {elapsed} ms, slower than {max} ms"
        ));
    }
    let text = String::from_utf8_lossy(&body);
    if let Some(want) = c["body_contains"].as_str()
        && !text.contains(want)
    {
        return Err(format!(
            "HTTP {status}, but the body does not contain {want:?}"
        ));
    }
    if let Some(unwanted) = c["body_not_contains"].as_str()
        && text.contains(unwanted)
    {
        return Err(format!("HTTP {status}, but the body contains {unwanted:?}"));
    }
    if let Some(pointer) = c["json_pointer"].as_str() {
        let doc: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| format!("HTTP {status}, but the body is not JSON ({e})"))?;
        let got = doc.pointer(pointer);
        if got != Some(&c["json_equals"]) {
            return Err(format!(
                "HTTP {status}, but {pointer} is {} instead of {}",
                got.map_or("missing".to_owned(), ToString::to_string),
                c["json_equals"]
            ));
        }
    }
    Ok(format!("HTTP {status} in {elapsed} ms"))
}
