//! The incident pages: the dashboard ("what is on fire"), the incidents list with filters and
//! pages, and one incident with its alerts, live timeline, notifications, page path and the
//! actions (acknowledge, resolve, escalate, reassign, note) as CSRF-checked forms. Each live part
//! also has a fragment URL that the script fetches when the event stream says something changed.

use super::format::{self, age, ago, iso, query, when, zone};
use super::{Chrome, Signed, UiError, bad_query, html};
use crate::AppState;
use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use std::collections::HashMap;
use tocsin_core::limits::NOTE_CHARS_MAX;
use tocsin_core::schedule::{self, QueryRange};
use tocsin_core::{Channel, IncidentId, IncidentStatus, Role, ServiceId, TeamId, Urgency, UserId};
use tocsin_store::{Actor, Incident, IncidentFilter, SEARCH_MAX_CHARS, Store};

/// Incidents on one page of the list.
const LIST_PAGE_SIZE: u32 = 25;
/// Open incidents the dashboard shows before linking to the list.
const DASHBOARD_INCIDENTS_MAX: u32 = 100;
/// The dashboard's horizon for "your next shifts".
const MY_SHIFTS_AHEAD: SignedDuration = SignedDuration::from_hours(7 * 24);
const MY_SHIFTS_MAX: usize = 5;
/// Recent change events on the dashboard, and how many services are asked for them.
const CHANGES_MAX: usize = 8;
const CHANGES_SERVICES_MAX: usize = 50;

/// Names of people and services, to show instead of ids.
struct Names {
    users: HashMap<String, String>,
    services: HashMap<String, String>,
    /// Deactivated people: named, but nobody to hand an incident to.
    deactivated: Vec<String>,
}

impl Names {
    async fn load(store: &dyn Store) -> Result<Self, UiError> {
        let all = store.list_users().await?;
        let deactivated = all
            .iter()
            .filter(|u| !u.active)
            .map(|u| u.id.0.clone())
            .collect();
        let users = all.into_iter().map(|u| (u.id.0, u.name)).collect();
        let services = store
            .list_services()
            .await?
            .into_iter()
            .map(|s| (s.id.0, s.name))
            .collect();
        Ok(Self {
            users,
            services,
            deactivated,
        })
    }

    fn user(&self, id: &str) -> String {
        self.users
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("user {id}"))
    }

    fn service(&self, id: &str) -> String {
        self.services
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("service {id}"))
    }

    fn people(&self, ids: &[UserId]) -> String {
        ids.iter()
            .map(|u| self.user(&u.0))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One incident in a list.
pub struct IncidentRow {
    pub id: String,
    pub number: i64,
    pub title: String,
    pub service: String,
    pub status: &'static str,
    pub urgency: &'static str,
    pub age: String,
    pub opened: String,
    pub opened_iso: String,
    pub assignees: String,
}

fn row(i: &Incident, names: &Names, tz: &TimeZone, now: Timestamp) -> IncidentRow {
    IncidentRow {
        id: i.id.0.clone(),
        number: i.number,
        title: i.title.clone(),
        service: names.service(&i.service_id.0),
        status: i.status.as_str(),
        urgency: i.urgency.as_str(),
        age: age(i.created_at, now),
        opened: when(i.created_at, tz, now),
        opened_iso: iso(i.created_at),
        assignees: names.people(&i.assignees),
    }
}

// ---- dashboard ----

pub struct DashboardView {
    high: Vec<IncidentRow>,
    low: Vec<IncidentRow>,
    more: bool,
    oncall: Vec<OnCallRow>,
    my_shifts: Vec<ShiftRow>,
    changes: Vec<ChangeRow>,
}

struct OnCallRow {
    schedule_id: String,
    schedule: String,
    person: Option<String>,
    me: bool,
    until: String,
}

struct ShiftRow {
    schedule_id: String,
    schedule: String,
    from: String,
    to: String,
}

struct ChangeRow {
    service: String,
    summary: String,
    when: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    view: DashboardView,
}

#[derive(Template)]
#[template(path = "_dashboard.html")]
struct DashboardFragment {
    view: DashboardView,
}

async fn dashboard_view(s: &AppState, me: &Signed) -> Result<DashboardView, UiError> {
    let now = s.clock.now();
    let tz = zone(&me.user.time_zone);
    let names = Names::load(&*s.store).await?;
    let mut open = s
        .store
        .list_incidents(IncidentFilter {
            statuses: vec![IncidentStatus::Triggered, IncidentStatus::Acknowledged],
            limit: DASHBOARD_INCIDENTS_MAX + 1,
            ..Default::default()
        })
        .await?;
    let more = open.len() > DASHBOARD_INCIDENTS_MAX as usize;
    open.truncate(DASHBOARD_INCIDENTS_MAX as usize);
    // Within an urgency, what nobody has taken yet comes first, then the oldest.
    open.sort_by_key(|i| (i.status != IncidentStatus::Triggered, i.created_at));
    let (high, low): (Vec<_>, Vec<_>) = open.iter().partition(|i| i.urgency == Urgency::High);

    let mut oncall = Vec::new();
    let mut my_shifts = Vec::new();
    let ahead = QueryRange::new(now, now + MY_SHIFTS_AHEAD).ok();
    for record in s.store.list_schedules().await? {
        let Ok(sched) = record.parse() else {
            tracing::error!(schedule = %record.id, "stored schedule no longer parses");
            continue;
        };
        let shift = schedule::oncall_at(&sched, now);
        oncall.push(OnCallRow {
            schedule_id: record.id.clone(),
            schedule: record.spec.name.clone(),
            person: shift.as_ref().map(|sh| names.user(&sh.user.0)),
            me: shift.as_ref().is_some_and(|sh| sh.user == me.user.id),
            until: shift
                .as_ref()
                .map(|sh| when(sh.end, &tz, now))
                .unwrap_or_default(),
        });
        if let Some(range) = ahead {
            for sh in schedule::final_shifts(&sched, range) {
                if sh.user == me.user.id {
                    my_shifts.push((
                        sh.start,
                        ShiftRow {
                            schedule_id: record.id.clone(),
                            schedule: record.spec.name.clone(),
                            from: when(sh.start.max(now), &tz, now),
                            to: when(sh.end, &tz, now),
                        },
                    ));
                }
            }
        }
    }
    my_shifts.sort_by_key(|(start, _)| *start);
    let my_shifts = my_shifts
        .into_iter()
        .take(MY_SHIFTS_MAX)
        .map(|(_, r)| r)
        .collect();

    let mut changes = Vec::new();
    for (id, name) in names.services.iter().take(CHANGES_SERVICES_MAX) {
        for c in s
            .store
            .list_change_events(&ServiceId(id.clone()), CHANGES_MAX as u32)
            .await?
        {
            changes.push((c.timestamp, name.clone(), c.summary));
        }
    }
    changes.sort_by_key(|c| std::cmp::Reverse(c.0));
    let changes = changes
        .into_iter()
        .take(CHANGES_MAX)
        .map(|(at, service, summary)| ChangeRow {
            service,
            summary,
            when: ago(at, now),
        })
        .collect();

    Ok(DashboardView {
        high: high.into_iter().map(|i| row(i, &names, &tz, now)).collect(),
        low: low.into_iter().map(|i| row(i, &names, &tz, now)).collect(),
        more,
        oncall,
        my_shifts,
        changes,
    })
}

pub async fn dashboard(
    axum::extract::State(s): State<std::sync::Arc<AppState>>,
    me: Signed,
) -> Result<Response, UiError> {
    let view = dashboard_view(&s, &me).await?;
    html(&DashboardPage {
        chrome: Chrome::new("Dashboard", "dashboard", Some(&me))
            .live("/ui/fragments/dashboard".into(), "*"),
        view,
    })
}

pub async fn dashboard_fragment(
    State(s): State<std::sync::Arc<AppState>>,
    me: Signed,
) -> Result<Response, UiError> {
    html(&DashboardFragment {
        view: dashboard_view(&s, &me).await?,
    })
}

// ---- the incidents list ----

#[derive(Deserialize, Default)]
pub struct ListQuery {
    status: Option<String>,
    service: Option<String>,
    urgency: Option<String>,
    team: Option<String>,
    /// `YYYY-MM-DD` in the reader's time zone: created on or after that day.
    from: Option<String>,
    /// `YYYY-MM-DD` in the reader's time zone: created on or before that day.
    to: Option<String>,
    q: Option<String>,
    before: Option<String>,
}

/// The list's filters, parsed and checked.
struct Filters {
    status: String,
    service: String,
    urgency: String,
    team: String,
    from: String,
    to: String,
    search: String,
    created_from: Option<Timestamp>,
    created_to: Option<Timestamp>,
    before: Option<i64>,
}

/// The start of a `YYYY-MM-DD` day in `tz` (`field` names it in the error).
fn day_start(field: &str, v: &str, tz: &TimeZone, next: bool) -> Result<Timestamp, UiError> {
    let bad = || UiError::BadRequest(format!("{field} must be a date such as 2026-01-31."));
    let day: jiff::civil::Date = v.parse().map_err(|_| bad())?;
    let day = if next {
        day.tomorrow().map_err(|_| bad())?
    } else {
        day
    };
    tz.to_ambiguous_timestamp(day.to_datetime(jiff::civil::Time::midnight()))
        .compatible()
        .map_err(|_| bad())
}

impl Filters {
    fn parse(q: &ListQuery, tz: &TimeZone) -> Result<Self, UiError> {
        let status = q
            .status
            .as_deref()
            .filter(|v| !v.is_empty())
            .unwrap_or("open");
        if !matches!(
            status,
            "open" | "triggered" | "acknowledged" | "resolved" | "all"
        ) {
            return Err(UiError::BadRequest(
                "status must be open, triggered, acknowledged, resolved or all.".into(),
            ));
        }
        let urgency = q.urgency.clone().unwrap_or_default();
        if !urgency.is_empty() && Urgency::parse(&urgency).is_none() {
            return Err(UiError::BadRequest("urgency must be high or low.".into()));
        }
        let before = match q.before.as_deref().filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => Some(
                v.parse::<i64>()
                    .map_err(|_| UiError::BadRequest("before must be a number.".into()))?,
            ),
        };
        let from = q.from.clone().unwrap_or_default().trim().to_owned();
        let to = q.to.clone().unwrap_or_default().trim().to_owned();
        let created_from = Some(&from)
            .filter(|v| !v.is_empty())
            .map(|v| day_start("From", v, tz, false))
            .transpose()?;
        let created_to = Some(&to)
            .filter(|v| !v.is_empty())
            .map(|v| day_start("To", v, tz, true))
            .transpose()?;
        if let (Some(f), Some(t)) = (created_from, created_to)
            && f >= t
        {
            return Err(UiError::BadRequest(
                "To must be the same day as From or later.".into(),
            ));
        }
        let search = q.q.clone().unwrap_or_default().trim().to_owned();
        if search.chars().count() > SEARCH_MAX_CHARS {
            return Err(UiError::BadRequest(format!(
                "Search must be at most {SEARCH_MAX_CHARS} characters."
            )));
        }
        Ok(Self {
            status: status.to_owned(),
            service: q.service.clone().unwrap_or_default(),
            urgency,
            team: q.team.clone().unwrap_or_default(),
            from,
            to,
            search,
            created_from,
            created_to,
            before,
        })
    }

    fn store_filter(&self) -> IncidentFilter {
        let statuses = match self.status.as_str() {
            "open" => vec![IncidentStatus::Triggered, IncidentStatus::Acknowledged],
            "all" => Vec::new(),
            one => IncidentStatus::parse(one).into_iter().collect(),
        };
        IncidentFilter {
            statuses,
            service_id: Some(self.service.clone())
                .filter(|s| !s.is_empty())
                .map(ServiceId),
            limit: LIST_PAGE_SIZE + 1,
            before_number: self.before,
            urgency: Urgency::parse(&self.urgency),
            team_id: Some(self.team.clone())
                .filter(|t| !t.is_empty())
                .map(TeamId),
            created_from: self.created_from,
            created_to: self.created_to,
            search: Some(self.search.clone()).filter(|q| !q.is_empty()),
        }
    }

    fn query(&self, before: Option<i64>) -> String {
        let before = before.map(|n| n.to_string()).unwrap_or_default();
        query(&[
            ("status", &self.status),
            ("service", &self.service),
            ("urgency", &self.urgency),
            ("team", &self.team),
            ("from", &self.from),
            ("to", &self.to),
            ("q", &self.search),
            ("before", &before),
        ])
    }
}

pub struct ListView {
    rows: Vec<IncidentRow>,
    /// The next (older) page, and the first page when this is not it.
    older: Option<String>,
    newest: Option<String>,
}

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct ListPage {
    chrome: Chrome,
    statuses: Vec<Choice>,
    services: Vec<Choice>,
    urgencies: Vec<Choice>,
    teams: Vec<Choice>,
    from: String,
    to: String,
    search: String,
    search_max: usize,
    list: ListView,
}

#[derive(Template)]
#[template(path = "_incident_list.html")]
struct ListFragment {
    list: ListView,
}

async fn list_view(s: &AppState, me: &Signed, f: &Filters) -> Result<ListView, UiError> {
    let now = s.clock.now();
    let tz = zone(&me.user.time_zone);
    let names = Names::load(&*s.store).await?;
    let mut incidents = s.store.list_incidents(f.store_filter()).await?;
    let older = if incidents.len() > LIST_PAGE_SIZE as usize {
        incidents.truncate(LIST_PAGE_SIZE as usize);
        incidents
            .last()
            .map(|i| format!("/incidents{}", f.query(Some(i.number))))
    } else {
        None
    };
    let newest = f.before.map(|_| format!("/incidents{}", f.query(None)));
    Ok(ListView {
        rows: incidents.iter().map(|i| row(i, &names, &tz, now)).collect(),
        older,
        newest,
    })
}

fn choices(options: &[(&str, &str)], current: &str) -> Vec<Choice> {
    options
        .iter()
        .map(|(value, label)| Choice {
            value: (*value).to_owned(),
            label: (*label).to_owned(),
            selected: *value == current,
        })
        .collect()
}

pub async fn list(
    State(s): State<std::sync::Arc<AppState>>,
    me: Signed,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, UiError> {
    let Query(q) = q.map_err(bad_query)?;
    let f = Filters::parse(&q, &zone(&me.user.time_zone))?;
    let list = list_view(&s, &me, &f).await?;
    let mut teams = vec![Choice {
        value: String::new(),
        label: "Any team".into(),
        selected: f.team.is_empty(),
    }];
    teams.extend(s.store.list_teams().await?.into_iter().map(|t| Choice {
        selected: t.id.0 == f.team,
        value: t.id.0,
        label: t.name,
    }));
    let mut services = vec![Choice {
        value: String::new(),
        label: "Any service".into(),
        selected: f.service.is_empty(),
    }];
    services.extend(
        s.store
            .list_services()
            .await?
            .into_iter()
            .map(|svc| Choice {
                selected: svc.id.0 == f.service,
                value: svc.id.0,
                label: svc.name,
            }),
    );
    html(&ListPage {
        chrome: Chrome::new("Incidents", "incidents", Some(&me))
            .live(format!("/ui/fragments/incidents{}", f.query(f.before)), "*"),
        statuses: choices(
            &[
                ("open", "Open"),
                ("triggered", "Triggered"),
                ("acknowledged", "Acknowledged"),
                ("resolved", "Resolved"),
                ("all", "All"),
            ],
            &f.status,
        ),
        services,
        urgencies: choices(
            &[("", "Any urgency"), ("high", "High"), ("low", "Low")],
            &f.urgency,
        ),
        teams,
        from: f.from.clone(),
        to: f.to.clone(),
        search: f.search.clone(),
        search_max: SEARCH_MAX_CHARS,
        list,
    })
}

pub async fn list_fragment(
    State(s): State<std::sync::Arc<AppState>>,
    me: Signed,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, UiError> {
    let Query(q) = q.map_err(bad_query)?;
    let f = Filters::parse(&q, &zone(&me.user.time_zone))?;
    html(&ListFragment {
        list: list_view(&s, &me, &f).await?,
    })
}

// ---- one incident ----

pub struct IncidentView {
    id: String,
    number: i64,
    title: String,
    status: &'static str,
    urgency: &'static str,
    severity: &'static str,
    service: String,
    service_id: String,
    opened: String,
    opened_iso: String,
    opened_age: String,
    acknowledged: Option<String>,
    resolved: Option<String>,
    assignees: String,
    open: bool,
    triggered: bool,
    can_act: bool,
    csrf: String,
    alerts: Vec<AlertView>,
    timeline: Vec<TimelineRow>,
    notifications: Vec<NotificationRow>,
}

struct AlertView {
    summary: String,
    status: &'static str,
    severity: &'static str,
    source: String,
    facts: Vec<(&'static str, String)>,
    links: Vec<LinkView>,
    details: Option<String>,
}

struct LinkView {
    href: Option<String>,
    text: String,
}

struct TimelineRow {
    when: String,
    iso: String,
    kind: String,
    actor: String,
    channel: String,
    message: String,
}

struct NotificationRow {
    person: String,
    kind: String,
    state: String,
    attempts: u32,
    when: String,
    error: String,
}

/// Only web links become links: an alert may carry any text in `href`.
fn web_link(href: &str, text: Option<&str>) -> LinkView {
    let safe = href.starts_with("https://") || href.starts_with("http://");
    LinkView {
        href: safe.then(|| href.to_owned()),
        text: text
            .filter(|t| !t.trim().is_empty())
            .unwrap_or(href)
            .to_owned(),
    }
}

/// An incident by id, or by number (notification texts and people say "#42").
async fn find_incident(store: &dyn Store, key: &str) -> Result<Incident, UiError> {
    let by_number = key.len() < 19 && !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit());
    if by_number {
        let n = key.parse().map_err(|_| UiError::NotFound("incident"))?;
        Ok(store.get_incident_by_number(n).await?)
    } else {
        Ok(store.get_incident(&IncidentId(key.to_owned())).await?)
    }
}

async fn incident_view(
    s: &AppState,
    me: &Signed,
    inc: &Incident,
    names: &Names,
) -> Result<IncidentView, UiError> {
    let now = s.clock.now();
    let tz = zone(&me.user.time_zone);
    let alerts = s
        .store
        .incident_alerts(&inc.id)
        .await?
        .into_iter()
        .map(|a| {
            let mut facts = vec![("Dedup key", a.dedup_key.clone())];
            for (label, v) in [
                ("Component", &a.component),
                ("Group", &a.group),
                ("Class", &a.class),
            ] {
                if let Some(v) = v {
                    facts.push((label, v.clone()));
                }
            }
            facts.push(("Occurrences", a.occurrences.to_string()));
            facts.push(("First seen", when(a.first_seen, &tz, now)));
            facts.push(("Last seen", when(a.last_seen, &tz, now)));
            if let Some(r) = a.resolved_at {
                facts.push(("Resolved", when(r, &tz, now)));
            }
            let mut links: Vec<LinkView> = a
                .links
                .iter()
                .map(|l| web_link(&l.href, l.text.as_deref()))
                .collect();
            if let Some(url) = &a.client_url {
                links.push(web_link(url, a.client.as_deref()));
            }
            // Images are linked, never loaded: no request leaves for another host.
            links.extend(
                a.images
                    .iter()
                    .map(|i| web_link(i.href.as_deref().unwrap_or(&i.src), i.alt.as_deref())),
            );
            AlertView {
                summary: a.summary,
                status: a.status.as_str(),
                severity: a.severity.as_str(),
                source: a.source,
                facts,
                links,
                details: a
                    .custom_details
                    .as_ref()
                    .and_then(|d| serde_json::to_string_pretty(d).ok()),
            }
        })
        .collect();
    let timeline = s
        .store
        .timeline(&inc.id)
        .await?
        .into_iter()
        .rev()
        .map(|e| TimelineRow {
            when: when(e.at, &tz, now),
            iso: iso(e.at),
            kind: e.kind,
            actor: e.actor,
            channel: e.channel.map(|c| c.as_str().to_owned()).unwrap_or_default(),
            message: e.message,
        })
        .collect();
    let notifications = s
        .store
        .list_notifications(&inc.id)
        .await?
        .into_iter()
        .map(|n| NotificationRow {
            person: names.user(&n.user_id.0),
            kind: n
                .contact_type
                .map(|t| t.as_str().to_owned())
                .unwrap_or_else(|| "removed method".into()),
            state: n.state,
            attempts: n.attempts,
            when: when(n.sent_at.unwrap_or(n.due_at), &tz, now),
            error: n.last_error.unwrap_or_default(),
        })
        .collect();
    Ok(IncidentView {
        id: inc.id.0.clone(),
        number: inc.number,
        title: inc.title.clone(),
        status: inc.status.as_str(),
        urgency: inc.urgency.as_str(),
        severity: inc.severity.as_str(),
        service: names.service(&inc.service_id.0),
        service_id: inc.service_id.0.clone(),
        opened: when(inc.created_at, &tz, now),
        opened_iso: iso(inc.created_at),
        opened_age: ago(inc.created_at, now),
        acknowledged: inc.acknowledged_at.map(|t| when(t, &tz, now)),
        resolved: inc.resolved_at.map(|t| when(t, &tz, now)),
        assignees: names.people(&inc.assignees),
        open: inc.status.is_open(),
        triggered: inc.status == IncidentStatus::Triggered,
        can_act: me.can(Role::Responder),
        csrf: me.csrf.clone(),
        alerts,
        timeline,
        notifications,
    })
}

pub(super) struct PathView {
    pub(super) steps: Vec<PathStep>,
    pub(super) warnings: Vec<String>,
}

pub(super) struct PathStep {
    pub(super) label: String,
    pub(super) when: String,
    pub(super) people: Vec<String>,
}

/// Who would be paged, when and how, in the reader's zone (the engine's preview, laid out).
pub(super) fn path_view(
    preview: tocsin_engine::preview::PagePath,
    tz: &TimeZone,
    now: Timestamp,
) -> PathView {
    PathView {
        steps: preview
            .steps
            .iter()
            .map(|st| PathStep {
                label: if st.round == 0 {
                    format!("Level {}", st.level)
                } else {
                    format!("Level {}, repeat {}", st.level, st.round)
                },
                when: format!(
                    "{} ({})",
                    format::clock(st.at, tz),
                    if st.at <= now {
                        "at once".to_owned()
                    } else {
                        format!("after {}", format::span(st.at.duration_since(now)))
                    }
                ),
                people: st
                    .people
                    .iter()
                    .map(|p| {
                        let how: Vec<&str> =
                            p.notifications.iter().map(|n| n.kind.as_str()).collect();
                        let via = p
                            .via
                            .strip_prefix("schedule:")
                            .map(|_| " (on call)")
                            .unwrap_or("");
                        if how.is_empty() {
                            format!("{}{via}: no verified contact method", p.name)
                        } else {
                            format!("{}{via}: {}", p.name, how.join(", "))
                        }
                    })
                    .collect(),
            })
            .collect(),
        warnings: preview.warnings,
    }
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage {
    chrome: Chrome,
    inc: IncidentView,
    notice: Option<String>,
    error: Option<String>,
    people: Vec<(String, String)>,
    levels: Vec<usize>,
    path: PathView,
}

#[derive(Template)]
#[template(path = "_incident_live.html")]
struct IncidentFragment {
    inc: IncidentView,
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    done: Option<String>,
}

async fn incident_page(
    s: &AppState,
    me: &Signed,
    inc: &Incident,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, UiError> {
    let now = s.clock.now();
    let tz = zone(&me.user.time_zone);
    let names = Names::load(&*s.store).await?;
    let view = incident_view(s, me, inc, &names).await?;
    let preview =
        tocsin_engine::preview::page_path(&*s.store, &inc.service_id, now, inc.urgency).await?;
    let levels = match &preview.escalation_policy_id {
        Some(id) => s.store.get_escalation_policy(id).await?.levels.len(),
        None => 0,
    };
    let path = path_view(preview, &tz, now);
    let mut people: Vec<(String, String)> = names
        .users
        .into_iter()
        .filter(|(id, _)| !names.deactivated.contains(id))
        .collect();
    people.sort_by(|a, b| a.1.cmp(&b.1));
    let title = format!("#{} {}", inc.number, inc.title);
    let page = IncidentPage {
        chrome: Chrome::new(title, "incidents", Some(me))
            .live(format!("/ui/fragments/incidents/{}", inc.id), &inc.id.0),
        inc: view,
        notice,
        error,
        people,
        levels: (1..=levels).collect(),
        path,
    };
    html(&page)
}

pub async fn page(
    State(s): State<std::sync::Arc<AppState>>,
    me: Signed,
    Path(key): Path<String>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, UiError> {
    let inc = find_incident(&*s.store, &key).await?;
    let notice = q.ok().and_then(|Query(q)| q.done).and_then(|d| {
        Some(match d.as_str() {
            "acknowledged" => "Acknowledged: escalation has stopped.",
            "resolved" => "Resolved.",
            "escalated" => "Escalated: the level is being paged now.",
            "reassigned" => "Reassigned: they are being paged now.",
            "noted" => "Note added.",
            "snoozed" => "Snoozed: it will be triggered again when the snooze ends.",
            _ => return None,
        })
    });
    incident_page(&s, &me, &inc, notice.map(Into::into), None).await
}

pub async fn page_fragment(
    State(s): State<std::sync::Arc<AppState>>,
    me: Signed,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let inc = find_incident(&*s.store, &id).await?;
    let names = Names::load(&*s.store).await?;
    html(&IncidentFragment {
        inc: incident_view(&s, &me, &inc, &names).await?,
    })
}

// ---- actions ----

#[derive(Deserialize)]
pub struct ActionForm {
    csrf: String,
    /// Escalate: the level (1-based); empty for the next one.
    level: Option<String>,
    /// Reassign: the person.
    user_id: Option<String>,
    /// Add note: the text.
    note: Option<String>,
    /// Snooze: for how many minutes.
    minutes: Option<String>,
}

/// What an action needs before it runs: a responder, a form from this session.
async fn authorize(
    s: &AppState,
    me: &Signed,
    headers: &HeaderMap,
    id: &str,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<(Incident, ActionForm), UiError> {
    let Form(f) = form.map_err(|_| UiError::Csrf)?;
    me.check_form(headers, &f.csrf)?;
    me.require(Role::Responder)?;
    let inc = find_incident(&*s.store, id).await?;
    Ok((inc, f))
}

/// After an action: back to the page (so a reload does not post again), or the page with why
/// the action was refused.
async fn finish(
    s: &AppState,
    me: &Signed,
    inc: &Incident,
    result: Result<(), UiError>,
    done: &str,
) -> Result<Response, UiError> {
    match result {
        Ok(()) => {
            let _ = s
                .live
                .send(tocsin_engine::LiveEvent::IncidentChanged { id: inc.id.clone() });
            Ok(Redirect::to(&format!("/incidents/{}?done={done}", inc.id)).into_response())
        }
        Err(e) => {
            let (status, why) = match e {
                UiError::Conflict(why) => (axum::http::StatusCode::CONFLICT, why),
                UiError::BadRequest(why) => (axum::http::StatusCode::BAD_REQUEST, why),
                other => return Err(other),
            };
            let fresh = s.store.get_incident(&inc.id).await?;
            let mut resp = incident_page(s, me, &fresh, None, Some(format!("{why}."))).await?;
            *resp.status_mut() = status;
            Ok(resp)
        }
    }
}

pub async fn acknowledge(
    State(s): State<std::sync::Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Response, UiError> {
    let (inc, _) = authorize(&s, &me, &headers, &id, form).await?;
    let r = s
        .store
        .acknowledge_incident(&inc.id, &Actor::user(&me.user), Channel::Web, s.clock.now())
        .await
        .map(|_| ())
        .map_err(UiError::from);
    finish(&s, &me, &inc, r, "acknowledged").await
}

pub async fn snooze(
    State(s): State<std::sync::Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Response, UiError> {
    use crate::api::{SNOOZE_MINUTES_MAX, SNOOZE_MINUTES_MIN};
    let (inc, f) = authorize(&s, &me, &headers, &id, form).await?;
    let minutes = f
        .minutes
        .as_deref()
        .map(str::trim)
        .and_then(|m| m.parse::<u32>().ok())
        .filter(|m| (SNOOZE_MINUTES_MIN..=SNOOZE_MINUTES_MAX).contains(m))
        .ok_or_else(|| {
            UiError::BadRequest(format!(
                "Snooze for must be {SNOOZE_MINUTES_MIN} to {SNOOZE_MINUTES_MAX} minutes"
            ))
        });
    let r = match minutes {
        Err(e) => Err(e),
        Ok(minutes) => s
            .store
            .snooze_incident(
                &inc.id,
                &Actor::user(&me.user),
                Channel::Web,
                minutes,
                s.clock.now(),
            )
            .await
            .map(|_| ())
            .map_err(UiError::from),
    };
    finish(&s, &me, &inc, r, "snoozed").await
}

pub async fn resolve(
    State(s): State<std::sync::Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Response, UiError> {
    let (inc, _) = authorize(&s, &me, &headers, &id, form).await?;
    let r = s
        .store
        .resolve_incident(&inc.id, &Actor::user(&me.user), Channel::Web, s.clock.now())
        .await
        .map(|_| ())
        .map_err(UiError::from);
    finish(&s, &me, &inc, r, "resolved").await
}

pub async fn escalate(
    State(s): State<std::sync::Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Response, UiError> {
    let (inc, f) = authorize(&s, &me, &headers, &id, form).await?;
    let level = match f.level.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
        None => Ok(None),
        Some(l) => l
            .parse::<u32>()
            .map(Some)
            .map_err(|_| UiError::BadRequest("The level must be a number".into())),
    };
    let r = match level {
        Ok(level) => s
            .store
            .escalate_incident(&inc.id, level, &Actor::user(&me.user), s.clock.now())
            .await
            .map(|_| ())
            .map_err(UiError::from),
        Err(e) => Err(e),
    };
    finish(&s, &me, &inc, r, "escalated").await
}

pub async fn reassign(
    State(s): State<std::sync::Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Response, UiError> {
    let (inc, f) = authorize(&s, &me, &headers, &id, form).await?;
    let r = match f.user_id.filter(|u| !u.is_empty()) {
        None => Err(UiError::BadRequest(
            "Choose the person to reassign to".into(),
        )),
        Some(user) => s
            .store
            .reassign_incident(
                &inc.id,
                &UserId(user),
                &Actor::user(&me.user),
                s.clock.now(),
            )
            .await
            .map(|_| ())
            .map_err(UiError::from),
    };
    finish(&s, &me, &inc, r, "reassigned").await
}

pub async fn add_note(
    State(s): State<std::sync::Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Result<Response, UiError> {
    let (inc, f) = authorize(&s, &me, &headers, &id, form).await?;
    let text = f.note.unwrap_or_default();
    let text = text.trim();
    let r = if text.is_empty() {
        Err(UiError::BadRequest("Write the note first".into()))
    } else if text.chars().count() > NOTE_CHARS_MAX {
        Err(UiError::BadRequest(format!(
            "A note has at most {NOTE_CHARS_MAX} characters"
        )))
    } else {
        s.store
            .add_note(
                &inc.id,
                &Actor::user(&me.user),
                Channel::Web,
                text,
                s.clock.now(),
            )
            .await
            .map(|_| ())
            .map_err(UiError::from)
    };
    finish(&s, &me, &inc, r, "noted").await
}
