//! The ingestion endpoints. Each parses its wire format into core events, authorises the
//! integration key, applies the key's rate limit, and answers only after the ingestor has
//! durably committed the events. PagerDuty's endpoints speak PagerDuty's error shape and 429;
//! the Alertmanager endpoint never answers 429 (Alertmanager drops 4xx for good): it sheds load
//! with 503 + Retry-After.

use crate::AppState;
use crate::body::read_limited;
use crate::error::{ApiError, PdError};
use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use jiff::Timestamp;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use tocsin_core::formats::{alertmanager, events_v2, generic};
use tocsin_core::limits::INGEST_BODY_BYTES_MAX;
use tocsin_core::rate::TokenBucket;
use tocsin_core::{AlertEvent, IntegrationId, IntegrationType};
use tocsin_engine::IngestError;
use tocsin_store::{IngestEvent, IngestItem, IngestOutcome, Integration};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Ingestion requests being read, parsed or committed at once. With bodies up to 512 KiB this
/// bounds the memory a flood can take (about 128 MiB); beyond it senders get 503 + Retry-After.
pub const INGEST_REQUESTS_IN_FLIGHT_MAX: usize = 256;

/// Admission before a body is read: a slot among the requests in flight, and room in the
/// ingest queue. Refusing here costs nothing; refusing after reading 512 KiB costs memory.
pub struct Gate {
    slots: Arc<Semaphore>,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            slots: Arc::new(Semaphore::new(INGEST_REQUESTS_IN_FLIGHT_MAX)),
        }
    }
}

fn admit(s: &AppState) -> Option<OwnedSemaphorePermit> {
    if !s.ingestor.has_room() {
        return None;
    }
    s.gate.slots.clone().try_acquire_owned().ok()
}

/// Integrations by key, and their rate buckets, kept in memory: every event needs both and
/// they change rarely. A miss falls through to the store.
#[derive(Default)]
pub struct IntegrationCache {
    by_key: RwLock<HashMap<String, Integration>>,
    buckets: Mutex<HashMap<IntegrationId, TokenBucket>>,
}

impl IntegrationCache {
    pub fn forget(&self, key: &str) {
        if let Ok(mut m) = self.by_key.write()
            && let Some(i) = m.remove(key)
            && let Ok(mut b) = self.buckets.lock()
        {
            b.remove(&i.id);
        }
    }
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v2/enqueue", post(enqueue))
        .route("/v2/change/enqueue", post(change_enqueue))
        .route(
            "/api/v1/integrations/alertmanager/{key}",
            post(alertmanager_webhook),
        )
        .route("/api/v1/integrations/generic/{key}", post(generic_webhook))
}

enum KeyError {
    Unknown,
    WrongType(IntegrationType),
    Store(tocsin_store::StoreError),
}

async fn integration(
    s: &AppState,
    key: &str,
    want: IntegrationType,
) -> Result<Integration, KeyError> {
    let cached = s
        .integrations
        .by_key
        .read()
        .ok()
        .and_then(|m| m.get(key).cloned());
    let integ = match cached {
        Some(i) => i,
        None => {
            let found = s
                .store
                .find_integration_by_key(key)
                .await
                .map_err(KeyError::Store)?;
            let i = found.ok_or(KeyError::Unknown)?;
            if let Ok(mut m) = s.integrations.by_key.write() {
                m.insert(key.to_owned(), i.clone());
            }
            i
        }
    };
    if integ.kind != want {
        return Err(KeyError::WrongType(integ.kind));
    }
    Ok(integ)
}

/// Takes `n` events from the integration's budget, or says in how many seconds to retry.
fn take_budget(s: &AppState, integ: &Integration, n: u32, now: Timestamp) -> Result<(), u64> {
    let limit = integ.rate_limit.unwrap_or(s.config.default_rate_limit);
    if limit.is_unlimited() {
        return Ok(());
    }
    let Ok(mut buckets) = s.integrations.buckets.lock() else {
        return Ok(());
    };
    let bucket = buckets
        .entry(integ.id.clone())
        .or_insert_with(|| TokenBucket::new(limit, now));
    bucket
        .take(n, now)
        // Whole seconds, rounded up: retrying earlier would only be refused again.
        .map_err(|wait| {
            u64::try_from((wait.as_millis() + 999).div_euclid(1000))
                .unwrap_or(1)
                .max(1)
        })
}

fn items(integ: &Integration, events: Vec<IngestEvent>, now: Timestamp) -> Vec<IngestItem> {
    events
        .into_iter()
        .map(|event| IngestItem {
            integration: integ.clone(),
            event,
            received_at: now,
        })
        .collect()
}

fn server_dedup_key() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Metric label of change events, counted apart from alert events.
const CHANGE_LABEL: &str = "change";

fn record(label: &'static str, started: Instant, accepted: usize) {
    metrics::counter!("tocsin_events_accepted_total", "integration_type" => label)
        .increment(accepted as u64);
    metrics::histogram!("tocsin_ingest_latency_seconds", "integration_type" => label)
        .record(started.elapsed().as_secs_f64());
}

fn rejected(label: &'static str, reason: &'static str) {
    metrics::counter!("tocsin_events_rejected_total", "integration_type" => label, "reason" => reason)
        .increment(1);
}

/// Seconds a sender should wait when the server is saturated.
const OVERLOAD_RETRY_AFTER_SECS: u64 = 1;

async fn submit(s: &AppState, items: Vec<IngestItem>) -> Result<Vec<IngestOutcome>, IngestError> {
    s.ingestor.submit(items).await
}

/// An authorised PagerDuty request, ready to commit.
struct PdAccepted<T> {
    _slot: OwnedSemaphorePermit,
    request: T,
    integration: Integration,
    now: Timestamp,
}

/// What both PagerDuty endpoints do before committing: admission, the bounded body, parsing,
/// the routing key, and its rate budget. Each refusal is counted under `label` and answered in
/// PagerDuty's shape.
async fn pd_accept<T>(
    s: &AppState,
    label: &'static str,
    body: Body,
    parse: fn(&[u8]) -> Result<T, tocsin_core::formats::ParseError>,
    routing_key: fn(&T) -> &str,
) -> Result<PdAccepted<T>, Response> {
    let refuse = |reason: &'static str, e: PdError| {
        rejected(label, reason);
        e.into_response()
    };
    let Some(slot) = admit(s) else {
        return Err(refuse(
            "unavailable",
            PdError::unavailable("Tocsin is busy; retry shortly", OVERLOAD_RETRY_AFTER_SECS),
        ));
    };
    let bytes = read_limited(body, INGEST_BODY_BYTES_MAX)
        .await
        .map_err(|e| refuse("body", PdError::from_body(e)))?;
    let request = parse(&bytes).map_err(|e| refuse("invalid", PdError::from_parse(e)))?;
    let integration = integration(s, routing_key(&request), IntegrationType::EventsV2)
        .await
        .map_err(|e| refuse("routing_key", pd_key_error(e)))?;
    let now = s.clock.now();
    take_budget(s, &integration, 1, now)
        .map_err(|secs| refuse("rate_limited", PdError::rate_limited(secs)))?;
    Ok(PdAccepted {
        _slot: slot,
        request,
        integration,
        now,
    })
}

/// `POST /v2/enqueue`: PagerDuty Events API v2.
pub async fn enqueue(State(s): State<Arc<AppState>>, body: Body) -> Response {
    let label = IntegrationType::EventsV2.as_str();
    let started = Instant::now();
    let a = match pd_accept(&s, label, body, events_v2::parse_alert, |r| &r.routing_key).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let dedup_key = a.request.dedup_key.unwrap_or_else(server_dedup_key);
    let event = AlertEvent {
        dedup_key: dedup_key.clone(),
        action: a.request.action,
        group_key: None,
    };
    match submit(
        &s,
        items(&a.integration, vec![IngestEvent::Alert(event)], a.now),
    )
    .await
    {
        Ok(_) => {
            record(label, started, 1);
            (
                StatusCode::ACCEPTED,
                Json(serde_json::json!({
                    "status": "success",
                    "message": "Event processed",
                    "dedup_key": dedup_key,
                })),
            )
                .into_response()
        }
        Err(e) => {
            rejected(label, "unavailable");
            pd_ingest_error(e).into_response()
        }
    }
}

/// `POST /v2/change/enqueue`: PagerDuty change events, recorded on the service.
pub async fn change_enqueue(State(s): State<Arc<AppState>>, body: Body) -> Response {
    let started = Instant::now();
    let a = match pd_accept(&s, CHANGE_LABEL, body, events_v2::parse_change, |r| {
        &r.routing_key
    })
    .await
    {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    match submit(
        &s,
        items(
            &a.integration,
            vec![IngestEvent::Change(a.request.event)],
            a.now,
        ),
    )
    .await
    {
        Ok(_) => {
            record(CHANGE_LABEL, started, 1);
            (
                StatusCode::ACCEPTED,
                Json(serde_json::json!({"status": "success", "message": "Change event processed"})),
            )
                .into_response()
        }
        Err(e) => {
            rejected(CHANGE_LABEL, "unavailable");
            pd_ingest_error(e).into_response()
        }
    }
}

fn pd_key_error(e: KeyError) -> PdError {
    match e {
        KeyError::Unknown => PdError::invalid(vec!["Invalid routing key".into()]),
        KeyError::WrongType(t) => PdError::invalid(vec![format!(
            "this routing key belongs to an integration of type {t}; create an events_v2 integration for /v2/enqueue"
        )]),
        KeyError::Store(e) => {
            tracing::error!(error = %e, "integration lookup failed");
            PdError::internal()
        }
    }
}

fn pd_ingest_error(e: IngestError) -> PdError {
    match e {
        IngestError::Overloaded => {
            PdError::unavailable("Tocsin is busy; retry shortly", OVERLOAD_RETRY_AFTER_SECS)
        }
        IngestError::ShuttingDown => PdError::unavailable(
            "Tocsin is restarting; retry shortly",
            OVERLOAD_RETRY_AFTER_SECS,
        ),
        IngestError::Failed(m) => {
            tracing::error!(error = %m, "storing an event failed");
            PdError::internal()
        }
    }
}

fn api_key_error(e: KeyError) -> ApiError {
    match e {
        KeyError::Unknown => ApiError::not_found("integration key"),
        KeyError::WrongType(t) => ApiError::field(
            "key",
            format!("belongs to an integration of type {t}, not this endpoint's type"),
        ),
        KeyError::Store(e) => ApiError::from(e),
    }
}

pub(crate) fn api_ingest_error(e: IngestError) -> ApiError {
    match e {
        IngestError::Overloaded => {
            ApiError::unavailable("Tocsin is busy; retry shortly", OVERLOAD_RETRY_AFTER_SECS)
        }
        IngestError::ShuttingDown => ApiError::unavailable(
            "Tocsin is restarting; retry shortly",
            OVERLOAD_RETRY_AFTER_SECS,
        ),
        IngestError::Failed(m) => ApiError::internal("storing events failed", m),
    }
}

/// What both of Tocsin's own webhook endpoints do before their rate budget: the key (from the
/// path), admission, the bounded body and parsing; each refusal counted and answered in the
/// API's error shape.
async fn api_accept<T>(
    s: &AppState,
    kind: IntegrationType,
    key: &str,
    body: Body,
    parse: fn(&[u8]) -> Result<T, tocsin_core::formats::ParseError>,
) -> Result<(OwnedSemaphorePermit, Integration, T), ApiError> {
    let refuse = |reason: &'static str, e: ApiError| {
        rejected(kind.as_str(), reason);
        e
    };
    let integ = integration(s, key, kind)
        .await
        .map_err(|e| refuse("routing_key", api_key_error(e)))?;
    let slot = admit(s).ok_or_else(|| {
        refuse(
            "unavailable",
            ApiError::unavailable("Tocsin is busy; retry shortly", OVERLOAD_RETRY_AFTER_SECS),
        )
    })?;
    let bytes = read_limited(body, INGEST_BODY_BYTES_MAX)
        .await
        .map_err(|e| refuse("body", ApiError::from(e)))?;
    let parsed = parse(&bytes).map_err(|e| refuse("invalid", ApiError::from_parse(e)))?;
    Ok((slot, integ, parsed))
}

/// `POST /api/v1/integrations/alertmanager/{key}`: Alertmanager's webhook (payload version 4),
/// and Grafana's webhook contact point, which sends the same shape.
pub async fn alertmanager_webhook(
    State(s): State<Arc<AppState>>,
    Path(key): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let kind = IntegrationType::Alertmanager;
    let started = Instant::now();
    let (_slot, integ, n) = api_accept(&s, kind, &key, body, alertmanager::parse).await?;
    let now = s.clock.now();
    let count = u32::try_from(n.alerts.len()).unwrap_or(u32::MAX);
    if let Err(secs) = take_budget(&s, &integ, count.max(1), now) {
        rejected(kind.as_str(), "rate_limited");
        // Never 429 here: Alertmanager would drop the notification for good.
        return Err(ApiError::unavailable(
            "too many events for this integration key; retry",
            secs,
        ));
    }
    if n.truncated_alerts > 0 {
        tracing::warn!(
            truncated = n.truncated_alerts,
            "Alertmanager truncated a notification (max_alerts)"
        );
    }
    let accepted = n.alerts.len();
    let events = n.alerts.into_iter().map(IngestEvent::Alert).collect();
    submit(&s, items(&integ, events, now)).await.map_err(|e| {
        rejected(kind.as_str(), "unavailable");
        api_ingest_error(e)
    })?;
    record(kind.as_str(), started, accepted);
    Ok((
        StatusCode::OK,
        Json(serde_json::json!({"status": "success", "alerts": accepted})),
    )
        .into_response())
}

/// `POST /api/v1/integrations/generic/{key}`: the generic JSON webhook.
pub async fn generic_webhook(
    State(s): State<Arc<AppState>>,
    Path(key): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let kind = IntegrationType::Generic;
    let started = Instant::now();
    let (_slot, integ, ev) = api_accept(&s, kind, &key, body, generic::parse).await?;
    let now = s.clock.now();
    if let Err(secs) = take_budget(&s, &integ, 1, now) {
        rejected(kind.as_str(), "rate_limited");
        return Err(ApiError::rate_limited(secs));
    }
    let dedup_key = ev.dedup_key.unwrap_or_else(server_dedup_key);
    let event = AlertEvent {
        dedup_key: dedup_key.clone(),
        action: ev.action,
        group_key: None,
    };
    submit(&s, items(&integ, vec![IngestEvent::Alert(event)], now))
        .await
        .map_err(|e| {
            rejected(kind.as_str(), "unavailable");
            api_ingest_error(e)
        })?;
    record(kind.as_str(), started, 1);
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({"status": "success", "dedup_key": dedup_key})),
    )
        .into_response())
}
