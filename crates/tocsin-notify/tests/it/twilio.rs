//! SMS and voice against a local server speaking the Twilio REST API: basic auth, form bodies,
//! `sid` in the answer, Twilio's error JSON (21211 invalid number, 20003 auth), 429 and 5xx.

use crate::support::*;
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tocsin_notify::{Channel, Destination, MessageKind, TwilioConfig};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "twilio-auth-token-SECRET";
const FROM: &str = "+15005550006";

/// One API call as the server accepted or refused it.
#[derive(Clone, Debug)]
struct Call {
    resource: String,
    form: Vec<(String, String)>,
}

impl Call {
    fn get(&self, key: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A forced answer: status and optional Retry-After.
type Forced = (u16, Option<&'static str>);

#[derive(Clone, Default)]
struct Api {
    calls: Arc<Mutex<Vec<Call>>>,
    /// Forced answers for the next requests (status, Retry-After), before any checking.
    forced: Arc<Mutex<VecDeque<Forced>>>,
}

fn error(status: StatusCode, code: u32, message: &str) -> Response {
    let body = json!({"code": code, "message": message, "status": status.as_u16(),
                      "more_info": format!("https://www.twilio.com/docs/errors/{code}")});
    (status, axum::Json(body)).into_response()
}

/// The part of Twilio's API the notifier uses, checked the way Twilio checks it.
async fn create(
    State(api): State<Api>,
    Path((account, resource)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    api.calls.lock().unwrap().push(Call {
        resource: resource.clone(),
        form: form.clone(),
    });
    if let Some((status, retry_after)) = api.forced.lock().unwrap().pop_front() {
        let mut resp = error(
            StatusCode::from_u16(status).unwrap(),
            20429,
            "Too Many Requests",
        );
        if let Some(s) = retry_after {
            resp.headers_mut().insert("retry-after", s.parse().unwrap());
        }
        return resp;
    }
    let expected = format!("Basic {}", base64(format!("{SID}:{TOKEN}").as_bytes()));
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if account != SID || auth != Some(expected.as_str()) {
        return error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let to = field("To").unwrap_or_default();
    let valid = to.starts_with('+') && to.len() > 8 && to[1..].chars().all(|c| c.is_ascii_digit());
    // Twilio's magic test number for "invalid": +15005550001.
    if !valid || to == "+15005550001" {
        return error(
            StatusCode::BAD_REQUEST,
            21211,
            &format!("The 'To' number {to} is not a valid phone number."),
        );
    }
    if field("From").as_deref() != Some(FROM) {
        return error(StatusCode::BAD_REQUEST, 21212, "Invalid From number");
    }
    let (prefix, ok) = match resource.as_str() {
        "Messages.json" => ("SM", field("Body").is_some_and(|b| !b.is_empty())),
        "Calls.json" => ("CA", field("Twiml").is_some() || field("Url").is_some()),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    if !ok {
        return error(
            StatusCode::BAD_REQUEST,
            21602,
            "Message body or Twiml is required",
        );
    }
    let n = api.calls.lock().unwrap().len();
    let sid = format!("{prefix}{n:032x}");
    (
        StatusCode::CREATED,
        axum::Json(json!({"sid": sid, "status": "queued", "to": to})),
    )
        .into_response()
}

struct TwilioServer {
    base: String,
    api: Api,
    task: tokio::task::JoinHandle<()>,
}

impl TwilioServer {
    async fn start() -> TwilioServer {
        let api = Api::default();
        let app = Router::new()
            .route("/2010-04-01/Accounts/{account}/{resource}", post(create))
            .with_state(api.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TwilioServer { base, api, task }
    }

    fn config(&self) -> TwilioConfig {
        TwilioConfig {
            base_url: self.base.clone(),
            account_sid: SID.into(),
            auth_token: TOKEN.into(),
            from_number: FROM.into(),
            status_callback_base: Some("https://tocsin.example/hooks/twilio".into()),
        }
    }

    fn calls(&self) -> Vec<Call> {
        self.api.calls.lock().unwrap().clone()
    }

    fn force(&self, status: u16, retry_after: Option<&'static str>) {
        self.api
            .forced
            .lock()
            .unwrap()
            .push_back((status, retry_after));
    }
}

impl Drop for TwilioServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn notifier_for(server: &TwilioServer) -> tocsin_notify::Notifier {
    let mut c = config();
    c.twilio = Some(server.config());
    notifier(c)
}

fn sms(n: &str) -> Destination {
    Destination::parse("sms", n).unwrap()
}

fn voice(n: &str) -> Destination {
    Destination::parse("voice", n).unwrap()
}

#[tokio::test]
async fn an_sms_is_a_short_text_with_the_reply_code_and_a_status_callback() {
    let server = TwilioServer::start().await;
    let out = notifier_for(&server)
        .send(&sms("+49 151 12345678"), &page())
        .await
        .unwrap();
    let calls = server.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.resource, "Messages.json");
    assert_eq!(out.provider_id, Some(format!("SM{:032x}", 1)));
    assert_eq!(call.get("To"), Some("+4915112345678"));
    assert_eq!(call.get("From"), Some(FROM));
    let body = call.get("Body").unwrap();
    assert!(
        body.starts_with("[Tocsin] #42 HIGH db down (payments) open 5m - reply 4821 ack"),
        "{body}"
    );
    assert!(body.chars().count() <= 160, "{body}");
    assert_eq!(
        call.get("StatusCallback"),
        Some("https://tocsin.example/hooks/twilio/status?notification=inc-42%3Astep-1%3Auser-7")
    );
}

#[tokio::test]
async fn a_call_reads_the_page_and_gathers_the_acknowledging_keypress() {
    let server = TwilioServer::start().await;
    let out = notifier_for(&server)
        .send(&voice("+4915112345678"), &page())
        .await
        .unwrap();
    assert_eq!(out.provider_id, Some(format!("CA{:032x}", 1)));
    let call = &server.calls()[0];
    assert_eq!(call.resource, "Calls.json");
    let twiml = call.get("Twiml").unwrap();
    assert!(
        twiml.contains(
            "<Gather numDigits=\"1\" timeout=\"10\" method=\"POST\" \
             action=\"https://tocsin.example/hooks/twilio/voice/gather?notification=inc-42%3Astep-1%3Auser-7\">"
        ),
        "{twiml}"
    );
    assert!(
        twiml.contains("Incident 42, high urgency, service payments: db down."),
        "{twiml}"
    );
    assert!(twiml.contains("Press 4 to acknowledge."), "{twiml}");
    assert!(
        call.get("StatusCallback")
            .unwrap()
            .ends_with("/status?notification=inc-42%3Astep-1%3Auser-7")
    );
}

#[tokio::test]
async fn a_verification_call_spells_the_code_and_gathers_nothing() {
    let server = TwilioServer::start().await;
    let mut msg = page();
    msg.kind = MessageKind::Verification {
        code: "2468".into(),
    };
    notifier_for(&server)
        .send(&voice("+4915112345678"), &msg)
        .await
        .unwrap();
    let twiml = server.calls()[0].get("Twiml").unwrap().to_string();
    assert!(
        twiml.contains("verification code is 2. 4. 6. 8."),
        "{twiml}"
    );
    assert!(!twiml.contains("Gather"), "{twiml}");
}

#[tokio::test]
async fn an_invalid_number_is_permanent_with_twilios_code() {
    let server = TwilioServer::start().await;
    let err = notifier_for(&server)
        .send(&sms("+15005550001"), &page())
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");
    assert_eq!(
        err.reason(),
        "sms: HTTP 400 Bad Request: error 21211: The 'To' number +15005550001 is not a valid phone number."
    );
}

#[tokio::test]
async fn rate_limits_and_outages_are_retryable_with_retry_after() {
    let server = TwilioServer::start().await;
    server.force(429, Some("12"));
    server.force(503, None);
    let n = notifier_for(&server);
    let err = n.send(&sms("+4915112345678"), &page()).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(12)));
    assert!(err.reason().contains("error 20429"), "{err}");
    let err = n.send(&voice("+4915112345678"), &page()).await.unwrap_err();
    assert!(err.is_retryable() && err.retry_after().is_none(), "{err:?}");
    n.send(&sms("+4915112345678"), &page())
        .await
        .expect("then it goes through");
}

#[tokio::test]
async fn wrong_credentials_are_permanent_and_the_token_never_shows() {
    let server = TwilioServer::start().await;
    let mut c = config();
    let mut t = server.config();
    t.auth_token = "wrong-token-SECRET".into();
    c.twilio = Some(t);
    let err = notifier(c)
        .send(&sms("+4915112345678"), &page())
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.reason().contains("20003"), "{err}");
    assert!(!format!("{err:?}").contains("SECRET"));
}

#[tokio::test]
async fn without_a_callback_base_calls_only_read_out_the_page() {
    let server = TwilioServer::start().await;
    let mut c = config();
    let mut t = server.config();
    t.status_callback_base = None;
    c.twilio = Some(t);
    let n = notifier(c);
    n.send(&voice("+4915112345678"), &page()).await.unwrap();
    n.send(&sms("+4915112345678"), &page()).await.unwrap();
    let calls = server.calls();
    assert!(!calls[0].get("Twiml").unwrap().contains("Gather"));
    assert!(calls.iter().all(|c| c.get("StatusCallback").is_none()));
}
