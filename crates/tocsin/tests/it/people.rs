//! Editing people through the REST API: a person's own name and time zone, an admin's role
//! changes and deactivation (a deactivated person's token stops working, and escalation skips
//! them to the next level rather than paging them), contact methods and notification rules
//! edited and deleted, and team members removed.

use crate::support::*;
use jiff::SignedDuration;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn user(app: &TestApp, name: &str, role: &str) -> String {
    let r = app
        .post(
            "/api/v1/users",
            json!({"name": name, "email": format!("{name}@example.com"), "role": role}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

/// A token acting as this person.
async fn token_of(app: &TestApp, user: &str, role: &str) -> String {
    let r = app
        .post(
            "/api/v1/tokens",
            json!({"name": format!("{user}'s"), "role": role, "user_id": user}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["secret"].as_str().unwrap().to_owned()
}

async fn patch(app: &TestApp, path: &str, token: &str, body: Value) -> Resp {
    app.call("PATCH", path, Some(token), Some(body)).await
}

async fn delete(app: &TestApp, path: &str, token: &str) -> Resp {
    app.call("DELETE", path, Some(token), None).await
}

fn field(r: &Resp) -> Option<&str> {
    r.body["error"]["fields"]
        .as_object()
        .and_then(|f| f.keys().next())
        .map(String::as_str)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_edit_themselves_and_admins_edit_anyone() {
    let app = TestApp::spawn().await;
    let bob = user(&app, "bob", "responder").await;
    let eve = user(&app, "eve", "responder").await;
    let bobs = token_of(&app, &bob, "responder").await;
    let admin = app.admin.clone();

    // Bob changes his own name and time zone; the zone is checked, naming the field.
    let r = patch(
        &app,
        &format!("/api/v1/users/{bob}"),
        &bobs,
        json!({"name": "  Bob Builder ", "time_zone": "Europe/Paris"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (&r.body["name"], &r.body["time_zone"], &r.body["active"]),
        (&json!("Bob Builder"), &json!("Europe/Paris"), &json!(true))
    );
    let r = patch(
        &app,
        &format!("/api/v1/users/{bob}"),
        &bobs,
        json!({"time_zone": "Mars/Olympus_Mons"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(field(&r), Some("time_zone"), "{}", r.body);
    let r = patch(
        &app,
        &format!("/api/v1/users/{bob}"),
        &bobs,
        json!({"name": " "}),
    )
    .await;
    assert_eq!(field(&r), Some("name"));
    let r = patch(
        &app,
        &format!("/api/v1/users/{bob}"),
        &bobs,
        json!({"nick": "b"}),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "unknown fields are refused"
    );

    // Not his role, his activity, nor anyone else.
    for body in [json!({"role": "admin"}), json!({"active": false})] {
        let r = patch(&app, &format!("/api/v1/users/{bob}"), &bobs, body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    }
    let r = patch(
        &app,
        &format!("/api/v1/users/{eve}"),
        &bobs,
        json!({"name": "x"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // A viewer changes their own profile too (only paging needs a responder).
    let vic = user(&app, "vic", "viewer").await;
    let vics = token_of(&app, &vic, "viewer").await;
    let r = patch(
        &app,
        &format!("/api/v1/users/{vic}"),
        &vics,
        json!({"time_zone": "Asia/Kolkata"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["time_zone"], json!("Asia/Kolkata"));
    let viewer = app.token("viewer").await;
    let r = patch(
        &app,
        &format!("/api/v1/users/{bob}"),
        &viewer,
        json!({"name": "x"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // An admin changes anyone; a wrong role names the field; unknown people are 404.
    let r = patch(
        &app,
        &format!("/api/v1/users/{eve}"),
        &admin,
        json!({"role": "viewer", "time_zone": "America/New_York"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (&r.body["role"], &r.body["time_zone"]),
        (&json!("viewer"), &json!("America/New_York"))
    );
    let r = patch(
        &app,
        &format!("/api/v1/users/{eve}"),
        &admin,
        json!({"role": "boss"}),
    )
    .await;
    assert_eq!(field(&r), Some("role"));
    let r = patch(&app, "/api/v1/users/nobody", &admin, json!({"name": "x"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Nobody can deactivate themselves, not even an admin.
    let ada = user(&app, "ada", "admin").await;
    let adas = token_of(&app, &ada, "admin").await;
    let r = patch(
        &app,
        &format!("/api/v1/users/{ada}"),
        &adas,
        json!({"active": false}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);

    // The new routes are in the OpenAPI document.
    let doc = app.get("/api/v1/openapi.json").await.body;
    for path in [
        "/api/v1/users/{id}",
        "/api/v1/users/{id}/contact-methods/{method}",
        "/api/v1/users/{id}/notification-rules/{rule}",
        "/api/v1/teams/{id}/members/{user}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert!(doc["paths"]["/api/v1/users/{id}"]["patch"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_methods_and_rules_are_edited_and_deleted_and_members_removed() {
    let app = TestApp::spawn().await;
    let bob = user(&app, "bob", "responder").await;
    let eve = user(&app, "eve", "responder").await;
    let bobs = token_of(&app, &bob, "responder").await;
    let eves = token_of(&app, &eve, "responder").await;
    let add = |kind: &'static str, address: &'static str| {
        let (app, bob) = (&app, &bob);
        async move {
            let r = app
                .post(
                    &format!("/api/v1/users/{bob}/contact-methods"),
                    json!({"type": kind, "address": address}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            r.body["id"].as_str().unwrap().to_owned()
        }
    };
    let mail = add("email", "bob@example.com").await;
    let sms = add("sms", "+15550001111").await;
    let hook = add("webhook", "http://127.0.0.1:9/bob").await;
    let methods = format!("/api/v1/users/{bob}/contact-methods");

    // A new email address stays verified (email needs no code); a new number does not.
    let r = patch(
        &app,
        &format!("{methods}/{mail}"),
        &bobs,
        json!({"address": "bob@example.org", "label": "work"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (&r.body["address"], &r.body["label"], &r.body["verified"]),
        (&json!("bob@example.org"), &json!("work"), &json!(true))
    );
    let r = patch(
        &app,
        &format!("{methods}/{sms}"),
        &bobs,
        json!({"address": "+1 555 000 2222"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (&r.body["address"], &r.body["verified"]),
        (&json!("+15550002222"), &json!(false))
    );
    let r = patch(
        &app,
        &format!("{methods}/{sms}"),
        &bobs,
        json!({"address": "call me"}),
    )
    .await;
    assert_eq!(field(&r), Some("address"), "{}", r.body);
    let r = patch(
        &app,
        &format!("{methods}/{sms}"),
        &bobs,
        json!({"type": "voice"}),
    )
    .await;
    assert_eq!(field(&r), Some("type"), "{}", r.body);
    let r = patch(
        &app,
        &format!("{methods}/{sms}"),
        &bobs,
        json!({"address": "bob@example.org"}),
    )
    .await;
    assert_eq!(field(&r), Some("address"), "an email is not a phone number");
    let r = patch(
        &app,
        &format!("{methods}/{mail}"),
        &eves,
        json!({"label": "x"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "Eve cannot edit Bob's");
    let r = patch(
        &app,
        &format!("{methods}/nope"),
        &bobs,
        json!({"label": "x"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Rules: delay, urgency and method change; null clears the urgency.
    let rules = format!("/api/v1/users/{bob}/notification-rules");
    let rule = |m: &str, delay: u32| {
        let (app, rules, m) = (&app, rules.clone(), m.to_owned());
        async move {
            let r = app
                .post(
                    &rules,
                    json!({"contact_method_id": m, "delay_minutes": delay}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            r.body["id"].as_str().unwrap().to_owned()
        }
    };
    let on_mail = rule(&mail, 0).await;
    let on_mail_later = rule(&mail, 10).await;
    let on_hook = rule(&hook, 1).await;
    let r = patch(
        &app,
        &format!("{rules}/{on_hook}"),
        &bobs,
        json!({"delay_minutes": 5, "urgency": "high", "contact_method_id": mail}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (
            &r.body["delay_minutes"],
            &r.body["urgency"],
            &r.body["contact_method_id"]
        ),
        (&json!(5), &json!("high"), &json!(mail))
    );
    let r = patch(
        &app,
        &format!("{rules}/{on_hook}"),
        &bobs,
        json!({"urgency": null}),
    )
    .await;
    assert_eq!(
        (&r.body["urgency"], &r.body["delay_minutes"]),
        (&json!(null), &json!(5))
    );
    let r = patch(
        &app,
        &format!("{rules}/{on_hook}"),
        &bobs,
        json!({"delay_minutes": 5000}),
    )
    .await;
    assert_eq!(field(&r), Some("delay_minutes"));
    let r = patch(
        &app,
        &format!("{rules}/{on_hook}"),
        &bobs,
        json!({"urgency": "urgent"}),
    )
    .await;
    assert_eq!(field(&r), Some("urgency"));
    let r = patch(
        &app,
        &format!("{rules}/{on_hook}"),
        &bobs,
        json!({"repeat_every_minutes": 5}),
    )
    .await;
    assert_eq!(field(&r), Some("repeat_every_minutes"), "voice only");
    let r = patch(
        &app,
        &format!("{rules}/{on_hook}"),
        &bobs,
        json!({"contact_method_id": "nope"}),
    )
    .await;
    assert_eq!(field(&r), Some("contact_method_id"));
    let r = patch(
        &app,
        &format!("{rules}/{on_hook}"),
        &eves,
        json!({"delay_minutes": 1}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Deleting a contact method deletes the rules that use it (PagerDuty's and GoAlert's way).
    let r = delete(&app, &format!("{methods}/{mail}"), &bobs).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let left = app.get(&rules).await.body["notification_rules"].clone();
    assert_eq!(
        left,
        json!([]),
        "{on_mail}, {on_mail_later} and {on_hook} all used it"
    );
    let r = delete(&app, &format!("{methods}/{mail}"), &bobs).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let kept = rule(&hook, 0).await;
    assert_eq!(
        delete(&app, &format!("{rules}/{kept}"), &eves).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        delete(&app, &format!("{rules}/{kept}"), &bobs).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        delete(&app, &format!("{rules}/{kept}"), &bobs).await.status,
        StatusCode::NOT_FOUND
    );
    let names: Vec<Value> = app.get(&methods).await.body["contact_methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].clone())
        .collect();
    assert_eq!(names, [json!("sms"), json!("webhook")]);

    // Teams: an admin removes a member; others may not.
    let r = app.post("/api/v1/teams", json!({"name": "Payments"})).await;
    let team = r.body["id"].as_str().unwrap().to_owned();
    for u in [&bob, &eve] {
        app.post(
            &format!("/api/v1/teams/{team}/members"),
            json!({"user_id": u}),
        )
        .await;
    }
    let member = format!("/api/v1/teams/{team}/members/{bob}");
    assert_eq!(
        delete(&app, &member, &bobs).await.status,
        StatusCode::FORBIDDEN
    );
    let r = delete(&app, &member, &app.admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["members"], json!([eve]));
    assert_eq!(
        delete(&app, &member, &app.admin).await.status,
        StatusCode::NOT_FOUND
    );
}

/// Alice at level 1 and Bob at level 2, each with a webhook paged at once.
async fn two_levels(app: &TestApp) -> (String, String, String, String) {
    let alice = user(app, "alice", "responder").await;
    let bob = user(app, "bob", "responder").await;
    for u in [&alice, &bob] {
        let r = app
            .post(
                &format!("/api/v1/users/{u}/contact-methods"),
                json!({"type": "webhook", "address": format!("http://127.0.0.1:9/{u}")}),
            )
            .await;
        let m = r.body["id"].as_str().unwrap().to_owned();
        app.post(
            &format!("/api/v1/users/{u}/notification-rules"),
            json!({"contact_method_id": m, "delay_minutes": 0}),
        )
        .await;
        // And a reminder 10 minutes later, queued until then.
        app.post(
            &format!("/api/v1/users/{u}/notification-rules"),
            json!({"contact_method_id": m, "delay_minutes": 10}),
        )
        .await;
    }
    let r = app
        .post(
            "/api/v1/escalation-policies",
            json!({"name": "db", "levels": [
                {"delay_minutes": 5, "targets": [{"type": "user", "id": alice}]},
                {"delay_minutes": 10, "targets": [{"type": "user", "id": bob}]}
            ]}),
        )
        .await;
    let policy = r.body["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            "/api/v1/services",
            json!({"name": "db", "escalation_policy_id": policy}),
        )
        .await;
    let svc = r.body["id"].as_str().unwrap().to_owned();
    let key = app.integration(&svc, "events_v2").await;
    (alice, bob, svc, key)
}

async fn trigger(app: &TestApp, key: &str, svc: &str, dedup: &str) -> String {
    let r = app
        .enqueue(json!({"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
            "payload": {"summary": format!("{dedup} down"), "source": "h", "severity": "critical"}}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    app.incidents(svc)
        .await
        .iter()
        .find(|i| i["dedup_key"] == dedup)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// (user, state) of each notification of an incident.
async fn pages(app: &TestApp, incident: &str) -> Vec<(String, String)> {
    app.get(&format!("/api/v1/incidents/{incident}/notifications"))
        .await
        .body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let state = if n["state"] == "cancelled" {
                "cancelled"
            } else {
                "paged"
            };
            (n["user_id"].as_str().unwrap().to_owned(), state.to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_person_is_skipped_to_the_next_level_and_their_token_refused() {
    deactivated_people_are_skipped(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_person_is_skipped_on_postgres() {
    let Some(app) =
        TestApp::spawn_on_postgres("a_deactivated_person_is_skipped", Options::default()).await
    else {
        return;
    };
    deactivated_people_are_skipped(app).await;
}

async fn deactivated_people_are_skipped(app: TestApp) {
    let (alice, bob, svc, key) = two_levels(&app).await;
    let alices = token_of(&app, &alice, "responder").await;
    assert_eq!(
        app.call("GET", "/api/v1/services", Some(&alices), None)
            .await
            .status,
        StatusCode::OK
    );

    let r = patch(
        &app,
        &format!("/api/v1/users/{alice}"),
        &app.admin,
        json!({"active": false}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["active"], json!(false));
    let r = app
        .call("GET", "/api/v1/services", Some(&alices), None)
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "her token stops working"
    );

    // Level 1 is only Alice: it is skipped at once, and Bob (level 2) is paged instead.
    let id = trigger(&app, &key, &svc, "db").await;
    app.escalate().await;
    app.escalate().await;
    let paged = pages(&app, &id).await;
    assert!(paged.iter().all(|(u, _)| *u != alice), "{paged:?}");
    assert!(
        paged.contains(&(bob.clone(), "paged".to_owned())),
        "{paged:?}"
    );
    let timeline = app
        .get(&format!("/api/v1/incidents/{id}/timeline"))
        .await
        .body;
    let steps: Vec<&str> = timeline["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "escalated")
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        steps[0].contains("level 1")
            && steps[0].contains("Could not reach alice (deactivated)")
            && !steps[0].contains("contact method"),
        "{steps:?}"
    );
    assert!(
        steps[1].contains("level 2") && steps[1].contains("bob"),
        "{steps:?}"
    );
    // The page path says why she is skipped.
    let path = app.get(&format!("/api/v1/services/{svc}/page-path")).await;
    assert!(
        path.body["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str() == Some("level 1: alice is deactivated and is skipped")),
        "{}",
        path.body
    );

    // Deactivating Bob cancels his reminder still queued; nothing more goes to him.
    let r = patch(
        &app,
        &format!("/api/v1/users/{bob}"),
        &app.admin,
        json!({"active": false}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let after = pages(&app, &id).await;
    assert!(
        after.contains(&(bob.clone(), "cancelled".to_owned())),
        "{after:?}"
    );
    // Nobody hands the incident to a deactivated person.
    let r = app
        .post(
            &format!("/api/v1/incidents/{id}/reassign"),
            json!({"user_id": bob}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(field(&r), Some("user_id"));
    app.clock.advance(SignedDuration::from_mins(15));
    app.escalate().await;
    app.dispatch().await;
    assert_eq!(
        pages(&app, &id)
            .await
            .iter()
            .filter(|(_, s)| s == "paged")
            .count(),
        after.iter().filter(|(_, s)| s == "paged").count(),
        "no new page"
    );

    // Reactivated, Alice is paged again and her token works.
    let r = patch(
        &app,
        &format!("/api/v1/users/{alice}"),
        &app.admin,
        json!({"active": true}),
    )
    .await;
    assert_eq!(r.body["active"], json!(true));
    assert_eq!(
        app.call("GET", "/api/v1/services", Some(&alices), None)
            .await
            .status,
        StatusCode::OK
    );
    let next = trigger(&app, &key, &svc, "api").await;
    app.escalate().await;
    assert!(
        pages(&app, &next)
            .await
            .contains(&(alice.clone(), "paged".to_owned()))
    );
}

/// The web UI's forms, as a browser without scripts posts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_ui_edits_profiles_methods_rules_people_and_teams() {
    use crate::ui::{PASSWORD, Visitor, person};
    let app = TestApp::spawn().await;
    let ada = person(&app, "Ada", "admin").await;
    let rob = person(&app, "Rob", "responder").await;
    let mut r = Visitor::new(&app);
    r.sign_in("rob@example.com", PASSWORD).await;
    let page = r.get("/account").await;
    assert!(page.text.contains("id=\"me-tz\""), "{}", page.text);
    let csrf = page.csrf();

    // Name and time zone: a wrong zone is named beside its field.
    let bad = r
        .post(
            "/account/profile",
            &[
                ("csrf", &csrf),
                ("name", "Rob"),
                ("time_zone", "Europe/Atlantis"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text.contains("id=\"me-tz-err\""), "{}", bad.text);
    assert!(bad.text.contains("value=\"Europe/Atlantis\""));
    let ok = r
        .post(
            "/account/profile",
            &[
                ("csrf", &csrf),
                ("name", "Robert"),
                ("time_zone", "Asia/Tokyo"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    let me = app.get(&format!("/api/v1/users/{rob}")).await.body;
    assert_eq!(
        (&me["name"], &me["time_zone"]),
        (&json!("Robert"), &json!("Asia/Tokyo"))
    );

    // A contact method edited (a bad address is named beside its field) and a rule edited.
    let m = app
        .post(
            &format!("/api/v1/users/{rob}/contact-methods"),
            json!({"type": "webhook", "address": "http://127.0.0.1:9/rob"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rule = app
        .post(
            &format!("/api/v1/users/{rob}/notification-rules"),
            json!({"contact_method_id": m, "delay_minutes": 0}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad = r
        .post(
            &format!("/account/contact-methods/{m}/edit"),
            &[("csrf", &csrf), ("address", "not a url"), ("label", "")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.text.contains(&format!("id=\"cm-address-{m}-err\"")),
        "{}",
        bad.text
    );
    assert!(
        !bad.text.contains("id=\"cm-address-err\""),
        "not beside the add form"
    );
    let ok = r
        .post(
            &format!("/account/contact-methods/{m}/edit"),
            &[
                ("csrf", &csrf),
                ("address", "http://127.0.0.1:9/robert"),
                ("label", "pager"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    let ok = r
        .post(
            &format!("/account/notification-rules/{rule}/edit"),
            &[
                ("csrf", &csrf),
                ("contact_method_id", &m),
                ("delay_minutes", "7"),
                ("urgency", "low"),
                ("repeat_every_minutes", ""),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    let rules = app
        .get(&format!("/api/v1/users/{rob}/notification-rules"))
        .await
        .body;
    assert_eq!(
        (
            &rules["notification_rules"][0]["delay_minutes"],
            &rules["notification_rules"][0]["urgency"]
        ),
        (&json!(7), &json!("low"))
    );
    let page = r.get("/account").await;
    assert!(
        page.text.contains("Delete (and its 1 rule)"),
        "{}",
        page.text
    );
    let ok = r
        .post(
            &format!("/account/contact-methods/{m}/delete"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.get(&format!("/api/v1/users/{rob}/notification-rules"))
            .await
            .body["notification_rules"],
        json!([])
    );

    // An admin edits, deactivates and reactivates Rob.
    let mut a = Visitor::new(&app);
    a.sign_in("ada@example.com", PASSWORD).await;
    let people = a.get("/people").await;
    assert!(people.text.contains(&format!("id=\"deactivate-{rob}\"")));
    assert!(
        !people.text.contains(&format!("id=\"deactivate-{ada}\"")),
        "not yourself"
    );
    let acsrf = people.csrf();
    let bad = a
        .post(
            &format!("/people/{rob}/edit"),
            &[
                ("csrf", &acsrf),
                ("name", "Rob"),
                ("time_zone", "Nowhere/Town"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.text.contains(&format!("id=\"edit-tz-{rob}-err\"")),
        "{}",
        bad.text
    );
    assert!(
        !bad.text.contains("id=\"p-tz-err\""),
        "not beside the add form"
    );
    let mine = a
        .post(&format!("/people/{ada}/deactivate"), &[("csrf", &acsrf)])
        .await;
    assert_eq!(mine.status, StatusCode::CONFLICT, "{}", mine.text);
    let ok = a
        .post(&format!("/people/{rob}/deactivate"), &[("csrf", &acsrf)])
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    let people = a.get("/people").await;
    assert!(people.text.contains("deactivated</span>"));
    assert!(people.text.contains(&format!("id=\"reactivate-{rob}\"")));
    // Rob's session has ended, and he cannot sign in again.
    let gone = r.get("/account").await;
    assert_ne!(gone.status, StatusCode::OK);
    let mut again = Visitor::new(&app);
    let refused = again.sign_in("rob@example.com", PASSWORD).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // An incident's page does not offer him to reassign to.
    let svc = app.service("web").await;
    let key = app.integration(&svc, "events_v2").await;
    let incident = trigger(&app, &key, &svc, "web").await;
    let option = format!("<option value=\"{rob}\"");
    let page = a.get(&format!("/incidents/{incident}")).await;
    assert!(page.text.contains("name=\"user_id\""), "{}", page.text);
    assert!(
        !page.text.contains(&option),
        "a deactivated person is offered"
    );
    let ok = a
        .post(&format!("/people/{rob}/reactivate"), &[("csrf", &acsrf)])
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    let back = again.sign_in("rob@example.com", PASSWORD).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER);
    let page = a.get(&format!("/incidents/{incident}")).await;
    assert!(
        page.text.contains(&option),
        "reactivated, he is offered again"
    );

    // Teams: a member removed.
    let team = app
        .post("/api/v1/teams", json!({"name": "Core"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        &format!("/api/v1/teams/{team}/members"),
        json!({"user_id": rob}),
    )
    .await;
    let teams = a.get("/teams").await;
    assert!(
        teams
            .text
            .contains(&format!("/teams/{team}/members/{rob}/remove"))
    );
    let ok = a
        .post(
            &format!("/teams/{team}/members/{rob}/remove"),
            &[("csrf", &acsrf)],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.get(&format!("/api/v1/teams/{team}")).await.body["members"],
        json!([])
    );
}
