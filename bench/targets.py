"""The targets, checked against one run's results.

Throughput targets are ratios to the limit row measured in the same run (the same work done
the most direct way); the few absolute targets are those with no limit row (latencies, the
plan's time, reconciliation, memory) or a fixed baseline (bulk enrolment before this work).
"""

from __future__ import annotations

from typing import Any

from bench import w5_rounds

GIB_MIB = 1024.0
#: Bulk enrolment measured before (creators/s); the target is 5x it, in the same run.
ENROL_BASELINE_PER_S = 3_079.0
ENROL_FACTOR = 5.0
W1_SHARE_OF_LIMIT = 0.80
W2_SHARE_OF_LIMIT = 0.50
W2_P99_MS = 10.0
W5_SHARE_OF_LIMIT = 0.80
W4_SHARE_OF_RATE_LIMIT = 0.90


def _row(target: str, measured: str, met: bool, kind: str) -> dict[str, Any]:
    return {"target": target, "measured": measured, "met": bool(met), "kind": kind}


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    w1, lim1, naive = r["W1"], r["limit_W1"], r["reference_naive"]
    share = w1["creators_per_s"] / lim1["creators_per_s"]
    checks.append(
        _row(
            f"W1 >= {W1_SHARE_OF_LIMIT:.0%} of its limit row",
            f"{share:.0%} ({w1['creators_per_s']:,.0f} of {lim1['creators_per_s']:,.0f}/s)",
            share >= W1_SHARE_OF_LIMIT,
            "ratio",
        )
    )
    checks.append(
        _row(
            "W1 >= 5x naive",
            f"{w1['creators_per_s'] / naive['creators_per_s']:.1f}x naive",
            w1["creators_per_s"] >= 5 * naive["creators_per_s"],
            "ratio",
        )
    )
    for clients in (1, 4):
        w2, lim = r[f"W2_{clients}"], r[f"limit_W2_{clients}_sealed"]
        unsealed = r[f"limit_W2_{clients}_lock"]
        share = w2["ops_per_s"] / lim["ops_per_s"]
        checks.append(
            _row(
                f"W2 >= {W2_SHARE_OF_LIMIT:.0%} of its limit row ({clients} client(s),"
                " sealed, with the table lock)",
                f"{share:.0%} ({w2['ops_per_s']:,.0f} of {lim['ops_per_s']:,.0f} ops/s);"
                f" {w2['ops_per_s'] / unsealed['ops_per_s']:.0%} of the unsealed limit",
                share >= W2_SHARE_OF_LIMIT,
                "ratio",
            )
        )
    for clients in (1, 4):
        p99 = r[f"W2_{clients}"]["p99_ms"]
        checks.append(
            _row(
                f"W2 p99 <= {W2_P99_MS:g} ms ({clients} client(s))",
                f"{p99:.2f} ms",
                p99 <= W2_P99_MS,
                "absolute",
            )
        )
    for clients in (1, 4):
        first, again = r[f"W2_{clients}"], r[f"W2_{clients}_replay"]
        checks.append(
            _row(
                f"W2 replays >= first sends ({clients} client(s))",
                f"{again['ops_per_s'] / first['ops_per_s']:.1f}x"
                f" ({again['ops_per_s']:,.0f} vs {first['ops_per_s']:,.0f} ops/s)",
                again["ops_per_s"] >= first["ops_per_s"],
                "ratio",
            )
        )
    w3 = r["W3"]
    checks.append(
        _row(
            "W3 balance p99 <= 2 ms",
            f"{w3['balance_p99_ms']:.2f} ms",
            w3["balance_p99_ms"] <= 2,
            "absolute",
        )
    )
    checks.append(
        _row(
            "W3 as-of p99 <= 1 ms",
            f"{w3['as_of_p99_ms']:.2f} ms",
            w3["as_of_p99_ms"] <= 1,
            "absolute",
        )
    )
    w4 = r["W4"]
    checks.append(_row("W4 plan <= 3 s", f"{w4['plan_s']:.2f} s", w4["plan_s"] <= 3, "absolute"))
    checks.append(
        _row(
            "W4 execute (in-memory) >= 2,000 payouts/s",
            f"{w4['payouts_per_s']:,.0f}/s",
            w4["payouts_per_s"] >= 2_000,
            "absolute",
        )
    )
    stripe = r.get("W4_stripe")
    if stripe is not None:
        limit = stripe["rate_limit_per_s"]
        share = stripe["payouts_share_of_rate_limit"]
        checks.append(
            _row(
                f"W4 Stripe-like: payouts/s >= {W4_SHARE_OF_RATE_LIMIT:.0%} of the rate limit",
                f"{share:.0%} ({stripe['payouts_per_s']:,.1f} paid/s of {limit:,.0f} requests/s;"
                f" provider served {stripe['requests_per_s']:,.1f} requests/s)",
                share >= W4_SHARE_OF_RATE_LIMIT,
                "ratio",
            )
        )
        checks.append(
            _row(
                "W4 Stripe-like: 0 duplicate transfers",
                f"{stripe['duplicates']} duplicates, {stripe['unresolved']:,} unresolved",
                stripe["duplicates"] == 0,
                "absolute",
            )
        )
    w5, lim5 = r["W5"], r["limit_W5"]
    share = w5["events_per_s"] / lim5["events_per_s"]
    checks.append(
        _row(
            f"W5 >= {W5_SHARE_OF_LIMIT:.0%} of its limit row",
            f"{share:.0%} ({w5['events_per_s']:,.0f} of {lim5['events_per_s']:,.0f} events/s)"
            + _w5_round_range(w5, lim5),
            share >= W5_SHARE_OF_LIMIT,
            "ratio",
        )
    )
    w6 = r["W6"]
    checks.append(
        _row("W6 reconciliation <= 5 s", f"{w6['seconds']:.2f} s", w6["seconds"] <= 5, "absolute")
    )
    enrol = r["setup"]["enrol_creators_per_s"]
    checks.append(
        _row(
            f"bulk enrolment >= {ENROL_FACTOR:g}x {ENROL_BASELINE_PER_S:,.0f} creators/s",
            f"{enrol / ENROL_BASELINE_PER_S:.1f}x ({enrol:,.0f}/s)",
            enrol >= ENROL_FACTOR * ENROL_BASELINE_PER_S,
            "ratio",
        )
    )
    # The project's memory: limit rows and references are the bench's own code.
    rss = {
        k: v["peak_rss_mib"]
        for k, v in r.items()
        if isinstance(v, dict)
        and "peak_rss_mib" in v
        and not k.startswith(("limit_", "reference_"))
    }
    worst = max(rss, key=rss.__getitem__)
    checks.append(
        _row(
            "peak RSS <= 1 GiB",
            f"max {rss[worst]:,.0f} MiB ({worst})",
            rss[worst] <= GIB_MIB,
            "absolute",
        )
    )
    return checks


def _w5_round_range(w5: dict[str, Any], lim5: dict[str, Any]) -> str:
    """``; rounds 71%-84%`` when W5 was measured in rounds (:mod:`bench.w5_rounds`)."""
    span = w5_rounds.ratio_range(w5, lim5)
    return "" if span is None else f"; rounds {span[0]:.0%}-{span[1]:.0%}"
