//! Email over SMTP with lettre: one connection per message (plain, STARTTLS required, or
//! implicit TLS; optional AUTH), a multipart plain + HTML body, SMTP replies mapped to retry or
//! not. No connection pool: pages by email are few, and lettre's pool needs a Tokio runtime even
//! to be dropped. It does not queue or retry by itself: the engine decides.

use crate::config::{ConfigError, SmtpConfig, SmtpTls};
use crate::message::Message;
use crate::{Outcome, SendError, text};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The header a mail filter can deduplicate on.
pub const IDEMPOTENCY_HEADER: &str = "X-Tocsin-Idempotency-Key";
/// A whole send (connect, TLS, AUTH, envelope, data) may take this many command timeouts.
const SMTP_EXCHANGE_TIMEOUT_FACTOR: u32 = 3;
/// Idempotency keys in headers: ours are short; a header line must stay under 998 characters.
const IDEMPOTENCY_KEY_CHARS_MAX: usize = 200;

/// A validated SMTP configuration, ready to connect.
pub(crate) struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    exchange_timeout: Duration,
}

fn is_loopback(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "::1" | "[::1]")
}

impl Smtp {
    pub fn new(config: &SmtpConfig, command_timeout: Duration) -> Result<Smtp, ConfigError> {
        let err = |s: String| ConfigError::Smtp(s);
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|_| err("from must be an address or \"Name <address>\"".into()))?;
        if config.host.is_empty() {
            return Err(err("host is empty".into()));
        }
        let tls_parameters = || -> Result<TlsParameters, ConfigError> {
            let mut builder = TlsParameters::builder(config.host.clone());
            if let Some(pem) = &config.extra_root_cert_pem {
                let cert = Certificate::from_pem(pem.as_bytes())
                    .map_err(|e| err(format!("extra_root_cert_pem: {e}")))?;
                builder = builder.add_root_certificate(cert);
            }
            builder.build().map_err(|e| err(format!("TLS: {e}")))
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .timeout(Some(command_timeout));
        builder = match config.tls {
            SmtpTls::None => builder.tls(Tls::None),
            SmtpTls::StartTls => builder.tls(Tls::Required(tls_parameters()?)),
            SmtpTls::Tls => builder.tls(Tls::Wrapper(tls_parameters()?)),
        };
        match (&config.username, &config.password) {
            (Some(user), Some(password)) => {
                if config.tls == SmtpTls::None && !is_loopback(&config.host) {
                    return Err(err(
                        "credentials would cross the network in clear text: set tls to starttls or tls"
                            .into(),
                    ));
                }
                let creds = Credentials::new(user.clone(), password.expose().to_string());
                builder = builder.credentials(creds);
            }
            (None, None) => {}
            _ => return Err(err("username and password go together".into())),
        }
        Ok(Smtp {
            transport: builder.build(),
            from,
            exchange_timeout: command_timeout * SMTP_EXCHANGE_TIMEOUT_FACTOR,
        })
    }

    pub async fn send(&self, to: &str, msg: &Message) -> Result<Outcome, SendError> {
        let (email, message_id) = build(&self.from, to, msg)?;
        match tokio::time::timeout(self.exchange_timeout, self.transport.send(email)).await {
            Err(_) => Err(SendError::retryable(format!(
                "email: no answer from the SMTP relay within {:?}",
                self.exchange_timeout
            ))),
            Ok(Ok(_)) => Ok(Outcome {
                provider_id: Some(message_id),
            }),
            Ok(Err(e)) => Err(classify(&e)),
        }
    }
}

/// The email and its Message-ID. The Message-ID derives from the idempotency key, so a retry
/// carries the same one and mail systems that deduplicate on it drop the repeat.
pub(crate) fn build(
    from: &Mailbox,
    to: &str,
    msg: &Message,
) -> Result<(lettre::Message, String), SendError> {
    let to: Mailbox = to
        .parse()
        .map_err(|_| SendError::permanent("email: the recipient is not an email address"))?;
    let digest = hex::encode(Sha256::digest(msg.idempotency_key.as_bytes()));
    let message_id = format!("<{}.tocsin@{}>", &digest[..32], from.email.domain());
    let subject = match msg.kind {
        crate::MessageKind::Page => format!("[Tocsin] {}", text::headline(msg)),
        _ => text::headline(msg),
    };
    let key = text::line(&msg.idempotency_key, IDEMPOTENCY_KEY_CHARS_MAX);
    let email = lettre::Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .message_id(Some(message_id.clone()))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(IDEMPOTENCY_HEADER),
            key,
        ))
        // RFC 3834: out-of-office replies must not answer a page.
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".into(),
        ))
        .multipart(MultiPart::alternative_plain_html(
            text::plain_body(msg),
            text::html_body(msg),
        ))
        .map_err(|e| SendError::permanent(format!("email: cannot build the message: {e}")))?;
    Ok((email, message_id))
}

/// SMTP 5xx (including a refused login) will not change on retry; 4xx, timeouts, connection,
/// TLS and I/O failures may. An internal client error (no common AUTH mechanism) is
/// configuration, so permanent.
fn classify(e: &smtp::Error) -> SendError {
    // lettre repeats itself ("Connection error: Connection error: …"): keep each part once.
    let mut parts: Vec<String> = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(cause) = source {
        for part in cause.to_string().split(": ") {
            if !parts.iter().any(|p| p == part) {
                parts.push(part.to_string());
            }
        }
        source = cause.source();
    }
    let reason = format!("email: {}", parts.join(": "));
    let reason = crate::http::scrub(&reason, &[]);
    if e.is_permanent() || e.is_client() {
        SendError::permanent(reason)
    } else {
        SendError::retryable(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::tests::page;

    fn config() -> SmtpConfig {
        SmtpConfig {
            host: "mail.example".into(),
            port: 587,
            tls: SmtpTls::StartTls,
            username: None,
            password: None,
            from: "Tocsin <tocsin@example.com>".into(),
            extra_root_cert_pem: None,
        }
    }

    #[test]
    fn the_message_carries_key_subject_and_both_bodies() {
        let from: Mailbox = "Tocsin <tocsin@example.com>".parse().unwrap();
        let (email, id) = build(&from, "alice@example.com", &page()).unwrap();
        let raw = String::from_utf8(email.formatted()).unwrap();
        assert!(id.ends_with(".tocsin@example.com>"), "{id}");
        assert!(raw.contains(&format!("Message-ID: {id}")), "{raw}");
        assert!(
            raw.contains("X-Tocsin-Idempotency-Key: inc-42:step-1:user-7:sms"),
            "{raw}"
        );
        assert!(
            raw.contains("Subject: [Tocsin] #42 HIGH: db down (payments)"),
            "{raw}"
        );
        assert!(raw.contains("Content-Type: multipart/alternative"), "{raw}");
        assert!(raw.contains("text/plain") && raw.contains("text/html"));
        let (_, again) = build(&from, "alice@example.com", &page()).unwrap();
        assert_eq!(id, again, "a retry keeps its Message-ID");
    }

    #[test]
    fn credentials_in_clear_text_are_refused_off_loopback() {
        let mut c = config();
        c.tls = SmtpTls::None;
        c.username = Some("u".into());
        c.password = Some("p".into());
        let e = Smtp::new(&c, Duration::from_secs(1))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("clear text"), "{e}");
        c.host = "127.0.0.1".into();
        assert!(Smtp::new(&c, Duration::from_secs(1)).is_ok());
        let mut c = config();
        c.username = Some("u".into());
        let e = Smtp::new(&c, Duration::from_secs(1))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("together"), "{e}");
        let mut c = config();
        c.from = "not an address".into();
        assert!(
            Smtp::new(&c, Duration::from_secs(1))
                .err()
                .unwrap()
                .to_string()
                .contains("from")
        );
    }
}
