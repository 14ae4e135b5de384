//! Calendar feeds (iCalendar, RFC 5545) of on-call shifts, for Google Calendar, Outlook and
//! the like: one per schedule and one per user, each behind an unguessable URL that works
//! without a login (calendar apps cannot log in). Times are UTC, so no VTIMEZONE is needed.

use crate::AppState;
use crate::api::ApiResult;
use crate::auth::Auth;
use crate::error::{ApiError, ErrorBody};
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;
use tocsin_core::schedule::{self, QueryRange, Shift};
use tocsin_core::{Role, UserId};

/// Feeds show this much of the past (so that a shift in progress has its start)…
const FEED_PAST: SignedDuration = SignedDuration::from_hours(7 * 24);
/// …and this much of the future.
const FEED_FUTURE: SignedDuration = SignedDuration::from_hours(90 * 24);

pub fn api_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/schedules/{id}/feed",
            get(schedule_feed_url).delete(revoke_schedule_feed),
        )
        .route(
            "/users/{id}/feed",
            get(user_feed_url).delete(revoke_user_feed),
        )
}

pub fn public_routes() -> Router<Arc<AppState>> {
    Router::new().route("/ics/{token}", get(feed))
}

async fn url(s: &AppState, kind: &str, id: &str) -> ApiResult<Json<serde_json::Value>> {
    let fresh = crate::auth::new_link_secret();
    let token = s.store.feed_token(kind, id, &fresh, s.clock.now()).await?;
    Ok(Json(
        serde_json::json!({"ics_url": format!("{}/ics/{token}.ics", s.config.public_url)}),
    ))
}

#[utoipa::path(get, path = "/api/v1/schedules/{id}/feed", tag = "paging", security(("bearer" = [])),
    responses((status = 200, description = "{ics_url}"), (status = 404, body = ErrorBody)))]
pub async fn schedule_feed_url(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    auth.require(Role::Viewer)?;
    s.store.get_schedule(&id).await?;
    url(&s, "schedule", &id).await
}

#[utoipa::path(get, path = "/api/v1/users/{id}/feed", tag = "paging", security(("bearer" = [])),
    responses((status = 200, description = "{ics_url}"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn user_feed_url(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let user = own_or_admin(&auth, id)?;
    s.store.get_user(&user).await?;
    url(&s, "user", &user.0).await
}

fn own_or_admin(auth: &Auth, id: String) -> ApiResult<UserId> {
    let user = UserId(id);
    if !(auth.role().allows(Role::Admin) || auth.user_id() == Some(&user)) {
        return Err(ApiError::forbidden(
            "only an admin, or the user themselves, may see or revoke a personal feed",
        ));
    }
    Ok(user)
}

/// Revokes the schedule's feed URL (a leaked URL, say): it answers 404 from now on, and the
/// next GET of `/feed` makes a new one.
#[utoipa::path(delete, path = "/api/v1/schedules/{id}/feed", tag = "paging", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_schedule_feed(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    s.store.get_schedule(&id).await?;
    s.store.revoke_feed("schedule", &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes a person's feed URL; the next GET of `/feed` makes a new one.
#[utoipa::path(delete, path = "/api/v1/users/{id}/feed", tag = "paging", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_user_feed(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let user = own_or_admin(&auth, id)?;
    s.store.get_user(&user).await?;
    s.store.revoke_feed("user", &user.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Escapes TEXT values (RFC 5545 §3.3.11).
fn text(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace('\n', "\\n")
        .replace('\r', "")
}

fn stamp(t: Timestamp) -> String {
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// Folds a content line at 75 octets (RFC 5545 §3.1), on character boundaries.
fn fold(line: &str, out: &mut String) {
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}

pub fn calendar(name: &str, events: &[(String, Shift, String)], now: Timestamp) -> String {
    let mut out = String::new();
    for l in [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Tocsin//On call//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
    ] {
        fold(l, &mut out);
    }
    fold(&format!("X-WR-CALNAME:{}", text(name)), &mut out);
    for (uid, shift, summary) in events {
        fold("BEGIN:VEVENT", &mut out);
        fold(&format!("UID:{uid}"), &mut out);
        fold(&format!("DTSTAMP:{}", stamp(now)), &mut out);
        fold(&format!("DTSTART:{}", stamp(shift.start)), &mut out);
        fold(&format!("DTEND:{}", stamp(shift.end)), &mut out);
        fold(&format!("SUMMARY:{}", text(summary)), &mut out);
        fold("TRANSP:TRANSPARENT", &mut out);
        fold("END:VEVENT", &mut out);
    }
    fold("END:VCALENDAR", &mut out);
    out
}

async fn feed(
    State(s): State<Arc<AppState>>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let token = token.strip_suffix(".ics").unwrap_or(&token);
    let Some((kind, id)) = s.store.find_feed(token).await? else {
        return Err(ApiError::not_found("calendar feed"));
    };
    let now = s.clock.now();
    let range = QueryRange::new(now - FEED_PAST, now + FEED_FUTURE)
        .map_err(|e| ApiError::internal("feed range", e))?;
    let mut events = Vec::new();
    let name;
    if kind == "schedule" {
        let record = s.store.get_schedule(&id).await?;
        let parsed = record
            .parse()
            .map_err(|e| ApiError::internal("stored schedule", e))?;
        name = format!("On call: {}", record.spec.name);
        for shift in schedule::final_shifts(&parsed, range) {
            let who = s
                .store
                .get_user(&shift.user)
                .await
                .map(|u| u.name)
                .unwrap_or_else(|_| shift.user.0.clone());
            let uid = format!("{}-{}-{}@tocsin", id, shift.user, shift.start.as_second());
            events.push((uid, shift, format!("{who} on call ({})", record.spec.name)));
        }
    } else {
        let user = s.store.get_user(&UserId(id.clone())).await?;
        name = format!("{} on call", user.name);
        for record in s.store.list_schedules().await? {
            let Ok(parsed) = record.parse() else { continue };
            for shift in schedule::final_shifts(&parsed, range)
                .into_iter()
                .filter(|sh| sh.user == user.id)
            {
                let uid = format!(
                    "{}-{}-{}@tocsin",
                    record.id,
                    shift.user,
                    shift.start.as_second()
                );
                events.push((uid, shift, format!("On call: {}", record.spec.name)));
            }
        }
        events.sort_by_key(|(_, sh, _)| sh.start);
    }
    let body = calendar(&name, &events, now);
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendars_fold_escape_and_use_crlf() {
        let t: Timestamp = "2026-11-25T08:00:00Z".parse().unwrap();
        let shift = Shift {
            user: UserId("u".into()),
            start: t,
            end: t + SignedDuration::from_hours(24),
        };
        let ics = calendar("Ops, EU", &[("a@tocsin".into(), shift, "x".repeat(100))], t);
        assert!(ics.starts_with("BEGIN:VCALENDAR\r\n"));
        assert!(ics.contains("X-WR-CALNAME:Ops\\, EU\r\n"));
        assert!(ics.contains("DTSTART:20261125T080000Z\r\nDTEND:20261126T080000Z\r\n"));
        assert!(ics.lines().all(|l| l.len() <= 75), "folded");
        assert!(
            ics.contains("\r\n x"),
            "continuation lines start with a space"
        );
        assert!(ics.ends_with("END:VCALENDAR\r\n"));
    }
}
