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
