"""``python -m bench --seal-cost``: what sealing the events (the hash chain, migration 0007)
costs W1 and W2, measured in one run on one database.

After the usual setup (N creators), W1 (a period close of N creators: split, events stored,
read models caught up) and W2 (reimbursement approvals, one client) run in rounds: one
warm-up round (not counted), then eight with the sealing trigger on, off, off, on, off, on,
on, off: four adjacent pairs of one round with and one without (so a drift of the machine or
of the tables' size weighs on both sides alike); each round closes a program period of its own
and approves items of its own.  The cost is the median over the pairs of ``with / without - 1``
(time for W1, operations per second for W2): the machine is shared, and a pair's two rounds
run under nearly the same load where rounds far apart do not.  The figures per side are
medians too.  The target is a cost of at most 10% each (issue 11).

The machine is shared, so whole rounds vary by tens of percent from one to the next.  The
trigger's own cost is therefore also measured inside the database, where nothing else weighs
on it: in one transaction (rolled back), the insert statements W1 and W2 make (256 account
book events in one statement; 4 small events in one statement) run many times with the
trigger on and off, interleaved, and the difference per statement is set against the time of a
W1 close and of a W2 command without seals (``w1_trigger_share``, ``w2_trigger_share``).

``--without-seals`` (for the whole suite) turns the trigger off right after ``migrate``.  Both
leave the bench database's chain broken where events were written unsealed: it is dropped at
the next run anyway.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from bench import scratch, workloads
from bench.measure import timed
from creator_ledger import CreatorLedger, PoolShareRule

#: The rounds: with the sealing trigger on (True) or off (False); the first is a warm-up.
ROUNDS = (True, True, False, False, True, False, True, True, False)
WARMUP_ROUNDS = 1
#: Most the sealing may cost W1 and W2.
LIMIT = 0.10
_LEDGER_EVENTS = sql.Identifier("ledger_events")


def set_sealing(conninfo: str, *, on: bool) -> None:
    """Turn the events' sealing trigger on or off (as the table's owner, as the bench is)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        scratch.set_trigger(conn, _LEDGER_EVENTS, scratch.LEDGER_SEAL_TRIGGER, on=on)


#: (label, topic of the stored events copied, rows per statement, statements per measure)
_SHAPES = (
    ("w1", "creator-ledger/AccountBook.ViewEarningsCredited", 256, 10),
    ("w2", "creator-ledger/AccountBook.ReimbursementCredited", 4, 300),
)


def trigger_cost(conninfo: str) -> dict[str, float]:
    """Seconds the sealing trigger adds to one insert statement of each shape (see the module
    docstring), measured in a transaction that is rolled back."""
    out: dict[str, float] = {}
    with psycopg.connect(conninfo) as conn:
        for label, topic, rows, statements in _SHAPES:
            conn.execute(
                "CREATE TEMP TABLE seal_cost_src ON COMMIT DROP AS"
                " SELECT topic, state FROM ledger_events WHERE topic = %s LIMIT %s",
                (topic, rows),
            )
            found = conn.execute("SELECT count(*) FROM seal_cost_src").fetchone()
            if found is None or found[0] != rows:
                # An insert of fewer rows than the workload's would time next to nothing and
                # report it as the trigger's cost.
                msg = (
                    f"seal cost ({label}): the database has {found[0] if found else 0} stored"
                    f" {topic} events, {rows} are needed to time a {label.upper()}-shaped"
                    " insert; run the W1 and W2 rounds first"
                )
                raise RuntimeError(msg)
            out[f"{label}_rows"] = float(rows)
            loop = (
                f"DO $$ BEGIN FOR i IN 1..{statements} LOOP"
                " INSERT INTO ledger_events (originator_id, originator_version, topic, state)"
                " SELECT gen_random_uuid(), 1, topic, state FROM seal_cost_src;"
                " END LOOP; END $$"
            )
            sides: dict[bool, list[float]] = {True: [], False: []}
            for on in (True, False, False, True, True, False):
                scratch.set_trigger(conn, _LEDGER_EVENTS, scratch.LEDGER_SEAL_TRIGGER, on=on)
                with timed() as t:
                    conn.execute(loop)
                sides[on].append(t.seconds / statements)
            conn.execute("DROP TABLE seal_cost_src")
            with_s, without_s = statistics.median(sides[True]), statistics.median(sides[False])
            out[f"{label}_insert_ms_with"] = with_s * 1_000
            out[f"{label}_insert_ms_without"] = without_s * 1_000
            out[f"{label}_trigger_ms"] = (with_s - without_s) * 1_000
        conn.rollback()
    return out


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
    step("seal cost: the trigger alone, inside the database")
    trigger = trigger_cost(conninfo)

    def mean(key: str, *, on: bool) -> float:  # the median of the side's counted rounds
        return float(
            statistics.median(r[key] for r in rounds if r["sealing"] is on and not r["warmup"])
        )

    counted = [r for r in rounds if not r["warmup"]]
    pairs = [
        (next(r for r in pair if r["sealing"]), next(r for r in pair if not r["sealing"]))
        for pair in zip(counted[::2], counted[1::2], strict=True)
    ]

    def cost(key: str, *, slower_is_more: bool = True) -> float:
        ratios = [(w[key] / wo[key] if slower_is_more else wo[key] / w[key]) - 1 for w, wo in pairs]
        return float(statistics.median(ratios))

    keys = ("w1_seconds", "w1_close_s", "w2_ops_per_s", "w2_p50_ms")
    w1_cost = cost("w1_seconds")
    w2_cost = cost("w2_ops_per_s", slower_is_more=False)
    return {
        "creators": creators,
        "w2_ops": w2_ops,
        "rounds": rounds,
        "with_seals": {k: mean(k, on=True) for k in keys},
        "without_seals": {k: mean(k, on=False) for k in keys},
        "w1_cost": w1_cost,
        "w1_close_cost": cost("w1_close_s"),
        "pair_costs": {
            "w1": [w["w1_seconds"] / wo["w1_seconds"] - 1 for w, wo in pairs],
            "w2": [wo["w2_ops_per_s"] / w["w2_ops_per_s"] - 1 for w, wo in pairs],
        },
        "w2_cost": w2_cost,
        "trigger": trigger,
        "w1_trigger_share": trigger["w1_trigger_ms"] / 1_000 / mean("w1_seconds", on=False),
        "w2_trigger_share": trigger["w2_trigger_ms"] / 1_000 * mean("w2_ops_per_s", on=False),
        "limit": LIMIT,
        "within_limit": w1_cost <= LIMIT and w2_cost <= LIMIT,
    }


def _pcts(values: list[float]) -> str:
    return ", ".join(f"{v:+.1%}" for v in values)


def print_report(figures: dict[str, Any], print_line: Callable[[str], None]) -> None:
    w, wo = figures["with_seals"], figures["without_seals"]
    print_line(
        f"seal cost ({figures['creators']:,} creators, W2 {figures['w2_ops']:,} approvals,"
        f" 4 pairs of rounds, median pair)"
    )
    print_line(
        f"  W1 period close: {w['w1_seconds']:.3f} s with seals, {wo['w1_seconds']:.3f} s"
        f" without (median rounds); cost {figures['w1_cost']:+.1%} (median pair; close alone"
        f" {figures['w1_close_cost']:+.1%}); pairs {_pcts(figures['pair_costs']['w1'])}"
    )
    print_line(
        f"  W2 approvals: {w['w2_ops_per_s']:.1f} ops/s with seals, {wo['w2_ops_per_s']:.1f}"
        f" without (median rounds); cost {figures['w2_cost']:+.1%} (median pair); pairs"
        f" {_pcts(figures['pair_costs']['w2'])}"
    )
    t = figures["trigger"]
    print_line(
        f"  the trigger alone: {t['w1_trigger_ms']:.2f} ms per W1 insert of 256 book events"
        f" ({t['w1_insert_ms_without']:.2f} ms without it) = {figures['w1_trigger_share']:.2%}"
        f" of a W1 close; {t['w2_trigger_ms']:.3f} ms per W2 insert of 4 events"
        f" ({t['w2_insert_ms_without']:.3f} ms without it) = {figures['w2_trigger_share']:.2%}"
        " of a W2 command"
    )
    verdict = "within" if figures["within_limit"] else "OVER"
    print_line(f"  limit {figures['limit']:.0%}: {verdict}")
