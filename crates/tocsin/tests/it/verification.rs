//! Phone numbers are verified with a code before first use, through a local server speaking
//! Twilio's REST API; every contact method can be checked with a test notification; a verified
//! phone then receives pages.

use crate::support::*;
use axum::extract::{Form, Path, State};
use jiff::SignedDuration;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tocsin::config::{NotifySection, TwilioSection};

type Sent = Arc<Mutex<Vec<HashMap<String, String>>>>;

async fn twilio() -> (Sent, String) {
    twilio_with(false).await
}

/// The Twilio-shaped server; with `calls`, it places calls too (else calls fail with 404).
async fn twilio_with(calls: bool) -> (Sent, String) {
    let sent: Sent = Arc::default();
    let app = axum::Router::new().route(
        "/2010-04-01/Accounts/{sid}/Messages.json",
        axum::routing::post(
            |State(sent): State<Sent>,
             Path(sid): Path<String>,
             Form(f): Form<HashMap<String, String>>| async move {
                assert_eq!(sid, "AC0123");
                let n = {
                    let mut s = sent.lock().unwrap();
                    s.push(f);
                    s.len()
                };
                (
                    axum::http::StatusCode::CREATED,
                    axum::Json(json!({"sid": format!("SM{n:04}"), "status": "queued"})),
                )
            },
        ),
    );
    let app = if calls {
        app.route(
            "/2010-04-01/Accounts/{sid}/Calls.json",
            axum::routing::post(
                |State(sent): State<Sent>, Form(f): Form<HashMap<String, String>>| async move {
                    let n = {
                        let mut s = sent.lock().unwrap();
                        s.push(f);
                        s.len()
                    };
                    (
                        axum::http::StatusCode::CREATED,
                        axum::Json(json!({"sid": format!("CA{n:04}"), "status": "queued"})),
                    )
                },
            ),
        )
    } else {
        app
    }
    .with_state(sent.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (sent, url)
}

/// A server whose SMS and voice go to the local Twilio-shaped server at `base`.
async fn app_with_twilio(base: String, auth_token: &str) -> TestApp {
    let notify = NotifySection {
        twilio: Some(TwilioSection {
            base_url: Some(base),
            account_sid: "AC0123".into(),
            auth_token: auth_token.into(),
            from_number: "+15550000000".into(),
            status_callback_base: None,
        }),
        ..NotifySection::default()
    };
    TestApp::spawn_with(Options {
        notify,
        ..Options::default()
    })
    .await
}

fn code_in(body: &str) -> String {
    body.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap_or_else(|| panic!("a 6-digit code in {body:?}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phones_are_verified_with_a_code_then_paged() {
    let (sent, base) = twilio().await;
    let app = app_with_twilio(base, "secret-token").await;
    let alice = app
        .post(
            "/api/v1/users",
            json!({"name": "alice", "email": "alice@example.com"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let m = app
        .post(
            &format!("/api/v1/users/{alice}/contact-methods"),
            json!({"type": "sms", "address": "+33612345678"}),
        )
        .await;
    let sms = m.body["id"].as_str().unwrap().to_owned();
    let base_path = format!("/api/v1/users/{alice}/contact-methods/{sms}");
    assert_eq!(
        app.post(&format!("{base_path}/test"), json!({}))
            .await
            .status,
        StatusCode::CONFLICT,
        "unverified"
    );
    let r = app
        .post(&format!("{base_path}/verify"), json!({"code": "123456"}))
        .await;
    assert!(
        r.body["error"]["fields"]["code"]
            .as_str()
            .unwrap()
            .contains("never sent"),
        "{}",
        r.body
    );

    let r = app.post(&format!("{base_path}/send-code"), json!({})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let msg = sent.lock().unwrap()[0].clone();
    assert_eq!(msg["To"], "+33612345678");
    assert_eq!(msg["From"], "+15550000000");
    let code = code_in(&msg["Body"]);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = app
        .post(&format!("{base_path}/verify"), json!({"code": wrong}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["error"]["fields"]["code"].is_string());
    let r = app
        .post(&format!("{base_path}/verify"), json!({"code": code}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["verified"], true);
    assert_eq!(
        app.post(&format!("{base_path}/send-code"), json!({}))
            .await
            .status,
        StatusCode::CONFLICT,
        "already verified"
    );

    let r = app.post(&format!("{base_path}/test"), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["provider_id"], "SM0002");

    // A verified phone is paged.
    let (_, key) = app
        .paging_service(
            "payments",
            json!([{"delay_minutes": 5, "targets": [{"type": "user", "id": alice}]}]),
        )
        .await;
    app.enqueue(
        json!({"routing_key": key, "event_action": "trigger", "dedup_key": "x",
        "payload": {"summary": "card payments failing", "source": "h", "severity": "critical"}}),
    )
    .await;
    app.escalate().await;
    app.dispatch().await;
    let page = sent.lock().unwrap().last().cloned().unwrap();
    assert!(page["Body"].contains("card payments"), "{page:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_expire_and_wrong_guesses_are_bounded() {
    let (sent, base) = twilio().await;
    let app = app_with_twilio(base, "t").await;
    let bob = app
        .post(
            "/api/v1/users",
            json!({"name": "bob", "email": "bob@example.com"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sms = app
        .post(
            &format!("/api/v1/users/{bob}/contact-methods"),
            json!({"type": "voice", "address": "+33612345679"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/users/{bob}/contact-methods/{sms}");
    // Voice codes go by call; this server only takes messages, so the call fails visibly.
    let r = app.post(&format!("{path}/send-code"), json!({})).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "delivery_failed");
    assert!(sent.lock().unwrap().is_empty());
    // Five wrong guesses, then even the right code is refused until a new one is sent.
    for _ in 0..5 {
        let r = app
            .post(&format!("{path}/verify"), json!({"code": "999999x"}))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    }
    let r = app
        .post(&format!("{path}/verify"), json!({"code": "999999x"}))
        .await;
    assert!(
        r.body["error"]["fields"]["code"]
            .as_str()
            .unwrap()
            .contains("too often"),
        "{}",
        r.body
    );
    // Expiry.
    app.post(&format!("{path}/send-code"), json!({})).await;
    app.clock.advance(SignedDuration::from_mins(11));
    let r = app
        .post(&format!("{path}/verify"), json!({"code": "123456"}))
        .await;
    assert!(
        r.body["error"]["fields"]["code"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{}",
        r.body
    );
}

async fn signed_post(
    app: &TestApp,
    path: &str,
    params: &[(&str, &str)],
    token: &str,
) -> (reqwest::StatusCode, String) {
    let map: std::collections::BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let sig = tocsin_web::hooks::twilio_signature(token, &format!("{}{path}", app.url), &map);
    let r = app
        .client
        .post(format!("{}{path}", app.url))
        .header("X-Twilio-Signature", sig)
        .form(&map)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_by_sms_and_keypress_act_on_the_incident() {
    let (sent, base) = twilio().await;
    let app = app_with_twilio(base, "tok").await;
    let alice = app
        .post(
            "/api/v1/users",
            json!({"name": "alice", "email": "alice@example.com"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sms = app
        .post(
            &format!("/api/v1/users/{alice}/contact-methods"),
            json!({"type": "sms", "address": "+33612345678"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        &format!("/api/v1/users/{alice}/contact-methods/{sms}/send-code"),
        json!({}),
    )
    .await;
    let code = code_in(&sent.lock().unwrap()[0]["Body"]);
    app.post(
        &format!("/api/v1/users/{alice}/contact-methods/{sms}/verify"),
        json!({"code": code}),
    )
    .await;
    let (_, key) = app
        .paging_service(
            "s",
            json!([{"delay_minutes": 5, "targets": [{"type": "user", "id": alice}]}]),
        )
        .await;
    for d in ["one", "two"] {
        app.enqueue(
            json!({"routing_key": key, "event_action": "trigger", "dedup_key": d,
            "payload": {"summary": format!("{d} down"), "source": "h", "severity": "critical"}}),
        )
        .await;
    }
    app.escalate().await;
    app.dispatch().await;
    let page = sent.lock().unwrap().last().cloned().unwrap();
    assert!(
        page["Body"].contains("ack"),
        "the page says how to reply: {page:?}"
    );

    let path = "/hooks/twilio/sms";
    let (status, _) = signed_post(
        &app,
        path,
        &[("From", "+33612345678"), ("Body", "1 ack")],
        "wrong-token",
    )
    .await;
    assert_eq!(
        status,
        reqwest::StatusCode::FORBIDDEN,
        "unsigned or mis-signed requests are refused"
    );
    let (status, reply) = signed_post(
        &app,
        path,
        &[("From", "+33612345678"), ("Body", "1 ack")],
        "tok",
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert!(
        reply.contains("<Message>#1 acknowledged: one down</Message>"),
        "{reply}"
    );
    let inc = app.get("/api/v1/incidents?limit=100").await.body;
    let one = inc["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["number"] == 1)
        .unwrap()
        .clone();
    assert_eq!(one["status"], "acknowledged");
    let tl = app
        .get(&format!(
            "/api/v1/incidents/{}/timeline",
            one["id"].as_str().unwrap()
        ))
        .await
        .body;
    let ack = tl["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "acknowledged")
        .unwrap()
        .clone();
    assert_eq!(
        (ack["actor"].as_str(), ack["channel"].as_str()),
        (Some("alice"), Some("sms"))
    );
    let (_, reply) = signed_post(
        &app,
        path,
        &[("From", "+33699999999"), ("Body", "1 ack")],
        "tok",
    )
    .await;
    assert!(reply.contains("does not know this number"), "{reply}");
    let (_, reply) = signed_post(
        &app,
        path,
        &[("From", "+33612345678"), ("Body", "hello")],
        "tok",
    )
    .await;
    assert!(reply.contains("42 ack"), "{reply}");
    let (_, reply) = signed_post(
        &app,
        path,
        &[("From", "+33612345678"), ("Body", "1 resolve")],
        "tok",
    )
    .await;
    assert!(reply.contains("#1 resolved"), "{reply}");

    // A keypress on the paging call for incident #2.
    let two = app.get("/api/v1/incidents?limit=100").await.body["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["number"] == 2)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let n = app
        .get(&format!("/api/v1/incidents/{two}/notifications"))
        .await
        .body;
    let notification = n["notifications"][0]["idempotency_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let gather = format!("/hooks/twilio/voice/gather?notification={notification}");
    let (_, twiml) = signed_post(&app, &gather, &[("Digits", "1")], "tok").await;
    assert!(twiml.contains("Not acknowledged"), "{twiml}");
    let (status, twiml) = signed_post(&app, &gather, &[("Digits", "4")], "tok").await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert!(twiml.contains("Acknowledged"), "{twiml}");
    assert_eq!(
        app.get(&format!("/api/v1/incidents/{two}")).await.body["status"],
        "acknowledged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voice_rule_keeps_calling_until_someone_acknowledges() {
    let (sent, base) = twilio_with(true).await;
    let app = app_with_twilio(base, "tok").await;
    let alice = app
        .post(
            "/api/v1/users",
            json!({"name": "alice", "email": "alice@example.com"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let methods = format!("/api/v1/users/{alice}/contact-methods");
    let voice = app
        .post(
            &methods,
            json!({"type": "voice", "address": "+33612345678"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(&format!("{methods}/{voice}/send-code"), json!({}))
        .await;
    // The call reads the code digit by digit: "1. 2. 3. …".
    let twiml = sent.lock().unwrap().last().unwrap()["Twiml"].clone();
    let spoken = twiml.split("code is").nth(1).unwrap_or_default();
    let code: String = spoken
        .chars()
        .filter(char::is_ascii_digit)
        .take(6)
        .collect();
    let r = app
        .post(&format!("{methods}/{voice}/verify"), json!({"code": code}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let hook = app
        .post(
            &methods,
            json!({"type": "webhook", "address": "http://127.0.0.1:9/x"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rules = format!("/api/v1/users/{alice}/notification-rules");
    for (body, field) in [
        (
            json!({"contact_method_id": hook, "delay_minutes": 0, "repeat_every_minutes": 5}),
            "repeat_every_minutes",
        ),
        (
            json!({"contact_method_id": voice, "delay_minutes": 0, "repeat_every_minutes": 0}),
            "repeat_every_minutes",
        ),
    ] {
        let r = app.post(&rules, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(r.body["error"]["fields"][field].is_string(), "{}", r.body);
    }
    let r = app
        .post(
            &rules,
            json!({"contact_method_id": voice, "delay_minutes": 0, "repeat_every_minutes": 5}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["repeat_every_minutes"], 5);

    let (svc, key) = app
        .paging_service(
            "s",
            json!([{"delay_minutes": 60, "targets": [{"type": "user", "id": alice}]}]),
        )
        .await;
    app.enqueue(
        json!({"routing_key": key, "event_action": "trigger", "dedup_key": "db",
        "payload": {"summary": "db down", "source": "h", "severity": "critical"}}),
    )
    .await;
    let id = app.incidents(&svc).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let calls = || {
        sent.lock()
            .unwrap()
            .iter()
            .filter(|f| f.contains_key("Twiml"))
            .count()
    };
    // Counted before the step: the background engine may place the first call at once.
    let before = calls();
    app.escalate().await;
    app.dispatch().await;
    assert_eq!(calls(), before + 1, "the first call at once");
    app.clock.advance(jiff::SignedDuration::from_mins(4));
    app.dispatch().await;
    assert_eq!(calls(), before + 1);
    app.clock.advance(jiff::SignedDuration::from_mins(1));
    app.dispatch().await;
    assert_eq!(calls(), before + 2, "again 5 minutes later");
    let list = app
        .get(&format!("/api/v1/incidents/{id}/notifications"))
        .await
        .body["notifications"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(list.len(), 11, "the first call and at most 10 more");
    app.post(&format!("/api/v1/incidents/{id}/acknowledge"), json!({}))
        .await;
    app.clock.advance(jiff::SignedDuration::from_mins(30));
    app.dispatch().await;
    assert_eq!(calls(), before + 2, "no call after the acknowledgement");
    let cancelled = app
        .get(&format!("/api/v1/incidents/{id}/notifications"))
        .await
        .body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["state"] == "cancelled")
        .count();
    assert_eq!(cancelled, 9);
}
