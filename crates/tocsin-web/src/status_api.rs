//! The status page over the REST API: its settings, components, public incidents and their
//! updates, maintenance windows and subscribers. Admins write, viewers read. Public updates and
//! new maintenance windows are announced to subscribers (`status::notify_subscribers`).

use crate::AppState;
use crate::api::ApiResult;
use crate::auth::{Admin, Auth, Require};
use crate::body::JsonBody;
use crate::error::{ApiError, ErrorBody};
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use tocsin_core::status::PublicStage;
use tocsin_core::{Role, ServiceId};
use tocsin_store::*;
use utoipa::ToSchema;

/// Limits on what an operator writes (the page is public: keep it readable).
const NAME_CHARS_MAX: usize = 200;
const MESSAGE_CHARS_MAX: usize = 5_000;
const WINDOW_SERVICES_MAX: usize = 100;
const WINDOW_LENGTH_MAX: SignedDuration = SignedDuration::from_hours(24 * 31);
const COMPONENTS_MAX: usize = 200;

pub fn api_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/status-page/settings", get(get_settings).put(put_settings))
        .route(
            "/status-page/components",
            get(list_components).post(create_component),
        )
        .route("/status-page/components/{id}", delete(delete_component))
        .route(
            "/status-page/incidents",
            get(list_incidents).post(create_incident),
        )
        .route("/status-page/incidents/{id}", get(get_incident))
        .route("/status-page/incidents/{id}/updates", post(add_update))
        .route(
            "/maintenance-windows",
            get(list_windows).post(create_window),
        )
        .route("/maintenance-windows/{id}", delete(delete_window))
        .route(
            "/status-page/subscribers",
            get(list_subscribers).post(create_subscriber),
        )
        .route("/status-page/subscribers/{id}", delete(delete_subscriber))
}

fn text(field: &str, raw: &str, max: usize, required: bool) -> ApiResult<String> {
    let t = raw.trim().to_owned();
    if (required && t.is_empty()) || t.chars().count() > max {
        let lo = usize::from(required);
        return Err(ApiError::field(
            field,
            format!("must be {lo} to {max} characters"),
        ));
    }
    Ok(t)
}

fn time(field: &str, raw: &str) -> ApiResult<Timestamp> {
    raw.parse().map_err(|_| {
        ApiError::field(
            field,
            "must be an RFC 3339 time such as 2026-11-25T10:00:00Z",
        )
    })
}

#[utoipa::path(get, path = "/api/v1/status-page/settings", tag = "status page", security(("bearer" = [])),
    responses((status = 200, body = StatusSettings)))]
pub async fn get_settings(
    State(s): State<Arc<AppState>>,
    auth: Auth,
) -> ApiResult<Json<StatusSettings>> {
    auth.require(Role::Viewer)?;
    Ok(Json(s.store.status_settings().await?))
}

#[utoipa::path(put, path = "/api/v1/status-page/settings", tag = "status page", security(("bearer" = [])),
    request_body = StatusSettings, responses((status = 200, body = StatusSettings), (status = 400, body = ErrorBody)))]
pub async fn put_settings(
    State(s): State<Arc<AppState>>,
    _: Require<Admin>,
    JsonBody(b): JsonBody<StatusSettings>,
) -> ApiResult<Json<StatusSettings>> {
    let title = text("title", &b.title, NAME_CHARS_MAX, true)?;
    let logo_url = match b
        .logo_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        Some(u)
            if (u.starts_with("https://") || u.starts_with('/'))
                && u.len() <= 2048
                && !u.contains(char::is_whitespace) =>
        {
            Some(u.to_owned())
        }
        Some(_) => {
            return Err(ApiError::field(
                "logo_url",
                "must be an https:// URL or a path on this site",
            ));
        }
        None => None,
    };
    Ok(Json(
        s.store
            .set_status_settings(StatusSettings { title, logo_url })
            .await?,
    ))
}

/// A component: a public name for a service or a monitor (exactly one of the two).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateComponent {
    name: String,
    group: Option<String>,
    service_id: Option<String>,
    monitor_id: Option<String>,
    /// Display order (default 0; then by name).
    position: Option<i64>,
}

#[utoipa::path(post, path = "/api/v1/status-page/components", tag = "status page", security(("bearer" = [])),
    request_body = CreateComponent, responses((status = 201, body = StatusComponent), (status = 400, body = ErrorBody)))]
pub async fn create_component(
    State(s): State<Arc<AppState>>,
    _: Require<Admin>,
    JsonBody(b): JsonBody<CreateComponent>,
) -> ApiResult<(StatusCode, Json<StatusComponent>)> {
    let reflects = match (b.service_id, b.monitor_id) {
        (Some(sv), None) => Reflects::Service(ServiceId(sv)),
        (None, Some(m)) => Reflects::Monitor(m),
        _ => {
            return Err(ApiError::field(
                "service_id",
                "give exactly one of service_id and monitor_id",
            ));
        }
    };
    if s.store.status_components(s.clock.now()).await?.len() >= COMPONENTS_MAX {
        return Err(ApiError::field(
            "name",
            format!("a page has at most {COMPONENTS_MAX} components"),
        ));
    }
    let c = NewStatusComponent {
        name: text("name", &b.name, NAME_CHARS_MAX, true)?,
        group: text(
            "group",
            b.group.as_deref().unwrap_or(""),
            NAME_CHARS_MAX,
            false,
        )?,
        reflects,
        position: b.position.unwrap_or(0),
    };
    let c = s.store.create_status_component(c, s.clock.now()).await?;
    s.status.forget_uptime();
    Ok((StatusCode::CREATED, Json(c)))
}

#[utoipa::path(get, path = "/api/v1/status-page/components", tag = "status page", security(("bearer" = [])),
    responses((status = 200, description = "{components: [StatusComponent with status]}")))]
pub async fn list_components(State(s): State<Arc<AppState>>, auth: Auth) -> ApiResult<Json<Value>> {
    auth.require(Role::Viewer)?;
    let views = s.store.status_components(s.clock.now()).await?;
    let list: Vec<Value> = views
        .into_iter()
        .map(|v| {
            let status = tocsin_core::status::component_status(v.facts);
            let mut c = serde_json::to_value(v.component).unwrap_or_default();
            c["status"] = json!(status);
            c
        })
        .collect();
    Ok(Json(json!({ "components": list })))
}

#[utoipa::path(delete, path = "/api/v1/status-page/components/{id}", tag = "status page", security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete_component(
    State(s): State<Arc<AppState>>,
    _: Require<Admin>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.store.delete_status_component(&id).await?;
    s.status.forget_uptime();
    Ok(StatusCode::NO_CONTENT)
}

/// A public incident and its first update.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStatusIncident {
    title: String,
    /// investigating (default), identified, monitoring or resolved.
    stage: Option<String>,
    message: String,
    /// The Tocsin incident it is about (kept private).
    incident_id: Option<String>,
}

/// An update of a public incident.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStatusUpdate {
    stage: String,
    message: String,
}

fn stage(raw: &str) -> ApiResult<PublicStage> {
    PublicStage::parse(raw)
        .ok_or_else(|| ApiError::field("stage", format!("must be {}", PublicStage::WORDS)))
}

fn announce_update(s: &Arc<AppState>, i: &StatusIncident) {
    if let Some(u) = i.updates.first() {
        crate::status::notify_subscribers(
            s.clone(),
            format!("status:update:{}", u.id),
            format!("{} ({})", i.title, u.stage.label()),
            format!(
                "{}: {}\n\n{}/status",
                u.stage.label(),
                u.message,
                s.config.public_url
            ),
        );
    }
}

#[utoipa::path(post, path = "/api/v1/status-page/incidents", tag = "status page", security(("bearer" = [])),
    request_body = CreateStatusIncident, responses((status = 201, body = StatusIncident), (status = 400, body = ErrorBody)))]
pub async fn create_incident(
    State(s): State<Arc<AppState>>,
    _: Require<Admin>,
    JsonBody(b): JsonBody<CreateStatusIncident>,
) -> ApiResult<(StatusCode, Json<StatusIncident>)> {
    let n = NewStatusIncident {
        title: text("title", &b.title, NAME_CHARS_MAX, true)?,
        stage: stage(b.stage.as_deref().unwrap_or("investigating"))?,
        message: text("message", &b.message, MESSAGE_CHARS_MAX, true)?,
        incident_id: b.incident_id,
    };
    let i = s.store.create_status_incident(n, s.clock.now()).await?;
    announce_update(&s, &i);
    Ok((StatusCode::CREATED, Json(i)))
}

#[utoipa::path(post, path = "/api/v1/status-page/incidents/{id}/updates", tag = "status page", security(("bearer" = [])),
    request_body = CreateStatusUpdate, responses((status = 201, body = StatusIncident), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn add_update(
    State(s): State<Arc<AppState>>,
    _: Require<Admin>,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<CreateStatusUpdate>,
) -> ApiResult<(StatusCode, Json<StatusIncident>)> {
    let st = stage(&b.stage)?;
    let message = text("message", &b.message, MESSAGE_CHARS_MAX, true)?;
    let i = s
        .store
        .add_status_update(&id, st, &message, s.clock.now())
        .await?;
    announce_update(&s, &i);
    Ok((StatusCode::CREATED, Json(i)))
}

#[utoipa::path(get, path = "/api/v1/status-page/incidents", tag = "status page", security(("bearer" = [])),
    responses((status = 200, description = "{incidents: [StatusIncident]} unresolved first")))]
pub async fn list_incidents(State(s): State<Arc<AppState>>, auth: Auth) -> ApiResult<Json<Value>> {
    auth.require(Role::Viewer)?;
    Ok(Json(
        json!({ "incidents": s.store.list_status_incidents(100).await? }),
    ))
}

#[utoipa::path(get, path = "/api/v1/status-page/incidents/{id}", tag = "status page", security(("bearer" = [])),
    responses((status = 200, body = StatusIncident), (status = 404, body = ErrorBody)))]
pub async fn get_incident(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<StatusIncident>> {
    auth.require(Role::Viewer)?;
    Ok(Json(s.store.get_status_incident(&id).await?))
}

/// A maintenance window: shown on the status page, announced to subscribers, and while active
/// new incidents on its services do not page until it ends.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWindow {
    title: String,
    description: Option<String>,
    /// RFC 3339.
    starts_at: String,
    ends_at: String,
    service_ids: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/maintenance-windows", tag = "status page", security(("bearer" = [])),
    request_body = CreateWindow, responses((status = 201, body = Maintenance), (status = 400, body = ErrorBody)))]
pub async fn create_window(
    State(s): State<Arc<AppState>>,
    _: Require<Admin>,
    JsonBody(b): JsonBody<CreateWindow>,
) -> ApiResult<(StatusCode, Json<Maintenance>)> {
    let now = s.clock.now();
    let starts_at = time("starts_at", &b.starts_at)?;
    let ends_at = time("ends_at", &b.ends_at)?;
    if ends_at <= starts_at || ends_at <= now {
        return Err(ApiError::field(
            "ends_at",
            "must be after starts_at and in the future",
        ));
    }
    if ends_at.duration_since(starts_at) > WINDOW_LENGTH_MAX {
        return Err(ApiError::field("ends_at", "a window lasts at most 31 days"));
    }
    if b.service_ids.is_empty() || b.service_ids.len() > WINDOW_SERVICES_MAX {
        return Err(ApiError::field(
            "service_ids",
            format!("must name 1 to {WINDOW_SERVICES_MAX} services"),
        ));
    }
    let w = NewMaintenance {
        title: text("title", &b.title, NAME_CHARS_MAX, true)?,
        description: text(
            "description",
            b.description.as_deref().unwrap_or(""),
            MESSAGE_CHARS_MAX,
            false,
        )?,
        starts_at,
        ends_at,
        services: b.service_ids.into_iter().map(ServiceId).collect(),
    };
    let w = s.store.create_maintenance(w, now).await?;
    let mut text = format!(
        "Scheduled maintenance: {}\nFrom {} to {} (UTC).",
        w.title,
        w.starts_at.strftime("%Y-%m-%d %H:%M"),
        w.ends_at.strftime("%Y-%m-%d %H:%M")
    );
    if !w.description.is_empty() {
        text.push_str(&format!("\n\n{}", w.description));
    }
    crate::status::notify_subscribers(
        s.clone(),
        format!("status:maintenance:{}", w.id),
        format!("Scheduled maintenance: {}", w.title),
        text,
    );
    Ok((StatusCode::CREATED, Json(w)))
}

#[utoipa::path(get, path = "/api/v1/maintenance-windows", tag = "status page", security(("bearer" = [])),
    responses((status = 200, description = "{maintenance_windows: [Maintenance]} not yet ended, soonest first")))]
pub async fn list_windows(State(s): State<Arc<AppState>>, auth: Auth) -> ApiResult<Json<Value>> {
    auth.require(Role::Viewer)?;
    Ok(Json(
        json!({ "maintenance_windows": s.store.list_maintenance(s.clock.now()).await? }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/maintenance-windows/{id}", tag = "status page", security(("bearer" = [])),
    responses((status = 204, description = "Deleted; what it held pages now"), (status = 404, body = ErrorBody)))]
pub async fn delete_window(
    State(s): State<Arc<AppState>>,
    _: Require<Admin>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.store.delete_maintenance(&id, s.clock.now()).await?;
    // Steps it held may be due now: wake the escalator.
    let _ = s.live.send(tocsin_engine::LiveEvent::MonitorsChecked);
    Ok(StatusCode::NO_CONTENT)
}

/// A subscriber: an email (sent a confirmation link first) or a webhook URL (JSON POSTs, signed
/// like Tocsin's other webhooks).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSubscriber {
    /// email or webhook.
    #[serde(rename = "type")]
    kind: String,
    address: String,
}

#[utoipa::path(post, path = "/api/v1/status-page/subscribers", tag = "status page", security(("bearer" = [])),
    request_body = CreateSubscriber, responses((status = 201, body = Subscriber), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_subscriber(
    State(s): State<Arc<AppState>>,
    _: Require<Admin>,
    JsonBody(b): JsonBody<CreateSubscriber>,
) -> ApiResult<(StatusCode, Json<Subscriber>)> {
    let kind = match b.kind.as_str() {
        "email" => tocsin_core::contact::ContactType::Email,
        "webhook" => tocsin_core::contact::ContactType::Webhook,
        _ => return Err(ApiError::field("type", "must be email or webhook")),
    };
    let address = kind
        .parse_address(&b.address)
        .map_err(|why| ApiError::field("address", why))?;
    let sub = crate::status::start_subscription(&s, &b.kind, &address)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::CONFLICT, "conflict", "already subscribed"))?;
    Ok((StatusCode::CREATED, Json(sub)))
}

#[utoipa::path(get, path = "/api/v1/status-page/subscribers", tag = "status page", security(("bearer" = [])),
    responses((status = 200, description = "{subscribers: [Subscriber]}")))]
pub async fn list_subscribers(
    State(s): State<Arc<AppState>>,
    _: Require<Admin>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "subscribers": s.store.list_subscribers(false).await? }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/status-page/subscribers/{id}", tag = "status page", security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete_subscriber(
    State(s): State<Arc<AppState>>,
    _: Require<Admin>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.store.delete_subscriber(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
