"""The printed tables: the suite (project rows beside their limit rows, with the ratio), the
targets, and the growth study."""

from __future__ import annotations

import itertools
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import w2_rounds, w5_rounds
from bench.targets import ENROL_BASELINE_PER_S

WIDTH = 140


def _mib(d: dict[str, Any]) -> str:
    return f"{d['peak_rss_mib']:,.0f} MiB" if "peak_rss_mib" in d else ""


def _share(value: float, limit: float) -> str:
    return f"{value / limit:.0%} of limit"


def _same(d: dict[str, Any]) -> str:
    return "same rows as the ledger: " + ("yes" if d.get("same_rows") else "NO")


def suite(r: dict[str, Any]) -> None:
    console = Console(width=WIDTH)
    t = Table(
        title=(
            f"creator-ledger benchmarks — {r['params']['creators']:,} creators,"
            f" PostgreSQL, {r['machine']['cpus']} cores"
        ),
        title_justify="left",
    )
    for c in ("workload", "result", "vs limit", "detail", "peak RSS"):
        t.add_column(c, justify="right" if c in {"result", "vs limit", "peak RSS"} else "left")

    s = r["setup"]
    t.add_row(
        "setup: enrol (bulk import)",
        f"{s['enrol_creators_per_s']:,.0f} creators/s",
        f"{s['enrol_creators_per_s'] / ENROL_BASELINE_PER_S:.1f}x before",
        f"{s['enrol_s']:.1f} s; projected in {s['project_s']:.1f} s"
        f" (before: {ENROL_BASELINE_PER_S:,.0f}/s)",
        _mib(s),
    )
    w1, l1, c, nv = r["W1"], r["limit_W1"], r["reference_copy"], r["reference_naive"]
    t.add_row(
        "W1 period close",
        f"{w1['creators_per_s']:,.0f} creators/s",
        _share(w1["creators_per_s"], l1["creators_per_s"]),
        f"close {w1['close_s']:.2f} s + read models {w1['project_s']:.2f} s;"
        f" usage {w1['usage_rows_per_s']:,.0f} rows/s",
        _mib(w1),
    )
    t.add_row(
        "  limit: split + binary COPY",
        f"{l1['creators_per_s']:,.0f} creators/s",
        "",
        f"{l1['seconds']:.2f} s (split + events {l1['split_and_events_s']:.2f} s, rows +"
        f" balance lookup {l1['rows_and_balance_lookup_s']:.2f} s, COPY {l1['copy_s']:.2f} s),"
        f" one commit: {l1['events']:,} events, {l1['journal_entries']:,} entries,"
        f" {l1['postings']:,} postings,"
        f" {l1['balances_inserted'] + l1['balances_updated']:,} balances; {_same(l1)}",
        _mib(l1),
    )
    t.add_row(
        "  context: raw binary COPY",
        f"{c['rows_per_s']:,.0f} rows/s",
        "",
        f"{c['rows']:,} journal rows, unindexed table, one commit",
        "",
    )
    t.add_row(
        "  context: naive W1",
        f"{nv['creators_per_s']:,.0f} creators/s",
        "",
        f"{nv['creators']:,} creators: save {nv['events_per_s_write']:,.0f} ev/s,"
        f" project {nv['events_per_s_project']:,.0f} ev/s",
        _mib(nv),
    )
    for clients in (1, 4):
        w, again = r[f"W2_{clients}"], r[f"W2_{clients}_replay"]
        sealed = r[f"limit_W2_{clients}_sealed"]
        ratios = w2_rounds.round_ratios(r, clients)
        t.add_row(
            f"W2 approvals, {clients} client(s)",
            f"{w['ops_per_s']:,.0f} ops/s",
            _share(w["ops_per_s"], sealed["ops_per_s"]),
            f"p50 {w['p50_ms']:.2f} ms, p99 {w['p99_ms']:.2f} ms;"
            f" {len(ratios)} rounds, {min(ratios):.0%}-{max(ratios):.0%} of the limit",
            _mib(w),
        )
        t.add_row(
            "  replayed (same keys)",
            f"{again['ops_per_s']:,.0f} ops/s",
            f"{again['ops_per_s'] / w['ops_per_s']:.1f}x first",
            f"p50 {again['p50_ms']:.2f} ms, p99 {again['p99_ms']:.2f} ms",
            _mib(again),
        )
        for variant, name in w2_rounds.LIMIT_LABELS.items():
            lim = r[f"limit_W2_{clients}_{variant}"]
            target = variant == w2_rounds.TARGET_LIMIT
            t.add_row(
                f"  limit: stored procedure, {name}",
                f"{lim['ops_per_s']:,.0f} ops/s",
                "(the target's)" if target else f"W2 is {w['ops_per_s'] / lim['ops_per_s']:.0%}",
                f"p50 {lim['p50_ms']:.2f} ms, p99 {lim['p99_ms']:.2f} ms;"
                f" {lim['retries']} OCC retries",
                "",
            )
    w3 = r["W3"]
    t.add_row(
        "W3 creator balance",
        f"p99 {w3['balance_p99_ms']:.2f} ms",
        "",
        f"p50 {w3['balance_p50_ms']:.2f} ms",
        _mib(w3),
    )
    t.add_row(
        "W3 as-of balance",
        f"p99 {w3['as_of_p99_ms']:.2f} ms",
        "",
        f"p50 {w3['as_of_p50_ms']:.2f} ms, account with {w3['as_of_account_postings']:,} postings",
        "",
    )
    w4 = r["W4"]
    plan_detail = (
        f"{w4['plan_creators']:,} creators; read models caught up first, apart:"
        f" {w4['catch_up_events']:,} events in {w4['catch_up_s']:.2f} s"
    )
    t.add_row("W4 plan", f"{w4['plan_s']:.2f} s", "", plan_detail, _mib(w4))
    t.add_row(
        "W4 execute (in-memory provider)",
        f"{w4['payouts_per_s']:,.0f} payouts/s",
        "",
        f"{w4['payouts']:,} payouts in {w4['execute_s']:.1f} s",
        "",
    )
    ws = r.get("W4_stripe")
    if ws is not None:
        t.add_row(
            "W4 execute (Stripe-like provider)",
            f"{ws['payouts_per_s']:,.1f} payouts/s",
            f"{ws['payouts_share_of_rate_limit']:.0%} of {ws['rate_limit_per_s']:,.0f}/s",
            f"{ws['planned']:,} payouts, {ws['send_concurrency']} threads, {ws['execute_s']:.1f} s:"
            f" {ws['paid']:,} paid, {ws['unresolved']:,} unresolved, {ws['duplicates']} duplicates;"
            f" provider served {ws['requests_per_s']:,.1f} requests/s"
            f" ({ws['share_of_rate_limit']:.0%} of the limit), answered"
            f" {ws['rate_limited_429']:,} with 429,"
            f" {ws['transient_before_commit'] + ws['transient_after_commit']:,} transient errors;"
            f" {sum(ws['calls'].values()):,} calls ({ws['attempts_per_s']:,.1f}/s)"
            + (f"; error: {ws['error']}" if ws.get("error") else ""),
            _mib(ws),
        )
    w5, l5 = r["W5"], r["limit_W5"]
    t.add_row(
        "W5 rebuild",
        f"{w5['events_per_s']:,.0f} events/s",
        _share(w5["events_per_s"], l5["events_per_s"]),
        f"{w5['events']:,} events, {w5['postings']:,} postings in {w5['seconds']:.1f} s"
        f" ({w5['postings_per_s']:,.0f} postings/s){_w5_rounds(w5, l5)}",
        _mib(w5),
    )
    t.add_row(
        "  limit: decode + binary COPY",
        f"{l5['events_per_s']:,.0f} events/s",
        "",
        f"{l5['seconds']:.1f} s{_seconds_each(l5)}: read+decode+fold"
        f" {l5['read_decode_fold_s']:.1f} s"
        f" ({l5['decoder']}), COPY {l5['copy_s']:.1f} s, indexes {l5['index_s']:.1f} s;"
        f" {sum(l5['rows'].values()):,} rows; {_same(l5)}",
        _mib(l5),
    )
    w6 = r["W6"]
    t.add_row(
        "W6 provider reconciliation",
        f"{w6['seconds']:.2f} s",
        "",
        f"{w6['payouts']:,} payouts",
        _mib(w6),
    )
    console.print(t)
    targets(r["targets"], console)


def targets(rows: list[dict[str, Any]], console: Console | None = None) -> None:
    console = console or Console(width=WIDTH)
    tt = Table(title="Targets", title_justify="left")
    for c in ("target", "measured", "met"):
        tt.add_column(c)
    for x in rows:
        tt.add_row(x["target"], x["measured"], "yes" if x["met"] else "NO")
    console.print(tt)


def _value(cell: dict[str, Any] | None, unit: str) -> str:
    if cell is None:
        return "-"
    v = cell["value"]
    figure = f"{v:,.2f} {unit}" if unit == "ms" or v < 10 else f"{v:,.1f} {unit}"
    return f"{figure}\n{cell['rss_mib']:,.0f} MiB"


def growth_table(g: dict[str, Any]) -> None:
    console = Console(width=WIDTH)
    sizes = g["sizes"]
    t = Table(
        title=(
            "Cost growth (time; peak RSS below) — flagged where time grows faster than the"
            f" model by more than {g['tolerance']:.0%}"
        ),
        title_justify="left",
    )
    t.add_column("workload")
    t.add_column("model")
    for s in sizes:
        t.add_column(f"{s['creators']:,}", justify="right")
    for a, b in itertools.pairwise(sizes):
        t.add_column(f"{a['creators']:,} -> {b['creators']:,}", justify="right")
    t.add_column("flag")
    for row in g["table"]:
        steps = []
        for st in row["steps"]:
            if st is None:
                steps.append("-")
                continue
            mark = " !" if st["faster_than_model"] else ""
            steps.append(
                f"x{st['ratio']:.2f} (model x{st['expected']:.2f}){mark}"
                f"\nmem x{st['rss_ratio']:.2f}"
            )
        t.add_row(
            row["metric"],
            row["model"],
            *(_value(c, row["unit"]) for c in row["sizes"]),
            *steps,
            "FASTER THAN " + row["model"].upper() if row["flagged"] else "",
        )
    console.print(t)
    st = Table(title="Sizes", title_justify="left")
    for c in ("creators", "status", "finished", "elapsed", "peak RSS seen"):
        st.add_column(c)
    for s in sizes:
        st.add_row(
            f"{s['creators']:,}",
            s["status"]
            + "".join(f"\n{k.replace('_', ' ')}: {v:,}" for k, v in s.get("reached", {}).items()),
            ", ".join(s["figures"]) or "-",
            f"{s['elapsed_s']:,.0f} s",
            f"{s['peak_rss_mib_seen']:,.0f} MiB",
        )
    console.print(st)


def _seconds_each(row: dict[str, Any]) -> str:
    """`` (mean of 9.1, 8.7, 9.4 s)`` for a W5 side measured in rounds; nothing for one round
    (or a results file from before the rounds)."""
    each = row.get("rounds_seconds", [])
    if len(each) < 2:
        return ""
    return f" (mean of {', '.join(f'{s:.1f}' for s in each)} s)"


def _w5_rounds(w5: dict[str, Any], l5: dict[str, Any]) -> str:
    """`` (mean of 10.2, 9.9, 10.0 s); 3 rounds, 71%-84% of the limit`` for W5 measured in
    rounds; nothing for one round."""
    span = w5_rounds.ratio_range(w5, l5)
    if span is None:
        return ""
    rounds = len(w5["rounds_seconds"])
    return f"{_seconds_each(w5)}; {rounds} rounds, {span[0]:.0%}-{span[1]:.0%} of the limit"
