//! Deduplication: what one alert event does, given what is open for its dedup key.
//! This is PagerDuty's Events v2 semantics, stated once: a trigger for an open key appends to
//! that alert; a resolved alert is never reopened; acknowledge/resolve with nothing open changes
//! nothing; an acknowledged incident pages nobody on new triggers.

use crate::{EventAction, IncidentStatus};

/// What is open for the event's (integration, dedup key), as the store sees it in the
/// transaction that applies the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenAlert {
    /// Status of the incident the open alert belongs to (never `Resolved`: resolving an
    /// incident resolves its alerts in the same transaction).
    pub incident_status: IncidentStatus,
    /// How many of that incident's alerts are still open, this one included.
    pub incident_open_alerts: u32,
}

/// The effect of one event. Plain data: the store applies it, tests assert on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No open alert: open one, with a new incident that must page.
    OpenIncident,
    /// No open alert, but its group has an open incident: open the alert inside it.
    /// Never pages: the incident is already paging, or someone has acknowledged it.
    JoinIncident,
    /// The alert is open: count the repeat and refresh its details. Never pages.
    Repeat,
    /// Acknowledge the alert's incident (it was triggered).
    Acknowledge,
    /// The incident is already acknowledged: log the event, change nothing.
    AlreadyAcknowledged,
    /// Resolve the alert; when it was the incident's last open alert, resolve the incident too.
    Resolve { incident_too: bool },
    /// Acknowledge or resolve with nothing open: accepted (202), changes nothing.
    Drop,
}

impl Decision {
    /// Whether applying this decision starts paging (escalation from the first level).
    pub fn pages(self) -> bool {
        matches!(self, Decision::OpenIncident)
    }
}

/// Decide what an event does. `group_incident_open` tells whether the event's group key (if
/// any) has an open incident on the same integration.
pub fn decide(action: EventAction, open: Option<OpenAlert>, group_incident_open: bool) -> Decision {
    match (action, open) {
        (EventAction::Trigger, Some(_)) => Decision::Repeat,
        (EventAction::Trigger, None) if group_incident_open => Decision::JoinIncident,
        (EventAction::Trigger, None) => Decision::OpenIncident,
        (EventAction::Acknowledge, Some(a)) => match a.incident_status {
            IncidentStatus::Triggered => Decision::Acknowledge,
            IncidentStatus::Acknowledged | IncidentStatus::Resolved => {
                Decision::AlreadyAcknowledged
            }
        },
        (EventAction::Resolve, Some(a)) => Decision::Resolve {
            incident_too: a.incident_open_alerts <= 1,
        },
        (EventAction::Acknowledge | EventAction::Resolve, None) => Decision::Drop,
    }
}

#[cfg(test)]
mod tests {
    //! A model of one integration: a sequence of events over a few keys and groups, applied
    //! through `decide`, must keep PagerDuty's invariants.
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[derive(Clone, Debug)]
    struct Ev {
        action: EventAction,
        key: u8,
        group: Option<u8>,
    }

    fn ev() -> impl Strategy<Value = Ev> {
        (
            prop_oneof![
                3 => Just(EventAction::Trigger),
                1 => Just(EventAction::Acknowledge),
                1 => Just(EventAction::Resolve),
            ],
            0u8..4,
            proptest::option::of(0u8..2),
        )
            .prop_map(|(action, key, group)| Ev { action, key, group })
    }

    #[derive(Default)]
    struct World {
        next_incident: u32,
        /// key → (incident number, group) of the open alert.
        open_alerts: HashMap<u8, (u32, Option<u8>)>,
        /// incident number → status, for open incidents.
        incidents: HashMap<u32, IncidentStatus>,
        /// group → open incident number.
        group_incidents: HashMap<u8, u32>,
        pages: Vec<u32>,
        incidents_opened: u32,
    }

    impl World {
        fn open_count(&self, incident: u32) -> u32 {
            self.open_alerts
                .values()
                .filter(|(i, _)| *i == incident)
                .count() as u32
        }

        fn apply(&mut self, e: &Ev) -> Decision {
            let open = self.open_alerts.get(&e.key).map(|(inc, _)| OpenAlert {
                incident_status: self.incidents[inc],
                incident_open_alerts: self.open_count(*inc),
            });
            let group_open = e
                .group
                .is_some_and(|g| self.group_incidents.contains_key(&g));
            let d = decide(e.action, open, group_open);
            match d {
                Decision::OpenIncident => {
                    self.next_incident += 1;
                    let n = self.next_incident;
                    self.incidents.insert(n, IncidentStatus::Triggered);
                    self.open_alerts.insert(e.key, (n, e.group));
                    if let Some(g) = e.group {
                        self.group_incidents.insert(g, n);
                    }
                    self.pages.push(n);
                    self.incidents_opened += 1;
                }
                Decision::JoinIncident => {
                    let n = self.group_incidents[&e.group.unwrap()];
                    self.open_alerts.insert(e.key, (n, e.group));
                }
                Decision::Repeat | Decision::AlreadyAcknowledged | Decision::Drop => {}
                Decision::Acknowledge => {
                    let n = self.open_alerts[&e.key].0;
                    self.incidents.insert(n, IncidentStatus::Acknowledged);
                }
                Decision::Resolve { incident_too } => {
                    let (n, _) = self.open_alerts.remove(&e.key).unwrap();
                    assert_eq!(incident_too, self.open_count(n) == 0);
                    if incident_too {
                        self.incidents.remove(&n);
                        self.group_incidents.retain(|_, i| *i != n);
                    }
                }
            }
            d
        }
    }

    proptest! {
        #[test]
        fn pagerduty_invariants_hold(events in proptest::collection::vec(ev(), 0..60)) {
            let mut w = World::default();
            for e in &events {
                let was_open = w.open_alerts.contains_key(&e.key);
                let status_before = w.open_alerts.get(&e.key).map(|(i, _)| w.incidents[i]);
                let pages_before = w.pages.len();
                let d = w.apply(e);
                // Acknowledge/resolve with nothing open change nothing.
                if !was_open && e.action != EventAction::Trigger {
                    prop_assert_eq!(d, Decision::Drop);
                }
                // A trigger for an open key never opens a new alert nor pages.
                if was_open && e.action == EventAction::Trigger {
                    prop_assert_eq!(d, Decision::Repeat);
                    prop_assert_eq!(w.pages.len(), pages_before);
                }
                // Nothing pages while the key's incident is acknowledged.
                if status_before == Some(IncidentStatus::Acknowledged) {
                    prop_assert_eq!(w.pages.len(), pages_before);
                }
                // A resolved alert is never reopened: the key is free again.
                if e.action == EventAction::Resolve {
                    prop_assert!(!w.open_alerts.contains_key(&e.key));
                }
                // Every open incident has at least one open alert.
                for n in w.incidents.keys() {
                    prop_assert!(w.open_count(*n) >= 1);
                }
            }
            // Each opened incident paged exactly once.
            prop_assert_eq!(w.pages.len() as u32, w.incidents_opened);
        }
    }

    #[test]
    fn trigger_after_resolve_opens_a_new_incident() {
        let mut w = World::default();
        let t = |key| Ev {
            action: EventAction::Trigger,
            key,
            group: None,
        };
        let r = |key| Ev {
            action: EventAction::Resolve,
            key,
            group: None,
        };
        assert_eq!(w.apply(&t(1)), Decision::OpenIncident);
        assert_eq!(w.apply(&t(1)), Decision::Repeat);
        assert_eq!(w.apply(&r(1)), Decision::Resolve { incident_too: true });
        assert_eq!(w.apply(&r(1)), Decision::Drop);
        assert_eq!(w.apply(&t(1)), Decision::OpenIncident);
        assert_eq!(w.next_incident, 2);
    }

    #[test]
    fn grouped_alerts_share_an_incident_until_the_last_resolves() {
        let mut w = World::default();
        let t = |key| Ev {
            action: EventAction::Trigger,
            key,
            group: Some(0),
        };
        let r = |key| Ev {
            action: EventAction::Resolve,
            key,
            group: Some(0),
        };
        assert_eq!(w.apply(&t(1)), Decision::OpenIncident);
        assert_eq!(w.apply(&t(2)), Decision::JoinIncident);
        assert_eq!(
            w.apply(&r(1)),
            Decision::Resolve {
                incident_too: false
            }
        );
        assert_eq!(w.apply(&r(2)), Decision::Resolve { incident_too: true });
        assert_eq!(w.apply(&t(2)), Decision::OpenIncident);
    }
}
