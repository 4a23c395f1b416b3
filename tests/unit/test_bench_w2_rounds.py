"""W2 and its limit rows take turns in rounds, and a row is summed over its rounds."""

from __future__ import annotations

from typing import Any

import pytest

from bench import __main__ as bench_main
from bench import limit_w2, w2_rounds, workloads
from bench.workloads import ClientsRun, summary


def claim_items(n: int) -> list[tuple[str, str]]:
    return [(f"claim-{i // 5}", f"i{i % 5}") for i in range(n)]


def test_every_round_at_every_client_count_gets_items_of_its_own() -> None:
    ops = 7
    needed = w2_rounds.items_needed(3, ops)
    assert needed == 3 * (1 + 4) * (workloads.WARMUP_OPS + ops)
    chunks = w2_rounds.chunks(claim_items(needed), 3, ops)
    flat = [item for clients in (1, 4) for chunk in chunks[clients] for item in chunk]
    assert flat == claim_items(needed)  # disjoint, in order, none left over
    assert [len(c) for c in chunks[4]] == [4 * (workloads.WARMUP_OPS + ops)] * 3
    with pytest.raises(AssertionError, match="not enough claim items"):
        w2_rounds.chunks(claim_items(needed - 1), 3, ops)


def test_a_row_is_its_ops_over_the_sum_of_its_rounds_wall_times() -> None:
    rows = [
        ClientsRun(4, [0.001] * 97 + [0.009, 0.010, 0.011], 0.5, {"retries": 1}),
        ClientsRun(4, [0.002] * 100, 1.5, {"retries": 2}),
    ]
    got = summary(rows)
    assert got["ops"] == 200
    assert got["ops_per_s"] == pytest.approx(200 / 2.0)  # not the mean of 200/s and 67/s
    assert got["rounds_ops_per_s"] == pytest.approx([200.0, 100 / 1.5])
    assert got["p99_ms"] == pytest.approx(9.0)  # over all 200 ops (round 1 alone: 11 ms)
    assert got["retries"] == 3
    with pytest.raises(AssertionError):
        summary([rows[0], ClientsRun(1, [0.001], 1.0, {})])  # one client count per row


def test_the_rows_take_turns_ledger_first_then_limit_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    def ledger(url: str, chunk: list[Any], clients: int, ops: int, **_: Any) -> ClientsRun:
        return ClientsRun(clients, [0.001] * clients * ops, 1.0, {})

    variants: list[str] = []

    def limit(conninfo: str, chunk: list[Any], clients: int, ops: int, **kw: Any) -> ClientsRun:
        variants.append(kw["variant"])
        return ClientsRun(clients, [0.001] * clients * ops, 0.5, {"retries": 0})

    def segment(label: str, work: Any, *, flush: bool) -> ClientsRun:
        calls.append(f"{label} flush={flush}")
        result: ClientsRun = work()
        return result

    monkeypatch.setattr(workloads, "w2_run", ledger)
    monkeypatch.setattr(limit_w2, "run", limit)
    ops = 3
    rows = w2_rounds.run(
        "url",
        "conninfo",
        claim_items(w2_rounds.items_needed(2, ops)),
        rounds=2,
        ops_per_client=ops,
        timeout_s=1.0,
        segment=segment,
    )
    limit = "limit: W2 stored procedure, 1 client(s)"
    assert calls[:10] == [
        "W2 approvals, 1 client(s), round 1/2 flush=True",
        "W2 approvals, 1 client(s), replayed, round 1/2 flush=False",
        f"{limit}, sealed, with the table lock, round 1/2 flush=True",
        f"{limit}, unsealed, with the table lock, round 1/2 flush=True",
        f"{limit}, unsealed, without the table lock, round 1/2 flush=True",
        f"{limit}, sealed, with the table lock, round 2/2 flush=True",
        f"{limit}, unsealed, with the table lock, round 2/2 flush=True",
        f"{limit}, unsealed, without the table lock, round 2/2 flush=True",
        "W2 approvals, 1 client(s), round 2/2 flush=True",
        "W2 approvals, 1 client(s), replayed, round 2/2 flush=False",
    ]
    assert len(calls) == 20
    assert variants == ["sealed", "lock", "nolock"] * 4
    assert rows["W2_4"]["ops"] == 2 * 4 * ops
    assert rows["W2_4"]["ops_per_s"] == pytest.approx(12.0)
    assert (rows["limit_W2_4_sealed"]["table_lock"], rows["limit_W2_4_sealed"]["sealed"]) == (
        True,
        True,
    )
    assert (rows["limit_W2_4_lock"]["table_lock"], rows["limit_W2_4_lock"]["sealed"]) == (
        True,
        False,
    )
    assert (rows["limit_W2_4_nolock"]["table_lock"], rows["limit_W2_4_nolock"]["sealed"]) == (
        False,
        False,
    )
    assert w2_rounds.round_ratios(rows, 4) == pytest.approx([0.5, 0.5])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--w2-rounds", "0"], "argument --w2-rounds: 0 is too small: give 1 or more"),
        (["--w2-ops", "-3"], "argument --w2-ops: -3 is too small: give 1 or more"),
        (["--w5-rounds", "0"], "argument --w5-rounds: 0 is too small: give 1 or more"),
        (["--creators", "many"], "argument --creators: not a number: 'many'"),
        (["--w4-stripe-payouts", "-1"], "argument --w4-stripe-payouts: -1 is too small: give 0"),
        (["--timeout-s", "0"], "argument --timeout-s: 0 is too small"),
    ],
)
def test_the_bench_refuses_counts_and_times_it_cannot_run_with(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        bench_main.parse(args)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_the_bench_takes_underscored_counts_and_its_defaults() -> None:
    args = bench_main.parse(["--creators", "20_000", "--w2-rounds", "2"])
    assert (args.creators, args.w2_rounds, args.w2_ops, args.w4_stripe_payouts) == (
        20_000,
        2,
        1_000,
        3_000,
    )
