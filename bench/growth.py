"""Cost growth: how time and memory grow with the number of creators.

``python -m bench --growth 10000,100000,1000000`` runs, at each size, in a fresh database and a
fresh process (so each size's peak RSS is its own): the setup (bulk enrolment, projected), W1,
W4 plan, W4 execute (in-memory provider: it gives the as-of account its postings) and W3
(balance and as-of, p50 and p99).  It records seconds and peak RSS per workload and flags every
step from one size to the next where time grows faster than the workload's model allows:
linear in N for writes and plans, logarithmic in N for reads (:func:`grows_faster`).

A size that runs out of time (``--growth-timeout-s``, which also bounds each of its workloads)
or memory (``--growth-max-rss-gib``) is stopped (its Python stacks dumped first) and reported
with what it reached: the workloads it finished, the one it was in, and its database's
progress (events stored, read-model position, creators and payouts projected).
"""

from __future__ import annotations

import contextlib
import faulthandler
import itertools
import math
import multiprocessing as mp
import os
import queue
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil
import psycopg

from bench import db, workloads
from bench.measure import PeakRss, timed
from bench.watchdog import EXIT_TIMEOUT, Watchdog
from creator_ledger import CreatorLedger, Settings
from creator_ledger.adapters.payments.memory import InMemoryProvider

#: A step may exceed its model by this fraction before it is flagged (machine noise).
DEFAULT_TOLERANCE = 0.25
POLL_S = 0.5
#: After asking a stopped size for its stacks, wait this long before killing it.
STOP_GRACE_S = 2.0


def expected_ratio(model: str, n1: int, n2: int) -> float:
    """How much a cost following ``model`` ("linear" or "log") grows from ``n1`` to ``n2``."""
    assert 1 < n1 < n2
    if model == "linear":
        return n2 / n1
    if model == "log":
        return math.log(n2) / math.log(n1)
    msg = f"unknown growth model {model!r}"
    raise ValueError(msg)


def grows_faster(
    model: str, n1: int, v1: float, n2: int, v2: float, *, tolerance: float = DEFAULT_TOLERANCE
) -> bool:
    """True when going from ``v1`` at ``n1`` to ``v2`` at ``n2`` grows faster than ``model``
    by more than ``tolerance`` (``v2 / v1 > expected * (1 + tolerance)``)."""
    assert v1 > 0
    assert v2 >= 0
    return v2 / v1 > expected_ratio(model, n1, n2) * (1 + tolerance)


@dataclass(frozen=True)
class Metric:
    label: str
    workload: str  # the step whose figures hold it
    model: str
    unit: str
    value: Callable[[dict[str, Any]], float]


METRICS = (
    Metric(
        "setup: enrol + project", "setup", "linear", "s", lambda f: f["enrol_s"] + f["project_s"]
    ),
    Metric("W1 period close", "W1", "linear", "s", lambda f: f["seconds"]),
    Metric("W4 plan", "W4_plan", "linear", "s", lambda f: f["plan_s"]),
    Metric("W4 execute (in-memory)", "W4_execute", "linear", "s", lambda f: f["execute_s"]),
    Metric("W3 balance p50", "W3", "log", "ms", lambda f: f["balance_p50_ms"]),
    Metric("W3 balance p99", "W3", "log", "ms", lambda f: f["balance_p99_ms"]),
    Metric("W3 as-of p50", "W3", "log", "ms", lambda f: f["as_of_p50_ms"]),
    Metric("W3 as-of p99", "W3", "log", "ms", lambda f: f["as_of_p99_ms"]),
)
STEPS = ("setup", "W1", "W4_plan", "W4_execute", "W3")


def _size_worker(options: dict[str, Any], n: int, out: Any) -> None:
    """One size, in its own process: every step's figures go to ``out`` as they are done."""
    server, dbname = options["server"], options["dbname"]
    # The parent enforces the size's time limit (and asks for the stacks with SIGUSR1 first);
    # this watchdog is the backstop should the parent fail to.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    watchdog = Watchdog(
        max(options["timeout_s"], options["size_timeout_s"]) + 2 * STOP_GRACE_S,
        server=server,
        dbnames=[dbname],
    )
    url = db.fresh_database(server, dbname)
    rss = PeakRss()
    rss.start()
    with CreatorLedger.open(Settings(database_url=url)) as cl:
        provider = InMemoryProvider()
        plan: list[Any] = []

        def w4_plan() -> dict[str, Any]:
            with timed() as t:
                plan.append(cl.plan(currency="USD"))
            return {"plan_s": t.seconds, "lines": len(plan[0].lines)}

        def w4_execute() -> dict[str, Any]:
            # A run is paid only once proposed and approved by another actor (not timed here:
            # each re-derives the plan, as W4 in the suite reports apart).
            with timed() as workflow:
                run = cl.propose(currency="USD", idempotency_key="growth-w4", actor=workloads.ACTOR)
                cl.approve(run.run_id, idempotency_key="growth-w4-ok", actor=workloads.APPROVER)
            with timed() as t:
                result = cl.execute(run.run_id, provider, actor=workloads.ACTOR)
            return {
                "execute_s": t.seconds,
                "propose_approve_s": workflow.seconds,
                "paid": result.paid,
                "unresolved": result.unresolved,
            }

        steps: dict[str, Callable[[], dict[str, Any]]] = {
            "setup": lambda: workloads.seed(cl, n),
            "W1": lambda: workloads.w1_period_close(cl, n),
            "W4_plan": w4_plan,
            "W4_execute": w4_execute,
            "W3": lambda: workloads.w3_reads(cl, n, options["w3_samples"]),
        }
        for name in STEPS:
            out.put(("start", name, {}))
            rss.reset()
            with watchdog.guard(f"growth {n:,}: {name}"):
                figures = steps[name]()
            out.put(("done", name, figures | {"peak_rss_mib": rss.peak_mib}))
    rss.stop()
    out.put(("finished", "", {}))


def run_size(options: dict[str, Any], n: int) -> dict[str, Any]:
    """Run one size in a child process, stopping it at the time or memory limit."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    dbname = f"{options['dbname_prefix']}_g{n}"
    child_options = options | {"dbname": dbname}
    proc = ctx.Process(target=_size_worker, args=(child_options, n, out), name=f"growth-{n}")
    started = time.monotonic()
    proc.start()
    figures: dict[str, dict[str, Any]] = {}
    current = "start-up"
    status = "complete"
    peak_mib = 0.0
    finished = False
    limit_mib = options["max_rss_gib"] * 1024
    try:
        while True:
            try:
                kind, name, data = out.get(timeout=POLL_S)
            except queue.Empty:
                kind = ""
            else:
                if kind == "start":
                    current = name
                elif kind == "done":
                    figures[name] = data
                elif kind == "finished":
                    finished = True
                    break
                continue
            if not proc.is_alive():
                break
            elapsed = time.monotonic() - started
            with contextlib.suppress(psutil.Error):
                peak_mib = max(peak_mib, psutil.Process(proc.pid).memory_info().rss / 2**20)
            if elapsed > options["size_timeout_s"]:
                status = f"stopped: time limit {options['size_timeout_s']:,.0f} s during {current}"
                break
            if peak_mib > limit_mib:
                status = (
                    f"stopped: memory limit {options['max_rss_gib']:g} GiB during {current}"
                    f" ({peak_mib:,.0f} MiB)"
                )
                break
    finally:
        reached = _stop(proc, options["server"], dbname, finished=finished)
    if not finished and status == "complete":
        status = (
            f"stopped: {current} did not finish within the per-workload timeout (watchdog)"
            if proc.exitcode == EXIT_TIMEOUT
            else f"stopped: exit code {proc.exitcode} during {current}"
        )
    return {
        "creators": n,
        "status": status,
        "reached": reached,
        "elapsed_s": time.monotonic() - started,
        "peak_rss_mib_seen": peak_mib,
        "figures": figures,
    }


def _stop(proc: Any, server: str, dbname: str, *, finished: bool) -> dict[str, int]:
    """Let a finished size's process exit, or end one that is still at work (its stacks
    dumped first, and how far its database got noted); then drop the database."""
    reached: dict[str, int] = {}
    if finished:
        proc.join(timeout=60)
    if proc.is_alive():
        with contextlib.suppress(OSError, TypeError):
            os.kill(proc.pid, signal.SIGUSR1)  # its stacks, on stderr
        time.sleep(STOP_GRACE_S)
        reached = progress(server, dbname)
        proc.kill()
    proc.join(timeout=60)
    db.drop_database(server, dbname)
    return reached


def progress(server: str, dbname: str) -> dict[str, int]:
    """How far a stopped size got: events stored, the read models' position, creators and
    payouts projected."""
    queries = {
        "events_stored": "SELECT COALESCE(MAX(notification_id), 0) FROM ledger_events",
        "read_model_position": "SELECT COALESCE(MAX(notification_id), 0) FROM projection_tracking",
        "creators_projected": "SELECT COUNT(*) FROM creators",
        "payouts_projected": "SELECT COUNT(*) FROM payouts",
    }
    out: dict[str, int] = {}
    try:
        with psycopg.connect(
            f"{server}/{dbname}",
            autocommit=True,
            connect_timeout=5,
            options="-c statement_timeout=20000",
        ) as conn:
            for name, query in queries.items():
                row = conn.execute(query).fetchone()
                out[name] = int(row[0]) if row else 0
    except psycopg.Error:
        return out
    return out


def table(sizes: list[dict[str, Any]], tolerance: float) -> list[dict[str, Any]]:
    """One row per metric: its value and peak RSS at each size, the ratio from each size to
    the next beside the model's, and whether it grows faster than the model."""
    rows = []
    for m in METRICS:
        cells = []
        for s in sizes:
            f = s["figures"].get(m.workload)
            cells.append(
                None
                if f is None
                else {"n": s["creators"], "value": m.value(f), "rss_mib": f["peak_rss_mib"]}
            )
        steps: list[dict[str, Any] | None] = []
        for a, b in itertools.pairwise(cells):
            if a is None or b is None or a["value"] <= 0:
                steps.append(None)
                continue
            steps.append(
                {
                    "ratio": b["value"] / a["value"],
                    "expected": expected_ratio(m.model, a["n"], b["n"]),
                    "rss_ratio": b["rss_mib"] / a["rss_mib"],
                    "faster_than_model": grows_faster(
                        m.model, a["n"], a["value"], b["n"], b["value"], tolerance=tolerance
                    ),
                }
            )
        rows.append(
            {
                "metric": m.label,
                "model": m.model,
                "unit": m.unit,
                "sizes": cells,
                "steps": steps,
                "flagged": any(s is not None and s["faster_than_model"] for s in steps),
            }
        )
    return rows


def run(options: dict[str, Any], sizes: list[int], step: Callable[[str], None]) -> dict[str, Any]:
    results = []
    for n in sorted(sizes):
        step(f"growth: {n:,} creators")
        results.append(run_size(options, n))
    return {
        "tolerance": options["tolerance"],
        "sizes": results,
        "table": table(results, options["tolerance"]),
    }
