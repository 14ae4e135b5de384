//! How the engine's claiming loops (dispatcher, monitor runner) wait when nothing is due.

use crate::LiveEvent;
use std::time::Duration;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{Notify, broadcast, watch};

/// Waits until a loop should look for due work again: `sleep` has passed, its recorder
/// finished a batch (`recorded`), or a live event that `wakes` accepts came (a burst counts
/// once; missed events always wake). Returns false when the loop should stop instead: `stop`
/// changed or the bus closed.
pub(crate) async fn idle(
    sleep: Duration,
    recorded: &Notify,
    live: &mut broadcast::Receiver<LiveEvent>,
    stop: &mut watch::Receiver<bool>,
    wakes: fn(&LiveEvent) -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + sleep;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => return true,
            () = recorded.notified() => return true,
            r = live.recv() => {
                let mut wake = match r {
                    Ok(e) => wakes(&e),
                    Err(RecvError::Lagged(_)) => true,
                    Err(RecvError::Closed) => return false,
                };
                loop {
                    match live.try_recv() {
                        Ok(e) => wake |= wakes(&e),
                        Err(TryRecvError::Lagged(_)) => wake = true,
                        Err(_) => break,
                    }
                }
                if wake {
                    return true;
                }
            }
            _ = stop.changed() => return false,
        }
    }
}
