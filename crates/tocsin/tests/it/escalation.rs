//! Escalation, end to end with a manual clock: levels fire at their delays, acknowledgement
//! stops them, nobody reachable escalates at once, and a restart between levels fires the next
//! level exactly once.

use crate::support::*;
use jiff::SignedDuration;
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Setup {
    svc: String,
    key: String,
    alice: String,
    bob: String,
}

async fn user_with_webhook(app: &TestApp, name: &str, rule: bool) -> String {
    let r = app
        .post(
            "/api/v1/users",
            json!({"name": name, "email": format!("{name}@example.com")}),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/api/v1/users/{id}/contact-methods"),
            json!({"type": "webhook", "address": format!("http://127.0.0.1:9/{name}")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    if rule {
        let m = r.body["id"].as_str().unwrap();
        let r = app
            .post(
                &format!("/api/v1/users/{id}/notification-rules"),
                json!({"contact_method_id": m, "delay_minutes": 0}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    id
}

async fn setup(app: &TestApp, first_level: Option<&str>) -> Setup {
    let alice = user_with_webhook(app, "alice", true).await;
    let bob = user_with_webhook(app, "bob", false).await;
    let l1 = first_level.map_or(alice.clone(), str::to_owned);
    let r = app
        .post(
            "/api/v1/escalation-policies",
            json!({"name": "db", "levels": [
                {"delay_minutes": 5, "targets": [{"type": "user", "id": l1}]},
                {"delay_minutes": 10, "targets": [{"type": "user", "id": bob}]}
            ]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let policy = r.body["id"].as_str().unwrap();
    let r = app
        .post(
            "/api/v1/services",
            json!({"name": "db", "escalation_policy_id": policy}),
        )
        .await;
    let svc = r.body["id"].as_str().unwrap().to_owned();
    let key = app.integration(&svc, "events_v2").await;
    Setup {
        svc,
        key,
        alice,
        bob,
    }
}

async fn trigger(app: &TestApp, s: &Setup, dedup: &str) -> String {
    let r = app
        .enqueue(json!({"routing_key": s.key, "event_action": "trigger", "dedup_key": dedup,
            "payload": {"summary": format!("{dedup} down"), "source": "h", "severity": "critical"}}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let list = app.incidents(&s.svc).await;
    list.iter().find(|i| i["dedup_key"] == dedup).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn notifications(app: &TestApp, incident: &str) -> Vec<Value> {
    app.get(&format!("/api/v1/incidents/{incident}/notifications"))
        .await
        .body["notifications"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Each notification of `user`: "paged" (queued, being sent, sent or failed: the dispatcher runs
/// beside the test) or "cancelled".
fn who(list: &[Value], user: &str) -> Vec<String> {
    list.iter()
        .filter(|n| n["user_id"] == user)
        .map(|n| {
            if n["state"] == "cancelled" {
                "cancelled".to_owned()
            } else {
                "paged".to_owned()
            }
        })
        .collect()
}

async fn escalations(app: &TestApp, incident: &str) -> Vec<String> {
    let tl = app
        .get(&format!("/api/v1/incidents/{incident}/timeline"))
        .await
        .body;
    tl["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "escalated")
        .map(|e| e["message"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn levels_fire_at_their_delays_until_someone_acknowledges() {
    let app = TestApp::spawn().await;
    let s = setup(&app, None).await;
    let id = trigger(&app, &s, "db").await;
    app.escalate().await;
    let n = notifications(&app, &id).await;
    assert_eq!(who(&n, &s.alice), ["paged"], "level 1 at once");
    assert!(who(&n, &s.bob).is_empty());
    assert!(n[0]["idempotency_key"].as_str().unwrap().starts_with(&id));
    let inc = app.get(&format!("/api/v1/incidents/{id}")).await.body;
    assert_eq!(
        inc["assignees"],
        json!([s.alice]),
        "the incident is with whoever is paged"
    );
    let steps = escalations(&app, &id).await;
    assert_eq!(steps.len(), 1);
    assert!(
        steps[0].contains("level 1") && steps[0].contains("alice (webhook now)"),
        "{steps:?}"
    );

    app.clock.advance(SignedDuration::from_secs(4 * 60 + 59));
    app.escalate().await;
    assert!(
        who(&notifications(&app, &id).await, &s.bob).is_empty(),
        "not before the delay"
    );
    app.clock.advance(SignedDuration::from_secs(1));
    app.escalate().await;
    assert_eq!(
        who(&notifications(&app, &id).await, &s.bob),
        ["paged"],
        "level 2 after 5 minutes"
    );
    let inc = app.get(&format!("/api/v1/incidents/{id}")).await.body;
    assert_eq!(inc["assignees"], json!([s.bob]));
    app.clock.advance(SignedDuration::from_mins(60));
    app.escalate().await;
    app.escalate().await;
    let steps = escalations(&app, &id).await;
    // The last level of the last round keeps the incident: no further step.
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_eq!(
        notifications(&app, &id).await.len(),
        2,
        "no page after the policy ran out"
    );

    // Acknowledge stops escalation and cancels what has not gone out.
    let other = trigger(&app, &s, "api").await;
    app.escalate().await;
    assert_eq!(who(&notifications(&app, &other).await, &s.alice), ["paged"]);
    let r = app
        .post(&format!("/api/v1/incidents/{other}/acknowledge"), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // An attempt in flight finishes, and is not retried.
    app.dispatch().await;
    assert_eq!(
        who(&notifications(&app, &other).await, &s.alice),
        ["cancelled"]
    );
    app.clock.advance(SignedDuration::from_mins(30));
    app.escalate().await;
    assert!(
        who(&notifications(&app, &other).await, &s.bob).is_empty(),
        "acknowledged: level 2 never fires"
    );
    assert_eq!(escalations(&app, &other).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_level_nobody_can_answer_escalates_at_once() {
    let app = TestApp::spawn().await;
    let carol = app
        .post(
            "/api/v1/users",
            json!({"name": "carol", "email": "carol@example.com"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let s = setup(&app, Some(&carol)).await;
    let id = trigger(&app, &s, "db").await;
    app.escalate().await;
    let steps = escalations(&app, &id).await;
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert!(
        steps[0].contains("Could not reach carol (no usable contact method)"),
        "{steps:?}"
    );
    assert_eq!(
        who(&notifications(&app, &id).await, &s.bob),
        ["paged"],
        "level 2 without waiting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_between_levels_fires_the_next_level_once() {
    let app = TestApp::spawn().await;
    let s = setup(&app, None).await;
    let id = trigger(&app, &s, "db").await;
    app.escalate().await;
    assert_eq!(who(&notifications(&app, &id).await, &s.alice), ["paged"]);
    let dir = app.crash();

    let later: jiff::Timestamp =
        T0.parse::<jiff::Timestamp>().unwrap() + SignedDuration::from_mins(6);
    let app = TestApp::spawn_in(dir, later, Options::default()).await;
    app.escalate().await;
    app.escalate().await;
    let n = notifications(&app, &id).await;
    assert_eq!(
        who(&n, &s.bob),
        ["paged"],
        "level 2 fires once after the restart"
    );
    assert_eq!(who(&n, &s.alice), ["paged"], "level 1 is not repeated");
    assert_eq!(escalations(&app, &id).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_human_escalates_to_a_level_and_an_acknowledged_incident_is_triggered_again() {
    let app = TestApp::spawn().await;
    let s = setup(&app, None).await;
    let id = trigger(&app, &s, "db").await;
    app.escalate().await;
    let r = app
        .post(&format!("/api/v1/incidents/{id}/acknowledge"), json!({}))
        .await;
    assert_eq!(r.body["status"], "acknowledged");
    // "I can't take this one": escalate to the next level.
    let r = app
        .post(&format!("/api/v1/incidents/{id}/escalate"), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "triggered");
    app.escalate().await;
    assert_eq!(who(&notifications(&app, &id).await, &s.bob), ["paged"]);
    // Back to level 1 by number.
    let r = app
        .post(
            &format!("/api/v1/incidents/{id}/escalate"),
            json!({"level": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    app.escalate().await;
    assert_eq!(
        who(&notifications(&app, &id).await, &s.alice).len(),
        2,
        "alice paged again"
    );
    let steps = escalations(&app, &id).await;
    assert_eq!(steps.len(), 3, "{steps:?}");
    let r = app
        .post(
            &format!("/api/v1/incidents/{id}/escalate"),
            json!({"level": 3}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["error"]["fields"]["level"].is_string());
    app.post(&format!("/api/v1/incidents/{id}/resolve"), json!({}))
        .await;
    let r = app
        .post(&format!("/api/v1/incidents/{id}/escalate"), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    // A service without a policy has nobody to escalate to.
    let plain = app.service("plain").await;
    let key = app.integration(&plain, "events_v2").await;
    app.enqueue(
        json!({"routing_key": key, "event_action": "trigger", "dedup_key": "p",
        "payload": {"summary": "p", "source": "h", "severity": "error"}}),
    )
    .await;
    let pid = app.incidents(&plain).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post(&format!("/api/v1/incidents/{pid}/escalate"), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let viewer = app.token("viewer").await;
    let r = app
        .call(
            "POST",
            &format!("/api/v1/incidents/{pid}/escalate"),
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reassigning_pages_the_person_then_the_policy_goes_on() {
    let app = TestApp::spawn().await;
    let s = setup(&app, None).await;
    let carol = user_with_webhook(&app, "carol", true).await;
    let id = trigger(&app, &s, "db").await;
    app.escalate().await;
    app.post(&format!("/api/v1/incidents/{id}/acknowledge"), json!({}))
        .await;
    app.clock.advance(SignedDuration::from_mins(1));
    // "Carol knows this system": hand it to her.
    let r = app
        .post(
            &format!("/api/v1/incidents/{id}/reassign"),
            json!({"user_id": carol}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "triggered");
    assert_eq!(r.body["assignees"], json!([carol]));
    app.escalate().await;
    let n = notifications(&app, &id).await;
    assert_eq!(who(&n, &carol), ["paged"]);
    assert_eq!(who(&n, &s.alice).len(), 1, "level 1 is not paged again");
    assert!(who(&n, &s.bob).is_empty());
    // Carol does not answer: level 1's delay later, the policy goes on to level 2.
    app.clock.advance(SignedDuration::from_mins(4));
    app.escalate().await;
    assert!(who(&notifications(&app, &id).await, &s.bob).is_empty());
    app.clock.advance(SignedDuration::from_mins(1));
    app.escalate().await;
    assert_eq!(who(&notifications(&app, &id).await, &s.bob), ["paged"]);
    let steps = escalations(&app, &id).await;
    assert!(
        steps.len() == 3 && steps[1].starts_with("Reassigned, at level 1"),
        "{steps:?}"
    );
    // Bad input: nobody by that id; a resolved incident.
    let r = app
        .post(
            &format!("/api/v1/incidents/{id}/reassign"),
            json!({"user_id": "nobody"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body["error"]["fields"]["user_id"].is_string(),
        "{}",
        r.body
    );
    let r = app
        .post(&format!("/api/v1/incidents/{id}/reassign"), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    app.post(&format!("/api/v1/incidents/{id}/resolve"), json!({}))
        .await;
    let r = app
        .post(
            &format!("/api/v1/incidents/{id}/reassign"),
            json!({"user_id": carol}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_that_times_out_triggers_the_incident_again() {
    let app = TestApp::spawn().await;
    let alice = user_with_webhook(&app, "alice", true).await;
    let policy = app
        .post("/api/v1/escalation-policies", json!({"name": "p", "levels": [{"delay_minutes": 5, "targets": [{"type": "user", "id": alice}]}]}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post(
            "/api/v1/services",
            json!({"name": "x", "escalation_policy_id": policy, "ack_timeout_minutes": 0}),
        )
        .await;
    assert!(r.body["error"]["fields"]["ack_timeout_minutes"].is_string());
    let r = app
        .post(
            "/api/v1/services",
            json!({"name": "y", "ack_timeout_minutes": 5}),
        )
        .await;
    assert!(
        r.body["error"]["fields"]["ack_timeout_minutes"]
            .as_str()
            .unwrap()
            .contains("escalation_policy_id"),
        "{}",
        r.body
    );
    let r = app
        .post(
            "/api/v1/services",
            json!({"name": "db", "escalation_policy_id": policy, "ack_timeout_minutes": 10}),
        )
        .await;
    assert_eq!(r.body["ack_timeout_minutes"], 10);
    let svc = r.body["id"].as_str().unwrap().to_owned();
    let key = app.integration(&svc, "events_v2").await;
    let s = Setup {
        svc,
        key,
        alice: alice.clone(),
        bob: String::new(),
    };
    let id = trigger(&app, &s, "db").await;
    app.escalate().await;
    app.post(&format!("/api/v1/incidents/{id}/acknowledge"), json!({}))
        .await;
    app.clock.advance(SignedDuration::from_mins(9));
    app.escalate().await;
    assert_eq!(
        app.get(&format!("/api/v1/incidents/{id}")).await.body["status"],
        "acknowledged"
    );
    app.clock.advance(SignedDuration::from_mins(1));
    app.escalate().await;
    assert_eq!(
        app.get(&format!("/api/v1/incidents/{id}")).await.body["status"],
        "triggered"
    );
    let n = who(&notifications(&app, &id).await, &alice);
    assert_eq!(n.len(), 2, "paged again from the first level: {n:?}");
    let tl = app
        .get(&format!("/api/v1/incidents/{id}/timeline"))
        .await
        .body;
    assert!(
        tl["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "ack_timeout")
    );
    // Resolving disarms it.
    app.post(&format!("/api/v1/incidents/{id}/acknowledge"), json!({}))
        .await;
    app.post(&format!("/api/v1/incidents/{id}/resolve"), json!({}))
        .await;
    app.clock.advance(SignedDuration::from_mins(30));
    app.escalate().await;
    assert_eq!(
        app.get(&format!("/api/v1/incidents/{id}")).await.body["status"],
        "resolved"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_nobody_at_all_can_be_reached_the_admins_are_alerted() {
    let app = TestApp::spawn().await;
    let carol = app
        .post(
            "/api/v1/users",
            json!({"name": "carol", "email": "carol@example.com"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let root = app
        .post(
            "/api/v1/users",
            json!({"name": "root", "email": "root@example.com", "role": "admin"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post(
            &format!("/api/v1/users/{root}/contact-methods"),
            json!({"type": "webhook", "address": "http://127.0.0.1:9/root"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let (svc, key) = app
        .paging_service(
            "s",
            json!([{"delay_minutes": 5, "targets": [{"type": "user", "id": carol}]}]),
        )
        .await;
    let s = Setup {
        svc,
        key,
        alice: String::new(),
        bob: String::new(),
    };
    let id = trigger(&app, &s, "db").await;
    app.escalate().await;
    let n = notifications(&app, &id).await;
    assert_eq!(who(&n, &root), ["paged"], "the admin is alerted: {n:?}");
    assert!(n[0]["idempotency_key"].as_str().unwrap().contains(":meta:"));
    let tl = app
        .get(&format!("/api/v1/incidents/{id}/timeline"))
        .await
        .body;
    let meta: Vec<&serde_json::Value> = tl["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "meta_alert")
        .collect();
    assert_eq!(meta.len(), 1, "{tl}");
    app.escalate().await;
    assert_eq!(notifications(&app, &id).await.len(), 1, "alerted once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snoozed_incident_is_triggered_and_paged_again_when_the_snooze_ends() {
    let app = TestApp::spawn().await;
    let s = setup(&app, None).await;
    let id = trigger(&app, &s, "db").await;
    app.escalate().await;
    assert_eq!(who(&notifications(&app, &id).await, &s.alice), ["paged"]);
    let snooze = format!("/api/v1/incidents/{id}/snooze");
    let responder = app.token("responder").await;
    let viewer = app.token("viewer").await;
    let call = |token: &str, body: Value| {
        let (app, snooze, token) = (&app, &snooze, token.to_owned());
        async move { app.call("POST", snooze, Some(&token), Some(body)).await }
    };

    // As PagerDuty: only an acknowledged incident can be snoozed.
    let r = call(&responder, json!({"minutes": 30})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("acknowledged")
    );
    app.post(&format!("/api/v1/incidents/{id}/acknowledge"), json!({}))
        .await;
    for bad in [
        json!({"minutes": 0}),
        json!({"minutes": 1441}),
        json!({"minutes": "x"}),
        json!({}),
    ] {
        let r = call(&responder, bad.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(
            r.body["error"]["fields"]["minutes"].is_string(),
            "{bad}: {}",
            r.body
        );
    }
    assert_eq!(
        call(&viewer, json!({"minutes": 30})).await.status,
        StatusCode::FORBIDDEN
    );
    let r = call(&responder, json!({"minutes": 30})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "acknowledged");
    let tl = app
        .get(&format!("/api/v1/incidents/{id}/timeline"))
        .await
        .body;
    let entry = tl["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "snoozed")
        .cloned()
        .expect("a snoozed entry");
    assert_eq!(entry["actor"], "API token responder", "{entry}");
    assert_eq!(entry["channel"], "api");
    assert!(
        entry["message"]
            .as_str()
            .unwrap()
            .starts_with("Snoozed for 30 min by API token responder, until "),
        "{entry}"
    );

    app.clock.advance(SignedDuration::from_mins(29));
    app.escalate().await;
    assert_eq!(
        app.get(&format!("/api/v1/incidents/{id}")).await.body["status"],
        "acknowledged"
    );
    app.clock.advance(SignedDuration::from_mins(2));
    app.escalate().await;
    assert_eq!(
        app.get(&format!("/api/v1/incidents/{id}")).await.body["status"],
        "triggered"
    );
    let n = who(&notifications(&app, &id).await, &s.alice);
    assert_eq!(n.len(), 2, "paged again from the first level: {n:?}");
    assert_eq!(n[1], "paged");

    // The incident page: a duration choice and a button, for responders, when acknowledged.
    crate::ui::person(&app, "Ada", "responder").await;
    let mut v = crate::ui::Visitor::new(&app);
    v.sign_in("ada@example.com", crate::ui::PASSWORD).await;
    let page = v.get(&format!("/incidents/{id}")).await;
    assert!(
        !page.text.contains("id=\"act-snooze\""),
        "not while triggered"
    );
    let csrf = page.csrf();
    let r = v
        .post(
            &format!("/incidents/{id}/snooze"),
            &[("csrf", &csrf), ("minutes", "15")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    app.post(&format!("/api/v1/incidents/{id}/acknowledge"), json!({}))
        .await;
    let page = v.get(&format!("/incidents/{id}")).await;
    assert!(
        page.text.contains("id=\"act-snooze\"")
            && page.text.contains("<label for=\"snooze-minutes\">")
    );
    let r = v
        .post(
            &format!("/incidents/{id}/snooze"),
            &[("csrf", &csrf), ("minutes", "99999")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = v
        .post(
            &format!("/incidents/{id}/snooze"),
            &[("csrf", &csrf), ("minutes", "15")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let page = v.get(r.location.as_deref().unwrap()).await;
    assert!(
        page.text.contains("Snoozed for 15 min by Ada, until "),
        "{}",
        page.text
    );
    app.clock.advance(SignedDuration::from_mins(16));
    app.escalate().await;
    let n = who(&notifications(&app, &id).await, &s.alice);
    assert_eq!(
        n.len(),
        3,
        "paged again when the snooze from the page ends: {n:?}"
    );
    assert_eq!(n[2], "paged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_policy_pages_an_incident_in_flight_with_its_new_levels() {
    let app = TestApp::spawn().await;
    let s = setup(&app, None).await;
    let policy = app.get("/api/v1/escalation-policies").await.body["escalation_policies"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/escalation-policies/{policy}");
    let level = |user: &str, delay: u32| json!({"delay_minutes": delay, "targets": [{"type": "user", "id": user}]});
    let three = json!({"name": "db", "levels": [
        level(&s.alice, 5), level(&s.bob, 10), level(&s.bob, 10)
    ]});
    let r = app.call("PUT", &path, Some(&app.admin), Some(three)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let id = trigger(&app, &s, "db").await;
    app.escalate().await;
    app.clock.advance(SignedDuration::from_mins(5));
    app.escalate().await;
    assert_eq!(
        who(&notifications(&app, &id).await, &s.bob),
        ["paged"],
        "at level 2 of 3"
    );

    // The policy loses its last two levels but loops once more: the incident, at a level the
    // policy no longer has, goes on with the next round's first level when its step is due.
    let body = json!({"name": "db (edited)", "repeat": 1, "levels": [level(&s.alice, 5)]});
    let r = app
        .call("PUT", &path, Some(&app.admin), Some(body.clone()))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (r.body["id"].as_str(), r.body["repeat"].as_u64()),
        (Some(policy.as_str()), Some(1))
    );
    assert_eq!(r.body["levels"].as_array().unwrap().len(), 1);
    assert_eq!(app.get(&path).await.body["name"], "db (edited)");
    app.clock.advance(SignedDuration::from_mins(10));
    app.escalate().await;
    assert_eq!(
        who(&notifications(&app, &id).await, &s.alice),
        ["paged", "paged"],
        "round 2, level 1"
    );
    app.clock.advance(SignedDuration::from_mins(30));
    app.escalate().await;
    assert_eq!(notifications(&app, &id).await.len(), 3, "then it stops");
    assert_eq!(escalations(&app, &id).await.len(), 3);

    // Bad input names the field; unknown policies are 404; only admins edit.
    let ghost = json!({"name": "db", "levels": [
        {"delay_minutes": 5, "targets": [{"type": "user", "id": "ghost"}]}
    ]});
    for (b, field) in [
        (ghost, "levels[0].targets[0].id"),
        (json!({"name": "db", "levels": []}), "levels"),
        (json!({"name": " ", "levels": body["levels"]}), "name"),
    ] {
        let r = app
            .call("PUT", &path, Some(&app.admin), Some(b.clone()))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{b}");
        assert!(
            r.body["error"]["fields"][field].is_string(),
            "{field}: {}",
            r.body
        );
    }
    let r = app
        .call(
            "PUT",
            "/api/v1/escalation-policies/nope",
            Some(&app.admin),
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let responder = app.token("responder").await;
    let r = app.call("PUT", &path, Some(&responder), Some(body)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let doc = app.get("/api/v1/openapi.json").await.body;
    assert!(doc["paths"]["/api/v1/escalation-policies/{id}"]["put"].is_object());
}
