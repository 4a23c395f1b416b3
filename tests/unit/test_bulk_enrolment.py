"""A bulk enrolment writes one ``Creator.Imported`` event per creator that comes with a payout
account or a KYC/tax status, where it wrote three (``Enrolled``, ``PayoutAccountLinked``,
``KycStatusChanged``): the creator, its read-model row and what a payout plan sees of it are
the same as after the three single commands.  Batch commands pause the cyclic garbage
collector and always restore it."""

from __future__ import annotations

import gc
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from creator_ledger import CreatorLedger
from creator_ledger.domain.creator import Creator
from creator_ledger.domain.errors import InvalidInputError
from creator_ledger.ledger.creators import CreatorRecord
from creator_ledger.ledger.gc_pause import gc_paused
from tests.conftest import event_count
from tests.scenario import ACTOR

AT = datetime(2026, 1, 2, 9, tzinfo=UTC)


def _state(creator: Creator) -> dict[str, Any]:
    """What the creator aggregate knows, without what names it or dates its events."""
    skip = {"_id", "_version", "_created_on", "_modified_on", "_pending_events", "creator_ref"}
    return {k: v for k, v in vars(creator).items() if k not in skip}


def _by_commands(cl: CreatorLedger, ref: str, account: str | None, kyc: str, tax: str) -> None:
    cl.enrol_creator(
        creator_ref=ref,
        display_name="Same Name",
        country="GB",
        effective_at=AT,
        idempotency_key=f"enrol/{ref}",
        actor=ACTOR,
    )
    if account is not None:
        cl.link_payout_account(
            creator_ref=ref,
            account_ref=account,
            status="active",
            effective_at=AT,
            idempotency_key=f"acct/{ref}",
            actor=ACTOR,
        )
    cl.set_kyc_status(
        creator_ref=ref,
        kyc_status=kyc,
        tax_status=tax,
        reason="import",
        effective_at=AT,
        idempotency_key=f"kyc/{ref}",
        actor=ACTOR,
    )


@pytest.mark.parametrize(
    ("account", "kyc", "tax"),
    [("acct_1", "verified", "submitted"), (None, "rejected", "verified")],
    ids=["with a payout account", "KYC status only"],
)
def test_an_imported_creator_is_the_creator_three_commands_make(
    cl: CreatorLedger, account: str | None, kyc: str, tax: str
) -> None:
    before = event_count(cl)
    done = cl.enrol_creators(
        creators=[
            CreatorRecord(
                creator_ref="bulk",
                display_name="Same Name",
                country="GB",
                payout_account=account,
                account_status="active",
                kyc_status=kyc,  # type: ignore[arg-type]
                tax_status=tax,  # type: ignore[arg-type]
            )
        ],
        effective_at=AT,
        idempotency_key="bulk",
        actor=ACTOR,
    )
    assert done.enrolled == 1
    # The creator's one event, its book's two (opened, accounts opened), the command record.
    assert event_count(cl) == before + 4
    bulk = cl.parts.aggregates.creator("bulk")
    assert bulk.version == 1
    [stored] = cl.parts.store.events(bulk.id)
    assert isinstance(stored, Creator.Imported)

    _by_commands(cl, "single", account, kyc, tax)
    single = cl.parts.aggregates.creator("single")
    assert single.version == (3 if account else 2)
    assert _state(bulk) == _state(single)

    cl.catch_up()
    rm = cl.parts.projector.read_models
    gates = rm.creator_gates()
    assert gates[bulk.id.hex] == replace(
        gates[single.id.hex], creator_id=bulk.id.hex, creator_ref="bulk"
    )
    assert gates[bulk.id.hex].payout_account_linked_at == (AT if account else None)
    row, same = rm.creator(bulk.id.hex), rm.creator(single.id.hex)
    assert row is not None
    assert same is not None
    assert replace(row, creator_id="", creator_ref="") == replace(
        same, creator_id="", creator_ref=""
    )

    assert [e.command for e in cl.audit(creator_ref="bulk").entries] == ["enrol_creators"]

    # A rebuild from the events gives the same rows.
    rebuilt_from = rm.creator_gates()
    cl.parts.projector.rebuild()
    assert cl.parts.projector.read_models.creator_gates() == rebuilt_from


def test_a_record_with_only_a_name_and_a_country_is_still_enrolled(cl: CreatorLedger) -> None:
    cl.enrol_creators(
        creators=[
            ("plain", "Plain", "US"),
            CreatorRecord(creator_ref="p2", display_name="P", country="US"),
        ],
        effective_at=AT,
        idempotency_key="plain",
        actor=ACTOR,
    )
    for ref in ("plain", "p2"):
        [stored] = cl.parts.store.events(cl.parts.aggregates.creator(ref).id)
        assert type(stored) is Creator.Enrolled


def test_the_domain_refuses_bad_imported_values_as_its_single_commands_do() -> None:
    good: dict[str, Any] = {
        "creator_ref": "a",
        "display_name": "A",
        "country": "US",
        "payout_account": "acct_1",
        "account_status": "active",
        "kyc_status": "verified",
        "tax_status": "verified",
        "effective_at": AT,
    }
    Creator.imported(**good)
    for field, bad in [
        ("creator_ref", "a b"),
        ("display_name", "A\x00"),
        ("country", "ZZ"),
        ("payout_account", "acct\x00"),
        ("account_status", "open"),
        ("kyc_status", "ok"),
        ("tax_status", "done"),
    ]:
        with pytest.raises(InvalidInputError):
            Creator.imported(**{**good, field: bad})


def test_gc_paused_pauses_the_collector_and_restores_it_even_on_error() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():  # nested: the outer one restores it
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # paused by the caller: left as it was
    finally:
        gc.enable()


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_what_a_batch_leaves_is_not_frozen_and_its_cycles_are_collected() -> None:
    assert gc.get_freeze_count() == 0
    with gc_paused():
        _Cycle()  # garbage at once, but only the cyclic collector can free it
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert not [o for o in gc.get_objects() if type(o) is _Cycle]


def test_objects_a_process_froze_itself_stay_frozen() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with gc_paused():
            pass
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_a_refused_bulk_enrolment_leaves_the_collector_on(cl: CreatorLedger) -> None:
    with pytest.raises(InvalidInputError, match="more than once"):
        cl.enrol_creators(
            creators=[("a", "A", "US"), ("a", "A", "US")], idempotency_key="k", actor=ACTOR
        )
    assert gc.isenabled()
