//! Carries live events between nodes on PostgreSQL (LISTEN/NOTIFY), so that work one node made
//! due wakes the engines of the others at once and browsers on any node see every change. It
//! is started only on PostgreSQL (one SQLite server has nobody to tell) and carries only wake-ups:
//! the facts are in the database, and on a lost connection the engines simply look again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tocsin_core::{IncidentId, ServiceId};
use tocsin_engine::LiveEvent;
use tocsin_store::postgres::notify::{Bus, Heard};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

/// How long the listener waits before trying again after the database refused it.
const LISTEN_RETRY: Duration = Duration::from_secs(1);
/// Distinct events sent in one publish; more wait for the next one.
const EVENTS_PER_PUBLISH_MAX: usize = 256;
/// Separates the sending node's name from the event in a message.
const SEPARATOR: char = '\u{1f}';

/// An event as a short message: `i:<incident>`, `s:<service>`, `m` (monitors checked) or `p`
/// (pages queued).
fn encode(e: &LiveEvent) -> String {
    match e {
        LiveEvent::IncidentChanged { id } => format!("i:{}", id.0),
        LiveEvent::ServiceChanged { id } => format!("s:{}", id.0),
        LiveEvent::MonitorsChecked => "m".to_owned(),
        LiveEvent::PagesQueued => "p".to_owned(),
    }
}

fn decode(s: &str) -> Option<LiveEvent> {
    match s.split_once(':') {
        Some(("i", id)) => Some(LiveEvent::IncidentChanged {
            id: IncidentId(id.to_owned()),
        }),
        Some(("s", id)) => Some(LiveEvent::ServiceChanged {
            id: ServiceId(id.to_owned()),
        }),
        None if s == "m" => Some(LiveEvent::MonitorsChecked),
        None if s == "p" => Some(LiveEvent::PagesQueued),
        _ => None,
    }
}

/// Events this node received from others and put on its own bus, not yet seen by the
/// forwarder (which must not send them back out): a count per event, since the bus delivers
/// in order and an equal local event needs forwarding only once anyway.
#[derive(Default)]
struct Echoes(Mutex<HashMap<String, usize>>);

impl Echoes {
    fn add(&self, key: &str) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(key.to_owned()).or_default() += 1;
    }

    /// True when `key` was one of ours to drop (and counts it off).
    fn take(&self, key: &str) -> bool {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match m.get_mut(key) {
            Some(n) if *n > 1 => {
                *n -= 1;
                true
            }
            Some(_) => {
                m.remove(key);
                true
            }
            None => false,
        }
    }

    fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// Starts the two halves: a forwarder (this node's live events out to the others) and a
/// listener (theirs into this node's bus). Both stop when `stop` turns true.
pub fn start(
    bus: Bus,
    live: broadcast::Sender<LiveEvent>,
    node: String,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let echoes = Arc::new(Echoes::default());
    let forwarding = tokio::spawn(forward(
        bus.clone(),
        live.subscribe(),
        node.clone(),
        echoes.clone(),
        stop.clone(),
    ));
    let listening = tokio::spawn(listen(bus, live, node, echoes, stop));
    tokio::spawn(async move {
        let _ = forwarding.await;
        let _ = listening.await;
    })
}

async fn forward(
    bus: Bus,
    mut rx: broadcast::Receiver<LiveEvent>,
    node: String,
    echoes: Arc<Echoes>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let first = tokio::select! {
            r = rx.recv() => r,
            _ = stop.changed() => return,
        };
        // Everything already waiting goes out in the same publish, each distinct event once.
        let mut batch: Vec<String> = Vec::new();
        let mut next = Some(first);
        while let Some(r) = next.take() {
            match r {
                Ok(e) => {
                    let key = encode(&e);
                    if !echoes.take(&key) && !batch.contains(&key) {
                        batch.push(key);
                    }
                }
                // Behind: some events (echoes among them) are gone. Tell the others to look
                // again, and forget the echoes, whose events may never come.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    echoes.clear();
                    batch.push(encode(&LiveEvent::MonitorsChecked));
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
            if batch.len() < EVENTS_PER_PUBLISH_MAX {
                next = match rx.try_recv() {
                    Ok(e) => Some(Ok(e)),
                    Err(broadcast::error::TryRecvError::Lagged(n)) => {
                        Some(Err(broadcast::error::RecvError::Lagged(n)))
                    }
                    Err(_) => None,
                };
            }
        }
        if batch.is_empty() {
            continue;
        }
        let messages: Vec<String> = batch
            .iter()
            .map(|k| format!("{node}{SEPARATOR}{k}"))
            .collect();
        if let Err(e) = bus.publish(&messages).await {
            // The others still find the work at their next pass (at least every second).
            tracing::warn!(error = %e, "could not tell the other nodes about changes");
        }
    }
}

async fn listen(
    bus: Bus,
    live: broadcast::Sender<LiveEvent>,
    node: String,
    echoes: Arc<Echoes>,
    mut stop: watch::Receiver<bool>,
) {
    let mut listener = None;
    loop {
        if *stop.borrow() {
            return;
        }
        let heard = match &mut listener {
            None => match bus.listen().await {
                Ok(l) => {
                    listener = Some(l);
                    // Anything sent before we listened is lost: look again.
                    Ok(Heard::Reconnected)
                }
                Err(e) => Err(e),
            },
            Some(l) => tokio::select! {
                h = l.next() => h,
                _ = stop.changed() => return,
            },
        };
        match heard {
            Ok(Heard::Message(m)) => {
                let Some((from, key)) = m.split_once(SEPARATOR) else {
                    continue;
                };
                if from == node {
                    continue;
                }
                if let Some(e) = decode(key) {
                    echoes.add(key);
                    if live.send(e).is_err() {
                        // Nobody on this node listens: nothing will take the echo off.
                        echoes.take(key);
                    }
                }
            }
            Ok(Heard::Reconnected) => {
                // Messages were lost while disconnected: wake the engines, which look at the
                // database again. `MonitorsChecked` is the event that says only "look again".
                let key = encode(&LiveEvent::MonitorsChecked);
                echoes.add(&key);
                if live.send(LiveEvent::MonitorsChecked).is_err() {
                    echoes.take(&key);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "listening to the other nodes failed; trying again");
                listener = None;
                tokio::select! {
                    () = tokio::time::sleep(LISTEN_RETRY) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_the_trip() {
        for e in [
            LiveEvent::IncidentChanged {
                id: IncidentId("0190abc".into()),
            },
            LiveEvent::ServiceChanged {
                id: ServiceId("0190def".into()),
            },
            LiveEvent::MonitorsChecked,
            LiveEvent::PagesQueued,
        ] {
            assert_eq!(decode(&encode(&e)), Some(e));
        }
        assert_eq!(decode("x:1"), None);
        assert_eq!(decode(""), None);
    }

    #[test]
    fn an_echo_is_dropped_once() {
        let echoes = Echoes::default();
        echoes.add("i:1");
        echoes.add("i:1");
        assert!(echoes.take("i:1"));
        assert!(echoes.take("i:1"));
        assert!(!echoes.take("i:1"));
        assert!(!echoes.take("s:2"));
    }
}
