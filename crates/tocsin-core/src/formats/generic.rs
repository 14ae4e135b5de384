//! The generic JSON webhook: `{"summary", "severity", "dedup_key", "action", "source",
//! "details": {}, "links": []}`, for scripts and tools without a format of their own.

use super::{FieldError, Fields, ParseError, object};
use crate::limits::{SHORT_TEXT_CHARS_MAX, SUMMARY_CHARS_MAX};
use crate::{AlertAction, AlertDetails, EventAction, Severity};

/// A parsed generic event. The dedup key is absent only on a trigger.
#[derive(Clone, Debug, PartialEq)]
pub struct GenericEvent {
    pub dedup_key: Option<String>,
    pub action: AlertAction,
}

pub fn parse(body: &[u8]) -> Result<GenericEvent, ParseError> {
    let map = object(body)?;
    let mut errors: Vec<FieldError> = Vec::new();
    let mut f = Fields::new(&map, "", &mut errors);
    let (action, dedup_key) = f.action_and_dedup_key("action", Some(EventAction::Trigger));
    let action = match action {
        Some(EventAction::Trigger) => {
            let summary = f.required_string("summary", SUMMARY_CHARS_MAX);
            let source = f.string("source", SHORT_TEXT_CHARS_MAX);
            let severity = match f.string("severity", 32) {
                None => Some(Severity::Error),
                Some(s) => {
                    let parsed = Severity::parse_lenient(&s);
                    if parsed.is_none() {
                        f.error(
                            "severity",
                            format!("must be one of {} (got {s:?})", Severity::words()),
                        );
                    }
                    parsed
                }
            };
            let timestamp = f.timestamp("timestamp");
            let custom_details = f.any("details");
            let links = f.links("links");
            let component = f.string("component", SHORT_TEXT_CHARS_MAX);
            let group = f.string("group", SHORT_TEXT_CHARS_MAX);
            let class = f.string("class", SHORT_TEXT_CHARS_MAX);
            match (summary, severity) {
                (Some(summary), Some(severity)) => {
                    Some(AlertAction::Trigger(Box::new(AlertDetails {
                        summary,
                        source: source.unwrap_or_else(|| "generic".into()),
                        severity: Some(severity),
                        timestamp,
                        component,
                        group,
                        class,
                        custom_details,
                        links,
                        images: Vec::new(),
                        client: None,
                        client_url: None,
                    })))
                }
                _ => None,
            }
        }
        Some(EventAction::Acknowledge) => Some(AlertAction::Acknowledge),
        Some(EventAction::Resolve) => Some(AlertAction::Resolve),
        None => None,
    };
    match action {
        Some(action) if errors.is_empty() => Ok(GenericEvent { dedup_key, action }),
        _ => Err(ParseError::Invalid(errors)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_and_full() {
        let e = parse(br#"{"summary":"backup failed"}"#).unwrap();
        let AlertAction::Trigger(d) = e.action else {
            panic!()
        };
        assert_eq!(d.severity, Some(Severity::Error));
        let e = parse(br#"{"summary":"s","severity":"info","dedup_key":"k","action":"trigger","source":"cron","details":{"exit":2}}"#).unwrap();
        assert_eq!(e.dedup_key.as_deref(), Some("k"));
        let e = parse(br#"{"action":"resolve","dedup_key":"k"}"#).unwrap();
        assert_eq!(e.action, AlertAction::Resolve);
    }

    #[test]
    fn errors() {
        let ParseError::Invalid(e) = parse(br#"{"severity":"loud"}"#).unwrap_err() else {
            panic!()
        };
        let fields: Vec<_> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["summary", "severity"]);
        let ParseError::Invalid(e) = parse(br#"{"action":"ack"}"#).unwrap_err() else {
            panic!()
        };
        assert_eq!(e[0].field, "action");
    }
}
