//! Settings (admins only): API tokens — created with the secret shown once, listed, revoked —
//! and a test message through the configured email or SMS provider to any address. Tokens are
//! made by the REST API's own `api::add_token`, the test by `paging::send_test_to_address`.

use super::format::when;
use super::format::zone;
use super::forms::{Errors, Posted};
use super::{Chrome, Signed, UiError};
use crate::AppState;
use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::sync::Arc;
use tocsin_core::contact::ContactType;
use tocsin_core::{Role, TokenId};

struct TokenRow {
    id: String,
    name: String,
    role: String,
    user: String,
    created: String,
    last_used: String,
}

/// What the forms of the page had typed, and which one failed.
#[derive(Default)]
struct SettingsForms {
    /// `token` or `test`.
    which: &'static str,
    token_name: String,
    token_role: String,
    token_user: String,
    test_kind: String,
    test_address: String,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    chrome: Chrome,
    csrf: String,
    notice: Option<String>,
    /// A token just created: its secret, shown this once.
    secret: Option<String>,
    tokens: Vec<TokenRow>,
    people: Vec<(String, String)>,
    roles: Vec<&'static str>,
    kinds: Vec<&'static str>,
    f: SettingsForms,
    errors: Errors,
}

async fn settings_page(
    s: &AppState,
    me: &Signed,
    notice: Option<String>,
    secret: Option<String>,
    f: SettingsForms,
    errors: Errors,
) -> Result<Response, UiError> {
    let now = s.clock.now();
    let tz = zone(&me.user.time_zone);
    let mut people: Vec<(String, String)> = s
        .store
        .list_users()
        .await?
        .into_iter()
        .map(|u| (u.id.0, u.name))
        .collect();
    people.sort_by(|a, b| a.1.cmp(&b.1));
    let name_of = |id: &str| {
        people
            .iter()
            .find(|(i, _)| i == id)
            .map_or_else(|| id.to_owned(), |(_, n)| n.clone())
    };
    let tokens = s
        .store
        .list_api_tokens()
        .await?
        .into_iter()
        .map(|t| TokenRow {
            id: t.id.0.clone(),
            name: t.name,
            role: t.role.to_string(),
            user: t.user_id.map(|u| name_of(&u.0)).unwrap_or_default(),
            created: when(t.created_at, &tz, now),
            last_used: t
                .last_used_at
                .map_or_else(|| "never".into(), |u| when(u, &tz, now)),
        })
        .collect();
    let page = SettingsPage {
        chrome: Chrome::new("Settings", "settings", Some(me)),
        csrf: me.csrf.clone(),
        notice,
        secret,
        tokens,
        people,
        roles: vec!["viewer", "responder", "admin"],
        kinds: ContactType::ALL.iter().map(|k| k.as_str()).collect(),
        f,
        errors,
    };
    page.errors.page(&page)
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

pub async fn page(
    State(s): State<Arc<AppState>>,
    me: Signed,
    q: Result<Query<DoneQuery>, QueryRejection>,
) -> Result<Response, UiError> {
    me.require(Role::Admin)?;
    let notice = match q.ok().and_then(|Query(q)| q.done).as_deref() {
        Some("revoked") => Some("Token revoked: it no longer authenticates.".to_owned()),
        _ => None,
    };
    settings_page(
        &s,
        &me,
        notice,
        None,
        SettingsForms::default(),
        Errors::none(),
    )
    .await
}

pub async fn create_token(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let f = Posted::checked(&me, &headers, form)?;
    me.require(Role::Admin)?;
    let b = serde_json::from_value(serde_json::json!({
        "name": f.get("name"), "role": f.get("role"), "user_id": f.opt("user_id"),
    }))
    .map_err(|e| {
        tracing::error!(error = %e, "the token form no longer fits the API's body");
        UiError::Internal
    })?;
    match crate::api::add_token(&s, b).await {
        // Shown in this answer only (never in a URL, never stored in clear).
        Ok((token, secret)) => {
            tracing::info!(token = %token.id.0, by = %me.user.id, "API token created in the web UI");
            let notice = Some(format!(
                "Token \u{201c}{}\u{201d} created. Copy its secret now: it is not shown again.",
                token.name
            ));
            settings_page(
                &s,
                &me,
                notice,
                Some(secret),
                SettingsForms::default(),
                Errors::none(),
            )
            .await
        }
        Err(e) => {
            let forms = SettingsForms {
                which: "token",
                token_name: f.get("name").into(),
                token_role: f.get("role").into(),
                token_user: f.get("user_id").into(),
                ..SettingsForms::default()
            };
            let e = Errors::from_api(e)?.keep_only(&["name", "role", "user_id"]);
            settings_page(&s, &me, None, None, forms, e).await
        }
    }
}

pub async fn revoke_token(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    Posted::checked(&me, &headers, form)?;
    me.require(Role::Admin)?;
    s.store
        .revoke_api_token(&TokenId(id.clone()), s.clock.now())
        .await?;
    tracing::info!(token = %id, by = %me.user.id, "API token revoked in the web UI");
    Ok(Redirect::to("/settings?done=revoked#tokens").into_response())
}

pub async fn send_test(
    State(s): State<Arc<AppState>>,
    me: Signed,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, UiError> {
    let f = Posted::checked(&me, &headers, form)?;
    me.require(Role::Admin)?;
    let forms = SettingsForms {
        which: "test",
        test_kind: f.get("type").into(),
        test_address: f.get("address").into(),
        ..SettingsForms::default()
    };
    match crate::paging::send_test_to_address(&s, f.get("type"), f.get("address")).await {
        Ok(provider) => {
            let notice = Some(match provider {
                Some(id) => format!("Test message sent (the provider's id: {id})."),
                None => "Test message sent.".to_owned(),
            });
            settings_page(&s, &me, notice, None, forms, Errors::none()).await
        }
        Err(e) => {
            let e = Errors::from_api(e)?.keep_only(&["type", "address"]);
            settings_page(&s, &me, None, None, forms, e).await
        }
    }
}
