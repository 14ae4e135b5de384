-- Due work of the engine: one escalation per paging incident, and the notification outbox.
-- Both are claimed with a lease (claimed_by, claimed_until), so that a crashed node's work is
-- taken over once its lease runs out, and several nodes never take the same step.

CREATE TABLE escalations (
    incident_id TEXT PRIMARY KEY REFERENCES incidents(id) ON DELETE CASCADE,
    policy_id TEXT NOT NULL,
    -- The cursor of the last step taken (NULL before the first).
    level INTEGER,
    round INTEGER,
    step INTEGER,
    -- When the next step is due; NULL when nothing is pending (acknowledged, resolved, exhausted).
    due_at INTEGER,
    claimed_by TEXT,
    claimed_until INTEGER
);
CREATE INDEX escalations_due ON escalations(due_at) WHERE due_at IS NOT NULL;

CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    -- Stable per (incident, step, user, contact method): a repeat is dropped, never re-sent.
    idempotency_key TEXT NOT NULL UNIQUE,
    incident_id TEXT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    contact_method_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    -- queued → sending → sent | failed; cancelled when the incident is acknowledged or resolved.
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at INTEGER NOT NULL,
    claimed_by TEXT,
    claimed_until INTEGER,
    last_error TEXT,
    provider_id TEXT,
    created_at INTEGER NOT NULL,
    sent_at INTEGER
);
CREATE INDEX notifications_due ON notifications(due_at) WHERE state = 'queued';
CREATE INDEX notifications_incident ON notifications(incident_id, created_at);
