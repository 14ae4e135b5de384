//! An independent, deliberately plain model of a schedule for the property tests. It answers
//! "who is on call at this instant?" by listing every hand-off and every restriction window one
//! by one and testing the instant against each: no shift-index arithmetic, no interval algebra,
//! no sweep. Only the schedule's public accessors are used.

use super::{Restriction, RotationKind, Schedule};
use crate::UserId;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, Timestamp};

pub(super) struct Oracle {
    overrides: Vec<(Timestamp, Timestamp, UserId)>,
    layers: Vec<LayerModel>,
}

struct LayerModel {
    start: Timestamp,
    users: Vec<UserId>,
    /// Every hand-off instant from before the layer's start to past the model's end.
    handoffs: Vec<Timestamp>,
    /// `None`: unrestricted. Otherwise every window overlapping the model's span.
    windows: Option<Vec<(Timestamp, Timestamp)>>,
}

impl Oracle {
    /// A model that answers for instants in `[lo, hi)`.
    pub(super) fn new(s: &Schedule, lo: Timestamp, hi: Timestamp) -> Oracle {
        let tz = s.time_zone();
        let layers = s
            .layers()
            .iter()
            .map(|layer| {
                let local_start = layer.start().to_zoned_datetime(tz.clone());
                let mut handoffs = Vec::new();
                match layer.rotation().kind() {
                    RotationKind::Hourly => {
                        let step = SignedDuration::from_hours(i64::from(layer.rotation().length()));
                        let mut h = layer.start();
                        while h <= hi {
                            handoffs.push(h);
                            h += step;
                        }
                    }
                    kind => {
                        let unit_days = if kind == RotationKind::Weekly { 7 } else { 1 };
                        let step = unit_days * i64::from(layer.rotation().length());
                        let time = layer.rotation().handoff().unwrap_or(local_start.time());
                        let anchor = local_start.date().to_datetime(time);
                        for k in -2.. {
                            let h = resolve(
                                tz,
                                anchor.checked_add(Span::new().days(k * step)).unwrap(),
                            );
                            if h > hi {
                                break;
                            }
                            handoffs.push(h);
                        }
                    }
                }
                let windows = (!layer.restrictions().is_empty())
                    .then(|| windows(layer.restrictions(), tz, lo, hi));
                LayerModel {
                    start: layer.start(),
                    users: layer.users().to_vec(),
                    handoffs,
                    windows,
                }
            })
            .collect();
        let overrides = s
            .overrides()
            .iter()
            .map(|o| (o.start(), o.end(), o.user().clone()))
            .collect();
        Oracle { overrides, layers }
    }

    /// Who is on call at `t`: the latest override containing it, else the highest layer with
    /// someone.
    pub(super) fn at(&self, t: Timestamp) -> Option<&UserId> {
        if let Some((_, _, user)) = self
            .overrides
            .iter()
            .rev()
            .find(|(s, e, _)| *s <= t && t < *e)
        {
            return Some(user);
        }
        (0..self.layers.len())
            .rev()
            .find_map(|i| self.layer_at(i, t))
    }

    /// Who layer `i` has at `t`, ignoring the other layers and the overrides.
    pub(super) fn layer_at(&self, i: usize, t: Timestamp) -> Option<&UserId> {
        let layer = &self.layers[i];
        if t < layer.start {
            return None;
        }
        if let Some(windows) = &layer.windows
            && !windows.iter().any(|(s, e)| *s <= t && t < *e)
        {
            return None;
        }
        let shifts_begun = |x: Timestamp| layer.handoffs.iter().filter(|h| **h <= x).count() as i64;
        let turn = shifts_begun(t) - shifts_begun(layer.start);
        Some(&layer.users[turn.rem_euclid(layer.users.len() as i64) as usize])
    }
}

fn resolve(tz: &TimeZone, dt: DateTime) -> Timestamp {
    dt.to_zoned_datetime(tz.clone()).unwrap().timestamp()
}

/// Every restriction window starting on a local date from well before `lo` to after `hi`.
/// A window ends at the first matching wall time after its start (on the given end day for a
/// weekly window, on any day for a daily one).
fn windows(
    restrictions: &[Restriction],
    tz: &TimeZone,
    lo: Timestamp,
    hi: Timestamp,
) -> Vec<(Timestamp, Timestamp)> {
    let first: Date = lo.to_zoned_datetime(tz.clone()).date() - Span::new().days(9);
    let last: Date = hi.to_zoned_datetime(tz.clone()).date() + Span::new().days(1);
    let mut out = Vec::new();
    let mut date = first;
    while date <= last {
        for r in restrictions {
            let (starts_today, start, end_day, end) = match *r {
                Restriction::Daily { days, start, end } => {
                    (days.contains(date.weekday()), start, None, end)
                }
                Restriction::Weekly {
                    start_day,
                    start,
                    end_day,
                    end,
                } => (date.weekday() == start_day, start, Some(end_day), end),
            };
            if !starts_today {
                continue;
            }
            let open = date.to_datetime(start);
            let close = (0..=7)
                .map(|d| (date + Span::new().days(d)).to_datetime(end))
                .find(|c| *c > open && end_day.is_none_or(|day| c.weekday() == day))
                .unwrap();
            out.push((resolve(tz, open), resolve(tz, close)));
        }
        date = date.tomorrow().unwrap();
    }
    out
}
