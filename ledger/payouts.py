"""Payout runs: plan (the dry run), execute exactly once through a payment provider, status,
and the provider's webhooks.

Execution of a plan, in batches fixed by the plan:

1. **Request** (one transaction per batch): each creator's receivable offset and payout
   request are written to their account book (payable -> in transit, refused if it would
   overdraw: the book is the write model), a :class:`~domain.payout.Payout` is created with its
   provider idempotency key fixed from its id, and the run records the batch.  A batch already
   recorded — by an earlier, interrupted execution or by a concurrent one — is skipped.
2. **Send**: each requested payout becomes one provider transfer under its own key.  A
   rejection fails the payout (in transit -> payable, with the reason).  An unknown outcome
   (timeout, 5xx, reset) is resolved by asking the provider for the payout's transfer; only if
   it has none is the request sent again, under the same key.  A payout whose execution was
   interrupted is always looked up first.
3. **Record** the outcomes (paid: in transit -> cash; failed) in one transaction per batch.

So whatever crashes, each payout is one transfer at the provider and a run started again
finishes what is left.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from creator_ledger.adapters.payments.port import PaymentProvider, TransferRequest
from creator_ledger.adapters.payments.webhooks import ProviderEvent, parse_stripe_webhook
from creator_ledger.domain.accounts import CREATOR_PAYABLE, CREATOR_RECEIVABLE
from creator_ledger.domain.creator import Creator
from creator_ledger.domain.errors import (
    ConcurrencyError,
    InvalidInputError,
    PaymentOutcomeUnknownError,
    PaymentRejectedError,
    StalePlanError,
)
from creator_ledger.domain.ids import book_shard, book_shard_hex
from creator_ledger.domain.payout import Payout, PayoutRun
from creator_ledger.ledger.core import MAX_ATTEMPTS, LedgerCore
from creator_ledger.ledger.plan import PayoutPlan, compute_plan
from creator_ledger.ledger.results import ProviderEventResult, RunResult, RunStatus, SkippedPayout
from creator_ledger.ledger.validation import Currency, NonNegativeMinor, command

DEFAULT_BATCH_SIZE = 2_000
#: Sends of one payout in one execution (same key each time) before it is left unresolved.
MAX_SEND_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class _Item:
    """One creator's part of a plan: an offset, a payout, or both."""

    creator_id: str
    creator_ref: str
    destination: str
    offset_minor: int
    amount_minor: int


@dataclass(frozen=True, slots=True)
class _Outcome:
    payout: Payout
    transfer_id: str | None = None  # paid
    failure: tuple[str, str] | None = None  # (code, message): failed

    @property
    def resolved(self) -> bool:
        return self.transfer_id is not None or self.failure is not None


def _items(plan: PayoutPlan) -> list[_Item]:
    offsets = {o.creator_id: o for o in plan.offsets}
    items = [
        _Item(x.creator_id, x.creator_ref, x.destination, x.offset_minor, x.amount_minor)
        for x in plan.lines
    ]
    paid = {x.creator_id for x in plan.lines}
    items += [
        _Item(o.creator_id, o.creator_ref, "", o.amount_minor, 0)
        for o in plan.offsets
        if o.creator_id not in paid
    ]
    assert all(
        offsets[i.creator_id].amount_minor == i.offset_minor for i in items if i.offset_minor
    )
    return sorted(items, key=lambda i: (i.creator_ref, i.creator_id))


class PayoutCommands(LedgerCore):
    # -- plan ---------------------------------------------------------------------------

    @command
    def plan(
        self,
        *,
        currency: Currency,
        as_of: date | None = None,
        threshold_minor: NonNegativeMinor | None = None,
        catch_up: bool = True,
    ) -> PayoutPlan:
        """The dry run: who would be paid what in ``currency``, and why everyone else is left
        out.  Writes nothing to the ledger (``catch_up`` only brings the read models, which are
        derived from it, up to date first).  With ``as_of``, pays at most what was payable at
        the end of that business day."""
        if catch_up:
            self.catch_up()
        threshold = (
            self.settings.threshold_minor(currency) if threshold_minor is None else threshold_minor
        )
        return self._compute_plan(currency, as_of, threshold)

    def _compute_plan(self, currency: str, as_of: date | None, threshold: int) -> PayoutPlan:
        rm = self.read_models
        balances = rm.creator_balances(currency, [CREATOR_PAYABLE, CREATOR_RECEIVABLE])
        if as_of is not None:
            then = rm.creator_payables_as_of(currency, as_of)
            for creator, kinds in balances.items():
                now = kinds.get(CREATOR_PAYABLE, 0)  # credit-normal: more negative = more owed
                kinds[CREATOR_PAYABLE] = max(now, then.get(creator, 0))
        return compute_plan(
            currency=currency,
            as_of=as_of,
            threshold_minor=threshold,
            balances=balances,
            gates=rm.creator_gates(),
            read_model_position=rm.position(),
        )

    # -- execute ------------------------------------------------------------------------

    def execute(
        self,
        plan: PayoutPlan,
        provider: PaymentProvider,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        send_concurrency: int = 1,
        progress: Callable[[str, int], None] | None = None,
    ) -> RunResult:
        """Pay exactly ``plan``, or refuse it (:class:`StalePlanError`) when the balances or
        gates it was computed from have changed.  Safe to run again after any interruption,
        and concurrently with itself: every payout is one transfer."""
        if not 1 <= batch_size <= 5_000:
            raise InvalidInputError("batch_size must be 1..5000", batch_size=batch_size)
        if not 1 <= send_concurrency <= 32:
            raise InvalidInputError(
                "send_concurrency must be 1..32", send_concurrency=send_concurrency
            )
        plan.verify()
        tick = progress or (lambda _phase, _n: None)
        run = self._start_run(plan, batch_size)
        # A run started before (not by this call) may have payouts an earlier execution left.
        resumed = not run.pending_events
        items = _items(plan)
        batches = [items[i : i + run.batch_size] for i in range(0, len(items), run.batch_size)]
        created: list[Payout] = []
        own_batches = 0
        for n, batch in enumerate(batches):
            run, made, ours = self._request_batch(run, n, batch, plan)
            created.extend(made)
            own_batches += ours
            tick("requested", len(batch))
        if not batches and run.version == 0:
            self.app.save(run)
        todo: list[tuple[Payout, bool]] = [(p, False) for p in created]
        if resumed:
            known = {p.id for p in created}
            todo += [(p, True) for p in self._requested_payouts(run.run_id, known)]
        outcomes: list[_Outcome] = []
        for start in range(0, len(todo), run.batch_size):
            chunk = todo[start : start + run.batch_size]
            results = self._send_all(provider, chunk, send_concurrency)
            self._record_outcomes(results)
            outcomes.extend(results)
            tick("sent", len(chunk))
        if resumed or own_batches < len(batches):
            # Another executor shares (or shared) this run: settle whatever still waits, its
            # payouts included.  Asking the provider first and sending under the payout's own
            # key makes this safe even while that executor is still at work.
            leftovers = [(p, True) for p in self._requested_payouts(run.run_id, set())]
            if leftovers:
                self._record_outcomes(self._send_all(provider, leftovers, send_concurrency))
            return self._finish_from_read_models(run, plan)
        return self._finish(run, plan, outcomes)

    def _send_all(
        self, provider: PaymentProvider, chunk: Sequence[tuple[Payout, bool]], concurrency: int
    ) -> list[_Outcome]:
        """Send a chunk, in order or ``concurrency`` at a time; a crash stops sending at once."""
        if concurrency == 1:
            return [self._send(provider, p, ask_first=ask) for p, ask in chunk]
        pool = ThreadPoolExecutor(max_workers=concurrency)
        try:
            futures = [pool.submit(self._send, provider, p, ask_first=ask) for p, ask in chunk]
            return [f.result() for f in futures]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _load_run(self, run_id: str) -> PayoutRun | None:
        try:
            run: Aggregate = self.app.repository.get(PayoutRun.create_id(run_id))
        except AggregateNotFoundError:
            return None
        assert isinstance(run, PayoutRun)
        return run

    def _start_run(self, plan: PayoutPlan, batch_size: int) -> PayoutRun:
        run = self._load_run(plan.run_id)
        if run is not None:
            if run.plan_hash != plan.content_hash:
                msg = f"run {plan.run_id} was started from another plan file"
                raise StalePlanError(msg, run_id=plan.run_id)
            return run
        self.catch_up()
        current = self._compute_plan(plan.currency, plan.as_of, plan.threshold_minor)
        if current.inputs_hash != plan.inputs_hash:
            # A concurrent executor of this very plan may have just started it (and so changed
            # the balances): then join its run instead of calling the plan stale.
            started = self._load_run(plan.run_id)
            if started is not None and started.plan_hash == plan.content_hash:
                return started
            raise StalePlanError(_staleness(plan, current), run_id=plan.run_id)
        return PayoutRun(
            run_id=plan.run_id,
            plan_hash=plan.content_hash,
            currency=plan.currency,
            lines=len(plan.lines),
            total_minor=plan.total_minor,
            batch_size=batch_size,
            effective_at=self.clock(),
        )

    def _request_batch(
        self, run: PayoutRun, n: int, batch: Sequence[_Item], plan: PayoutPlan
    ) -> tuple[PayoutRun, list[Payout], int]:
        """Request batch ``n`` (unless it was already); returns the run, the payouts this call
        requested, and 1 if it requested the batch, 0 if someone else had."""
        for _ in range(MAX_ATTEMPTS):
            if run.has_requested(n):
                return run, [], 0
            at = self.clock()
            books = self._books(book_shard_hex(i.creator_id) for i in batch)
            skipped: list[list[str]] = []
            payouts: list[Payout] = []
            lines_by_book: dict[int, list[list[Any]]] = {}
            for item in batch:
                shard = book_shard_hex(item.creator_id)
                payable, _, receivable = books[shard].balance(item.creator_id, plan.currency)
                if (
                    payable < item.offset_minor + item.amount_minor
                    or receivable < item.offset_minor
                ):
                    skipped.append([item.creator_id, "balance changed since the plan"])
                    continue
                if item.offset_minor:
                    books[shard].offset_receivable(
                        item.creator_id,
                        plan.currency,
                        item.offset_minor,
                        reference=run.run_id,
                        effective_at=at,
                    )
                if item.amount_minor:
                    payout = Payout.request(
                        run_id=run.run_id,
                        creator_id=UUID(hex=item.creator_id),
                        currency=plan.currency,
                        amount_minor=item.amount_minor,
                        destination=item.destination,
                        effective_at=at,
                    )
                    payouts.append(payout)
                    lines_by_book.setdefault(shard, []).append(
                        [payout.id, item.creator_id, item.amount_minor]
                    )
            for shard, lines in lines_by_book.items():
                books[shard].request_payouts(
                    run_id=run.run_id, currency=plan.currency, lines=lines, effective_at=at
                )
            run.record_batch(n, len(payouts), skipped, effective_at=at)
            try:
                self.app.save(run, *books.values(), *payouts)
            except IntegrityError:
                # Another executor wrote first (this run, or a book): reload and look again.
                fresh = self._load_run(run.run_id)
                if fresh is None:
                    fresh = self._start_run(plan, run.batch_size)
                run = fresh
                continue
            return run, payouts, 1
        msg = f"run {run.run_id}: batch {n} lost {MAX_ATTEMPTS} races with concurrent writers"
        raise ConcurrencyError(msg, run_id=run.run_id)

    def _requested_payouts(self, run_id: str, known: set[UUID]) -> list[Payout]:
        """Payouts of the run still waiting for an outcome that this execution did not request
        itself (an earlier, interrupted execution did)."""
        self.catch_up()
        waiting = [
            UUID(str(row[0]))
            for row in self.read_models.payouts(run_id=run_id)
            if row[6] == "requested" and UUID(str(row[0])) not in known
        ]
        loaded = self.loader.get_many(waiting)
        return [p for p in loaded.values() if isinstance(p, Payout) and p.status == "requested"]

    def _send(self, provider: PaymentProvider, payout: Payout, *, ask_first: bool) -> _Outcome:
        payout_id = str(payout.id)
        request = TransferRequest(
            payout_id=payout_id,
            idempotency_key=payout.idempotency_key,
            destination=payout.destination,
            amount_minor=payout.amount_minor,
            currency=payout.currency,
            metadata={
                "payout_id": payout_id,
                "run_id": payout.run_id,
                "creator_id": payout.creator_id.hex,
            },
            transfer_group=payout_id,
        )
        for attempt in range(MAX_SEND_ATTEMPTS):
            try:
                if ask_first or attempt:
                    found = provider.find_transfer(payout_id)
                    if found is not None:
                        return _Outcome(payout, transfer_id=found.transfer_id)
                transfer = provider.create_transfer(request)
            except PaymentRejectedError as e:
                code = str(e.fields.get("code") or e.fields.get("error_type") or "rejected")
                return _Outcome(payout, failure=(code, e.message))
            except PaymentOutcomeUnknownError:
                continue  # ask the provider on the next attempt, then send under the same key
            return _Outcome(payout, transfer_id=transfer.transfer_id)
        try:
            found = provider.find_transfer(payout_id)
        except PaymentOutcomeUnknownError:
            found = None
        return _Outcome(payout, transfer_id=found.transfer_id if found is not None else None)

    def _record_outcomes(self, outcomes: Sequence[_Outcome]) -> None:
        resolved = [o for o in outcomes if o.resolved]
        for _ in range(MAX_ATTEMPTS):
            at = self.clock()
            touched: list[Aggregate] = []
            failed = [o for o in resolved if o.failure is not None]
            books = self._books(book_shard(o.payout.creator_id) for o in failed)
            for o in resolved:
                if o.payout.status != "requested":
                    continue
                if o.transfer_id is not None:
                    o.payout.mark_paid(o.transfer_id, effective_at=at)
                else:
                    assert o.failure is not None
                    code, reason = o.failure
                    o.payout.mark_failed(code=code, reason=reason, effective_at=at)
                    books[book_shard(o.payout.creator_id)].return_payout(
                        payout_id=o.payout.id,
                        creator_id=o.payout.creator_id.hex,
                        currency=o.payout.currency,
                        amount_minor=o.payout.amount_minor,
                        reason=f"{code}: {reason}",
                        effective_at=at,
                    )
                touched.append(o.payout)
            try:
                self.app.save(*touched, *books.values())
                return
            except IntegrityError:
                # A concurrent executor recorded some of these: reload them and try again.
                reloaded = []
                for o in resolved:
                    payout: Aggregate = self.app.repository.get(o.payout.id)
                    assert isinstance(payout, Payout)
                    reloaded.append(_Outcome(payout, o.transfer_id, o.failure))
                resolved = reloaded
        raise ConcurrencyError("recording payout outcomes kept conflicting with another executor")

    def _finish(self, run: PayoutRun, plan: PayoutPlan, outcomes: list[_Outcome]) -> RunResult:
        """The result of a run this call requested and sent entirely: from its own outcomes
        (the read models catch up on the next query)."""
        paid = [o for o in outcomes if o.transfer_id is not None]
        failures = [
            {
                "payout_id": str(o.payout.id),
                "creator_id": o.payout.creator_id.hex,
                "failure": ": ".join(o.failure),
            }
            for o in outcomes
            if o.failure is not None
        ]
        unresolved = len(outcomes) - len(paid) - len(failures)
        return self._result(
            run,
            plan,
            len(outcomes),
            len(paid),
            sum(o.payout.amount_minor for o in paid),
            failures,
            unresolved,
        )

    def _finish_from_read_models(self, run: PayoutRun, plan: PayoutPlan) -> RunResult:
        """The result of a resumed or shared run: the whole run, from the read models."""
        self.catch_up()
        rows = self.read_models.payouts(run_id=run.run_id)
        done = [r for r in rows if r[6] in {"paid", "reversed"}]
        failures = [
            {"payout_id": str(r[0]), "creator_id": r[2], "failure": r[8] or ""}
            for r in rows
            if r[6] == "failed"
        ]
        unresolved = sum(1 for r in rows if r[6] == "requested")
        return self._result(
            run, plan, len(rows), len(done), sum(int(r[4]) for r in done), failures, unresolved
        )

    def _result(
        self,
        run: PayoutRun,
        plan: PayoutPlan,
        requested: int,
        paid: int,
        paid_minor: int,
        failures: list[dict[str, str]],
        unresolved: int,
    ) -> RunResult:
        fresh = self._load_run(run.run_id)
        assert fresh is not None
        if not unresolved and not fresh.finished:
            fresh.finish(paid=paid, failed=len(failures), effective_at=self.clock())
            with contextlib.suppress(IntegrityError):  # a concurrent executor finished it
                self.app.save(fresh)
        return RunResult(
            run_id=run.run_id,
            currency=plan.currency,
            planned=len(plan.lines),
            requested=requested,
            paid=paid,
            failed=len(failures),
            unresolved=unresolved,
            paid_minor=paid_minor,
            skipped=[SkippedPayout(creator_id=c, reason=r) for c, r in fresh.skipped],
            failures=failures,
        )

    # -- status -------------------------------------------------------------------------

    def payout_status(self, run_id: str) -> RunStatus:
        self.catch_up()
        rows = self.read_models.payouts(run_id=run_id)
        counts: dict[str, int] = {}
        amounts: dict[str, int] = {}
        for row in rows:
            counts[row[6]] = counts.get(row[6], 0) + 1
            amounts[row[6]] = amounts.get(row[6], 0) + int(row[4])
        return RunStatus(
            run_id=run_id,
            by_status=counts,
            amount_by_status_minor=amounts,
            currency=rows[0][3].strip() if rows else None,
            failures=[
                {"payout_id": str(r[0]), "creator_id": r[2], "failure": r[8] or ""}
                for r in rows
                if r[6] == "failed"
            ],
            unresolved=[str(r[0]) for r in rows if r[6] == "requested"],
        )

    # -- webhooks -----------------------------------------------------------------------

    def handle_stripe_webhook(
        self, raw_body: bytes, signature_header: str, *, secret: str
    ) -> ProviderEventResult:
        """Verify a Stripe webhook (raw body and ``Stripe-Signature`` header) and record it.
        A bad signature raises :class:`WebhookSignatureError` and writes nothing; a replayed
        event changes nothing."""
        return self.record_provider_event(parse_stripe_webhook(raw_body, signature_header, secret))

    def record_provider_event(self, event: ProviderEvent) -> ProviderEventResult:
        """``transfer.reversed`` -> the payout's reversal (cash back; the creator is owed it
        again, after settling what they owe); ``payout.paid`` / ``payout.failed`` -> the
        creator's bank payout (a failure also holds their payouts).  Idempotent on the event."""
        args = {
            "event_id": event.event_id,
            "type": event.type,
            "object_id": event.object_id,
            "account": event.account,
            "amount_minor": event.amount_minor,
            "amount_reversed_minor": event.amount_reversed_minor,
            "payout_id": event.payout_id,
        }

        def work() -> tuple[list[Aggregate], ProviderEventResult]:
            if event.type == "transfer.reversed":
                return self._transfer_reversed(event)
            if event.type in {"payout.paid", "payout.failed"}:
                return self._bank_payout(event)
            return [], ProviderEventResult(
                event_id=event.event_id, type=event.type, action="ignored"
            )

        return self._execute(
            "provider_event", f"provider-event:{event.event_id}", args, ProviderEventResult, work
        )

    def _transfer_reversed(
        self, event: ProviderEvent
    ) -> tuple[list[Aggregate], ProviderEventResult]:
        def result(action: str, **kw: Any) -> ProviderEventResult:
            return ProviderEventResult(
                event_id=event.event_id, type=event.type, action=action, **kw
            )

        payout_id = event.payout_id
        if payout_id is None:  # no ledger metadata on the transfer: look it up by transfer id
            self.catch_up()
            payout_id = self.read_models.payout_by_transfer(event.object_id or "")
        payout = self._payout(payout_id)
        if payout is None or payout_id is None:
            return [], result(
                "ignored", detail=f"transfer {event.object_id} was not made by the ledger"
            )
        reversed_total = event.amount_reversed_minor or event.amount_minor or 0
        new = reversed_total - payout.reversed_minor
        if new <= 0 or payout.status not in {"paid", "reversed"}:
            return [], result("already_recorded", payout_id=payout_id)
        at = event.created
        payout.mark_reversed(
            event.event_id, new, reason="transfer reversed at the provider", effective_at=at
        )
        book = self._book(payout.creator_id, creator_ref=payout.creator_id.hex)
        book.credit_reversal(
            payout_id=payout.id,
            creator_id=payout.creator_id.hex,
            currency=payout.currency,
            amount_minor=new,
            reason=f"transfer {event.object_id} reversed",
            effective_at=at,
        )
        return [payout, book], result(
            "reversal_recorded",
            payout_id=payout_id,
            creator_id=payout.creator_id.hex,
            amount_minor=new,
        )

    def _payout(self, payout_id: str | None) -> Payout | None:
        try:
            ident = UUID(payout_id or "")
        except ValueError:
            return None
        payout = self.loader.get_many([ident]).get(ident)
        return payout if isinstance(payout, Payout) else None

    def _bank_payout(self, event: ProviderEvent) -> tuple[list[Aggregate], ProviderEventResult]:
        self.catch_up()
        creator_hex = self.read_models.creator_by_payout_account(event.account or "")
        if creator_hex is None:
            detail = f"no creator has payout account {event.account}"
            return [], ProviderEventResult(
                event_id=event.event_id, type=event.type, action="ignored", detail=detail
            )
        creator: Aggregate = self.app.repository.get(UUID(hex=creator_hex))
        assert isinstance(creator, Creator)
        status = "paid" if event.type == "payout.paid" else "failed"
        failure = (
            f"{event.failure_code or ''}: {event.failure_message or ''}"
            if status == "failed"
            else ""
        )
        creator.report_bank_payout(
            provider_payout_id=event.object_id or "",
            status=status,
            currency=event.currency or "",
            amount_minor=event.amount_minor or 0,
            failure=failure,
            effective_at=event.created,
        )
        hold_id = f"bank-payout-failed-{event.object_id}"
        if status == "failed" and hold_id not in creator.holds:
            creator.place_hold(
                hold_id,
                kind="payout",
                reason=(
                    f"the bank rejected payout {event.object_id} ({failure.strip(': ')});"
                    " fix the bank account"
                ),
                effective_at=event.created,
            )
        return [creator], ProviderEventResult(
            event_id=event.event_id,
            type=event.type,
            action="bank_payout_recorded",
            creator_id=creator_hex,
            amount_minor=event.amount_minor,
            detail=failure,
        )


def _staleness(plan: PayoutPlan, current: PayoutPlan) -> str:
    before = {x.creator_id: x.amount_minor for x in plan.lines}
    now = {x.creator_id: x.amount_minor for x in current.lines}
    changed = sorted(c for c in before.keys() | now.keys() if before.get(c) != now.get(c))
    excl_before = {x.creator_id: x.reasons for x in plan.excluded}
    excl_now = {x.creator_id: x.reasons for x in current.excluded}
    changed_excl = sorted(
        c for c in excl_before.keys() | excl_now.keys() if excl_before.get(c) != excl_now.get(c)
    )
    parts = [f"the balances or gates plan {plan.run_id} was computed from have changed"]
    if changed:
        parts.append(f"{len(changed)} payout line(s) differ (e.g. creator {changed[0]})")
    if changed_excl:
        parts.append(f"{len(changed_excl)} exclusion(s) differ")
    if plan.offsets != current.offsets:
        parts.append("receivable offsets differ")
    parts.append("make a new plan")
    return "; ".join(parts)
