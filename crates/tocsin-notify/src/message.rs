//! What is being said: one notification's content, the same for every channel. Each channel
//! renders it in its own format (see `text.rs` and the channel modules); nothing here sends.

use std::time::Duration;
use tocsin_core::Urgency;

/// One notification's content. For kinds other than [`MessageKind::Page`] the incident fields
/// are not shown (they may be left empty / zero).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Stable per (incident, step, target): the same key on every retry, so receivers can drop
    /// repeats. Sent as `Idempotency-Key` (webhooks), `X-Tocsin-Idempotency-Key` (email) and in
    /// the Twilio callback URLs.
    pub idempotency_key: String,
    pub incident_number: i64,
    pub title: String,
    pub urgency: Urgency,
    pub service: String,
    /// How long the incident has been open when this was rendered.
    pub open_for: Duration,
    /// Link to the incident page.
    pub url: String,
    /// Signed, single-use acknowledge link: GET shows a confirmation page, POST (with an empty
    /// body; ntfy's action button does exactly this) acknowledges.
    pub ack_url: Option<String>,
    /// Short code for SMS replies: "4821 ack", "4821 resolve".
    pub ack_code: Option<String>,
    /// The signed token of `ack_url`, carried by chat buttons (Slack, Mattermost) whose press
    /// comes back to `hooks_url`.
    pub ack_token: Option<String>,
    /// The same, at most 64 bytes, for Telegram's button `callback_data`.
    pub ack_token_short: Option<String>,
    /// Where tocsin-web receives callbacks, `{public_url}/hooks`.
    pub hooks_url: Option<String>,
    pub kind: MessageKind,
}

/// Why this message is being sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// An incident needs someone: the escalation step paging this person.
    Page,
    /// The user pressed "send test notification" on a contact method.
    Test,
    /// A phone number being verified before first use.
    Verification { code: String },
    /// A shift hand-off reminder. Times come already formatted in the user's time zone
    /// ("Mon 3 Mar 09:00 CET"): this crate does no time-zone work.
    ShiftStart {
        schedule: String,
        starts: String,
        ends: String,
    },
    /// A public status page's news for one of its subscribers (a status update, announced
    /// maintenance, or the confirmation of a subscription). The text arrives written; every
    /// message carries `unsubscribe_url`, except a subscription's confirmation.
    StatusNotice {
        subject: String,
        text: String,
        unsubscribe_url: Option<String>,
    },
}
