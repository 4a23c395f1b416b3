-- Stored events are written by one function, ledger_append_events, owned by the role that runs
-- `creator-ledger migrate`; the application role is only allowed to EXECUTE it (and to read
-- the events), so it never needs, nor gets, any privilege that could change a stored event
-- (see `creator-ledger migrate --app-role`).
--
-- Why a function: the library's insert (psycopg pipeline mode) took the events table's
-- EXCLUSIVE lock, then hung with the client in Pipeline.sync and the server in ClientRead
-- for a large usage report (100,000 rows or more), the lock held, every other writer timing
-- out (issue 11 item 2, issue 9 item 3).  One call of this function is one statement: the
-- server has the whole of its arguments before it takes the lock, and holds it only for the
-- insert.  And PostgreSQL 15 grants LOCK TABLE ... IN EXCLUSIVE MODE only to a role with
-- UPDATE, DELETE or TRUNCATE on the table, which the application role must not have: the
-- function takes the lock with its owner's rights (SECURITY DEFINER).
--
-- As the library does: the EXCLUSIVE lock until commit (so notification ids follow commit
-- order: the projections read them in order and never skip a late commit), one NOTIFY on the
-- library's channel (the worker LISTENs on it), and the rows inserted in the order given.
-- A duplicate (originator_id, originator_version) raises unique_violation: the caller's
-- optimistic-concurrency conflict.  The caller bounds lock_timeout and statement_timeout.

CREATE FUNCTION ledger_append_events(
    ids uuid[], versions bigint[], topics text[], states bytea[]
) RETURNS SETOF bigint
LANGUAGE plpgsql
SECURITY DEFINER
AS $body$
BEGIN
    IF cardinality(ids) IS DISTINCT FROM cardinality(versions)
        OR cardinality(ids) IS DISTINCT FROM cardinality(topics)
        OR cardinality(ids) IS DISTINCT FROM cardinality(states) THEN
        RAISE EXCEPTION 'ledger_append_events: % ids, % versions, % topics, % states',
            cardinality(ids), cardinality(versions), cardinality(topics), cardinality(states)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF coalesce(cardinality(ids), 0) = 0 THEN
        RETURN;
    END IF;
    LOCK TABLE ledger_events IN EXCLUSIVE MODE;
    NOTIFY ledger_events;
    RETURN QUERY
        INSERT INTO ledger_events (originator_id, originator_version, topic, state)
        SELECT e.id, e.version, e.topic, e.state
        FROM unnest(ids, versions, topics, states) WITH ORDINALITY AS e(id, version, topic, state, n)
        ORDER BY e.n
        RETURNING notification_id;
END;
$body$;

REVOKE ALL ON FUNCTION ledger_append_events(uuid[], bigint[], text[], bytea[]) FROM PUBLIC;

-- A SECURITY DEFINER function runs with its own search path: the ledger's schema (the one
-- `migrate` puts first, LEDGER_POSTGRES_SCHEMA), then pg_temp last, so no caller's object
-- can stand in for the ledger's.
DO $pin$
BEGIN
    EXECUTE format(
        'ALTER FUNCTION ledger_append_events(uuid[], bigint[], text[], bytea[])'
        ' SET search_path = %I, pg_temp',
        current_schema()
    );
END;
$pin$;
