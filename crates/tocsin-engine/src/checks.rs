//! The active checks: one attempt against a target, bounded in time and in what it reads.
//! Every fault (bad URL, unresolvable host, refused connection, certificate error, timeout,
//! redirect loop, endless body) is a failed result with a clear message, never a stuck task.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tocsin_core::monitor::MonitorKind;
use tocsin_store::CheckOutcome;

/// Bytes of a response body read at most (the rest is not waited for).
pub const BODY_READ_MAX: usize = 1024 * 1024;
/// Redirects followed at most.
const REDIRECTS_MAX: usize = 10;

/// HTTP clients for each (follow redirects, verify TLS) pair, and the system's trusted roots
/// for TLS-certificate checks, built once.
pub struct Clients {
    clients: [[reqwest::Client; 2]; 2],
    roots: Arc<rustls::RootCertStore>,
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
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            tracing::warn!(error = %e, "a system root certificate could not be loaded");
        }
        roots.add_parsable_certificates(native.certs);
        Ok(Clients {
            clients: [
                [build(false, false)?, build(false, true)?],
                [build(true, false)?, build(true, true)?],
            ],
            roots: Arc::new(roots),
        })
    }

    fn get(&self, follow: bool, verify: bool) -> &reqwest::Client {
        &self.clients[usize::from(follow)][usize::from(verify)]
    }
}

/// The host a check talks to, for per-host politeness (lower case, without port): the URL's
/// host, the configured host, or a DNS check's resolver (none with the system's resolver).
pub fn target_host(kind: MonitorKind, config: &serde_json::Value) -> Option<String> {
    let host = match kind {
        MonitorKind::Http => reqwest::Url::parse(config["url"].as_str()?)
            .ok()?
            .host_str()?
            .trim_matches(['[', ']'])
            .to_owned(),
        MonitorKind::Tcp | MonitorKind::Tls | MonitorKind::Ping => {
            config["host"].as_str()?.to_owned()
        }
        MonitorKind::Dns => {
            let r = config["resolver"].as_str()?;
            r.parse::<std::net::SocketAddr>()
                .map(|a| a.ip().to_string())
                .unwrap_or_else(|_| r.to_owned())
        }
        MonitorKind::Heartbeat => return None,
    };
    Some(host.to_ascii_lowercase())
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
            MonitorKind::Http => http(clients, config, started).await.map_err(Fail::from),
            MonitorKind::Tcp => tcp(config).await.map_err(Fail::from),
            MonitorKind::Tls => tls(clients, config).await,
            MonitorKind::Dns => dns(config).await.map_err(Fail::from),
            MonitorKind::Ping => icmp(config).await.map_err(Fail::from),
            other => Err(Fail::from(format!("{other} checks are not available"))),
        }
    })
    .await;
    let latency_ms = Some(started.elapsed().as_millis() as u64);
    match result {
        Ok(Ok(message)) => CheckOutcome {
            ok: true,
            latency_ms,
            message,
            severity: None,
        },
        Ok(Err(Fail { message, severity })) => CheckOutcome {
            ok: false,
            latency_ms,
            message,
            severity,
        },
        Err(_) => CheckOutcome {
            ok: false,
            latency_ms,
            message: format!("timed out after {} s", timeout.as_secs()),
            severity: None,
        },
    }
}

/// A failed check: what failed, and the alert's severity when not the monitor's own.
struct Fail {
    message: String,
    severity: Option<tocsin_core::Severity>,
}

impl From<String> for Fail {
    fn from(message: String) -> Self {
        Fail {
            message,
            severity: None,
        }
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

/// A certificate verifier that records the real verifier's verdict instead of refusing, so the
/// check can report an expired, mistrusted or misnamed certificate and still read its dates.
#[derive(Debug)]
struct Recording {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    verdict: Mutex<Option<Result<(), rustls::Error>>>,
}

impl rustls::client::danger::ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map(|_| ());
        if let Ok(mut v) = self.verdict.lock() {
            *v = Some(verdict);
        }
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Why the verifier refused the certificate, in a person's words.
fn certificate_problem(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::Expired | C::ExpiredContext { .. } => "the certificate has expired".into(),
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "the certificate is not valid yet".into()
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "the certificate is not valid for this host name".into()
            }
            C::UnknownIssuer => "the certificate chain does not lead to a trusted root".into(),
            C::Revoked => "the certificate is revoked".into(),
            other => format!("the certificate is invalid ({other:?})"),
        },
        other => format!("the certificate was refused ({other})"),
    }
}

/// A TLS certificate check: handshake with `host:port` (SNI `server_name`, default the host),
/// then the chain, the name and the days left. Fails (the monitor's severity) on an invalid
/// chain or name, or within `page_days` (default 7) of expiry; within `warn_days` (default 21)
/// it fails as a `warning` (a low-urgency alert).
async fn tls(clients: &Clients, c: &serde_json::Value) -> Result<String, Fail> {
    let host = c["host"]
        .as_str()
        .ok_or_else(|| Fail::from("no host configured".to_owned()))?;
    let port = c["port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(443);
    let name = c["server_name"].as_str().unwrap_or(host).to_owned();
    let server_name = rustls::pki_types::ServerName::try_from(name.clone())
        .map_err(|_| Fail::from(format!("{name:?} is not a valid server name")))?;
    let roots = match c["ca_pem"].as_str() {
        Some(pem) => {
            let mut r = (*clients.roots).clone();
            for cert in pem_certificates(pem) {
                let _ = r.add(cert);
            }
            Arc::new(r)
        }
        None => clients.roots.clone(),
    };
    let inner = rustls::client::WebPkiServerVerifier::builder(roots)
        .build()
        .map_err(|e| Fail::from(format!("no trusted roots to check against ({e})")))?;
    let recording = Arc::new(Recording {
        inner,
        verdict: Mutex::new(None),
    });
    let config = rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(recording.clone())
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| Fail::from(format!("connecting to {host}:{port}: {e}")))?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await
        .map_err(|e| Fail::from(format!("TLS handshake with {host}:{port} failed: {e}")))?;
    let leaf = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first().cloned())
        .ok_or_else(|| Fail::from("the server sent no certificate".to_owned()))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&leaf)
        .map_err(|e| Fail::from(format!("the certificate does not parse ({e})")))?;
    let not_after = cert.validity().not_after.timestamp();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    // Whole days, rounded up: a certificate made now for 3 days "expires in 3 days".
    let days_left = (not_after - now + 86_399).div_euclid(86_400);
    let expiry = jiff::Timestamp::from_second(not_after).map_or_else(
        |_| "an unreadable date".into(),
        |t| t.strftime("%Y-%m-%d").to_string(),
    );
    let verdict = recording.verdict.lock().ok().and_then(|mut v| v.take());
    if let Some(Err(e)) = verdict {
        return Err(Fail::from(format!(
            "{} ({name}, expires {expiry})",
            certificate_problem(&e)
        )));
    }
    let page_days = c["page_days"].as_i64().unwrap_or(7);
    let warn_days = c["warn_days"].as_i64().unwrap_or(21);
    let left = match days_left {
        0 => "today".to_owned(),
        1 => "in 1 day".to_owned(),
        n => format!("in {n} days"),
    };
    if days_left <= page_days {
        return Err(Fail::from(format!(
            "the certificate for {name} expires {left} ({expiry})"
        )));
    }
    if days_left <= warn_days {
        return Err(Fail {
            message: format!("the certificate for {name} expires {left} ({expiry})"),
            severity: Some(tocsin_core::Severity::Warning),
        });
    }
    Ok(format!(
        "certificate for {name} valid, expires {left} ({expiry})"
    ))
}

/// The certificates in a PEM text.
fn pem_certificates(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .filter_map(Result::ok)
        .collect()
}

/// The first `nameserver` of /etc/resolv.conf (the system's resolver).
fn system_resolver() -> Option<std::net::SocketAddr> {
    let conf = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    conf.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|ip| ip.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| std::net::SocketAddr::new(ip, 53))
        .next()
}

/// Answers compared as text, without a final dot and case-insensitively.
fn normal(answer: &str) -> String {
    answer.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// A DNS check: asks `resolver` (default: the system's) for `record_type` (default A) records
/// of the name over UDP, then checks the RCODE (default NOERROR) and, when `expected` lists
/// answers, that the answers are exactly those (in any order).
async fn dns(c: &serde_json::Value) -> Result<String, String> {
    use hickory_proto::op::{Message, Query, ResponseCode};
    use hickory_proto::rr::{Name, RecordType};
    use std::str::FromStr;
    let name = c["query_name"].as_str().ok_or("no name configured")?;
    let kind = RecordType::from_str(c["record_type"].as_str().unwrap_or("A"))
        .map_err(|_| "unknown record type".to_owned())?;
    let resolver = match c["resolver"].as_str() {
        Some(r) => r
            .parse::<std::net::SocketAddr>()
            .or_else(|_| {
                r.parse::<std::net::IpAddr>()
                    .map(|ip| std::net::SocketAddr::new(ip, 53))
            })
            .map_err(|_| format!("resolver {r:?} is not an address"))?,
        None => system_resolver().ok_or("no resolver configured and none in /etc/resolv.conf")?,
    };
    let fqdn = Name::from_str(name)
        .map_err(|e| format!("{name:?} is not a domain name ({e})"))?
        .append_domain(&Name::root())
        .map_err(|e| format!("{name:?} is not a domain name ({e})"))?;
    let mut query = Message::query();
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(fqdn, kind));
    let bytes = query
        .to_vec()
        .map_err(|e| format!("building the query: {e}"))?;
    let local: std::net::SocketAddr = if resolver.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = tokio::net::UdpSocket::bind(local)
        .await
        .map_err(|e| format!("opening a UDP socket: {e}"))?;
    socket
        .connect(resolver)
        .await
        .map_err(|e| format!("reaching {resolver}: {e}"))?;
    socket
        .send(&bytes)
        .await
        .map_err(|e| format!("asking {resolver}: {e}"))?;
    let mut buf = vec![0u8; 4096];
    let reply = loop {
        let n = socket
            .recv(&mut buf)
            .await
            .map_err(|e| format!("no answer from {resolver}: {e}"))?;
        match Message::from_vec(&buf[..n]) {
            // Ignore strays; the one with our id is the answer.
            Ok(m) if m.metadata.id == query.metadata.id => break m,
            Ok(_) => continue,
            Err(e) => {
                return Err(format!(
                    "{resolver} answered something that is not DNS ({e})"
                ));
            }
        }
    };
    let rcode = reply.metadata.response_code;
    let want_rcode = c["expected_rcode"].as_str().unwrap_or("NOERROR");
    let rcode_word = match rcode {
        ResponseCode::NoError => "NOERROR".to_owned(),
        ResponseCode::NXDomain => "NXDOMAIN".to_owned(),
        ResponseCode::ServFail => "SERVFAIL".to_owned(),
        ResponseCode::Refused => "REFUSED".to_owned(),
        other => other.to_str().to_uppercase(),
    };
    if !rcode_word.eq_ignore_ascii_case(want_rcode) {
        return Err(format!(
            "{resolver} answered {rcode_word} for {name} {kind}, expected {want_rcode}"
        ));
    }
    let mut got: Vec<String> = reply
        .answers
        .iter()
        .filter(|r| r.record_type() == kind)
        .map(|r| normal(&r.data.to_string()))
        .collect();
    got.sort();
    got.dedup();
    if let Some(expected) = c["expected"].as_array() {
        let mut want: Vec<String> = expected
            .iter()
            .filter_map(|v| v.as_str().map(normal))
            .collect();
        want.sort();
        want.dedup();
        if got != want {
            return Err(format!(
                "{name} {kind} is [{}], expected [{}]",
                got.join(", "),
                want.join(", ")
            ));
        }
    }
    Ok(format!("{name} {kind} {rcode_word}: [{}]", got.join(", ")))
}

/// What to say when the system refuses an ICMP socket.
pub const ICMP_REFUSED: &str = "ICMP is not permitted to this process: run Tocsin as root, give \
     the binary CAP_NET_RAW (setcap cap_net_raw+ep), or allow unprivileged ping \
     (sysctl net.ipv4.ping_group_range)";

/// An ICMP echo check: `count` echoes (default 3), one second apart at most each; fails when
/// none is answered, or when the average round trip exceeds `max_rtt_ms`.
async fn icmp(c: &serde_json::Value) -> Result<String, String> {
    use surge_ping::{Client, Config, ICMP, PingIdentifier, PingSequence};
    let host = c["host"].as_str().ok_or("no host configured")?;
    let count = c["count"].as_u64().unwrap_or(3).clamp(1, 10) as u16;
    let ip = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip,
        Err(_) => tokio::net::lookup_host((host, 0))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .map(|a| a.ip())
            .next()
            .ok_or_else(|| format!("{host} has no address"))?,
    };
    let config = match ip {
        std::net::IpAddr::V4(_) => Config::default(),
        std::net::IpAddr::V6(_) => Config::builder().kind(ICMP::V6).build(),
    };
    let client = Client::new(&config).map_err(|e| {
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            ICMP_REFUSED.to_owned()
        } else {
            format!("opening an ICMP socket: {e}")
        }
    })?;
    let ident = PingIdentifier(std::process::id() as u16 ^ (count.wrapping_mul(7919)));
    let mut pinger = client.pinger(ip, ident).await;
    pinger.timeout(Duration::from_secs(1));
    let payload = [0u8; 56];
    let mut rtts = Vec::new();
    let mut last_error = None;
    for seq in 0..count {
        match pinger.ping(PingSequence(seq), &payload).await {
            Ok((_, rtt)) => rtts.push(rtt),
            Err(e) => last_error = Some(e.to_string()),
        }
    }
    let lost = usize::from(count) - rtts.len();
    let loss = lost * 100 / usize::from(count);
    if rtts.is_empty() {
        return Err(format!(
            "no echo reply from {ip} ({count} sent{})",
            last_error.map(|e| format!(": {e}")).unwrap_or_default()
        ));
    }
    let avg = rtts.iter().sum::<Duration>() / rtts.len() as u32;
    let avg_ms = avg.as_secs_f64() * 1000.0;
    if let Some(max) = c["max_rtt_ms"].as_u64()
        && avg_ms > max as f64
    {
        return Err(format!(
            "{ip} answers in {avg_ms:.1} ms on average, slower than {max} ms ({loss}% lost)"
        ));
    }
    Ok(format!(
        "{ip} answers in {avg_ms:.1} ms ({loss}% of {count} lost)"
    ))
}
