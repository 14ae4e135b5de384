//! Acknowledge buttons in chat pages. A Slack or Mattermost page carries the same signed,
//! single-use token as its acknowledge link; pressing the button brings it back here, and the
//! incident is acknowledged as the person paged, on channel `chat`, with who pressed it on the
//! timeline.
//!
//! - Slack: the app that owns the incoming webhooks sends its interactivity requests to
//!   `/hooks/slack/actions`, form-encoded (`payload=<json>`), signed with the app's signing
//!   secret (`X-Slack-Signature: v0=hex(HMAC-SHA256(secret, "v0:{timestamp}:{body}"))`,
//!   `X-Slack-Request-Timestamp` within five minutes). Unsigned or stale requests are refused.
//! - Telegram: each bot's webhook (`setWebhook`) points at `/hooks/telegram` with Tocsin's secret
//!   token, which Telegram sends back in `X-Telegram-Bot-Api-Secret-Token`; a press is a
//!   `callback_query` whose data is `ack:` and a short signed token (Telegram allows 64 bytes).
//!   The answer is a webhook reply calling `answerCallbackQuery`, so no call goes out.
//! - Mattermost: the button's integration URL is `/hooks/mattermost/actions`; Mattermost's server
//!   POSTs `{user_name, context: {token}}`. The token is the credential (signed by Tocsin,
//!   expiring, single-use), as for the link.

use crate::AppState;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use tocsin_core::Channel;
use tocsin_store::StoreError;

/// How far a Slack request's timestamp may be from now (Slack's documented window).
const SLACK_SKEW_MAX_SECONDS: i64 = 300;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/hooks/slack/actions", post(slack))
        .route("/hooks/mattermost/actions", post(mattermost))
        .route("/hooks/telegram", post(telegram))
}

/// Slack's request signature: `v0=` and the hex HMAC-SHA256 of `v0:{timestamp}:{body}`.
pub fn slack_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

fn slack_verified(s: &AppState, headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(secret) = &s.config.slack_signing_secret else {
        return false;
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(ts), Some(sig)) = (
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
    ) else {
        return false;
    };
    let Ok(secs) = ts.parse::<i64>() else {
        return false;
    };
    if (s.clock.now().as_second() - secs).abs() > SLACK_SKEW_MAX_SECONDS {
        return false;
    }
    let want = slack_signature(secret.expose(), ts, body);
    want.len() == sig.len()
        && want
            .bytes()
            .zip(sig.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[derive(Deserialize)]
struct SlackForm {
    payload: String,
}

#[derive(Deserialize)]
struct SlackPayload {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    user: SlackUser,
    #[serde(default)]
    actions: Vec<SlackAction>,
}

#[derive(Deserialize, Default)]
struct SlackUser {
    #[serde(default)]
    username: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct SlackAction {
    #[serde(default)]
    action_id: String,
    #[serde(default)]
    value: String,
}

async fn slack(State(s): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    if !slack_verified(&s, &headers, &body) {
        return (
            StatusCode::FORBIDDEN,
            "invalid, stale or missing X-Slack-Signature (is [notify.slack] signing_secret set?)",
        )
            .into_response();
    }
    let payload = serde_urlencoded::from_bytes::<SlackForm>(&body)
        .ok()
        .and_then(|f| serde_json::from_str::<SlackPayload>(&f.payload).ok());
    let Some(p) = payload else {
        return (
            StatusCode::BAD_REQUEST,
            "'payload' must be Slack's interaction JSON",
        )
            .into_response();
    };
    let Some(action) = p
        .actions
        .iter()
        .find(|a| p.kind == "block_actions" && a.action_id == tocsin_notify::SLACK_ACK_ACTION)
    else {
        // Some other interaction of the app: nothing for Tocsin to do.
        return StatusCode::OK.into_response();
    };
    let who = if p.user.username.is_empty() {
        p.user.name
    } else {
        p.user.username
    };
    let text = press(&s, &action.value, "Slack", &who).await;
    // Slack shows nothing of this answer for block actions; the timeline has it.
    Json(json!({"response_type": "ephemeral", "replace_original": false, "text": text}))
        .into_response()
}

#[derive(Deserialize)]
struct MattermostPress {
    #[serde(default)]
    user_name: String,
    context: MattermostContext,
}

#[derive(Deserialize)]
struct MattermostContext {
    token: String,
}

async fn mattermost(State(s): State<Arc<AppState>>, body: Bytes) -> Response {
    let Ok(p) = serde_json::from_slice::<MattermostPress>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"ephemeral_text": "'context.token' is missing"})),
        )
            .into_response();
    };
    let text = press(&s, &p.context.token, "Mattermost", &p.user_name).await;
    Json(json!({"ephemeral_text": text})).into_response()
}

#[derive(Deserialize)]
struct TelegramUpdate {
    callback_query: Option<TelegramCallback>,
}

#[derive(Deserialize)]
struct TelegramCallback {
    id: String,
    #[serde(default)]
    from: TelegramUser,
    #[serde(default)]
    data: String,
}

#[derive(Deserialize, Default)]
struct TelegramUser {
    #[serde(default)]
    username: String,
    #[serde(default)]
    first_name: String,
}

async fn telegram(State(s): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let given = headers
        .get("x-telegram-bot-api-secret-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ok = s
        .config
        .telegram_webhook_secret
        .as_ref()
        .is_some_and(|want| {
            let want = want.expose().as_bytes();
            want.len() == given.len()
                && want
                    .iter()
                    .zip(given.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        });
    if !ok {
        return (
            StatusCode::FORBIDDEN,
            "invalid or missing X-Telegram-Bot-Api-Secret-Token (is [notify.telegram] webhook_secret set?)",
        )
            .into_response();
    }
    let Ok(update) = serde_json::from_slice::<TelegramUpdate>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            "the body must be a Telegram Update",
        )
            .into_response();
    };
    let Some(cb) = update.callback_query else {
        // Messages and other updates: nothing for Tocsin to do.
        return StatusCode::OK.into_response();
    };
    let Some(token) = cb.data.strip_prefix(tocsin_notify::TELEGRAM_ACK_PREFIX) else {
        return StatusCode::OK.into_response();
    };
    let who = if cb.from.username.is_empty() {
        cb.from.first_name
    } else {
        cb.from.username
    };
    let id = s.config.links.verify_ack_short(token, s.clock.now());
    let text = press_verified(&s, id, "Telegram", &who).await;
    Json(json!({"method": "answerCallbackQuery", "callback_query_id": cb.id, "text": text}))
        .into_response()
}

/// Acknowledges with the button's token; returns what to tell the person who pressed it.
async fn press(s: &AppState, token: &str, tool: &str, who: &str) -> String {
    let id = s.config.links.verify_ack(token, s.clock.now());
    press_verified(s, id, tool, who).await
}

async fn press_verified(
    s: &AppState,
    id: Result<String, tocsin_engine::links::LinkError>,
    tool: &str,
    who: &str,
) -> String {
    let id = match id {
        Ok(id) => id,
        Err(tocsin_engine::links::LinkError::Expired) => {
            return "This button has expired: open the incident in Tocsin instead.".into();
        }
        Err(_) => return "This is not a valid acknowledge button.".into(),
    };
    let pressed_by = if who.is_empty() {
        String::new()
    } else {
        format!(", pressed by @{who}")
    };
    let means = format!("the Acknowledge button in {tool}{pressed_by}");
    match s
        .store
        .acknowledge_by_notification(&id, Channel::Chat, Some(means), s.clock.now())
        .await
    {
        Ok(inc) => {
            let _ = s
                .live
                .send(tocsin_engine::LiveEvent::IncidentChanged { id: inc.id.clone() });
            tracing::info!(
                incident = inc.number,
                tool,
                "acknowledged with a chat button"
            );
            format!("#{} {} is {}.", inc.number, inc.title, inc.status)
        }
        Err(StoreError::Conflict(_)) => "This button was already used.".into(),
        Err(e) => {
            tracing::warn!(error = %e, "chat button press failed");
            "The acknowledgement could not be recorded; use the link or the web page.".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_slacks_documented_example() {
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        assert_eq!(
            slack_signature(
                "8f742231b10e8888abcd99yyyzzz85a5",
                "1531420618",
                body.as_bytes()
            ),
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
    }
}
