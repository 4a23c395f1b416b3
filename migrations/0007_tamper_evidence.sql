-- Tamper evidence: a hash chain over the stored events, and a seal on every snapshot.
--
-- Every stored event gets a seal: SHA-256(seal of the previous event || the event's stored
-- bytes), in notification id order; the first follows 32 zero bytes.  The bytes are
--   int8send(notification_id) || uuid_send(originator_id) || int8send(originator_version)
--   || int8send(length of topic in UTF-8) || topic in UTF-8 || int8send(length of state) || state
-- (the same encoding as creator_ledger.domain.seals, which `creator-ledger verify` uses).
--
-- The seals are written by a statement-level AFTER INSERT trigger, whatever inserts the
-- events (the library's INSERT ... SELECT FROM unnest, or a stored function): it walks the
-- statement's new rows in notification id order from the last seal.  That order is the
-- commit order because every writer holds the EXCLUSIVE lock on ledger_events until it
-- commits (ledger_append_events takes it before inserting); the trigger takes it too, a no-op for
-- such a writer, so a writer that did not is serialised here (or stopped by deadlock
-- detection) rather than fork the chain.
--
-- Snapshots get a seal each (SHA-256 of their stored bytes), so a changed snapshot is never
-- loaded: the ledger loads the aggregate from its events instead.  Snapshots and both seal
-- tables are immutable like the events.
--
-- The functions run as their owner (the role that migrates: SECURITY DEFINER), with the
-- search path pinned to this schema, so the application's role needs no write privilege on
-- the seal tables (it reads them).  Existing events and snapshots are sealed here (the backfill), under
-- the same lock.

LOCK TABLE ledger_events IN EXCLUSIVE MODE;

CREATE TABLE ledger_event_seals (
    notification_id bigint PRIMARY KEY,
    seal bytea NOT NULL CHECK (octet_length(seal) = 32)
);

CREATE TABLE ledger_snapshot_seals (
    originator_id uuid NOT NULL,
    originator_version bigint NOT NULL,
    seal bytea NOT NULL CHECK (octet_length(seal) = 32),
    PRIMARY KEY (originator_id, originator_version)
);

-- The sealed bytes of a stored event (after its notification id) or of a snapshot, in the one
-- encoding above: one definition for the triggers and the backfill.
CREATE FUNCTION ledger_sealed_bytes(originator_id uuid, originator_version bigint, topic text,
                                    state bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $body$
    SELECT uuid_send(originator_id) || int8send(originator_version)
           || int8send(octet_length(convert_to(coalesce(topic, ''), 'UTF8'))::bigint)
           || convert_to(coalesce(topic, ''), 'UTF8')
           || int8send(coalesce(octet_length(state), 0)::bigint)
           || coalesce(state, '\x'::bytea)
$body$;

-- Seals one statement's new events, in notification id order, after the last seal.
CREATE FUNCTION ledger_seal_events() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $body$
DECLARE
    previous bytea;
    ids bigint[] := '{}';
    seals bytea[] := '{}';
    r record;
BEGIN
    LOCK TABLE ledger_events IN EXCLUSIVE MODE;
    SELECT seal INTO previous FROM ledger_event_seals ORDER BY notification_id DESC LIMIT 1;
    previous := coalesce(previous, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
    FOR r IN
        SELECT n.notification_id,
               int8send(n.notification_id)
               || ledger_sealed_bytes(n.originator_id, n.originator_version, n.topic, n.state)
               AS data
        FROM new_events n ORDER BY n.notification_id
    LOOP
        previous := sha256(previous || r.data);
        ids := ids || r.notification_id;
        seals := seals || previous;
    END LOOP;
    INSERT INTO ledger_event_seals (notification_id, seal) SELECT * FROM unnest(ids, seals);
    RETURN NULL;
END;
$body$;

CREATE FUNCTION ledger_seal_snapshots() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $body$
BEGIN
    INSERT INTO ledger_snapshot_seals (originator_id, originator_version, seal)
    SELECT n.originator_id, n.originator_version,
           sha256(ledger_sealed_bytes(n.originator_id, n.originator_version, n.topic, n.state))
    FROM new_snapshots n;
    RETURN NULL;
END;
$body$;

-- Pin the search path of both to this schema (the one `migrate` runs in).
DO $pin$
BEGIN
    EXECUTE format('ALTER FUNCTION ledger_seal_events() SET search_path = %I, pg_temp',
                   current_schema());
    EXECUTE format('ALTER FUNCTION ledger_seal_snapshots() SET search_path = %I, pg_temp',
                   current_schema());
END;
$pin$;
REVOKE ALL ON FUNCTION ledger_seal_events() FROM PUBLIC;
REVOKE ALL ON FUNCTION ledger_seal_snapshots() FROM PUBLIC;

CREATE TRIGGER ledger_events_sealed
    AFTER INSERT ON ledger_events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_seal_events();

CREATE TRIGGER ledger_snapshots_sealed
    AFTER INSERT ON ledger_snapshots
    REFERENCING NEW TABLE AS new_snapshots
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_seal_snapshots();

-- Immutable: snapshots and both seal tables refuse UPDATE, DELETE and TRUNCATE.
CREATE TRIGGER ledger_snapshots_no_update_or_delete
    BEFORE UPDATE OR DELETE ON ledger_snapshots
    FOR EACH ROW EXECUTE FUNCTION ledger_events_are_immutable();
CREATE TRIGGER ledger_snapshots_no_truncate
    BEFORE TRUNCATE ON ledger_snapshots
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_events_are_immutable();
CREATE TRIGGER ledger_event_seals_no_update_or_delete
    BEFORE UPDATE OR DELETE ON ledger_event_seals
    FOR EACH ROW EXECUTE FUNCTION ledger_events_are_immutable();
CREATE TRIGGER ledger_event_seals_no_truncate
    BEFORE TRUNCATE ON ledger_event_seals
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_events_are_immutable();
CREATE TRIGGER ledger_snapshot_seals_no_update_or_delete
    BEFORE UPDATE OR DELETE ON ledger_snapshot_seals
    FOR EACH ROW EXECUTE FUNCTION ledger_events_are_immutable();
CREATE TRIGGER ledger_snapshot_seals_no_truncate
    BEFORE TRUNCATE ON ledger_snapshot_seals
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_events_are_immutable();

-- The backfill: seal the events and snapshots stored before this migration, in order.
DO $backfill$
DECLARE
    previous bytea := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
    ids bigint[] := '{}';
    seals bytea[] := '{}';
    r record;
BEGIN
    FOR r IN
        SELECT e.notification_id,
               int8send(e.notification_id)
               || ledger_sealed_bytes(e.originator_id, e.originator_version, e.topic, e.state)
               AS data
        FROM ledger_events e ORDER BY e.notification_id
    LOOP
        previous := sha256(previous || r.data);
        ids := ids || r.notification_id;
        seals := seals || previous;
    END LOOP;
    INSERT INTO ledger_event_seals (notification_id, seal) SELECT * FROM unnest(ids, seals);
END;
$backfill$;

INSERT INTO ledger_snapshot_seals (originator_id, originator_version, seal)
SELECT s.originator_id, s.originator_version,
       sha256(ledger_sealed_bytes(s.originator_id, s.originator_version, s.topic, s.state))
FROM ledger_snapshots s;
