//! Tocsin's notification channels: one `Channel::send` that delivers a `Message` to a parsed
//! `Destination` (SMTP email, signed webhooks, Slack, Mattermost, Teams, Discord, Telegram, ntfy,
//! Twilio-compatible SMS and voice) and says whether a failure is worth retrying.
//! It keeps no state between sends: retries, fallbacks, rate limits and the outbox are the engine's.

mod chat;
mod config;
mod destination;
mod email;
mod http;
mod message;
mod notifier;
mod text;
mod twilio;
mod webhook;

pub use chat::{SLACK_ACK_ACTION, TELEGRAM_ACK_PREFIX};
pub use config::{ConfigError, NotifyConfig, Secret, SmtpConfig, SmtpTls, TwilioConfig};
pub use destination::{Destination, DestinationError};
pub use email::IDEMPOTENCY_HEADER as EMAIL_IDEMPOTENCY_HEADER;
pub use message::{Message, MessageKind};
pub use notifier::Notifier;
pub use twilio::{TWILIO_GATHER_PATH, TWILIO_STATUS_PATH, VOICE_ACK_DIGIT};
pub use webhook::{
    SIGNATURE_HEADER, SIGNATURE_TOLERANCE_DEFAULT, SignatureError, sign, verify_signature,
};

use std::time::Duration;

/// How long one HTTP request or SMTP command may take when the configuration does not say.
/// A page that cannot be handed over in this time is better retried (or fallen back from) than
/// waited for.
pub const REQUEST_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);
/// The longest `Retry-After` we pass on: a provider asking for more must not park a page for
/// hours; the engine falls back to the next contact method instead.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(3600);

/// What a successful delivery tells us.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The provider's id for what it accepted (Twilio `SM…`/`CA…` sid, Telegram or Discord
    /// message id, ntfy message id, the email's Message-ID); `None` where the provider gives none.
    pub provider_id: Option<String>,
}

/// Why a delivery failed, and whether trying again later can help.
///
/// Reasons never contain secrets: URLs with tokens, passwords and signing keys are redacted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The destination may accept the same message later (timeouts, connection errors, HTTP
    /// 408/429/5xx, SMTP 4xx). The message may already have arrived (a timeout after the
    /// receiver took it): retry with the same idempotency key.
    #[error("{reason} (retryable)")]
    Retryable {
        reason: String,
        /// The provider's own `Retry-After`, capped at [`RETRY_AFTER_MAX`]: wait at least this.
        retry_after: Option<Duration>,
    },
    /// Retrying the same message to the same destination will not help (HTTP 4xx other than
    /// 408/429, SMTP 5xx, an unconfigured channel, an address the provider rejects).
    #[error("{reason}")]
    Permanent { reason: String },
}

impl SendError {
    pub fn retryable(reason: impl Into<String>) -> Self {
        SendError::Retryable {
            reason: reason.into(),
            retry_after: None,
        }
    }

    pub fn permanent(reason: impl Into<String>) -> Self {
        SendError::Permanent {
            reason: reason.into(),
        }
    }

    pub fn is_retryable(&self) -> bool {
        matches!(self, SendError::Retryable { .. })
    }

    pub fn reason(&self) -> &str {
        match self {
            SendError::Retryable { reason, .. } | SendError::Permanent { reason } => reason,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SendError::Retryable { retry_after, .. } => *retry_after,
            SendError::Permanent { .. } => None,
        }
    }
}

/// Something that can deliver a message to a destination. [`Notifier`] is the real one; the
/// engine's tests may use their own.
#[async_trait::async_trait]
pub trait Channel: Send + Sync {
    async fn send(&self, to: &Destination, msg: &Message) -> Result<Outcome, SendError>;
}
