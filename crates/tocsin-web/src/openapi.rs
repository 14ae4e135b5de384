//! The OpenAPI 3 document of `/api/v1`, generated from the handlers' annotations.

use crate::error::ErrorBody;
use crate::{api, feeds, monitors, paging, people_api, schedules, status_api};
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Tocsin API", description = "Alerting, on-call and incident response. Authenticate with `Authorization: Bearer <token>`."),
    paths(
        api::list_services, api::create_service, api::get_service, api::update_service,
        api::list_integrations, api::create_integration, api::delete_integration, api::list_changes,
        api::list_incidents, api::get_incident, api::acknowledge, api::resolve, api::escalate, api::reassign, api::add_note, api::snooze,
        api::timeline, api::alerts,
        api::list_users, api::create_user, api::get_user,
        api::list_teams, api::create_team, api::get_team, api::add_member,
        api::list_tokens, api::create_token, api::revoke_token,
        paging::create_policy, paging::list_policies, paging::get_policy, paging::update_policy,
        paging::create_contact_method, paging::list_contact_methods, paging::create_rule, paging::list_rules, paging::list_notifications, paging::page_path, paging::send_code, paging::verify, paging::send_test,
        people_api::update_user, people_api::update_contact_method, people_api::delete_contact_method,
        people_api::update_rule, people_api::delete_rule, people_api::remove_member,
        schedules::create, schedules::list, schedules::get_one, schedules::update, schedules::add_override, schedules::delete_override,
        schedules::oncall, schedules::shifts, schedules::gaps,
        feeds::schedule_feed_url, feeds::user_feed_url, feeds::revoke_schedule_feed, feeds::revoke_user_feed,
        monitors::create, monitors::list, monitors::show, monitors::results, monitors::uptime, monitors::pause, monitors::resume, monitors::delete, monitors::update,
        status_api::get_settings, status_api::put_settings, status_api::create_component, status_api::list_components, status_api::delete_component,
        status_api::create_incident, status_api::add_update, status_api::list_incidents, status_api::get_incident,
        status_api::create_window, status_api::list_windows, status_api::delete_window,
        status_api::create_subscriber, status_api::list_subscribers, status_api::delete_subscriber,
        alertmanager_webhook, generic_webhook,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Bearer),
    tags(
        (name = "incidents", description = "What humans handle"),
        (name = "services", description = "What is monitored, and the integrations that feed it"),
        (name = "people", description = "Users, teams and API tokens"),
        (name = "paging", description = "Escalation policies, contact methods and notification rules"),
        (name = "monitors", description = "Built-in checks and heartbeats that raise their own incidents"),
        (name = "status page", description = "The public status page, its subscribers, and maintenance windows (which hold paging back)"),
        (name = "ingestion", description = "Inbound alerts, authorised by the integration key in the path"),
    )
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Alertmanager's webhook (payload version 4; Grafana's webhook contact point too). Answers 503 + Retry-After, never 429, when it
/// must shed load: Alertmanager drops any 4xx for good.
#[utoipa::path(post, path = "/api/v1/integrations/alertmanager/{key}", tag = "ingestion",
    request_body(content = Object, description = "Alertmanager webhook payload (version 4) or Grafana webhook payload"),
    responses((status = 200, description = "Stored"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[allow(dead_code)]
fn alertmanager_webhook() {}

/// The generic JSON webhook: `{summary, severity?, dedup_key?, action?, source?, details?}`.
#[utoipa::path(post, path = "/api/v1/integrations/generic/{key}", tag = "ingestion",
    request_body(content = Object, description = "Generic event"),
    responses((status = 202, description = "Stored"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
#[allow(dead_code)]
fn generic_webhook() {}

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
