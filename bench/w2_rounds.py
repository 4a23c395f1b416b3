"""W2 and its limit rows, measured in interleaved rounds.

The ledger's approvals and the stored procedure's are measured minutes apart if each runs
whole, one after the other, and this machine's speed drifts over minutes: run to run, the
1-client limit row alone measured 960 to 1,852 ops/s.  So each row is split into ``rounds``
rounds (the same claims per round for every row, fresh client processes each round, each with
its own warm-up), and the rows take turns: the ledger first in even rounds, the limit first in
odd ones (ABBA), so a slow stretch of the machine falls on both.  A row's ops/s is its ops
over the sum of its rounds' wall times, its percentiles are over all of its ops, and
``rounds_ops_per_s`` keeps each round's own figure; :func:`round_ratios` gives the ledger's
share of the limit round by round, to show how steady the ratio was.

Each round's clients run ``--w2-ops`` approvals each (1,000 by default), as one whole W2 did
before the rounds.  Until 2026-12-07 a round ran ``--w2-ops / rounds`` (250): client processes a
quarter as long, which paid more per approval (more of their claims met an account book for the
first time, and every approval ran in a younger process).  Measured then on a copy of a bench
database, two alternating pairs, the same code: 1 client 453 and 576 ops/s with 250 approvals a
process, 642 and 669 with 1,000 (0.91-1.14 ms of CPU an approval, against 0.80-0.85); 4 clients
861 and 929 against 931 and 1,031 ops/s, p99 10.9 and 12.6 ms against 11.4 and 12.8.  The limit
rows keep nothing in memory from one call to the next.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from bench import limit_w2, workloads

CLIENTS = (1, 4)
#: The limit row the W2 target is a share of (``limit_W2_<n>_sealed``: the same work as the
#: ledger, seals included; see :mod:`bench.limit_w2`).
TARGET_LIMIT = "sealed"
LIMIT_LABELS = {
    "sealed": "sealed, with the table lock",
    "lock": "unsealed, with the table lock",
    "nolock": "unsealed, without the table lock",
}

#: ``segment(label, work, flush=...)``: runs ``work`` under the bench's watchdog (printing the
#: label; with ``flush``, after a checkpoint) and returns what it returns.
Segment = Callable[..., workloads.ClientsRun]


def items_needed(rounds: int, ops_per_client: int) -> int:
    """Claim items for every round at 1 and at 4 clients (each row of a round reuses them:
    the replay under the ledger's keys, the limit under keys of its own)."""
    return rounds * sum(CLIENTS) * (workloads.WARMUP_OPS + ops_per_client)


def chunks(
    items: Sequence[tuple[str, str]], rounds: int, ops_per_client: int
) -> dict[int, list[list[tuple[str, str]]]]:
    """The items of each round at each client count: disjoint, in order."""
    per = workloads.WARMUP_OPS + ops_per_client
    out: dict[int, list[list[tuple[str, str]]]] = {}
    at = 0
    for clients in CLIENTS:
        out[clients] = []
        for _ in range(rounds):
            chunk = list(items[at : at + clients * per])
            assert len(chunk) == clients * per, "not enough claim items for W2"
            out[clients].append(chunk)
            at += clients * per
    return out


def run(
    url: str,
    conninfo: str,
    items: Sequence[tuple[str, str]],
    *,
    rounds: int,
    ops_per_client: int,
    timeout_s: float,
    segment: Segment,
) -> dict[str, dict[str, Any]]:
    """The rows ``W2_<n>``, ``W2_<n>_replay``, ``limit_W2_<n>_lock`` and
    ``limit_W2_<n>_nolock`` for n = 1 and 4, measured in ``rounds`` interleaved rounds of
    ``ops_per_client`` approvals per client (``limit_w2.prepare`` must have run)."""
    runs: dict[str, list[workloads.ClientsRun]] = {}
    for clients, per_round in chunks(items, rounds, ops_per_client).items():
        for r, chunk in enumerate(per_round):
            ledger = [
                (
                    f"W2_{clients}{key}",
                    f"W2 approvals, {clients} client(s){label}",
                    not key,  # a replay follows its first sends: nothing new to flush
                    functools.partial(
                        workloads.w2_run, url, chunk, clients, ops_per_client, timeout_s=timeout_s
                    ),
                )
                for key, label in (("", ""), ("_replay", ", replayed"))
            ]
            limit = [
                (
                    f"limit_W2_{clients}_{variant}",
                    f"limit: W2 stored procedure, {clients} client(s), {LIMIT_LABELS[variant]}",
                    True,
                    functools.partial(
                        limit_w2.run,
                        conninfo,
                        chunk,
                        clients,
                        ops_per_client,
                        variant=variant,
                        timeout_s=timeout_s,
                    ),
                )
                for variant in limit_w2.VARIANTS
            ]
            for key, label, flush, work in ledger + limit if r % 2 == 0 else limit + ledger:
                figures = segment(f"{label}, round {r + 1}/{rounds}", work, flush=flush)
                runs.setdefault(key, []).append(figures)
    out = {key: workloads.summary(row) for key, row in runs.items()}
    for key, row in out.items():
        if key.startswith("limit_"):
            row["table_lock"], row["sealed"] = limit_w2.VARIANTS[key.rpartition("_")[2]]
    return out


def round_ratios(rows: dict[str, Any], clients: int, variant: str = TARGET_LIMIT) -> list[float]:
    """The ledger's ops/s over the limit's (the target's: sealed, with the table lock), round
    by round."""
    ledger = rows[f"W2_{clients}"]["rounds_ops_per_s"]
    limit = rows[f"limit_W2_{clients}_{variant}"]["rounds_ops_per_s"]
    return [a / b for a, b in zip(ledger, limit, strict=True)]
