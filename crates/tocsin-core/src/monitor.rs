//! Monitors as pure state machines: heartbeats (Healthchecks.io's ping protocol: silence past the
//! deadline is the failure) and active checks with false-alarm control (open after N consecutive
//! failures, resolve after M consecutive successes, one incident held while a check flaps).
//! Time comes in as arguments; the engine and the store apply the effects.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The shortest interval, period or grace (operators choose; tests rely on short ones).
pub const INTERVAL_MIN: SignedDuration = SignedDuration::from_secs(1);
/// The longest period or grace (Healthchecks allows 365 days).
pub const PERIOD_MAX: SignedDuration = SignedDuration::from_hours(365 * 24);
/// Bytes of a ping's body kept as the run's log (as Healthchecks).
pub const PING_BODY_MAX: usize = 10_000;

crate::model::word_enum!(
    /// What a monitor checks.
    MonitorKind { Http = "http", Tcp = "tcp", Dns = "dns", Tls = "tls", Ping = "ping", Heartbeat = "heartbeat" }
);

crate::model::word_enum!(
    /// Where a heartbeat stands. `late` is not stored: it is `up` past the period, within grace.
    HeartbeatStatus { New = "new", Up = "up", Down = "down", Paused = "paused" }
);

/// What a ping says (`/ping/{token}[/start|/fail|/log|/{exit_status}]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PingKind {
    Success,
    Start,
    Fail,
    Log,
    /// 0 is success, anything else failure.
    Exit(u8),
}

impl PingKind {
    /// The path segment after the token: none, `start`, `fail`, `log`, or 0–255.
    pub fn parse(segment: Option<&str>) -> Option<PingKind> {
        match segment {
            None | Some("") => Some(PingKind::Success),
            Some("start") => Some(PingKind::Start),
            Some("fail") => Some(PingKind::Fail),
            Some("log") => Some(PingKind::Log),
            Some(n) if n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()) => {
                n.parse::<u8>().ok().map(PingKind::Exit)
            }
            _ => None,
        }
    }

    pub fn as_str(self) -> String {
        match self {
            PingKind::Success => "success".into(),
            PingKind::Start => "start".into(),
            PingKind::Fail => "fail".into(),
            PingKind::Log => "log".into(),
            PingKind::Exit(n) => format!("exit {n}"),
        }
    }

    /// Success and failure, folding exit statuses in; `None` for start and log.
    fn outcome(self) -> Option<bool> {
        match self {
            PingKind::Success | PingKind::Exit(0) => Some(true),
            PingKind::Fail | PingKind::Exit(_) => Some(false),
            PingKind::Start | PingKind::Log => None,
        }
    }
}

/// A heartbeat's stored state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub status: HeartbeatStatus,
    /// A success is expected every `period`…
    pub period: SignedDuration,
    /// …and is late, not yet down, for `grace` more; a started run must finish within `grace`.
    pub grace: SignedDuration,
    pub last_success: Option<Timestamp>,
    /// A run that started (`/start`) and has not finished yet, and its run id.
    pub started: Option<Timestamp>,
    pub started_rid: Option<String>,
    /// Instead of `period`: a success is expected at each time of this cron expression (five
    /// fields) in `time_zone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// What the store does after a transition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    None,
    /// Trigger the monitor's alert (one dedup key per monitor), saying why.
    Open(String),
    /// Resolve it.
    Resolve,
}

/// What one ping did: the effect, and the run's duration when it finished a started run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PingOutcome {
    pub effect: Effect,
    pub duration: Option<SignedDuration>,
}

impl Heartbeat {
    pub fn new(period: SignedDuration, grace: SignedDuration) -> Self {
        Heartbeat {
            status: HeartbeatStatus::New,
            period,
            grace,
            last_success: None,
            started: None,
            started_rid: None,
            cron: None,
            time_zone: None,
        }
    }

    /// A heartbeat expected at each time of `cron` in `time_zone` (both checked by
    /// `check_cron` first).
    pub fn with_cron(cron: &str, time_zone: &str, grace: SignedDuration) -> Self {
        Heartbeat {
            cron: Some(cron.to_owned()),
            time_zone: Some(time_zone.to_owned()),
            ..Heartbeat::new(SignedDuration::ZERO, grace)
        }
    }

    /// When the next success is expected after one at `t`.
    pub fn next_expected(&self, t: Timestamp) -> Timestamp {
        match (&self.cron, &self.time_zone) {
            (Some(cron), tz) => {
                next_cron(cron, tz.as_deref().unwrap_or("UTC"), t).unwrap_or(t + PERIOD_MAX)
            }
            _ => t + self.period,
        }
    }

    /// How the schedule reads, for messages.
    fn schedule_words(&self) -> String {
        match (&self.cron, &self.time_zone) {
            (Some(cron), tz) => format!("{cron:?} ({})", tz.as_deref().unwrap_or("UTC")),
            _ => format!("every {}", human(self.period)),
        }
    }

    /// When the heartbeat goes down if no ping comes: a success due `period` after the last
    /// one, plus `grace`; a started run due `grace` after its start. `None` while new (never
    /// pinged), down or paused.
    pub fn deadline(&self) -> Option<Timestamp> {
        if matches!(self.status, HeartbeatStatus::Down | HeartbeatStatus::Paused) {
            return None;
        }
        let by_period = self
            .last_success
            .map(|t| self.next_expected(t) + self.grace);
        let by_start = self.started.map(|t| t + self.grace);
        match (by_period, by_start) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Up, but past the period (within grace): shown as "late".
    pub fn late(&self, now: Timestamp) -> bool {
        self.status == HeartbeatStatus::Up
            && self
                .last_success
                .is_some_and(|t| now > self.next_expected(t))
    }

    /// Applies a ping received at `at`. A ping resumes a paused heartbeat.
    pub fn ping(&mut self, kind: PingKind, rid: Option<&str>, at: Timestamp) -> PingOutcome {
        if kind == PingKind::Log {
            return PingOutcome {
                effect: Effect::None,
                duration: None,
            };
        }
        if self.status == HeartbeatStatus::Paused {
            self.status = HeartbeatStatus::New;
        }
        let Some(ok) = kind.outcome() else {
            // A start: the run time is measured from here.
            self.started = Some(at);
            self.started_rid = rid.map(str::to_owned);
            return PingOutcome {
                effect: Effect::None,
                duration: None,
            };
        };
        // A finish pairs with the start of the same run (by run id when both have one).
        let paired = match (&self.started_rid, rid) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        let duration = self
            .started
            .filter(|_| paired)
            .map(|s| at.duration_since(s));
        if paired {
            self.started = None;
            self.started_rid = None;
        }
        let was_down = self.status == HeartbeatStatus::Down;
        let effect = if ok {
            self.status = HeartbeatStatus::Up;
            self.last_success = Some(at);
            if was_down {
                Effect::Resolve
            } else {
                Effect::None
            }
        } else {
            self.status = HeartbeatStatus::Down;
            if was_down {
                Effect::None
            } else {
                Effect::Open(match kind {
                    PingKind::Exit(n) => format!("the job exited with status {n}"),
                    _ => "the job reported a failure".into(),
                })
            }
        };
        PingOutcome { effect, duration }
    }

    /// The deadline passed with no ping: down, and why.
    pub fn check(&mut self, now: Timestamp) -> Effect {
        let Some(deadline) = self.deadline() else {
            return Effect::None;
        };
        if now < deadline {
            return Effect::None;
        }
        let why = match (self.started, self.last_success) {
            (Some(s), _) if s + self.grace <= now => format!(
                "a run started at {s} did not finish within its grace of {}",
                human(self.grace)
            ),
            (_, Some(t)) => format!(
                "no ping since {t}: expected {} (grace {})",
                self.schedule_words(),
                human(self.grace)
            ),
            _ => "no ping in time".into(),
        };
        self.status = HeartbeatStatus::Down;
        self.started = None;
        self.started_rid = None;
        Effect::Open(why)
    }

    pub fn pause(&mut self) {
        self.status = HeartbeatStatus::Paused;
        self.started = None;
        self.started_rid = None;
    }
}

/// Checks a cron expression (five fields: minute hour day-of-month month day-of-week) and an
/// IANA time zone; says which is wrong.
pub fn check_cron(cron: &str, time_zone: &str) -> Result<(), (&'static str, String)> {
    use std::str::FromStr;
    if cron.split_whitespace().count() != 5 {
        return Err((
            "cron",
            "must have five fields: minute hour day-of-month month day-of-week".into(),
        ));
    }
    croner::Cron::from_str(cron)
        .map_err(|e| ("cron", format!("is not a cron expression ({e})")))?;
    jiff::tz::TimeZone::get(time_zone).map_err(|_| {
        (
            "time_zone",
            format!("{time_zone:?} is not an IANA time zone"),
        )
    })?;
    next_cron(cron, time_zone, Timestamp::UNIX_EPOCH)
        .map(|_| ())
        .map_err(|e| ("cron", e))
}

/// The first time of `cron` in `time_zone` after `after`. Cron times are wall-clock times: one
/// that falls in a DST gap happens just after it, one in a repeated hour happens once (the
/// first).
pub fn next_cron(cron: &str, time_zone: &str, after: Timestamp) -> Result<Timestamp, String> {
    use chrono::{Datelike, Timelike};
    use std::str::FromStr;
    let pattern = croner::Cron::from_str(cron).map_err(|e| e.to_string())?;
    let zone = jiff::tz::TimeZone::get(time_zone).map_err(|e| e.to_string())?;
    let civil = zone.to_datetime(after);
    let mut from = chrono::NaiveDate::from_ymd_opt(
        i32::from(civil.year()),
        civil.month() as u32,
        civil.day() as u32,
    )
    .and_then(|d| {
        d.and_hms_opt(
            civil.hour() as u32,
            civil.minute() as u32,
            civil.second() as u32,
        )
    })
    .ok_or("the time is out of range")?;
    // A repeated hour can give a time not after `after`: look on from there (a few times).
    for _ in 0..4 {
        let next = pattern
            .find_next_occurrence(&from, false)
            .map_err(|e| format!("no next time ({e})"))?;
        let civil = jiff::civil::DateTime::new(
            i16::try_from(next.year()).map_err(|_| "the year is out of range")?,
            next.month() as i8,
            next.day() as i8,
            next.hour() as i8,
            next.minute() as i8,
            next.second() as i8,
            0,
        )
        .map_err(|e| e.to_string())?;
        let at = zone
            .to_ambiguous_timestamp(civil)
            .compatible()
            .map_err(|e| e.to_string())?;
        if at > after {
            return Ok(at);
        }
        from = next;
    }
    Err("no next time".into())
}

/// `90s`, `5m`, `2h`, `1d 2h`…
pub fn human(d: SignedDuration) -> String {
    let s = d.as_secs();
    let (days, hours, mins, secs) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    let mut out = Vec::new();
    for (n, unit) in [(days, "d"), (hours, "h"), (mins, "m"), (secs, "s")] {
        if n > 0 {
            out.push(format!("{n}{unit}"));
        }
    }
    if out.is_empty() {
        "0s".into()
    } else {
        out.join(" ")
    }
}

/// False-alarm control of an active check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Consecutive failures before the monitor is down (default 3).
    pub failures_before_alert: u32,
    /// Consecutive successes before it is up again (default 2).
    pub successes_before_resolve: u32,
    /// Flapping: this many up/down changes within `flap_window`…
    pub flap_changes: u32,
    pub flap_window: SignedDuration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            failures_before_alert: 3,
            successes_before_resolve: 2,
            flap_changes: 4,
            flap_window: SignedDuration::from_mins(30),
        }
    }
}

/// Changes remembered for flap detection (a bound on the stored state).
const CHANGES_KEPT_MAX: usize = 32;

/// An active check's running verdict.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Down (by the thresholds) or up; `None` before the first verdict.
    pub down: Option<bool>,
    pub failures: u32,
    pub successes: u32,
    /// When the verdict last changed, newest last (bounded).
    pub changes: Vec<Timestamp>,
    /// The monitor's incident is open (it stays open while the check flaps).
    pub alerting: bool,
}

impl Verdict {
    /// Flapping: many changes within the window.
    pub fn flapping(&self, th: &Thresholds, now: Timestamp) -> bool {
        th.flap_changes > 0
            && self
                .changes
                .iter()
                .filter(|t| now.duration_since(**t) <= th.flap_window)
                .count()
                >= th.flap_changes as usize
    }

    /// Takes one check result (`message` says what failed) and says what to do.
    pub fn record(&mut self, ok: bool, message: &str, th: &Thresholds, at: Timestamp) -> Effect {
        if ok {
            self.successes += 1;
            self.failures = 0;
        } else {
            self.failures += 1;
            self.successes = 0;
        }
        let was = self.down;
        if !ok && self.failures >= th.failures_before_alert.max(1) {
            self.down = Some(true);
        } else if ok && (self.successes >= th.successes_before_resolve.max(1) || was.is_none()) {
            self.down = Some(false);
        }
        if was.is_some() && was != self.down {
            self.changes.push(at);
            if self.changes.len() > CHANGES_KEPT_MAX {
                self.changes.remove(0);
            }
        }
        let down = self.down == Some(true);
        let flapping = self.flapping(th, at);
        match (self.alerting, down) {
            (false, true) => {
                self.alerting = true;
                let n = self.failures;
                Effect::Open(if n > 1 {
                    format!("{message} ({n} checks in a row)")
                } else {
                    message.to_owned()
                })
            }
            // Up again, and steady: resolve. While it flaps, the incident stays open.
            (true, false) if !flapping => {
                self.alerting = false;
                Effect::Resolve
            }
            _ => Effect::None,
        }
    }

    /// Failing but not yet down (or down): check again sooner.
    pub fn retrying(&self) -> bool {
        self.failures > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn hb() -> Heartbeat {
        Heartbeat::new(SignedDuration::from_secs(60), SignedDuration::from_secs(30))
    }

    #[test]
    fn cron_heartbeats_expect_wall_clock_times_across_dst() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        // 02:30 every day in Paris: on 2026-03-29 that time does not exist (clocks jump to
        // 03:00): the run is expected just after the gap.
        let next = next_cron("30 2 * * *", "Europe/Paris", t("2026-03-28T12:00:00Z")).unwrap();
        assert_eq!(next, t("2026-03-29T01:30:00Z"), "03:30 CEST, after the gap");
        // In autumn 01:30 happens twice in New York: once.
        let first = next_cron("30 1 * * *", "America/New_York", t("2026-11-01T04:00:00Z")).unwrap();
        assert_eq!(first, t("2026-11-01T05:30:00Z"), "01:30 EDT");
        let then = next_cron("30 1 * * *", "America/New_York", first).unwrap();
        assert_eq!(
            then,
            t("2026-11-02T06:30:00Z"),
            "the next day, not the repeat"
        );
        // Weekdays at 09:00 in Kolkata.
        let fri = t("2026-11-27T04:00:00Z");
        assert_eq!(
            next_cron("0 9 * * 1-5", "Asia/Kolkata", fri).unwrap(),
            t("2026-11-30T03:30:00Z"),
            "Monday"
        );
        let mut h =
            Heartbeat::with_cron("0 9 * * 1-5", "Asia/Kolkata", SignedDuration::from_mins(30));
        h.ping(PingKind::Success, None, fri);
        assert_eq!(h.deadline(), Some(t("2026-11-30T04:00:00Z")));
        assert!(
            !h.late(t("2026-11-29T12:00:00Z")),
            "the weekend is not late"
        );
        let Effect::Open(why) = h.check(t("2026-11-30T04:00:00Z")) else {
            panic!("down")
        };
        assert!(
            why.contains("expected \"0 9 * * 1-5\" (Asia/Kolkata)"),
            "{why}"
        );
        assert!(check_cron("0 9 * *", "UTC").is_err());
        assert_eq!(
            check_cron("0 9 * * *", "Mars/Olympus").unwrap_err().0,
            "time_zone"
        );
        assert_eq!(check_cron("61 9 * * *", "UTC").unwrap_err().0, "cron");
        assert!(check_cron("*/15 * * * *", "Europe/Paris").is_ok());
    }

    #[test]
    fn pings_parse_like_healthchecks() {
        assert_eq!(PingKind::parse(None), Some(PingKind::Success));
        assert_eq!(PingKind::parse(Some("start")), Some(PingKind::Start));
        assert_eq!(PingKind::parse(Some("fail")), Some(PingKind::Fail));
        assert_eq!(PingKind::parse(Some("log")), Some(PingKind::Log));
        assert_eq!(PingKind::parse(Some("0")), Some(PingKind::Exit(0)));
        assert_eq!(PingKind::parse(Some("255")), Some(PingKind::Exit(255)));
        assert_eq!(PingKind::parse(Some("256")), None);
        assert_eq!(PingKind::parse(Some("-1")), None);
        assert_eq!(PingKind::parse(Some("stop")), None);
    }

    #[test]
    fn a_new_heartbeat_waits_for_its_first_ping_then_goes_down_after_period_and_grace() {
        let mut h = hb();
        assert_eq!(h.deadline(), None, "new: never alerts");
        assert_eq!(h.check(at(10_000)), Effect::None);
        h.ping(PingKind::Success, None, at(0));
        assert_eq!(h.deadline(), Some(at(90)));
        assert!(!h.late(at(60)) && h.late(at(61)), "late after the period");
        assert_eq!(h.check(at(89)), Effect::None);
        let Effect::Open(why) = h.check(at(90)) else {
            panic!("down at the deadline")
        };
        assert!(why.contains("expected every 1m (grace 30s)"), "{why}");
        assert_eq!(h.check(at(200)), Effect::None, "down once");
        let out = h.ping(PingKind::Success, None, at(300));
        assert_eq!(out.effect, Effect::Resolve, "the next success resolves");
        assert_eq!(h.deadline(), Some(at(390)));
    }

    #[test]
    fn a_started_run_must_finish_within_grace_and_its_duration_is_measured() {
        let mut h = hb();
        h.ping(PingKind::Success, None, at(0));
        h.ping(PingKind::Start, Some("r1"), at(50));
        assert_eq!(h.deadline(), Some(at(80)), "start + grace comes first");
        // Another run's finish does not end this one.
        let out = h.ping(PingKind::Success, Some("r2"), at(60));
        assert_eq!(out.duration, None);
        assert_eq!(h.started, Some(at(50)));
        let out = h.ping(PingKind::Exit(0), Some("r1"), at(70));
        assert_eq!(out.duration, Some(SignedDuration::from_secs(20)));
        assert_eq!(h.started, None);
        h.ping(PingKind::Start, None, at(100));
        let Effect::Open(why) = h.check(at(130)) else {
            panic!("never finished")
        };
        assert!(
            why.contains("did not finish within its grace of 30s"),
            "{why}"
        );
    }

    #[test]
    fn failures_open_at_once_and_exit_statuses_count() {
        let mut h = hb();
        let out = h.ping(PingKind::Exit(3), None, at(0));
        assert_eq!(
            out.effect,
            Effect::Open("the job exited with status 3".into())
        );
        assert_eq!(h.ping(PingKind::Fail, None, at(1)).effect, Effect::None);
        assert_eq!(h.ping(PingKind::Log, None, at(2)).effect, Effect::None);
        assert_eq!(h.status, HeartbeatStatus::Down);
        assert_eq!(
            h.ping(PingKind::Exit(0), None, at(3)).effect,
            Effect::Resolve
        );
    }

    #[test]
    fn a_paused_heartbeat_never_alerts_until_pinged_again() {
        let mut h = hb();
        h.ping(PingKind::Success, None, at(0));
        h.pause();
        assert_eq!(h.check(at(10_000)), Effect::None);
        h.ping(PingKind::Success, None, at(10_001));
        assert_eq!(h.status, HeartbeatStatus::Up);
        assert_eq!(h.deadline(), Some(at(10_091)));
    }

    #[test]
    fn checks_open_after_n_failures_and_resolve_after_m_successes() {
        let th = Thresholds::default();
        let mut v = Verdict::default();
        assert_eq!(v.record(true, "ok", &th, at(0)), Effect::None);
        assert_eq!(v.record(false, "HTTP 500", &th, at(30)), Effect::None);
        assert!(v.retrying());
        assert_eq!(v.record(false, "HTTP 500", &th, at(40)), Effect::None);
        assert_eq!(
            v.record(false, "HTTP 500", &th, at(50)),
            Effect::Open("HTTP 500 (3 checks in a row)".into())
        );
        assert_eq!(v.record(false, "HTTP 500", &th, at(60)), Effect::None);
        assert_eq!(v.record(true, "ok", &th, at(70)), Effect::None);
        assert_eq!(v.record(true, "ok", &th, at(80)), Effect::Resolve);
        // A single failure between successes is not an incident.
        assert_eq!(v.record(false, "timeout", &th, at(90)), Effect::None);
        assert_eq!(v.record(true, "ok", &th, at(100)), Effect::None);
    }

    #[test]
    fn a_flapping_check_holds_one_incident() {
        let th = Thresholds {
            failures_before_alert: 1,
            successes_before_resolve: 1,
            flap_changes: 3,
            flap_window: SignedDuration::from_mins(10),
        };
        let mut v = Verdict::default();
        v.record(true, "ok", &th, at(0));
        let mut opened = 0;
        let mut resolved = 0;
        // Down, up, down, up… every 30 s for 5 minutes.
        for i in 1..=10 {
            match v.record(i % 2 == 0, "down", &th, at(i * 30)) {
                Effect::Open(_) => opened += 1,
                Effect::Resolve => resolved += 1,
                Effect::None => {}
            }
        }
        // Without flap control: 5 incidents. With it: the flapping is known by the third
        // change, and from then on the incident is held open.
        assert_eq!((opened, resolved), (2, 1), "{v:?}");
        assert!(v.alerting, "held open while flapping");
        // Steady for the window: the next success resolves.
        assert_eq!(v.record(true, "ok", &th, at(1000)), Effect::Resolve);
    }
}
