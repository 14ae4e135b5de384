//! How people are reached, shared by the escalator (which pages) and the page-path preview
//! (which shows who would be paged): whoever is on call in a schedule at a moment, and the
//! contact methods with delays a person's notification rules give for an urgency.

use jiff::Timestamp;
use tocsin_core::{Urgency, UserId};
use tocsin_store::{ContactMethod, Result, Store, StoreError};

/// Who is on call in a schedule at `at` (nobody when the schedule is gone or empty then).
pub async fn on_call(store: &dyn Store, schedule: &str, at: Timestamp) -> Result<Option<UserId>> {
    let record = match store.get_schedule(schedule).await {
        Ok(r) => r,
        Err(StoreError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    match record.parse() {
        Ok(s) => Ok(tocsin_core::schedule::oncall_at(&s, at).map(|shift| shift.user)),
        Err(e) => {
            tracing::error!(schedule, error = %e, "stored schedule no longer parses");
            Ok(None)
        }
    }
}

/// Why a person's plan reaches nobody.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unreachable {
    Deactivated,
    Deleted,
    /// No verified contact method (for the urgency's rules, or at all).
    NoContactMethod,
}

impl Unreachable {
    pub fn as_str(self) -> &'static str {
        match self {
            Unreachable::Deactivated => "deactivated",
            Unreachable::Deleted => "deleted",
            Unreachable::NoContactMethod => "no usable contact method",
        }
    }
}

/// How a person is reached for one urgency.
#[derive(Clone, Debug)]
pub struct ContactPlan {
    pub name: String,
    /// Contact methods, each with the minutes after the step that it is used.
    pub methods: Vec<(ContactMethod, u32)>,
    /// Why `methods` is empty, when it is.
    pub unreachable: Option<Unreachable>,
}

impl ContactPlan {
    fn nobody(name: String, why: Unreachable) -> Self {
        Self {
            name,
            methods: Vec::new(),
            unreachable: Some(why),
        }
    }
}

/// A person's name and how they are reached for `urgency`: their rules for that urgency over
/// their verified contact methods (method, minutes after the step), or every verified method at
/// once when no rule covers it, so that nobody is skipped silently. Empty, saying why, when
/// nothing can reach them (or they were deleted, or deactivated: an escalation skips them, as
/// PagerDuty skips a removed user, and a level with nobody else goes on to the next at once).
pub async fn contact_plan(
    store: &dyn Store,
    user: &UserId,
    urgency: Urgency,
) -> Result<ContactPlan> {
    let name = match store.get_user(user).await {
        Ok(u) if !u.active => return Ok(ContactPlan::nobody(u.name, Unreachable::Deactivated)),
        Ok(u) => u.name,
        Err(StoreError::NotFound(_)) => {
            return Ok(ContactPlan::nobody(
                format!("user {user}"),
                Unreachable::Deleted,
            ));
        }
        Err(e) => return Err(e),
    };
    let methods: Vec<ContactMethod> = store
        .list_contact_methods(user)
        .await?
        .into_iter()
        .filter(|m| m.verified)
        .collect();
    let rules: Vec<_> = store
        .list_notification_rules(user)
        .await?
        .into_iter()
        .filter(|r| r.urgency.is_none_or(|u| u == urgency))
        .collect();
    let plan: Vec<(ContactMethod, u32)> = if rules.is_empty() {
        methods.into_iter().map(|m| (m, 0)).collect()
    } else {
        rules
            .iter()
            .filter_map(|r| {
                methods
                    .iter()
                    .find(|m| m.id == r.contact_method_id)
                    .map(|m| (m, r))
            })
            // "Keep calling every N minutes": the repeats are notifications of their own, due
            // later; an acknowledgement cancels those not yet sent.
            .flat_map(|(m, r)| {
                let repeats = r
                    .repeat_every_minutes
                    .map_or(0, |_| tocsin_store::CALL_REPEATS_MAX);
                let every = r.repeat_every_minutes.unwrap_or(0);
                (0..=repeats).map(move |k| (m.clone(), r.delay_minutes + k * every))
            })
            .collect()
    };
    Ok(ContactPlan {
        name,
        unreachable: plan.is_empty().then_some(Unreachable::NoContactMethod),
        methods: plan,
    })
}

/// "slack now", "sms in 2 min".
pub fn label(m: &ContactMethod, delay_minutes: u32) -> String {
    if delay_minutes == 0 {
        format!("{} now", m.kind)
    } else {
        format!("{} in {delay_minutes} min", m.kind)
    }
}
