"""Internal reconciliation: prove the read models, the write model and the events agree.

Checks, each returning every discrepancy it finds (never stopping at the first):

1. ``replay``: balances from a fresh replay of every event through the posting rules equal the
   balances read model, account by account;
2. ``postings``: the balances table equals the sum of the journal's postings;
3. ``entries``: every journal entry sums to zero per currency;
4. ``trial-balance``: every currency nets to zero;
5. ``funds``: each fund's write-model figures (budget, committed, spent, available) equal its
   memo accounts, ``available + committed + spent == budget``, and ``spent`` equals the fund's
   expense accounts;
6. ``books``: each creator's balances in the account books (write model) equal the journal's;
7. ``chain``: the hash chain over the stored events holds (:mod:`.verify`): each broken link is
   a discrepancy, its subject the notification id, its message the kind (edited, deleted,
   reordered, inserted, ...).  Snapshots are checked by ``creator-ledger verify``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from creator_ledger.domain.accounts import (
    CREATOR_KINDS,
    EXPENSE_CREATOR_FUND,
    EXPENSE_EXCLUSIVITY,
    FUND_AVAILABLE,
    FUND_BUDGET,
    FUND_COMMITTED,
    FUND_SPENT,
    normal_balance,
)
from creator_ledger.domain.book import AccountBook
from creator_ledger.domain.fund import CreatorFund
from creator_ledger.domain.ids import BOOK_SHARDS
from creator_ledger.domain.posting import journal_entry
from creator_ledger.ledger.aggregates import Aggregates
from creator_ledger.ledger.projections import Projector
from creator_ledger.ledger.verify import Verifier

REPLAY_BATCH = 5_000


class Discrepancy(BaseModel):
    model_config = ConfigDict(frozen=True)
    check: str
    subject: str
    expected: Any
    actual: Any
    message: str


class ReconciliationReport(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: str
    checks: dict[str, int]  # check -> discrepancies found
    discrepancies: list[Discrepancy]
    facts: dict[str, Any]

    @property
    def clean(self) -> bool:
        return not self.discrepancies


AccountKey = tuple[str, str, str]  # (kind, owner, currency)


class InternalReconciliation:
    """Read models against a replay of the events, the write model against the journal."""

    def __init__(
        self, aggregates: Aggregates, projector: Projector, verifier: Verifier | None = None
    ) -> None:
        self.aggregates = aggregates
        self.projector = projector
        self.verifier = verifier or Verifier(aggregates.store)

    def _replay_balances(self) -> tuple[dict[AccountKey, int], int, set[str], int]:
        """Balances from every event, fund ids, and how many events and entries."""
        balances: dict[AccountKey, int] = defaultdict(int)
        funds: set[str] = set()
        events = entries = 0
        for event in self._all_events():
            events += 1
            if isinstance(event, CreatorFund.Created):
                funds.add(str(event.originator_id))
            entry = journal_entry(event)
            if entry is None:
                continue
            entries += 1
            for p in entry.postings:
                balances[(p.account.kind, p.account.owner, p.currency)] += p.amount_minor
        return {k: v for k, v in balances.items() if v}, events, funds, entries

    def _all_events(self) -> Iterator[Any]:
        start = 1
        while True:
            notifications = self.aggregates.store.notifications(start, REPLAY_BATCH)
            if not notifications:
                return
            for _, event in notifications:
                yield event
            start = notifications[-1][0] + 1

    def reconcile_internal(self) -> ReconciliationReport:
        """Run every internal check (see module doc) and return all discrepancies."""
        self.projector.catch_up()
        rm = self.projector.read_models
        found: list[Discrepancy] = []

        def add(check: str, subject: str, expected: Any, actual: Any, message: str) -> None:
            found.append(
                Discrepancy(
                    check=check, subject=subject, expected=expected, actual=actual, message=message
                )
            )

        replayed, events, fund_ids, entries = self._replay_balances()
        projected = {r.account: r.balance_minor for r in rm.all_balances() if r.balance_minor}
        for key in sorted(set(replayed) | set(projected)):
            if replayed.get(key, 0) != projected.get(key, 0):
                kind, owner, currency = key
                add(
                    "replay",
                    f"{kind}:{owner}:{currency}",
                    replayed.get(key, 0),
                    projected.get(key, 0),
                    "read model balance differs from a replay of the events",
                )
        sums = {r.account: r.balance_minor for r in rm.postings_sum_by_account() if r.balance_minor}
        for key in sorted(set(sums) | set(projected)):
            if sums.get(key, 0) != projected.get(key, 0):
                add(
                    "postings",
                    ":".join(key),
                    sums.get(key, 0),
                    projected.get(key, 0),
                    "balance differs from its postings",
                )
        for e in rm.unbalanced_entries():
            add(
                "entries",
                f"entry {e.entry_id}",
                0,
                e.total_minor,
                f"journal entry does not net to zero in {e.currency}",
            )
        for currency, kinds in rm.trial_balance().items():
            total = sum(kinds.values())
            if total:
                add("trial-balance", currency, 0, total, "trial balance does not net to zero")
        self._check_funds(fund_ids, replayed, add)
        self._check_books(replayed, add)
        chain = self.verifier.verify(snapshots=False)
        for b in chain.broken_links:
            add(
                "chain",
                f"notification {b.notification_id}",
                "sealed",
                b.kind,
                f"hash chain broken ({b.kind}): {b.message}",
            )
        names = ("replay", "postings", "entries", "trial-balance", "funds", "books", "chain")
        checks = dict.fromkeys(names, 0)
        for d in found:
            checks[d.check] += 1
        count = rm.journal_count()
        return ReconciliationReport(
            kind="internal",
            checks=checks,
            discrepancies=found,
            facts={
                "events": events,
                "journal_entries": count.entries,
                "replayed_entries": entries,
                "postings": count.postings,
                "accounts": len(projected),
                "funds": len(fund_ids),
                "chain_head": chain.head.notification_id,
            },
        )

    def _check_funds(self, fund_ids: set[str], balances: dict[AccountKey, int], add: Any) -> None:
        for fund_id in sorted(fund_ids):
            fund = self.aggregates.fund_by_id(UUID(fund_id))
            owner, c = fund.id.hex, fund.currency
            memo = {
                "budget": normal_balance(FUND_BUDGET, balances.get((FUND_BUDGET, owner, c), 0)),
                "available": balances.get((FUND_AVAILABLE, owner, c), 0),
                "committed": balances.get((FUND_COMMITTED, owner, c), 0),
                "spent": balances.get((FUND_SPENT, owner, c), 0),
            }
            model = {
                "budget": fund.budget_minor,
                "available": fund.available_minor,
                "committed": fund.committed_minor,
                "spent": fund.spent_minor,
            }
            for figure, value in model.items():
                if memo[figure] != value:
                    add(
                        "funds",
                        f"{fund.fund_key}.{figure}",
                        value,
                        memo[figure],
                        "fund figure differs from its memo account",
                    )
            if fund.available_minor < 0 or fund.committed_minor < 0:
                add("funds", fund.fund_key, ">= 0", model, "fund is over-committed")
            if memo["available"] + memo["committed"] + memo["spent"] != memo["budget"]:
                add(
                    "funds",
                    fund.fund_key,
                    memo["budget"],
                    memo,
                    "available + committed + spent != budget",
                )
            expenses = balances.get((EXPENSE_CREATOR_FUND, owner, c), 0) + balances.get(
                (EXPENSE_EXCLUSIVITY, owner, c), 0
            )
            if expenses != memo["spent"]:
                add(
                    "funds",
                    f"{fund.fund_key}.spent",
                    memo["spent"],
                    expenses,
                    "fund spent differs from its expense accounts",
                )

    def _check_books(self, balances: dict[AccountKey, int], add: Any) -> None:
        seen: set[AccountKey] = set()
        for book in self.aggregates.books(range(BOOK_SHARDS)).values():
            assert isinstance(book, AccountBook)
            for creator, currencies in book.accounts.items():
                for currency, values in currencies.items():
                    for kind, value in zip(CREATOR_KINDS, values, strict=True):
                        key = (kind, creator, currency)
                        seen.add(key)
                        journal = normal_balance(kind, balances.get(key, 0))
                        if journal != value:
                            add(
                                "books",
                                f"{kind}:{creator}:{currency}",
                                value,
                                journal,
                                "account book differs from the journal",
                            )
        for key, value in balances.items():
            if key[0] in CREATOR_KINDS and key not in seen:
                add(
                    "books",
                    ":".join(key),
                    0,
                    value,
                    "journal has a creator balance no account book knows",
                )
