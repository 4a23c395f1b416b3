"""The growth study's flagging rule: time may grow like the workload's model (linear in N, or
logarithmic for reads) plus a tolerance; beyond that a step is flagged."""

from __future__ import annotations

import math
from typing import Any

import pytest

from bench.growth import expected_ratio, grows_faster, table


def test_linear_growth_is_the_ratio_of_sizes_and_log_growth_the_ratio_of_their_logs() -> None:
    assert expected_ratio("linear", 10_000, 100_000) == pytest.approx(10)
    assert expected_ratio("log", 10_000, 100_000) == pytest.approx(math.log(1e5) / math.log(1e4))
    with pytest.raises(ValueError, match="unknown growth model"):
        expected_ratio("quadratic", 10, 100)


@pytest.mark.parametrize(
    ("model", "v2", "flagged"),
    [
        ("linear", 10.0, False),  # exactly linear
        ("linear", 12.4, False),  # within the 25% tolerance
        ("linear", 12.6, True),  # beyond it
        ("linear", 100.0, True),  # quadratic
        ("log", 1.25, False),  # exactly logarithmic
        ("log", 2.0, True),  # a read that doubles over 10x more rows
    ],
)
def test_a_step_is_flagged_only_beyond_its_model_and_tolerance(
    model: str, v2: float, flagged: bool
) -> None:
    assert grows_faster(model, 10_000, 1.0, 100_000, v2, tolerance=0.25) is flagged


def _size(n: int, figures: dict[str, Any]) -> dict[str, Any]:
    return {"creators": n, "figures": figures, "status": "complete"}


def test_the_growth_table_flags_the_rows_that_grow_faster_and_skips_missing_sizes() -> None:
    w1 = {"seconds": 1.0, "peak_rss_mib": 100.0}
    w3 = {
        "balance_p50_ms": 0.5,
        "balance_p99_ms": 1.0,
        "as_of_p50_ms": 0.3,
        "as_of_p99_ms": 0.4,
        "peak_rss_mib": 100.0,
    }
    sizes = [
        _size(10_000, {"W1": w1, "W3": w3}),
        _size(
            100_000,
            {"W1": w1 | {"seconds": 30.0}, "W3": w3 | {"balance_p99_ms": 1.1}},
        ),
        _size(1_000_000, {"W1": w1 | {"seconds": 300.0}}),  # stopped before W3
    ]
    rows = {r["metric"]: r for r in table(sizes, 0.25)}
    w1_row = rows["W1 period close"]
    assert w1_row["flagged"]
    assert [s["faster_than_model"] for s in w1_row["steps"]] == [True, False]
    assert not rows["W3 balance p99"]["flagged"]
    assert rows["W3 balance p99"]["steps"][1] is None
    assert rows["W3 balance p99"]["sizes"][2] is None
    assert rows["W4 plan"]["steps"] == [None, None]
