-- An admin can deactivate a person instead of deleting them (their history stays): NULL while
-- active. A deactivated person cannot sign in, their sessions are ended, their API tokens are
-- refused and escalations skip them.
ALTER TABLE users ADD COLUMN deactivated_at INTEGER;
