//! Fuzzing every wire-format parser with proptest: arbitrary bytes, and JSON documents built
//! from the formats' own field names with values of every type. A parser may refuse; it must
//! never panic, and what it accepts must respect the limits. `cargo xtask fuzz` runs these
//! with many more cases.

use super::{alertmanager, events_v2, generic, parse_timestamp};
use crate::AlertAction;
use crate::limits::{DEDUP_KEY_CHARS_MAX, SUMMARY_CHARS_MAX};
use proptest::prelude::*;
use serde_json::{Map, Value};

const FIELDS: &[&str] = &[
    "routing_key",
    "event_action",
    "dedup_key",
    "payload",
    "summary",
    "source",
    "severity",
    "timestamp",
    "component",
    "group",
    "class",
    "custom_details",
    "links",
    "images",
    "href",
    "text",
    "src",
    "alt",
    "client",
    "client_url",
    "version",
    "groupKey",
    "status",
    "alerts",
    "labels",
    "annotations",
    "fingerprint",
    "startsAt",
    "endsAt",
    "generatorURL",
    "alertname",
    "instance",
    "job",
    "description",
    "runbook_url",
    "dashboardURL",
    "panelURL",
    "truncatedAlerts",
    "commonLabels",
    "externalURL",
    "action",
    "details",
];

const WORDS: &[&str] = &[
    "trigger",
    "acknowledge",
    "resolve",
    "critical",
    "error",
    "warning",
    "info",
    "firing",
    "resolved",
    "4",
    "1",
    "",
    " ",
    "2015-07-17T08:42:58.315+0000",
    "+0000",
    "é+0000",
    "🔥",
    "0001-01-01T00:00:00Z",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        proptest::sample::select(WORDS).prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::from),
        (0usize..1100).prop_map(|n| Value::from("x".repeat(n))),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((proptest::sample::select(FIELDS), inner), 0..8).prop_map(
                |kv| {
                    Value::Object(
                        kv.into_iter()
                            .map(|(k, v)| (k.to_owned(), v))
                            .collect::<Map<_, _>>(),
                    )
                }
            ),
        ]
    })
}

fn check_all(body: &[u8]) {
    if let Ok(r) = events_v2::parse_alert(body) {
        assert!(
            r.dedup_key
                .as_ref()
                .is_none_or(|k| k.chars().count() <= DEDUP_KEY_CHARS_MAX)
        );
        if let AlertAction::Trigger(d) = r.action {
            assert!(d.summary.chars().count() <= SUMMARY_CHARS_MAX);
            assert!(!d.summary.trim().is_empty());
            assert!(d.severity.is_some());
        }
    }
    let _ = events_v2::parse_change(body);
    if let Ok(n) = alertmanager::parse(body) {
        for a in n.alerts {
            assert!(!a.dedup_key.is_empty());
            if let AlertAction::Trigger(d) = a.action {
                assert!(d.summary.chars().count() <= SUMMARY_CHARS_MAX);
            }
        }
    }
    if let Ok(g) = generic::parse(body) {
        assert!(
            g.dedup_key
                .as_ref()
                .is_none_or(|k| k.chars().count() <= DEDUP_KEY_CHARS_MAX)
        );
    }
}

proptest! {
    #[test]
    fn parsers_never_panic_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        check_all(&body);
    }

    #[test]
    fn parsers_never_panic_on_json(doc in json()) {
        check_all(doc.to_string().as_bytes());
    }

    #[test]
    fn parsers_never_panic_on_near_valid_events(
        payload in proptest::collection::vec((proptest::sample::select(FIELDS), leaf()), 0..8),
        top in proptest::collection::vec((proptest::sample::select(FIELDS), leaf()), 0..8),
        action in proptest::sample::select(&["trigger", "acknowledge", "resolve", "firing"][..]),
    ) {
        let mut doc: Map<String, Value> = top.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        doc.insert("event_action".into(), action.into());
        doc.insert("routing_key".into(), "k".into());
        let p: Map<String, Value> = payload.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        doc.insert("payload".into(), Value::Object(p.clone()));
        doc.insert("alerts".into(), Value::Array(vec![Value::Object(p)]));
        check_all(Value::Object(doc).to_string().as_bytes());
    }

    #[test]
    fn timestamps_never_panic(s in "\\PC{0,40}") {
        let _ = parse_timestamp(&s);
    }
}
