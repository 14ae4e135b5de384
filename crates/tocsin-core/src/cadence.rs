//! When a monitor's checks are due, and whether a check may start at its target yet: a fixed
//! cadence on a stable per-monitor phase (jitter that never drifts), and per-host politeness.
//! Pure decisions: time comes in as arguments; the engine waits and the store keeps `due_at`.
//!
//! A monitor checked every `step` runs at the instants `phase + k × step` (k an integer, counted
//! from the Unix epoch), where `phase` comes from a hash of the monitor's id. Ten thousand
//! monitors made in the same second so spread evenly over their interval, and a check that runs
//! late does not move the next one: the schedule is a grid, not a chain of "last run + step".

use jiff::{SignedDuration, Timestamp};

/// The phase of monitor `id` on a grid of `step_ms`: in `0..step_ms` (0 for a step under 1 ms).
/// FNV-1a over the id, fixed here so that a monitor keeps its phase across versions and nodes.
pub fn phase_ms(id: &str, step_ms: i64) -> i64 {
    if step_ms <= 1 {
        return 0;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // step_ms > 1, so the remainder fits an i64.
    i64::try_from(h % step_ms.unsigned_abs()).unwrap_or(0)
}

/// The first slot of `id`'s grid of `step` at or after `t` (`strictly` after it when asked).
pub fn slot_after(id: &str, step: SignedDuration, t: Timestamp, strictly: bool) -> Timestamp {
    let step_ms = i64::try_from(step.as_millis()).unwrap_or(i64::MAX).max(1);
    let phase = phase_ms(id, step_ms);
    let t_ms = t.as_millisecond();
    // The slot at or before t, then forward by one step when short of t (or equal, if strict).
    let mut slot = (t_ms - phase).div_euclid(step_ms) * step_ms + phase;
    if slot < t_ms || (strictly && slot == t_ms) {
        slot = slot.saturating_add(step_ms);
    }
    Timestamp::from_millisecond(slot).unwrap_or(t)
}

/// When a new (or resumed) monitor's first check is due: its first slot from `now` on.
pub fn first_due(id: &str, interval: SignedDuration, now: Timestamp) -> Timestamp {
    slot_after(id, interval, now, false)
}

/// When the check after the one due at `due` is due, on a grid of `step` (the interval, or the
/// retry interval while failing): the next slot after `due`; a check that ran so late that
/// this slot has passed (recorded at `now`) skips the missed slots instead of catching up in a
/// burst.
pub fn next_due(id: &str, step: SignedDuration, due: Timestamp, now: Timestamp) -> Timestamp {
    let next = slot_after(id, step, due, true);
    if next > now {
        next
    } else {
        slot_after(id, step, now, true)
    }
}

/// Per-host limits on checks: at most `checks_max` in flight at one host (0: no limit) and
/// starts at least `spacing` apart, so that 500 monitors on one host do not hammer it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Politeness {
    pub checks_max: u32,
    pub spacing: SignedDuration,
}

impl Default for Politeness {
    /// 8 checks at once per host, no spacing: a busy host is never hit by a crowd, and the
    /// jitter already spreads the starts.
    fn default() -> Self {
        Politeness {
            checks_max: 8,
            spacing: SignedDuration::ZERO,
        }
    }
}

/// One host's checks as the politeness rule sees them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostGate {
    pub in_flight: u32,
    pub last_start: Option<Timestamp>,
}

/// Whether a check may start now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Within the host's limits.
    Start,
    /// Over the limits, but waiting longer would delay it past `latest`: it runs anyway (and
    /// the engine counts it), since a monitor is never held back beyond its interval.
    StartOverLimit,
    /// Ask again at `until` (at the latest), or when one of the host's checks finishes.
    Wait { until: Timestamp },
}

impl Politeness {
    /// May a check start at `now` at a host in state `gate`, given that it must start by
    /// `latest` (its due time plus its interval, or less)?
    pub fn admit(&self, gate: &HostGate, now: Timestamp, latest: Timestamp) -> Admission {
        let free = self.checks_max == 0 || gate.in_flight < self.checks_max;
        let spaced_from = gate.last_start.map_or(now, |t| t + self.spacing);
        if free && now >= spaced_from {
            return Admission::Start;
        }
        if now >= latest {
            return Admission::StartOverLimit;
        }
        let until = if free {
            spaced_from.min(latest)
        } else {
            latest
        };
        Admission::Wait { until }
    }
}

impl HostGate {
    pub fn started(&mut self, now: Timestamp) {
        self.in_flight += 1;
        self.last_start = Some(self.last_start.map_or(now, |t| t.max(now)));
    }

    pub fn finished(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Nothing in flight and no spacing left to keep: the gate can be forgotten.
    pub fn idle(&self, spacing: SignedDuration, now: Timestamp) -> bool {
        self.in_flight == 0 && self.last_start.is_none_or(|t| t + spacing <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn secs(s: i64) -> SignedDuration {
        SignedDuration::from_secs(s)
    }

    #[test]
    fn ten_thousand_monitors_made_at_once_spread_over_their_interval() {
        let now = t(0);
        let mut per_second = std::collections::BTreeMap::<i64, u32>::new();
        for i in 0..10_000 {
            let due = first_due(&format!("01J{i:023}"), secs(30), now);
            assert!(due >= now && due < now + secs(30), "{due}");
            *per_second.entry(due.as_second()).or_default() += 1;
        }
        // 30 seconds, about 333 each: none gets more than twice its share.
        assert_eq!(per_second.len(), 30);
        let most = per_second.values().max().copied().unwrap_or(0);
        assert!(most < 667, "{most} checks in one second");
    }

    #[test]
    fn the_cadence_is_fixed_however_late_a_check_runs() {
        let id = "monitor-a";
        let first = first_due(id, secs(30), t(0));
        // On time, 2 s late, or 29 s late: the next is one interval after the due time.
        for late in [0, 2, 29] {
            assert_eq!(
                next_due(id, secs(30), first, first + secs(late)),
                first + secs(30)
            );
        }
        // Later than a whole interval: the missed slot is skipped, still on the grid.
        assert_eq!(
            next_due(id, secs(30), first, first + secs(45)),
            first + secs(60)
        );
    }

    #[test]
    fn a_retry_interval_that_divides_the_interval_keeps_the_phase() {
        let id = "monitor-b";
        let first = first_due(id, secs(30), t(0));
        let r1 = next_due(id, secs(10), first, first);
        assert_eq!(r1, first + secs(10));
        // Recovered after two retries: back on the 30-s grid at the same phase.
        assert_eq!(
            next_due(id, secs(30), first + secs(20), first + secs(20)),
            first + secs(30)
        );
    }

    #[test]
    fn politeness_limits_in_flight_and_spacing_until_the_latest_start() {
        let p = Politeness {
            checks_max: 2,
            spacing: secs(1),
        };
        let mut gate = HostGate::default();
        let latest = t(20);
        assert_eq!(p.admit(&gate, t(0), latest), Admission::Start);
        gate.started(t(0));
        // Spacing: the next may start a second later.
        assert_eq!(
            p.admit(&gate, t(0), latest),
            Admission::Wait { until: t(1) }
        );
        assert_eq!(p.admit(&gate, t(1), latest), Admission::Start);
        gate.started(t(1));
        // Two in flight: wait for one to finish, at most until the latest start.
        assert_eq!(
            p.admit(&gate, t(5), latest),
            Admission::Wait { until: latest }
        );
        assert_eq!(p.admit(&gate, t(20), latest), Admission::StartOverLimit);
        gate.finished();
        assert_eq!(p.admit(&gate, t(5), latest), Admission::Start);
        // No limits at all.
        let none = Politeness {
            checks_max: 0,
            spacing: SignedDuration::ZERO,
        };
        gate.in_flight = 1_000;
        assert_eq!(none.admit(&gate, t(5), latest), Admission::Start);
        gate.in_flight = 0;
        assert!(gate.idle(secs(1), t(2)));
        assert!(!gate.idle(secs(1), t(1)));
    }

    proptest! {
        #[test]
        fn slots_are_on_the_grid_and_never_drift(
            id in "[0-9A-Z]{26}",
            step_s in 1i64..7_200,
            now_s in 0i64..1_000_000,
            late_ms in 0i64..20_000_000,
        ) {
            let step = secs(step_s);
            let first = first_due(&id, step, t(now_s));
            prop_assert!(first >= t(now_s) && first < t(now_s) + step);
            let phase = phase_ms(&id, step_s * 1000);
            let on_grid = |x: Timestamp| (x.as_millisecond() - phase).rem_euclid(step_s * 1000) == 0;
            prop_assert!(on_grid(first));
            let ran = first + SignedDuration::from_millis(late_ms);
            let next = next_due(&id, step, first, ran);
            prop_assert!(on_grid(next));
            prop_assert!(next > ran && next > first);
            // Never more than one step after the later of the due time and the run.
            prop_assert!(next <= first.max(ran) + step);
        }

        #[test]
        fn a_check_never_waits_past_its_latest_start(
            checks_max in 0u32..4,
            spacing_ms in 0i64..5_000,
            in_flight in 0u32..6,
            last_ms in proptest::option::of(-5_000i64..5_000),
            now_ms in 0i64..10_000,
            latest_ms in 0i64..10_000,
        ) {
            let p = Politeness { checks_max, spacing: SignedDuration::from_millis(spacing_ms) };
            let gate = HostGate {
                in_flight,
                last_start: last_ms.map(|ms| t(0) + SignedDuration::from_millis(ms)),
            };
            let now = t(0) + SignedDuration::from_millis(now_ms);
            let latest = t(0) + SignedDuration::from_millis(latest_ms);
            match p.admit(&gate, now, latest) {
                Admission::Wait { until } => {
                    prop_assert!(now < latest);
                    prop_assert!(until > now && until <= latest);
                }
                Admission::StartOverLimit => prop_assert!(now >= latest),
                Admission::Start => {
                    prop_assert!(checks_max == 0 || in_flight < checks_max);
                }
            }
        }
    }
}
