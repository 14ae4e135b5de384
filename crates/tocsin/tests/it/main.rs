//! Tocsin's integration tests: the whole server started as `tocsin serve` starts it (real SQLite
//! file or PostgreSQL database, real HTTP on 127.0.0.1, manual clock), driven through its public
//! surface. One binary, so linking stays fast.

mod api;
mod browser;
mod cli;
mod crash;
mod delivery;
mod escalation;
mod ingest;
mod maintenance;
mod monitors;
mod paging;
mod peers;
mod people;
mod postgres;
mod schedules;
mod status;
mod support;
mod ui;
mod ui_edit;
mod ui_monitors;
mod verification;
