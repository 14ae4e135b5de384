//! Property tests: random schedules in zones with unusual DST (half-hour changes, non-hour
//! offsets, changes at midnight, Ramadan suspensions), queried around their transitions and
//! compared instant by instant with the plain model in `oracle.rs`; plus the invariants of the
//! final schedule and of hand-offs. Every generated time is on a 15-minute boundary, and so is
//! every UTC offset involved, so checking each 15-minute step checks every instant.

use super::oracle::Oracle;
use super::*;
use jiff::Span;
use jiff::civil::{Date, DateTime, Time, date};
use proptest::prelude::*;

const STEP: SignedDuration = SignedDuration::from_mins(15);

const ZONES: &[&str] = &[
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "America/St_Johns",
    "America/Santiago",
    "Africa/Casablanca",
    "UTC",
];

/// Days near which some of `ZONES` change their clocks in 2026 (and one quiet day).
const AROUND: &[(i16, i8, i8)] = &[
    (2026, 2, 15),
    (2026, 3, 8),
    (2026, 3, 22),
    (2026, 3, 29),
    (2026, 4, 5),
    (2026, 6, 15),
    (2026, 9, 6),
    (2026, 9, 27),
    (2026, 10, 4),
    (2026, 10, 25),
    (2026, 11, 1),
];

const USERS: &[&str] = &["ann", "bob", "cat", "dan", "eve"];
const DAYS: &[&str] = &["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn time_of_day() -> impl Strategy<Value = Time> {
    (0i8..24, prop::sample::select(vec![0i8, 15, 30, 45]))
        .prop_map(|(h, m)| Time::new(h, m, 0, 0).unwrap())
}

fn hh_mm(t: Time) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

fn restriction() -> impl Strategy<Value = RestrictionSpec> {
    let daily = (
        prop::option::of(prop::collection::vec(prop::sample::select(DAYS), 1..4)),
        time_of_day(),
        time_of_day(),
    )
        .prop_filter("a window must not be empty", |(_, s, e)| s != e)
        .prop_map(|(days, start, end)| RestrictionSpec {
            kind: "daily".into(),
            start: hh_mm(start),
            end: hh_mm(end),
            days: days.map(|d| d.iter().map(|d| d.to_string()).collect()),
            start_day: None,
            end_day: None,
        });
    let weekly = (
        prop::sample::select(DAYS),
        time_of_day(),
        prop::sample::select(DAYS),
        time_of_day(),
    )
        .prop_filter("a window must not be empty", |(d1, s, d2, e)| {
            (d1, s) != (d2, e)
        })
        .prop_map(|(d1, start, d2, end)| RestrictionSpec {
            kind: "weekly".into(),
            start: hh_mm(start),
            end: hh_mm(end),
            days: None,
            start_day: Some(d1.into()),
            end_day: Some(d2.into()),
        });
    prop_oneof![daily, weekly]
}

fn rotation() -> impl Strategy<Value = RotationSpec> {
    let spec = |kind: &str, length: i64, handoff: Option<Time>| RotationSpec {
        kind: kind.into(),
        length,
        handoff: handoff.map(hh_mm),
    };
    prop_oneof![
        (1i64..=12).prop_map(move |l| spec("hourly", l, None)),
        (1i64..=3, prop::option::of(time_of_day())).prop_map(move |(l, h)| spec("daily", l, h)),
        (1i64..=2, prop::option::of(time_of_day())).prop_map(move |(l, h)| spec("weekly", l, h)),
    ]
}

/// A layer, its start given in 15-minute steps from the range's start (local time): mostly
/// within the month before, sometimes years before.
fn layer() -> impl Strategy<Value = (RotationSpec, i64, Vec<&'static str>, Vec<RestrictionSpec>)> {
    (
        rotation(),
        prop_oneof![3 => -(30 * 96)..96i64, 1 => -(800 * 96)..-(30 * 96i64)],
        prop::collection::vec(prop::sample::select(USERS), 1..=4),
        prop::collection::vec(restriction(), 0..=2),
    )
}

#[derive(Clone, Debug)]
struct Case {
    spec: ScheduleSpec,
    range: QueryRange,
}

/// Local civil time `steps` 15-minute steps after `base`, as an instant (compatible).
fn at(tz: &jiff::tz::TimeZone, base: DateTime, steps: i64) -> Timestamp {
    let dt = base.checked_add(STEP * steps as i32).unwrap();
    dt.to_zoned_datetime(tz.clone()).unwrap().timestamp()
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(ZONES),
        prop::sample::select(AROUND),
        -3i64..=3,
        0i64..96,
        4i64..=4 * 96,
        prop::collection::vec(layer(), 1..=3),
        prop::collection::vec(
            (-96i64..5 * 96, 1i64..=192, prop::sample::select(USERS)),
            0..=3,
        ),
    )
        .prop_map(|(zone, (y, m, d), day, quarter, len, layers, overrides)| {
            let tz = jiff::tz::TimeZone::get(zone).unwrap();
            let base: DateTime = date(y, m, d)
                .checked_add(Span::new().days(day))
                .unwrap()
                .to_datetime(Time::midnight());
            let from = at(&tz, base, quarter);
            let to = at(&tz, base, quarter + len).max(from + STEP);
            let spec = ScheduleSpec {
                name: "prop".into(),
                time_zone: zone.into(),
                layers: layers
                    .into_iter()
                    .map(|(rotation, start, users, restrictions)| LayerSpec {
                        name: String::new(),
                        start: at(&tz, base, quarter + start).to_string(),
                        rotation,
                        users: users.into_iter().map(UserId::from).collect(),
                        restrictions,
                    })
                    .collect(),
                overrides: overrides
                    .into_iter()
                    .map(|(start, len, user)| OverrideSpec {
                        user_id: user.into(),
                        start: at(&tz, base, quarter + start).to_string(),
                        end: at(&tz, base, quarter + start + len).to_string(),
                    })
                    // A zero-length override can come out of a DST gap; the edge refuses it.
                    .filter(|o| o.start < o.end)
                    .collect(),
            };
            Case {
                spec,
                range: QueryRange::new(from, to).unwrap(),
            }
        })
}

fn aligned(t: Timestamp) -> bool {
    t.as_second().rem_euclid(STEP.as_secs()) == 0 && t.subsec_nanosecond() == 0
}

fn instants(range: QueryRange) -> impl Iterator<Item = Timestamp> {
    std::iter::successors(Some(range.from()), |t| Some(*t + STEP))
        .take_while(move |t| *t < range.to())
}

fn user_in(shifts: &[Shift], t: Timestamp) -> Option<&UserId> {
    shifts
        .iter()
        .find(|s| s.start <= t && t < s.end)
        .map(|s| &s.user)
}

/// Sorted, non-overlapping, non-empty, inside the range, on 15-minute boundaries.
fn assert_well_formed(shifts: &[Shift], range: QueryRange) {
    for s in shifts {
        assert!(s.start < s.end, "empty shift {s:?}");
        assert!(
            range.from() <= s.start && s.end <= range.to(),
            "{s:?} outside {range:?}"
        );
        assert!(aligned(s.start) && aligned(s.end), "unaligned {s:?}");
    }
    for w in shifts.windows(2) {
        assert!(w[0].end <= w[1].start, "overlap or disorder: {w:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn final_schedule_matches_the_model_at_every_instant(case in case()) {
        let s = Schedule::parse(&case.spec).unwrap();
        let range = case.range;
        let oracle = Oracle::new(
            &s,
            range.from() - ONCALL_SEARCH_MAX - STEP,
            range.to() + ONCALL_SEARCH_MAX + STEP,
        );

        // Each layer on its own: at most one person at every instant, and the right one.
        for (i, shifts) in layer_shifts(&s, range).iter().enumerate() {
            assert_well_formed(shifts, range);
            for t in instants(range) {
                prop_assert_eq!(user_in(shifts, t), oracle.layer_at(i, t), "layer {} at {}", i, t);
            }
        }

        // The final schedule: contiguous (touching shifts have different users), and right.
        let shifts = final_shifts(&s, range);
        assert_well_formed(&shifts, range);
        for w in shifts.windows(2) {
            prop_assert!(w[0].end < w[1].start || w[0].user != w[1].user, "unmerged {:?}", w);
        }
        for t in instants(range) {
            prop_assert_eq!(user_in(&shifts, t), oracle.at(t), "final at {}", t);
        }

        // The gaps are exactly what the shifts leave of the range.
        let mut pieces: Vec<(Timestamp, Timestamp)> =
            shifts.iter().map(|s| (s.start, s.end)).chain(gaps(&s, range)).collect();
        pieces.sort();
        let mut covered = range.from();
        for (start, end) in pieces {
            prop_assert_eq!(start, covered);
            prop_assert!(start < end);
            covered = end;
        }
        prop_assert_eq!(covered, range.to());

        // Cutting the range in two changes nothing but the cut.
        let middle = range.from() + (range.to().duration_since(range.from()) / 2).round(jiff::Unit::Minute).unwrap();
        if range.from() < middle && middle < range.to() {
            let mut joined = final_shifts(&s, QueryRange::new(range.from(), middle).unwrap());
            for shift in final_shifts(&s, QueryRange::new(middle, range.to()).unwrap()) {
                match joined.last_mut() {
                    Some(last) if last.end == shift.start && last.user == shift.user => last.end = shift.end,
                    _ => joined.push(shift),
                }
            }
            prop_assert_eq!(&joined, &shifts);
        }

        // Who is on call, and the whole shift: same user as the model, ends where the model
        // says the user changes (unless clipped by the search limit).
        for t in instants(range).step_by(7) {
            let got = oncall_at(&s, t);
            prop_assert_eq!(got.as_ref().map(|s| &s.user), oracle.at(t), "oncall at {}", t);
            let Some(shift) = got else { continue };
            prop_assert!(shift.start <= t && t < shift.end);
            prop_assert!(aligned(shift.start) && aligned(shift.end));
            prop_assert_eq!(oracle.at(shift.start), Some(&shift.user));
            prop_assert_eq!(oracle.at(shift.end - STEP), Some(&shift.user));
            if shift.start > t - ONCALL_SEARCH_MAX {
                prop_assert_ne!(oracle.at(shift.start - STEP), Some(&shift.user));
            }
            if shift.end < t + ONCALL_SEARCH_MAX {
                prop_assert_ne!(oracle.at(shift.end), Some(&shift.user));
            }
            if let Some(inner) = shifts.iter().find(|p| p.start <= t && t < p.end)
                && inner.start > range.from()
                && inner.end < range.to()
            {
                prop_assert_eq!(inner, &shift);
            }
        }
    }

    /// Daily and weekly hand-offs happen at the hand-off's local wall time on every day it
    /// exists, and where it does not (a DST gap) at the instant compatible disambiguation
    /// gives; successive hand-offs are exactly `length` days or weeks apart on the calendar.
    #[test]
    fn handoffs_keep_local_wall_time_across_dst(
        zone in prop::sample::select(ZONES),
        weekly in any::<bool>(),
        length in 1i64..=2,
        handoff in prop::option::of(time_of_day()),
        start_day in 0i64..365,
        start_time in time_of_day(),
    ) {
        let tz = jiff::tz::TimeZone::get(zone).unwrap();
        let start = date(2026, 1, 1).checked_add(Span::new().days(start_day)).unwrap().to_datetime(start_time);
        let start = start.to_zoned_datetime(tz.clone()).unwrap().timestamp();
        let spec = ScheduleSpec {
            name: "dst".into(),
            time_zone: zone.into(),
            layers: vec![LayerSpec {
                name: String::new(),
                start: start.to_string(),
                rotation: RotationSpec {
                    kind: if weekly { "weekly" } else { "daily" }.into(),
                    length,
                    handoff: handoff.map(hh_mm),
                },
                users: vec!["ann".into(), "bob".into()],
                restrictions: Vec::new(),
            }],
            overrides: Vec::new(),
        };
        let s = Schedule::parse(&spec).unwrap();
        let wall = handoff.unwrap_or(start.to_zoned_datetime(tz.clone()).time());
        let range = QueryRange::new(start, start + QUERY_RANGE_MAX).unwrap();
        let shifts = &layer_shifts(&s, range)[0];
        let step = Span::new().days(length * if weekly { 7 } else { 1 });
        let mut previous: Option<Date> = None;
        for w in shifts.windows(2) {
            prop_assert_eq!(w[0].end, w[1].start);
            prop_assert_ne!(&w[0].user, &w[1].user);
            let b = w[1].start;
            let local = b.to_zoned_datetime(tz.clone());
            // The day whose hand-off this is: today, or yesterday when a gap pushed it past
            // midnight.
            let day = [local.date(), local.date().yesterday().unwrap()]
                .into_iter()
                .find(|d| d.to_datetime(wall).to_zoned_datetime(tz.clone()).unwrap().timestamp() == b);
            prop_assert!(day.is_some(), "hand-off at {} is not {} local", local, wall);
            if let (Some(p), Some(d)) = (previous, day) {
                prop_assert_eq!(p.checked_add(step).unwrap(), d);
            }
            previous = day;
        }
        prop_assert!(shifts.len() >= 2);
    }
}
