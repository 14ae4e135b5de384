-- Tocsin's schema on PostgreSQL, equivalent to SQLite's migrations 0001-0012 (the PostgreSQL
-- backend started from their sum). Timestamps are epoch milliseconds (BIGINT); ids are text;
-- JSON documents are stored as text, as on SQLite. Names that SQLite compares with
-- COLLATE NOCASE are unique here by lower(name), and looked up and sorted the same way.

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_email ON users (lower(email));

CREATE TABLE teams (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX teams_name ON teams (lower(name));

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
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);

CREATE TABLE setup_tokens (
    token_hash TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

CREATE TABLE services (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    team_id TEXT REFERENCES teams(id) ON DELETE SET NULL,
    escalation_policy_id TEXT,
    created_at BIGINT NOT NULL,
    -- An acknowledgement not followed by a resolution within this many minutes triggers the
    -- incident again (optional).
    ack_timeout_minutes BIGINT
);
CREATE UNIQUE INDEX services_name ON services (lower(name));

CREATE TABLE integrations (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,
    rate_per_second BIGINT,
    rate_burst BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX integrations_service ON integrations (service_id);

CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    number BIGINT NOT NULL UNIQUE,
    service_id TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    integration_id TEXT,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    urgency TEXT NOT NULL,
    severity TEXT NOT NULL,
    dedup_key TEXT,
    group_key TEXT,
    alert_count BIGINT NOT NULL,
    open_alerts BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    acknowledged_at BIGINT,
    resolved_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX incidents_status_number ON incidents (status, number);
CREATE INDEX incidents_service_number ON incidents (service_id, number);
CREATE INDEX incidents_open_group ON incidents (integration_id, group_key)
    WHERE status <> 'resolved' AND group_key IS NOT NULL;

-- Incident numbers are handed out from this row (gap-free, as on SQLite): its row lock orders
-- the transactions that open incidents.
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('incident_number', 0);

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
    detected_at BIGINT,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    occurrences BIGINT NOT NULL,
    resolved_at BIGINT
);
-- One open alert per (integration, dedup key): the dedup scope of Events API v2.
CREATE UNIQUE INDEX alerts_open_key ON alerts (integration_id, dedup_key) WHERE status = 'open';
CREATE INDEX alerts_incident ON alerts (incident_id);

CREATE TABLE timeline (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id TEXT,
    service_id TEXT,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    actor_id TEXT,
    actor_name TEXT NOT NULL,
    channel TEXT,
    message TEXT NOT NULL,
    data TEXT
);
CREATE INDEX timeline_incident ON timeline (incident_id, seq) WHERE incident_id IS NOT NULL;
CREATE INDEX timeline_service ON timeline (service_id, seq);

CREATE TABLE change_events (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    integration_id TEXT NOT NULL,
    summary TEXT NOT NULL,
    source TEXT,
    "timestamp" BIGINT NOT NULL,
    custom_details TEXT,
    links TEXT,
    received_at BIGINT NOT NULL
);
CREATE INDEX change_events_service ON change_events (service_id, "timestamp");

CREATE TABLE schedules (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    -- JSON: layers and overrides as the API takes them, validated by tocsin_core::schedule.
    spec TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX schedules_name ON schedules (lower(name));

CREATE TABLE escalation_policies (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    repeat BIGINT NOT NULL,
    -- JSON levels, validated by tocsin_core::escalation::Policy before they are stored.
    levels TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX escalation_policies_name ON escalation_policies (lower(name));

-- Which users and schedules each policy names, so that deleting one can be refused by a query.
CREATE TABLE escalation_policy_refs (
    policy_id TEXT NOT NULL REFERENCES escalation_policies(id) ON DELETE CASCADE,
    ref_type TEXT NOT NULL,
    ref_id TEXT NOT NULL,
    PRIMARY KEY (policy_id, ref_type, ref_id)
);
CREATE INDEX escalation_policy_refs_target ON escalation_policy_refs (ref_type, ref_id);

CREATE TABLE contact_methods (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    address TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    -- NULL until verified; phone numbers need a code, other kinds are verified on creation.
    verified_at BIGINT,
    created_at BIGINT NOT NULL,
    -- The verification code's hash, its expiry, and how many wrong guesses were made.
    verify_code_hash TEXT,
    verify_expires_at BIGINT,
    verify_attempts BIGINT NOT NULL DEFAULT 0,
    UNIQUE (user_id, type, address)
);

CREATE TABLE notification_rules (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    contact_method_id TEXT NOT NULL REFERENCES contact_methods(id) ON DELETE CASCADE,
    delay_minutes BIGINT NOT NULL,
    -- NULL: both urgencies.
    urgency TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX notification_rules_user ON notification_rules (user_id, delay_minutes);

-- Due work of the engine: one escalation per paging incident, and the notification outbox.
-- Both are claimed with a lease (claimed_by, claimed_until) through FOR UPDATE SKIP LOCKED, so
-- that several nodes never take the same step and a crashed node's work is taken over once its
-- lease runs out. priority: 1 for high urgency (and meta-alerts to admins), 0 for low; the high
-- lane is claimed first.
CREATE TABLE escalations (
    incident_id TEXT PRIMARY KEY REFERENCES incidents(id) ON DELETE CASCADE,
    policy_id TEXT NOT NULL,
    -- The cursor of the last step taken (NULL before the first).
    level BIGINT,
    round BIGINT,
    step BIGINT,
    -- When the next step is due; NULL when nothing is pending (acknowledged, resolved, exhausted).
    due_at BIGINT,
    claimed_by TEXT,
    claimed_until BIGINT,
    -- A level a human asked for (0-based): the next step notifies it instead of the next in turn.
    manual_level BIGINT,
    -- Armed by an acknowledgement on a service with an acknowledgement timeout.
    ack_timeout_at BIGINT,
    priority BIGINT NOT NULL DEFAULT 0,
    -- A person a human reassigned the incident to: the next step pages them.
    reassign_to TEXT
);
CREATE INDEX escalations_lane ON escalations (priority, due_at) WHERE due_at IS NOT NULL;
CREATE INDEX escalations_ack_timeout ON escalations (ack_timeout_at) WHERE ack_timeout_at IS NOT NULL;

CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    -- Stable per (incident, step, user, contact method, delay): a repeat is dropped, never re-sent.
    idempotency_key TEXT NOT NULL UNIQUE,
    incident_id TEXT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    contact_method_id TEXT NOT NULL,
    step BIGINT NOT NULL,
    -- queued → sending → sent | failed; cancelled when the incident is acknowledged or resolved.
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    due_at BIGINT NOT NULL,
    claimed_by TEXT,
    claimed_until BIGINT,
    last_error TEXT,
    provider_id TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT,
    -- Acknowledge links are single-use: when one was used.
    link_used_at BIGINT,
    priority BIGINT NOT NULL DEFAULT 0,
    -- Postponed to a send slot reserved in the destination's budget.
    reserved BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX notifications_lane ON notifications (priority, due_at) WHERE state = 'queued';
CREATE INDEX notifications_sending ON notifications (claimed_until) WHERE state = 'sending';
CREATE INDEX notifications_incident ON notifications (incident_id, created_at);

-- Calendar feeds (ICS) behind unguessable URLs: one token per schedule or user.
CREATE TABLE feed_tokens (
    token TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (kind, target_id)
);

-- Shift hand-off notices ("you are on call from 09:00"), sent once per shift.
CREATE TABLE handoff_notices (
    schedule_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    shift_start BIGINT NOT NULL,
    sent_at BIGINT NOT NULL,
    PRIMARY KEY (schedule_id, user_id, shift_start)
);
