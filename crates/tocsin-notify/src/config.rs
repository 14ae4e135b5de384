//! How the notifier reaches its providers: SMTP relay, Twilio-compatible API, webhook signing
//! secret, timeouts. Plain data filled by the binary from its own configuration; secrets are
//! wrapped in `Secret` so no `Debug` print (logs, panics) can show them.

use crate::REQUEST_TIMEOUT_DEFAULT;
use std::fmt;
use std::time::Duration;

/// A credential. `Debug` and `Display` print `[redacted]`; [`Secret::expose`] is the only way in.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_string())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Everything the [`crate::Notifier`] needs. Channels whose section is `None` answer
/// [`crate::SendError::Permanent`] ("not configured"), so the engine falls back at once.
#[derive(Clone, Debug)]
pub struct NotifyConfig {
    pub smtp: Option<SmtpConfig>,
    pub twilio: Option<TwilioConfig>,
    /// Key of the `X-Tocsin-Signature` HMAC on generic webhooks.
    pub webhook_secret: Secret,
    /// Bound on one HTTP request (connect, send, answer) and on each SMTP command.
    pub request_timeout: Duration,
    /// Telegram Bot API base; tests point it at a local server.
    pub telegram_base_url: String,
    /// Slack pages carry an Acknowledge button: set when the Slack app that owns the incoming
    /// webhooks sends its interactivity requests to `/hooks/slack/actions` (and Tocsin has its
    /// signing secret). Without it, a button would fail in Slack, so pages carry the link only.
    pub slack_buttons: bool,
    /// Telegram pages carry an Acknowledge button: set when the bots' webhooks point at
    /// `/hooks/telegram` with Tocsin's secret token.
    pub telegram_buttons: bool,
}

impl NotifyConfig {
    pub const TELEGRAM_BASE_URL_DEFAULT: &str = "https://api.telegram.org";

    /// No SMTP, no Twilio, the default timeout and the public Telegram API.
    pub fn new(webhook_secret: Secret) -> Self {
        NotifyConfig {
            smtp: None,
            twilio: None,
            webhook_secret,
            request_timeout: REQUEST_TIMEOUT_DEFAULT,
            telegram_base_url: Self::TELEGRAM_BASE_URL_DEFAULT.into(),
            slack_buttons: false,
            telegram_buttons: false,
        }
    }
}

/// How the SMTP connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text: only for a relay on the same host (credentials are then refused elsewhere).
    None,
    /// Plain connect, then STARTTLS, which is required (no silent downgrade). Usually port 587.
    StartTls,
    /// TLS from the first byte ("SMTPS"). Usually port 465.
    Tls,
}

#[derive(Clone, Debug)]
pub struct SmtpConfig {
    /// Host name of the relay; also the name its certificate must carry.
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Sender mailbox: `Tocsin <tocsin@example.com>` or a bare address.
    pub from: String,
    /// Extra trusted root certificate (PEM) for relays with a private CA, added to the system's
    /// roots; `None` for publicly trusted relays.
    pub extra_root_cert_pem: Option<String>,
}

#[derive(Clone, Debug)]
pub struct TwilioConfig {
    /// `https://api.twilio.com` for Twilio itself; any server speaking the same API otherwise.
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: Secret,
    /// The E.164 number messages and calls come from.
    pub from_number: String,
    /// Public base URL under which tocsin-web receives this provider's callbacks, without a
    /// trailing slash (`https://tocsin.example/hooks/twilio`). Delivery status goes to
    /// `{base}/status`, voice keypresses to `{base}/voice/gather`, each with
    /// `?notification=<idempotency key>`. Without it: no status callbacks, and calls cannot be
    /// acknowledged by keypress (they still read the page out).
    pub status_callback_base: Option<String>,
}

impl TwilioConfig {
    pub const BASE_URL_DEFAULT: &str = "https://api.twilio.com";
}

/// A configuration the notifier cannot work with; says which part and why, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("smtp: {0}")]
    Smtp(String),
    #[error("twilio: {0}")]
    Twilio(String),
    #[error("telegram_base_url: {0}")]
    Telegram(String),
    #[error("request_timeout: {0}")]
    Timeout(String),
    #[error("HTTP client: {0}")]
    Http(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let mut config = NotifyConfig::new(Secret::new("whsec-1"));
        config.smtp = Some(SmtpConfig {
            host: "mail.example".into(),
            port: 587,
            tls: SmtpTls::StartTls,
            username: Some("tocsin".into()),
            password: Some("smtp-pass-2".into()),
            from: "tocsin@example.com".into(),
            extra_root_cert_pem: None,
        });
        config.twilio = Some(TwilioConfig {
            base_url: TwilioConfig::BASE_URL_DEFAULT.into(),
            account_sid: "AC123".into(),
            auth_token: "twilio-token-3".into(),
            from_number: "+15005550006".into(),
            status_callback_base: None,
        });
        let printed = format!("{config:?} {}", config.webhook_secret);
        for secret in ["whsec-1", "smtp-pass-2", "twilio-token-3"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains("[redacted]"));
    }
}
