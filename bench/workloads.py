"""The workloads W1-W6 (see ``bench/__main__.py``)."""

from __future__ import annotations

import faulthandler
import multiprocessing as mp
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from bench.measure import percentile, timed
from creator_ledger import (
    CreatorLedger,
    CreatorRecord,
    PoolShareRule,
    Settings,
    freeze_startup_heap,
)
from creator_ledger.adapters.payments.memory import InMemoryProvider
from creator_ledger.domain.accounts import IN_TRANSIT
from creator_ledger.domain.period import MAX_ROWS_PER_REPORT

DAY = date(2026, 1, 1)
WARMUP_OPS = 20
WARMUP_READS = 200
ITEMS_PER_CLAIM = 5
ACTOR = "svc:bench"
APPROVER = "op:bench-approver"
#: W2's client processes freeze their start-up heap (off: BENCH_NO_FREEZE=1, to measure it)
FREEZE_STARTUP_HEAP = not os.environ.get("BENCH_NO_FREEZE")


def at(d: date, hour: int = 12) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=UTC)


def ref(n: int) -> str:
    return f"creator-{n:07d}"


def seed(cl: CreatorLedger, creators: int) -> dict[str, Any]:
    """A fund and ``creators`` payout-ready creators (bulk import)."""
    cl.create_fund(
        fund_key="bench",
        name="Bench fund",
        currency="USD",
        budget_minor=10**15,
        effective_at=at(DAY, 0),
        idempotency_key="fund",
        actor=ACTOR,
    )

    def records(start: int, stop: int) -> list[CreatorRecord]:
        return [
            CreatorRecord(
                creator_ref=ref(n),
                display_name=f"Creator {n}",
                country="US",
                payout_account=f"acct_bench{n:07d}",
                account_status="active",
                kyc_status="verified",
                tax_status="verified",
            )
            for n in range(start, stop)
        ]

    # Imports of ENROL_CHUNK creators at a time (one call up to 100,000), as a platform would
    # move a large creator base: memory stays bounded at a million creators.
    with timed() as enrol:
        for start in range(0, creators, ENROL_CHUNK):
            stop = min(creators, start + ENROL_CHUNK)
            cl.enrol_creators(
                creators=records(start, stop),
                effective_at=at(DAY, 1),
                idempotency_key="enrol" if start == 0 else f"enrol-{start}",
                actor=ACTOR,
            )
    with timed() as project:
        events = cl.catch_up()
    return {
        "enrol_s": enrol.seconds,
        "enrol_creators_per_s": creators / enrol.seconds,
        "project_events": events,
        "project_s": project.seconds,
    }


ENROL_CHUNK = 100_000
W1_PROGRAM, W1_PERIOD = "daily", "d1"
W1_CLOSE_AT = at(DAY + timedelta(days=1), 1)


def w1_usage(creators: int) -> list[tuple[str, str, int]]:
    """W1's usage report: one row ``(creator_ref, content_id, views)`` per creator."""
    rng = random.Random(7)
    return [(ref(n), f"video-{n}", int(rng.paretovariate(1.2) * 1_000)) for n in range(creators)]


def w1_open(cl: CreatorLedger, creators: int) -> dict[str, Any]:
    """W1's program and period, with its usage reported and projected (not part of W1)."""
    cl.create_program(
        program_key=W1_PROGRAM,
        name="Daily pool",
        fund_key="bench",
        rule=PoolShareRule(pool_minor=creators * 10_000, creator_cap_minor=200_000),
        effective_at=at(DAY, 2),
        idempotency_key="program",
        actor=ACTOR,
    )
    cl.open_period(
        program_key=W1_PROGRAM,
        period_key=W1_PERIOD,
        starts_on=DAY,
        ends_on=DAY,
        effective_at=at(DAY, 3),
        idempotency_key="open",
        actor=ACTOR,
    )
    rows = w1_usage(creators)
    # One report, or reports of the largest size a report takes (a million creators is four).
    chunks = [rows[i : i + MAX_ROWS_PER_REPORT] for i in range(0, len(rows), MAX_ROWS_PER_REPORT)]
    with timed() as usage:
        for n, chunk in enumerate(chunks):
            suffix = "" if len(chunks) == 1 else f"-{n}"
            cl.report_usage(
                program_key=W1_PROGRAM,
                period_key=W1_PERIOD,
                report_id=f"usage-d1{suffix}",
                rows=chunk,
                effective_at=at(DAY, 23),
                idempotency_key=f"usage{suffix}",
                actor=ACTOR,
            )
    cl.catch_up()
    return {"usage_rows_per_s": creators / usage.seconds}


def w1_close(cl: CreatorLedger, creators: int) -> dict[str, Any]:
    """Per-view earnings of every creator for one period: split, events stored, read models
    caught up."""
    with timed() as close:
        figures = cl.close_period(
            program_key=W1_PROGRAM,
            period_key=W1_PERIOD,
            effective_at=W1_CLOSE_AT,
            idempotency_key="close",
            actor=ACTOR,
        )
    with timed() as project:
        events = cl.catch_up()
    total = close.seconds + project.seconds
    return {
        "creators": creators,
        "credited": figures.creators,
        "close_s": close.seconds,
        "project_s": project.seconds,
        "project_events": events,
        "seconds": total,
        "creators_per_s": creators / total,
    }


def w1_period_close(cl: CreatorLedger, creators: int) -> dict[str, Any]:
    """W1 from the open period to the read models caught up."""
    opened = w1_open(cl, creators)
    return opened | w1_close(cl, creators)


def w2_setup(cl: CreatorLedger, claims: int, offset: int = 0) -> list[tuple[str, str]]:
    """``claims`` creators with an NDA and a claim of ITEMS_PER_CLAIM items each."""
    items: list[tuple[str, str]] = []
    for n in range(offset, offset + claims):
        creator = ref(n)
        cl.sign_contract(
            creator_ref=creator,
            contract_id=f"nda-{n}",
            kind="nda",
            signed_on=DAY,
            reimbursement_currency="USD",
            reimbursement_budget_minor=10_000_000,
            effective_at=at(DAY, 4),
            idempotency_key=f"nda-{n}",
            actor=ACTOR,
        )
        claim = f"claim-{n}"
        cl.submit_claim(
            claim_key=claim,
            creator_ref=creator,
            currency="USD",
            items=[
                (f"i{k}", "production cost", 1_000 + k, f"receipt-{n}-{k}")
                for k in range(ITEMS_PER_CLAIM)
            ],
            effective_at=at(DAY, 5),
            idempotency_key=f"claim-{n}",
            actor=ACTOR,
        )
        items.extend((claim, f"i{k}") for k in range(ITEMS_PER_CLAIM))
    return items


def w2_item(claim: str, item: str) -> tuple[str, int]:
    """The creator and claimed amount of a W2 item (as :func:`w2_setup` made it)."""
    return ref(int(claim.removeprefix("claim-"))), 1_000 + int(item.removeprefix("i"))


#: ``(latencies_s, wall_s, extra)`` from one client process.
ClientResult = tuple[list[float], float, dict[str, int]]


def _w2_worker(
    url: str, items: list[tuple[str, str]], barrier: Any, out: Any, timeout_s: float
) -> None:
    faulthandler.dump_traceback_later(child_timeout_s(timeout_s), exit=True)
    cl = CreatorLedger.open(Settings(database_url=url))
    if FREEZE_STARTUP_HEAP:
        freeze_startup_heap()  # as a long-lived service does after its start-up
    latencies = []
    try:
        for claim, item in items[:WARMUP_OPS]:
            cl.approve_claim_item(
                claim_key=claim,
                item_id=item,
                idempotency_key=f"approve/{claim}/{item}",
                actor=ACTOR,
            )
        barrier.wait()
        start = time.perf_counter()
        for claim, item in items[WARMUP_OPS:]:
            t0 = time.perf_counter()
            cl.approve_claim_item(
                claim_key=claim,
                item_id=item,
                idempotency_key=f"approve/{claim}/{item}",
                actor=ACTOR,
            )
            latencies.append(time.perf_counter() - t0)
        out.put((latencies, time.perf_counter() - start, {}))
    finally:
        cl.close()


def child_timeout_s(timeout_s: float) -> float:
    """A client process dumps its own stacks and exits a little before the parent's watchdog
    fires, so a hang shows where each process was."""
    return max(1.0, timeout_s * 0.95)


class ClientsRun(NamedTuple):
    """One run of ``clients`` client processes: every measured latency, the slowest client's
    wall time, and the counts the clients reported (retries, replays)."""

    clients: int
    latencies: list[float]
    wall_s: float
    extra: dict[str, int]


def clients_run(
    target: Callable[..., None],
    items: Sequence[Any],
    clients: int,
    ops_per_client: int,
    args: tuple[Any, ...],
    *,
    timeout_s: float,
) -> ClientsRun:
    """Run ``target(*args, chunk, barrier, out, timeout_s)`` in ``clients`` spawned processes,
    each on its own WARMUP_OPS + ``ops_per_client`` items, measured after a shared barrier."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(clients)
    out = ctx.Queue()
    # Each client works on whole claims of its own, so clients only meet on shared account books.
    per = WARMUP_OPS + ops_per_client
    chunks = [items[i * per : (i + 1) * per] for i in range(clients)]
    assert all(len(c) == per for c in chunks), "not enough claim items for W2"
    procs = [
        ctx.Process(target=target, args=(*args, list(chunk), barrier, out, timeout_s))
        for chunk in chunks
    ]
    for p in procs:
        p.start()
    results: list[ClientResult] = [out.get(timeout=timeout_s) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    return ClientsRun(
        clients,
        [x for lat, _, _ in results for x in lat],
        max(s for _, s, _ in results),
        _summed(e for _, _, e in results),
    )


def _summed(counts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """The counts the clients reported (retries, replays), added up by name."""
    out: dict[str, int] = {}
    for c in counts:
        for k, v in c.items():
            out[k] = out.get(k, 0) + v
    return out


def summary(runs: Sequence[ClientsRun]) -> dict[str, Any]:
    """The figures of one or more runs of the same work (the rounds of an interleaved
    measurement): ops/s over the summed wall times, latency percentiles over every op, and
    each round's own ops/s (``rounds_ops_per_s``) to show how steady they were."""
    assert runs
    assert len({r.clients for r in runs}) == 1
    latencies = [x for r in runs for x in r.latencies]
    return {
        "clients": runs[0].clients,
        "ops": len(latencies),
        "ops_per_s": len(latencies) / sum(r.wall_s for r in runs),
        "p50_ms": percentile(latencies, 50) * 1_000,
        "p99_ms": percentile(latencies, 99) * 1_000,
        "rounds_ops_per_s": [len(r.latencies) / r.wall_s for r in runs],
        **_summed(r.extra for r in runs),
    }


def w2_single_commands(
    url: str,
    items: list[tuple[str, str]],
    clients: int,
    ops_per_client: int,
    *,
    timeout_s: float = 600.0,
) -> dict[str, Any]:
    """Reimbursement approvals, one command at a time per client, ``clients`` processes at once.
    Run again on the same items, every command is an idempotent replay of the first."""
    return summary([w2_run(url, items, clients, ops_per_client, timeout_s=timeout_s)])


def w2_run(
    url: str,
    items: list[tuple[str, str]],
    clients: int,
    ops_per_client: int,
    *,
    timeout_s: float = 600.0,
) -> ClientsRun:
    """:func:`w2_single_commands`, unsummarised (one round of an interleaved measurement)."""
    return clients_run(_w2_worker, items, clients, ops_per_client, (url,), timeout_s=timeout_s)


def w3_reads(cl: CreatorLedger, creators: int, samples: int) -> dict[str, Any]:
    """A creator's balance among all of them; an as-of balance of a very busy account.  Each
    kind of read is warmed up first (WARMUP_READS reads, not measured: connections, prepared
    statements, the index's upper pages)."""
    rng = random.Random(3)
    cl.catch_up()
    warm = random.Random(5)
    rm = cl.parts.projector.read_models
    for _ in range(WARMUP_READS):
        cl.balances(ref(warm.randrange(creators)))
        rm.balance_as_of(IN_TRANSIT, "", "USD", DAY + timedelta(days=warm.randrange(400)))
    lat = []
    for _ in range(samples):
        who = ref(rng.randrange(creators))
        t0 = time.perf_counter()
        cl.balances(who)
        lat.append(time.perf_counter() - t0)
    postings = rm.db.query(
        "SELECT COUNT(*) FROM postings WHERE kind = %s AND owner = '' AND currency = 'USD'",
        (IN_TRANSIT,),
    )[0][0]
    as_of = []
    days = [DAY + timedelta(days=d) for d in range(400)]
    for _ in range(samples):
        day = rng.choice(days)
        t0 = time.perf_counter()
        rm.balance_as_of(IN_TRANSIT, "", "USD", day)
        as_of.append(time.perf_counter() - t0)
    return {
        "samples": samples,
        "balance_p50_ms": percentile(lat, 50) * 1_000,
        "balance_p99_ms": percentile(lat, 99) * 1_000,
        "as_of_account_postings": int(postings),
        "as_of_p50_ms": percentile(as_of, 50) * 1_000,
        "as_of_p99_ms": percentile(as_of, 99) * 1_000,
    }


def w4_payouts(cl: CreatorLedger, provider: InMemoryProvider) -> dict[str, Any]:
    """The dry run, then the run's workflow: proposed, approved by another actor (each
    re-derives the plan to check it), executed (re-derives it once more before paying).

    The read models are caught up first, timed apart: the plan would otherwise also project
    whatever earlier workloads left pending (W2's claims and approvals, written by its client
    processes: ~0.5-1 s of what was reported as the plan), a cost of those events, not of
    planning N creators (as in the growth study, where nothing is pending)."""
    with timed() as catch_up_t:
        pending = cl.catch_up()
    with timed() as plan_t:
        plan = cl.plan(currency="USD")
    with timed() as propose_t:
        run = cl.propose(currency="USD", idempotency_key="w4-propose", actor=ACTOR)
        cl.approve(run.run_id, idempotency_key="w4-approve", actor=APPROVER)
    with timed() as exec_t:
        result = cl.execute(run.run_id, provider, actor=ACTOR)
    assert result.complete
    assert result.paid == len(plan.lines)
    return {
        "plan_creators": len(plan.lines) + len(plan.excluded),
        "plan_s": plan_t.seconds,
        "catch_up_events": pending,
        "catch_up_s": catch_up_t.seconds,
        "propose_approve_s": propose_t.seconds,
        "payouts": result.paid,
        "execute_s": exec_t.seconds,
        "payouts_per_s": result.paid / exec_t.seconds,
    }


def w5_rebuild_at(url: str) -> dict[str, Any]:
    """:func:`w5_rebuild` of the ledger at ``url``, opened here (in a fresh process: see
    :mod:`bench.isolated`)."""
    with CreatorLedger.open(Settings(database_url=url)) as cl:
        return w5_rebuild(cl)


def w5_rebuild(cl: CreatorLedger) -> dict[str, Any]:
    with timed() as t:
        events = cl.rebuild_read_models()
    postings = cl.parts.projector.read_models.journal_count().postings
    return {
        "events": events,
        "postings": postings,
        "seconds": t.seconds,
        "events_per_s": events / t.seconds,
        "postings_per_s": postings / t.seconds,
    }


def w6_reconcile(cl: CreatorLedger, provider: InMemoryProvider) -> dict[str, Any]:
    now = datetime.now(UTC)
    with timed() as t:
        report = cl.reconcile_provider(
            provider, since=now - timedelta(days=1), until=now + timedelta(minutes=1)
        )
    assert report.clean, report.discrepancies[:5]
    return {"payouts": report.facts["ledger_payouts"], "seconds": t.seconds}
