//! The services pages: the list, a form to create a service (admins), and one service with its
//! escalation policy, the page path a new incident would take, recent incidents and
//! integrations, each with its key (admins only, as in the REST API), a copy button and
//! ready-to-paste examples for the senders that use that integration type. Admins add and
//! delete integrations there. Creation goes through the REST API's own functions
//! (`api::add_service`, `api::add_integration`), so the rules and messages are the API's.

use super::format::{age, ago, zone};
use super::forms::{Errors, Posted};
use super::incidents::{PathView, path_view};
use super::{Chrome, Signed, UiError, html};
use crate::AppState;
use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::sync::Arc;
use tocsin_core::{IncidentStatus, IntegrationType, Role, ServiceId, Urgency};
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
    can_admin: bool,
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
        can_admin: me.can(Role::Admin),
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
    id: String,
    notice: Option<&'static str>,
    csrf: String,
    path: PathView,
    /// The add-integration form: its values and errors.
    new_kind: String,
    new_name: String,
    errors: Errors,
    kinds: Vec<(&'static str, &'static str)>,
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

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

/// The integration types a person may add (monitors make their own).
const KINDS: [(&str, &str); 3] = [
    ("events_v2", "Events API v2 (PagerDuty-compatible)"),
    ("alertmanager", "Prometheus Alertmanager webhook"),
    ("generic", "Generic JSON webhook"),
];

pub async fn page(
    State(s): State<Arc<AppState>>,
    me: Signed,
    Path(id): Path<String>,
    q: Result<Query<DoneQuery>, QueryRejection>,
) -> Result<Response, UiError> {
    let notice = match q.ok().and_then(|Query(q)| q.done).as_deref() {
        Some("created") => Some("Service created. Add an integration to send it events."),
        Some("saved") => Some("Service saved."),
        Some("integration") => Some("Integration added: its key and examples are below."),
        Some("deleted") => Some("Integration deleted: its key no longer works."),
        _ => None,
    };
    service_page(&s, &me, &ServiceId(id), notice, "", "", Errors::none()).await
}

async fn service_page(
    s: &AppState,
    me: &Signed,
    id: &ServiceId,
    notice: Option<&'static str>,
    new_kind: &str,
    new_name: &str,
    errors: Errors,
) -> Result<Response, UiError> {
    let now = s.clock.now();
    let svc = s.store.get_service(id).await?;
    let policy = match &svc.escalation_policy_id {
        Some(p) => s.store.get_escalation_policy(p).await?.name,
        None => "none: its incidents page nobody".into(),
    };
    let can_see_keys = me.can(Role::Admin);
    let base = &s.config.public_url;
    let integrations = s
        .store
        .list_integrations(id)
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
    let preview = tocsin_engine::preview::page_path(&*s.store, id, now, Urgency::High).await?;
    let page = ServicePage {
        chrome: Chrome::new(svc.name.clone(), "services", Some(me)),
        id: svc.id.0.clone(),
        notice,
        csrf: me.csrf.clone(),
        path: path_view(preview, &zone(&me.user.time_zone), now),
        new_kind: new_kind.to_owned(),
        new_name: new_name.to_owned(),
        kinds: KINDS.to_vec(),
        name: svc.name,
        description: svc.description,
        policy,
        ack_timeout: svc
            .ack_timeout_minutes
            .map_or_else(|| "none".into(), |m| format!("{m} min")),
        can_see_keys,
        integrations,
        incidents,
        errors,
    };
    page.errors.page(&page)
}

// ---- creating a service ----

/// The new-service form's values, as typed.
#[derive(Default)]
struct ServiceValues {
    name: String,
    description: String,
    policy: String,
    team: String,
    ack_timeout: String,
}

#[derive(Template)]
#[template(path = "service_new.html")]
struct ServiceForm {
    chrome: Chrome,
    csrf: String,
    /// The service being edited, or `None` for a new one.
    editing: Option<String>,
    v: ServiceValues,
    policies: Vec<(String, String)>,
    teams: Vec<(String, String)>,
    errors: Errors,
}

async fn service_form(
    s: &AppState,
    me: &Signed,
    editing: Option<String>,
    v: ServiceValues,
    errors: Errors,
) -> Result<Response, UiError> {
    let policies = s
        .store
        .list_escalation_policies()
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    let teams = s
        .store
        .list_teams()
        .await?
        .into_iter()
        .map(|t| (t.id.0, t.name))
        .collect();
    let page = ServiceForm {
        chrome: Chrome::new(
            if editing.is_some() {
                "Edit service"
            } else {
                "New service"
            },
            "services",
            Some(me),
        ),
        csrf: me.csrf.clone(),
        editing,
        v,
        policies,
        teams,
        errors,
    };
    page.errors.page(&page)
}

pub async fn new_form(State(s): State<Arc<AppState>>, me: Signed) -> Result<Response, UiError> {
    me.require(Role::Admin)?;
    service_form(&s, &me, None, ServiceValues::default(), Errors::none()).await
}

/// The fields the new-service form shows, by the API's names.
const SERVICE_FIELDS: [&str; 5] = [
    "name",
    "description",
    "escalation_policy_id",
    "team_id",
    "ack_timeout_minutes",
];

pub async fn create(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    save(&s, me, &headers, None, form).await
}

pub async fn edit_form(
    State(s): State<Arc<AppState>>,
    me: Signed,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    me.require(Role::Admin)?;
    let svc = s.store.get_service(&ServiceId(id.clone())).await?;
    let v = ServiceValues {
        name: svc.name,
        description: svc.description,
        policy: svc.escalation_policy_id.unwrap_or_default(),
        team: svc.team_id.map(|t| t.0).unwrap_or_default(),
        ack_timeout: svc
            .ack_timeout_minutes
            .map(|m| m.to_string())
            .unwrap_or_default(),
    };
    service_form(&s, &me, Some(id), v, Errors::none()).await
}

pub async fn update(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    save(&s, me, &headers, Some(id), form).await
}

/// Creates a service (`editing` is `None`) or replaces one's settings.
async fn save(
    s: &AppState,
    me: Signed,
    headers: &HeaderMap,
    editing: Option<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let f = Posted::checked(&me, headers, form)?;
    me.require(Role::Admin)?;
    let v = ServiceValues {
        name: f.get("name").to_owned(),
        description: f.get("description").to_owned(),
        policy: f.get("escalation_policy_id").to_owned(),
        team: f.get("team_id").to_owned(),
        ack_timeout: f.get("ack_timeout_minutes").to_owned(),
    };
    let ack_timeout = match f.opt("ack_timeout_minutes") {
        None => None,
        Some(m) => match m.parse::<u32>() {
            Ok(m) => Some(m),
            Err(_) => {
                let e = Errors::field("ack_timeout_minutes", "must be a whole number of minutes");
                return service_form(s, &me, editing, v, e).await;
            }
        },
    };
    let body = serde_json::json!({
        "name": f.get("name"),
        "description": f.get("description"),
        "escalation_policy_id": f.opt("escalation_policy_id"),
        "team_id": f.opt("team_id"),
        "ack_timeout_minutes": ack_timeout,
    });
    let b = serde_json::from_value(body).map_err(|e| {
        tracing::error!(error = %e, "the service form no longer fits the API's body");
        UiError::Internal
    })?;
    let saved = match &editing {
        None => crate::api::add_service(s, b).await,
        Some(id) => crate::api::edit_service(s, &ServiceId(id.clone()), b).await,
    };
    match saved {
        Ok(svc) => {
            let done = if editing.is_some() {
                "saved"
            } else {
                "created"
            };
            tracing::info!(service = %svc.id, user = %me.user.id, "service {done} in the web UI");
            Ok(Redirect::to(&format!("/services/{}?done={done}", svc.id)).into_response())
        }
        Err(e) => {
            let errors = Errors::from_api(e)?.keep_only(&SERVICE_FIELDS);
            service_form(s, &me, editing, v, errors).await
        }
    }
}

// ---- integrations ----

pub async fn add_integration(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let f = Posted::checked(&me, &headers, form)?;
    me.require(Role::Admin)?;
    let id = ServiceId(id);
    s.store.get_service(&id).await?;
    let body = serde_json::json!({"type": f.get("type"), "name": f.opt("name")});
    let b = serde_json::from_value(body).map_err(|e| {
        tracing::error!(error = %e, "the integration form no longer fits the API's body");
        UiError::Internal
    })?;
    match crate::api::add_integration(&s, id.clone(), b).await {
        Ok(i) => {
            tracing::info!(integration = %i.id.0, user = %me.user.id, "integration added in the web UI");
            Ok(
                Redirect::to(&format!("/services/{id}?done=integration#int-{}", i.id.0))
                    .into_response(),
            )
        }
        Err(e) => {
            let errors = Errors::from_api(e)?.keep_only(&["type", "name"]);
            service_page(&s, &me, &id, None, f.get("type"), f.get("name"), errors).await
        }
    }
}

pub async fn delete_integration(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path((id, integration)): Path<(String, String)>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    Posted::checked(&me, &headers, form)?;
    me.require(Role::Admin)?;
    let id = ServiceId(id);
    let found = s
        .store
        .list_integrations(&id)
        .await?
        .into_iter()
        .find(|i| i.id.0 == integration)
        .ok_or(UiError::NotFound("integration"))?;
    s.store.delete_integration(&found.id).await?;
    s.integrations.forget(&found.key);
    tracing::info!(integration = %found.id.0, user = %me.user.id, "integration deleted in the web UI");
    Ok(Redirect::to(&format!("/services/{id}?done=deleted")).into_response())
}
