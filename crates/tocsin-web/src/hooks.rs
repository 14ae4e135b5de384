//! Replies from the SMS and voice provider (Twilio's webhook shape): an SMS "42 ack" or
//! "42 resolve" from a verified phone acts on incident #42 as its owner; a keypress on a paging
//! call (digit 4) acknowledges the call's incident. Every request must carry a valid
//! `X-Twilio-Signature` (HMAC-SHA1 over the URL and the sorted form fields with the account's
//! auth token); anything else is refused.

use crate::AppState;
use crate::setup::escape;
use axum::Router;
use axum::extract::{Form, OriginalUri, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use std::collections::BTreeMap;
use std::sync::Arc;
use tocsin_core::Channel;
use tocsin_store::Actor;

/// What the web layer needs of the provider's configuration.
#[derive(Clone)]
pub struct ProviderHooks {
    /// The account's auth token: the key of `X-Twilio-Signature`.
    pub auth_token: String,
}

impl std::fmt::Debug for ProviderHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProviderHooks([redacted])")
    }
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/hooks/twilio/sms", post(sms))
        .route("/hooks/twilio/voice/gather", post(gather))
        .route("/hooks/twilio/status", post(status))
}

/// Twilio's request signature: base64(HMAC-SHA1(token, url + Σ sorted(key + value))).
pub fn twilio_signature(token: &str, url: &str, params: &BTreeMap<String, String>) -> String {
    let mut m = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(token.as_bytes())
        .expect("HMAC takes keys of any length");
    m.update(url.as_bytes());
    for (k, v) in params {
        m.update(k.as_bytes());
        m.update(v.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
}

fn twiml(body: &str) -> Response {
    (
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>{body}</Response>"),
    )
        .into_response()
}

fn sms_reply(text: &str) -> Response {
    twiml(&format!("<Message>{}</Message>", escape(text)))
}

/// Checks the signature; `None` when the provider is not configured or the signature is wrong.
fn verified(
    s: &AppState,
    uri: &OriginalUri,
    headers: &HeaderMap,
    params: &BTreeMap<String, String>,
) -> bool {
    let Some(hooks) = &s.config.provider_hooks else {
        return false;
    };
    let Some(sig) = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let url = format!(
        "{}{}",
        s.config.public_url,
        uri.0.path_and_query().map_or("", |p| p.as_str())
    );
    let want = twilio_signature(&hooks.auth_token, &url, params);
    // Constant-time comparison of the two base64 strings.
    want.len() == sig.len()
        && want
            .bytes()
            .zip(sig.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        "invalid or missing X-Twilio-Signature",
    )
        .into_response()
}

/// "42 ack", "ack 42", "42 a", "42 resolve", "r 42".
fn parse_reply(body: &str) -> Option<(i64, bool)> {
    let words: Vec<String> = body
        .split_whitespace()
        .map(|w| w.trim_start_matches('#').to_ascii_lowercase())
        .collect();
    let number = words.iter().find_map(|w| w.parse::<i64>().ok())?;
    let action = words.iter().find(|w| w.parse::<i64>().is_err())?;
    match action.as_str() {
        "ack" | "a" | "acknowledge" | "ok" => Some((number, false)),
        "resolve" | "r" | "res" | "resolved" => Some((number, true)),
        _ => None,
    }
}

async fn sms(
    State(s): State<Arc<AppState>>,
    uri: OriginalUri,
    headers: HeaderMap,
    Form(params): Form<BTreeMap<String, String>>,
) -> Response {
    if !verified(&s, &uri, &headers, &params) {
        return forbidden();
    }
    let from = params.get("From").map(String::as_str).unwrap_or("");
    let user = match s.store.find_user_by_phone(from).await {
        Ok(Some(u)) => u,
        Ok(None) => {
            return sms_reply("Tocsin does not know this number (verify it in Tocsin first).");
        }
        Err(e) => {
            tracing::error!(error = %e, "SMS reply lookup failed");
            return sms_reply("Tocsin could not process this reply; try again.");
        }
    };
    let Some((number, resolve)) = parse_reply(params.get("Body").map(String::as_str).unwrap_or(""))
    else {
        return sms_reply("Reply with the incident number and ack or resolve, e.g. 42 ack.");
    };
    let incident = match s.store.get_incident_by_number(number).await {
        Ok(i) => i,
        Err(_) => return sms_reply(&format!("There is no incident #{number}.")),
    };
    let by = Actor::user(&user);
    let now = s.clock.now();
    let result = if resolve {
        s.store
            .resolve_incident(&incident.id, &by, Channel::Sms, now)
            .await
    } else {
        s.store
            .acknowledge_incident(&incident.id, &by, Channel::Sms, now)
            .await
    };
    match result {
        Ok(inc) => {
            let _ = s
                .live
                .send(tocsin_engine::LiveEvent::IncidentChanged { id: inc.id.clone() });
            sms_reply(&format!("#{} {}: {}", inc.number, inc.status, inc.title))
        }
        Err(e) => sms_reply(&format!("#{number}: {e}")),
    }
}

async fn gather(
    State(s): State<Arc<AppState>>,
    uri: OriginalUri,
    headers: HeaderMap,
    Form(params): Form<BTreeMap<String, String>>,
) -> Response {
    if !verified(&s, &uri, &headers, &params) {
        return forbidden();
    }
    let key = uri.0.query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("notification="))
            .map(|v| v.replace("%3A", ":").replace("%3a", ":"))
    });
    let digits = params.get("Digits").map(String::as_str).unwrap_or("");
    if digits != tocsin_notify::VOICE_ACK_DIGIT {
        return twiml("<Say>Not acknowledged. Goodbye.</Say><Hangup/>");
    }
    let Some(Ok(Some((incident, user)))) = (match key {
        Some(k) => Some(s.store.notification_by_key(&k).await),
        None => None,
    }) else {
        return twiml("<Say>This call is not linked to an incident.</Say><Hangup/>");
    };
    let Ok(person) = s.store.get_user(&user).await else {
        return twiml("<Say>This call is not linked to a person.</Say><Hangup/>");
    };
    if !person.role.allows(tocsin_core::Role::Responder) {
        return twiml("<Say>Your role cannot acknowledge incidents.</Say><Hangup/>");
    }
    let by = Actor::user(&person);
    match s
        .store
        .acknowledge_incident(&incident, &by, Channel::Voice, s.clock.now())
        .await
    {
        Ok(inc) => {
            let _ = s
                .live
                .send(tocsin_engine::LiveEvent::IncidentChanged { id: inc.id.clone() });
            twiml("<Say>Acknowledged. Thank you.</Say><Hangup/>")
        }
        Err(_) => twiml("<Say>The incident is already resolved.</Say><Hangup/>"),
    }
}

/// Delivery status callbacks: accepted (signed) and logged; the outbox already holds the
/// provider's acceptance.
async fn status(
    State(s): State<Arc<AppState>>,
    uri: OriginalUri,
    headers: HeaderMap,
    Form(params): Form<BTreeMap<String, String>>,
) -> Response {
    if !verified(&s, &uri, &headers, &params) {
        return forbidden();
    }
    let status = params
        .get("MessageStatus")
        .or_else(|| params.get("CallStatus"))
        .map(String::as_str)
        .unwrap_or("");
    if matches!(status, "failed" | "undelivered" | "no-answer" | "busy") {
        tracing::warn!(status, "the provider reports a page it could not deliver");
    }
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_name_the_incident_and_the_action() {
        assert_eq!(parse_reply("42 ack"), Some((42, false)));
        assert_eq!(parse_reply("ACK #42"), Some((42, false)));
        assert_eq!(parse_reply(" 7 resolve "), Some((7, true)));
        assert_eq!(parse_reply("42"), None);
        assert_eq!(parse_reply("hello"), None);
    }

    #[test]
    fn signature_matches_twilios_documented_example() {
        // From Twilio's security docs: token 12345, this URL and these fields.
        let mut p = BTreeMap::new();
        for (k, v) in [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ] {
            p.insert(k.to_owned(), v.to_owned());
        }
        let sig = twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", &p);
        assert_eq!(sig, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    }
}
