"""Claim-item decisions tried on cached aggregates first (``CommandRunner.run(in_memory=True)``).

The in-memory try reads nothing: the write is the check (each event at its aggregate's next
version, the idempotency record at version 1).  These tests make the cache wrong on purpose,
with a second ledger object on the same database (as a second process would be), and show
that what a stale copy would have decided is never written: an item is approved once, a
budget is spent once, a replay returns the first result, and every sum agrees.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from creator_ledger import CreatorLedger
from creator_ledger.adapters.eventstore import WriteConflictError
from creator_ledger.domain.creator import Creator
from creator_ledger.domain.errors import (
    DatabaseBusyError,
    IdempotencyConflictError,
    InsufficientBudgetError,
    InvalidStateError,
)
from creator_ledger.domain.reimbursement import ReimbursementClaim
from creator_ledger.ledger.aggregates import NotInMemory
from tests.conftest import event_count
from tests.scenario import ACTOR, DAY, creators, fund

COMMAND = "approve_claim_item"


def path_count(path: str) -> float:
    value = REGISTRY.get_sample_value(
        "creator_ledger_commands_in_memory_total", {"command": COMMAND, "path": path}
    )
    return value or 0.0


class Paths:
    """How many approvals took each path since it was made."""

    def __init__(self) -> None:
        self.start = {p: path_count(p) for p in ("written", "checked")}

    def __call__(self) -> dict[str, float]:
        return {p: path_count(p) - n for p, n in self.start.items()}


def nda(cl: CreatorLedger, ref: str, budget: int) -> None:
    cl.sign_contract(
        creator_ref=ref,
        contract_id=f"nda-{ref}",
        kind="nda",
        signed_on=DAY,
        reimbursement_currency="USD",
        reimbursement_budget_minor=budget,
        idempotency_key=f"nda-{ref}",
        actor=ACTOR,
    )


def claim(cl: CreatorLedger, key: str, ref: str, amounts: list[int]) -> None:
    cl.submit_claim(
        claim_key=key,
        creator_ref=ref,
        currency="USD",
        items=[
            (f"i{k}", "production cost", a, f"receipt-{key}-{k}") for k, a in enumerate(amounts)
        ],
        idempotency_key=f"submit-{key}",
        actor=ACTOR,
    )


def approve(cl: CreatorLedger, key: str, item: str, idem: str | None = None) -> Any:
    return cl.approve_claim_item(
        claim_key=key, item_id=item, idempotency_key=idem or f"approve-{key}-{item}", actor=ACTOR
    )


def payable(cl: CreatorLedger, ref: str) -> int:
    return sum(b.payable_minor for b in cl.balances(ref).balances if b.currency == "USD")


def budget_used(cl: CreatorLedger, ref: str) -> int:
    creator = cl.parts.store.get(Creator.create_id(ref))
    assert isinstance(creator, Creator)
    return creator.reimbursement_budget["USD"][1]


def approvals(cl: CreatorLedger, key: str) -> list[str]:
    events = cl.parts.store.events(ReimbursementClaim.create_id(key))
    return [e.item_id for e in events if type(e).__name__ == "ItemApproved"]


def spy_refused_writes(cl: CreatorLedger) -> list[str]:
    """The commands whose writes ``cl``'s event store refuses from now on (a stale copy)."""
    refused: list[str] = []
    store = cl.parts.store
    save = store.save

    def spied(*aggregates: Any, meta: Any = None) -> None:
        try:
            save(*aggregates, meta=meta)
        except WriteConflictError:
            refused.append(meta["command"])
            raise

    store.save = spied  # type: ignore[method-assign]
    return refused


@pytest.fixture
def two(open_ledger: Callable[[], CreatorLedger]) -> tuple[CreatorLedger, CreatorLedger]:
    """Ledger ``a`` set everything up (so it has it all cached); ``b`` is another process."""
    a = open_ledger()
    fund(a)
    creators(a, 2)
    nda(a, "c0", 10_000)
    claim(a, "k", "c0", [100, 200, 300, 400])
    return a, open_ledger()


def test_warm_approvals_are_decided_in_memory_and_agree_with_a_fresh_read(
    two: tuple[CreatorLedger, CreatorLedger],
) -> None:
    a, b = two
    approve(a, "k", "i0")  # loads what the bulk enrolment did not leave in memory (the book)
    paths = Paths()
    for item in ("i1", "i2", "i3"):
        assert approve(a, "k", item).approved_minor > 0
    assert paths() == {"written": 3, "checked": 0}
    # Another process, reading everything from the store, sees exactly what was decided.
    assert approvals(b, "k") == ["i0", "i1", "i2", "i3"]
    assert budget_used(b, "c0") == 1_000
    assert payable(b, "c0") == 1_000
    assert b.verify().clean


def test_a_copy_behind_the_store_is_refused_by_the_write_and_decided_again(
    two: tuple[CreatorLedger, CreatorLedger],
) -> None:
    a, b = two
    approve(a, "k", "i0")  # a holds the claim, the creator and the book, at their versions
    approve(b, "k", "i1")  # b moves all three on: a's copies are now behind
    paths = Paths()
    refused = spy_refused_writes(a)
    assert approve(a, "k", "i2").approved_minor == 300
    assert refused == ["approve_claim_item"]  # decided in memory, refused by the store
    assert paths() == {"written": 0, "checked": 1}  # then decided again, checked
    assert approvals(b, "k") == ["i0", "i1", "i2"]
    assert budget_used(b, "c0") == 600
    assert payable(a, "c0") == payable(b, "c0") == 600
    approve(a, "k", "i3")  # and a is current again: back in memory
    assert paths() == {"written": 1, "checked": 1}
    assert b.verify().clean


def test_an_item_approved_by_another_process_is_not_approved_twice(
    two: tuple[CreatorLedger, CreatorLedger],
) -> None:
    a, b = two
    approve(a, "k", "i0")
    approve(b, "k", "i1")
    before = event_count(b)
    refused = spy_refused_writes(a)
    # a's copy of the claim still has i1 pending; deciding on it would approve i1 again.
    with pytest.raises(InvalidStateError, match="i1"):
        approve(a, "k", "i1", idem="another-key")
    assert refused == ["approve_claim_item"]  # it did, in memory: the store refused the write
    assert event_count(b) == before
    assert approvals(b, "k") == ["i0", "i1"]
    assert payable(b, "c0") == 300


def test_a_budget_spent_by_another_process_is_not_spent_twice(
    open_ledger: Callable[[], CreatorLedger],
) -> None:
    a, b = open_ledger(), open_ledger()
    fund(a)
    creators(a, 1)
    nda(a, "c0", 2_500)
    for key in ("k0", "k1", "k2"):
        claim(a, key, "c0", [1_000])
    approve(a, "k0", "i0")  # a holds c0 (1,500 left), its book and the claims, all current
    approve(b, "k2", "i0")  # b spends 1,000 more: a's copy of c0 still has 1,500 left
    before = event_count(b)
    paths = Paths()
    refused = spy_refused_writes(a)
    with pytest.raises(InsufficientBudgetError, match="is left"):
        approve(a, "k1", "i0")
    # Decided in memory on the stale copy (which had the budget), written, refused by the
    # store; decided again on the store's state, which has 500 left.
    assert refused == ["approve_claim_item"]
    assert paths() == {"written": 0, "checked": 1}
    assert event_count(b) == before
    assert budget_used(b, "c0") == 2_000
    assert payable(b, "c0") == 2_000
    assert b.verify().clean


def test_a_replay_after_an_in_memory_write_returns_the_first_result_and_writes_nothing(
    two: tuple[CreatorLedger, CreatorLedger],
) -> None:
    a, b = two
    approve(a, "k", "i0")
    paths = Paths()
    first = approve(a, "k", "i1", idem="once")
    assert paths()["written"] == 1
    before = event_count(a)
    assert approve(a, "k", "i1", idem="once") == first
    assert approve(b, "k", "i1", idem="once") == first  # in the other process too
    assert event_count(a) == before
    # Both replays were decided the checked way (the counters are this process's: a's was
    # refused in memory, i1 being approved; b has nothing in memory), by the key's record.
    assert paths()["checked"] == 2
    approve(a, "k", "i2")  # the replay left a's cache warm
    assert paths() == {"written": 2, "checked": 2}
    before = event_count(a)
    with pytest.raises(IdempotencyConflictError, match="once"):
        approve(a, "k", "i3", idem="once")  # the key, used for other content
    assert event_count(a) == before
    assert approvals(b, "k") == ["i0", "i1", "i2"]


def test_a_replay_decided_on_a_copy_where_it_would_succeed_again_is_still_a_replay(
    two: tuple[CreatorLedger, CreatorLedger],
) -> None:
    """A cached copy of the claim from before the approval (as a process would hold after
    another one approved): in memory the replay would approve i0 again; the write is refused
    (the claim's next version and the key's record exist) and the replay returns the first
    result."""
    a, _ = two
    first = approve(a, "k", "i0", idem="k0")
    before = event_count(a)
    paths = Paths()
    store = a.parts.store
    claim_id = ReimbursementClaim.create_id("k")
    store.forget([claim_id])
    stale = store.application.repository.get(claim_id, version=1)
    assert stale.items["i0"][3] == "pending"
    store.keep([stale])
    assert approve(a, "k", "i0", idem="k0") == first
    assert paths() == {"written": 0, "checked": 1}
    assert event_count(a) == before
    assert approvals(a, "k") == ["i0"]


def test_a_busy_store_is_not_asked_twice(
    two: tuple[CreatorLedger, CreatorLedger], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = two
    approve(a, "k", "i0")
    calls: list[object] = []

    def busy(*aggregates: object, meta: object = None) -> None:
        calls.append(aggregates)
        raise DatabaseBusyError("busy", host="", port="", database="", bound="lock_timeout")

    monkeypatch.setattr(a.parts.store, "save", busy)
    with pytest.raises(DatabaseBusyError):
        approve(a, "k", "i1")
    assert len(calls) == 1


def test_an_in_memory_unit_of_work_reads_nothing_and_refuses_what_it_cannot_prove(
    two: tuple[CreatorLedger, CreatorLedger], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = two
    aggregates, store = a.parts.aggregates, a.parts.store
    claim_id = ReimbursementClaim.create_id("k")
    creator_id = Creator.create_id("c0")
    reads: list[object] = []
    real = store.get_many
    monkeypatch.setattr(store, "get_many", lambda ids: reads.append(ids) or real(ids))
    # Not in this process's memory: it might exist all the same (written elsewhere).
    with pytest.raises(NotInMemory), aggregates.unit_of_work(in_memory=True):
        aggregates.claim("nobody-has-this")
    with pytest.raises(NotInMemory), aggregates.unit_of_work(in_memory=True):
        aggregates.exists(claim_id)
    # Read and not changed: nothing would prove it current.
    with aggregates.unit_of_work(in_memory=True):
        creator = aggregates.creator_by_id(creator_id)
        changed = aggregates.claim("k")
        changed.reject("i0", reason="duplicate receipt", effective_at=changed.modified_on)
        with pytest.raises(NotInMemory):
            aggregates.check_all_written([changed])
    assert reads == []
    # What was handed out unchanged is back in memory; what was changed and never saved is
    # not (the next command loads it from the store).
    assert store.peek(creator_id) is creator
    assert store.peek(claim_id) is None
    approve(a, "k", "i0")
    assert approvals(a, "k") == ["i0"]  # the rejection above was never written
