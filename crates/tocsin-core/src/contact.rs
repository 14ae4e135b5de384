//! Contact methods: the ways a person can be reached, and the checks on an address made once at
//! the edge. What is sent and how is `tocsin-notify`'s business.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest address accepted (URLs of chat webhooks are long, but not this long).
pub const ADDRESS_CHARS_MAX: usize = 2048;

/// How a contact method reaches its person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactType {
    Email,
    Sms,
    Voice,
    Webhook,
    Slack,
    Teams,
    Mattermost,
    Telegram,
    Discord,
    /// ntfy or any UnifiedPush endpoint: an HTTP POST to the user's own topic.
    Ntfy,
}

impl ContactType {
    pub const ALL: &'static [ContactType] = &[
        ContactType::Email,
        ContactType::Sms,
        ContactType::Voice,
        ContactType::Webhook,
        ContactType::Slack,
        ContactType::Teams,
        ContactType::Mattermost,
        ContactType::Telegram,
        ContactType::Discord,
        ContactType::Ntfy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContactType::Email => "email",
            ContactType::Sms => "sms",
            ContactType::Voice => "voice",
            ContactType::Webhook => "webhook",
            ContactType::Slack => "slack",
            ContactType::Teams => "teams",
            ContactType::Mattermost => "mattermost",
            ContactType::Telegram => "telegram",
            ContactType::Discord => "discord",
            ContactType::Ntfy => "ntfy",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.as_str() == s)
    }

    pub fn words() -> String {
        Self::ALL
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Phone numbers must be verified with a code before first use; addresses of the other
    /// kinds work at once (and can be checked with a test message).
    pub fn needs_verification(self) -> bool {
        matches!(self, ContactType::Sms | ContactType::Voice)
    }

    /// Checks and normalises an address of this type; the error is a phrase following the
    /// field name.
    pub fn parse_address(self, raw: &str) -> Result<String, String> {
        let a = raw.trim();
        if a.is_empty() {
            return Err("must not be empty".into());
        }
        if a.chars().count() > ADDRESS_CHARS_MAX {
            return Err(format!("must be at most {ADDRESS_CHARS_MAX} characters"));
        }
        match self {
            ContactType::Email => email(a),
            ContactType::Sms | ContactType::Voice => phone(a),
            ContactType::Telegram => telegram(a),
            ContactType::Webhook
            | ContactType::Slack
            | ContactType::Teams
            | ContactType::Mattermost
            | ContactType::Discord
            | ContactType::Ntfy => url(a),
        }
    }
}

impl fmt::Display for ContactType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A plausible email address: one `@`, a dot in the domain, no spaces, at most 254 characters.
pub fn email(a: &str) -> Result<String, String> {
    let ok = a.len() <= 254
        && !a.chars().any(char::is_whitespace)
        && a.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    if ok {
        Ok(a.to_owned())
    } else {
        Err(format!("must be an email address (got {a:?})"))
    }
}

/// E.164: `+` then 8 to 15 digits; spaces, dashes, dots and parentheses are dropped.
pub fn phone(a: &str) -> Result<String, String> {
    let digits: String = a
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let ok = digits.starts_with('+')
        && (9..=16).contains(&digits.len())
        && digits[1..].chars().all(|c| c.is_ascii_digit())
        && !digits[1..].starts_with('0');
    if ok {
        Ok(digits)
    } else {
        Err("must be a phone number in international format, e.g. +33612345678".into())
    }
}

/// An http(s) URL with a host.
pub fn url(a: &str) -> Result<String, String> {
    let rest = a
        .strip_prefix("https://")
        .or_else(|| a.strip_prefix("http://"))
        .ok_or_else(|| "must be an http:// or https:// URL".to_owned())?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || a.chars().any(char::is_whitespace) {
        return Err("must be an http:// or https:// URL with a host".into());
    }
    Ok(a.to_owned())
}

/// `BOT_TOKEN:CHAT_ID`, where the bot token itself is `digits:secret` as Telegram issues it,
/// so the chat id is what follows the last colon.
pub fn telegram(a: &str) -> Result<String, String> {
    let ok = a.rsplit_once(':').is_some_and(|(token, chat)| {
        token.split_once(':').is_some_and(|(id, secret)| {
            !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) && !secret.is_empty()
        }) && !chat.is_empty()
            && chat
                .trim_start_matches('-')
                .chars()
                .all(|c| c.is_ascii_digit())
    });
    if ok {
        Ok(a.to_owned())
    } else {
        Err("must be BOT_TOKEN:CHAT_ID, e.g. 123456:ABC-DEF:-1001234567890".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_per_type() {
        use ContactType::*;
        assert_eq!(
            Sms.parse_address(" +33 6 12-34-56-78 ").unwrap(),
            "+33612345678"
        );
        assert!(Sms.parse_address("0612345678").is_err());
        assert!(Voice.parse_address("+0123456789").is_err());
        assert!(Email.parse_address("a@b.co").is_ok());
        assert!(Email.parse_address("a@b").is_err());
        assert!(
            Slack
                .parse_address("https://hooks.slack.com/services/T/B/X")
                .is_ok()
        );
        assert!(Webhook.parse_address("ftp://x").is_err());
        assert!(Ntfy.parse_address("https://").is_err());
        assert!(
            Telegram
                .parse_address("123456:ABC-DEF:-1001234567890")
                .is_ok()
        );
        assert!(Telegram.parse_address("nope").is_err());
        assert!(Email.parse_address("").is_err());
        assert_eq!(ContactType::parse("teams"), Some(Teams));
        assert!(Sms.needs_verification() && !Slack.needs_verification());
    }
}
