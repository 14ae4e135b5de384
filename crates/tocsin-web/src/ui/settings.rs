//! Settings (admins only): the delivery configuration the server loaded (read-only, secrets
//! shown only as set or not), API tokens — created with the secret shown once, listed,
//! revoked — and a test message through the configured email or SMS provider to any address.
//! Tokens are made by the REST API's own `api::add_token`, the test by
//! `paging::send_test_to_address`.

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

/// What the settings page shows of the notifier's configuration: every field but the secrets,
/// and of each secret only whether it is set. Made once at start ([`DeliveryView::of`]) from the
/// configuration the notifier was built with; it holds no secret, so neither a page nor a log
/// line printing it can show one.
#[derive(Clone, Debug, Default)]
pub struct DeliveryView {
    /// `None`: no `[notify.smtp]`, email pages fail at once.
    pub smtp: Option<SmtpView>,
    /// `None`: no `[notify.twilio]`, SMS and voice pages fail at once.
    pub sms: Option<SmsView>,
    pub request_timeout_seconds: u64,
    pub telegram_base_url: String,
    pub slack_signing_secret_set: bool,
    pub telegram_webhook_secret_set: bool,
}

#[derive(Clone, Debug)]
pub struct SmtpView {
    pub host: String,
    pub port: u16,
    /// `none`, `starttls` or `tls`, as written in `tocsin.toml`.
    pub tls: &'static str,
    pub from: String,
    pub username: Option<String>,
    pub password_set: bool,
}

#[derive(Clone, Debug)]
pub struct SmsView {
    /// The provider's API, in words.
    pub provider: &'static str,
    pub base_url: String,
    pub account_sid: String,
    pub from_number: String,
    pub status_callback_base: Option<String>,
    pub auth_token_set: bool,
}

impl DeliveryView {
    pub fn of(config: &tocsin_notify::NotifyConfig) -> Self {
        use tocsin_notify::SmtpTls;
        DeliveryView {
            smtp: config.smtp.as_ref().map(|s| SmtpView {
                host: s.host.clone(),
                port: s.port,
                tls: match s.tls {
                    SmtpTls::None => "none",
                    SmtpTls::StartTls => "starttls",
                    SmtpTls::Tls => "tls",
                },
                from: s.from.clone(),
                username: s.username.clone(),
                password_set: s.password.as_ref().is_some_and(|p| !p.expose().is_empty()),
            }),
            sms: config.twilio.as_ref().map(|t| SmsView {
                provider: "Twilio-compatible REST API",
                base_url: without_userinfo(&t.base_url),
                account_sid: t.account_sid.clone(),
                from_number: t.from_number.clone(),
                status_callback_base: t.status_callback_base.as_deref().map(without_userinfo),
                auth_token_set: !t.auth_token.expose().is_empty(),
            }),
            request_timeout_seconds: config.request_timeout.as_secs(),
            telegram_base_url: without_userinfo(&config.telegram_base_url),
            slack_signing_secret_set: config.slack_buttons,
            telegram_webhook_secret_set: config.telegram_buttons,
        }
    }
}

/// A URL with any `user:password@` replaced by `[redacted]@`, so credentials someone put in a
/// provider's URL are not shown either.
fn without_userinfo(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) if !scheme.is_empty() => format!("{scheme}://[redacted]{}", &rest[at..]),
        _ => url.to_owned(),
    }
}

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
    delivery: DeliveryView,
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
        delivery: s.config.delivery.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_notify::{NotifyConfig, Secret, SmtpConfig, SmtpTls, TwilioConfig};

    #[test]
    fn the_view_keeps_no_secret() {
        let mut config = NotifyConfig::new(Secret::new("whsec-1"));
        config.smtp = Some(SmtpConfig {
            host: "mail.example".into(),
            port: 587,
            tls: SmtpTls::StartTls,
            username: Some("tocsin".into()),
            password: Some("smtp-pass-2".into()),
            from: "tocsin@example.com".into(),
            extra_root_cert_pem: None,
        });
        config.twilio = Some(TwilioConfig {
            base_url: "https://sid:basic-pass-4@sms.example/api".into(),
            account_sid: "AC123".into(),
            auth_token: "twilio-token-3".into(),
            from_number: "+15005550006".into(),
            status_callback_base: None,
        });
        let view = DeliveryView::of(&config);
        let printed = format!("{view:?}");
        for secret in ["whsec-1", "smtp-pass-2", "twilio-token-3", "basic-pass-4"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        let smtp = view.smtp.expect("smtp");
        assert_eq!(
            (smtp.host.as_str(), smtp.port, smtp.tls),
            ("mail.example", 587, "starttls")
        );
        assert!(smtp.password_set);
        let sms = view.sms.expect("sms");
        assert!(sms.auth_token_set);
        assert_eq!(sms.base_url, "https://[redacted]@sms.example/api");
        assert_eq!(
            without_userinfo("https://api.twilio.com"),
            "https://api.twilio.com"
        );
        assert_eq!(
            without_userinfo("https://h.example/a@b"),
            "https://h.example/a@b",
            "an @ in the path is not userinfo"
        );
    }
}
