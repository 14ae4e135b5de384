//! Maintenance windows against every escalation step, not only an incident's first: a step that
//! falls due while its service is in maintenance is held until the window ends (or is deleted),
//! and pages then if the incident is still open.

use crate::support::*;
use jiff::SignedDuration;
use reqwest::StatusCode;
use serde_json::json;

async fn person(app: &TestApp, name: &str) -> String {
    let r = app
        .post(
            "/api/v1/users",
            json!({"name": name, "email": format!("{name}@example.com")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/api/v1/users/{id}/contact-methods"),
            json!({"type": "webhook", "address": format!("http://127.0.0.1:9/{name}")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    id
}

/// Notifications of the incident, by the person they go to.
async fn paged(app: &TestApp, incident: &str, user: &str) -> usize {
    app.get(&format!("/api/v1/incidents/{incident}/notifications"))
        .await
        .body["notifications"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["user_id"] == user)
        .count()
}

async fn window(app: &TestApp, svc: &str, minutes: i64) -> String {
    let now = tocsin_engine::Clock::now(&*app.clock);
    let r = app
        .post(
            "/api/v1/maintenance-windows",
            json!({"title": "Database upgrade", "starts_at": now.to_string(),
                   "ends_at": (now + SignedDuration::from_mins(minutes)).to_string(),
                   "service_ids": [svc]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_holds_every_escalation_step_that_falls_inside_it() {
    holds_later_steps(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_holds_every_escalation_step_on_postgres() {
    let Some(app) =
        TestApp::spawn_on_postgres("maintenance::later_steps", Options::default()).await
    else {
        return;
    };
    holds_later_steps(app).await;
}

async fn holds_later_steps(app: TestApp) {
    let alice = person(&app, "alice").await;
    let bob = person(&app, "bob").await;
    let (svc, key) = app
        .paging_service(
            "db",
            json!([{"delay_minutes": 5, "targets": [{"type": "user", "id": alice}]},
                   {"delay_minutes": 5, "targets": [{"type": "user", "id": bob}]}]),
        )
        .await;
    let r = app
        .enqueue(
            json!({"routing_key": key, "event_action": "trigger", "dedup_key": "db-1",
            "payload": {"summary": "db down", "source": "db1", "severity": "critical"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let incident = app.incidents(&svc).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.escalate().await;
    assert_eq!(
        paged(&app, &incident, &alice).await,
        1,
        "the first level pages"
    );

    // Maintenance starts while the incident is open: the second level falls inside it.
    window(&app, &svc, 60).await;
    app.clock.advance(SignedDuration::from_mins(5));
    app.escalate().await;
    assert_eq!(
        paged(&app, &incident, &bob).await,
        0,
        "held during maintenance"
    );
    app.clock.advance(SignedDuration::from_mins(50));
    app.escalate().await;
    assert_eq!(paged(&app, &incident, &bob).await, 0, "still held");
    let tl = app
        .get(&format!("/api/v1/incidents/{incident}/timeline"))
        .await
        .body;
    assert!(
        tl["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "maintenance"),
        "{tl}"
    );

    // The window ends: the held step pages.
    app.clock.advance(SignedDuration::from_mins(5));
    app.escalate().await;
    assert_eq!(
        paged(&app, &incident, &bob).await,
        1,
        "paged when the window ends"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_window_releases_a_held_later_step() {
    releases_on_deletion(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_window_releases_a_held_later_step_on_postgres() {
    let Some(app) = TestApp::spawn_on_postgres("maintenance::deletion", Options::default()).await
    else {
        return;
    };
    releases_on_deletion(app).await;
}

async fn releases_on_deletion(app: TestApp) {
    let alice = person(&app, "alice").await;
    let bob = person(&app, "bob").await;
    let (svc, key) = app
        .paging_service(
            "db",
            json!([{"delay_minutes": 5, "targets": [{"type": "user", "id": alice}]},
                   {"delay_minutes": 5, "targets": [{"type": "user", "id": bob}]}]),
        )
        .await;
    let r = app
        .enqueue(
            json!({"routing_key": key, "event_action": "trigger", "dedup_key": "db-1",
            "payload": {"summary": "db down", "source": "db1", "severity": "critical"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let incident = app.incidents(&svc).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.escalate().await;
    let w = window(&app, &svc, 120).await;
    app.clock.advance(SignedDuration::from_mins(6));
    app.escalate().await;
    assert_eq!(paged(&app, &incident, &bob).await, 0);
    let r = app
        .call(
            "DELETE",
            &format!("/api/v1/maintenance-windows/{w}"),
            Some(&app.admin),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.status);
    app.escalate().await;
    assert_eq!(
        paged(&app, &incident, &bob).await,
        1,
        "released by the deletion"
    );
}
