//! Rotations: when a layer's shifts start. Hourly rotations hand off every N exact hours; daily
//! and weekly ones at the same local wall time every N days or weeks, whatever DST does to the
//! length of those days. Users and restrictions are not this file's business.

use jiff::civil::{DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, Timestamp};
use std::fmt;

/// A shift of an hourly rotation lasts at most this many hours (366 days)...
pub const ROTATION_LENGTH_HOURS_MAX: u32 = 366 * 24;
/// ...of a daily rotation at most this many days...
pub const ROTATION_LENGTH_DAYS_MAX: u32 = 366;
/// ...and of a weekly rotation at most this many weeks: nobody is on call for over a year.
pub const ROTATION_LENGTH_WEEKS_MAX: u32 = 52;

/// The unit of a rotation's shift length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RotationKind {
    Hourly,
    Daily,
    Weekly,
}

impl RotationKind {
    pub const ALL: &'static [RotationKind] = &[
        RotationKind::Hourly,
        RotationKind::Daily,
        RotationKind::Weekly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RotationKind::Hourly => "hourly",
            RotationKind::Daily => "daily",
            RotationKind::Weekly => "weekly",
        }
    }

    /// Exact, case-sensitive parse of the canonical word.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == s)
    }

    /// The accepted words, for error messages.
    pub fn words() -> String {
        let words: Vec<&str> = Self::ALL.iter().map(|k| k.as_str()).collect();
        words.join(", ")
    }

    /// The longest shift allowed, in this kind's units.
    pub fn length_max(self) -> u32 {
        match self {
            RotationKind::Hourly => ROTATION_LENGTH_HOURS_MAX,
            RotationKind::Daily => ROTATION_LENGTH_DAYS_MAX,
            RotationKind::Weekly => ROTATION_LENGTH_WEEKS_MAX,
        }
    }
}

impl fmt::Display for RotationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a layer hands off: every `length` units of `kind`. Daily and weekly rotations hand off
/// at `handoff` local time, by default the local wall time of the layer's start; a weekly one
/// on the weekday of the layer's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    pub(super) kind: RotationKind,
    /// In `1..=kind.length_max()`.
    pub(super) length: u32,
    /// Only for daily and weekly rotations.
    pub(super) handoff: Option<Time>,
}

impl Rotation {
    pub fn kind(&self) -> RotationKind {
        self.kind
    }

    /// Units of `kind` per shift; at least 1.
    pub fn length(&self) -> u32 {
        self.length
    }

    /// The explicit local hand-off time, if one was given (daily and weekly only).
    pub fn handoff(&self) -> Option<Time> {
        self.handoff
    }
}

/// Corrections after estimating a shift index from elapsed wall time. The estimate is off by
/// at most one shift (UTC offsets differ by less than a day), so eight is plenty of slack.
const INDEX_ADJUSTMENTS_MAX: u32 = 8;

/// Where shift k of one layer starts, in one zone. Shift k runs from `start_of(k)` to
/// `start_of(k + 1)`; starts never decrease with k (they may repeat when a whole day is
/// skipped, as Pacific/Apia did in 2011: that shift is empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Handoffs {
    /// Hourly: exact durations from the layer's start.
    Exact {
        anchor: Timestamp,
        period: SignedDuration,
    },
    /// Daily and weekly: a civil datetime advanced by whole days, each result resolved in the
    /// zone with jiff's "compatible" disambiguation (in a gap, the later instant, i.e. the wall
    /// time pushed forward by the gap; in a fold, the earlier of the two instants). Always
    /// computed from the anchor, never step by step, so a gap on one day does not drift the
    /// hand-off on the days after it.
    Wall { anchor: DateTime, period_days: i64 },
}

impl Handoffs {
    /// The hand-offs of `rotation` for a layer starting at `start`. For daily and weekly
    /// rotations the anchor is the start's local date at the hand-off time, which may be after
    /// the start: the shift containing the start is then shift -1.
    pub(crate) fn new(rotation: &Rotation, start: Timestamp, tz: &TimeZone) -> Handoffs {
        let length = i64::from(rotation.length);
        match rotation.kind {
            RotationKind::Hourly => Handoffs::Exact {
                anchor: start,
                period: SignedDuration::from_hours(length),
            },
            RotationKind::Daily | RotationKind::Weekly => {
                let local = tz.to_datetime(start);
                let time = rotation.handoff.unwrap_or(local.time());
                let days_per_unit = if rotation.kind == RotationKind::Weekly {
                    7
                } else {
                    1
                };
                Handoffs::Wall {
                    anchor: local.date().to_datetime(time),
                    period_days: days_per_unit * length,
                }
            }
        }
    }

    /// The instant shift `k` starts; `None` only when that is outside what jiff can represent.
    pub(crate) fn start_of(&self, k: i64, tz: &TimeZone) -> Option<Timestamp> {
        match *self {
            Handoffs::Exact { anchor, period } => {
                let secs = period.as_secs().checked_mul(k)?;
                anchor.checked_add(SignedDuration::from_secs(secs)).ok()
            }
            Handoffs::Wall {
                anchor,
                period_days,
            } => {
                let days = Span::new().try_days(period_days.checked_mul(k)?).ok()?;
                let date = anchor.date().checked_add(days).ok()?;
                tz.to_ambiguous_timestamp(date.to_datetime(anchor.time()))
                    .compatible()
                    .ok()
            }
        }
    }

    /// The index of the shift containing `t`: the largest k with `start_of(k) <= t`.
    /// Computed by jumping, not by walking from the anchor: the cost does not grow with the
    /// layer's age.
    pub(crate) fn index_at(&self, t: Timestamp, tz: &TimeZone) -> Option<i64> {
        match *self {
            Handoffs::Exact { anchor, period } => {
                let elapsed = t.as_nanosecond() - anchor.as_nanosecond();
                i64::try_from(elapsed.div_euclid(period.as_nanos())).ok()
            }
            Handoffs::Wall {
                anchor,
                period_days,
            } => {
                // Elapsed wall time differs from elapsed real time by the change of UTC
                // offset, so this estimate is exact or one off; the loops correct it.
                let elapsed = tz.to_datetime(t).duration_since(anchor);
                let period_secs = period_days.checked_mul(86_400)?;
                let mut k = elapsed.as_secs().div_euclid(period_secs);
                let mut settled = false;
                for _ in 0..INDEX_ADJUSTMENTS_MAX {
                    if self.start_of(k, tz)? > t {
                        k -= 1;
                    } else {
                        settled = true;
                        break;
                    }
                }
                if !settled {
                    return None;
                }
                for _ in 0..INDEX_ADJUSTMENTS_MAX {
                    match self.start_of(k + 1, tz) {
                        Some(next) if next <= t => k += 1,
                        _ => break,
                    }
                }
                Some(k)
            }
        }
    }
}
