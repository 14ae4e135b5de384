//! Editing escalation policies and schedules in the web UI without scripts: the editors come
//! prefilled, save in place under the same rules as creation, keep what they cannot show, and
//! overrides are removed with a button. The real-browser flow is in `browser.rs`.

use crate::support::*;
use crate::ui::{PASSWORD, Visitor, person};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn admins_edit_a_policy_in_its_prefilled_editor() {
    let mut app = TestApp::spawn().await;
    let ada = person(&app, "Ada", "admin").await;
    let rob = person(&app, "Rob", "responder").await;
    let r = app
        .post(
            "/api/v1/escalation-policies",
            json!({"name": "Payments", "repeat": 2, "levels": [
                {"delay_minutes": 15, "targets": [{"type": "user", "id": ada}]},
                {"delay_minutes": 20, "targets": [{"type": "round_robin", "ids": [ada, rob]}]},
            ]}),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    let svc = app
        .post(
            "/api/v1/services",
            json!({"name": "checkout", "escalation_policy_id": id}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut admin = Visitor::new(&app);
    admin.sign_in("ada@example.com", PASSWORD).await;
    let page = admin.get(&format!("/escalation-policies/{id}")).await;
    assert!(
        page.text
            .contains(&format!("href=\"/escalation-policies/{id}/edit\""))
    );

    // Prefilled: both levels, their people and delays, the round robin, the repeat, a spare
    // level, and the page path of the service that uses it.
    let path = format!("/escalation-policies/{id}/edit");
    let form = admin.get(&path).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.text);
    let t = &form.text;
    assert!(t.contains(&format!("action=\"{path}\"")));
    assert!(
        t.contains("value=\"Payments\"")
            && t.contains(
                "id=\"repeat\" name=\"repeat\" type=\"text\" inputmode=\"numeric\" value=\"2\""
            )
    );
    assert!(t.contains("name=\"delay_0\" type=\"text\" inputmode=\"numeric\" value=\"15\""));
    assert!(t.contains("name=\"delay_1\" type=\"text\" inputmode=\"numeric\" value=\"20\""));
    assert!(t.contains("name=\"rr_1\" value=\"1\" checked"));
    assert!(
        t.contains("Level 3") && !t.contains("Level 4"),
        "one spare level"
    );
    assert!(t.contains("<label for=\"remove_0\">") || t.contains("id=\"remove_0\""));
    assert!(
        t.contains(&format!("/services/{svc}#path-h")),
        "the page path"
    );
    let csrf = form.csrf();

    // Level 1 is removed, level 2 loses its round robin, the spare level becomes level 2.
    let saved = admin
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("name", "Payments (edited)"),
                ("description", ""),
                ("levels", "3"),
                ("users_0", &ada),
                ("delay_0", "15"),
                ("remove_0", "1"),
                ("users_1", &rob),
                ("delay_1", "25"),
                ("users_2", &ada),
                ("delay_2", "5"),
                ("repeat", "0"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
    assert_eq!(
        saved.location.as_deref(),
        Some(format!("/escalation-policies/{id}?done=updated").as_str())
    );
    let p = app
        .get(&format!("/api/v1/escalation-policies/{id}"))
        .await
        .body;
    assert_eq!(p["name"], "Payments (edited)");
    assert_eq!(
        p["levels"],
        json!([
            {"delay_minutes": 25, "targets": [{"type": "user", "id": rob}]},
            {"delay_minutes": 5, "targets": [{"type": "user", "id": ada}]},
        ])
    );
    assert_eq!(p["repeat"], 0);
    let page = admin
        .get(&format!("/escalation-policies/{id}?done=updated"))
        .await;
    assert!(page.text.contains("Escalation policy saved"));

    // The rules of creation, with the error beside its level and nothing saved.
    let bad = admin
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("name", "Payments"),
                ("levels", "1"),
                ("users_0", &rob),
                ("delay_0", "0"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.text
            .contains("id=\"level-0-err\">Must be from 1 to 1440."),
        "{}",
        bad.text
    );
    assert!(
        bad.text.contains(&format!("action=\"{path}\"")),
        "still the edit form"
    );
    assert_eq!(
        app.get(&format!("/api/v1/escalation-policies/{id}"))
            .await
            .body["name"],
        "Payments (edited)"
    );

    // Responders see no edit link and may not edit; an unknown policy is not found.
    let mut rob_ui = Visitor::new(&app);
    rob_ui.sign_in("rob@example.com", PASSWORD).await;
    let page = rob_ui.get(&format!("/escalation-policies/{id}")).await;
    assert!(!page.text.contains("/edit\""));
    assert_eq!(rob_ui.get(&path).await.status, StatusCode::FORBIDDEN);
    let csrf = rob_ui.get("/account").await.csrf();
    let refused = rob_ui
        .post(&path, &[("csrf", &csrf), ("name", "x"), ("levels", "1")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        admin.get("/escalation-policies/nope/edit").await.status,
        StatusCode::NOT_FOUND
    );

    // A level the editor cannot show exactly (a round robin beside another person) says so.
    let mixed = app
        .post(
            "/api/v1/escalation-policies",
            json!({"name": "Mixed", "levels": [{"delay_minutes": 5, "targets": [
                {"type": "user", "id": ada}, {"type": "round_robin", "ids": [rob]}
            ]}]}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let form = admin
        .get(&format!("/escalation-policies/{mixed}/edit"))
        .await;
    assert!(form.text.contains("they all take turns in one round robin"));
    assert!(
        !admin
            .get(&path)
            .await
            .text
            .contains("take turns in one round robin")
    );
    app.stop().await;
}

#[tokio::test]
async fn admins_edit_a_schedule_and_responders_remove_overrides() {
    let mut app = TestApp::spawn().await;
    let ada = person(&app, "Ada", "admin").await;
    let rob = person(&app, "Rob", "responder").await;
    // Layer 2 has weekly restrictions, which the form cannot show: they are kept.
    let weekend = json!([{"type": "weekly", "start_day": "saturday", "start": "09:00",
                           "end_day": "monday", "end": "09:00"}]);
    let r = app
        .post(
            "/api/v1/schedules",
            json!({"name": "Primary", "time_zone": "Europe/Paris", "layers": [
                {"name": "days", "start": "2026-11-23T08:00:00Z",
                 "rotation": {"type": "daily", "length": 1}, "users": [ada],
                 "restrictions": [{"type": "daily", "start": "08:00", "end": "20:00"}]},
                {"name": "weekends", "start": "2026-11-23T08:00:00Z",
                 "rotation": {"type": "weekly", "length": 1}, "users": [rob],
                 "restrictions": weekend},
            ]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/api/v1/schedules/{id}/overrides"),
            json!({"user_id": rob, "start": "2026-11-26T08:00:00Z", "end": "2026-11-26T11:00:00Z"}),
        )
        .await;
    let override_id = r.body["override_ids"][0].as_str().unwrap().to_owned();

    let mut admin = Visitor::new(&app);
    admin.sign_in("ada@example.com", PASSWORD).await;
    let page = admin.get(&format!("/schedules/{id}?week=2026-11-23")).await;
    assert!(
        page.text
            .contains(&format!("href=\"/schedules/{id}/edit\""))
    );
    let path = format!("/schedules/{id}/edit");
    let form = admin.get(&path).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.text);
    let t = &form.text;
    assert!(t.contains(&format!("action=\"{path}\"")));
    assert!(t.contains("value=\"Primary\"") && t.contains("value=\"Europe/Paris\""));
    assert!(
        t.contains("name=\"start_0\" type=\"datetime-local\" value=\"2026-11-23T09:00\""),
        "the start in the schedule's zone"
    );
    assert!(t.contains("name=\"wstart_0\" type=\"time\" value=\"08:00\""));
    assert!(
        t.contains("name=\"keep_1\" value=\"1\""),
        "layer 2 keeps its restrictions"
    );
    assert!(t.contains("keeps its 1 restriction"));
    assert!(
        t.contains("Layer 3") && !t.contains("Layer 4"),
        "one spare layer"
    );
    assert!(t.contains(&format!("<option value=\"{rob}\" selected>")));
    let csrf = form.csrf();

    // Layer 1 now rotates Ada then Rob, hourly handoffs aside; the name changes.
    let saved = admin
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("name", "Primary (edited)"),
                ("time_zone", "Europe/Paris"),
                ("layers", "3"),
                ("lname_0", "days"),
                ("start_0", "2026-11-23T09:00"),
                ("rotation_0", "daily"),
                ("length_0", "1"),
                ("user_0", &ada),
                ("user_0", &rob),
                ("user_0", ""),
                ("wstart_0", "08:00"),
                ("wend_0", "20:00"),
                ("lname_1", "weekends"),
                ("start_1", "2026-11-23T09:00"),
                ("rotation_1", "weekly"),
                ("length_1", "1"),
                ("user_1", &rob),
                ("keep_1", "1"),
                ("start_2", "2026-11-30T09:00"),
                ("rotation_2", "weekly"),
                ("length_2", "1"),
                ("user_2", ""),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
    assert_eq!(
        saved.location.as_deref(),
        Some(format!("/schedules/{id}?done=updated").as_str())
    );
    let s = app.get(&format!("/api/v1/schedules/{id}")).await.body;
    assert_eq!(s["name"], "Primary (edited)");
    assert_eq!(
        s["layers"].as_array().unwrap().len(),
        2,
        "the blank layer is left out"
    );
    assert_eq!(s["layers"][0]["users"], json!([ada, rob]));
    assert_eq!(s["layers"][0]["start"], "2026-11-23T08:00:00Z");
    assert_eq!(s["layers"][1]["restrictions"], weekend, "kept");
    assert_eq!(
        s["override_ids"],
        json!([override_id]),
        "the override stays"
    );

    // A bad zone is named beside its field, in the edit form.
    let bad = admin
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("name", "Primary"),
                ("time_zone", "Mars/Olympus"),
                ("layers", "1"),
                ("start_0", "2026-11-23T09:00"),
                ("rotation_0", "daily"),
                ("length_0", "1"),
                ("user_0", &ada),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text.contains("id=\"tz-err\""), "{}", bad.text);
    assert!(bad.text.contains(&format!("action=\"{path}\"")));

    // A responder removes the override with its button (CSRF-checked); viewers cannot.
    let mut rob_ui = Visitor::new(&app);
    rob_ui.sign_in("rob@example.com", PASSWORD).await;
    assert_eq!(rob_ui.get(&path).await.status, StatusCode::FORBIDDEN);
    let page = rob_ui
        .get(&format!("/schedules/{id}?week=2026-11-23"))
        .await;
    let remove = format!("/schedules/{id}/overrides/{override_id}/delete");
    assert!(
        page.text.contains(&format!("action=\"{remove}\"")),
        "{}",
        page.text
    );
    assert!(page.text.contains("aria-label=\"Remove the override Rob:"));
    let refused = rob_ui.post(&remove, &[("csrf", "forged")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let csrf = page.csrf();
    let done = rob_ui
        .post(&remove, &[("csrf", &csrf), ("week", "2026-11-23")])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    assert_eq!(
        done.location.as_deref(),
        Some(format!("/schedules/{id}?week=2026-11-23&done=override_removed#overrides-h").as_str())
    );
    let s = app.get(&format!("/api/v1/schedules/{id}")).await.body;
    assert_eq!(s["override_ids"], json!([]));
    let page = rob_ui
        .get(&format!(
            "/schedules/{id}?week=2026-11-23&done=override_removed"
        ))
        .await;
    assert!(page.text.contains("Override removed."));
    let again = rob_ui.post(&remove, &[("csrf", &csrf)]).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    app.stop().await;
}
