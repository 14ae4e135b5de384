//! Where a notification goes: a contact method's kind and address, parsed and checked once at
//! the edge. Its `Debug` and `Display` never show secrets (chat webhook URLs and bot tokens are
//! credentials); `address()` gives the full stored form back.

use reqwest::Url;
use std::fmt;

/// Longest address we accept: webhook URLs of the chat tools are about 150–500 characters.
pub const ADDRESS_CHARS_MAX: usize = 2048;
/// RFC 5321's limit on a forward path.
const EMAIL_CHARS_MAX: usize = 254;
/// E.164: at most 15 digits after the `+`; the shortest numbers in use have 7.
const PHONE_DIGITS_MIN: usize = 7;
const PHONE_DIGITS_MAX: usize = 15;

/// A parsed contact-method address. Construct it with [`Destination::parse`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Destination {
    /// An email address (`alice@example.com`).
    Email(String),
    /// An E.164 number (`+4915112345678`) for text messages.
    Sms(String),
    /// An E.164 number for phone calls.
    Voice(String),
    /// Any `http(s)` URL: a signed JSON POST.
    Webhook(String),
    /// A Slack incoming-webhook URL.
    Slack(String),
    /// A Microsoft Teams Workflows webhook URL ("Post to a channel when a webhook request is
    /// received"); the retired Office 365 connectors are not supported.
    Teams(String),
    /// A Mattermost incoming-webhook URL.
    Mattermost(String),
    /// A Discord webhook URL.
    Discord(String),
    /// A Telegram bot and chat. Address form: `BOT_TOKEN:CHAT_ID`, split at the last colon
    /// (bot tokens contain one themselves): `123456789:AAHfQ…xyz:-1001234567890` or
    /// `123456789:AAHfQ…xyz:@channelname`.
    Telegram { bot_token: String, chat_id: String },
    /// An ntfy topic URL (`https://ntfy.example/alice-7f3a`) or a UnifiedPush endpoint.
    Ntfy(String),
}

/// Why an address was refused. Messages name the kind and the rule, never echo the address
/// (it may be a credential).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    #[error(
        "unknown contact method kind {kind:?}; expected one of email, sms, voice, webhook, slack, teams, mattermost, discord, telegram, ntfy"
    )]
    UnknownKind { kind: String },
    #[error("{kind} address is empty")]
    Empty { kind: &'static str },
    #[error("{kind} address is longer than {ADDRESS_CHARS_MAX} characters")]
    TooLong { kind: &'static str },
    #[error("{kind} address is invalid: {reason}")]
    Invalid { kind: &'static str, reason: String },
}

impl Destination {
    /// Parses a contact method's `kind` (`email`, `sms`, `voice`, `webhook`, `slack`, `teams`,
    /// `mattermost`, `discord`, `telegram`, `ntfy`) and address. Phone numbers may contain
    /// spaces, dashes, dots and parentheses; they are stored without them.
    pub fn parse(kind: &str, address: &str) -> Result<Destination, DestinationError> {
        let kind = Kind::parse(kind)?;
        let name = kind.word();
        let address = address.trim();
        if address.is_empty() {
            return Err(DestinationError::Empty { kind: name });
        }
        if address.chars().count() > ADDRESS_CHARS_MAX {
            return Err(DestinationError::TooLong { kind: name });
        }
        let invalid = |reason: &str| DestinationError::Invalid {
            kind: name,
            reason: reason.into(),
        };
        Ok(match kind {
            Kind::Email => Destination::Email(parse_email(address).map_err(invalid)?),
            Kind::Sms => Destination::Sms(parse_phone(address).map_err(invalid)?),
            Kind::Voice => Destination::Voice(parse_phone(address).map_err(invalid)?),
            Kind::Webhook => Destination::Webhook(parse_url(address, false).map_err(invalid)?),
            Kind::Slack => Destination::Slack(parse_url(address, false).map_err(invalid)?),
            Kind::Teams => Destination::Teams(parse_url(address, false).map_err(invalid)?),
            Kind::Mattermost => {
                Destination::Mattermost(parse_url(address, false).map_err(invalid)?)
            }
            Kind::Discord => Destination::Discord(parse_url(address, false).map_err(invalid)?),
            Kind::Ntfy => Destination::Ntfy(parse_url(address, true).map_err(invalid)?),
            Kind::Telegram => {
                let (bot_token, chat_id) = parse_telegram(address).map_err(invalid)?;
                Destination::Telegram { bot_token, chat_id }
            }
        })
    }

    /// The kind word that [`Destination::parse`] takes.
    pub fn kind(&self) -> &'static str {
        self.kind_enum().word()
    }

    /// The full address, as [`Destination::parse`] takes it back. Contains credentials for the
    /// chat kinds: store it, never log it.
    pub fn address(&self) -> String {
        match self {
            Destination::Email(a)
            | Destination::Sms(a)
            | Destination::Voice(a)
            | Destination::Webhook(a)
            | Destination::Slack(a)
            | Destination::Teams(a)
            | Destination::Mattermost(a)
            | Destination::Discord(a)
            | Destination::Ntfy(a) => a.clone(),
            Destination::Telegram { bot_token, chat_id } => format!("{bot_token}:{chat_id}"),
        }
    }

    fn kind_enum(&self) -> Kind {
        match self {
            Destination::Email(_) => Kind::Email,
            Destination::Sms(_) => Kind::Sms,
            Destination::Voice(_) => Kind::Voice,
            Destination::Webhook(_) => Kind::Webhook,
            Destination::Slack(_) => Kind::Slack,
            Destination::Teams(_) => Kind::Teams,
            Destination::Mattermost(_) => Kind::Mattermost,
            Destination::Discord(_) => Kind::Discord,
            Destination::Telegram { .. } => Kind::Telegram,
            Destination::Ntfy(_) => Kind::Ntfy,
        }
    }
}

/// A form safe for logs: email addresses whole, phone numbers with all but the last four digits
/// hidden, URLs reduced to scheme and host, Telegram to the chat id.
impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.kind();
        match self {
            Destination::Email(a) => write!(f, "{kind}:{a}"),
            Destination::Sms(n) | Destination::Voice(n) => {
                let tail: String = n
                    .chars()
                    .skip(n.chars().count().saturating_sub(4))
                    .collect();
                write!(f, "{kind}:+…{tail}")
            }
            Destination::Telegram { chat_id, .. } => write!(f, "{kind}:chat {chat_id}"),
            Destination::Webhook(u)
            | Destination::Slack(u)
            | Destination::Teams(u)
            | Destination::Mattermost(u)
            | Destination::Discord(u)
            | Destination::Ntfy(u) => write!(f, "{kind}:{}", url_origin(u)),
        }
    }
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Destination({self})")
    }
}

/// `scheme://host[:port]/…`, or a placeholder when the URL does not parse.
pub(crate) fn url_origin(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{}://{h}:{p}/…", u.scheme()),
            (Some(h), None) => format!("{}://{h}/…", u.scheme()),
            _ => "[url]".into(),
        },
        Err(_) => "[url]".into(),
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Email,
    Sms,
    Voice,
    Webhook,
    Slack,
    Teams,
    Mattermost,
    Discord,
    Telegram,
    Ntfy,
}

impl Kind {
    const ALL: [Kind; 10] = [
        Kind::Email,
        Kind::Sms,
        Kind::Voice,
        Kind::Webhook,
        Kind::Slack,
        Kind::Teams,
        Kind::Mattermost,
        Kind::Discord,
        Kind::Telegram,
        Kind::Ntfy,
    ];

    fn word(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Sms => "sms",
            Kind::Voice => "voice",
            Kind::Webhook => "webhook",
            Kind::Slack => "slack",
            Kind::Teams => "teams",
            Kind::Mattermost => "mattermost",
            Kind::Discord => "discord",
            Kind::Telegram => "telegram",
            Kind::Ntfy => "ntfy",
        }
    }

    fn parse(word: &str) -> Result<Kind, DestinationError> {
        Kind::ALL
            .into_iter()
            .find(|k| k.word() == word)
            .ok_or_else(|| DestinationError::UnknownKind {
                kind: word.chars().take(40).collect(),
            })
    }
}

fn parse_email(address: &str) -> Result<String, &'static str> {
    if address.len() > EMAIL_CHARS_MAX {
        return Err("an email address has at most 254 characters");
    }
    // lettre's parser is the one that will have to accept it when sending.
    address
        .parse::<lettre::Address>()
        .map(|a| a.to_string())
        .map_err(|_| "not an email address of the form name@domain")
}

fn parse_phone(address: &str) -> Result<String, &'static str> {
    const FORM: &str = "a phone number must be in E.164 form: + then the country code and number, 7 to 15 digits (spaces, dashes, dots and parentheses are ignored)";
    let rest = address.strip_prefix('+').ok_or(FORM)?;
    let digits: String = rest
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    if !digits.chars().all(|c| c.is_ascii_digit())
        || !(PHONE_DIGITS_MIN..=PHONE_DIGITS_MAX).contains(&digits.len())
        || digits.starts_with('0')
    {
        return Err(FORM);
    }
    Ok(format!("+{digits}"))
}

fn parse_url(address: &str, needs_path: bool) -> Result<String, &'static str> {
    let url = Url::parse(address).map_err(|_| "not a URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the URL must start with https:// (or http://)");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host");
    }
    if needs_path && url.path().trim_matches('/').is_empty() {
        return Err("the URL must name the topic, as in https://ntfy.example/my-topic");
    }
    Ok(url.to_string())
}

fn parse_telegram(address: &str) -> Result<(String, String), &'static str> {
    const FORM: &str = "expected BOT_TOKEN:CHAT_ID, as in 123456789:AAH…:-1001234567890 or 123456789:AAH…:@channel";
    let (token, chat) = address.rsplit_once(':').ok_or(FORM)?;
    let (bot_id, secret) = token.split_once(':').ok_or(FORM)?;
    let token_ok = !bot_id.is_empty()
        && bot_id.chars().all(|c| c.is_ascii_digit())
        && secret.len() >= 20
        && secret
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !token_ok {
        return Err(
            "the bot token must look like 123456789:AAH… (digits, a colon, then the secret)",
        );
    }
    let numeric = chat.strip_prefix('-').unwrap_or(chat);
    let chat_ok = if let Some(name) = chat.strip_prefix('@') {
        (5..=32).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    } else {
        !numeric.is_empty() && numeric.len() <= 20 && numeric.chars().all(|c| c.is_ascii_digit())
    };
    if !chat_ok {
        return Err("the chat id must be a number (groups are negative) or @channelname");
    }
    Ok((token.to_string(), chat.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "123456789:AAHfQxyz_abcdefghijklmnop-1234";

    #[test]
    fn phone_numbers_are_normalised_to_e164() {
        let d = Destination::parse("sms", " +49 (151) 123-456.78 ").unwrap();
        assert_eq!(d, Destination::Sms("+4915112345678".into()));
        assert_eq!(d.address(), "+4915112345678");
        assert_eq!(d.to_string(), "sms:+…5678");
        for bad in [
            "015112345678",
            "+0151123456",
            "+12345",
            "+1234567890123456",
            "+49 151 abc",
        ] {
            let err = Destination::parse("voice", bad).unwrap_err();
            assert!(err.to_string().contains("E.164"), "{bad}: {err}");
        }
    }

    #[test]
    fn emails_go_through_lettres_parser() {
        assert_eq!(
            Destination::parse("email", "alice@example.com").unwrap(),
            Destination::Email("alice@example.com".into())
        );
        for bad in ["alice", "alice@", "@example.com", "a b@example.com"] {
            assert!(Destination::parse("email", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_must_be_http_with_a_host_and_errors_never_echo_them() {
        let slack = "https://hooks.slack.com/services/T000/B000/SECRETSECRET";
        let d = Destination::parse("slack", slack).unwrap();
        assert_eq!(d.address(), slack);
        assert_eq!(d.to_string(), "slack:https://hooks.slack.com/…");
        assert!(!format!("{d:?}").contains("SECRET"));
        let err = Destination::parse("discord", "ftp://x.example/SECRET").unwrap_err();
        assert!(!err.to_string().contains("SECRET"), "{err}");
        assert!(Destination::parse("webhook", "not a url").is_err());
        assert!(Destination::parse("ntfy", "https://ntfy.example/").is_err());
        assert!(Destination::parse("ntfy", "https://ntfy.example/alice").is_ok());
        assert_eq!(
            Destination::parse("teams", "").unwrap_err(),
            DestinationError::Empty { kind: "teams" }
        );
        let long = format!("https://x.example/{}", "a".repeat(ADDRESS_CHARS_MAX));
        assert_eq!(
            Destination::parse("webhook", &long).unwrap_err(),
            DestinationError::TooLong { kind: "webhook" }
        );
    }

    #[test]
    fn telegram_splits_at_the_last_colon() {
        let d = Destination::parse("telegram", &format!("{TOKEN}:-1001234567890")).unwrap();
        assert_eq!(
            d,
            Destination::Telegram {
                bot_token: TOKEN.into(),
                chat_id: "-1001234567890".into()
            }
        );
        assert_eq!(d.address(), format!("{TOKEN}:-1001234567890"));
        assert_eq!(d.to_string(), "telegram:chat -1001234567890");
        assert!(!format!("{d:?}").contains("AAH"));
        assert!(Destination::parse("telegram", &format!("{TOKEN}:@oncall_team")).is_ok());
        for bad in [
            TOKEN.to_string(),
            format!("{TOKEN}:@ab"),
            format!("{TOKEN}:12x"),
            "1:short:5".into(),
        ] {
            let err = Destination::parse("telegram", &bad).unwrap_err();
            assert!(!err.to_string().contains("AAHfQ"), "{err}");
        }
    }

    #[test]
    fn unknown_kinds_are_named() {
        let err = Destination::parse("pager", "x").unwrap_err();
        assert!(err.to_string().contains("\"pager\""), "{err}");
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.word()).unwrap().word(), kind.word());
        }
    }
}
