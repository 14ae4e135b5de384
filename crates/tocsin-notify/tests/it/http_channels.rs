//! The HTTP channels against a recording receiver: signed webhooks, the chat tools' formats,
//! Telegram and ntfy, and how each kind of failure (500, 429, hang, refused, 4xx) is reported.

use crate::support::*;
use serde_json::json;
use std::time::{Duration, Instant};
use tocsin_notify::{
    Channel, Destination, SIGNATURE_HEADER, SIGNATURE_TOLERANCE_DEFAULT, SendError,
    verify_signature,
};

fn dest(kind: &str, address: &str) -> Destination {
    Destination::parse(kind, address).expect("valid test address")
}

#[tokio::test]
async fn webhook_is_signed_over_timestamp_and_body_and_carries_the_idempotency_key() {
    let rx = Receiver::start().await;
    let n = notifier(config());
    let out = n
        .send(&dest("webhook", &rx.url("/hooks/tocsin")), &page())
        .await
        .unwrap();
    assert_eq!(out.provider_id, None);

    let req = rx.only_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/hooks/tocsin");
    assert_eq!(req.header("content-type"), "application/json");
    assert_eq!(req.header("idempotency-key"), "inc-42:step-1:user-7");
    let signature = req.header(SIGNATURE_HEADER);
    assert_eq!(
        verify_signature(
            WEBHOOK_SECRET.as_bytes(),
            signature,
            &req.body,
            jiff::Timestamp::now(),
            SIGNATURE_TOLERANCE_DEFAULT
        ),
        Ok(()),
        "{signature}"
    );
    assert!(
        verify_signature(
            b"wrong",
            signature,
            &req.body,
            jiff::Timestamp::now(),
            SIGNATURE_TOLERANCE_DEFAULT
        )
        .is_err()
    );
    assert_eq!(
        req.json(),
        json!({
            "event": "incident.page",
            "idempotency_key": "inc-42:step-1:user-7",
            "incident": {"number": 42, "title": "db down", "urgency": "high",
                         "service": "payments", "url": "https://tocsin.example/incidents/42"},
            "open_for_seconds": 307,
            "ack_url": "https://tocsin.example/ack/tok.sig",
        })
    );
}

#[tokio::test]
async fn a_500_is_retryable_and_the_retry_repeats_the_same_key_and_body() {
    let rx = Receiver::start().await;
    rx.then(Reply::with_body(500, "database is on fire"));
    let n = notifier(config());
    let to = dest("webhook", &rx.url("/h"));

    let err = n.send(&to, &page()).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(
        err.reason().contains("500") && err.reason().contains("database is on fire"),
        "{err}"
    );
    assert_eq!(err.retry_after(), None);
    n.send(&to, &page())
        .await
        .expect("the second attempt succeeds");

    let reqs = rx.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[0].header("idempotency-key"),
        reqs[1].header("idempotency-key")
    );
    assert_eq!(reqs[0].body, reqs[1].body);
}

#[tokio::test]
async fn a_429_passes_on_retry_after() {
    let rx = Receiver::start().await;
    rx.then(Reply::status(429).header("retry-after", "7"));
    rx.then(Reply::status(503).header("retry-after", "100000"));
    let n = notifier(config());
    let to = dest("slack", &rx.url("/services/T0/B0/x"));
    let err = n.send(&to, &page()).await.unwrap_err();
    assert_eq!(
        err,
        SendError::Retryable {
            reason: "slack: HTTP 429 Too Many Requests".into(),
            retry_after: Some(Duration::from_secs(7)),
        }
    );
    let err = n.send(&to, &page()).await.unwrap_err();
    assert_eq!(
        err.retry_after(),
        Some(tocsin_notify::RETRY_AFTER_MAX),
        "capped"
    );
}

#[tokio::test]
async fn a_hanging_receiver_times_out_as_retryable() {
    let rx = Receiver::start_with(Reply::Hang).await;
    let mut c = config();
    c.request_timeout = Duration::from_millis(300);
    let n = notifier(c);
    let started = Instant::now();
    let err = n
        .send(&dest("webhook", &rx.url("/slow")), &page())
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(err.reason().contains("timed out"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_refused_connection_is_retryable_and_names_no_url() {
    let n = notifier(config());
    let url = format!("http://127.0.0.1:{}/services/T0/B0/SECRETPATH", dead_port());
    let err = n.send(&dest("slack", &url), &page()).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(err.reason().contains("could not connect"), "{err}");
    assert!(!err.reason().contains("SECRETPATH"), "{err}");
    assert!(!err.reason().contains("127.0.0.1"), "{err}");
}

#[tokio::test]
async fn other_4xx_and_redirects_are_permanent_and_echoed_secrets_are_redacted() {
    let rx = Receiver::start().await;
    let url = rx.url("/services/T0/B0/SECRETPATH");
    rx.then(Reply::with_body(404, format!("no_service for {url}")));
    rx.then(Reply::status(302).header("location", "http://elsewhere.example/"));
    rx.then(Reply::status(410));
    let n = notifier(config());
    let err = n.send(&dest("slack", &url), &page()).await.unwrap_err();
    assert!(!err.is_retryable());
    assert_eq!(
        err.reason(),
        "slack: HTTP 404 Not Found: no_service for [redacted]"
    );
    let err = n.send(&dest("slack", &url), &page()).await.unwrap_err();
    assert!(!err.is_retryable() && err.reason().contains("302"), "{err}");
    let err = n.send(&dest("slack", &url), &page()).await.unwrap_err();
    assert!(!err.is_retryable() && err.reason().contains("410"), "{err}");
    assert_eq!(rx.requests().len(), 3, "the redirect was not followed");
}

#[tokio::test]
async fn a_huge_error_body_is_read_only_in_part() {
    let rx = Receiver::start().await;
    rx.then(Reply::with_body(500, "x".repeat(4 * 1024 * 1024)));
    let err = notifier(config())
        .send(&dest("webhook", &rx.url("/")), &page())
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    assert!(
        err.reason().chars().count() <= 300,
        "{}",
        err.reason().len()
    );
}

#[tokio::test]
async fn slack_mattermost_and_teams_get_their_own_formats() {
    let rx = Receiver::start().await;
    let n = notifier(config());
    n.send(&dest("slack", &rx.url("/slack")), &page())
        .await
        .unwrap();
    n.send(&dest("mattermost", &rx.url("/hooks/mm")), &page())
        .await
        .unwrap();
    n.send(&dest("teams", &rx.url("/workflows/teams")), &page())
        .await
        .unwrap();
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 3);
    for r in &reqs {
        assert_eq!(r.header("content-type"), "application/json");
    }

    let slack = reqs[0].json();
    assert_eq!(slack["text"], "#42 HIGH: db down (payments)");
    assert_eq!(
        slack["blocks"][1]["text"]["text"],
        "<https://tocsin.example/ack/tok.sig|Acknowledge> · <https://tocsin.example/incidents/42|Open incident>"
    );

    let mm = reqs[1].json();
    let text = mm["text"].as_str().unwrap();
    assert!(
        text.starts_with("**[\\#42 db down](https://tocsin.example/incidents/42)**\n"),
        "{text}"
    );
    assert!(
        text.contains("**Urgency:** HIGH · **Service:** payments · **Open for:** 5m"),
        "{text}"
    );
    assert!(
        text.contains("[Acknowledge](https://tocsin.example/ack/tok.sig)"),
        "{text}"
    );

    let teams = reqs[2].json();
    assert_eq!(teams["type"], "message");
    let card = &teams["attachments"][0]["content"];
    assert_eq!(
        teams["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["version"], "1.4");
    assert_eq!(card["body"][0]["type"], "TextBlock");
    assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
    assert_eq!(
        card["actions"][0]["url"],
        "https://tocsin.example/ack/tok.sig"
    );
}

#[tokio::test]
async fn discord_waits_for_the_message_id_and_allows_no_mentions() {
    let rx = Receiver::start_with(Reply::with_body(200, r#"{"id":"112233","content":"…"}"#)).await;
    let n = notifier(config());
    let out = n
        .send(&dest("discord", &rx.url("/api/webhooks/1/tok")), &page())
        .await
        .unwrap();
    assert_eq!(out.provider_id.as_deref(), Some("112233"));
    let req = rx.only_request();
    assert_eq!(req.path, "/api/webhooks/1/tok");
    assert_eq!(req.query.as_deref(), Some("wait=true"));
    let body = req.json();
    assert_eq!(body["allowed_mentions"], json!({"parse": []}));
    assert!(
        body["content"]
            .as_str()
            .unwrap()
            .contains("[Acknowledge](<https://tocsin.example/ack/tok.sig>)")
    );
}

const BOT_TOKEN: &str = "123456789:AAHsecretsecretsecretsecret_xyz";

#[tokio::test]
async fn telegram_calls_send_message_on_the_bot_api() {
    let rx = Receiver::start_with(Reply::with_body(
        200,
        r#"{"ok":true,"result":{"message_id":77,"chat":{"id":-100}}}"#,
    ))
    .await;
    let mut c = config();
    c.telegram_base_url = rx.base.clone();
    let n = notifier(c);
    let out = n
        .send(&dest("telegram", &format!("{BOT_TOKEN}:-1001234")), &page())
        .await
        .unwrap();
    assert_eq!(out.provider_id.as_deref(), Some("77"));
    let req = rx.only_request();
    assert_eq!(req.path, format!("/bot{BOT_TOKEN}/sendMessage"));
    let body = req.json();
    assert_eq!(body["chat_id"], "-1001234");
    let text = body["text"].as_str().unwrap();
    assert!(text.starts_with("#42 HIGH: db down (payments)"), "{text}");
    assert!(
        text.contains("Acknowledge: https://tocsin.example/ack/tok.sig"),
        "{text}"
    );
}

#[tokio::test]
async fn telegram_errors_use_its_description_and_retry_after_without_the_token() {
    let rx = Receiver::start().await;
    rx.then(Reply::with_body(
        400,
        format!(r#"{{"ok":false,"error_code":400,"description":"Bad Request: chat not found for bot{BOT_TOKEN}"}}"#),
    ));
    rx.then(Reply::with_body(
        429,
        r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3","parameters":{"retry_after":3}}"#,
    ));
    let mut c = config();
    c.telegram_base_url = rx.base.clone();
    let n = notifier(c);
    let to = dest("telegram", &format!("{BOT_TOKEN}:-1001234"));
    let err = n.send(&to, &page()).await.unwrap_err();
    assert!(!err.is_retryable());
    assert_eq!(
        err.reason(),
        "telegram: HTTP 400 Bad Request: Bad Request: chat not found for bot[redacted]"
    );
    let err = n.send(&to, &page()).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));

    let mut c = config();
    c.telegram_base_url = format!("http://127.0.0.1:{}", dead_port());
    let err = notifier(c).send(&to, &page()).await.unwrap_err();
    assert!(
        err.is_retryable() && !err.reason().contains("AAHsecret"),
        "{err}"
    );
}

#[tokio::test]
async fn ntfy_publishes_with_title_priority_click_and_actions() {
    let rx = Receiver::start_with(Reply::with_body(
        200,
        r#"{"id":"sPs71M8A2T","event":"message"}"#,
    ))
    .await;
    let n = notifier(config());
    let out = n
        .send(&dest("ntfy", &rx.url("/alice-oncall-7f3a")), &page())
        .await
        .unwrap();
    assert_eq!(out.provider_id.as_deref(), Some("sPs71M8A2T"));
    let req = rx.only_request();
    assert_eq!(req.path, "/alice-oncall-7f3a");
    assert_eq!(req.header("title"), "#42 HIGH: db down (payments)");
    assert_eq!(req.header("priority"), "5");
    assert_eq!(req.header("click"), "https://tocsin.example/incidents/42");
    assert_eq!(
        req.header("actions"),
        "http, Acknowledge, https://tocsin.example/ack/tok.sig, method=POST, clear=true; \
         view, Open incident, https://tocsin.example/incidents/42"
    );
    assert_eq!(
        req.text(),
        "db down\nUrgency: HIGH\nService: payments\nOpen for: 5m"
    );

    let mut low = page();
    low.urgency = tocsin_core::Urgency::Low;
    n.send(&dest("ntfy", &rx.url("/alice-oncall-7f3a")), &low)
        .await
        .unwrap();
    assert_eq!(rx.requests()[1].header("priority"), "3");
}

#[tokio::test]
async fn test_and_verification_messages_reach_webhooks_as_their_own_events() {
    let rx = Receiver::start().await;
    let n = notifier(config());
    let mut msg = page();
    msg.kind = tocsin_notify::MessageKind::Test;
    n.send(&dest("webhook", &rx.url("/")), &msg).await.unwrap();
    msg.kind = tocsin_notify::MessageKind::Verification {
        code: "314159".into(),
    };
    n.send(&dest("webhook", &rx.url("/")), &msg).await.unwrap();
    let reqs = rx.requests();
    assert_eq!(reqs[0].json()["event"], "notification.test");
    assert_eq!(reqs[1].json()["event"], "contact.verification");
    assert_eq!(reqs[1].json()["code"], "314159");
}

#[tokio::test]
async fn unconfigured_channels_fail_permanently_at_once() {
    let n = notifier(config());
    for (kind, address) in [
        ("email", "a@example.com"),
        ("sms", "+4915112345678"),
        ("voice", "+4915112345678"),
    ] {
        let err = n.send(&dest(kind, address), &page()).await.unwrap_err();
        assert!(!err.is_retryable(), "{kind}: {err:?}");
        assert!(err.reason().contains("not configured"), "{err}");
    }
}

#[tokio::test]
async fn many_pages_to_one_receiver_in_parallel_all_arrive_once() {
    let rx = Receiver::start().await;
    let n = std::sync::Arc::new(notifier(config()));
    let to = dest("webhook", &rx.url("/bulk"));
    let mut tasks = Vec::new();
    for i in 0..200 {
        let (n, to) = (n.clone(), to.clone());
        tasks.push(tokio::spawn(async move {
            let mut msg = page();
            msg.idempotency_key = format!("inc-{i}:step-1:user-7");
            n.send(&to, &msg).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let mut keys: Vec<String> = rx
        .requests()
        .iter()
        .map(|r| r.header("idempotency-key").to_string())
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 200);
}
