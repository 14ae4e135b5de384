//! The server on PostgreSQL (`TOCSIN_TEST_DATABASE_URL`, set by `cargo xtask test`): an event
//! pages someone end to end, two nodes on one database take each step and send each page once,
//! and the command line and several `tocsin serve` processes share one database.

use crate::delivery::Receiver;
use crate::support::*;
use jiff::SignedDuration;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A person reached by a webhook on the receiver, at `base/name`.
async fn person(app: &TestApp, name: &str, base: &str) -> String {
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
            json!({"type": "webhook", "address": format!("{base}/{name}")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    id
}

/// A service whose policy pages alice, then bob 5 minutes later; returns (service, key).
async fn paged_service(app: &TestApp, alice: &str, bob: &str) -> (String, String) {
    let r = app
        .post(
            "/api/v1/escalation-policies",
            json!({"name": "db", "levels": [
                {"delay_minutes": 5, "targets": [{"type": "user", "id": alice}]},
                {"delay_minutes": 5, "targets": [{"type": "user", "id": bob}]}
            ]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app
        .post(
            "/api/v1/services",
            json!({"name": "db", "escalation_policy_id": r.body["id"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let svc = r.body["id"].as_str().unwrap().to_owned();
    let key = app.integration(&svc, "events_v2").await;
    (svc, key)
}

async fn trigger(app: &TestApp, key: &str) {
    let r = app
        .enqueue(
            json!({"routing_key": key, "event_action": "trigger", "dedup_key": "db",
            "payload": {"summary": "db is down", "source": "h", "severity": "critical"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
}

async fn timeline_kinds(app: &TestApp, incident: &str) -> Vec<String> {
    app.get(&format!("/api/v1/incidents/{incident}/timeline"))
        .await
        .body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

fn count(kinds: &[String], kind: &str) -> usize {
    kinds.iter().filter(|k| *k == kind).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_pages_and_is_acknowledged_on_postgres() {
    let Some(app) =
        TestApp::spawn_on_postgres("postgres::an_event_pages", Options::default()).await
    else {
        return;
    };
    let (rx, base) = Receiver::start().await;
    let alice = person(&app, "alice", &base).await;
    let bob = person(&app, "bob", &base).await;
    let (svc, key) = paged_service(&app, &alice, &bob).await;
    trigger(&app, &key).await;
    trigger(&app, &key).await;
    let incidents = app.incidents(&svc).await;
    assert_eq!(incidents.len(), 1, "the repeat joined the open alert");
    let incident = incidents[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(incidents[0]["number"], 1);
    assert_eq!(incidents[0]["status"], "triggered");

    app.escalate().await;
    app.dispatch().await;
    let got = rx.got("alice");
    assert_eq!(got.len(), 1, "alice is paged once");
    let body: Value = serde_json::from_slice(&got[0].1).unwrap();
    assert_eq!(body["incident"]["number"], 1, "{body}");

    let r = app
        .post(
            &format!("/api/v1/incidents/{incident}/acknowledge"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "acknowledged");
    // Acknowledged: the next level never fires.
    app.clock.advance(SignedDuration::from_mins(10));
    app.escalate().await;
    app.dispatch().await;
    assert!(rx.got("bob").is_empty());
    let kinds = timeline_kinds(&app, &incident).await;
    assert_eq!(
        kinds,
        ["triggered", "escalated", "notified", "acknowledged"],
        "{kinds:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_database_take_each_step_and_send_each_page_once() {
    let Some(a) = TestApp::spawn_on_postgres("postgres::two_nodes", Options::default()).await
    else {
        return;
    };
    let b = a.another_node(Options::default()).await;
    let (rx, base) = Receiver::start().await;
    let alice = person(&a, "alice", &base).await;
    let bob = person(&a, "bob", &base).await;
    let (svc, key) = paged_service(&a, &alice, &bob).await;
    // An event through one node is an incident on both.
    trigger(&a, &key).await;
    let incidents = b.incidents(&svc).await;
    assert_eq!(incidents.len(), 1);
    let incident = incidents[0]["id"].as_str().unwrap().to_owned();

    // Both nodes (and their background loops) go after the same due work at once.
    tokio::join!(a.escalate(), b.escalate());
    tokio::join!(a.dispatch(), b.dispatch());
    assert_eq!(rx.got("alice").len(), 1, "one page for the first level");
    for app in [&a, &b] {
        app.clock.advance(SignedDuration::from_mins(5));
    }
    tokio::join!(a.escalate(), b.escalate());
    tokio::join!(a.dispatch(), b.dispatch());
    assert_eq!(rx.got("alice").len(), 1);
    assert_eq!(rx.got("bob").len(), 1, "one page for the second level");
    let kinds = timeline_kinds(&b, &incident).await;
    assert_eq!(count(&kinds, "escalated"), 2, "{kinds:?}");
    assert_eq!(count(&kinds, "notified"), 2, "{kinds:?}");

    // Acknowledged on one node: the other sees it.
    let r = b
        .post(
            &format!("/api/v1/incidents/{incident}/acknowledge"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = a.get(&format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(r.body["status"], "acknowledged", "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heartbeat_goes_down_and_up_on_postgres() {
    let Some(app) = TestApp::spawn_on_postgres("postgres::heartbeat", Options::default()).await
    else {
        return;
    };
    crate::monitors::heartbeat_goes_down_and_up(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_of_one_node_reach_the_others() {
    let Some(a) = TestApp::spawn_on_postgres("postgres::live_events", Options::default()).await
    else {
        return;
    };
    let b = a.another_node(Options::default()).await;
    let mut on_b = b.running.as_ref().unwrap().state.live.subscribe();
    let svc = a.service("web").await;
    let key = a.integration(&svc, "events_v2").await;
    // B's listener starts in the background: until it listens, messages pass it by. So
    // trigger new alerts on A until B hears of one of A's incidents (at once, not by polling:
    // nothing on B polls the live bus).
    let heard = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        for n in 0.. {
            let r = a
                .enqueue(json!({"routing_key": key, "event_action": "trigger",
                    "dedup_key": format!("k{n}"),
                    "payload": {"summary": "down", "source": "h", "severity": "critical"}}))
                .await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
            let wait = tokio::time::sleep(std::time::Duration::from_millis(300));
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    () = &mut wait => break,
                    e = on_b.recv() => {
                        if let Ok(tocsin_engine::LiveEvent::IncidentChanged { id }) = e {
                            return (n, id);
                        }
                    }
                }
            }
        }
        unreachable!()
    })
    .await
    .expect("node B hears of node A's incident");
    let incidents = a.incidents(&svc).await;
    assert!(
        incidents.iter().any(|i| i["id"] == heard.1.0),
        "{heard:?} is one of A's incidents"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_node_pages_at_once_for_an_api_node() {
    use tocsin::config::NodeRole;
    let api = Options {
        role: NodeRole::Api,
        ..Options::default()
    };
    let Some(a) = TestApp::spawn_on_postgres("postgres::roles", api).await else {
        return;
    };
    let b = a
        .another_node(Options {
            role: NodeRole::Engine,
            ..Options::default()
        })
        .await;
    // The engine node serves only health and metrics.
    assert_eq!(b.get("/healthz").await.status, StatusCode::OK);
    assert_eq!(b.get("/readyz").await.status, StatusCode::OK);
    assert_eq!(b.get("/metrics").await.status, StatusCode::OK);
    assert_eq!(
        b.get("/api/v1/services").await.status,
        StatusCode::NOT_FOUND
    );
    let (rx, base) = Receiver::start().await;
    let alice = person(&a, "alice", &base).await;
    let bob = person(&a, "bob", &base).await;
    let (_svc, key) = paged_service(&a, &alice, &bob).await;
    // B's listener starts in the background; give it a moment to listen.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // The API node commits each incident (its first step due now) and runs no engine: the
    // engine node, woken by the API node's NOTIFY, takes the step and sends the page at once.
    // (Its own pass every second would take up to a second: three pages all within 600 ms
    // would then be unlikely.)
    for n in 1..=3 {
        let sent = std::time::Instant::now();
        let r = a
            .enqueue(json!({"routing_key": key, "event_action": "trigger",
                "dedup_key": format!("db{n}"),
                "payload": {"summary": "db is down", "source": "h", "severity": "critical"}}))
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        while rx.got("alice").len() < n {
            assert!(
                sent.elapsed() < std::time::Duration::from_secs(3),
                "no page from the engine node"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let took = sent.elapsed();
        eprintln!("page {n} sent by the engine node after {took:?}");
        assert!(
            took < std::time::Duration::from_millis(600),
            "paged after {took:?}"
        );
    }
    assert_eq!(rx.got("alice").len(), 3);
}

#[test]
fn split_roles_need_postgres() {
    let dir = temp_dir("roles");
    let dir = dir.to_str().unwrap();
    let (ok, _, err) = cli(&["--data-dir", dir, "serve", "--role", "api"], None);
    assert!(!ok);
    assert!(
        err.contains("--role api and --role engine need PostgreSQL"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_store_copies_a_sqlite_database_into_an_empty_postgres_one() {
    use tocsin_store::{IncidentFilter, Store};
    let Some(server) = tocsin_store::postgres::test_server_url() else {
        eprintln!("SKIPPED postgres::migrate_store on PostgreSQL: no server");
        return;
    };
    // A SQLite database with a paged incident, its steps, pages, timeline and a monitor.
    let mut app = TestApp::spawn().await;
    let (rx, base) = Receiver::start().await;
    let alice = person(&app, "alice", &base).await;
    let bob = person(&app, "bob", &base).await;
    let (svc, key) = paged_service(&app, &alice, &bob).await;
    trigger(&app, &key).await;
    app.escalate().await;
    app.dispatch().await;
    assert_eq!(rx.got("alice").len(), 1);
    let r = app
        .post(
            "/api/v1/monitors",
            json!({"type": "heartbeat", "name": "nightly", "service_id": svc,
                   "period_seconds": 3600}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let monitor = r.body["id"].as_str().unwrap().to_owned();
    let ping = r.body["ping_url"].as_str().unwrap().to_owned();
    // Its ping is a result and two roll-ups (the hour's and the day's).
    let r = app.client.get(&ping).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The status page: settings, a component, a public incident with two updates, a
    // maintenance window on the service and a subscriber.
    status_page_content(&app, &svc).await;
    let path = app.dir.join("tocsin.db");
    app.stop().await;

    let scratch = tocsin_store::postgres::ScratchDatabase::create(&server)
        .await
        .expect("a scratch database");
    let from = format!("sqlite://{}", path.display());
    let to = scratch.url().to_owned();
    let args = [
        "migrate-store",
        "--from",
        from.as_str(),
        "--to",
        to.as_str(),
    ]
    .map(str::to_owned)
    .to_vec();
    let run = move |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            cli(&args, None)
        })
    };
    let (ok, out, err) = run(args.clone()).await.unwrap();
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("every row count matches"), "{out}");
    let line = |table: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(table))
            .map(|l| l.split_whitespace().nth(1).unwrap().to_owned())
    };
    assert_eq!(line("incidents").as_deref(), Some("1"), "{out}");
    assert_eq!(line("users").as_deref(), Some("2"), "{out}");
    assert_eq!(line("monitors").as_deref(), Some("1"), "{out}");
    for (table, rows) in [
        ("monitor_results", "1"),
        ("monitor_rollups", "3"),
        ("status_settings", "1"),
        ("status_components", "1"),
        ("status_incidents", "1"),
        ("status_updates", "2"),
        ("maintenance_windows", "1"),
        ("maintenance_services", "1"),
        ("status_subscribers", "1"),
    ] {
        assert_eq!(line(table).as_deref(), Some(rows), "{table}: {out}");
    }

    // What the store says is the same on both sides.
    let sqlite = tocsin_store::sqlite::SqliteStore::open(&path).unwrap();
    let pg = tocsin_store::postgres::PgStore::connect(&to).await.unwrap();
    let all = || IncidentFilter {
        limit: 100,
        ..IncidentFilter::default()
    };
    let incidents = sqlite.list_incidents(all()).await.unwrap();
    assert_eq!(pg.list_incidents(all()).await.unwrap(), incidents);
    let id = &incidents[0].id;
    assert_eq!(
        pg.timeline(id).await.unwrap(),
        sqlite.timeline(id).await.unwrap()
    );
    assert_eq!(
        pg.list_notifications(id).await.unwrap(),
        sqlite.list_notifications(id).await.unwrap()
    );
    assert_eq!(
        pg.list_users().await.unwrap(),
        sqlite.list_users().await.unwrap()
    );
    // The status page and the monitor's history too.
    let t0: jiff::Timestamp = T0.parse().unwrap();
    assert_eq!(
        pg.status_settings().await.unwrap(),
        sqlite.status_settings().await.unwrap()
    );
    assert_eq!(
        pg.list_status_incidents(10).await.unwrap(),
        sqlite.list_status_incidents(10).await.unwrap()
    );
    assert_eq!(
        pg.list_maintenance(t0).await.unwrap(),
        sqlite.list_maintenance(t0).await.unwrap()
    );
    assert_eq!(
        pg.list_subscribers(false).await.unwrap(),
        sqlite.list_subscribers(false).await.unwrap()
    );
    let components = |v: Vec<tocsin_store::ComponentView>| {
        v.into_iter()
            .map(|c| (c.component, c.facts))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        components(pg.status_components(t0).await.unwrap()),
        components(sqlite.status_components(t0).await.unwrap())
    );
    let day = jiff::SignedDuration::from_hours(24);
    assert_eq!(
        pg.monitor_series(&monitor, tocsin_store::RollupSpan::Hour, t0 - day)
            .await
            .unwrap(),
        sqlite
            .monitor_series(&monitor, tocsin_store::RollupSpan::Hour, t0 - day)
            .await
            .unwrap()
    );
    let uptime = pg.monitor_uptime(&monitor, t0).await.unwrap();
    assert_eq!(uptime.last_24h, Some(100.0));
    assert_eq!(uptime, sqlite.monitor_uptime(&monitor, t0).await.unwrap());
    // Incident numbers go on after the copied ones.
    let integration = pg.find_integration_by_key(&key).await.unwrap().unwrap();
    let o = pg
        .ingest(vec![tocsin_store::IngestItem {
            integration,
            event: tocsin_store::IngestEvent::Alert(tocsin_core::AlertEvent {
                dedup_key: "another".into(),
                action: tocsin_core::AlertAction::Trigger(Box::default()),
                group_key: None,
            }),
            received_at: jiff::Timestamp::now(),
        }])
        .await
        .unwrap();
    let new = pg
        .get_incident(o[0].incident_id.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(new.number, incidents[0].number + 1);

    // A second copy into the same (now non-empty) database is refused, changing nothing.
    let (ok, out, err) = run(args).await.unwrap();
    assert!(!ok, "{out}");
    assert!(
        err.contains("the target database is not empty")
            && err.contains("copies into an empty database only"),
        "{err}"
    );
    assert_eq!(pg.list_incidents(all()).await.unwrap().len(), 2);
}

// Multi-threaded: `cli` blocks its thread while spawned servers must answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_and_several_servers_share_one_postgres_database() {
    let Some(server) = tocsin_store::postgres::test_server_url() else {
        eprintln!("SKIPPED postgres::the_cli_and_several_servers on PostgreSQL: no server");
        return;
    };
    let scratch = tocsin_store::postgres::ScratchDatabase::create(&server)
        .await
        .unwrap();
    let url = scratch.url().to_owned();

    // Two nodes migrating at once: each migration is applied once, both succeed.
    let migrating: Vec<_> = (0..2)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || cli(&["migrate", "--database-url", &url], None))
        })
        .collect();
    for m in migrating {
        let (ok, out, err) = m.join().unwrap();
        assert!(ok, "{err}");
        assert!(out.contains("Postgres"), "{out}");
    }
    let (ok, _, err) = cli(
        &[
            "user",
            "create",
            "--email",
            "ops@example.com",
            "--name",
            "Ops",
            "--role",
            "admin",
            "--database-url",
            &url,
        ],
        Some("a good long password\n"),
    );
    assert!(ok, "{err}");
    let (ok, token, err) = cli(
        &[
            "token",
            "create",
            "--name",
            "ops",
            "--role",
            "admin",
            "--user",
            "OPS@example.com",
            "--database-url",
            &url,
        ],
        None,
    );
    assert!(ok, "{err}");
    let token = token.trim().to_owned();

    // Unlike SQLite's data folder, one database takes several servers.
    let (dir_a, dir_b) = (temp_dir("pg-node-a"), temp_dir("pg-node-b"));
    let node_a = ServeProcess::start_with(&dir_a, &["--database-url", &url]).await;
    let node_b = ServeProcess::start_with(&dir_b, &["--database-url", &url]).await;
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/api/v1/services", node_a.url))
        .bearer_auth(&token)
        .json(&json!({"name": "made on a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r: Value = client
        .get(format!("{}/api/v1/services", node_b.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["services"][0]["name"], "made on a", "{r}");
    drop((node_a, node_b));

    let to = dir_a.join("copy.db");
    let (ok, _, err) = cli(
        &[
            "backup",
            "--to",
            to.to_str().unwrap(),
            "--database-url",
            &url,
        ],
        None,
    );
    assert!(!ok && err.contains("pg_dump"), "{err}");
    for d in [dir_a, dir_b] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// Fills the status page: settings, a component of `svc`, a public incident with two updates,
/// a maintenance window on `svc` an hour from now, and an email subscriber added by an admin.
async fn status_page_content(app: &TestApp, svc: &str) {
    let r = app
        .call(
            "PUT",
            "/api/v1/status-page/settings",
            Some(&app.admin),
            Some(json!({"title": "Acme status"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .post(
            "/api/v1/status-page/components",
            json!({"name": "Database", "group": "Core", "service_id": svc}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app
        .post(
            "/api/v1/status-page/incidents",
            json!({"title": "Slow checkout", "message": "We are looking into it"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app
        .post(
            &format!(
                "/api/v1/status-page/incidents/{}/updates",
                r.body["id"].as_str().unwrap()
            ),
            json!({"stage": "identified", "message": "A slow query"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app
        .post(
            "/api/v1/maintenance-windows",
            json!({"title": "Database upgrade", "starts_at": "2026-11-25T11:00:00Z",
                   "ends_at": "2026-11-25T12:00:00Z", "service_ids": [svc]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = app
        .post(
            "/api/v1/status-page/subscribers",
            json!({"type": "email", "address": "customer@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

/// `/status.json` as the public sees it.
async fn public_summary(app: &TestApp) -> Value {
    let r = app.call("GET", "/status.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

fn component_status(summary: &Value, name: &str) -> String {
    summary["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no component {name} in {summary}"))["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

// Multi-threaded: the ping goes through the node's own HTTP server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_and_uptime_are_served_by_nodes_on_postgres() {
    let Some(a) = TestApp::spawn_on_postgres("postgres::status_page", Options::default()).await
    else {
        return;
    };
    let b = a.another_node(Options::default()).await;
    let svc = a.service("db").await;
    let key = a.integration(&svc, "events_v2").await;
    let jobs = a.service("jobs").await;
    let r = a
        .post(
            "/api/v1/monitors",
            json!({"type": "heartbeat", "name": "nightly backup", "service_id": jobs,
                   "period_seconds": 3600, "grace_seconds": 600}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let monitor = r.body["id"].as_str().unwrap().to_owned();
    let ping = r.body["ping_url"].as_str().unwrap().to_owned();
    status_page_content(&a, &svc).await;
    let r = a
        .post(
            "/api/v1/status-page/components",
            json!({"name": "Backups", "group": "Core", "monitor_id": monitor, "position": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // Written through node A, served by node B.
    let s = public_summary(&b).await;
    assert_eq!(s["page"]["title"], "Acme status", "{s}");
    assert_eq!(s["status"]["indicator"], "operational", "{s}");
    assert_eq!(component_status(&s, "Database"), "operational");
    assert_eq!(component_status(&s, "Backups"), "operational");
    assert_eq!(s["incidents"][0]["title"], "Slow checkout", "{s}");
    assert_eq!(s["incidents"][0]["updates"].as_array().unwrap().len(), 2);
    assert_eq!(s["scheduled_maintenances"][0]["active"], false, "{s}");

    // A page-worthy alert through B is a major outage on A's page.
    let r = b
        .enqueue(
            json!({"routing_key": key, "event_action": "trigger", "dedup_key": "db",
            "payload": {"summary": "db is down", "source": "h", "severity": "critical"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let s = public_summary(&a).await;
    assert_eq!(component_status(&s, "Database"), "major_outage", "{s}");
    assert_eq!(s["status"]["indicator"], "major_outage");

    // Pings through both nodes: two good runs and a failure, the heartbeat down (on B's page).
    for (node, path) in [(&a, ""), (&b, ""), (&a, "/fail")] {
        let url = ping.replace(&a.url, &node.url);
        let r = a.client.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert_eq!(
        component_status(&public_summary(&b).await, "Backups"),
        "major_outage"
    );
    for node in [&a, &b] {
        let r = node
            .get(&format!("/api/v1/monitors/{monitor}/uptime"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let up = r.body["uptime"]["24h"].as_f64().unwrap();
        assert!((up - 200.0 / 3.0).abs() < 1e-9, "{}", r.body);
        assert_eq!(r.body["uptime"]["90d"], r.body["uptime"]["24h"]);
        assert_eq!(r.body["span"], "hour");
        let series = r.body["series"].as_array().unwrap();
        assert_eq!(series.len(), 1, "{}", r.body);
        assert_eq!(
            (series[0]["checks"].as_u64(), series[0]["failures"].as_u64()),
            (Some(3), Some(1))
        );
        let r = node
            .get(&format!("/api/v1/monitors/{monitor}/uptime?span=day"))
            .await;
        assert_eq!(r.body["series"][0]["checks"], 3, "{}", r.body);
    }

    // The page itself, and the maintenance window once it is active.
    let r = b
        .client
        .get(format!("{}/status", b.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    for words in [
        "Acme status",
        "Database",
        "Backups",
        "Slow checkout",
        "Major outage",
    ] {
        assert!(html.contains(words), "{words}: {html}");
    }
    b.clock.advance(SignedDuration::from_mins(90));
    let s = public_summary(&b).await;
    assert_eq!(component_status(&s, "Database"), "under_maintenance", "{s}");
    assert_eq!(s["scheduled_maintenances"][0]["active"], true, "{s}");
}

/// The folder of PostgreSQL's client programs (`pg_dump`, `pg_restore`), as `cargo xtask pg`
/// finds the server's; `None`: on the `PATH`.
fn pg_bin(program: &str) -> std::path::PathBuf {
    ["17", "16", "15"]
        .iter()
        .map(|v| std::path::PathBuf::from(format!("/usr/lib/postgresql/{v}/bin/{program}")))
        .find(|p| p.is_file())
        .unwrap_or_else(|| program.into())
}

fn run_pg_tool(program: &str, args: &[&str]) {
    let out = std::process::Command::new(pg_bin(program))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program} (PostgreSQL's client programs): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// docs/postgresql.md's backup and restore, step by step: `pg_dump -Fc` of a live database,
/// `pg_restore` into a fresh one, `tocsin serve` on it. Everything is there and paging goes on:
/// the restored node takes the next escalation step of a triggered incident.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pg_dump_restores_into_a_fresh_database_that_pages() {
    let Some(mut app) =
        TestApp::spawn_on_postgres("postgres::backup_restore", Options::default()).await
    else {
        return;
    };
    let server = tocsin_store::postgres::test_server_url().unwrap();
    let (rx, base) = Receiver::start().await;
    // Only pages count: the schedule's daily handoff at 08:00 UTC also tells alice or bob, on
    // the real clock, that a shift starts.
    let pages = |who: &str| {
        rx.got(who)
            .into_iter()
            .filter(|(_, body)| {
                serde_json::from_slice::<Value>(body).is_ok_and(|b| b["event"] == "incident.page")
            })
            .count()
    };
    let alice = person(&app, "alice", &base).await;
    let bob = person(&app, "bob", &base).await;
    let (svc, key) = paged_service(&app, &alice, &bob).await;
    let r = app
        .post(
            "/api/v1/schedules",
            json!({"name": "Primary", "time_zone": "Europe/Paris", "layers": [{
                "name": "primary", "start": "2026-11-23T08:00:00Z",
                "rotation": {"type": "daily", "length": 1}, "users": [alice, bob]}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let schedule = r.body["id"].as_str().unwrap().to_owned();
    status_page_content(&app, &svc).await;
    trigger(&app, &key).await;
    app.escalate().await;
    app.dispatch().await;
    assert_eq!(pages("alice"), 1);
    let incident = app.incidents(&svc).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The backup, taken while the node runs.
    let dir = temp_dir("pg-backup");
    let dump = dir.join("tocsin.dump");
    let source = app.postgres_url().unwrap().to_owned();
    run_pg_tool(
        "pg_dump",
        &["--format=custom", "--file", dump.to_str().unwrap(), &source],
    );
    app.stop().await;

    // The restore, into a new empty database.
    let restored = tocsin_store::postgres::ScratchDatabase::create(&server)
        .await
        .unwrap();
    run_pg_tool(
        "pg_restore",
        &[
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--dbname",
            restored.url(),
            dump.to_str().unwrap(),
        ],
    );
    let (ok, out, err) = {
        let url = restored.url().to_owned();
        tokio::task::spawn_blocking(move || cli(&["migrate", "--database-url", &url], None))
            .await
            .unwrap()
    };
    assert!(ok, "{out}\n{err}");

    // A node on the restored database: the same data, through the API token of before.
    let node = ServeProcess::start_with(&dir, &["--database-url", restored.url()]).await;
    let client = reqwest::Client::new();
    let get = async |path: &str| -> Value {
        let r = client
            .get(format!("{}{path}", node.url))
            .bearer_auth(&app.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.json().await.unwrap()
    };
    assert_eq!(get("/api/v1/services").await["services"][0]["name"], "db");
    assert_eq!(
        get("/api/v1/users").await["users"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        get(&format!("/api/v1/schedules/{schedule}")).await["name"],
        "Primary"
    );
    let i = get(&format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(
        (i["number"].as_i64(), i["status"].as_str()),
        (Some(1), Some("triggered"))
    );
    let s: Value = client
        .get(format!("{}/status.json", node.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["page"]["title"], "Acme status", "{s}");
    assert_eq!(s["incidents"][0]["title"], "Slow checkout", "{s}");

    // Paging goes on: the incident's second level was due 5 minutes after it opened (this
    // node runs on the real clock, long after T0), so the restored node pages bob, once.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while pages("bob") == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the restored node did not page the next level"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(pages("bob"), 1, "bob is paged once");
    assert_eq!(pages("alice"), 1, "alice is not paged again");
    let kinds: Vec<String> =
        get(&format!("/api/v1/incidents/{incident}/timeline")).await["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .collect();
    assert_eq!(count(&kinds, "escalated"), 2, "{kinds:?}");
    // New incidents go on numbering after the restored ones.
    let r = client
        .post(format!("{}/v2/enqueue", node.url))
        .json(
            &json!({"routing_key": key, "event_action": "trigger", "dedup_key": "other",
            "payload": {"summary": "disk full", "source": "h", "severity": "critical"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let list = get(&format!("/api/v1/incidents?service_id={svc}")).await;
        if let Some(n) = list["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["dedup_key"] == "other")
        {
            assert_eq!(n["number"], 2, "{n}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{list}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    drop(node);
    let _ = std::fs::remove_dir_all(dir);
}

/// Concurrent senders on PostgreSQL, where several ingest batches commit at once: every event is
/// stored once, a dedup key makes one incident however its repeats fell into batches, a group's
/// alerts land in one incident with every alert counted, and incident numbers stay distinct.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_on_postgres_each_land_once() {
    let Some(app) =
        TestApp::spawn_on_postgres("postgres::concurrent_senders", Options::default()).await
    else {
        return;
    };
    let svc = app.service("busy").await;
    let key = app.integration(&svc, "events_v2").await;
    let am = app.integration(&svc, "alertmanager").await;
    let client = reqwest::Client::new();
    let mut tasks = tokio::task::JoinSet::new();
    // 16 senders: 12 send 20 triggers each over 30 dedup keys (every key is repeated by several
    // senders), 4 send Alertmanager groups of 8 alerts into one group.
    for sender in 0..16usize {
        let (client, url) = (client.clone(), app.url.clone());
        let (key, am) = (key.clone(), am.clone());
        tasks.spawn(async move {
            for n in 0..20usize {
                let r = if sender < 12 {
                    client
                        .post(format!("{url}/v2/enqueue"))
                        .json(&json!({"routing_key": key, "event_action": "trigger",
                            "dedup_key": format!("k{}", (sender * 7 + n) % 30),
                            "payload": {"summary": "busy", "source": "h", "severity": "error"}}))
                        .send()
                        .await
                        .unwrap()
                } else {
                    let alerts: Vec<Value> = (0..8)
                        .map(|a| {
                            json!({"status": "firing",
                                "labels": {"alertname": "Busy", "instance": format!("{sender}-{n}-{a}")},
                                "annotations": {"summary": "busy group"},
                                "startsAt": "2026-11-26T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                                "fingerprint": format!("f{sender}-{n}-{a}")})
                        })
                        .collect();
                    client
                        .post(format!("{url}/api/v1/integrations/alertmanager/{am}"))
                        .json(&json!({"version": "4", "groupKey": "{}:{alertname=\"Busy\"}",
                            "status": "firing", "receiver": "tocsin", "groupLabels": {},
                            "commonLabels": {}, "commonAnnotations": {}, "externalURL": "",
                            "alerts": alerts}))
                        .send()
                        .await
                        .unwrap()
                };
                assert!(r.status().is_success(), "{}", r.status());
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let incidents = app.incidents(&svc).await;
    assert_eq!(
        incidents.len(),
        31,
        "one incident per dedup key, one for the group"
    );
    let mut numbers: Vec<i64> = incidents
        .iter()
        .map(|i| i["number"].as_i64().unwrap())
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), 31, "distinct incident numbers");
    let group: Vec<&Value> = incidents
        .iter()
        .filter(|i| i["alert_count"].as_i64() != Some(1))
        .collect();
    assert_eq!(group.len(), 1, "the other incidents have one alert each");
    assert_eq!(
        group[0]["alert_count"],
        4 * 20 * 8,
        "every grouped alert counted"
    );
    // Every trigger of a dedup key after its first is a repeat of the open alert.
    let mut occurrences = 0;
    for inc in incidents.iter().filter(|i| i["alert_count"] == 1) {
        let id = inc["id"].as_str().unwrap();
        let alerts = app
            .get(&format!("/api/v1/incidents/{id}/alerts"))
            .await
            .body;
        occurrences += alerts["alerts"][0]["occurrences"].as_i64().unwrap();
    }
    assert_eq!(occurrences, 12 * 20, "every trigger stored once");
}
