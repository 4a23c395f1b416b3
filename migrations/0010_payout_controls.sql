-- Payout controls: who did what, and the new-account wait.
--
-- Journal entries keep who issued the command that posted them (the actor stamped on the
-- event), for statements and the journal export.  Entries projected before this migration
-- have none until the journal read model is rebuilt (creator-ledger projections rebuild).
ALTER TABLE journal_entries ADD COLUMN actor text;

-- The creators read model keeps when each creator's current payout account was linked: a
-- first payout to a newly linked or changed account waits LEDGER_NEW_ACCOUNT_HOLD_DAYS days.
-- The value is derived from the events, so the entities read model is forgotten here and
-- rebuilt from the events by the next catch-up (no creator keeps an unknown link time).
ALTER TABLE creators ADD COLUMN payout_account_linked_at timestamptz;
DELETE FROM funds;
DELETE FROM programs;
DELETE FROM periods;
DELETE FROM creators;
DELETE FROM creator_holds;
DELETE FROM creator_contracts;
DELETE FROM agreements;
DELETE FROM claim_items;
DELETE FROM projection_tracking WHERE name = 'entities';

-- The audit read model (its own tracking position, so it is built from the first event):
-- one row per command (every event written under one idempotency key by one actor), what
-- kinds of events it wrote, and the creators its events name.
CREATE TABLE audit_entries (
    audit_id text PRIMARY KEY,
    first_position bigint NOT NULL,       -- notification id of its first event: the order
    last_position bigint NOT NULL,
    recorded_at timestamptz NOT NULL,
    last_recorded_at timestamptz NOT NULL,
    actor text NOT NULL,
    command text NOT NULL,
    idempotency_key text NOT NULL,
    run_id text,
    events integer NOT NULL,
    result text                           -- JSON: the command's first result, if it has one
);
CREATE UNIQUE INDEX audit_entries_position ON audit_entries (first_position);
CREATE INDEX audit_entries_run ON audit_entries (run_id, first_position);
CREATE INDEX audit_entries_recorded ON audit_entries (recorded_at, first_position);

CREATE TABLE audit_effects (
    audit_id text NOT NULL,
    kind text NOT NULL,                   -- e.g. Payout.Paid
    events integer NOT NULL,
    PRIMARY KEY (audit_id, kind)
);

CREATE TABLE audit_creators (
    creator_id text NOT NULL,
    audit_id text NOT NULL,
    PRIMARY KEY (creator_id, audit_id)
);
