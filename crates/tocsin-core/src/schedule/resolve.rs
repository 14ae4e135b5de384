//! Resolving a schedule into shifts: each layer's shifts over a range, their overlay with the
//! overrides into the final shifts, the gaps, and who is on call at one instant. The work is
//! bounded by the range, never by a layer's age: shift indices are computed, not walked.

use super::{Layer, ONCALL_SEARCH_MAX, QUERY_RANGE_MAX, Schedule, restriction};
use crate::UserId;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `user` is on call from `start` (inclusive) to `end` (exclusive). Serialised as the
/// contract's `{user_id, start, end}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Shift {
    #[serde(rename = "user_id")]
    pub user: UserId,
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
}

/// A query's time range `[from, to)`: never empty, never longer than `QUERY_RANGE_MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryRange {
    from: Timestamp,
    to: Timestamp,
}

/// Why a range was refused. Both name the `to` query parameter.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("'to' must be after 'from'")]
    NotAfterFrom,
    #[error("'to' must be at most {days} days after 'from'", days = QUERY_RANGE_MAX.as_hours() / 24)]
    TooLong,
}

impl RangeError {
    /// The query parameter to blame.
    pub fn field(&self) -> &'static str {
        "to"
    }
}

impl QueryRange {
    pub fn new(from: Timestamp, to: Timestamp) -> Result<QueryRange, RangeError> {
        if to <= from {
            return Err(RangeError::NotAfterFrom);
        }
        if to.duration_since(from) > QUERY_RANGE_MAX {
            return Err(RangeError::TooLong);
        }
        Ok(QueryRange { from, to })
    }

    pub fn from(self) -> Timestamp {
        self.from
    }

    pub fn to(self) -> Timestamp {
        self.to
    }
}

/// The final schedule over `range`: who is on call, after layers and overrides. Sorted,
/// non-overlapping, clipped to the range; touching pieces always have different users (the
/// pieces of one user that touch are merged); the holes between pieces are the gaps.
pub fn final_shifts(schedule: &Schedule, range: QueryRange) -> Vec<Shift> {
    resolve(schedule, range.from, range.to)
        .into_iter()
        .map(Piece::to_shift)
        .collect()
}

/// Each layer's own shifts over `range`, one list per layer in `schedule.layers()` order,
/// before layering and overrides: rotation shifts clipped to the range, to the layer's start
/// and to its restrictions. Not merged, so every boundary between two pieces is a hand-off or
/// a restriction edge. For showing layers side by side.
pub fn layer_shifts(schedule: &Schedule, range: QueryRange) -> Vec<Vec<Shift>> {
    schedule
        .layers
        .iter()
        .map(|layer| {
            layer_pieces(layer, &schedule.time_zone, range.from, range.to)
                .into_iter()
                .map(Piece::to_shift)
                .collect()
        })
        .collect()
}

/// The intervals of `range` in which nobody is on call, sorted.
pub fn gaps(schedule: &Schedule, range: QueryRange) -> Vec<(Timestamp, Timestamp)> {
    let mut gaps = Vec::new();
    let mut covered_until = range.from;
    for piece in resolve(schedule, range.from, range.to) {
        if piece.start > covered_until {
            gaps.push((covered_until, piece.start));
        }
        covered_until = piece.end;
    }
    if covered_until < range.to {
        gaps.push((covered_until, range.to));
    }
    gaps
}

/// Who is on call at `t`, with the whole final shift containing `t` (the contiguous time the
/// same user is on call), or `None` when nobody is. The shift's ends are looked for at most
/// `ONCALL_SEARCH_MAX` before and after `t`; a shift running on further is clipped there.
pub fn oncall_at(schedule: &Schedule, t: Timestamp) -> Option<Shift> {
    // Widen the window until the shift's ends are inside it: most shifts are found in the
    // first window or two, so the usual cost is a few days of shifts, not months.
    const FIRST_WINDOW: SignedDuration = SignedDuration::from_hours(24);
    const GROWTH: i32 = 4;
    let (mut back, mut ahead) = (FIRST_WINDOW, FIRST_WINDOW);
    loop {
        let from = t.checked_sub(back).unwrap_or(Timestamp::MIN);
        let to = t.checked_add(ahead).unwrap_or(Timestamp::MAX);
        if to <= t {
            return None;
        }
        let pieces = resolve(schedule, from, to);
        let i = pieces.partition_point(|p| p.end <= t);
        let piece = pieces.get(i).filter(|p| p.start <= t)?;
        let grow_back = piece.start == from && from > Timestamp::MIN && back < ONCALL_SEARCH_MAX;
        let grow_ahead = piece.end == to && to < Timestamp::MAX && ahead < ONCALL_SEARCH_MAX;
        if !grow_back && !grow_ahead {
            return Some(piece.to_shift());
        }
        if grow_back {
            back = back.saturating_mul(GROWTH).min(ONCALL_SEARCH_MAX);
        }
        if grow_ahead {
            ahead = ahead.saturating_mul(GROWTH).min(ONCALL_SEARCH_MAX);
        }
    }
}

/// A shift before it is handed out: the user is borrowed from the schedule.
#[derive(Clone, Copy, Debug)]
struct Piece<'a> {
    start: Timestamp,
    end: Timestamp,
    user: &'a UserId,
}

impl Piece<'_> {
    fn to_shift(self) -> Shift {
        Shift {
            user: self.user.clone(),
            start: self.start,
            end: self.end,
        }
    }
}

/// One layer's shifts within `[from, to)`, clipped to its start and restrictions: sorted and
/// disjoint. The loop runs once per rotation shift inside the range (at most one per hour).
fn layer_pieces<'a>(
    layer: &'a Layer,
    tz: &TimeZone,
    from: Timestamp,
    to: Timestamp,
) -> Vec<Piece<'a>> {
    let mut out = Vec::new();
    let from = from.max(layer.start);
    if from >= to {
        return out;
    }
    let restricted = !layer.restrictions.is_empty();
    let allowed = restriction::allowed(&layer.restrictions, tz, from, to);
    if restricted && allowed.is_empty() {
        return out;
    }
    let Some(mut k) = layer.handoffs.index_at(from, tz) else {
        return out;
    };
    let Some(mut start) = layer.handoffs.start_of(k, tz) else {
        return out;
    };
    let mut window = 0;
    while start < to {
        let end = layer.handoffs.start_of(k + 1, tz).unwrap_or(Timestamp::MAX);
        let (s, e) = (start.max(from), end.min(to));
        if s < e {
            let user = layer.user_of(k);
            if restricted {
                while window < allowed.len() && allowed[window].1 <= s {
                    window += 1;
                }
                for &(ws, we) in allowed[window..].iter().take_while(|(ws, _)| *ws < e) {
                    out.push(Piece {
                        start: ws.max(s),
                        end: we.min(e),
                        user,
                    });
                }
            } else {
                out.push(Piece {
                    start: s,
                    end: e,
                    user,
                });
            }
        }
        if end >= to {
            break;
        }
        start = end;
        k += 1;
    }
    out
}

/// The final schedule within `[from, to)`: a sweep over the edges of every layer's pieces and
/// every override, keeping at each moment the highest-priority source that has someone.
/// Priorities: layer i is i; override j is above every layer and every earlier override.
fn resolve(schedule: &Schedule, from: Timestamp, to: Timestamp) -> Vec<Piece<'_>> {
    // (instant, is_start, priority, user); ends sort before starts at the same instant, so a
    // source that hands off to itself never appears twice in `active`.
    let mut edges: Vec<(Timestamp, bool, usize, &UserId)> = Vec::new();
    for (i, layer) in schedule.layers.iter().enumerate() {
        for p in layer_pieces(layer, &schedule.time_zone, from, to) {
            edges.push((p.start, true, i, p.user));
            edges.push((p.end, false, i, p.user));
        }
    }
    let base = schedule.layers.len();
    for (j, o) in schedule.overrides.iter().enumerate() {
        let (start, end) = (o.start.max(from), o.end.min(to));
        if start < end {
            edges.push((start, true, base + j, &o.user));
            edges.push((end, false, base + j, &o.user));
        }
    }
    edges.sort_unstable_by_key(|&(at, is_start, priority, _)| (at, is_start, priority));

    let mut out: Vec<Piece<'_>> = Vec::new();
    let mut active: BTreeMap<usize, &UserId> = BTreeMap::new();
    let mut i = 0;
    while i < edges.len() {
        let at = edges[i].0;
        while let Some(&(t, is_start, priority, user)) = edges.get(i)
            && t == at
        {
            if is_start {
                active.insert(priority, user);
            } else {
                active.remove(&priority);
            }
            i += 1;
        }
        let (Some(&(next, ..)), Some((_, &user))) = (edges.get(i), active.last_key_value()) else {
            continue;
        };
        match out.last_mut() {
            Some(last) if last.end == at && last.user == user => last.end = next,
            _ => out.push(Piece {
                start: at,
                end: next,
                user,
            }),
        }
    }
    out
}
