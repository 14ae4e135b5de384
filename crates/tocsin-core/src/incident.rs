//! The incident lifecycle as a state machine: which human actions are allowed from which status.

use crate::IncidentStatus;
use thiserror::Error;

/// Why a lifecycle change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum Rejection {
    #[error("the incident is already resolved")]
    AlreadyResolved,
}

/// What an allowed change does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// The status changes to the given one; record it on the timeline.
    To(IncidentStatus),
    /// Already there: nothing to write (acknowledging twice is harmless).
    Unchanged,
}

/// A human acknowledges: "I'm on it". Stops escalation.
pub fn acknowledge(from: IncidentStatus) -> Result<Transition, Rejection> {
    match from {
        IncidentStatus::Triggered => Ok(Transition::To(IncidentStatus::Acknowledged)),
        IncidentStatus::Acknowledged => Ok(Transition::Unchanged),
        IncidentStatus::Resolved => Err(Rejection::AlreadyResolved),
    }
}

/// A human (or the last of its alerts) resolves the incident. Resolved is final.
pub fn resolve(from: IncidentStatus) -> Result<Transition, Rejection> {
    match from {
        IncidentStatus::Triggered | IncidentStatus::Acknowledged => {
            Ok(Transition::To(IncidentStatus::Resolved))
        }
        IncidentStatus::Resolved => Err(Rejection::AlreadyResolved),
    }
}

/// A human escalates by hand: an acknowledged incident is triggered again (someone else must
/// take it); a triggered one stays triggered.
pub fn escalate(from: IncidentStatus) -> Result<Transition, Rejection> {
    match from {
        IncidentStatus::Triggered => Ok(Transition::Unchanged),
        IncidentStatus::Acknowledged => Ok(Transition::To(IncidentStatus::Triggered)),
        IncidentStatus::Resolved => Err(Rejection::AlreadyResolved),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IncidentStatus::*;

    #[test]
    fn lifecycle() {
        assert_eq!(acknowledge(Triggered), Ok(Transition::To(Acknowledged)));
        assert_eq!(acknowledge(Acknowledged), Ok(Transition::Unchanged));
        assert_eq!(acknowledge(Resolved), Err(Rejection::AlreadyResolved));
        assert_eq!(resolve(Triggered), Ok(Transition::To(Resolved)));
        assert_eq!(resolve(Acknowledged), Ok(Transition::To(Resolved)));
        assert_eq!(resolve(Resolved), Err(Rejection::AlreadyResolved));
        assert_eq!(escalate(Triggered), Ok(Transition::Unchanged));
        assert_eq!(escalate(Acknowledged), Ok(Transition::To(Triggered)));
        assert_eq!(escalate(Resolved), Err(Rejection::AlreadyResolved));
    }
}
