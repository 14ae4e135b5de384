//! The real `Channel`: built once from a `NotifyConfig`, it holds the HTTP client, the SMTP pool
//! and the provider settings, and dispatches each send on the destination's kind.
//! Cheap to share (`Arc<Notifier>`); every send is independent.

use crate::config::{ConfigError, NotifyConfig, Secret};
use crate::email::Smtp;
use crate::twilio::Twilio;
use crate::{Channel, Destination, Message, Outcome, SendError, chat, http, webhook};
use reqwest::Url;
use std::time::{Duration, SystemTime};

pub struct Notifier {
    http: reqwest::Client,
    smtp: Option<Smtp>,
    twilio: Option<Twilio>,
    webhook_secret: Secret,
    telegram_base_url: String,
    slack_buttons: bool,
    telegram_buttons: bool,
    request_timeout: Duration,
}

impl Notifier {
    /// Checks the configuration and builds the clients. A rustls crypto provider must be
    /// installed first (the binary installs ring at start; tests call
    /// `rustls::crypto::ring::default_provider().install_default()`).
    pub fn new(config: NotifyConfig) -> Result<Notifier, ConfigError> {
        // reqwest would panic without one; say so instead.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            return Err(ConfigError::Http(
                "no rustls crypto provider installed: call \
                 rustls::crypto::ring::default_provider().install_default() at start"
                    .into(),
            ));
        }
        let http = http::client(config.request_timeout)?;
        let smtp = config
            .smtp
            .as_ref()
            .map(|c| Smtp::new(c, config.request_timeout))
            .transpose()?;
        let twilio = config.twilio.as_ref().map(Twilio::new).transpose()?;
        let telegram = Url::parse(&config.telegram_base_url)
            .map_err(|_| ConfigError::Telegram("not a URL".into()))?;
        if !matches!(telegram.scheme(), "http" | "https") {
            return Err(ConfigError::Telegram("must be an http(s) URL".into()));
        }
        Ok(Notifier {
            http,
            smtp,
            twilio,
            webhook_secret: config.webhook_secret,
            telegram_base_url: config.telegram_base_url,
            slack_buttons: config.slack_buttons,
            telegram_buttons: config.telegram_buttons,
            request_timeout: config.request_timeout,
        })
    }

    /// The bound on one request, as configured.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    fn twilio(&self, what: &str) -> Result<&Twilio, SendError> {
        self.twilio.as_ref().ok_or_else(|| {
            SendError::permanent(format!(
                "{what}: not configured (no Twilio-compatible provider)"
            ))
        })
    }
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("smtp", &self.smtp.is_some())
            .field("twilio", &self.twilio.is_some())
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

/// The webhook signature's timestamp: the one wall-clock read of this crate. Receivers compare
/// it with their own clock, so it must be real time, not the engine's (possibly manual) clock.
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[async_trait::async_trait]
impl Channel for Notifier {
    async fn send(&self, to: &Destination, msg: &Message) -> Result<Outcome, SendError> {
        let client = &self.http;
        let result = match to {
            Destination::Email(address) => match &self.smtp {
                Some(smtp) => smtp.send(address, msg).await,
                None => Err(SendError::permanent(
                    "email: not configured (no SMTP relay)",
                )),
            },
            Destination::Sms(number) => match self.twilio("sms") {
                Ok(twilio) => twilio.send_sms(client, number, msg).await,
                Err(e) => Err(e),
            },
            Destination::Voice(number) => match self.twilio("voice") {
                Ok(twilio) => twilio.send_call(client, number, msg).await,
                Err(e) => Err(e),
            },
            Destination::Webhook(url) => {
                let secret = self.webhook_secret.expose().as_bytes();
                webhook::send(client, url, secret, msg, unix_now()).await
            }
            Destination::Slack(url) => chat::send_slack(client, url, msg, self.slack_buttons).await,
            Destination::Teams(url) => chat::send_teams(client, url, msg).await,
            Destination::Mattermost(url) => chat::send_mattermost(client, url, msg).await,
            Destination::Discord(url) => chat::send_discord(client, url, msg).await,
            Destination::Telegram { bot_token, chat_id } => {
                let buttons = self.telegram_buttons;
                chat::send_telegram(
                    client,
                    &self.telegram_base_url,
                    bot_token,
                    chat_id,
                    msg,
                    buttons,
                )
                .await
            }
            Destination::Ntfy(url) => chat::send_ntfy(client, url, msg).await,
        };
        match &result {
            Ok(outcome) => tracing::debug!(
                destination = %to,
                key = %msg.idempotency_key,
                provider_id = ?outcome.provider_id,
                "notification delivered"
            ),
            Err(e) => tracing::info!(
                destination = %to,
                key = %msg.idempotency_key,
                error = %e,
                "notification failed"
            ),
        }
        result
    }
}
