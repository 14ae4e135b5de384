//! The HTTP plumbing every HTTP channel shares: one bounded client, bounded answer reading,
//! `Retry-After`, the status-to-retry mapping and error texts scrubbed of URLs and tokens.
//! It knows no channel's payload.

use crate::config::ConfigError;
use crate::{RETRY_AFTER_MAX, SendError};
use reqwest::{RequestBuilder, StatusCode, header::HeaderMap};
use std::error::Error as _;
use std::time::{Duration, SystemTime};

/// How much of an answer we read: provider answers are small JSON; a receiver streaming more is
/// broken or hostile, and reading it would hold a delivery slot.
pub(crate) const RESPONSE_BODY_BYTES_MAX: usize = 64 * 1024;
/// Connecting is the quick part; a host that does not accept in this time is down.
const CONNECT_TIMEOUT_MAX: Duration = Duration::from_secs(5);
/// Error reasons end up on the incident timeline: a line, not a page of HTML.
pub(crate) const REASON_CHARS_MAX: usize = 300;
/// What `[redacted]` replaces: anything shorter could be a common word.
const SECRET_CHARS_MIN: usize = 4;

/// One client for every HTTP channel (connection pools are per host inside it). Redirects are
/// not followed: a webhook that redirects is misconfigured, and following would resend the
/// payload to a host nobody configured.
pub(crate) fn client(request_timeout: Duration) -> Result<reqwest::Client, ConfigError> {
    if request_timeout.is_zero() {
        return Err(ConfigError::Timeout("must be more than zero".into()));
    }
    reqwest::Client::builder()
        .timeout(request_timeout)
        .connect_timeout(request_timeout.min(CONNECT_TIMEOUT_MAX))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Tocsin/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ConfigError::Http(describe(e)))
}

/// An answer of any status, with at most [`RESPONSE_BODY_BYTES_MAX`] of its body.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Vec<u8>,
    pub retry_after: Option<Duration>,
}

impl Reply {
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The first line or so of the body, for error reasons.
    pub fn snippet(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        crate::text::line(&text, 160)
    }
}

/// Sends the request. Only failures to get an answer are errors here (all retryable, except a
/// request that cannot even be built); the caller judges the status. `secrets` (tokens, URLs)
/// are scrubbed from any error text.
pub(crate) async fn send(
    req: RequestBuilder,
    what: &str,
    secrets: &[&str],
) -> Result<Reply, SendError> {
    let mut resp = match req.send().await {
        Ok(resp) => resp,
        Err(e) => {
            let retryable = !e.is_builder();
            let kind = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "could not connect"
            } else {
                "request failed"
            };
            let reason = scrub(&format!("{what}: {kind}: {}", describe(e)), secrets);
            return Err(if retryable {
                SendError::retryable(reason)
            } else {
                SendError::permanent(reason)
            });
        }
    };
    let status = resp.status();
    let retry_after = retry_after(resp.headers(), SystemTime::now());
    let mut body = Vec::new();
    // A failure while reading the answer does not undo the delivery the status reports, so
    // it only shortens the body.
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = RESPONSE_BODY_BYTES_MAX - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= RESPONSE_BODY_BYTES_MAX {
            break;
        }
    }
    Ok(Reply {
        status,
        body,
        retry_after,
    })
}

/// 2xx passes; anything else becomes the error [`status_error`] says, with the body's start as
/// the reason.
pub(crate) fn check(reply: Reply, what: &str, secrets: &[&str]) -> Result<Reply, SendError> {
    if reply.status.is_success() {
        return Ok(reply);
    }
    let snippet = reply.snippet();
    let reason = if snippet.is_empty() {
        format!("{what}: HTTP {}", reply.status)
    } else {
        format!("{what}: HTTP {}: {snippet}", reply.status)
    };
    Err(status_error(
        reply.status,
        reply.retry_after,
        scrub(&reason, secrets),
    ))
}

/// The rule for every HTTP channel: 408, 429 and 5xx may pass later (honouring `Retry-After`);
/// other statuses (4xx, and 1xx/3xx, which a webhook must not answer) will not.
pub(crate) fn status_error(
    status: StatusCode,
    retry_after: Option<Duration>,
    reason: String,
) -> SendError {
    let retryable = status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error();
    if retryable {
        SendError::Retryable {
            reason,
            retry_after,
        }
    } else {
        SendError::Permanent { reason }
    }
}

/// `Retry-After` as delta-seconds or an HTTP date, capped at [`RETRY_AFTER_MAX`].
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let wait = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(now).unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(RETRY_AFTER_MAX))
}

/// A reqwest error and its causes on one line, without the URL (it may hold a token).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// Replaces every secret with `[redacted]` and bounds the length.
pub(crate) fn scrub(reason: &str, secrets: &[&str]) -> String {
    let mut out = reason.to_string();
    for secret in secrets {
        if secret.len() >= SECRET_CHARS_MIN {
            out = out.replace(secret, "[redacted]");
        }
    }
    crate::text::truncate(&out, REASON_CHARS_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderValue, RETRY_AFTER};

    #[test]
    fn statuses_map_to_retry_or_give_up() {
        let retryable = [408, 429, 500, 502, 503, 504];
        let permanent = [301, 400, 401, 403, 404, 410, 413, 422];
        for code in retryable {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(
                status_error(status, None, String::new()).is_retryable(),
                "{code}"
            );
        }
        for code in permanent {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(
                !status_error(status, None, String::new()).is_retryable(),
                "{code}"
            );
        }
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date_and_is_capped() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(RETRY_AFTER, HeaderValue::from_str(v).unwrap());
            retry_after(&h, now)
        };
        assert_eq!(with("7"), Some(Duration::from_secs(7)));
        assert_eq!(with("999999"), Some(RETRY_AFTER_MAX));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(with(&date), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(with(&past), Some(Duration::ZERO));
        assert_eq!(with("soon"), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn scrub_removes_secrets_and_bounds_length() {
        let reason = "telegram: HTTP 404: /bot123:SECRETTOKEN/sendMessage not found";
        assert_eq!(
            scrub(reason, &["123:SECRETTOKEN", ""]),
            "telegram: HTTP 404: /bot[redacted]/sendMessage not found"
        );
        assert_eq!(
            scrub(&"x".repeat(1000), &[]).chars().count(),
            REASON_CHARS_MAX
        );
    }
}
