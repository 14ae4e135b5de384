//! The public status page, without sign-in: `GET /status` (server-rendered, no script),
//! `/status.json`, `/status/feed.atom`, subscriptions by email (double opt-in, one-click
//! unsubscribe) and the notices sent to subscribers. Component states are decided by
//! `tocsin_core::status`; this file gathers the facts, caches the uptime bars, and renders.

use crate::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures_util::StreamExt;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use tocsin_core::rate::{RateLimit, TokenBucket};
use tocsin_core::status::{self as core_status, ComponentStatus, UptimeDay};
use tocsin_store::*;

/// How long the uptime bars are reused before they are computed again.
const UPTIME_CACHE_TTL: SignedDuration = SignedDuration::from_secs(60);
/// How long a subscription form stays valid, and a confirmation link.
const FORM_VALIDITY: SignedDuration = SignedDuration::from_hours(2);
const CONFIRM_VALIDITY: SignedDuration = SignedDuration::from_hours(48);
/// Subscriptions per client address (three at once, then one a minute: each costs 60 tokens of
/// a bucket filling at one a second) and for the whole server (a burst of 100, then one a
/// second): a bot cannot turn the page into a mail cannon.
const SUBSCRIBE_ADDRESS_LIMIT: RateLimit = RateLimit {
    per_second: 1,
    burst: 180,
};
const SUBSCRIBE_ADDRESS_COST: u32 = 60;
const SUBSCRIBE_GLOBAL_LIMIT: RateLimit = RateLimit {
    per_second: 1,
    burst: 100,
};
/// Client addresses whose buckets are kept at once.
const SUBSCRIBE_BUCKETS_MAX: usize = 10_000;
/// Notices sent at once to subscribers.
const NOTICES_IN_FLIGHT_MAX: usize = 8;
/// Public incidents shown and in the feed (the unresolved ones first).
const INCIDENTS_SHOWN_MAX: u32 = 50;
/// Resolved public incidents stay on the page this long.
const RESOLVED_SHOWN_FOR: SignedDuration = SignedDuration::from_hours(24 * 7);
/// Signed tokens here use the acknowledge-link key with these fixed subjects.
const FORM_SUBJECT: &str = "status-subscribe-form";

/// Uptime bars by component id.
type Bars = Arc<HashMap<String, Vec<UptimeDay>>>;

/// The status page's memory: the cached uptime bars and the subscription rate limits.
#[derive(Default)]
pub struct StatusState {
    uptime: Mutex<Option<(Timestamp, Bars)>>,
    limits: Mutex<Limits>,
}

#[derive(Default)]
struct Limits {
    global: Option<TokenBucket>,
    addresses: HashMap<IpAddr, TokenBucket>,
}

impl StatusState {
    fn admit(&self, addr: Option<IpAddr>, now: Timestamp) -> bool {
        let mut l = self.limits.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ip) = addr {
            if !l.addresses.contains_key(&ip) && l.addresses.len() >= SUBSCRIBE_BUCKETS_MAX {
                l.addresses.retain(|_, b| !b.is_full(now));
                if l.addresses.len() >= SUBSCRIBE_BUCKETS_MAX {
                    return false;
                }
            }
            let b = l
                .addresses
                .entry(ip)
                .or_insert_with(|| TokenBucket::new(SUBSCRIBE_ADDRESS_LIMIT, now));
            if b.take(SUBSCRIBE_ADDRESS_COST, now).is_err() {
                return false;
            }
        }
        l.global
            .get_or_insert_with(|| TokenBucket::new(SUBSCRIBE_GLOBAL_LIMIT, now))
            .take(1, now)
            .is_ok()
    }

    /// Drops the cached uptime bars (after a change the page must show at once).
    pub fn forget_uptime(&self) {
        *self.uptime.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/status", get(page))
        .route("/status.json", get(json_summary))
        .route("/status/feed.atom", get(feed))
        .route("/status/subscribe", axum::routing::post(subscribe))
        .route("/status/confirm/{token}", get(confirm_form).post(confirm))
        .route(
            "/status/unsubscribe/{token}",
            get(unsubscribe_form).post(unsubscribe),
        )
        .layer(axum::middleware::map_response(protect))
}

/// The UI's policy (nothing from another origin, no framing); public pages may be cached a
/// little by the browser only.
async fn protect(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' https:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "status page failed");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
}

/// One component as the public sees it.
#[derive(Serialize)]
pub struct PublicComponent {
    pub id: String,
    pub name: String,
    pub group: String,
    pub status: ComponentStatus,
    pub uptime_percent: Option<f64>,
    pub uptime_days: Vec<UptimeDay>,
}

/// Everything the page shows, once for the HTML, the JSON and the tests.
pub struct Summary {
    pub settings: StatusSettings,
    pub overall: ComponentStatus,
    pub components: Vec<PublicComponent>,
    pub incidents: Vec<StatusIncident>,
    pub maintenance: Vec<Maintenance>,
    pub now: Timestamp,
}

async fn uptime(s: &AppState, now: Timestamp) -> Result<Bars> {
    if let Some((at, bars)) = &*s.status.uptime.lock().unwrap_or_else(|p| p.into_inner())
        && now >= *at
        && now.duration_since(*at) < UPTIME_CACHE_TTL
    {
        return Ok(bars.clone());
    }
    let views = s.store.status_components(now).await?;
    let since: HashMap<String, Timestamp> = views
        .iter()
        .map(|v| (v.component.id.clone(), v.since))
        .collect();
    let history = s
        .store
        .status_history(core_status::uptime_start(now), now)
        .await?;
    let bars: HashMap<String, Vec<UptimeDay>> = history
        .into_iter()
        .map(|(id, h)| {
            let days = match h {
                ComponentHistory::Outages(o) => core_status::uptime_from_outages(
                    since.get(&id).copied().unwrap_or(now),
                    now,
                    &o,
                ),
                ComponentHistory::Checks(c) => core_status::uptime_from_checks(now, &c),
            };
            (id, days)
        })
        .collect();
    let bars = Arc::new(bars);
    *s.status.uptime.lock().unwrap_or_else(|p| p.into_inner()) = Some((now, bars.clone()));
    Ok(bars)
}

pub async fn summary(s: &AppState) -> Result<Summary> {
    let now = s.clock.now();
    let settings = s.store.status_settings().await?;
    let views = s.store.status_components(now).await?;
    let bars = uptime(s, now).await?;
    let components: Vec<PublicComponent> = views
        .into_iter()
        .map(|v| {
            let days = bars.get(&v.component.id).cloned().unwrap_or_default();
            PublicComponent {
                uptime_percent: core_status::overall_uptime(&days),
                uptime_days: days,
                status: core_status::component_status(v.facts),
                id: v.component.id,
                name: v.component.name,
                group: v.component.group,
            }
        })
        .collect();
    let overall = components
        .iter()
        .map(|c| c.status)
        .max()
        .unwrap_or(ComponentStatus::Operational);
    let incidents = s
        .store
        .list_status_incidents(INCIDENTS_SHOWN_MAX)
        .await?
        .into_iter()
        .filter(|i| {
            i.resolved_at
                .is_none_or(|r| now.duration_since(r) < RESOLVED_SHOWN_FOR)
        })
        .map(|mut i| {
            // Which Tocsin incident it is about stays private.
            i.incident_id = None;
            i
        })
        .collect();
    let maintenance = s.store.list_maintenance(now).await?;
    Ok(Summary {
        settings,
        overall,
        components,
        incidents,
        maintenance,
        now,
    })
}

fn overall_words(s: ComponentStatus) -> &'static str {
    match s {
        ComponentStatus::Operational => "All systems operational",
        ComponentStatus::UnderMaintenance => "Maintenance in progress",
        ComponentStatus::DegradedPerformance => "Degraded performance",
        ComponentStatus::PartialOutage => "Partial outage",
        ComponentStatus::MajorOutage => "Major outage",
    }
}

pub async fn json_summary(State(s): State<Arc<AppState>>) -> Response {
    let sum = match summary(&s).await {
        Ok(sum) => sum,
        Err(e) => return internal(e),
    };
    let maintenance: Vec<_> = sum
        .maintenance
        .iter()
        .map(|w| {
            json!({"id": w.id, "title": w.title, "description": w.description,
                   "starts_at": w.starts_at, "ends_at": w.ends_at,
                   "active": w.starts_at <= sum.now})
        })
        .collect();
    axum::Json(json!({
        "page": {"title": sum.settings.title, "logo_url": sum.settings.logo_url,
                 "url": format!("{}/status", s.config.public_url), "updated_at": sum.now},
        "status": {"indicator": sum.overall, "description": overall_words(sum.overall)},
        "components": sum.components,
        "incidents": sum.incidents,
        "scheduled_maintenances": maintenance,
    }))
    .into_response()
}

// ---- the HTML page ----

struct GroupView {
    name: String,
    components: Vec<ComponentRow>,
}

struct ComponentRow {
    name: String,
    status_word: &'static str,
    status_label: &'static str,
    uptime: String,
    days: Vec<DayCell>,
}

struct DayCell {
    class: &'static str,
    title: String,
}

struct IncidentView {
    title: String,
    stage: &'static str,
    resolved: bool,
    updates: Vec<UpdateView>,
}

struct UpdateView {
    id: String,
    stage: &'static str,
    message: String,
    at: String,
}

struct WindowView {
    title: String,
    description: String,
    when: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "status.html")]
struct StatusPage {
    title: String,
    logo_url: Option<String>,
    css: &'static str,
    icon: &'static str,
    overall_word: &'static str,
    overall_label: &'static str,
    groups: Vec<GroupView>,
    incidents: Vec<IncidentView>,
    windows: Vec<WindowView>,
    form_token: String,
    updated: String,
}

fn utc(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

fn day_cell(d: &UptimeDay) -> DayCell {
    let date = d.day.strftime("%Y-%m-%d");
    match d.uptime_percent {
        None => DayCell {
            class: "none",
            title: format!("{date}: no data"),
        },
        Some(p) => DayCell {
            class: if p >= 99.95 {
                "up"
            } else if p >= 99.0 {
                "minor"
            } else if p >= 95.0 {
                "partial"
            } else {
                "major"
            },
            title: format!("{date}: {p:.2} % up"),
        },
    }
}

pub async fn page(State(s): State<Arc<AppState>>) -> Response {
    let sum = match summary(&s).await {
        Ok(sum) => sum,
        Err(e) => return internal(e),
    };
    let mut groups: Vec<GroupView> = Vec::new();
    for c in &sum.components {
        let row = ComponentRow {
            name: c.name.clone(),
            status_word: c.status.as_str(),
            status_label: c.status.label(),
            uptime: c
                .uptime_percent
                .map_or("no data yet".into(), |p| format!("{p:.2} % uptime")),
            days: c.uptime_days.iter().map(day_cell).collect(),
        };
        match groups.iter_mut().find(|g| g.name == c.group) {
            Some(g) => g.components.push(row),
            None => groups.push(GroupView {
                name: c.group.clone(),
                components: vec![row],
            }),
        }
    }
    let incidents = sum
        .incidents
        .iter()
        .map(|i| IncidentView {
            title: i.title.clone(),
            stage: i.stage.label(),
            resolved: i.resolved_at.is_some(),
            updates: i
                .updates
                .iter()
                .map(|u| UpdateView {
                    id: u.id.clone(),
                    stage: u.stage.label(),
                    message: u.message.clone(),
                    at: utc(u.at),
                })
                .collect(),
        })
        .collect();
    let windows = sum
        .maintenance
        .iter()
        .map(|w| WindowView {
            title: w.title.clone(),
            description: w.description.clone(),
            when: format!("{} to {}", utc(w.starts_at), utc(w.ends_at)),
            active: w.starts_at <= sum.now,
        })
        .collect();
    let t = StatusPage {
        title: sum.settings.title.clone(),
        logo_url: sum.settings.logo_url.clone(),
        css: crate::ui::css_url(),
        icon: crate::ui::icon_url(),
        overall_word: sum.overall.as_str(),
        overall_label: overall_words(sum.overall),
        groups,
        incidents,
        windows,
        form_token: s
            .config
            .links
            .sign_ack(FORM_SUBJECT, sum.now + FORM_VALIDITY),
        updated: utc(sum.now),
    };
    render(&t)
}

fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(body) => Html(body).into_response(),
        Err(e) => internal(e),
    }
}

// ---- the Atom feed ----

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub async fn feed(State(s): State<Arc<AppState>>) -> Response {
    let (settings, incidents) = match (
        s.store.status_settings().await,
        s.store.list_status_incidents(INCIDENTS_SHOWN_MAX).await,
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return internal(e),
    };
    let base = &s.config.public_url;
    let mut entries: Vec<(&StatusIncident, &StatusUpdate)> = incidents
        .iter()
        .flat_map(|i| i.updates.iter().map(move |u| (i, u)))
        .collect();
    entries.sort_by_key(|e| std::cmp::Reverse(e.1.at));
    entries.truncate(INCIDENTS_SHOWN_MAX as usize);
    let updated = entries.first().map_or(s.clock.now(), |e| e.1.at);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
         <title>{}</title>\n<id>{base}/status</id>\n<link rel=\"alternate\" href=\"{base}/status\"/>\n\
         <link rel=\"self\" href=\"{base}/status/feed.atom\"/>\n<updated>{updated}</updated>\n",
        xml(&settings.title)
    );
    for (i, u) in entries {
        out.push_str(&format!(
            "<entry>\n<id>{base}/status#update-{id}</id>\n<title>{title}: {stage}</title>\n\
             <updated>{at}</updated>\n<link rel=\"alternate\" href=\"{base}/status#update-{id}\"/>\n\
             <author><name>{author}</name></author>\n<content type=\"text\">{msg}</content>\n</entry>\n",
            id = u.id,
            title = xml(&i.title),
            stage = u.stage.label(),
            at = u.at,
            author = xml(&settings.title),
            msg = xml(&u.message),
        ));
    }
    out.push_str("</feed>\n");
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/atom+xml; charset=utf-8"),
        )],
        out,
    )
        .into_response()
}

// ---- subscriptions ----

#[derive(Template)]
#[template(path = "status_message.html")]
struct MessagePage {
    title: String,
    css: &'static str,
    icon: &'static str,
    heading: String,
    text: String,
    /// A button that posts back to this page (confirm, unsubscribe).
    action: Option<String>,
}

fn message(s: &AppState, title: &str, heading: &str, text: &str, action: Option<&str>) -> Response {
    let _ = s;
    render(&MessagePage {
        title: title.to_owned(),
        css: crate::ui::css_url(),
        icon: crate::ui::icon_url(),
        heading: heading.to_owned(),
        text: text.to_owned(),
        action: action.map(str::to_owned),
    })
}

#[derive(Deserialize)]
pub struct SubscribeForm {
    email: String,
    form_token: String,
    /// A field people never see: a bot that fills it in is ignored.
    #[serde(default)]
    website: String,
}

/// A form posted from another site has an `Origin` that is not ours.
fn same_origin(headers: &HeaderMap, public_url: &str) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    origin == public_url
        || host.is_some_and(|h| origin == format!("http://{h}") || origin == format!("https://{h}"))
}

/// The unsubscribe token of an address: derived (keyed with the link secret), so every message
/// can carry it while the store keeps only its hash.
pub fn unsubscribe_token(s: &AppState, kind: &str, address: &str) -> String {
    let subject = hex::encode(Sha256::digest(format!("unsubscribe:{kind}:{address}")));
    // A fixed far expiry: unsubscribe links do not expire.
    let never = Timestamp::from_second(4_102_444_800).unwrap_or(Timestamp::MAX);
    s.config.links.sign_ack(&subject[..32], never)
}

fn status_message(
    s: &AppState,
    key: String,
    subject: String,
    text: String,
    unsubscribe: Option<String>,
) -> tocsin_notify::Message {
    tocsin_notify::Message {
        idempotency_key: key,
        incident_number: 0,
        title: String::new(),
        urgency: tocsin_core::Urgency::Low,
        service: String::new(),
        open_for: std::time::Duration::ZERO,
        url: format!("{}/status", s.config.public_url),
        ack_url: None,
        ack_code: None,
        ack_token: None,
        ack_token_short: None,
        hooks_url: None,
        kind: tocsin_notify::MessageKind::StatusNotice {
            subject,
            text,
            unsubscribe_url: unsubscribe,
        },
    }
}

/// Adds a subscriber and, for an email, sends the confirmation (double opt-in). A confirmed
/// address is not told apart from a new one.
pub async fn start_subscription(
    s: &AppState,
    kind: &str,
    address: &str,
) -> Result<Option<Subscriber>> {
    let now = s.clock.now();
    let confirm = (kind == "email").then(crate::auth::new_token);
    let new = NewSubscriber {
        kind: kind.to_owned(),
        address: address.to_owned(),
        confirm_token_hash: confirm.as_deref().map(crate::auth::hash_secret),
        unsubscribe_token_hash: crate::auth::hash_secret(&unsubscribe_token(s, kind, address)),
    };
    let sub = match s.store.add_subscriber(new, now).await {
        Ok(sub) => sub,
        Err(StoreError::Conflict(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    if let Some(token) = confirm {
        let title = s.store.status_settings().await?.title;
        let url = format!("{}/status/confirm/{token}", s.config.public_url);
        let msg = status_message(
            s,
            format!("status:confirm:{}:{}", sub.id, now.as_millisecond()),
            format!("Confirm your subscription to {title}"),
            format!(
                "Someone, hopefully you, asked to receive the updates of {title} at this \
                 address. To confirm, open this link within 48 hours:\n\n{url}\n\nIf it was \
                 not you, ignore this message: nothing more will be sent."
            ),
            None,
        );
        match tocsin_notify::Destination::parse("email", address) {
            Ok(to) => {
                if let Err(e) = s.channel.send(&to, &msg).await {
                    tracing::warn!(error = %e.reason(), "status subscription: confirmation not sent");
                }
            }
            Err(e) => tracing::warn!(error = %e, "status subscription: bad address"),
        }
    }
    Ok(Some(sub))
}

pub async fn subscribe(
    State(s): State<Arc<AppState>>,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(f): Form<SubscribeForm>,
) -> Response {
    let now = s.clock.now();
    let title = "Subscribe";
    let form_ok = s
        .config
        .links
        .verify_ack(&f.form_token, now)
        .is_ok_and(|subject| subject == FORM_SUBJECT);
    if !form_ok || !same_origin(&headers, &s.config.public_url) {
        let mut r = message(
            &s,
            title,
            "This form has expired",
            "Reload the status page and try again.",
            None,
        );
        *r.status_mut() = StatusCode::FORBIDDEN;
        return r;
    }
    if !s.status.admit(connect.map(|c| c.0.0.ip()), now) {
        let mut r = message(
            &s,
            title,
            "Too many subscriptions",
            "Please try again in a few minutes.",
            None,
        );
        *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return r;
    }
    let done = || {
        message(
            &s,
            title,
            "Check your inbox",
            "If the address can receive mail, a message is on its way with a link to confirm the subscription.",
            None,
        )
    };
    if !f.website.is_empty() {
        return done();
    }
    let address = match tocsin_core::contact::ContactType::Email.parse_address(&f.email) {
        Ok(a) => a,
        Err(why) => {
            let mut r = message(
                &s,
                title,
                "That is not an email address",
                &format!("The address {why}."),
                None,
            );
            *r.status_mut() = StatusCode::BAD_REQUEST;
            return r;
        }
    };
    match start_subscription(&s, "email", &address).await {
        Ok(_) => done(),
        Err(e) => internal(e),
    }
}

pub async fn confirm_form(State(s): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    let _ = token;
    // A link scanner opening the mail must not confirm: the button posts.
    message(
        &s,
        "Confirm",
        "Confirm your subscription",
        "Press the button to start receiving updates.",
        Some("Confirm subscription"),
    )
}

pub async fn confirm(State(s): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    let now = s.clock.now();
    match s
        .store
        .confirm_subscriber(
            &crate::auth::hash_secret(&token),
            now - CONFIRM_VALIDITY,
            now,
        )
        .await
    {
        Ok(Some(_)) => message(
            &s,
            "Confirmed",
            "You are subscribed",
            "Updates will come to this address; each has a link to unsubscribe.",
            None,
        ),
        Ok(None) => {
            let mut r = message(
                &s,
                "Confirm",
                "This link has expired or was used",
                "Subscribe again from the status page.",
                None,
            );
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
        Err(e) => internal(e),
    }
}

pub async fn unsubscribe_form(
    State(s): State<Arc<AppState>>,
    Path(token): Path<String>,
) -> Response {
    let _ = token;
    message(
        &s,
        "Unsubscribe",
        "Unsubscribe",
        "Press the button to stop receiving updates.",
        Some("Unsubscribe"),
    )
}

/// One click: the token is the permission (also RFC 8058's `List-Unsubscribe=One-Click` POST).
pub async fn unsubscribe(State(s): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    match s.store.unsubscribe(&crate::auth::hash_secret(&token)).await {
        Ok(_) => message(
            &s,
            "Unsubscribed",
            "You are unsubscribed",
            "No more updates will be sent to this address.",
            None,
        ),
        Err(e) => internal(e),
    }
}

/// Sends a notice to every confirmed subscriber, a few at a time, in the background. Best
/// effort: one attempt each (the outbox with retries is for pages).
pub fn notify_subscribers(s: Arc<AppState>, key: String, subject: String, text: String) {
    tokio::spawn(async move {
        let subs = match s.store.list_subscribers(true).await {
            Ok(subs) => subs,
            Err(e) => {
                tracing::error!(error = %e, "status notices: subscribers not listed");
                return;
            }
        };
        let title = match s.store.status_settings().await {
            Ok(t) => t.title,
            Err(_) => StatusSettings::default().title,
        };
        futures_util::stream::iter(subs)
            .for_each_concurrent(NOTICES_IN_FLIGHT_MAX, |sub| {
                let s = s.clone();
                let (key, subject, text, title) =
                    (key.clone(), subject.clone(), text.clone(), title.clone());
                async move {
                    let unsub = format!(
                        "{}/status/unsubscribe/{}",
                        s.config.public_url,
                        unsubscribe_token(&s, &sub.kind, &sub.address)
                    );
                    let msg = status_message(
                        &s,
                        format!("{key}:{}", sub.id),
                        format!("{title}: {subject}"),
                        text,
                        Some(unsub),
                    );
                    let sent = match tocsin_notify::Destination::parse(&sub.kind, &sub.address) {
                        Ok(to) => s
                            .channel
                            .send(&to, &msg)
                            .await
                            .map(|_| ())
                            .map_err(|e| e.reason().to_owned()),
                        Err(e) => Err(e.to_string()),
                    };
                    if let Err(e) = sent {
                        tracing::warn!(subscriber = %sub.id, error = %e, "status notice not sent");
                    }
                }
            })
            .await;
    });
}
