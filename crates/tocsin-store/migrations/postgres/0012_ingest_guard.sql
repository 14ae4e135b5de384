-- What an ingest batch locks and reads before it decides (pg_ingest.rs), as functions, so that
-- the usual path and the one-statement path for new alerts below do the same.

-- Takes transaction-scoped advisory locks on `keys` (an ingest batch's alert and group keys,
-- monitors' alerts), one per distinct key, in hash order so that two transactions never wait
-- for each other crosswise. The usual ingest path and the one below take the same locks
-- through it.
CREATE FUNCTION ingest_lock(keys TEXT[]) RETURNS VOID LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(k) FROM (
        SELECT DISTINCT hashtextextended(key, 0) AS k FROM unnest(keys) AS key ORDER BY 1
    ) AS sorted;
END
$$;

-- The open alerts among (integration, dedup key) pairs. Each key is looked up on its own in
-- `alerts_open_key` (LATERAL ... LIMIT 1): joined as a set, a planner without fresh statistics
-- on a growing table hashes every open alert instead. STABLE and one SELECT: PostgreSQL
-- inlines it into the calling statement.
CREATE FUNCTION ingest_open_alerts(integrations TEXT[], dedup_keys TEXT[])
RETURNS TABLE (integration_id TEXT, dedup_key TEXT) LANGUAGE sql STABLE AS $$
    SELECT k.integration_id, k.dedup_key
    FROM unnest(integrations, dedup_keys) AS k(integration_id, dedup_key)
    CROSS JOIN LATERAL (
        SELECT 1 FROM alerts a
        WHERE a.integration_id = k.integration_id AND a.dedup_key = k.dedup_key
          AND a.status = 'open'
        LIMIT 1
    ) AS open
$$;

-- The services among `service_ids` in a maintenance window at some moment between `from_ms`
-- and `until_ms`.
CREATE FUNCTION ingest_services_in_maintenance(
    service_ids TEXT[], from_ms BIGINT, until_ms BIGINT
) RETURNS TABLE (service_id TEXT) LANGUAGE sql STABLE AS $$
    SELECT DISTINCT m.service_id FROM maintenance_services m
    JOIN maintenance_windows w ON w.id = m.window_id
    WHERE m.service_id = ANY(service_ids) AND w.starts_at <= until_ms AND w.ends_at > from_ms
$$;

-- A batch of triggers that all open new incidents (a sender of new problems, one event a
-- request) is written in one statement without an explicit transaction (`apply_new`). That
-- statement calls this function first: it takes the batch's advisory locks (`ingest_lock`, as
-- a transaction of the usual path does), then, with a snapshot taken after them, checks that
-- none of the alerts is open and none of the services in a maintenance window between
-- `from_ms` and `until_ms`. Being VOLATILE and plpgsql, its queries see what committed while it
-- waited for a lock, which the calling statement's own snapshot would not.
CREATE FUNCTION ingest_new_batch_allowed(
    locks TEXT[], integrations TEXT[], dedup_keys TEXT[], service_ids TEXT[],
    from_ms BIGINT, until_ms BIGINT
) RETURNS BOOLEAN LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM ingest_lock(locks);
    RETURN NOT EXISTS (SELECT 1 FROM ingest_open_alerts(integrations, dedup_keys))
        AND NOT EXISTS (
            SELECT 1 FROM ingest_services_in_maintenance(service_ids, from_ms, until_ms)
        );
END
$$;
