-- Tocsin's first schema. Timestamps are epoch milliseconds (INTEGER); ids are text.

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT,
    created_at INTEGER NOT NULL
);

CREATE TABLE teams (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    description TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);

CREATE TABLE team_members (
    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
);

CREATE TABLE setup_tokens (
    token_hash TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);

CREATE TABLE services (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    description TEXT NOT NULL DEFAULT '',
    team_id TEXT REFERENCES teams(id) ON DELETE SET NULL,
    escalation_policy_id TEXT,
    created_at INTEGER NOT NULL
);

CREATE TABLE integrations (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,
    rate_per_second INTEGER,
    rate_burst INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX integrations_service ON integrations(service_id);

CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    number INTEGER NOT NULL UNIQUE,
    service_id TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    integration_id TEXT,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    urgency TEXT NOT NULL,
    severity TEXT NOT NULL,
    dedup_key TEXT,
    group_key TEXT,
    alert_count INTEGER NOT NULL,
    open_alerts INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    acknowledged_at INTEGER,
    resolved_at INTEGER,
    updated_at INTEGER NOT NULL
);
CREATE INDEX incidents_status_number ON incidents(status, number);
CREATE INDEX incidents_service_number ON incidents(service_id, number);
CREATE INDEX incidents_open_group ON incidents(integration_id, group_key)
    WHERE status != 'resolved' AND group_key IS NOT NULL;

CREATE TABLE incident_assignees (
    incident_id TEXT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (incident_id, user_id)
);

CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    integration_id TEXT NOT NULL,
    service_id TEXT NOT NULL,
    incident_id TEXT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    dedup_key TEXT NOT NULL,
    status TEXT NOT NULL,
    summary TEXT NOT NULL,
    source TEXT NOT NULL,
    severity TEXT NOT NULL,
    component TEXT,
    grp TEXT,
    class TEXT,
    custom_details TEXT,
    links TEXT,
    images TEXT,
    client TEXT,
    client_url TEXT,
    detected_at INTEGER,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    occurrences INTEGER NOT NULL,
    resolved_at INTEGER
);
-- One open alert per (integration, dedup key): the dedup scope of Events API v2.
CREATE UNIQUE INDEX alerts_open_key ON alerts(integration_id, dedup_key) WHERE status = 'open';
CREATE INDEX alerts_incident ON alerts(incident_id);

CREATE TABLE timeline (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT,
    service_id TEXT,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    actor_id TEXT,
    actor_name TEXT NOT NULL,
    channel TEXT,
    message TEXT NOT NULL,
    data TEXT
);
CREATE INDEX timeline_incident ON timeline(incident_id, seq) WHERE incident_id IS NOT NULL;
CREATE INDEX timeline_service ON timeline(service_id, seq);

CREATE TABLE change_events (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    integration_id TEXT NOT NULL,
    summary TEXT NOT NULL,
    source TEXT,
    timestamp INTEGER NOT NULL,
    custom_details TEXT,
    links TEXT,
    received_at INTEGER NOT NULL
);
CREATE INDEX change_events_service ON change_events(service_id, timestamp);
