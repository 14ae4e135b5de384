//! The monitors pages: the list (state, last result, uptime over 24 h / 7 d / 30 d / 90 d), one
//! monitor with server-rendered SVG response-time charts (24 h and 7 d, from the hourly
//! roll-ups), its recent results or heartbeat pings, pause and resume (responders), and a form
//! to create one (admins). Creation goes through the REST API's own `add_monitor`, so the rules
//! and messages are the API's. No script is needed anywhere here; with it, the list and a
//! monitor's page are live: on the event stream's `monitors` event (at most one a second, see
//! `live.rs`) the script fetches their fragment (`/ui/fragments/monitors[/{id}]`).

use super::format::{ago, iso, when, zone};
use super::forms::{Errors, Posted};
use super::{Chrome, Signed, UiError, html};
use crate::AppState;
use askama::Template;
use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use std::fmt::Write as _;
use std::sync::Arc;
use tocsin_core::Role;
use tocsin_core::monitor::MonitorKind;
use tocsin_store::{Monitor, RollupPoint};

/// Monitors listed on one page at most (each costs its uptime and last result).
const MONITORS_LISTED_MAX: usize = 500;
/// Recent results (or pings) shown on a monitor's page.
const RESULTS_SHOWN_MAX: u32 = 50;
/// Characters of a ping's log shown on the page (the rest is in the API).
const LOG_SHOWN_MAX: usize = 2_000;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/monitors", get(list).post(create))
        .route("/monitors/new", get(new_form))
        .route("/monitors/{id}", get(page))
        .route("/monitors/{id}/edit", get(edit_form).post(edit))
        .route("/monitors/{id}/pause", post(pause))
        .route("/monitors/{id}/resume", post(resume))
        .route("/ui/fragments/monitors", get(list_fragment))
        .route("/ui/fragments/monitors/{id}", get(page_fragment))
}

/// A monitor's state as a word and the badge class that colours it.
fn state(m: &Monitor) -> (&'static str, &'static str) {
    match m.status.as_str() {
        "up" => ("up", "st-resolved"),
        "down" => ("down", "st-triggered"),
        "late" => ("late", "st-acknowledged"),
        "paused" => ("paused", "plain"),
        _ => ("new", "plain"),
    }
}

fn percent(p: Option<f64>) -> String {
    p.map_or_else(|| "–".into(), |p| format!("{p:.2}%"))
}

/// What a monitor checks, in a few words (its URL, host, name; a heartbeat's schedule).
fn target(m: &Monitor) -> String {
    let c = &m.config;
    match m.kind {
        MonitorKind::Http => c["url"].as_str().unwrap_or_default().to_owned(),
        MonitorKind::Tcp | MonitorKind::Tls => format!(
            "{}:{}",
            c["host"].as_str().unwrap_or_default(),
            c["port"].as_u64().unwrap_or_default()
        ),
        MonitorKind::Ping => c["host"].as_str().unwrap_or_default().to_owned(),
        MonitorKind::Dns => format!(
            "{} {}",
            c["query_name"].as_str().unwrap_or_default(),
            c["record_type"].as_str().unwrap_or("A")
        ),
        MonitorKind::Heartbeat => match (&m.cron, m.period_seconds) {
            (Some(cron), _) => format!("cron {cron} ({})", m.time_zone.as_deref().unwrap_or("UTC")),
            (None, Some(p)) => format!("every {}", seconds(p)),
            _ => String::new(),
        },
    }
}

/// `30 s`, `5 min`, `2 h`, `1 d 6 h`.
fn seconds(s: u32) -> String {
    match s {
        0..60 => format!("{s} s"),
        60..3600 if s.is_multiple_of(60) => format!("{} min", s / 60),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        3600..86_400 if s.is_multiple_of(3600) => format!("{} h", s / 3600),
        3600..86_400 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ if s.is_multiple_of(86_400) => format!("{} d", s / 86_400),
        _ => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

struct MonitorRow {
    id: String,
    name: String,
    kind: String,
    target: String,
    state: &'static str,
    state_class: &'static str,
    last: String,
    last_ok: Option<bool>,
    uptime: [String; 4],
}

/// The list's live part (`_monitor_list.html`).
struct MonitorList {
    monitors: Vec<MonitorRow>,
    more: usize,
    can_admin: bool,
}

#[derive(Template)]
#[template(path = "monitors.html")]
struct MonitorsPage {
    chrome: Chrome,
    list: MonitorList,
}

#[derive(Template)]
#[template(path = "_monitor_list.html")]
struct MonitorListFragment {
    list: MonitorList,
}

pub async fn list(State(s): State<Arc<AppState>>, me: Signed) -> Result<Response, UiError> {
    html(&MonitorsPage {
        chrome: Chrome::new("Monitors", "monitors", Some(&me))
            .live_monitors("/ui/fragments/monitors".into()),
        list: monitor_list(&s, &me).await?,
    })
}

pub async fn list_fragment(
    State(s): State<Arc<AppState>>,
    me: Signed,
) -> Result<Response, UiError> {
    html(&MonitorListFragment {
        list: monitor_list(&s, &me).await?,
    })
}

async fn monitor_list(s: &AppState, me: &Signed) -> Result<MonitorList, UiError> {
    let now = s.clock.now();
    let tz = zone(&me.user.time_zone);
    let all = s.store.list_monitors(None, now).await?;
    let more = all.len().saturating_sub(MONITORS_LISTED_MAX);
    let mut monitors = Vec::new();
    for m in all.into_iter().take(MONITORS_LISTED_MAX) {
        let up = s.store.monitor_uptime(&m.id, now).await?;
        let last = s.store.monitor_results(&m.id, 1).await?.into_iter().next();
        let (st, class) = state(&m);
        monitors.push(MonitorRow {
            target: target(&m),
            state: st,
            state_class: class,
            last: last.as_ref().map_or_else(
                || "none yet".into(),
                |r| format!("{}, {}", r.message, when(r.at, &tz, now)),
            ),
            last_ok: last.map(|r| r.ok),
            uptime: [
                percent(up.last_24h),
                percent(up.last_7d),
                percent(up.last_30d),
                percent(up.last_90d),
            ],
            id: m.id,
            name: m.name,
            kind: m.kind.as_str().to_owned(),
        });
    }
    Ok(MonitorList {
        monitors,
        more,
        can_admin: me.can(Role::Admin),
    })
}

struct ResultRow {
    at: String,
    at_iso: String,
    ok: bool,
    latency: String,
    message: String,
    log: Option<String>,
}

#[derive(Template)]
#[template(path = "monitor.html")]
struct MonitorPage {
    chrome: Chrome,
    notice: Option<&'static str>,
    /// A new heartbeat's ping URL, shown once.
    ping_url: Option<String>,
    m: MonitorView,
}

/// A monitor's live parts (`_monitor_live.html`: state, actions, facts, uptime, charts,
/// results), swapped in by id.
#[derive(Template)]
#[template(path = "_monitor_live.html")]
struct MonitorFragment {
    m: MonitorView,
}

struct MonitorView {
    csrf: String,
    id: String,
    name: String,
    kind: String,
    heartbeat: bool,
    target: String,
    state: &'static str,
    state_class: &'static str,
    paused: bool,
    service_id: String,
    service: String,
    facts: Vec<(&'static str, String)>,
    uptime: [String; 4],
    chart_day: String,
    chart_week: String,
    results: Vec<ResultRow>,
    can_pause: bool,
    can_admin: bool,
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

pub async fn page(
    State(s): State<Arc<AppState>>,
    me: Signed,
    Path(id): Path<String>,
    q: Result<Query<DoneQuery>, QueryRejection>,
) -> Result<Response, UiError> {
    let notice = match q.ok().and_then(|Query(q)| q.done).as_deref() {
        Some("created") => Some("Monitor created: its first check runs within one interval."),
        Some("paused") => Some("Paused: no checks (or missed pings) count until resumed."),
        Some("resumed") => Some("Resumed: checked again from its next slot."),
        Some("updated") => Some("Monitor updated."),
        _ => None,
    };
    monitor_page(&s, &me, &id, notice, None).await
}

pub async fn page_fragment(
    State(s): State<Arc<AppState>>,
    me: Signed,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    html(&MonitorFragment {
        m: monitor_view(&s, &me, &id).await?,
    })
}

async fn monitor_page(
    s: &AppState,
    me: &Signed,
    id: &str,
    notice: Option<&'static str>,
    ping_url: Option<String>,
) -> Result<Response, UiError> {
    let m = monitor_view(s, me, id).await?;
    html(&MonitorPage {
        chrome: Chrome::new(m.name.clone(), "monitors", Some(me))
            .live_monitors(format!("/ui/fragments/monitors/{}", m.id)),
        notice,
        ping_url,
        m,
    })
}

async fn monitor_view(s: &AppState, me: &Signed, id: &str) -> Result<MonitorView, UiError> {
    let now = s.clock.now();
    let tz = zone(&me.user.time_zone);
    let m = s.store.get_monitor(id, now).await?;
    let service = s
        .store
        .get_service(&m.service_id)
        .await
        .map_or_else(|_| m.service_id.0.clone(), |svc| svc.name);
    let up = s.store.monitor_uptime(id, now).await?;
    let hourly = s
        .store
        .monitor_series(
            id,
            tocsin_store::RollupSpan::Hour,
            now - SignedDuration::from_hours(7 * 24),
        )
        .await?;
    let day_from = now - SignedDuration::from_hours(24);
    let day: Vec<RollupPoint> = hourly
        .iter()
        .filter(|p| p.start + SignedDuration::from_hours(1) > day_from)
        .cloned()
        .collect();
    let heartbeat = m.kind == MonitorKind::Heartbeat;
    let results = s
        .store
        .monitor_results(id, RESULTS_SHOWN_MAX)
        .await?
        .into_iter()
        .map(|r| ResultRow {
            at: when(r.at, &tz, now),
            at_iso: iso(r.at),
            ok: r.ok,
            latency: r.latency_ms.map_or_else(String::new, |l| format!("{l} ms")),
            message: r.message,
            log: r
                .log
                .filter(|l| !l.is_empty())
                .map(|l| l.chars().take(LOG_SHOWN_MAX).collect()),
        })
        .collect();
    let mut facts: Vec<(&'static str, String)> = Vec::new();
    if let Some(i) = m.interval_seconds {
        facts.push(("Checked every", seconds(i)));
    }
    if let (Some(r), Some(i)) = (m.retry_interval_seconds, m.interval_seconds)
        && r != i
    {
        facts.push(("While failing, every", seconds(r)));
    }
    if let Some(g) = m.grace_seconds {
        facts.push(("Grace", seconds(g)));
    }
    if !heartbeat {
        facts.push((
            "Incident",
            format!(
                "opens after {} failed checks in a row, resolves after {} good ones",
                m.failures_before_alert, m.successes_before_resolve
            ),
        ));
    }
    facts.push((
        if heartbeat { "Deadline" } else { "Next check" },
        m.due_at.map_or_else(
            || "none (paused, down or never pinged)".into(),
            |t| when(t, &tz, now),
        ),
    ));
    facts.push((
        "Last result",
        m.last_result_at
            .map_or_else(|| "none yet".into(), |t| ago(t, now)),
    ));
    let (st, class) = state(&m);
    Ok(MonitorView {
        csrf: me.csrf.clone(),
        target: target(&m),
        state: st,
        state_class: class,
        paused: m.status == "paused",
        service_id: m.service_id.0.clone(),
        service,
        facts,
        uptime: [
            percent(up.last_24h),
            percent(up.last_7d),
            percent(up.last_30d),
            percent(up.last_90d),
        ],
        chart_day: chart(
            "chart-day",
            "Response time, last 24 hours",
            &day,
            day_from,
            now,
        ),
        chart_week: chart(
            "chart-week",
            "Response time, last 7 days",
            &hourly,
            now - SignedDuration::from_hours(7 * 24),
            now,
        ),
        results,
        can_pause: me.can(Role::Responder),
        can_admin: me.can(Role::Admin),
        heartbeat,
        kind: m.kind.as_str().to_owned(),
        id: m.id,
        name: m.name,
    })
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A round upper bound for the chart's scale: 1, 2 or 5 × a power of ten, at least 10 ms.
fn scale_ms(max: u64) -> u64 {
    let mut step = 10u64;
    loop {
        for m in [1, 2, 5] {
            if step * m >= max {
                return step * m;
            }
        }
        step = step.saturating_mul(10);
        if step >= u64::MAX / 10 {
            return max;
        }
    }
}

/// Chart geometry, in the SVG's own units: it scales to its container (a 375-px phone shows
/// it at about 85%), and its text stays at least 12 units.
const CHART_W: f64 = 400.0;
const CHART_H: f64 = 180.0;
const PLOT_LEFT: f64 = 44.0;
const PLOT_RIGHT: f64 = 392.0;
const PLOT_TOP: f64 = 10.0;
const PLOT_BOTTOM: f64 = 150.0;

/// A response-time chart of hourly roll-ups between `from` and `to`: per hour, a bar up to the
/// slowest check and a line through the average; hours with failed checks are marked red
/// under the axis. Self-contained SVG (no script, no style sheet), with a title and a
/// description that says what it shows in words, for screen readers.
pub fn chart(
    id: &str,
    title: &str,
    points: &[RollupPoint],
    from: Timestamp,
    to: Timestamp,
) -> String {
    let span_ms = to.duration_since(from).as_millis().max(1) as f64;
    let x = |t: Timestamp| {
        let f = (t.duration_since(from).as_millis() as f64 / span_ms).clamp(0.0, 1.0);
        PLOT_LEFT + f * (PLOT_RIGHT - PLOT_LEFT)
    };
    let with_latency: Vec<&RollupPoint> = points
        .iter()
        .filter(|p| p.latency_max_ms.is_some())
        .collect();
    let top = scale_ms(
        with_latency
            .iter()
            .filter_map(|p| p.latency_max_ms)
            .max()
            .unwrap_or(0),
    );
    let y = |ms: u64| PLOT_BOTTOM - (ms as f64 / top as f64).min(1.0) * (PLOT_BOTTOM - PLOT_TOP);
    let checks: u64 = points.iter().map(|p| p.checks).sum();
    let failures: u64 = points.iter().map(|p| p.failures).sum();
    let avg = {
        let (sum, n) = with_latency
            .iter()
            .filter_map(|p| p.latency_avg_ms.map(|a| (a * p.checks, p.checks)))
            .fold((0u64, 0u64), |(s, n), (a, c)| (s + a, n + c));
        (n > 0).then(|| sum / n)
    };
    let slowest = with_latency.iter().filter_map(|p| p.latency_max_ms).max();
    let desc = match (avg, slowest) {
        (Some(a), Some(m)) => {
            format!("{checks} checks, {failures} failed; average response {a} ms, slowest {m} ms.")
        }
        _ => format!("{checks} checks, {failures} failed; no response times recorded."),
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" id="{id}" viewBox="0 0 {CHART_W} {CHART_H}" width="100%" role="img" aria-labelledby="{id}-title {id}-desc" xmlns="http://www.w3.org/2000/svg"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        esc(title),
        esc(&desc)
    );
    // Grid: 0, half and the top of the scale.
    for ms in [0, top / 2, top] {
        let yy = y(ms);
        let _ = write!(
            svg,
            r#"<line x1="{PLOT_LEFT}" y1="{yy:.1}" x2="{PLOT_RIGHT}" y2="{yy:.1}" stroke="currentColor" stroke-opacity="0.2"/><text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end" fill="currentColor">{}</text>"#,
            PLOT_LEFT - 4.0,
            yy + 4.0,
            if ms >= 1000 && ms % 1000 == 0 {
                format!("{} s", ms / 1000)
            } else {
                format!("{ms} ms")
            }
        );
    }
    let hour = SignedDuration::from_hours(1);
    let bar_w = ((x(from + hour) - x(from)) * 0.8).max(0.8);
    for p in points {
        let x0 = x(p.start);
        if let Some(max) = p.latency_max_ms {
            let _ = write!(
                svg,
                r#"<rect x="{x0:.1}" y="{:.1}" width="{bar_w:.1}" height="{:.1}" fill="currentColor" fill-opacity="0.25"><title>{}: slowest {max} ms</title></rect>"#,
                y(max),
                (PLOT_BOTTOM - y(max)).max(0.5),
                esc(&p.start.strftime("%Y-%m-%d %H:00 UTC").to_string())
            );
        }
        if p.failures > 0 {
            let _ = write!(
                svg,
                r##"<rect x="{x0:.1}" y="{:.1}" width="{bar_w:.1}" height="5" fill="#d1242f"><title>{} of {} checks failed</title></rect>"##,
                PLOT_BOTTOM + 3.0,
                p.failures,
                p.checks
            );
        }
    }
    let line: Vec<String> = with_latency
        .iter()
        .filter_map(|p| {
            p.latency_avg_ms
                .map(|a| format!("{:.1},{:.1}", x(p.start) + bar_w / 2.0, y(a)))
        })
        .collect();
    if line.len() > 1 {
        let _ = write!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="currentColor" stroke-width="2"/>"#,
            line.join(" ")
        );
    } else if let Some(pt) = line.first() {
        let (cx, cy) = pt.split_once(',').unwrap_or(("0", "0"));
        let _ = write!(
            svg,
            r#"<circle cx="{cx}" cy="{cy}" r="3" fill="currentColor"/>"#
        );
    }
    // Time axis: the window's two ends.
    let _ = write!(
        svg,
        r#"<text x="{PLOT_LEFT}" y="{:.1}" font-size="12" fill="currentColor">{}</text><text x="{PLOT_RIGHT}" y="{:.1}" font-size="12" text-anchor="end" fill="currentColor">now</text>"#,
        CHART_H - 6.0,
        if to.duration_since(from) > SignedDuration::from_hours(24) {
            "7 days ago"
        } else {
            "24 h ago"
        },
        CHART_H - 6.0,
    );
    if points.is_empty() {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="14" text-anchor="middle" fill="currentColor">No checks in this window</text>"#,
            (PLOT_LEFT + PLOT_RIGHT) / 2.0,
            (PLOT_TOP + PLOT_BOTTOM) / 2.0
        );
    }
    svg.push_str("</svg>");
    svg
}

pub async fn pause(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    Posted::checked(&me, &headers, form)?;
    me.require(Role::Responder)?;
    s.store.pause_monitor(&id, true, s.clock.now()).await?;
    tracing::info!(monitor = %id, user = %me.user.id, "monitor paused in the web UI");
    Ok(Redirect::to(&format!("/monitors/{id}?done=paused")).into_response())
}

pub async fn resume(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    Posted::checked(&me, &headers, form)?;
    me.require(Role::Responder)?;
    let m = s.store.pause_monitor(&id, false, s.clock.now()).await?;
    // Wake the monitor runner: its next check may be due soon.
    let _ = s.live.send(tocsin_engine::LiveEvent::ServiceChanged {
        id: m.service_id.clone(),
    });
    tracing::info!(monitor = %id, user = %me.user.id, "monitor resumed in the web UI");
    Ok(Redirect::to(&format!("/monitors/{id}?done=resumed")).into_response())
}

/// The create form's values, as typed (shown again with errors).
#[derive(Default)]
struct MonitorValues {
    kind: String,
    name: String,
    service: String,
    target: String,
    interval: String,
    retry_interval: String,
    period: String,
    grace: String,
    cron: String,
    time_zone: String,
    failures: String,
    successes: String,
    timeout: String,
    expected_status: String,
    body_contains: String,
}

/// One of the form's number fields.
struct NumberField {
    field: &'static str,
    label: &'static str,
    help: &'static str,
    value: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "monitor_new.html")]
struct NewMonitorPage {
    chrome: Chrome,
    csrf: String,
    v: MonitorValues,
    numbers: Vec<NumberField>,
    errors: Errors,
    kinds: Vec<(&'static str, &'static str)>,
    services: Vec<(String, String)>,
}

const KINDS: [(&str, &str); 6] = [
    ("http", "HTTP(S): a URL answers as expected"),
    ("tcp", "TCP: a port accepts connections"),
    ("dns", "DNS: a name resolves as expected"),
    ("tls", "TLS certificate: valid and not about to expire"),
    ("ping", "Ping (ICMP): a host answers"),
    ("heartbeat", "Heartbeat: a job pings Tocsin on schedule"),
];

/// Fields the form shows (an API error about another lands at the top of the form).
const SHOWN: [&str; 15] = [
    "type",
    "name",
    "service_id",
    "target",
    "interval_seconds",
    "retry_interval_seconds",
    "period_seconds",
    "grace_seconds",
    "cron",
    "time_zone",
    "failures_before_alert",
    "successes_before_resolve",
    "timeout_seconds",
    "expected_status",
    "body_contains",
];

async fn new_monitor_form(
    s: &AppState,
    me: &Signed,
    v: MonitorValues,
    errors: Errors,
) -> Result<Response, UiError> {
    let services = s
        .store
        .list_services()
        .await?
        .into_iter()
        .map(|svc| (svc.id.0, svc.name))
        .collect();
    let errors = errors.keep_only(&SHOWN);
    let numbers = [
        (
            "interval_seconds",
            "Check every (seconds)",
            "Default 60; from 1 up.",
            &v.interval,
        ),
        (
            "retry_interval_seconds",
            "While failing, check every (seconds)",
            "Default: a third of the interval.",
            &v.retry_interval,
        ),
        (
            "failures_before_alert",
            "Failed checks in a row before an incident",
            "Default 3 (1 for TLS).",
            &v.failures,
        ),
        (
            "successes_before_resolve",
            "Good checks in a row before it resolves",
            "Default 2.",
            &v.successes,
        ),
        (
            "timeout_seconds",
            "Timeout (seconds)",
            "Per check, 1 to 60; default 10.",
            &v.timeout,
        ),
        (
            "period_seconds",
            "Heartbeat: expected every (seconds)",
            "Default a day.",
            &v.period,
        ),
        (
            "grace_seconds",
            "Heartbeat: grace (seconds)",
            "Late, not yet down, for this long; default an hour.",
            &v.grace,
        ),
    ]
    .into_iter()
    .map(|(field, label, help, value)| NumberField {
        field,
        label,
        help,
        value: value.clone(),
        error: errors.get(field).map(str::to_owned),
    })
    .collect();
    let page = html(&NewMonitorPage {
        chrome: Chrome::new("New monitor", "monitors", Some(me)),
        csrf: me.csrf.clone(),
        v,
        numbers,
        kinds: KINDS.to_vec(),
        services,
        errors,
    })?;
    Ok(page)
}

#[derive(Deserialize, Default)]
pub struct NewQuery {
    service: Option<String>,
}

pub async fn new_form(
    State(s): State<Arc<AppState>>,
    me: Signed,
    q: Result<Query<NewQuery>, QueryRejection>,
) -> Result<Response, UiError> {
    me.require(Role::Admin)?;
    let v = MonitorValues {
        kind: "http".into(),
        service: q.ok().and_then(|Query(q)| q.service).unwrap_or_default(),
        ..MonitorValues::default()
    };
    new_monitor_form(&s, &me, v, Errors::none()).await
}

pub async fn create(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let f = Posted::checked(&me, &headers, form)?;
    me.require(Role::Admin)?;
    let v = MonitorValues {
        kind: f.get("type").to_owned(),
        name: f.get("name").to_owned(),
        service: f.get("service_id").to_owned(),
        target: f.get("target").to_owned(),
        interval: f.get("interval_seconds").to_owned(),
        retry_interval: f.get("retry_interval_seconds").to_owned(),
        period: f.get("period_seconds").to_owned(),
        grace: f.get("grace_seconds").to_owned(),
        cron: f.get("cron").to_owned(),
        time_zone: f.get("time_zone").to_owned(),
        failures: f.get("failures_before_alert").to_owned(),
        successes: f.get("successes_before_resolve").to_owned(),
        timeout: f.get("timeout_seconds").to_owned(),
        expected_status: f.get("expected_status").to_owned(),
        body_contains: f.get("body_contains").to_owned(),
    };
    let mut body = serde_json::json!({
        "type": f.get("type"),
        "name": f.get("name"),
        "service_id": f.get("service_id"),
    });
    for key in ["target", "cron", "time_zone", "body_contains"] {
        if let Some(x) = f.opt(key) {
            body[key] = x.into();
        }
    }
    for key in [
        "interval_seconds",
        "retry_interval_seconds",
        "period_seconds",
        "grace_seconds",
        "failures_before_alert",
        "successes_before_resolve",
        "timeout_seconds",
    ] {
        if let Some(x) = f.opt(key) {
            match x.parse::<u32>() {
                Ok(n) => body[key] = n.into(),
                Err(_) => {
                    let e = Errors::field(key, "must be a whole number");
                    return form_again(&s, &me, v, e).await;
                }
            }
        }
    }
    if let Some(x) = f.opt("expected_status") {
        let codes: Result<Vec<u16>, _> = x
            .split([',', ' '])
            .filter(|c| !c.is_empty())
            .map(str::parse::<u16>)
            .collect();
        match codes {
            Ok(c) if !c.is_empty() => body["expected_status"] = c.into(),
            _ => {
                let e = Errors::field("expected_status", "must list status codes such as 200, 204");
                return form_again(&s, &me, v, e).await;
            }
        }
    }
    let b = match serde_json::from_value(body) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "the monitor form no longer fits the API's body");
            return Err(UiError::Internal);
        }
    };
    match crate::monitors::add_monitor(&s, b).await {
        Ok(created) => {
            let id = created.monitor.id.clone();
            tracing::info!(monitor = %id, user = %me.user.id, "monitor created in the web UI");
            match created.ping_url {
                // Shown once, on this answer: the token is stored hashed.
                Some(url) => {
                    monitor_page(
                        &s,
                        &me,
                        &id,
                        Some("Heartbeat created. Copy its ping URL now: it is shown only once."),
                        Some(url),
                    )
                    .await
                }
                None => Ok(Redirect::to(&format!("/monitors/{id}?done=created")).into_response()),
            }
        }
        Err(e) => form_again(&s, &me, v, Errors::from_api(e)?).await,
    }
}

/// The form again, with the values as typed and the errors beside their fields.
async fn form_again(
    s: &AppState,
    me: &Signed,
    v: MonitorValues,
    errors: Errors,
) -> Result<Response, UiError> {
    let status = errors.status();
    let mut page = new_monitor_form(s, me, v, errors).await?;
    *page.status_mut() = status;
    Ok(page)
}

#[derive(Template)]
#[template(path = "monitor_edit.html")]
struct EditMonitorPage {
    chrome: Chrome,
    csrf: String,
    id: String,
    name: String,
    numbers: Vec<NumberField>,
    errors: Errors,
}

/// The edit form's number fields for this monitor, with `values` by field name.
fn edit_fields(m: &Monitor, values: &[(&str, String)], errors: &Errors) -> Vec<NumberField> {
    let fields: Vec<(&'static str, &'static str, &'static str)> =
        if m.kind == MonitorKind::Heartbeat {
            let mut f = vec![(
                "grace_seconds",
                "Grace (seconds)",
                "Late, not yet down, for this long after the expected ping.",
            )];
            if m.cron.is_none() {
                f.insert(
                    0,
                    ("period_seconds", "Expected every (seconds)", "From 1 up."),
                );
            }
            f
        } else {
            vec![
                (
                    "interval_seconds",
                    "Check every (seconds)",
                    "From 1 up; the next check moves onto the new cadence.",
                ),
                (
                    "retry_interval_seconds",
                    "While failing, check every (seconds)",
                    "At most the interval.",
                ),
                (
                    "failures_before_alert",
                    "Failed checks in a row before an incident",
                    "1 to 100.",
                ),
                (
                    "successes_before_resolve",
                    "Good checks in a row before it resolves",
                    "1 to 100.",
                ),
            ]
        };
    fields
        .into_iter()
        .map(|(field, label, help)| NumberField {
            field,
            label,
            help,
            value: values
                .iter()
                .find(|(k, _)| *k == field)
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
            error: errors.get(field).map(str::to_owned),
        })
        .collect()
}

async fn edit_page(
    s: &AppState,
    me: &Signed,
    id: &str,
    name: String,
    values: Vec<(&str, String)>,
    errors: Errors,
) -> Result<Response, UiError> {
    let m = s.store.get_monitor(id, s.clock.now()).await?;
    let errors = errors.keep_only(&[
        "name",
        "interval_seconds",
        "retry_interval_seconds",
        "failures_before_alert",
        "successes_before_resolve",
        "period_seconds",
        "grace_seconds",
    ]);
    let status = (!errors.is_empty()).then(|| errors.status());
    let mut page = html(&EditMonitorPage {
        chrome: Chrome::new(format!("Edit {}", m.name), "monitors", Some(me)),
        csrf: me.csrf.clone(),
        numbers: edit_fields(&m, &values, &errors),
        id: m.id,
        name,
        errors,
    })?;
    if let Some(st) = status {
        *page.status_mut() = st;
    }
    Ok(page)
}

pub async fn edit_form(
    State(s): State<Arc<AppState>>,
    me: Signed,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    me.require(Role::Admin)?;
    let m = s.store.get_monitor(&id, s.clock.now()).await?;
    let opt = |v: Option<u32>| v.map(|n| n.to_string()).unwrap_or_default();
    let values = vec![
        ("interval_seconds", opt(m.interval_seconds)),
        ("retry_interval_seconds", opt(m.retry_interval_seconds)),
        ("failures_before_alert", m.failures_before_alert.to_string()),
        (
            "successes_before_resolve",
            m.successes_before_resolve.to_string(),
        ),
        ("period_seconds", opt(m.period_seconds)),
        ("grace_seconds", opt(m.grace_seconds)),
    ];
    edit_page(&s, &me, &id, m.name, values, Errors::none()).await
}

pub async fn edit(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let f = Posted::checked(&me, &headers, form)?;
    me.require(Role::Admin)?;
    let fields = [
        "interval_seconds",
        "retry_interval_seconds",
        "failures_before_alert",
        "successes_before_resolve",
        "period_seconds",
        "grace_seconds",
    ];
    let values: Vec<(&str, String)> = fields.iter().map(|k| (*k, f.get(k).to_owned())).collect();
    let mut numbers = [None; 6];
    for (i, key) in fields.iter().enumerate() {
        if let Some(x) = f.opt(key) {
            match x.parse::<u32>() {
                Ok(n) => numbers[i] = Some(n),
                Err(_) => {
                    let e = Errors::field(key, "must be a whole number");
                    return edit_page(&s, &me, &id, f.get("name").to_owned(), values, e).await;
                }
            }
        }
    }
    let b = crate::monitors::PatchMonitor {
        name: Some(f.get("name").to_owned()),
        interval_seconds: numbers[0],
        retry_interval_seconds: numbers[1],
        failures_before_alert: numbers[2],
        successes_before_resolve: numbers[3],
        period_seconds: numbers[4],
        grace_seconds: numbers[5],
    };
    match crate::monitors::change_monitor(&s, &id, b).await {
        Ok(m) => {
            tracing::info!(monitor = %m.id, user = %me.user.id, "monitor changed in the web UI");
            Ok(Redirect::to(&format!("/monitors/{}?done=updated", m.id)).into_response())
        }
        Err(e) => {
            let errors = Errors::from_api(e)?;
            edit_page(&s, &me, &id, f.get("name").to_owned(), values, errors).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + h * 3600).unwrap()
    }

    #[test]
    fn the_chart_says_what_it_shows_and_marks_failures() {
        let points = vec![
            RollupPoint {
                start: t(1),
                checks: 120,
                failures: 0,
                latency_avg_ms: Some(40),
                latency_max_ms: Some(90),
            },
            RollupPoint {
                start: t(2),
                checks: 120,
                failures: 3,
                latency_avg_ms: Some(60),
                latency_max_ms: Some(180),
            },
        ];
        let svg = chart("c", "Response time <24 h>", &points, t(0), t(24));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains(r#"role="img" aria-labelledby="c-title c-desc""#));
        assert!(svg.contains("<title id=\"c-title\">Response time &lt;24 h&gt;</title>"));
        assert!(svg.contains("240 checks, 3 failed; average response 50 ms, slowest 180 ms."));
        assert!(svg.contains("3 of 120 checks failed"));
        assert!(svg.contains("<polyline"));
        // The scale rounds up to 200 ms.
        assert!(svg.contains(">200 ms</text>"));
        let empty = chart("e", "x", &[], t(0), t(24));
        assert!(empty.contains("No checks in this window"));
        assert!(empty.contains("0 checks, 0 failed"));
    }

    #[test]
    fn scales_and_durations_read_well() {
        assert_eq!(scale_ms(0), 10);
        assert_eq!(scale_ms(11), 20);
        assert_eq!(scale_ms(180), 200);
        assert_eq!(scale_ms(2_100), 5_000);
        assert_eq!(seconds(30), "30 s");
        assert_eq!(seconds(90), "1 min 30 s");
        assert_eq!(seconds(3600), "1 h");
        assert_eq!(seconds(86_400 + 7200), "1 d 2 h");
    }
}
