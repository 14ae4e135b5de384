//! `/ui/events`: the live-event bus as Server-Sent Events, for signed-in browsers. Each event
//! names only what changed (`incident` with its id); the page then fetches its own fragment, so
//! what a person sees is always rendered by the same code and checked by the same session.
//! A stream that falls behind the bus gets `resync` (refresh everything); streams end when the
//! server begins to shut down, so they never hold a graceful stop.
//!
//! Monitors are checked thousands of times a minute, each batch a `MonitorsChecked` on the bus:
//! a stream turns them into at most one `monitors` event per [`MONITORS_EVENT_EVERY`] (the
//! first at once, the ones after it held until that much time has passed, then one for all), so
//! a monitors page refreshes about once a second however busy the checkers are.
//! Every event carries data: browsers drop an event whose data is empty.

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
use tokio::time::Instant;

/// A comment line this often keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How often a quiet stream checks whether the server is shutting down.
const SHUTDOWN_CHECK: Duration = Duration::from_secs(1);
/// What a browser waits before reconnecting after the stream ends.
const RETRY: Duration = Duration::from_secs(2);
/// At most one `monitors` event per stream this often.
pub const MONITORS_EVENT_EVERY: Duration = Duration::from_secs(1);

/// One stream's state: the bus, and the monitors event it owes.
struct Listener {
    s: Arc<AppState>,
    rx: tokio::sync::broadcast::Receiver<LiveEvent>,
    /// When this stream last sent `monitors`.
    monitors_sent: Option<Instant>,
    /// Monitors were checked since then.
    monitors_owed: bool,
}

impl Listener {
    /// When the owed `monitors` event may go (`now` when none went yet): `None` when none is
    /// owed.
    fn monitors_due(&self, now: Instant) -> Option<Instant> {
        self.monitors_owed
            .then(|| self.monitors_sent.map_or(now, |t| t + MONITORS_EVENT_EVERY))
    }

    async fn next(&mut self) -> Option<Event> {
        loop {
            if self.s.shutting_down.load(Ordering::SeqCst) {
                return None;
            }
            let now = Instant::now();
            let wait = match self.monitors_due(now) {
                Some(due) if due <= now => {
                    self.monitors_owed = false;
                    self.monitors_sent = Some(now);
                    return Some(Event::default().event("monitors").data("checked"));
                }
                Some(due) => (due - now).min(SHUTDOWN_CHECK),
                None => SHUTDOWN_CHECK,
            };
            return Some(match tokio::time::timeout(wait, self.rx.recv()).await {
                Err(_) => continue,
                Ok(Ok(LiveEvent::IncidentChanged { id })) => {
                    Event::default().event("incident").data(id.0)
                }
                Ok(Ok(LiveEvent::ServiceChanged { id })) => {
                    Event::default().event("service").data(id.0)
                }
                Ok(Ok(LiveEvent::MonitorsChecked)) => {
                    self.monitors_owed = true;
                    continue;
                }
                #[allow(unreachable_patterns)]
                Ok(Ok(_)) => continue,
                Ok(Err(RecvError::Lagged(_))) => Event::default().event("resync").data("all"),
                Ok(Err(RecvError::Closed)) => return None,
            });
        }
    }
}

pub async fn events(
    State(s): State<Arc<AppState>>,
    _me: Signed,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, UiError> {
    let listener = Listener {
        rx: s.live.subscribe(),
        s,
        monitors_sent: None,
        monitors_owed: false,
    };
    let first = Event::default().retry(RETRY).comment("live");
    let stream = stream::once(async move { Ok(first) })
        .chain(stream::unfold(listener, |mut l| async move {
            l.next().await.map(|e| (Ok(e), l))
        }));
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}
