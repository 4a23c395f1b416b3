-- Each read model keeps its own tracking position (journal: journal_entries, postings and
-- balances; entities: funds, programs, periods, creators, holds, contracts, agreements and claim
-- items; payouts), so one can be rebuilt without the others.  The single position of before
-- ("ledger") covered all of them: each starts from it.
INSERT INTO projection_tracking (name, notification_id)
SELECT m.name, t.notification_id
FROM projection_tracking t
CROSS JOIN (SELECT 'journal' AS name UNION ALL SELECT 'entities' UNION ALL SELECT 'payouts') m
WHERE t.name = 'ledger';
DELETE FROM projection_tracking WHERE name = 'ledger';
