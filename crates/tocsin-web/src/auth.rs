//! Who is calling and what they may do: API tokens (stored as SHA-256, shown once), argon2id
//! passwords, and the bearer-token extractor every `/api/v1` route uses.

use crate::AppState;
use crate::error::ApiError;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tocsin_core::{Role, UserId};
use tocsin_store::{Actor, ApiToken};

/// Prefix of API tokens, so that secret scanners and humans recognise them.
pub const TOKEN_PREFIX: &str = "tcn_";
/// Bytes of randomness in an API token.
const TOKEN_RANDOM_BYTES: usize = 24;
/// Bytes of randomness in an integration key (32 hex characters, like PagerDuty's).
const INTEGRATION_KEY_RANDOM_BYTES: usize = 16;
/// A password shorter than this is refused.
pub const PASSWORD_CHARS_MIN: usize = 10;
/// Argon2 cost is linear in input; bound it.
pub const PASSWORD_CHARS_MAX: usize = 1024;

fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    // The OS RNG failing leaves no safe way to make a secret: stop rather than make a weak one.
    getrandom::fill(&mut buf).expect("the operating system's random number generator failed");
    hex::encode(buf)
}

/// A new API token secret. Returned to the user once; only its hash is stored.
pub fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_hex(TOKEN_RANDOM_BYTES))
}

/// A new one-time secret for links (first-admin setup).
pub fn new_link_secret() -> String {
    random_hex(TOKEN_RANDOM_BYTES)
}

/// A new routing key: 32 lowercase hex characters, 128 random bits.
pub fn new_integration_key() -> String {
    random_hex(INTEGRATION_KEY_RANDOM_BYTES)
}

/// Hex SHA-256: how tokens and link secrets are stored and looked up.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Argon2id with the crate's default (OWASP-recommended) parameters. CPU-heavy: callers run
/// it on the blocking pool.
pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Checks a new password against the rules, naming what is wrong.
pub fn check_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < PASSWORD_CHARS_MIN {
        return Err(format!("must be at least {PASSWORD_CHARS_MIN} characters"));
    }
    if n > PASSWORD_CHARS_MAX {
        return Err(format!("must be at most {PASSWORD_CHARS_MAX} characters"));
    }
    Ok(())
}

/// An authenticated caller of `/api/v1`.
#[derive(Clone, Debug)]
pub struct Auth {
    pub token: ApiToken,
    pub user_name: Option<String>,
}

impl Auth {
    pub fn role(&self) -> Role {
        self.token.role
    }

    /// Refuses with 403 unless the caller's role includes `required`.
    pub fn require(&self, required: Role) -> Result<(), ApiError> {
        if self.role().allows(required) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {required} role; the token has {}",
                self.role()
            )))
        }
    }

    pub fn user_id(&self) -> Option<&UserId> {
        self.token.user_id.as_ref()
    }

    /// How the caller appears on timelines.
    pub fn actor(&self) -> Actor {
        match (&self.token.user_id, &self.user_name) {
            (Some(id), Some(name)) => Actor {
                id: format!("user:{id}"),
                name: name.clone(),
            },
            _ => Actor {
                id: format!("token:{}", self.token.id),
                name: format!("API token {}", self.token.name),
            },
        }
    }
}

/// A role a route requires, as a type, so that the check runs while extracting: before the
/// body is read, a caller without the role gets 403, never a 400 about a body it may not send.
pub trait RoleMarker: Send + Sync {
    const ROLE: Role;
}

pub struct Admin;
pub struct Responder;

impl RoleMarker for Admin {
    const ROLE: Role = Role::Admin;
}

impl RoleMarker for Responder {
    const ROLE: Role = Role::Responder;
}

/// An authenticated caller that has role `R`.
pub struct Require<R>(pub Auth, pub std::marker::PhantomData<R>);

impl<R: RoleMarker> FromRequestParts<Arc<AppState>> for Require<R> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_request_parts(parts, state).await?;
        auth.require(R::ROLE)?;
        Ok(Require(auth, std::marker::PhantomData))
    }
}

impl FromRequestParts<Arc<AppState>> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized("missing 'Authorization: Bearer <token>' header")
        })?;
        let value = header
            .to_str()
            .map_err(|_| ApiError::unauthorized("the Authorization header is not valid text"))?;
        let secret = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be 'Bearer <token>'")
            })?;
        let now = state.clock.now();
        let token = state
            .store
            .find_api_token(&hash_secret(secret), now)
            .await?
            .ok_or_else(|| ApiError::unauthorized("unknown or revoked API token"))?;
        let user_name = match &token.user_id {
            Some(id) => Some(state.store.get_user(id).await?.name),
            None => None,
        };
        Ok(Auth { token, user_name })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_hashes_stable() {
        let a = new_token();
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_ne!(a, new_token());
        assert_eq!(new_integration_key().len(), 32);
        assert_eq!(hash_secret("x"), hash_secret("x"));
        assert_ne!(hash_secret("x"), hash_secret("y"));
    }

    #[test]
    fn argon2id_round_trip() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong", &h));
        assert!(check_password("short").is_err());
    }
}
