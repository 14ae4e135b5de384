-- The public status page: its components (each reflects a service or a monitor), public
-- incidents with their updates, maintenance windows (which also hold paging back on their
-- services while active), subscribers, and the page's settings.
CREATE TABLE status_components (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    group_name TEXT NOT NULL DEFAULT '',
    service_id TEXT REFERENCES services(id) ON DELETE CASCADE,
    monitor_id TEXT REFERENCES monitors(id) ON DELETE CASCADE,
    position INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    CHECK ((service_id IS NULL) <> (monitor_id IS NULL))
);

CREATE TABLE status_incidents (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    -- investigating | identified | monitoring | resolved: the latest update's.
    stage TEXT NOT NULL,
    -- The Tocsin incident it is about, if any (kept private).
    incident_id TEXT REFERENCES incidents(id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    resolved_at INTEGER
);
CREATE INDEX status_incidents_open ON status_incidents(created_at) WHERE resolved_at IS NULL;

CREATE TABLE status_updates (
    id TEXT PRIMARY KEY,
    status_incident_id TEXT NOT NULL REFERENCES status_incidents(id) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    message TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX status_updates_incident ON status_updates(status_incident_id, at);
CREATE INDEX status_updates_at ON status_updates(at);

CREATE TABLE maintenance_windows (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    CHECK (starts_at < ends_at)
);
CREATE INDEX maintenance_windows_ends ON maintenance_windows(ends_at);

CREATE TABLE maintenance_services (
    window_id TEXT NOT NULL REFERENCES maintenance_windows(id) ON DELETE CASCADE,
    service_id TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    PRIMARY KEY (window_id, service_id)
);
CREATE INDEX maintenance_services_service ON maintenance_services(service_id);

CREATE TABLE status_subscribers (
    id TEXT PRIMARY KEY,
    -- email | webhook
    kind TEXT NOT NULL,
    address TEXT NOT NULL,
    -- SHA-256 of the double opt-in token (emails, until confirmed) and of the unsubscribe token.
    confirm_token_hash TEXT UNIQUE,
    unsubscribe_token_hash TEXT NOT NULL UNIQUE,
    confirmed_at INTEGER,
    created_at INTEGER NOT NULL,
    UNIQUE (kind, address)
);

CREATE TABLE status_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    title TEXT NOT NULL,
    logo_url TEXT
);
