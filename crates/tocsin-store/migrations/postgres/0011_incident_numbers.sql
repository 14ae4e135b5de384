-- Incident numbers come from a sequence instead of the `counters` row, so that transactions
-- opening incidents (several ingest batches of one node, several nodes) no longer wait for each
-- other's commit on that row. Numbers stay unique and rise over time; a transaction that rolls
-- back (an error, or one run again after a deadlock) leaves its number unused, as sequences do.
CREATE SEQUENCE incident_numbers AS BIGINT;
SELECT setval('incident_numbers', GREATEST(
    (SELECT COALESCE(MAX(value), 0) FROM counters WHERE name = 'incident_number'),
    (SELECT COALESCE(MAX(number), 0) FROM incidents)) + 1, false);

-- Nodes of the previous release, still running during a rolling upgrade, number incidents by
-- adding one to the `counters` row: this trigger hands them the sequence's next value instead,
-- so that both releases draw from one sequence.
CREATE FUNCTION counters_from_sequence() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.name = 'incident_number' THEN
        NEW.value := nextval('incident_numbers');
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER counters_from_sequence BEFORE UPDATE ON counters
    FOR EACH ROW EXECUTE FUNCTION counters_from_sequence();
