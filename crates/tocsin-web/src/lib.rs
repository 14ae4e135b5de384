//! Tocsin's HTTP surface: ingestion endpoints (PagerDuty Events v2, Alertmanager, generic),
//! the REST API under `/api/v1` with its OpenAPI document, the first-admin setup page, the
//! operations endpoints, and the web UI (`ui/`). Handlers parse at the edge, ask the store or
//! the ingestor, and render; they hold no domain rules of their own.

pub mod ack;
pub mod api;
pub mod auth;
pub mod body;
pub mod buttons;
pub mod error;
pub mod feeds;
pub mod hooks;
pub mod ingest;
pub mod monitors;
pub mod openapi;
pub mod ops;
pub mod paging;
pub mod people_api;
pub mod schedules;
pub mod setup;
pub mod status;
pub mod status_api;
pub mod ui;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tocsin_core::rate::RateLimit;
use tocsin_engine::{Clock, Ingestor, LiveEvent};
use tocsin_store::Store;
use tokio::sync::broadcast;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// How long one REST API request may take before it is answered 503. Ingestion is not under
/// this timeout: an event that is committing must be answered with its real outcome, or a
/// sender would retry an event that was stored.
const API_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings of the HTTP layer.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// The URL users and senders reach this server at, without a trailing slash.
    pub public_url: String,
    /// Ingestion limit of integrations that set none.
    pub default_rate_limit: RateLimit,
    /// Verifies acknowledge links (the dispatcher signs them with the same secret).
    pub links: tocsin_engine::links::LinkSigner,
    /// The SMS/voice provider's callbacks; `None` when no provider is configured.
    pub provider_hooks: Option<hooks::ProviderHooks>,
    /// The Slack app's signing secret: its interactivity requests (Acknowledge buttons) are
    /// refused without it.
    pub slack_signing_secret: Option<tocsin_notify::Secret>,
    /// The secret token Telegram sends with every webhook update
    /// (`X-Telegram-Bot-Api-Secret-Token`); updates are refused without it.
    pub telegram_webhook_secret: Option<tocsin_notify::Secret>,
    /// The delivery configuration the notifier was built with, without its secrets (settings).
    pub delivery: ui::DeliveryView,
}

/// Everything a handler may use. Built once by the binary (or the test harness).
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub ingestor: Ingestor,
    pub clock: Arc<dyn Clock>,
    pub live: broadcast::Sender<LiveEvent>,
    pub config: WebConfig,
    /// Sends what is not a page: test notifications and verification codes.
    pub channel: Arc<dyn tocsin_notify::Channel>,
    pub integrations: ingest::IntegrationCache,
    /// Admission of ingestion requests before their bodies are read.
    pub gate: ingest::Gate,
    /// Set when shutdown begins: `/readyz` turns 503 so load balancers stop sending.
    pub shutting_down: AtomicBool,
    /// The web UI's in-memory state (sign-in rate limits).
    pub ui: ui::UiState,
    /// The public status page's cache and subscription rate limits.
    pub status: status::StatusState,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        ingestor: Ingestor,
        clock: Arc<dyn Clock>,
        live: broadcast::Sender<LiveEvent>,
        config: WebConfig,
        channel: Arc<dyn tocsin_notify::Channel>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            ingestor,
            clock,
            live,
            config,
            channel,
            integrations: ingest::IntegrationCache::default(),
            gate: ingest::Gate::default(),
            shutting_down: AtomicBool::new(false),
            ui: ui::UiState::default(),
            status: status::StatusState::default(),
        })
    }
}

/// The whole HTTP application.
pub fn router(state: Arc<AppState>) -> Router {
    ops::install_metrics();
    Router::new()
        .merge(ingest::routes())
        .nest(
            "/api/v1",
            api::routes().layer(TimeoutLayer::with_status_code(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                API_REQUEST_TIMEOUT,
            )),
        )
        .merge(setup::routes())
        .merge(ack::routes())
        .merge(feeds::public_routes())
        .merge(hooks::routes())
        .merge(buttons::routes())
        .merge(monitors::ping_routes())
        .merge(ops::routes())
        .merge(ui::routes())
        .merge(status::routes())
        .layer(CatchPanicLayer::custom(|_| {
            error::ApiError::internal("a request handler panicked", "panic").into_response_owned()
        }))
        // Spans carry the route pattern, never the raw path: paths can hold integration keys
        // and setup secrets, which must not reach logs.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", MatchedPath::as_str);
            tracing::info_span!("http", method = %req.method(), route)
        }))
        .with_state(state)
}

/// Only `/healthz`, `/readyz` and `/metrics`: all that a node running the engine alone
/// (`tocsin serve --role engine`) serves.
pub fn ops_router(state: Arc<AppState>) -> Router {
    ops::install_metrics();
    Router::new().merge(ops::routes()).with_state(state)
}

impl error::ApiError {
    fn into_response_owned(self) -> axum::response::Response {
        axum::response::IntoResponse::into_response(self)
    }
}
