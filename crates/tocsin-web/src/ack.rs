//! Acknowledge links from notifications: `GET /ack/{token}` shows a confirmation page (link
//! scanners in mail and chat follow GETs, and must not acknowledge), `POST /ack/{token}`
//! acknowledges as the notified person, once. The signed token is the authority; ntfy's action
//! button POSTs with an empty body, which works too.

use crate::AppState;
use crate::setup::{escape, page, same_origin};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use std::sync::Arc;
use tocsin_core::Channel;
use tocsin_engine::links::LinkError;
use tocsin_store::StoreError;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/ack/{token}", get(confirm).post(acknowledge))
}

fn refused(e: LinkError) -> Response {
    let why = match e {
        LinkError::Expired => {
            "This acknowledge link has expired. Open the incident in Tocsin instead."
        }
        LinkError::Malformed | LinkError::BadSignature => "This is not a valid acknowledge link.",
    };
    page(
        StatusCode::NOT_FOUND,
        "Link not valid",
        &format!("<p>{why}</p>"),
    )
}

fn failed(e: StoreError) -> Response {
    match e {
        StoreError::NotFound(_) => page(
            StatusCode::NOT_FOUND,
            "Link not valid",
            "<p>This link names nothing.</p>",
        ),
        StoreError::Conflict(m) => page(
            StatusCode::CONFLICT,
            "Link already used",
            &format!("<p>{}.</p>", escape(&m)),
        ),
        StoreError::Rejected(r) => page(
            StatusCode::CONFLICT,
            "Already resolved",
            &format!("<p>{}.</p>", escape(&r.to_string())),
        ),
        other => {
            tracing::error!(error = %other, "acknowledge link failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error",
                "<p>Internal error; see the server log.</p>",
            )
        }
    }
}

async fn confirm(State(s): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    let id = match s.config.links.verify_ack(&token, s.clock.now()) {
        Ok(id) => id,
        Err(e) => return refused(e),
    };
    let target = match s.store.notification_link(&id).await {
        Ok(t) => t,
        Err(e) => return failed(e),
    };
    let inc = &target.incident;
    let body = if target.used {
        "<p>This link was already used.</p>".to_owned()
    } else {
        format!(
            r#"<p><strong>#{} {}</strong><br>{} · {} urgency · {}</p>
<p>Acknowledge as {}? This stops escalation: you take the incident.</p>
<form method="post"><button type="submit">Acknowledge</button></form>"#,
            inc.number,
            escape(&inc.title),
            inc.status,
            inc.urgency,
            inc.created_at,
            escape(&target.user_name),
        )
    };
    page(StatusCode::OK, "Acknowledge incident", &body)
}

async fn acknowledge(
    State(s): State<Arc<AppState>>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !same_origin(&headers) {
        return page(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "<p>Cross-site form submission refused.</p>",
        );
    }
    let id = match s.config.links.verify_ack(&token, s.clock.now()) {
        Ok(id) => id,
        Err(e) => return refused(e),
    };
    match s.store.acknowledge_by_link(&id, s.clock.now()).await {
        Ok(inc) => {
            let _ = s
                .live
                .send(tocsin_engine::LiveEvent::IncidentChanged { id: inc.id.clone() });
            tracing::info!(incident = inc.number, channel = %Channel::Link, "acknowledged by link");
            page(
                StatusCode::OK,
                "Acknowledged",
                &format!(
                    "<p>#{} {} is {}. Escalation has stopped.</p>",
                    inc.number,
                    escape(&inc.title),
                    inc.status
                ),
            )
        }
        Err(e) => failed(e),
    }
}
