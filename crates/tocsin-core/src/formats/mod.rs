//! Wire formats of the ingestion endpoints, parsed into core types. Lenient where real senders
//! need it (empty strings mean absent, unknown fields are ignored, `+0000` offsets parse), strict
//! where a wrong value would lose meaning (actions, severities, required fields, limits).
//! Every error names the field and says what to fix.

pub mod alertmanager;
pub mod events_v2;
pub mod generic;

#[cfg(test)]
mod fuzz;

use crate::limits::{ATTACHMENTS_MAX, DEDUP_KEY_CHARS_MAX, SHORT_TEXT_CHARS_MAX};
use crate::{EventAction, Image, Link};
use jiff::Timestamp;
use serde_json::{Map, Value};
use std::fmt;

/// One problem with one field of an incoming document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path, e.g. `payload.summary`.
    pub field: String,
    /// What is wrong, as a phrase following the field name.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}' {}", self.field, self.message)
    }
}

/// Why a document was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Not JSON, or JSON that is not an object.
    Malformed(String),
    /// A JSON object with invalid fields.
    Invalid(Vec<FieldError>),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Malformed(m) => write!(f, "malformed JSON: {m}"),
            ParseError::Invalid(errors) => {
                let parts: Vec<String> = errors.iter().map(ToString::to_string).collect();
                f.write_str(&parts.join("; "))
            }
        }
    }
}

/// Parses a body into a JSON object.
pub(crate) fn object(body: &[u8]) -> Result<Map<String, Value>, ParseError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ParseError::Malformed(
            "the body must be a JSON object".into(),
        )),
        Err(e) => Err(ParseError::Malformed(e.to_string())),
    }
}

/// Reads fields of one JSON object, collecting every error instead of stopping at the first.
pub(crate) struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: &'a str,
    pub errors: &'a mut Vec<FieldError>,
}

impl<'a> Fields<'a> {
    pub fn new(
        map: &'a Map<String, Value>,
        prefix: &'a str,
        errors: &'a mut Vec<FieldError>,
    ) -> Self {
        Self {
            map,
            prefix,
            errors,
        }
    }

    pub fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    pub fn error(&mut self, name: &str, message: impl Into<String>) {
        let field = self.path(name);
        self.errors.push(FieldError {
            field,
            message: message.into(),
        });
    }

    pub fn raw(&self, name: &str) -> Option<&'a Value> {
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// An optional string; empty or blank means absent. Longer than `max` chars is an error.
    pub fn string(&mut self, name: &str, max: usize) -> Option<String> {
        match self.raw(name) {
            None => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => {
                if s.chars().count() > max {
                    self.error(name, format!("must be at most {max} characters"));
                    None
                } else {
                    Some(s.clone())
                }
            }
            // Numbers and booleans are common in hand-written senders; keep their text.
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            Some(_) => {
                self.error(name, "must be a string");
                None
            }
        }
    }

    /// A required string.
    pub fn required_string(&mut self, name: &str, max: usize) -> Option<String> {
        let before = self.errors.len();
        let v = self.string(name, max);
        if v.is_none() && self.errors.len() == before {
            self.error(name, "is required");
        }
        v
    }

    /// An optional nested object; anything else but null is an error.
    pub fn object(&mut self, name: &str) -> Option<&'a Map<String, Value>> {
        match self.raw(name) {
            None => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => {
                self.error(name, "must be an object");
                None
            }
        }
    }

    /// Free-form JSON kept as it is (custom details). A bare string is kept too: some senders
    /// put a message there.
    pub fn any(&mut self, name: &str) -> Option<Value> {
        self.raw(name).cloned()
    }

    /// An optional timestamp. Unparseable timestamps are ignored (the receipt time is used):
    /// an alert must never be refused over its detection time.
    pub fn timestamp(&mut self, name: &str) -> Option<Timestamp> {
        self.string(name, 64).and_then(|s| parse_timestamp(&s))
    }

    /// The event action in `name` (absent: `default`, or an error when there is none) and the
    /// dedup key, which acknowledge and resolve require.
    pub fn action_and_dedup_key(
        &mut self,
        name: &str,
        default: Option<EventAction>,
    ) -> (Option<EventAction>, Option<String>) {
        let action = match (self.string(name, 32), default) {
            (None, Some(d)) => Some(d),
            (None, None) => {
                self.error(
                    name,
                    format!("is required: one of {}", EventAction::words()),
                );
                None
            }
            (Some(a), _) => {
                let parsed = EventAction::parse(&a.trim().to_ascii_lowercase());
                if parsed.is_none() {
                    self.error(
                        name,
                        format!("must be one of {} (got {a:?})", EventAction::words()),
                    );
                }
                parsed
            }
        };
        let before = self.errors.len();
        let dedup_key = self.string("dedup_key", DEDUP_KEY_CHARS_MAX);
        if dedup_key.is_none()
            && self.errors.len() == before
            && matches!(
                action,
                Some(EventAction::Acknowledge | EventAction::Resolve)
            )
        {
            self.error("dedup_key", "is required to acknowledge or resolve");
        }
        (action, dedup_key)
    }

    pub fn links(&mut self, name: &str) -> Vec<Link> {
        let mut out = Vec::new();
        let Some(items) = self.array(name) else {
            return out;
        };
        for (i, item) in items.iter().enumerate() {
            let Value::Object(m) = item else {
                self.error(&format!("{name}[{i}]"), "must be an object with 'href'");
                continue;
            };
            let prefix = self.path(&format!("{name}[{i}]"));
            let mut f = Fields::new(m, &prefix, self.errors);
            let href = f.string("href", SHORT_TEXT_CHARS_MAX * 4);
            let text = f.string("text", SHORT_TEXT_CHARS_MAX);
            // Links without an href carry nothing; senders emit empty ones from templates.
            if let Some(href) = href {
                out.push(Link { href, text });
            }
        }
        out
    }

    pub fn images(&mut self, name: &str) -> Vec<Image> {
        let mut out = Vec::new();
        let Some(items) = self.array(name) else {
            return out;
        };
        for (i, item) in items.iter().enumerate() {
            let Value::Object(m) = item else {
                self.error(&format!("{name}[{i}]"), "must be an object with 'src'");
                continue;
            };
            let prefix = self.path(&format!("{name}[{i}]"));
            let mut f = Fields::new(m, &prefix, self.errors);
            let src = f.string("src", SHORT_TEXT_CHARS_MAX * 4);
            let href = f.string("href", SHORT_TEXT_CHARS_MAX * 4);
            let alt = f.string("alt", SHORT_TEXT_CHARS_MAX);
            if let Some(src) = src {
                out.push(Image { src, href, alt });
            }
        }
        out
    }

    fn array(&mut self, name: &str) -> Option<&'a Vec<Value>> {
        match self.raw(name) {
            None => None,
            Some(Value::Array(items)) if items.len() > ATTACHMENTS_MAX => {
                self.error(name, format!("must have at most {ATTACHMENTS_MAX} items"));
                None
            }
            Some(Value::Array(items)) => Some(items),
            Some(_) => {
                self.error(name, "must be an array");
                None
            }
        }
    }
}

/// RFC 3339 / ISO 8601 with the offset spellings real senders use: `Z`, `+00:00`, `+0000`.
pub fn parse_timestamp(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    // `2015-07-17T08:42:58.315+0000`: insert the colon jiff's strict parser wants.
    if s.len() > 5 && s.is_char_boundary(s.len() - 5) {
        let (head, tail) = s.split_at(s.len() - 5);
        let t = tail.as_bytes();
        if (t[0] == b'+' || t[0] == b'-') && t[1..].iter().all(u8::is_ascii_digit) {
            let fixed = format!("{head}{}:{}", &tail[..3], &tail[3..]);
            if let Ok(t) = fixed.parse::<Timestamp>() {
                return Some(t);
            }
        }
    }
    // A space instead of the `T`.
    if s.len() > 10 && s.as_bytes()[10] == b' ' {
        let fixed = format!("{}T{}", &s[..10], &s[11..]);
        return parse_timestamp(&fixed);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_the_spellings_senders_use() {
        let want: Timestamp = "2015-07-17T08:42:58.315Z".parse().unwrap();
        for s in [
            "2015-07-17T08:42:58.315Z",
            "2015-07-17T08:42:58.315+00:00",
            "2015-07-17T08:42:58.315+0000",
            "2015-07-17 08:42:58.315+0000",
            "2015-07-17T10:42:58.315+0200",
        ] {
            assert_eq!(parse_timestamp(s), Some(want), "{s}");
        }
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp(""), None);
        assert_eq!(parse_timestamp("+0000"), None);
    }
}
