//! What every form of the UI shares: the posted fields (repeated names included, for multiple
//! choices), the CSRF check, and errors shown next to the field they name. Validation is never
//! done here: forms hand their values to the same functions as the REST API, and the
//! `ApiError` those return (its field map) becomes the messages beside the fields.

use super::{Signed, UiError};
use crate::error::ApiError;
use axum::extract::Form;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use std::collections::BTreeMap;

/// A posted form, as its name/value pairs in order.
pub struct Posted(Vec<(String, String)>);

impl Posted {
    /// Reads the form and refuses it unless it carries this session's CSRF token and comes
    /// from this site. Nothing else is looked at before this passes.
    pub fn checked(
        me: &Signed,
        headers: &HeaderMap,
        form: Result<Form<Vec<(String, String)>>, FormRejection>,
    ) -> Result<Self, UiError> {
        let Form(pairs) = form.map_err(|_| UiError::Csrf)?;
        let posted = Posted(pairs);
        me.check_form(headers, posted.get("csrf"))?;
        Ok(posted)
    }

    /// The first value of `name`, trimmed; empty when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.trim())
    }

    /// The value of `name`, or `None` when absent or blank.
    pub fn opt(&self, name: &str) -> Option<String> {
        Some(self.get(name))
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    /// Every non-blank value of `name` (a multiple select, checkboxes).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
            .collect()
    }

    /// Whether the form has a field `name` at all (a ticked checkbox, the button pressed).
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

/// Why a form was not accepted: messages by field, and one for the whole form.
#[derive(Default)]
pub struct Errors {
    pub general: Option<String>,
    fields: BTreeMap<String, String>,
    /// The answer's status when not 400 (a conflict with what is stored, a provider that
    /// refused).
    status: Option<StatusCode>,
}

impl Errors {
    pub fn none() -> Self {
        Self::default()
    }

    /// One field's message.
    pub fn field(field: &str, why: impl Into<String>) -> Self {
        let mut e = Self::default();
        e.fields.insert(field.to_owned(), capital(&why.into()));
        e
    }

    /// An API error as a form's errors; an error that is not about the form's values (a
    /// missing role, a failure inside) stays an error page.
    pub fn from_api(e: ApiError) -> Result<Self, UiError> {
        match e.status {
            StatusCode::FORBIDDEN => return Err(UiError::Forbidden(capital(&e.message))),
            // A provider that refused a message: the person should read why.
            StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE => {}
            s if s.is_server_error() => return Err(UiError::Internal),
            _ => {}
        }
        let mut out = Self {
            status: Some(e.status)
                .filter(|s| *s != StatusCode::BAD_REQUEST && *s != StatusCode::NOT_FOUND),
            ..Self::default()
        };
        if e.fields.is_empty() {
            out.general = Some(capital(&e.message));
        }
        for (k, v) in e.fields {
            out.fields.insert(k, capital(&v));
        }
        Ok(out)
    }

    /// The message for a field, if any.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }

    /// Messages for every field whose name starts with `prefix` (`levels[2]`), joined.
    pub fn under(&self, prefix: &str) -> Option<String> {
        let found: Vec<&str> = self
            .fields
            .iter()
            .filter(|(k, _)| {
                k.strip_prefix(prefix)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
            })
            .map(|(_, v)| v.as_str())
            .collect();
        (!found.is_empty()).then(|| found.join(" "))
    }

    /// The status of the page that shows the form again with these errors.
    pub fn status(&self) -> StatusCode {
        self.status.unwrap_or(StatusCode::BAD_REQUEST)
    }

    /// The form's page, shown again with these errors.
    pub fn respond(&self, mut page: Response) -> Response {
        *page.status_mut() = self.status();
        page
    }

    /// Renders the page of a form: with this status when there are errors, 200 otherwise.
    pub fn page(&self, page: &impl askama::Template) -> Result<Response, UiError> {
        let resp = super::html(page)?;
        Ok(if self.is_empty() {
            resp
        } else {
            self.respond(resp)
        })
    }

    pub fn is_empty(&self) -> bool {
        self.general.is_none() && self.fields.is_empty()
    }

    /// Fields the form does not show: their messages go to the top of the form.
    pub fn keep_only(mut self, shown: &[&str]) -> Self {
        let hidden: Vec<String> = self
            .fields
            .keys()
            .filter(|k| {
                !shown.iter().any(|s| {
                    k == s || k.starts_with(&format!("{s}[")) || k.starts_with(&format!("{s}."))
                })
            })
            .cloned()
            .collect();
        for k in hidden {
            if let Some(v) = self.fields.remove(&k) {
                let line = format!("{k}: {v}");
                self.general = Some(match self.general.take() {
                    Some(g) => format!("{g} {line}"),
                    None => line,
                });
            }
        }
        self
    }
}

/// A message as a sentence: capital first letter, final full stop.
fn capital(s: &str) -> String {
    let s = s.trim();
    let mut out: String = s
        .chars()
        .next()
        .map(|c| c.to_uppercase().chain(s.chars().skip(1)).collect())
        .unwrap_or_default();
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_land_next_to_their_fields() {
        let e = Errors::from_api(ApiError::field("name", "must not be empty")).unwrap();
        assert_eq!(e.get("name"), Some("Must not be empty."));
        assert!(e.general.is_none());
        let e =
            Errors::from_api(ApiError::field("levels[1].targets", "must have 1 to 10")).unwrap();
        assert_eq!(e.get("levels[1].targets"), Some("Must have 1 to 10."));
        assert_eq!(e.under("levels[1]").as_deref(), Some("Must have 1 to 10."));
        assert_eq!(e.under("levels[10]"), None);
        let e = Errors::from_api(ApiError::field("team_id", "no such team"))
            .unwrap()
            .keep_only(&["name"]);
        assert_eq!(e.general.as_deref(), Some("team_id: No such team."));
        assert!(matches!(
            Errors::from_api(ApiError::forbidden("no")),
            Err(UiError::Forbidden(_))
        ));
    }
}
