//! Escalation policies: the list, one policy with its levels in people's and schedules' names
//! and the services that use it, and the editor (admins) for levels, their targets (people,
//! schedules, a round robin among people), delays and repeats. The editor is a plain form: "Add
//! a level" posts it back with one more empty level and writes nothing; the same editor,
//! prefilled, edits a policy (a level is removed by its checkbox or by choosing nobody in it).
//! Creating and editing go through the REST API's `paging::add_policy` and
//! `paging::edit_policy`, so the core's rules and messages apply unchanged.

use super::forms::{Errors, Posted};
use super::{Chrome, Signed, UiError, html};
use crate::AppState;
use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use tocsin_core::Role;
use tocsin_core::escalation::LEVELS_MAX;
use tocsin_store::{EscalationPolicy, TargetRecord};

/// Empty levels a new policy's editor starts with.
const START_LEVELS: usize = 2;
/// The delay a new level suggests.
const DEFAULT_DELAY: &str = "30";

/// Names of people and schedules, to show instead of ids.
struct Names {
    users: Vec<(String, String)>,
    schedules: Vec<(String, String)>,
}

impl Names {
    async fn load(s: &AppState) -> Result<Self, UiError> {
        let mut users: Vec<(String, String)> = s
            .store
            .list_users()
            .await?
            .into_iter()
            .map(|u| (u.id.0, u.name))
            .collect();
        users.sort_by(|a, b| a.1.cmp(&b.1));
        let mut schedules: Vec<(String, String)> = s
            .store
            .list_schedules()
            .await?
            .into_iter()
            .map(|r| (r.id, r.spec.name))
            .collect();
        schedules.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(Self { users, schedules })
    }

    fn user(&self, id: &str) -> String {
        self.users
            .iter()
            .find(|(i, _)| i == id)
            .map_or_else(|| format!("user {id}"), |(_, n)| n.clone())
    }

    fn schedule(&self, id: &str) -> String {
        self.schedules
            .iter()
            .find(|(i, _)| i == id)
            .map_or_else(|| format!("schedule {id}"), |(_, n)| n.clone())
    }

    fn target(&self, t: &TargetRecord) -> String {
        match t {
            TargetRecord::User { id } => self.user(&id.0),
            TargetRecord::Schedule { id } => {
                format!("whoever is on call for {}", self.schedule(id))
            }
            TargetRecord::RoundRobin { ids } => format!(
                "one of {} in turn",
                ids.iter()
                    .map(|u| self.user(&u.0))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

// ---- list ----

struct PolicyRow {
    id: String,
    name: String,
    levels: usize,
    repeat: u32,
    services: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "policies.html")]
struct PoliciesPage {
    chrome: Chrome,
    policies: Vec<PolicyRow>,
    can_admin: bool,
}

/// Services by the policy they use.
async fn services_by_policy(
    s: &AppState,
) -> Result<HashMap<String, Vec<(String, String)>>, UiError> {
    let mut by: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for svc in s.store.list_services().await? {
        if let Some(p) = svc.escalation_policy_id {
            by.entry(p).or_default().push((svc.id.0, svc.name));
        }
    }
    Ok(by)
}

pub async fn list(State(s): State<Arc<AppState>>, me: Signed) -> Result<Response, UiError> {
    let mut by = services_by_policy(&s).await?;
    let policies = s
        .store
        .list_escalation_policies()
        .await?
        .into_iter()
        .map(|p| PolicyRow {
            services: by.remove(&p.id).unwrap_or_default(),
            levels: p.levels.len(),
            repeat: p.repeat,
            id: p.id,
            name: p.name,
        })
        .collect();
    html(&PoliciesPage {
        chrome: Chrome::new("Escalation policies", "policies", Some(&me)),
        policies,
        can_admin: me.can(Role::Admin),
    })
}

// ---- one policy ----

struct LevelView {
    number: usize,
    delay: u32,
    targets: Vec<String>,
}

#[derive(Template)]
#[template(path = "policy.html")]
struct PolicyPage {
    chrome: Chrome,
    notice: Option<&'static str>,
    policy: EscalationPolicy,
    levels: Vec<LevelView>,
    services: Vec<(String, String)>,
    can_admin: bool,
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

pub async fn page(
    State(s): State<Arc<AppState>>,
    me: Signed,
    Path(id): Path<String>,
    q: Result<Query<DoneQuery>, QueryRejection>,
) -> Result<Response, UiError> {
    let policy = s.store.get_escalation_policy(&id).await?;
    let names = Names::load(&s).await?;
    let levels = policy
        .levels
        .iter()
        .enumerate()
        .map(|(i, l)| LevelView {
            number: i + 1,
            delay: l.delay_minutes,
            targets: l.targets.iter().map(|t| names.target(t)).collect(),
        })
        .collect();
    let services = services_by_policy(&s)
        .await?
        .remove(&policy.id)
        .unwrap_or_default();
    html(&PolicyPage {
        chrome: Chrome::new(policy.name.clone(), "policies", Some(&me)),
        notice: match q.ok().and_then(|Query(q)| q.done).as_deref() {
            Some("updated") => Some(
                "Escalation policy saved. Incidents being paged take their next step with these levels.",
            ),
            Some(_) => {
                Some("Escalation policy created. Choose it on a service to page through it.")
            }
            None => None,
        },
        policy,
        levels,
        services,
        can_admin: me.can(Role::Admin),
    })
}

// ---- the editor ----

/// One level of the editor, as typed.
struct LevelForm {
    index: usize,
    number: usize,
    delay: String,
    users: Vec<String>,
    schedules: Vec<String>,
    round_robin: bool,
    /// Ticked "remove this level" (offered when editing).
    remove: bool,
    /// What the editor cannot show exactly about the stored level.
    note: Option<&'static str>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "policy_new.html")]
struct PolicyForm {
    chrome: Chrome,
    csrf: String,
    /// The policy being edited, or `None` for a new one.
    editing: Option<String>,
    action: String,
    services: Vec<(String, String)>,
    name: String,
    description: String,
    repeat: String,
    levels: Vec<LevelForm>,
    can_add: bool,
    users: Vec<(String, String)>,
    schedules: Vec<(String, String)>,
    errors: Errors,
}

fn blank_level(index: usize) -> LevelForm {
    LevelForm {
        index,
        number: index + 1,
        delay: DEFAULT_DELAY.into(),
        users: Vec::new(),
        schedules: Vec::new(),
        round_robin: false,
        remove: false,
        note: None,
        error: None,
    }
}

/// A stored level as the editor shows it. A round robin's people fill the people list with
/// "take turns" ticked (the editor has one list of people per level), so a level that has a
/// round robin beside other people (made through the API) is shown with a note saying that
/// saving makes them one round robin.
fn level_form(index: usize, l: &tocsin_store::LevelRecord) -> LevelForm {
    let mut f = blank_level(index);
    f.delay = l.delay_minutes.to_string();
    let (mut people, mut turns) = (0, 0);
    for t in &l.targets {
        match t {
            TargetRecord::User { id } => {
                people += 1;
                f.users.push(id.0.clone());
            }
            TargetRecord::Schedule { id } => f.schedules.push(id.clone()),
            TargetRecord::RoundRobin { ids } => {
                turns += 1;
                f.round_robin = true;
                f.users.extend(ids.iter().map(|u| u.0.clone()));
            }
        }
    }
    if turns > 0 && people + turns > 1 {
        f.note = Some(
            "This level pages a round robin beside other people; saved here, they all take turns in one round robin.",
        );
    }
    f
}

#[allow(clippy::too_many_arguments)]
async fn editor(
    s: &AppState,
    me: &Signed,
    editing: Option<&str>,
    name: String,
    description: String,
    repeat: String,
    levels: Vec<LevelForm>,
    errors: Errors,
) -> Result<Response, UiError> {
    let names = Names::load(s).await?;
    let (title, action, services) = match editing {
        Some(id) => (
            format!("Edit {name}"),
            format!("/escalation-policies/{id}/edit"),
            services_by_policy(s).await?.remove(id).unwrap_or_default(),
        ),
        None => (
            "New escalation policy".to_owned(),
            "/escalation-policies".to_owned(),
            Vec::new(),
        ),
    };
    let page = PolicyForm {
        chrome: Chrome::new(title, "policies", Some(me)),
        csrf: me.csrf.clone(),
        editing: editing.map(str::to_owned),
        action,
        services,
        name,
        description,
        repeat,
        can_add: levels.len() < LEVELS_MAX,
        levels,
        users: names.users,
        schedules: names.schedules,
        errors,
    };
    page.errors.page(&page)
}

pub async fn new_form(State(s): State<Arc<AppState>>, me: Signed) -> Result<Response, UiError> {
    me.require(Role::Admin)?;
    let levels = (0..START_LEVELS).map(blank_level).collect();
    editor(
        &s,
        &me,
        None,
        String::new(),
        String::new(),
        "0".into(),
        levels,
        Errors::none(),
    )
    .await
}

/// The editor prefilled with a policy, plus one blank level to add.
pub async fn edit_form(
    State(s): State<Arc<AppState>>,
    me: Signed,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    me.require(Role::Admin)?;
    let p = s.store.get_escalation_policy(&id).await?;
    let mut levels: Vec<LevelForm> = p
        .levels
        .iter()
        .enumerate()
        .map(|(i, l)| level_form(i, l))
        .collect();
    if levels.len() < LEVELS_MAX {
        levels.push(blank_level(levels.len()));
    }
    editor(
        &s,
        &me,
        Some(&p.id),
        p.name,
        p.description,
        p.repeat.to_string(),
        levels,
        Errors::none(),
    )
    .await
}

pub async fn create(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let f = Posted::checked(&me, &headers, form)?;
    me.require(Role::Admin)?;
    save(&s, &me, &f, None).await
}

pub async fn update(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let f = Posted::checked(&me, &headers, form)?;
    me.require(Role::Admin)?;
    // An unknown policy is a 404 page, not a form.
    s.store.get_escalation_policy(&id).await?;
    save(&s, &me, &f, Some(&id)).await
}

/// Reads the editor's fields and creates the policy, or edits `editing`.
#[allow(clippy::too_many_lines)]
async fn save(
    s: &AppState,
    me: &Signed,
    f: &Posted,
    editing: Option<&str>,
) -> Result<Response, UiError> {
    let count = f
        .get("levels")
        .parse::<usize>()
        .unwrap_or(START_LEVELS)
        .clamp(1, LEVELS_MAX);
    let mut levels: Vec<LevelForm> = (0..count)
        .map(|i| LevelForm {
            index: i,
            number: i + 1,
            delay: f.get(&format!("delay_{i}")).to_owned(),
            users: f.all(&format!("users_{i}")),
            schedules: f.all(&format!("schedules_{i}")),
            round_robin: f.has(&format!("rr_{i}")),
            remove: f.has(&format!("remove_{i}")),
            note: None,
            error: None,
        })
        .collect();
    let (name, description, repeat) = (
        f.get("name").to_owned(),
        f.get("description").to_owned(),
        f.get("repeat").to_owned(),
    );
    if f.has("add_level") {
        if levels.len() < LEVELS_MAX {
            levels.push(blank_level(levels.len()));
        }
        return editor(
            s,
            me,
            editing,
            name,
            description,
            repeat,
            levels,
            Errors::none(),
        )
        .await;
    }

    // Rows with no target, or ticked for removal, are left out (an editor always offers a
    // spare one); the others become the policy's levels, in order.
    let kept: Vec<usize> = levels
        .iter()
        .filter(|l| !l.remove && (!l.users.is_empty() || !l.schedules.is_empty() || l.round_robin))
        .map(|l| l.index)
        .collect();
    let mut errors = Errors::none();
    let repeat_n = if repeat.is_empty() {
        Some(0)
    } else {
        repeat.parse::<u32>().ok()
    };
    if repeat_n.is_none() {
        errors = Errors::field("repeat", "must be a whole number");
    }
    let mut records = Vec::new();
    for &i in &kept {
        let l = &levels[i];
        let Ok(delay) = l.delay.parse::<u32>() else {
            levels[i].error = Some("The delay must be a whole number of minutes.".into());
            continue;
        };
        let mut targets = Vec::new();
        if l.round_robin {
            targets.push(serde_json::json!({"type": "round_robin", "ids": l.users}));
        } else {
            targets.extend(
                l.users
                    .iter()
                    .map(|u| serde_json::json!({"type": "user", "id": u})),
            );
        }
        targets.extend(
            l.schedules
                .iter()
                .map(|id| serde_json::json!({"type": "schedule", "id": id})),
        );
        records.push(serde_json::json!({"delay_minutes": delay, "targets": targets}));
    }
    if levels.iter().any(|l| l.error.is_some()) && errors.is_empty() {
        errors.general = Some("Check the levels marked below.".into());
    }
    if !errors.is_empty() {
        return editor(s, me, editing, name, description, repeat, levels, errors).await;
    }
    let body = serde_json::json!({
        "name": name,
        "description": description,
        "repeat": repeat_n,
        "levels": records,
    });
    let b = serde_json::from_value(body).map_err(|e| {
        tracing::error!(error = %e, "the policy form no longer fits the API's body");
        UiError::Internal
    })?;
    let saved = match editing {
        Some(id) => crate::paging::edit_policy(s, id, b).await,
        None => crate::paging::add_policy(s, b).await,
    };
    match saved {
        Ok(p) => {
            let done = if editing.is_some() {
                "updated"
            } else {
                "created"
            };
            tracing::info!(policy = %p.id, user = %me.user.id, "escalation policy {done} in the web UI");
            Ok(Redirect::to(&format!("/escalation-policies/{}?done={done}", p.id)).into_response())
        }
        Err(e) => {
            let errors = Errors::from_api(e)?;
            for (k, &i) in kept.iter().enumerate() {
                levels[i].error = errors.under(&format!("levels[{k}]"));
            }
            let mut errors = errors.keep_only(&["name", "description", "repeat", "levels"]);
            if errors.general.is_none() && errors.get("levels").is_none() {
                errors.general = Some("Check the levels marked below.".into());
            }
            editor(s, me, editing, name, description, repeat, levels, errors).await
        }
    }
}
