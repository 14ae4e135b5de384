//! The web UI: server-rendered pages (askama templates in `templates/`), one stylesheet and one
//! small script embedded in the binary (`assets/`), and live updates over Server-Sent Events.
//! Pages call the same `Store` use cases as the REST API and hold no domain rules of their own;
//! they sign people in with sessions (cookies), never with API tokens.

mod assets;
mod error;
mod format;
mod forms;
mod incidents;
mod live;
mod monitors;
mod people;
mod policies;
mod schedules;
mod services;
mod session;
mod settings;

pub use assets::{css_url, icon_url};
pub use error::UiError;
pub use session::{LoginLimits, Signed};
pub use settings::{DeliveryView, SmsView, SmtpView};

use crate::AppState;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};
use std::sync::Arc;

/// What the UI keeps in memory: the sign-in rate limits.
#[derive(Default)]
pub struct UiState {
    pub login_limits: LoginLimits,
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(incidents::dashboard))
        .route("/login", get(session::login_form).post(session::login))
        .route("/logout", post(session::logout))
        .route(
            "/account/password",
            get(session::password_form).post(session::change_password),
        )
        .route("/account", get(people::account))
        .route("/account/contact-methods", post(people::add_method))
        .route(
            "/account/contact-methods/{id}/send-code",
            post(people::send_code),
        )
        .route("/account/contact-methods/{id}/verify", post(people::verify))
        .route(
            "/account/contact-methods/{id}/test",
            post(people::send_test),
        )
        .route("/account/notification-rules", post(people::add_rule))
        .route("/account/feed", post(people::show_feed))
        .route("/account/feed/revoke", post(people::revoke_feed))
        .route("/people", get(people::people).post(people::add_person))
        .route("/people/{id}/role", post(people::set_role))
        .route("/teams", get(people::teams).post(people::add_team))
        .route("/teams/{id}/members", post(people::add_member))
        .route(
            "/teams/{id}/members/{user}/remove",
            post(people::remove_member),
        )
        .route("/account/profile", post(people::save_profile))
        .route(
            "/account/contact-methods/{id}/edit",
            post(people::edit_method),
        )
        .route(
            "/account/contact-methods/{id}/delete",
            post(people::delete_method),
        )
        .route(
            "/account/notification-rules/{id}/edit",
            post(people::edit_rule),
        )
        .route(
            "/account/notification-rules/{id}/delete",
            post(people::delete_rule),
        )
        .route("/people/{id}/edit", post(people::edit_person))
        .route("/people/{id}/deactivate", post(people::deactivate))
        .route("/people/{id}/reactivate", post(people::reactivate))
        .route("/settings", get(settings::page))
        .route("/settings/tokens", post(settings::create_token))
        .route("/settings/tokens/{id}/revoke", post(settings::revoke_token))
        .route("/settings/test", post(settings::send_test))
        .route("/incidents", get(incidents::list))
        .route("/incidents/{id}", get(incidents::page))
        .route("/incidents/{id}/acknowledge", post(incidents::acknowledge))
        .route("/incidents/{id}/resolve", post(incidents::resolve))
        .route("/incidents/{id}/escalate", post(incidents::escalate))
        .route("/incidents/{id}/reassign", post(incidents::reassign))
        .route("/incidents/{id}/notes", post(incidents::add_note))
        .route("/incidents/{id}/snooze", post(incidents::snooze))
        .route("/services", get(services::list).post(services::create))
        .route("/services/new", get(services::new_form))
        .route("/services/{id}", get(services::page))
        .route(
            "/services/{id}/edit",
            get(services::edit_form).post(services::update),
        )
        .route(
            "/services/{id}/integrations",
            post(services::add_integration),
        )
        .route(
            "/services/{id}/integrations/{integration}/delete",
            post(services::delete_integration),
        )
        .route(
            "/escalation-policies",
            get(policies::list).post(policies::create),
        )
        .route("/escalation-policies/new", get(policies::new_form))
        .route("/escalation-policies/{id}", get(policies::page))
        .route(
            "/escalation-policies/{id}/edit",
            get(policies::edit_form).post(policies::update),
        )
        .route("/schedules", get(schedules::list).post(schedules::create))
        .route("/schedules/new", get(schedules::new_form))
        .route("/schedules/{id}", get(schedules::page))
        .route("/schedules/{id}/overrides", post(schedules::add_override))
        .route(
            "/schedules/{id}/overrides/{override_id}/delete",
            post(schedules::delete_override),
        )
        .route(
            "/schedules/{id}/edit",
            get(schedules::edit_form).post(schedules::update),
        )
        .route("/schedules/{id}/feed", post(schedules::show_feed))
        .route("/schedules/{id}/feed/revoke", post(schedules::revoke_feed))
        .route(
            "/ui/fragments/dashboard",
            get(incidents::dashboard_fragment),
        )
        .route("/ui/fragments/incidents", get(incidents::list_fragment))
        .route(
            "/ui/fragments/incidents/{id}",
            get(incidents::page_fragment),
        )
        .route("/ui/events", get(live::events))
        .route("/assets/{name}", get(assets::serve))
        .merge(monitors::routes())
        .layer(axum::middleware::map_response(protect))
}

/// Headers every UI response carries. The policy allows nothing from another origin: no
/// request leaves for a CDN, an injected script cannot run, and no site may frame a page.
async fn protect(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Pages carry CSRF tokens and incident data: never stored by a browser or a proxy. The
    // assets set their own caching.
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// What every page's frame (`base.html`) shows.
pub struct Chrome {
    pub title: String,
    /// Which main navigation entry is current: `dashboard`, `incidents`, `services`,
    /// `policies`, `schedules`, `people`, `settings`, or empty.
    pub nav: &'static str,
    pub user: Option<ChromeUser>,
    pub css: &'static str,
    pub js: &'static str,
    pub icon: &'static str,
    /// The fragment a live page refreshes when something it shows changes.
    pub live_src: Option<String>,
    /// The incident a live page shows (`*`: any).
    pub live_incident: String,
    /// The event stream's event that refreshes a live page: `incident` or `monitors`.
    pub live_on: &'static str,
}

pub struct ChromeUser {
    pub name: String,
    pub csrf: String,
    /// Admins see the Settings entry.
    pub admin: bool,
}

impl Chrome {
    pub fn new(title: impl Into<String>, nav: &'static str, user: Option<&Signed>) -> Self {
        Self {
            title: title.into(),
            nav,
            user: user.map(|s| ChromeUser {
                name: s.user.name.clone(),
                csrf: s.csrf.clone(),
                admin: s.can(tocsin_core::Role::Admin),
            }),
            css: assets::css_url(),
            js: assets::js_url(),
            icon: assets::icon_url(),
            live_src: None,
            live_incident: "*".into(),
            live_on: "incident",
        }
    }

    pub fn live(mut self, src: String, incident: &str) -> Self {
        self.live_src = Some(src);
        self.live_incident = incident.to_owned();
        self
    }

    /// A live page that refreshes when monitors are checked (`live.rs` coalesces those).
    pub fn live_monitors(mut self, src: String) -> Self {
        self.live_src = Some(src);
        self.live_on = "monitors";
        self
    }
}

/// A query string that does not parse (a hand-edited URL).
pub fn bad_query(e: axum::extract::rejection::QueryRejection) -> UiError {
    UiError::BadRequest(format!(
        "The address's query is not understood: {}.",
        e.body_text()
    ))
}

/// Renders a template as an HTML response; a template that fails to render is an internal
/// error (askama checks them at compile time, so this is a bug, logged once here).
pub fn html(t: &impl askama::Template) -> Result<Response, UiError> {
    use axum::response::IntoResponse;
    match t.render() {
        Ok(body) => Ok(axum::response::Html(body).into_response()),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            Err(UiError::Internal)
        }
    }
}
