//! `/ui/events`: the live-event bus as Server-Sent Events, for signed-in browsers. Each event
//! names only what changed (`incident` with its id); the page then fetches its own fragment, so
//! what a person sees is always rendered by the same code and checked by the same session.
//! A stream that falls behind the bus gets `resync` (refresh everything); streams end when the
//! server begins to shut down, so they never hold a graceful stop.

use super::{Signed, UiError};
use crate::AppState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::StreamExt;
use futures_util::stream::{self, Stream};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tocsin_engine::LiveEvent;
use tokio::sync::broadcast::error::RecvError;

/// A comment line this often keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How often a quiet stream checks whether the server is shutting down.
const SHUTDOWN_CHECK: Duration = Duration::from_secs(1);
/// What a browser waits before reconnecting after the stream ends.
const RETRY: Duration = Duration::from_secs(2);

pub async fn events(
    State(s): State<Arc<AppState>>,
    _me: Signed,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, UiError> {
    let rx = s.live.subscribe();
    let first = Event::default().retry(RETRY).comment("live");
    let stream = stream::once(async move { Ok(first) }).chain(stream::unfold(
        (s, rx),
        |(s, mut rx)| async move {
            loop {
                if s.shutting_down.load(Ordering::SeqCst) {
                    return None;
                }
                let event = match tokio::time::timeout(SHUTDOWN_CHECK, rx.recv()).await {
                    Err(_) => continue,
                    Ok(Ok(LiveEvent::IncidentChanged { id })) => {
                        Event::default().event("incident").data(id.0)
                    }
                    Ok(Ok(LiveEvent::ServiceChanged { id })) => {
                        Event::default().event("service").data(id.0)
                    }
                    #[allow(unreachable_patterns)]
                    Ok(Ok(_)) => continue,
                    Ok(Err(RecvError::Lagged(_))) => Event::default().event("resync").data(""),
                    Ok(Err(RecvError::Closed)) => return None,
                };
                return Some((Ok(event), (s, rx)));
            }
        },
    ));
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}
