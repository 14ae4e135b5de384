//! PostgreSQL's LISTEN/NOTIFY as a bus between nodes: short text messages published on one
//! channel reach every node listening to it. It carries wake-ups and live-event names only, never
//! facts (those are in the tables), and it loses messages while a listener is disconnected, so a
//! listener is told when it reconnected and must look at the database again.

use super::PgStore;
use crate::{Result, StoreError};
use sqlx::postgres::PgListener;

/// The channel every node publishes on and listens to.
pub const CHANNEL: &str = "tocsin_live";
/// PostgreSQL refuses payloads of 8000 bytes or more; messages stay well below.
pub const MESSAGE_BYTES_MAX: usize = 7_000;
/// Messages sent in one statement (one round trip, one transaction).
pub const MESSAGES_PER_PUBLISH_MAX: usize = 256;

/// Publishes on the channel through the store's pool.
#[derive(Clone)]
pub struct Bus {
    store: PgStore,
}

/// What a listener heard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Heard {
    Message(String),
    /// The connection was lost and is being made again: messages sent meanwhile are lost.
    Reconnected,
}

/// A node's subscription, on a connection it holds while it listens.
pub struct Listener {
    bus: Bus,
    /// `None` after an error: the next call listens on a new connection.
    inner: Option<PgListener>,
}

impl PgStore {
    /// The bus between the nodes on this database.
    pub fn bus(&self) -> Bus {
        Bus {
            store: self.clone(),
        }
    }
}

impl Bus {
    /// Sends each message to every listening node (this one's listener too), in one statement.
    /// Messages longer than `MESSAGE_BYTES_MAX` are refused.
    pub async fn publish(&self, messages: &[String]) -> Result<()> {
        for chunk in messages.chunks(MESSAGES_PER_PUBLISH_MAX) {
            if let Some(m) = chunk.iter().find(|m| m.len() > MESSAGE_BYTES_MAX) {
                return Err(StoreError::Invalid {
                    field: "message".into(),
                    message: format!("{} bytes, more than {MESSAGE_BYTES_MAX}", m.len()),
                });
            }
            // Wake-ups only (the facts are in the database, committed durably by whoever
            // changed them): the statement's own commit need not wait for its WAL to reach the
            // disk, so a publish costs no fsync wait beside every ingest batch's.
            sqlx::query(
                "SELECT pg_notify($1, m)
                 FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async,
                   unnest($2::text[]) AS m",
            )
            .bind(CHANNEL)
            .bind(chunk)
            .execute(&self.store.pool)
            .await?;
        }
        Ok(())
    }

    /// Starts listening on a connection of its own.
    pub async fn listen(&self) -> Result<Listener> {
        Ok(Listener {
            bus: self.clone(),
            inner: Some(self.connect().await?),
        })
    }

    async fn connect(&self) -> Result<PgListener> {
        // It holds one of the pool's connections while it lives (and fails once the pool is
        // closed, so closing the store never waits for it).
        let mut inner = PgListener::connect_with(&self.store.pool).await?;
        inner.listen(CHANNEL).await?;
        Ok(inner)
    }
}

impl Listener {
    /// The next message, or `Reconnected` once a lost connection has been made again and
    /// listens again (messages sent meanwhile are lost). An error (the server ended the session,
    /// or reconnecting failed) means: wait a little and call again.
    pub async fn next(&mut self) -> Result<Heard> {
        let Some(inner) = &mut self.inner else {
            self.inner = Some(self.bus.connect().await?);
            return Ok(Heard::Reconnected);
        };
        match inner.try_recv().await {
            Ok(Some(n)) => Ok(Heard::Message(n.payload().to_owned())),
            Ok(None) => Ok(Heard::Reconnected),
            Err(e) => {
                // Whatever broke, the next call starts over on a new connection.
                self.inner = None;
                Err(e.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn next(l: &mut Listener) -> Result<Heard> {
        tokio::time::timeout(Duration::from_secs(10), l.next())
            .await
            .expect("heard something within 10 s")
    }

    #[tokio::test]
    async fn a_listener_hears_every_node_and_says_when_it_listens_again() {
        let Some(db) = crate::contract::pg_store("notify_reconnect").await else {
            return;
        };
        let bus = db.store.bus();
        let mut l = bus.listen().await.unwrap();
        bus.publish(&["a".into(), "b".into()]).await.unwrap();
        db.store.bus().publish(&["c".into()]).await.unwrap();
        for m in ["a", "b", "c"] {
            assert_eq!(next(&mut l).await.unwrap(), Heard::Message(m.into()));
        }
        // The server ends the listening session (a restart, a failover): the listener says
        // so once it listens again, and hears what comes after.
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        )
        .execute(&db.store.pool)
        .await
        .unwrap();
        let mut errors = 0;
        loop {
            match next(&mut l).await {
                Ok(Heard::Reconnected) => break,
                Ok(Heard::Message(m)) => panic!("a message from nowhere: {m}"),
                Err(_) if errors < 3 => errors += 1,
                Err(e) => panic!("still failing: {e}"),
            }
        }
        bus.publish(&["d".into()]).await.unwrap();
        assert_eq!(next(&mut l).await.unwrap(), Heard::Message("d".into()));
        let long = "x".repeat(MESSAGE_BYTES_MAX + 1);
        assert!(matches!(
            bus.publish(&[long]).await,
            Err(StoreError::Invalid { .. })
        ));
    }
}
