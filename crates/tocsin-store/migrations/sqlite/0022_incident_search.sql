-- The incidents list's text search through an index instead of reading every title: an FTS5
-- table with the trigram tokenizer (case-insensitive), keyed by incident number, kept in step
-- by triggers. Contentless (it holds no copy of the titles); `list_incidents` asks it for the
-- numbers whose titles hold each word of three characters or more, newest first, then checks
-- them with the same `lower(title) LIKE` as before, so what matches does not change.
CREATE VIRTUAL TABLE incidents_search USING fts5(
    title_trigrams,
    content = '',
    contentless_delete = 1,
    tokenize = 'trigram case_sensitive 0'
);
INSERT INTO incidents_search (rowid, title_trigrams) SELECT number, title FROM incidents;

CREATE TRIGGER incidents_search_insert AFTER INSERT ON incidents BEGIN
    INSERT INTO incidents_search (rowid, title_trigrams) VALUES (new.number, new.title);
END;
CREATE TRIGGER incidents_search_update AFTER UPDATE OF number, title ON incidents BEGIN
    DELETE FROM incidents_search WHERE rowid = old.number;
    INSERT INTO incidents_search (rowid, title_trigrams) VALUES (new.number, new.title);
END;
CREATE TRIGGER incidents_search_delete AFTER DELETE ON incidents BEGIN
    DELETE FROM incidents_search WHERE rowid = old.number;
END;
