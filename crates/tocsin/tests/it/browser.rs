//! The web UI in a real browser: Debian's `chromium`, driven over WebDriver by the test itself
//! through Debian's `chromedriver` on a free loopback port (no driver or browser download). Two
//! people work one incident: a new incident appears on one's list without a reload, she
//! acknowledges it, and the other sees it on his open timeline, live. Screenshots at desktop and
//! phone width go to `target/screenshots/`. Skipped, saying so, only when Chromium is not
//! installed (`cargo xtask test` installs it).

use crate::support::*;
use crate::ui::{PASSWORD, person};
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
/// How long a change may take to reach an open page (the issue asks for 2 s).
pub(crate) const LIVE_WITHIN: Duration = Duration::from_secs(2);
const DESKTOP: (u32, u32) = (1280, 900);
const PHONE_WIDTH: u32 = 375;

pub(crate) fn chromedriver() -> Option<PathBuf> {
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// chromedriver's path when Chromium and chromedriver are both installed; otherwise `None`,
/// after saying that `test` is skipped and what to install.
pub(crate) fn chromium_or_skip(test: &str) -> Option<PathBuf> {
    let found = chromedriver().filter(|_| Path::new(CHROMIUM).exists());
    if found.is_none() {
        eprintln!(
            "SKIPPED {test}: Chromium is not installed \
             (apt-get install chromium chromium-driver; `cargo xtask test` installs them)"
        );
    }
    found
}

/// `chromedriver` started by this test on a free loopback port, stopped by its PID on drop.
pub(crate) struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    pub(crate) async fn start(binary: &Path) -> Self {
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = client.get(format!("{url}/status")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child, url }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser: a fresh profile folder, nothing that reaches the network by itself.
pub(crate) async fn browser(driver: &Driver, profile: &Path, dark: bool) -> Client {
    let mut args: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
    ]
    .map(String::from)
    .into();
    args.push(format!("--window-size={},{}", DESKTOP.0, DESKTOP.1));
    args.push(format!("--user-data-dir={}", profile.display()));
    // The system's dark preference, which `prefers-color-scheme` follows.
    if dark {
        args.push("--force-dark-mode".into());
    }
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        "goog:loggingPrefs": {"browser": "ALL"},
    });
    let Value::Object(caps) = caps else {
        unreachable!()
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

/// Chromedriver's console log of the page (`POST /session/{id}/se/log`), emptied by reading.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.into()))
    }
}

/// Console errors so far (warnings and info are allowed).
pub(crate) async fn console_errors(c: &Client) -> Vec<String> {
    let log = c.issue_cmd(BrowserLog).await.expect("browser log");
    log.as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["level"] == "SEVERE")
        .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

pub(crate) async fn wait_for_text(c: &Client, css: &str, text: &str, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if let Ok(el) = c.find(Locator::Css(css)).await
            && el.text().await.is_ok_and(|t| t.contains(text))
        {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "{text:?} did not appear in {css} within {within:?}; page: {}",
            c.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) async fn wait_live(c: &Client) {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#live-state[data-state=\"live\"]"))
        .await
        .expect("the page's event stream connects");
}

/// Signs in with the keyboard only: the email field has focus, Tab moves to the password, Enter
/// sends the form.
pub(crate) async fn sign_in(c: &Client, base: &str, email: &str) {
    c.goto(&format!("{base}/login?next=%2Fincidents"))
        .await
        .expect("login page");
    let focused = c.active_element().await.expect("focus");
    assert_eq!(
        focused.attr("id").await.expect("id").as_deref(),
        Some("email"),
        "the email field has focus"
    );
    focused
        .send_keys(&format!("{email}\u{E004}{PASSWORD}\u{E007}"))
        .await
        .expect("typing");
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_url(&url::Url::parse(&format!("{base}/incidents")).expect("url"))
        .await
        .expect("signed in and sent to the incidents list");
}

fn screenshots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshots folder");
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(screenshots_dir().join(format!("{name}.png")), png).expect("write screenshot");
}

/// Screenshots of a page at desktop and phone width; at phone width nothing may need
/// sideways scrolling.
async fn both_widths(c: &Client, name: &str) {
    c.set_window_size(DESKTOP.0, DESKTOP.1)
        .await
        .expect("desktop size");
    screenshot(c, &format!("{name}-desktop")).await;
    c.set_window_size(PHONE_WIDTH, 812)
        .await
        .expect("phone size");
    let widths = c
        .execute(
            "return [window.innerWidth, document.documentElement.scrollWidth];",
            vec![],
        )
        .await
        .expect("widths");
    let (inner, scroll) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
    assert!(
        inner <= u64::from(PHONE_WIDTH) + 20,
        "the window really is phone-sized: {inner}"
    );
    assert!(
        scroll <= inner,
        "{name} scrolls sideways at {inner} px ({scroll} px wide)"
    );
    screenshot(c, &format!("{name}-phone")).await;
    c.set_window_size(DESKTOP.0, DESKTOP.1)
        .await
        .expect("desktop size");
}

#[tokio::test]
async fn two_people_work_one_incident_live_in_chromium() {
    let Some(driver_bin) = chromium_or_skip("two_people_work_one_incident_live_in_chromium") else {
        return;
    };
    let mut app = TestApp::spawn().await;
    person(&app, "Ada", "responder").await;
    person(&app, "Bob", "responder").await;
    let service = app.service("payments").await;
    let key = app.integration(&service, "events_v2").await;
    let driver = Driver::start(&driver_bin).await;
    let profiles = temp_dir("chromium");
    let ada = browser(&driver, &profiles.join("ada"), false).await;
    let bob = browser(&driver, &profiles.join("bob"), false).await;

    sign_in(&ada, &app.url, "ada@example.com").await;
    wait_live(&ada).await;
    both_widths(&ada, "incidents-empty").await;

    // A new incident appears on the open list without a reload.
    let r = app
        .enqueue(
            json!({"routing_key": key, "event_action": "trigger", "dedup_key": "db-1",
            "payload": {"summary": "Database primary down", "source": "db1",
                        "severity": "critical", "custom_details": {"free_disk": "2%"}},
            "links": [{"href": "https://grafana.example/d/db", "text": "dashboard"}]}),
        )
        .await;
    assert_eq!(r.status, reqwest::StatusCode::ACCEPTED, "{}", r.body);
    let took = wait_for_text(&ada, "#incident-list", "Database primary down", LIVE_WITHIN).await;
    eprintln!("the new incident appeared on the list after {took:?}");
    both_widths(&ada, "incidents").await;
    let id = app.incidents(&service).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Bob has the incident open.
    sign_in(&bob, &app.url, "bob@example.com").await;
    bob.goto(&format!("{}/incidents/{id}", app.url))
        .await
        .expect("incident page");
    wait_live(&bob).await;

    // Ada opens it from her list and acknowledges.
    ada.find(Locator::Css(".inc-title"))
        .await
        .expect("the incident's link")
        .click()
        .await
        .expect("open");
    ada.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#act-acknowledge"))
        .await
        .expect("the acknowledge button")
        .click()
        .await
        .expect("acknowledge");
    wait_for_text(&ada, ".notice", "Acknowledged", Duration::from_secs(10)).await;
    both_widths(&ada, "incident").await;

    // Bob sees it on his open page, without a reload.
    let took = wait_for_text(&bob, "#inc-timeline", "Acknowledged by Ada", LIVE_WITHIN).await;
    eprintln!("the acknowledgement reached the other browser after {took:?}");
    wait_for_text(&bob, "#inc-status-badge", "acknowledged", LIVE_WITHIN).await;
    assert!(
        bob.find(Locator::Css("#act-acknowledge")).await.is_err(),
        "the acknowledge button went away with the change"
    );

    bob.goto(&format!("{}/", app.url)).await.expect("dashboard");
    both_widths(&bob, "dashboard").await;
    bob.goto(&format!("{}/services/{service}", app.url))
        .await
        .expect("service");
    both_widths(&bob, "service").await;

    // The dark theme, in a browser whose system prefers it.
    let night = browser(&driver, &profiles.join("night"), true).await;
    sign_in(&night, &app.url, "bob@example.com").await;
    let dark = night
        .execute(
            "return matchMedia('(prefers-color-scheme: dark)').matches",
            vec![],
        )
        .await
        .expect("media query");
    assert_eq!(dark, json!(true), "the browser prefers dark");
    night
        .goto(&format!("{}/incidents/{id}", app.url))
        .await
        .expect("incident page");
    both_widths(&night, "incident-dark").await;

    for (who, c) in [("Ada", &ada), ("Bob", &bob), ("Bob at night", &night)] {
        let errors = console_errors(c).await;
        assert!(errors.is_empty(), "{who}'s console has errors: {errors:?}");
    }
    ada.close().await.expect("close Ada's browser");
    bob.close().await.expect("close Bob's browser");
    night.close().await.expect("close the dark browser");
    drop(driver);
    let _ = std::fs::remove_dir_all(&profiles);
    app.stop().await;
}

#[tokio::test]
async fn an_admin_builds_a_schedule_and_overrides_it_from_the_timeline_in_chromium() {
    let Some(driver_bin) = chromium_or_skip(
        "an_admin_builds_a_schedule_and_overrides_it_from_the_timeline_in_chromium",
    ) else {
        return;
    };
    let mut app = TestApp::spawn().await;
    let ada = person(&app, "Ada", "admin").await;
    let bob = person(&app, "Bob", "responder").await;
    let driver = Driver::start(&driver_bin).await;
    let profiles = temp_dir("chromium-schedules");
    let c = browser(&driver, &profiles.join("ada"), false).await;
    sign_in(&c, &app.url, "ada@example.com").await;

    // The new pages, each at both widths.
    for (path, shot) in [
        ("/services/new", "service-new"),
        ("/escalation-policies/new", "policy-new"),
        ("/schedules/new", "schedule-new"),
    ] {
        c.goto(&format!("{}{path}", app.url)).await.expect(path);
        both_widths(&c, shot).await;
    }

    // A daily rotation, Ada then Bob, from Monday 23 November 09:00 Paris time.
    c.find(Locator::Id("name"))
        .await
        .expect("name")
        .send_keys("Primary")
        .await
        .expect("type");
    c.execute(
        "document.getElementById('start_0').value = '2026-11-23T09:00';",
        vec![],
    )
    .await
    .expect("start");
    for (id, value) in [
        ("rotation_0", "daily"),
        ("user_0_0", ada.as_str()),
        ("user_0_1", bob.as_str()),
    ] {
        c.find(Locator::Id(id))
            .await
            .expect(id)
            .select_by_value(value)
            .await
            .expect("choose");
    }
    c.find(Locator::Id("create-schedule"))
        .await
        .expect("create button")
        .click()
        .await
        .expect("create");
    wait_for_text(&c, ".notice", "Schedule created", Duration::from_secs(10)).await;
    c.goto(&format!(
        "{}{}",
        app.url,
        c.current_url().await.expect("url").path().to_owned() + "?week=2026-11-23"
    ))
    .await
    .expect("the week");
    wait_for_text(&c, "#timeline", "Bob", Duration::from_secs(5)).await;

    // Thursday is Bob's day (the clock says Wednesday): choose his bar, and Ada covers the
    // morning.
    c.find(Locator::Css("#timeline a.seg.row4:not(.me)"))
        .await
        .expect("Bob's Thursday bar")
        .click()
        .await
        .expect("choose the bar");
    let start = c
        .find(Locator::Id("o-start"))
        .await
        .expect("override start");
    assert_eq!(
        start.prop("value").await.expect("value").as_deref(),
        Some("2026-11-26T09:00"),
        "the bar filled in the form"
    );
    c.execute(
        "document.getElementById('o-end').value = '2026-11-26T12:00';",
        vec![],
    )
    .await
    .expect("end");
    c.find(Locator::Id("o-user"))
        .await
        .expect("who")
        .select_by_value(&ada)
        .await
        .expect("Ada");
    c.find(Locator::Id("add-override"))
        .await
        .expect("add override")
        .click()
        .await
        .expect("add");
    wait_for_text(&c, ".notice", "Override added", Duration::from_secs(10)).await;
    wait_for_text(
        &c,
        "#overrides",
        "Ada: Thu 26 Nov 09:00",
        Duration::from_secs(5),
    )
    .await;
    // In the timeline, Thursday until noon is now Ada's: her Wednesday shift runs on into the
    // override as one bar (her bars are marked as hers).
    let mine = c
        .find_all(Locator::Css("#timeline a.seg.row4.me"))
        .await
        .expect("bars");
    assert_eq!(mine.len(), 1, "one bar of Ada's on Thursday");
    assert!(
        mine[0]
            .attr("class")
            .await
            .expect("class")
            .unwrap_or_default()
            .contains("gs-0 ge-24"),
        "Ada until noon"
    );
    assert_eq!(
        mine[0].text().await.expect("label"),
        "Ada",
        "the override's bar names her"
    );
    both_widths(&c, "schedule").await;
    let week = c.current_url().await.expect("url");
    c.goto(&format!(
        "{}{}?month=2026-11",
        app.url,
        c.current_url().await.expect("url").path()
    ))
    .await
    .expect("month");
    both_widths(&c, "schedule-month").await;
    for (path, shot) in [
        ("/escalation-policies", "policies"),
        ("/account", "account"),
        ("/people", "people"),
        ("/teams", "teams"),
        ("/settings", "settings"),
    ] {
        c.goto(&format!("{}{path}", app.url)).await.expect(path);
        both_widths(&c, shot).await;
    }

    // The timeline and a form with an error beside its field, in the dark theme.
    let night = browser(&driver, &profiles.join("night"), true).await;
    sign_in(&night, &app.url, "ada@example.com").await;
    night.goto(week.as_str()).await.expect("the week, at night");
    both_widths(&night, "schedule-dark").await;
    night
        .goto(&format!("{}/services/new", app.url))
        .await
        .expect("new service");
    night
        .find(Locator::Id("ack_timeout_minutes"))
        .await
        .expect("timeout field")
        .send_keys("soon\u{E007}")
        .await
        .expect("send");
    wait_for_text(&night, "#ack-err", "whole number", Duration::from_secs(5)).await;
    both_widths(&night, "service-new-error-dark").await;
    // The refused form's 400 is the one error the console may show (and it empties the log).
    let expected = console_errors(&night).await;
    assert!(
        expected.len() == 1 && expected[0].contains("status of 400"),
        "{expected:?}"
    );

    for (who, b) in [("Ada", &c), ("Ada at night", &night)] {
        let errors = console_errors(b).await;
        assert!(errors.is_empty(), "{who}'s console has errors: {errors:?}");
    }
    night.close().await.expect("close the dark browser");
    c.close().await.expect("close the browser");
    drop(driver);
    let _ = std::fs::remove_dir_all(&profiles);
    app.stop().await;
}

/// The monitors list and a monitor's page (its SVG charts, results and actions) at desktop and
/// phone width: nothing scrolls sideways at 375 px, the charts are images with a name, and no
/// script is needed for any of it.
#[tokio::test]
async fn a_monitor_page_reads_on_a_phone_in_chromium() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let Some(driver_bin) = chromium_or_skip("a_monitor_page_reads_on_a_phone_in_chromium") else {
        return;
    };
    let mut app = TestApp::spawn().await;
    person(&app, "Ada", "responder").await;
    let svc = app.service("checkout").await;
    let failing = Arc::new(AtomicBool::new(false));
    let base = crate::ui_monitors::target(failing.clone()).await;
    let r = app
        .post(
            "/api/v1/monitors",
            json!({"type": "http", "name": "Checkout health", "service_id": svc,
                   "target": format!("{base}/health"), "interval_seconds": 60}),
        )
        .await;
    let id = r.body["id"].as_str().expect("id").to_owned();
    for i in 0..8 {
        failing.store(i == 5, Ordering::SeqCst);
        crate::ui_monitors::check_at_due(&app, &id).await;
        app.clock.advance(jiff::SignedDuration::from_mins(25));
    }
    let driver = Driver::start(&driver_bin).await;
    let profiles = temp_dir("chromium-monitors");
    let c = browser(&driver, &profiles.join("ada"), false).await;
    sign_in(&c, &app.url, "ada@example.com").await;
    c.goto(&format!("{}/monitors", app.url))
        .await
        .expect("monitors");
    both_widths(&c, "monitors").await;
    c.goto(&format!("{}/monitors/{id}", app.url))
        .await
        .expect("monitor page");
    let chart = c
        .find(Locator::Css("svg#chart-day[role=\"img\"]"))
        .await
        .expect("the 24-hour chart");
    let label = chart
        .attr("aria-labelledby")
        .await
        .expect("label")
        .unwrap_or_default();
    assert_eq!(label, "chart-day-title chart-day-desc");
    both_widths(&c, "monitor").await;
    c.execute(
        "document.getElementById('charts-h').scrollIntoView()",
        vec![],
    )
    .await
    .expect("scroll to the charts");
    both_widths(&c, "monitor-charts").await;
    let errors = console_errors(&c).await;
    assert!(errors.is_empty(), "the console has errors: {errors:?}");
    c.close().await.expect("close the browser");
    drop(driver);
    let _ = std::fs::remove_dir_all(&profiles);
    app.stop().await;
}

/// Sets a `<select multiple>`'s choice to exactly `values` (a click would toggle one option).
async fn choose_only(c: &Client, id: &str, values: &[&str]) {
    c.execute(
        "const s = document.getElementById(arguments[0]);
         for (const o of s.options) { o.selected = arguments[1].includes(o.value); }",
        vec![json!(id), json!(values)],
    )
    .await
    .expect("choose");
}

async fn replace_text(c: &Client, id: &str, text: &str) {
    let field = c.find(Locator::Id(id)).await.expect(id);
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

#[tokio::test]
async fn an_admin_edits_a_policy_and_a_schedule_layer_in_chromium() {
    let Some(driver_bin) =
        chromium_or_skip("an_admin_edits_a_policy_and_a_schedule_layer_in_chromium")
    else {
        return;
    };
    let mut app = TestApp::spawn().await;
    let ada = person(&app, "Ada", "admin").await;
    let bob = person(&app, "Bob", "responder").await;
    let policy = app
        .post(
            "/api/v1/escalation-policies",
            json!({"name": "Ops", "levels": [
                {"delay_minutes": 30, "targets": [{"type": "user", "id": ada}]}
            ]}),
        )
        .await
        .body["id"]
        .as_str()
        .expect("policy")
        .to_owned();
    let r = app
        .post(
            "/api/v1/schedules",
            json!({"name": "Primary", "time_zone": "Europe/Paris", "layers": [
                {"start": "2026-11-23T08:00:00Z", "rotation": {"type": "daily", "length": 1},
                 "users": [ada]}
            ]}),
        )
        .await;
    let schedule = r.body["id"].as_str().expect("schedule").to_owned();
    app.post(
        &format!("/api/v1/schedules/{schedule}/overrides"),
        json!({"user_id": bob, "start": "2026-11-26T08:00:00Z", "end": "2026-11-26T11:00:00Z"}),
    )
    .await;
    let driver = Driver::start(&driver_bin).await;
    let profiles = temp_dir("chromium-edits");
    let c = browser(&driver, &profiles.join("ada"), false).await;
    sign_in(&c, &app.url, "ada@example.com").await;

    // The policy: level 1 waits 10 minutes now, and the spare row becomes level 2 (Bob).
    c.goto(&format!("{}/escalation-policies/{policy}", app.url))
        .await
        .expect("policy page");
    c.find(Locator::Id("edit-policy"))
        .await
        .expect("edit link")
        .click()
        .await
        .expect("edit");
    wait_for_text(&c, "h1", "Edit Ops", Duration::from_secs(10)).await;
    both_widths(&c, "policy-edit").await;
    replace_text(&c, "delay_0", "10").await;
    choose_only(&c, "users_1", &[&bob]).await;
    replace_text(&c, "delay_1", "15").await;
    c.find(Locator::Id("save-policy"))
        .await
        .expect("save button")
        .click()
        .await
        .expect("save");
    wait_for_text(
        &c,
        ".notice",
        "Escalation policy saved",
        Duration::from_secs(10),
    )
    .await;
    wait_for_text(&c, ".levels", "Level 2", Duration::from_secs(5)).await;
    wait_for_text(&c, ".levels", "Bob", Duration::from_secs(5)).await;
    wait_for_text(&c, ".levels", "after 10 min", Duration::from_secs(5)).await;

    // The schedule: a new name, and Bob joins the layer's rotation after Ada.
    c.goto(&format!("{}/schedules/{schedule}?week=2026-11-23", app.url))
        .await
        .expect("schedule page");
    c.find(Locator::Id("edit-schedule"))
        .await
        .expect("edit link")
        .click()
        .await
        .expect("edit");
    wait_for_text(&c, "h1", "Edit Primary", Duration::from_secs(10)).await;
    both_widths(&c, "schedule-edit").await;
    replace_text(&c, "name", "Primary (edited)").await;
    c.find(Locator::Id("user_0_1"))
        .await
        .expect("second person")
        .select_by_value(&bob)
        .await
        .expect("Bob");
    c.find(Locator::Id("save-schedule"))
        .await
        .expect("save button")
        .click()
        .await
        .expect("save");
    wait_for_text(&c, ".notice", "Schedule saved", Duration::from_secs(10)).await;
    wait_for_text(&c, "h1", "Primary (edited)", Duration::from_secs(5)).await;
    let week = format!("{}/schedules/{schedule}?week=2026-11-23", app.url);
    c.goto(&week).await.expect("the week");
    wait_for_text(
        &c,
        "details.alert summary",
        "Ada → Bob",
        Duration::from_secs(5),
    )
    .await;

    // The override is still there, and its button removes it.
    wait_for_text(
        &c,
        "#overrides",
        "Bob: Thu 26 Nov 09:00",
        Duration::from_secs(5),
    )
    .await;
    c.find(Locator::Css("#overrides button.danger"))
        .await
        .expect("remove button")
        .click()
        .await
        .expect("remove");
    wait_for_text(&c, ".notice", "Override removed", Duration::from_secs(10)).await;
    assert!(
        c.find(Locator::Id("overrides")).await.is_err(),
        "no override left"
    );
    let errors = console_errors(&c).await;
    assert!(errors.is_empty(), "the console has errors: {errors:?}");
    c.close().await.expect("close the browser");
    drop(driver);
    let _ = std::fs::remove_dir_all(&profiles);
    app.stop().await;
}

#[tokio::test]
async fn a_person_edits_a_contact_method_and_an_admin_deactivates_someone_in_chromium() {
    let Some(driver_bin) = chromium_or_skip(
        "a_person_edits_a_contact_method_and_an_admin_deactivates_someone_in_chromium",
    ) else {
        return;
    };
    let mut app = TestApp::spawn().await;
    let ada = person(&app, "Ada", "admin").await;
    let rob = person(&app, "Rob", "responder").await;
    let method = app
        .post(
            &format!("/api/v1/users/{ada}/contact-methods"),
            json!({"type": "webhook", "address": "http://127.0.0.1:9/ada"}),
        )
        .await
        .body["id"]
        .as_str()
        .expect("method")
        .to_owned();
    let driver = Driver::start(&driver_bin).await;
    let profiles = temp_dir("chromium-people");
    let c = browser(&driver, &profiles.join("ada"), false).await;
    sign_in(&c, &app.url, "ada@example.com").await;

    // Ada edits her webhook's address from her profile.
    c.goto(&format!("{}/account", app.url))
        .await
        .expect("profile");
    c.find(Locator::Css(&format!("#method-{method} summary")))
        .await
        .expect("the edit toggle")
        .click()
        .await
        .expect("open the edit form");
    replace_text(
        &c,
        &format!("cm-address-{method}"),
        "http://127.0.0.1:9/ada-pager",
    )
    .await;
    c.find(Locator::Css(&format!(
        "#method-{method} form[action$=\"/edit\"] button[type=\"submit\"]"
    )))
    .await
    .expect("save")
    .click()
    .await
    .expect("save the method");
    wait_for_text(
        &c,
        ".notice",
        "Contact method saved",
        Duration::from_secs(10),
    )
    .await;
    wait_for_text(
        &c,
        &format!("#method-{method}"),
        "http://127.0.0.1:9/ada-pager",
        Duration::from_secs(2),
    )
    .await;
    both_widths(&c, "account").await;

    // She deactivates Rob from the people page.
    c.goto(&format!("{}/people", app.url))
        .await
        .expect("people");
    c.find(Locator::Id(&format!("deactivate-{rob}")))
        .await
        .expect("the deactivate button")
        .click()
        .await
        .expect("deactivate");
    wait_for_text(&c, ".notice", "Deactivated", Duration::from_secs(10)).await;
    wait_for_text(
        &c,
        &format!("#person-{rob}"),
        "deactivated",
        Duration::from_secs(2),
    )
    .await;
    c.find(Locator::Id(&format!("reactivate-{rob}")))
        .await
        .expect("now a reactivate button");
    both_widths(&c, "people").await;
    let errors = console_errors(&c).await;
    assert!(errors.is_empty(), "the console has errors: {errors:?}");
    c.close().await.expect("close the browser");
    drop(driver);
    let _ = std::fs::remove_dir_all(&profiles);

    let rob = app.get(&format!("/api/v1/users/{rob}")).await.body;
    assert_eq!(rob["active"], json!(false));
    let methods = app
        .get(&format!("/api/v1/users/{ada}/contact-methods"))
        .await
        .body;
    assert_eq!(
        methods["contact_methods"][0]["address"],
        json!("http://127.0.0.1:9/ada-pager")
    );
    app.stop().await;
}
