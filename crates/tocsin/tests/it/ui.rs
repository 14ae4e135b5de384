//! The web UI through HTTP, as a browser without scripts would use it: sign-in and its cookie,
//! CSRF refusals, sign-in limits, password change, the pages with real incident data, and the
//! live event stream. The real-browser flows are in `browser.rs`.

use crate::support::*;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use std::time::Duration;

pub const PASSWORD: &str = "correct horse battery staple";

/// Makes a person who can sign in; returns their id.
pub async fn person(app: &TestApp, name: &str, role: &str) -> String {
    let r = app
        .post(
            "/api/v1/users",
            json!({"name": name, "email": format!("{}@example.com", name.to_lowercase()),
                   "role": role, "password": PASSWORD, "time_zone": "Europe/Paris"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["id"].as_str().expect("id").to_owned()
}

/// A browser without scripts: no redirects followed, cookies kept by hand.
pub struct Visitor {
    pub url: String,
    pub client: reqwest::Client,
    pub cookies: Vec<(String, String)>,
}

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Page {
    /// The CSRF token of the first form on the page.
    pub fn csrf(&self) -> String {
        let at = self
            .text
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no form on the page: {}", self.text));
        let rest = &self.text[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').expect("closing quote")].to_owned()
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies
            .iter()
            .map(String::as_str)
            .find(|c| c.starts_with(&format!("{name}=")))
    }
}

impl Visitor {
    pub fn new(app: &TestApp) -> Self {
        Self {
            url: app.url.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn read(&mut self, r: reqwest::Response) -> Page {
        let set_cookies: Vec<String> = r
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        for c in &set_cookies {
            let pair = c.split(';').next().unwrap_or_default();
            if let Some((k, v)) = pair.split_once('=') {
                self.cookies.retain(|(name, _)| name != k);
                if !v.is_empty() {
                    self.cookies.push((k.to_owned(), v.to_owned()));
                }
            }
        }
        Page {
            status: r.status(),
            location: r
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            headers: r.headers().clone(),
            set_cookies,
            text: r.text().await.unwrap_or_default(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let r = self
            .client
            .get(format!("{}{path}", self.url))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .expect("GET");
        self.read(r).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.post_from(path, form, None).await
    }

    pub async fn post_from(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Page {
        let mut req = self
            .client
            .post(format!("{}{path}", self.url))
            .header(COOKIE, self.cookie_header())
            .form(form);
        if let Some(o) = origin {
            req = req.header("Origin", o);
        }
        let r = req.send().await.expect("POST");
        self.read(r).await
    }

    /// Signs in through the form; returns the answer to the form's post.
    pub async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        assert_eq!(form.status, StatusCode::OK);
        let csrf = form.csrf();
        self.post(
            "/login",
            &[
                ("email", email),
                ("password", password),
                ("csrf", &csrf),
                ("next", "/incidents"),
            ],
        )
        .await
    }
}

/// A service with an events_v2 integration, and one high-urgency incident on it; returns
/// (service id, key, incident).
async fn incident(app: &TestApp) -> (String, String, Value) {
    let service = app.service("payments").await;
    let key = app.integration(&service, "events_v2").await;
    let r = app
        .enqueue(json!({
            "routing_key": key, "event_action": "trigger", "dedup_key": "db-1",
            "payload": {"summary": "Database <primary> down", "source": "db1",
                        "severity": "critical", "component": "postgres",
                        "custom_details": {"free_disk": "2%"}},
            "links": [{"href": "https://grafana.example/d/db", "text": "dashboard"},
                      {"href": "javascript:alert(1)", "text": "sneaky"}]
        }))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let incidents = app.incidents(&service).await;
    (service, key, incidents[0].clone())
}

#[tokio::test]
async fn signing_in_sets_a_safe_cookie_and_signing_out_ends_the_session() {
    let mut app = TestApp::spawn().await;
    person(&app, "Ada", "responder").await;
    let mut v = Visitor::new(&app);

    // A page without a session sends to the sign-in page, which comes back to it.
    let r = v.get("/incidents?status=all").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.location.as_deref(),
        Some("/login?next=%2Fincidents%3Fstatus%3Dall")
    );

    let wrong = v.sign_in("ada@example.com", "not the password").await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(
        wrong.text.contains("do not match an account"),
        "{}",
        wrong.text
    );
    assert!(wrong.cookie("tocsin_session").is_none());
    let unknown = v.sign_in("nobody@example.com", PASSWORD).await;
    assert_eq!(unknown.status, StatusCode::FORBIDDEN);
    assert!(unknown.text.contains("do not match an account"));

    let ok = v.sign_in("ADA@example.com", PASSWORD).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    assert_eq!(ok.location.as_deref(), Some("/incidents"));
    let cookie = ok.cookie("tocsin_session").expect("session cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    // Served over http here, so not Secure (https public URLs add Secure and __Host-).
    assert!(!cookie.contains("Secure"), "{cookie}");
    let token = cookie
        .split(';')
        .next()
        .and_then(|p| p.split_once('='))
        .map(|(_, t)| t.to_owned())
        .unwrap();
    assert!(token.len() >= 64, "a long random token");

    let dash = v.get("/").await;
    assert_eq!(dash.status, StatusCode::OK);
    assert!(dash.text.contains("What is on fire"));
    assert!(dash.text.contains("Ada"));
    let csp = dash.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    assert_eq!(dash.headers["cache-control"], "no-store");
    // Already signed in: the sign-in page sends on.
    assert_eq!(v.get("/login").await.status, StatusCode::SEE_OTHER);

    // Signing out needs the session's CSRF token, then ends the session for good.
    let csrf = dash.csrf();
    assert_eq!(
        v.post("/logout", &[("csrf", "forged")]).await.status,
        StatusCode::FORBIDDEN
    );
    let out = v.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location.as_deref(), Some("/login"));
    let mut replay = Visitor::new(&app);
    replay.cookies = vec![("tocsin_session".into(), token)];
    assert_eq!(replay.get("/").await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        replay.get("/ui/fragments/dashboard").await.status,
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}

#[tokio::test]
async fn forms_without_this_sessions_csrf_token_are_refused() {
    let mut app = TestApp::spawn().await;
    person(&app, "Ada", "responder").await;
    let (_, _, inc) = incident(&app).await;
    let id = inc["id"].as_str().unwrap();
    let mut v = Visitor::new(&app);
    assert_eq!(
        v.sign_in("ada@example.com", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    let page = v.get(&format!("/incidents/{id}")).await;
    let csrf = page.csrf();
    let ack = format!("/incidents/{id}/acknowledge");

    assert_eq!(v.post(&ack, &[]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        v.post(&ack, &[("csrf", "0".repeat(64).as_str())])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        v.post_from(&ack, &[("csrf", &csrf)], Some("https://evil.example"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // Another person's token is not this session's.
    person(&app, "Bob", "responder").await;
    let mut bob = Visitor::new(&app);
    bob.sign_in("bob@example.com", PASSWORD).await;
    let bobs = bob.get(&format!("/incidents/{id}")).await.csrf();
    assert_ne!(bobs, csrf);
    assert_eq!(
        v.post(&ack, &[("csrf", &bobs)]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get(&format!("/api/v1/incidents/{id}")).await.body["status"],
        "triggered",
        "nothing was acknowledged"
    );
    // A sign-in form posted without its own token (login CSRF) is refused too.
    let mut fresh = Visitor::new(&app);
    let r = fresh
        .post(
            "/login",
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("csrf", "guess"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.cookie("tocsin_session").is_none());

    let done = v
        .post_from(&ack, &[("csrf", &csrf)], Some(&app.url.clone()))
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(
        done.location.as_deref(),
        Some(format!("/incidents/{id}?done=acknowledged").as_str())
    );
    let timeline = app
        .get(&format!("/api/v1/incidents/{id}/timeline"))
        .await
        .body;
    let last = timeline["entries"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["kind"], "acknowledged");
    assert_eq!(last["channel"], "web");
    assert_eq!(last["actor"], "Ada");
    app.stop().await;
}

#[tokio::test]
async fn sign_in_attempts_are_rate_limited_per_account() {
    let mut app = TestApp::spawn().await;
    person(&app, "Ada", "responder").await;
    let mut v = Visitor::new(&app);
    for _ in 0..10 {
        assert_eq!(
            v.sign_in("ada@example.com", "wrong password").await.status,
            StatusCode::FORBIDDEN
        );
    }
    let limited = v.sign_in("ada@example.com", PASSWORD).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers.contains_key("retry-after"));
    assert!(limited.text.contains("Too many sign-in attempts"));
    // The limit refills with time (the server's clock).
    app.clock.advance(jiff::SignedDuration::from_secs(61));
    assert_eq!(
        v.sign_in("ada@example.com", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    app.stop().await;
}

#[tokio::test]
async fn a_password_change_signs_out_the_other_sessions() {
    let mut app = TestApp::spawn().await;
    person(&app, "Ada", "responder").await;
    let (mut phone, mut laptop) = (Visitor::new(&app), Visitor::new(&app));
    phone.sign_in("ada@example.com", PASSWORD).await;
    laptop.sign_in("ada@example.com", PASSWORD).await;
    let form = laptop.get("/account/password").await;
    assert_eq!(form.status, StatusCode::OK);
    let csrf = form.csrf();
    let new = "an even better passphrase";
    let wrong = laptop
        .post(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current", "nope nope nope"),
                ("new", new),
                ("confirm", new),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let mismatch = laptop
        .post(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current", PASSWORD),
                ("new", new),
                ("confirm", "something else"),
            ],
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::BAD_REQUEST);
    let ok = laptop
        .post(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current", PASSWORD),
                ("new", new),
                ("confirm", new),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert!(ok.text.contains("Password changed"));
    assert_eq!(
        laptop.get("/").await.status,
        StatusCode::OK,
        "this one stays"
    );
    assert_eq!(phone.get("/").await.status, StatusCode::SEE_OTHER);
    let mut again = Visitor::new(&app);
    assert_eq!(
        again.sign_in("ada@example.com", PASSWORD).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        again.sign_in("ada@example.com", new).await.status,
        StatusCode::SEE_OTHER
    );
    app.stop().await;
}

#[tokio::test]
async fn pages_show_the_incident_its_alerts_timeline_and_page_path() {
    let mut app = TestApp::spawn().await;
    let ada = person(&app, "Ada", "responder").await;
    let (service, key, inc) = incident(&app).await;
    let id = inc["id"].as_str().unwrap().to_owned();
    // A low-urgency incident beside it, for the filters.
    app.enqueue(
        json!({"routing_key": key, "event_action": "trigger", "dedup_key": "disk",
        "payload": {"summary": "Disk 80% on web2", "source": "web2", "severity": "warning"}}),
    )
    .await;
    let mut v = Visitor::new(&app);
    v.sign_in("ada@example.com", PASSWORD).await;

    let dash = v.get("/").await.text;
    assert!(
        dash.contains("Database &#60;primary&#62; down"),
        "escaped: {dash}"
    );
    assert!(dash.contains("Disk 80% on web2"));
    assert!(dash.contains("data-live-src=\"/ui/fragments/dashboard\""));

    let list = v.get("/incidents").await.text;
    assert!(list.contains("#1") && list.contains("#2"));
    assert!(list.contains("payments"));
    let high = v.get("/incidents?urgency=high").await.text;
    assert!(high.contains("Database &#60;primary&#62; down"));
    assert!(!high.contains("Disk 80% on web2"));
    let other = app.service("billing").await;
    let none = v.get(&format!("/incidents?service={other}")).await.text;
    assert!(none.contains("No incidents match"));
    let by_service = v
        .get(&format!("/incidents?service={service}&status=all"))
        .await;
    assert!(by_service.text.contains("Disk 80% on web2"));
    assert_eq!(
        v.get("/incidents?status=bogus").await.status,
        StatusCode::BAD_REQUEST
    );
    let fragment = v.get("/ui/fragments/incidents?urgency=low").await;
    assert_eq!(fragment.status, StatusCode::OK);
    assert!(fragment.text.starts_with("<div id=\"incident-list\">"));
    assert!(fragment.text.contains("Disk 80% on web2"));
    assert!(!fragment.text.contains("<html"));

    let page = v.get(&format!("/incidents/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    for shown in [
        "#1 Database &#60;primary&#62; down",
        "postgres",
        "free_disk",
        "href=\"https://grafana.example/d/db\"",
        "Timeline",
        "Page path",
        "the service has no escalation policy",
        "id=\"act-acknowledge\"",
        &format!("data-live-incident=\"{id}\""),
    ] {
        assert!(
            page.text.contains(shown),
            "{shown} missing from {}",
            page.text
        );
    }
    assert!(
        !page.text.contains("href=\"javascript:"),
        "only web links become links"
    );
    // By number too, as people say "#1".
    assert!(
        v.get("/incidents/1")
            .await
            .text
            .contains(&format!("data-live-incident=\"{id}\""))
    );
    assert_eq!(v.get("/incidents/999").await.status, StatusCode::NOT_FOUND);

    // Note and resolve through the forms; each lands on the timeline.
    let csrf = page.csrf();
    let base = format!("/incidents/{id}");
    // Without an escalation policy there is nobody to page: the page says why.
    let r = v
        .post(
            &format!("{base}/reassign"),
            &[("csrf", &csrf), ("user_id", &ada)],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.text.contains("role=\"alert\""), "{}", r.text);
    assert!(r.text.contains("no escalation policy"));
    let r = v
        .post(
            &format!("{base}/notes"),
            &[("csrf", &csrf), ("note", "Failing over to the replica")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let empty = v
        .post(&format!("{base}/notes"), &[("csrf", &csrf), ("note", "  ")])
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(empty.text.contains("Write the note first"));
    let r = v.post(&format!("{base}/resolve"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let again = v.post(&format!("{base}/resolve"), &[("csrf", &csrf)]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let done = v.get(&format!("{base}?done=resolved")).await.text;
    assert!(done.contains("Failing over to the replica"));
    assert!(done.contains("Resolved by Ada"));
    assert!(done.contains("role=\"status\">Resolved."));
    assert!(
        !done.contains("id=\"act-resolve\""),
        "no actions once resolved"
    );

    let live = v.get(&format!("/ui/fragments/incidents/{id}")).await;
    assert_eq!(live.status, StatusCode::OK);
    assert!(live.text.contains("id=\"inc-timeline\""));
    assert!(live.text.contains("id=\"inc-state\""));
    app.stop().await;
}

#[tokio::test]
async fn reassigning_and_escalating_page_people_through_the_policy() {
    let mut app = TestApp::spawn().await;
    let ada = person(&app, "Ada", "responder").await;
    let bob = person(&app, "Bob", "responder").await;
    let policy = app
        .post(
            "/api/v1/escalation-policies",
            json!({"name": "Primary", "levels": [
                {"delay_minutes": 5, "targets": [{"type": "user", "id": ada}]},
                {"delay_minutes": 5, "targets": [{"type": "user", "id": bob}]}]}),
        )
        .await;
    assert_eq!(policy.status, StatusCode::CREATED, "{}", policy.body);
    let r = app
        .post(
            "/api/v1/services",
            json!({"name": "payments", "escalation_policy_id": policy.body["id"]}),
        )
        .await;
    let service = r.body["id"].as_str().unwrap().to_owned();
    let key = app.integration(&service, "events_v2").await;
    app.enqueue(
        json!({"routing_key": key, "event_action": "trigger", "dedup_key": "q",
        "payload": {"summary": "Queue stuck", "source": "mq1", "severity": "critical"}}),
    )
    .await;
    let id = app.incidents(&service).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.escalate().await;
    let mut v = Visitor::new(&app);
    v.sign_in("bob@example.com", PASSWORD).await;
    let page = v.get(&format!("/incidents/{id}")).await;
    // The page path names both levels and their people.
    assert!(page.text.contains("Level 1") && page.text.contains("Level 2"));
    assert!(page.text.contains("<option value=\"2\">level 2</option>"));
    let csrf = page.csrf();
    let r = v
        .post(
            &format!("/incidents/{id}/reassign"),
            &[("csrf", &csrf), ("user_id", &bob)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let r = v
        .post(
            &format!("/incidents/{id}/escalate"),
            &[("csrf", &csrf), ("level", "2")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let r = v
        .post(
            &format!("/incidents/{id}/escalate"),
            &[("csrf", &csrf), ("level", "two")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let timeline = app
        .get(&format!("/api/v1/incidents/{id}/timeline"))
        .await
        .body;
    let kinds: Vec<&str> = timeline["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"reassigned"), "{kinds:?}");
    assert!(kinds.contains(&"escalate_requested"), "{kinds:?}");
    let shown = v.get(&format!("/incidents/{id}")).await.text;
    assert!(shown.contains("Bob"));
    app.stop().await;
}

#[tokio::test]
async fn viewers_see_but_cannot_act() {
    let mut app = TestApp::spawn().await;
    person(&app, "Vic", "viewer").await;
    let (_, _, inc) = incident(&app).await;
    let id = inc["id"].as_str().unwrap();
    let mut v = Visitor::new(&app);
    v.sign_in("vic@example.com", PASSWORD).await;
    let page = v.get(&format!("/incidents/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.text.contains("id=\"act-acknowledge\""));
    let csrf = page.csrf();
    let r = v
        .post(&format!("/incidents/{id}/acknowledge"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text.contains("responder"));
    app.stop().await;
}

#[tokio::test]
async fn the_event_stream_names_each_incident_that_changes() {
    let mut app = TestApp::spawn().await;
    person(&app, "Ada", "responder").await;
    let service = app.service("payments").await;
    let key = app.integration(&service, "events_v2").await;
    let mut v = Visitor::new(&app);
    assert_eq!(
        v.client
            .get(format!("{}/ui/events", app.url))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    v.sign_in("ada@example.com", PASSWORD).await;
    let mut stream = v
        .client
        .get(format!("{}/ui/events", app.url))
        .header(COOKIE, format!("tocsin_session={}", v.cookies[0].1))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    // Wait for the stream's first line, so the subscription exists before the event.
    let mut seen = String::new();
    while !seen.contains(": live") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
            .await
            .expect("the stream opens")
            .unwrap()
            .expect("a chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let sent = std::time::Instant::now();
    app.enqueue(
        json!({"routing_key": key, "event_action": "trigger", "dedup_key": "x",
        "payload": {"summary": "Queue stuck", "source": "mq1", "severity": "critical"}}),
    )
    .await;
    let id = app.incidents(&service).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let expected = format!("event: incident\ndata: {id}");
    while !seen.contains(&expected) {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
            .await
            .expect("an event within 5 s")
            .unwrap()
            .expect("a chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "{:?}",
        sent.elapsed()
    );
    drop(stream);
    app.stop().await;
}

#[tokio::test]
async fn services_show_keys_and_examples_to_admins_and_schedules_a_week() {
    let mut app = TestApp::spawn().await;
    let ada = person(&app, "Ada", "admin").await;
    person(&app, "Vic", "viewer").await;
    let service = app.service("payments").await;
    let key = app.integration(&service, "alertmanager").await;
    let sched = app
        .post(
            "/api/v1/schedules",
            json!({"name": "Primary", "time_zone": "Europe/Paris", "layers": [
                {"name": "week", "start": "2026-11-23T09:00:00+01:00",
                 "rotation": {"type": "weekly", "length": 1}, "users": [ada]}]}),
        )
        .await;
    assert_eq!(sched.status, StatusCode::CREATED, "{}", sched.body);
    let sched = sched.body["id"].as_str().unwrap().to_owned();

    let mut admin = Visitor::new(&app);
    admin.sign_in("ada@example.com", PASSWORD).await;
    let page = admin.get(&format!("/services/{service}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains(&key));
    assert!(page.text.contains("webhook_configs"));
    assert!(page.text.contains(&format!(
        "{}/api/v1/integrations/alertmanager/{key}",
        app.url
    )));
    assert!(page.text.contains("data-copy=\"key-"));
    assert!(admin.get("/services").await.text.contains("payments"));

    let mut viewer = Visitor::new(&app);
    viewer.sign_in("vic@example.com", PASSWORD).await;
    let page = viewer.get(&format!("/services/{service}")).await;
    assert!(!page.text.contains(&key), "keys are for admins");
    assert!(page.text.contains("only administrators see them"));

    let list = admin.get("/schedules").await.text;
    assert!(list.contains("Primary") && list.contains("Ada"));
    let week = admin
        .get(&format!("/schedules/{sched}?week=2026-11-25"))
        .await;
    assert_eq!(week.status, StatusCode::OK);
    // The week of 2026-11-25 starts on Monday 23; Ada's shift starts there at 09:00 Paris
    // time (half-hour column 18) and fills every following day.
    assert!(week.text.contains("Mon 23 Nov"));
    assert!(
        week.text.contains("seg row1 gs-18 ge-48 me"),
        "{}",
        week.text
    );
    assert!(week.text.contains("seg row7 gs-0 ge-48 me"));
    assert!(week.text.contains("seg row1 gs-0 ge-18") && week.text.contains("gap"));
    let dash = admin.get("/").await.text;
    assert!(dash.contains("Primary"));
    assert!(dash.contains("(you)"));
    app.stop().await;
}

#[tokio::test]
async fn assets_are_served_from_the_binary() {
    let mut app = TestApp::spawn().await;
    let mut v = Visitor::new(&app);
    let login = v.get("/login").await;
    let css = login
        .text
        .split("href=\"")
        .find(|s| s.starts_with("/assets/app.css?v="))
        .and_then(|s| s.split('"').next())
        .expect("a versioned stylesheet link")
        .to_owned();
    let r = v.get(&css).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "text/css; charset=utf-8");
    assert!(
        r.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert!(r.text.contains("prefers-color-scheme: dark"));
    let js = v.get("/assets/app.js").await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.text.contains("EventSource"));
    assert_eq!(v.get("/assets/nope.js").await.status, StatusCode::NOT_FOUND);
    // Nothing on the page comes from another host.
    assert!(!login.text.contains("http://") && !login.text.contains("https://"));
    app.stop().await;
}

#[tokio::test]
async fn admins_create_services_and_integrations_from_forms() {
    let mut app = TestApp::spawn().await;
    person(&app, "Ada", "admin").await;
    person(&app, "Rob", "responder").await;
    let mut admin = Visitor::new(&app);
    admin.sign_in("ada@example.com", PASSWORD).await;
    let list = admin.get("/services").await;
    assert!(list.text.contains("href=\"/services/new\""));
    let form = admin.get("/services/new").await;
    assert_eq!(form.status, StatusCode::OK);
    for label in [
        "for=\"name\"",
        "for=\"escalation_policy_id\"",
        "for=\"ack_timeout_minutes\"",
    ] {
        assert!(form.text.contains(label), "labelled control {label}");
    }
    let csrf = form.csrf();

    // Errors come back next to their fields, with the API's words, and nothing is written.
    let bad = admin
        .post("/services", &[("csrf", &csrf), ("name", "  ")])
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.text.contains("id=\"name-err\">Must not be empty."),
        "{}",
        bad.text
    );
    assert!(bad.text.contains("aria-invalid=\"true\""));
    let bad = admin
        .post(
            "/services",
            &[
                ("csrf", &csrf),
                ("name", "checkout"),
                ("ack_timeout_minutes", "30"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.text
            .contains("id=\"ack-err\">Needs an escalation_policy_id"),
        "{}",
        bad.text
    );
    assert!(
        bad.text.contains("value=\"checkout\""),
        "the typed values stay"
    );
    let bad = admin
        .post(
            "/services",
            &[
                ("csrf", &csrf),
                ("name", "checkout"),
                ("ack_timeout_minutes", "soon"),
            ],
        )
        .await;
    assert!(bad.text.contains("Must be a whole number of minutes."));
    assert!(
        app.get("/api/v1/services").await.body["services"]
            .as_array()
            .unwrap()
            .is_empty(),
        "no partial write"
    );

    // Refused without the session's token, and for a responder.
    let forged = admin
        .post("/services", &[("csrf", "forged"), ("name", "checkout")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let mut rob = Visitor::new(&app);
    rob.sign_in("rob@example.com", PASSWORD).await;
    let page = rob.get("/services/new").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.text.contains("needs the admin role"), "{}", page.text);
    let rob_csrf = rob.get("/services").await.csrf();
    assert!(!rob.get("/services").await.text.contains("/services/new"));
    let refused = rob
        .post("/services", &[("csrf", &rob_csrf), ("name", "sneaky")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // The happy path: created, then sent to the service's page.
    let ok = admin
        .post(
            "/services",
            &[
                ("csrf", &csrf),
                ("name", "checkout"),
                ("description", "Card payments"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    let to = ok.location.unwrap();
    assert!(to.ends_with("?done=created"), "{to}");
    let page = admin.get(&to).await;
    assert!(page.text.contains("Service created"));
    assert!(page.text.contains("Card payments"));
    assert!(page.text.contains("Page path"));
    let service = to
        .trim_start_matches("/services/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();

    // Integrations: a bad type is refused beside the field; a good one shows its key and
    // ready-to-paste examples built from the public URL.
    let path = format!("/services/{service}/integrations");
    let bad = admin
        .post(&path, &[("csrf", &csrf), ("type", "carrier-pigeon")])
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.text
            .contains("id=\"int-type-err\">Must be one of events_v2"),
        "{}",
        bad.text
    );
    let refused = rob
        .post(&path, &[("csrf", &rob_csrf), ("type", "generic")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        admin.post(&path, &[("type", "generic")]).await.status,
        StatusCode::FORBIDDEN,
        "no CSRF token"
    );
    for kind in ["events_v2", "alertmanager"] {
        let ok = admin
            .post(&path, &[("csrf", &csrf), ("type", kind), ("name", "")])
            .await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    }
    let integrations = app
        .get(&format!("/api/v1/services/{service}/integrations"))
        .await
        .body["integrations"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(integrations.len(), 2);
    let page = admin.get(&format!("/services/{service}")).await;
    for i in &integrations {
        assert!(page.text.contains(i["key"].as_str().unwrap()));
    }
    for example in [
        "pagerduty_configs",
        "webhook_configs",
        "curl -sS",
        "contactPoints",
    ] {
        assert!(page.text.contains(example), "{example}");
    }
    assert!(page.text.contains(&format!("{}/v2/enqueue", app.url)));

    // Deleting one takes its key out of service at once.
    let am = integrations
        .iter()
        .find(|i| i["type"] == "alertmanager")
        .unwrap();
    let gone = admin
        .post(
            &format!(
                "/services/{service}/integrations/{}/delete",
                am["id"].as_str().unwrap()
            ),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER);
    let r = app
        .post_raw(
            &format!(
                "/api/v1/integrations/alertmanager/{}",
                am["key"].as_str().unwrap()
            ),
            br#"{"version":"4","status":"firing","alerts":[]}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    app.stop().await;
}

#[tokio::test]
async fn admins_build_escalation_policies_level_by_level() {
    let mut app = TestApp::spawn().await;
    let ada = person(&app, "Ada", "admin").await;
    let rob = person(&app, "Rob", "responder").await;
    let mut admin = Visitor::new(&app);
    admin.sign_in("ada@example.com", PASSWORD).await;
    let form = admin.get("/escalation-policies/new").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.text);
    assert!(form.text.contains("Level 2") && !form.text.contains("Level 3"));
    let csrf = form.csrf();
    let policies = || async { app.get("/api/v1/escalation-policies").await.body };

    // "Add a level" shows the form again with one more, keeping what was chosen; no write.
    let more = admin
        .post(
            "/escalation-policies",
            &[
                ("csrf", &csrf),
                ("name", "Payments"),
                ("levels", "2"),
                ("users_0", &ada),
                ("delay_0", "15"),
                ("add_level", "1"),
            ],
        )
        .await;
    assert_eq!(more.status, StatusCode::OK);
    assert!(more.text.contains("Level 3"));
    assert!(
        more.text
            .contains(&format!("<option value=\"{ada}\" selected>"))
    );

    // Errors: next to the name, next to the level, or about the whole list of levels.
    let bad = admin
        .post(
            "/escalation-policies",
            &[
                ("csrf", &csrf),
                ("name", ""),
                ("levels", "2"),
                ("users_0", &ada),
                ("delay_0", "15"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.text.contains("id=\"name-err\">Must be 1 to"),
        "{}",
        bad.text
    );
    let bad = admin
        .post(
            "/escalation-policies",
            &[
                ("csrf", &csrf),
                ("name", "Payments"),
                ("levels", "2"),
                ("users_0", &ada),
                ("delay_0", "15"),
                ("users_1", &rob),
                ("delay_1", "0"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.text
            .contains("id=\"level-1-err\">Must be from 1 to 1440."),
        "{}",
        bad.text
    );
    let bad = admin
        .post(
            "/escalation-policies",
            &[
                ("csrf", &csrf),
                ("name", "Payments"),
                ("levels", "2"),
                ("delay_0", "15"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.text
            .contains("id=\"levels-err\">Must have 1 to 20 levels."),
        "{}",
        bad.text
    );
    let bad = admin
        .post(
            "/escalation-policies",
            &[
                ("csrf", &csrf),
                ("name", "Payments"),
                ("levels", "1"),
                ("users_0", &ada),
                ("delay_0", "soon"),
            ],
        )
        .await;
    assert!(
        bad.text
            .contains("The delay must be a whole number of minutes.")
    );
    assert!(
        policies().await["escalation_policies"]
            .as_array()
            .unwrap()
            .is_empty(),
        "no partial write"
    );

    // Refused without the token and for a responder.
    let good: Vec<(&str, &str)> = vec![
        ("name", "Payments"),
        ("levels", "3"),
        ("users_0", &ada),
        ("users_0", &rob),
        ("rr_0", "1"),
        ("delay_0", "10"),
        ("users_1", &ada),
        ("delay_1", "20"),
        ("delay_2", "30"),
    ];
    assert_eq!(
        admin.post("/escalation-policies", &good).await.status,
        StatusCode::FORBIDDEN
    );
    let mut responder = Visitor::new(&app);
    responder.sign_in("rob@example.com", PASSWORD).await;
    assert_eq!(
        responder.get("/escalation-policies/new").await.status,
        StatusCode::FORBIDDEN
    );
    let rcsrf = responder.get("/escalation-policies").await.csrf();
    let mut with = good.clone();
    with.push(("csrf", &rcsrf));
    assert_eq!(
        responder.post("/escalation-policies", &with).await.status,
        StatusCode::FORBIDDEN
    );

    let mut with = good.clone();
    with.push(("csrf", &csrf));
    let ok = admin.post("/escalation-policies", &with).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    let list = policies().await;
    let p = &list["escalation_policies"][0];
    assert_eq!(
        p["levels"].as_array().unwrap().len(),
        2,
        "the blank level is left out"
    );
    assert_eq!(p["levels"][0]["targets"][0]["type"], "round_robin");
    assert_eq!(p["levels"][1]["delay_minutes"], 20);
    let page = admin.get(ok.location.as_deref().unwrap()).await;
    assert!(page.text.contains("Escalation policy created"));
    assert!(
        page.text.contains("one of Ada, Rob in turn"),
        "{}",
        page.text
    );

    // A service on it shows its page path; the list names the service.
    let pid = p["id"].as_str().unwrap();
    let svc = app
        .post(
            "/api/v1/services",
            json!({"name": "checkout", "escalation_policy_id": pid}),
        )
        .await;
    let svc = svc.body["id"].as_str().unwrap();
    let page = responder.get(&format!("/services/{svc}")).await;
    assert!(page.text.contains("Level 1"), "{}", page.text);
    assert!(page.text.contains("Level 2"));
    assert!(
        responder
            .get("/escalation-policies")
            .await
            .text
            .contains("checkout")
    );
    app.stop().await;
}

#[tokio::test]
async fn schedules_are_created_overridden_and_shared_from_the_ui() {
    let mut app = TestApp::spawn().await;
    let ada = person(&app, "Ada", "admin").await;
    let bob = person(&app, "Bob", "responder").await;
    person(&app, "Vic", "viewer").await;
    let mut admin = Visitor::new(&app);
    admin.sign_in("ada@example.com", PASSWORD).await;
    let form = admin.get("/schedules/new").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.text);
    assert!(
        form.text.contains("value=\"Europe/Paris\""),
        "the admin's zone by default"
    );
    let csrf = form.csrf();
    let schedules = || async { app.get("/api/v1/schedules").await.body["schedules"].clone() };

    // The core's errors, beside the field or the layer they concern; nothing written.
    let base = |tz: &'static str, length: &'static str| -> Vec<(&'static str, String)> {
        vec![
            ("name", "Primary".into()),
            ("time_zone", tz.into()),
            ("layers", "1".into()),
            ("start_0", "2026-11-23T09:00".into()),
            ("rotation_0", "daily".into()),
            ("length_0", length.into()),
            ("user_0", ada.clone()),
            ("user_0", String::new()),
            ("user_0", bob.clone()),
        ]
    };
    let send = |v: &mut Visitor, mut f: Vec<(&'static str, String)>, csrf: &str| {
        f.push(("csrf", csrf.to_owned()));
        let owned: Vec<(String, String)> = f.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let client = v.client.clone();
        let url = format!("{}/schedules", v.url);
        let cookie = v
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        async move {
            let r = client
                .post(url)
                .header(COOKIE, cookie)
                .form(&owned)
                .send()
                .await
                .expect("POST");
            (
                r.status(),
                r.headers()
                    .get(LOCATION)
                    .map(|l| l.to_str().unwrap().to_owned()),
                r.text().await.unwrap(),
            )
        }
    };
    let (status, _, text) = send(&mut admin, base("Mars/Olympus", "1"), &csrf).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        text.contains("id=\"tz-err\">Is not a known IANA time zone"),
        "{text}"
    );
    let (status, _, text) = send(&mut admin, base("Europe/Paris", "0"), &csrf).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        text.contains("id=\"layer-0-err\">Must be between 1 and"),
        "{text}"
    );
    let (status, _, _) = send(&mut admin, base("Europe/Paris", "1"), "forged").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut responder = Visitor::new(&app);
    responder.sign_in("bob@example.com", PASSWORD).await;
    assert_eq!(
        responder.get("/schedules/new").await.status,
        StatusCode::FORBIDDEN
    );
    let rcsrf = responder.get("/schedules").await.csrf();
    let (status, _, _) = send(&mut responder, base("Europe/Paris", "1"), &rcsrf).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        schedules().await.as_array().unwrap().is_empty(),
        "no partial write"
    );

    // Created: daily shifts from Monday 09:00 Paris, Ada then Bob (the blank slot is skipped).
    let (status, to, text) = send(&mut admin, base("Europe/Paris", "1"), &csrf).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{text}");
    let to = to.unwrap();
    let id = to
        .trim_start_matches("/schedules/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let spec = &schedules().await[0];
    assert_eq!(spec["layers"][0]["users"], json!([ada, bob]));
    assert_eq!(spec["layers"][0]["start"], "2026-11-23T08:00:00Z");
    let page = admin.get(&format!("/schedules/{id}?week=2026-11-23")).await;
    assert!(
        page.text.contains("seg row1 gs-18 ge-48 me"),
        "{}",
        page.text
    );
    assert!(
        page.text.contains("seg row2 gs-18 ge-48\""),
        "Bob's day, not mine"
    );

    // An override from the timeline: a bar's link fills in the form.
    let bar = page
        .text
        .split("href=\"")
        .find(|s| {
            s.starts_with(&format!(
                "/schedules/{id}?week=2026-11-23&#38;from=2026-11-24T09%3A00"
            ))
        })
        .map(|s| s.split('"').next().unwrap().replace("&#38;", "&"))
        .unwrap_or_else(|| panic!("a bar links to the override form: {}", page.text));
    let prefilled = responder.get(&bar).await;
    assert!(
        prefilled.text.contains("value=\"2026-11-24T09:00\""),
        "{}",
        prefilled.text
    );
    assert!(prefilled.text.contains("value=\"2026-11-25T09:00\""));
    let opath = format!("/schedules/{id}/overrides");
    let bad = responder
        .post(
            &opath,
            &[
                ("csrf", &rcsrf),
                ("week", "2026-11-23"),
                ("user_id", &bob),
                ("start", "2026-11-24T12:00"),
                ("end", "2026-11-24T10:00"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.text.contains("id=\"o-end-err\">Must be after start."),
        "{}",
        bad.text
    );
    assert_eq!(
        responder
            .post(
                &opath,
                &[
                    ("week", "2026-11-23"),
                    ("user_id", &bob),
                    ("start", "2026-11-24T10:00"),
                    ("end", "2026-11-24T12:00")
                ]
            )
            .await
            .status,
        StatusCode::FORBIDDEN,
        "no CSRF token"
    );
    let mut viewer = Visitor::new(&app);
    viewer.sign_in("vic@example.com", PASSWORD).await;
    let vcsrf = viewer.get("/schedules").await.csrf();
    assert_eq!(
        viewer
            .post(
                &opath,
                &[
                    ("csrf", &vcsrf),
                    ("user_id", &bob),
                    ("start", "2026-11-24T10:00"),
                    ("end", "2026-11-24T12:00")
                ]
            )
            .await
            .status,
        StatusCode::FORBIDDEN,
        "viewers do not override"
    );
    // (The clock says Wednesday 25 November, 11:00 in Paris: an override in the past is
    // dropped, so this one is on Thursday, Bob's day.)
    let ok = responder
        .post(
            &opath,
            &[
                ("csrf", &rcsrf),
                ("week", "2026-11-23"),
                ("user_id", &ada),
                ("start", "2026-11-26T10:00"),
                ("end", "2026-11-26T12:00"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    let page = responder.get(ok.location.as_deref().unwrap()).await;
    assert!(page.text.contains("Override added"));
    // Thursday: Bob 09:00–10:00, Ada 10:00–12:00, Bob again from 12:00.
    assert!(
        page.text.contains("seg row4 gs-18 ge-20 me\""),
        "{}",
        page.text
    );
    assert!(page.text.contains("seg row4 gs-20 ge-24\""));
    assert!(page.text.contains("seg row4 gs-24 ge-48 me\""));
    assert!(page.text.contains("Ada: Thu 26 Nov 10:00"));

    // The month view shows the same weeks.
    let month = admin.get(&format!("/schedules/{id}?month=2026-11")).await;
    assert_eq!(month.status, StatusCode::OK);
    assert!(month.text.contains("November 2026") && month.text.contains("23 Nov – 29 Nov 2026"));

    // The calendar link, shown on request, and revoked by an admin only.
    let shown = responder
        .post(&format!("/schedules/{id}/feed"), &[("csrf", &rcsrf)])
        .await;
    assert_eq!(shown.status, StatusCode::SEE_OTHER);
    let page = responder.get(shown.location.as_deref().unwrap()).await;
    let ics = page
        .text
        .split("id=\"ics-url\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the calendar link")
        .to_owned();
    assert!(ics.starts_with(&format!("{}/ics/", app.url)), "{ics}");
    let feed = reqwest::get(&ics).await.unwrap();
    assert_eq!(feed.status(), StatusCode::OK);
    assert!(feed.text().await.unwrap().contains("BEGIN:VCALENDAR"));
    let revoke = format!("/schedules/{id}/feed/revoke");
    assert_eq!(
        responder.post(&revoke, &[("csrf", &rcsrf)]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        admin.post(&revoke, &[("csrf", &csrf)]).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        reqwest::get(&ics).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

/// A local webhook receiver: every JSON body posted to it, in order.
async fn hook_sink() -> (std::sync::Arc<std::sync::Mutex<Vec<String>>>, String) {
    let got: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let keep = keep.clone();
            async move {
                keep.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (got, url)
}

/// A Twilio-shaped server that takes text messages: the body of each, in order.
async fn twilio_sink() -> (std::sync::Arc<std::sync::Mutex<Vec<String>>>, String) {
    let got: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/2010-04-01/Accounts/{sid}/Messages.json",
        axum::routing::post(
            move |axum::extract::Form(f): axum::extract::Form<
                std::collections::HashMap<String, String>,
            >| {
                let keep = keep.clone();
                async move {
                    keep.lock()
                        .unwrap()
                        .push(f.get("Body").cloned().unwrap_or_default());
                    (
                        axum::http::StatusCode::CREATED,
                        axum::Json(json!({"sid": "SM0001", "status": "queued"})),
                    )
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (got, url)
}

#[tokio::test]
async fn people_manage_their_contact_methods_and_rules_and_admins_their_people_and_teams() {
    let (texts, twilio) = twilio_sink().await;
    let mut app = TestApp::spawn_with(Options {
        notify: tocsin::config::NotifySection {
            twilio: Some(tocsin::config::TwilioSection {
                base_url: Some(twilio),
                account_sid: "AC0123".into(),
                auth_token: "secret-token".into(),
                from_number: "+15550000000".into(),
                status_callback_base: None,
            }),
            ..Default::default()
        },
        ..Options::default()
    })
    .await;
    person(&app, "Ada", "admin").await;
    let rob = person(&app, "Rob", "responder").await;
    person(&app, "Vic", "viewer").await;
    let (hooks, hook_url) = hook_sink().await;
    let mut v = Visitor::new(&app);
    v.sign_in("rob@example.com", PASSWORD).await;
    let page = v.get("/account").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("Europe/Paris") && page.text.contains("No contact methods yet"));
    let csrf = page.csrf();

    // A contact method: the API's check of the address, beside the field.
    let bad = v
        .post(
            "/account/contact-methods",
            &[("csrf", &csrf), ("type", "email"), ("address", "nope")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text.contains("id=\"cm-address-err\">"), "{}", bad.text);
    assert!(bad.text.contains("value=\"nope\""));
    assert_eq!(
        v.post(
            "/account/contact-methods",
            &[("type", "webhook"), ("address", &hook_url)]
        )
        .await
        .status,
        StatusCode::FORBIDDEN,
        "no CSRF token"
    );
    let mut vic = Visitor::new(&app);
    vic.sign_in("vic@example.com", PASSWORD).await;
    let vcsrf = vic.get("/account").await.csrf();
    assert_eq!(
        vic.post(
            "/account/contact-methods",
            &[
                ("csrf", &vcsrf),
                ("type", "webhook"),
                ("address", &hook_url)
            ]
        )
        .await
        .status,
        StatusCode::FORBIDDEN,
        "viewers are not paged"
    );
    let ok = v
        .post(
            "/account/contact-methods",
            &[
                ("csrf", &csrf),
                ("type", "webhook"),
                ("address", &hook_url),
                ("label", "pager"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    let methods = app
        .get(&format!("/api/v1/users/{rob}/contact-methods"))
        .await
        .body["contact_methods"]
        .clone();
    let mid = methods[0]["id"].as_str().unwrap().to_owned();

    // A webhook needs no code; a phone does: its code comes through the Twilio-shaped
    // server, and a wrong one is refused with the store's words.
    assert!(v.get("/account").await.text.contains(">verified<"));
    let ok = v
        .post(
            "/account/contact-methods",
            &[
                ("csrf", &csrf),
                ("type", "sms"),
                ("address", "+33612345678"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    let sms = app
        .get(&format!("/api/v1/users/{rob}/contact-methods"))
        .await
        .body["contact_methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["type"] == "sms")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = v.get("/account").await;
    assert!(page.text.contains(">not verified<"));
    let sent = v
        .post(
            &format!("/account/contact-methods/{sms}/send-code"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.text);
    let body = texts.lock().unwrap()[0].clone();
    let code = body
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap_or_else(|| panic!("a code in {body}"))
        .to_owned();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let verify = format!("/account/contact-methods/{sms}/verify");
    let bad = v.post(&verify, &[("csrf", &csrf), ("code", wrong)]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.text.contains("class=\"error\" role=\"alert\">"),
        "{}",
        bad.text
    );
    let ok = v.post(&verify, &[("csrf", &csrf), ("code", &code)]).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    let page = v.get("/account").await;
    assert!(!page.text.contains(">not verified<"), "{}", page.text);
    let test = v
        .post(
            &format!("/account/contact-methods/{mid}/test"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(test.status, StatusCode::SEE_OTHER, "{}", test.text);
    assert_eq!(hooks.lock().unwrap().len(), 1, "the test message arrived");

    // A notification rule.
    let bad = v
        .post(
            "/account/notification-rules",
            &[
                ("csrf", &csrf),
                ("contact_method_id", &mid),
                ("delay_minutes", "soon"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.text
            .contains("id=\"nr-delay-err\">Must be a whole number"),
        "{}",
        bad.text
    );
    let bad = v
        .post(
            "/account/notification-rules",
            &[
                ("csrf", &csrf),
                ("contact_method_id", &mid),
                ("delay_minutes", "5000"),
            ],
        )
        .await;
    assert!(
        bad.text
            .contains("id=\"nr-delay-err\">Must be from 0 to 1440."),
        "{}",
        bad.text
    );
    let ok = v
        .post(
            "/account/notification-rules",
            &[
                ("csrf", &csrf),
                ("contact_method_id", &mid),
                ("delay_minutes", "0"),
                ("urgency", "high"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    assert!(v.get("/account").await.text.contains("At once: webhook"));

    // Your shifts as a calendar: shown on request, revoked by you.
    assert_eq!(
        v.post("/account/feed", &[("csrf", "forged")]).await.status,
        StatusCode::FORBIDDEN
    );
    let shown = v.post("/account/feed", &[("csrf", &csrf)]).await;
    assert_eq!(shown.status, StatusCode::SEE_OTHER);
    let page = v.get(shown.location.as_deref().unwrap()).await;
    let ics = page
        .text
        .split("id=\"feed-url\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the calendar link")
        .to_owned();
    assert_eq!(reqwest::get(&ics).await.unwrap().status(), StatusCode::OK);
    let revoked = v.post("/account/feed/revoke", &[("csrf", &csrf)]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(
        reqwest::get(&ics).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    // People: everyone sees the list; only admins add, with the API's checks.
    let people = v.get("/people").await;
    assert!(people.text.contains("ada@example.com") && !people.text.contains("Add a person"));
    assert_eq!(
        v.post(
            "/people",
            &[
                ("csrf", &csrf),
                ("name", "Eve"),
                ("email", "eve@example.com")
            ]
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let mut ada = Visitor::new(&app);
    ada.sign_in("ada@example.com", PASSWORD).await;
    let acsrf = ada.get("/people").await.csrf();
    let bad = ada
        .post(
            "/people",
            &[
                ("csrf", &acsrf),
                ("name", "Eve"),
                ("email", "not-an-email"),
                ("role", "responder"),
                ("time_zone", "UTC"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text.contains("id=\"p-email-err\">"), "{}", bad.text);
    let ok = ada
        .post(
            "/people",
            &[
                ("csrf", &acsrf),
                ("name", "Eve"),
                ("email", "eve@example.com"),
                ("role", "viewer"),
                ("time_zone", "Asia/Tokyo"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    let mut eve = Visitor::new(&app);
    assert_eq!(
        eve.sign_in("eve@example.com", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );

    // Roles: an admin changes one at once; the last admin keeps theirs.
    let ada_id = app.get("/api/v1/users").await.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "Ada")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let last = ada
        .post(
            &format!("/people/{ada_id}/role"),
            &[("csrf", &acsrf), ("role", "viewer")],
        )
        .await;
    assert_eq!(last.status, StatusCode::CONFLICT, "{}", last.text);
    assert!(
        last.text.contains("This is the last admin"),
        "{}",
        last.text
    );
    assert_eq!(
        v.post(
            &format!("/people/{rob}/role"),
            &[("csrf", &csrf), ("role", "admin")]
        )
        .await
        .status,
        StatusCode::FORBIDDEN,
        "a responder cannot make themself admin"
    );
    assert_eq!(
        ada.post(&format!("/people/{rob}/role"), &[("role", "viewer")])
            .await
            .status,
        StatusCode::FORBIDDEN,
        "no CSRF token"
    );
    let bad = ada
        .post(
            &format!("/people/{rob}/role"),
            &[("csrf", &acsrf), ("role", "overlord")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text.contains("Role: Must be one of"), "{}", bad.text);
    let ok = ada
        .post(
            &format!("/people/{rob}/role"),
            &[("csrf", &acsrf), ("role", "viewer")],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    let now_viewer = v
        .post(
            "/account/notification-rules",
            &[
                ("csrf", &csrf),
                ("contact_method_id", &mid),
                ("delay_minutes", "1"),
            ],
        )
        .await;
    assert_eq!(
        now_viewer.status,
        StatusCode::FORBIDDEN,
        "the new role applies at once"
    );
    assert_eq!(
        ada.post(
            &format!("/people/{rob}/role"),
            &[("csrf", &acsrf), ("role", "responder")]
        )
        .await
        .status,
        StatusCode::SEE_OTHER
    );

    // Teams and their members.
    let bad = ada.post("/teams", &[("csrf", &acsrf), ("name", " ")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text.contains("id=\"t-name-err\">Must not be empty."));
    assert_eq!(
        v.post("/teams", &[("csrf", &csrf), ("name", "Payments")])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        ada.post("/teams", &[("csrf", &acsrf), ("name", "Payments")])
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let team = app.get("/api/v1/teams").await.body["teams"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ok = ada
        .post(
            &format!("/teams/{team}/members"),
            &[("csrf", &acsrf), ("user_id", &rob)],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    assert!(v.get("/teams").await.text.contains("Members: Rob"));
    app.stop().await;
}

#[tokio::test]
async fn admins_manage_api_tokens_and_test_providers_in_settings() {
    let mut app = TestApp::spawn().await;
    person(&app, "Ada", "admin").await;
    person(&app, "Rob", "responder").await;
    let (hooks, hook_url) = hook_sink().await;
    let mut rob = Visitor::new(&app);
    rob.sign_in("rob@example.com", PASSWORD).await;
    let page = rob.get("/settings").await;
    assert_eq!(
        page.status,
        StatusCode::FORBIDDEN,
        "a responder cannot reach admin pages"
    );
    assert!(page.text.contains("needs the admin role"));
    let rcsrf = rob.get("/").await.csrf();
    assert!(!rob.get("/").await.text.contains("href=\"/settings\""));
    assert_eq!(
        rob.post(
            "/settings/tokens",
            &[("csrf", &rcsrf), ("name", "mine"), ("role", "admin")]
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );

    let mut ada = Visitor::new(&app);
    ada.sign_in("ada@example.com", PASSWORD).await;
    let page = ada.get("/settings").await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = page.csrf();
    let bad = ada
        .post(
            "/settings/tokens",
            &[("csrf", &csrf), ("name", ""), ("role", "viewer")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.text.contains("id=\"tk-name-err\">Must not be empty."),
        "{}",
        bad.text
    );
    assert_eq!(
        ada.post("/settings/tokens", &[("name", "ci"), ("role", "viewer")])
            .await
            .status,
        StatusCode::FORBIDDEN,
        "no CSRF token"
    );
    let made = ada
        .post(
            "/settings/tokens",
            &[("csrf", &csrf), ("name", "ci"), ("role", "viewer")],
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.text);
    let secret = made
        .text
        .split("id=\"token-secret\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the secret, shown once")
        .to_owned();
    let r = app
        .call("GET", "/api/v1/services", Some(&secret), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "the new token works");
    let again = ada.get("/settings").await;
    assert!(!again.text.contains(&secret), "never shown again");
    let tokens = app.get("/api/v1/tokens").await.body["tokens"].clone();
    let id = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ci")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let gone = ada
        .post(&format!("/settings/tokens/{id}/revoke"), &[("csrf", &csrf)])
        .await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER);
    let r = app
        .call("GET", "/api/v1/services", Some(&secret), None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "revoked");

    // A test message through a provider, to any address.
    let bad = ada
        .post(
            "/settings/test",
            &[("csrf", &csrf), ("type", "email"), ("address", "nope")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text.contains("id=\"ts-address-err\">"), "{}", bad.text);
    let ok = ada
        .post(
            "/settings/test",
            &[("csrf", &csrf), ("type", "webhook"), ("address", &hook_url)],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert!(ok.text.contains("Test message sent"));
    assert_eq!(hooks.lock().unwrap().len(), 1);
    // No SMS provider here: the reason is shown, not an error page.
    let no = ada
        .post(
            "/settings/test",
            &[
                ("csrf", &csrf),
                ("type", "sms"),
                ("address", "+33612345678"),
            ],
        )
        .await;
    assert_eq!(no.status, StatusCode::BAD_GATEWAY, "{}", no.text);
    assert!(no.text.contains("could not be delivered"), "{}", no.text);
    app.stop().await;
}

#[tokio::test]
async fn settings_show_the_delivery_configuration_but_never_its_secrets() {
    const SMTP_PASSWORD: &str = "smtp-pass-Zq81";
    const TWILIO_TOKEN: &str = "twilio-token-Kp22";
    let notify: tocsin::config::NotifySection = toml::from_str(&format!(
        r#"
[smtp]
host = "mail.example.test"
port = 2525
tls = "tls"
username = "pager"
password = "{SMTP_PASSWORD}"
from = "Tocsin <tocsin@example.test>"
[twilio]
base_url = "https://sms.example.test"
account_sid = "AC0042"
auth_token = "{TWILIO_TOKEN}"
from_number = "+15005550006"
[slack]
signing_secret = "slack-secret-Yt5"
"#
    ))
    .expect("a [notify] section");
    let mut app = TestApp::spawn_with(Options {
        notify,
        ..Options::default()
    })
    .await;
    person(&app, "Ada", "admin").await;
    person(&app, "Rob", "responder").await;
    let mut ada = Visitor::new(&app);
    ada.sign_in("ada@example.com", PASSWORD).await;
    let page = ada.get("/settings").await;
    assert_eq!(page.status, StatusCode::OK);
    for shown in [
        "mail.example.test",
        "<dd>2525</dd>",
        "<dd>tls</dd>",
        "tocsin@example.test",
        "<dd>pager</dd>",
        "https://sms.example.test",
        "AC0042",
        "+15005550006",
    ] {
        assert!(page.text.contains(shown), "{shown} in {}", page.text);
    }
    assert!(
        page.text.contains("<dt>Password</dt><dd>set</dd>")
            && page.text.contains("<dt>Auth token</dt><dd>set</dd>")
            && page
                .text
                .contains("<dt>Slack signing secret</dt><dd>set</dd>")
            && page
                .text
                .contains("<dt>Telegram webhook secret</dt><dd>not set</dd>"),
        "{}",
        page.text
    );
    for secret in [SMTP_PASSWORD, TWILIO_TOKEN, "slack-secret-Yt5"] {
        assert!(!page.text.contains(secret), "{secret} shown");
    }
    // Admins only, as the rest of the page.
    let mut rob = Visitor::new(&app);
    rob.sign_in("rob@example.com", PASSWORD).await;
    let page = rob.get("/settings").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(!page.text.contains("mail.example.test"));
    app.stop().await;

    // Nothing configured: said so.
    let mut bare = TestApp::spawn().await;
    person(&bare, "Ada", "admin").await;
    let mut ada = Visitor::new(&bare);
    ada.sign_in("ada@example.com", PASSWORD).await;
    let page = ada.get("/settings").await;
    assert!(
        page.text.contains("id=\"delivery-smtp\">Not configured")
            && page.text.contains("id=\"delivery-sms\">Not configured"),
        "{}",
        page.text
    );
    bare.stop().await;
}

#[tokio::test]
async fn admins_edit_a_service_with_the_rules_of_creation() {
    let mut app = TestApp::spawn().await;
    person(&app, "Ada", "admin").await;
    person(&app, "Rob", "responder").await;
    let service = app.service("payments").await;
    app.service("checkout").await;
    let key = app.integration(&service, "events_v2").await;
    let first = app.get("/api/v1/users").await.body["users"][0]["id"].clone();
    let policy = app
        .post(
            "/api/v1/escalation-policies",
            json!({"name": "Day", "levels": [{"delay_minutes": 10,
                   "targets": [{"type": "user", "id": first}]}]}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut ada = Visitor::new(&app);
    ada.sign_in("ada@example.com", PASSWORD).await;
    let path = format!("/services/{service}/edit");
    let form = ada.get(&path).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.text);
    assert!(form.text.contains("value=\"payments\"") && form.text.contains("Save service"));
    let csrf = form.csrf();

    let taken = ada
        .post(&path, &[("csrf", &csrf), ("name", "checkout")])
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.text);
    assert!(
        taken
            .text
            .contains("A service with this name already exists.")
    );
    let bad = ada
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("name", "payments"),
                ("ack_timeout_minutes", "2000"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.text
            .contains("id=\"ack-err\">Needs an escalation_policy_id"),
        "{}",
        bad.text
    );
    assert_eq!(
        app.get(&format!("/api/v1/services/{service}")).await.body["name"],
        "payments",
        "no partial write"
    );
    assert_eq!(
        ada.post(&path, &[("name", "payments v2")]).await.status,
        StatusCode::FORBIDDEN,
        "no CSRF token"
    );
    let mut rob = Visitor::new(&app);
    rob.sign_in("rob@example.com", PASSWORD).await;
    assert_eq!(rob.get(&path).await.status, StatusCode::FORBIDDEN);
    let rcsrf = rob.get("/services").await.csrf();
    assert_eq!(
        rob.post(&path, &[("csrf", &rcsrf), ("name", "mine")])
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let ok = ada
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("name", "payments v2"),
                ("description", "Cards"),
                ("escalation_policy_id", &policy),
                ("ack_timeout_minutes", "30"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text);
    let svc = app.get(&format!("/api/v1/services/{service}")).await.body;
    assert_eq!(svc["name"], "payments v2");
    assert_eq!(svc["escalation_policy_id"], policy.as_str());
    assert_eq!(svc["ack_timeout_minutes"], 30);
    let page = ada.get(ok.location.as_deref().unwrap()).await;
    assert!(
        page.text.contains("Service saved.") && page.text.contains(&key),
        "integrations stay"
    );

    // The same change through the REST API (a full replacement, admins only).
    let responder_token = app.token("responder").await;
    let put = |token: String, path: String, body: serde_json::Value| {
        let app = &app;
        async move { app.call("PUT", &path, Some(&token), Some(body)).await }
    };
    let one = format!("/api/v1/services/{service}");
    let r = put(responder_token, one.clone(), json!({"name": "nope"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = put(
        app.admin.clone(),
        one.clone(),
        json!({"name": "payments", "ack_timeout_minutes": 5}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body["error"]["fields"]["ack_timeout_minutes"].is_string(),
        "{}",
        r.body
    );
    let r = put(
        app.admin.clone(),
        one,
        json!({"name": "payments", "escalation_policy_id": policy}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["name"], "payments");
    assert!(
        r.body["ack_timeout_minutes"].is_null(),
        "absent fields are cleared"
    );
    let r = put(
        app.admin.clone(),
        "/api/v1/services/missing".into(),
        json!({"name": "x"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn the_incidents_list_filters_by_team_dates_and_text_across_pages() {
    let app = TestApp::spawn().await;
    person(&app, "Ada", "viewer").await;
    let team = app
        .post("/api/v1/teams", json!({"name": "Batch"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post(
            "/api/v1/services",
            json!({"name": "batch", "team_id": team}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let batch = r.body["id"].as_str().unwrap().to_owned();
    let web = app.service("web").await;
    let web_key = app.integration(&web, "events_v2").await;
    let batch_key = app.integration(&batch, "events_v2").await;
    let send = |key: &str, dedup: String, summary: String| {
        json!({"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
               "payload": {"summary": summary, "source": "h", "severity": "critical"}})
    };
    // #1 on another team's service, then #2–#28: 27 failed jobs, more than a page.
    app.enqueue(send(&web_key, "w".into(), "Job runner web down".into()))
        .await;
    for n in 1..=27 {
        app.enqueue(send(&batch_key, format!("j{n}"), format!("Job {n} failed")))
            .await;
    }
    assert_eq!(app.incidents(&batch).await.len(), 27);

    let mut v = Visitor::new(&app);
    v.sign_in("ada@example.com", PASSWORD).await;
    let first = v
        .get(&format!(
            "/incidents?team={team}&q=job&from=2000-01-01&to=2100-12-31"
        ))
        .await;
    assert_eq!(first.status, StatusCode::OK);
    let text = first.text;
    for control in [
        "for=\"f-team\"",
        "for=\"f-from\"",
        "for=\"f-to\"",
        "for=\"f-q\"",
    ] {
        assert!(text.contains(control), "labelled {control}");
    }
    assert!(text.contains("value=\"job\"") && text.contains("value=\"2000-01-01\""));
    assert!(text.contains(&format!("value=\"{team}\" selected")));
    assert!(text.contains("Job 27 failed") && !text.contains("Job runner web down"));
    // The live list and the next page keep the filters.
    let unescape = |s: &str| s.replace("&#38;", "&").replace("&amp;", "&");
    let text = unescape(&text);
    assert!(
        text.contains(&format!(
            "data-live-src=\"/ui/fragments/incidents?status=open&team={team}&from=2000-01-01&to=2100-12-31&q=job\""
        )),
        "{text}"
    );
    let at = text
        .find("href=\"/incidents?status=open&team")
        .expect("a link to older incidents");
    let older = &text[at..];
    let older = &older["href=\"".len()..];
    let older = &older[..older.find('"').unwrap()];
    assert!(
        older.contains("q=job") && older.contains("before=4"),
        "{older}"
    );
    let second = v.get(older).await.text;
    assert!(second.contains("Job 2 failed") && second.contains("Job 1 failed"));
    assert!(!second.contains("Job 3 failed") && !second.contains("Job runner web down"));

    // "#1" finds incident 1 whatever its title; dates outside the range find nothing.
    let one = v.get("/incidents?q=%231&status=all").await.text;
    assert!(one.contains("Job runner web down") && !one.contains("Job 1 failed"));
    let none = v.get("/incidents?to=2000-01-01").await.text;
    assert!(none.contains("No incidents match"));
    let fragment = v
        .get(&format!("/ui/fragments/incidents?team={team}&q=%2327"))
        .await;
    assert!(fragment.text.contains("Job 26 failed") && !fragment.text.contains("Job 25 failed"));
    for bad in [
        "from=31/01/2026",
        "to=2026-02-30",
        "from=2026-02-02&to=2026-02-01",
    ] {
        assert_eq!(
            v.get(&format!("/incidents?{bad}")).await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    let long = "x".repeat(201);
    assert_eq!(
        v.get(&format!("/incidents?q={long}")).await.status,
        StatusCode::BAD_REQUEST
    );
}
