//! People: your own profile (contact methods with verification and a test message,
//! notification rules), everyone's list with the admin's form to add a person, and teams with
//! their members (admins create teams and add members). Each form hands its values to the REST
//! API's own functions (`api::add_user`, `api::add_team`, `paging::add_contact_method`,
//! `paging::add_rule`, `paging::send_code_to`, `paging::send_test_to`), so the rules and
//! messages are the API's, and the same roles apply: you manage your own contact methods and
//! rules, admins manage people and teams.

use super::forms::{Errors, Posted};
use super::{Chrome, Signed, UiError};
use crate::AppState;
use crate::error::ApiError;
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
}

struct RuleView {
    method: String,
    delay: u32,
    urgency: &'static str,
    repeat: Option<u32>,
}

/// Which of the profile's forms the errors belong to, with what was typed.
#[derive(Default)]
struct ProfileForms {
    /// `method`, `rule`, or `verify-<method id>`.
    which: String,
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
    let rules = s
        .store
        .list_notification_rules(&me.user.id)
        .await?
        .into_iter()
        .map(|r| RuleView {
            method: method_name(&r.contact_method_id),
            delay: r.delay_minutes,
            urgency: r.urgency.map_or("any", |u| u.as_str()),
            repeat: r.repeat_every_minutes,
        })
        .collect();
    let methods = stored
        .iter()
        .map(|m| MethodView {
            id: m.id.clone(),
            kind: m.kind.as_str(),
            address: m.address.clone(),
            label: m.label.clone(),
            verified: m.verified,
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

// ---- people ----

struct PersonRow {
    id: String,
    name: String,
    email: String,
    role: String,
    time_zone: String,
    me: bool,
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
    let mut people: Vec<PersonRow> = s
        .store
        .list_users()
        .await?
        .into_iter()
        .map(|u| PersonRow {
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
        if d == "role" {
            "Role changed. It applies to their next page.".to_owned()
        } else {
            "Person added. They sign in with the email and password given.".to_owned()
        }
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

// ---- teams ----

struct TeamView {
    id: String,
    name: String,
    description: String,
    members: Vec<String>,
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
            members: t.members.iter().map(name_of).collect(),
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
