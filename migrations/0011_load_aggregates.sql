-- The aggregates one command needs, loaded in one call: ledger_load_aggregates(ids, known,
-- snapshots) returns, for each id in order,
--   * when known[i] < 0 (not in the caller's memory) and snapshots is true, its latest
--     snapshot with the snapshot's seal (snapshot = true; seal NULL if it has none), then its
--     events from the snapshot's own version on (the caller uses a snapshot only if its seal
--     holds and the event of its version exists: a snapshot can never make an aggregate claim
--     a version it has not reached);
--   * otherwise its events after known[i] (from the first when known[i] < 0), in version order.
--
-- Why a function (issue 9, W2): the same reads as one SQL statement (a lateral join for the
-- snapshots, a UNION ALL with the events) cost 0.4-0.7 ms to plan on every call, because
-- PostgreSQL keeps re-planning it (its generic plan is a poor one, ~10 ms), where the reads
-- themselves take 0.07 ms.  PL/pgSQL caches the plans of these two index probes, which are good
-- generic plans: the whole call plans and runs in about 0.1 ms.
--
-- It runs with the caller's rights (it only reads what the application role may read) and
-- the ledger's schema pinned as its search path, as ledger_append_events.

CREATE FUNCTION ledger_load_aggregates(ids uuid[], known bigint[], snapshots boolean)
RETURNS TABLE (id uuid, version bigint, topic text, state bytea, snapshot boolean, seal bytea)
LANGUAGE plpgsql
STABLE
AS $body$
DECLARE
    v_after bigint;
    v_snap record;
BEGIN
    IF cardinality(ids) IS DISTINCT FROM cardinality(known) THEN
        RAISE EXCEPTION 'ledger_load_aggregates: % ids, % known versions',
            cardinality(ids), cardinality(known)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR i IN 1 .. coalesce(cardinality(ids), 0) LOOP
        v_after := known[i];
        IF v_after < 0 THEN
            v_after := 0;
            IF snapshots THEN
                SELECT x.originator_version, x.topic, x.state, z.seal INTO v_snap
                FROM ledger_snapshots x
                LEFT JOIN ledger_snapshot_seals z
                    ON z.originator_id = x.originator_id
                    AND z.originator_version = x.originator_version
                WHERE x.originator_id = ids[i]
                ORDER BY x.originator_version DESC
                LIMIT 1;
                IF FOUND THEN
                    id := ids[i];
                    version := v_snap.originator_version;
                    topic := v_snap.topic;
                    state := v_snap.state;
                    snapshot := true;
                    seal := v_snap.seal;
                    RETURN NEXT;
                    v_after := v_snap.originator_version - 1;
                END IF;
            END IF;
        END IF;
        RETURN QUERY
            SELECT e.originator_id, e.originator_version, e.topic, e.state, false, NULL::bytea
            FROM ledger_events e
            WHERE e.originator_id = ids[i] AND e.originator_version > v_after
            ORDER BY e.originator_version;
    END LOOP;
END;
$body$;

REVOKE ALL ON FUNCTION ledger_load_aggregates(uuid[], bigint[], boolean) FROM PUBLIC;

DO $pin$
BEGIN
    EXECUTE format(
        'ALTER FUNCTION ledger_load_aggregates(uuid[], bigint[], boolean)'
        ' SET search_path = %I, pg_temp',
        current_schema()
    );
END;
$pin$;
