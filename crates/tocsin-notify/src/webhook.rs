//! Generic webhooks: a JSON POST signed with HMAC-SHA256, and the check a receiver runs.
//!
//! Signature: header `X-Tocsin-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
//! the body being the exact bytes sent. A receiver recomputes the HMAC over `t`, a dot and the
//! raw body, compares in constant time, and refuses timestamps too far from its clock (replays).
//! Several `v1=` entries may appear (during a secret rotation); one match suffices.
//! Also sent: `Idempotency-Key: <message idempotency key>`: drop repeats with the same key.
//!
//! Body of a page:
//! ```json
//! {"event": "incident.page", "idempotency_key": "…",
//!  "incident": {"number": 42, "title": "db down", "urgency": "high", "service": "payments",
//!               "url": "https://…/incidents/42"},
//!  "open_for_seconds": 307, "ack_url": "https://…" }
//! ```
//! Other events: `notification.test` (`text`), `contact.verification` (`code`), `shift.start`
//! (`schedule`, `starts`, `ends`), `status.notice` (a status page's news: `subject`, `text`, `url`,
//! `unsubscribe_url`), each with `event` and `idempotency_key`.

use crate::http;
use crate::message::{Message, MessageKind};
use crate::{Outcome, SendError};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::Duration;

/// The header carrying `t=…,v1=…`.
pub const SIGNATURE_HEADER: &str = "X-Tocsin-Signature";
/// A receiver's sensible default for [`verify_signature`]'s `tolerance`: generous for clock
/// skew and retries in flight, short enough that a captured request is soon useless.
pub const SIGNATURE_TOLERANCE_DEFAULT: Duration = Duration::from_secs(300);
/// Signature entries a receiver looks at: a rotation needs two; more is an attack on our time.
const SIGNATURES_PER_HEADER_MAX: usize = 4;

type HmacSha256 = Hmac<Sha256>;

/// Why [`verify_signature`] refused a request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature header is malformed: expected t=<unix seconds>,v1=<hex>")]
    Malformed,
    #[error("signature timestamp is {age_seconds} s away from now, more than the tolerance")]
    Stale { age_seconds: i64 },
    #[error("signature does not match the body")]
    Mismatch,
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length (long ones are hashed first), so this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 accepts keys of every length"),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-Tocsin-Signature` value for `body` sent at `timestamp` (unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// Checks a received `X-Tocsin-Signature` against the raw body: the timestamp must be within
/// `tolerance` of `now` (either side) and one `v1` must match (compared in constant time).
pub fn verify_signature(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: jiff::Timestamp,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" if timestamp.is_none() => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                );
            }
            "t" => return Err(SignatureError::Malformed),
            "v1" if tags.len() < SIGNATURES_PER_HEADER_MAX => {
                tags.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?);
            }
            "v1" => return Err(SignatureError::Malformed),
            _ => {} // later schemes (v2=…) are for later receivers
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if tags.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let age_seconds = now.as_second().saturating_sub(timestamp);
    let tolerance_seconds = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    if age_seconds.saturating_abs() > tolerance_seconds {
        return Err(SignatureError::Stale { age_seconds });
    }
    let expected = mac(secret, timestamp, body);
    if tags
        .iter()
        .any(|tag| expected.clone().verify_slice(tag).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The JSON body for `msg` (see the module documentation).
pub(crate) fn payload(msg: &Message) -> Value {
    let key = &msg.idempotency_key;
    match &msg.kind {
        MessageKind::Page => json!({
            "event": "incident.page",
            "idempotency_key": key,
            "incident": {
                "number": msg.incident_number,
                "title": msg.title,
                "urgency": msg.urgency.as_str(),
                "service": msg.service,
                "url": msg.url,
            },
            "open_for_seconds": msg.open_for.as_secs(),
            "ack_url": msg.ack_url,
        }),
        MessageKind::Test => json!({
            "event": "notification.test",
            "idempotency_key": key,
            "text": crate::text::notice(msg),
        }),
        MessageKind::Verification { code } => json!({
            "event": "contact.verification",
            "idempotency_key": key,
            "code": code,
        }),
        MessageKind::ShiftStart {
            schedule,
            starts,
            ends,
        } => json!({
            "event": "shift.start",
            "idempotency_key": key,
            "schedule": schedule,
            "starts": starts,
            "ends": ends,
        }),
        MessageKind::StatusNotice {
            subject,
            text,
            unsubscribe_url,
        } => json!({
            "event": "status.notice",
            "idempotency_key": key,
            "subject": subject,
            "text": text,
            "url": msg.url,
            "unsubscribe_url": unsubscribe_url,
        }),
    }
}

/// POSTs the signed payload. `now_unix` is the signature's timestamp.
pub(crate) async fn send(
    client: &reqwest::Client,
    url: &str,
    secret: &[u8],
    msg: &Message,
    now_unix: i64,
) -> Result<Outcome, SendError> {
    let body = serde_json::to_vec(&payload(msg))
        .map_err(|e| SendError::permanent(format!("webhook: cannot encode the payload: {e}")))?;
    let req = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, sign(secret, now_unix, &body))
        .header("Idempotency-Key", &msg.idempotency_key)
        .body(body);
    let secrets = [url];
    let reply = http::send(req, "webhook", &secrets).await?;
    http::check(reply, "webhook", &secrets)?;
    Ok(Outcome { provider_id: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_760_000_000;

    fn at(secs: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let header = sign(b"s3cret", NOW, b"{\"a\":1}");
        assert!(header.starts_with(&format!("t={NOW},v1=")));
        let tol = SIGNATURE_TOLERANCE_DEFAULT;
        assert_eq!(
            verify_signature(b"s3cret", &header, b"{\"a\":1}", at(NOW + 10), tol),
            Ok(())
        );
        assert_eq!(
            verify_signature(b"s3cret", &header, b"{\"a\":2}", at(NOW), tol),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"other", &header, b"{\"a\":1}", at(NOW), tol),
            Err(SignatureError::Mismatch)
        );
        let moved = header.replace(&NOW.to_string(), &(NOW + 1).to_string());
        assert_eq!(
            verify_signature(b"s3cret", &moved, b"{\"a\":1}", at(NOW), tol),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn known_answer() {
        // Computed independently: printf '1760000000.{}' | openssl dgst -sha256 -hmac key
        assert_eq!(
            sign(b"key", NOW, b"{}"),
            "t=1760000000,v1=5f2db4fbfe82c254ac32f1ccc5eff02389f2609d76031aa8b300fac9565df6f6"
        );
    }

    #[test]
    fn stale_and_future_timestamps_are_refused() {
        let header = sign(b"k", NOW, b"x");
        let tol = Duration::from_secs(60);
        assert_eq!(
            verify_signature(b"k", &header, b"x", at(NOW + 61), tol),
            Err(SignatureError::Stale { age_seconds: 61 })
        );
        assert_eq!(
            verify_signature(b"k", &header, b"x", at(NOW - 61), tol),
            Err(SignatureError::Stale { age_seconds: -61 })
        );
    }

    #[test]
    fn rotation_accepts_any_listed_signature_and_junk_is_malformed() {
        let good = sign(b"new", NOW, b"x");
        let old = sign(b"old", NOW, b"x");
        let old_tag = old.split_once(",v1=").unwrap().1;
        let both = format!("{good},v1={old_tag}");
        let tol = SIGNATURE_TOLERANCE_DEFAULT;
        assert_eq!(verify_signature(b"old", &both, b"x", at(NOW), tol), Ok(()));
        assert_eq!(verify_signature(b"new", &both, b"x", at(NOW), tol), Ok(()));
        for junk in [
            "",
            "t=1",
            "v1=00",
            "t=x,v1=00",
            "t=1,v1=zz",
            "t=1,t=2,v1=00",
            "garbage",
        ] {
            assert_eq!(
                verify_signature(b"k", junk, b"x", at(NOW), tol),
                Err(SignatureError::Malformed),
                "{junk}"
            );
        }
    }

    #[test]
    fn page_payload_has_the_documented_shape() {
        let msg = crate::text::tests::page();
        assert_eq!(
            payload(&msg),
            json!({
                "event": "incident.page",
                "idempotency_key": "inc-42:step-1:user-7:sms",
                "incident": {"number": 42, "title": "db down", "urgency": "high",
                             "service": "payments", "url": "https://tocsin.example/incidents/42"},
                "open_for_seconds": 307,
                "ack_url": "https://tocsin.example/ack/abc.def",
            })
        );
    }
}
