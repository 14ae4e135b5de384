//! The words of a notification, rendered for people: subject lines, plain and HTML bodies, the
//! short SMS form and the spoken form for calls. Pure functions of a `Message`; no sending, and no
//! channel-specific markup (chat markup lives in `chat.rs`).

use crate::message::{Message, MessageKind};
use std::fmt::Write as _;
use std::time::Duration;
use tocsin_core::Urgency;

/// One SMS segment in the GSM-7 alphabet. Longer texts are split and cost more; texts with
/// characters outside GSM-7 (emoji, most non-Latin scripts) drop to 70 per segment, which no
/// wording of ours can avoid, so we only count what we control.
pub(crate) const SMS_SEPTETS_MAX: usize = 160;
/// Titles in subject lines, chat headlines and SMS: enough for any real summary's gist.
pub(crate) const TITLE_LINE_CHARS_MAX: usize = 200;
/// Titles in bodies: the core already bounds summaries at 1024 characters.
pub(crate) const TITLE_BODY_CHARS_MAX: usize = 1024;
/// Service names in headlines.
const SERVICE_CHARS_MAX: usize = 80;
/// The shortest title an SMS keeps before it gives up on the link instead.
const SMS_TITLE_CHARS_MIN: usize = 20;
/// Spoken titles: a call that reads out a paragraph is not heard to the end.
const SPOKEN_TITLE_CHARS_MAX: usize = 300;

/// Single-line, control characters replaced, at most `max` characters (cut with "...").
pub(crate) fn line(s: &str, max: usize) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string();
    truncate(&cleaned, max)
}

/// At most `max` characters, cut with "..." (ASCII, so an SMS stays in GSM-7).
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let keep = max.saturating_sub(3);
    let mut out: String = s.chars().take(keep).collect();
    out.truncate(out.trim_end().len());
    out.push_str("...");
    out
}

pub(crate) fn urgency_word(u: Urgency) -> &'static str {
    match u {
        Urgency::High => "HIGH",
        Urgency::Low => "LOW",
    }
}

/// "45s", "5m", "2h 5m", "3d 4h": two units at most.
pub(crate) fn open_for_short(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, mins) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    match () {
        _ if days > 0 && hours > 0 => format!("{days}d {hours}h"),
        _ if days > 0 => format!("{days}d"),
        _ if hours > 0 && mins > 0 => format!("{hours}h {mins}m"),
        _ if hours > 0 => format!("{hours}h"),
        _ if mins > 0 => format!("{mins}m"),
        _ => format!("{s}s"),
    }
}

/// "45 seconds", "5 minutes", "2 hours 5 minutes", "1 day 4 hours".
pub(crate) fn open_for_spoken(d: Duration) -> String {
    fn unit(n: u64, word: &str) -> String {
        if n == 1 {
            format!("1 {word}")
        } else {
            format!("{n} {word}s")
        }
    }
    let s = d.as_secs();
    let (days, hours, mins) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    match () {
        _ if days > 0 && hours > 0 => format!("{} {}", unit(days, "day"), unit(hours, "hour")),
        _ if days > 0 => unit(days, "day"),
        _ if hours > 0 && mins > 0 => format!("{} {}", unit(hours, "hour"), unit(mins, "minute")),
        _ if hours > 0 => unit(hours, "hour"),
        _ if mins > 0 => unit(mins, "minute"),
        _ => unit(s, "second"),
    }
}

/// The subject line: "#42 HIGH: db down (payments)".
pub(crate) fn headline(msg: &Message) -> String {
    match &msg.kind {
        MessageKind::Page => format!(
            "#{} {}: {} ({})",
            msg.incident_number,
            urgency_word(msg.urgency),
            line(&msg.title, TITLE_LINE_CHARS_MAX),
            line(&msg.service, SERVICE_CHARS_MAX)
        ),
        MessageKind::Test => "Test notification from Tocsin".into(),
        MessageKind::Verification { code } => {
            format!("Tocsin verification code {}", line(code, 16))
        }
        MessageKind::ShiftStart {
            schedule, starts, ..
        } => format!(
            "You are on call for {} from {}",
            line(schedule, SERVICE_CHARS_MAX),
            line(starts, 64)
        ),
        MessageKind::StatusNotice { subject, .. } => line(subject, TITLE_LINE_CHARS_MAX),
    }
}

/// Label and value pairs of a page, in reading order, for bodies and cards.
pub(crate) fn facts(msg: &Message) -> Vec<(&'static str, String)> {
    vec![
        ("Urgency", urgency_word(msg.urgency).to_string()),
        ("Service", line(&msg.service, SERVICE_CHARS_MAX)),
        ("Open for", open_for_short(msg.open_for)),
    ]
}

/// The plain sentence for the kinds that are not pages.
pub(crate) fn notice(msg: &Message) -> Option<String> {
    match &msg.kind {
        MessageKind::Page => None,
        MessageKind::Test => Some(
            "This is a test notification from Tocsin. If you can read it, this contact method \
             can receive pages."
                .into(),
        ),
        MessageKind::Verification { code } => Some(format!(
            "Your Tocsin verification code is {}. Enter it in Tocsin to confirm this contact method.",
            line(code, 16)
        )),
        MessageKind::ShiftStart {
            schedule,
            starts,
            ends,
        } => Some(format!(
            "You are on call for {} from {} until {}.",
            line(schedule, SERVICE_CHARS_MAX),
            line(starts, 64),
            line(ends, 64)
        )),
        MessageKind::StatusNotice {
            text,
            unsubscribe_url,
            ..
        } => Some(match unsubscribe_url {
            Some(u) => format!("{text}\n\nUnsubscribe: {u}"),
            None => text.clone(),
        }),
    }
}

/// The plain-text body (email text part, ntfy, Telegram).
pub(crate) fn plain_body(msg: &Message) -> String {
    if let Some(notice) = notice(msg) {
        return notice;
    }
    let mut out = format!(
        "#{} {}\n",
        msg.incident_number,
        line(&msg.title, TITLE_BODY_CHARS_MAX)
    );
    for (label, value) in facts(msg) {
        let _ = writeln!(out, "{label}: {value}");
    }
    if !msg.url.is_empty() {
        let _ = writeln!(out, "Incident: {}", msg.url);
    }
    if let Some(ack) = &msg.ack_url {
        let _ = writeln!(out, "Acknowledge: {ack}");
    }
    out.truncate(out.trim_end().len());
    out
}

/// The HTML body of the email: the same content as [`plain_body`], every value escaped.
pub(crate) fn html_body(msg: &Message) -> String {
    let mut out = String::from(
        "<!doctype html>\n<html><body style=\"font-family:sans-serif;line-height:1.4\">\n",
    );
    if let Some(notice) = notice(msg) {
        let _ = writeln!(out, "<p>{}</p>", html(&notice));
    } else {
        let _ = writeln!(
            out,
            "<h2>#{} {}</h2>\n<p>",
            msg.incident_number,
            html(&line(&msg.title, TITLE_BODY_CHARS_MAX))
        );
        for (label, value) in facts(msg) {
            let _ = writeln!(out, "<strong>{label}:</strong> {}<br>", html(&value));
        }
        out.push_str("</p>\n<p>");
        if let Some(ack) = &msg.ack_url {
            let _ = write!(
                out,
                "<a href=\"{}\" style=\"font-weight:bold\">Acknowledge</a> &middot; ",
                html(ack)
            );
        }
        if !msg.url.is_empty() {
            let _ = write!(out, "<a href=\"{}\">Open incident</a>", html(&msg.url));
        }
        out.push_str("</p>\n");
    }
    out.push_str("</body></html>\n");
    out
}

/// Escapes text for HTML element content and double-quoted attributes.
pub(crate) fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Length of `s` in GSM-7 septets: characters of the extension table take two. Characters
/// outside GSM-7 count one here (the whole text then goes as UCS-2 anyway).
pub(crate) fn sms_septets(s: &str) -> usize {
    s.chars()
        .map(|c| if "^{}\\[~]|€".contains(c) { 2 } else { 1 })
        .sum()
}

/// The SMS: "[Tocsin] #42 HIGH db down (payments) open 5m - reply 4821 ack", plus the incident
/// link when it still fits in one segment. The title is cut first; an ASCII hyphen rather than a
/// dash keeps the text in GSM-7.
pub(crate) fn sms(msg: &Message) -> String {
    const PREFIX: &str = "[Tocsin] ";
    let fit = |s: String| truncate_septets(&s, SMS_SEPTETS_MAX);
    match &msg.kind {
        MessageKind::Page => {}
        MessageKind::Test => return fit(format!("{PREFIX}Test: this number can receive pages.")),
        MessageKind::Verification { code } => {
            return fit(format!(
                "{PREFIX}Your verification code is {}",
                line(code, 16)
            ));
        }
        MessageKind::ShiftStart {
            schedule,
            starts,
            ends,
        } => {
            return fit(format!(
                "{PREFIX}You are on call for {} from {} to {}",
                line(schedule, SERVICE_CHARS_MAX),
                line(starts, 64),
                line(ends, 64)
            ));
        }
        MessageKind::StatusNotice { subject, .. } => {
            return fit(format!("{PREFIX}{}", line(subject, TITLE_LINE_CHARS_MAX)));
        }
    }
    let head = format!(
        "{PREFIX}#{} {} ",
        msg.incident_number,
        urgency_word(msg.urgency)
    );
    let middle = format!(
        " ({}) open {}",
        line(&msg.service, 30),
        open_for_short(msg.open_for)
    );
    let tail = match (&msg.ack_code, &msg.ack_url) {
        (Some(code), _) => format!(" - reply {} ack", line(code, 16)),
        (None, Some(url)) => format!(" - ack: {url}"),
        (None, None) => String::new(),
    };
    let fixed = sms_septets(&head) + sms_septets(&middle) + sms_septets(&tail);
    let budget = SMS_SEPTETS_MAX
        .saturating_sub(fixed)
        .max(SMS_TITLE_CHARS_MIN);
    let title = truncate_septets(&line(&msg.title, TITLE_LINE_CHARS_MAX), budget);
    let text = format!("{head}{title}{middle}{tail}");
    let with_link = format!("{text} {}", msg.url);
    if !msg.url.is_empty() && sms_septets(&with_link) <= SMS_SEPTETS_MAX {
        with_link
    } else {
        text
    }
}

fn truncate_septets(s: &str, max: usize) -> String {
    if sms_septets(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 3; // the "..."
    for c in s.chars() {
        let n = sms_septets(c.encode_utf8(&mut [0; 4]));
        if used + n > max {
            break;
        }
        used += n;
        out.push(c);
    }
    out.truncate(out.trim_end().len());
    out.push_str("...");
    out
}

/// What a call says. `gather` tells whether the caller can press a key to acknowledge.
pub(crate) fn speech(msg: &Message, gather: bool) -> String {
    match &msg.kind {
        MessageKind::Page => {
            let mut s = format!(
                "Tocsin alert. Incident {}, {} urgency, service {}: {}. Open for {}.",
                msg.incident_number,
                urgency_word(msg.urgency).to_lowercase(),
                line(&msg.service, SERVICE_CHARS_MAX),
                line(&msg.title, SPOKEN_TITLE_CHARS_MAX),
                open_for_spoken(msg.open_for)
            );
            if gather {
                let _ = write!(s, " Press {} to acknowledge.", crate::VOICE_ACK_DIGIT);
            }
            s
        }
        MessageKind::Test => {
            "This is a test call from Tocsin. This number can receive pages. Goodbye.".into()
        }
        MessageKind::Verification { code } => {
            // Digits one by one, twice: "1. 2. 3." is read slowly and clearly.
            let digits: Vec<String> = line(code, 16).chars().map(|c| c.to_string()).collect();
            let spelled = digits.join(". ");
            format!("Your Tocsin verification code is {spelled}. Again: {spelled}.")
        }
        MessageKind::ShiftStart { .. } | MessageKind::StatusNotice { .. } => {
            notice(msg).unwrap_or_default()
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn page() -> Message {
        Message {
            idempotency_key: "inc-42:step-1:user-7:sms".into(),
            incident_number: 42,
            title: "db down".into(),
            urgency: Urgency::High,
            service: "payments".into(),
            open_for: Duration::from_secs(5 * 60 + 7),
            url: "https://tocsin.example/incidents/42".into(),
            ack_url: Some("https://tocsin.example/ack/abc.def".into()),
            ack_token: Some("abc.def".into()),
            ack_token_short: None,
            hooks_url: Some("https://tocsin.example/hooks".into()),
            ack_code: Some("4821".into()),
            kind: MessageKind::Page,
        }
    }

    #[test]
    fn durations_read_naturally() {
        let cases = [
            (0, "0s", "0 seconds"),
            (1, "1s", "1 second"),
            (45, "45s", "45 seconds"),
            (300, "5m", "5 minutes"),
            (3600, "1h", "1 hour"),
            (7500, "2h 5m", "2 hours 5 minutes"),
            (86_400, "1d", "1 day"),
            (86_400 * 3 + 4 * 3600 + 59, "3d 4h", "3 days 4 hours"),
        ];
        for (secs, short, spoken) in cases {
            assert_eq!(open_for_short(Duration::from_secs(secs)), short);
            assert_eq!(open_for_spoken(Duration::from_secs(secs)), spoken);
        }
    }

    #[test]
    fn sms_is_short_and_names_the_reply_code() {
        let text = sms(&page());
        assert_eq!(
            text,
            "[Tocsin] #42 HIGH db down (payments) open 5m - reply 4821 ack https://tocsin.example/incidents/42"
        );
        assert!(sms_septets(&text) <= SMS_SEPTETS_MAX);
    }

    #[test]
    fn a_long_title_is_cut_so_the_sms_keeps_one_segment() {
        let mut msg = page();
        msg.title = "disk usage above 95% on every node of the primary cluster ".repeat(5);
        let text = sms(&msg);
        assert!(
            sms_septets(&text) <= SMS_SEPTETS_MAX,
            "{} septets: {text}",
            sms_septets(&text)
        );
        assert!(
            text.starts_with("[Tocsin] #42 HIGH disk usage above 95%"),
            "{text}"
        );
        assert!(
            text.ends_with("... (payments) open 5m - reply 4821 ack"),
            "{text}"
        );
        assert!(text.is_ascii());
    }

    #[test]
    fn sms_without_a_code_falls_back_to_the_link_and_counts_extension_characters() {
        let mut msg = page();
        msg.ack_code = None;
        msg.title = "[prod] {x}".into();
        let text = sms(&msg);
        assert!(
            text.contains(" - ack: https://tocsin.example/ack/abc.def"),
            "{text}"
        );
        assert_eq!(sms_septets("[]{}"), 8);
        assert!(sms_septets(&text) <= SMS_SEPTETS_MAX);
    }

    #[test]
    fn titles_lose_control_characters_and_html_is_escaped() {
        let mut msg = page();
        msg.title = "a\nb <script>\"x\" & 'y'".into();
        assert_eq!(
            headline(&msg),
            "#42 HIGH: a b <script>\"x\" & 'y' (payments)"
        );
        let body = html_body(&msg);
        assert!(
            body.contains("a b &lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;"),
            "{body}"
        );
        assert!(!body.contains("<script>"));
    }

    #[test]
    fn plain_body_has_every_part_of_the_page() {
        assert_eq!(
            plain_body(&page()),
            "#42 db down\nUrgency: HIGH\nService: payments\nOpen for: 5m\n\
             Incident: https://tocsin.example/incidents/42\n\
             Acknowledge: https://tocsin.example/ack/abc.def"
        );
    }

    #[test]
    fn other_kinds_have_their_own_words() {
        let mut msg = page();
        msg.kind = MessageKind::Verification {
            code: "123456".into(),
        };
        assert_eq!(sms(&msg), "[Tocsin] Your verification code is 123456");
        assert!(speech(&msg, false).contains("1. 2. 3. 4. 5. 6. Again"));
        msg.kind = MessageKind::ShiftStart {
            schedule: "Primary".into(),
            starts: "Mon 09:00".into(),
            ends: "Tue 09:00".into(),
        };
        assert_eq!(headline(&msg), "You are on call for Primary from Mon 09:00");
        msg.kind = MessageKind::Test;
        assert!(plain_body(&msg).contains("test notification"));
        assert!(!speech(&msg, true).contains("Press 4"));
    }

    #[test]
    fn a_status_notice_carries_its_unsubscribe_link() {
        let mut msg = page();
        msg.kind = MessageKind::StatusNotice {
            subject: "Acme status: API degraded".into(),
            text: "Investigating: slow responses.".into(),
            unsubscribe_url: Some("https://status.example/status/unsubscribe/t0k".into()),
        };
        assert_eq!(headline(&msg), "Acme status: API degraded");
        assert_eq!(
            plain_body(&msg),
            "Investigating: slow responses.\n\nUnsubscribe: https://status.example/status/unsubscribe/t0k"
        );
        assert_eq!(sms(&msg), "[Tocsin] Acme status: API degraded");
        let body = crate::webhook::payload(&msg);
        assert_eq!(body["event"], "status.notice");
        assert_eq!(
            body["unsubscribe_url"],
            "https://status.example/status/unsubscribe/t0k"
        );
    }

    #[test]
    fn speech_offers_the_keypress_only_when_it_is_gathered() {
        assert!(speech(&page(), true).ends_with("Open for 5 minutes. Press 4 to acknowledge."));
        assert!(!speech(&page(), false).contains("Press"));
    }
}
