-- Web UI sessions. The browser holds a random token in an HttpOnly cookie; only its SHA-256 is
-- stored, so a copy of the database signs nobody in. A session ends at sign-out, at a password
-- change (the user's other sessions), or when unused until `expires_at`.
CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id, created_at);
