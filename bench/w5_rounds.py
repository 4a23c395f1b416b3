"""W5 and its limit row, measured in rounds that take turns.

One rebuild and one limit run, each timed once, measured a pair that this machine's drift can
tip either way: on one bench database on 2026-12-07, seven such pairs in a row (each side in a
fresh process) put the rebuild at 8.6-11.6 s and the limit at 6.6-9.8 s, the ratio at
69-100%.  So each side runs ``rounds`` times, the two taking turns, the ledger first in even
rounds and the limit first in odd ones, each in a fresh process after a checkpoint, and a
side's events/s is its events over its mean round (as W2's rows, its ops over the sum of its
rounds).  ``rounds_seconds`` keeps every round's time, and :func:`round_ratios` gives the
ledger's share of the limit round by round, to show how steady the ratio was.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import fmean
from typing import Any

__all__ = ["combine", "order", "ratio_range", "round_ratios"]

#: Figures of the limit row averaged over its rounds (its phases).
_LIMIT_PHASES = ("read_decode_fold_s", "running_balances_s", "copy_s", "index_s")


def order(round_index: int) -> tuple[str, str]:
    """Which side runs first in round ``round_index`` (0-based): the ledger in even rounds."""
    return ("W5", "limit_W5") if round_index % 2 == 0 else ("limit_W5", "W5")


def combine(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One row from a side's rounds: the last round's figures (its counts: every round rebuilds
    the same events), with ``seconds`` the mean round, ``events_per_s`` and ``postings_per_s``
    over it, ``rounds_seconds`` each round's, the highest ``peak_rss_mib``, the phases of the
    limit averaged, and the background writes summed."""
    if not runs:
        raise ValueError("no rounds to combine")
    events = {r["events"] for r in runs}
    if len(events) != 1:
        raise ValueError(f"the rounds rebuilt different numbers of events: {sorted(events)}")
    out = dict(runs[-1])
    seconds = fmean(r["seconds"] for r in runs)
    out["seconds"] = seconds
    out["rounds_seconds"] = [r["seconds"] for r in runs]
    out["events_per_s"] = out["events"] / seconds
    if "postings" in out:
        out["postings_per_s"] = out["postings"] / seconds
    if "peak_rss_mib" in out:
        out["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
    for phase in _LIMIT_PHASES:
        if phase in out:
            out[phase] = fmean(r[phase] for r in runs)
    if "background_writes" in out:
        out["background_writes"] = {
            k: sum(r["background_writes"][k] for r in runs) for k in out["background_writes"]
        }
    return out


def round_ratios(ledger: dict[str, Any], limit: dict[str, Any]) -> list[float]:
    """The ledger's share of the limit in each round (the limit's seconds over the ledger's)."""
    return [
        lim / own
        for own, lim in zip(ledger["rounds_seconds"], limit["rounds_seconds"], strict=True)
    ]


def ratio_range(ledger: dict[str, Any], limit: dict[str, Any]) -> tuple[float, float] | None:
    """The lowest and highest of :func:`round_ratios`; None when the ledger's side ran one round
    (or comes from a results file written before the rounds): no range to show."""
    if len(ledger.get("rounds_seconds", [])) < 2:
        return None
    ratios = round_ratios(ledger, limit)
    return min(ratios), max(ratios)
