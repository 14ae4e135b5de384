//! The public status page's words and decisions: a component's state in Statuspage's vocabulary,
//! derived from the incidents of the service it reflects, its monitor, and maintenance; the
//! stages of a public incident; and the 90-day uptime bar. Pure: the facts come in, with `now`.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// A component's state, in Statuspage's vocabulary (and its JSON words).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentStatus {
    Operational,
    UnderMaintenance,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

impl ComponentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operational => "operational",
            Self::UnderMaintenance => "under_maintenance",
            Self::DegradedPerformance => "degraded_performance",
            Self::PartialOutage => "partial_outage",
            Self::MajorOutage => "major_outage",
        }
    }

    /// The words a reader sees.
    pub fn label(self) -> &'static str {
        match self {
            Self::Operational => "Operational",
            Self::UnderMaintenance => "Under maintenance",
            Self::DegradedPerformance => "Degraded performance",
            Self::PartialOutage => "Partial outage",
            Self::MajorOutage => "Major outage",
        }
    }
}

/// What is known about the thing a component reflects, at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ComponentFacts {
    /// An active maintenance window covers the service (of the monitor).
    pub in_maintenance: bool,
    /// Open incidents: high urgency not yet acknowledged, high urgency acknowledged, low urgency.
    pub high_triggered: u32,
    pub high_acknowledged: u32,
    pub low_open: u32,
    /// A monitor component: the monitor is down.
    pub monitor_down: bool,
}

/// A component's state. Maintenance wins (incidents during planned work are expected); then a
/// monitor down or an unacknowledged high-urgency incident is a major outage, an acknowledged
/// one (someone is on it) a partial outage, and low-urgency incidents degrade performance (two
/// or more: a partial outage).
pub fn component_status(f: ComponentFacts) -> ComponentStatus {
    if f.in_maintenance {
        ComponentStatus::UnderMaintenance
    } else if f.monitor_down || f.high_triggered > 0 {
        ComponentStatus::MajorOutage
    } else if f.high_acknowledged > 0 || f.low_open >= 2 {
        ComponentStatus::PartialOutage
    } else if f.low_open == 1 {
        ComponentStatus::DegradedPerformance
    } else {
        ComponentStatus::Operational
    }
}

/// The stage of a public incident, as its updates say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicStage {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
}

impl PublicStage {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "investigating" => Self::Investigating,
            "identified" => Self::Identified,
            "monitoring" => Self::Monitoring,
            "resolved" => Self::Resolved,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Investigating => "investigating",
            Self::Identified => "identified",
            Self::Monitoring => "monitoring",
            Self::Resolved => "resolved",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Investigating => "Investigating",
            Self::Identified => "Identified",
            Self::Monitoring => "Monitoring",
            Self::Resolved => "Resolved",
        }
    }

    pub const WORDS: &'static str = "investigating, identified, monitoring or resolved";
}

/// Days in the uptime bar.
pub const UPTIME_DAYS: usize = 90;
const DAY: SignedDuration = SignedDuration::from_hours(24);

/// The UTC midnight that starts the bar's first day, `UPTIME_DAYS` days ending with today's.
pub fn uptime_start(now: Timestamp) -> Timestamp {
    let today = now.as_second().div_euclid(86_400) * 86_400;
    Timestamp::from_second(today).unwrap_or(now) - DAY * (UPTIME_DAYS as i32 - 1)
}

/// One day of the bar: its UTC midnight and the share of it without an outage (percent), or
/// `None` when nothing was known yet (before `since`, or after `now`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct UptimeDay {
    pub day: Timestamp,
    pub uptime_percent: Option<f64>,
}

/// Uptime per UTC day from outage intervals (a service's open incidents): each day's share of
/// its known time (from `since`, up to `now`) not covered by any interval. Overlaps count once.
pub fn uptime_from_outages(
    since: Timestamp,
    now: Timestamp,
    outages: &[(Timestamp, Timestamp)],
) -> Vec<UptimeDay> {
    let mut spans: Vec<(Timestamp, Timestamp)> =
        outages.iter().copied().filter(|(a, b)| a < b).collect();
    spans.sort();
    let mut merged: Vec<(Timestamp, Timestamp)> = Vec::with_capacity(spans.len());
    for (a, b) in spans {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    let start = uptime_start(now);
    (0..UPTIME_DAYS)
        .map(|i| {
            let day = start + DAY * i as i32;
            let from = day.max(since);
            let to = (day + DAY).min(now);
            if from >= to {
                return UptimeDay {
                    day,
                    uptime_percent: None,
                };
            }
            let known = to.duration_since(from).as_secs_f64();
            let down: f64 = merged
                .iter()
                .map(|&(a, b)| {
                    let (a, b) = (a.max(from), b.min(to));
                    if a < b {
                        b.duration_since(a).as_secs_f64()
                    } else {
                        0.0
                    }
                })
                .sum();
            UptimeDay {
                day,
                uptime_percent: Some((100.0 * (1.0 - down / known)).clamp(0.0, 100.0)),
            }
        })
        .collect()
}

/// Uptime per UTC day from check results counted per day: `(day's midnight, ok, total)`.
pub fn uptime_from_checks(now: Timestamp, days: &[(Timestamp, u64, u64)]) -> Vec<UptimeDay> {
    let start = uptime_start(now);
    (0..UPTIME_DAYS)
        .map(|i| {
            let day = start + DAY * i as i32;
            let uptime_percent = days
                .iter()
                .find(|(d, _, total)| *d == day && *total > 0)
                .map(|&(_, ok, total)| 100.0 * ok as f64 / total as f64);
            UptimeDay {
                day,
                uptime_percent,
            }
        })
        .collect()
}

/// The uptime over the days that have data, or `None` when none has.
pub fn overall_uptime(days: &[UptimeDay]) -> Option<f64> {
    let known: Vec<f64> = days.iter().filter_map(|d| d.uptime_percent).collect();
    (!known.is_empty()).then(|| known.iter().sum::<f64>() / known.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn statuses_follow_urgency_monitors_and_maintenance() {
        let f = ComponentFacts::default();
        assert_eq!(component_status(f), ComponentStatus::Operational);
        let low = ComponentFacts { low_open: 1, ..f };
        assert_eq!(component_status(low), ComponentStatus::DegradedPerformance);
        let lows = ComponentFacts { low_open: 2, ..f };
        assert_eq!(component_status(lows), ComponentStatus::PartialOutage);
        let acked = ComponentFacts {
            high_acknowledged: 1,
            ..f
        };
        assert_eq!(component_status(acked), ComponentStatus::PartialOutage);
        let high = ComponentFacts {
            high_triggered: 1,
            low_open: 3,
            ..f
        };
        assert_eq!(component_status(high), ComponentStatus::MajorOutage);
        let down = ComponentFacts {
            monitor_down: true,
            ..f
        };
        assert_eq!(component_status(down), ComponentStatus::MajorOutage);
        let planned = ComponentFacts {
            in_maintenance: true,
            ..high
        };
        assert_eq!(component_status(planned), ComponentStatus::UnderMaintenance);
    }

    #[test]
    fn outages_count_once_per_day_and_unknown_days_are_empty() {
        let now = t("2026-11-25T12:00:00Z");
        let since = t("2026-11-24T00:00:00Z");
        let outages = [
            (t("2026-11-24T06:00:00Z"), t("2026-11-24T12:00:00Z")),
            // Overlaps the first: counted once.
            (t("2026-11-24T09:00:00Z"), t("2026-11-24T12:00:00Z")),
            // Still open: ends now.
            (t("2026-11-25T09:00:00Z"), now),
        ];
        let days = uptime_from_outages(since, now, &outages);
        assert_eq!(days.len(), UPTIME_DAYS);
        assert_eq!(days[UPTIME_DAYS - 3].uptime_percent, None);
        assert_eq!(days[UPTIME_DAYS - 2].day, since);
        assert_eq!(days[UPTIME_DAYS - 2].uptime_percent, Some(75.0));
        assert_eq!(days[UPTIME_DAYS - 1].uptime_percent, Some(75.0));
        assert_eq!(overall_uptime(&days), Some(75.0));
    }

    #[test]
    fn checks_give_the_share_of_good_results() {
        let now = t("2026-11-25T12:00:00Z");
        let days = uptime_from_checks(now, &[(t("2026-11-25T00:00:00Z"), 3, 4)]);
        assert_eq!(days[UPTIME_DAYS - 1].uptime_percent, Some(75.0));
        assert_eq!(days[0].uptime_percent, None);
    }
}
