//! How the UI writes times, ages and query strings for people: in the reader's own time zone,
//! short, and the same on every page. Pure functions of their inputs (time is an argument).

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// The reader's time zone, UTC when the stored name is unknown to this build.
pub fn zone(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap_or(TimeZone::UTC)
}

/// `Wed 25 Nov 10:00 CET`: a moment in the reader's zone (the year only when it differs).
pub fn when(t: Timestamp, tz: &TimeZone, now: Timestamp) -> String {
    let z = t.to_zoned_datetime(tz.clone());
    if z.year() == now.to_zoned_datetime(tz.clone()).year() {
        z.strftime("%a %-d %b %H:%M %Z").to_string()
    } else {
        z.strftime("%a %-d %b %Y %H:%M %Z").to_string()
    }
}

/// `10:00`: a time of day in the reader's zone.
pub fn clock(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned_datetime(tz.clone())
        .strftime("%H:%M")
        .to_string()
}

/// RFC 3339 UTC, for `<time datetime>`.
pub fn iso(t: Timestamp) -> String {
    t.to_string()
}

/// How long something has lasted, to the minute: `just now`, `5 min`, `3 h 12 min`, `2 d 4 h`.
pub fn age(since: Timestamp, now: Timestamp) -> String {
    span(now.duration_since(since))
}

/// How long ago something happened: `just now`, `5 min ago`.
pub fn ago(since: Timestamp, now: Timestamp) -> String {
    match age(since, now) {
        a if a == "just now" => a,
        a => format!("{a} ago"),
    }
}

/// A duration in the same words as `age`.
pub fn span(d: SignedDuration) -> String {
    let mins = d.as_mins().max(0);
    match mins {
        0 => "just now".into(),
        1..=59 => format!("{mins} min"),
        60..=1439 if mins % 60 == 0 => format!("{} h", mins / 60),
        60..=1439 => format!("{} h {} min", mins / 60, mins % 60),
        _ if (mins / 60) % 24 == 0 => format!("{} d", mins / 1440),
        _ => format!("{} d {} h", mins / 1440, (mins / 60) % 24),
    }
}

/// Percent-encodes a query-string value (everything but unreserved characters).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query string from pairs, leaving out empty values: `?status=open&urgency=high`.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", url_encode(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_short() {
        let t0: Timestamp = "2026-11-25T10:00:00Z".parse().unwrap();
        let at = |m: i64| t0 + SignedDuration::from_mins(m);
        assert_eq!(age(t0, at(0)), "just now");
        assert_eq!(age(t0, at(5)), "5 min");
        assert_eq!(age(t0, at(60)), "1 h");
        assert_eq!(age(t0, at(192)), "3 h 12 min");
        assert_eq!(age(t0, at(2 * 1440)), "2 d");
        assert_eq!(age(t0, at(2 * 1440 + 250)), "2 d 4 h");
        assert_eq!(
            age(at(5), t0),
            "just now",
            "a clock behind never shows negative ages"
        );
        assert_eq!(ago(t0, at(0)), "just now");
        assert_eq!(ago(t0, at(5)), "5 min ago");
    }

    #[test]
    fn times_are_in_the_readers_zone() {
        let t: Timestamp = "2026-11-25T10:00:00Z".parse().unwrap();
        assert_eq!(when(t, &zone("Europe/Paris"), t), "Wed 25 Nov 11:00 CET");
        assert_eq!(when(t, &zone("Not/AZone"), t), "Wed 25 Nov 10:00 UTC");
        let next_year: Timestamp = "2027-01-02T00:00:00Z".parse().unwrap();
        assert_eq!(
            when(t, &zone("UTC"), next_year),
            "Wed 25 Nov 2026 10:00 UTC"
        );
    }

    #[test]
    fn queries_encode_and_skip_empty_values() {
        assert_eq!(url_encode("/incidents?x=1&y"), "%2Fincidents%3Fx%3D1%26y");
        assert_eq!(
            query(&[("status", "open"), ("service", ""), ("q", "a b")]),
            "?status=open&q=a%20b"
        );
        assert_eq!(query(&[("status", "")]), "");
    }
}
