//! Signing in to the web UI: sessions in an HttpOnly, SameSite=Lax cookie (Secure, with the
//! `__Host-` prefix, when the public URL is https) whose random token is stored only as its
//! SHA-256; a CSRF token per session on every form; sign-in rate limits per account and per
//! address; sign-out and password change. API tokens never sign in here, and sessions never
//! reach the REST API.

use super::{Chrome, UiError, html};
use crate::AppState;
use crate::auth::{check_password, hash_password, hash_secret, verify_password};
use crate::setup::same_origin;
use askama::Template;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock, Mutex};
use tocsin_core::Role;
use tocsin_core::rate::{RateLimit, TokenBucket};
use tocsin_store::{NewSession, User};

/// A session unused this long ends.
pub const SESSION_IDLE_MAX: SignedDuration = SignedDuration::from_hours(14 * 24);
/// A session ends this long after sign-in, however much it is used.
pub const SESSION_LIFETIME_MAX: SignedDuration = SignedDuration::from_hours(30 * 24);
/// Use of a session is written down at most this often (a page view is otherwise a read).
const SESSION_TOUCH_INTERVAL: SignedDuration = SignedDuration::from_hours(1);
/// Random bytes in a session token (and in the sign-in form's token).
const SESSION_TOKEN_BYTES: usize = 32;
/// How long the sign-in form stays usable.
const LOGIN_FORM_MAX: SignedDuration = SignedDuration::from_hours(1);
/// Sign-in attempts per account: 10 at once, then one a minute. The core's bucket counts whole
/// tokens per second, so an attempt costs a minute's worth of them.
const LOGIN_ACCOUNT_LIMIT: RateLimit = RateLimit {
    per_second: 1,
    burst: 10 * 60,
};
const LOGIN_ACCOUNT_COST: u32 = 60;
/// Sign-in attempts per client address: 50 at once, then ten a minute (a whole office may sit
/// behind one address).
const LOGIN_ADDRESS_LIMIT: RateLimit = RateLimit {
    per_second: 1,
    burst: 50 * 6,
};
const LOGIN_ADDRESS_COST: u32 = 6;
/// Accounts and addresses tracked at once; beyond it, full (forgotten) buckets are dropped, and
/// if none is, sign-in waits rather than memory growing.
const LOGIN_BUCKETS_MAX: usize = 10_000;
/// The longest email a sign-in form may carry.
const EMAIL_CHARS_MAX: usize = 320;

/// The cookie names: `__Host-` makes browsers refuse the cookie unless it is Secure, for the
/// whole host, and set by it (so a sibling subdomain cannot plant one).
fn cookie_name(state: &AppState, base: &str) -> String {
    if secure(state) {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

fn secure(state: &AppState) -> bool {
    state.config.public_url.starts_with("https://")
}

fn set_cookie(state: &AppState, base: &str, value: &str, max_age: SignedDuration) -> HeaderValue {
    let c = cookie_header(base, value, max_age, secure(state));
    HeaderValue::from_str(&c).expect("cookie values are hex")
}

/// A `Set-Cookie` value: never readable by scripts, sent on top-level navigation from other
/// sites (so links in pages work) but not on their cross-site posts.
fn cookie_header(base: &str, value: &str, max_age: SignedDuration, secure: bool) -> String {
    let (prefix, flag) = if secure {
        ("__Host-", "; Secure")
    } else {
        ("", "")
    };
    format!(
        "{prefix}{base}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{flag}",
        max_age.as_secs().max(0)
    )
}

/// The value of cookie `name`, if the request carries it.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

fn random_token() -> String {
    let mut buf = [0u8; SESSION_TOKEN_BYTES];
    getrandom::fill(&mut buf).expect("the operating system's random number generator failed");
    hex::encode(buf)
}

/// The session's CSRF token: derived from the cookie's token, so it needs no storage, changes
/// with every sign-in, and does not reveal the token (nor does the stored hash reveal it).
fn csrf_for(token: &str) -> String {
    hex::encode(Sha256::digest(format!("tocsin-csrf:{token}").as_bytes()))
}

/// Compares secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Where to go after signing in: only a path on this site.
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.into(),
        _ => "/".into(),
    }
}

/// A signed-in person, from the session cookie. Pages without one redirect to the sign-in
/// page; fragments and the event stream answer 401.
pub struct Signed {
    pub user: User,
    pub csrf: String,
    token_hash: String,
}

impl Signed {
    /// Refuses unless the form came from this site with this session's CSRF token.
    pub fn check_form(&self, headers: &HeaderMap, csrf: &str) -> Result<(), UiError> {
        if same_origin(headers) && same_secret(csrf, &self.csrf) {
            Ok(())
        } else {
            Err(UiError::Csrf)
        }
    }

    pub fn require(&self, role: Role) -> Result<(), UiError> {
        if self.user.role.allows(role) {
            Ok(())
        } else {
            Err(UiError::Forbidden(format!(
                "This needs the {role} role; you have {}.",
                self.user.role
            )))
        }
    }

    pub fn can(&self, role: Role) -> bool {
        self.user.role.allows(role)
    }
}

impl FromRequestParts<Arc<AppState>> for Signed {
    type Rejection = UiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let scripted = parts.uri.path().starts_with("/ui/");
        let deny = || {
            if scripted {
                UiError::Unauthorized
            } else {
                UiError::SignIn {
                    next: parts
                        .uri
                        .path_and_query()
                        .map_or("/", |p| p.as_str())
                        .to_owned(),
                }
            }
        };
        let Some(token) = cookie(&parts.headers, &cookie_name(state, "tocsin_session")) else {
            return Err(deny());
        };
        let token_hash = hash_secret(&token);
        let now = state.clock.now();
        let Some(session) = state.store.find_session(&token_hash, now).await? else {
            return Err(deny());
        };
        if now.duration_since(session.last_seen_at) >= SESSION_TOUCH_INTERVAL {
            let expires = (now + SESSION_IDLE_MAX).min(session.created_at + SESSION_LIFETIME_MAX);
            state.store.touch_session(&token_hash, now, expires).await?;
        }
        Ok(Signed {
            user: session.user,
            csrf: csrf_for(&token),
            token_hash,
        })
    }
}

/// The client's address, when the server was started with connection info.
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// Token buckets of sign-in attempts, per account (lowercased email) and per client address.
#[derive(Default)]
pub struct LoginLimits {
    buckets: Mutex<Buckets>,
}

#[derive(Default)]
struct Buckets {
    accounts: HashMap<String, TokenBucket>,
    addresses: HashMap<IpAddr, TokenBucket>,
}

fn charge<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, TokenBucket>,
    key: K,
    limit: RateLimit,
    cost: u32,
    now: Timestamp,
) -> Result<(), SignedDuration> {
    if !map.contains_key(&key) && map.len() >= LOGIN_BUCKETS_MAX {
        map.retain(|_, b| !b.is_full(now));
        if map.len() >= LOGIN_BUCKETS_MAX {
            tracing::warn!("sign-in rate limiter full; refusing attempts until buckets refill");
            return Err(SignedDuration::from_secs(60));
        }
    }
    map.entry(key)
        .or_insert_with(|| TokenBucket::new(limit, now))
        .take(cost, now)
}

impl LoginLimits {
    /// Charges one sign-in attempt to the account and the address; `Err` says how long to wait.
    pub fn attempt(
        &self,
        account: &str,
        addr: Option<IpAddr>,
        now: Timestamp,
    ) -> Result<(), SignedDuration> {
        let mut b = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let by_addr = match addr {
            Some(ip) => charge(
                &mut b.addresses,
                ip,
                LOGIN_ADDRESS_LIMIT,
                LOGIN_ADDRESS_COST,
                now,
            ),
            None => Ok(()),
        };
        let by_account = charge(
            &mut b.accounts,
            account.to_lowercase(),
            LOGIN_ACCOUNT_LIMIT,
            LOGIN_ACCOUNT_COST,
            now,
        );
        match (by_addr, by_account) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(a), Err(b)) => Err(a.max(b)),
            (Err(w), _) | (_, Err(w)) => Err(w),
        }
    }
}

/// What a failed check of a password costs when there is no account: the same argon2id work, so
/// that timing does not tell which emails have accounts.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password("not a real password, only for timing").unwrap_or_default());

async fn password_matches(password: String, hash: Option<String>) -> Result<bool, UiError> {
    tokio::task::spawn_blocking(move || match hash {
        Some(h) => verify_password(&password, &h),
        None => {
            let _ = verify_password(&password, &DUMMY_HASH);
            false
        }
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "password check task failed");
        UiError::Internal
    })
}

// ---- sign-in ----

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    csrf: String,
    next: String,
    email: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// The sign-in form, with a fresh form token in a cookie and in the form (double submit: a
/// site that cannot read our cookies cannot post a valid form, not even to sign someone in to
/// an account of its choosing).
fn login_page(
    state: &AppState,
    status: StatusCode,
    next: String,
    email: String,
    error: Option<String>,
) -> Result<Response, UiError> {
    let csrf = random_token();
    let page = LoginPage {
        chrome: Chrome::new("Sign in", "", None),
        csrf: csrf.clone(),
        next,
        email,
        error,
    };
    let mut resp = html(&page)?;
    *resp.status_mut() = status;
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, "tocsin_login", &csrf, LOGIN_FORM_MAX),
    );
    Ok(resp)
}

pub async fn login_form(
    State(s): State<Arc<AppState>>,
    signed: Result<Signed, UiError>,
    Query(q): Query<NextQuery>,
) -> Result<Response, UiError> {
    let next = local_path(q.next.as_deref());
    if signed.is_ok() {
        return Ok(Redirect::to(&next).into_response());
    }
    login_page(&s, StatusCode::OK, next, String::new(), None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    csrf: String,
    next: Option<String>,
}

pub async fn login(
    State(s): State<Arc<AppState>>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Ok(Form(f)) = form else {
        return login_page(
            &s,
            StatusCode::BAD_REQUEST,
            "/".into(),
            String::new(),
            Some("Give your email and password.".into()),
        );
    };
    let next = local_path(f.next.as_deref());
    let email = f.email.trim().to_owned();
    let form_token = cookie(&headers, &cookie_name(&s, "tocsin_login"));
    if !same_origin(&headers) || !form_token.is_some_and(|t| same_secret(&t, &f.csrf)) {
        return login_page(
            &s,
            StatusCode::FORBIDDEN,
            next,
            email,
            Some("The sign-in form expired. Please try again.".into()),
        );
    }
    if email.is_empty() || email.chars().count() > EMAIL_CHARS_MAX || f.password.is_empty() {
        return login_page(
            &s,
            StatusCode::BAD_REQUEST,
            next,
            email,
            Some("Give your email and password.".into()),
        );
    }
    let now = s.clock.now();
    if let Err(wait) = s.ui.login_limits.attempt(&email, addr, now) {
        let secs = wait.as_secs().max(1).unsigned_abs();
        let mut resp = login_page(
            &s,
            StatusCode::TOO_MANY_REQUESTS,
            next,
            email,
            Some(format!(
                "Too many sign-in attempts. Try again in {}.",
                super::format::span(SignedDuration::from_secs(
                    i64::try_from(secs).unwrap_or(i64::MAX).max(60)
                ))
            )),
        )?;
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return Ok(resp);
    }
    let login = s.store.find_login(&email).await?;
    let (user, hash) = match login {
        Some(l) => (Some(l.user), l.password_hash),
        None => (None, None),
    };
    let ok = password_matches(f.password, hash).await?;
    let Some(user) = user.filter(|_| ok) else {
        tracing::info!("sign-in refused");
        return login_page(
            &s,
            StatusCode::FORBIDDEN,
            next,
            email,
            Some("That email and password do not match an account.".into()),
        );
    };
    let token = random_token();
    s.store
        .create_session(
            NewSession {
                token_hash: hash_secret(&token),
                user_id: user.id.clone(),
                expires_at: now + SESSION_IDLE_MAX,
            },
            now,
        )
        .await?;
    tracing::info!(user = %user.id, "signed in to the web UI");
    let mut resp = Redirect::to(&next).into_response();
    let h = resp.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(&s, "tocsin_session", &token, SESSION_LIFETIME_MAX),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(&s, "tocsin_login", "", SignedDuration::ZERO),
    );
    Ok(resp)
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

pub async fn logout(
    State(s): State<Arc<AppState>>,
    signed: Signed,
    headers: HeaderMap,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(f) = form.map_err(|_| UiError::Csrf)?;
    signed.check_form(&headers, &f.csrf)?;
    s.store.delete_session(&signed.token_hash).await?;
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&s, "tocsin_session", "", SignedDuration::ZERO),
    );
    Ok(resp)
}

// ---- password change ----

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    chrome: Chrome,
    csrf: String,
    email: String,
    notice: Option<String>,
    error: Option<String>,
}

fn password_page(
    signed: &Signed,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, UiError> {
    let mut resp = html(&PasswordPage {
        chrome: Chrome::new("Change password", "", Some(signed)),
        csrf: signed.csrf.clone(),
        email: signed.user.email.clone(),
        notice,
        error,
    })?;
    *resp.status_mut() = status;
    Ok(resp)
}

pub async fn password_form(signed: Signed) -> Result<Response, UiError> {
    password_page(&signed, StatusCode::OK, None, None)
}

#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: String,
    current: String,
    new: String,
    confirm: String,
}

pub async fn change_password(
    State(s): State<Arc<AppState>>,
    ClientAddr(addr): ClientAddr,
    signed: Signed,
    headers: HeaderMap,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Result<Response, UiError> {
    let Form(f) = form.map_err(|_| UiError::Csrf)?;
    signed.check_form(&headers, &f.csrf)?;
    let retry = |why: String| password_page(&signed, StatusCode::BAD_REQUEST, None, Some(why));
    if f.new != f.confirm {
        return retry("The new password and its confirmation differ.".into());
    }
    if let Err(why) = check_password(&f.new) {
        return retry(format!("The new password {why}."));
    }
    // Guessing the current password here is as rate-limited as signing in.
    if let Err(wait) =
        s.ui.login_limits
            .attempt(&signed.user.email, addr, s.clock.now())
    {
        return Err(UiError::TooMany {
            retry_after_secs: wait.as_secs().max(1).unsigned_abs(),
        });
    }
    let hash = s
        .store
        .find_login(&signed.user.email)
        .await?
        .and_then(|l| l.password_hash);
    if !password_matches(f.current, hash).await? {
        return password_page(
            &signed,
            StatusCode::FORBIDDEN,
            None,
            Some("The current password is wrong.".into()),
        );
    }
    let new = f.new;
    let hashed = tokio::task::spawn_blocking(move || hash_password(&new))
        .await
        .map_err(|_| UiError::Internal)?
        .map_err(|e| {
            tracing::error!(error = %e, "password hashing failed");
            UiError::Internal
        })?;
    s.store
        .set_password(&signed.user.id, &hashed, Some(&signed.token_hash))
        .await?;
    tracing::info!(user = %signed.user.id, "password changed in the web UI");
    password_page(
        &signed,
        StatusCode::OK,
        Some("Password changed. Your other sessions are signed out.".into()),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_attempts_are_limited_per_account_and_per_address() {
        let limits = LoginLimits::default();
        let t0: Timestamp = "2026-11-25T10:00:00Z".parse().unwrap();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..10 {
            assert!(limits.attempt("Ada@example.com", Some(ip), t0).is_ok());
        }
        let wait = limits.attempt("ada@example.com", Some(ip), t0).unwrap_err();
        assert!(wait.as_secs() >= 59, "{wait:?}");
        assert!(
            limits.attempt("bob@example.com", Some(ip), t0).is_ok(),
            "another account from the same address still may"
        );
        let later = t0 + SignedDuration::from_secs(60);
        assert!(limits.attempt("ada@example.com", None, later).is_ok());
        // One address spraying many accounts runs dry too.
        let spray: Vec<bool> = (0..60)
            .map(|i| limits.attempt(&format!("u{i}@x"), Some(ip), later).is_ok())
            .collect();
        assert!(spray.iter().filter(|ok| !**ok).count() > 0);
    }

    #[test]
    fn next_stays_on_this_site_and_secrets_compare_whole() {
        assert_eq!(local_path(Some("/incidents/7?x=1")), "/incidents/7?x=1");
        assert_eq!(local_path(Some("//evil.example/")), "/");
        assert_eq!(local_path(Some("https://evil.example/")), "/");
        assert_eq!(local_path(Some("/\\evil.example")), "/");
        assert_eq!(local_path(None), "/");
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert_ne!(csrf_for("t1"), csrf_for("t2"));
        assert_ne!(csrf_for("t1"), hash_secret("t1"));
    }

    #[test]
    fn session_cookies_are_http_only_lax_and_secure_on_https() {
        let day = SignedDuration::from_hours(24);
        assert_eq!(
            cookie_header("tocsin_session", "abc", day, false),
            "tocsin_session=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=86400"
        );
        assert_eq!(
            cookie_header("tocsin_session", "abc", day, true),
            "__Host-tocsin_session=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=86400; Secure"
        );
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; tocsin_session=abc; x_tocsin_session=zzz"),
        );
        assert_eq!(cookie(&h, "tocsin_session").as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "missing"), None);
    }
}
