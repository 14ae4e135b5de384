//! The first-admin setup page behind the one-time link `tocsin serve` prints on first start.
//! The link's secret is the authority: it is single-use, expires, and stops working as soon as
//! any user exists. The form is plain HTML; no script, no external asset.

use crate::AppState;
use crate::api::{email, time_zone};
use crate::auth::{check_password, hash_password, hash_secret};
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use std::sync::Arc;
use tocsin_core::Role;
use tocsin_store::NewUser;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/setup/{secret}", get(form).post(submit))
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

pub(crate) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Tocsin</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;color:#222}}
label{{display:block;margin-top:1rem;font-weight:600}}input{{width:100%;padding:.6rem;font-size:1rem;box-sizing:border-box}}
button{{margin-top:1.5rem;padding:.7rem 1.2rem;font-size:1rem}}.err{{color:#a00}}code{{background:#eee;padding:.1rem .3rem}}</style>
</head><body><h1>{title}</h1>{body}</body></html>"#,
        title = escape(title)
    );
    let mut resp = (status, Html(html)).into_response();
    // The page must never be cached or framed: it carries a one-time secret.
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        "no-store".parse().expect("static header"),
    );
    resp.headers_mut()
        .insert("x-frame-options", "DENY".parse().expect("static header"));
    resp.headers_mut().insert(
        header::REFERRER_POLICY,
        "no-referrer".parse().expect("static header"),
    );
    resp
}

fn gone() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Setup link not valid",
        "<p>This setup link was already used, has expired, or an administrator already exists. \
         Restart <code>tocsin serve</code> on an empty database for a new link, or create users with \
         <code>tocsin user create</code>.</p>",
    )
}

fn form_html(error: Option<&str>, name: &str, mail: &str, tz: &str) -> String {
    let err = error
        .map(|e| format!(r#"<p class="err" role="alert">{}</p>"#, escape(e)))
        .unwrap_or_default();
    format!(
        r#"<p>Create the first administrator of this Tocsin.</p>{err}
<form method="post">
<label for="name">Name</label><input id="name" name="name" required maxlength="200" value="{name}">
<label for="email">Email</label><input id="email" name="email" type="email" required value="{mail}">
<label for="time_zone">Time zone</label><input id="time_zone" name="time_zone" value="{tz}" placeholder="Europe/Paris">
<label for="password">Password (at least 10 characters)</label><input id="password" name="password" type="password" required minlength="10" autocomplete="new-password">
<button type="submit">Create administrator</button>
</form>"#,
        name = escape(name),
        mail = escape(mail),
        tz = escape(tz),
    )
}

async fn form(State(s): State<Arc<AppState>>, Path(secret): Path<String>) -> Response {
    match s
        .store
        .setup_token_valid(&hash_secret(&secret), s.clock.now())
        .await
    {
        Ok(true) => page(
            StatusCode::OK,
            "Set up Tocsin",
            &form_html(None, "", "", "UTC"),
        ),
        Ok(false) => gone(),
        Err(e) => {
            tracing::error!(error = %e, "setup check failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error",
                "<p>Internal error; see the server log.</p>",
            )
        }
    }
}

#[derive(Deserialize)]
struct SetupForm {
    name: String,
    email: String,
    time_zone: Option<String>,
    password: String,
}

/// A cross-site form post carries a foreign Origin; refuse it even though the secret in the
/// path already makes forgery impractical.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    origin.split("://").nth(1).is_some_and(|o| o == host)
}

async fn submit(
    State(s): State<Arc<AppState>>,
    Path(secret): Path<String>,
    headers: HeaderMap,
    form: Result<Form<SetupForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    if !same_origin(&headers) {
        return page(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "<p>Cross-site form submission refused.</p>",
        );
    }
    let hash = hash_secret(&secret);
    if !s
        .store
        .setup_token_valid(&hash, s.clock.now())
        .await
        .unwrap_or(false)
    {
        return gone();
    }
    let Ok(Form(f)) = form else {
        return page(
            StatusCode::BAD_REQUEST,
            "Set up Tocsin",
            &form_html(Some("Fill in every field."), "", "", "UTC"),
        );
    };
    let tz_raw = f
        .time_zone
        .clone()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| "UTC".into());
    let retry = |msg: &str| {
        page(
            StatusCode::BAD_REQUEST,
            "Set up Tocsin",
            &form_html(Some(msg), &f.name, &f.email, &tz_raw),
        )
    };
    let name = f.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        return retry("Name: give 1 to 200 characters.");
    }
    let mail = match email(&f.email) {
        Ok(m) => m,
        Err(e) => return retry(&format!("Email {e}.")),
    };
    let tz = match time_zone(&tz_raw) {
        Ok(t) => t,
        Err(e) => return retry(&format!("Time zone {e}.")),
    };
    if let Err(e) = check_password(&f.password) {
        return retry(&format!("Password {e}."));
    }
    let password = f.password.clone();
    let hashed = match tokio::task::spawn_blocking(move || hash_password(&password)).await {
        Ok(Ok(h)) => h,
        _ => {
            return page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error",
                "<p>Internal error; see the server log.</p>",
            );
        }
    };
    let admin = NewUser {
        name,
        email: mail,
        time_zone: tz,
        role: Role::Admin,
        password_hash: Some(hashed),
    };
    match s.store.complete_setup(&hash, admin, s.clock.now()).await {
        Ok(user) => page(
            StatusCode::CREATED,
            "Tocsin is ready",
            &format!(
                "<p>{} is the administrator.</p><p><a href=\"/login\">Sign in to the web UI</a>.</p>\
                 <p>Create an API token for scripts and tools with \
                 <code>tocsin token create --name admin --role admin --user {}</code>.</p>",
                escape(&user.name),
                escape(&user.email)
            ),
        ),
        Err(_) => gone(),
    }
}
