//! Email against a real SMTP server on loopback (aiosmtpd): plain, STARTTLS and implicit TLS
//! with AUTH, the message's headers and bodies, and SMTP replies mapped to retry or not.

use crate::support::*;
use std::time::Duration;
use tocsin_notify::{Channel, Destination, SmtpConfig, SmtpTls};

fn smtp(server: &SmtpServer, tls: SmtpTls, login: Option<(&str, &str)>) -> SmtpConfig {
    SmtpConfig {
        host: "localhost".into(),
        port: server.port,
        tls,
        username: login.map(|(u, _)| u.to_string()),
        password: login.map(|(_, p)| p.into()),
        from: "Tocsin <tocsin@tocsin.example>".into(),
        extra_root_cert_pem: server.ca_pem.clone(),
    }
}

fn notifier_with(config: SmtpConfig) -> tocsin_notify::Notifier {
    let mut c = crate::support::config();
    c.smtp = Some(config);
    notifier(c)
}

fn to(address: &str) -> Destination {
    Destination::parse("email", address).unwrap()
}

#[tokio::test]
async fn a_page_arrives_with_subject_key_and_both_bodies() {
    let server = SmtpServer::start(SmtpMode::Plain, None);
    let n = notifier_with(smtp(&server, SmtpTls::None, None));
    let out = n.send(&to("alice@example.com"), &page()).await.unwrap();

    let mail = server.next_mail();
    assert_eq!(mail.mail_from, "tocsin@tocsin.example");
    assert_eq!(mail.rcpt_tos, vec!["alice@example.com".to_string()]);
    assert!(!mail.tls && !mail.auth);
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("[Tocsin] #42 HIGH: db down (payments)")
    );
    assert_eq!(
        mail.header("From").as_deref(),
        Some("Tocsin <tocsin@tocsin.example>")
    );
    assert_eq!(mail.header("To").as_deref(), Some("alice@example.com"));
    assert_eq!(
        mail.header("X-Tocsin-Idempotency-Key").as_deref(),
        Some("inc-42:step-1:user-7")
    );
    assert_eq!(
        mail.header("Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
    assert_eq!(
        mail.header("Message-ID"),
        out.provider_id,
        "the provider id is the Message-ID"
    );
    assert!(
        mail.header("Content-Type")
            .unwrap()
            .starts_with("multipart/alternative")
    );

    let body = mail.body_text();
    for expected in [
        "Urgency: HIGH",
        "Service: payments",
        "Open for: 5m",
        "Incident: https://tocsin.example/incidents/42",
        "Acknowledge: https://tocsin.example/ack/tok.sig",
        "<a href=\"https://tocsin.example/ack/tok.sig\"",
        "Content-Type: text/html",
    ] {
        assert!(body.contains(expected), "missing {expected:?} in\n{body}");
    }
}

#[tokio::test]
async fn starttls_with_auth_encrypts_before_logging_in() {
    let login = ("tocsin", "smtp-password-SECRET");
    let server = SmtpServer::start(SmtpMode::StartTls, Some(login));
    let n = notifier_with(smtp(&server, SmtpTls::StartTls, Some(login)));
    n.send(&to("alice@example.com"), &page()).await.unwrap();
    let mail = server.next_mail();
    assert!(mail.tls, "STARTTLS was used");
    assert!(mail.auth, "the login was accepted");
}

#[tokio::test]
async fn implicit_tls_with_auth() {
    let login = ("tocsin", "smtp-password-SECRET");
    let server = SmtpServer::start(SmtpMode::Tls, Some(login));
    let n = notifier_with(smtp(&server, SmtpTls::Tls, Some(login)));
    n.send(&to("alice@example.com"), &page()).await.unwrap();
    let mail = server.next_mail();
    assert!(mail.tls && mail.auth);
}

#[tokio::test]
async fn a_wrong_password_is_permanent_and_not_repeated_in_the_reason() {
    let server = SmtpServer::start(SmtpMode::StartTls, Some(("tocsin", "right")));
    let n = notifier_with(smtp(
        &server,
        SmtpTls::StartTls,
        Some(("tocsin", "wrong-SECRET")),
    ));
    let err = n.send(&to("alice@example.com"), &page()).await.unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");
    assert!(err.reason().contains("535"), "{err}");
    assert!(!err.reason().contains("SECRET"), "{err}");
    assert!(!server.has_mail());
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    let server = SmtpServer::start(SmtpMode::StartTls, None);
    let mut config = smtp(&server, SmtpTls::StartTls, None);
    config.extra_root_cert_pem = None;
    let err = notifier_with(config)
        .send(&to("alice@example.com"), &page())
        .await
        .unwrap_err();
    assert!(
        err.reason().contains("tls") || err.reason().contains("certificate"),
        "{err}"
    );
    assert!(
        !server.has_mail(),
        "nothing was sent over the unverified connection"
    );
}

#[tokio::test]
async fn smtp_4xx_is_retryable_and_5xx_permanent() {
    let server = SmtpServer::start(SmtpMode::Plain, None);
    let n = notifier_with(smtp(&server, SmtpTls::None, None));
    let err = n.send(&to("busy@example.com"), &page()).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(err.reason().contains("451"), "{err}");
    let err = n
        .send(&to("nobody@example.com"), &page())
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");
    assert!(
        err.reason().contains("550") && err.reason().contains("no such user"),
        "{err}"
    );
    n.send(&to("alice@example.com"), &page())
        .await
        .expect("the server still takes good mail");
    assert_eq!(
        server.next_mail().rcpt_tos,
        vec!["alice@example.com".to_string()]
    );
}

#[tokio::test]
async fn a_relay_that_is_down_is_retryable() {
    let mut c = crate::support::config();
    c.request_timeout = Duration::from_secs(2);
    c.smtp = Some(SmtpConfig {
        host: "127.0.0.1".into(),
        port: dead_port(),
        tls: SmtpTls::None,
        username: None,
        password: None,
        from: "tocsin@tocsin.example".into(),
        extra_root_cert_pem: None,
    });
    let err = notifier(c)
        .send(&to("alice@example.com"), &page())
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
}
