//! What both backends share when a policy or schedule is edited: the users and schedules a
//! policy's levels name, and a schedule's new document built around the overrides it keeps.
//! No SQL here; each backend reads and writes inside its own transaction.

use crate::{LevelRecord, ScheduleRecord, StoreError, TargetRecord, override_id};
use tocsin_core::schedule::{Schedule, ScheduleSpec, SpecError};

/// One user or schedule a policy names: ("user" | "schedule", id, the field that names it).
pub(crate) type PolicyRef = (&'static str, String, String);

/// Every user and schedule the levels name, with the field to blame when one does not exist.
pub(crate) fn policy_refs(levels: &[LevelRecord]) -> Vec<PolicyRef> {
    let mut refs = Vec::new();
    for (l, level) in levels.iter().enumerate() {
        for (t, target) in level.targets.iter().enumerate() {
            match target {
                TargetRecord::User { id } => {
                    refs.push(("user", id.0.clone(), format!("levels[{l}].targets[{t}].id")));
                }
                TargetRecord::Schedule { id } => refs.push((
                    "schedule",
                    id.clone(),
                    format!("levels[{l}].targets[{t}].id"),
                )),
                TargetRecord::RoundRobin { ids } => {
                    for (u, id) in ids.iter().enumerate() {
                        refs.push((
                            "user",
                            id.0.clone(),
                            format!("levels[{l}].targets[{t}].ids[{u}]"),
                        ));
                    }
                }
            }
        }
    }
    refs
}

/// The first problem of a schedule document, as the field it names.
pub(crate) fn spec_invalid(e: SpecError) -> StoreError {
    let p = e.problems.into_iter().next();
    StoreError::Invalid {
        field: p
            .as_ref()
            .map_or_else(|| "schedule".into(), |p| p.field.clone()),
        message: p.map_or_else(|| "is invalid".into(), |p| p.problem.to_string()),
    }
}

/// `stored` with the name, time zone and layers of `edit` and its own overrides (those in
/// `edit` are ignored: overrides are added and removed one by one), checked and canonical.
pub(crate) fn edited_schedule(
    stored: &ScheduleRecord,
    edit: ScheduleSpec,
) -> Result<ScheduleSpec, StoreError> {
    let spec = ScheduleSpec {
        overrides: stored.spec.overrides.clone(),
        ..edit
    };
    Ok(Schedule::parse(&spec).map_err(spec_invalid)?.to_spec())
}

/// `stored`'s document without the override `id` (and any identical copy of it).
pub(crate) fn without_override(
    stored: &ScheduleRecord,
    id: &str,
) -> Result<ScheduleSpec, StoreError> {
    let mut spec = stored.spec.clone();
    let before = spec.overrides.len();
    spec.overrides.retain(|o| override_id(o) != id);
    if spec.overrides.len() == before {
        return Err(StoreError::NotFound("override"));
    }
    Ok(spec)
}
