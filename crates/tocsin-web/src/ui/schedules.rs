//! The schedules pages: the list with who is on call now, and one schedule's final shifts over a
//! week as a CSS grid (days by half-hours, in the reader's time zone) with coverage gaps marked,
//! plus the same shifts as a list for screen readers. The rules are the core's
//! (`final_shifts`, `gaps`); this module only lays them out.

use super::format::{span, when, zone};
use super::{Chrome, Signed, UiError, html};
use crate::AppState;
use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use tocsin_core::schedule::{self, QueryRange};

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
    })
}

/// One bar of the week grid.
struct Segment {
    /// `row1`..`row7`: the day.
    row: usize,
    start: i64,
    end: i64,
    label: String,
    title: String,
    me: bool,
    gap: bool,
}

struct Day {
    row: usize,
    label: String,
}

struct ShiftLine {
    person: String,
    from: String,
    to: String,
    length: String,
    me: bool,
}

#[derive(Template)]
#[template(path = "schedule.html")]
struct SchedulePage {
    chrome: Chrome,
    name: String,
    time_zone: String,
    reader_zone: String,
    week_label: String,
    prev: String,
    next: String,
    days: Vec<Day>,
    segments: Vec<Segment>,
    shifts: Vec<ShiftLine>,
    gaps: Vec<String>,
}

#[derive(Deserialize, Default)]
pub struct WeekQuery {
    /// The week's Monday, `YYYY-MM-DD`; default this week.
    week: Option<String>,
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

pub async fn page(
    State(s): State<Arc<AppState>>,
    me: Signed,
    Path(id): Path<String>,
    q: Result<Query<WeekQuery>, QueryRejection>,
) -> Result<Response, UiError> {
    let now = s.clock.now();
    let tz = zone(&me.user.time_zone);
    let record = s.store.get_schedule(&id).await?;
    let sched = record.parse().map_err(|e| {
        tracing::error!(schedule = %id, error = %e, "stored schedule no longer parses");
        UiError::Internal
    })?;
    let today = now.to_zoned_datetime(tz.clone()).date();
    let monday = match q
        .map_err(super::bad_query)?
        .0
        .week
        .filter(|w| !w.is_empty())
    {
        Some(w) => w
            .parse::<Date>()
            .map_err(|_| UiError::BadRequest("week must be a date such as 2026-11-23.".into()))?,
        None => today,
    };
    let monday =
        monday.saturating_sub(jiff::Span::new().days(monday.weekday().to_monday_zero_offset()));
    let mut days = Vec::new();
    let mut starts = Vec::new();
    for d in 0..8i64 {
        let date = monday.saturating_add(jiff::Span::new().days(d));
        starts.push(day_start(date, &tz)?);
        if d < 7 {
            days.push(Day {
                row: usize::try_from(d + 1).unwrap_or(1),
                label: date.strftime("%a %-d %b").to_string(),
            });
        }
    }
    let (from, to) = (starts[0].timestamp(), starts[7].timestamp());
    let range = QueryRange::new(from, to).map_err(|_| UiError::Internal)?;
    let names = user_names(&s).await?;
    let name_of = |u: &str| names.get(u).cloned().unwrap_or_else(|| u.to_owned());

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
            });
        }
    };
    let shifts = schedule::final_shifts(&sched, range);
    for sh in &shifts {
        lay(
            sh.start,
            sh.end,
            name_of(&sh.user.0),
            sh.user == me.user.id,
            false,
        );
    }
    let gaps = schedule::gaps(&sched, range);
    for (a, b) in &gaps {
        lay(*a, *b, "nobody".into(), false, true);
    }
    let week = |d: Date| format!("/schedules/{}?week={d}", record.id);
    html(&SchedulePage {
        chrome: Chrome::new(record.spec.name.clone(), "schedules", Some(&me)),
        name: record.spec.name.clone(),
        time_zone: record.spec.time_zone.clone(),
        reader_zone: tz.iana_name().unwrap_or("UTC").to_owned(),
        week_label: format!(
            "{} – {}",
            monday.strftime("%-d %b"),
            monday
                .saturating_add(jiff::Span::new().days(6))
                .strftime("%-d %b %Y")
        ),
        prev: week(monday.saturating_sub(jiff::Span::new().days(7))),
        next: week(monday.saturating_add(jiff::Span::new().days(7))),
        days,
        segments,
        shifts: shifts
            .iter()
            .map(|sh| ShiftLine {
                person: name_of(&sh.user.0),
                from: when(sh.start, &tz, now),
                to: when(sh.end, &tz, now),
                length: span(sh.end.duration_since(sh.start)),
                me: sh.user == me.user.id,
            })
            .collect(),
        gaps: gaps
            .iter()
            .map(|(a, b)| format!("{} – {}", when(*a, &tz, now), when(*b, &tz, now)))
            .collect(),
    })
}
