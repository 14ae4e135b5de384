//! The REST API of the response pillar: escalation policies, and each person's contact methods
//! and notification rules. Validation happens here and in the core; the store checks that what
//! is named exists.

use crate::AppState;
use crate::api::ApiResult;
use crate::auth::{Admin, Auth, Require};
use crate::body::{JsonBody, json_body};
use crate::error::{ApiError, ErrorBody};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;
use tocsin_core::contact::ContactType;
use tocsin_core::escalation::Policy;
use tocsin_core::limits::NAME_CHARS_MAX;
use tocsin_core::{Role, Urgency, UserId};
use tocsin_store::*;
use utoipa::ToSchema;

/// The longest delay a notification rule may wait (a day).
pub const RULE_DELAY_MINUTES_MAX: u32 = 1440;
/// Contact methods per person, and rules per person.
pub const CONTACT_METHODS_PER_USER_MAX: usize = 20;
pub const RULES_PER_USER_MAX: usize = 50;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/escalation-policies",
            get(list_policies).post(create_policy),
        )
        .route(
            "/escalation-policies/{id}",
            get(get_policy).put(update_policy),
        )
        .route(
            "/users/{id}/contact-methods",
            get(list_contact_methods).post(create_contact_method),
        )
        .route(
            "/users/{id}/notification-rules",
            get(list_rules).post(create_rule),
        )
        .route("/incidents/{id}/notifications", get(list_notifications))
        .route(
            "/users/{id}/contact-methods/{method}/send-code",
            axum::routing::post(send_code),
        )
        .route(
            "/users/{id}/contact-methods/{method}/verify",
            axum::routing::post(verify),
        )
        .route(
            "/users/{id}/contact-methods/{method}/test",
            axum::routing::post(send_test),
        )
        .route("/services/{id}/page-path", get(page_path))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePolicy {
    name: String,
    description: Option<String>,
    /// Extra loops through the whole policy after the last level (0–9).
    repeat: Option<u32>,
    levels: Vec<LevelRecord>,
}

/// Checks a policy with the core's rules (the same rules the engine plans with).
fn check_policy(levels: &[LevelRecord], repeat: u32) -> ApiResult<()> {
    let core_levels = levels.iter().map(LevelRecord::to_core).collect();
    Policy::new(core_levels, repeat).map(|_| ()).map_err(|e| {
        let message = e.to_string();
        let why = message
            .split_once("' ")
            .map_or(message.as_str(), |(_, w)| w)
            .to_owned();
        ApiError::field(&e.field(), why)
    })
}

#[utoipa::path(post, path = "/api/v1/escalation-policies", tag = "paging", security(("bearer" = [])), request_body = CreatePolicy,
    responses((status = 201, body = EscalationPolicy), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_policy(
    State(s): State<Arc<AppState>>,
    _: Require<Admin>,
    JsonBody(b): JsonBody<CreatePolicy>,
) -> ApiResult<(StatusCode, Json<EscalationPolicy>)> {
    Ok((StatusCode::CREATED, Json(add_policy(&s, b).await?)))
}

/// Creates an escalation policy with the API's rules; the web UI's editor calls it too.
pub async fn add_policy(s: &AppState, b: CreatePolicy) -> ApiResult<EscalationPolicy> {
    Ok(s.store
        .create_escalation_policy(checked_policy(b)?, s.clock.now())
        .await?)
}

/// A policy body checked with the API's rules (the same on creation and on edit).
fn checked_policy(b: CreatePolicy) -> ApiResult<NewEscalationPolicy> {
    let name = b.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > NAME_CHARS_MAX {
        return Err(ApiError::field(
            "name",
            format!("must be 1 to {NAME_CHARS_MAX} characters"),
        ));
    }
    let repeat = b.repeat.unwrap_or(0);
    check_policy(&b.levels, repeat)?;
    Ok(NewEscalationPolicy {
        name,
        description: b.description.unwrap_or_default(),
        repeat,
        levels: b.levels,
    })
}

/// Replaces a policy's name, description, repeat and levels; the body is the one `POST` takes.
/// Services keep the policy (its id stays); an incident being paged takes its next step with
/// the new levels, and one at a level the policy no longer has goes on as after the last level.
#[utoipa::path(put, path = "/api/v1/escalation-policies/{id}", tag = "paging", security(("bearer" = [])), request_body = CreatePolicy,
    responses((status = 200, body = EscalationPolicy), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_policy(
    State(s): State<Arc<AppState>>,
    _: Require<Admin>,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<CreatePolicy>,
) -> ApiResult<Json<EscalationPolicy>> {
    Ok(Json(edit_policy(&s, &id, b).await?))
}

/// Edits an escalation policy with the API's rules; the web UI's editor calls it too.
pub async fn edit_policy(s: &AppState, id: &str, b: CreatePolicy) -> ApiResult<EscalationPolicy> {
    Ok(s.store
        .update_escalation_policy(id, checked_policy(b)?, s.clock.now())
        .await?)
}

#[utoipa::path(get, path = "/api/v1/escalation-policies", tag = "paging", security(("bearer" = [])),
    responses((status = 200, body = [EscalationPolicy])))]
pub async fn list_policies(
    State(s): State<Arc<AppState>>,
    auth: Auth,
) -> ApiResult<Json<serde_json::Value>> {
    auth.require(Role::Viewer)?;
    Ok(Json(
        serde_json::json!({ "escalation_policies": s.store.list_escalation_policies().await? }),
    ))
}

#[utoipa::path(get, path = "/api/v1/escalation-policies/{id}", tag = "paging", security(("bearer" = [])),
    responses((status = 200, body = EscalationPolicy), (status = 404, body = ErrorBody)))]
pub async fn get_policy(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<EscalationPolicy>> {
    auth.require(Role::Viewer)?;
    Ok(Json(s.store.get_escalation_policy(&id).await?))
}

/// Admins manage everyone's contact methods; a responder manages their own.
fn may_manage(auth: &Auth, user: &UserId) -> ApiResult<()> {
    if auth.role().allows(Role::Admin) {
        return Ok(());
    }
    if auth.user_id() == Some(user) && auth.role().allows(Role::Responder) {
        return Ok(());
    }
    Err(ApiError::forbidden(
        "only an admin, or the user themselves, may do this",
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateContactMethod {
    /// email, sms, voice, webhook, slack, teams, mattermost, telegram, discord or ntfy.
    #[serde(rename = "type")]
    kind: String,
    address: String,
    label: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/users/{id}/contact-methods", tag = "paging", security(("bearer" = [])),
    request_body = CreateContactMethod,
    responses((status = 201, body = ContactMethod), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_contact_method(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<(StatusCode, Json<ContactMethod>)> {
    let user = UserId(id);
    may_manage(&auth, &user)?;
    let b: CreateContactMethod = json_body(body).await?;
    Ok((
        StatusCode::CREATED,
        Json(add_contact_method(&s, user, b).await?),
    ))
}

/// Adds a contact method with the API's rules; the web UI's profile calls it too.
pub async fn add_contact_method(
    s: &AppState,
    user: UserId,
    b: CreateContactMethod,
) -> ApiResult<ContactMethod> {
    let kind = ContactType::parse(b.kind.trim()).ok_or_else(|| {
        ApiError::field("type", format!("must be one of {}", ContactType::words()))
    })?;
    let address = kind
        .parse_address(&b.address)
        .map_err(|e| ApiError::field("address", e))?;
    let label = b.label.unwrap_or_default();
    if label.chars().count() > NAME_CHARS_MAX {
        return Err(ApiError::field(
            "label",
            format!("must be at most {NAME_CHARS_MAX} characters"),
        ));
    }
    if s.store.list_contact_methods(&user).await?.len() >= CONTACT_METHODS_PER_USER_MAX {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("a user has at most {CONTACT_METHODS_PER_USER_MAX} contact methods"),
        ));
    }
    Ok(s.store
        .create_contact_method(
            NewContactMethod {
                user_id: user,
                kind,
                address,
                label,
            },
            s.clock.now(),
        )
        .await?)
}

#[utoipa::path(get, path = "/api/v1/users/{id}/contact-methods", tag = "paging", security(("bearer" = [])),
    responses((status = 200, body = [ContactMethod])))]
pub async fn list_contact_methods(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let user = UserId(id);
    may_manage(&auth, &user)?;
    s.store.get_user(&user).await?;
    Ok(Json(
        serde_json::json!({ "contact_methods": s.store.list_contact_methods(&user).await? }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRule {
    contact_method_id: String,
    /// Minutes after the page starts (0 = at once).
    delay_minutes: u32,
    /// high or low; absent: both.
    urgency: Option<String>,
    /// Voice only: "keep calling every N minutes until I answer" (1–60; at most 10 more calls,
    /// until the incident is acknowledged or resolved).
    repeat_every_minutes: Option<u32>,
}

#[utoipa::path(post, path = "/api/v1/users/{id}/notification-rules", tag = "paging", security(("bearer" = [])),
    request_body = CreateRule,
    responses((status = 201, body = NotificationRule), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create_rule(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<(StatusCode, Json<NotificationRule>)> {
    let user = UserId(id);
    may_manage(&auth, &user)?;
    let b: CreateRule = json_body(body).await?;
    Ok((StatusCode::CREATED, Json(add_rule(&s, user, b).await?)))
}

/// Adds a notification rule with the API's rules; the web UI's profile calls it too.
pub async fn add_rule(s: &AppState, user: UserId, b: CreateRule) -> ApiResult<NotificationRule> {
    if b.delay_minutes > RULE_DELAY_MINUTES_MAX {
        return Err(ApiError::field(
            "delay_minutes",
            format!("must be from 0 to {RULE_DELAY_MINUTES_MAX}"),
        ));
    }
    let urgency = match b
        .urgency
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        None => None,
        Some(u) => Some(Urgency::parse(u).ok_or_else(|| {
            ApiError::field("urgency", format!("must be one of {}", Urgency::words()))
        })?),
    };
    if b.repeat_every_minutes
        .is_some_and(|n| !(1..=60).contains(&n))
    {
        return Err(ApiError::field(
            "repeat_every_minutes",
            "must be from 1 to 60",
        ));
    }
    s.store.get_user(&user).await?;
    if s.store.list_notification_rules(&user).await?.len() >= RULES_PER_USER_MAX {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("a user has at most {RULES_PER_USER_MAX} notification rules"),
        ));
    }
    Ok(s.store
        .create_notification_rule(
            NewNotificationRule {
                user_id: user,
                contact_method_id: b.contact_method_id,
                delay_minutes: b.delay_minutes,
                urgency,
                repeat_every_minutes: b.repeat_every_minutes,
            },
            s.clock.now(),
        )
        .await?)
}

#[utoipa::path(get, path = "/api/v1/users/{id}/notification-rules", tag = "paging", security(("bearer" = [])),
    responses((status = 200, body = [NotificationRule])))]
pub async fn list_rules(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let user = UserId(id);
    may_manage(&auth, &user)?;
    s.store.get_user(&user).await?;
    Ok(Json(
        serde_json::json!({ "notification_rules": s.store.list_notification_rules(&user).await? }),
    ))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/notifications", tag = "incidents", security(("bearer" = [])),
    responses((status = 200, body = [NotificationRecord]), (status = 404, body = ErrorBody)))]
pub async fn list_notifications(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    auth.require(Role::Viewer)?;
    let list = s
        .store
        .list_notifications(&tocsin_core::IncidentId(id))
        .await?;
    Ok(Json(serde_json::json!({ "notifications": list })))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct PagePathQuery {
    /// RFC 3339; default now.
    at: Option<String>,
    /// high (default) or low.
    urgency: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/services/{id}/page-path", tag = "paging", security(("bearer" = [])), params(PagePathQuery),
    responses((status = 200, body = tocsin_engine::preview::PagePath), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn page_path(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
    q: Result<axum::extract::Query<PagePathQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<tocsin_engine::preview::PagePath>> {
    auth.require(Role::Viewer)?;
    let axum::extract::Query(q) =
        q.map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))?;
    let at = match q.at.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => s.clock.now(),
        Some(v) => tocsin_core::formats::parse_timestamp(v).ok_or_else(|| {
            ApiError::field(
                "at",
                "must be an RFC 3339 time such as 2026-11-25T09:00:00Z",
            )
        })?,
    };
    let urgency = match q
        .urgency
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        None => Urgency::High,
        Some(u) => Urgency::parse(u).ok_or_else(|| {
            ApiError::field("urgency", format!("must be one of {}", Urgency::words()))
        })?,
    };
    let path = tocsin_engine::preview::page_path(
        s.store.as_ref(),
        &tocsin_core::ServiceId(id),
        at,
        urgency,
    )
    .await?;
    Ok(Json(path))
}

/// How long a verification code works.
pub const VERIFY_CODE_VALIDITY: jiff::SignedDuration = jiff::SignedDuration::from_mins(10);

/// A message that is not a page: no incident fields.
fn side_message(
    s: &AppState,
    key: String,
    kind: tocsin_notify::MessageKind,
) -> tocsin_notify::Message {
    tocsin_notify::Message {
        idempotency_key: key,
        incident_number: 0,
        title: String::new(),
        urgency: Urgency::Low,
        service: String::new(),
        open_for: std::time::Duration::ZERO,
        url: s.config.public_url.clone(),
        ack_url: None,
        ack_token: None,
        ack_token_short: None,
        hooks_url: None,
        ack_code: None,
        kind,
    }
}

async fn deliver(
    s: &AppState,
    m: &ContactMethod,
    msg: tocsin_notify::Message,
) -> ApiResult<Option<String>> {
    deliver_to(s, m.kind, &m.address, msg).await
}

/// Sends a test message to an address that is nobody's contact method: an admin checking
/// the configured email or SMS provider (the web UI's settings page).
pub async fn send_test_to_address(
    s: &AppState,
    kind: &str,
    address: &str,
) -> ApiResult<Option<String>> {
    let kind = ContactType::parse(kind.trim()).ok_or_else(|| {
        ApiError::field("type", format!("must be one of {}", ContactType::words()))
    })?;
    let address = kind
        .parse_address(address)
        .map_err(|e| ApiError::field("address", e))?;
    let key = format!("settings-test:{}", s.clock.now().as_millisecond());
    let msg = side_message(s, key, tocsin_notify::MessageKind::Test);
    deliver_to(s, kind, &address, msg).await
}

async fn deliver_to(
    s: &AppState,
    kind: ContactType,
    address: &str,
    msg: tocsin_notify::Message,
) -> ApiResult<Option<String>> {
    let to = tocsin_notify::Destination::parse(kind.as_str(), address)
        .map_err(|e| ApiError::field("address", e.to_string()))?;
    s.channel
        .send(&to, &msg)
        .await
        .map(|o| o.provider_id)
        .map_err(|e| {
            let mut err = ApiError::new(
                StatusCode::BAD_GATEWAY,
                "delivery_failed",
                format!("the {kind} could not be delivered: {}", e.reason()),
            );
            err.retry_after_secs = e.retry_after().map(|d| d.as_secs().max(1));
            err
        })
}

#[utoipa::path(post, path = "/api/v1/users/{id}/contact-methods/{method}/send-code", tag = "paging", security(("bearer" = [])),
    responses((status = 202, description = "Code sent"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn send_code(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path((id, method)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let user = UserId(id);
    may_manage(&auth, &user)?;
    let expires = send_code_to(&s, &user, &method).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({"sent": true, "expires_at": expires})),
    ))
}

/// Sends a verification code to a contact method; returns when the code stops working. The
/// web UI's profile calls it too.
pub async fn send_code_to(s: &AppState, user: &UserId, method: &str) -> ApiResult<jiff::Timestamp> {
    let mut raw = [0u8; 4];
    getrandom::fill(&mut raw).map_err(|e| ApiError::internal("random code", e))?;
    let code = format!("{:06}", u32::from_le_bytes(raw) % 1_000_000);
    let expires = s.clock.now() + VERIFY_CODE_VALIDITY;
    let m = s
        .store
        .start_verification(user, method, &crate::auth::hash_secret(&code), expires)
        .await?;
    let key = format!("verify:{}:{}", m.id, expires.as_second());
    deliver(
        s,
        &m,
        side_message(s, key, tocsin_notify::MessageKind::Verification { code }),
    )
    .await?;
    Ok(expires)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyCode {
    code: String,
}

#[utoipa::path(post, path = "/api/v1/users/{id}/contact-methods/{method}/verify", tag = "paging", security(("bearer" = [])),
    request_body = VerifyCode,
    responses((status = 200, body = ContactMethod), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn verify(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path((id, method)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Json<ContactMethod>> {
    let user = UserId(id);
    may_manage(&auth, &user)?;
    let b: VerifyCode = json_body(body).await?;
    let code = b.code.trim();
    let m = s
        .store
        .finish_verification(
            &user,
            &method,
            &crate::auth::hash_secret(code),
            s.clock.now(),
        )
        .await?;
    Ok(Json(m))
}

#[utoipa::path(post, path = "/api/v1/users/{id}/contact-methods/{method}/test", tag = "paging", security(("bearer" = [])),
    responses((status = 200, description = "Delivered"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn send_test(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path((id, method)): Path<(String, String)>,
) -> ApiResult<Json<serde_json::Value>> {
    let user = UserId(id);
    may_manage(&auth, &user)?;
    let provider_id = send_test_to(&s, &user, &method).await?;
    Ok(Json(
        serde_json::json!({"delivered": true, "provider_id": provider_id}),
    ))
}

/// Sends a test message to a verified contact method; returns the provider's message id. The
/// web UI's profile calls it too.
pub async fn send_test_to(s: &AppState, user: &UserId, method: &str) -> ApiResult<Option<String>> {
    let m = s.store.get_contact_method(user, method).await?;
    if !m.verified {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "verify this contact method first (send-code, then verify)",
        ));
    }
    let key = format!("test:{}:{}", m.id, s.clock.now().as_millisecond());
    deliver(
        s,
        &m,
        side_message(s, key, tocsin_notify::MessageKind::Test),
    )
    .await
}
