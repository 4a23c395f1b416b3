"""Every command is idempotent by its key: the same key and content returns the first result and
writes nothing; the same key with other content is refused and writes nothing."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

import creator_ledger.ledger.creators as creators_module
from creator_ledger import CreatorLedger, CreatorRecord, PoolShareRule
from creator_ledger.domain.errors import IdempotencyConflictError
from creator_ledger.domain.idempotency import CommandRecord
from creator_ledger.ledger import commands
from creator_ledger.ledger.commands import FINGERPRINT_V2, fingerprint, legacy_fingerprint
from tests.conftest import event_count
from tests.scenario import (
    ACTOR,
    APPROVER,
    DAY,
    PROPOSER,
    at,
    close,
    creators,
    fund,
    pool_program,
    usage,
)

# (command, arguments, a change of one argument) in an order in which each is valid once.
STEPS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "create_fund",
        {"fund_key": "f", "name": "F", "currency": "USD", "budget_minor": 10_000_000},
        {"budget_minor": 1},
    ),
    ("top_up_fund", {"fund_key": "f", "amount_minor": 500}, {"amount_minor": 501}),
    (
        "enrol_creator",
        {"creator_ref": "a", "display_name": "A", "country": "US"},
        {"country": "DE"},
    ),
    (
        "enrol_creators",
        {"creators": [("b", "B", "US"), ("c", "C", "FR")]},
        {"creators": [("b", "B", "US")]},
    ),
    (
        "link_payout_account",
        {"creator_ref": "a", "account_ref": "acct_a", "status": "active"},
        {"account_ref": "acct_x"},
    ),
    (
        "set_payout_account_status",
        {"creator_ref": "a", "status": "restricted"},
        {"status": "active"},
    ),
    (
        "set_kyc_status",
        {"creator_ref": "a", "kyc_status": "verified", "tax_status": "verified"},
        {"kyc_status": "rejected"},
    ),
    (
        "sign_contract",
        {
            "creator_ref": "a",
            "contract_id": "nda",
            "kind": "nda",
            "signed_on": DAY,
            "reimbursement_currency": "USD",
            "reimbursement_budget_minor": 1_000,
        },
        {"kind": "production"},
    ),
    (
        "place_hold",
        {"creator_ref": "b", "hold_id": "h", "kind": "accrual", "reason": "review"},
        {"kind": "payout"},
    ),
    ("release_hold", {"creator_ref": "b", "hold_id": "h"}, {"reason": "other"}),
    (
        "create_program",
        {"program_key": "p", "name": "P", "fund_key": "f", "rule": PoolShareRule(pool_minor=1_000)},
        {"name": "Q"},
    ),
    (
        "change_program_rule",
        {"program_key": "p", "rule": PoolShareRule(pool_minor=2_000)},
        {"rule": PoolShareRule(pool_minor=3_000)},
    ),
    (
        "open_period",
        {"program_key": "p", "period_key": "d1", "starts_on": DAY, "ends_on": DAY},
        {"ends_on": date(2026, 1, 2)},
    ),
    (
        "report_usage",
        {
            "program_key": "p",
            "period_key": "d1",
            "report_id": "r",
            "rows": [("a", "v", 10), ("b", "v", 30)],
        },
        {"rows": [("a", "v", 11)]},
    ),
    (
        "deduct_invalid_traffic",
        {
            "program_key": "p",
            "period_key": "d1",
            "adjustment_id": "i",
            "rows": [("b", "v", 10)],
            "reason": "bots",
        },
        {"reason": "other"},
    ),
    ("close_period", {"program_key": "p", "period_key": "d1"}, {"period_key": "d2"}),
    (
        "agree_exclusivity",
        {
            "agreement_key": "x",
            "creator_ref": "a",
            "fund_key": "f",
            "total_minor": 12_000,
            "starts_on": DAY,
            "ends_on": date(2027, 1, 1),
            "schedule": "monthly",
            "instalments": 12,
        },
        {"total_minor": 12_001},
    ),
    (
        "credit_due_instalments",
        {"agreement_key": "x", "on": date(2026, 3, 1)},
        {"on": date(2026, 4, 1)},
    ),
    (
        "breach_exclusivity",
        {"agreement_key": "x", "on": date(2026, 3, 2), "reason": "breach"},
        {"reason": "other"},
    ),
    (
        "agree_exclusivity",
        {
            "agreement_key": "y",
            "creator_ref": "c",
            "fund_key": "f",
            "total_minor": 5_000,
            "starts_on": DAY,
            "ends_on": date(2027, 1, 1),
            "schedule": "milestones",
            "milestones": [("m1", 2_000), ("m2", 3_000)],
        },
        {"vesting": "cliff"},
    ),
    ("reach_milestone", {"agreement_key": "y", "milestone_id": "m1"}, {"milestone_id": "m2"}),
    (
        "terminate_exclusivity",
        {"agreement_key": "y", "on": date(2026, 2, 1), "reason": "amicable"},
        {"reason": "x"},
    ),
    (
        "submit_claim",
        {
            "claim_key": "k",
            "creator_ref": "a",
            "currency": "USD",
            "items": [("i1", "camera", 300, "r1"), ("i2", "food", 50, "r2")],
        },
        {"currency": "EUR"},
    ),
    (
        "approve_claim_item",
        {"claim_key": "k", "item_id": "i1"},
        {"amount_minor": 200, "note": "partial"},
    ),
    (
        "reject_claim_item",
        {"claim_key": "k", "item_id": "i2", "reason": "not a production cost"},
        {"reason": "nope"},
    ),
]


def test_every_command_twice_with_one_key_writes_once_and_other_content_is_refused(
    cl: CreatorLedger,
) -> None:
    names = set()
    for n, (name, args, change) in enumerate(STEPS):
        names.add(name)
        command = getattr(cl, name)
        key = f"key-{n}"
        first = command(**args, effective_at=at(), idempotency_key=key, actor=ACTOR)
        written = event_count(cl)
        again = command(**args, effective_at=at(), idempotency_key=key, actor="op:someone-else")
        assert again == first, name
        assert event_count(cl) == written, f"{name} wrote again on a replay"
        with pytest.raises(IdempotencyConflictError, match="different command or content"):
            command(**{**args, **change}, effective_at=at(), idempotency_key=key, actor=ACTOR)
        assert event_count(cl) == written, f"{name} wrote on a conflicting replay"
    public = {
        name
        for name in dir(CreatorLedger)
        if not name.startswith("_")
        and "idempotency_key" in getattr(getattr(CreatorLedger, name), "__annotations__", {})
    }
    names |= COVERED_BELOW
    assert public <= names, f"commands without an idempotency test: {sorted(public - names)}"
    assert cl.reconcile_internal().clean


#: Commands whose idempotency is tested on their own (they need a ledger in a given state):
#: the payout workflow below, settling a payout in tests/unit/test_payout_settlement.py.
COVERED_BELOW = {"propose", "approve", "reject", "settle_payout"}


def test_the_payout_workflow_commands_are_idempotent_by_key(cl: CreatorLedger) -> None:
    fund(cl)
    refs = creators(cl, 2, payout_ready=True)
    [period] = pool_program(cl, pool_minor=10_000)
    usage(cl, "pool", period, [(r, "v", 1) for r in refs])
    close(cl, "pool", period)
    steps: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
        ("propose", {"currency": "USD"}, {"threshold_minor": 1}, PROPOSER),
    ]
    first = cl.propose(currency="USD", idempotency_key="p", actor=PROPOSER)
    run = first.run_id
    steps += [
        ("approve", {"run_id": run}, {"run_id": run + "-x"}, APPROVER),
        ("reject", {"run_id": run, "reason": "wrong month"}, {"reason": "other"}, APPROVER),
    ]
    for n, (name, args, change, actor) in enumerate(steps):
        command = getattr(cl, name)
        key = "p" if name == "propose" else f"wf-{n}"
        result = command(**args, idempotency_key=key, actor=actor)
        written = event_count(cl)
        assert command(**args, idempotency_key=key, actor="op:someone-else") == result, name
        assert event_count(cl) == written, f"{name} wrote again on a replay"
        with pytest.raises(IdempotencyConflictError, match="different command or content"):
            command(**{**args, **change}, idempotency_key=key, actor=actor)
        assert event_count(cl) == written, f"{name} wrote on a conflicting replay"
    assert cl.payout_run(run).status == "rejected"


def test_one_key_used_for_another_command_is_refused(cl: CreatorLedger) -> None:
    cl.create_fund(
        fund_key="f", name="F", currency="USD", budget_minor=10, idempotency_key="same", actor=ACTOR
    )
    written = event_count(cl)
    with pytest.raises(IdempotencyConflictError):
        cl.enrol_creator(
            creator_ref="a", display_name="A", country="US", idempotency_key="same", actor=ACTOR
        )
    assert event_count(cl) == written


def test_a_replay_returns_the_first_result_even_after_later_changes(cl: CreatorLedger) -> None:
    first = cl.create_fund(
        fund_key="f",
        name="F",
        currency="USD",
        budget_minor=10,
        effective_at=at(),
        idempotency_key="k",
        actor=ACTOR,
    )
    cl.top_up_fund(fund_key="f", amount_minor=5, idempotency_key="t", actor=ACTOR)
    assert (
        cl.create_fund(
            fund_key="f",
            name="F",
            currency="USD",
            budget_minor=10,
            effective_at=at(),
            idempotency_key="k",
            actor=ACTOR,
        )
        == first
    )
    assert cl.fund("f").budget_minor == 15


def _stored_fingerprint(cl: CreatorLedger, key: str) -> str:
    record = cl.parts.aggregates.find(CommandRecord, CommandRecord.create_id(key))
    assert record is not None, key
    return record.fingerprint


def test_records_of_the_first_fingerprint_form_still_replay_and_still_refuse(
    cl: CreatorLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records written before the second form (``v2:``) hold the first: after an upgrade, their
    replays return the first result and other content under their keys is still refused."""

    def first_form(command: str, arguments: dict[str, Any]) -> commands.Fingerprint:
        return commands.Fingerprint(command, arguments, legacy_fingerprint(command, arguments))

    with monkeypatch.context() as m:  # the ledger as it was before the second form
        m.setattr(commands, "fingerprint", first_form)
        m.setattr(creators_module, "fingerprint", first_form)
        firsts = [
            getattr(cl, name)(**args, effective_at=at(), idempotency_key=f"key-{n}", actor=ACTOR)
            for n, (name, args, _) in enumerate(STEPS)
        ]
    for n, (name, _args, _) in enumerate(STEPS):
        stored = _stored_fingerprint(cl, f"key-{n}")
        assert not stored.startswith(FINGERPRINT_V2), name
        assert len(stored) == 64, name
    written = event_count(cl)
    for n, ((name, args, change), first) in enumerate(zip(STEPS, firsts, strict=True)):
        command = getattr(cl, name)
        key = f"key-{n}"
        assert command(**args, effective_at=at(), idempotency_key=key, actor=ACTOR) == first, name
        with pytest.raises(IdempotencyConflictError, match="different command or content"):
            command(**{**args, **change}, effective_at=at(), idempotency_key=key, actor=ACTOR)
    assert event_count(cl) == written


def test_new_records_hold_the_second_form(cl: CreatorLedger) -> None:
    for n, (name, args, _) in enumerate(STEPS[:4]):
        getattr(cl, name)(**args, effective_at=at(), idempotency_key=f"key-{n}", actor=ACTOR)
        stored = _stored_fingerprint(cl, f"key-{n}")
        assert stored.startswith(FINGERPRINT_V2)
        assert len(stored) == len(FINGERPRINT_V2) + 64


def test_a_second_form_fingerprint_is_never_matched_by_the_first() -> None:
    args = {"fund_key": "f", "amount_minor": 5}
    print_ = fingerprint("top_up_fund", args)
    assert print_.matches(print_.value)
    assert print_.matches(legacy_fingerprint("top_up_fund", args))
    assert not print_.matches(FINGERPRINT_V2 + legacy_fingerprint("top_up_fund", args))
    assert not print_.matches(fingerprint("top_up_fund", args | {"amount_minor": 6}).value)
    assert not print_.matches(legacy_fingerprint("top_up_fund", args | {"amount_minor": 6}))
    assert not print_.matches(fingerprint("create_fund", args).value)


def test_arguments_orjson_cannot_write_keep_the_first_form() -> None:
    """An integer beyond 64 bits, a key that is not text: the first form, as before."""
    for args in ({"amount_minor": 2**64}, {"by": {1: "a"}}):
        print_ = fingerprint("c", args)
        assert print_.value == legacy_fingerprint("c", args)
        assert print_.matches(legacy_fingerprint("c", args))
    with pytest.raises(TypeError, match="cannot fingerprint"):
        fingerprint("c", {"x": {1, 2}})


def test_fingerprints_tell_records_apart() -> None:
    """A model counts by its fields: changing any field of one record changes the hash."""
    base = CreatorRecord(
        creator_ref="a",
        display_name="A",
        country="US",
        payout_account="acct_a",
        account_status="active",
        kyc_status="verified",
        tax_status="verified",
    )
    changes = {
        "creator_ref": "b",
        "display_name": "B",
        "country": "FR",
        "payout_account": None,
        "account_status": "pending",
        "kyc_status": "pending",
        "tax_status": "missing",
    }
    assert set(changes) == set(CreatorRecord.model_fields)
    seen = {fingerprint("enrol_creators", {"creators": [base]}).value}
    for field, value in changes.items():
        other = base.model_copy(update={field: value})
        seen.add(fingerprint("enrol_creators", {"creators": [other]}).value)
    seen.add(fingerprint("enrol_creators", {"creators": [base, base]}).value)
    seen.add(fingerprint("enrol_creators", {"creators": [("a", "A", "US")]}).value)
    assert len(seen) == len(changes) + 3
