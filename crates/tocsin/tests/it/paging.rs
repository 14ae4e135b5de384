//! Escalation policies, contact methods and notification rules through the API: the core's
//! rules, references that must exist, and who may change whose settings.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

async fn user(app: &TestApp, name: &str) -> String {
    let r = app
        .post(
            "/api/v1/users",
            json!({"name": name, "email": format!("{name}@example.com")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn escalation_policies_are_checked_and_services_use_them() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let body = json!({"name": "Databases", "repeat": 2, "levels": [
        {"delay_minutes": 5, "targets": [{"type": "user", "id": alice}]},
        {"delay_minutes": 10, "targets": [{"type": "user", "id": bob}, {"type": "round_robin", "ids": [alice, bob]}]}
    ]});
    let r = app.post("/api/v1/escalation-policies", body.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let policy = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["levels"][1]["targets"][1]["type"], "round_robin");
    assert_eq!(
        app.post("/api/v1/escalation-policies", body).await.status,
        StatusCode::CONFLICT
    );
    let got = app
        .get(&format!("/api/v1/escalation-policies/{policy}"))
        .await;
    assert_eq!(got.body["repeat"], 2);
    assert_eq!(
        app.get("/api/v1/escalation-policies").await.body["escalation_policies"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    for (body, field) in [
        (json!({"name": "x", "levels": []}), "levels"),
        (
            json!({"name": "x", "levels": [{"delay_minutes": 0, "targets": [{"type": "user", "id": alice}]}]}),
            "levels[0].delay_minutes",
        ),
        (
            json!({"name": "x", "levels": [{"delay_minutes": 5, "targets": []}]}),
            "levels[0].targets",
        ),
        (
            json!({"name": "x", "repeat": 10, "levels": [{"delay_minutes": 5, "targets": [{"type": "user", "id": alice}]}]}),
            "repeat",
        ),
        (
            json!({"name": "x", "levels": [{"delay_minutes": 5, "targets": [{"type": "user", "id": "ghost"}]}]}),
            "levels[0].targets[0].id",
        ),
        (
            json!({"name": "x", "levels": [{"delay_minutes": 5, "targets": [{"type": "round_robin", "ids": [alice, "ghost"]}]}]}),
            "levels[0].targets[0].ids[1]",
        ),
        (
            json!({"name": "x", "levels": [{"delay_minutes": 5, "targets": [{"type": "schedule", "id": "none"}]}]}),
            "levels[0].targets[0].id",
        ),
        (
            json!({"name": "", "levels": [{"delay_minutes": 5, "targets": [{"type": "user", "id": alice}]}]}),
            "name",
        ),
    ] {
        let r = app.post("/api/v1/escalation-policies", body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            r.body["error"]["fields"][field].is_string(),
            "{body}: {}",
            r.body
        );
    }
    let r = app
        .post(
            "/api/v1/escalation-policies",
            json!({"name": "x", "levels": [{"delay_minutes": 5, "targets": [{"type": "pager"}]}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let r = app
        .post(
            "/api/v1/services",
            json!({"name": "db", "escalation_policy_id": policy}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["escalation_policy_id"], policy.as_str());
    let r = app
        .post(
            "/api/v1/services",
            json!({"name": "db2", "escalation_policy_id": "nope"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["error"]["fields"]["escalation_policy_id"].is_string());
    let viewer = app.token("viewer").await;
    assert_eq!(
        app.call(
            "POST",
            "/api/v1/escalation-policies",
            Some(&viewer),
            Some(json!({}))
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn people_choose_how_they_are_reached() {
    let app = TestApp::spawn().await;
    let alice = user(&app, "alice").await;
    let bob = user(&app, "bob").await;
    let r = app
        .post(
            "/api/v1/tokens",
            json!({"name": "alice", "role": "responder", "user_id": alice}),
        )
        .await;
    let alice_token = r.body["secret"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/users/{alice}/contact-methods");

    let r = app
        .call(
            "POST",
            &path,
            Some(&alice_token),
            Some(json!({"type": "sms", "address": "+33 6 12 34 56 78", "label": "mobile"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["address"], "+33612345678");
    assert_eq!(
        r.body["verified"], false,
        "phone numbers are verified with a code before first use"
    );
    let sms = r.body["id"].as_str().unwrap().to_owned();
    let r = app
        .call(
            "POST",
            &path,
            Some(&alice_token),
            Some(json!({"type": "slack", "address": "https://hooks.slack.com/services/T/B/X"})),
        )
        .await;
    assert_eq!(r.body["verified"], true);
    let slack = r.body["id"].as_str().unwrap().to_owned();
    let r = app
        .call(
            "POST",
            &path,
            Some(&alice_token),
            Some(json!({"type": "slack", "address": "https://hooks.slack.com/services/T/B/X"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    for (body, field) in [
        (json!({"type": "pigeon", "address": "x"}), "type"),
        (json!({"type": "sms", "address": "0612"}), "address"),
        (json!({"type": "email", "address": "nobody"}), "address"),
        (json!({"type": "webhook", "address": "ftp://x"}), "address"),
        (json!({"type": "email"}), "address"),
    ] {
        let r = app
            .call("POST", &path, Some(&alice_token), Some(body.clone()))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            r.body["error"]["fields"][field].is_string(),
            "{body}: {}",
            r.body
        );
    }
    // Alice may not touch Bob's settings; an admin may.
    let r = app
        .call(
            "POST",
            &format!("/api/v1/users/{bob}/contact-methods"),
            Some(&alice_token),
            Some(json!({"type": "email", "address": "b@example.com"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post(
            &format!("/api/v1/users/{bob}/contact-methods"),
            json!({"type": "email", "address": "b@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let bob_email = r.body["id"].as_str().unwrap().to_owned();

    let rules = format!("/api/v1/users/{alice}/notification-rules");
    let r = app
        .call(
            "POST",
            &rules,
            Some(&alice_token),
            Some(json!({"contact_method_id": slack, "delay_minutes": 0})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app
        .call(
            "POST",
            &rules,
            Some(&alice_token),
            Some(json!({"contact_method_id": sms, "delay_minutes": 2, "urgency": "high"})),
        )
        .await;
    assert_eq!(r.body["urgency"], "high");
    for (body, field) in [
        (
            json!({"contact_method_id": bob_email, "delay_minutes": 0}),
            "contact_method_id",
        ),
        (
            json!({"contact_method_id": slack, "delay_minutes": 2000}),
            "delay_minutes",
        ),
        (
            json!({"contact_method_id": slack, "delay_minutes": 1, "urgency": "urgent"}),
            "urgency",
        ),
        (
            json!({"contact_method_id": slack, "delay_minutes": -1}),
            "delay_minutes",
        ),
    ] {
        let r = app
            .call("POST", &rules, Some(&alice_token), Some(body.clone()))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            r.body["error"]["fields"][field].is_string(),
            "{body}: {}",
            r.body
        );
    }
    let list = app.call("GET", &rules, Some(&alice_token), None).await.body;
    let delays: Vec<i64> = list["notification_rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["delay_minutes"].as_i64().unwrap())
        .collect();
    assert_eq!(delays, [0, 2]);
    let methods = app.call("GET", &path, Some(&alice_token), None).await.body;
    assert_eq!(methods["contact_methods"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.get("/api/v1/users/nobody/contact-methods").await.status,
        StatusCode::NOT_FOUND
    );
}
