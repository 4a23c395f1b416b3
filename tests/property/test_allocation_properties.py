"""Properties of the pool split and the fixed rate (hypothesis)."""

from __future__ import annotations

import random
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from creator_ledger.domain.allocation import split_at_rate, split_pool

weights = st.dictionaries(
    st.text(alphabet="abcdefghij0123456789", min_size=1, max_size=6),
    st.integers(min_value=0, max_value=10**9),
    max_size=60,
)
pools = st.integers(min_value=0, max_value=10**13)
caps = st.none() | st.integers(min_value=0, max_value=10**12)


@given(pools, weights, caps)
def test_a_pool_split_sums_exactly_to_the_pool(
    pool: int, w: dict[str, int], cap: int | None
) -> None:
    split = split_pool(pool, w, salt="period", cap_minor=cap)
    assert sum(split.amounts.values()) + split.returned_minor == pool
    assert all(a >= 0 for a in split.amounts.values())
    assert split.returned_minor >= 0


@given(pools, weights, caps)
def test_each_uncapped_share_is_within_one_minor_unit_of_its_exact_quota(
    pool: int, w: dict[str, int], cap: int | None
) -> None:
    split = split_pool(pool, w, salt="period", cap_minor=cap)
    uncapped = {k: v for k, v in w.items() if v > 0 and k not in split.capped}
    shared = pool - sum(split.amounts[k] for k in split.capped) - split.returned_minor
    total = sum(uncapped.values())
    for key, weight in uncapped.items():
        quota = Fraction(shared * weight, total)
        assert abs(split.amounts[key] - quota) < 1


@given(pools, weights, st.integers(min_value=0, max_value=10**12))
def test_no_capped_creator_gets_more_than_the_cap(pool: int, w: dict[str, int], cap: int) -> None:
    split = split_pool(pool, w, salt="period", cap_minor=cap)
    assert all(a <= cap for a in split.amounts.values())
    # Nothing returns to the fund while someone below the cap could still take it.
    if split.returned_minor:
        assert all(split.amounts[k] == cap for k, v in w.items() if v > 0)


@settings(max_examples=200)
@given(pools, weights, caps, st.randoms(use_true_random=False))
def test_the_split_does_not_depend_on_input_order(
    pool: int, w: dict[str, int], cap: int | None, rnd: random.Random
) -> None:
    items = list(w.items())
    rnd.shuffle(items)
    assert split_pool(pool, dict(items), salt="p", cap_minor=cap) == split_pool(
        pool, w, salt="p", cap_minor=cap
    )


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=4), st.integers(min_value=0, max_value=10**10), max_size=40
    ),
    st.integers(min_value=1, max_value=10**8),
    st.none() | st.integers(min_value=1, max_value=10**9),
    st.none() | st.integers(min_value=1, max_value=10**9),
)
def test_a_rate_program_never_pays_more_than_its_caps(
    views: dict[str, int], rate: int, creator_cap: int | None, period_cap: int | None
) -> None:
    split = split_at_rate(
        views,
        rate_micros_per_mille=rate,
        salt="p",
        creator_cap_minor=creator_cap,
        period_cap_minor=period_cap,
    )
    uncapped = split_at_rate(
        views, rate_micros_per_mille=rate, salt="p", creator_cap_minor=creator_cap
    )
    if period_cap is not None:
        assert sum(split.amounts.values()) <= period_cap
    for key, amount in split.amounts.items():
        assert amount <= uncapped.amounts[key]
        if creator_cap is not None:
            assert amount <= creator_cap
    if split.scaled_from_minor is not None:
        assert sum(split.amounts.values()) == period_cap
