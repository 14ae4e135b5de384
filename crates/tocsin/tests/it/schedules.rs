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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_path_shows_who_when_and_how_and_warns_of_gaps() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let hook = app
        .post(
            &format!("/api/v1/users/{alice}/contact-methods"),
            json!({"type": "webhook", "address": "https://hooks.example/a"}),
        )
        .await;
    let mail = app
        .post(
            &format!("/api/v1/users/{alice}/contact-methods"),
            json!({"type": "email", "address": "alice@example.com"}),
        )
        .await;
    for (m, delay) in [(&hook, 0), (&mail, 2)] {
        let r = app
            .post(&format!("/api/v1/users/{alice}/notification-rules"), json!({"contact_method_id": m.body["id"], "delay_minutes": delay, "urgency": "high"}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let mut nights = spec("Nights", &[&bob]);
    nights["layers"][0]["restrictions"] =
        json!([{"type": "daily", "start": "20:00", "end": "08:00"}]);
    let sched = app.post("/api/v1/schedules", nights).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let policy = app
        .post(
            "/api/v1/escalation-policies",
            json!({"name": "p", "repeat": 1, "levels": [
                {"delay_minutes": 5, "targets": [{"type": "user", "id": alice}]},
                {"delay_minutes": 10, "targets": [{"type": "schedule", "id": sched}]}
            ]}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let svc = app
        .post(
            "/api/v1/services",
            json!({"name": "db", "escalation_policy_id": policy}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let r = app
        .get(&format!(
            "/api/v1/services/{svc}/page-path?at=2026-11-25T10:00:00Z"
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let steps = r.body["steps"].as_array().unwrap();
    let summary: Vec<String> = steps
        .iter()
        .map(|s| {
            let people: Vec<String> = s["people"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    let how: Vec<String> = p["notifications"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|n| {
                            format!(
                                "{}@{}",
                                n["type"].as_str().unwrap(),
                                n["at"].as_str().unwrap()
                            )
                        })
                        .collect();
                    format!("{}[{}]", p["name"].as_str().unwrap(), how.join(","))
                })
                .collect();
            format!(
                "{} L{} r{}: {}",
                s["at"].as_str().unwrap(),
                s["level"],
                s["round"],
                people.join(" ")
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            "2026-11-25T10:00:00Z L1 r0: alice[webhook@2026-11-25T10:00:00Z,email@2026-11-25T10:02:00Z]",
            // Daytime: the nights schedule has nobody, so level 2 hands over at once.
            "2026-11-25T10:05:00Z L2 r0: ",
            "2026-11-25T10:05:00Z L1 r1: alice[webhook@2026-11-25T10:05:00Z,email@2026-11-25T10:07:00Z]",
            "2026-11-25T10:10:00Z L2 r1: ",
        ]
    );
    let warnings = r.body["warnings"].to_string();
    assert!(
        warnings.contains("nobody is on call in schedule"),
        "{warnings}"
    );
    // At night, bob is on call, but nothing can reach him.
    let r = app
        .get(&format!(
            "/api/v1/services/{svc}/page-path?at=2026-11-25T22:00:00Z&urgency=low"
        ))
        .await;
    assert_eq!(r.body["steps"][1]["people"][0]["name"], "bob");
    assert!(
        r.body["warnings"]
            .to_string()
            .contains("bob has no verified contact method")
    );
    // Alice's rules are for high urgency only: a low-urgency page still reaches her, on every
    // method at once, rather than nobody.
    assert_eq!(
        r.body["steps"][0]["people"][0]["notifications"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let w = r.body["warnings"].as_array().unwrap();
    assert_eq!(w.len(), 2, "each warning once: {w:?}");
    let plain = app.service("plain").await;
    let r = app
        .get(&format!("/api/v1/services/{plain}/page-path"))
        .await;
    assert!(
        r.body["warnings"][0]
            .as_str()
            .unwrap()
            .contains("no escalation policy")
    );
    assert_eq!(
        app.get(&format!("/api/v1/services/{svc}/page-path?at=soon"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    // The same from the command line, offline against the data folder.
    let dir = app.dir.to_str().unwrap().to_owned();
    let (ok, out, err) = cli(
        &[
            "oncall",
            "--service",
            &svc,
            "--at",
            "2026-11-25T10:00:00Z",
            "--data-dir",
            &dir,
        ],
        None,
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("level 1") && out.contains("alice (user): webhook at 2026-11-25T10:00:00Z"),
        "{out}"
    );
    assert!(out.contains("warning: level 2: nobody is on call"), "{out}");
    let (ok, out, err) = cli(
        &["oncall", "--at", "2026-11-25T22:00:00Z", "--data-dir", &dir],
        None,
    );
    assert!(ok, "{err}");
    assert!(out.contains("Nights\tbob\t"), "{out}");
    let (ok, _, err) = cli(&["oncall", "--schedule", "nope", "--data-dir", &dir], None);
    assert!(!ok && err.contains("schedule nope"), "{err}");
}

#[tokio::test]
async fn calendar_feeds_behind_unguessable_urls() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let id = app
        .post("/api/v1/schedules", spec("Primary", &[&alice, &bob]))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app.get(&format!("/api/v1/schedules/{id}/feed")).await;
    let url = r.body["ics_url"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get(&format!("/api/v1/schedules/{id}/feed")).await.body["ics_url"],
        url.as_str(),
        "stable"
    );
    let r = app.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let ics = r.text().await.unwrap();
    assert!(
        ics.contains("BEGIN:VCALENDAR") && ics.contains("X-WR-CALNAME:On call: Primary"),
        "{ics}"
    );
    assert!(
        ics.contains(
            "DTSTART:20261125T080000Z\r\nDTEND:20261126T080000Z\r\nSUMMARY:alice on call (Primary)"
        ),
        "{ics}"
    );

    let r = app
        .post(
            "/api/v1/tokens",
            json!({"name": "a", "role": "responder", "user_id": alice}),
        )
        .await;
    let alice_token = r.body["secret"].as_str().unwrap().to_owned();
    let r = app
        .call(
            "GET",
            &format!("/api/v1/users/{alice}/feed"),
            Some(&alice_token),
            None,
        )
        .await;
    let mine = r.body["ics_url"].as_str().unwrap().to_owned();
    let ics = app
        .client
        .get(&mine)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        ics.contains("SUMMARY:On call: Primary") && !ics.contains("bob"),
        "{ics}"
    );
    assert_eq!(
        app.call(
            "GET",
            &format!("/api/v1/users/{bob}/feed"),
            Some(&alice_token),
            None
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.client
            .get(format!("{}/ics/nope.ics", app.url))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );

    // A leaked URL is revoked: it stops working, and the next request makes a new one.
    let status = |u: String| {
        let c = app.client.clone();
        async move { c.get(u).send().await.unwrap().status() }
    };
    let r = app
        .call(
            "DELETE",
            &format!("/api/v1/users/{alice}/feed"),
            Some(&alice_token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(status(mine.clone()).await, StatusCode::NOT_FOUND);
    let r = app
        .call(
            "GET",
            &format!("/api/v1/users/{alice}/feed"),
            Some(&alice_token),
            None,
        )
        .await;
    let renewed = r.body["ics_url"].as_str().unwrap().to_owned();
    assert_ne!(renewed, mine);
    assert_eq!(status(renewed).await, StatusCode::OK);
    assert_eq!(
        app.call(
            "DELETE",
            &format!("/api/v1/schedules/{id}/feed"),
            Some(&alice_token),
            None
        )
        .await
        .status,
        StatusCode::FORBIDDEN,
        "a schedule's feed is an admin's to revoke"
    );
    let r = app
        .call(
            "DELETE",
            &format!("/api/v1/schedules/{id}/feed"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(status(url).await, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_are_told_shortly_before_their_shift_starts() {
    let (rx, base) = crate::delivery::Receiver::start().await;
    let app = TestApp::spawn().await;
    let alice = user(&app, "alice").await;
    let r = app
        .post(
            "/api/v1/users",
            json!({"name": "bob", "email": "bob@example.com", "time_zone": "Europe/Paris"}),
        )
        .await;
    let bob = r.body["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/api/v1/users/{bob}/contact-methods"),
            json!({"type": "webhook", "address": format!("{base}/bob")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    app.post("/api/v1/schedules", spec("Primary", &[&alice, &bob]))
        .await;
    let handoffs = app.running.as_ref().unwrap().handoffs.clone();
    // Bob's shift starts on the 26th at 09:00 Paris (08:00 UTC).
    app.clock.set("2026-11-26T07:44:00Z".parse().unwrap());
    assert_eq!(handoffs.run_due().await.unwrap(), 0, "not yet");
    app.clock.set("2026-11-26T07:50:00Z".parse().unwrap());
    assert_eq!(handoffs.run_due().await.unwrap(), 1);
    assert_eq!(handoffs.run_due().await.unwrap(), 0, "once per shift");
    let got = rx.got("bob");
    assert_eq!(got.len(), 1);
    let body = String::from_utf8_lossy(&got[0].1).to_string();
    assert!(body.contains("Primary") && body.contains("09:00"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preview_names_whom_the_next_incident_pages_in_a_round_robin() {
    let app = TestApp::spawn().await;
    let (a, b) = (user(&app, "a").await, user(&app, "b").await);
    for u in [&a, &b] {
        app.post(
            &format!("/api/v1/users/{u}/contact-methods"),
            json!({"type": "webhook", "address": "http://127.0.0.1:9/x"}),
        )
        .await;
    }
    let (svc, key) = app
        .paging_service(
            "s",
            json!([{"delay_minutes": 5, "targets": [{"type": "round_robin", "ids": [a, b]}]}]),
        )
        .await;
    for n in 0..3 {
        let preview = app
            .get(&format!("/api/v1/services/{svc}/page-path"))
            .await
            .body;
        let expected = preview["steps"][0]["people"][0]["user_id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.enqueue(
            json!({"routing_key": key, "event_action": "trigger", "dedup_key": format!("k{n}"),
            "payload": {"summary": "x", "source": "h", "severity": "critical"}}),
        )
        .await;
        app.escalate().await;
        let id = app.incidents(&svc).await[0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let paged = app
            .get(&format!("/api/v1/incidents/{id}/notifications"))
            .await
            .body["notifications"][0]["user_id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(paged, expected, "incident {n}");
    }
}

#[tokio::test]
async fn a_schedule_is_edited_in_place_and_its_overrides_removed_by_id() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (user(&app, "alice").await, user(&app, "bob").await);
    let r = app
        .post("/api/v1/schedules", spec("Primary", &[&alice]))
        .await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["override_ids"], json!([]));
    let overrides = format!("/api/v1/schedules/{id}/overrides");
    let add = |start: &str, end: &str| {
        app.post(
            &overrides,
            json!({"user_id": bob, "start": start, "end": end}),
        )
    };
    add("2026-11-25T09:00:00Z", "2026-11-25T12:00:00Z").await;
    let r = add("2026-11-27T09:00:00Z", "2026-11-27T12:00:00Z").await;
    let ids: Vec<String> = serde_json::from_value(r.body["override_ids"].clone()).unwrap();
    assert_eq!(ids.len(), 2, "{}", r.body);

    // Name, zone and layers change; the id and the overrides stay.
    let path = format!("/api/v1/schedules/{id}");
    let mut edit = spec("Primary (UTC)", &[&bob]);
    edit["time_zone"] = json!("UTC");
    let r = app
        .call("PUT", &path, Some(&app.admin), Some(edit.clone()))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (r.body["id"].as_str(), r.body["name"].as_str()),
        (Some(id.as_str()), Some("Primary (UTC)"))
    );
    assert_eq!(r.body["time_zone"], "UTC");
    assert_eq!(r.body["override_ids"], json!(ids));
    assert_eq!(app.get(&path).await.body, r.body);
    let r = app
        .get(&format!(
            "/api/v1/schedules/{id}/oncall?at=2026-11-25T14:00:00Z"
        ))
        .await;
    assert_eq!(r.body["users"][0]["id"], bob.as_str(), "the new layer");

    let mut unknown_zone = spec("a", &[&alice]);
    unknown_zone["time_zone"] = json!("Mars/Olympus");
    for (body, field) in [
        (unknown_zone, "time_zone"),
        (spec("c", &[]), "layers[0].users"),
        (spec("d", &["ghost"]), "layers[0].users[0]"),
    ] {
        let r = app
            .call("PUT", &path, Some(&app.admin), Some(body.clone()))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            r.body["error"]["fields"][field].is_string(),
            "{field}: {}",
            r.body
        );
    }
    let r = app
        .call(
            "PUT",
            "/api/v1/schedules/nope",
            Some(&app.admin),
            Some(edit.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let responder = app.token("responder").await;
    let r = app.call("PUT", &path, Some(&responder), Some(edit)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Responders remove overrides, as they add them.
    let gone = format!("/api/v1/schedules/{id}/overrides/{}", ids[0]);
    let r = app.call("DELETE", &gone, Some(&responder), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["override_ids"], json!([ids[1]]));
    assert_eq!(r.body["overrides"][0]["start"], "2026-11-27T09:00:00Z");
    let r = app.call("DELETE", &gone, Some(&responder), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let viewer = app.token("viewer").await;
    let other = format!("/api/v1/schedules/{id}/overrides/{}", ids[1]);
    let r = app.call("DELETE", &other, Some(&viewer), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let doc = app.get("/api/v1/openapi.json").await.body;
    assert!(doc["paths"]["/api/v1/schedules/{id}"]["put"].is_object());
    assert!(doc["paths"]["/api/v1/schedules/{id}/overrides/{override_id}"]["delete"].is_object());
}
