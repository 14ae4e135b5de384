//! Tocsin's domain core: the words of the glossary as types, and the pure decisions made on them
//! (alert deduplication, incident lifecycle, rate budgets, wire-format parsing).
//! Nothing here performs I/O or reads a clock: time always comes in as an argument.

pub mod cadence;
pub mod contact;
pub mod dedup;
pub mod escalation;
pub mod formats;
pub mod ids;
pub mod incident;
pub mod limits;
pub mod model;
pub mod monitor;
pub mod rate;
pub mod schedule;
pub mod status;

pub use ids::*;
pub use jiff::Timestamp;
pub use model::*;
