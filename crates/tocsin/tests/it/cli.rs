//! The command line, run as the real binary against the same data folder as a running server.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

// Multi-threaded: `cli` blocks its thread while the server in this process must answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_commands_share_the_data_folder_with_a_running_server() {
    let app = TestApp::spawn().await;
    let dir = app.dir.to_str().unwrap().to_owned();

    let (ok, out, err) = cli(
        &[
            "user",
            "create",
            "--email",
            "ops@example.com",
            "--name",
            "Ops",
            "--role",
            "admin",
            "--time-zone",
            "Asia/Kolkata",
            "--data-dir",
            &dir,
        ],
        Some("a good long password\n"),
    );
    assert!(ok, "{err}");
    assert!(!out.trim().is_empty());
    let (ok, _, err) = cli(
        &[
            "user",
            "create",
            "--email",
            "x@example.com",
            "--name",
            "X",
            "--role",
            "viewer",
            "--data-dir",
            &dir,
        ],
        Some(""),
    );
    assert!(!ok);
    assert!(err.contains("no password on standard input"), "{err}");
    let (ok, _, err) = cli(
        &[
            "user",
            "create",
            "--email",
            "y@example.com",
            "--name",
            "Y",
            "--role",
            "viewer",
            "--data-dir",
            &dir,
        ],
        Some("short\n"),
    );
    assert!(!ok && err.contains("at least 10"), "{err}");

    // Global flags before or after the subcommand.
    let (ok, token, err) = cli(
        &[
            "--data-dir",
            &dir,
            "token",
            "create",
            "--name",
            "ops",
            "--role",
            "responder",
            "--user",
            "ops@example.com",
        ],
        None,
    );
    assert!(ok, "{err}");
    let token = token.trim().to_owned();
    assert_eq!(token.lines().count(), 1);
    assert!(token.starts_with("tcn_"));
    let r = app
        .call("GET", "/api/v1/incidents", Some(&token), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let (ok, _, err) = cli(
        &[
            "token",
            "create",
            "--name",
            "x",
            "--role",
            "king",
            "--data-dir",
            &dir,
        ],
        None,
    );
    assert!(!ok && err.contains("admin, responder, viewer"), "{err}");
    let (ok, _, err) = cli(
        &[
            "token",
            "create",
            "--name",
            "x",
            "--role",
            "admin",
            "--user",
            "nobody@example.com",
            "--data-dir",
            &dir,
        ],
        None,
    );
    assert!(!ok && err.contains("no user with email"), "{err}");

    // Events through the CLI, like pd-send.
    let svc = app.service("cli").await;
    let key = app.integration(&svc, "events_v2").await;
    let (ok, out, err) = cli(
        &[
            "event",
            "trigger",
            "--routing-key",
            &key,
            "--summary",
            "disk full on db-1",
            "--dedup-key",
            "disk-db-1",
            "--severity",
            "critical",
            "--url",
            &app.url,
        ],
        None,
    );
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "disk-db-1");
    let incidents = app.incidents(&svc).await;
    assert_eq!(incidents[0]["title"], "disk full on db-1");
    assert_eq!(incidents[0]["severity"], "critical");
    let (ok, _, err) = cli(
        &[
            "event",
            "acknowledge",
            "--routing-key",
            &key,
            "--dedup-key",
            "disk-db-1",
            "--url",
            &app.url,
        ],
        None,
    );
    assert!(ok, "{err}");
    assert_eq!(app.incidents(&svc).await[0]["status"], "acknowledged");
    let r = app
        .call(
            "GET",
            &format!(
                "/api/v1/incidents/{}/timeline",
                incidents[0]["id"].as_str().unwrap()
            ),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(r.body["entries"][1]["kind"], "acknowledged");
    let (ok, _, err) = cli(
        &["event", "resolve", "--routing-key", &key, "--url", &app.url],
        None,
    );
    assert!(!ok && err.contains("--dedup-key is required"), "{err}");
    let (ok, _, err) = cli(
        &[
            "event",
            "trigger",
            "--routing-key",
            "0123456789abcdef0123456789abcdef",
            "--summary",
            "x",
            "--url",
            &app.url,
        ],
        None,
    );
    assert!(!ok && err.contains("Invalid routing key"), "{err}");

    // A consistent online backup while the server runs.
    let backup = app.dir.join("backup.db");
    let (ok, _, err) = cli(
        &[
            "backup",
            "--to",
            backup.to_str().unwrap(),
            "--data-dir",
            &dir,
        ],
        None,
    );
    assert!(ok, "{err}");
    let restored = temp_dir("restore");
    std::fs::copy(&backup, restored.join("tocsin.db")).unwrap();
    let (ok, _, err) = cli(
        &[
            "backup",
            "--to",
            backup.to_str().unwrap(),
            "--data-dir",
            &dir,
        ],
        None,
    );
    assert!(!ok && err.contains("already exists"), "{err}");
    let mut copy = ServeProcess::start(&restored).await;
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/incidents", copy.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["incidents"][0]["dedup_key"], "disk-db-1");
    copy.kill9();
    let _ = std::fs::remove_dir_all(&restored);

    // Only one server per SQLite data folder.
    let (ok, _, err) = cli(
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", &dir],
        None,
    );
    assert!(!ok && err.contains("already using"), "{err}");
}

#[tokio::test]
async fn serve_prints_the_url_and_a_setup_link_and_migrate_is_idempotent() {
    let dir = temp_dir("serve");
    let d = dir.to_str().unwrap().to_owned();
    let (ok, out, err) = cli(&["migrate", "--data-dir", &d], None);
    assert!(ok && out.contains("up to date"), "{err}");
    let (ok, _, err) = cli(&["migrate", "--data-dir", &d], None);
    assert!(ok, "{err}");
    let server = ServeProcess::start(&dir).await;
    let mut lines = Vec::new();
    while let Ok(l) = server
        .stdout
        .recv_timeout(std::time::Duration::from_secs(5))
    {
        lines.push(l);
        if lines.iter().any(|l| l.contains("/setup/")) {
            break;
        }
    }
    assert!(lines[0].contains(&server.url), "{lines:?}");
    let link = lines
        .iter()
        .find(|l| l.contains("/setup/"))
        .expect("setup link printed")
        .trim()
        .to_owned();
    let r = reqwest::get(&link).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // SIGTERM: a graceful stop that leaves one self-contained database file.
    let mut server = server;
    let pid = server.child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(s) = server.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve did not stop on SIGTERM"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status}");
    let wal = dir.join("tocsin.db-wal");
    assert_eq!(
        std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0),
        0,
        "WAL folded in on shutdown"
    );
    drop(server);

    let (ok, _, err) = cli(
        &[
            "serve",
            "--data-dir",
            &d,
            "--database-url",
            "postgres://u@127.0.0.1/db",
        ],
        None,
    );
    assert!(!ok && err.contains("PostgreSQL"), "{err}");
    let (ok, _, err) = cli(&["serve", "--data-dir", &d, "--listen", "nowhere"], None);
    assert!(!ok && err.contains("--listen"), "{err}");
    let cfg = dir.join("tocsin.toml");
    std::fs::write(&cfg, "listen = 3\n").unwrap();
    let (ok, _, err) = cli(&["serve", "--config", cfg.to_str().unwrap()], None);
    assert!(!ok && err.contains("tocsin.toml"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = json!({});
}

/// `tocsin monitor …` against a running server: create, list, show, results, pause, resume and
/// delete through the REST API, with the API's errors in its own words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_commands_manage_monitors_through_the_api() {
    use tocsin_engine::Clock as _;
    let app = TestApp::spawn().await;
    let svc = app.service("backups").await;
    let viewer = app.token("viewer").await;
    let url = app.url.clone();
    let admin = app.admin.clone();
    let monitor = move |token: &str, args: &[&str]| {
        let mut all = vec!["monitor", "--url", &url, "--token", token];
        all.extend_from_slice(args);
        cli(&all, None)
    };

    let (ok, out, err) = monitor(
        &admin,
        &[
            "create",
            "--type",
            "heartbeat",
            "--name",
            "nightly backup",
            "--service",
            &svc,
            "--period",
            "3600",
            "--grace",
            "600",
        ],
    );
    assert!(ok, "{err}");
    let mut lines = out.lines();
    let id = lines.next().unwrap().trim().to_owned();
    let ping_url = lines
        .next()
        .unwrap()
        .strip_prefix("ping URL: ")
        .unwrap()
        .to_owned();
    let (ok, out, err) = monitor(
        &admin,
        &[
            "create",
            "--type",
            "http",
            "--name",
            "API health",
            "--service",
            &svc,
            "--target",
            "http://127.0.0.1:9/health",
            "--interval",
            "30",
            "--option",
            "expected_status=[200,204]",
            "--option",
            "body_contains=ok",
            "--failures-before-alert",
            "1",
        ],
    );
    assert!(ok, "{err}");
    let http_id = out.trim().to_owned();

    // Bad input: the API's field and reason; a viewer may not create.
    let (ok, _, err) = monitor(
        &admin,
        &[
            "create",
            "--type",
            "http",
            "--name",
            "x",
            "--service",
            &svc,
            "--target",
            "ftp://x",
        ],
    );
    assert!(
        !ok && err.contains("400") && err.contains("target"),
        "{err}"
    );
    let (ok, _, err) = monitor(
        &viewer,
        &[
            "create",
            "--type",
            "heartbeat",
            "--name",
            "x",
            "--service",
            &svc,
        ],
    );
    assert!(!ok && err.contains("403"), "{err}");
    let (ok, _, err) = cli(&["monitor", "--url", &app.url, "list"], None);
    assert!(
        !ok && err.contains("401") && err.contains("--token"),
        "{err}"
    );

    // A viewer lists and reads; the ping shows among the results.
    let (ok, out, err) = monitor(&viewer, &["list"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("ID"), "{out}");
    assert!(
        out.contains("nightly backup") && out.contains("API health"),
        "{out}"
    );
    let (ok, out, _) = monitor(&viewer, &["list", "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["monitors"].as_array().unwrap().len(), 2);
    let r = app
        .client
        .post(&ping_url)
        .body("backup done")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (ok, out, err) = monitor(&viewer, &["results", &id]);
    assert!(ok, "{err}");
    assert!(out.contains("success"), "{out}");
    let (ok, out, err) = monitor(&viewer, &["show", &http_id]);
    assert!(ok, "{err}");
    for want in [
        "name:",
        "API health",
        "interval_seconds:",
        "30",
        "body_contains:",
        "uptime:",
    ] {
        assert!(out.contains(want), "{want} in {out}");
    }

    // Edit (an admin's right): only what is given changes.
    let (ok, out, err) = monitor(
        &admin,
        &[
            "edit",
            &http_id,
            "--name",
            "API health v2",
            "--interval",
            "60",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("API health v2"), "{out}");
    let (ok, out, _) = monitor(&viewer, &["show", &http_id, "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["monitor"]["interval_seconds"], 60);
    assert_eq!(v["monitor"]["config"]["body_contains"], "ok");
    let (ok, _, err) = monitor(&admin, &["edit", &id, "--interval", "60"]);
    assert!(!ok && err.contains("interval_seconds"), "{err}");
    let (ok, _, err) = monitor(&admin, &["edit", &id]);
    assert!(!ok && err.contains("nothing to change"), "{err}");
    // Pause and resume (a responder's right); delete (an admin's).
    let responder = app.token("responder").await;
    let (ok, out, err) = monitor(&responder, &["pause", &http_id]);
    assert!(ok, "{err}");
    assert!(out.contains("paused"), "{out}");
    let (ok, out, err) = monitor(&responder, &["resume", &http_id]);
    assert!(ok, "{err}");
    assert!(out.contains("next check"), "{out}");
    // Its check fails (nothing listens on port 9): one failure opens its incident, which
    // deleting the monitor resolves.
    let m = app.get(&format!("/api/v1/monitors/{http_id}")).await.body;
    let due: jiff::Timestamp = m["due_at"].as_str().unwrap().parse().unwrap();
    app.clock.set(due.max(app.clock.now()));
    app.check_monitors().await;
    assert_eq!(app.incidents(&svc).await[0]["status"], "triggered");
    let (ok, _, err) = monitor(&responder, &["delete", &http_id]);
    assert!(!ok && err.contains("403"), "{err}");
    let (ok, out, err) = monitor(&admin, &["delete", &http_id]);
    assert!(ok && out.contains("deleted"), "{err}");
    let (ok, _, err) = monitor(&viewer, &["show", &http_id]);
    assert!(!ok && err.contains("404"), "{err}");
    let (ok, out, _) = monitor(&viewer, &["list"]);
    assert!(ok && !out.contains("API health v2"), "{out}");
    assert_eq!(app.incidents(&svc).await[0]["status"], "resolved");
}
