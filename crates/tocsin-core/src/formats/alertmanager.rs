//! Prometheus Alertmanager's webhook (payload version 4, and Grafana's webhook contact point,
//! which sends the same shape as version 1): one notification carries the alerts of one group. Each alert is keyed by its fingerprint and resolves on its own; alerts of one group
//! share an incident.

use super::{FieldError, Fields, ParseError, object};
use crate::limits::{ALERTMANAGER_ALERTS_MAX, SHORT_TEXT_CHARS_MAX, SUMMARY_CHARS_MAX};
use crate::{AlertAction, AlertDetails, AlertEvent, Link, Severity};
use serde_json::{Map, Value};

/// The alerts of one notification, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    pub alerts: Vec<AlertEvent>,
    /// Alerts Alertmanager left out because of `max_alerts`.
    pub truncated_alerts: u64,
}

/// Maps a `severity` label onto ours. Common spellings beyond the four are accepted; anything
/// else falls back to `error`, which pages, as Alertmanager's own PagerDuty integration does.
pub fn severity_from_label(label: Option<&str>) -> Severity {
    let Some(l) = label else {
        return Severity::Error;
    };
    match l.trim().to_ascii_lowercase().as_str() {
        "critical" | "crit" | "page" | "emergency" | "fatal" | "p1" | "high" => Severity::Critical,
        "error" | "err" | "major" | "p2" => Severity::Error,
        "warning" | "warn" | "minor" | "p3" | "medium" => Severity::Warning,
        "info" | "informational" | "notice" | "none" | "low" | "p4" | "p5" => Severity::Info,
        _ => Severity::Error,
    }
}

fn string_map(v: Option<&Value>) -> Map<String, Value> {
    match v {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

fn label<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// Alertmanager's own fingerprint is a hash of the label set; senders older than 0.19 (and some
/// relays) leave it out, so derive a stable key from the sorted labels.
fn fingerprint_from_labels(labels: &Map<String, Value>) -> String {
    let mut pairs: Vec<(&String, &Value)> = labels.iter().collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    // FNV-1a, 64-bit: stable across versions and platforms, no dependency.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in pairs {
        for b in k
            .bytes()
            .chain([0xff])
            .chain(v.as_str().unwrap_or("").bytes())
            .chain([0xfe])
        {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}

/// Parses one webhook body.
pub fn parse(body: &[u8]) -> Result<Notification, ParseError> {
    let map = object(body)?;
    let mut errors: Vec<FieldError> = Vec::new();
    let mut f = Fields::new(&map, "", &mut errors);
    // Alertmanager sends "4"; Grafana's webhook contact point sends the same shape as "1".
    // The alerts array is what matters, so any version is read.
    let group_key = f.string("groupKey", 64 * 1024);
    let external_url = f.string("externalURL", SHORT_TEXT_CHARS_MAX * 4);
    let truncated_alerts = map
        .get("truncatedAlerts")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let common_labels = string_map(map.get("commonLabels"));
    let items = match map.get("alerts") {
        Some(Value::Array(items)) if items.len() > ALERTMANAGER_ALERTS_MAX => {
            f.error("alerts", format!("must have at most {ALERTMANAGER_ALERTS_MAX} alerts; set max_alerts in the webhook_config"));
            &[][..]
        }
        Some(Value::Array(items)) => &items[..],
        Some(_) => {
            f.error("alerts", "must be an array");
            &[][..]
        }
        None => {
            f.error("alerts", "is required");
            &[][..]
        }
    };
    let mut alerts = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("alerts[{i}]");
        let Value::Object(a) = item else {
            f.error(&path, "must be an object");
            continue;
        };
        let mut af = Fields::new(a, &path, f.errors);
        let status = af.string("status", 16);
        let action = match status.as_deref() {
            Some("firing") => Some(false),
            Some("resolved") => Some(true),
            other => {
                af.error(
                    "status",
                    format!("must be \"firing\" or \"resolved\" (got {other:?})"),
                );
                None
            }
        };
        let mut labels = string_map(a.get("labels"));
        if labels.is_empty() {
            labels = common_labels.clone();
        }
        let annotations = string_map(a.get("annotations"));
        let fingerprint = af
            .string("fingerprint", 255)
            .unwrap_or_else(|| fingerprint_from_labels(&labels));
        let Some(resolved) = action else { continue };
        let action = if resolved {
            AlertAction::Resolve
        } else {
            let alertname = label(&labels, "alertname").unwrap_or("alert");
            let summary = label(&annotations, "summary")
                .or_else(|| label(&annotations, "description"))
                .or_else(|| label(&annotations, "message"))
                .unwrap_or(alertname);
            let source = label(&labels, "instance")
                .or_else(|| label(&labels, "job"))
                .or(external_url.as_deref())
                .unwrap_or("alertmanager");
            let mut links = Vec::new();
            if let Some(url) = af.string("generatorURL", SHORT_TEXT_CHARS_MAX * 4) {
                links.push(Link {
                    href: url,
                    text: Some("Source".into()),
                });
            }
            if let Some(url) = label(&annotations, "runbook_url") {
                links.push(Link {
                    href: url.to_owned(),
                    text: Some("Runbook".into()),
                });
            }
            // Grafana puts its links on the alert itself.
            let dashboard = label(&annotations, "dashboard_url")
                .map(str::to_owned)
                .or_else(|| af.string("dashboardURL", SHORT_TEXT_CHARS_MAX * 4));
            if let Some(url) = dashboard {
                links.push(Link {
                    href: url,
                    text: Some("Dashboard".into()),
                });
            }
            if let Some(url) = af.string("panelURL", SHORT_TEXT_CHARS_MAX * 4) {
                links.push(Link {
                    href: url,
                    text: Some("Panel".into()),
                });
            }
            let timestamp = af.timestamp("startsAt");
            let mut details = Map::new();
            details.insert("labels".into(), Value::Object(labels.clone()));
            details.insert("annotations".into(), Value::Object(annotations.clone()));
            AlertAction::Trigger(Box::new(AlertDetails {
                summary: truncate_chars(summary, SUMMARY_CHARS_MAX),
                source: truncate_chars(source, SHORT_TEXT_CHARS_MAX),
                severity: Some(severity_from_label(label(&labels, "severity"))),
                timestamp,
                component: label(&labels, "job").map(|s| truncate_chars(s, SHORT_TEXT_CHARS_MAX)),
                group: label(&labels, "namespace")
                    .or_else(|| label(&labels, "cluster"))
                    .map(|s| truncate_chars(s, SHORT_TEXT_CHARS_MAX)),
                class: Some(truncate_chars(alertname, SHORT_TEXT_CHARS_MAX)),
                custom_details: Some(Value::Object(details)),
                links,
                images: Vec::new(),
                client: Some("Alertmanager".into()),
                client_url: external_url.clone(),
            }))
        };
        alerts.push(AlertEvent {
            dedup_key: fingerprint,
            action,
            group_key: group_key.clone(),
        });
    }
    if errors.is_empty() {
        Ok(Notification {
            alerts,
            truncated_alerts,
        })
    } else {
        Err(ParseError::Invalid(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC_EXAMPLE: &str = r#"{
      "version": "4",
      "groupKey": "{}:{alertname=\"HighErrorRate\"}",
      "truncatedAlerts": 0,
      "status": "firing",
      "receiver": "tocsin",
      "groupLabels": {"alertname": "HighErrorRate"},
      "commonLabels": {"alertname": "HighErrorRate", "severity": "critical"},
      "commonAnnotations": {},
      "externalURL": "http://alertmanager.example:9093",
      "alerts": [
        {
          "status": "firing",
          "labels": {"alertname": "HighErrorRate", "instance": "web-1", "severity": "critical"},
          "annotations": {"summary": "5xx above 5% on web-1", "runbook_url": "https://runbooks.example/5xx"},
          "startsAt": "2026-11-25T10:00:00.000Z",
          "endsAt": "0001-01-01T00:00:00Z",
          "generatorURL": "http://prometheus.example:9090/graph?g0.expr=x",
          "fingerprint": "c4b2a1f0e9d8c7b6"
        },
        {
          "status": "resolved",
          "labels": {"alertname": "HighErrorRate", "instance": "web-2"},
          "annotations": {},
          "startsAt": "2026-11-25T09:00:00.000Z",
          "endsAt": "2026-11-25T09:30:00.000Z",
          "generatorURL": "",
          "fingerprint": "d4b2a1f0e9d8c7b6"
        }
      ]
    }"#;

    #[test]
    fn documented_example() {
        let n = parse(DOC_EXAMPLE.as_bytes()).unwrap();
        assert_eq!(n.alerts.len(), 2);
        let a = &n.alerts[0];
        assert_eq!(a.dedup_key, "c4b2a1f0e9d8c7b6");
        assert_eq!(
            a.group_key.as_deref(),
            Some("{}:{alertname=\"HighErrorRate\"}")
        );
        let AlertAction::Trigger(d) = &a.action else {
            panic!()
        };
        assert_eq!(d.summary, "5xx above 5% on web-1");
        assert_eq!(d.source, "web-1");
        assert_eq!(d.severity, Some(Severity::Critical));
        assert_eq!(d.links.len(), 2);
        assert_eq!(n.alerts[1].action, AlertAction::Resolve);
    }

    #[test]
    fn missing_fingerprint_is_derived_from_labels() {
        let body = br#"{"version":"4","status":"firing","alerts":[
            {"status":"firing","labels":{"b":"2","a":"1"}},
            {"status":"firing","labels":{"a":"1","b":"2"}}]}"#;
        let n = parse(body).unwrap();
        assert_eq!(n.alerts[0].dedup_key, n.alerts[1].dedup_key);
        let AlertAction::Trigger(d) = &n.alerts[0].action else {
            panic!()
        };
        assert_eq!(d.summary, "alert");
        assert_eq!(d.severity, Some(Severity::Error));
    }

    #[test]
    fn bad_documents_name_the_field() {
        let e = parse(br#"{"version":"4","alerts":[{"status":"pending"}]}"#).unwrap_err();
        let ParseError::Invalid(e) = e else { panic!() };
        assert_eq!(e[0].field, "alerts[0].status");
        assert!(matches!(
            parse(br#"{"version":"4"}"#),
            Err(ParseError::Invalid(_))
        ));
    }
}
