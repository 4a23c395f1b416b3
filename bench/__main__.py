"""``python -m bench``: the creator-ledger benchmark suite on PostgreSQL.

Builds its own database (dropped and created fresh), runs the workloads, prints a table and
writes JSON.  Workloads:

* W1 period close: per-view earnings of N creators for one period (split, events stored, read
  models caught up), creators/s — beside the raw binary COPY of as many journal rows (the
  machine's limit) and the naive way (one event per creator, one transaction per event).
* W2 single commands: reimbursement approvals, 1 and 4 concurrent client processes.
* W3 reads: one creator's balance among N; an as-of balance of an account with 100,000+
  postings.
* W4 payouts: plan for N creators; execute against the in-memory provider.
* W5 rebuild: read models from zero.
* W6 provider reconciliation of N payouts.
* Peak RSS of this process per workload.
"""

from __future__ import annotations

import argparse
import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg
from rich.console import Console
from rich.table import Table

from bench import reference, workloads
from bench.measure import PeakRss
from creator_ledger import CreatorLedger, Settings
from creator_ledger.adapters.payments.memory import InMemoryProvider
from creator_ledger.ledger.migrate import migrate

GIB = 1024.0


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--creators", type=int, default=100_000, help="creators in W1, W3, W4, W6 (default 100,000)"
    )
    p.add_argument(
        "--naive-creators",
        type=int,
        default=20_000,
        help="creators in the naive W1 reference (default 20,000)",
    )
    p.add_argument(
        "--w2-ops", type=int, default=1_000, help="approvals per client in W2 (default 1,000)"
    )
    p.add_argument(
        "--w3-samples", type=int, default=2_000, help="reads sampled in W3 (default 2,000)"
    )
    p.add_argument(
        "--pg",
        default="postgresql://postgres@127.0.0.1:5432",
        help="PostgreSQL server (no database)",
    )
    p.add_argument(
        "--dbname", default="creator_ledger_bench", help="database to create (dropped first)"
    )
    p.add_argument(
        "--out", type=Path, default=Path("bench/results/latest.json"), help="JSON results file"
    )
    return p.parse_args(argv)


def fresh_database(server: str, dbname: str) -> str:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{dbname}"')
    url = f"{server}/{dbname}"
    migrate(Settings(database_url=url))
    return url


def run(args: argparse.Namespace) -> dict[str, Any]:
    url = fresh_database(args.pg, args.dbname)
    settings = Settings(database_url=url)
    rss = PeakRss()
    rss.start()
    out: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": psutil.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
        },
        "params": {
            "creators": args.creators,
            "naive_creators": args.naive_creators,
            "w2_ops": args.w2_ops,
            "w3_samples": args.w3_samples,
        },
    }
    n = args.creators
    w2_items_needed = (1 + 4) * (workloads.WARMUP_OPS + args.w2_ops)
    with CreatorLedger.open(settings) as cl:
        step("setup: enrol creators")
        out["setup"] = workloads.seed(cl, n)
        step("W1 period close")
        rss.reset()
        out["W1"] = workloads.w1_period_close(cl, n) | {"peak_rss_mib": rss.peak_mib}
        step("reference: raw COPY")
        out["reference_copy"] = {
            "rows": n,
            "rows_per_s": reference.copy_rate(settings.postgres_conninfo(), n),
        }
        step("reference: naive W1")
        rss.reset()
        out["reference_naive"] = reference.naive_close(
            settings.postgres_parts(), settings.postgres_conninfo(), args.naive_creators
        ) | {"peak_rss_mib": rss.peak_mib}
        step("W2 setup")
        items = workloads.w2_setup(cl, -(-w2_items_needed // workloads.ITEMS_PER_CLAIM))
        step("W2 single commands")
        rss.reset()
        out["W2_1"] = workloads.w2_single_commands(
            url, items[: workloads.WARMUP_OPS + args.w2_ops], 1, args.w2_ops
        )
        out["W2_4"] = workloads.w2_single_commands(
            url, items[workloads.WARMUP_OPS + args.w2_ops :], 4, args.w2_ops
        )
        out["W2_4"]["peak_rss_mib"] = rss.peak_mib
        provider = InMemoryProvider()
        step("W4 payouts")
        rss.reset()
        out["W4"] = workloads.w4_payouts(cl, provider) | {"peak_rss_mib": rss.peak_mib}
        step("W3 reads")
        rss.reset()
        out["W3"] = workloads.w3_reads(cl, n, args.w3_samples) | {"peak_rss_mib": rss.peak_mib}
        step("W6 reconciliation")
        rss.reset()
        out["W6"] = workloads.w6_reconcile(cl, provider) | {"peak_rss_mib": rss.peak_mib}
        step("W5 rebuild")
        rss.reset()
        out["W5"] = workloads.w5_rebuild(cl) | {"peak_rss_mib": rss.peak_mib}
    rss.stop()
    out["targets"] = targets(out)
    return out


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    copy, naive, w1 = (
        r["reference_copy"]["rows_per_s"],
        r["reference_naive"]["creators_per_s"],
        r["W1"]["creators_per_s"],
    )
    checks = [
        ("W1 >= 25% of raw COPY", f"{w1 / copy:.0%} of COPY", w1 >= 0.25 * copy),
        ("W1 >= 5x naive", f"{w1 / naive:.1f}x naive", w1 >= 5 * naive),
        ("W2 p99 <= 10 ms (1 client)", f"{r['W2_1']['p99_ms']:.2f} ms", r["W2_1"]["p99_ms"] <= 10),
        ("W2 p99 <= 10 ms (4 clients)", f"{r['W2_4']['p99_ms']:.2f} ms", r["W2_4"]["p99_ms"] <= 10),
        (
            "W3 balance p99 <= 2 ms",
            f"{r['W3']['balance_p99_ms']:.2f} ms",
            r["W3"]["balance_p99_ms"] <= 2,
        ),
        ("W3 as-of p99 <= 1 ms", f"{r['W3']['as_of_p99_ms']:.2f} ms", r["W3"]["as_of_p99_ms"] <= 1),
        ("W4 plan <= 3 s", f"{r['W4']['plan_s']:.2f} s", r["W4"]["plan_s"] <= 3),
        (
            "W4 execute >= 2,000 payouts/s",
            f"{r['W4']['payouts_per_s']:,.0f}/s",
            r["W4"]["payouts_per_s"] >= 2_000,
        ),
        (
            "W5 rebuild >= 100,000 events/s",
            f"{r['W5']['events_per_s']:,.0f}/s",
            r["W5"]["events_per_s"] >= 100_000,
        ),
        ("W6 reconciliation <= 5 s", f"{r['W6']['seconds']:.2f} s", r["W6"]["seconds"] <= 5),
    ]
    rss = {
        k: v["peak_rss_mib"] for k, v in r.items() if isinstance(v, dict) and "peak_rss_mib" in v
    }
    checks.append(
        ("peak RSS <= 1 GiB", f"max {max(rss.values()):,.0f} MiB", max(rss.values()) <= GIB)
    )
    return [{"target": t, "measured": m, "met": ok} for t, m, ok in checks]


def step(label: str) -> None:
    Console(stderr=True).print(f"[dim]{datetime.now(UTC):%H:%M:%S}[/dim] {label}")


def report(r: dict[str, Any]) -> None:
    console = Console(width=120)
    t = Table(
        title=(
            f"creator-ledger benchmarks — {r['params']['creators']:,} creators,"
            f" PostgreSQL, {r['machine']['cpus']} cores"
        ),
        title_justify="left",
    )
    for c in ("workload", "result", "detail", "peak RSS"):
        t.add_column(c, justify="right" if c in {"result", "peak RSS"} else "left")

    def mib(d: dict[str, Any]) -> str:
        return f"{d['peak_rss_mib']:,.0f} MiB" if "peak_rss_mib" in d else ""

    s, w1, c, nv = r["setup"], r["W1"], r["reference_copy"], r["reference_naive"]
    t.add_row(
        "setup: enrol (bulk import)",
        f"{s['enrol_creators_per_s']:,.0f} creators/s",
        f"{s['enrol_s']:.1f} s; projected in {s['project_s']:.1f} s",
        "",
    )
    t.add_row(
        "W1 period close",
        f"{w1['creators_per_s']:,.0f} creators/s",
        f"close {w1['close_s']:.2f} s + read models {w1['project_s']:.2f} s;"
        f" usage {w1['usage_rows_per_s']:,.0f} rows/s",
        mib(w1),
    )
    t.add_row(
        "  ref: raw binary COPY",
        f"{c['rows_per_s']:,.0f} rows/s",
        f"{c['rows']:,} journal rows, one commit",
        "",
    )
    t.add_row(
        "  ref: naive W1",
        f"{nv['creators_per_s']:,.0f} creators/s",
        f"{nv['creators']:,} creators: save {nv['events_per_s_write']:,.0f} ev/s,"
        f" project {nv['events_per_s_project']:,.0f} ev/s",
        mib(nv),
    )
    for key in ("W2_1", "W2_4"):
        w = r[key]
        t.add_row(
            f"W2 approvals, {w['clients']} client(s)",
            f"{w['ops_per_s']:,.0f} ops/s",
            f"p50 {w['p50_ms']:.2f} ms, p99 {w['p99_ms']:.2f} ms",
            mib(w),
        )
    w3 = r["W3"]
    t.add_row(
        "W3 creator balance",
        f"p99 {w3['balance_p99_ms']:.2f} ms",
        f"p50 {w3['balance_p50_ms']:.2f} ms",
        mib(w3),
    )
    t.add_row(
        "W3 as-of balance",
        f"p99 {w3['as_of_p99_ms']:.2f} ms",
        f"p50 {w3['as_of_p50_ms']:.2f} ms, account with {w3['as_of_account_postings']:,} postings",
        "",
    )
    w4 = r["W4"]
    t.add_row("W4 plan", f"{w4['plan_s']:.2f} s", f"{w4['plan_creators']:,} creators", mib(w4))
    t.add_row(
        "W4 execute (in-memory provider)",
        f"{w4['payouts_per_s']:,.0f} payouts/s",
        f"{w4['payouts']:,} payouts in {w4['execute_s']:.1f} s",
        "",
    )
    w5 = r["W5"]
    t.add_row(
        "W5 rebuild",
        f"{w5['events_per_s']:,.0f} events/s",
        f"{w5['events']:,} events, {w5['postings']:,} postings in {w5['seconds']:.1f} s"
        f" ({w5['postings_per_s']:,.0f} postings/s)",
        mib(w5),
    )
    w6 = r["W6"]
    t.add_row(
        "W6 provider reconciliation",
        f"{w6['seconds']:.2f} s",
        f"{w6['payouts']:,} payouts",
        mib(w6),
    )
    console.print(t)
    tt = Table(title="Targets", title_justify="left")
    for c in ("target", "measured", "met"):
        tt.add_column(c)
    for x in r["targets"]:
        tt.add_row(x["target"], x["measured"], "yes" if x["met"] else "NO")
    console.print(tt)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    result = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    report(result)
    Console().print(f"results written to {args.out}")


if __name__ == "__main__":
    main()
