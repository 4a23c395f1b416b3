"""Text a command keeps is checked before anything is written: no control characters (a NUL
would break every read on PostgreSQL from then on), no lone surrogates, bounded length.  The
error names the argument and says what is accepted, never echoing the character."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from creator_ledger import CreatorLedger
from creator_ledger.domain.creator import Creator
from creator_ledger.domain.errors import InvalidInputError
from creator_ledger.domain.fund import CreatorFund
from creator_ledger.domain.reimbursement import ReimbursementClaim
from creator_ledger.domain.text import check_key, check_name, check_text
from tests.conftest import event_count
from tests.scenario import ACTOR, DAY, creators, fund, pool_program

NUL = "\x00"
T = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def ready(cl: CreatorLedger) -> CreatorLedger:
    fund(cl, budget_minor=1_000_000)
    creators(cl, 2)
    cl.sign_contract(
        creator_ref="c0",
        contract_id="nda",
        kind="nda",
        signed_on=DAY,
        reimbursement_currency="USD",
        reimbursement_budget_minor=500,
        idempotency_key="nda",
        actor=ACTOR,
    )
    cl.submit_claim(
        claim_key="claim",
        creator_ref="c0",
        currency="USD",
        items=[("cam", "camera", 100, "r1")],
        idempotency_key="claim",
        actor=ACTOR,
    )
    cl.link_payout_account(
        creator_ref="c0", account_ref="acct_1", idempotency_key="acct", actor=ACTOR
    )
    cl.agree_exclusivity(
        agreement_key="x",
        creator_ref="c0",
        fund_key="fund",
        total_minor=1_000,
        starts_on=DAY,
        ends_on=date(2027, 1, 1),
        schedule="upfront",
        idempotency_key="x",
        actor=ACTOR,
    )
    cl.place_hold(
        creator_ref="c1", hold_id="h", kind="payout", reason="r", idempotency_key="h", actor=ACTOR
    )
    pool_program(cl, pool_minor=1_000)
    return cl


Call = Callable[[CreatorLedger, str], Any]

#: (argument, a command that keeps ``text`` in that argument)
FREE_TEXT: list[tuple[str, Call]] = [
    (
        "name",
        lambda c, t: c.create_fund(
            fund_key="f2", name=t, currency="USD", budget_minor=1, idempotency_key="k", actor=ACTOR
        ),
    ),
    (
        "reference",
        lambda c, t: c.top_up_fund(
            fund_key="fund", amount_minor=1, reference=t, idempotency_key="k", actor=ACTOR
        ),
    ),
    (
        "display_name",
        lambda c, t: c.enrol_creator(
            creator_ref="n", display_name=t, country="US", idempotency_key="k", actor=ACTOR
        ),
    ),
    (
        "creators",
        lambda c, t: c.enrol_creators(creators=[("n", t, "US")], idempotency_key="k", actor=ACTOR),
    ),
    (
        "reason",
        lambda c, t: c.set_payout_account_status(
            creator_ref="c0", status="active", reason=t, idempotency_key="k", actor=ACTOR
        ),
    ),
    (
        "reason",
        lambda c, t: c.set_kyc_status(
            creator_ref="c0",
            kyc_status="verified",
            tax_status="verified",
            reason=t,
            idempotency_key="k",
            actor=ACTOR,
        ),
    ),
    (
        "reason",
        lambda c, t: c.place_hold(
            creator_ref="c0",
            hold_id="h2",
            kind="payout",
            reason=t,
            idempotency_key="k",
            actor=ACTOR,
        ),
    ),
    (
        "reason",
        lambda c, t: c.release_hold(
            creator_ref="c1", hold_id="h", reason=t, idempotency_key="k", actor=ACTOR
        ),
    ),
    (
        "name",
        lambda c, t: c.create_program(
            program_key="p2",
            name=t,
            fund_key="fund",
            rule={"kind": "pool_share", "pool_minor": 1},
            idempotency_key="k",
            actor=ACTOR,
        ),
    ),
    (
        "reason",
        lambda c, t: c.deduct_invalid_traffic(
            program_key="pool",
            period_key="2026-01-01",
            adjustment_id="a",
            rows=[],
            reason=t,
            idempotency_key="k",
            actor=ACTOR,
        ),
    ),
    (
        "items",
        lambda c, t: c.submit_claim(
            claim_key="claim2",
            creator_ref="c0",
            currency="USD",
            items=[("i", t, 1, "r")],
            idempotency_key="k",
            actor=ACTOR,
        ),
    ),
    (
        "note",
        lambda c, t: c.approve_claim_item(
            claim_key="claim", item_id="cam", note=t, idempotency_key="k", actor=ACTOR
        ),
    ),
    (
        "reason",
        lambda c, t: c.reject_claim_item(
            claim_key="claim", item_id="cam", reason=t, idempotency_key="k", actor=ACTOR
        ),
    ),
    (
        "reason",
        lambda c, t: c.breach_exclusivity(
            agreement_key="x", on=DAY, reason=t, idempotency_key="k", actor=ACTOR
        ),
    ),
    (
        "reason",
        lambda c, t: c.terminate_exclusivity(
            agreement_key="x", on=DAY, reason=t, idempotency_key="k", actor=ACTOR
        ),
    ),
]
IDS = [f"{i}-{arg}" for i, (arg, _) in enumerate(FREE_TEXT)]


def refused(cl: CreatorLedger, call: Call, text: str, argument: str) -> InvalidInputError:
    before = event_count(cl)
    with pytest.raises(InvalidInputError) as caught:
        call(cl, text)
    assert event_count(cl) == before, "something was written"
    message = caught.value.message
    assert argument in message
    assert all(ch.isprintable() for ch in message), "the error echoes a control character"
    return caught.value


@pytest.mark.parametrize(("argument", "call"), FREE_TEXT, ids=IDS)
def test_a_nul_or_any_control_character_in_free_text_is_refused_naming_the_argument(
    ready: CreatorLedger, argument: str, call: Call
) -> None:
    error = refused(ready, call, f"bad{NUL}text", argument)
    assert "U+0000 at position 3" in error.message
    assert "without control characters" in error.message or "tabs allowed" in error.message
    for bad in ["\x1b[31m", "a\u0085b", "\ud800", "line\u2028two", "\u202eevil", "\x7f"]:
        refused(ready, call, bad, argument)
    # ... and every free text is bounded
    assert "characters long" in refused(ready, call, "x" * 2_001, argument).message


def test_names_are_one_line_of_at_most_200_characters(ready: CreatorLedger) -> None:
    def enrol(c: CreatorLedger, t: str) -> Any:
        return c.enrol_creator(
            creator_ref="n", display_name=t, country="US", idempotency_key="k", actor=ACTOR
        )

    refused(ready, enrol, "x" * 201, "display_name")
    refused(ready, enrol, "two\nlines", "display_name")
    refused(ready, enrol, "   ", "display_name")
    enrol(ready, "x" * 200)


def test_a_claim_item_description_may_keep_line_feeds_and_tabs(ready: CreatorLedger) -> None:
    ready.submit_claim(
        claim_key="multi",
        creator_ref="c0",
        currency="USD",
        items=[("i", "camera\n\tlens and body", 1, "r")],
        idempotency_key="multi",
        actor=ACTOR,
    )
    [item] = [
        r
        for r in ready.statement("c0", since=DAY, until=date(2030, 1, 1)).reimbursements
        if r.claim_key == "multi"
    ]
    assert item.description == "camera\n\tlens and body"


def test_unicode_text_is_kept_and_every_read_still_works(ready: CreatorLedger) -> None:
    name = "Zoë 🎬 Ñandú — 北京 👩‍👩‍👧"  # accents, emoji with joiners, CJK
    ready.enrol_creator(
        creator_ref="zoe", display_name=name, country="US", idempotency_key="zoe", actor=ACTOR
    )
    ready.place_hold(
        creator_ref="zoe",
        hold_id="h",
        kind="payout",
        reason="révision ✓",
        idempotency_key="zh",
        actor=ACTOR,
    )
    ready.catch_up()
    shown = ready.parts.projector.read_models.creator(Creator.create_id("zoe").hex)
    assert shown is not None
    assert shown is not None
    assert shown.display_name == name
    assert ready.statement("zoe", since=DAY, until=DAY).holds[0]["reason"] == "révision ✓"
    assert ready.trial_balance().balanced
    ready.rebuild_read_models()
    assert ready.reconcile_internal().clean


@pytest.mark.parametrize(
    ("argument", "call"),
    [
        (
            "fund_key",
            lambda c, t: c.create_fund(
                fund_key=t,
                name="F",
                currency="USD",
                budget_minor=1,
                idempotency_key="k",
                actor=ACTOR,
            ),
        ),
        (
            "hold_id",
            lambda c, t: c.place_hold(
                creator_ref="c0",
                hold_id=t,
                kind="payout",
                reason="r",
                idempotency_key="k",
                actor=ACTOR,
            ),
        ),
        (
            "account_ref",
            lambda c, t: c.link_payout_account(
                creator_ref="c0", account_ref=t, idempotency_key="k", actor=ACTOR
            ),
        ),
        (
            "rows",
            lambda c, t: c.report_usage(
                program_key="pool",
                period_key="2026-01-01",
                report_id="r",
                rows=[("c0", t, 1)],
                idempotency_key="k",
                actor=ACTOR,
            ),
        ),
        (
            "idempotency_key",
            lambda c, t: c.top_up_fund(
                fund_key="fund", amount_minor=1, idempotency_key=t, actor=ACTOR
            ),
        ),
    ],
)
def test_keys_are_refused_unless_they_are_short_printable_ascii(
    ready: CreatorLedger, argument: str, call: Call
) -> None:
    for bad in ["a\x00", "a\n", "", "x" * 201, "a b", "é"]:
        error = refused(ready, call, bad, argument)
        assert "ASCII letters, digits" in error.message


# -- the same rules in the domain, for any path that bypasses the API ------------------------


def test_the_domain_refuses_text_the_api_would_refuse() -> None:
    with pytest.raises(InvalidInputError, match="display_name contains a control character"):
        Creator.enrol(creator_ref="a", display_name="A\x00", country="US", effective_at=T)
    with pytest.raises(InvalidInputError, match="creator_ref must be"):
        Creator.enrol(creator_ref="a\x00", display_name="A", country="US", effective_at=T)
    with pytest.raises(InvalidInputError, match="name contains a control character"):
        CreatorFund.open(fund_key="f", name="\x00", currency="USD", budget_minor=1, effective_at=T)
    fund_ = CreatorFund.open(fund_key="f", name="F", currency="USD", budget_minor=1, effective_at=T)
    with pytest.raises(InvalidInputError, match="reference"):
        fund_.top_up(1, reference="\x00", effective_at=T)
    creator = Creator.enrol(creator_ref="a", display_name="A", country="US", effective_at=T)
    with pytest.raises(InvalidInputError, match="reason"):
        creator.place_hold("h", reason="r\x00", effective_at=T)
    with pytest.raises(InvalidInputError, match="description"):
        ReimbursementClaim.submit(
            claim_key="c",
            creator_id=creator.id,
            currency="USD",
            items=[["i", "\x00", 1, "r"]],
            effective_at=T,
        )


def test_the_text_rules_say_what_is_accepted() -> None:
    assert check_text("tab\tand\nline", multiline=True) == "tab\tand\nline"
    with pytest.raises(InvalidInputError, match=r"U\+0009 at position 3"):
        check_text("tab\t", field="note")
    with pytest.raises(InvalidInputError, match="not blank"):
        check_name(" ")
    with pytest.raises(InvalidInputError, match="must be a string"):
        check_text(5)
    assert check_key("acct_1:x/y@z+w-v.u") == "acct_1:x/y@z+w-v.u"
