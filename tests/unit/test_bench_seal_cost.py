"""``python -m bench --seal-cost`` / ``--without-seals``: the options, and rounds that weigh
both sides alike."""

from __future__ import annotations

from bench import seal_cost
from bench.__main__ import parse


def test_the_seal_cost_options_parse() -> None:
    args = parse(["--seal-cost", "--creators", "20000", "--w2-ops", "300"])
    assert args.seal_cost
    assert not args.without_seals
    assert parse(["--without-seals"]).without_seals


def test_the_counted_rounds_are_balanced_and_each_side_sees_early_and_late_rounds() -> None:
    counted = seal_cost.ROUNDS[seal_cost.WARMUP_ROUNDS :]
    on = [i for i, r in enumerate(counted) if r]
    off = [i for i, r in enumerate(counted) if not r]
    assert len(on) == len(off) == 4
    assert sum(on) == sum(off)  # the same mean position: a linear drift weighs on both alike
