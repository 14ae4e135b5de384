//! The monitors pages through HTTP, as a browser without scripts uses them: the list with
//! uptime, a monitor's page with its SVG charts and results, a heartbeat's ping log, pause and
//! resume (responders), the create form (admins), and the role and CSRF refusals.

use crate::support::*;
use crate::ui::{PASSWORD, Visitor, person};
use reqwest::StatusCode;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tocsin_engine::Clock as _;

/// An HTTP target on 127.0.0.1 whose `/health` answers 200, or 503 while `failing` is set.
pub(crate) async fn target(failing: Arc<AtomicBool>) -> String {
    let app = axum::Router::new().route(
        "/health",
        axum::routing::get(move || {
            let failing = failing.clone();
            async move {
                if failing.load(Ordering::SeqCst) {
                    (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down")
                } else {
                    (axum::http::StatusCode::OK, "ok")
                }
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    format!("http://{addr}")
}

/// Moves the clock to the monitor's next check and runs it.
pub(crate) async fn check_at_due(app: &TestApp, id: &str) {
    let m = app.get(&format!("/api/v1/monitors/{id}")).await.body;
    let due: jiff::Timestamp = m["due_at"].as_str().unwrap().parse().unwrap();
    if due > app.clock.now() {
        app.clock.set(due);
    }
    app.check_monitors().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitors_are_listed_charted_and_paused_from_the_ui() {
    let app = TestApp::spawn().await;
    let svc = app.service("checkout").await;
    person(&app, "Ada", "admin").await;
    person(&app, "Rob", "responder").await;
    person(&app, "Vic", "viewer").await;
    let failing = Arc::new(AtomicBool::new(false));
    let base = target(failing.clone()).await;
    let r = app
        .post(
            "/api/v1/monitors",
            json!({"type": "http", "name": "Checkout health", "service_id": svc,
                   "target": format!("{base}/health"), "interval_seconds": 60,
                   "retry_interval_seconds": 60}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    check_at_due(&app, &id).await;
    failing.store(true, Ordering::SeqCst);
    app.clock.advance(jiff::SignedDuration::from_secs(60));
    check_at_due(&app, &id).await;
    let r = app
        .post(
            "/api/v1/monitors",
            json!({"type": "heartbeat", "name": "Nightly export", "service_id": svc,
                   "period_seconds": 86400, "grace_seconds": 3600}),
        )
        .await;
    let hb = r.body["id"].as_str().unwrap().to_owned();
    let ping = r.body["ping_url"].as_str().unwrap().to_owned();
    let sent = app
        .client
        .post(&ping)
        .body("exported 1200 rows")
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::OK);

    // Signed out: sent to sign in.
    let mut anon = Visitor::new(&app);
    let page = anon.get("/monitors").await;
    assert!(page.status.is_redirection(), "{}", page.status);

    // The list: state, last result and uptime; the navigation marks it.
    let mut vic = Visitor::new(&app);
    vic.sign_in("vic@example.com", PASSWORD).await;
    let list = vic.get("/monitors").await;
    assert_eq!(list.status, StatusCode::OK);
    for want in [
        "href=\"/monitors\" aria-current=\"page\">Monitors",
        &format!("href=\"/monitors/{id}\">Checkout health</a>"),
        "Nightly export",
        "HTTP 503",
        ">50.00%</td>",
        "<abbr title=\"uptime over the last 90 days\">90 d</abbr>",
    ] {
        assert!(list.text.contains(want), "{want} in {}", list.text);
    }
    assert!(
        !list.text.contains("href=\"/monitors/new\""),
        "viewers make no monitors"
    );

    // A monitor's page: facts, two accessible charts that scale to a phone, results.
    let page = vic.get(&format!("/monitors/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    for want in [
        "<svg class=\"chart\" id=\"chart-day\" viewBox=\"0 0 400 180\" width=\"100%\" role=\"img\" aria-labelledby=\"chart-day-title chart-day-desc\"",
        "<title id=\"chart-day-title\">Response time, last 24 hours</title>",
        "<desc id=\"chart-day-desc\">2 checks, 1 failed; average response",
        "id=\"chart-week\"",
        "1 of 2 checks failed",
        "Checked every</dt><dd>1 min",
        "opens after 3 failed checks in a row",
        "HTTP 503",
        "<span class=\"badge st-triggered\">failed</span>",
    ] {
        assert!(page.text.contains(want), "{want} in {}", page.text);
    }
    assert!(
        !page.text.contains("/pause\""),
        "a viewer sees no pause button"
    );
    assert!(!page.text.contains("<script>"), "no inline script");
    let vic_csrf = vic.get("/monitors").await.csrf();
    let refused = vic
        .post(&format!("/monitors/{id}/pause"), &[("csrf", &vic_csrf)])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // The heartbeat's page lists its pings with their logs, and no chart.
    let page = vic.get(&format!("/monitors/{hb}")).await;
    assert!(page.text.contains(">Pings</h2>"), "{}", page.text);
    assert!(
        page.text.contains("<pre>exported 1200 rows</pre>"),
        "{}",
        page.text
    );
    assert!(!page.text.contains("<svg class=\"chart\""));

    // A responder pauses and resumes; without the CSRF token nothing happens.
    let mut rob = Visitor::new(&app);
    rob.sign_in("rob@example.com", PASSWORD).await;
    let page = rob.get(&format!("/monitors/{id}")).await;
    assert!(
        page.text
            .contains(&format!("action=\"/monitors/{id}/pause\""))
    );
    let csrf = page.csrf();
    let refused = rob.post(&format!("/monitors/{id}/pause"), &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    assert_ne!(
        app.get(&format!("/api/v1/monitors/{id}")).await.body["status"],
        "paused"
    );
    let done = rob
        .post(&format!("/monitors/{id}/pause"), &[("csrf", &csrf)])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let page = rob.get(done.location.as_deref().unwrap()).await;
    assert!(page.text.contains("Paused: no checks"), "{}", page.text);
    assert!(
        page.text
            .contains("<span class=\"badge plain\">paused</span>")
    );
    assert!(
        page.text
            .contains(&format!("action=\"/monitors/{id}/resume\""))
    );
    let done = rob
        .post(&format!("/monitors/{id}/resume"), &[("csrf", &csrf)])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_ne!(
        app.get(&format!("/api/v1/monitors/{id}")).await.body["status"],
        "paused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_create_monitors_from_a_form_with_the_apis_rules() {
    let app = TestApp::spawn().await;
    let svc = app.service("checkout").await;
    person(&app, "Ada", "admin").await;
    person(&app, "Rob", "responder").await;
    let mut rob = Visitor::new(&app);
    rob.sign_in("rob@example.com", PASSWORD).await;
    assert_eq!(rob.get("/monitors/new").await.status, StatusCode::FORBIDDEN);

    let mut ada = Visitor::new(&app);
    ada.sign_in("ada@example.com", PASSWORD).await;
    assert!(
        ada.get("/monitors")
            .await
            .text
            .contains("href=\"/monitors/new\"")
    );
    let form = ada.get(&format!("/monitors/new?service={svc}")).await;
    assert_eq!(form.status, StatusCode::OK);
    for label in [
        "for=\"type\"",
        "for=\"name\"",
        "for=\"target\"",
        "for=\"interval_seconds\"",
        "for=\"cron\"",
    ] {
        assert!(form.text.contains(label), "labelled control {label}");
    }
    assert!(
        form.text
            .contains(&format!("<option value=\"{svc}\" selected>"))
    );
    let csrf = form.csrf();

    // The API's messages beside their fields; what was typed stays.
    let bad = ada
        .post(
            "/monitors",
            &[
                ("csrf", &csrf),
                ("type", "http"),
                ("name", "API"),
                ("service_id", &svc),
                ("target", "ftp://x"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.text
            .contains("id=\"target-err\">Must be an http:// or https:// URL"),
        "{}",
        bad.text
    );
    assert!(bad.text.contains("value=\"ftp://x\""));
    let bad = ada
        .post(
            "/monitors",
            &[
                ("csrf", &csrf),
                ("type", "http"),
                ("name", "API"),
                ("service_id", &svc),
                ("target", "http://127.0.0.1:9/"),
                ("interval_seconds", "often"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.text
            .contains("id=\"interval_seconds-err\">Must be a whole number."),
        "{}",
        bad.text
    );
    let rob_csrf = rob.get("/monitors").await.csrf();
    let refused = rob
        .post(
            "/monitors",
            &[
                ("csrf", &rob_csrf),
                ("type", "http"),
                ("name", "x"),
                ("service_id", &svc),
                ("target", "http://127.0.0.1:9/"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // Created: an HTTP check goes to its page; a heartbeat shows its ping URL once.
    let ok = ada
        .post(
            "/monitors",
            &[
                ("csrf", &csrf),
                ("type", "http"),
                ("name", "API"),
                ("service_id", &svc),
                ("target", "http://127.0.0.1:9/"),
                ("interval_seconds", "30"),
                ("expected_status", "200, 204"),
                ("body_contains", "ok"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    let to = ok.location.unwrap();
    assert!(to.ends_with("?done=created"), "{to}");
    let page = ada.get(&to).await;
    assert!(page.text.contains("Monitor created"));
    let list = app.get("/api/v1/monitors").await.body;
    let m = &list["monitors"][0];
    assert_eq!(m["interval_seconds"], 30);
    assert_eq!(m["config"]["expected_status"], json!([200, 204]));
    assert_eq!(m["config"]["body_contains"], "ok");
    let hb = ada
        .post(
            "/monitors",
            &[
                ("csrf", &csrf),
                ("type", "heartbeat"),
                ("name", "Nightly"),
                ("service_id", &svc),
                ("period_seconds", "3600"),
            ],
        )
        .await;
    assert_eq!(hb.status, StatusCode::OK, "{}", hb.text);
    assert!(hb.text.contains("it is shown only once"), "{}", hb.text);
    let at = hb.text.find("<code id=\"ping-url\">").unwrap() + "<code id=\"ping-url\">".len();
    let url = &hb.text[at..at + hb.text[at..].find('<').unwrap()];
    assert!(url.contains("/ping/"), "{url}");
    let sent = app.client.get(url).send().await.unwrap();
    assert_eq!(sent.status(), StatusCode::OK, "the shown URL pings");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_edit_a_monitors_name_cadence_and_thresholds() {
    edit_monitors(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_edit_a_monitor_on_postgres() {
    let Some(app) = TestApp::spawn_on_postgres("ui_monitors::edit", Options::default()).await
    else {
        return;
    };
    edit_monitors(app).await;
}

async fn edit_monitors(app: TestApp) {
    let svc = app.service("checkout").await;
    person(&app, "Ada", "admin").await;
    person(&app, "Rob", "responder").await;
    let r = app
        .post(
            "/api/v1/monitors",
            json!({"type": "http", "name": "API", "service_id": svc,
                   "target": "http://127.0.0.1:9/", "interval_seconds": 60,
                   "retry_interval_seconds": 20}),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    let mut rob = Visitor::new(&app);
    rob.sign_in("rob@example.com", PASSWORD).await;
    assert_eq!(
        rob.get(&format!("/monitors/{id}/edit")).await.status,
        StatusCode::FORBIDDEN
    );
    assert!(
        !rob.get(&format!("/monitors/{id}"))
            .await
            .text
            .contains("/edit\"")
    );

    let mut ada = Visitor::new(&app);
    ada.sign_in("ada@example.com", PASSWORD).await;
    assert!(
        ada.get(&format!("/monitors/{id}"))
            .await
            .text
            .contains(&format!("href=\"/monitors/{id}/edit\""))
    );
    let form = ada.get(&format!("/monitors/{id}/edit")).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.text.contains("id=\"interval_seconds\" name=\"interval_seconds\" type=\"text\" inputmode=\"numeric\" value=\"60\""), "{}", form.text);
    assert!(!form.text.contains("period_seconds"), "no heartbeat fields");
    let csrf = form.csrf();
    let path = format!("/monitors/{id}/edit");
    let bad = ada
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("name", "API"),
                ("interval_seconds", "soon"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.text
            .contains("id=\"interval_seconds-err\">Must be a whole number."),
        "{}",
        bad.text
    );
    let bad = ada
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("name", "API"),
                ("interval_seconds", "30"),
                ("retry_interval_seconds", "60"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.text
            .contains("id=\"retry_interval_seconds-err\">Must not be longer than the interval."),
        "{}",
        bad.text
    );
    let ok = ada
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("name", "API v2"),
                ("interval_seconds", "30"),
                ("retry_interval_seconds", "10"),
                ("failures_before_alert", "1"),
                ("successes_before_resolve", "2"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    assert!(ok.location.as_deref().unwrap().ends_with("?done=updated"));
    let m = app.get(&format!("/api/v1/monitors/{id}")).await.body;
    assert_eq!(
        (
            &m["name"],
            &m["interval_seconds"],
            &m["retry_interval_seconds"],
            &m["failures_before_alert"]
        ),
        (&json!("API v2"), &json!(30), &json!(10), &json!(1))
    );
    let due: jiff::Timestamp = m["due_at"].as_str().unwrap().parse().unwrap();
    assert!(
        due <= app.clock.now() + jiff::SignedDuration::from_secs(30),
        "on the new cadence"
    );

    // The API: admins only, the fields that apply, nothing unknown.
    let responder = app.token("responder").await;
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/monitors/{id}"),
            Some(&responder),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/monitors/{id}"),
            Some(&app.admin),
            Some(json!({"grace_seconds": 5})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body["error"]["fields"]["grace_seconds"].is_string(),
        "{}",
        r.body
    );
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/monitors/{id}"),
            Some(&app.admin),
            Some(json!({"target": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = app
        .post(
            "/api/v1/monitors",
            json!({"type": "heartbeat", "name": "Nightly", "service_id": svc, "period_seconds": 3600}),
        )
        .await;
    let hb = r.body["id"].as_str().unwrap().to_owned();
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/monitors/{hb}"),
            Some(&app.admin),
            Some(json!({"period_seconds": 7200, "grace_seconds": 60})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (&r.body["period_seconds"], &r.body["grace_seconds"]),
        (&json!(7200), &json!(60))
    );
    let r = app
        .call(
            "PATCH",
            &format!("/api/v1/monitors/{hb}"),
            Some(&app.admin),
            Some(json!({"interval_seconds": 60})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body["error"]["fields"]["interval_seconds"].is_string(),
        "{}",
        r.body
    );
    let form = ada.get(&format!("/monitors/{hb}/edit")).await;
    assert!(form.text.contains("value=\"7200\"") && !form.text.contains("interval_seconds"));
}

/// Opens `/ui/events` as a signed-in responder and waits for its first line.
async fn event_stream(app: &TestApp) -> reqwest::Response {
    person(app, "Eve", "responder").await;
    let mut v = Visitor::new(app);
    v.sign_in("eve@example.com", PASSWORD).await;
    let mut stream = v
        .client
        .get(format!("{}/ui/events", app.url))
        .header(
            reqwest::header::COOKIE,
            format!("tocsin_session={}", v.cookies[0].1),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let mut seen = String::new();
    while !seen.contains(": live") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), stream.chunk())
            .await
            .expect("the stream opens")
            .unwrap()
            .expect("a chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_says_monitors_were_checked_at_most_once_a_second() {
    use std::time::{Duration, Instant};
    let mut app = TestApp::spawn().await;
    let mut stream = event_stream(&app).await;
    let live = app.running.as_ref().expect("running").state.live.clone();
    // A burst as busy checkers make: 1,500 batches over 1.5 s.
    let start = Instant::now();
    let burst = tokio::spawn(async move {
        for _ in 0..30 {
            for _ in 0..50 {
                let _ = live.send(tocsin_engine::LiveEvent::MonitorsChecked);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut seen = String::new();
    let mut first: Option<Duration> = None;
    let deadline = start + Duration::from_millis(3_000);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match tokio::time::timeout(left, stream.chunk()).await {
            Ok(Ok(Some(chunk))) => {
                seen.push_str(&String::from_utf8_lossy(&chunk));
                if first.is_none() && seen.contains("event: monitors") {
                    first = Some(start.elapsed());
                }
            }
            _ => break,
        }
    }
    burst.await.unwrap();
    let sent = seen.matches("event: monitors").count();
    // The first at once, then one a second while checks go on, then the last owed one.
    assert!(
        first.is_some_and(|f| f < Duration::from_millis(500)),
        "the first check shows at once: {first:?}"
    );
    let window = start.elapsed().as_secs();
    assert!(
        (2..=window + 1).contains(&(sent as u64)),
        "{sent} monitors events in {window} s: {seen}"
    );
    assert!(!seen.contains("event: resync"), "{seen}");
    drop(stream);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_result_shows_on_open_monitors_pages_without_a_reload_in_chromium() {
    use crate::browser::{
        Driver, LIVE_WITHIN, browser, chromium_or_skip, console_errors, sign_in, wait_for_text,
        wait_live,
    };
    let Some(driver_bin) = chromium_or_skip(
        "a_check_result_shows_on_open_monitors_pages_without_a_reload_in_chromium",
    ) else {
        return;
    };
    let mut app = TestApp::spawn().await;
    let svc = app.service("checkout").await;
    person(&app, "Ada", "responder").await;
    let failing = Arc::new(AtomicBool::new(false));
    let base = target(failing.clone()).await;
    let r = app
        .post(
            "/api/v1/monitors",
            json!({"type": "http", "name": "Checkout health", "service_id": svc,
                   "target": format!("{base}/health"), "interval_seconds": 60,
                   "retry_interval_seconds": 60, "failures_before_alert": 1,
                   "successes_before_resolve": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    check_at_due(&app, &id).await;

    let driver = Driver::start(&driver_bin).await;
    let profiles = temp_dir("chromium");
    let c = browser(&driver, &profiles.join("ada"), false).await;
    sign_in(&c, &app.url, "ada@example.com").await;

    // A monitor's page: the failed check's state and result appear without a reload.
    c.goto(&format!("{}/monitors/{id}", app.url))
        .await
        .expect("monitor page");
    wait_live(&c).await;
    wait_for_text(&c, "#monitor-state", "up", LIVE_WITHIN).await;
    c.execute("window.tocsinSamePage = true; return true;", vec![])
        .await
        .expect("mark the page");
    failing.store(true, Ordering::SeqCst);
    app.clock.advance(jiff::SignedDuration::from_secs(60));
    check_at_due(&app, &id).await;
    let took = wait_for_text(&c, "#monitor-state", "down", LIVE_WITHIN).await;
    eprintln!("the failed check showed on the monitor's page after {took:?}");
    wait_for_text(&c, "#monitor-results", "HTTP 503", LIVE_WITHIN).await;
    let same = c
        .execute("return window.tocsinSamePage === true;", vec![])
        .await
        .expect("read the mark");
    assert_eq!(same, json!(true), "updated in place, not reloaded");

    // The list: back up, without a reload either.
    c.goto(&format!("{}/monitors", app.url))
        .await
        .expect("monitors list");
    wait_live(&c).await;
    let state = "#monitor-list td:nth-child(2) .badge";
    wait_for_text(&c, state, "down", LIVE_WITHIN).await;
    c.execute("window.tocsinSamePage = true; return true;", vec![])
        .await
        .expect("mark the page");
    failing.store(false, Ordering::SeqCst);
    app.clock.advance(jiff::SignedDuration::from_secs(60));
    check_at_due(&app, &id).await;
    wait_for_text(&c, state, "up", LIVE_WITHIN).await;
    let same = c
        .execute("return window.tocsinSamePage === true;", vec![])
        .await
        .expect("read the mark");
    assert_eq!(same, json!(true), "updated in place, not reloaded");
    assert_eq!(console_errors(&c).await, Vec::<String>::new());
    c.close().await.expect("close the browser");
    app.stop().await;
}
