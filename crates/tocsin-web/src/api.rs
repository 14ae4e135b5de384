//! The REST API under `/api/v1`: services, integrations, incidents, users, teams and API tokens.
//! Every route authenticates a bearer token and checks its role before doing anything.

use crate::AppState;
use crate::auth::{
    Admin, Auth, Require, Responder, check_password, hash_password, hash_secret,
    new_integration_key, new_token,
};
use crate::body::JsonBody;
use crate::error::{ApiError, ErrorBody};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tocsin_core::limits::*;
use tocsin_core::rate::RateLimit;
use tocsin_core::*;
use tocsin_store::*;
use utoipa::{IntoParams, ToSchema};

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/openapi.json", get(crate::openapi::document))
        .merge(crate::monitors::api_routes())
        .merge(crate::status_api::api_routes())
        .route("/services", get(list_services).post(create_service))
        .route("/services/{id}", get(get_service).put(update_service))
        .route(
            "/services/{id}/integrations",
            get(list_integrations).post(create_integration),
        )
        .route(
            "/services/{id}/integrations/{integration_id}",
            delete(delete_integration),
        )
        .route("/services/{id}/changes", get(list_changes))
        .route("/incidents", get(list_incidents))
        .route("/incidents/{id}", get(get_incident))
        .route("/incidents/{id}/acknowledge", post(acknowledge))
        .route("/incidents/{id}/resolve", post(resolve))
        .route("/incidents/{id}/escalate", post(escalate))
        .route("/incidents/{id}/reassign", post(reassign))
        .route("/incidents/{id}/notes", post(add_note))
        .route("/incidents/{id}/snooze", post(snooze))
        .route("/incidents/{id}/timeline", get(timeline))
        .route("/incidents/{id}/alerts", get(alerts))
        .route("/users", get(list_users).post(create_user))
        .route("/users/{id}", get(get_user))
        .route("/teams", get(list_teams).post(create_team))
        .route("/teams/{id}", get(get_team))
        .route("/teams/{id}/members", post(add_member))
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{id}", delete(revoke_token))
        .merge(crate::paging::routes())
        .merge(crate::people_api::routes())
        .merge(crate::schedules::routes())
        .merge(crate::feeds::api_routes())
        .fallback(|| async { ApiError::not_found("API route") })
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Trims and bounds a required name.
fn name(field: &str, raw: &str) -> ApiResult<String> {
    let v = raw.trim();
    if v.is_empty() {
        return Err(ApiError::field(field, "must not be empty"));
    }
    if v.chars().count() > NAME_CHARS_MAX {
        return Err(ApiError::field(
            field,
            format!("must be at most {NAME_CHARS_MAX} characters"),
        ));
    }
    Ok(v.to_owned())
}

fn description(raw: Option<String>) -> ApiResult<String> {
    let v = raw.unwrap_or_default();
    if v.chars().count() > DESCRIPTION_CHARS_MAX {
        return Err(ApiError::field(
            "description",
            format!("must be at most {DESCRIPTION_CHARS_MAX} characters"),
        ));
    }
    Ok(v)
}

/// Validates an IANA time zone name against the system's tz database.
pub fn time_zone(raw: &str) -> Result<String, String> {
    let v = raw.trim();
    jiff::tz::TimeZone::get(v)
        .map(|_| v.to_owned())
        .map_err(|_| format!("must be an IANA time zone name such as Europe/Paris (got {v:?})"))
}

/// A plausible email address (the rules live in the core, with the other contact checks).
pub fn email(raw: &str) -> Result<String, String> {
    tocsin_core::contact::email(raw.trim())
}

// ---- services and integrations ----

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateService {
    name: String,
    description: Option<String>,
    team_id: Option<String>,
    escalation_policy_id: Option<String>,
    /// Minutes after which an acknowledged but unresolved incident is triggered again (1–1440).
    ack_timeout_minutes: Option<u32>,
}

/// The longest acknowledgement timeout: a day.
pub const ACK_TIMEOUT_MINUTES_MAX: u32 = 1440;

#[utoipa::path(get, path = "/api/v1/services", tag = "services", security(("bearer" = [])),
    responses((status = 200, body = [Service]), (status = 401, body = ErrorBody)))]
pub async fn list_services(
    State(s): State<Arc<AppState>>,
    auth: Auth,
) -> ApiResult<Json<serde_json::Value>> {
    auth.require(Role::Viewer)?;
    Ok(Json(
        serde_json::json!({ "services": s.store.list_services().await? }),
    ))
}

#[utoipa::path(post, path = "/api/v1/services", tag = "services", security(("bearer" = [])), request_body = CreateService,
    responses((status = 201, body = Service), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_service(
    State(s): State<Arc<AppState>>,
    _: Require<Admin>,
    JsonBody(b): JsonBody<CreateService>,
) -> ApiResult<(StatusCode, Json<Service>)> {
    Ok((StatusCode::CREATED, Json(add_service(&s, b).await?)))
}

/// Creates a service with the API's rules; the web UI's form calls it too.
pub async fn add_service(s: &AppState, b: CreateService) -> ApiResult<Service> {
    s.store
        .create_service(service_fields(b)?, s.clock.now())
        .await
        .map_err(service_error)
}

#[utoipa::path(put, path = "/api/v1/services/{id}", tag = "services", security(("bearer" = [])), request_body = CreateService,
    responses((status = 200, body = Service), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// Replaces a service's name, description, team, escalation policy and acknowledgement timeout
/// (the body of creation; absent optional fields are cleared). Integrations and incidents stay.
pub async fn update_service(
    State(s): State<Arc<AppState>>,
    _: Require<Admin>,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<CreateService>,
) -> ApiResult<Json<Service>> {
    Ok(Json(edit_service(&s, &ServiceId(id), b).await?))
}

/// Replaces a service's settings with the same rules as creation (the web UI's edit form).
pub async fn edit_service(s: &AppState, id: &ServiceId, b: CreateService) -> ApiResult<Service> {
    s.store
        .update_service(id, service_fields(b)?)
        .await
        .map_err(service_error)
}

fn service_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound("team") => ApiError::field("team_id", "no such team"),
        other => other.into(),
    }
}

/// A service's fields, checked.
fn service_fields(b: CreateService) -> ApiResult<NewService> {
    let policy_id = b.escalation_policy_id.filter(|t| !t.is_empty());
    Ok(NewService {
        name: name("name", &b.name)?,
        description: description(b.description)?,
        team_id: b.team_id.filter(|t| !t.is_empty()).map(TeamId),
        ack_timeout_minutes: match b.ack_timeout_minutes {
            // Without a policy there is nobody to page again: refuse rather than ignore.
            Some(_) if policy_id.is_none() => {
                return Err(ApiError::field(
                    "ack_timeout_minutes",
                    "needs an escalation_policy_id: without one nobody is paged again",
                ));
            }
            Some(m) if !(1..=ACK_TIMEOUT_MINUTES_MAX).contains(&m) => {
                return Err(ApiError::field(
                    "ack_timeout_minutes",
                    format!("must be from 1 to {ACK_TIMEOUT_MINUTES_MAX}"),
                ));
            }
            m => m,
        },
        escalation_policy_id: policy_id,
    })
}

#[utoipa::path(get, path = "/api/v1/services/{id}", tag = "services", security(("bearer" = [])),
    responses((status = 200, body = Service), (status = 404, body = ErrorBody)))]
pub async fn get_service(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Service>> {
    auth.require(Role::Viewer)?;
    Ok(Json(s.store.get_service(&ServiceId(id)).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIntegration {
    /// `events_v2`, `alertmanager` or `generic`.
    #[serde(rename = "type")]
    kind: String,
    name: Option<String>,
    /// Sustained events per second for this key; 0 means unlimited. Default 2,000.
    rate_limit_per_second: Option<u32>,
    /// Burst size; default 10 × the rate.
    rate_limit_burst: Option<u32>,
}

/// An integration as the API shows it. The key is a credential: only admins see it.
#[derive(Serialize, ToSchema)]
pub struct IntegrationView {
    id: String,
    service_id: String,
    #[serde(rename = "type")]
    kind: IntegrationType,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    /// Where senders post events.
    url: String,
    rate_limit_per_second: u32,
    rate_limit_burst: u32,
    #[schema(value_type = String, format = DateTime)]
    created_at: jiff::Timestamp,
}

fn integration_view(s: &AppState, i: Integration, show_key: bool) -> IntegrationView {
    let base = &s.config.public_url;
    let url = match i.kind {
        IntegrationType::EventsV2 => format!("{base}/v2/enqueue"),
        IntegrationType::Alertmanager if show_key => {
            format!("{base}/api/v1/integrations/alertmanager/{}", i.key)
        }
        IntegrationType::Generic if show_key => {
            format!("{base}/api/v1/integrations/generic/{}", i.key)
        }
        IntegrationType::Alertmanager => format!("{base}/api/v1/integrations/alertmanager/{{key}}"),
        IntegrationType::Generic => format!("{base}/api/v1/integrations/generic/{{key}}"),
        IntegrationType::Monitor => format!("{base}/api/v1/monitors"),
    };
    let limit = i.rate_limit.unwrap_or(s.config.default_rate_limit);
    IntegrationView {
        id: i.id.0,
        service_id: i.service_id.0,
        kind: i.kind,
        name: i.name,
        key: show_key.then_some(i.key),
        url,
        rate_limit_per_second: limit.per_second,
        rate_limit_burst: limit.burst,
        created_at: i.created_at,
    }
}

#[utoipa::path(get, path = "/api/v1/services/{id}/integrations", tag = "services", security(("bearer" = [])),
    responses((status = 200, body = [IntegrationView])))]
pub async fn list_integrations(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    auth.require(Role::Viewer)?;
    let id = ServiceId(id);
    s.store.get_service(&id).await?;
    let show = auth.role().allows(Role::Admin);
    let list: Vec<IntegrationView> = s
        .store
        .list_integrations(&id)
        .await?
        .into_iter()
        .map(|i| integration_view(&s, i, show))
        .collect();
    Ok(Json(serde_json::json!({ "integrations": list })))
}

#[utoipa::path(post, path = "/api/v1/services/{id}/integrations", tag = "services", security(("bearer" = [])),
    request_body = CreateIntegration,
    responses((status = 201, body = IntegrationView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create_integration(
    State(s): State<Arc<AppState>>,
    _: Require<Admin>,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<CreateIntegration>,
) -> ApiResult<(StatusCode, Json<IntegrationView>)> {
    let i = add_integration(&s, ServiceId(id), b).await?;
    Ok((StatusCode::CREATED, Json(integration_view(&s, i, true))))
}

/// Creates an integration (and its key) with the API's rules; the web UI's form calls it too.
pub async fn add_integration(
    s: &AppState,
    service: ServiceId,
    b: CreateIntegration,
) -> ApiResult<Integration> {
    let kind = IntegrationType::parse(b.kind.trim())
        .filter(|k| *k != IntegrationType::Monitor)
        .ok_or_else(|| {
            ApiError::field(
                "type",
                "must be one of events_v2, alertmanager, generic (monitors make their own)",
            )
        })?;
    let rate_limit = match (b.rate_limit_per_second, b.rate_limit_burst) {
        (None, None) => None,
        (per_second, burst) => {
            let per_second = per_second.unwrap_or(s.config.default_rate_limit.per_second);
            Some(RateLimit {
                per_second,
                burst: burst.unwrap_or(per_second.saturating_mul(10)),
            })
        }
    };
    let integ_name = match b.name {
        Some(n) => name("name", &n)?,
        None => match kind {
            IntegrationType::EventsV2 => "Events API v2".to_owned(),
            IntegrationType::Alertmanager => "Prometheus Alertmanager".to_owned(),
            IntegrationType::Generic => "Generic webhook".to_owned(),
            IntegrationType::Monitor => "Monitor".to_owned(),
        },
    };
    Ok(s.store
        .create_integration(
            NewIntegration {
                service_id: service,
                kind,
                name: integ_name,
                key: new_integration_key(),
                rate_limit,
            },
            s.clock.now(),
        )
        .await?)
}

#[utoipa::path(delete, path = "/api/v1/services/{id}/integrations/{integration_id}", tag = "services", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_integration(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path((id, integration_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    let list = s.store.list_integrations(&ServiceId(id)).await?;
    let integ = list
        .into_iter()
        .find(|i| i.id.0 == integration_id)
        .ok_or_else(|| ApiError::not_found("integration"))?;
    s.store.delete_integration(&integ.id).await?;
    s.integrations.forget(&integ.key);
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/services/{id}/changes", tag = "services", security(("bearer" = [])),
    responses((status = 200, body = [ChangeRecord])))]
pub async fn list_changes(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    auth.require(Role::Viewer)?;
    let id = ServiceId(id);
    s.store.get_service(&id).await?;
    let changes = s.store.list_change_events(&id, PAGE_LIMIT_MAX).await?;
    Ok(Json(serde_json::json!({ "changes": changes })))
}

// ---- incidents ----

#[derive(Deserialize, IntoParams)]
pub struct IncidentQuery {
    /// Comma-separated statuses: triggered, acknowledged, resolved. Default: all.
    status: Option<String>,
    service_id: Option<String>,
    /// Only incidents of this team's services.
    team_id: Option<String>,
    /// `high` or `low`. Default: both.
    urgency: Option<String>,
    /// RFC 3339 time: only incidents created at or after it.
    created_from: Option<String>,
    /// RFC 3339 time: only incidents created before it.
    created_to: Option<String>,
    /// Text search, at most 200 characters: a number (`42` or `#42`) finds that incident;
    /// otherwise every word must appear in the title (case-insensitively).
    q: Option<String>,
    /// 1–100, default 25.
    limit: Option<String>,
    /// `next_cursor` of the previous page (send the same filters with it).
    cursor: Option<String>,
}

/// An optional RFC 3339 query parameter.
fn query_time(field: &str, v: Option<&str>) -> Result<Option<jiff::Timestamp>, ApiError> {
    match v.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse::<jiff::Timestamp>().map(Some).map_err(|_| {
            ApiError::field(
                field,
                format!("must be an RFC 3339 time such as 2026-01-31T09:00:00Z (got {v:?})"),
            )
        }),
    }
}

#[derive(Serialize, ToSchema)]
pub struct IncidentPage {
    incidents: Vec<Incident>,
    next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", security(("bearer" = [])), params(IncidentQuery),
    responses((status = 200, body = IncidentPage), (status = 400, body = ErrorBody)))]
pub async fn list_incidents(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    q: Result<Query<IncidentQuery>, QueryRejection>,
) -> ApiResult<Json<IncidentPage>> {
    auth.require(Role::Viewer)?;
    let Query(q) = q.map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))?;
    let mut statuses = Vec::new();
    for part in q
        .status
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let st = IncidentStatus::parse(part).ok_or_else(|| {
            ApiError::field(
                "status",
                format!(
                    "must be a comma list of {} (got {part:?})",
                    IncidentStatus::words()
                ),
            )
        })?;
        if !statuses.contains(&st) {
            statuses.push(st);
        }
    }
    let limit = match q.limit.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
        None => PAGE_LIMIT_DEFAULT,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=PAGE_LIMIT_MAX).contains(n))
            .ok_or_else(|| {
                ApiError::field(
                    "limit",
                    format!("must be a number from 1 to {PAGE_LIMIT_MAX}"),
                )
            })?,
    };
    let before_number = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(
            c.strip_prefix('n')
                .and_then(|n| n.parse::<i64>().ok())
                .ok_or_else(|| ApiError::field("cursor", "is not a cursor this server returned"))?,
        ),
    };
    let urgency = match q
        .urgency
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        None => None,
        Some(u) => Some(Urgency::parse(u).ok_or_else(|| {
            ApiError::field("urgency", format!("must be high or low (got {u:?})"))
        })?),
    };
    let created_from = query_time("created_from", q.created_from.as_deref())?;
    let created_to = query_time("created_to", q.created_to.as_deref())?;
    if let (Some(from), Some(to)) = (created_from, created_to)
        && from >= to
    {
        return Err(ApiError::field("created_to", "must be after created_from"));
    }
    let search = q.q.filter(|q| !q.trim().is_empty());
    if search
        .as_ref()
        .is_some_and(|q| q.chars().count() > SEARCH_MAX_CHARS)
    {
        return Err(ApiError::field(
            "q",
            format!("must be at most {SEARCH_MAX_CHARS} characters"),
        ));
    }
    let mut incidents = s
        .store
        .list_incidents(IncidentFilter {
            statuses,
            service_id: q.service_id.filter(|s| !s.is_empty()).map(ServiceId),
            limit: limit + 1,
            before_number,
            urgency,
            team_id: q.team_id.filter(|t| !t.is_empty()).map(TeamId),
            created_from,
            created_to,
            search,
        })
        .await?;
    let next_cursor = if incidents.len() > limit as usize {
        incidents.truncate(limit as usize);
        incidents.last().map(|i| format!("n{}", i.number))
    } else {
        None
    };
    Ok(Json(IncidentPage {
        incidents,
        next_cursor,
    }))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents", security(("bearer" = [])),
    responses((status = 200, body = Incident), (status = 404, body = ErrorBody)))]
pub async fn get_incident(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Incident>> {
    auth.require(Role::Viewer)?;
    Ok(Json(s.store.get_incident(&IncidentId(id)).await?))
}

fn changed(s: &AppState, id: &IncidentId) {
    let _ = s
        .live
        .send(tocsin_engine::LiveEvent::IncidentChanged { id: id.clone() });
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/acknowledge", tag = "incidents", security(("bearer" = [])),
    responses((status = 200, body = Incident), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn acknowledge(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Incident>> {
    auth.require(Role::Responder)?;
    let id = IncidentId(id);
    let inc = s
        .store
        .acknowledge_incident(&id, &auth.actor(), Channel::Api, s.clock.now())
        .await?;
    changed(&s, &id);
    Ok(Json(inc))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/resolve", tag = "incidents", security(("bearer" = [])),
    responses((status = 200, body = Incident), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn resolve(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Incident>> {
    auth.require(Role::Responder)?;
    let id = IncidentId(id);
    let inc = s
        .store
        .resolve_incident(&id, &auth.actor(), Channel::Api, s.clock.now())
        .await?;
    changed(&s, &id);
    Ok(Json(inc))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalateTo {
    /// The level to notify (1-based); default: the next one.
    level: Option<u32>,
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/escalate", tag = "incidents", security(("bearer" = [])), request_body = EscalateTo,
    responses((status = 200, body = Incident), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn escalate(
    State(s): State<Arc<AppState>>,
    Require(auth, _): Require<Responder>,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<EscalateTo>,
) -> ApiResult<Json<Incident>> {
    let id = IncidentId(id);
    let inc = s
        .store
        .escalate_incident(&id, b.level, &auth.actor(), s.clock.now())
        .await?;
    changed(&s, &id);
    Ok(Json(inc))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignTo {
    /// The person who takes the incident.
    user_id: String,
}

/// Hands the incident to a person: they become its assignee and are paged at once (an
/// acknowledged incident is triggered again); without their acknowledgement, the escalation
/// goes on from the level it was at after that level's delay.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/reassign", tag = "incidents", security(("bearer" = [])), request_body = ReassignTo,
    responses((status = 200, body = Incident), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reassign(
    State(s): State<Arc<AppState>>,
    Require(auth, _): Require<Responder>,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<ReassignTo>,
) -> ApiResult<Json<Incident>> {
    let id = IncidentId(id);
    let inc = s
        .store
        .reassign_incident(&id, &UserId(b.user_id), &auth.actor(), s.clock.now())
        .await?;
    changed(&s, &id);
    Ok(Json(inc))
}

/// The shortest snooze, in minutes.
pub const SNOOZE_MINUTES_MIN: u32 = 1;
/// The longest snooze: a day.
pub const SNOOZE_MINUTES_MAX: u32 = 1440;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Snooze {
    /// How long, 1–1440 minutes.
    minutes: i64,
}

/// Snoozes an acknowledged incident (as PagerDuty: a triggered one must be acknowledged
/// first, 409 otherwise): when the snooze ends it is triggered again and paging starts over
/// from the first level. The timeline says who snoozed it until when.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/snooze", tag = "incidents", security(("bearer" = [])), request_body = Snooze,
    responses((status = 200, body = Incident), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn snooze(
    State(s): State<Arc<AppState>>,
    Require(auth, _): Require<Responder>,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<Snooze>,
) -> ApiResult<Json<Incident>> {
    let minutes = u32::try_from(b.minutes)
        .ok()
        .filter(|m| (SNOOZE_MINUTES_MIN..=SNOOZE_MINUTES_MAX).contains(m))
        .ok_or_else(|| {
            ApiError::field(
                "minutes",
                format!("must be a number of minutes from {SNOOZE_MINUTES_MIN} to {SNOOZE_MINUTES_MAX} (a day)"),
            )
        })?;
    let id = IncidentId(id);
    let inc = s
        .store
        .snooze_incident(&id, &auth.actor(), Channel::Api, minutes, s.clock.now())
        .await?;
    changed(&s, &id);
    Ok(Json(inc))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    /// The note's text.
    #[serde(alias = "note", alias = "text")]
    content: String,
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/notes", tag = "incidents", security(("bearer" = [])), request_body = NewNote,
    responses((status = 200, body = Incident), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn add_note(
    State(s): State<Arc<AppState>>,
    Require(auth, _): Require<Responder>,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<NewNote>,
) -> ApiResult<Json<Incident>> {
    let text = b.content.trim();
    if text.is_empty() {
        return Err(ApiError::field("content", "must not be empty"));
    }
    if text.chars().count() > NOTE_CHARS_MAX {
        return Err(ApiError::field(
            "content",
            format!("must be at most {NOTE_CHARS_MAX} characters"),
        ));
    }
    let id = IncidentId(id);
    s.store
        .add_note(&id, &auth.actor(), Channel::Api, text, s.clock.now())
        .await?;
    changed(&s, &id);
    Ok(Json(s.store.get_incident(&id).await?))
}

#[derive(Serialize, ToSchema)]
pub struct Timeline {
    entries: Vec<TimelineEntry>,
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/timeline", tag = "incidents", security(("bearer" = [])),
    responses((status = 200, body = Timeline), (status = 404, body = ErrorBody)))]
pub async fn timeline(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Timeline>> {
    auth.require(Role::Viewer)?;
    Ok(Json(Timeline {
        entries: s.store.timeline(&IncidentId(id)).await?,
    }))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/alerts", tag = "incidents", security(("bearer" = [])),
    responses((status = 200, body = [Alert]), (status = 404, body = ErrorBody)))]
pub async fn alerts(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    auth.require(Role::Viewer)?;
    Ok(Json(
        serde_json::json!({ "alerts": s.store.incident_alerts(&IncidentId(id)).await? }),
    ))
}

// ---- users, teams, tokens ----

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    name: String,
    email: String,
    /// IANA name; default UTC.
    time_zone: Option<String>,
    /// admin, responder or viewer; default responder.
    role: Option<String>,
    /// Optional: a user without a password cannot sign in to the web UI until one is set.
    password: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/users", tag = "people", security(("bearer" = [])), responses((status = 200, body = [User])))]
pub async fn list_users(
    State(s): State<Arc<AppState>>,
    auth: Auth,
) -> ApiResult<Json<serde_json::Value>> {
    auth.require(Role::Viewer)?;
    Ok(Json(
        serde_json::json!({ "users": s.store.list_users().await? }),
    ))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "people", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 404, body = ErrorBody)))]
pub async fn get_user(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<User>> {
    auth.require(Role::Viewer)?;
    Ok(Json(s.store.get_user(&UserId(id)).await?))
}

/// Parses a role name, naming the field.
pub fn role(field: &str, raw: Option<&str>, default: Role) -> ApiResult<Role> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(default),
        Some(r) => Role::parse(r)
            .ok_or_else(|| ApiError::field(field, format!("must be one of {}", Role::words()))),
    }
}

#[utoipa::path(post, path = "/api/v1/users", tag = "people", security(("bearer" = [])), request_body = CreateUser,
    responses((status = 201, body = User), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_user(
    State(s): State<Arc<AppState>>,
    _: Require<Admin>,
    JsonBody(b): JsonBody<CreateUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    Ok((StatusCode::CREATED, Json(add_user(&s, b).await?)))
}

/// Creates a user with the API's rules; the web UI's people page calls it too.
pub async fn add_user(s: &AppState, b: CreateUser) -> ApiResult<User> {
    let user_name = name("name", &b.name)?;
    let user_email = email(&b.email).map_err(|e| ApiError::field("email", e))?;
    let tz = time_zone(b.time_zone.as_deref().unwrap_or("UTC"))
        .map_err(|e| ApiError::field("time_zone", e))?;
    let user_role = role("role", b.role.as_deref(), Role::Responder)?;
    let password_hash = match b.password {
        None => None,
        Some(p) => {
            check_password(&p).map_err(|e| ApiError::field("password", e))?;
            let h = tokio::task::spawn_blocking(move || hash_password(&p))
                .await
                .map_err(|e| ApiError::internal("password hashing", e))?
                .map_err(|e| ApiError::internal("password hashing", e))?;
            Some(h)
        }
    };
    Ok(s.store
        .create_user(
            NewUser {
                name: user_name,
                email: user_email,
                time_zone: tz,
                role: user_role,
                password_hash,
            },
            s.clock.now(),
        )
        .await?)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTeam {
    name: String,
    description: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/teams", tag = "people", security(("bearer" = [])), responses((status = 200, body = [Team])))]
pub async fn list_teams(
    State(s): State<Arc<AppState>>,
    auth: Auth,
) -> ApiResult<Json<serde_json::Value>> {
    auth.require(Role::Viewer)?;
    Ok(Json(
        serde_json::json!({ "teams": s.store.list_teams().await? }),
    ))
}

#[utoipa::path(post, path = "/api/v1/teams", tag = "people", security(("bearer" = [])), request_body = CreateTeam,
    responses((status = 201, body = Team), (status = 409, body = ErrorBody)))]
pub async fn create_team(
    State(s): State<Arc<AppState>>,
    _: Require<Admin>,
    JsonBody(b): JsonBody<CreateTeam>,
) -> ApiResult<(StatusCode, Json<Team>)> {
    Ok((StatusCode::CREATED, Json(add_team(&s, b).await?)))
}

/// Creates a team with the API's rules; the web UI's teams page calls it too.
pub async fn add_team(s: &AppState, b: CreateTeam) -> ApiResult<Team> {
    Ok(s.store
        .create_team(
            NewTeam {
                name: name("name", &b.name)?,
                description: description(b.description)?,
            },
            s.clock.now(),
        )
        .await?)
}

#[utoipa::path(get, path = "/api/v1/teams/{id}", tag = "people", security(("bearer" = [])),
    responses((status = 200, body = Team), (status = 404, body = ErrorBody)))]
pub async fn get_team(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Team>> {
    auth.require(Role::Viewer)?;
    Ok(Json(s.store.get_team(&TeamId(id)).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    user_id: String,
}

#[utoipa::path(post, path = "/api/v1/teams/{id}/members", tag = "people", security(("bearer" = [])), request_body = AddMember,
    responses((status = 200, body = Team), (status = 404, body = ErrorBody)))]
pub async fn add_member(
    State(s): State<Arc<AppState>>,
    _: Require<Admin>,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<AddMember>,
) -> ApiResult<Json<Team>> {
    Ok(Json(
        s.store
            .add_team_member(&TeamId(id), &UserId(b.user_id))
            .await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    name: String,
    role: String,
    user_id: Option<String>,
}

/// A new token: the secret appears here once and never again.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    token: ApiToken,
    /// The secret. Store it now: only its hash is kept.
    secret: String,
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "people", security(("bearer" = [])), responses((status = 200, body = [ApiToken])))]
pub async fn list_tokens(
    State(s): State<Arc<AppState>>,
    auth: Auth,
) -> ApiResult<Json<serde_json::Value>> {
    auth.require(Role::Admin)?;
    Ok(Json(
        serde_json::json!({ "tokens": s.store.list_api_tokens().await? }),
    ))
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "people", security(("bearer" = [])), request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody)))]
pub async fn create_token(
    State(s): State<Arc<AppState>>,
    _: Require<Admin>,
    JsonBody(b): JsonBody<CreateToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let (token, secret) = add_token(&s, b).await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token, secret })))
}

/// Creates an API token with the API's rules; returns it and its secret (shown once). The web
/// UI's settings page calls it too.
pub async fn add_token(s: &AppState, b: CreateToken) -> ApiResult<(ApiToken, String)> {
    let secret = new_token();
    let token = s
        .store
        .create_api_token(
            NewApiToken {
                name: name("name", &b.name)?,
                role: role("role", Some(&b.role), Role::Viewer)?,
                user_id: b.user_id.filter(|u| !u.is_empty()).map(UserId),
                token_hash: hash_secret(&secret),
            },
            s.clock.now(),
        )
        .await
        .map_err(|e| match e {
            StoreError::NotFound(_) => ApiError::field("user_id", "no such user"),
            other => other.into(),
        })?;
    Ok((token, secret))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "people", security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    s.store
        .revoke_api_token(&TokenId(id), s.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
