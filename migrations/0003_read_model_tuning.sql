-- Balances are updated in place once per account per projection batch: leave room on each
-- page so the updates stay on the page (HOT updates, no index writes).
ALTER TABLE balances SET (fillfactor = 70);
ALTER TABLE payouts SET (fillfactor = 80);
ALTER TABLE creators SET (fillfactor = 80);

-- Lookups go by the primary key (owner, kind, currency); an index on (kind, currency) only
-- tempted the planner into scanning every creator's balance for each one looked up.
DROP INDEX balances_kind;
