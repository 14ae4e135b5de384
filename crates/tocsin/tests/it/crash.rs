//! Crash safety with the real binary: SIGKILL while clients send events (every event that got
//! a 2xx is stored exactly once), and SIGKILL between two escalation levels (the next level
//! fires once after the restart, at its time).

use crate::support::*;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Concurrent senders.
const CLIENTS: usize = 8;
/// How long the clients send before the kill.
const SEND_BEFORE_KILL: Duration = Duration::from_millis(1200);
/// Kill-and-restart rounds.
const ROUNDS: usize = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_loses_no_accepted_event_and_duplicates_none() {
    crypto();
    let dir = temp_dir("crash");
    let d = dir.to_str().unwrap().to_owned();
    let mut server = ServeProcess::start(&dir).await;
    let (ok, token, err) = cli(
        &[
            "token",
            "create",
            "--name",
            "crash",
            "--role",
            "admin",
            "--data-dir",
            &d,
        ],
        None,
    );
    assert!(ok, "{err}");
    let token = token.trim().to_owned();
    let http = reqwest::Client::new();
    let svc: serde_json::Value = http
        .post(format!("{}/api/v1/services", server.url))
        .bearer_auth(&token)
        .json(&json!({"name": "crash"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let svc = svc["id"].as_str().unwrap().to_owned();
    let integ: serde_json::Value = http
        .post(format!("{}/api/v1/services/{svc}/integrations", server.url))
        .bearer_auth(&token)
        .json(&json!({"type": "events_v2", "rate_limit_per_second": 0}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = integ["key"].as_str().unwrap().to_owned();

    let accepted: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut sent_total = 0usize;
    for round in 0..ROUNDS {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let (url, key, accepted, stop) = (
                server.url.clone(),
                key.clone(),
                accepted.clone(),
                stop.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
                let mut n = 0usize;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let dedup = format!("r{round}-c{c}-{n}");
                    n += 1;
                    let body = json!({"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
                        "payload": {"summary": "crash test", "source": "t", "severity": "error"}});
                    match http.post(format!("{url}/v2/enqueue")).json(&body).send().await {
                        Ok(r) if r.status() == reqwest::StatusCode::ACCEPTED => accepted.lock().unwrap().push(dedup),
                        Ok(r) => panic!("unexpected status {}", r.status()),
                        // The server died mid-request: this event may or may not be stored.
                        Err(_) => break,
                    }
                }
                n
            }));
        }
        tokio::time::sleep(SEND_BEFORE_KILL).await;
        server.kill9();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in tasks {
            sent_total += t.await.unwrap();
        }
        server = ServeProcess::start(&dir).await;
    }

    // Every incident of the service, by dedup key.
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut cursor = String::new();
    loop {
        let page: serde_json::Value = http
            .get(format!(
                "{}/api/v1/incidents?service_id={svc}&limit=100&cursor={cursor}",
                server.url
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for i in page["incidents"].as_array().unwrap() {
            *counts
                .entry(i["dedup_key"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    let accepted = accepted.lock().unwrap().clone();
    assert!(
        accepted.len() > 100,
        "the clients got events in before the kill ({} accepted)",
        accepted.len()
    );
    for k in &accepted {
        assert_eq!(
            counts.get(k),
            Some(&1),
            "accepted event {k} stored exactly once"
        );
    }
    assert!(counts.values().all(|&n| n == 1), "no event stored twice");
    assert!(
        counts.len() <= sent_total,
        "nothing stored that was not sent"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Escalation level delay in this test: the shortest a policy allows.
const LEVEL_DELAY: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_between_levels_fires_the_next_level_once_after_restart() {
    crypto();
    let (rx, hooks) = crate::delivery::Receiver::start().await;
    let dir = temp_dir("crash-escalation");
    let d = dir.to_str().unwrap().to_owned();
    let mut server = ServeProcess::start(&dir).await;
    let (ok, token, err) = cli(
        &[
            "token",
            "create",
            "--name",
            "t",
            "--role",
            "admin",
            "--data-dir",
            &d,
        ],
        None,
    );
    assert!(ok, "{err}");
    let token = token.trim().to_owned();
    let http = reqwest::Client::new();
    let api = |path: &str, body: serde_json::Value| {
        let (http, url, token) = (http.clone(), server.url.clone(), token.clone());
        let path = path.to_owned();
        async move {
            let r = http
                .post(format!("{url}{path}"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{path}: {}", r.status());
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    let mut ids = Vec::new();
    for name in ["alice", "bob"] {
        let u = api(
            "/api/v1/users",
            json!({"name": name, "email": format!("{name}@example.com")}),
        )
        .await;
        let id = u["id"].as_str().unwrap().to_owned();
        api(
            &format!("/api/v1/users/{id}/contact-methods"),
            json!({"type": "webhook", "address": format!("{hooks}/{name}")}),
        )
        .await;
        ids.push(id);
    }
    let policy = api(
        "/api/v1/escalation-policies",
        json!({"name": "p", "levels": [
            {"delay_minutes": 1, "targets": [{"type": "user", "id": ids[0]}]},
            {"delay_minutes": 1, "targets": [{"type": "user", "id": ids[1]}]}
        ]}),
    )
    .await;
    let svc = api(
        "/api/v1/services",
        json!({"name": "s", "escalation_policy_id": policy["id"]}),
    )
    .await;
    let integ = api(
        &format!(
            "/api/v1/services/{}/integrations",
            svc["id"].as_str().unwrap()
        ),
        json!({"type": "events_v2"}),
    )
    .await;
    let r = http
        .post(format!("{}/v2/enqueue", server.url))
        .json(
            &json!({"routing_key": integ["key"], "event_action": "trigger", "dedup_key": "db",
            "payload": {"summary": "db down", "source": "h", "severity": "critical"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
    let triggered = std::time::Instant::now();
    let deadline = triggered + Duration::from_secs(10);
    while rx.got("alice").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "level 1 paged within seconds"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Between the levels: kill -9, and come back.
    server.kill9();
    let server = ServeProcess::start(&dir).await;
    let deadline = triggered + LEVEL_DELAY + Duration::from_secs(20);
    while rx.got("bob").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "level 2 paged after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        triggered.elapsed() >= LEVEL_DELAY - Duration::from_secs(1),
        "not before its delay"
    );
    // Give a duplicate every chance to show up.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let keys = |who: &str| {
        let mut k: Vec<String> = rx
            .got(who)
            .iter()
            .map(|(h, _)| h["idempotency-key"].to_str().unwrap().to_owned())
            .collect();
        k.dedup();
        k
    };
    assert_eq!(keys("bob").len(), 1, "level 2 fired once");
    assert_eq!(keys("alice").len(), 1, "level 1 was not repeated");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
