-- A batch of triggers that all open new incidents (a sender of new problems, one event a
-- request) is written in one statement without an explicit transaction (pg_ingest.rs,
-- `apply_new`). That statement calls this function first: it takes the batch's advisory locks
-- (as a transaction of the usual path does), then, with a snapshot taken after them, checks
-- that none of the alerts is open and none of the services in a maintenance window between
-- `from_ms` and `until_ms`. Being VOLATILE and plpgsql, its queries see what committed while it
-- waited for a lock, which the calling statement's own snapshot would not.
CREATE FUNCTION ingest_new_batch_allowed(
    locks TEXT[], integrations TEXT[], dedup_keys TEXT[], services TEXT[],
    from_ms BIGINT, until_ms BIGINT
) RETURNS BOOLEAN LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(k) FROM (
        SELECT DISTINCT hashtextextended(key, 0) AS k FROM unnest(locks) AS key ORDER BY 1
    ) AS keys;
    RETURN NOT EXISTS (
        SELECT 1 FROM unnest(integrations, dedup_keys) AS k(integration_id, dedup_key)
        CROSS JOIN LATERAL (
            SELECT 1 FROM alerts a
            WHERE a.integration_id = k.integration_id AND a.dedup_key = k.dedup_key
              AND a.status = 'open'
            LIMIT 1
        ) AS open
    ) AND NOT EXISTS (
        SELECT 1 FROM maintenance_services m
        JOIN maintenance_windows w ON w.id = m.window_id
        WHERE m.service_id = ANY(services) AND w.starts_at <= until_ms AND w.ends_at > from_ms
    );
END
$$;
