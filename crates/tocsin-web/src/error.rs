//! The two error shapes of the HTTP surface, each rendered in one place:
//! `ApiError` is the contract's `{"error": {code, message, fields}}` for `/api/v1` and Tocsin's own
//! ingestion endpoints; `PdError` is PagerDuty's `{"status", "message", "errors"}` for `/v2/*`.
//! Internal details are logged, never sent.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::BTreeMap;
use tocsin_core::formats::{FieldError, ParseError};
use tocsin_store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub fields: BTreeMap<String, String>,
    pub retry_after_secs: Option<u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ErrorDetail {
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    fields: BTreeMap<String, String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: BTreeMap::new(),
            retry_after_secs: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// A 400 naming one field.
    pub fn field(field: &str, why: impl Into<String>) -> Self {
        let why = why.into();
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            format!("'{field}' {why}"),
        );
        e.fields.insert(field.to_owned(), why);
        e
    }

    pub fn fields(errors: &[FieldError]) -> Self {
        let message = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        let mut e = Self::new(StatusCode::BAD_REQUEST, "invalid_field", message);
        for f in errors {
            e.fields
                .entry(f.field.clone())
                .or_insert_with(|| f.message.clone());
        }
        e
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is larger than {limit} bytes"),
        )
    }

    pub fn unavailable(message: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message);
        e.retry_after_secs = Some(retry_after_secs);
        e
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many events for this integration key; retry after the given seconds",
        );
        e.retry_after_secs = Some(retry_after_secs);
        e
    }

    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }

    pub fn from_parse(e: ParseError) -> Self {
        match e {
            ParseError::Malformed(m) => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("the body is not valid JSON: {m}"),
            ),
            ParseError::Invalid(errors) => Self::fields(&errors),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::Invalid { field, message } => ApiError::field(&field, message),
            StoreError::Rejected(r) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", r.to_string())
            }
            StoreError::Backend(m) => ApiError::internal("store failed", m),
        }
    }
}

fn retry_after(resp: &mut Response, secs: Option<u64>) {
    if let Some(s) = secs
        && let Ok(v) = HeaderValue::from_str(&s.max(1).to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                fields: self.fields,
            },
        };
        let mut resp = (self.status, Json(body)).into_response();
        retry_after(&mut resp, self.retry_after_secs);
        resp
    }
}

/// PagerDuty Events API v2's error body.
#[derive(Debug)]
pub struct PdError {
    pub status: StatusCode,
    pub pd_status: &'static str,
    pub message: String,
    pub errors: Vec<String>,
    pub retry_after_secs: Option<u64>,
}

impl PdError {
    pub fn invalid(errors: Vec<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            pd_status: "invalid event",
            message: "Event object is invalid".into(),
            errors,
            retry_after_secs: None,
        }
    }

    pub fn from_parse(e: ParseError) -> Self {
        match e {
            ParseError::Malformed(m) => Self {
                status: StatusCode::BAD_REQUEST,
                pd_status: "Unrecognized object",
                message: "Event object format is unrecognized".into(),
                errors: vec![format!("JSON parse error: {m}")],
                retry_after_secs: None,
            },
            ParseError::Invalid(errors) => {
                Self::invalid(errors.iter().map(ToString::to_string).collect())
            }
        }
    }

    pub fn too_large(limit: usize) -> Self {
        Self {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            pd_status: "invalid event",
            message: "Request body is too large".into(),
            errors: vec![format!("the event must be at most {limit} bytes")],
            retry_after_secs: None,
        }
    }

    pub fn from_body(e: crate::body::BodyError) -> Self {
        match e {
            crate::body::BodyError::TooLarge(limit) => Self::too_large(limit),
            crate::body::BodyError::Incomplete => Self {
                status: StatusCode::REQUEST_TIMEOUT,
                pd_status: "invalid event",
                message: "The request body did not arrive in time".into(),
                errors: vec!["incomplete request body".into()],
                retry_after_secs: None,
            },
        }
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            pd_status: "throttle event",
            message: "Requests for this service are arriving too quickly. Please retry later."
                .into(),
            errors: vec!["Request limit exceeded for this routing key".into()],
            retry_after_secs: Some(retry_after_secs),
        }
    }

    pub fn unavailable(message: &str, retry_after_secs: u64) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            pd_status: "unavailable",
            message: message.to_owned(),
            errors: vec![message.to_owned()],
            retry_after_secs: Some(retry_after_secs),
        }
    }

    pub fn internal() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            pd_status: "error",
            message: "The event could not be stored; retry".into(),
            errors: vec!["internal error".into()],
            retry_after_secs: None,
        }
    }
}

impl IntoResponse for PdError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "status": self.pd_status,
            "message": self.message,
            "errors": self.errors,
        });
        let mut resp = (self.status, Json(body)).into_response();
        retry_after(&mut resp, self.retry_after_secs);
        resp
    }
}
