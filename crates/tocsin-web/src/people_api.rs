//! The REST API's edits of people: a person's name, time zone, role and deactivation
//! (`PATCH /users/{id}`), editing and deleting their contact methods and notification rules,
//! and removing a member from a team. Creating them lives in `api.rs` and `paging.rs`. The
//! checks are here once: the web UI's forms call the same `edit_*` / `remove_*` functions.

use crate::AppState;
use crate::api::ApiResult;
use crate::auth::{Admin, Auth, Require};
use crate::body::json_body;
use crate::error::{ApiError, ErrorBody};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, patch};
use axum::{Json, Router};
use serde::{Deserialize, Deserializer};
use std::sync::Arc;
use tocsin_core::limits::NAME_CHARS_MAX;
use tocsin_core::{Role, TeamId, Urgency, UserId};
use tocsin_store::*;
use utoipa::ToSchema;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/users/{id}", patch(update_user))
        .route(
            "/users/{id}/contact-methods/{method}",
            patch(update_contact_method).delete(delete_contact_method),
        )
        .route(
            "/users/{id}/notification-rules/{rule}",
            patch(update_rule).delete(delete_rule),
        )
        .route("/teams/{id}/members/{user}", delete(remove_member))
}

/// Who asks: the person a token or session belongs to (if any) and its role.
#[derive(Clone, Copy)]
pub struct Caller<'a> {
    pub user: Option<&'a UserId>,
    pub role: Role,
}

impl<'a> From<&'a Auth> for Caller<'a> {
    fn from(a: &'a Auth) -> Self {
        Caller {
            user: a.user_id(),
            role: a.role(),
        }
    }
}

impl Caller<'_> {
    fn is_admin(&self) -> bool {
        self.role.allows(Role::Admin)
    }

    fn is(&self, user: &UserId) -> bool {
        self.user == Some(user)
    }

    /// Contact methods and rules: an admin, or a responder for themselves (viewers are not
    /// paged), as when creating them.
    fn may_manage(&self, user: &UserId) -> ApiResult<()> {
        if self.is_admin() || (self.is(user) && self.role.allows(Role::Responder)) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "only an admin, or the user themselves, may do this",
            ))
        }
    }
}

/// `Some(None)` for an explicit `null`, `None` when the field is absent.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

// ---- a person ----

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// Yourself or, for an admin, anyone.
    pub name: Option<String>,
    /// An IANA name such as Europe/Paris. Yourself or, for an admin, anyone.
    pub time_zone: Option<String>,
    /// admin, responder or viewer. Admins only.
    pub role: Option<String>,
    /// false deactivates the person: they cannot sign in, their sessions end, their API
    /// tokens are refused and escalations skip them; true reactivates them. Admins only, and
    /// never yourself.
    pub active: Option<bool>,
}

#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "people", security(("bearer" = [])), request_body = UpdateUser,
    responses((status = 200, body = User), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
/// Changes a person's name and time zone (yourself, or an admin for anyone), their role, or
/// deactivates / reactivates them (admins). The last active admin cannot lose the role or be
/// deactivated (409).
pub async fn update_user(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Json<User>> {
    let user = UserId(id);
    let caller = Caller::from(&auth);
    if !caller.is_admin() && !caller.is(&user) {
        return Err(ApiError::forbidden(
            "only an admin, or the user themselves, may do this",
        ));
    }
    let b: UpdateUser = json_body(body).await?;
    Ok(Json(edit_user(&s, caller, &user, b).await?))
}

/// Changes a person with the API's rules; the web UI's profile and people pages call it too.
pub async fn edit_user(
    s: &AppState,
    caller: Caller<'_>,
    user: &UserId,
    b: UpdateUser,
) -> ApiResult<User> {
    if !caller.is_admin() {
        if !caller.is(user) {
            return Err(ApiError::forbidden(
                "only an admin, or the user themselves, may do this",
            ));
        }
        for (field, given) in [("role", b.role.is_some()), ("active", b.active.is_some())] {
            if given {
                return Err(ApiError::forbidden(format!(
                    "only an admin may change '{field}'"
                )));
            }
        }
    }
    if b.active == Some(false) && caller.is(user) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "you cannot deactivate yourself: ask another admin",
        ));
    }
    let mut fields = Vec::new();
    let name = match b.name.as_deref().map(str::trim) {
        None => None,
        Some("") => {
            fields.push(("name", "must not be empty".to_owned()));
            None
        }
        Some(n) if n.chars().count() > NAME_CHARS_MAX => {
            fields.push((
                "name",
                format!("must be at most {NAME_CHARS_MAX} characters"),
            ));
            None
        }
        Some(n) => Some(n.to_owned()),
    };
    let time_zone = match b.time_zone.as_deref() {
        None => None,
        Some(raw) => match crate::api::time_zone(raw) {
            Ok(tz) => Some(tz),
            Err(why) => {
                fields.push(("time_zone", why));
                None
            }
        },
    };
    let role = match b.role.as_deref() {
        None => None,
        Some(raw) => match Role::parse(raw.trim()) {
            Some(r) => Some(r),
            None => {
                fields.push(("role", format!("must be one of {}", Role::words())));
                None
            }
        },
    };
    if let Some((field, why)) = fields.first() {
        // One field at a time, as the other forms report.
        return Err(ApiError::field(field, why.clone()));
    }
    let changes = UserChanges {
        name,
        time_zone,
        role,
        active: b.active,
    };
    let u = s.store.update_user(user, changes, s.clock.now()).await?;
    if b.active == Some(false) {
        tracing::info!(user = %u.id, "person deactivated");
    }
    Ok(u)
}

// ---- contact methods ----

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UpdateContactMethod {
    /// A new address of the same type. A new SMS or voice number is unverified again (its
    /// pending code is dropped and notifications queued to it are cancelled).
    pub address: Option<String>,
    pub label: Option<String>,
    /// The type cannot change: when given it must be the method's own.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/users/{id}/contact-methods/{method}", tag = "paging", security(("bearer" = [])),
    request_body = UpdateContactMethod,
    responses((status = 200, body = ContactMethod), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_contact_method(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path((id, method)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Json<ContactMethod>> {
    let user = UserId(id);
    Caller::from(&auth).may_manage(&user)?;
    let b: UpdateContactMethod = json_body(body).await?;
    Ok(Json(edit_contact_method(&s, &user, &method, b).await?))
}

/// Changes a contact method's address and label with the API's rules (the web UI's profile).
pub async fn edit_contact_method(
    s: &AppState,
    user: &UserId,
    method: &str,
    b: UpdateContactMethod,
) -> ApiResult<ContactMethod> {
    let current = s.store.get_contact_method(user, method).await?;
    if let Some(k) = b.kind.as_deref().map(str::trim)
        && k != current.kind.as_str()
    {
        return Err(ApiError::field(
            "type",
            "cannot change: delete this contact method and add another",
        ));
    }
    let address = match b.address.as_deref() {
        None => current.address.clone(),
        Some(raw) => current
            .kind
            .parse_address(raw)
            .map_err(|e| ApiError::field("address", e))?,
    };
    let label = b.label.unwrap_or(current.label);
    if label.chars().count() > NAME_CHARS_MAX {
        return Err(ApiError::field(
            "label",
            format!("must be at most {NAME_CHARS_MAX} characters"),
        ));
    }
    Ok(s.store
        .update_contact_method(user, method, &address, &label, s.clock.now())
        .await?)
}

#[utoipa::path(delete, path = "/api/v1/users/{id}/contact-methods/{method}", tag = "paging", security(("bearer" = [])),
    responses((status = 204, description = "Deleted, with the notification rules that used it"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Deletes a contact method and the notification rules that use it (as PagerDuty and GoAlert
/// do); notifications queued to it are cancelled.
pub async fn delete_contact_method(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path((id, method)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let user = UserId(id);
    Caller::from(&auth).may_manage(&user)?;
    remove_contact_method(&s, &user, &method).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a contact method and its rules; returns how many rules went (the web UI says so).
pub async fn remove_contact_method(s: &AppState, user: &UserId, method: &str) -> ApiResult<usize> {
    let rules = s.store.delete_contact_method(user, method).await?;
    tracing::info!(user = %user, method, rules = rules.len(), "contact method deleted");
    Ok(rules.len())
}

// ---- notification rules ----

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UpdateRule {
    pub contact_method_id: Option<String>,
    /// Minutes after the page starts (0–1440).
    pub delay_minutes: Option<u32>,
    /// high or low; null or "" for both.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub urgency: Option<Option<String>>,
    /// Voice only (1–60); null stops repeating.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>)]
    pub repeat_every_minutes: Option<Option<u32>>,
}

#[utoipa::path(patch, path = "/api/v1/users/{id}/notification-rules/{rule}", tag = "paging", security(("bearer" = [])),
    request_body = UpdateRule,
    responses((status = 200, body = NotificationRule), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn update_rule(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path((id, rule)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Json<NotificationRule>> {
    let user = UserId(id);
    Caller::from(&auth).may_manage(&user)?;
    let b: UpdateRule = json_body(body).await?;
    Ok(Json(edit_rule(&s, &user, &rule, b).await?))
}

/// Changes a notification rule with the API's rules (the web UI's profile calls it too).
pub async fn edit_rule(
    s: &AppState,
    user: &UserId,
    rule: &str,
    b: UpdateRule,
) -> ApiResult<NotificationRule> {
    let current = s
        .store
        .list_notification_rules(user)
        .await?
        .into_iter()
        .find(|r| r.id == rule)
        .ok_or_else(|| ApiError::not_found("notification rule"))?;
    let delay = b.delay_minutes.unwrap_or(current.delay_minutes);
    if delay > crate::paging::RULE_DELAY_MINUTES_MAX {
        return Err(ApiError::field(
            "delay_minutes",
            format!(
                "must be from 0 to {}",
                crate::paging::RULE_DELAY_MINUTES_MAX
            ),
        ));
    }
    let urgency = match b.urgency {
        None => current.urgency,
        Some(raw) => match raw.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            None => None,
            Some(u) => Some(Urgency::parse(u).ok_or_else(|| {
                ApiError::field("urgency", format!("must be one of {}", Urgency::words()))
            })?),
        },
    };
    let repeat = b
        .repeat_every_minutes
        .unwrap_or(current.repeat_every_minutes);
    if repeat.is_some_and(|n| !(1..=60).contains(&n)) {
        return Err(ApiError::field(
            "repeat_every_minutes",
            "must be from 1 to 60",
        ));
    }
    let method = b
        .contact_method_id
        .map(|m| m.trim().to_owned())
        .unwrap_or(current.contact_method_id);
    Ok(s.store
        .update_notification_rule(
            rule,
            NewNotificationRule {
                user_id: user.clone(),
                contact_method_id: method,
                delay_minutes: delay,
                urgency,
                repeat_every_minutes: repeat,
            },
        )
        .await?)
}

#[utoipa::path(delete, path = "/api/v1/users/{id}/notification-rules/{rule}", tag = "paging", security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_rule(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path((id, rule)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let user = UserId(id);
    Caller::from(&auth).may_manage(&user)?;
    s.store.delete_notification_rule(&user, &rule).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- teams ----

#[utoipa::path(delete, path = "/api/v1/teams/{id}/members/{user}", tag = "people", security(("bearer" = [])),
    responses((status = 200, body = Team), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// Removes a person from a team (admins); answers the team as it is now.
pub async fn remove_member(
    State(s): State<Arc<AppState>>,
    _: Require<Admin>,
    Path((id, user)): Path<(String, String)>,
) -> ApiResult<Json<Team>> {
    Ok(Json(
        s.store
            .remove_team_member(&TeamId(id), &UserId(user))
            .await?,
    ))
}
