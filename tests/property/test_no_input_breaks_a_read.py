"""No accepted input breaks a read (DESIGN §5, invariant 10), on SQLite and PostgreSQL.

Random commands through the public API with adversarial values (boundary integers, unicode,
control characters, lone surrogates, dates in years 1 and 9999, odd time zones, keys that are
not keys).  Either the command raises a ``LedgerError`` and the event count is unchanged, or it
is accepted and every read still works: balances (now and as of a date), funds, statements,
the journal, the trial balance (balanced), internal reconciliation (clean), a payout plan per
currency, and a rebuild of the read models followed by a clean reconciliation.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from creator_ledger import CreatorLedger, PoolShareRule, RatePerMilleRule
from creator_ledger.domain.errors import LedgerError, NotFoundError
from creator_ledger.domain.money import BIGINT_MAX, BIGINT_MIN
from tests.scenario import ACTOR, DAY, at

FUNDS = ["f-usd", "f-jpy", "f-2", "f-3"]
CREATORS = ["c0", "c1", "c2", "c3", "c4"]
PROGRAMS = ["pool", "rate", "pool-2", "rate-2"]
PERIODS = ["p1", "p2", "p3", "p4", "p5"]
AGREEMENTS = ["a1", "a2", "a3", "a4"]
CLAIMS = ["claim", "claim-2", "claim-3"]
ITEMS = ["i1", "i2", "ix"]
HOLDS = ["h1", "h2", "h3"]
CURRENCIES = ["USD", "JPY"]

BAD_TEXT = [
    "\x00",
    "a\x00b",
    "\ud800",
    "\u202eevil",
    "x\u2028y",
    "\x1b[2J",
    "\x7f",
    "\x85",
    "",
    " ",
    "x" * 201,
    "x" * 2_001,
    "Zoë 🎬 北京 👩‍👩‍👧",
    "tab\there",
    "line\nbreak",
]
BOUNDARY_INTS = [
    0,
    1,
    -1,
    999,
    2**31,
    2**53 + 1,
    10**12,
    10**12 + 1,
    10**18,
    5 * 10**18,
    2**62,
    BIGINT_MAX - 1,
    BIGINT_MAX,
    BIGINT_MAX + 1,
    BIGINT_MIN,
    BIGINT_MIN - 1,
]
ODD_DAYS = [
    date(1, 1, 1),
    date(1899, 12, 31),
    date(1900, 1, 1),
    date(9998, 12, 31),
    date(9999, 12, 31),
    DAY,
    date(2026, 2, 1),
    date(2027, 1, 1),
]


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` nine times in ten, else ``bad``: a command has many arguments, and one bad one
    refuses it, so a bad value must be the exception for commands to be accepted too."""
    return st.integers(0, 9).flatmap(lambda n: bad if n == 9 else good)


texts = mostly(
    st.sampled_from(["fine text", "Zoë 🎬 北京 👩‍👩‍👧", "ok"]),
    st.sampled_from(BAD_TEXT) | st.text(max_size=30),
)
ints = mostly(
    st.integers(min_value=0, max_value=10**7),
    st.sampled_from(BOUNDARY_INTS) | st.integers(min_value=-(2**70), max_value=2**70),
)
amounts = mostly(st.integers(min_value=1, max_value=10**7), st.sampled_from(BOUNDARY_INTS))
views = mostly(st.integers(0, 10_000), st.sampled_from([0, 1, 10**9, 10**12, 10**12 + 1, -1]))
days = mostly(
    st.dates(min_value=date(2025, 12, 1), max_value=date(2027, 3, 1)),
    st.sampled_from(ODD_DAYS) | st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
)
offsets = st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23))
zones = st.just(UTC) | st.builds(timezone, offsets)
times = mostly(
    st.none() | st.builds(lambda d: datetime(d.year, d.month, d.day, 12, tzinfo=UTC), days),
    st.just(datetime(1, 1, 1, tzinfo=UTC))
    | st.just(datetime(1, 1, 1, 1, tzinfo=timezone(timedelta(hours=5))))
    | st.just(datetime(9999, 12, 31, 22, tzinfo=timezone(timedelta(hours=-5))))
    | st.just(datetime(2026, 1, 1))  # noqa: DTZ001 - naive on purpose
    | st.builds(lambda d, tz: datetime(d.year, d.month, d.day, 12, tzinfo=tz), days, zones),
)


def keys(pool: list[str]) -> st.SearchStrategy[Any]:
    return mostly(st.sampled_from(pool), st.sampled_from(BAD_TEXT) | st.text(max_size=10))


currencies = mostly(st.sampled_from(CURRENCIES), st.sampled_from(["BHD", "usd", "XAU", "ZZZ", ""]))
countries = mostly(st.sampled_from(["US", "GB", "JP"]), st.sampled_from(["ZZ", "us", "U\x00", ""]))

#: name -> strategy of the keyword arguments of a command (idempotency key and actor added)
COMMANDS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "create_fund": st.fixed_dictionaries(
        {
            "fund_key": keys(FUNDS),
            "name": texts,
            "currency": currencies,
            "budget_minor": amounts,
            "effective_at": times,
        }
    ),
    "top_up_fund": st.fixed_dictionaries(
        {"fund_key": keys(FUNDS), "amount_minor": amounts, "reference": texts}
    ),
    "enrol_creator": st.fixed_dictionaries(
        {
            "creator_ref": keys(CREATORS),
            "display_name": texts,
            "country": countries,
            "effective_at": times,
        }
    ),
    "enrol_creators": st.fixed_dictionaries(
        {"creators": st.lists(st.tuples(keys(CREATORS), texts, countries), max_size=3)}
    ),
    "link_payout_account": st.fixed_dictionaries(
        {"creator_ref": keys(CREATORS), "account_ref": keys(["acct_1", "acct_2"])}
    ),
    "set_payout_account_status": st.fixed_dictionaries(
        {
            "creator_ref": keys(CREATORS),
            "status": st.sampled_from(["active", "disabled", "bogus"]),
            "reason": texts,
        }
    ),
    "set_kyc_status": st.fixed_dictionaries(
        {
            "creator_ref": keys(CREATORS),
            "kyc_status": st.sampled_from(["verified", "pending"]),
            "tax_status": st.sampled_from(["verified", "missing"]),
            "reason": texts,
        }
    ),
    "sign_contract": st.fixed_dictionaries(
        {
            "creator_ref": keys(CREATORS),
            "contract_id": keys(["nda-1", "nda-2"]),
            "kind": st.sampled_from(["nda", "production", "exclusivity"]),
            "signed_on": days,
            "reimbursement_currency": st.none() | currencies,
            "reimbursement_budget_minor": ints,
        }
    ),
    "place_hold": st.fixed_dictionaries(
        {
            "creator_ref": keys(CREATORS),
            "hold_id": keys(HOLDS),
            "kind": st.sampled_from(["payout", "accrual"]),
            "reason": texts,
        }
    ),
    "release_hold": st.fixed_dictionaries(
        {"creator_ref": keys(CREATORS), "hold_id": keys(HOLDS), "reason": texts}
    ),
    "create_program": st.fixed_dictionaries(
        {
            "program_key": keys(PROGRAMS),
            "name": texts,
            "fund_key": keys(FUNDS),
            "rule": st.one_of(
                st.builds(
                    lambda p, c: {"kind": "pool_share", "pool_minor": p, "creator_cap_minor": c},
                    amounts,
                    st.none() | amounts,
                ),
                st.builds(
                    lambda r, c: {
                        "kind": "rate_per_mille",
                        "rate_micros_per_mille": r,
                        "period_cap_minor": c,
                    },
                    amounts,
                    st.none() | amounts,
                ),
            ),
        }
    ),
    "open_period": st.fixed_dictionaries(
        {
            "program_key": keys(PROGRAMS),
            "period_key": keys(PERIODS),
            "starts_on": days,
            "ends_on": days,
            "pool_minor": st.none() | amounts,
            "effective_at": times,
        }
    ),
    "report_usage": st.fixed_dictionaries(
        {
            "program_key": keys(PROGRAMS),
            "period_key": keys(PERIODS),
            "report_id": keys(["r1", "r2", "r3", "r4"]),
            "rows": st.lists(st.tuples(keys(CREATORS), keys(["v1", "v2"]), views), max_size=4),
            "effective_at": times,
        }
    ),
    "deduct_invalid_traffic": st.fixed_dictionaries(
        {
            "program_key": keys(PROGRAMS),
            "period_key": keys(PERIODS),
            "adjustment_id": keys(["adj1", "adj2"]),
            "rows": st.lists(st.tuples(keys(CREATORS), keys(["v1", "v2"]), views), max_size=3),
            "reason": texts,
        }
    ),
    "close_period": st.fixed_dictionaries(
        {"program_key": keys(PROGRAMS), "period_key": keys(PERIODS), "effective_at": times}
    ),
    "agree_exclusivity": st.fixed_dictionaries(
        {
            "agreement_key": keys(AGREEMENTS),
            "creator_ref": keys(CREATORS),
            "fund_key": keys(FUNDS),
            "total_minor": amounts,
            "starts_on": days,
            "ends_on": days,
            "schedule": st.sampled_from(["upfront", "monthly", "milestones"]),
            "instalments": st.sampled_from([1, 3, 120, 121, 0]),
            "milestones": st.none() | st.lists(st.tuples(keys(["m1", "m2"]), amounts), max_size=2),
            "effective_at": times,
        }
    ),
    "credit_due_instalments": st.fixed_dictionaries(
        {"agreement_key": keys(AGREEMENTS), "on": days, "effective_at": times}
    ),
    "reach_milestone": st.fixed_dictionaries(
        {"agreement_key": keys(AGREEMENTS), "milestone_id": keys(["m1", "m2", "upfront"])}
    ),
    "breach_exclusivity": st.fixed_dictionaries(
        {"agreement_key": keys(AGREEMENTS), "on": days, "reason": texts, "effective_at": times}
    ),
    "terminate_exclusivity": st.fixed_dictionaries(
        {"agreement_key": keys(AGREEMENTS), "on": days, "reason": texts}
    ),
    "submit_claim": st.fixed_dictionaries(
        {
            "claim_key": keys(CLAIMS),
            "creator_ref": keys(CREATORS),
            "currency": currencies,
            "items": st.lists(st.tuples(keys(ITEMS), texts, amounts, keys(["rcpt-1"])), max_size=3),
        }
    ),
    "approve_claim_item": st.fixed_dictionaries(
        {
            "claim_key": keys(CLAIMS),
            "item_id": keys(ITEMS),
            "amount_minor": st.none() | amounts,
            "note": texts,
        }
    ),
    "reject_claim_item": st.fixed_dictionaries(
        {"claim_key": keys(CLAIMS), "item_id": keys(ITEMS), "reason": texts}
    ),
}


def seed(cl: CreatorLedger) -> None:
    """Something for the random commands to act on."""
    for key, currency in (("f-usd", "USD"), ("f-jpy", "JPY")):
        cl.create_fund(
            fund_key=key,
            name=key,
            currency=currency,
            budget_minor=10**12,
            effective_at=at(),
            idempotency_key=f"seed/{key}",
            actor=ACTOR,
        )
    cl.enrol_creators(
        creators=[(c, c.upper(), "US") for c in CREATORS[:3]],
        effective_at=at(),
        idempotency_key="seed/enrol",
        actor=ACTOR,
    )
    cl.sign_contract(
        creator_ref="c0",
        contract_id="nda-0",
        kind="nda",
        signed_on=DAY,
        reimbursement_currency="USD",
        reimbursement_budget_minor=10**6,
        idempotency_key="seed/nda",
        actor=ACTOR,
    )
    for key, rule in (
        ("pool", PoolShareRule(pool_minor=10**6)),
        ("rate", RatePerMilleRule(rate_micros_per_mille=10**9)),
    ):
        cl.create_program(
            program_key=key,
            name=key,
            fund_key="f-usd",
            rule=rule,
            effective_at=at(),
            idempotency_key=f"seed/{key}",
            actor=ACTOR,
        )
        for n, period in enumerate(PERIODS[:2]):
            d = DAY + timedelta(days=n)
            cl.open_period(
                program_key=key,
                period_key=period,
                starts_on=d,
                ends_on=d,
                effective_at=at(d, 0),
                idempotency_key=f"seed/{key}/{period}",
                actor=ACTOR,
            )
    cl.agree_exclusivity(
        agreement_key="a1",
        creator_ref="c1",
        fund_key="f-usd",
        total_minor=365_000,
        starts_on=DAY,
        ends_on=date(2027, 1, 1),
        schedule="monthly",
        instalments=12,
        effective_at=at(),
        idempotency_key="seed/a1",
        actor=ACTOR,
    )
    cl.submit_claim(
        claim_key="claim",
        creator_ref="c0",
        currency="USD",
        items=[("i1", "camera", 500, "rcpt-1"), ("i2", "lens", 700, "rcpt-1")],
        idempotency_key="seed/claim",
        actor=ACTOR,
    )


def every_read_works(cl: CreatorLedger) -> None:
    """Each read, asserted to give a sensible answer (not merely not to crash)."""
    for creator in CREATORS:
        try:
            now = cl.balances(creator)
        except NotFoundError:
            continue
        assert now.creator_ref == creator
        cl.balances(creator, as_of=date(9998, 12, 31))
        s = cl.statement(creator, since=date(1900, 1, 1), until=date(9998, 12, 31))
        assert s.creator_ref == creator
        for bonus in s.bonuses:
            if bonus.status != "active":
                assert bonus.vested_minor + (bonus.clawback_minor or 0) == bonus.credited_minor
    for key in FUNDS:
        try:
            f = cl.fund(key)
        except NotFoundError:
            continue
        assert f.available_minor + f.committed_minor + f.spent_minor == f.budget_minor
        assert 0 <= f.budget_minor <= BIGINT_MAX
    tb = cl.trial_balance()
    assert tb.balanced, tb.imbalance
    assert cl.journal_lines(limit=10)
    report = cl.reconcile_internal()
    assert report.clean, report.discrepancies
    for currency in CURRENCIES:
        plan = cl.plan(currency=currency)
        assert plan.currency == currency
    cl.rebuild_read_models()
    report = cl.reconcile_internal()
    assert report.clean, report.discrepancies


@settings(
    max_examples=int(os.environ.get("LEDGER_PROPERTY_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_command_is_refused_cleanly_or_leaves_every_read_working(
    cl: CreatorLedger, data: st.DataObject
) -> None:
    if not cl.events_recorded():
        seed(cl)
        every_read_works(cl)
    for _ in range(data.draw(st.integers(1, 4), label="commands")):
        name = data.draw(st.sampled_from(sorted(COMMANDS)), label="command")
        kwargs = data.draw(COMMANDS[name], label=name)
        kwargs = {k: v for k, v in kwargs.items() if v is not None or k == "effective_at"}
        command: Callable[..., Any] = getattr(cl, name)
        before = cl.events_recorded()
        try:
            command(**kwargs, idempotency_key=f"k{next(_keys)}", actor=ACTOR)
        except LedgerError as e:
            assert cl.events_recorded() == before, f"{name} was refused but wrote events"
            event(f"{name}: refused ({type(e).__name__})")
            continue
        event(f"{name}: accepted")
        every_read_works(cl)


_keys = itertools.count()
