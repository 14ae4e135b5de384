//! Scenario tests: a schedule written as a few lines in local time, and the final schedule
//! over a range printed one line per shift or gap, in local time with the UTC offset and the
//! real duration, so a 23-hour day reads as one.

use super::*;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// Builds a schedule from lines such as
/// ```text
/// zone Europe/Paris
/// layer daily 1 handoff 09:00 from 2026-03-27 08:00 users alice bob
///   only mon-fri 18:00-08:00            (a daily window, on the days given or every day)
///   only fri 18:00 - mon 08:00          (a weekly window)
/// override carol 2026-03-28 10:00 - 2026-03-28 12:00
/// ```
/// Local times are read in the zone (compatible disambiguation), written as RFC 3339 instants
/// into a `ScheduleSpec`, and parsed like any document from the API.
pub(super) fn schedule(text: &str) -> Schedule {
    Schedule::parse(&spec(text)).unwrap()
}

pub(super) fn spec(text: &str) -> ScheduleSpec {
    let mut spec = ScheduleSpec {
        name: "test".into(),
        time_zone: "UTC".into(),
        layers: Vec::new(),
        overrides: Vec::new(),
    };
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let tz = TimeZone::get(&spec.time_zone).unwrap();
        match words[0] {
            "zone" => spec.time_zone = words[1].into(),
            "layer" => {
                let mut rest = &words[3..];
                let mut handoff = None;
                if rest[0] == "handoff" {
                    handoff = Some(rest[1].to_owned());
                    rest = &rest[2..];
                }
                assert_eq!(rest[0], "from", "{line}");
                assert_eq!(rest[3], "users", "{line}");
                spec.layers.push(LayerSpec {
                    name: format!("L{}", spec.layers.len() + 1),
                    start: instant(&tz, rest[1], rest[2]).to_string(),
                    rotation: RotationSpec {
                        kind: words[1].into(),
                        length: words[2].parse().unwrap(),
                        handoff,
                    },
                    users: rest[4..].iter().map(|u| UserId::from(*u)).collect(),
                    restrictions: Vec::new(),
                });
            }
            "only" => {
                let layer = spec.layers.last_mut().expect("'only' follows a layer");
                layer.restrictions.push(restriction(&words[1..]));
            }
            "override" => {
                assert_eq!(words[4], "-", "{line}");
                spec.overrides.push(OverrideSpec {
                    user_id: words[1].into(),
                    start: instant(&tz, words[2], words[3]).to_string(),
                    end: instant(&tz, words[5], words[6]).to_string(),
                });
            }
            other => panic!("unknown line {other:?}"),
        }
    }
    spec
}

fn restriction(words: &[&str]) -> RestrictionSpec {
    match words {
        [day1, start, "-", day2, end] => RestrictionSpec {
            kind: "weekly".into(),
            start: (*start).into(),
            end: (*end).into(),
            days: None,
            start_day: Some((*day1).into()),
            end_day: Some((*day2).into()),
        },
        [days, times] | [times @ days] => {
            let (start, end) = times.split_once('-').unwrap();
            let days = (days != times).then(|| expand_days(days));
            RestrictionSpec {
                kind: "daily".into(),
                start: start.into(),
                end: end.into(),
                days,
                start_day: None,
                end_day: None,
            }
        }
        _ => panic!("bad restriction {words:?}"),
    }
}

/// `mon-fri` or `sat,sun`.
fn expand_days(days: &str) -> Vec<String> {
    const WEEK: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    if let Some((a, b)) = days.split_once('-') {
        let a = WEEK.iter().position(|d| *d == a).unwrap();
        let b = WEEK.iter().position(|d| *d == b).unwrap();
        WEEK[a..=b].iter().map(|d| d.to_string()).collect()
    } else {
        days.split(',').map(str::to_owned).collect()
    }
}

fn instant(tz: &TimeZone, date: &str, time: &str) -> Timestamp {
    let dt: DateTime = format!("{date}T{time}").parse().unwrap();
    dt.to_zoned_datetime(tz.clone()).unwrap().timestamp()
}

fn local(s: &Schedule, t: Timestamp) -> String {
    t.to_zoned_datetime(s.time_zone().clone())
        .strftime("%a %Y-%m-%d %H:%M%:z")
        .to_string()
}

fn hours(start: Timestamp, end: Timestamp) -> String {
    let minutes = end.duration_since(start).as_mins();
    match minutes % 60 {
        0 => format!("{}h", minutes / 60),
        m => format!("{}h{m:02}", minutes / 60),
    }
}

fn range(s: &Schedule, text: &str) -> QueryRange {
    let (from, to) = text.split_once(" .. ").unwrap();
    let at = |x: &str| {
        let (d, t) = x.split_once(' ').unwrap();
        instant(s.time_zone(), d, t)
    };
    QueryRange::new(at(from), at(to)).unwrap()
}

/// The final schedule over `range_text` (local times), shifts and gaps in order.
fn render(s: &Schedule, range_text: &str) -> String {
    let range = range(s, range_text);
    let mut lines: Vec<(Timestamp, String)> = Vec::new();
    for shift in final_shifts(s, range) {
        lines.push((
            shift.start,
            line(s, shift.start, shift.end, shift.user.as_str()),
        ));
    }
    for (start, end) in gaps(s, range) {
        lines.push((start, line(s, start, end, "(nobody)")));
    }
    lines.sort();
    let lines: Vec<String> = lines.into_iter().map(|(_, l)| l).collect();
    lines.join("\n")
}

fn line(s: &Schedule, start: Timestamp, end: Timestamp, who: &str) -> String {
    format!(
        "{} → {} {:>6} {who}",
        local(s, start),
        local(s, end),
        hours(start, end)
    )
}

#[track_caller]
fn check(schedule_text: &str, range_text: &str, expected: &str) {
    let s = schedule(schedule_text);
    let actual = render(&s, range_text);
    let expected = expected.trim();
    assert!(
        actual == expected,
        "\n--- expected\n{expected}\n--- actual\n{actual}\n"
    );
}

/// Who is on call at a local time, with the whole final shift.
fn oncall(s: &Schedule, at: &str) -> String {
    let (d, t) = at.split_once(' ').unwrap();
    match oncall_at(s, instant(s.time_zone(), d, t)) {
        Some(shift) => line(s, shift.start, shift.end, shift.user.as_str()),
        None => "(nobody)".into(),
    }
}

// ---- Daylight saving time -------------------------------------------------------------------

#[test]
fn paris_daily_handoff_stays_at_nine_across_spring_forward() {
    check(
        "zone Europe/Paris
         layer daily 1 from 2026-03-27 09:00 users alice bob",
        "2026-03-28 00:00 .. 2026-03-31 00:00",
        "
Sat 2026-03-28 00:00+01:00 → Sat 2026-03-28 09:00+01:00     9h alice
Sat 2026-03-28 09:00+01:00 → Sun 2026-03-29 09:00+02:00    23h bob
Sun 2026-03-29 09:00+02:00 → Mon 2026-03-30 09:00+02:00    24h alice
Mon 2026-03-30 09:00+02:00 → Tue 2026-03-31 00:00+02:00    15h bob",
    );
}

#[test]
fn paris_daily_handoff_stays_at_nine_across_fall_back() {
    // The layer started seven months earlier: shift indices are computed, not walked.
    check(
        "zone Europe/Paris
         layer daily 1 from 2026-03-27 09:00 users alice bob",
        "2026-10-24 00:00 .. 2026-10-27 00:00",
        "
Sat 2026-10-24 00:00+02:00 → Sat 2026-10-24 09:00+02:00     9h alice
Sat 2026-10-24 09:00+02:00 → Sun 2026-10-25 09:00+01:00    25h bob
Sun 2026-10-25 09:00+01:00 → Mon 2026-10-26 09:00+01:00    24h alice
Mon 2026-10-26 09:00+01:00 → Tue 2026-10-27 00:00+01:00    15h bob",
    );
}

#[test]
fn paris_half_past_two_handoff_moves_to_half_past_three_on_the_spring_forward_day_only() {
    // 02:30 does not exist on 29 March; jiff's compatible disambiguation pushes it forward by
    // the gap, to 03:30 CEST (01:30 UTC). The day after, the hand-off is back at 02:30.
    check(
        "zone Europe/Paris
         layer daily 1 from 2026-03-27 02:30 users alice bob",
        "2026-03-28 00:00 .. 2026-03-31 00:00",
        "
Sat 2026-03-28 00:00+01:00 → Sat 2026-03-28 02:30+01:00   2h30 alice
Sat 2026-03-28 02:30+01:00 → Sun 2026-03-29 03:30+02:00    24h bob
Sun 2026-03-29 03:30+02:00 → Mon 2026-03-30 02:30+02:00    23h alice
Mon 2026-03-30 02:30+02:00 → Tue 2026-03-31 00:00+02:00  21h30 bob",
    );
}

#[test]
fn paris_half_past_two_handoff_takes_the_first_of_the_two_on_the_fall_back_day() {
    // 02:30 happens twice on 25 October; compatible disambiguation takes the earlier one
    // (CEST, 00:30 UTC), so the shift after it lasts 25 hours.
    check(
        "zone Europe/Paris
         layer daily 1 from 2026-10-22 02:30 users alice bob",
        "2026-10-24 00:00 .. 2026-10-27 00:00",
        "
Sat 2026-10-24 00:00+02:00 → Sat 2026-10-24 02:30+02:00   2h30 bob
Sat 2026-10-24 02:30+02:00 → Sun 2026-10-25 02:30+02:00    24h alice
Sun 2026-10-25 02:30+02:00 → Mon 2026-10-26 02:30+01:00    25h bob
Mon 2026-10-26 02:30+01:00 → Tue 2026-10-27 00:00+01:00  21h30 alice",
    );
}

#[test]
fn hourly_rotations_are_exact_durations_across_dst() {
    check(
        "zone Europe/Paris
         layer hourly 8 from 2026-03-28 17:00 users alice bob",
        "2026-03-28 17:00 .. 2026-03-29 18:00",
        "
Sat 2026-03-28 17:00+01:00 → Sun 2026-03-29 01:00+01:00     8h alice
Sun 2026-03-29 01:00+01:00 → Sun 2026-03-29 10:00+02:00     8h bob
Sun 2026-03-29 10:00+02:00 → Sun 2026-03-29 18:00+02:00     8h alice",
    );
}

#[test]
fn new_york_weekly_monday_handoff_keeps_nine_oclock() {
    // 34 weeks after the start, it is the second user's turn again.
    let s = "zone America/New_York
             layer weekly 1 from 2026-03-02 09:00 users alice bob carol";
    check(
        s,
        "2026-03-02 09:00 .. 2026-03-16 09:00",
        "
Mon 2026-03-02 09:00-05:00 → Mon 2026-03-09 09:00-04:00   167h alice
Mon 2026-03-09 09:00-04:00 → Mon 2026-03-16 09:00-04:00   168h bob",
    );
    check(
        s,
        "2026-10-26 09:00 .. 2026-11-09 09:00",
        "
Mon 2026-10-26 09:00-04:00 → Mon 2026-11-02 09:00-05:00   169h bob
Mon 2026-11-02 09:00-05:00 → Mon 2026-11-09 09:00-05:00   168h carol",
    );
}

#[test]
fn weekly_handoff_time_applies_on_the_weekday_of_the_start() {
    // Created on a Wednesday at 15:00 with a 09:00 hand-off: alice has the rest of the
    // current shift (from Wednesday 09:00), then hand-offs are Wednesdays at 09:00.
    check(
        "zone America/New_York
         layer weekly 1 handoff 09:00 from 2026-03-04 15:00 users alice bob",
        "2026-03-04 00:00 .. 2026-03-19 00:00",
        "
Wed 2026-03-04 00:00-05:00 → Wed 2026-03-04 15:00-05:00    15h (nobody)
Wed 2026-03-04 15:00-05:00 → Wed 2026-03-11 09:00-04:00   161h alice
Wed 2026-03-11 09:00-04:00 → Wed 2026-03-18 09:00-04:00   168h bob
Wed 2026-03-18 09:00-04:00 → Thu 2026-03-19 00:00-04:00    15h alice",
    );
}

#[test]
fn handoff_later_in_the_day_than_the_start_gives_the_first_user_a_short_first_shift() {
    check(
        "zone Europe/Paris
         layer daily 1 handoff 09:00 from 2026-04-06 08:00 users alice bob",
        "2026-04-06 08:00 .. 2026-04-08 09:00",
        "
Mon 2026-04-06 08:00+02:00 → Mon 2026-04-06 09:00+02:00     1h alice
Mon 2026-04-06 09:00+02:00 → Tue 2026-04-07 09:00+02:00    24h bob
Tue 2026-04-07 09:00+02:00 → Wed 2026-04-08 09:00+02:00    24h alice",
    );
}

#[test]
fn lord_howe_half_hour_dst() {
    // Lord Howe Island moves its clocks by 30 minutes: 02:00 → 02:30 on 4 October 2026,
    // 02:00 → 01:30 on 5 April 2026. A 09:00 hand-off keeps 09:00: days of 23h30 and 24h30.
    let s = "zone Australia/Lord_Howe
             layer daily 1 from 2026-04-01 09:00 users alice bob";
    check(
        s,
        "2026-04-04 09:00 .. 2026-04-06 09:00",
        "
Sat 2026-04-04 09:00+11:00 → Sun 2026-04-05 09:00+10:30  24h30 bob
Sun 2026-04-05 09:00+10:30 → Mon 2026-04-06 09:00+10:30    24h alice",
    );
    check(
        s,
        "2026-10-03 09:00 .. 2026-10-05 09:00",
        "
Sat 2026-10-03 09:00+10:30 → Sun 2026-10-04 09:00+11:00  23h30 bob
Sun 2026-10-04 09:00+11:00 → Mon 2026-10-05 09:00+11:00    24h alice",
    );
    // 02:15 does not exist on 4 October: the hand-off moves forward by the gap, to 02:45.
    check(
        "zone Australia/Lord_Howe
         layer daily 1 from 2026-10-01 02:15 users alice bob",
        "2026-10-03 02:15 .. 2026-10-05 02:15",
        "
Sat 2026-10-03 02:15+10:30 → Sun 2026-10-04 02:45+11:00    24h alice
Sun 2026-10-04 02:45+11:00 → Mon 2026-10-05 02:15+11:00  23h30 bob",
    );
}

#[test]
fn kolkata_half_hour_offset_without_dst() {
    check(
        "zone Asia/Kolkata
         layer hourly 8 from 2026-03-28 09:00 users alice bob carol
         layer daily 1 from 2026-03-28 09:00 users dave erin
           only sat,sun 12:00-13:00",
        "2026-03-28 09:00 .. 2026-03-29 09:00",
        "
Sat 2026-03-28 09:00+05:30 → Sat 2026-03-28 12:00+05:30     3h alice
Sat 2026-03-28 12:00+05:30 → Sat 2026-03-28 13:00+05:30     1h dave
Sat 2026-03-28 13:00+05:30 → Sat 2026-03-28 17:00+05:30     4h alice
Sat 2026-03-28 17:00+05:30 → Sun 2026-03-29 01:00+05:30     8h bob
Sun 2026-03-29 01:00+05:30 → Sun 2026-03-29 09:00+05:30     8h carol",
    );
    let s = schedule(
        "zone Asia/Kolkata
         layer daily 1 from 2026-03-28 09:00 users alice",
    );
    let shift = oncall_at(&s, "2026-03-28T03:30:00Z".parse().unwrap()).unwrap();
    assert_eq!(shift.start.to_string(), "2026-03-28T03:30:00Z");
}

// ---- Restrictions, layers, overrides, gaps --------------------------------------------------

const NIGHTS_AND_WEEKENDS: &str = "
zone Europe/Paris
layer weekly 1 handoff 09:00 from 2026-03-30 09:00 users carol dan
  only mon-fri 18:00-08:00
  only fri 18:00 - mon 08:00";

#[test]
fn nights_and_weekends_restriction() {
    check(
        NIGHTS_AND_WEEKENDS,
        "2026-04-06 00:00 .. 2026-04-14 00:00",
        "
Mon 2026-04-06 00:00+02:00 → Mon 2026-04-06 08:00+02:00     8h carol
Mon 2026-04-06 08:00+02:00 → Mon 2026-04-06 18:00+02:00    10h (nobody)
Mon 2026-04-06 18:00+02:00 → Tue 2026-04-07 08:00+02:00    14h dan
Tue 2026-04-07 08:00+02:00 → Tue 2026-04-07 18:00+02:00    10h (nobody)
Tue 2026-04-07 18:00+02:00 → Wed 2026-04-08 08:00+02:00    14h dan
Wed 2026-04-08 08:00+02:00 → Wed 2026-04-08 18:00+02:00    10h (nobody)
Wed 2026-04-08 18:00+02:00 → Thu 2026-04-09 08:00+02:00    14h dan
Thu 2026-04-09 08:00+02:00 → Thu 2026-04-09 18:00+02:00    10h (nobody)
Thu 2026-04-09 18:00+02:00 → Fri 2026-04-10 08:00+02:00    14h dan
Fri 2026-04-10 08:00+02:00 → Fri 2026-04-10 18:00+02:00    10h (nobody)
Fri 2026-04-10 18:00+02:00 → Mon 2026-04-13 08:00+02:00    62h dan
Mon 2026-04-13 08:00+02:00 → Mon 2026-04-13 18:00+02:00    10h (nobody)
Mon 2026-04-13 18:00+02:00 → Tue 2026-04-14 00:00+02:00     6h carol",
    );
}

#[test]
fn restriction_windows_keep_local_time_across_dst() {
    // The weekend of the spring-forward change is an hour shorter than other weekends.
    check(
        "zone Europe/Paris
         layer daily 7 from 2026-03-01 09:00 users carol
           only fri 18:00 - mon 08:00",
        "2026-03-27 00:00 .. 2026-03-31 00:00",
        "
Fri 2026-03-27 00:00+01:00 → Fri 2026-03-27 18:00+01:00    18h (nobody)
Fri 2026-03-27 18:00+01:00 → Mon 2026-03-30 08:00+02:00    61h carol
Mon 2026-03-30 08:00+02:00 → Tue 2026-03-31 00:00+02:00    16h (nobody)",
    );
}

#[test]
fn a_higher_layer_wins_where_it_has_someone() {
    check(
        &format!(
            "{NIGHTS_AND_WEEKENDS}
             layer daily 1 from 2026-04-06 09:00 users alice bob"
        ),
        "2026-04-06 00:00 .. 2026-04-08 00:00",
        "
Mon 2026-04-06 00:00+02:00 → Mon 2026-04-06 08:00+02:00     8h carol
Mon 2026-04-06 08:00+02:00 → Mon 2026-04-06 09:00+02:00     1h (nobody)
Mon 2026-04-06 09:00+02:00 → Tue 2026-04-07 09:00+02:00    24h alice
Tue 2026-04-07 09:00+02:00 → Wed 2026-04-08 00:00+02:00    15h bob",
    );
    // The same layers the other way round: the nights layer on top.
    check(
        "zone Europe/Paris
         layer daily 1 from 2026-04-06 09:00 users alice bob
         layer weekly 1 handoff 09:00 from 2026-03-30 09:00 users carol dan
           only mon-fri 18:00-08:00
           only fri 18:00 - mon 08:00",
        "2026-04-06 00:00 .. 2026-04-08 00:00",
        "
Mon 2026-04-06 00:00+02:00 → Mon 2026-04-06 08:00+02:00     8h carol
Mon 2026-04-06 08:00+02:00 → Mon 2026-04-06 09:00+02:00     1h (nobody)
Mon 2026-04-06 09:00+02:00 → Mon 2026-04-06 18:00+02:00     9h alice
Mon 2026-04-06 18:00+02:00 → Tue 2026-04-07 08:00+02:00    14h dan
Tue 2026-04-07 08:00+02:00 → Tue 2026-04-07 09:00+02:00     1h alice
Tue 2026-04-07 09:00+02:00 → Tue 2026-04-07 18:00+02:00     9h bob
Tue 2026-04-07 18:00+02:00 → Wed 2026-04-08 00:00+02:00     6h dan",
    );
}

#[test]
fn overrides_win_over_all_layers_and_the_later_override_wins_where_they_overlap() {
    check(
        "zone Europe/Paris
         layer daily 1 from 2026-04-06 09:00 users alice bob
         layer daily 1 from 2026-04-06 09:00 users carol
           only 12:00-14:00
         override dave 2026-04-06 13:00 - 2026-04-06 16:00
         override erin 2026-04-06 15:00 - 2026-04-06 17:00",
        "2026-04-06 09:00 .. 2026-04-07 00:00",
        "
Mon 2026-04-06 09:00+02:00 → Mon 2026-04-06 12:00+02:00     3h alice
Mon 2026-04-06 12:00+02:00 → Mon 2026-04-06 13:00+02:00     1h carol
Mon 2026-04-06 13:00+02:00 → Mon 2026-04-06 15:00+02:00     2h dave
Mon 2026-04-06 15:00+02:00 → Mon 2026-04-06 17:00+02:00     2h erin
Mon 2026-04-06 17:00+02:00 → Tue 2026-04-07 00:00+02:00     7h alice",
    );
}

#[test]
fn an_override_by_the_user_on_call_merges_into_one_shift_and_can_fill_a_gap() {
    let s = schedule(
        "zone Europe/Paris
         layer daily 1 from 2026-04-06 09:00 users alice bob
           only 09:00-17:00
         override alice 2026-04-06 17:00 - 2026-04-06 20:00",
    );
    assert_eq!(
        render(&s, "2026-04-06 09:00 .. 2026-04-07 12:00"),
        "
Mon 2026-04-06 09:00+02:00 → Mon 2026-04-06 20:00+02:00    11h alice
Mon 2026-04-06 20:00+02:00 → Tue 2026-04-07 09:00+02:00    13h (nobody)
Tue 2026-04-07 09:00+02:00 → Tue 2026-04-07 12:00+02:00     3h bob"
            .trim()
    );
    assert_eq!(
        oncall(&s, "2026-04-06 19:00"),
        "Mon 2026-04-06 09:00+02:00 → Mon 2026-04-06 20:00+02:00    11h alice"
    );
    assert_eq!(oncall(&s, "2026-04-06 20:00"), "(nobody)");
    assert_eq!(
        gaps(&s, range(&s, "2026-04-06 00:00 .. 2026-04-08 00:00")),
        vec![
            (
                "2026-04-05T22:00:00Z".parse().unwrap(),
                "2026-04-06T07:00:00Z".parse().unwrap()
            ),
            (
                "2026-04-06T18:00:00Z".parse().unwrap(),
                "2026-04-07T07:00:00Z".parse().unwrap()
            ),
            (
                "2026-04-07T15:00:00Z".parse().unwrap(),
                "2026-04-07T22:00:00Z".parse().unwrap()
            ),
        ]
    );
}

#[test]
fn a_layer_has_nobody_before_its_start() {
    check(
        "zone UTC
         layer daily 1 from 2026-04-06 09:00 users alice",
        "2026-04-05 00:00 .. 2026-04-07 00:00",
        "
Sun 2026-04-05 00:00+00:00 → Mon 2026-04-06 09:00+00:00    33h (nobody)
Mon 2026-04-06 09:00+00:00 → Tue 2026-04-07 00:00+00:00    15h alice",
    );
}

#[test]
fn oncall_reports_the_whole_contiguous_shift() {
    let s = schedule(
        "zone Europe/Paris
         layer weekly 2 from 2026-01-05 09:00 users alice bob",
    );
    assert_eq!(
        oncall(&s, "2026-03-29 12:00"),
        "Mon 2026-03-16 09:00+01:00 → Mon 2026-03-30 09:00+02:00   335h bob"
    );
    assert_eq!(oncall(&s, "2026-01-05 08:59"), "(nobody)");
    assert_eq!(
        oncall(&s, "2026-01-05 09:00"),
        "Mon 2026-01-05 09:00+01:00 → Mon 2026-01-19 09:00+01:00   336h alice"
    );
}

#[test]
fn oncall_clips_an_endless_shift_to_the_search_limit() {
    let s = schedule(
        "zone UTC
         layer daily 1 from 2026-01-01 00:00 users alice",
    );
    let t: Timestamp = "2026-06-01T12:00:00Z".parse().unwrap();
    let shift = oncall_at(&s, t).unwrap();
    assert_eq!(shift.user, UserId::from("alice"));
    // alice has been on call since 1 January and always will be; the answer says "at least
    // from 92 days ago until 92 days from now".
    assert_eq!(shift.start, t - ONCALL_SEARCH_MAX);
    assert_eq!(shift.end, t + ONCALL_SEARCH_MAX);
    let s = schedule(
        "zone UTC
         layer daily 1 from 2026-05-30 00:00 users alice",
    );
    let shift = oncall_at(&s, t).unwrap();
    assert_eq!(shift.start, "2026-05-30T00:00:00Z".parse().unwrap());
}

#[test]
fn a_layer_started_years_ago_is_resolved_by_jumping_to_the_shift() {
    let s = schedule(
        "zone Europe/Paris
         layer daily 1 from 2019-03-31 09:00 users alice bob carol",
    );
    for (at, days) in [("2026-03-29 12:00", 0), ("2026-10-25 08:59", -1)] {
        let (d, t) = at.split_once(' ').unwrap();
        let t = instant(s.time_zone(), d, t);
        let date = t.to_zoned_datetime(s.time_zone().clone()).date();
        let elapsed = date
            .since(jiff::civil::date(2019, 3, 31))
            .unwrap()
            .get_days()
            + days;
        let expected = ["alice", "bob", "carol"][elapsed.rem_euclid(3) as usize];
        assert_eq!(oncall_at(&s, t).unwrap().user.as_str(), expected, "at {at}");
    }
}

// ---- Parsing at the edge --------------------------------------------------------------------

#[test]
fn every_problem_is_named_by_its_field_path() {
    let spec: ScheduleSpec = serde_json::from_str(
        r#"{
        "name": " ",
        "time_zone": "Europe/Pariss",
        "layers": [
            {"name": "ok", "start": "2026-03-27T08:00:00Z",
             "rotation": {"type": "daily", "length": 1}, "users": ["alice"]},
            {"name": "bad", "start": "yesterday",
             "rotation": {"type": "monthly", "length": 0, "handoff": "9am"}, "users": [],
             "restrictions": [
                {"type": "daily", "start": "18:00", "end": "18:00"},
                {"type": "weekly", "start_day": "fri", "start": "18:00", "end": "08:00"},
                {"type": "daily", "days": ["funday"], "start": "25:00", "end": "08:00"}
             ]},
            {"start": "2026-03-27T08:00:00Z",
             "rotation": {"type": "hourly", "length": 9000, "handoff": "09:00"}, "users": [""]}
        ],
        "overrides": [
            {"user_id": "bob", "start": "2026-03-28T10:00:00Z", "end": "2026-03-28T10:00:00Z"},
            {"user_id": "bob", "start": "1900-01-01T00:00:00Z", "end": "2026-03-28T10:00:00Z"}
        ]}"#,
    )
    .unwrap();
    let err = Schedule::parse(&spec).unwrap_err();
    let lines: Vec<String> = err.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "'name' must not be empty",
            "'time_zone' is not a known IANA time zone (got \"Europe/Pariss\")",
            "'layers[1].start' must be an RFC 3339 instant such as 2026-03-29T09:00:00Z (got \"yesterday\")",
            "'layers[1].rotation.type' must be one of hourly, daily, weekly (got \"monthly\")",
            "'layers[1].rotation.handoff' must be a time of day such as 09:00 or 09:00:30 (got \"9am\")",
            "'layers[1].users' must not be empty",
            "'layers[1].restrictions[0].end' must differ from the start: the window would be empty",
            "'layers[1].restrictions[1].end_day' is required",
            "'layers[1].restrictions[2].start' must be a time of day such as 09:00 or 09:00:30 (got \"25:00\")",
            "'layers[1].restrictions[2].days[0]' must be one of monday, tuesday, wednesday, thursday, friday, saturday, sunday (got \"funday\")",
            "'layers[2].rotation.length' must be between 1 and 8784",
            "'layers[2].rotation.handoff' applies only to daily and weekly rotations",
            "'layers[2].users[0]' must not be empty",
            "'overrides[0].end' must be after start",
            "'overrides[1].start' must be between 1970-01-01 and 2200-01-01",
        ]
    );
    // The API renders the same problems through the ingestion formats' error shape.
    let crate::formats::ParseError::Invalid(fields) = crate::formats::ParseError::from(err) else {
        panic!("expected field errors");
    };
    assert_eq!(fields[0].field, "name");
}

#[test]
fn limits_are_enforced() {
    let mut spec = spec(
        "zone UTC
                         layer daily 1 from 2026-01-01 00:00 users alice",
    );
    spec.layers = vec![spec.layers[0].clone(); LAYERS_MAX + 1];
    let err = Schedule::parse(&spec).unwrap_err();
    assert_eq!(err.to_string(), "'layers' must have at most 20 entries");

    let one = spec.layers[0].clone();
    spec.layers.clear();
    let err = Schedule::parse(&spec).unwrap_err();
    assert_eq!(err.to_string(), "'layers' must not be empty");

    spec.layers = vec![one];
    spec.layers[0].users = vec![UserId::from("u"); LAYER_USERS_MAX + 1];
    let err = Schedule::parse(&spec).unwrap_err();
    assert_eq!(
        err.to_string(),
        "'layers[0].users' must have at most 100 entries"
    );

    spec.layers[0].users.truncate(1);
    let mut s = Schedule::parse(&spec).unwrap();
    let o = OverrideSpec {
        user_id: "bob".into(),
        start: "2026-01-01T00:00:00Z".into(),
        end: "2026-01-02T00:00:00Z".into(),
    }
    .parse()
    .unwrap();
    for _ in 0..OVERRIDES_MAX {
        s.add_override(o.clone()).unwrap();
    }
    assert_eq!(
        s.add_override(o).unwrap_err().to_string(),
        "'overrides' must have at most 1000 entries"
    );
    s.prune_overrides("2026-01-02T00:00:00Z".parse().unwrap());
    assert!(s.overrides().is_empty());
}

#[test]
fn time_zone_names_are_canonical_and_specs_round_trip() {
    let mut spec = spec(NIGHTS_AND_WEEKENDS);
    spec.layers[0].rotation.handoff = Some("09:00:30".into());
    spec.time_zone = "europe/paris".into();
    let s = Schedule::parse(&spec).unwrap();
    assert_eq!(s.time_zone_name(), "Europe/Paris");
    let again = Schedule::parse(&s.to_spec()).unwrap();
    assert_eq!(again, s);
    let json = serde_json::to_value(s.to_spec()).unwrap();
    assert_eq!(
        json["layers"][0]["restrictions"],
        serde_json::json!([
            {"type": "daily", "start": "18:00", "end": "08:00",
             "days": ["monday", "tuesday", "wednesday", "thursday", "friday"]},
            {"type": "weekly", "start": "18:00", "end": "08:00",
             "start_day": "friday", "end_day": "monday"},
        ])
    );
    assert_eq!(json["layers"][0]["rotation"]["handoff"], "09:00:30");
}

#[test]
fn query_ranges_are_bounded() {
    let t: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    assert_eq!(QueryRange::new(t, t), Err(RangeError::NotAfterFrom));
    assert!(QueryRange::new(t, t + QUERY_RANGE_MAX).is_ok());
    let err = QueryRange::new(t, t + QUERY_RANGE_MAX + SignedDuration::from_secs(1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "'to' must be at most 400 days after 'from'"
    );
    assert_eq!(err.field(), "to");
}

#[test]
fn schedule_time_bounds_are_the_documented_dates() {
    assert_eq!(SCHEDULE_TIME_MIN.to_string(), "1970-01-01T00:00:00Z");
    assert_eq!(SCHEDULE_TIME_MAX.to_string(), "2200-01-01T00:00:00Z");
}

// ---- Cost -----------------------------------------------------------------------------------

/// The issue's figure: who is on call for 1,000 schedules over a year of shifts (target: under
/// a second). A measurement, not a test: `cargo xtask bench oncall` runs it optimised and reads
/// the line it prints.
#[test]
#[ignore = "a measurement; cargo xtask bench oncall runs it in release"]
fn a_thousand_schedules_over_a_year() {
    let zones = [
        "Europe/Paris",
        "America/New_York",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
    ];
    let schedules: Vec<Schedule> = (0..1_000)
        .map(|i| {
            schedule(&format!(
                "zone {zone}
                 layer daily 1 from 2024-01-{day:02} 09:00 users a{i} b{i} c{i} d{i} e{i}
                 layer weekly 1 handoff 09:00 from 2024-01-01 09:00 users n{i} m{i}
                   only mon-fri 18:00-08:00
                   only fri 18:00 - mon 08:00
                 override o{i} 2026-05-01 10:00 - 2026-05-02 10:00",
                zone = zones[i % zones.len()],
                day = 1 + i % 28,
            ))
        })
        .collect();
    let from: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let year = QueryRange::new(from, from + SignedDuration::from_hours(365 * 24)).unwrap();

    let started = std::time::Instant::now();
    let shifts: usize = schedules.iter().map(|s| final_shifts(s, year).len()).sum();
    let final_elapsed = started.elapsed();

    let started = std::time::Instant::now();
    let mut on_call = 0;
    for s in &schedules {
        for day in 0..365 {
            let t = from + SignedDuration::from_hours(day * 24 + 12);
            on_call += usize::from(oncall_at(s, t).is_some());
        }
    }
    let oncall_elapsed = started.elapsed();

    println!(
        "final_shifts: 1,000 schedules × 365 days = {shifts} shifts in {final_elapsed:?}; \
         oncall_at: 365,000 queries ({on_call} answered) in {oncall_elapsed:?}"
    );
    println!(
        "bench-oncall final_shifts_ms={} oncall_ms={} shifts={shifts}",
        final_elapsed.as_secs_f64() * 1000.0,
        oncall_elapsed.as_secs_f64() * 1000.0
    );
}
