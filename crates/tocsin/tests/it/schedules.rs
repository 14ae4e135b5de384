//! On-call schedules through the API: who is on call, final shifts, overrides, gaps, bad
//! input, and schedules as escalation targets.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn user(app: &TestApp, name: &str) -> String {
    let r = app
        .post(
            "/api/v1/users",
            json!({"name": name, "email": format!("{name}@example.com")}),
        )
        .await;
    r.body["id"].as_str().unwrap().to_owned()
}

fn spec(name: &str, users: &[&str]) -> Value {
    json!({"name": name, "time_zone": "Europe/Paris", "layers": [{
        "name": "primary",
        "start": "2026-11-23T08:00:00Z",
        "rotation": {"type": "daily", "length": 1},
        "users": users,
    }]})
}

#[tokio::test]
async fn who_is_on_call_shifts_overrides_and_gaps() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let r = app
        .post("/api/v1/schedules", spec("Primary", &[&alice, &bob]))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["time_zone"], "Europe/Paris");

    // T0 is 2026-11-25 10:00 UTC: the third daily shift, alice again (09:00 Paris hand-offs).
    let r = app.get(&format!("/api/v1/schedules/{id}/oncall")).await;
    assert_eq!(r.body["users"][0]["id"], alice.as_str(), "{}", r.body);
    assert_eq!(
        r.body["shift"],
        json!({"start": "2026-11-25T08:00:00Z", "end": "2026-11-26T08:00:00Z"})
    );
    let r = app
        .get(&format!(
            "/api/v1/schedules/{id}/oncall?at=2026-11-24T12:00:00Z"
        ))
        .await;
    assert_eq!(r.body["users"][0]["id"], bob.as_str());
    let r = app
        .get(&format!(
            "/api/v1/schedules/{id}/oncall?at=2026-11-01T00:00:00Z"
        ))
        .await;
    assert_eq!(
        r.body,
        json!({"users": [], "shift": null}),
        "nobody before the layer starts"
    );

    let r = app
        .get(&format!(
            "/api/v1/schedules/{id}/shifts?from=2026-11-25T00:00:00Z&to=2026-11-27T00:00:00Z"
        ))
        .await;
    assert_eq!(
        r.body["shifts"],
        json!([
            {"user_id": bob, "start": "2026-11-25T00:00:00Z", "end": "2026-11-25T08:00:00Z"},
            {"user_id": alice, "start": "2026-11-25T08:00:00Z", "end": "2026-11-26T08:00:00Z"},
            {"user_id": bob, "start": "2026-11-26T08:00:00Z", "end": "2026-11-27T00:00:00Z"},
        ])
    );

    // An override wins over the rotation, for its span only.
    let r = app
        .post(
            &format!("/api/v1/schedules/{id}/overrides"),
            json!({"user_id": bob, "start": "2026-11-25T09:00:00Z", "end": "2026-11-25T12:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app.get(&format!("/api/v1/schedules/{id}/oncall")).await;
    assert_eq!(r.body["users"][0]["id"], bob.as_str());
    assert_eq!(r.body["shift"]["end"], "2026-11-25T12:00:00Z");
    let r = app
        .post(
            &format!("/api/v1/schedules/{id}/overrides"),
            json!({"user_id": bob, "start": "2026-11-25T12:00:00Z", "end": "2026-11-25T12:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "zero-length override");
    let r = app
        .post(&format!("/api/v1/schedules/{id}/overrides"), json!({"user_id": "ghost", "start": "2026-11-25T12:00:00Z", "end": "2026-11-25T13:00:00Z"}))
        .await;
    assert!(
        r.body["error"]["fields"]["user_id"].is_string(),
        "{}",
        r.body
    );

    // A nights-only layer leaves the days uncovered.
    let mut nights = spec("Nights", &[&alice]);
    nights["layers"][0]["restrictions"] =
        json!([{"type": "daily", "start": "20:00", "end": "08:00"}]);
    let r = app.post("/api/v1/schedules", nights).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let nid = r.body["id"].as_str().unwrap();
    let r = app
        .get(&format!(
            "/api/v1/schedules/{nid}/gaps?from=2026-11-25T00:00:00Z&to=2026-11-26T00:00:00Z"
        ))
        .await;
    assert_eq!(
        r.body["gaps"],
        json!([{"start": "2026-11-25T07:00:00Z", "end": "2026-11-25T19:00:00Z"}]),
        "{}",
        r.body
    );

    for (q, field) in [
        ("from=2026-11-26T00:00:00Z&to=2026-11-25T00:00:00Z", "to"),
        ("from=yesterday", "from"),
        ("to=2030-01-01T00:00:00Z", "to"),
    ] {
        let r = app.get(&format!("/api/v1/schedules/{id}/shifts?{q}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        assert!(
            r.body["error"]["fields"][field].is_string(),
            "{q}: {}",
            r.body
        );
    }
    assert_eq!(
        app.get("/api/v1/schedules/nope/oncall").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/v1/schedules").await.body["schedules"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn bad_schedules_name_the_field() {
    let app = TestApp::spawn().await;
    let alice = user(&app, "alice").await;
    let mut unknown_zone = spec("a", &[&alice]);
    unknown_zone["time_zone"] = json!("Mars/Olympus");
    let mut zero = spec("b", &[&alice]);
    zero["layers"][0]["rotation"]["length"] = json!(0);
    for (body, field) in [
        (unknown_zone, "time_zone"),
        (spec("c", &[]), "layers[0].users"),
        (spec("d", &["ghost"]), "layers[0].users[0]"),
        (zero, "layers[0].rotation.length"),
        (
            json!({"name": "e", "time_zone": "UTC", "layers": []}),
            "layers",
        ),
    ] {
        let r = app.post("/api/v1/schedules", body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            r.body["error"]["fields"][field].is_string(),
            "{field}: {}",
            r.body
        );
    }
    let responder = app.token("responder").await;
    let r = app
        .call(
            "POST",
            "/api/v1/schedules",
            Some(&responder),
            Some(spec("f", &[&alice])),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_pages_whoever_is_on_call() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    for u in [&alice, &bob] {
        let r = app
            .post(
                &format!("/api/v1/users/{u}/contact-methods"),
                json!({"type": "webhook", "address": "http://127.0.0.1:9/h"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let sched = app
        .post("/api/v1/schedules", spec("Primary", &[&bob, &alice]))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post("/api/v1/escalation-policies", json!({"name": "p", "levels": [{"delay_minutes": 5, "targets": [{"type": "schedule", "id": sched}]}]}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let svc = app
        .post(
            "/api/v1/services",
            json!({"name": "s", "escalation_policy_id": r.body["id"]}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = app.integration(&svc, "events_v2").await;
    app.enqueue(
        json!({"routing_key": key, "event_action": "trigger", "dedup_key": "x",
        "payload": {"summary": "x", "source": "h", "severity": "critical"}}),
    )
    .await;
    app.escalate().await;
    let id = app.incidents(&svc).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let n = app
        .get(&format!("/api/v1/incidents/{id}/notifications"))
        .await
        .body;
    let users: Vec<&str> = n["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["user_id"].as_str().unwrap())
        .collect();
    // Rotation bob, alice from the 23rd: the 25th is bob's day.
    assert_eq!(users, [bob.as_str()]);
}
