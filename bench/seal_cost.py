"""``python -m bench --seal-cost``: what sealing the events (the hash chain, migration 0007)
costs W1 and W2, measured in one run on one database.

After the usual setup (N creators), W1 (a period close of N creators: split, events stored,
read models caught up) and W2 (reimbursement approvals, one client) run in rounds: one
warm-up round (not counted), then eight with the sealing trigger on, off, off, on, off, on,
on, off (so a drift of the machine or of the tables' size weighs on both sides alike); each
round closes a program period of its own and approves items of its own.  The figures are the
median of each side's four rounds (the machine is shared: a median shrugs off a round that
another process slowed), and the cost is ``with / without - 1`` (time for W1, operations per
second for W2).  The target is a cost of at most 10% each (issue 11).

``--without-seals`` (for the whole suite) turns the trigger off right after ``migrate``.  Both
leave the bench database's chain broken where events were written unsealed: it is dropped at
the next run anyway.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import psycopg

from bench import workloads
from bench.measure import timed
from creator_ledger import CreatorLedger, PoolShareRule

#: The rounds: with the sealing trigger on (True) or off (False); the first is a warm-up.
ROUNDS = (True, True, False, False, True, False, True, True, False)
WARMUP_ROUNDS = 1
#: Most the sealing may cost W1 and W2.
LIMIT = 0.10


def set_sealing(conninfo: str, *, on: bool) -> None:
    """Turn the events' sealing trigger on or off (as the table's owner, as the bench is)."""
    action = "ENABLE" if on else "DISABLE"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE ledger_events {action} TRIGGER ledger_events_sealed")


def _w1_round(cl: CreatorLedger, creators: int, n: int) -> dict[str, float]:
    program, at = f"seal-cost-{n}", workloads.at
    day = workloads.DAY
    cl.create_program(
        program_key=program,
        name=program,
        fund_key="bench",
        rule=PoolShareRule(pool_minor=creators * 10_000, creator_cap_minor=200_000),
        effective_at=at(day, 2),
        idempotency_key=f"program/{program}",
        actor=workloads.ACTOR,
    )
    cl.open_period(
        program_key=program,
        period_key="d1",
        starts_on=day,
        ends_on=day,
        effective_at=at(day, 3),
        idempotency_key=f"open/{program}",
        actor=workloads.ACTOR,
    )
    cl.report_usage(
        program_key=program,
        period_key="d1",
        report_id="usage",
        rows=workloads.w1_usage(creators),
        effective_at=at(day, 23),
        idempotency_key=f"usage/{program}",
        actor=workloads.ACTOR,
    )
    cl.catch_up()
    with timed() as close:
        cl.close_period(
            program_key=program,
            period_key="d1",
            effective_at=workloads.W1_CLOSE_AT,
            idempotency_key=f"close/{program}",
            actor=workloads.ACTOR,
        )
    with timed() as project:
        cl.catch_up()
    return {"close_s": close.seconds, "seconds": close.seconds + project.seconds}


def run(
    cl: CreatorLedger,
    url: str,
    conninfo: str,
    creators: int,
    w2_ops: int,
    *,
    timeout_s: float,
    step: Callable[[str], None],
) -> dict[str, Any]:
    """The four rounds (see the module docstring); the trigger is left on."""
    per = workloads.WARMUP_OPS + w2_ops
    claims = -(-per // workloads.ITEMS_PER_CLAIM)
    step(f"seal cost: W2 claims for {len(ROUNDS)} rounds")
    items = [workloads.w2_setup(cl, claims, offset=i * claims)[:per] for i in range(len(ROUNDS))]
    rounds: list[dict[str, Any]] = []
    try:
        for n, on in enumerate(ROUNDS):
            set_sealing(conninfo, on=on)
            step(f"seal cost round {n + 1}: W1 and W2 with sealing {'on' if on else 'off'}")
            w1 = _w1_round(cl, creators, n)
            w2 = workloads.w2_single_commands(url, items[n], 1, w2_ops, timeout_s=timeout_s)
            rounds.append(
                {
                    "sealing": on,
                    "warmup": n < WARMUP_ROUNDS,
                    "w1_seconds": w1["seconds"],
                    "w1_close_s": w1["close_s"],
                    "w2_ops_per_s": w2["ops_per_s"],
                    "w2_p50_ms": w2["p50_ms"],
                }
            )
    finally:
        set_sealing(conninfo, on=True)

    def mean(key: str, *, on: bool) -> float:  # the median of the side's counted rounds
        return float(
            statistics.median(r[key] for r in rounds if r["sealing"] is on and not r["warmup"])
        )

    keys = ("w1_seconds", "w1_close_s", "w2_ops_per_s", "w2_p50_ms")
    w1_cost = mean("w1_seconds", on=True) / mean("w1_seconds", on=False) - 1
    w2_cost = mean("w2_ops_per_s", on=False) / mean("w2_ops_per_s", on=True) - 1
    return {
        "creators": creators,
        "w2_ops": w2_ops,
        "rounds": rounds,
        "with_seals": {k: mean(k, on=True) for k in keys},
        "without_seals": {k: mean(k, on=False) for k in keys},
        "w1_cost": w1_cost,
        "w1_close_cost": mean("w1_close_s", on=True) / mean("w1_close_s", on=False) - 1,
        "w2_cost": w2_cost,
        "limit": LIMIT,
        "within_limit": w1_cost <= LIMIT and w2_cost <= LIMIT,
    }


def print_report(figures: dict[str, Any], print_line: Callable[[str], None]) -> None:
    w, wo = figures["with_seals"], figures["without_seals"]
    print_line(
        f"seal cost ({figures['creators']:,} creators, W2 {figures['w2_ops']:,} approvals,"
        f" median of 4 rounds each)"
    )
    print_line(
        f"  W1 period close: {w['w1_seconds']:.3f} s with seals, {wo['w1_seconds']:.3f} s"
        f" without: {figures['w1_cost']:+.1%} (close alone {figures['w1_close_cost']:+.1%})"
    )
    print_line(
        f"  W2 approvals: {w['w2_ops_per_s']:.1f} ops/s with seals, {wo['w2_ops_per_s']:.1f}"
        f" without: {figures['w2_cost']:+.1%}"
    )
    verdict = "within" if figures["within_limit"] else "OVER"
    print_line(f"  limit {figures['limit']:.0%}: {verdict}")
