//! Delivery to real HTTP receivers on 127.0.0.1: signed webhooks with idempotency keys, retries
//! with backoff on 5xx, fallback to the next contact method on a permanent failure, and early
//! escalation when a person cannot be reached at all.

use crate::support::*;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use jiff::SignedDuration;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What one path received: each request's headers and body.
type Received = HashMap<String, Vec<(HeaderMap, Bytes)>>;

#[derive(Clone, Default)]
pub struct Receiver {
    /// Per path: statuses to answer in order (then 200).
    script: Arc<Mutex<HashMap<String, Vec<u16>>>>,
    /// Per path: (headers, body) received.
    got: Arc<Mutex<Received>>,
}

impl Receiver {
    pub async fn start() -> (Receiver, String) {
        let r = Receiver::default();
        let app = axum::Router::new()
            .route("/{*path}", axum::routing::post(hook))
            .with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, url)
    }

    fn answer(&self, path: &str, statuses: &[u16]) {
        self.script
            .lock()
            .unwrap()
            .insert(path.into(), statuses.to_vec());
    }

    pub fn got(&self, path: &str) -> Vec<(HeaderMap, Bytes)> {
        self.got
            .lock()
            .unwrap()
            .get(path)
            .cloned()
            .unwrap_or_default()
    }
}

async fn hook(
    State(r): State<Receiver>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    r.got
        .lock()
        .unwrap()
        .entry(path.clone())
        .or_default()
        .push((headers, body));
    let mut script = r.script.lock().unwrap();
    let next = script.get_mut(&path).and_then(|s| {
        if s.is_empty() {
            None
        } else {
            Some(s.remove(0))
        }
    });
    StatusCode::from_u16(next.unwrap_or(200)).unwrap()
}

async fn person(app: &TestApp, name: &str, hooks: &[String]) -> String {
    let r = app
        .post(
            "/api/v1/users",
            json!({"name": name, "email": format!("{name}@example.com")}),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    for h in hooks {
        let r = app
            .post(
                &format!("/api/v1/users/{id}/contact-methods"),
                json!({"type": "webhook", "address": h}),
            )
            .await;
        assert_eq!(r.status, reqwest::StatusCode::CREATED, "{}", r.body);
    }
    id
}

async fn service(app: &TestApp, levels: serde_json::Value) -> (String, String) {
    app.paging_service("svc", levels).await
}

async fn trigger(app: &TestApp, svc: &str, key: &str) -> String {
    app.enqueue(
        json!({"routing_key": key, "event_action": "trigger", "dedup_key": "db",
        "payload": {"summary": "db is down", "source": "h", "severity": "critical"}}),
    )
    .await;
    app.incidents(svc).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn kinds(app: &TestApp, incident: &str) -> Vec<String> {
    let tl = app
        .get(&format!("/api/v1/incidents/{incident}/timeline"))
        .await
        .body;
    tl["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_signed_retried_with_backoff_and_delivered_once_accepted() {
    let (rx, base) = Receiver::start().await;
    rx.answer("alice", &[500, 503]);
    let app = TestApp::spawn().await;
    let alice = person(&app, "alice", &[format!("{base}/alice")]).await;
    let (svc, key) = service(
        &app,
        json!([{"delay_minutes": 5, "targets": [{"type": "user", "id": alice}]}]),
    )
    .await;
    let id = trigger(&app, &svc, &key).await;
    app.escalate().await;
    app.dispatch().await;
    assert_eq!(rx.got("alice").len(), 1);
    app.dispatch().await;
    assert_eq!(rx.got("alice").len(), 1, "no retry before the backoff");
    for _ in 0..2 {
        app.clock.advance(SignedDuration::from_secs(30));
        app.dispatch().await;
    }
    let got = rx.got("alice");
    assert_eq!(got.len(), 3, "500, 503, then accepted");
    let keys: Vec<&str> = got
        .iter()
        .map(|(h, _)| h["idempotency-key"].to_str().unwrap())
        .collect();
    assert!(
        keys.iter().all(|k| *k == keys[0]),
        "one idempotency key for every attempt"
    );
    let secret = std::fs::read_to_string(app.dir.join("webhook-secret")).unwrap();
    for (headers, body) in &got {
        let sig = headers[tocsin_notify::SIGNATURE_HEADER].to_str().unwrap();
        tocsin_notify::verify_signature(
            secret.as_bytes(),
            sig,
            body,
            jiff::Timestamp::now(),
            tocsin_notify::SIGNATURE_TOLERANCE_DEFAULT,
        )
        .expect("valid signature");
    }
    let page: serde_json::Value = serde_json::from_slice(&got[2].1).unwrap();
    assert_eq!(page["incident"]["title"], "db is down", "{page}");
    let n = app
        .get(&format!("/api/v1/incidents/{id}/notifications"))
        .await
        .body;
    assert_eq!(n["notifications"][0]["state"], "sent");
    assert_eq!(n["notifications"][0]["attempts"], 3);
    let k = kinds(&app, &id).await;
    assert_eq!(
        k.iter().filter(|k| *k == "notification_retry").count(),
        2,
        "{k:?}"
    );
    assert!(k.contains(&"notified".to_owned()));
    app.dispatch().await;
    assert_eq!(rx.got("alice").len(), 3, "nothing sent twice once accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_method_falls_back_and_an_unreachable_person_escalates_early() {
    let (rx, base) = Receiver::start().await;
    rx.answer("carol-old", &[404, 404, 404]);
    rx.answer("dave", &[410, 410]);
    let app = TestApp::spawn().await;
    let carol = person(
        &app,
        "carol",
        &[format!("{base}/carol-old"), format!("{base}/carol-new")],
    )
    .await;
    // Carol is paged on her first method only; the second is her fallback.
    let methods = app
        .get(&format!("/api/v1/users/{carol}/contact-methods"))
        .await
        .body;
    let first = methods["contact_methods"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post(
            &format!("/api/v1/users/{carol}/notification-rules"),
            json!({"contact_method_id": first, "delay_minutes": 0}),
        )
        .await;
    assert_eq!(r.status, reqwest::StatusCode::CREATED);
    let (svc, key) = service(
        &app,
        json!([{"delay_minutes": 5, "targets": [{"type": "user", "id": carol}]}]),
    )
    .await;
    let id = trigger(&app, &svc, &key).await;
    app.escalate().await;
    app.dispatch().await;
    app.dispatch().await;
    assert_eq!(rx.got("carol-old").len(), 1, "a 404 is not retried");
    assert_eq!(rx.got("carol-new").len(), 1, "the next method at once");
    let k = kinds(&app, &id).await;
    assert!(
        k.contains(&"notification_failed".to_owned())
            && k.contains(&"notification_fallback".to_owned()),
        "{k:?}"
    );

    // Dave's only method is gone: level 2 (Erin) is paged without waiting 5 minutes.
    let app2 = TestApp::spawn().await;
    let dave = person(&app2, "dave", &[format!("{base}/dave")]).await;
    let erin = person(&app2, "erin", &[format!("{base}/erin")]).await;
    let (svc, key) = service(
        &app2,
        json!([
            {"delay_minutes": 5, "targets": [{"type": "user", "id": dave}]},
            {"delay_minutes": 5, "targets": [{"type": "user", "id": erin}]}
        ]),
    )
    .await;
    let id = trigger(&app2, &svc, &key).await;
    app2.escalate().await;
    app2.dispatch().await;
    app2.escalate().await;
    app2.dispatch().await;
    assert_eq!(rx.got("erin").len(), 1, "escalated early");
    let steps: Vec<String> = kinds(&app2, &id)
        .await
        .into_iter()
        .filter(|k| k == "escalated")
        .collect();
    assert_eq!(steps.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_in_a_page_acknowledges_once_after_a_confirmation() {
    let (rx, base) = Receiver::start().await;
    let app = TestApp::spawn().await;
    let alice = person(&app, "alice", &[format!("{base}/alice")]).await;
    let bob = person(&app, "bob", &[format!("{base}/bob")]).await;
    let (svc, key) = service(
        &app,
        json!([
            {"delay_minutes": 5, "targets": [{"type": "user", "id": alice}]},
            {"delay_minutes": 5, "targets": [{"type": "user", "id": bob}]}
        ]),
    )
    .await;
    let id = trigger(&app, &svc, &key).await;
    app.escalate().await;
    app.dispatch().await;
    let page: serde_json::Value = serde_json::from_slice(&rx.got("alice")[0].1).unwrap();
    let link = page["ack_url"]
        .as_str()
        .expect("an acknowledge link")
        .to_owned();
    assert!(link.starts_with(&format!("{}/ack/", app.url)), "{link}");

    // A link scanner's GET changes nothing.
    let r = app.client.get(&link).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("db is down") && html.contains("<form method=\"post\">"),
        "{html}"
    );
    assert_eq!(
        app.get(&format!("/api/v1/incidents/{id}")).await.body["status"],
        "triggered"
    );
    let r = app
        .client
        .post(&link)
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::FORBIDDEN);
    // The POST (a form, or ntfy's action button with an empty body) acknowledges as alice.
    let r = app.client.post(&link).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let inc = app.get(&format!("/api/v1/incidents/{id}")).await.body;
    assert_eq!(inc["status"], "acknowledged");
    let tl = app
        .get(&format!("/api/v1/incidents/{id}/timeline"))
        .await
        .body;
    let ack = tl["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "acknowledged")
        .unwrap()
        .clone();
    assert_eq!(ack["actor"], "alice");
    assert_eq!(ack["channel"], "link");
    assert_eq!(
        inc["assignees"],
        json!([alice]),
        "whoever acknowledges takes the incident"
    );
    // Single use, and tamper-proof.
    let r = app.client.post(&link).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::CONFLICT);
    let last = if link.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &link[..link.len() - 1]);
    assert_eq!(
        app.client.post(&forged).send().await.unwrap().status(),
        reqwest::StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.client
            .get(format!("{}/ack/nonsense", app.url))
            .send()
            .await
            .unwrap()
            .status(),
        reqwest::StatusCode::NOT_FOUND
    );
    // Acknowledged: level 2 never pages bob.
    app.clock.advance(SignedDuration::from_mins(10));
    app.escalate().await;
    app.dispatch().await;
    assert!(rx.got("bob").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_chat_channel_is_not_flooded_during_a_storm() {
    let (rx, base) = Receiver::start().await;
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/api/v1/users",
            json!({"name": "ops", "email": "ops@example.com"}),
        )
        .await;
    let ops = r.body["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/api/v1/users/{ops}/contact-methods"),
            json!({"type": "slack", "address": format!("{base}/channel")}),
        )
        .await;
    assert_eq!(r.status, reqwest::StatusCode::CREATED);
    let (svc, key) = service(
        &app,
        json!([{"delay_minutes": 5, "targets": [{"type": "user", "id": ops}]}]),
    )
    .await;
    for n in 0..8 {
        app.enqueue(
            json!({"routing_key": key, "event_action": "trigger", "dedup_key": format!("storm-{n}"),
            "payload": {"summary": format!("storm {n}"), "source": "h", "severity": "critical"}}),
        )
        .await;
    }
    assert_eq!(app.incidents(&svc).await.len(), 8);
    app.escalate().await;
    app.dispatch().await;
    assert_eq!(
        rx.got("channel").len(),
        5,
        "a burst of 5, then one a second"
    );
    app.clock.advance(SignedDuration::from_secs(1));
    app.dispatch().await;
    assert_eq!(rx.got("channel").len(), 6);
    app.clock.advance(SignedDuration::from_secs(2));
    app.dispatch().await;
    assert_eq!(rx.got("channel").len(), 8, "postponed, never dropped");
}

/// The `value` of the Acknowledge button in a Slack page, and the token in a Mattermost page's
/// button context, with that button's callback URL.
fn slack_button(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    let blocks = v["blocks"].as_array().unwrap();
    let actions = blocks.iter().find(|b| b["type"] == "actions").unwrap();
    assert_eq!(actions["elements"][0]["action_id"], "tocsin_ack");
    actions["elements"][0]["value"].as_str().unwrap().to_owned()
}

fn mattermost_button(body: &[u8]) -> (String, String) {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    let action = &v["attachments"][0]["actions"][0];
    (
        action["integration"]["url"].as_str().unwrap().to_owned(),
        action["integration"]["context"]["token"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_buttons_acknowledge_as_the_person_paged() {
    let (rx, base) = Receiver::start().await;
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let app = TestApp::spawn_with(Options {
        notify: tocsin::config::NotifySection {
            slack: Some(tocsin::config::SlackSection {
                signing_secret: secret.into(),
            }),
            ..Default::default()
        },
        ..Options::default()
    })
    .await;
    let r = app
        .post(
            "/api/v1/users",
            json!({"name": "Carol", "email": "carol@example.com"}),
        )
        .await;
    let carol = r.body["id"].as_str().unwrap().to_owned();
    for (kind, path) in [("slack", "slack"), ("mattermost", "mm")] {
        let r = app
            .post(
                &format!("/api/v1/users/{carol}/contact-methods"),
                json!({"type": kind, "address": format!("{base}/{path}")}),
            )
            .await;
        assert_eq!(r.status, reqwest::StatusCode::CREATED, "{}", r.body);
    }
    let (svc, key) = service(
        &app,
        json!([{"delay_minutes": 5, "targets": [{"type": "user", "id": carol}]}]),
    )
    .await;
    let id = trigger(&app, &svc, &key).await;
    app.escalate().await;
    app.dispatch().await;
    let token = slack_button(&rx.got("slack")[0].1);
    let (mm_url, mm_token) = mattermost_button(&rx.got("mm")[0].1);
    assert_eq!(mm_url, format!("{}/hooks/mattermost/actions", app.url));

    // Slack: the press is form-encoded JSON, signed by Slack with the app's signing secret.
    let payload = json!({"type": "block_actions", "user": {"id": "U1", "username": "carol.s"},
        "actions": [{"action_id": "tocsin_ack", "value": token}]});
    let req = app
        .client
        .post(format!("{}/hooks/slack/actions", app.url))
        .form(&[("payload", payload.to_string())])
        .build()
        .unwrap();
    let body = req.body().unwrap().as_bytes().unwrap().to_vec();
    // The server's clock is the test's.
    let now = tocsin_engine::Clock::now(&*app.clock).as_second();
    let ts = now.to_string();
    let press = |sig: String, ts: String, body: Vec<u8>| {
        app.client
            .post(format!("{}/hooks/slack/actions", app.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .body(body)
            .send()
    };
    let forged = tocsin_web::buttons::slack_signature("not the secret", &ts, &body);
    let r = press(forged, ts.clone(), body.clone()).await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::FORBIDDEN);
    let stale = (now - 600).to_string();
    let sig = tocsin_web::buttons::slack_signature(secret, &stale, &body);
    let r = press(sig, stale, body.clone()).await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::FORBIDDEN, "a replay");
    let sig = tocsin_web::buttons::slack_signature(secret, &ts, &body);
    let r = press(sig, ts, body).await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let inc = app.get(&format!("/api/v1/incidents/{id}")).await.body;
    assert_eq!(inc["status"], "acknowledged");
    let tl = app
        .get(&format!("/api/v1/incidents/{id}/timeline"))
        .await
        .body;
    let ack = tl["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "acknowledged")
        .unwrap()
        .clone();
    assert_eq!(ack["channel"], "chat");
    assert_eq!(
        ack["message"],
        "Acknowledged by Carol with the Acknowledge button in Slack, pressed by @carol.s"
    );

    // Mattermost: its server posts the button's context; the token is single-use.
    let r = app
        .client
        .post(&mm_url)
        .json(&json!({"user_id": "u1", "user_name": "carol", "context": {"action": "acknowledge", "token": mm_token}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let text: serde_json::Value = r.json().await.unwrap();
    assert!(
        text["ephemeral_text"]
            .as_str()
            .unwrap()
            .ends_with("is acknowledged."),
        "{text}"
    );
    let r = app
        .client
        .post(&mm_url)
        .json(&json!({"user_name": "carol", "context": {"token": mm_token}}))
        .send()
        .await
        .unwrap();
    let text: serde_json::Value = r.json().await.unwrap();
    assert_eq!(text["ephemeral_text"], "This button was already used.");
    let r = app
        .client
        .post(&mm_url)
        .json(&json!({"user_name": "mallory", "context": {"token": "forged.token"}}))
        .send()
        .await
        .unwrap();
    let text: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        text["ephemeral_text"],
        "This is not a valid acknowledge button."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_telegram_button_acknowledges_through_the_bots_webhook() {
    let (rx, base) = Receiver::start().await;
    let app = TestApp::spawn_with(Options {
        notify: tocsin::config::NotifySection {
            telegram_base_url: Some(format!("{base}/tg")),
            telegram: Some(tocsin::config::TelegramSection {
                webhook_secret: "tg-secret-token".into(),
            }),
            ..Default::default()
        },
        ..Options::default()
    })
    .await;
    let r = app
        .post(
            "/api/v1/users",
            json!({"name": "Dan", "email": "dan@example.com"}),
        )
        .await;
    let dan = r.body["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/api/v1/users/{dan}/contact-methods"),
            json!({"type": "telegram", "address": "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw:4242"}),
        )
        .await;
    assert_eq!(r.status, reqwest::StatusCode::CREATED, "{}", r.body);
    let (svc, key) = service(
        &app,
        json!([{"delay_minutes": 5, "targets": [{"type": "user", "id": dan}]}]),
    )
    .await;
    let id = trigger(&app, &svc, &key).await;
    app.escalate().await;
    app.dispatch().await;
    let sent = rx.got("tg/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage");
    let paths: Vec<String> = rx.got.lock().unwrap().keys().cloned().collect();
    assert_eq!(
        sent.len(),
        1,
        "{paths:?} {}",
        app.get(&format!("/api/v1/incidents/{id}/notifications"))
            .await
            .body
    );
    let msg: serde_json::Value = serde_json::from_slice(&sent[0].1).unwrap();
    let data = msg["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(data.starts_with("ack:") && data.len() <= 64, "{data}");

    let update = |data: &str| {
        json!({"update_id": 1, "callback_query": {"id": "cb1", "from": {"id": 7, "username": "dan_ops", "first_name": "Dan"},
            "chat_instance": "x", "data": data}})
    };
    let send = |secret: &'static str, body: serde_json::Value| {
        app.client
            .post(format!("{}/hooks/telegram", app.url))
            .header("x-telegram-bot-api-secret-token", secret)
            .json(&body)
            .send()
    };
    let r = send("wrong", update(&data)).await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::FORBIDDEN);
    let r = send("tg-secret-token", update(&data)).await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let answer: serde_json::Value = r.json().await.unwrap();
    assert_eq!(answer["method"], "answerCallbackQuery");
    assert_eq!(answer["callback_query_id"], "cb1");
    let inc = app.get(&format!("/api/v1/incidents/{id}")).await.body;
    assert_eq!(inc["status"], "acknowledged");
    let tl = app
        .get(&format!("/api/v1/incidents/{id}/timeline"))
        .await
        .body;
    assert!(
        tl["entries"].as_array().unwrap().iter().any(|e| e["message"]
            == "Acknowledged by Dan with the Acknowledge button in Telegram, pressed by @dan_ops"),
        "{tl}"
    );
    let r = send("tg-secret-token", update(&data)).await.unwrap();
    let answer: serde_json::Value = r.json().await.unwrap();
    assert_eq!(answer["text"], "This button was already used.");
    let r = send("tg-secret-token", update("ack:aAAAA")).await.unwrap();
    let answer: serde_json::Value = r.json().await.unwrap();
    assert_eq!(answer["text"], "This is not a valid acknowledge button.");
}
