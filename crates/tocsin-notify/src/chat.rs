//! The chat tools' own incoming formats: Slack and Mattermost webhooks, a Microsoft Teams
//! Workflows Adaptive Card, Discord webhooks, the Telegram Bot API and ntfy/UnifiedPush topics.
//! Every user-supplied string is escaped for the tool's markup so an alert title cannot mention
//! a whole channel or forge a link. Acknowledge links are plain links, not interactive buttons.

use crate::http::{self, Reply};
use crate::message::{Message, MessageKind};
use crate::text::{self, TITLE_LINE_CHARS_MAX, facts, headline, line, notice};
use crate::{Outcome, SendError};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::time::Duration;
use tocsin_core::Urgency;

/// Discord refuses longer `content`.
const DISCORD_CONTENT_CHARS_MAX: usize = 2000;
/// Telegram refuses longer `text`.
const TELEGRAM_TEXT_CHARS_MAX: usize = 4096;
/// Slack refuses longer section text.
const SLACK_SECTION_CHARS_MAX: usize = 3000;

async fn post_json(
    client: &reqwest::Client,
    url: &str,
    what: &str,
    body: &Value,
    secrets: &[&str],
) -> Result<Reply, SendError> {
    let reply = http::send(client.post(url).json(body), what, secrets).await?;
    http::check(reply, what, secrets)
}

/// Slack's mrkdwn: `&`, `<` and `>` are the only control characters (mentions and links use
/// `<…>`).
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Markdown (Mattermost, Discord): backslash-escapes the markup characters, and breaks `@`
/// with a word joiner so a title cannot say `@channel`.
fn markdown_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\`*_[]()<>#|~".contains(c) {
            out.push('\\');
        }
        out.push(c);
        if c == '@' {
            out.push('\u{2060}');
        }
    }
    out
}

fn facts_line(msg: &Message, bold: fn(&str) -> String) -> String {
    facts(msg)
        .into_iter()
        .map(|(label, value)| format!("{} {value}", bold(&format!("{label}:"))))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// `action_id` of the Acknowledge button in Slack pages.
pub const SLACK_ACK_ACTION: &str = "tocsin_ack";

pub(crate) fn slack_payload(msg: &Message, buttons: bool) -> Value {
    if let Some(notice) = notice(msg) {
        return json!({ "text": slack_escape(&notice) });
    }
    let title = slack_escape(&format!(
        "#{} {}",
        msg.incident_number,
        line(&msg.title, TITLE_LINE_CHARS_MAX)
    ));
    let mut body = if msg.url.is_empty() {
        format!("*{title}*\n")
    } else {
        format!("*<{}|{title}>*\n", msg.url)
    };
    body.push_str(&facts_line(msg, |s| format!("*{}*", slack_escape(s))));
    let mut links = Vec::new();
    let button = msg.ack_token.as_ref().filter(|_| buttons);
    if let (Some(ack), None) = (&msg.ack_url, button) {
        links.push(format!("<{ack}|Acknowledge>"));
    }
    if !msg.url.is_empty() {
        links.push(format!("<{}|Open incident>", msg.url));
    }
    let mut blocks = vec![json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": text::truncate(&body, SLACK_SECTION_CHARS_MAX)},
    })];
    if let Some(token) = button {
        // Pressed, it comes back to /hooks/slack/actions (the app's interactivity URL),
        // signed by Slack; the value is the signed, single-use acknowledge token.
        blocks.push(json!({"type": "actions", "elements": [{
            "type": "button",
            "action_id": SLACK_ACK_ACTION,
            "style": "primary",
            "text": {"type": "plain_text", "text": "Acknowledge"},
            "value": token,
        }]}));
    }
    if !links.is_empty() {
        blocks.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": links.join(" · ")}}),
        );
    }
    json!({ "text": slack_escape(&headline(msg)), "blocks": blocks })
}

pub(crate) fn mattermost_payload(msg: &Message) -> Value {
    let text = markdown_text(msg, false);
    match (&msg.ack_token, &msg.hooks_url) {
        // An interactive button: Mattermost's server POSTs the context to our URL when it is
        // pressed (the link in the text stays, for servers that cannot reach Tocsin).
        (Some(token), Some(hooks)) if notice(msg).is_none() => json!({
            "text": text,
            "attachments": [{
                "fallback": "Acknowledge",
                "actions": [{
                    "id": "tocsinack",
                    "name": "Acknowledge",
                    "type": "button",
                    "style": "primary",
                    "integration": {
                        "url": format!("{hooks}/mattermost/actions"),
                        "context": {"action": "acknowledge", "token": token},
                    },
                }],
            }],
        }),
        _ => json!({ "text": text }),
    }
}

/// Markdown for Mattermost and Discord; `suppress_embeds` wraps link targets in `<…>`
/// (Discord would otherwise unfurl every link).
fn markdown_text(msg: &Message, suppress_embeds: bool) -> String {
    if let Some(notice) = notice(msg) {
        return markdown_escape(&notice);
    }
    let target = |url: &str| {
        if suppress_embeds {
            format!("<{url}>")
        } else {
            url.to_string()
        }
    };
    let title = markdown_escape(&format!(
        "#{} {}",
        msg.incident_number,
        line(&msg.title, TITLE_LINE_CHARS_MAX)
    ));
    let mut out = if msg.url.is_empty() {
        format!("**{title}**\n")
    } else {
        format!("**[{title}]({})**\n", target(&msg.url))
    };
    out.push_str(&facts_line(msg, |s| format!("**{}**", markdown_escape(s))));
    let mut links = Vec::new();
    if let Some(ack) = &msg.ack_url {
        links.push(format!("[Acknowledge]({})", target(ack)));
    }
    if !msg.url.is_empty() {
        links.push(format!("[Open incident]({})", target(&msg.url)));
    }
    if !links.is_empty() {
        let _ = write!(out, "\n{}", links.join(" · "));
    }
    out
}

/// A Teams Workflows webhook takes a message with one Adaptive Card attachment.
pub(crate) fn teams_payload(msg: &Message) -> Value {
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": headline(msg),
        "weight": "Bolder",
        "size": "Medium",
        "wrap": true,
    })];
    let mut actions = Vec::new();
    if let Some(notice) = notice(msg) {
        body.push(json!({"type": "TextBlock", "text": notice, "wrap": true}));
    } else {
        body.push(json!({
            "type": "TextBlock",
            "text": line(&msg.title, text::TITLE_BODY_CHARS_MAX),
            "wrap": true,
        }));
        let facts: Vec<Value> = facts(msg)
            .into_iter()
            .map(|(title, value)| json!({"title": title, "value": value}))
            .collect();
        body.push(json!({"type": "FactSet", "facts": facts}));
        if let Some(ack) = &msg.ack_url {
            actions.push(json!({"type": "Action.OpenUrl", "title": "Acknowledge", "url": ack}));
        }
        if !msg.url.is_empty() {
            actions
                .push(json!({"type": "Action.OpenUrl", "title": "Open incident", "url": msg.url}));
        }
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
                "actions": actions,
                "msteams": {"width": "Full"},
            },
        }],
    })
}

/// No mentions at all (`allowed_mentions.parse = []`), whatever the text says.
pub(crate) fn discord_payload(msg: &Message) -> Value {
    json!({
        "content": text::truncate(&markdown_text(msg, true), DISCORD_CONTENT_CHARS_MAX),
        "allowed_mentions": {"parse": []},
    })
}

/// `callback_data` prefix of the Acknowledge button in Telegram pages.
pub const TELEGRAM_ACK_PREFIX: &str = "ack:";

pub(crate) fn telegram_payload(chat_id: &str, msg: &Message, buttons: bool) -> Value {
    let text = if notice(msg).is_some() {
        text::plain_body(msg)
    } else {
        // The headline carries urgency and service; the body repeats the facts for reading.
        format!("{}\n\n{}", headline(msg), text::plain_body(msg))
    };
    let mut p = json!({
        "chat_id": chat_id,
        "text": text::truncate(&text, TELEGRAM_TEXT_CHARS_MAX),
        "link_preview_options": {"is_disabled": true},
    });
    if let Some(token) = msg.ack_token_short.as_ref().filter(|_| buttons) {
        // Pressed, it comes back to the bot's webhook (/hooks/telegram) as a callback query.
        p["reply_markup"] = json!({"inline_keyboard": [[{
            "text": "Acknowledge",
            "callback_data": format!("{TELEGRAM_ACK_PREFIX}{token}"),
        }]]});
    }
    p
}

pub(crate) async fn send_slack(
    client: &reqwest::Client,
    url: &str,
    msg: &Message,
    buttons: bool,
) -> Result<Outcome, SendError> {
    post_json(client, url, "slack", &slack_payload(msg, buttons), &[url]).await?;
    Ok(Outcome::default())
}

pub(crate) async fn send_mattermost(
    client: &reqwest::Client,
    url: &str,
    msg: &Message,
) -> Result<Outcome, SendError> {
    post_json(client, url, "mattermost", &mattermost_payload(msg), &[url]).await?;
    Ok(Outcome::default())
}

pub(crate) async fn send_teams(
    client: &reqwest::Client,
    url: &str,
    msg: &Message,
) -> Result<Outcome, SendError> {
    post_json(client, url, "teams", &teams_payload(msg), &[url]).await?;
    Ok(Outcome::default())
}

/// `wait=true` makes Discord answer with the created message (and its id) instead of 204.
pub(crate) async fn send_discord(
    client: &reqwest::Client,
    url: &str,
    msg: &Message,
) -> Result<Outcome, SendError> {
    let mut target = reqwest::Url::parse(url)
        .map_err(|_| SendError::permanent("discord: the webhook URL does not parse"))?;
    target.query_pairs_mut().append_pair("wait", "true");
    let reply = post_json(
        client,
        target.as_str(),
        "discord",
        &discord_payload(msg),
        &[url],
    )
    .await?;
    let provider_id = reply
        .json()
        .and_then(|v| v["id"].as_str().map(str::to_string));
    Ok(Outcome { provider_id })
}

/// `POST {base}/bot<token>/sendMessage`. Telegram puts `retry_after` in the body of a 429 and
/// a `description` in every error.
pub(crate) async fn send_telegram(
    client: &reqwest::Client,
    base_url: &str,
    bot_token: &str,
    chat_id: &str,
    msg: &Message,
    buttons: bool,
) -> Result<Outcome, SendError> {
    let url = format!(
        "{}/bot{bot_token}/sendMessage",
        base_url.trim_end_matches('/')
    );
    let secrets = [url.as_str(), bot_token];
    let req = client
        .post(&url)
        .json(&telegram_payload(chat_id, msg, buttons));
    let reply = http::send(req, "telegram", &secrets).await?;
    let json = reply.json();
    if reply.status.is_success() {
        let provider_id = json
            .as_ref()
            .and_then(|v| v["result"]["message_id"].as_i64())
            .map(|id| id.to_string());
        return Ok(Outcome { provider_id });
    }
    let description = json
        .as_ref()
        .and_then(|v| v["description"].as_str().map(str::to_string));
    let retry_after = reply.retry_after.or_else(|| {
        json.as_ref()
            .and_then(|v| v["parameters"]["retry_after"].as_u64())
            .map(|s| Duration::from_secs(s).min(crate::RETRY_AFTER_MAX))
    });
    let reason = match description {
        Some(d) => format!("telegram: HTTP {}: {}", reply.status, line(&d, 200)),
        None => format!("telegram: HTTP {}: {}", reply.status, reply.snippet()),
    };
    Err(http::status_error(
        reply.status,
        retry_after,
        http::scrub(&reason, &secrets),
    ))
}

/// RFC 2047 "Q" encoding for header values that are not ASCII (ntfy decodes it).
fn header_text(s: &str) -> String {
    if s.is_ascii() {
        return s.to_string();
    }
    let mut out = String::from("=?UTF-8?Q?");
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => out.push(b as char),
            b' ' => out.push('_'),
            _ => {
                let _ = write!(out, "={b:02X}");
            }
        }
    }
    out.push_str("?=");
    out
}

/// An ntfy action value: quoted when it holds the format's separators.
fn action_value(s: &str) -> String {
    if s.contains([',', ';', '"', '\'']) {
        format!("\"{}\"", s.replace('"', "%22"))
    } else {
        s.to_string()
    }
}

/// Headers of an ntfy publish: `Title`, `Priority` (5 high, 3 low), `Tags`, `Click` and
/// `Actions` (an `http` POST to the acknowledge link, which acknowledges in one tap, and a
/// `view` of the incident). Values that are not valid headers are left out, not fatal.
pub(crate) fn ntfy_headers(msg: &Message) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    put("title", header_text(&headline(msg)));
    let is_page = matches!(msg.kind, MessageKind::Page);
    let (priority, tag) = match (is_page, msg.urgency) {
        (true, Urgency::High) => ("5", "rotating_light"),
        (true, Urgency::Low) => ("3", "warning"),
        (false, _) => ("3", "bell"),
    };
    put("priority", priority.into());
    put("tags", tag.into());
    if is_page {
        if !msg.url.is_empty() {
            put("click", msg.url.clone());
        }
        let mut actions = Vec::new();
        if let Some(ack) = &msg.ack_url {
            actions.push(format!(
                "http, Acknowledge, {}, method=POST, clear=true",
                action_value(ack)
            ));
        }
        if !msg.url.is_empty() {
            actions.push(format!("view, Open incident, {}", action_value(&msg.url)));
        }
        if !actions.is_empty() {
            put("actions", actions.join("; "));
        }
    }
    headers
}

/// The ntfy body: the facts (the headline is the `Title`), or the notice.
pub(crate) fn ntfy_body(msg: &Message) -> String {
    if let Some(notice) = notice(msg) {
        return notice;
    }
    let mut body = line(&msg.title, text::TITLE_BODY_CHARS_MAX);
    for (label, value) in facts(msg) {
        let _ = write!(body, "\n{label}: {value}");
    }
    body
}

/// POSTs to the topic (or UnifiedPush endpoint) URL; ntfy answers with the message's `id`.
pub(crate) async fn send_ntfy(
    client: &reqwest::Client,
    url: &str,
    msg: &Message,
) -> Result<Outcome, SendError> {
    let req = client
        .post(url)
        .headers(ntfy_headers(msg))
        .body(ntfy_body(msg));
    let reply = http::send(req, "ntfy", &[url]).await?;
    let reply = http::check(reply, "ntfy", &[url])?;
    let provider_id = reply
        .json()
        .and_then(|v| v["id"].as_str().map(str::to_string));
    Ok(Outcome { provider_id })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::tests::page;

    #[test]
    fn slack_links_the_incident_and_escapes_mentions() {
        let mut msg = page();
        msg.title = "<!channel> db & disk".into();
        let p = slack_payload(&msg, false);
        assert_eq!(
            p["text"],
            "#42 HIGH: &lt;!channel&gt; db &amp; disk (payments)"
        );
        let section = p["blocks"][0]["text"]["text"].as_str().unwrap();
        assert_eq!(
            section,
            "*<https://tocsin.example/incidents/42|#42 &lt;!channel&gt; db &amp; disk>*\n\
             *Urgency:* HIGH · *Service:* payments · *Open for:* 5m"
        );
        assert_eq!(
            p["blocks"][1]["text"]["text"],
            "<https://tocsin.example/ack/abc.def|Acknowledge> · <https://tocsin.example/incidents/42|Open incident>"
        );
    }

    #[test]
    fn mattermost_and_discord_escape_markdown_and_mentions() {
        let mut msg = page();
        msg.title = "@channel [x](y) *bold*".into();
        let text = mattermost_payload(&msg)["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            text.starts_with(
                "**[\\#42 @\u{2060}channel \\[x\\]\\(y\\) \\*bold\\*](https://tocsin.example/incidents/42)**\n"
            ),
            "{text}"
        );
        assert!(text.ends_with("[Acknowledge](https://tocsin.example/ack/abc.def) · [Open incident](https://tocsin.example/incidents/42)"));
        let discord = discord_payload(&msg);
        assert_eq!(discord["allowed_mentions"], json!({"parse": []}));
        assert!(
            discord["content"]
                .as_str()
                .unwrap()
                .contains("(<https://tocsin.example/ack/abc.def>)")
        );
    }

    #[test]
    fn teams_sends_an_adaptive_card_with_an_acknowledge_action() {
        let p = teams_payload(&page());
        assert_eq!(p["type"], "message");
        let att = &p["attachments"][0];
        assert_eq!(
            att["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        let card = &att["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["version"], "1.4");
        assert_eq!(card["body"][0]["text"], "#42 HIGH: db down (payments)");
        assert_eq!(
            card["body"][2]["facts"][1],
            json!({"title": "Service", "value": "payments"})
        );
        assert_eq!(
            card["actions"][0],
            json!({"type": "Action.OpenUrl", "title": "Acknowledge", "url": "https://tocsin.example/ack/abc.def"})
        );
    }

    #[test]
    fn ntfy_headers_carry_priority_click_and_actions() {
        let h = ntfy_headers(&page());
        assert_eq!(h["title"], "#42 HIGH: db down (payments)");
        assert_eq!(h["priority"], "5");
        assert_eq!(h["click"], "https://tocsin.example/incidents/42");
        assert_eq!(
            h["actions"],
            "http, Acknowledge, https://tocsin.example/ack/abc.def, method=POST, clear=true; \
             view, Open incident, https://tocsin.example/incidents/42"
        );
        let mut low = page();
        low.urgency = Urgency::Low;
        low.title = "Ölstand niedrig".into();
        let h = ntfy_headers(&low);
        assert_eq!(h["priority"], "3");
        assert_eq!(
            h["title"],
            "=?UTF-8?Q?=2342_LOW=3A_=C3=96lstand_niedrig_=28payments=29?="
        );
        assert_eq!(action_value("https://x/a,b"), "\"https://x/a,b\"");
    }

    #[test]
    fn telegram_text_starts_with_the_headline() {
        let p = telegram_payload("-100", &page(), false);
        assert_eq!(p["chat_id"], "-100");
        assert!(
            p["text"]
                .as_str()
                .unwrap()
                .starts_with("#42 HIGH: db down (payments)\n\n#42 db down\n")
        );
    }
}
