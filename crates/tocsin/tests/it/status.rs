//! The public status page and maintenance windows, end to end: components reflecting an
//! incident and a monitor, a maintenance window holding a page back and then releasing it,
//! `status.json` and the Atom feed, and subscribers by email (double opt-in and one-click
//! unsubscribe, against a real SMTP server on loopback) and by webhook (a local axum receiver).

use crate::support::*;
use axum::body::Bytes;
use axum::extract::State;
use jiff::SignedDuration;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

async fn component(app: &TestApp, body: Value) -> String {
    let r = app.post("/api/v1/status-page/components", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

async fn summary(app: &TestApp) -> Value {
    let r = app.call("GET", "/status.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    r.body
}

fn status_of(s: &Value, name: &str) -> String {
    s["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no component {name} in {s}"))["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn trigger(app: &TestApp, key: &str, dedup: &str, severity: &str) {
    let r = app
        .enqueue(
            json!({"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
            "payload": {"summary": format!("{dedup} down"), "source": "h", "severity": severity}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
}

async fn heartbeat(app: &TestApp, svc: &str) -> (String, String) {
    let r = app
        .post(
            "/api/v1/monitors",
            json!({"type": "heartbeat", "name": "nightly backup", "service_id": svc,
                   "period_seconds": 3600, "grace_seconds": 600}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let url = r.body["ping_url"].as_str().unwrap();
    let path = &url[url.find("/ping/").unwrap()..];
    (r.body["id"].as_str().unwrap().to_owned(), path.to_owned())
}

async fn get_page(app: &TestApp, path: &str) -> (StatusCode, String) {
    let r = app
        .client
        .get(format!("{}{path}", app.url))
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test]
async fn components_reflect_incidents_and_monitors() {
    let app = TestApp::spawn().await;
    let api = app.service("api").await;
    let key = app.integration(&api, "events_v2").await;
    let jobs = app.service("jobs").await;
    let (hb, ping) = heartbeat(&app, &jobs).await;
    let r = app
        .call(
            "PUT",
            "/api/v1/status-page/settings",
            Some(&app.admin),
            Some(json!({"title": "Acme status"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    component(
        &app,
        json!({"name": "Public API", "group": "Core", "service_id": api}),
    )
    .await;
    let backups = json!({"name": "Backups", "group": "Core", "monitor_id": hb, "position": 1});
    component(&app, backups).await;
    let r = app
        .post(
            "/api/v1/status-page/components",
            json!({"name": "x", "service_id": "nope"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let s = summary(&app).await;
    assert_eq!(s["page"]["title"], "Acme status");
    assert_eq!(s["status"]["indicator"], "operational");
    assert_eq!(status_of(&s, "Public API"), "operational");
    assert_eq!(status_of(&s, "Backups"), "operational");
    assert_eq!(
        s["components"][0]["uptime_days"].as_array().unwrap().len(),
        90
    );

    // A low-urgency incident degrades, a high-urgency one is a major outage until acknowledged.
    trigger(&app, &key, "slow", "warning").await;
    assert_eq!(
        status_of(&summary(&app).await, "Public API"),
        "degraded_performance"
    );
    trigger(&app, &key, "down", "critical").await;
    let s = summary(&app).await;
    assert_eq!(status_of(&s, "Public API"), "major_outage");
    assert_eq!(s["status"]["indicator"], "major_outage");
    let down = app
        .incidents(&api)
        .await
        .into_iter()
        .find(|i| i["dedup_key"] == "down")
        .unwrap();
    let r = app
        .post(
            &format!(
                "/api/v1/incidents/{}/acknowledge",
                down["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        status_of(&summary(&app).await, "Public API"),
        "partial_outage"
    );

    // The monitor's failure is a major outage of its component.
    let r = app.call("POST", &format!("{ping}/fail"), None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(status_of(&summary(&app).await, "Backups"), "major_outage");

    // The page itself: server-rendered, no script, the same words.
    let (status, html) = get_page(&app, "/status").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Acme status"), "{html}");
    assert!(
        html.contains("Major outage") && html.contains("Partial outage"),
        "{html}"
    );
    assert!(html.contains("Public API") && html.contains("Backups"));
    assert!(
        !html.contains("<script"),
        "the status page works without JavaScript"
    );
    assert_eq!(html.matches("class=\"day ").count(), 180);
}

async fn paged_service(app: &TestApp) -> (String, String) {
    let r = app
        .post(
            "/api/v1/users",
            json!({"name": "alice", "email": "alice@example.com"}),
        )
        .await;
    let alice = r.body["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/api/v1/users/{alice}/contact-methods"),
            json!({"type": "webhook", "address": "http://127.0.0.1:9/alice"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app
        .post(
            "/api/v1/escalation-policies",
            json!({"name": "db", "levels": [
                {"delay_minutes": 5, "targets": [{"type": "user", "id": alice}]}]}),
        )
        .await;
    let policy = r.body["id"].as_str().unwrap();
    let r = app
        .post(
            "/api/v1/services",
            json!({"name": "db", "escalation_policy_id": policy}),
        )
        .await;
    let svc = r.body["id"].as_str().unwrap().to_owned();
    let key = app.integration(&svc, "events_v2").await;
    (svc, key)
}

async fn notified(app: &TestApp, incident: &str) -> usize {
    app.get(&format!("/api/v1/incidents/{incident}/notifications"))
        .await
        .body["notifications"]
        .as_array()
        .map_or(0, Vec::len)
}

async fn incident_id(app: &TestApp, svc: &str, dedup: &str) -> String {
    app.incidents(svc)
        .await
        .into_iter()
        .find(|i| i["dedup_key"] == dedup)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn maintenance_holds_paging_until_it_ends() {
    let app = TestApp::spawn().await;
    let (svc, key) = paged_service(&app).await;
    component(&app, json!({"name": "Database", "service_id": svc})).await;
    let now = tocsin_engine::Clock::now(&*app.clock);
    let r = app
        .post(
            "/api/v1/maintenance-windows",
            json!({"title": "Database upgrade", "description": "Failover to the new primary.",
                   "starts_at": now.to_string(), "ends_at": (now + SignedDuration::from_hours(1)).to_string(),
                   "service_ids": [svc]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let s = summary(&app).await;
    assert_eq!(status_of(&s, "Database"), "under_maintenance");
    assert_eq!(s["scheduled_maintenances"][0]["title"], "Database upgrade");
    assert_eq!(s["scheduled_maintenances"][0]["active"], true);

    // Recorded, not paged; the timeline says why.
    trigger(&app, &key, "held", "critical").await;
    trigger(&app, &key, "gone", "critical").await;
    let held = incident_id(&app, &svc, "held").await;
    let gone = incident_id(&app, &svc, "gone").await;
    app.escalate().await;
    assert_eq!(notified(&app, &held).await, 0);
    let tl = app
        .get(&format!("/api/v1/incidents/{held}/timeline"))
        .await
        .body;
    let kinds: Vec<&str> = tl["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    let at = kinds
        .iter()
        .position(|k| *k == "maintenance")
        .expect("a maintenance entry");
    assert!(kinds[..at].contains(&"triggered"), "{tl}");
    assert!(
        tl["entries"][at]["message"]
            .as_str()
            .unwrap()
            .contains("Database upgrade")
    );
    // One resolves during the window.
    let r = app
        .post(&format!("/api/v1/incidents/{gone}/resolve"), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // A monitor on the service does not page either.
    let (_, ping) = heartbeat(&app, &svc).await;
    assert_eq!(
        app.call("POST", &format!("{ping}/fail"), None, None)
            .await
            .status,
        StatusCode::OK
    );
    let monitor_incident = app
        .incidents(&svc)
        .await
        .into_iter()
        .find(|i| i["dedup_key"].as_str().unwrap().starts_with("monitor:"))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.clock.advance(SignedDuration::from_mins(59));
    app.escalate().await;
    assert_eq!(notified(&app, &held).await, 0);
    assert_eq!(notified(&app, &monitor_incident).await, 0);

    // The window ends: the open incidents page now, the resolved one never.
    app.clock.advance(SignedDuration::from_mins(1));
    app.escalate().await;
    assert!(notified(&app, &held).await >= 1);
    assert!(notified(&app, &monitor_incident).await >= 1);
    assert_eq!(notified(&app, &gone).await, 0);
    assert_eq!(status_of(&summary(&app).await, "Database"), "major_outage");
    assert!(
        summary(&app).await["scheduled_maintenances"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn deleting_a_window_releases_what_it_held() {
    let app = TestApp::spawn().await;
    let (svc, key) = paged_service(&app).await;
    let now = tocsin_engine::Clock::now(&*app.clock);
    let r = app
        .post(
            "/api/v1/maintenance-windows",
            json!({"title": "Upgrade", "starts_at": now.to_string(),
                   "ends_at": (now + SignedDuration::from_hours(2)).to_string(), "service_ids": [svc]}),
        )
        .await;
    let window = r.body["id"].as_str().unwrap().to_owned();
    trigger(&app, &key, "x", "critical").await;
    let x = incident_id(&app, &svc, "x").await;
    app.escalate().await;
    assert_eq!(notified(&app, &x).await, 0);
    let r = app
        .call(
            "DELETE",
            &format!("/api/v1/maintenance-windows/{window}"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    app.escalate().await;
    assert!(notified(&app, &x).await >= 1);
}

// ---- subscribers ----

/// aiosmtpd on loopback (Debian's python3-aiosmtpd), through tocsin-notify's test script.
struct Smtp {
    port: u16,
    child: Child,
    mails: mpsc::Receiver<Value>,
}

impl Smtp {
    fn start() -> Smtp {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tocsin-notify/tests/it/smtp_server.py"
        );
        let python = ["/usr/bin/python3", "python3"]
            .into_iter()
            .find(|py| {
                Command::new(py)
                    .args(["-c", "import aiosmtpd"])
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
            .expect("python3-aiosmtpd is installed (apt-get install -y python3-aiosmtpd)");
        let mut child = Command::new(python)
            .args([script, "plain", "", "", "", ""])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && tx.send(v).is_err()
                {
                    break;
                }
            }
        });
        let ready = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("aiosmtpd ready");
        Smtp {
            port: ready["port"].as_u64().unwrap() as u16,
            child,
            mails: rx,
        }
    }

    /// The next mail's text (quoted-printable soft breaks undone). Waits without blocking the
    /// test's runtime, which also runs the server.
    async fn next_mail(&self, what: &str) -> String {
        for _ in 0..800 {
            if let Ok(m) = self.mails.try_recv() {
                return m["data"]
                    .as_str()
                    .unwrap()
                    .replace("=\r\n", "")
                    .replace("=3D", "=");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the {what} mail did not come");
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn link(mail: &str, marker: &str) -> String {
    let at = mail
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in {mail}"));
    let start = mail[..at].rfind("http").unwrap();
    mail[start..].split_whitespace().next().unwrap().to_owned()
}

type Got = Arc<Mutex<Vec<Value>>>;

async fn receiver() -> (Got, String) {
    let got: Got = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(|State(g): State<Got>, body: Bytes| async move {
                g.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                StatusCode::OK
            }),
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (got, url)
}

async fn wait_for(got: &Got, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        if got.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    got.lock().unwrap().clone()
}

fn form_token(html: &str) -> String {
    let at =
        html.find("name=\"form_token\" value=\"").unwrap() + "name=\"form_token\" value=\"".len();
    html[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn updates_reach_the_feed_and_subscribers_who_opted_in() {
    let smtp = Smtp::start();
    let app = TestApp::spawn_with(Options {
        notify: tocsin::config::NotifySection {
            smtp: Some(tocsin::config::SmtpSection {
                host: "127.0.0.1".into(),
                port: Some(smtp.port),
                tls: Some("none".into()),
                username: None,
                password: None,
                from: "Acme status <status@example.com>".into(),
            }),
            ..Default::default()
        },
        ..Options::default()
    })
    .await;
    let form = |token: &str, email: &str| {
        vec![
            ("form_token", token.to_owned()),
            ("email", email.to_owned()),
        ]
    };
    let (_, html) = get_page(&app, "/status").await;
    let token = form_token(&html);

    // A forged or foreign form is refused.
    let r = app
        .client
        .post(format!("{}/status/subscribe", app.url))
        .form(&form("x.1.ab", "eve@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .client
        .post(format!("{}/status/subscribe", app.url))
        .header("origin", "https://evil.example")
        .form(&form(&token, "eve@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Double opt-in: a confirmation mail, whose link shows a button; the press confirms.
    let r = app
        .client
        .post(format!("{}/status/subscribe", app.url))
        .form(&form(&token, "carol@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Check your inbox"));
    let mail = smtp.next_mail("#1").await;
    assert!(mail.contains("carol@example.com"));
    let confirm = link(&mail, "/status/confirm/");
    let subs = app.get("/api/v1/status-page/subscribers").await.body;
    assert_eq!(subs["subscribers"][0]["confirmed"], false, "{subs}");
    let (status, page) = get_page(&app, &confirm[confirm.find("/status/").unwrap()..]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Confirm subscription"));
    assert_eq!(
        app.get("/api/v1/status-page/subscribers").await.body["subscribers"][0]["confirmed"],
        false
    );
    let r = app.client.post(&confirm).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("You are subscribed"));
    assert_eq!(
        app.get("/api/v1/status-page/subscribers").await.body["subscribers"][0]["confirmed"],
        true
    );
    // A used link does not work twice.
    assert_eq!(
        app.client.post(&confirm).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    // A webhook subscriber.
    let (got, hook) = receiver().await;
    let r = app
        .post(
            "/api/v1/status-page/subscribers",
            json!({"type": "webhook", "address": hook}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // A public incident and its update: both subscribers hear of each; the feed lists them.
    let r = app
        .post(
            "/api/v1/status-page/incidents",
            json!({"title": "Slow checkouts", "message": "We are looking into slow checkouts."}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let mail = smtp.next_mail("#2").await;
    assert!(mail.contains("Slow checkouts"), "{mail}");
    assert!(mail.contains("We are looking into slow checkouts."));
    let unsubscribe = link(&mail, "/status/unsubscribe/");
    let hooks = wait_for(&got, 1).await;
    assert_eq!(hooks[0]["event"], "status.notice", "{hooks:?}");
    assert!(
        hooks[0]["text"]
            .as_str()
            .unwrap()
            .contains("slow checkouts")
    );
    let r = app
        .post(
            &format!("/api/v1/status-page/incidents/{id}/updates"),
            json!({"stage": "identified", "message": "A payment provider is slow; we switched to the backup."}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(
        smtp.next_mail("#3")
            .await
            .contains("switched to the backup")
    );
    assert_eq!(wait_for(&got, 2).await.len(), 2);

    let s = summary(&app).await;
    assert_eq!(s["incidents"][0]["title"], "Slow checkouts");
    assert_eq!(s["incidents"][0]["stage"], "identified");
    assert_eq!(s["incidents"][0]["updates"].as_array().unwrap().len(), 2);
    let r = app
        .client
        .get(format!("{}/status/feed.atom", app.url))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/atom+xml")
    );
    let atom = r.text().await.unwrap();
    assert_eq!(atom.matches("<entry>").count(), 2, "{atom}");
    assert!(atom.contains("<title>Slow checkouts: Identified</title>"));
    let (_, html) = get_page(&app, "/status").await;
    assert!(html.contains("A payment provider is slow"));

    // Maintenance is announced too.
    let svc = app.service("shop").await;
    let now = tocsin_engine::Clock::now(&*app.clock);
    let r = app
        .post(
            "/api/v1/maintenance-windows",
            json!({"title": "Shop database upgrade", "starts_at": (now + SignedDuration::from_hours(24)).to_string(),
                   "ends_at": (now + SignedDuration::from_hours(25)).to_string(), "service_ids": [svc]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(smtp.next_mail("#4").await.contains("Shop database upgrade"));
    assert_eq!(wait_for(&got, 3).await.len(), 3);
    let (_, html) = get_page(&app, "/status").await;
    assert!(html.contains("Scheduled maintenance: Shop database upgrade"));

    // One click unsubscribes (no form token needed: the link is the permission).
    let r = app.client.post(&unsubscribe).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("You are unsubscribed"));
    let subs = app.get("/api/v1/status-page/subscribers").await.body;
    assert_eq!(subs["subscribers"].as_array().unwrap().len(), 1, "{subs}");
    assert_eq!(subs["subscribers"][0]["type"], "webhook");
}
