//! Request bodies read with a size limit and parsed into typed values, with errors in the
//! contract's shape that name the offending field.

use crate::error::ApiError;
use axum::body::{Body, Bytes};
use serde::de::DeserializeOwned;

/// How long a sender may take to send its body: a slow client must not hold a slot forever.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Over the limit (the limit in bytes): 413.
    TooLarge(usize),
    /// Not sent within `BODY_READ_TIMEOUT`, or the connection broke: 408.
    Incomplete,
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge(limit) => ApiError::too_large(limit),
            BodyError::Incomplete => ApiError::new(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                "body_incomplete",
                "the request body did not arrive in time",
            ),
        }
    }
}

/// Reads at most `limit` bytes within the read timeout.
pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    match tokio::time::timeout(BODY_READ_TIMEOUT, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => {
            // `to_bytes` reports the limit as a length-limit error in its source chain.
            let over = std::error::Error::source(&e)
                .is_some_and(|s| s.to_string().contains("length limit"));
            if over || e.to_string().contains("length limit") {
                Err(BodyError::TooLarge(limit))
            } else {
                Err(BodyError::Incomplete)
            }
        }
        Err(_) => Err(BodyError::Incomplete),
    }
}

/// Deserialises JSON, naming the field that failed.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = inner.to_string();
        // "missing field `name` at line 1 column 2": the path is the parent; name the field.
        let field = match msg
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
        {
            Some(f) if path == "." => f.to_owned(),
            Some(f) => format!("{path}.{f}"),
            None if path == "." => String::new(),
            None => path,
        };
        let why = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("the body is not valid JSON: {msg}"),
            )
        } else if field.is_empty() {
            ApiError::bad_request(why)
        } else {
            ApiError::field(&field, why)
        }
    })
}

/// A JSON body for the REST API, bounded by `API_BODY_BYTES_MAX`.
pub struct JsonBody<T>(pub T);

/// Reads and parses a REST API body (bounded by `API_BODY_BYTES_MAX`); an empty body reads as
/// `{}`. Handlers that must authorise before looking at the body call this themselves.
pub async fn json_body<T: DeserializeOwned>(body: Body) -> Result<T, ApiError> {
    let bytes = read_limited(body, tocsin_core::limits::API_BODY_BYTES_MAX).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        parse_json(b"{}")
    } else {
        parse_json(&bytes)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, _: &S) -> Result<Self, Self::Rejection> {
        json_body(req.into_body()).await.map(JsonBody)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct S {
        name: String,
        inner: Option<I>,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct I {
        n: u32,
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse_json::<S>(br#"{}"#).unwrap_err();
        assert!(e.fields.contains_key("name"), "{e:?}");
        let e = parse_json::<S>(br#"{"name": 3}"#).unwrap_err();
        assert!(e.fields.contains_key("name"), "{e:?}");
        let e = parse_json::<S>(br#"{"name": "x", "inner": {"n": "x"}}"#).unwrap_err();
        assert!(e.fields.contains_key("inner.n"), "{e:?}");
        let e = parse_json::<S>(br#"{"name": "x", "inner": {}}"#).unwrap_err();
        assert!(e.fields.contains_key("inner.n"), "{e:?}");
        let e = parse_json::<S>(br#"{"name""#).unwrap_err();
        assert_eq!(e.code, "invalid_json");
    }
}
