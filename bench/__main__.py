"""``python -m bench``: the creator-ledger benchmark suite on PostgreSQL.

Builds its own database (dropped and created fresh), runs the workloads, prints a table and
writes JSON.  Each workload is measured beside its *limit row*: the same work done the most
direct way that can be written, in the same run, on the same data.  The targets are ratios to
those limits; absolute figures are context.

* setup: bulk enrolment of N creators (creators/s; target 5x the 3,079/s measured before).
* W1 period close: per-view earnings of N creators for one period (split, events stored, read
  models caught up), creators/s.  Limit: the same split and the same rows (events, journal
  entries, postings with running balances, balances) into copies of the same indexed tables
  by binary COPY, the events sealed as the ledger seals its own, one commit.  Context: raw
  binary COPY of N journal rows into an unindexed table, and the naive way (one event per
  creator, one transaction per event).
* W2 single commands: reimbursement approvals, 1 and 4 client processes, then the same
  approvals replayed under their keys.  Limit: one stored-procedure call per command writing
  the same four events under the library's table lock, sealed as the ledger seals its events
  (the target's); as context, unsealed with and without the lock.  The rows take turns in
  rounds (--w2-rounds, :mod:`bench.w2_rounds`), so that the machine's drift falls on both.
* W3 reads: one creator's balance among N; an as-of balance of an account with N+ postings.
* W4 payouts: plan for N creators; execute against the in-memory provider; execute against a
  Stripe-like provider (150-300 ms a call, 100 requests/s with 429 beyond, 5% transient
  errors) in a database of its own.
* W5 rebuild: read models from zero.  Limit: every event read as a tuple, decoded, folded into
  the same rows and binary-COPY-ed into unindexed copies, indexes built after.  Each runs in
  a fresh process of its own (:mod:`bench.isolated`).
* W6 provider reconciliation of N payouts.
* Peak RSS of this process per workload (of its own process, for W5 and its limit).
* ``--seal-cost``: W1 and W2 with the events' sealing trigger on and off, in one run (see
  :mod:`bench.seal_cost`); ``--without-seals`` runs the whole suite with it off.

Every workload runs under a watchdog (--timeout-s): a hang prints the workload, the Python
stacks and pg_stat_activity, and exits 3.  ``--growth`` runs the cost-growth study instead.
"""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg
from rich.console import Console

from bench import (
    db,
    growth,
    limit_w1,
    limit_w2,
    limit_w5,
    reference,
    report,
    scratch,
    seal_cost,
    w2_rounds,
    w4_stripe,
    w5_rounds,
    workloads,
)
from bench.isolated import in_fresh_process
from bench.measure import PeakRss
from bench.targets import targets
from bench.watchdog import Watchdog, set_statement_timeout
from creator_ledger import CreatorLedger, Settings
from creator_ledger.adapters.payments.memory import InMemoryProvider


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(x.replace("_", "")) for x in text.split(",") if x.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of sizes: {text!r}") from None
    if len(sizes) < 2 or sizes[0] < 2:
        raise argparse.ArgumentTypeError("give at least two sizes > 1, e.g. 10000,100000")
    return sizes


def _at_least(low: float, kind: type[int] | type[float]) -> Any:
    """An argparse type: a number of ``kind`` no lower than ``low``, or a clear error."""

    def parse_number(text: str) -> int | float:
        try:
            value = kind(text.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{text} is too small: give {low:g} or more")
        return value

    return parse_number


COUNT = _at_least(1, int)  # how many creators, approvals, rounds, samples, senders
POSITIVE = _at_least(0.001, float)  # seconds, GiB


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--creators",
        type=COUNT,
        default=100_000,
        help="creators in W1, W3, W4, W6 (default 100,000)",
    )
    p.add_argument(
        "--naive-creators",
        type=COUNT,
        default=20_000,
        help="creators in the naive W1 reference (default 20,000)",
    )
    p.add_argument(
        "--w2-ops",
        type=COUNT,
        default=1_000,
        help="approvals per client in each W2 round (default 1,000)",
    )
    p.add_argument(
        "--w2-rounds",
        type=COUNT,
        default=4,
        help="W2 and its limit rows take turns in this many rounds, each of --w2-ops"
        " approvals per client (default 4; see bench/w2_rounds.py)",
    )
    p.add_argument(
        "--w5-rounds",
        type=COUNT,
        default=3,
        help="W5 and its limit row each rebuild this many times, taking turns (default 3; see"
        " bench/w5_rounds.py)",
    )
    p.add_argument(
        "--w3-samples", type=COUNT, default=2_000, help="reads sampled in W3 (default 2,000)"
    )
    p.add_argument(
        "--w4-stripe-payouts",
        type=_at_least(0, int),
        default=3_000,
        help="payouts executed against the Stripe-like provider (default 3,000; 0 skips it)",
    )
    p.add_argument(
        "--w4-stripe-concurrency",
        type=COUNT,
        default=32,
        help="send_concurrency for the Stripe-like run (default 32, the command line's default)",
    )
    p.add_argument(
        "--timeout-s",
        type=POSITIVE,
        default=1_800.0,
        help="wall-clock limit of each workload, and PostgreSQL statement_timeout of every"
        " connection the bench opens; a hang dumps stacks and pg_stat_activity and exits 3"
        " (default 1,800)",
    )
    p.add_argument(
        "--growth",
        type=_sizes,
        metavar="N,N,...",
        help="run the cost-growth study at these sizes instead of the suite (e.g."
        " 10000,100000,1000000): setup, W1, W4 plan and execute, W3 per size, each in a"
        " fresh database and process",
    )
    p.add_argument(
        "--growth-timeout-s",
        type=POSITIVE,
        default=3_600.0,
        help="wall-clock limit of one growth size, all its workloads together; it is also each"
        " workload's watchdog limit there (default 3,600)",
    )
    p.add_argument(
        "--growth-max-rss-gib",
        type=POSITIVE,
        default=6.0,
        help="a growth size is stopped when its process passes this RSS (default 6 GiB)",
    )
    p.add_argument(
        "--growth-tolerance",
        type=_at_least(0, float),
        default=growth.DEFAULT_TOLERANCE,
        help="growth beyond the model (linear, log for reads) by more than this fraction is"
        f" flagged (default {growth.DEFAULT_TOLERANCE})",
    )
    p.add_argument(
        "--seal-cost",
        action="store_true",
        help="measure what sealing the events costs W1 and W2 instead of the suite: setup,"
        " then W1 and W2 with the sealing trigger on, off, off, on (default output"
        " bench/results/seal_cost.json)",
    )
    p.add_argument(
        "--without-seals",
        action="store_true",
        help="run the suite with the events' sealing trigger off (the chain of the bench"
        " database is then broken)",
    )
    p.add_argument(
        "--pg",
        default="postgresql://postgres@127.0.0.1:5432",
        help="PostgreSQL server (no database)",
    )
    p.add_argument(
        "--dbname",
        default="creator_ledger_bench",
        help="database to create (dropped first); the Stripe-like run and growth sizes use"
        " databases named after it (<dbname>_w4stripe, <dbname>_g<N>)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON results file (default bench/results/latest.json, or growth.json with --growth)",
    )
    return p.parse_args(argv)


def step(label: str) -> None:
    Console(stderr=True).print(f"[dim]{datetime.now(UTC):%H:%M:%S}[/dim] {label}")


def _machine() -> dict[str, Any]:
    return {
        "cpus": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    watchdog = Watchdog(
        args.timeout_s, server=args.pg, dbnames=[args.dbname, f"{args.dbname}_w4stripe"]
    )
    with watchdog.guard("create the database"):
        url = db.fresh_database(args.pg, args.dbname)
    settings = Settings(database_url=url)
    conninfo = settings.postgres_conninfo()
    if args.without_seals:
        seal_cost.set_sealing(conninfo, on=False)
    rss = PeakRss()
    rss.start()
    out: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "params": {
            "creators": args.creators,
            "naive_creators": args.naive_creators,
            "w2_ops": args.w2_ops,
            "w2_rounds": args.w2_rounds,
            "w5_rounds": args.w5_rounds,
            "w3_samples": args.w3_samples,
            "w4_stripe_payouts": args.w4_stripe_payouts,
            "w4_stripe_concurrency": args.w4_stripe_concurrency,
            "timeout_s": args.timeout_s,
            "without_seals": args.without_seals,
        },
    }

    def measure(
        key: str, label: str, work: Callable[[], dict[str, Any]], *, flush: bool = False
    ) -> None:
        if flush:  # write-heavy steps start from clean buffers, the project's and the limit's
            db.checkpoint(args.pg)
        before = db.background_writes(args.pg)
        step(label)
        rss.reset()
        with watchdog.guard(label):
            figures = work()
        out[key] = (
            {"peak_rss_mib": rss.peak_mib}  # a child process reports its own
            | figures
            | {"background_writes": db.writes_since(args.pg, before)}
        )

    n = args.creators
    with CreatorLedger.open(settings) as cl:
        measure("setup", "setup: enrol creators", lambda: workloads.seed(cl, n))
        with watchdog.guard("W1 usage"):
            opened = workloads.w1_open(cl, n)
        with watchdog.guard("limit W1 prepare"):
            period = limit_w1.prepare(conninfo, workloads.W1_PROGRAM, workloads.W1_PERIOD)
        measure(
            "limit_W1",
            "limit: W1 split + binary COPY",
            lambda: limit_w1.run(
                conninfo, period, workloads.w1_usage(n), effective_at=workloads.W1_CLOSE_AT
            ),
            flush=True,
        )
        measure("W1", "W1 period close", lambda: opened | workloads.w1_close(cl, n), flush=True)
        with watchdog.guard("limit W1 verify"):
            out["limit_W1"] |= limit_w1.verify(conninfo)
        measure(
            "reference_copy",
            "reference: raw COPY",
            lambda: {"rows": n, "rows_per_s": reference.copy_rate(conninfo, n)},
        )
        measure(
            "reference_naive",
            "reference: naive W1",
            lambda: reference.naive_close(settings.postgres_parts(), conninfo, args.naive_creators),
        )
        with watchdog.guard("W2 setup"):
            step("W2 setup")
            # --w2-ops per client and round: each round's client processes run as long as one
            # whole W2 ran before the rounds (bench/w2_rounds.py says why).
            needed = w2_rounds.items_needed(args.w2_rounds, args.w2_ops)
            items = workloads.w2_setup(cl, -(-needed // workloads.ITEMS_PER_CLAIM))
        with watchdog.guard("limit W2 prepare"):
            limit_w2.prepare(conninfo)

        def segment(
            label: str, work: Callable[[], workloads.ClientsRun], *, flush: bool
        ) -> workloads.ClientsRun:
            if flush:
                db.checkpoint(args.pg)
            step(label)
            with watchdog.guard(label):
                return work()

        rss.reset()
        rows = w2_rounds.run(
            url,
            conninfo,
            items,
            rounds=args.w2_rounds,
            ops_per_client=args.w2_ops,
            timeout_s=args.timeout_s,
            segment=segment,
        )
        out |= {key: {"peak_rss_mib": rss.peak_mib} | row for key, row in rows.items()}
        limit_w2.cleanup(conninfo)
        provider = InMemoryProvider()
        measure("W4", "W4 payouts (in-memory provider)", lambda: workloads.w4_payouts(cl, provider))
        # W4's execution leaves its ~200,000 events unprojected: catching them up writes ~500 MB
        # of read-model pages, which the server then wrote out during W3's timed reads (67,864
        # buffers by the backends in one run).  W3 measures reads: the catch-up comes first,
        # untimed, and the reads start from clean buffers.
        with watchdog.guard("W3 catch-up"):
            step("W3: the read models caught up first (not timed)")
            cl.catch_up()
        measure("W3", "W3 reads", lambda: workloads.w3_reads(cl, n, args.w3_samples), flush=True)
        measure("W6", "W6 reconciliation", lambda: workloads.w6_reconcile(cl, provider))
    # W5 and its limit each in a fresh process (bench/isolated.py says why), taking turns in
    # rounds (bench/w5_rounds.py says why).
    w5_sides: dict[str, tuple[str, Callable[[], dict[str, Any]]]] = {
        "W5": (
            "W5 rebuild",
            lambda: in_fresh_process(workloads.w5_rebuild_at, url, timeout_s=args.timeout_s),
        ),
        "limit_W5": (
            "limit: W5 decode + binary COPY",
            lambda: in_fresh_process(limit_w5.run, conninfo, timeout_s=args.timeout_s),
        ),
    }
    w5_runs: dict[str, list[dict[str, Any]]] = {key: [] for key in w5_sides}
    for i in range(args.w5_rounds):
        for key in w5_rounds.order(i):
            label, work = w5_sides[key]
            measure(key, f"{label}, round {i + 1}/{args.w5_rounds}", work, flush=True)
            w5_runs[key].append(out.pop(key))
    for key, runs in w5_runs.items():
        out[key] = w5_rounds.combine(runs)
    with watchdog.guard("limit W5 verify"):
        out["limit_W5"] |= limit_w5.verify(conninfo)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        scratch.drop_schema(conn)
    if args.w4_stripe_payouts > 0:
        measure(
            "W4_stripe",
            f"W4 execute against the Stripe-like provider ({args.w4_stripe_payouts:,} payouts)",
            lambda: w4_stripe.run(
                args.pg,
                f"{args.dbname}_w4stripe",
                args.w4_stripe_payouts,
                args.w4_stripe_concurrency,
            ),
        )
    rss.stop()
    out["targets"] = targets(out)
    return out


def run_seal_cost(args: argparse.Namespace) -> dict[str, Any]:
    watchdog = Watchdog(args.timeout_s, server=args.pg, dbnames=[args.dbname])
    with watchdog.guard("create the database"):
        url = db.fresh_database(args.pg, args.dbname)
    settings = Settings(database_url=url)
    out: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
    }
    with CreatorLedger.open(settings) as cl:
        step("setup: enrol creators")
        with watchdog.guard("setup"):
            out["setup"] = workloads.seed(cl, args.creators)
        with watchdog.guard("seal cost"):
            out["seal_cost"] = seal_cost.run(
                cl,
                url,
                settings.postgres_conninfo(),
                args.creators,
                args.w2_ops,
                timeout_s=args.timeout_s,
                step=step,
            )
    return out


def run_growth(args: argparse.Namespace) -> dict[str, Any]:
    options = {
        "server": args.pg,
        "dbname_prefix": args.dbname,
        "timeout_s": args.timeout_s,
        "size_timeout_s": args.growth_timeout_s,
        "max_rss_gib": args.growth_max_rss_gib,
        "tolerance": args.growth_tolerance,
        "w3_samples": args.w3_samples,
    }
    study: dict[str, Any] = growth.run(options, args.growth, step)
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "growth": study,
    }


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    set_statement_timeout(args.timeout_s)
    if args.growth:
        result = run_growth(args)
        path = args.out or Path("bench/results/growth.json")
    elif args.seal_cost:
        result = run_seal_cost(args)
        path = args.out or Path("bench/results/seal_cost.json")
    else:
        result = run(args)
        path = args.out or Path("bench/results/latest.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    if args.growth:
        report.growth_table(result["growth"])
    elif args.seal_cost:
        seal_cost.print_report(result["seal_cost"], Console().print)
    else:
        report.suite(result)
    Console().print(f"results written to {path}")


if __name__ == "__main__":
    main()
