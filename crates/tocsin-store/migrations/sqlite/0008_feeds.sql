-- Calendar feeds (ICS) behind unguessable URLs: one token per schedule or user.
CREATE TABLE feed_tokens (
    token TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (kind, target_id)
);
