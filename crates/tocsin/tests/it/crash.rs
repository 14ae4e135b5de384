//! Crash safety: SIGKILL the real server while clients send events, restart it, and check that
//! every event that got a 2xx is stored exactly once.

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
