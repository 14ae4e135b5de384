//! The wire shape of a schedule (`POST /api/v1/schedules`) and of an override, and their
//! parsing into a `Schedule` that cannot be wrong. Every problem names its field path, such as
//! `layers[0].rotation.length`, and all problems are reported at once, in document order.

use super::restriction::{Restriction, Weekdays};
use super::rotation::{Handoffs, Rotation, RotationKind};
use super::{
    LAYER_RESTRICTIONS_MAX, LAYER_USERS_MAX, LAYERS_MAX, Layer, OVERRIDES_MAX, Override,
    SCHEDULE_TIME_MAX, SCHEDULE_TIME_MIN, Schedule,
};
use crate::UserId;
use crate::formats::{FieldError, ParseError};
use crate::limits::NAME_CHARS_MAX;
use jiff::Timestamp;
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use std::fmt;

/// `{name, time_zone, layers: [...], overrides?: [...]}`. `overrides` is an extension of the
/// contract's body, so that a stored schedule round-trips as one document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScheduleSpec {
    pub name: String,
    /// An IANA time zone name, e.g. `Europe/Paris`.
    pub time_zone: String,
    /// Lowest priority first.
    pub layers: Vec<LayerSpec>,
    /// In creation order; where they overlap, the later one wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<OverrideSpec>,
}

/// `{name, start, rotation, users, restrictions?}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LayerSpec {
    #[serde(default)]
    pub name: String,
    /// RFC 3339 instant from which the layer has anyone; `users[0]` takes the shift containing it.
    pub start: String,
    pub rotation: RotationSpec,
    pub users: Vec<UserId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restrictions: Vec<RestrictionSpec>,
}

/// `{type: "hourly"|"daily"|"weekly", length, handoff?}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RotationSpec {
    #[serde(rename = "type")]
    pub kind: String,
    /// Units of `type` per shift, at least 1.
    pub length: i64,
    /// Local hand-off time `HH:MM` for daily and weekly rotations; by default the local wall
    /// time of the layer's start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff: Option<String>,
}

/// `{type: "daily", start: "18:00", end: "08:00", days?: ["monday", …]}` or
/// `{type: "weekly", start_day: "friday", start: "18:00", end_day: "monday", end: "08:00"}`,
/// in the schedule's local time. An end at or before the start is on the next day (daily) or
/// in the next week (weekly); an end equal to the start is refused (an empty window).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RestrictionSpec {
    #[serde(rename = "type")]
    pub kind: String,
    pub start: String,
    pub end: String,
    /// Daily only: the days a window starts on; every day when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<Vec<String>>,
    /// Weekly only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_day: Option<String>,
    /// Weekly only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_day: Option<String>,
}

/// `{user_id, start, end}`: the body of `POST /api/v1/schedules/{id}/overrides`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OverrideSpec {
    pub user_id: UserId,
    pub start: String,
    pub end: String,
}

/// What is wrong with one field, as a phrase following the field's name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("is required")]
    Missing,
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must have at most {max} entries")]
    TooMany { max: usize },
    #[error("is not a known IANA time zone (got {0:?})")]
    UnknownTimeZone(String),
    #[error("must be one of {expected} (got {got:?})")]
    UnknownWord { expected: String, got: String },
    #[error("must be between 1 and {max}")]
    LengthOutOfRange { max: u32 },
    #[error("must be an RFC 3339 instant such as 2026-03-29T09:00:00Z (got {0:?})")]
    NotAnInstant(String),
    #[error("must be between 1970-01-01 and 2200-01-01")]
    InstantOutOfRange,
    #[error("must be a time of day such as 09:00 or 09:00:30 (got {0:?})")]
    NotATimeOfDay(String),
    #[error("applies only to daily and weekly rotations")]
    HandoffOnHourly,
    #[error("is not allowed in a {0} restriction")]
    NotAllowedFor(&'static str),
    #[error("must be after start")]
    EndNotAfterStart,
    #[error("must differ from the start: the window would be empty")]
    ZeroLengthWindow,
}

/// One problem with one field of a schedule document.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("'{field}' {problem}")]
pub struct FieldProblem {
    /// Path in the document, e.g. `layers[0].rotation.length`.
    pub field: String,
    pub problem: Problem,
}

/// Why a schedule or override document was refused: every problem found, in document order.
/// Never empty.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct SpecError {
    pub problems: Vec<FieldProblem>,
}

impl SpecError {
    pub(crate) fn one(field: impl Into<String>, problem: Problem) -> SpecError {
        SpecError {
            problems: vec![FieldProblem {
                field: field.into(),
                problem,
            }],
        }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.problems.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join("; "))
    }
}

/// The same shape as the ingestion formats' errors, so the API renders one `fields` map.
impl From<SpecError> for ParseError {
    fn from(e: SpecError) -> Self {
        ParseError::Invalid(
            e.problems
                .into_iter()
                .map(|p| FieldError {
                    field: p.field,
                    message: p.problem.to_string(),
                })
                .collect(),
        )
    }
}

/// The problems found so far, and helpers that check one field each and record what is wrong.
struct Problems {
    list: Vec<FieldProblem>,
}

impl Problems {
    fn add(&mut self, field: impl Into<String>, problem: Problem) {
        self.list.push(FieldProblem {
            field: field.into(),
            problem,
        });
    }

    fn count(&self) -> usize {
        self.list.len()
    }

    fn name(&mut self, field: String, name: &str, required: bool) {
        if required && name.trim().is_empty() {
            self.add(field, Problem::Empty);
        } else if name.chars().count() > NAME_CHARS_MAX {
            self.add(
                field,
                Problem::TooLong {
                    max: NAME_CHARS_MAX,
                },
            );
        }
    }

    fn instant(&mut self, field: String, raw: &str) -> Option<Timestamp> {
        match raw.trim().parse::<Timestamp>() {
            Err(_) => {
                self.add(field, Problem::NotAnInstant(raw.to_owned()));
                None
            }
            Ok(t) if !(SCHEDULE_TIME_MIN..SCHEDULE_TIME_MAX).contains(&t) => {
                self.add(field, Problem::InstantOutOfRange);
                None
            }
            Ok(t) => Some(t),
        }
    }

    fn time_of_day(&mut self, field: String, raw: &str) -> Option<Time> {
        let parsed = parse_time_of_day(raw);
        if parsed.is_none() {
            self.add(field, Problem::NotATimeOfDay(raw.to_owned()));
        }
        parsed
    }

    fn weekday(&mut self, field: String, raw: &str) -> Option<Weekday> {
        let parsed = parse_weekday(raw);
        if parsed.is_none() {
            self.add(
                field,
                Problem::UnknownWord {
                    expected: WEEKDAY_WORDS.join(", "),
                    got: raw.to_owned(),
                },
            );
        }
        parsed
    }

    fn user(&mut self, field: String, user: &UserId) {
        if user.as_str().trim().is_empty() {
            self.add(field, Problem::Empty);
        }
    }

    fn finish<T>(self, value: Option<T>) -> Result<T, SpecError> {
        match value {
            Some(v) if self.list.is_empty() => Ok(v),
            _ => Err(SpecError {
                problems: self.list,
            }),
        }
    }
}

impl Schedule {
    /// Validates a schedule document. On success every field of the result is known to be
    /// sound; on failure every problem is listed with its field path.
    pub fn parse(spec: &ScheduleSpec) -> Result<Schedule, SpecError> {
        let mut p = Problems { list: Vec::new() };
        p.name("name".into(), &spec.name, true);
        let time_zone = match TimeZone::get(spec.time_zone.trim()) {
            Ok(tz) if tz.iana_name().is_some() => Some(tz),
            _ => {
                p.add(
                    "time_zone",
                    Problem::UnknownTimeZone(spec.time_zone.clone()),
                );
                None
            }
        };
        let mut layers = Vec::with_capacity(spec.layers.len().min(LAYERS_MAX));
        if spec.layers.is_empty() {
            // Nobody would ever be on call: surely not what the client meant.
            p.add("layers", Problem::Empty);
        } else if spec.layers.len() > LAYERS_MAX {
            p.add("layers", Problem::TooMany { max: LAYERS_MAX });
        } else {
            for (i, layer) in spec.layers.iter().enumerate() {
                layers.push(parse_layer(&mut p, &format!("layers[{i}]"), layer));
            }
        }
        let mut overrides = Vec::with_capacity(spec.overrides.len().min(OVERRIDES_MAX));
        if spec.overrides.len() > OVERRIDES_MAX {
            p.add("overrides", Problem::TooMany { max: OVERRIDES_MAX });
        } else {
            for (i, o) in spec.overrides.iter().enumerate() {
                overrides.push(parse_override(&mut p, &format!("overrides[{i}]."), o));
            }
        }
        let schedule = time_zone.and_then(|tz| {
            let layers = layers
                .into_iter()
                .map(|l| l.map(|l| l.build(&tz)))
                .collect::<Option<Vec<Layer>>>()?;
            let overrides = overrides.into_iter().collect::<Option<Vec<Override>>>()?;
            Some(Schedule {
                name: spec.name.trim().to_owned(),
                time_zone_name: tz.iana_name()?.to_owned(),
                time_zone: tz,
                layers,
                overrides,
            })
        });
        p.finish(schedule)
    }

    /// The document this schedule was parsed from, in canonical form (canonical zone name,
    /// words and times). `Schedule::parse(&s.to_spec())` gives `s` back.
    pub fn to_spec(&self) -> ScheduleSpec {
        ScheduleSpec {
            name: self.name.clone(),
            time_zone: self.time_zone_name.clone(),
            layers: self.layers.iter().map(layer_spec).collect(),
            overrides: self.overrides.iter().map(Override::to_spec).collect(),
        }
    }
}

impl OverrideSpec {
    /// Validates the body of `POST /api/v1/schedules/{id}/overrides` (field paths `user_id`,
    /// `start`, `end`). Add the result with `Schedule::add_override`.
    pub fn parse(&self) -> Result<Override, SpecError> {
        let mut p = Problems { list: Vec::new() };
        let o = parse_override(&mut p, "", self);
        p.finish(o)
    }
}

impl Override {
    pub fn to_spec(&self) -> OverrideSpec {
        OverrideSpec {
            user_id: self.user.clone(),
            start: self.start.to_string(),
            end: self.end.to_string(),
        }
    }
}

fn parse_override(p: &mut Problems, prefix: &str, o: &OverrideSpec) -> Option<Override> {
    let before = p.count();
    p.user(format!("{prefix}user_id"), &o.user_id);
    let start = p.instant(format!("{prefix}start"), &o.start);
    let end = p.instant(format!("{prefix}end"), &o.end);
    if let (Some(start), Some(end)) = (start, end)
        && end <= start
    {
        p.add(format!("{prefix}end"), Problem::EndNotAfterStart);
    }
    if p.count() != before {
        return None;
    }
    Some(Override {
        user: o.user_id.clone(),
        start: start?,
        end: end?,
    })
}

/// A layer whose fields are valid but whose hand-offs still need the zone.
struct LayerParts {
    name: String,
    start: Timestamp,
    rotation: Rotation,
    users: Vec<UserId>,
    restrictions: Vec<Restriction>,
}

impl LayerParts {
    fn build(self, tz: &TimeZone) -> Layer {
        let handoffs = Handoffs::new(&self.rotation, self.start, tz);
        // The start lies within SCHEDULE_TIME_*, far from any edge, so this is always `Some`;
        // 0 would only make a different user first, never a wrong answer elsewhere.
        let first_index = handoffs.index_at(self.start, tz).unwrap_or(0);
        Layer {
            name: self.name,
            start: self.start,
            rotation: self.rotation,
            users: self.users,
            restrictions: self.restrictions,
            handoffs,
            first_index,
        }
    }
}

fn parse_layer(p: &mut Problems, path: &str, l: &LayerSpec) -> Option<LayerParts> {
    let before = p.count();
    p.name(format!("{path}.name"), &l.name, false);
    let start = p.instant(format!("{path}.start"), &l.start);
    let rotation = parse_rotation(p, &format!("{path}.rotation"), &l.rotation);
    if l.users.is_empty() {
        p.add(format!("{path}.users"), Problem::Empty);
    } else if l.users.len() > LAYER_USERS_MAX {
        p.add(
            format!("{path}.users"),
            Problem::TooMany {
                max: LAYER_USERS_MAX,
            },
        );
    } else {
        for (i, u) in l.users.iter().enumerate() {
            p.user(format!("{path}.users[{i}]"), u);
        }
    }
    let mut restrictions = Vec::new();
    if l.restrictions.len() > LAYER_RESTRICTIONS_MAX {
        p.add(
            format!("{path}.restrictions"),
            Problem::TooMany {
                max: LAYER_RESTRICTIONS_MAX,
            },
        );
    } else {
        for (i, r) in l.restrictions.iter().enumerate() {
            if let Some(r) = parse_restriction(p, &format!("{path}.restrictions[{i}]"), r) {
                restrictions.push(r);
            }
        }
    }
    if p.count() != before {
        return None;
    }
    Some(LayerParts {
        name: l.name.trim().to_owned(),
        start: start?,
        rotation: rotation?,
        users: l.users.clone(),
        restrictions,
    })
}

fn parse_rotation(p: &mut Problems, path: &str, r: &RotationSpec) -> Option<Rotation> {
    let kind = RotationKind::parse(r.kind.trim());
    if kind.is_none() {
        p.add(
            format!("{path}.type"),
            Problem::UnknownWord {
                expected: RotationKind::words(),
                got: r.kind.clone(),
            },
        );
    }
    let length = kind.and_then(|kind| {
        let max = kind.length_max();
        let length = u32::try_from(r.length)
            .ok()
            .filter(|l| (1..=max).contains(l));
        if length.is_none() {
            p.add(format!("{path}.length"), Problem::LengthOutOfRange { max });
        }
        length
    });
    let handoff = match (&r.handoff, kind) {
        (None, _) => None,
        (Some(_), Some(RotationKind::Hourly)) => {
            p.add(format!("{path}.handoff"), Problem::HandoffOnHourly);
            None
        }
        (Some(raw), _) => Some(p.time_of_day(format!("{path}.handoff"), raw)?),
    };
    Some(Rotation {
        kind: kind?,
        length: length?,
        handoff,
    })
}

fn parse_restriction(p: &mut Problems, path: &str, r: &RestrictionSpec) -> Option<Restriction> {
    let before = p.count();
    let start = p.time_of_day(format!("{path}.start"), &r.start);
    let end = p.time_of_day(format!("{path}.end"), &r.end);
    let restriction = match r.kind.trim() {
        "daily" => {
            for (field, value) in [("start_day", &r.start_day), ("end_day", &r.end_day)] {
                if value.is_some() {
                    p.add(format!("{path}.{field}"), Problem::NotAllowedFor("daily"));
                }
            }
            let days = match &r.days {
                None => Weekdays::ALL,
                Some(days) if days.is_empty() => {
                    p.add(format!("{path}.days"), Problem::Empty);
                    Weekdays::NONE
                }
                Some(days) => days
                    .iter()
                    .enumerate()
                    .filter_map(|(i, d)| p.weekday(format!("{path}.days[{i}]"), d))
                    .collect(),
            };
            Restriction::Daily {
                days,
                start: start?,
                end: end?,
            }
        }
        "weekly" => {
            if r.days.is_some() {
                p.add(format!("{path}.days"), Problem::NotAllowedFor("weekly"));
            }
            let mut day = |field: &str, value: &Option<String>| match value {
                None => {
                    p.add(format!("{path}.{field}"), Problem::Missing);
                    None
                }
                Some(raw) => p.weekday(format!("{path}.{field}"), raw),
            };
            let start_day = day("start_day", &r.start_day);
            let end_day = day("end_day", &r.end_day);
            Restriction::Weekly {
                start_day: start_day?,
                start: start?,
                end_day: end_day?,
                end: end?,
            }
        }
        other => {
            p.add(
                format!("{path}.type"),
                Problem::UnknownWord {
                    expected: "daily, weekly".into(),
                    got: other.to_owned(),
                },
            );
            return None;
        }
    };
    if restriction.is_zero_length() {
        p.add(format!("{path}.end"), Problem::ZeroLengthWindow);
    }
    (p.count() == before).then_some(restriction)
}

fn layer_spec(l: &Layer) -> LayerSpec {
    LayerSpec {
        name: l.name.clone(),
        start: l.start.to_string(),
        rotation: RotationSpec {
            kind: l.rotation.kind.as_str().to_owned(),
            length: i64::from(l.rotation.length),
            handoff: l.rotation.handoff.map(format_time_of_day),
        },
        users: l.users.clone(),
        restrictions: l.restrictions.iter().map(restriction_spec).collect(),
    }
}

fn restriction_spec(r: &Restriction) -> RestrictionSpec {
    match *r {
        Restriction::Daily { days, start, end } => RestrictionSpec {
            kind: "daily".into(),
            start: format_time_of_day(start),
            end: format_time_of_day(end),
            days: (days != Weekdays::ALL)
                .then(|| days.iter().map(|d| weekday_word(d).to_owned()).collect()),
            start_day: None,
            end_day: None,
        },
        Restriction::Weekly {
            start_day,
            start,
            end_day,
            end,
        } => RestrictionSpec {
            kind: "weekly".into(),
            start: format_time_of_day(start),
            end: format_time_of_day(end),
            days: None,
            start_day: Some(weekday_word(start_day).to_owned()),
            end_day: Some(weekday_word(end_day).to_owned()),
        },
    }
}

/// Monday first, indexed by `Weekday::to_monday_zero_offset`.
const WEEKDAY_WORDS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

fn weekday_word(d: Weekday) -> &'static str {
    WEEKDAY_WORDS[d.to_monday_zero_offset() as usize]
}

/// A full English day name or its first three letters, in any case.
fn parse_weekday(raw: &str) -> Option<Weekday> {
    let raw = raw.trim().to_ascii_lowercase();
    let i = WEEKDAY_WORDS
        .iter()
        .position(|w| *w == raw || (raw.len() == 3 && w.starts_with(&raw)))?;
    Weekday::from_monday_zero_offset(i as i8).ok()
}

/// `HH:MM` or `HH:MM:SS`, 24-hour clock.
fn parse_time_of_day(raw: &str) -> Option<Time> {
    let parts: Vec<&str> = raw.trim().split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    let mut numbers = [0i8; 3];
    for (n, part) in numbers.iter_mut().zip(&parts) {
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *n = part.parse().ok()?;
    }
    Time::new(numbers[0], numbers[1], numbers[2], 0).ok()
}

fn format_time_of_day(t: Time) -> String {
    if t.second() == 0 && t.subsec_nanosecond() == 0 {
        format!("{:02}:{:02}", t.hour(), t.minute())
    } else {
        format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
    }
}
