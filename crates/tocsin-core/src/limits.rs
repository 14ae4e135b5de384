//! Named limits on everything that comes in from outside. Each says why it has the value it has.

/// PagerDuty's documented cap on a whole Events API v2 request; Alertmanager enforces 512,000
/// bytes client-side, so a little more head-room keeps every real sender within it.
pub const INGEST_BODY_BYTES_MAX: usize = 512 * 1024;
/// Bodies of the REST API are small documents; nothing legitimate comes close.
pub const API_BODY_BYTES_MAX: usize = 256 * 1024;
/// PagerDuty's limit on `payload.summary`.
pub const SUMMARY_CHARS_MAX: usize = 1024;
/// PagerDuty's limit on `dedup_key`.
pub const DEDUP_KEY_CHARS_MAX: usize = 255;
/// Free-text fields (source, component, group, class, client): generous, but bounded.
pub const SHORT_TEXT_CHARS_MAX: usize = 1024;
/// Links and images attached to one event.
pub const ATTACHMENTS_MAX: usize = 50;
/// An Alertmanager notification carries one group; `max_alerts` is unbounded upstream.
pub const ALERTMANAGER_ALERTS_MAX: usize = 1000;
/// A note on an incident.
pub const NOTE_CHARS_MAX: usize = 10_000;
/// Names of services, teams, users, tokens, integrations.
pub const NAME_CHARS_MAX: usize = 200;
/// Descriptions of services and teams.
pub const DESCRIPTION_CHARS_MAX: usize = 4_000;
/// Page size of list endpoints.
pub const PAGE_LIMIT_MAX: u32 = 100;
pub const PAGE_LIMIT_DEFAULT: u32 = 25;
