"""bench.w5_rounds: W5 and its limit taking turns, and one row from each side's rounds."""

from __future__ import annotations

import pytest

from bench import w5_rounds
from bench.report import _w5_rounds
from bench.targets import _w5_round_range


def _run(seconds: float, **extra: object) -> dict[str, object]:
    row: dict[str, object] = {"events": 1_000, "postings": 2_000, "seconds": seconds}
    return row | {"peak_rss_mib": 100.0 + seconds} | extra


def test_the_sides_take_turns_the_ledger_first_in_even_rounds() -> None:
    assert [w5_rounds.order(i) for i in range(4)] == [
        ("W5", "limit_W5"),
        ("limit_W5", "W5"),
        ("W5", "limit_W5"),
        ("limit_W5", "W5"),
    ]


def test_a_side_is_its_events_over_its_mean_round() -> None:
    writes = {"checkpoints": 0, "buffers_backend": 10}
    row = w5_rounds.combine(
        [
            _run(8.0, background_writes=writes, copy_s=1.0),
            _run(12.0, background_writes=writes, copy_s=2.0),
        ]
    )
    assert row["seconds"] == 10.0
    assert row["rounds_seconds"] == [8.0, 12.0]
    assert row["events_per_s"] == 100.0
    assert row["postings_per_s"] == 200.0
    assert row["peak_rss_mib"] == 112.0  # the highest round's
    assert row["copy_s"] == 1.5
    assert row["background_writes"] == {"checkpoints": 0, "buffers_backend": 20}


def test_rounds_that_rebuilt_different_histories_are_refused() -> None:
    with pytest.raises(ValueError, match="different numbers of events"):
        w5_rounds.combine([_run(1.0), _run(1.0, events=999)])
    with pytest.raises(ValueError, match="no rounds"):
        w5_rounds.combine([])


def test_round_ratios_and_their_range_in_the_report_and_the_targets() -> None:
    ledger = w5_rounds.combine([_run(10.0), _run(8.0)])
    limit = w5_rounds.combine([_run(8.0), _run(8.0)])
    assert w5_rounds.round_ratios(ledger, limit) == [0.8, 1.0]
    assert w5_rounds.ratio_range(ledger, limit) == (0.8, 1.0)
    assert _w5_round_range(ledger, limit) == "; rounds 80%-100%"
    assert _w5_rounds(ledger, limit) == " (mean of 10.0, 8.0 s); 2 rounds, 80%-100% of the limit"
    one = w5_rounds.combine([_run(10.0)])
    assert w5_rounds.ratio_range(one, one) is None
    assert _w5_round_range(one, one) == ""  # one round: no range to show
    assert _w5_rounds(one, one) == ""
