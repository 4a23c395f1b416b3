"""W4 against a Stripe-like provider: payout execution where the provider, not the ledger, sets
the pace (latency 150-300 ms a call, 100 requests/s, 5% transient errors; see
:mod:`bench.stripe_like`).

In a database of its own (so it disturbs no other workload): ``payouts`` creators enrolled and
credited for one period (as in W1), a run paying every one of them, proposed and approved (not
timed), and ``cl.execute(run_id, provider, send_concurrency=K)`` (timed).  Reported: requests/s
the provider served (against its limit), payouts/s, 429s, transient errors, duplicates
(payouts with more than one transfer: must be 0) and payouts left unresolved after the run.

The target reads "execution reaches 90% of the rate limit" as *payouts paid* per second (every
payout needs at least one request, so the limit caps it at 100/s): requests the provider served
are reported beside it, but they include every lookup an executor makes after a 429, so an
executor could keep the provider busy and still pay slowly.
"""

from __future__ import annotations

from typing import Any

from bench import db, workloads
from bench.measure import timed
from bench.stripe_like import RATE_LIMIT_PER_S, StripeLikeProvider
from creator_ledger import CreatorLedger, LedgerError, Settings


def run(
    server: str, dbname: str, payouts: int, concurrency: int, *, seed: int = 4
) -> dict[str, Any]:
    url = db.fresh_database(server, dbname)
    try:
        with CreatorLedger.open(Settings(database_url=url)) as cl:
            workloads.seed(cl, payouts)
            workloads.w1_period_close(cl, payouts)
            plan = cl.plan(currency="USD")
            proposed = cl.propose(
                currency="USD", idempotency_key="w4-stripe-propose", actor=workloads.ACTOR
            )
            cl.approve(
                proposed.run_id, idempotency_key="w4-stripe-approve", actor=workloads.APPROVER
            )
            provider = StripeLikeProvider(seed=seed)
            error = None
            with timed() as t:
                try:
                    result = cl.execute(
                        proposed.run_id,
                        provider,
                        send_concurrency=concurrency,
                        actor=workloads.ACTOR,
                    )
                except LedgerError as exc:
                    result = None
                    error = f"{type(exc).__name__}: {exc.message}"
    finally:
        db.drop_database(server, dbname)
    stats = provider.stats
    served = sum(stats.served.values())
    attempts = sum(stats.calls.values())
    at_provider = len(provider.inner.transfers())
    out: dict[str, Any] = {
        "planned": len(plan.lines),
        "send_concurrency": concurrency,
        "rate_limit_per_s": RATE_LIMIT_PER_S,
        "execute_s": t.seconds,
        "requests_per_s": served / t.seconds,
        "attempts_per_s": attempts / t.seconds,
        "share_of_rate_limit": served / t.seconds / RATE_LIMIT_PER_S,
        "transfers_at_provider": at_provider,
        "duplicates": provider.duplicates(),
        **stats.as_dict(),
        "error": error,
    }
    if result is not None:
        out |= {
            "paid": result.paid,
            "failed": result.failed,
            "unresolved": result.unresolved,
            "payouts_per_s": result.paid / t.seconds,
            "payouts_share_of_rate_limit": result.paid / t.seconds / RATE_LIMIT_PER_S,
        }
    else:
        out |= {
            "paid": 0,
            "failed": 0,
            "unresolved": len(plan.lines),
            "payouts_per_s": 0.0,
            "payouts_share_of_rate_limit": 0.0,
        }
    return out
