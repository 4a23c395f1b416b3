-- Read models: projections of the "ledger" event store, each written in the same transaction
-- as the tracking position of the events it has applied (exactly once).

CREATE TABLE projection_tracking (
    name text PRIMARY KEY,
    notification_id bigint NOT NULL
);

CREATE TABLE journal_entries (
    entry_id bigint PRIMARY KEY,          -- the notification id of the event that posted it
    kind text NOT NULL,
    originator_id uuid NOT NULL,
    originator_version bigint NOT NULL,
    effective_at timestamptz NOT NULL,
    effective_on date NOT NULL,
    recorded_at timestamptz NOT NULL,
    description text NOT NULL
);
CREATE INDEX journal_entries_effective_on ON journal_entries (effective_on, entry_id);

CREATE TABLE postings (
    entry_id bigint NOT NULL,
    seq integer NOT NULL,
    kind text NOT NULL,
    owner text NOT NULL,
    currency char(3) NOT NULL,
    amount_minor bigint NOT NULL,
    effective_on date NOT NULL,
    balance_after bigint NOT NULL,        -- running balance of the account in effective order
    detail text,                          -- JSON: why (views, share, instalment, item ...)
    PRIMARY KEY (entry_id, seq)
);
CREATE INDEX postings_account_effective
    ON postings (owner, kind, currency, effective_on, entry_id, seq) INCLUDE (balance_after);

CREATE TABLE balances (
    kind text NOT NULL,
    owner text NOT NULL,
    currency char(3) NOT NULL,
    balance_minor bigint NOT NULL,
    last_effective_on date NOT NULL,
    PRIMARY KEY (owner, kind, currency)
);
CREATE INDEX balances_kind ON balances (kind, currency);

CREATE TABLE funds (
    fund_id uuid PRIMARY KEY,
    fund_key text NOT NULL UNIQUE,
    name text NOT NULL,
    currency char(3) NOT NULL
);

CREATE TABLE programs (
    program_id uuid PRIMARY KEY,
    program_key text NOT NULL UNIQUE,
    name text NOT NULL,
    fund_id uuid NOT NULL,
    currency char(3) NOT NULL,
    rule_kind text NOT NULL,
    rule_version integer NOT NULL,
    rule text NOT NULL
);

CREATE TABLE periods (
    period_id uuid PRIMARY KEY,
    program_id uuid NOT NULL,
    period_key text NOT NULL,
    starts_on date NOT NULL,
    ends_on date NOT NULL,
    status text NOT NULL,
    rule_version integer NOT NULL,
    rule text NOT NULL,
    pool_minor bigint NOT NULL,
    reported_views bigint NOT NULL DEFAULT 0,
    invalid_views bigint NOT NULL DEFAULT 0,
    reports integer NOT NULL DEFAULT 0,
    total_qualified_views bigint,
    distributed_minor bigint,
    returned_minor bigint,
    scaled_from_minor bigint,
    creators integer,
    capped integer,
    closed_at timestamptz,
    UNIQUE (program_id, period_key)
);

CREATE TABLE creators (
    creator_id text PRIMARY KEY,
    creator_ref text NOT NULL UNIQUE,
    display_name text NOT NULL,
    country char(2) NOT NULL,
    payout_provider text,
    payout_account text,
    account_status text NOT NULL,
    kyc_status text NOT NULL,
    tax_status text NOT NULL,
    enrolled_at timestamptz NOT NULL
);

CREATE TABLE creator_holds (
    creator_id text NOT NULL,
    hold_id text NOT NULL,
    kind text NOT NULL,
    reason text NOT NULL,
    placed_at timestamptz NOT NULL,
    PRIMARY KEY (creator_id, hold_id)
);

CREATE TABLE creator_contracts (
    creator_id text NOT NULL,
    contract_id text NOT NULL,
    kind text NOT NULL,
    signed_on date NOT NULL,
    PRIMARY KEY (creator_id, contract_id)
);

CREATE TABLE agreements (
    agreement_id uuid PRIMARY KEY,
    agreement_key text NOT NULL,
    creator_id text NOT NULL,
    fund_id uuid NOT NULL,
    currency char(3) NOT NULL,
    total_minor bigint NOT NULL,
    credited_minor bigint NOT NULL DEFAULT 0,
    starts_on date NOT NULL,
    ends_on date NOT NULL,
    schedule text NOT NULL,
    vesting text NOT NULL,
    status text NOT NULL,
    ended_on date,
    forfeited_minor bigint,
    clawback_minor bigint
);
CREATE INDEX agreements_creator ON agreements (creator_id);

CREATE TABLE claim_items (
    claim_id uuid NOT NULL,
    claim_key text NOT NULL,
    item_id text NOT NULL,
    creator_id text NOT NULL,
    currency char(3) NOT NULL,
    description text NOT NULL,
    receipt_ref text NOT NULL,
    claimed_minor bigint NOT NULL,
    status text NOT NULL,
    approved_minor bigint NOT NULL DEFAULT 0,
    reason text NOT NULL DEFAULT '',
    submitted_at timestamptz NOT NULL,
    decided_at timestamptz,
    PRIMARY KEY (claim_id, item_id)
);
CREATE INDEX claim_items_creator ON claim_items (creator_id);

CREATE TABLE payouts (
    payout_id uuid PRIMARY KEY,
    run_id text NOT NULL,
    creator_id text NOT NULL,
    currency char(3) NOT NULL,
    amount_minor bigint NOT NULL,
    destination text NOT NULL,
    status text NOT NULL,
    transfer_id text,
    failure text,
    reversed_minor bigint NOT NULL DEFAULT 0,
    requested_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX payouts_run ON payouts (run_id);
CREATE INDEX payouts_creator ON payouts (creator_id);
CREATE INDEX payouts_status ON payouts (status);
