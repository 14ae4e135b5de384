//! Monitors over the REST API (`/api/v1/monitors`), and heartbeat pings (`/ping/{token}…`,
//! Healthchecks.io's protocol). A ping is stored through the ingest group commit and answered
//! `OK` only once it is durable; an unknown token answers 404 at the cost of one indexed read.

use crate::AppState;
use crate::api::ApiResult;
use crate::auth::{Admin, Auth, Require, Responder};
use crate::body::JsonBody;
use crate::error::{ApiError, ErrorBody};
use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use std::sync::Arc;
use tocsin_core::ServiceId;
use tocsin_core::monitor::{MonitorKind, PING_BODY_MAX, PingKind, Thresholds};
use tocsin_store::*;
use utoipa::{IntoParams, ToSchema};

/// The longest interval, period or grace, in seconds (a year).
const SECONDS_MAX: u32 = 365 * 24 * 3600;
/// A ping body above this is refused (413); up to it, the first `PING_BODY_MAX` bytes are kept.
const PING_REQUEST_BYTES_MAX: usize = 100_000;
/// A check's own timeout, at most.
const TIMEOUT_SECONDS_MAX: u32 = 60;

pub fn api_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/monitors", post(create).get(list))
        .route("/monitors/{id}", get(show).delete(delete).patch(update))
        .route("/monitors/{id}/results", get(results))
        .route("/monitors/{id}/uptime", get(uptime))
        .route("/monitors/{id}/pause", post(pause))
        .route("/monitors/{id}/resume", post(resume))
}

pub fn ping_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/ping/{token}", get(ping).post(ping).head(ping))
        .route(
            "/ping/{token}/{kind}",
            get(ping_kind).post(ping_kind).head(ping_kind),
        )
}

/// A monitor to create. Which fields apply depends on `type`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMonitor {
    /// http, tcp or heartbeat (dns, tls and ping are not available yet).
    #[serde(rename = "type")]
    kind: String,
    name: String,
    service_id: String,
    /// Active checks: seconds between checks (1 to a year; default 60)…
    interval_seconds: Option<u32>,
    /// …and while failing (default: a third of the interval, at least 1).
    retry_interval_seconds: Option<u32>,
    /// Consecutive failures before the incident opens (default 3) and successes before it
    /// resolves (default 2).
    failures_before_alert: Option<u32>,
    successes_before_resolve: Option<u32>,
    /// Heartbeats: a ping is expected every period (default a day), late for grace more
    /// (default an hour); a started run must finish within grace.
    period_seconds: Option<u32>,
    grace_seconds: Option<u32>,
    /// Heartbeats, instead of a period: a ping is expected at each time of this cron expression
    /// (five fields) in `time_zone` (an IANA name, default UTC).
    cron: Option<String>,
    time_zone: Option<String>,
    /// http: the URL; tcp: `host:port`.
    target: Option<String>,
    /// http: GET (default), HEAD, POST, PUT, PATCH, DELETE or OPTIONS.
    method: Option<String>,
    #[schema(value_type = Option<Object>)]
    headers: Option<serde_json::Map<String, serde_json::Value>>,
    body: Option<String>,
    /// http: accepted status codes (default: 200–399).
    expected_status: Option<Vec<u16>>,
    body_contains: Option<String>,
    body_not_contains: Option<String>,
    /// http: a JSON pointer into the response (`/status`) and the value it must equal.
    json_pointer: Option<String>,
    #[schema(value_type = Option<Object>)]
    json_equals: Option<serde_json::Value>,
    /// http: slower than this fails.
    max_response_ms: Option<u32>,
    /// http: default true.
    follow_redirects: Option<bool>,
    verify_tls: Option<bool>,
    /// Per check, 1–60 s (default 10, and never above the interval).
    timeout_seconds: Option<u32>,
    /// The severity of the monitor's alerts (default critical: high urgency).
    severity: Option<String>,
    /// tls: the name the certificate must carry (default: the target's host).
    server_name: Option<String>,
    /// tls: fail this many days before expiry as a warning (default 21)…
    warn_days: Option<u32>,
    /// …and with the monitor's severity (default 7).
    page_days: Option<u32>,
    /// tls: extra trusted root certificates (PEM), for private CAs.
    ca_pem: Option<String>,
    /// dns: A (default), AAAA, CNAME, MX, NS, TXT, SOA, SRV, CAA or PTR.
    record_type: Option<String>,
    /// dns: the resolver to ask, `ip` or `ip:port` (default: the system's).
    resolver: Option<String>,
    /// dns: the answers expected (any order); omitted, any answer is fine.
    expected: Option<Vec<String>>,
    /// dns: NOERROR (default), NXDOMAIN, SERVFAIL or REFUSED.
    expected_rcode: Option<String>,
    /// ping: echoes per check, 1–10 (default 3).
    count: Option<u32>,
    /// ping: a slower average round trip fails.
    max_rtt_ms: Option<u32>,
}

fn in_range(field: &str, v: Option<u32>, lo: u32, hi: u32) -> Result<Option<u32>, ApiError> {
    match v {
        Some(n) if !(lo..=hi).contains(&n) => {
            Err(ApiError::field(field, format!("must be from {lo} to {hi}")))
        }
        v => Ok(v),
    }
}

/// Validates the request into the store's record and the type's options.
fn validate(b: CreateMonitor) -> Result<(NewMonitor, Option<String>), ApiError> {
    let kind = MonitorKind::parse(&b.kind).ok_or_else(|| {
        ApiError::field("type", format!("must be one of {}", MonitorKind::words()))
    })?;
    let name = b.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::field("name", "must be 1 to 200 characters"));
    }
    let severity = match &b.severity {
        Some(s) => Some(tocsin_core::Severity::parse(s).ok_or_else(|| {
            ApiError::field(
                "severity",
                format!("must be one of {}", tocsin_core::Severity::words()),
            )
        })?),
        None => None,
    };
    // A certificate does not flap: one failed check is enough.
    let failures_default = if kind == MonitorKind::Tls { 1 } else { 3 };
    let th = Thresholds {
        failures_before_alert: in_range("failures_before_alert", b.failures_before_alert, 1, 100)?
            .unwrap_or(failures_default),
        successes_before_resolve: in_range(
            "successes_before_resolve",
            b.successes_before_resolve,
            1,
            100,
        )?
        .unwrap_or(2),
        ..Thresholds::default()
    };
    let mut config = serde_json::Map::new();
    if let Some(s) = severity {
        config.insert("severity".into(), s.as_str().into());
    }
    let mut token = None;
    let (interval, retry, period, grace) = if kind == MonitorKind::Heartbeat {
        for (f, set) in [
            ("target", b.target.is_some()),
            ("interval_seconds", b.interval_seconds.is_some()),
            ("method", b.method.is_some()),
        ] {
            if set {
                return Err(ApiError::field(f, "does not apply to a heartbeat"));
            }
        }
        if let Some(cron) = &b.cron {
            if b.period_seconds.is_some() {
                return Err(ApiError::field(
                    "period_seconds",
                    "cannot be used with cron",
                ));
            }
            let tz = b.time_zone.as_deref().unwrap_or("UTC");
            tocsin_core::monitor::check_cron(cron.trim(), tz)
                .map_err(|(field, why)| ApiError::field(field, why))?;
        } else if b.time_zone.is_some() {
            return Err(ApiError::field(
                "time_zone",
                "applies to cron schedules only",
            ));
        }
        let period =
            in_range("period_seconds", b.period_seconds, 1, SECONDS_MAX)?.unwrap_or(86_400);
        let grace = in_range("grace_seconds", b.grace_seconds, 1, SECONDS_MAX)?.unwrap_or(3_600);
        token = Some(crate::auth::new_link_secret());
        (None, None, Some(period), Some(grace))
    } else {
        for (f, set) in [
            ("period_seconds", b.period_seconds.is_some()),
            ("grace_seconds", b.grace_seconds.is_some()),
            ("cron", b.cron.is_some()),
            ("time_zone", b.time_zone.is_some()),
        ] {
            if set {
                return Err(ApiError::field(f, "applies to heartbeats only"));
            }
        }
        let interval_default = if kind == MonitorKind::Tls { 3600 } else { 60 };
        let interval = in_range("interval_seconds", b.interval_seconds, 1, SECONDS_MAX)?
            .unwrap_or(interval_default);
        let retry = in_range(
            "retry_interval_seconds",
            b.retry_interval_seconds,
            1,
            interval,
        )?
        .unwrap_or((interval / 3).max(1));
        let timeout = in_range("timeout_seconds", b.timeout_seconds, 1, TIMEOUT_SECONDS_MAX)?
            .unwrap_or(10)
            .min(interval.max(1));
        config.insert("timeout_seconds".into(), timeout.into());
        let target = b
            .target
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::field("target", "is required"))?;
        match kind {
            MonitorKind::Http => http_options(&b, target, &mut config)?,
            MonitorKind::Tls => tls_options(&b, target, &mut config)?,
            MonitorKind::Dns => dns_options(&b, target, &mut config)?,
            MonitorKind::Ping => {
                let host = target.trim_matches(['[', ']']);
                if host.is_empty()
                    || host.len() > 253
                    || host.contains(['/', ' ', ':']) && host.parse::<std::net::IpAddr>().is_err()
                {
                    return Err(ApiError::field(
                        "target",
                        "must be a host name or an IP address",
                    ));
                }
                config.insert("host".into(), host.into());
                if let Some(n) = in_range("count", b.count, 1, 10)? {
                    config.insert("count".into(), n.into());
                }
                if let Some(ms) = in_range("max_rtt_ms", b.max_rtt_ms, 1, 60_000)? {
                    config.insert("max_rtt_ms".into(), ms.into());
                }
            }
            _ => {
                let (host, port) = target
                    .rsplit_once(':')
                    .filter(|(h, _)| !h.is_empty())
                    .ok_or_else(|| ApiError::field("target", "must be host:port"))?;
                let port: u16 = port.parse().ok().filter(|p| *p > 0).ok_or_else(|| {
                    ApiError::field("target", "must end with a port from 1 to 65535")
                })?;
                config.insert("host".into(), host.trim_matches(['[', ']']).into());
                config.insert("port".into(), port.into());
            }
        }
        (Some(interval), Some(retry), None, None)
    };
    let m = NewMonitor {
        service_id: ServiceId(b.service_id),
        kind,
        name,
        config: serde_json::Value::Object(config),
        interval_seconds: interval,
        retry_interval_seconds: retry,
        period_seconds: period,
        grace_seconds: grace,
        thresholds: th,
        ping_token_hash: token.as_deref().map(crate::auth::hash_secret),
        cron: b.cron.as_deref().map(|c| c.trim().to_owned()),
        time_zone: b
            .cron
            .as_ref()
            .map(|_| b.time_zone.clone().unwrap_or_else(|| "UTC".into())),
        integration_key: crate::auth::new_integration_key(),
    };
    Ok((m, token))
}

fn http_options(
    b: &CreateMonitor,
    target: &str,
    config: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<(), ApiError> {
    let url = reqwest_like_url(target)
        .ok_or_else(|| ApiError::field("target", "must be an http:// or https:// URL"))?;
    config.insert("url".into(), url.into());
    let method = b.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
    if !["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"].contains(&method.as_str()) {
        return Err(ApiError::field(
            "method",
            "must be GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS",
        ));
    }
    config.insert("method".into(), method.into());
    if let Some(h) = &b.headers {
        for (k, v) in h {
            let ok = !k.is_empty()
                && k.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"-_".contains(&c))
                && v.as_str().is_some_and(|v| !v.contains(['\r', '\n']));
            if !ok {
                return Err(ApiError::field(
                    &format!("headers.{k}"),
                    "must be a header name with a one-line string value",
                ));
            }
        }
        config.insert("headers".into(), serde_json::Value::Object(h.clone()));
    }
    if let Some(body) = &b.body {
        if body.len() > 64 * 1024 {
            return Err(ApiError::field("body", "must be at most 64 KiB"));
        }
        config.insert("body".into(), body.clone().into());
    }
    if let Some(codes) = &b.expected_status {
        if codes.is_empty() || codes.iter().any(|c| !(100..=599).contains(c)) {
            return Err(ApiError::field(
                "expected_status",
                "must list status codes from 100 to 599",
            ));
        }
        config.insert("expected_status".into(), codes.clone().into());
    }
    for (f, v) in [
        ("body_contains", &b.body_contains),
        ("body_not_contains", &b.body_not_contains),
    ] {
        if let Some(v) = v {
            if v.is_empty() || v.len() > 1024 {
                return Err(ApiError::field(f, "must be 1 to 1024 bytes"));
            }
            config.insert(f.into(), v.clone().into());
        }
    }
    match (&b.json_pointer, &b.json_equals) {
        (Some(p), Some(v)) => {
            if !(p.is_empty() || p.starts_with('/')) {
                return Err(ApiError::field(
                    "json_pointer",
                    "must be a JSON pointer such as /status",
                ));
            }
            config.insert("json_pointer".into(), p.clone().into());
            config.insert("json_equals".into(), v.clone());
        }
        (None, None) => {}
        (Some(_), None) => {
            return Err(ApiError::field(
                "json_equals",
                "is required with json_pointer",
            ));
        }
        (None, Some(_)) => {
            return Err(ApiError::field(
                "json_pointer",
                "is required with json_equals",
            ));
        }
    }
    if let Some(ms) = in_range("max_response_ms", b.max_response_ms, 1, 60_000)? {
        config.insert("max_response_ms".into(), ms.into());
    }
    config.insert(
        "follow_redirects".into(),
        b.follow_redirects.unwrap_or(true).into(),
    );
    config.insert("verify_tls".into(), b.verify_tls.unwrap_or(true).into());
    Ok(())
}

fn dns_options(
    b: &CreateMonitor,
    target: &str,
    config: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<(), ApiError> {
    let labels_ok = target.len() <= 253
        && target.trim_end_matches('.').split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        });
    if !labels_ok {
        return Err(ApiError::field(
            "target",
            "must be a domain name such as api.example.com",
        ));
    }
    config.insert("query_name".into(), target.into());
    let kind = b.record_type.as_deref().unwrap_or("A").to_ascii_uppercase();
    if ![
        "A", "AAAA", "CNAME", "MX", "NS", "TXT", "SOA", "SRV", "CAA", "PTR",
    ]
    .contains(&kind.as_str())
    {
        return Err(ApiError::field(
            "record_type",
            "must be A, AAAA, CNAME, MX, NS, TXT, SOA, SRV, CAA or PTR",
        ));
    }
    config.insert("record_type".into(), kind.into());
    if let Some(r) = &b.resolver {
        let ok = r.parse::<std::net::SocketAddr>().is_ok() || r.parse::<std::net::IpAddr>().is_ok();
        if !ok {
            return Err(ApiError::field(
                "resolver",
                "must be an IP address, or IP:port",
            ));
        }
        config.insert("resolver".into(), r.clone().into());
    }
    if let Some(e) = &b.expected {
        if e.len() > 100 || e.iter().any(|a| a.is_empty() || a.len() > 1024) {
            return Err(ApiError::field("expected", "must list at most 100 answers"));
        }
        config.insert("expected".into(), e.clone().into());
    }
    let rcode = b
        .expected_rcode
        .as_deref()
        .unwrap_or("NOERROR")
        .to_ascii_uppercase();
    if !["NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED"].contains(&rcode.as_str()) {
        return Err(ApiError::field(
            "expected_rcode",
            "must be NOERROR, NXDOMAIN, SERVFAIL or REFUSED",
        ));
    }
    config.insert("expected_rcode".into(), rcode.into());
    Ok(())
}

fn tls_options(
    b: &CreateMonitor,
    target: &str,
    config: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<(), ApiError> {
    let (host, port) = match target.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !h.ends_with(':') => (h, p),
        _ => (target, "443"),
    };
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| ApiError::field("target", "must be host or host:port"))?;
    config.insert("host".into(), host.trim_matches(['[', ']']).into());
    config.insert("port".into(), port.into());
    if let Some(n) = b
        .server_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        config.insert("server_name".into(), n.into());
    }
    let page = in_range("page_days", b.page_days, 0, 365)?.unwrap_or(7);
    let warn = in_range("warn_days", b.warn_days, 0, 365)?.unwrap_or(21.max(page));
    if warn < page {
        return Err(ApiError::field("warn_days", "must be at least page_days"));
    }
    config.insert("page_days".into(), page.into());
    config.insert("warn_days".into(), warn.into());
    if let Some(pem) = &b.ca_pem {
        if pem.len() > 64 * 1024 || !pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(ApiError::field(
                "ca_pem",
                "must be PEM certificates, at most 64 KiB",
            ));
        }
        config.insert("ca_pem".into(), pem.clone().into());
    }
    Ok(())
}

/// An absolute http(s) URL with a host, or `None`.
fn reqwest_like_url(s: &str) -> Option<String> {
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty() && !s.contains(char::is_whitespace) && s.len() <= 2048).then(|| s.to_owned())
}

#[derive(serde::Serialize, ToSchema)]
pub struct CreatedMonitor {
    #[serde(flatten)]
    pub(crate) monitor: Monitor,
    /// Heartbeats: where the job pings (shown once; the token is stored hashed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ping_url: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/monitors", tag = "monitors", security(("bearer" = [])), request_body = CreateMonitor,
    responses((status = 201, body = CreatedMonitor), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create(
    State(s): State<Arc<AppState>>,
    _: Require<Admin>,
    JsonBody(b): JsonBody<CreateMonitor>,
) -> ApiResult<(StatusCode, Json<CreatedMonitor>)> {
    Ok((StatusCode::CREATED, Json(add_monitor(&s, b).await?)))
}

/// Creates a monitor: `POST /api/v1/monitors` and the web UI's form (the caller checks that
/// the person is an admin).
pub async fn add_monitor(s: &AppState, b: CreateMonitor) -> ApiResult<CreatedMonitor> {
    let (m, token) = validate(b)?;
    let monitor = s.store.create_monitor(m, s.clock.now()).await?;
    // Wake the monitor runner: the first check is due now.
    let _ = s.live.send(tocsin_engine::LiveEvent::ServiceChanged {
        id: monitor.service_id.clone(),
    });
    let ping_url = token.map(|t| format!("{}/ping/{t}", s.config.public_url));
    Ok(CreatedMonitor { monitor, ping_url })
}

#[derive(Deserialize, IntoParams)]
pub struct MonitorQuery {
    service_id: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/monitors", tag = "monitors", security(("bearer" = [])), params(MonitorQuery),
    responses((status = 200, description = "{monitors: [Monitor]}")))]
pub async fn list(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Query(q): Query<MonitorQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    auth.require(tocsin_core::Role::Viewer)?;
    let service = q.service_id.map(ServiceId);
    let list = s
        .store
        .list_monitors(service.as_ref(), s.clock.now())
        .await?;
    Ok(Json(serde_json::json!({ "monitors": list })))
}

#[utoipa::path(get, path = "/api/v1/monitors/{id}", tag = "monitors", security(("bearer" = [])),
    responses((status = 200, body = Monitor), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Monitor>> {
    auth.require(tocsin_core::Role::Viewer)?;
    Ok(Json(s.store.get_monitor(&id, s.clock.now()).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct ResultsQuery {
    /// 1–1000 (default 100).
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/monitors/{id}/results", tag = "monitors", security(("bearer" = [])), params(ResultsQuery),
    responses((status = 200, description = "{results: [{at, ok, latency_ms, message}]} newest first"), (status = 404, body = ErrorBody)))]
pub async fn results(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<ResultsQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    auth.require(tocsin_core::Role::Viewer)?;
    let limit = in_range("limit", q.limit, 1, 1000)?.unwrap_or(100);
    let results = s.store.monitor_results(&id, limit).await?;
    Ok(Json(serde_json::json!({ "results": results })))
}

#[derive(Deserialize, IntoParams)]
pub struct UptimeQuery {
    /// `hour` (default: the last 48 hours), `minute` (the last 6 hours) or `day` (the last 90
    /// days) for the series.
    span: Option<String>,
}

/// Uptime over 24 h, 7 d, 30 d and 90 d, and the hourly or daily series (checks, failures,
/// average and longest response time) behind response-time charts.
#[utoipa::path(get, path = "/api/v1/monitors/{id}/uptime", tag = "monitors", security(("bearer" = [])), params(UptimeQuery),
    responses((status = 200, description = "{uptime: {24h, 7d, 30d, 90d}, span, series: [{start, checks, failures, latency_avg_ms, latency_max_ms}]}"), (status = 404, body = ErrorBody)))]
pub async fn uptime(
    State(s): State<Arc<AppState>>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<UptimeQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    auth.require(tocsin_core::Role::Viewer)?;
    let now = s.clock.now();
    let span = match q.span.as_deref() {
        None => tocsin_store::RollupSpan::Hour,
        Some(s) => tocsin_store::RollupSpan::parse(s)
            .ok_or_else(|| ApiError::field("span", "must be minute, hour or day"))?,
    };
    let back = jiff::SignedDuration::from_hours(match span {
        tocsin_store::RollupSpan::Minute => 6,
        tocsin_store::RollupSpan::Hour => 48,
        tocsin_store::RollupSpan::Day => 90 * 24,
    });
    let uptime = s.store.monitor_uptime(&id, now).await?;
    let series = s.store.monitor_series(&id, span, now - back).await?;
    Ok(Json(serde_json::json!({
        "uptime": uptime,
        "span": span.as_str(),
        "series": series,
    })))
}

#[utoipa::path(post, path = "/api/v1/monitors/{id}/pause", tag = "monitors", security(("bearer" = [])),
    responses((status = 200, body = Monitor), (status = 404, body = ErrorBody)))]
pub async fn pause(
    State(s): State<Arc<AppState>>,
    _: Require<Responder>,
    Path(id): Path<String>,
) -> ApiResult<Json<Monitor>> {
    Ok(Json(s.store.pause_monitor(&id, true, s.clock.now()).await?))
}

#[utoipa::path(post, path = "/api/v1/monitors/{id}/resume", tag = "monitors", security(("bearer" = [])),
    responses((status = 200, body = Monitor), (status = 404, body = ErrorBody)))]
pub async fn resume(
    State(s): State<Arc<AppState>>,
    _: Require<Responder>,
    Path(id): Path<String>,
) -> ApiResult<Json<Monitor>> {
    let m = s.store.pause_monitor(&id, false, s.clock.now()).await?;
    let _ = s.live.send(tocsin_engine::LiveEvent::ServiceChanged {
        id: m.service_id.clone(),
    });
    Ok(Json(m))
}

/// Changes to a monitor: only the fields given change; its state, history and ping URL stay.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PatchMonitor {
    pub name: Option<String>,
    /// Active checks: seconds between checks, and while failing (at most the interval).
    pub interval_seconds: Option<u32>,
    pub retry_interval_seconds: Option<u32>,
    pub failures_before_alert: Option<u32>,
    pub successes_before_resolve: Option<u32>,
    /// Heartbeats on a period: the period and the grace.
    pub period_seconds: Option<u32>,
    pub grace_seconds: Option<u32>,
}

/// Changes a monitor: `PATCH /api/v1/monitors/{id}` and the web UI's edit form (the caller
/// checks that the person is an admin).
pub async fn change_monitor(s: &AppState, id: &str, b: PatchMonitor) -> ApiResult<Monitor> {
    let name = match b.name {
        Some(n) => {
            let n = n.trim().to_owned();
            if n.is_empty() || n.chars().count() > 200 {
                return Err(ApiError::field("name", "must be 1 to 200 characters"));
            }
            Some(n)
        }
        None => None,
    };
    let changes = MonitorChanges {
        name,
        interval_seconds: in_range("interval_seconds", b.interval_seconds, 1, SECONDS_MAX)?,
        retry_interval_seconds: in_range(
            "retry_interval_seconds",
            b.retry_interval_seconds,
            1,
            SECONDS_MAX,
        )?,
        failures_before_alert: in_range("failures_before_alert", b.failures_before_alert, 1, 100)?,
        successes_before_resolve: in_range(
            "successes_before_resolve",
            b.successes_before_resolve,
            1,
            100,
        )?,
        period_seconds: in_range("period_seconds", b.period_seconds, 1, SECONDS_MAX)?,
        grace_seconds: in_range("grace_seconds", b.grace_seconds, 1, SECONDS_MAX)?,
    };
    let m = s.store.update_monitor(id, changes, s.clock.now()).await?;
    // Wake the monitor runner: the next check may now be due sooner.
    let _ = s.live.send(tocsin_engine::LiveEvent::ServiceChanged {
        id: m.service_id.clone(),
    });
    Ok(m)
}

#[utoipa::path(patch, path = "/api/v1/monitors/{id}", tag = "monitors", security(("bearer" = [])), request_body = PatchMonitor,
    responses((status = 200, body = Monitor), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(s): State<Arc<AppState>>,
    _: Require<Admin>,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<PatchMonitor>,
) -> ApiResult<Json<Monitor>> {
    Ok(Json(change_monitor(&s, &id, b).await?))
}

/// Deletes a monitor with its history (its open incident resolves).
#[utoipa::path(delete, path = "/api/v1/monitors/{id}", tag = "monitors", security(("bearer" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(s): State<Arc<AppState>>,
    _: Require<Admin>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    s.store.delete_monitor(&id, s.clock.now()).await?;
    let _ = s.live.send(tocsin_engine::LiveEvent::MonitorsChecked);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct PingQuery {
    rid: Option<String>,
}

async fn ping(
    State(s): State<Arc<AppState>>,
    Path(token): Path<String>,
    Query(q): Query<PingQuery>,
    body: Body,
) -> Response {
    accept_ping(&s, &token, None, q.rid, body).await
}

async fn ping_kind(
    State(s): State<Arc<AppState>>,
    Path((token, kind)): Path<(String, String)>,
    Query(q): Query<PingQuery>,
    body: Body,
) -> Response {
    accept_ping(&s, &token, Some(&kind), q.rid, body).await
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [("content-type", "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

async fn accept_ping(
    s: &AppState,
    token: &str,
    kind: Option<&str>,
    rid: Option<String>,
    body: Body,
) -> Response {
    let Some(kind) = PingKind::parse(kind) else {
        return plain(StatusCode::NOT_FOUND, "not found");
    };
    if token.len() > 128 {
        return plain(StatusCode::NOT_FOUND, "not found");
    }
    let found = match s
        .store
        .find_heartbeat(&crate::auth::hash_secret(token))
        .await
    {
        Ok(Some(f)) => f,
        Ok(None) => return plain(StatusCode::NOT_FOUND, "not found"),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let bytes = match crate::body::read_limited(body, PING_REQUEST_BYTES_MAX).await {
        Ok(b) => b,
        Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "body too large"),
    };
    let body = (!bytes.is_empty()).then(|| {
        let cut = &bytes[..bytes.len().min(PING_BODY_MAX)];
        String::from_utf8_lossy(cut).into_owned()
    });
    let rid = rid.filter(|r| !r.is_empty() && r.len() <= 64);
    let (monitor_id, integration) = found;
    let item = IngestItem {
        integration,
        event: IngestEvent::Ping(HeartbeatPing {
            monitor_id,
            kind,
            rid,
            body,
        }),
        received_at: s.clock.now(),
    };
    match s.ingestor.submit(vec![item]).await {
        Ok(out) => {
            if let Some(id) = out.into_iter().find_map(|o| o.incident_id) {
                let _ = s
                    .live
                    .send(tocsin_engine::LiveEvent::IncidentChanged { id });
            }
            plain(StatusCode::OK, "OK")
        }
        Err(e) => crate::ingest::api_ingest_error(e).into_response(),
    }
}
