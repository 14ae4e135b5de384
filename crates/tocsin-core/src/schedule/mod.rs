//! On-call schedules: who is on call when. A schedule is a time zone, ordered layers (each a
//! rotation of users, optionally restricted to weekly windows) and overrides on top; `resolve`
//! turns that into final shifts. Pure: every query takes the instants it needs.

mod resolve;
mod restriction;
mod rotation;
mod spec;

#[cfg(test)]
mod oracle;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use resolve::{QueryRange, RangeError, Shift, final_shifts, gaps, layer_shifts, oncall_at};
pub use restriction::{Restriction, Weekdays};
pub use rotation::{Rotation, RotationKind};
pub use spec::{
    FieldProblem, LayerSpec, OverrideSpec, Problem, RestrictionSpec, RotationSpec, ScheduleSpec,
    SpecError,
};

use crate::UserId;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use rotation::Handoffs;

/// Layers in one schedule. Real schedules have two or three (primary, secondary, a weekend
/// layer); each layer costs work on every query, so the bound keeps a query's cost bounded.
pub const LAYERS_MAX: usize = 20;
/// Users in one layer's rotation: a large team rotating daily comes round every quarter.
pub const LAYER_USERS_MAX: usize = 100;
/// Restrictions on one layer: four windows a day for every day of the week is already odd.
pub const LAYER_RESTRICTIONS_MAX: usize = 28;
/// Overrides held by one schedule. The store should not load overrides that ended before the
/// earliest instant it will ask about (`Schedule::prune_overrides`): they change no answer.
pub const OVERRIDES_MAX: usize = 1_000;
/// The longest range one query may cover: an ICS feed spans a month back and a year ahead.
/// With the shortest shift (one hour) that bounds a layer to 9,600 shifts per query.
pub const QUERY_RANGE_MAX: SignedDuration = SignedDuration::from_hours(400 * 24);
/// How far before and after `t` `oncall_at` looks for the ends of the shift containing `t`.
/// A shift that runs on further (one person alone in a rotation) is reported clipped to this:
/// the engine simply asks again when the reported end comes.
pub const ONCALL_SEARCH_MAX: SignedDuration = SignedDuration::from_hours(92 * 24);
/// Layer starts and override instants must lie in [1970-01-01, 2200-01-01): nothing real needs
/// more, and it keeps shift-index arithmetic far away from the edges of `Timestamp`.
pub const SCHEDULE_TIME_MIN: Timestamp = Timestamp::constant(0, 0);
pub const SCHEDULE_TIME_MAX: Timestamp = Timestamp::constant(7_258_118_400, 0);

/// A validated schedule. Built only by `Schedule::parse` from a `ScheduleSpec`, so a value of
/// this type always has a known time zone, non-empty rotations and well-ordered overrides.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    name: String,
    time_zone: TimeZone,
    time_zone_name: String,
    layers: Vec<Layer>,
    overrides: Vec<Override>,
}

impl Schedule {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The zone every wall-clock time of this schedule (hand-offs, restrictions) is read in.
    pub fn time_zone(&self) -> &TimeZone {
        &self.time_zone
    }

    /// The canonical IANA name of `time_zone`, e.g. `Europe/Paris`.
    pub fn time_zone_name(&self) -> &str {
        &self.time_zone_name
    }

    /// Lowest priority first: a later layer wins wherever it has someone.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// In creation order: where overrides overlap, the later one wins.
    pub fn overrides(&self) -> &[Override] {
        &self.overrides
    }

    /// Adds an override on top of the others (it wins where it overlaps them).
    pub fn add_override(&mut self, o: Override) -> Result<(), SpecError> {
        if self.overrides.len() >= OVERRIDES_MAX {
            return Err(SpecError::one(
                "overrides",
                Problem::TooMany { max: OVERRIDES_MAX },
            ));
        }
        self.overrides.push(o);
        Ok(())
    }

    /// Drops the overrides that ended at or before `t`: they change no answer about any
    /// instant from `t` on.
    pub fn prune_overrides(&mut self, t: Timestamp) {
        self.overrides.retain(|o| o.end > t);
    }
}

/// One rotation of users, active from `start`, optionally restricted to weekly windows.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    name: String,
    start: Timestamp,
    rotation: Rotation,
    users: Vec<UserId>,
    restrictions: Vec<Restriction>,
    /// Where shift k starts (derived from `start`, `rotation` and the zone).
    handoffs: Handoffs,
    /// The index of the shift containing `start`: that shift goes to `users[0]`.
    first_index: i64,
}

impl Layer {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Before this instant the layer has nobody.
    pub fn start(&self) -> Timestamp {
        self.start
    }

    pub fn rotation(&self) -> &Rotation {
        &self.rotation
    }

    /// In rotation order; never empty. A user may appear more than once.
    pub fn users(&self) -> &[UserId] {
        &self.users
    }

    /// Empty: no restriction. Otherwise the layer has someone only inside their union.
    pub fn restrictions(&self) -> &[Restriction] {
        &self.restrictions
    }

    /// The user of shift `k` (shift indices count from the rotation's anchor).
    fn user_of(&self, k: i64) -> &UserId {
        let n = self.users.len() as i64;
        // `users` is never empty, so the index is in range.
        &self.users[(k.wrapping_sub(self.first_index)).rem_euclid(n) as usize]
    }
}

/// `user` is on call from `start` to `end`, above every layer. Always `start < end`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    user: UserId,
    start: Timestamp,
    end: Timestamp,
}

impl Override {
    pub fn user(&self) -> &UserId {
        &self.user
    }

    pub fn start(&self) -> Timestamp {
        self.start
    }

    pub fn end(&self) -> Timestamp {
        self.end
    }
}
