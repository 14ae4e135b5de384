//! The REST API: roles on every route, incidents with filters and cursors, people and tokens,
//! the OpenAPI document, operations endpoints and the first-admin setup link.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

async fn open_incident(app: &TestApp, svc: &str, key: &str, dedup: &str) -> String {
    let r = app
        .enqueue(json!({"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
            "payload": {"summary": format!("{dedup} is down"), "source": "h", "severity": "error"}}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let list = app.incidents(svc).await;
    list.iter()
        .find(|i| i["dedup_key"] == dedup)
        .expect("incident")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn every_route_checks_the_token_and_its_role() {
    let app = TestApp::spawn().await;
    let svc = app.service("roles").await;
    let key = app.integration(&svc, "events_v2").await;
    let id = open_incident(&app, &svc, &key, "r1").await;
    let viewer = app.token("viewer").await;
    let responder = app.token("responder").await;

    for (path, method) in [
        ("/api/v1/incidents", "GET"),
        ("/api/v1/services", "POST"),
        (&*format!("/api/v1/incidents/{id}/acknowledge"), "POST"),
    ] {
        let r = app.call(method, path, None, Some(json!({}))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(r.body["error"]["code"], "unauthorized");
        let r = app
            .call(method, path, Some("tcn_not_a_real_token"), Some(json!({})))
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }

    // Viewers read.
    assert_eq!(
        app.call("GET", "/api/v1/incidents", Some(&viewer), None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.call(
            "GET",
            &format!("/api/v1/incidents/{id}/timeline"),
            Some(&viewer),
            None
        )
        .await
        .status,
        StatusCode::OK
    );
    let r = app
        .call(
            "POST",
            &format!("/api/v1/incidents/{id}/acknowledge"),
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["error"]["code"], "forbidden");
    // Viewers never see integration keys.
    let r = app
        .call(
            "GET",
            &format!("/api/v1/services/{svc}/integrations"),
            Some(&viewer),
            None,
        )
        .await;
    assert!(r.body["integrations"][0].get("key").is_none(), "{}", r.body);
    assert!(!r.text.contains(&key));

    // Responders act on incidents but do not administer.
    let r = app
        .call(
            "POST",
            &format!("/api/v1/incidents/{id}/acknowledge"),
            Some(&responder),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "acknowledged");
    for (path, body) in [
        ("/api/v1/services", json!({"name": "x"})),
        (
            "/api/v1/users",
            json!({"name": "x", "email": "x@example.com"}),
        ),
        ("/api/v1/tokens", json!({"name": "x", "role": "admin"})),
        ("/api/v1/teams", json!({"name": "x"})),
    ] {
        let r = app.call("POST", path, Some(&responder), Some(body)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(
        app.call("GET", "/api/v1/tokens", Some(&responder), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // A revoked token stops working at once.
    let tokens = app.get("/api/v1/tokens").await.body;
    let viewer_id = tokens["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "viewer")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !tokens.to_string().contains(&viewer),
        "secrets are never listed"
    );
    assert_eq!(
        app.call(
            "DELETE",
            &format!("/api/v1/tokens/{viewer_id}"),
            Some(&app.admin),
            None
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.call("GET", "/api/v1/incidents", Some(&viewer), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn incidents_are_listed_newest_first_with_filters_and_cursors() {
    let app = TestApp::spawn().await;
    let svc = app.service("list").await;
    let other = app.service("other").await;
    let key = app.integration(&svc, "events_v2").await;
    let other_key = app.integration(&other, "events_v2").await;
    for n in 0..5 {
        open_incident(&app, &svc, &key, &format!("k{n}")).await;
    }
    open_incident(&app, &other, &other_key, "o").await;
    app.enqueue(json!({"routing_key": key, "event_action": "resolve", "dedup_key": "k0"}))
        .await;
    app.enqueue(json!({"routing_key": key, "event_action": "acknowledge", "dedup_key": "k1"}))
        .await;

    let r = app
        .get(&format!("/api/v1/incidents?service_id={svc}&limit=2"))
        .await;
    let numbers = |b: &serde_json::Value| {
        b["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["number"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(numbers(&r.body), [5, 4]);
    let cursor = r.body["next_cursor"].as_str().unwrap().to_owned();
    let r = app
        .get(&format!(
            "/api/v1/incidents?service_id={svc}&limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(numbers(&r.body), [3, 2]);
    let cursor = r.body["next_cursor"].as_str().unwrap().to_owned();
    let r = app
        .get(&format!(
            "/api/v1/incidents?service_id={svc}&limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(numbers(&r.body), [1]);
    assert!(r.body["next_cursor"].is_null());

    let r = app
        .get("/api/v1/incidents?status=triggered,acknowledged")
        .await;
    assert_eq!(r.body["incidents"].as_array().unwrap().len(), 5);
    let r = app.get("/api/v1/incidents?status=resolved").await;
    assert_eq!(numbers(&r.body), [1]);
    let r = app.get("/api/v1/incidents").await;
    assert_eq!(
        r.body["incidents"].as_array().unwrap().len(),
        6,
        "all statuses by default"
    );

    for (q, field) in [
        ("status=open", "status"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=x", "limit"),
        ("cursor=zz", "cursor"),
    ] {
        let r = app.get(&format!("/api/v1/incidents?{q}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        assert!(
            r.body["error"]["fields"][field].is_string(),
            "{q}: {}",
            r.body
        );
    }
    assert_eq!(
        app.get("/api/v1/incidents/nope").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn humans_acknowledge_resolve_and_write_notes() {
    let app = TestApp::spawn().await;
    let svc = app.service("act").await;
    let key = app.integration(&svc, "events_v2").await;
    let id = open_incident(&app, &svc, &key, "act").await;
    let user = app
        .post("/api/v1/users", json!({"name": "Ada Lovelace", "email": "ada@example.com", "time_zone": "Europe/London", "role": "responder"}))
        .await;
    assert_eq!(user.status, StatusCode::CREATED, "{}", user.body);
    let uid = user.body["id"].as_str().unwrap();
    let r = app
        .post(
            "/api/v1/tokens",
            json!({"name": "ada", "role": "responder", "user_id": uid}),
        )
        .await;
    let ada = r.body["secret"].as_str().unwrap().to_owned();

    let base = format!("/api/v1/incidents/{id}");
    let r = app
        .call("POST", &format!("{base}/acknowledge"), Some(&ada), None)
        .await;
    assert_eq!(r.body["status"], "acknowledged");
    assert_eq!(r.body["acknowledged_at"], T0);
    let r = app
        .call(
            "POST",
            &format!("{base}/notes"),
            Some(&ada),
            Some(json!({"content": "failing over to the replica"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["id"], id.as_str());
    let r = app
        .call(
            "POST",
            &format!("{base}/notes"),
            Some(&ada),
            Some(json!({"content": "  "})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["error"]["fields"]["content"].is_string());
    let r = app
        .call(
            "POST",
            &format!("{base}/notes"),
            Some(&ada),
            Some(json!({"content": 3})),
        )
        .await;
    assert!(
        r.body["error"]["fields"]["content"].is_string(),
        "{}",
        r.body
    );
    app.clock.advance(jiff::SignedDuration::from_mins(7));
    let r = app
        .call("POST", &format!("{base}/resolve"), Some(&ada), None)
        .await;
    assert_eq!(r.body["status"], "resolved");
    assert_eq!(r.body["resolved_at"], "2026-11-25T10:07:00Z");
    let r = app
        .call("POST", &format!("{base}/acknowledge"), Some(&ada), None)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["error"]["code"], "conflict");

    let tl = app.get(&format!("{base}/timeline")).await.body;
    let entries = tl["entries"].as_array().unwrap();
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["triggered", "acknowledged", "note", "resolved"]);
    assert_eq!(entries[1]["actor"], "Ada Lovelace");
    assert_eq!(entries[1]["channel"], "api");
    assert_eq!(entries[2]["message"], "failing over to the replica");
    assert_eq!(entries[3]["at"], "2026-11-25T10:07:00Z");

    // Resolving the incident resolved its alert: the key opens a new incident.
    open_incident(&app, &svc, &key, "act").await;
    assert_eq!(app.incidents(&svc).await.len(), 2);
}

#[tokio::test]
async fn people_teams_and_services_validate_their_fields() {
    let app = TestApp::spawn().await;
    for (body, field) in [
        (json!({"name": "x", "email": "not-an-email"}), "email"),
        (
            json!({"name": "x", "email": "x@example.com", "time_zone": "Mars/Olympus"}),
            "time_zone",
        ),
        (
            json!({"name": "x", "email": "x@example.com", "role": "king"}),
            "role",
        ),
        (json!({"name": "", "email": "x@example.com"}), "name"),
        (json!({"email": "x@example.com"}), "name"),
        (
            json!({"name": "x", "email": "x@example.com", "password": "short"}),
            "password",
        ),
        (
            json!({"name": "x", "email": "x@example.com", "shoe_size": 44}),
            "",
        ),
    ] {
        let r = app.post("/api/v1/users", body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        if !field.is_empty() {
            assert!(
                r.body["error"]["fields"][field].is_string(),
                "{body}: {}",
                r.body
            );
        }
    }
    let r = app.post("/api/v1/users", json!({"name": "Grace", "email": "grace@example.com", "password": "a long enough password"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["role"], "responder");
    assert_eq!(r.body["time_zone"], "UTC");
    assert!(r.body.get("password_hash").is_none());
    let grace = r.body["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            "/api/v1/users",
            json!({"name": "Grace 2", "email": "GRACE@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    let r = app
        .post(
            "/api/v1/teams",
            json!({"name": "Databases", "description": "the DBAs"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let team = r.body["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/api/v1/teams/{team}/members"),
            json!({"user_id": grace}),
        )
        .await;
    assert_eq!(r.body["members"], json!([grace]));
    let r = app
        .post(
            "/api/v1/services",
            json!({"name": "postgres", "description": "primary DB", "team_id": team}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["team_id"], team.as_str());
    let r = app
        .post("/api/v1/services", json!({"name": "postgres"}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = app
        .post("/api/v1/services", json!({"name": "x", "team_id": "nope"}))
        .await;
    assert!(r.body["error"]["fields"]["team_id"].is_string());
    let r = app.post_raw("/api/v1/services", b"{".to_vec()).await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "auth comes before the body"
    );
    let r = app
        .call(
            "POST",
            "/api/v1/services",
            Some(&app.admin),
            Some(json!({"name": "x".repeat(201)})),
        )
        .await;
    assert!(r.body["error"]["fields"]["name"].is_string());
    let svc = app.service("svc").await;
    let r = app
        .post(
            &format!("/api/v1/services/{svc}/integrations"),
            json!({"type": "carrier-pigeon"}),
        )
        .await;
    assert!(r.body["error"]["fields"]["type"].is_string());
    let r = app
        .post(
            "/api/v1/services/nope/integrations",
            json!({"type": "generic"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .post(
            &format!("/api/v1/services/{svc}/integrations"),
            json!({"type": "alertmanager"}),
        )
        .await;
    assert_eq!(r.body["key"].as_str().unwrap().len(), 32);
    assert!(r.body["url"].as_str().unwrap().ends_with(&format!(
        "/api/v1/integrations/alertmanager/{}",
        r.body["key"].as_str().unwrap()
    )));
    assert_eq!(
        app.get("/api/v1/nothing-here").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn openapi_metrics_health_and_readiness() {
    let mut app = TestApp::spawn().await;
    let doc = app
        .call("GET", "/api/v1/openapi.json", None, None)
        .await
        .body;
    assert!(doc["openapi"].as_str().unwrap().starts_with('3'));
    for path in [
        "/api/v1/incidents",
        "/api/v1/incidents/{id}/acknowledge",
        "/api/v1/services/{id}/integrations",
        "/api/v1/integrations/alertmanager/{key}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
    assert!(doc["components"]["schemas"]["Incident"].is_object());

    let svc = app.service("m").await;
    let key = app.integration(&svc, "events_v2").await;
    open_incident(&app, &svc, &key, "m").await;
    let m = app.call("GET", "/metrics", None, None).await.text;
    for name in [
        "tocsin_events_accepted_total",
        "tocsin_ingest_latency_seconds_bucket",
        "tocsin_open_incidents",
        "tocsin_ingest_commits_total",
    ] {
        assert!(m.contains(name), "{name} in /metrics");
    }
    assert!(!m.contains(&key), "no secret in metrics");
    assert_eq!(
        app.call("GET", "/healthz", None, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.call("GET", "/readyz", None, None).await.status,
        StatusCode::OK
    );
    app.stop().await;
}

#[tokio::test]
async fn the_setup_link_creates_the_first_admin_once() {
    let app = TestApp::spawn().await;
    let link = app
        .running
        .as_ref()
        .unwrap()
        .setup_link
        .clone()
        .expect("a link when there is no user");
    let path = link.strip_prefix(&app.url).unwrap().to_owned();
    let r = app.client.get(&link).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(r.text().await.unwrap().contains("<form method=\"post\">"));
    let form = [
        ("name", "Root"),
        ("email", "root@example.com"),
        ("time_zone", "Europe/Paris"),
        ("password", "correct horse battery staple"),
    ];
    // A cross-site post is refused.
    let r = app
        .client
        .post(&link)
        .header("Origin", "https://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let short = [
        ("name", "Root"),
        ("email", "root@example.com"),
        ("time_zone", ""),
        ("password", "short"),
    ];
    let r = app.client.post(&link).form(&short).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Password must be at least 10 characters")
    );
    let r = app.client.post(&link).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let users = app.get("/api/v1/users").await.body;
    assert_eq!(users["users"][0]["role"], "admin");
    assert_eq!(users["users"][0]["time_zone"], "Europe/Paris");
    // Single use.
    assert_eq!(
        app.client.get(&link).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.client
            .post(&link)
            .form(&form)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.client
            .get(format!("{}/setup/guess", app.url))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert!(path.starts_with("/setup/"));
}

#[tokio::test]
async fn incidents_are_found_by_team_time_range_urgency_and_text() {
    let app = TestApp::spawn().await;
    let team = app
        .post("/api/v1/teams", json!({"name": "Payments"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post("/api/v1/services", json!({"name": "pay", "team_id": team}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let pay = r.body["id"].as_str().unwrap().to_owned();
    let web = app.service("web").await;
    let pay_key = app.integration(&pay, "events_v2").await;
    let web_key = app.integration(&web, "events_v2").await;
    let now = || tocsin_engine::Clock::now(&*app.clock);
    let send = |key: String, dedup: &'static str, summary: &'static str, severity: &'static str| {
        let app = &app;
        async move {
            let r = app
                .enqueue(
                    json!({"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
                    "payload": {"summary": summary, "source": "h", "severity": severity}}),
                )
                .await;
            assert_eq!(r.status, StatusCode::ACCEPTED);
        }
    };
    let start = now();
    send(pay_key.clone(), "a", "Payment API DOWN", "critical").await; // #1
    app.clock.advance(jiff::SignedDuration::from_hours(1));
    let hour_later = now();
    send(web_key.clone(), "b", "50% of requests fail", "critical").await; // #2
    app.clock.advance(jiff::SignedDuration::from_hours(1));
    send(pay_key.clone(), "c", "payment queue slow", "warning").await; // #3
    app.incidents(&pay).await;
    app.incidents(&web).await;

    let numbers = |q: String| {
        let app = &app;
        async move {
            let r = app.get(&format!("/api/v1/incidents?{q}")).await;
            assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.body);
            r.body["incidents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["number"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(numbers(format!("team_id={team}")).await, [3, 1]);
    assert_eq!(numbers(format!("team_id={team}&urgency=high")).await, [1]);
    assert_eq!(numbers("urgency=low".into()).await, [3]);
    assert_eq!(
        numbers(format!("created_from={hour_later}")).await,
        [3, 2],
        "from is inclusive"
    );
    assert_eq!(
        numbers(format!("created_from={start}&created_to={hour_later}")).await,
        [1],
        "to is exclusive"
    );
    assert_eq!(numbers("q=PAYMENT".into()).await, [3, 1]);
    assert_eq!(numbers("q=payment+slow".into()).await, [3]);
    assert_eq!(numbers("q=%232".into()).await, [2], "#2");
    assert_eq!(numbers("q=2".into()).await, [2]);
    assert_eq!(numbers("q=50%25".into()).await, [2], "% is literal");
    assert_eq!(numbers("q=5_%25".into()).await, Vec::<i64>::new());
    // A cursor keeps the filters it is sent with.
    let r = app.get("/api/v1/incidents?q=payment&limit=1").await;
    let cursor = r.body["next_cursor"].as_str().unwrap().to_owned();
    assert_eq!(
        numbers(format!("q=payment&limit=1&cursor={cursor}")).await,
        [1]
    );

    for (q, field) in [
        ("urgency=urgent".to_owned(), "urgency"),
        ("created_from=yesterday".to_owned(), "created_from"),
        ("created_to=2026-13-01T00:00:00Z".to_owned(), "created_to"),
        (
            format!("created_from={hour_later}&created_to={start}"),
            "created_to",
        ),
        (format!("q={}", "x".repeat(201)), "q"),
    ] {
        let r = app.get(&format!("/api/v1/incidents?{q}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        assert!(
            r.body["error"]["fields"][field].is_string(),
            "{q}: {}",
            r.body
        );
    }
    let doc = app.get("/api/v1/openapi.json").await.body;
    let params = doc["paths"]["/api/v1/incidents"]["get"]["parameters"].to_string();
    for p in ["team_id", "urgency", "created_from", "created_to", "\"q\""] {
        assert!(params.contains(p), "{p} in {params}");
    }
}
