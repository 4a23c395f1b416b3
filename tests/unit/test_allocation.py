from __future__ import annotations

from creator_ledger.domain.allocation import (
    largest_remainder,
    rate_amount,
    split_at_rate,
    split_pool,
)


def test_pool_split_gives_leftover_units_to_the_largest_remainders() -> None:
    # 100 split 1:1:1 -> 33 each and one unit left; equal remainders and weights, so the
    # stable hash decides, whatever the input order.
    a = largest_remainder(100, {"a": 1, "b": 1, "c": 1}, salt="p1")
    b = largest_remainder(100, {"c": 1, "a": 1, "b": 1}, salt="p1")
    assert a == b
    assert sorted(a.values()) == [33, 33, 34]


def test_a_larger_weight_wins_a_tie_of_remainders() -> None:
    # 10 * 1 / 4 and 10 * 3 / 4 have remainders 2 and 2 (of 4): the heavier one gets the unit.
    assert largest_remainder(10, {"light": 1, "heavy": 3}, salt="s") == {"light": 2, "heavy": 8}


def test_caps_clip_and_redistribute_until_no_quota_reaches_the_cap() -> None:
    split = split_pool(1_000, {"big": 90, "mid": 5, "small": 5}, salt="s", cap_minor=400)
    # big is capped at 400; 600 is shared 5:5 among the others -> 300 each, under the cap.
    assert split.amounts == {"big": 400, "mid": 300, "small": 300}
    assert split.capped == frozenset({"big"})
    assert split.returned_minor == 0


def test_what_nobody_can_take_returns_to_the_fund() -> None:
    split = split_pool(1_000, {"a": 1, "b": 1}, salt="s", cap_minor=300)
    assert split.amounts == {"a": 300, "b": 300}
    assert split.returned_minor == 400
    assert split_pool(500, {}, salt="s").returned_minor == 500
    assert split_pool(500, {"a": 0}, salt="s").returned_minor == 500


def test_rate_rounds_down_once_per_creator_and_period() -> None:
    # 4 minor units per 1,000 views = 4,000,000 micros per mille: 1,999 views -> 7.996 -> 7.
    assert rate_amount(1_999, 4_000_000) == 7
    assert rate_amount(999, 1_000_000) == 0


def test_a_period_cap_scales_everyone_down_pro_rata_to_the_cap_exactly() -> None:
    split = split_at_rate(
        {"a": 300_000, "b": 100_000},
        rate_micros_per_mille=10_000_000,
        salt="s",
        period_cap_minor=2_000,
    )
    # uncapped: a 3,000, b 1,000 -> scaled to 2,000 in proportion 3:1
    assert split.amounts == {"a": 1_500, "b": 500}
    assert sum(split.amounts.values()) == 2_000
    assert split.scaled_from_minor == 4_000


def test_a_creator_cap_on_a_rate_program_clips_that_creator() -> None:
    split = split_at_rate(
        {"a": 300_000, "b": 100_000},
        rate_micros_per_mille=10_000_000,
        salt="s",
        creator_cap_minor=2_500,
    )
    assert split.amounts == {"a": 2_500, "b": 1_000}
    assert split.capped == frozenset({"a"})
