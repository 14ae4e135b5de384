//! The services pages: the list, and one service with its escalation policy, recent incidents
//! and integrations, each with its key (admins only, as in the REST API), a copy button and
//! ready-to-paste examples for the senders that use that integration type. Read-only for now:
//! services and integrations are created through the REST API or the CLI.

use super::format::{age, ago};
use super::{Chrome, Signed, UiError, html};
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use std::sync::Arc;
use tocsin_core::{IncidentStatus, IntegrationType, Role, ServiceId};
use tocsin_store::IncidentFilter;

/// Recent incidents shown on a service's page.
const SERVICE_INCIDENTS_MAX: u32 = 10;

struct ServiceRow {
    id: String,
    name: String,
    description: String,
    policy: String,
}

#[derive(Template)]
#[template(path = "services.html")]
struct ServicesPage {
    chrome: Chrome,
    services: Vec<ServiceRow>,
}

pub async fn list(State(s): State<Arc<AppState>>, me: Signed) -> Result<Response, UiError> {
    let policies = s.store.list_escalation_policies().await?;
    let policy_name = |id: &Option<String>| {
        id.as_ref().map_or_else(
            || "none: its incidents page nobody".to_owned(),
            |id| {
                policies
                    .iter()
                    .find(|p| &p.id == id)
                    .map_or_else(|| id.clone(), |p| p.name.clone())
            },
        )
    };
    let services = s
        .store
        .list_services()
        .await?
        .into_iter()
        .map(|svc| ServiceRow {
            policy: policy_name(&svc.escalation_policy_id),
            id: svc.id.0,
            name: svc.name,
            description: svc.description,
        })
        .collect();
    html(&ServicesPage {
        chrome: Chrome::new("Services", "services", Some(&me)),
        services,
    })
}

struct IntegrationView {
    id: String,
    name: String,
    kind: &'static str,
    /// `None` for people who may not see keys.
    key: Option<String>,
    url: Option<String>,
    examples: Vec<Example>,
}

struct Example {
    id: String,
    title: &'static str,
    text: String,
}

struct RecentIncident {
    id: String,
    number: i64,
    title: String,
    status: &'static str,
    age: String,
}

#[derive(Template)]
#[template(path = "service.html")]
struct ServicePage {
    chrome: Chrome,
    name: String,
    description: String,
    policy: String,
    ack_timeout: String,
    can_see_keys: bool,
    integrations: Vec<IntegrationView>,
    incidents: Vec<RecentIncident>,
}

/// Ready-to-paste configuration for the senders of one integration type (docs/integrations.md
/// explains each).
fn examples(base: &str, kind: IntegrationType, key: &str, id: &str) -> Vec<Example> {
    let ex = |n: usize, title, text: String| Example {
        id: format!("ex-{id}-{n}"),
        title,
        text,
    };
    match kind {
        IntegrationType::EventsV2 => vec![
            ex(
                1,
                "curl",
                format!(
                    "curl -sS {base}/v2/enqueue -H 'Content-Type: application/json' -d '{{\n  \"routing_key\": \"{key}\", \"event_action\": \"trigger\", \"dedup_key\": \"disk-db1\",\n  \"payload\": {{\"summary\": \"Disk 95% full on db1\", \"source\": \"db1\", \"severity\": \"critical\"}}}}'"
                ),
            ),
            ex(
                2,
                "Alertmanager pagerduty_configs",
                format!(
                    "receivers:\n  - name: tocsin-pd\n    pagerduty_configs:\n      - url: {base}/v2/enqueue\n        routing_key: {key}\n        send_resolved: true"
                ),
            ),
            ex(
                3,
                "Grafana PagerDuty contact point (provisioning)",
                format!(
                    "apiVersion: 1\ncontactPoints:\n  - orgId: 1\n    name: tocsin\n    receivers:\n      - uid: tocsin-pagerduty\n        type: pagerduty\n        settings:\n          integrationKey: {key}\n          url: {base}/v2/enqueue"
                ),
            ),
        ],
        IntegrationType::Alertmanager => vec![
            ex(
                1,
                "Alertmanager webhook_configs",
                format!(
                    "receivers:\n  - name: tocsin\n    webhook_configs:\n      - url: {base}/api/v1/integrations/alertmanager/{key}\n        send_resolved: true\n        max_alerts: 1000"
                ),
            ),
            ex(
                2,
                "Grafana webhook contact point (provisioning)",
                format!(
                    "apiVersion: 1\ncontactPoints:\n  - orgId: 1\n    name: tocsin\n    receivers:\n      - uid: tocsin-webhook\n        type: webhook\n        settings:\n          url: {base}/api/v1/integrations/alertmanager/{key}\n          httpMethod: POST\n          maxAlerts: 1000"
                ),
            ),
        ],
        IntegrationType::Generic => vec![ex(
            1,
            "curl",
            format!(
                "curl -sS {base}/api/v1/integrations/generic/{key} -H 'Content-Type: application/json' \\\n  -d '{{\"summary\": \"Nightly backup failed\", \"severity\": \"error\", \"dedup_key\": \"backup-nightly\"}}'"
            ),
        )],
        // A built-in monitor's own integration: nothing to paste anywhere.
        IntegrationType::Monitor => Vec::new(),
    }
}

fn endpoint(base: &str, kind: IntegrationType, key: &str) -> String {
    match kind {
        IntegrationType::EventsV2 => format!("{base}/v2/enqueue"),
        IntegrationType::Alertmanager => format!("{base}/api/v1/integrations/alertmanager/{key}"),
        IntegrationType::Generic => format!("{base}/api/v1/integrations/generic/{key}"),
        IntegrationType::Monitor => format!("{base}/api/v1/monitors"),
    }
}

pub async fn page(
    State(s): State<Arc<AppState>>,
    me: Signed,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let now = s.clock.now();
    let id = ServiceId(id);
    let svc = s.store.get_service(&id).await?;
    let policy = match &svc.escalation_policy_id {
        Some(p) => s.store.get_escalation_policy(p).await?.name,
        None => "none: its incidents page nobody".into(),
    };
    let can_see_keys = me.can(Role::Admin);
    let base = &s.config.public_url;
    let integrations = s
        .store
        .list_integrations(&id)
        .await?
        .into_iter()
        .map(|i| {
            let shown = can_see_keys.then(|| i.key.clone());
            IntegrationView {
                examples: shown
                    .as_ref()
                    .map(|k| examples(base, i.kind, k, &i.id.0))
                    .unwrap_or_default(),
                url: shown.as_ref().map(|k| endpoint(base, i.kind, k)),
                key: shown,
                id: i.id.0,
                name: i.name,
                kind: i.kind.as_str(),
            }
        })
        .collect();
    let incidents = s
        .store
        .list_incidents(IncidentFilter {
            service_id: Some(id.clone()),
            limit: SERVICE_INCIDENTS_MAX,
            ..Default::default()
        })
        .await?
        .into_iter()
        .map(|i| RecentIncident {
            id: i.id.0,
            number: i.number,
            title: i.title,
            status: i.status.as_str(),
            age: if i.status == IncidentStatus::Resolved {
                i.resolved_at
                    .map(|r| format!("resolved {}", ago(r, now)))
                    .unwrap_or_default()
            } else {
                format!("open {}", age(i.created_at, now))
            },
        })
        .collect();
    html(&ServicePage {
        chrome: Chrome::new(svc.name.clone(), "services", Some(&me)),
        name: svc.name,
        description: svc.description,
        policy,
        ack_timeout: svc
            .ack_timeout_minutes
            .map_or_else(|| "none".into(), |m| format!("{m} min")),
        can_see_keys,
        integrations,
        incidents,
    })
}
