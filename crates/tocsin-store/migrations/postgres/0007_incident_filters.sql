-- The incidents list's time-range filter (created from / to).
CREATE INDEX incidents_created ON incidents (created_at);
