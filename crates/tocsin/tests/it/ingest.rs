//! Ingestion through every format, with fixtures from the real tools' documentation, the
//! PagerDuty semantics, bad input, and rate limits.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

fn trigger(key: &str, dedup: &str, summary: &str) -> serde_json::Value {
    json!({"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
           "payload": {"summary": summary, "source": "web-1", "severity": "critical"}})
}

fn action(key: &str, action: &str, dedup: &str) -> serde_json::Value {
    json!({"routing_key": key, "event_action": action, "dedup_key": dedup})
}

#[tokio::test]
async fn pagerduty_documented_trigger_dedups_acknowledges_and_resolves() {
    let app = TestApp::spawn().await;
    let svc = app.service("db").await;
    let key = app.integration(&svc, "events_v2").await;
    let r = app
        .enqueue(fixture_with_key("pd_trigger_documented.json", &key))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(
        r.body,
        json!({"status": "success", "message": "Event processed", "dedup_key": "samplekeyhere"})
    );
    let r = app
        .enqueue(fixture_with_key("pd_trigger_documented.json", &key))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);

    let incidents = app.incidents(&svc).await;
    assert_eq!(
        incidents.len(),
        1,
        "a repeated trigger appends to the open alert"
    );
    let inc = &incidents[0];
    assert_eq!(
        inc["title"],
        "DISK at 99% on machine prod-datapipe03.example.com"
    );
    assert_eq!(inc["status"], "triggered");
    assert_eq!(inc["urgency"], "high");
    assert_eq!(inc["severity"], "critical");
    assert_eq!(inc["dedup_key"], "samplekeyhere");
    assert_eq!(inc["alert_count"], 1);
    assert_eq!(inc["number"], 1);
    assert_eq!(inc["created_at"], T0);
    let id = inc["id"].as_str().unwrap();
    let alerts = app
        .get(&format!("/api/v1/incidents/{id}/alerts"))
        .await
        .body;
    let alert = &alerts["alerts"][0];
    assert_eq!(alert["occurrences"], 2);
    assert_eq!(alert["component"], "mysql");
    assert_eq!(alert["custom_details"]["free space"], "1%");
    assert_eq!(alert["links"][0]["href"], "https://example.com/");
    assert_eq!(alert["images"][0]["alt"], "Example text");

    assert_eq!(
        app.enqueue(action(&key, "acknowledge", "samplekeyhere"))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    // While acknowledged, a new trigger changes nothing and opens nothing.
    assert_eq!(
        app.enqueue(fixture_with_key("pd_trigger_documented.json", &key))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    let inc = app.get(&format!("/api/v1/incidents/{id}")).await.body;
    assert_eq!(inc["status"], "acknowledged");
    assert_eq!(app.incidents(&svc).await.len(), 1);

    assert_eq!(
        app.enqueue(action(&key, "resolve", "samplekeyhere"))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    let inc = app.get(&format!("/api/v1/incidents/{id}")).await.body;
    assert_eq!(inc["status"], "resolved");

    // Resolved is final: the same key opens a new incident.
    app.enqueue(fixture_with_key("pd_trigger_documented.json", &key))
        .await;
    let incidents = app.incidents(&svc).await;
    assert_eq!(incidents.len(), 2);
    assert_eq!(incidents[0]["status"], "triggered");
    assert_eq!(incidents[0]["number"], 2);

    let tl = app
        .get(&format!("/api/v1/incidents/{id}/timeline"))
        .await
        .body;
    let kinds: Vec<&str> = tl["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["triggered", "acknowledged", "resolved"]);
    assert_eq!(tl["entries"][1]["channel"], "events_v2");
}

#[tokio::test]
async fn pagerduty_edge_cases() {
    let app = TestApp::spawn().await;
    let svc = app.service("edge").await;
    let key = app.integration(&svc, "events_v2").await;
    // Acknowledge or resolve with nothing open: 202, nothing changes.
    for a in ["acknowledge", "resolve"] {
        let r = app.enqueue(action(&key, a, "never-seen")).await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
        assert_eq!(r.body["dedup_key"], "never-seen");
    }
    assert!(app.incidents(&svc).await.is_empty());
    // Without a dedup key, every trigger opens its own alert with a server-made key.
    let body = json!({"routing_key": key, "event_action": "trigger",
        "payload": {"summary": "s", "source": "h", "severity": "Warning", "timestamp": "2026-11-25T09:59:00.000+0000"},
        "unknown_field": {"ignored": true}});
    let a = app.enqueue(body.clone()).await;
    let b = app.enqueue(body).await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let (ka, kb) = (
        a.body["dedup_key"].as_str().unwrap(),
        b.body["dedup_key"].as_str().unwrap(),
    );
    assert!(!ka.is_empty() && ka != kb);
    let incidents = app.incidents(&svc).await;
    assert_eq!(incidents.len(), 2);
    assert_eq!(incidents[0]["urgency"], "low");
    // Empty strings mean absent: an empty dedup key on a trigger gets a server-made key.
    let r = app
        .enqueue(
            json!({"routing_key": key, "event_action": "trigger", "dedup_key": "",
            "payload": {"summary": "s", "source": "h", "severity": "info", "component": ""}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_ne!(r.body["dedup_key"], "");
}

#[tokio::test]
async fn pagerduty_clients_headers_are_ignored() {
    let app = TestApp::spawn().await;
    let svc = app.service("clients").await;
    let key = app.integration(&svc, "events_v2").await;
    // What client libraries add (pdpyras, go-pagerduty): Accept and X-Routing-Key, charset.
    let r = app
        .client
        .post(format!("{}/v2/enqueue", app.url))
        .header("Content-Type", "application/json; charset=utf-8")
        .header("Accept", "application/vnd.pagerduty+json;version=2")
        .header("X-Routing-Key", &key)
        .header(
            "User-Agent",
            "pdpyras/5.2.0 python-requests/2.31.0 Python/3.11",
        )
        .body(trigger(&key, "lib-1", "from a library").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn alertmanager_pagerduty_configs_payloads_work() {
    let app = TestApp::spawn().await;
    let svc = app.service("am-pd").await;
    let key = app.integration(&svc, "events_v2").await;
    let r = app
        .enqueue(fixture_with_key("am_pagerduty_trigger.json", &key))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.body["dedup_key"].as_str().unwrap().len(), 64);
    let r = app
        .enqueue(fixture_with_key("am_pagerduty_trigger.json", &key))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let incidents = app.incidents(&svc).await;
    assert_eq!(incidents.len(), 1);
    assert_eq!(
        incidents[0]["title"],
        "[FIRING:1] HighErrorRate api (web-1 critical)"
    );
    // Resolve carries a payload, as Alertmanager always sends one.
    let r = app
        .enqueue(fixture_with_key("am_pagerduty_resolve.json", &key))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(app.incidents(&svc).await[0]["status"], "resolved");
}

#[tokio::test]
async fn alertmanager_webhook_groups_dedups_and_resolves_per_alert() {
    let app = TestApp::spawn().await;
    let svc = app.service("am").await;
    let key = app.integration(&svc, "alertmanager").await;
    let path = format!("/api/v1/integrations/alertmanager/{key}");
    let firing = fixture_with_key("am_webhook_firing.json", &key);
    let r = app.call("POST", &path, None, Some(firing.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["alerts"], 2);
    // group_interval repeats deduplicate.
    app.call("POST", &path, None, Some(firing.clone())).await;
    let incidents = app.incidents(&svc).await;
    assert_eq!(incidents.len(), 1, "one incident per Alertmanager group");
    let inc = &incidents[0];
    assert_eq!(inc["alert_count"], 2);
    assert_eq!(inc["severity"], "critical");
    assert_eq!(inc["title"], "5xx above 5% on web-1");
    let id = inc["id"].as_str().unwrap();
    let alerts = app
        .get(&format!("/api/v1/incidents/{id}/alerts"))
        .await
        .body;
    let a = &alerts["alerts"];
    assert_eq!(a[0]["dedup_key"], "c4b2a1f0e9d8c7b6");
    assert_eq!(a[0]["occurrences"], 2);
    assert_eq!(a[0]["custom_details"]["labels"]["instance"], "web-1");
    assert_eq!(a[1]["summary"], "5xx above 2% on web-2");
    assert_eq!(a[1]["severity"], "warning");

    // Resolve one alert: the incident stays open until the last one resolves.
    let mut one = fixture_with_key("am_webhook_resolved.json", &key);
    one["alerts"].as_array_mut().unwrap().truncate(1);
    app.call("POST", &path, None, Some(one)).await;
    assert_eq!(
        app.get(&format!("/api/v1/incidents/{id}")).await.body["status"],
        "triggered"
    );
    let r = app
        .call(
            "POST",
            &path,
            None,
            Some(fixture_with_key("am_webhook_resolved.json", &key)),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        app.get(&format!("/api/v1/incidents/{id}")).await.body["status"],
        "resolved"
    );
    let tl = app
        .get(&format!("/api/v1/incidents/{id}/timeline"))
        .await
        .body;
    let kinds: Vec<&str> = tl["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["triggered", "alert_added", "alert_resolved", "resolved"]
    );
}

#[tokio::test]
async fn grafana_webhook_contact_point_works_through_the_alertmanager_endpoint() {
    let app = TestApp::spawn().await;
    let svc = app.service("grafana").await;
    let key = app.integration(&svc, "alertmanager").await;
    let path = format!("/api/v1/integrations/alertmanager/{key}");
    let r = app
        .call(
            "POST",
            &path,
            None,
            Some(fixture_with_key("grafana_webhook_firing.json", &key)),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let incidents = app.incidents(&svc).await;
    assert_eq!(incidents.len(), 1);
    assert_eq!(
        incidents[0]["title"],
        "This alert was triggered for zone us-1"
    );
    assert_eq!(incidents[0]["alert_count"], 2);
    let id = incidents[0]["id"].as_str().unwrap();
    let alerts = app
        .get(&format!("/api/v1/incidents/{id}/alerts"))
        .await
        .body;
    let links: Vec<&str> = alerts["alerts"][1]["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert_eq!(links, ["Source", "Runbook", "Dashboard", "Panel"]);
}

#[tokio::test]
async fn generic_webhook_and_change_events() {
    let app = TestApp::spawn().await;
    let svc = app.service("generic").await;
    let key = app.integration(&svc, "generic").await;
    let path = format!("/api/v1/integrations/generic/{key}");
    let r = app
        .call(
            "POST",
            &path,
            None,
            Some(
                json!({"summary": "nightly backup failed", "severity": "error",
            "dedup_key": "backup", "source": "cron@db-1", "details": {"exit_status": 2}}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.body["dedup_key"], "backup");
    let incidents = app.incidents(&svc).await;
    assert_eq!(incidents[0]["title"], "nightly backup failed");
    app.call(
        "POST",
        &path,
        None,
        Some(json!({"action": "resolve", "dedup_key": "backup"})),
    )
    .await;
    assert_eq!(app.incidents(&svc).await[0]["status"], "resolved");

    let events_key = app.integration(&svc, "events_v2").await;
    let r = app
        .call(
            "POST",
            "/v2/change/enqueue",
            None,
            Some(fixture_with_key("pd_change_documented.json", &events_key)),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let changes = app
        .get(&format!("/api/v1/services/{svc}/changes"))
        .await
        .body;
    assert_eq!(
        changes["changes"][0]["summary"],
        "Build Success: Increase snapshot create timeout to 30 seconds"
    );
    assert_eq!(
        changes["changes"][0]["timestamp"],
        "2020-07-17T08:42:58.315Z"
    );
    assert_eq!(
        app.incidents(&svc).await.len(),
        1,
        "change events never open incidents"
    );
}

#[tokio::test]
async fn integration_keys_only_reach_their_own_service() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.service("a").await, app.service("b").await);
    let ka = app.integration(&a, "events_v2").await;
    app.integration(&b, "events_v2").await;
    app.enqueue(trigger(&ka, "x", "on a")).await;
    assert_eq!(app.incidents(&a).await.len(), 1);
    assert!(app.incidents(&b).await.is_empty());
    // A key of another type is refused at the wrong door.
    let am = app.integration(&b, "alertmanager").await;
    let r = app.enqueue(trigger(&am, "x", "wrong door")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .call(
            "POST",
            &format!("/api/v1/integrations/generic/{am}"),
            None,
            Some(json!({"summary": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["error"]["fields"]["key"].is_string());
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let svc = app.service("bad").await;
    let key = app.integration(&svc, "events_v2").await;
    let am = app.integration(&svc, "alertmanager").await;

    let r = app
        .post_raw("/v2/enqueue", b"{\"routing_key\": ".to_vec())
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["status"], "Unrecognized object");
    assert!(
        r.body["errors"][0]
            .as_str()
            .unwrap()
            .contains("JSON parse error")
    );

    let r = app
        .enqueue(json!({"routing_key": key, "event_action": "trigger"}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["status"], "invalid event");
    assert_eq!(r.body["message"], "Event object is invalid");
    assert!(r.body["errors"][0].as_str().unwrap().contains("'payload'"));

    let r = app.enqueue(trigger(&key, "long", &"x".repeat(1025))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body["errors"][0]
            .as_str()
            .unwrap()
            .contains("payload.summary"),
        "{}",
        r.body
    );

    let r = app
        .enqueue(json!({"routing_key": key, "event_action": "trigger",
        "payload": {"summary": 5, "source": ["h"], "severity": "fatal"}}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let errors = r.body["errors"].to_string();
    assert!(
        errors.contains("payload.source") && errors.contains("payload.severity"),
        "{errors}"
    );

    let r = app
        .enqueue(json!({"routing_key": key, "event_action": "explode", "dedup_key": "d"}))
        .await;
    assert!(
        r.body["errors"][0]
            .as_str()
            .unwrap()
            .contains("event_action")
    );
    let r = app.enqueue(action(&key, "resolve", &"d".repeat(256))).await;
    assert!(r.body["errors"][0].as_str().unwrap().contains("dedup_key"));

    let r = app
        .enqueue(trigger(
            "0123456789abcdef0123456789abcdef",
            "d",
            "unknown key",
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["errors"][0], "Invalid routing key");

    let mut big = trigger(&key, "big", "big");
    big["payload"]["custom_details"] = json!({"blob": "x".repeat(600 * 1024)});
    let r = app.enqueue(big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.body["status"], "invalid event");

    let am_path = format!("/api/v1/integrations/alertmanager/{am}");
    let r = app.post_raw(&am_path, b"not json".to_vec()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"]["code"], "invalid_json");
    let r = app
        .call(
            "POST",
            &am_path,
            None,
            Some(json!({"version": "4", "alerts": [{"status": "pending"}]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body["error"]["fields"]["alerts[0].status"].is_string(),
        "{}",
        r.body
    );
    let r = app
        .call(
            "POST",
            "/api/v1/integrations/alertmanager/nope",
            None,
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["error"]["code"], "not_found");
    let r = app.post_raw(&am_path, vec![b' '; 513 * 1024]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.body["error"]["code"], "body_too_large");

    // A valid alert in the same Alertmanager request as an invalid one: nothing is stored.
    let mut mixed = fixture_with_key("am_webhook_firing.json", &am);
    mixed["alerts"][1]["status"] = json!("weird");
    assert_eq!(
        app.call("POST", &am_path, None, Some(mixed)).await.status,
        StatusCode::BAD_REQUEST
    );

    assert!(
        app.incidents(&svc).await.is_empty(),
        "no bad request stored anything"
    );
    let metrics = app.call("GET", "/metrics", None, None).await.text;
    assert!(
        metrics.contains("tocsin_events_rejected_total"),
        "{metrics}"
    );
}

#[tokio::test]
async fn rate_limits_answer_429_on_pagerduty_and_503_on_alertmanager() {
    let app = TestApp::spawn().await;
    let svc = app.service("limited").await;
    let key = app
        .integration_with(
            &svc,
            json!({"type": "events_v2", "rate_limit_per_second": 1, "rate_limit_burst": 2}),
        )
        .await;
    let am = app
        .integration_with(
            &svc,
            json!({"type": "alertmanager", "rate_limit_per_second": 1, "rate_limit_burst": 2}),
        )
        .await;
    let generic = app
        .integration_with(
            &svc,
            json!({"type": "generic", "rate_limit_per_second": 1, "rate_limit_burst": 1}),
        )
        .await;

    assert_eq!(
        app.enqueue(trigger(&key, "1", "x")).await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        app.enqueue(trigger(&key, "2", "x")).await.status,
        StatusCode::ACCEPTED
    );
    let r = app.enqueue(trigger(&key, "3", "x")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(r.body["status"].is_string() && r.body["message"].is_string());
    // The manual clock moves on: the budget refills.
    app.clock.advance(jiff::SignedDuration::from_secs(1));
    assert_eq!(
        app.enqueue(trigger(&key, "3", "x")).await.status,
        StatusCode::ACCEPTED
    );

    let am_path = format!("/api/v1/integrations/alertmanager/{am}");
    let firing = fixture_with_key("am_webhook_firing.json", &am);
    assert_eq!(
        app.call("POST", &am_path, None, Some(firing.clone()))
            .await
            .status,
        StatusCode::OK
    );
    let r = app.call("POST", &am_path, None, Some(firing)).await;
    assert_eq!(
        r.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "never 429 to Alertmanager"
    );
    assert!(r.header("retry-after").is_some());

    let g = format!("/api/v1/integrations/generic/{generic}");
    assert_eq!(
        app.call("POST", &g, None, Some(json!({"summary": "a"})))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    let r = app
        .call("POST", &g, None, Some(json!({"summary": "b"})))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.body["error"]["code"], "rate_limited");
    assert!(r.header("retry-after").is_some());
    assert_eq!(
        app.incidents(&svc).await.len(),
        5,
        "3 events, 1 Alertmanager group, 1 generic: nothing from refused requests"
    );
}
