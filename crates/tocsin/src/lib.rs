//! The `tocsin` binary's library half: configuration, choosing the store, wiring the engine and
//! the HTTP layer, and graceful shutdown. Tests start the whole server through `server::start`
//! exactly as `tocsin serve` does.

pub mod bridge;
pub mod config;
pub mod server;
