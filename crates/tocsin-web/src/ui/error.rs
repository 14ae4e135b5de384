//! The UI's one error type: every failure of a page renders here, as an error page (or a bare
//! status for the fragments and the event stream that scripts fetch). Internal details are
//! logged where they happen and never shown.

use super::Chrome;
use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use tocsin_store::StoreError;

#[derive(Debug)]
pub enum UiError {
    /// No session: a page redirects to the sign-in page, which comes back to `next`.
    SignIn {
        next: String,
    },
    /// No session on a fragment or the event stream: the script reloads the page.
    Unauthorized,
    /// The session's role does not allow this.
    Forbidden(String),
    /// A form without this session's CSRF token, or posted from another site.
    Csrf,
    NotFound(&'static str),
    BadRequest(String),
    /// The change conflicts with the current state (already resolved, …).
    Conflict(String),
    TooMany {
        retry_after_secs: u64,
    },
    Internal,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    heading: String,
    message: String,
}

impl From<StoreError> for UiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => UiError::NotFound(what),
            StoreError::Conflict(m) => UiError::Conflict(m),
            StoreError::Rejected(r) => UiError::Conflict(r.to_string()),
            StoreError::Invalid { field, message } => {
                UiError::BadRequest(format!("{field} {message}"))
            }
            StoreError::Backend(m) => {
                tracing::error!(error = %m, "store failed under a UI request");
                UiError::Internal
            }
        }
    }
}

impl UiError {
    fn status(&self) -> StatusCode {
        match self {
            UiError::SignIn { .. } => StatusCode::SEE_OTHER,
            UiError::Unauthorized => StatusCode::UNAUTHORIZED,
            UiError::Forbidden(_) | UiError::Csrf => StatusCode::FORBIDDEN,
            UiError::NotFound(_) => StatusCode::NOT_FOUND,
            UiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            UiError::Conflict(_) => StatusCode::CONFLICT,
            UiError::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
            UiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn words(&self) -> (&'static str, String) {
        match self {
            UiError::SignIn { .. } | UiError::Unauthorized => {
                ("Sign-in needed", "Sign in to see this page.".into())
            }
            UiError::Forbidden(why) => ("Not allowed", why.clone()),
            UiError::Csrf => (
                "Form expired",
                "This form was not sent from this page's session. Go back, reload the page, \
                 and try again."
                    .into(),
            ),
            UiError::NotFound(what) => ("Not found", format!("There is no such {what}.")),
            UiError::BadRequest(why) => ("Not understood", why.clone()),
            UiError::Conflict(why) => ("Not possible now", format!("{why}.")),
            UiError::TooMany { retry_after_secs } => (
                "Too many attempts",
                format!("Wait {retry_after_secs} seconds, then try again."),
            ),
            UiError::Internal => (
                "Something went wrong",
                "Tocsin could not answer; the server log says why.".into(),
            ),
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            UiError::SignIn { next } => {
                let to = format!("/login?next={}", super::format::url_encode(next));
                return Redirect::to(&to).into_response();
            }
            UiError::Unauthorized => return status.into_response(),
            _ => {}
        }
        let (heading, message) = self.words();
        let page = ErrorPage {
            chrome: Chrome::new(heading, "", None),
            heading: heading.into(),
            message,
        };
        let body = page.render().unwrap_or_else(|_| heading.to_owned());
        let mut resp = (status, Html(body)).into_response();
        if let UiError::TooMany { retry_after_secs } = self
            && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}
