-- Acknowledge links are single-use: when one was used.
ALTER TABLE notifications ADD COLUMN link_used_at INTEGER;
