//! Monitors against real local targets: heartbeats pinged over HTTP as Healthchecks' clients do,
//! HTTP checks against a scripted axum server, TCP checks against a listener; each raises and
//! resolves its own incident through the ingest pipeline.

use crate::support::*;
use axum::http::StatusCode as AxumStatus;
use jiff::SignedDuration;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

async fn incidents(app: &TestApp, svc: &str) -> Vec<Value> {
    app.incidents(svc).await
}

/// Moves the clock on to when every active monitor's first check is due (each check runs on its
/// monitor's own phase within the interval), so that the next pass runs them all.
async fn until_checks_due(app: &TestApp) {
    use tocsin_engine::Clock as _;
    let list = app.get("/api/v1/monitors").await.body;
    let last = list["monitors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["type"] != "heartbeat")
        .filter_map(|m| m["due_at"].as_str()?.parse::<jiff::Timestamp>().ok())
        .max();
    if let Some(t) = last
        && t > app.clock.now()
    {
        app.clock.set(t);
    }
}

async fn results(app: &TestApp, id: &str) -> Vec<Value> {
    app.get(&format!("/api/v1/monitors/{id}/results"))
        .await
        .body["results"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heartbeat_goes_down_when_its_job_is_silent_and_up_on_the_next_ping() {
    heartbeat_goes_down_and_up(TestApp::spawn().await).await;
}

/// The heartbeat scenario on any backend (`postgres.rs` runs it on PostgreSQL).
pub(crate) async fn heartbeat_goes_down_and_up(app: TestApp) {
    let svc = app.service("backups").await;
    let r = app
        .post(
            "/api/v1/monitors",
            json!({"type": "heartbeat", "name": "nightly backup", "service_id": svc,
                   "period_seconds": 60, "grace_seconds": 30}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let ping = r.body["ping_url"].as_str().unwrap().to_owned();
    assert!(ping.starts_with(&format!("{}/ping/", app.url)), "{ping}");
    assert_eq!(r.body["status"], "new");
    let again = app.get(&format!("/api/v1/monitors/{id}")).await.body;
    assert!(again.get("ping_url").is_none(), "the token is shown once");

    let c = &app.client;
    let r = c
        .get(format!("{}/ping/nope", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = c.get(format!("{ping}/bogus")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // A new heartbeat never alerts before its first ping.
    app.clock.advance(SignedDuration::from_hours(5));
    app.check_monitors().await;
    assert!(incidents(&app, &svc).await.is_empty());

    // The job runs: start, then success with its output as the log.
    let r = c.head(format!("{ping}/start?rid=r1")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.clock.advance(SignedDuration::from_secs(7));
    let r = c
        .post(format!("{ping}/0?rid=r1"))
        .body("backup done: 42 files")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "OK");
    let res = results(&app, &id).await;
    assert_eq!(res[0]["latency_ms"], 7000, "run time from /start: {res:?}");
    assert_eq!(res[0]["log"], "backup done: 42 files");
    let m = app.get(&format!("/api/v1/monitors/{id}")).await.body;
    assert_eq!(m["status"], "up");

    // Late after the period, down after the grace: one incident.
    app.clock.advance(SignedDuration::from_secs(61));
    assert_eq!(
        app.get(&format!("/api/v1/monitors/{id}")).await.body["status"],
        "late"
    );
    app.check_monitors().await;
    assert!(incidents(&app, &svc).await.is_empty(), "late is not down");
    app.clock.advance(SignedDuration::from_secs(30));
    app.check_monitors().await;
    let list = incidents(&app, &svc).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["status"], "triggered");
    assert!(
        list[0]["title"]
            .as_str()
            .unwrap()
            .starts_with("nightly backup: no ping since"),
        "{}",
        list[0]["title"]
    );
    app.clock.advance(SignedDuration::from_mins(10));
    app.check_monitors().await;
    assert_eq!(incidents(&app, &svc).await.len(), 1, "down once");

    // The next success resolves it.
    let r = c.get(&ping).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let list = incidents(&app, &svc).await;
    assert_eq!(list[0]["status"], "resolved");

    // A failure opens a new incident at once; an exit status counts as one.
    c.post(format!("{ping}/fail")).send().await.unwrap();
    let list = incidents(&app, &svc).await;
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["status"], "triggered");
    assert_eq!(
        list[0]["title"],
        "nightly backup: the job reported a failure"
    );
    c.get(format!("{ping}/0")).send().await.unwrap();
    c.get(format!("{ping}/2")).send().await.unwrap();
    let list = incidents(&app, &svc).await;
    assert_eq!(
        list[0]["title"],
        "nightly backup: the job exited with status 2"
    );

    // Paused: silence is not an incident.
    c.get(format!("{ping}/0")).send().await.unwrap();
    let r = app
        .post(&format!("/api/v1/monitors/{id}/pause"), json!({}))
        .await;
    assert_eq!(r.body["status"], "paused");
    app.clock.advance(SignedDuration::from_hours(3));
    app.check_monitors().await;
    assert_eq!(incidents(&app, &svc).await.len(), 3);
    assert!(
        incidents(&app, &svc)
            .await
            .iter()
            .all(|i| i["status"] == "resolved")
    );
    // A ping body beyond the limit is refused.
    let r = c
        .post(&ping)
        .body(vec![b'x'; 200_000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// A target answering with scripted statuses (then the last one for ever), and a JSON body.
#[derive(Clone, Default)]
struct Target {
    statuses: Arc<Mutex<Vec<u16>>>,
}

async fn start_target(t: Target) -> String {
    let app = axum::Router::new()
        .route(
            "/health",
            axum::routing::get(
                |axum::extract::State(t): axum::extract::State<Target>| async move {
                    let mut s = t.statuses.lock().unwrap();
                    let code = if s.len() > 1 {
                        s.remove(0)
                    } else {
                        s.first().copied().unwrap_or(200)
                    };
                    (
                        AxumStatus::from_u16(code).unwrap(),
                        axum::Json(json!({"status": if code == 200 { "pass" } else { "fail" }})),
                    )
                },
            ),
        )
        .route(
            "/hang",
            axum::routing::get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                "late"
            }),
        )
        .route(
            "/loop",
            axum::routing::get(|| async { axum::response::Redirect::temporary("/loop") }),
        )
        .with_state(t);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_check_opens_after_three_failures_and_resolves_after_two_successes() {
    let t = Target::default();
    *t.statuses.lock().unwrap() = vec![200];
    let base = start_target(t.clone()).await;
    let app = TestApp::spawn().await;
    let svc = app.service("api").await;
    let r = app
        .post(
            "/api/v1/monitors",
            json!({"type": "http", "name": "API health", "service_id": svc,
                   "target": format!("{base}/health"), "interval_seconds": 30,
                   "retry_interval_seconds": 10, "json_pointer": "/status", "json_equals": "pass"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    until_checks_due(&app).await;
    app.check_monitors().await;
    let res = results(&app, &id).await;
    assert_eq!(res.len(), 1);
    assert_eq!(res[0]["ok"], true, "{res:?}");
    assert!(
        res[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("HTTP 200 in")
    );
    let m = app.get(&format!("/api/v1/monitors/{id}")).await.body;
    assert_eq!(m["status"], "up");

    // The target fails: checked again every 10 s (the retry interval), down after three.
    *t.statuses.lock().unwrap() = vec![503];
    app.clock.advance(SignedDuration::from_secs(30));
    app.check_monitors().await;
    for _ in 0..2 {
        assert!(incidents(&app, &svc).await.is_empty());
        app.clock.advance(SignedDuration::from_secs(10));
        app.check_monitors().await;
    }
    let list = incidents(&app, &svc).await;
    assert_eq!(list.len(), 1, "{:?}", results(&app, &id).await);
    assert_eq!(list[0]["title"], "API health: HTTP 503 (3 checks in a row)");
    // History: 4 checks this hour, 3 failed.
    let up = app.get(&format!("/api/v1/monitors/{id}/uptime")).await.body;
    assert_eq!(up["uptime"]["24h"], 25.0, "{up}");
    assert_eq!(up["uptime"]["90d"], 25.0, "{up}");
    assert_eq!(up["span"], "hour");
    assert_eq!(up["series"][0]["checks"], 4, "{up}");
    assert_eq!(up["series"][0]["failures"], 3);
    assert!(up["series"][0]["latency_avg_ms"].is_u64());
    // Per minute: the four checks, 10 s apart, fall in one minute or two.
    let up = app
        .get(&format!("/api/v1/monitors/{id}/uptime?span=minute"))
        .await
        .body;
    assert_eq!(up["span"], "minute");
    let buckets = up["series"].as_array().unwrap();
    let checks: u64 = buckets.iter().map(|b| b["checks"].as_u64().unwrap()).sum();
    assert_eq!(checks, 4, "{up}");
    assert!((1..=2).contains(&buckets.len()), "{up}");
    let r = app
        .get(&format!("/api/v1/monitors/{id}/uptime?span=week"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["error"]["fields"]["span"].is_string(), "{}", r.body);
    // Back: resolved after two successes.
    *t.statuses.lock().unwrap() = vec![200];
    app.clock.advance(SignedDuration::from_secs(10));
    app.check_monitors().await;
    assert_eq!(incidents(&app, &svc).await[0]["status"], "triggered");
    app.clock.advance(SignedDuration::from_secs(30));
    app.check_monitors().await;
    assert_eq!(incidents(&app, &svc).await[0]["status"], "resolved");
    assert_eq!(
        app.get(&format!("/api/v1/monitors/{id}")).await.body["status"],
        "up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_failed_checks_with_clear_messages() {
    let base = start_target(Target::default()).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let open = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open_addr = open.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let _ = open.accept().await;
        }
    });
    let app = TestApp::spawn().await;
    let svc = app.service("edge").await;
    let cases = [
        (
            json!({"type": "http", "target": format!("{base}/hang"), "timeout_seconds": 1}),
            "timed out after 1 s",
        ),
        (
            json!({"type": "http", "target": format!("{base}/loop")}),
            "too many redirects",
        ),
        (
            json!({"type": "http", "target": format!("{base}/health"), "body_contains": "nope"}),
            "does not contain \"nope\"",
        ),
        (
            json!({"type": "http", "target": "http://no-such-host.invalid/"}),
            "error sending request",
        ),
        (
            json!({"type": "tcp", "target": closed.to_string()}),
            "connecting to",
        ),
        (
            json!({"type": "tcp", "target": open_addr.to_string()}),
            "connected to",
        ),
    ];
    let mut ids = Vec::new();
    for (i, (mut body, _)) in cases.clone().into_iter().enumerate() {
        body["name"] = json!(format!("case {i}"));
        body["service_id"] = json!(svc);
        let r = app.post("/api/v1/monitors", body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    let started = std::time::Instant::now();
    until_checks_due(&app).await;
    app.check_monitors().await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "a hanging target costs only its own timeout"
    );
    for (id, (_, want)) in ids.iter().zip(cases) {
        let res = results(&app, id).await;
        let msg = res[0]["message"].as_str().unwrap();
        assert!(msg.contains(want), "{msg:?} should contain {want:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_monitor_requests_name_the_field() {
    let app = TestApp::spawn().await;
    let svc = app.service("s").await;
    for (body, field) in [
        (
            json!({"type": "smtp", "name": "x", "service_id": svc}),
            "type",
        ),
        (
            json!({"type": "ping", "name": "x", "service_id": svc, "target": "bad host/name"}),
            "target",
        ),
        (
            json!({"type": "http", "name": "x", "service_id": svc}),
            "target",
        ),
        (
            json!({"type": "http", "name": "x", "service_id": svc, "target": "ftp://x"}),
            "target",
        ),
        (
            json!({"type": "http", "name": "x", "service_id": svc, "target": "http://x", "interval_seconds": 0}),
            "interval_seconds",
        ),
        (
            json!({"type": "tcp", "name": "x", "service_id": svc, "target": "host"}),
            "target",
        ),
        (
            json!({"type": "heartbeat", "name": "x", "service_id": svc, "target": "http://x"}),
            "target",
        ),
        (
            json!({"type": "heartbeat", "name": "", "service_id": svc}),
            "name",
        ),
        (
            json!({"type": "heartbeat", "name": "x", "service_id": "nope"}),
            "service_id",
        ),
        (
            json!({"type": "http", "name": "x", "service_id": svc, "target": "http://x", "json_pointer": "/a"}),
            "json_equals",
        ),
    ] {
        let r = app.post("/api/v1/monitors", body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body} → {}", r.body);
        assert!(
            r.body["error"]["fields"][field].is_string(),
            "{body} → {}",
            r.body
        );
    }
}

/// A test CA and a certificate for `localhost` it signed, valid for `days`; returns the CA's
/// PEM and a TLS server on 127.0.0.1 presenting the certificate.
async fn tls_server(days: u32) -> (String, std::net::SocketAddr) {
    let dir = temp_dir("tls");
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("openssl (Debian package openssl) must be installed");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "30",
        "-subj",
        "/CN=Tocsin test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        &days.to_string(),
        "-extfile",
        "ext",
    ]);
    use rustls::pki_types::pem::PemObject;
    let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_file_iter(dir.join("leaf.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(dir.join("leaf.key")).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(s).await;
            });
        }
    });
    let ca = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (ca, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_check_reads_the_chain_the_name_and_the_days_left() {
    let (ca, addr) = tls_server(3).await;
    let app = TestApp::spawn().await;
    let svc = app.service("web").await;
    let target = format!("localhost:{}", addr.port());
    let cases = [
        (
            json!({"ca_pem": ca}),
            "the certificate for localhost expires in 3 days",
            "high",
        ),
        (
            json!({"ca_pem": ca, "page_days": 2, "warn_days": 5}),
            "the certificate for localhost expires in 3 days",
            "low",
        ),
        (
            json!({"ca_pem": ca, "server_name": "example.com"}),
            "the certificate is not valid for this host name",
            "high",
        ),
        (
            json!({}),
            "the certificate chain does not lead to a trusted root",
            "high",
        ),
    ];
    let mut ids = Vec::new();
    for (i, (extra, _, _)) in cases.iter().enumerate() {
        let mut body = json!({"type": "tls", "name": format!("cert {i}"), "service_id": svc,
                              "target": target});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = app.post("/api/v1/monitors", body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body["interval_seconds"], 3600);
        assert_eq!(r.body["failures_before_alert"], 1);
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    until_checks_due(&app).await;
    app.check_monitors().await;
    let list = incidents(&app, &svc).await;
    for (i, (id, (_, want, urgency))) in ids.iter().zip(cases).enumerate() {
        let res = results(&app, id).await;
        let msg = res[0]["message"].as_str().unwrap();
        assert!(
            msg.contains(want),
            "case {i}: {msg:?} should contain {want:?}"
        );
        let inc = list
            .iter()
            .find(|x| {
                x["title"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("cert {i}:"))
            })
            .unwrap_or_else(|| panic!("case {i}: an incident"));
        assert_eq!(inc["urgency"], urgency, "case {i}");
    }
    // A valid certificate far from expiry is fine.
    let (ca, addr) = tls_server(90).await;
    let r = app
        .post(
            "/api/v1/monitors",
            json!({"type": "tls", "name": "fresh", "service_id": svc,
                   "target": format!("localhost:{}", addr.port()), "ca_pem": ca}),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    until_checks_due(&app).await;
    app.check_monitors().await;
    let res = results(&app, &id).await;
    assert_eq!(res[0]["ok"], true, "{res:?}");
    assert!(
        res[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("certificate for localhost valid, expires in 90 days"),
        "{res:?}"
    );
}

/// A DNS server on 127.0.0.1 (UDP) for the zone `test.`: `app.test. A` answers two addresses,
/// anything else NXDOMAIN.
async fn dns_server() -> std::net::SocketAddr {
    use hickory_proto::op::{Message, ResponseCode};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{RData, Record, RecordType};
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut r = Message::response(q.metadata.id, q.metadata.op_code);
            r.metadata.recursion_desired = q.metadata.recursion_desired;
            let question = q.queries[0].clone();
            let name = question.name().clone();
            if name.to_ascii() == "app.test." && question.query_type() == RecordType::A {
                for ip in [[192, 0, 2, 7], [192, 0, 2, 8]] {
                    r.add_answer(Record::from_rdata(name.clone(), 60, RData::A(A(ip.into()))));
                }
            } else if name.to_ascii() != "app.test." {
                r.metadata.response_code = ResponseCode::NXDomain;
            }
            r.add_query(question);
            let _ = socket.send_to(&r.to_vec().unwrap(), from).await;
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dns_check_asks_the_chosen_resolver() {
    let resolver = dns_server().await.to_string();
    let app = TestApp::spawn().await;
    let svc = app.service("dns").await;
    let cases = [
        (
            json!({"target": "app.test", "expected": ["192.0.2.8", "192.0.2.7"]}),
            true,
            "app.test A NOERROR: [192.0.2.7, 192.0.2.8]",
        ),
        (
            json!({"target": "app.test", "expected": ["192.0.2.7"]}),
            false,
            "app.test A is [192.0.2.7, 192.0.2.8], expected [192.0.2.7]",
        ),
        (
            json!({"target": "gone.test"}),
            false,
            "answered NXDOMAIN for gone.test A, expected NOERROR",
        ),
        (
            json!({"target": "gone.test", "expected_rcode": "NXDOMAIN"}),
            true,
            "gone.test A NXDOMAIN",
        ),
        (
            json!({"target": "app.test", "record_type": "AAAA", "expected": []}),
            true,
            "app.test AAAA NOERROR: []",
        ),
    ];
    let mut ids = Vec::new();
    for (i, (extra, _, _)) in cases.iter().enumerate() {
        let mut body = json!({"type": "dns", "name": format!("dns {i}"), "service_id": svc,
                              "resolver": resolver});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = app.post("/api/v1/monitors", body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    until_checks_due(&app).await;
    app.check_monitors().await;
    for (i, (id, (_, ok, want))) in ids.iter().zip(cases).enumerate() {
        let res = results(&app, id).await;
        let msg = res[0]["message"].as_str().unwrap();
        assert_eq!(res[0]["ok"], ok, "case {i}: {msg}");
        assert!(
            msg.contains(want),
            "case {i}: {msg:?} should contain {want:?}"
        );
    }
    let r = app
        .post(
            "/api/v1/monitors",
            json!({"type": "dns", "name": "x", "service_id": svc, "target": "app.test", "record_type": "BOGUS"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body["error"]["fields"]["record_type"].is_string(),
        "{}",
        r.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_check_answers_on_loopback_or_says_why_it_cannot() {
    let app = TestApp::spawn().await;
    let svc = app.service("net").await;
    let r = app
        .post(
            "/api/v1/monitors",
            json!({"type": "ping", "name": "loopback", "service_id": svc, "target": "127.0.0.1",
                   "count": 2}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    until_checks_due(&app).await;
    app.check_monitors().await;
    let res = results(&app, &id).await;
    let msg = res[0]["message"].as_str().unwrap();
    if res[0]["ok"] == true {
        assert!(
            msg.starts_with("127.0.0.1 answers in") && msg.ends_with("(0% of 2 lost)"),
            "{msg}"
        );
    } else {
        // Not root and no CAP_NET_RAW here: the check says exactly that.
        assert_eq!(msg, tocsin_engine::checks::ICMP_REFUSED);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_heartbeat_is_expected_at_its_wall_clock_times() {
    let app = TestApp::spawn().await;
    let svc = app.service("batch").await;
    // 03:00 every day in Paris, 10 minutes of grace. The clock starts at 10:00 UTC.
    let r = app
        .post(
            "/api/v1/monitors",
            json!({"type": "heartbeat", "name": "nightly export", "service_id": svc,
                   "cron": "0 3 * * *", "time_zone": "Europe/Paris", "grace_seconds": 600}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["cron"], "0 3 * * *");
    assert_eq!(r.body["time_zone"], "Europe/Paris");
    assert!(r.body.get("period_seconds").is_none());
    let ping = r.body["ping_url"].as_str().unwrap().to_owned();
    app.client.get(&ping).send().await.unwrap();
    let m = app
        .get(&format!(
            "/api/v1/monitors/{}",
            r.body["id"].as_str().unwrap()
        ))
        .await
        .body;
    // Next run 03:00 CET = 02:00 UTC the next day, down 10 minutes later.
    assert_eq!(m["due_at"], "2026-11-26T02:10:00Z", "{m}");
    app.clock.advance(SignedDuration::from_mins(16 * 60 + 9));
    app.check_monitors().await;
    assert!(incidents(&app, &svc).await.is_empty());
    app.clock.advance(SignedDuration::from_mins(1));
    app.check_monitors().await;
    let list = incidents(&app, &svc).await;
    assert_eq!(list.len(), 1);
    assert!(
        list[0]["title"]
            .as_str()
            .unwrap()
            .contains("expected \"0 3 * * *\" (Europe/Paris)"),
        "{}",
        list[0]["title"]
    );
    for (body, field) in [
        (json!({"cron": "0 3 * *"}), "cron"),
        (
            json!({"cron": "0 3 * * *", "time_zone": "Europe/Atlantis"}),
            "time_zone",
        ),
        (
            json!({"cron": "0 3 * * *", "period_seconds": 60}),
            "period_seconds",
        ),
        (json!({"time_zone": "UTC"}), "time_zone"),
    ] {
        let mut b = json!({"type": "heartbeat", "name": "x", "service_id": svc});
        for (k, v) in body.as_object().unwrap() {
            b[k] = v.clone();
        }
        let r = app.post("/api/v1/monitors", b.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{b}");
        assert!(
            r.body["error"]["fields"][field].is_string(),
            "{b} → {}",
            r.body
        );
    }
}
