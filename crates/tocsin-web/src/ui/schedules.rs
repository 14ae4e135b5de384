//! The schedules pages: the list with who is on call now; a form to create a schedule with its
//! layers (admins), and the same form prefilled to edit one; and one schedule's final shifts
//! over a week or a month as CSS grids (days by
//! half-hours, in the reader's time zone) with coverage gaps marked, each bar a link that fills
//! in the override form below it, the same shifts as a list for screen readers, each layer's
//! own shifts, its overrides each with a remove button, and the calendar (ICS) link with its
//! revocation. The rules are the core's
//! (`Schedule::parse`, `final_shifts`, `layer_shifts`, `gaps`, `OverrideSpec::parse`), the same
//! the REST API applies; this module only lays them out and turns form fields into specs.

use super::format::{query, span, when, zone};
use super::forms::{Errors, Posted};
use super::{Chrome, Signed, UiError, html};
use crate::AppState;
use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use tocsin_core::Role;
use tocsin_core::schedule::{
    self, LayerSpec, OverrideSpec, QueryRange, RestrictionSpec, RotationSpec, Schedule,
    ScheduleSpec,
};
use tocsin_store::ScheduleRecord;

/// Half-hour columns of one day in the week view.
const SLOTS_PER_DAY: i64 = 48;

struct ScheduleRow {
    id: String,
    name: String,
    time_zone: String,
    person: Option<String>,
    until: String,
}

#[derive(Template)]
#[template(path = "schedules.html")]
struct SchedulesPage {
    chrome: Chrome,
    schedules: Vec<ScheduleRow>,
    can_admin: bool,
}

async fn user_names(s: &AppState) -> Result<HashMap<String, String>, UiError> {
    Ok(s.store
        .list_users()
        .await?
        .into_iter()
        .map(|u| (u.id.0, u.name))
        .collect())
}

pub async fn list(State(s): State<Arc<AppState>>, me: Signed) -> Result<Response, UiError> {
    let now = s.clock.now();
    let tz = zone(&me.user.time_zone);
    let names = user_names(&s).await?;
    let mut schedules = Vec::new();
    for record in s.store.list_schedules().await? {
        let shift = record
            .parse()
            .ok()
            .and_then(|sch| schedule::oncall_at(&sch, now));
        schedules.push(ScheduleRow {
            id: record.id,
            name: record.spec.name,
            time_zone: record.spec.time_zone,
            person: shift
                .as_ref()
                .map(|sh| names.get(&sh.user.0).cloned().unwrap_or(sh.user.0.clone())),
            until: shift.map(|sh| when(sh.end, &tz, now)).unwrap_or_default(),
        });
    }
    html(&SchedulesPage {
        chrome: Chrome::new("Schedules", "schedules", Some(&me)),
        schedules,
        can_admin: me.can(Role::Admin),
    })
}

/// One bar of a week grid: a final shift or a gap, a link that fills in the override form.
struct Segment {
    /// `row1`..`row7`: the day.
    row: usize,
    start: i64,
    end: i64,
    label: String,
    title: String,
    me: bool,
    gap: bool,
    href: String,
}

struct Day {
    row: usize,
    label: String,
}

/// One week of the final schedule: 7 day rows by 48 half-hours.
struct WeekGrid {
    label: String,
    days: Vec<Day>,
    segments: Vec<Segment>,
}

struct ShiftLine {
    person: String,
    from: String,
    to: String,
    length: String,
    me: bool,
}

struct LayerView {
    name: String,
    rotation: String,
    shifts: Vec<ShiftLine>,
}

/// One override in the page's range, with its id for the remove button.
struct OverrideView {
    id: String,
    text: String,
}

/// The override form's values, as `datetime-local` strings in the reader's zone.
#[derive(Default)]
struct OverrideValues {
    user: String,
    start: String,
    end: String,
}

#[derive(Template)]
#[template(path = "schedule.html")]
struct SchedulePage {
    chrome: Chrome,
    id: String,
    name: String,
    time_zone: String,
    reader_zone: String,
    month: bool,
    range_label: String,
    prev: String,
    next: String,
    week_href: String,
    month_href: String,
    /// The view's own query (`week=…` or `month=…`), kept by the forms.
    view_field: &'static str,
    view_value: String,
    grids: Vec<WeekGrid>,
    shifts: Vec<ShiftLine>,
    gaps: Vec<String>,
    layers: Vec<LayerView>,
    overrides: Vec<OverrideView>,
    notice: Option<&'static str>,
    can_override: bool,
    can_admin: bool,
    csrf: String,
    people: Vec<(String, String)>,
    o: OverrideValues,
    errors: Errors,
    feed_url: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ViewQuery {
    /// A day of the week to show, `YYYY-MM-DD`; default this week.
    week: Option<String>,
    /// A month to show instead, `YYYY-MM`.
    month: Option<String>,
    /// The override form's prefilled times (from a bar of the grid).
    from: Option<String>,
    to: Option<String>,
    done: Option<String>,
    feed: Option<String>,
}

/// The half-hour column of a moment within a day that starts at `day`, in `tz`'s wall time (so
/// a day of 23 or 25 hours still fills 48 columns).
fn slot(t: Timestamp, day: &ZonedDateTime, tz: &TimeZone, round_up: bool) -> i64 {
    let z = t.to_zoned_datetime(tz.clone());
    if z.date() != day.date() {
        return if t < day.timestamp() {
            0
        } else {
            SLOTS_PER_DAY
        };
    }
    let mins = i64::from(z.hour()) * 60 + i64::from(z.minute());
    if round_up {
        (mins + 29) / 30
    } else {
        mins / 30
    }
}

fn day_start(date: Date, tz: &TimeZone) -> Result<ZonedDateTime, UiError> {
    date.to_zoned_datetime(tz.clone()).map_err(|e| {
        tracing::error!(error = %e, "a day has no start in this time zone");
        UiError::Internal
    })
}

/// A moment as an `<input type="datetime-local">` value in `tz`.
fn local_input(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%dT%H:%M")
        .to_string()
}

/// A `datetime-local` value read in `tz`, as the RFC 3339 instant the core's specs take.
fn instant(raw: &str, tz: &TimeZone) -> Option<String> {
    let dt: DateTime = raw.trim().parse().ok()?;
    let z = dt.to_zoned_datetime(tz.clone()).ok()?;
    Some(z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string())
}

fn days(d: i64) -> jiff::Span {
    jiff::Span::new().days(d)
}

fn monday_of(d: Date) -> Date {
    d.saturating_sub(days(i64::from(d.weekday().to_monday_zero_offset())))
}

/// What the page shows: the Mondays of its weeks, and whether it is a month.
struct Range {
    mondays: Vec<Date>,
    month: Option<Date>,
    week: Date,
}

fn view_range(q: &ViewQuery, today: Date) -> Result<Range, UiError> {
    if let Some(m) = q.month.as_deref().filter(|m| !m.is_empty()) {
        let first: Date = format!("{m}-01")
            .parse()
            .map_err(|_| UiError::BadRequest("month must be such as 2026-11.".into()))?;
        let last = first.last_of_month();
        let mut mondays = Vec::new();
        let mut d = monday_of(first);
        while d <= last {
            mondays.push(d);
            d = d.saturating_add(days(7));
        }
        return Ok(Range {
            mondays,
            month: Some(first),
            week: monday_of(first),
        });
    }
    let day = match q.week.as_deref().filter(|w| !w.is_empty()) {
        Some(w) => w
            .parse::<Date>()
            .map_err(|_| UiError::BadRequest("week must be a date such as 2026-11-23.".into()))?,
        None => today,
    };
    let monday = monday_of(day);
    Ok(Range {
        mondays: vec![monday],
        month: None,
        week: monday,
    })
}

async fn people(s: &AppState) -> Result<Vec<(String, String)>, UiError> {
    let mut people: Vec<(String, String)> = s
        .store
        .list_users()
        .await?
        .into_iter()
        .map(|u| (u.id.0, u.name))
        .collect();
    people.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(people)
}

pub async fn page(
    State(s): State<Arc<AppState>>,
    me: Signed,
    Path(id): Path<String>,
    q: Result<Query<ViewQuery>, QueryRejection>,
) -> Result<Response, UiError> {
    let Query(q) = q.map_err(super::bad_query)?;
    let o = OverrideValues {
        user: me.user.id.0.clone(),
        start: q.from.clone().unwrap_or_default(),
        end: q.to.clone().unwrap_or_default(),
    };
    let notice = match q.done.as_deref() {
        Some("created") => Some("Schedule created."),
        Some("override") => Some("Override added: it shows in the timeline below."),
        Some("override_removed") => Some("Override removed."),
        Some("updated") => Some("Schedule saved: the timeline below follows the new layers."),
        Some("revoked") => Some("Calendar link revoked: the old link no longer works."),
        _ => None,
    };
    schedule_page(&s, &me, &id, &q, o, Errors::none(), notice).await
}

#[allow(clippy::too_many_lines)]
async fn schedule_page(
    s: &AppState,
    me: &Signed,
    id: &str,
    q: &ViewQuery,
    o: OverrideValues,
    errors: Errors,
    notice: Option<&'static str>,
) -> Result<Response, UiError> {
    let now = s.clock.now();
    let tz = zone(&me.user.time_zone);
    let record = s.store.get_schedule(id).await?;
    let sched = record.parse().map_err(|e| {
        tracing::error!(schedule = %id, error = %e, "stored schedule no longer parses");
        UiError::Internal
    })?;
    let today = now.to_zoned_datetime(tz.clone()).date();
    let r = view_range(q, today)?;
    let first = r.mondays[0];
    let end_day = r.mondays[r.mondays.len() - 1].saturating_add(days(7));
    let range = QueryRange::new(
        day_start(first, &tz)?.timestamp(),
        day_start(end_day, &tz)?.timestamp(),
    )
    .map_err(|_| UiError::Internal)?;
    let names = user_names(s).await?;
    let name_of = |u: &str| names.get(u).cloned().unwrap_or_else(|| u.to_owned());
    let (view_field, view_value) = match r.month {
        Some(m) => ("month", m.strftime("%Y-%m").to_string()),
        None => ("week", r.week.to_string()),
    };
    let base = format!("/schedules/{}", record.id);
    let prefill = |a: Timestamp, b: Timestamp| {
        format!(
            "{base}{}#override",
            query(&[
                (view_field, &view_value),
                ("from", &local_input(a, &tz)),
                ("to", &local_input(b, &tz)),
            ])
        )
    };

    let shifts = schedule::final_shifts(&sched, range);
    let gaps = schedule::gaps(&sched, range);
    let mut grids = Vec::new();
    for monday in &r.mondays {
        let mut starts = Vec::new();
        let mut grid_days = Vec::new();
        for d in 0..8i64 {
            let date = monday.saturating_add(days(d));
            starts.push(day_start(date, &tz)?);
            if d < 7 {
                grid_days.push(Day {
                    row: usize::try_from(d + 1).unwrap_or(1),
                    label: date.strftime("%a %-d %b").to_string(),
                });
            }
        }
        let mut segments = Vec::new();
        let mut lay = |start: Timestamp, end: Timestamp, label: String, me: bool, gap: bool| {
            for d in 0..7 {
                let (ds, de) = (starts[d].timestamp(), starts[d + 1].timestamp());
                if end <= ds || start >= de {
                    continue;
                }
                let a = slot(start.max(ds), &starts[d], &tz, false);
                let mut b = slot(end.min(de), &starts[d], &tz, true);
                if end >= de {
                    b = SLOTS_PER_DAY;
                }
                let b = b.max(a + 1).min(SLOTS_PER_DAY);
                let a = a.min(SLOTS_PER_DAY - 1);
                segments.push(Segment {
                    row: d + 1,
                    start: a,
                    end: b,
                    title: format!(
                        "{label}: {} – {}",
                        when(start, &tz, now),
                        when(end, &tz, now)
                    ),
                    label: label.clone(),
                    me,
                    gap,
                    href: prefill(start, end),
                });
            }
        };
        for sh in &shifts {
            lay(
                sh.start,
                sh.end,
                name_of(&sh.user.0),
                sh.user == me.user.id,
                false,
            );
        }
        for (a, b) in &gaps {
            lay(*a, *b, "nobody".into(), false, true);
        }
        grids.push(WeekGrid {
            label: format!(
                "{} – {}",
                monday.strftime("%-d %b"),
                monday.saturating_add(days(6)).strftime("%-d %b %Y")
            ),
            days: grid_days,
            segments,
        });
    }
    let line = |sh: &schedule::Shift| ShiftLine {
        person: name_of(&sh.user.0),
        from: when(sh.start, &tz, now),
        to: when(sh.end, &tz, now),
        length: span(sh.end.duration_since(sh.start)),
        me: sh.user == me.user.id,
    };
    let layers = schedule::layer_shifts(&sched, range)
        .iter()
        .zip(record.spec.layers.iter())
        .enumerate()
        .map(|(i, (list, spec))| LayerView {
            name: if spec.name.is_empty() {
                format!("Layer {}", i + 1)
            } else {
                spec.name.clone()
            },
            rotation: format!(
                "{} × {}, {}",
                spec.rotation.length,
                spec.rotation.kind,
                spec.users
                    .iter()
                    .map(|u| name_of(&u.0))
                    .collect::<Vec<_>>()
                    .join(" → ")
            ),
            shifts: list.iter().map(line).collect(),
        })
        .collect();
    // The parsed overrides keep the stored order, so the ids line up.
    let overrides = sched
        .overrides()
        .iter()
        .zip(&record.override_ids)
        .filter(|(ov, _)| ov.end() > range.from() && ov.start() < range.to())
        .map(|(ov, id)| OverrideView {
            id: id.clone(),
            text: format!(
                "{}: {} – {}",
                name_of(&ov.user().0),
                when(ov.start(), &tz, now),
                when(ov.end(), &tz, now)
            ),
        })
        .collect();
    let (prev, next, range_label) = match r.month {
        Some(m) => (
            format!(
                "{base}?month={}",
                m.saturating_sub(jiff::Span::new().months(1))
                    .strftime("%Y-%m")
            ),
            format!(
                "{base}?month={}",
                m.saturating_add(jiff::Span::new().months(1))
                    .strftime("%Y-%m")
            ),
            m.strftime("%B %Y").to_string(),
        ),
        None => (
            format!("{base}?week={}", r.week.saturating_sub(days(7))),
            format!("{base}?week={}", r.week.saturating_add(days(7))),
            format!(
                "{} – {}",
                r.week.strftime("%-d %b"),
                r.week.saturating_add(days(6)).strftime("%-d %b %Y")
            ),
        ),
    };
    let feed_url = if q.feed.as_deref() == Some("show") {
        let fresh = crate::auth::new_link_secret();
        let token = s
            .store
            .feed_token("schedule", &record.id, &fresh, now)
            .await?;
        Some(format!("{}/ics/{token}.ics", s.config.public_url))
    } else {
        None
    };
    let page = SchedulePage {
        chrome: Chrome::new(record.spec.name.clone(), "schedules", Some(me)),
        id: record.id.clone(),
        name: record.spec.name.clone(),
        time_zone: record.spec.time_zone.clone(),
        reader_zone: tz.iana_name().unwrap_or("UTC").to_owned(),
        month: r.month.is_some(),
        range_label,
        prev,
        next,
        week_href: format!("{base}?week={}", r.week),
        month_href: format!("{base}?month={}", r.week.strftime("%Y-%m")),
        view_field,
        view_value,
        grids,
        shifts: shifts.iter().map(line).collect(),
        gaps: gaps
            .iter()
            .map(|(a, b)| format!("{} – {}", when(*a, &tz, now), when(*b, &tz, now)))
            .collect(),
        layers,
        overrides,
        notice,
        can_override: me.can(Role::Responder),
        can_admin: me.can(Role::Admin),
        csrf: me.csrf.clone(),
        people: people(s).await?,
        o,
        errors,
        feed_url,
    };
    page.errors.page(&page)
}

// ---- overrides ----

pub async fn add_override(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let f = Posted::checked(&me, &headers, form)?;
    me.require(Role::Responder)?;
    let tz = zone(&me.user.time_zone);
    let q = ViewQuery {
        week: f.opt("week"),
        month: f.opt("month"),
        ..ViewQuery::default()
    };
    let o = OverrideValues {
        user: f.get("user_id").to_owned(),
        start: f.get("start").to_owned(),
        end: f.get("end").to_owned(),
    };
    let (start, end) = (instant(&o.start, &tz), instant(&o.end, &tz));
    if start.is_none() || end.is_none() {
        let field = if start.is_none() { "start" } else { "end" };
        let e = Errors::field(field, "must be a date and time");
        return schedule_page(&s, &me, &id, &q, o, e, None).await;
    }
    let spec = OverrideSpec {
        user_id: tocsin_core::UserId(o.user.clone()),
        start: start.unwrap_or_default(),
        end: end.unwrap_or_default(),
    };
    let checked = spec
        .parse()
        .map_err(|e| crate::error::ApiError::from_parse(e.into()));
    let result = match checked {
        Ok(ov) => s
            .store
            .add_schedule_override(&id, spec, s.clock.now())
            .await
            .map(|_| ov)
            .map_err(crate::error::ApiError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(ov) => {
            tracing::info!(schedule = %id, user = %me.user.id, "override added in the web UI");
            let week = monday_of(ov.start().to_zoned_datetime(tz).date());
            Ok(Redirect::to(&format!(
                "/schedules/{id}?week={week}&done=override#timeline"
            ))
            .into_response())
        }
        Err(e) => {
            let e = Errors::from_api(e)?.keep_only(&["user_id", "start", "end"]);
            schedule_page(&s, &me, &id, &q, o, e, None).await
        }
    }
}

/// Removes one override (responders, as adding one), then shows the same view.
pub async fn delete_override(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path((id, override_id)): Path<(String, String)>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let f = Posted::checked(&me, &headers, form)?;
    me.require(Role::Responder)?;
    s.store
        .delete_schedule_override(&id, &override_id, s.clock.now())
        .await?;
    tracing::info!(schedule = %id, user = %me.user.id, "override removed in the web UI");
    let view = match (f.opt("week"), f.opt("month")) {
        (_, Some(m)) => query(&[("month", &m), ("done", "override_removed")]),
        (Some(w), None) => query(&[("week", &w), ("done", "override_removed")]),
        (None, None) => query(&[("done", "override_removed")]),
    };
    Ok(Redirect::to(&format!("/schedules/{id}{view}#overrides-h")).into_response())
}

// ---- the calendar feed ----

pub async fn show_feed(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    Posted::checked(&me, &headers, form)?;
    s.store.get_schedule(&id).await?;
    Ok(Redirect::to(&format!("/schedules/{id}?feed=show#ics")).into_response())
}

pub async fn revoke_feed(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    Posted::checked(&me, &headers, form)?;
    me.require(Role::Admin)?;
    s.store.get_schedule(&id).await?;
    s.store.revoke_feed("schedule", &id).await?;
    tracing::info!(schedule = %id, user = %me.user.id, "calendar link revoked in the web UI");
    Ok(Redirect::to(&format!("/schedules/{id}?done=revoked#ics")).into_response())
}

// ---- creating and editing a schedule ----

/// People a layer's form offers slots for, in rotation order (more when editing a layer that
/// has more, one spare).
const USER_SLOTS: usize = 6;
/// Layers a new schedule's form starts with.
const START_LAYERS: usize = 1;
const ROTATIONS: [(&str, &str); 3] = [("daily", "days"), ("weekly", "weeks"), ("hourly", "hours")];

struct LayerForm {
    index: usize,
    number: usize,
    name: String,
    start: String,
    rotation: String,
    length: String,
    handoff: String,
    /// (slot, chosen user id or empty)
    slots: Vec<(usize, String)>,
    window_start: String,
    window_end: String,
    /// When editing: the stored layer whose restrictions the form cannot show (weekly ones,
    /// days, several windows), kept unless a daily window is typed instead; and how many.
    keep: String,
    kept: usize,
    /// Ticked "remove this layer" (offered when editing).
    remove: bool,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "schedule_new.html")]
struct ScheduleForm {
    chrome: Chrome,
    csrf: String,
    /// The schedule being edited, or `None` for a new one.
    editing: Option<String>,
    action: String,
    name: String,
    time_zone: String,
    layers: Vec<LayerForm>,
    can_add: bool,
    people: Vec<(String, String)>,
    rotations: Vec<(&'static str, &'static str)>,
    errors: Errors,
}

fn slots(chosen: &[String]) -> Vec<(usize, String)> {
    let n = USER_SLOTS.max(chosen.len()).min(schedule::LAYER_USERS_MAX);
    (0..n)
        .map(|i| (i, chosen.get(i).cloned().unwrap_or_default()))
        .collect()
}

fn blank_layer(index: usize, start: String) -> LayerForm {
    LayerForm {
        index,
        number: index + 1,
        name: String::new(),
        start,
        rotation: "weekly".into(),
        length: "1".into(),
        handoff: String::new(),
        slots: slots(&[]),
        window_start: String::new(),
        window_end: String::new(),
        keep: String::new(),
        kept: 0,
        remove: false,
        error: None,
    }
}

/// A stored layer as the form shows it, times in the schedule's zone `tz`.
fn layer_form(index: usize, l: &LayerSpec, tz: &TimeZone) -> LayerForm {
    let mut chosen: Vec<String> = l.users.iter().map(|u| u.0.clone()).collect();
    if chosen.len() < schedule::LAYER_USERS_MAX {
        chosen.push(String::new());
    }
    let mut f = LayerForm {
        name: l.name.clone(),
        start: tocsin_core::formats::parse_timestamp(&l.start)
            .map(|t| local_input(t, tz))
            .unwrap_or_default(),
        rotation: l.rotation.kind.clone(),
        length: l.rotation.length.to_string(),
        handoff: l.rotation.handoff.clone().unwrap_or_default(),
        slots: slots(&chosen),
        ..blank_layer(index, String::new())
    };
    match l.restrictions.as_slice() {
        [] => {}
        [r] if r.kind == "daily" && r.days.is_none() => {
            f.window_start.clone_from(&r.start);
            f.window_end.clone_from(&r.end);
        }
        more => {
            f.keep = index.to_string();
            f.kept = more.len();
        }
    }
    f
}

#[allow(clippy::too_many_arguments)]
async fn schedule_form(
    s: &AppState,
    me: &Signed,
    editing: Option<&str>,
    name: String,
    time_zone: String,
    layers: Vec<LayerForm>,
    errors: Errors,
) -> Result<Response, UiError> {
    let (title, action) = match editing {
        Some(id) => (format!("Edit {name}"), format!("/schedules/{id}/edit")),
        None => ("New schedule".to_owned(), "/schedules".to_owned()),
    };
    let page = ScheduleForm {
        chrome: Chrome::new(title, "schedules", Some(me)),
        csrf: me.csrf.clone(),
        editing: editing.map(str::to_owned),
        action,
        name,
        time_zone,
        can_add: layers.len() < schedule::LAYERS_MAX,
        layers,
        people: people(s).await?,
        rotations: ROTATIONS.to_vec(),
        errors,
    };
    page.errors.page(&page)
}

/// Next Monday 09:00, as a suggestion for a new layer's start.
fn suggested_start(s: &AppState, tz: &TimeZone) -> String {
    let today = s.clock.now().to_zoned_datetime(tz.clone()).date();
    format!("{}T09:00", monday_of(today).saturating_add(days(7)))
}

pub async fn new_form(State(s): State<Arc<AppState>>, me: Signed) -> Result<Response, UiError> {
    me.require(Role::Admin)?;
    let tz = zone(&me.user.time_zone);
    let layers = (0..START_LAYERS)
        .map(|i| blank_layer(i, suggested_start(&s, &tz)))
        .collect();
    let zone_name = tz.iana_name().unwrap_or("UTC").to_owned();
    schedule_form(
        &s,
        &me,
        None,
        String::new(),
        zone_name,
        layers,
        Errors::none(),
    )
    .await
}

/// The form prefilled with a schedule's name, zone and layers, plus one blank layer to add.
/// Overrides are not in it: they are added and removed on the schedule's page.
pub async fn edit_form(
    State(s): State<Arc<AppState>>,
    me: Signed,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    me.require(Role::Admin)?;
    let record = s.store.get_schedule(&id).await?;
    let tz = TimeZone::get(&record.spec.time_zone).unwrap_or(TimeZone::UTC);
    let mut layers: Vec<LayerForm> = record
        .spec
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| layer_form(i, l, &tz))
        .collect();
    if layers.len() < schedule::LAYERS_MAX {
        layers.push(blank_layer(layers.len(), suggested_start(&s, &tz)));
    }
    schedule_form(
        &s,
        &me,
        Some(&record.id),
        record.spec.name,
        record.spec.time_zone,
        layers,
        Errors::none(),
    )
    .await
}

pub async fn create(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let f = Posted::checked(&me, &headers, form)?;
    me.require(Role::Admin)?;
    save(&s, &me, &f, None).await
}

pub async fn update(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let f = Posted::checked(&me, &headers, form)?;
    me.require(Role::Admin)?;
    // An unknown schedule is a 404 page, not a form; its layers give kept restrictions.
    let record = s.store.get_schedule(&id).await?;
    save(&s, &me, &f, Some(&record)).await
}

/// Reads the form's fields and creates the schedule, or edits `editing`.
#[allow(clippy::too_many_lines)]
async fn save(
    s: &AppState,
    me: &Signed,
    f: &Posted,
    editing: Option<&ScheduleRecord>,
) -> Result<Response, UiError> {
    let editing_id = editing.map(|r| r.id.as_str());
    let (name, time_zone) = (f.get("name").to_owned(), f.get("time_zone").to_owned());
    let count = f
        .get("layers")
        .parse::<usize>()
        .unwrap_or(START_LAYERS)
        .clamp(1, schedule::LAYERS_MAX);
    let mut layers: Vec<LayerForm> = (0..count)
        .map(|i| {
            let mut chosen = f.all(&format!("user_{i}"));
            chosen.truncate(schedule::LAYER_USERS_MAX);
            let keep = f.get(&format!("keep_{i}")).to_owned();
            let kept = keep
                .parse::<usize>()
                .ok()
                .and_then(|k| editing?.spec.layers.get(k))
                .map_or(0, |l| l.restrictions.len());
            LayerForm {
                index: i,
                number: i + 1,
                name: f.get(&format!("lname_{i}")).to_owned(),
                start: f.get(&format!("start_{i}")).to_owned(),
                rotation: f.get(&format!("rotation_{i}")).to_owned(),
                length: f.get(&format!("length_{i}")).to_owned(),
                handoff: f.get(&format!("handoff_{i}")).to_owned(),
                slots: slots(&chosen),
                window_start: f.get(&format!("wstart_{i}")).to_owned(),
                window_end: f.get(&format!("wend_{i}")).to_owned(),
                keep: if kept > 0 { keep } else { String::new() },
                kept,
                remove: f.has(&format!("remove_{i}")),
                error: None,
            }
        })
        .collect();
    if f.has("add_layer") {
        if layers.len() < schedule::LAYERS_MAX {
            let tz = zone(&me.user.time_zone);
            layers.push(blank_layer(layers.len(), suggested_start(s, &tz)));
        }
        return schedule_form(s, me, editing_id, name, time_zone, layers, Errors::none()).await;
    }
    // The schedule's own zone reads the layers' starts; an unknown zone is the core's to
    // report, so UTC stands in meanwhile.
    let tz = TimeZone::get(time_zone.trim()).unwrap_or(TimeZone::UTC);
    let kept: Vec<usize> = layers
        .iter()
        .filter(|l| !l.remove && l.slots.iter().any(|(_, u)| !u.is_empty()))
        .map(|l| l.index)
        .collect();
    let mut specs = Vec::new();
    for &i in &kept {
        let l = &layers[i];
        let mut why = Vec::new();
        let start = instant(&l.start, &tz).unwrap_or_else(|| {
            why.push("The start must be a date and time.");
            String::new()
        });
        let length = l.length.parse::<i64>().unwrap_or_else(|_| {
            why.push("The length must be a whole number.");
            0
        });
        let restrictions = match (l.window_start.is_empty(), l.window_end.is_empty()) {
            // The stored layer's restrictions the form could not show stay.
            (true, true) => l
                .keep
                .parse::<usize>()
                .ok()
                .and_then(|k| editing?.spec.layers.get(k))
                .map(|stored| stored.restrictions.clone())
                .unwrap_or_default(),
            (false, false) => vec![RestrictionSpec {
                kind: "daily".into(),
                start: l.window_start.clone(),
                end: l.window_end.clone(),
                days: None,
                start_day: None,
                end_day: None,
            }],
            _ => {
                why.push("Give both ends of the daily window, or neither.");
                Vec::new()
            }
        };
        if !why.is_empty() {
            layers[i].error = Some(why.join(" "));
            continue;
        }
        specs.push(LayerSpec {
            name: l.name.clone(),
            start,
            rotation: RotationSpec {
                kind: l.rotation.clone(),
                length,
                handoff: Some(l.handoff.clone()).filter(|h| !h.is_empty()),
            },
            users: l
                .slots
                .iter()
                .filter(|(_, u)| !u.is_empty())
                .map(|(_, u)| tocsin_core::UserId(u.clone()))
                .collect(),
            restrictions,
        });
    }
    if layers.iter().any(|l| l.error.is_some()) {
        let mut e = Errors::none();
        e.general = Some("Check the layers marked below.".into());
        return schedule_form(s, me, editing_id, name, time_zone, layers, e).await;
    }
    let spec = ScheduleSpec {
        name: name.clone(),
        time_zone: time_zone.clone(),
        layers: specs,
        overrides: Vec::new(),
    };
    let result = match editing_id {
        Some(id) => crate::schedules::edit(s, id, spec).await,
        None => match Schedule::parse(&spec) {
            Ok(parsed) => s
                .store
                .create_schedule(parsed.to_spec(), s.clock.now())
                .await
                .map_err(crate::error::ApiError::from),
            Err(e) => Err(crate::error::ApiError::from_parse(e.into())),
        },
    };
    match result {
        Ok(record) => {
            let done = if editing.is_some() {
                "updated"
            } else {
                "created"
            };
            tracing::info!(schedule = %record.id, user = %me.user.id, "schedule {done} in the web UI");
            Ok(Redirect::to(&format!("/schedules/{}?done={done}", record.id)).into_response())
        }
        Err(e) => {
            let errors = Errors::from_api(e)?;
            for (k, &i) in kept.iter().enumerate() {
                layers[i].error = errors.under(&format!("layers[{k}]"));
            }
            let mut errors = errors.keep_only(&["name", "time_zone", "layers"]);
            if errors.general.is_none()
                && errors.get("layers").is_none()
                && errors.get("name").is_none()
                && errors.get("time_zone").is_none()
            {
                errors.general = Some("Check the layers marked below.".into());
            }
            schedule_form(s, me, editing_id, name, time_zone, layers, errors).await
        }
    }
}
