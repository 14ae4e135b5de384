//! People: your own profile (name and time zone; contact methods with verification, a test
//! message, editing and deleting; notification rules, edited and deleted), everyone's list with
//! the admin's forms to add, edit, deactivate and reactivate a person, and teams with their
//! members (admins create teams, add and remove members). Each form hands its values to the
//! REST API's own functions (`api::add_user`, `api::add_team`, `paging::add_contact_method`,
//! `paging::add_rule`, `paging::send_code_to`, `paging::send_test_to`, `people_api::edit_*`),
//! so the rules and messages are the API's, and the same roles apply: you manage your own
//! profile, contact methods and rules, admins manage people and teams.

use super::forms::{Errors, Posted};
use super::{Chrome, Signed, UiError};
use crate::AppState;
use crate::error::ApiError;
use crate::people_api::{Caller, UpdateContactMethod, UpdateRule, UpdateUser};
use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::sync::Arc;
use tocsin_core::contact::ContactType;
use tocsin_core::{Role, TeamId, UserId};

fn body<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, UiError> {
    serde_json::from_value(v).map_err(|e| {
        tracing::error!(error = %e, "a form no longer fits the API's body");
        UiError::Internal
    })
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

fn done(q: Result<Query<DoneQuery>, QueryRejection>) -> Option<String> {
    q.ok().and_then(|Query(q)| q.done)
}

// ---- my profile ----

struct MethodView {
    id: String,
    kind: &'static str,
    address: String,
    label: String,
    verified: bool,
    /// How many notification rules use it (they go when it is deleted).
    rules: usize,
    /// The errors on the page belong to this method's edit form.
    open: bool,
}

struct RuleView {
    id: String,
    method: String,
    method_id: String,
    delay: u32,
    urgency: &'static str,
    repeat: Option<u32>,
    /// The errors on the page belong to this rule's edit form.
    open: bool,
    /// The urgency its edit form shows selected: what was typed, or the rule's.
    shown_urgency: String,
}

/// Which of the profile's forms the errors belong to, with what was typed.
#[derive(Default)]
struct ProfileForms {
    /// `profile`, `method`, `rule`, `verify-<method id>`, `method-<method id>` (its edit
    /// form) or `rule-<rule id>`.
    which: String,
    name: String,
    time_zone: String,
    kind: String,
    address: String,
    label: String,
    rule_method: String,
    delay: String,
    urgency: String,
    repeat: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    csrf: String,
    name: String,
    email: String,
    role: String,
    time_zone: String,
    notice: Option<String>,
    methods: Vec<MethodView>,
    rules: Vec<RuleView>,
    kinds: Vec<&'static str>,
    f: ProfileForms,
    errors: Errors,
    /// Your shifts as a calendar feed, when asked for.
    feed_url: Option<String>,
}

async fn account_page(
    s: &AppState,
    me: &Signed,
    notice: Option<String>,
    f: ProfileForms,
    errors: Errors,
) -> Result<Response, UiError> {
    account_page_with(s, me, notice, f, errors, None).await
}

async fn account_page_with(
    s: &AppState,
    me: &Signed,
    notice: Option<String>,
    f: ProfileForms,
    errors: Errors,
    feed_url: Option<String>,
) -> Result<Response, UiError> {
    let stored = s.store.list_contact_methods(&me.user.id).await?;
    let method_name = |id: &str| {
        stored.iter().find(|m| m.id == id).map_or_else(
            || "a removed method".to_owned(),
            |m| format!("{} {}", m.kind, m.address),
        )
    };
    let stored_rules = s.store.list_notification_rules(&me.user.id).await?;
    let rules = stored_rules
        .iter()
        .map(|r| RuleView {
            open: f.which == format!("rule-{}", r.id),
            shown_urgency: if f.which == format!("rule-{}", r.id) {
                f.urgency.clone()
            } else {
                r.urgency.map_or("", |u| u.as_str()).to_owned()
            },
            id: r.id.clone(),
            method: method_name(&r.contact_method_id),
            method_id: r.contact_method_id.clone(),
            delay: r.delay_minutes,
            urgency: r.urgency.map_or("any", |u| u.as_str()),
            repeat: r.repeat_every_minutes,
        })
        .collect();
    let methods = stored
        .iter()
        .map(|m| MethodView {
            open: f.which == format!("method-{}", m.id),
            id: m.id.clone(),
            kind: m.kind.as_str(),
            address: m.address.clone(),
            label: m.label.clone(),
            verified: m.verified,
            rules: stored_rules
                .iter()
                .filter(|r| r.contact_method_id == m.id)
                .count(),
        })
        .collect();
    let page = AccountPage {
        chrome: Chrome::new("Your profile", "account", Some(me)),
        csrf: me.csrf.clone(),
        name: me.user.name.clone(),
        email: me.user.email.clone(),
        role: me.user.role.to_string(),
        time_zone: me.user.time_zone.clone(),
        notice,
        methods,
        rules,
        kinds: ContactType::ALL.iter().map(|k| k.as_str()).collect(),
        f,
        errors,
        feed_url,
    };
    page.errors.page(&page)
}

pub async fn account(
    State(s): State<Arc<AppState>>,
    me: Signed,
    q: Result<Query<DoneQuery>, QueryRejection>,
) -> Result<Response, UiError> {
    let done = done(q);
    if done.as_deref() == Some("feed") {
        // Your shifts as a calendar: the store makes the link the first time it is asked for.
        let fresh = crate::auth::new_link_secret();
        let token = s
            .store
            .feed_token("user", &me.user.id.0, &fresh, s.clock.now())
            .await?;
        let url = format!("{}/ics/{token}.ics", s.config.public_url);
        return account_page_with(
            &s,
            &me,
            None,
            ProfileForms::default(),
            Errors::none(),
            Some(url),
        )
        .await;
    }
    let notice = done.map(|d| {
        match d.as_str() {
            "method" => "Contact method added. Send it a code to verify it.",
            "code" => "Code sent. Type it below within 10 minutes.",
            "verified" => "Verified: this contact method can now page you.",
            "test" => "Test message sent.",
            "rule" => "Notification rule added.",
            "feed-revoked" => "Calendar link revoked: the old link no longer works.",
            "profile" => "Profile saved.",
            "method-saved" => "Contact method saved.",
            "method-unverified" => {
                "Contact method saved. Its new address pages you once verified: send it a code."
            }
            "method-deleted" => "Contact method deleted.",
            "method-deleted-rules" => {
                "Contact method deleted, with the notification rules that used it."
            }
            "rule-saved" => "Notification rule saved.",
            "rule-deleted" => "Notification rule deleted.",
            _ => "Done.",
        }
        .to_owned()
    });
    account_page(&s, &me, notice, ProfileForms::default(), Errors::none()).await
}

/// A responder manages their own contact methods and rules (viewers are not paged).
fn may_be_paged(me: &Signed) -> Result<(), UiError> {
    me.require(Role::Responder)
}

pub async fn add_method(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let f = Posted::checked(&me, &headers, form)?;
    may_be_paged(&me)?;
    let b = body(serde_json::json!({
        "type": f.get("type"), "address": f.get("address"), "label": f.opt("label"),
    }))?;
    match crate::paging::add_contact_method(&s, me.user.id.clone(), b).await {
        Ok(_) => Ok(Redirect::to("/account?done=method#methods").into_response()),
        Err(e) => {
            let forms = ProfileForms {
                which: "method".into(),
                kind: f.get("type").into(),
                address: f.get("address").into(),
                label: f.get("label").into(),
                ..ProfileForms::default()
            };
            let e = Errors::from_api(e)?.keep_only(&["type", "address", "label"]);
            account_page(&s, &me, None, forms, e).await
        }
    }
}

/// After a send-code, verify or test: back to the profile, or the profile with why not.
async fn method_result<T>(
    s: &AppState,
    me: &Signed,
    method: &str,
    r: Result<T, ApiError>,
    done: &str,
) -> Result<Response, UiError> {
    match r {
        Ok(_) => Ok(Redirect::to(&format!("/account?done={done}#methods")).into_response()),
        Err(e) => {
            let mut e = Errors::from_api(e)?;
            if let Some(why) = e.get("code").map(str::to_owned) {
                e.general = Some(why);
            }
            let e = e.keep_only(&[]);
            let forms = ProfileForms {
                which: format!("verify-{method}"),
                ..ProfileForms::default()
            };
            account_page(s, me, None, forms, e).await
        }
    }
}

pub async fn send_code(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(method): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    Posted::checked(&me, &headers, form)?;
    may_be_paged(&me)?;
    let r = crate::paging::send_code_to(&s, &me.user.id, &method).await;
    method_result(&s, &me, &method, r, "code").await
}

pub async fn verify(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(method): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let f = Posted::checked(&me, &headers, form)?;
    may_be_paged(&me)?;
    let r = s
        .store
        .finish_verification(
            &me.user.id,
            &method,
            &crate::auth::hash_secret(f.get("code")),
            s.clock.now(),
        )
        .await
        .map_err(ApiError::from);
    method_result(&s, &me, &method, r, "verified").await
}

pub async fn send_test(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(method): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    Posted::checked(&me, &headers, form)?;
    may_be_paged(&me)?;
    let r = crate::paging::send_test_to(&s, &me.user.id, &method).await;
    method_result(&s, &me, &method, r, "test").await
}

pub async fn add_rule(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let f = Posted::checked(&me, &headers, form)?;
    may_be_paged(&me)?;
    let forms = ProfileForms {
        which: "rule".into(),
        rule_method: f.get("contact_method_id").into(),
        delay: f.get("delay_minutes").into(),
        urgency: f.get("urgency").into(),
        repeat: f.get("repeat_every_minutes").into(),
        ..ProfileForms::default()
    };
    let number = |field: &str| -> Result<Option<u32>, Errors> {
        match f.opt(field) {
            None => Ok(None),
            Some(v) => v
                .parse::<u32>()
                .map(Some)
                .map_err(|_| Errors::field(field, "must be a whole number of minutes")),
        }
    };
    let (delay, repeat) = match (number("delay_minutes"), number("repeat_every_minutes")) {
        (Ok(d), Ok(r)) => (d.unwrap_or(0), r),
        (Err(e), _) | (_, Err(e)) => return account_page(&s, &me, None, forms, e).await,
    };
    let b = body(serde_json::json!({
        "contact_method_id": f.get("contact_method_id"),
        "delay_minutes": delay,
        "urgency": f.opt("urgency"),
        "repeat_every_minutes": repeat,
    }))?;
    match crate::paging::add_rule(&s, me.user.id.clone(), b).await {
        Ok(_) => Ok(Redirect::to("/account?done=rule#rules").into_response()),
        Err(e) => {
            let e = Errors::from_api(e)?.keep_only(&[
                "contact_method_id",
                "delay_minutes",
                "urgency",
                "repeat_every_minutes",
            ]);
            account_page(&s, &me, None, forms, e).await
        }
    }
}

/// The signed-in person as the API's caller.
fn caller(me: &Signed) -> Caller<'_> {
    Caller {
        user: Some(&me.user.id),
        role: me.user.role,
    }
}

/// A form's whole number of minutes: `None` when left empty.
fn minutes(f: &Posted, field: &str) -> Result<Option<u32>, Errors> {
    match f.opt(field) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<u32>()
            .map(Some)
            .map_err(|_| Errors::field(field, "must be a whole number of minutes")),
    }
}

/// Your own name and time zone (anyone signed in, viewers too).
pub async fn save_profile(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let f = Posted::checked(&me, &headers, form)?;
    let b = UpdateUser {
        name: Some(f.get("name").to_owned()),
        time_zone: Some(f.get("time_zone").to_owned()),
        ..UpdateUser::default()
    };
    match crate::people_api::edit_user(&s, caller(&me), &me.user.id, b).await {
        Ok(_) => Ok(Redirect::to("/account?done=profile").into_response()),
        Err(e) => {
            let forms = ProfileForms {
                which: "profile".into(),
                name: f.get("name").into(),
                time_zone: f.get("time_zone").into(),
                ..ProfileForms::default()
            };
            let e = Errors::from_api(e)?.keep_only(&["name", "time_zone"]);
            account_page(&s, &me, None, forms, e).await
        }
    }
}

pub async fn edit_method(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(method): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let f = Posted::checked(&me, &headers, form)?;
    may_be_paged(&me)?;
    let b = UpdateContactMethod {
        address: Some(f.get("address").to_owned()),
        label: Some(f.get("label").to_owned()),
        kind: None,
    };
    match crate::people_api::edit_contact_method(&s, &me.user.id, &method, b).await {
        Ok(m) => {
            let done = if m.verified {
                "method-saved"
            } else {
                "method-unverified"
            };
            Ok(Redirect::to(&format!("/account?done={done}#method-{method}")).into_response())
        }
        Err(e) => {
            let forms = ProfileForms {
                which: format!("method-{method}"),
                address: f.get("address").into(),
                label: f.get("label").into(),
                ..ProfileForms::default()
            };
            let e = Errors::from_api(e)?.keep_only(&["address", "label"]);
            account_page(&s, &me, None, forms, e).await
        }
    }
}

pub async fn delete_method(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(method): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    Posted::checked(&me, &headers, form)?;
    may_be_paged(&me)?;
    let rules = s
        .store
        .delete_contact_method(&me.user.id, &method)
        .await?
        .len();
    tracing::info!(user = %me.user.id, method, rules, "contact method deleted in the web UI");
    let done = if rules > 0 {
        "method-deleted-rules"
    } else {
        "method-deleted"
    };
    Ok(Redirect::to(&format!("/account?done={done}#methods")).into_response())
}

pub async fn edit_rule(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(rule): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let f = Posted::checked(&me, &headers, form)?;
    may_be_paged(&me)?;
    let forms = ProfileForms {
        which: format!("rule-{rule}"),
        rule_method: f.get("contact_method_id").into(),
        delay: f.get("delay_minutes").into(),
        urgency: f.get("urgency").into(),
        repeat: f.get("repeat_every_minutes").into(),
        ..ProfileForms::default()
    };
    let (delay, repeat) = match (
        minutes(&f, "delay_minutes"),
        minutes(&f, "repeat_every_minutes"),
    ) {
        (Ok(d), Ok(r)) => (d.unwrap_or(0), r),
        (Err(e), _) | (_, Err(e)) => return account_page(&s, &me, None, forms, e).await,
    };
    let b = UpdateRule {
        contact_method_id: Some(f.get("contact_method_id").to_owned()),
        delay_minutes: Some(delay),
        urgency: Some(f.opt("urgency")),
        repeat_every_minutes: Some(repeat),
    };
    match crate::people_api::edit_rule(&s, &me.user.id, &rule, b).await {
        Ok(_) => Ok(Redirect::to("/account?done=rule-saved#rules").into_response()),
        Err(e) => {
            let e = Errors::from_api(e)?.keep_only(&[
                "contact_method_id",
                "delay_minutes",
                "urgency",
                "repeat_every_minutes",
            ]);
            account_page(&s, &me, None, forms, e).await
        }
    }
}

pub async fn delete_rule(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(rule): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    Posted::checked(&me, &headers, form)?;
    may_be_paged(&me)?;
    s.store.delete_notification_rule(&me.user.id, &rule).await?;
    Ok(Redirect::to("/account?done=rule-deleted#rules").into_response())
}

// ---- people ----

struct PersonRow {
    id: String,
    name: String,
    email: String,
    role: String,
    time_zone: String,
    me: bool,
    active: bool,
    /// The errors on the page belong to this person's edit form.
    open: bool,
}

#[derive(Default)]
struct PersonValues {
    name: String,
    email: String,
    role: String,
    time_zone: String,
}

#[derive(Template)]
#[template(path = "people.html")]
struct PeoplePage {
    chrome: Chrome,
    csrf: String,
    can_admin: bool,
    notice: Option<String>,
    people: Vec<PersonRow>,
    v: PersonValues,
    /// The person whose edit form the errors belong to ("" for the form adding a person).
    editing: String,
    /// What was typed in that edit form.
    edit: PersonValues,
    roles: Vec<&'static str>,
    errors: Errors,
}

async fn people_page(
    s: &AppState,
    me: &Signed,
    notice: Option<String>,
    v: PersonValues,
    errors: Errors,
) -> Result<Response, UiError> {
    people_page_editing(s, me, notice, v, errors, None).await
}

/// The people page, with `editing` = (id, typed values) when the errors are its edit form's.
async fn people_page_editing(
    s: &AppState,
    me: &Signed,
    notice: Option<String>,
    v: PersonValues,
    errors: Errors,
    editing: Option<(String, PersonValues)>,
) -> Result<Response, UiError> {
    let (editing, edit) = editing.unwrap_or_default();
    let mut people: Vec<PersonRow> = s
        .store
        .list_users()
        .await?
        .into_iter()
        .map(|u| PersonRow {
            open: !editing.is_empty() && u.id.0 == editing,
            active: u.active,
            me: u.id == me.user.id,
            id: u.id.0.clone(),
            name: u.name,
            email: u.email,
            role: u.role.to_string(),
            time_zone: u.time_zone,
        })
        .collect();
    people.sort_by(|a, b| a.name.cmp(&b.name));
    let page = PeoplePage {
        chrome: Chrome::new("People", "people", Some(me)),
        csrf: me.csrf.clone(),
        can_admin: me.can(Role::Admin),
        notice,
        people,
        v,
        editing,
        edit,
        roles: vec!["responder", "viewer", "admin"],
        errors,
    };
    page.errors.page(&page)
}

pub async fn people(
    State(s): State<Arc<AppState>>,
    me: Signed,
    q: Result<Query<DoneQuery>, QueryRejection>,
) -> Result<Response, UiError> {
    let v = PersonValues {
        time_zone: me.user.time_zone.clone(),
        role: "responder".into(),
        ..PersonValues::default()
    };
    let notice = done(q).map(|d| {
        match d.as_str() {
            "role" => "Role changed. It applies to their next page.",
            "edited" => "Saved.",
            "deactivated" => {
                "Deactivated: they are signed out, cannot sign in, their API tokens are refused \
                 and escalations skip them."
            }
            "reactivated" => "Reactivated: they can sign in and be paged again.",
            _ => "Person added. They sign in with the email and password given.",
        }
        .to_owned()
    });
    people_page(&s, &me, notice, v, Errors::none()).await
}

pub async fn add_person(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let f = Posted::checked(&me, &headers, form)?;
    me.require(Role::Admin)?;
    let b = body(serde_json::json!({
        "name": f.get("name"), "email": f.get("email"), "role": f.opt("role"),
        "time_zone": f.opt("time_zone"), "password": f.opt("password"),
    }))?;
    match crate::api::add_user(&s, b).await {
        Ok(u) => {
            tracing::info!(user = %u.id, by = %me.user.id, "person added in the web UI");
            Ok(Redirect::to("/people?done=added").into_response())
        }
        Err(e) => {
            let v = PersonValues {
                name: f.get("name").into(),
                email: f.get("email").into(),
                role: f.get("role").into(),
                time_zone: f.get("time_zone").into(),
            };
            let e =
                Errors::from_api(e)?.keep_only(&["name", "email", "role", "time_zone", "password"]);
            people_page(&s, &me, None, v, e).await
        }
    }
}

pub async fn set_role(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let f = Posted::checked(&me, &headers, form)?;
    me.require(Role::Admin)?;
    let result = match crate::api::role("role", Some(f.get("role")), Role::Responder) {
        Ok(role) => s
            .store
            .set_user_role(&UserId(id.clone()), role)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(u) => {
            tracing::info!(user = %u.id, role = %u.role, by = %me.user.id, "role changed in the web UI");
            Ok(Redirect::to("/people?done=role").into_response())
        }
        Err(e) => {
            let mut e = Errors::from_api(e)?;
            if let Some(why) = e.get("role").map(str::to_owned) {
                e.general = Some(format!("Role: {why}"));
            }
            let e = e.keep_only(&[]);
            let v = PersonValues {
                time_zone: me.user.time_zone.clone(),
                role: "responder".into(),
                ..PersonValues::default()
            };
            people_page(&s, &me, None, v, e).await
        }
    }
}

/// An admin changes a person's name and time zone.
pub async fn edit_person(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let f = Posted::checked(&me, &headers, form)?;
    me.require(Role::Admin)?;
    let b = UpdateUser {
        name: Some(f.get("name").to_owned()),
        time_zone: Some(f.get("time_zone").to_owned()),
        ..UpdateUser::default()
    };
    match crate::people_api::edit_user(&s, caller(&me), &UserId(id.clone()), b).await {
        Ok(u) => {
            tracing::info!(user = %u.id, by = %me.user.id, "person edited in the web UI");
            Ok(Redirect::to(&format!("/people?done=edited#person-{id}")).into_response())
        }
        Err(e) => {
            let typed = PersonValues {
                name: f.get("name").into(),
                time_zone: f.get("time_zone").into(),
                ..PersonValues::default()
            };
            let e = Errors::from_api(e)?.keep_only(&["name", "time_zone"]);
            let v = PersonValues {
                time_zone: me.user.time_zone.clone(),
                role: "responder".into(),
                ..PersonValues::default()
            };
            people_page_editing(&s, &me, None, v, e, Some((id, typed))).await
        }
    }
}

/// An admin deactivates (`active` false) or reactivates a person.
async fn set_active(
    s: &AppState,
    me: &Signed,
    id: String,
    active: bool,
) -> Result<Response, UiError> {
    let b = UpdateUser {
        active: Some(active),
        ..UpdateUser::default()
    };
    match crate::people_api::edit_user(s, caller(me), &UserId(id.clone()), b).await {
        Ok(u) => {
            tracing::info!(user = %u.id, active, by = %me.user.id, "activity changed in the web UI");
            let done = if active { "reactivated" } else { "deactivated" };
            Ok(Redirect::to(&format!("/people?done={done}#person-{id}")).into_response())
        }
        Err(e) => {
            // The last admin, or yourself: say why above the list.
            let e = Errors::from_api(e)?.keep_only(&[]);
            let v = PersonValues {
                time_zone: me.user.time_zone.clone(),
                role: "responder".into(),
                ..PersonValues::default()
            };
            people_page(s, me, None, v, e).await
        }
    }
}

pub async fn deactivate(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    Posted::checked(&me, &headers, form)?;
    me.require(Role::Admin)?;
    set_active(&s, &me, id, false).await
}

pub async fn reactivate(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    Posted::checked(&me, &headers, form)?;
    me.require(Role::Admin)?;
    set_active(&s, &me, id, true).await
}

// ---- teams ----

struct TeamView {
    id: String,
    name: String,
    description: String,
    /// (id, name) of each member.
    members: Vec<(String, String)>,
}

impl TeamView {
    fn has(&self, user: &str) -> bool {
        self.members.iter().any(|(id, _)| id == user)
    }
}

#[derive(Template)]
#[template(path = "teams.html")]
struct TeamsPage {
    chrome: Chrome,
    csrf: String,
    can_admin: bool,
    notice: Option<&'static str>,
    teams: Vec<TeamView>,
    people: Vec<(String, String)>,
    name: String,
    errors: Errors,
}

async fn teams_page(
    s: &AppState,
    me: &Signed,
    notice: Option<&'static str>,
    name: String,
    errors: Errors,
) -> Result<Response, UiError> {
    let mut people: Vec<(String, String)> = s
        .store
        .list_users()
        .await?
        .into_iter()
        .map(|u| (u.id.0, u.name))
        .collect();
    people.sort_by(|a, b| a.1.cmp(&b.1));
    let name_of = |id: &UserId| {
        people
            .iter()
            .find(|(i, _)| *i == id.0)
            .map_or_else(|| id.0.clone(), |(_, n)| n.clone())
    };
    let teams = s
        .store
        .list_teams()
        .await?
        .into_iter()
        .map(|t| TeamView {
            members: t
                .members
                .iter()
                .map(|m| (m.0.clone(), name_of(m)))
                .collect(),
            id: t.id.0,
            name: t.name,
            description: t.description,
        })
        .collect();
    let page = TeamsPage {
        chrome: Chrome::new("Teams", "people", Some(me)),
        csrf: me.csrf.clone(),
        can_admin: me.can(Role::Admin),
        notice,
        teams,
        people,
        name,
        errors,
    };
    page.errors.page(&page)
}

pub async fn teams(
    State(s): State<Arc<AppState>>,
    me: Signed,
    q: Result<Query<DoneQuery>, QueryRejection>,
) -> Result<Response, UiError> {
    let notice = match done(q).as_deref() {
        Some("created") => Some("Team created."),
        Some("member") => Some("Member added."),
        Some("removed") => Some("Member removed from the team."),
        _ => None,
    };
    teams_page(&s, &me, notice, String::new(), Errors::none()).await
}

pub async fn add_team(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let f = Posted::checked(&me, &headers, form)?;
    me.require(Role::Admin)?;
    let b = body(serde_json::json!({"name": f.get("name"), "description": f.get("description")}))?;
    match crate::api::add_team(&s, b).await {
        Ok(_) => Ok(Redirect::to("/teams?done=created").into_response()),
        Err(e) => {
            let e = Errors::from_api(e)?.keep_only(&["name"]);
            teams_page(&s, &me, None, f.get("name").into(), e).await
        }
    }
}

pub async fn add_member(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(team): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let f = Posted::checked(&me, &headers, form)?;
    me.require(Role::Admin)?;
    let Some(user) = f.opt("user_id") else {
        let mut e = Errors::none();
        e.general = Some("Choose the person to add to the team.".into());
        return teams_page(&s, &me, None, String::new(), e).await;
    };
    match s
        .store
        .add_team_member(&TeamId(team.clone()), &UserId(user))
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/teams?done=member#team-{team}")).into_response()),
        Err(e) => {
            let e = Errors::from_api(ApiError::from(e))?;
            teams_page(&s, &me, None, String::new(), e).await
        }
    }
}

pub async fn remove_member(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path((team, user)): Path<(String, String)>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    Posted::checked(&me, &headers, form)?;
    me.require(Role::Admin)?;
    s.store
        .remove_team_member(&TeamId(team.clone()), &UserId(user))
        .await?;
    Ok(Redirect::to(&format!("/teams?done=removed#team-{team}")).into_response())
}

// ---- your calendar feed ----

pub async fn show_feed(
    me: Signed,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    Posted::checked(&me, &headers, form)?;
    Ok(Redirect::to("/account?done=feed#feed").into_response())
}

pub async fn revoke_feed(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    Posted::checked(&me, &headers, form)?;
    s.store.revoke_feed("user", &me.user.id.0).await?;
    tracing::info!(user = %me.user.id, "personal calendar link revoked in the web UI");
    Ok(Redirect::to("/account?done=feed-revoked#feed").into_response())
}
