//! Real peers, not recordings: Debian's `prometheus-alertmanager` delivers its webhook and its
//! PagerDuty integration (`pagerduty_configs` with `url:` pointing at Tocsin) to a running
//! Tocsin. `cargo xtask test` installs the package when it is missing.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";
/// How long Alertmanager may take to deliver (group_wait 0s, group_interval 1s).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + DELIVERY_TIMEOUT;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn real_alertmanager_pages_through_its_webhook_and_its_pagerduty_integration() {
    assert!(
        std::path::Path::new(ALERTMANAGER).exists(),
        "{ALERTMANAGER} is missing: install Debian's prometheus-alertmanager (cargo xtask test does it as root)"
    );
    // Tocsin with the system clock's notion of "now" does not matter here: Alertmanager sends
    // what it sends; the manual clock only stamps receipt.
    let app = TestApp::spawn().await;
    let svc = app.service("prometheus").await;
    let am_key = app.integration(&svc, "alertmanager").await;
    let pd_key = app.integration(&svc, "events_v2").await;

    let dir = temp_dir("alertmanager");
    let port = free_port();
    let config = format!(
        r#"route:
  receiver: tocsin-webhook
  group_by: ['alertname']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['via="pagerduty"']
      receiver: tocsin-pagerduty
receivers:
  - name: tocsin-webhook
    webhook_configs:
      - url: {url}/api/v1/integrations/alertmanager/{am_key}
        send_resolved: true
  - name: tocsin-pagerduty
    pagerduty_configs:
      - routing_key: {pd_key}
        url: {url}/v2/enqueue
        send_resolved: true
"#,
        url = app.url
    );
    std::fs::write(dir.join("alertmanager.yml"), config).unwrap();
    let _am = Child(
        std::process::Command::new(ALERTMANAGER)
            .arg(format!(
                "--config.file={}",
                dir.join("alertmanager.yml").display()
            ))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start alertmanager"),
    );
    let am = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_for("alertmanager to start", || async {
        http.get(format!("{am}/-/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;

    let alerts = |ends: Option<String>| {
        let mut v = json!([
            {"labels": {"alertname": "DiskFull", "instance": "db-1", "severity": "critical"},
             "annotations": {"summary": "disk full on db-1"}},
            {"labels": {"alertname": "DiskFull", "instance": "db-2", "severity": "warning"},
             "annotations": {"summary": "disk almost full on db-2"}},
            {"labels": {"alertname": "ApiDown", "via": "pagerduty", "severity": "critical"},
             "annotations": {"summary": "api is down"}}
        ]);
        if let Some(e) = ends {
            for a in v.as_array_mut().unwrap() {
                a["endsAt"] = json!(e);
            }
        }
        v
    };
    let r = http
        .post(format!("{am}/api/v2/alerts"))
        .json(&alerts(None))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    wait_for("both incidents", || async {
        let list = app.incidents(&svc).await;
        list.len() == 2 && list.iter().any(|i| i["alert_count"] == 2)
    })
    .await;
    let list = app.incidents(&svc).await;
    let webhook = list.iter().find(|i| i["alert_count"] == 2).unwrap();
    assert_eq!(webhook["severity"], "critical");
    assert_eq!(webhook["status"], "triggered");
    let pd = list.iter().find(|i| i["alert_count"] == 1).unwrap();
    assert_eq!(
        pd["dedup_key"].as_str().unwrap().len(),
        64,
        "Alertmanager's SHA-256 group key"
    );
    assert!(pd["title"].as_str().unwrap().contains("ApiDown"), "{pd}");

    // Alertmanager repeats and resolves: ending the alerts resolves both incidents.
    let past = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1);
    let r = http
        .post(format!("{am}/api/v2/alerts"))
        .json(&alerts(Some(past.to_string())))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    wait_for("both incidents to resolve", || async {
        app.incidents(&svc)
            .await
            .iter()
            .all(|i| i["status"] == "resolved")
    })
    .await;
    assert_eq!(
        app.incidents(&svc).await.len(),
        2,
        "repeats never opened new incidents"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
