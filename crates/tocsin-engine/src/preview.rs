//! The page path preview: for a service and a moment, who would be paged, in what order, when,
//! and on which channels, if an incident opened then and nobody acknowledged; with warnings for
//! the gaps (no policy, nobody on call, people nobody can reach) before they bite.
//! It walks the same core planning and the same reach rules as the escalator.

use crate::reach;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use tocsin_core::escalation::{self, Notify};
use tocsin_core::{ServiceId, Urgency};
use tocsin_store::{Result, Store};
use utoipa::ToSchema;

/// Steps shown at most (levels × rounds is bounded, but the preview stays readable).
const PREVIEW_STEPS_MAX: usize = 60;

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct PagePath {
    pub service_id: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub urgency: Urgency,
    pub escalation_policy_id: Option<String>,
    pub steps: Vec<PreviewStep>,
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct PreviewStep {
    /// 1-based.
    pub level: usize,
    /// 0 the first time through the policy, then 1, 2, … for repeats.
    pub round: u32,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub people: Vec<PreviewPerson>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct PreviewPerson {
    pub user_id: String,
    pub name: String,
    /// `user`, or `schedule:<id>` when the person is the one on call there.
    pub via: String,
    pub notifications: Vec<PreviewNotification>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct PreviewNotification {
    #[serde(rename = "type")]
    pub kind: String,
    pub contact_method_id: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

/// Computes the preview. Fails only when the store does (or the service does not exist).
pub async fn page_path(
    store: &dyn Store,
    service: &ServiceId,
    at: Timestamp,
    urgency: Urgency,
) -> Result<PagePath> {
    let svc = store.get_service(service).await?;
    let mut out = PagePath {
        service_id: svc.id.0.clone(),
        at,
        urgency,
        escalation_policy_id: svc.escalation_policy_id.clone(),
        steps: Vec::new(),
        warnings: Vec::new(),
    };
    let Some(policy_id) = svc.escalation_policy_id else {
        out.warnings
            .push("the service has no escalation policy: its incidents page nobody".into());
        return Ok(out);
    };
    let record = store.get_escalation_policy(&policy_id).await?;
    let policy = match record.to_core() {
        Ok(p) => p,
        Err(e) => {
            out.warnings
                .push(format!("the escalation policy is invalid: {e}"));
            return Ok(out);
        }
    };
    let mut step_at = at;
    // The escalator starts each incident's steps at its number (round-robins take turns): preview
    // the next incident's.
    let next_number = store
        .list_incidents(tocsin_store::IncidentFilter {
            limit: 1,
            ..Default::default()
        })
        .await?
        .first()
        .map_or(1, |i| i.number + 1);
    let mut plan = Some(escalation::begin_from(
        &policy,
        at,
        u32::try_from(next_number).unwrap_or(0),
    ));
    while let Some(p) = plan {
        if out.steps.len() >= PREVIEW_STEPS_MAX {
            break;
        }
        let level = p.cursor.level + 1;
        let mut people = Vec::new();
        for target in &p.notify {
            let (user, via) = match target {
                Notify::User(u) => (Some(u.clone()), "user".to_owned()),
                Notify::Schedule(s) => {
                    let u = reach::on_call(store, s, step_at).await?;
                    if u.is_none() {
                        out.warnings.push(format!(
                            "level {level}: nobody is on call in schedule {s} at {step_at}"
                        ));
                    }
                    (u, format!("schedule:{s}"))
                }
            };
            let Some(user) = user else { continue };
            let reach::ContactPlan {
                name,
                methods,
                unreachable,
            } = reach::contact_plan(store, &user, urgency).await?;
            match unreachable {
                None => {}
                Some(reach::Unreachable::NoContactMethod) => out.warnings.push(format!(
                    "level {level}: {name} has no verified contact method for {urgency} urgency"
                )),
                Some(why) => out.warnings.push(format!(
                    "level {level}: {name} is {} and is skipped",
                    why.as_str()
                )),
            }
            people.push(PreviewPerson {
                user_id: user.0.clone(),
                name,
                via,
                notifications: methods
                    .into_iter()
                    .map(|(m, delay)| PreviewNotification {
                        kind: m.kind.as_str().to_owned(),
                        contact_method_id: m.id,
                        at: step_at + SignedDuration::from_mins(i64::from(delay)),
                    })
                    .collect(),
            });
        }
        let nobody = people.iter().all(|p| p.notifications.is_empty());
        if nobody {
            out.warnings.push(format!(
                "level {level}: nobody can be reached; Tocsin goes on to the next level at once"
            ));
        }
        out.steps.push(PreviewStep {
            level,
            round: p.cursor.round,
            at: step_at,
            people,
        });
        // As the escalator does: a level nobody can answer hands over at once.
        let next = p.next_at.map(|n| if nobody { step_at } else { n });
        plan = next.and_then(|n| {
            step_at = n;
            escalation::advance(&policy, p.cursor, n)
        });
    }
    // The same gap repeats on every round: say it once.
    let mut seen = std::collections::HashSet::new();
    out.warnings.retain(|w| seen.insert(w.clone()));
    Ok(out)
}
