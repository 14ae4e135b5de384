-- Incidents' titles reach the search index (`incidents_search`, 0022) in bulk instead of one
-- commit at a time: a trigger per incident made every ingest commit write a new FTS5 segment,
-- which cost a third of single-event ingestion. `indexed_through` is the highest incident
-- number the index holds, every lower one included; ingestion indexes the newer ones together
-- once there are `SEARCH_BACKLOG_MAX` of them, and a search reads the newer ones itself.
CREATE TABLE incidents_search_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_through INTEGER NOT NULL
);
INSERT INTO incidents_search_state (id, indexed_through)
    SELECT 1, COALESCE(MAX(number), 0) FROM incidents;

DROP TRIGGER incidents_search_insert;
DROP TRIGGER incidents_search_update;
DROP TRIGGER incidents_search_delete;
-- Changes to an incident the index already holds; a newer one is indexed as it is then.
CREATE TRIGGER incidents_search_update AFTER UPDATE OF number, title ON incidents
WHEN old.number <= (SELECT indexed_through FROM incidents_search_state) BEGIN
    DELETE FROM incidents_search WHERE rowid = old.number;
    INSERT INTO incidents_search (rowid, title_trigrams) VALUES (new.number, new.title);
END;
CREATE TRIGGER incidents_search_delete AFTER DELETE ON incidents
WHEN old.number <= (SELECT indexed_through FROM incidents_search_state) BEGIN
    DELETE FROM incidents_search WHERE rowid = old.number;
END;
