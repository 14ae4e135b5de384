-- Monitors: built-in checks (http, tcp, …) and heartbeats (Healthchecks' pings). Each raises and
-- resolves its own alert (one dedup key per monitor) through an integration of type `monitor`
-- on its service, so its incidents page like any other.
CREATE TABLE monitors (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    integration_id TEXT NOT NULL REFERENCES integrations(id),
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    -- The check's options (JSON), per type.
    config TEXT NOT NULL,
    -- Active checks: the cadence and the faster one while failing; heartbeats: NULL.
    interval_ms INTEGER,
    retry_interval_ms INTEGER,
    -- JSON: false-alarm thresholds.
    thresholds TEXT NOT NULL,
    -- JSON: the core's Heartbeat or Verdict.
    state TEXT NOT NULL,
    -- SHA-256 of a heartbeat's ping token (the token is shown once, in its ping URL).
    ping_token_hash TEXT UNIQUE,
    -- The next check (active) or deadline (heartbeat); NULL when nothing is due (paused).
    due_at INTEGER,
    claimed_by TEXT,
    claimed_until INTEGER,
    last_result_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX monitors_due ON monitors(due_at) WHERE due_at IS NOT NULL;
CREATE INDEX monitors_service ON monitors(service_id);

-- Every check result and ping, compactly.
CREATE TABLE monitor_results (
    monitor_id TEXT NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    -- Check latency, or a finished run's duration (from its /start).
    latency_ms INTEGER,
    message TEXT NOT NULL,
    -- A ping's body (bounded), kept as the run's log.
    log TEXT
);
CREATE INDEX monitor_results_at ON monitor_results(monitor_id, at);
