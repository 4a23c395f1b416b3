"""Random sequences of commands never unbalance the books or over-commit a fund, and the read
models always equal a replay of the events (hypothesis ``RuleBasedStateMachine``)."""

from __future__ import annotations

import contextlib
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from creator_ledger import CreatorLedger, PoolShareRule, Settings
from creator_ledger.domain.errors import InsufficientBudgetError, InvalidStateError, LedgerError
from tests.conftest import Clock
from tests.scenario import ACTOR

CREATORS = [f"c{i}" for i in range(6)]
amounts = st.integers(min_value=1, max_value=50_000)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.cl = CreatorLedger.open(
            Settings(database_url=f"sqlite:///{Path(self.tmp.name) / 'l.sqlite'}"), clock=Clock()
        )
        self.n = 0
        self.day = date(2026, 1, 1)
        self.open_periods: list[str] = []
        self.agreements: list[str] = []
        self.claims: list[tuple[str, str]] = []
        self.holds: list[tuple[str, str]] = []

    def key(self) -> str:
        self.n += 1
        return f"k{self.n}"

    def at(self) -> datetime:
        return datetime(self.day.year, self.day.month, self.day.day, 12, tzinfo=UTC)

    @initialize(budget=st.integers(min_value=1_000, max_value=200_000))
    def setup(self, budget: int) -> None:
        self.cl.create_fund(
            fund_key="f",
            name="F",
            currency="USD",
            budget_minor=budget,
            idempotency_key="fund",
            actor=ACTOR,
        )
        self.cl.enrol_creators(
            creators=[(c, c, "US") for c in CREATORS], idempotency_key="enrol", actor=ACTOR
        )
        self.cl.create_program(
            program_key="p",
            name="P",
            fund_key="f",
            rule=PoolShareRule(pool_minor=1_000),
            idempotency_key="prog",
            actor=ACTOR,
        )
        for c in CREATORS[:2]:
            self.cl.sign_contract(
                creator_ref=c,
                contract_id=f"nda-{c}",
                kind="nda",
                signed_on=self.day,
                reimbursement_currency="USD",
                reimbursement_budget_minor=20_000,
                idempotency_key=f"nda-{c}",
                actor=ACTOR,
            )

    @rule(pool=amounts, cap=st.none() | amounts)
    def open_period(self, pool: int, cap: int | None) -> None:
        self.day += timedelta(days=1)
        key = self.day.isoformat()
        try:
            self.cl.open_period(
                program_key="p",
                period_key=key,
                starts_on=self.day,
                ends_on=self.day,
                pool_minor=pool,
                effective_at=self.at(),
                idempotency_key=self.key(),
                actor=ACTOR,
            )
        except InsufficientBudgetError:
            assert pool > self.cl.fund("f").available_minor
            return
        self.open_periods.append(key)

    @precondition(lambda self: self.open_periods)
    @rule(data=st.data())
    def report_usage(self, data: st.DataObject) -> None:
        period = data.draw(st.sampled_from(self.open_periods))
        rows = data.draw(
            st.lists(
                st.tuples(
                    st.sampled_from(CREATORS), st.sampled_from(["a", "b"]), st.integers(0, 5_000)
                ),
                min_size=1,
                max_size=8,
                unique_by=lambda row: (row[0], row[1]),  # one row per creator and content
            )
        )
        self.cl.report_usage(
            program_key="p",
            period_key=period,
            report_id=self.key(),
            rows=rows,
            idempotency_key=self.key(),
            actor=ACTOR,
        )

    @precondition(lambda self: self.open_periods)
    @rule(data=st.data())
    def close_period(self, data: st.DataObject) -> None:
        period = data.draw(st.sampled_from(self.open_periods))
        self.cl.close_period(
            program_key="p",
            period_key=period,
            effective_at=self.at(),
            idempotency_key=self.key(),
            actor=ACTOR,
        )
        self.open_periods.remove(period)

    @rule(
        creator=st.sampled_from(CREATORS),
        total=amounts,
        schedule=st.sampled_from(["upfront", "monthly"]),
    )
    def agree(self, creator: str, total: int, schedule: str) -> None:
        key = self.key()
        try:
            self.cl.agree_exclusivity(
                agreement_key=key,
                creator_ref=creator,
                fund_key="f",
                total_minor=total,
                starts_on=self.day,
                ends_on=self.day + timedelta(days=120),
                schedule=schedule,
                instalments=4,  # type: ignore[arg-type]
                effective_at=self.at(),
                idempotency_key=key,
                actor=ACTOR,
            )
        except InsufficientBudgetError:
            return
        except LedgerError:
            # refused only for fewer minor units than the 4 monthly instalments
            assert schedule == "monthly"
            assert total < 4
            return
        self.agreements.append(key)

    @precondition(lambda self: self.agreements)
    @rule(data=st.data(), days=st.integers(0, 150), breach=st.booleans())
    def end_agreement(self, data: st.DataObject, days: int, breach: bool) -> None:
        key = data.draw(st.sampled_from(self.agreements))
        self.day += timedelta(days=days)
        self.cl.credit_due_instalments(
            agreement_key=key,
            on=self.day,
            effective_at=self.at(),
            idempotency_key=self.key(),
            actor=ACTOR,
        )
        end = self.cl.breach_exclusivity if breach else self.cl.terminate_exclusivity
        end(
            agreement_key=key,
            on=self.day,
            reason="ends",
            effective_at=self.at(),
            idempotency_key=self.key(),
            actor=ACTOR,
        )
        self.agreements.remove(key)

    @rule(creator=st.sampled_from(CREATORS[:3]), items=st.lists(amounts, min_size=1, max_size=3))
    def claim(self, creator: str, items: list[int]) -> None:
        key = self.key()
        try:
            self.cl.submit_claim(
                claim_key=key,
                creator_ref=creator,
                currency="USD",
                items=[(f"i{n}", "cost", a, f"r{n}") for n, a in enumerate(items)],
                idempotency_key=key,
                actor=ACTOR,
            )
        except LedgerError:
            assert creator == CREATORS[2]  # no NDA
            return
        self.claims.extend((key, f"i{n}") for n in range(len(items)))

    @precondition(lambda self: self.claims)
    @rule(data=st.data(), approve=st.booleans())
    def decide(self, data: st.DataObject, approve: bool) -> None:
        claim, item = data.draw(st.sampled_from(self.claims))
        self.claims.remove((claim, item))
        if not approve:
            self.cl.reject_claim_item(
                claim_key=claim, item_id=item, reason="no", idempotency_key=self.key(), actor=ACTOR
            )
            return
        with contextlib.suppress(InsufficientBudgetError):  # over budget: refused, nothing written
            self.cl.approve_claim_item(
                claim_key=claim, item_id=item, idempotency_key=self.key(), actor=ACTOR
            )

    @rule(creator=st.sampled_from(CREATORS))
    def hold(self, creator: str) -> None:
        hold_id = self.key()
        self.cl.place_hold(
            creator_ref=creator,
            hold_id=hold_id,
            kind="accrual",
            reason="review",
            idempotency_key=hold_id,
            actor=ACTOR,
        )
        self.holds.append((creator, hold_id))

    @precondition(lambda self: self.holds)
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        creator, hold_id = data.draw(st.sampled_from(self.holds))
        self.holds.remove((creator, hold_id))
        self.cl.release_hold(
            creator_ref=creator, hold_id=hold_id, idempotency_key=self.key(), actor=ACTOR
        )

    @invariant()
    def the_trial_balance_is_zero(self) -> None:
        if self.n:
            assert self.cl.trial_balance().balanced

    @invariant()
    def no_fund_is_over_committed(self) -> None:
        if self.n:
            f = self.cl.fund("f")
            assert f.available_minor >= 0
            assert f.committed_minor >= 0
            assert f.available_minor + f.committed_minor + f.spent_minor == f.budget_minor

    @invariant()
    def no_creator_balance_is_negative(self) -> None:
        for c in CREATORS[: 1 + self.n % len(CREATORS)]:
            for b in self.cl.balances(c).balances:
                assert min(b.payable_minor, b.held_minor, b.receivable_minor) >= 0

    def teardown(self) -> None:
        try:
            if self.n:
                report = self.cl.reconcile_internal()
                assert report.clean, report.discrepancies
        finally:
            self.cl.close()
            self.tmp.cleanup()


LedgerMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
test_random_commands_keep_the_books_balanced = LedgerMachine.TestCase

__all__ = ["InvalidStateError"]
