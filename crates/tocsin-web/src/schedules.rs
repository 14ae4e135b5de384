//! The REST API of on-call schedules: create, read, overrides, who is on call at a moment, the
//! final shifts over a range, and coverage gaps. The rules (rotations, restrictions, layers,
//! overrides, time zones) are the core's; this module parses, authorises and renders.

use crate::AppState;
use crate::api::ApiResult;
use crate::auth::{Auth, Require, Responder};
use crate::body::JsonBody;
use crate::error::{ApiError, ErrorBody};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tocsin_core::Role;
use tocsin_core::formats::parse_timestamp;
use tocsin_core::schedule::{self, OverrideSpec, QueryRange, Schedule, ScheduleSpec, Shift};
use tocsin_store::*;
use utoipa::{IntoParams, ToSchema};

/// The default window of `/shifts` and `/gaps`: the coming week.
const DEFAULT_RANGE: SignedDuration = SignedDuration::from_hours(7 * 24);

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/schedules", get(list).post(create))
        .route("/schedules/{id}", get(get_one).put(update))
        .route(
            "/schedules/{id}/overrides",
            axum::routing::post(add_override),
        )
        .route(
            "/schedules/{id}/overrides/{override_id}",
            axum::routing::delete(delete_override),
        )
        .route("/schedules/{id}/oncall", get(oncall))
        .route("/schedules/{id}/shifts", get(shifts))
        .route("/schedules/{id}/gaps", get(gaps))
}

fn parsed(record: &ScheduleRecord) -> ApiResult<Schedule> {
    record
        .parse()
        .map_err(|e| ApiError::internal("stored schedule no longer parses", e))
}

#[utoipa::path(post, path = "/api/v1/schedules", tag = "paging", security(("bearer" = [])), request_body = ScheduleSpec,
    responses((status = 201, body = ScheduleRecord), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(s): State<Arc<AppState>>,
    _: Require<crate::auth::Admin>,
    JsonBody(spec): JsonBody<ScheduleSpec>,
) -> ApiResult<(StatusCode, Json<ScheduleRecord>)> {
    let schedule = Schedule::parse(&spec).map_err(|e| ApiError::from_parse(e.into()))?;
    let record = s
        .store
        .create_schedule(schedule.to_spec(), s.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(record)))
}

/// Replaces a schedule's name, time zone and layers; the body is the one `POST` takes. Its
/// overrides stay (any `overrides` in the body are ignored: add and remove them one by one).
#[utoipa::path(put, path = "/api/v1/schedules/{id}", tag = "paging", security(("bearer" = [])), request_body = ScheduleSpec,
    responses((status = 200, body = ScheduleRecord), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update(
    State(s): State<Arc<AppState>>,
    _: Require<crate::auth::Admin>,
    Path(id): Path<String>,
    JsonBody(spec): JsonBody<ScheduleSpec>,
) -> ApiResult<Json<ScheduleRecord>> {
    Ok(Json(edit(&s, &id, spec).await?))
}

/// Edits a schedule with the API's rules; the web UI's form calls it too.
pub async fn edit(s: &AppState, id: &str, spec: ScheduleSpec) -> ApiResult<ScheduleRecord> {
    // Checked alone first, so that a mistake names the body's field; the store checks it
    // again with the overrides it keeps.
    let spec = ScheduleSpec {
        overrides: Vec::new(),
        ..spec
    };
    let schedule = Schedule::parse(&spec).map_err(|e| ApiError::from_parse(e.into()))?;
    Ok(s.store
        .update_schedule(id, schedule.to_spec(), s.clock.now())
        .await?)
}

#[utoipa::path(get, path = "/api/v1/schedules", tag = "paging", security(("bearer" = [])),
    responses((status = 200, body = [ScheduleRecord])))]
pub async fn list(
    State(s): State<Arc<AppState>>,
    auth: Auth,
) -> ApiResult<Json<serde_json::Value>> {
    auth.require(Role::Viewer)?;
    Ok(Json(
        serde_json::json!({ "schedules": s.store.list_schedules().await? }),
    ))
}

#[utoipa::path(get, path = "/api/v1/schedules/{id}", tag = "paging", security(("bearer" = [])),
    responses((status = 200, body = ScheduleRecord), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<ScheduleRecord>> {
    auth.require(Role::Viewer)?;
    Ok(Json(s.store.get_schedule(&id).await?))
}

#[utoipa::path(post, path = "/api/v1/schedules/{id}/overrides", tag = "paging", security(("bearer" = [])), request_body = OverrideSpec,
    responses((status = 201, body = ScheduleRecord), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn add_override(
    State(s): State<Arc<AppState>>,
    _: Require<Responder>,
    Path(id): Path<String>,
    JsonBody(o): JsonBody<OverrideSpec>,
) -> ApiResult<(StatusCode, Json<ScheduleRecord>)> {
    o.parse().map_err(|e| ApiError::from_parse(e.into()))?;
    let record = s.store.add_schedule_override(&id, o, s.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(record)))
}

/// Removes one override; its id is in the schedule's `override_ids`. Returns the schedule.
#[utoipa::path(delete, path = "/api/v1/schedules/{id}/overrides/{override_id}", tag = "paging", security(("bearer" = [])),
    responses((status = 200, body = ScheduleRecord), (status = 404, body = ErrorBody)))]
pub async fn delete_override(
    State(s): State<Arc<AppState>>,
    _: Require<Responder>,
    Path((id, override_id)): Path<(String, String)>,
) -> ApiResult<Json<ScheduleRecord>> {
    Ok(Json(
        s.store
            .delete_schedule_override(&id, &override_id, s.clock.now())
            .await?,
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct AtQuery {
    /// RFC 3339; default now.
    at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OnCall {
    /// Who is on call (empty: nobody).
    users: Vec<User>,
    /// The final shift containing the moment; null when nobody is on call.
    shift: Option<ShiftSpan>,
}

#[derive(Serialize, ToSchema)]
pub struct ShiftSpan {
    #[schema(value_type = String, format = DateTime)]
    start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    end: Timestamp,
}

fn time(field: &str, raw: Option<&str>, default: Timestamp) -> ApiResult<Timestamp> {
    match raw.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => parse_timestamp(v).ok_or_else(|| {
            ApiError::field(
                field,
                "must be an RFC 3339 time such as 2026-11-25T09:00:00Z",
            )
        }),
    }
}

#[utoipa::path(get, path = "/api/v1/schedules/{id}/oncall", tag = "paging", security(("bearer" = [])), params(AtQuery),
    responses((status = 200, body = OnCall), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn oncall(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
    q: Result<Query<AtQuery>, QueryRejection>,
) -> ApiResult<Json<OnCall>> {
    auth.require(Role::Viewer)?;
    let Query(q) = q.map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))?;
    let at = time("at", q.at.as_deref(), s.clock.now())?;
    let schedule = parsed(&s.store.get_schedule(&id).await?)?;
    let Some(shift) = schedule::oncall_at(&schedule, at) else {
        return Ok(Json(OnCall {
            users: Vec::new(),
            shift: None,
        }));
    };
    let user = s.store.get_user(&shift.user).await?;
    Ok(Json(OnCall {
        users: vec![user],
        shift: Some(ShiftSpan {
            start: shift.start,
            end: shift.end,
        }),
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct RangeQuery {
    /// RFC 3339; default now.
    from: Option<String>,
    /// RFC 3339; default a week after `from`; at most 400 days after it.
    to: Option<String>,
}

fn range(s: &AppState, q: Result<Query<RangeQuery>, QueryRejection>) -> ApiResult<QueryRange> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))?;
    let from = time("from", q.from.as_deref(), s.clock.now())?;
    let to = time("to", q.to.as_deref(), from + DEFAULT_RANGE)?;
    QueryRange::new(from, to).map_err(|e| ApiError::field(e.field(), e.to_string()))
}

#[derive(Serialize, ToSchema)]
pub struct Shifts {
    shifts: Vec<Shift>,
}

#[utoipa::path(get, path = "/api/v1/schedules/{id}/shifts", tag = "paging", security(("bearer" = [])), params(RangeQuery),
    responses((status = 200, body = Shifts), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn shifts(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
    q: Result<Query<RangeQuery>, QueryRejection>,
) -> ApiResult<Json<Shifts>> {
    auth.require(Role::Viewer)?;
    let range = range(&s, q)?;
    let schedule = parsed(&s.store.get_schedule(&id).await?)?;
    Ok(Json(Shifts {
        shifts: schedule::final_shifts(&schedule, range),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct Gaps {
    /// Intervals with nobody on call.
    gaps: Vec<ShiftSpan>,
}

#[utoipa::path(get, path = "/api/v1/schedules/{id}/gaps", tag = "paging", security(("bearer" = [])), params(RangeQuery),
    responses((status = 200, body = Gaps), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn gaps(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
    q: Result<Query<RangeQuery>, QueryRejection>,
) -> ApiResult<Json<Gaps>> {
    auth.require(Role::Viewer)?;
    let range = range(&s, q)?;
    let schedule = parsed(&s.store.get_schedule(&id).await?)?;
    let gaps = schedule::gaps(&schedule, range)
        .into_iter()
        .map(|(start, end)| ShiftSpan { start, end })
        .collect();
    Ok(Json(Gaps { gaps }))
}
