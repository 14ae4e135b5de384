//! Tocsin's driver: the clock, the group-committing ingestor, and the live-event bus.
//! It decides nothing itself (the core does) and holds no SQL (the store does); it sequences
//! work, batches it, and tells the rest of the process what changed.

pub mod checks;
pub mod clock;
pub mod dispatcher;
pub mod escalator;
pub mod handoffs;
pub mod housekeeping;
pub mod ingest;
pub mod lease;
pub mod links;
pub mod monitors;
pub mod politeness;
pub mod preview;
pub mod reach;
mod wake;

pub use clock::{Clock, ManualClock, SystemClock};
pub use dispatcher::Dispatcher;
pub use escalator::Escalator;
pub use ingest::{IngestError, Ingestor, IngestorConfig};

use tocsin_core::{IncidentId, ServiceId};

/// Something changed that live views (SSE) and other nodes may care about.
#[derive(Clone, Debug, PartialEq)]
pub enum LiveEvent {
    IncidentChanged {
        id: IncidentId,
    },
    ServiceChanged {
        id: ServiceId,
    },
    /// Monitors were checked (their incidents may have changed). Also "look again" after
    /// events were missed.
    MonitorsChecked,
    /// Escalation steps queued notifications: the dispatchers look for due pages. (An incident's
    /// change alone does not wake them: ingestion changes incidents all the time.)
    PagesQueued,
}

/// How many live events a slow subscriber may lag behind before it must reload.
pub const LIVE_EVENTS_BUFFERED_MAX: usize = 4096;
