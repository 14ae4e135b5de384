-- The incidents list's text search through an index instead of reading every title: a pg_trgm
-- GIN index on lower(title), which serves the `lower(title) LIKE '%word%'` that
-- `list_incidents` writes for each word of three characters or more (what matches does not
-- change). pg_trgm ships with PostgreSQL (Debian: postgresql-NN, its contrib modules) and is a
-- trusted extension (PostgreSQL 13+), so a role that may create objects in the database can
-- install it. When it cannot be installed, the migration still succeeds and search reads titles
-- one by one, as before: docs/postgresql.md says how to add the index later.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'pg_trgm could not be installed (%): the incidents search works without an index', SQLERRM;
END
$$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX IF NOT EXISTS incidents_title_trgm ON incidents USING gin (lower(title) gin_trgm_ops);
    END IF;
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'the trigram index of incident titles could not be made (%): the incidents search works without it', SQLERRM;
END
$$;
