-- The response pillar's configuration: schedules, escalation policies, and how each person
-- is reached.

CREATE TABLE schedules (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    time_zone TEXT NOT NULL,
    -- JSON: layers and overrides as the API takes them, validated by tocsin_core::schedule.
    spec TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE escalation_policies (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    description TEXT NOT NULL DEFAULT '',
    repeat INTEGER NOT NULL,
    -- JSON: [{"delay_minutes": n, "targets": [{"type": "user"|"schedule"|"round_robin", ...}]}],
    -- validated by tocsin_core::escalation::Policy before it is stored.
    levels TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Which users and schedules each policy names, so that deleting one can be refused by a query.
CREATE TABLE escalation_policy_refs (
    policy_id TEXT NOT NULL REFERENCES escalation_policies(id) ON DELETE CASCADE,
    ref_type TEXT NOT NULL,
    ref_id TEXT NOT NULL,
    PRIMARY KEY (policy_id, ref_type, ref_id)
);
CREATE INDEX escalation_policy_refs_target ON escalation_policy_refs(ref_type, ref_id);

CREATE TABLE contact_methods (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    address TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    -- NULL until verified; phone numbers need a code, other kinds are verified on creation.
    verified_at INTEGER,
    created_at INTEGER NOT NULL,
    UNIQUE (user_id, type, address)
);

CREATE TABLE notification_rules (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    contact_method_id TEXT NOT NULL REFERENCES contact_methods(id) ON DELETE CASCADE,
    delay_minutes INTEGER NOT NULL,
    -- NULL: both urgencies.
    urgency TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX notification_rules_user ON notification_rules(user_id, delay_minutes);
