//! Restrictions: weekly windows of local time in which a layer has anyone. A daily window
//! repeats on chosen days (nights: Mon–Fri 18:00→08:00); a weekly one spans days (a weekend:
//! Fri 18:00→Mon 08:00). Also their conversion into instants over a range; nothing else.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use std::fmt;

/// A set of days of the week.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Weekdays(u8);

impl Weekdays {
    pub const NONE: Weekdays = Weekdays(0);
    pub const ALL: Weekdays = Weekdays(0b111_1111);

    pub fn contains(self, day: Weekday) -> bool {
        self.0 & Self::bit(day) != 0
    }

    pub fn with(self, day: Weekday) -> Weekdays {
        Weekdays(self.0 | Self::bit(day))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Monday first.
    pub fn iter(self) -> impl Iterator<Item = Weekday> {
        Weekday::Monday
            .cycle_forward()
            .take(7)
            .filter(move |d| self.contains(*d))
    }

    fn bit(day: Weekday) -> u8 {
        1 << day.to_monday_zero_offset()
    }
}

impl fmt::Debug for Weekdays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromIterator<Weekday> for Weekdays {
    fn from_iter<I: IntoIterator<Item = Weekday>>(iter: I) -> Self {
        iter.into_iter().fold(Weekdays::NONE, Weekdays::with)
    }
}

/// A weekly window of the schedule's local time. Never empty (parsing refuses zero-length
/// windows). Its ends are turned into instants with jiff's "compatible" disambiguation, like
/// hand-offs: a window edge inside a DST gap moves forward by the gap; inside a fold it is the
/// earlier instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restriction {
    /// From `start` to `end` starting on each of `days`; an `end` before `start` is on the
    /// next day (18:00→08:00 on Friday ends Saturday 08:00). `start != end`.
    Daily {
        days: Weekdays,
        start: Time,
        end: Time,
    },
    /// From `start` on `start_day` to `end` on `end_day`, the next such moment after the start
    /// (up to a week later). Not the same moment as the start.
    Weekly {
        start_day: Weekday,
        start: Time,
        end_day: Weekday,
        end: Time,
    },
}

impl Restriction {
    /// Whether the window would never contain anything. Parsing refuses such windows.
    pub(crate) fn is_zero_length(&self) -> bool {
        match *self {
            Restriction::Daily { start, end, .. } => start == end,
            Restriction::Weekly {
                start_day,
                start,
                end_day,
                end,
            } => start_day == end_day && start == end,
        }
    }

    /// The longest a window can last, in days of the calendar (a weekly window: a week).
    pub(crate) const SPAN_DAYS_MAX: i64 = 7;

    /// The local window that starts on `date`, if one does.
    fn window_starting_on(&self, date: Date) -> Option<(DateTime, DateTime)> {
        let (start, end, end_days_later) = match *self {
            Restriction::Daily { days, start, end } => {
                if !days.contains(date.weekday()) {
                    return None;
                }
                (start, end, if end > start { 0 } else { 1 })
            }
            Restriction::Weekly {
                start_day,
                start,
                end_day,
                end,
            } => {
                if date.weekday() != start_day {
                    return None;
                }
                let days = i64::from(end_day.since(start_day));
                let days = if days == 0 && end <= start { 7 } else { days };
                (start, end, days)
            }
        };
        let end_date = date
            .checked_add(jiff::Span::new().days(end_days_later))
            .ok()?;
        Some((date.to_datetime(start), end_date.to_datetime(end)))
    }
}

/// The instants in `[from, to)` inside any of `restrictions`: sorted, disjoint, non-adjacent
/// intervals. Empty when `restrictions` is (the caller treats "no restriction" separately).
pub(crate) fn allowed(
    restrictions: &[Restriction],
    tz: &TimeZone,
    from: Timestamp,
    to: Timestamp,
) -> Vec<(Timestamp, Timestamp)> {
    let mut windows = Vec::new();
    if restrictions.is_empty() || from >= to {
        return windows;
    }
    // A window that started up to a week (plus a day of UTC-offset slack) before `from` may
    // still be open at `from`.
    let back = jiff::Span::new().days(Restriction::SPAN_DAYS_MAX + 1);
    let Ok(mut date) = tz.to_datetime(from).date().checked_sub(back) else {
        return windows;
    };
    let last = tz.to_datetime(to).date();
    while date <= last {
        for r in restrictions {
            let Some((start, end)) = r.window_starting_on(date) else {
                continue;
            };
            let (Ok(start), Ok(end)) = (
                tz.to_ambiguous_timestamp(start).compatible(),
                tz.to_ambiguous_timestamp(end).compatible(),
            ) else {
                continue;
            };
            let (start, end) = (start.max(from), end.min(to));
            if start < end {
                windows.push((start, end));
            }
        }
        match date.tomorrow() {
            Ok(next) => date = next,
            Err(_) => break,
        }
    }
    windows.sort_unstable();
    let mut merged: Vec<(Timestamp, Timestamp)> = Vec::with_capacity(windows.len());
    for (start, end) in windows {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}
