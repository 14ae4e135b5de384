//! PagerDuty Events API v2 (`/v2/enqueue`, `/v2/change/enqueue`), as
//! `shared/reference/pagerduty-events-v2.md` describes it, with the leniency real clients need.

use super::{FieldError, Fields, ParseError, object};
use crate::limits::{SHORT_TEXT_CHARS_MAX, SUMMARY_CHARS_MAX};
use crate::{AlertAction, AlertDetails, ChangeEvent, EventAction, Severity};

/// A parsed alert event, still carrying its routing key (the credential).
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRequest {
    pub routing_key: String,
    /// Absent only on a trigger: the server makes one up.
    pub dedup_key: Option<String>,
    pub action: AlertAction,
}

/// A parsed change event.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeRequest {
    pub routing_key: String,
    pub event: ChangeEvent,
}

fn routing_key(f: &mut Fields<'_>) -> Option<String> {
    let key = f.required_string("routing_key", 256)?;
    Some(key.trim().to_owned())
}

/// Parses an alert event body.
pub fn parse_alert(body: &[u8]) -> Result<AlertRequest, ParseError> {
    let map = object(body)?;
    let mut errors: Vec<FieldError> = Vec::new();
    let mut f = Fields::new(&map, "", &mut errors);
    let routing_key = routing_key(&mut f);
    let (action, dedup_key) = f.action_and_dedup_key("event_action", None);
    let action = match action {
        Some(EventAction::Trigger) => {
            parse_trigger(&mut f).map(|d| AlertAction::Trigger(Box::new(d)))
        }
        // `payload` on acknowledge/resolve is accepted and ignored (Alertmanager always sends it).
        Some(EventAction::Acknowledge) => Some(AlertAction::Acknowledge),
        Some(EventAction::Resolve) => Some(AlertAction::Resolve),
        None => None,
    };
    match (routing_key, action) {
        (Some(routing_key), Some(action)) if errors.is_empty() => Ok(AlertRequest {
            routing_key,
            dedup_key,
            action,
        }),
        _ => Err(ParseError::Invalid(errors)),
    }
}

fn parse_trigger(f: &mut Fields<'_>) -> Option<AlertDetails> {
    let client = f.string("client", SHORT_TEXT_CHARS_MAX);
    let client_url = f.string("client_url", SHORT_TEXT_CHARS_MAX * 4);
    let links = f.links("links");
    let images = f.images("images");
    let Some(payload) = f.object("payload") else {
        if f.raw("payload").is_none() {
            f.error(
                "payload",
                "is required for a trigger: {summary, source, severity}",
            );
        }
        return None;
    };
    let mut p = Fields::new(payload, "payload", f.errors);
    let summary = p.required_string("summary", SUMMARY_CHARS_MAX);
    let source = p.required_string("source", SHORT_TEXT_CHARS_MAX);
    let severity = match p.string("severity", 32) {
        None => {
            p.error(
                "severity",
                format!("is required: one of {}", Severity::words()),
            );
            None
        }
        Some(s) => {
            let parsed = Severity::parse_lenient(&s);
            if parsed.is_none() {
                p.error(
                    "severity",
                    format!("must be one of {} (got {s:?})", Severity::words()),
                );
            }
            parsed
        }
    };
    let timestamp = p.timestamp("timestamp");
    let component = p.string("component", SHORT_TEXT_CHARS_MAX);
    let group = p.string("group", SHORT_TEXT_CHARS_MAX);
    let class = p.string("class", SHORT_TEXT_CHARS_MAX);
    let custom_details = p.any("custom_details");
    Some(AlertDetails {
        summary: summary?,
        source: source?,
        severity: Some(severity?),
        timestamp,
        component,
        group,
        class,
        custom_details,
        links,
        images,
        client,
        client_url,
    })
}

/// Parses a change event body.
pub fn parse_change(body: &[u8]) -> Result<ChangeRequest, ParseError> {
    let map = object(body)?;
    let mut errors: Vec<FieldError> = Vec::new();
    let mut f = Fields::new(&map, "", &mut errors);
    let routing_key = routing_key(&mut f);
    let links = f.links("links");
    let event = match f.object("payload") {
        None => {
            if f.raw("payload").is_none() {
                f.error(
                    "payload",
                    "is required: {summary, source?, timestamp?, custom_details?}",
                );
            }
            None
        }
        Some(payload) => {
            let mut p = Fields::new(payload, "payload", f.errors);
            let summary = p.required_string("summary", SUMMARY_CHARS_MAX);
            let source = p.string("source", SHORT_TEXT_CHARS_MAX);
            let timestamp = p.timestamp("timestamp");
            let custom_details = p.any("custom_details");
            summary.map(|summary| ChangeEvent {
                summary,
                source,
                timestamp,
                custom_details,
                links,
            })
        }
    };
    match (routing_key, event) {
        (Some(routing_key), Some(event)) if errors.is_empty() => {
            Ok(ChangeRequest { routing_key, event })
        }
        _ => Err(ParseError::Invalid(errors)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<AlertRequest, ParseError> {
        parse_alert(v.to_string().as_bytes())
    }

    fn fields(r: Result<AlertRequest, ParseError>) -> Vec<String> {
        match r {
            Err(ParseError::Invalid(e)) => e.into_iter().map(|e| e.field).collect(),
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn documented_trigger_parses() {
        let r = parse(json!({
            "payload": {
                "summary": "DISK at 99% on machine prod-datapipe03.example.com",
                "timestamp": "2015-07-17T08:42:58.315+0000",
                "severity": "critical",
                "source": "prod-datapipe03.example.com",
                "component": "mysql",
                "group": "prod-datapipe",
                "class": "disk",
                "custom_details": {"free space": "1%", "ping time": "1500ms", "load avg": 0.75}
            },
            "routing_key": "samplekeyhere",
            "dedup_key": "samplekeyhere",
            "images": [{"src": "https://www.pagerduty.com/wp-content/uploads/2016/05/pagerduty-logo-green.png", "href": "https://example.com/", "alt": "Example text"}],
            "links": [{"href": "https://example.com/", "text": "Link text"}],
            "event_action": "trigger",
            "client": "Sample Monitoring Service",
            "client_url": "https://monitoring.service.com"
        }))
        .unwrap();
        assert_eq!(r.routing_key, "samplekeyhere");
        let AlertAction::Trigger(d) = r.action else {
            panic!()
        };
        assert_eq!(d.severity, Some(Severity::Critical));
        assert!(d.timestamp.is_some());
        assert_eq!(d.links.len(), 1);
        assert_eq!(d.images[0].alt.as_deref(), Some("Example text"));
    }

    #[test]
    fn alertmanager_style_resolve_with_payload_and_empty_strings() {
        let r = parse(json!({
            "routing_key": "k", "event_action": "resolve", "dedup_key": "abc",
            "payload": {"summary": "x", "source": "", "severity": "error", "timestamp": "",
                        "component": "", "group": "", "class": ""},
            "images": [], "links": [{"href": "", "text": ""}], "client": "Alertmanager"
        }))
        .unwrap();
        assert_eq!(r.action, AlertAction::Resolve);
    }

    #[test]
    fn errors_name_every_field() {
        assert_eq!(
            fields(parse(json!({"event_action": "trigger"}))),
            ["routing_key", "payload"]
        );
        assert_eq!(
            fields(parse(json!({"routing_key": "k", "event_action": "fire"}))),
            ["event_action"]
        );
        assert_eq!(
            fields(parse(
                json!({"routing_key": "k", "event_action": "resolve"})
            )),
            ["dedup_key"]
        );
        assert_eq!(
            fields(parse(json!({"routing_key": "k", "event_action": "trigger",
                "payload": {"summary": "x".repeat(1025), "source": "s", "severity": "bad"}}))),
            ["payload.summary", "payload.severity"]
        );
        assert_eq!(
            fields(parse(
                json!({"routing_key": "k", "event_action": "trigger", "dedup_key": "d".repeat(256),
                "payload": {"summary": ["x"], "source": "s", "severity": "info"}})
            )),
            ["dedup_key", "payload.summary"]
        );
        assert!(matches!(
            parse_alert(b"{not json"),
            Err(ParseError::Malformed(_))
        ));
        assert!(matches!(parse_alert(b"[1]"), Err(ParseError::Malformed(_))));
    }

    #[test]
    fn severity_is_case_insensitive_and_unknown_fields_are_ignored() {
        let r = parse(
            json!({"routing_key": "k", "event_action": "Trigger", "extra": 1,
            "payload": {"summary": "s", "source": "h", "severity": "WARNING", "more": true}}),
        )
        .unwrap();
        let AlertAction::Trigger(d) = r.action else {
            panic!()
        };
        assert_eq!(d.severity, Some(Severity::Warning));
        assert_eq!(r.dedup_key, None);
    }

    #[test]
    fn change_event() {
        let r = parse_change(
            json!({"routing_key": "k", "payload": {"summary": "Build 42 deployed",
                "timestamp": "2020-07-17T08:42:58.315+0000", "source": "ci",
                "custom_details": {"build_state": "passed"}},
                "links": [{"href": "https://ci.example/42", "text": "build"}]})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(r.event.summary, "Build 42 deployed");
        assert!(matches!(
            parse_change(br#"{"routing_key":"k","payload":{}}"#),
            Err(ParseError::Invalid(_))
        ));
    }
}
