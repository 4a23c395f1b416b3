"""Sharing money out: pool splits and fixed rates.

All arithmetic is on integers.  The two rounding rules, stated once:

* **Pool split** (largest remainder).  Every participant first gets
  ``floor(pool * weight / total_weight)`` minor units; the minor units left over (fewer than
  the number of participants) go one each to the largest remainders.  Ties between equal
  remainders go to the larger weight, then to the smaller ``sha256(salt, key)`` — never to
  input order.  The parts sum to the pool exactly.
* **Rate per 1,000 views.**  A creator's amount for a period is
  ``floor(qualified_views * rate_micros_per_mille / 10**9)`` (a rate is in millionths of a
  minor unit per 1,000 views), computed once per (creator, period) on the period's total
  qualified views, never per report or per content.

Caps:

* A per-creator cap in a pool split is applied by clip-and-redistribute: everyone whose exact
  quota reaches the cap gets the cap and leaves; the rest of the pool is shared again among the
  others, until no quota reaches the cap.  What nobody can take returns to the fund.
* A budget cap per period on a rate program scales everyone down pro rata: the cap is split by
  largest remainder with each creator's uncapped amount as the weight, so no one gets more than
  their uncapped amount and the parts sum to the cap exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from creator_ledger.domain.ids import tie_break

#: Rates are in millionths of a minor unit per 1,000 views.
MICROS_PER_MINOR = 1_000_000
VIEWS_PER_MILLE = 1_000


@dataclass(frozen=True, slots=True)
class Split:
    """The result of sharing ``pool_minor`` out."""

    pool_minor: int
    amounts: dict[str, int]  # key -> minor units (only keys that get something or are capped)
    capped: frozenset[str]
    returned_minor: int  # what no one could take (goes back to the fund)
    #: For a rate program whose period cap was hit: the total before scaling down.
    scaled_from_minor: int | None = None

    @property
    def distributed_minor(self) -> int:
        return self.pool_minor - self.returned_minor


def largest_remainder(pool_minor: int, weights: Mapping[str, int], *, salt: str) -> dict[str, int]:
    """Split ``pool_minor`` in proportion to ``weights`` (see the module docstring).

    Keys with weight 0 get 0.  The total weight must be positive.
    """
    assert pool_minor >= 0
    total = sum(weights.values())
    assert total > 0, "largest_remainder needs a positive total weight"
    amounts: dict[str, int] = {}
    remainders: list[tuple[int, int, str]] = []
    given = 0
    for key, weight in weights.items():
        assert weight >= 0
        base, remainder = divmod(pool_minor * weight, total)
        amounts[key] = base
        given += base
        remainders.append((-remainder, -weight, key))
    left = pool_minor - given
    assert 0 <= left < max(1, len(weights))
    if left:
        remainders.sort(key=lambda r: (r[0], r[1]))
        # Entries tied with the last one to get a unit are ordered by the stable hash; the hash
        # is only computed for them, not for everyone.
        edge = remainders[left - 1][:2]
        tied = [r for r in remainders if r[:2] == edge]
        ahead = sum(1 for r in remainders[:left] if r[:2] != edge)
        for _, _, key in remainders[:ahead]:
            amounts[key] += 1
        tied.sort(key=lambda r: tie_break(salt, r[2]))
        for _, _, key in tied[: left - ahead]:
            amounts[key] += 1
    assert sum(amounts.values()) == pool_minor
    return amounts


def split_pool(
    pool_minor: int,
    weights: Mapping[str, int],
    *,
    salt: str,
    cap_minor: int | None = None,
) -> Split:
    """Share ``pool_minor`` by ``weights`` with an optional per-key cap (clip and redistribute)."""
    assert pool_minor >= 0
    assert cap_minor is None or cap_minor >= 0
    active = {k: w for k, w in weights.items() if w > 0}
    amounts: dict[str, int] = {}
    capped: set[str] = set()
    remaining = pool_minor
    if cap_minor is not None:
        # Each round removes at least one key, so this ends within len(active) + 1 rounds.
        for _ in range(len(active) + 1):
            total = sum(active.values())
            if not active or remaining == 0:
                break
            # exact quota = remaining * w / total >= cap  <=>  remaining * w >= cap * total
            reach = [k for k, w in active.items() if remaining * w >= cap_minor * total]
            if not reach:
                break
            for key in reach:
                amounts[key] = cap_minor
                capped.add(key)
                remaining -= cap_minor
                del active[key]
        assert remaining >= 0
    if active and remaining:
        amounts.update(largest_remainder(remaining, active, salt=salt))
        remaining = 0
    elif active:
        amounts.update(dict.fromkeys(active, 0))
    split = Split(
        pool_minor=pool_minor,
        amounts=amounts,
        capped=frozenset(capped),
        returned_minor=remaining,
    )
    assert sum(split.amounts.values()) + split.returned_minor == pool_minor
    return split


def rate_amount(qualified_views: int, rate_micros_per_mille: int) -> int:
    """A creator's amount for a period at a fixed rate: rounded down, once."""
    assert qualified_views >= 0
    assert rate_micros_per_mille >= 0
    return (qualified_views * rate_micros_per_mille) // (VIEWS_PER_MILLE * MICROS_PER_MINOR)


def split_at_rate(
    views: Mapping[str, int],
    *,
    rate_micros_per_mille: int,
    salt: str,
    creator_cap_minor: int | None = None,
    period_cap_minor: int | None = None,
) -> Split:
    """Amounts at a fixed rate, each clipped to ``creator_cap_minor``, then scaled down pro rata
    to ``period_cap_minor`` when their sum exceeds it.

    ``pool_minor`` of the result is what is paid out (the sum of the amounts); when the period
    cap was hit, ``scaled_from_minor`` is the total before scaling.  Nothing is returned.
    """
    owed: dict[str, int] = {}
    capped: set[str] = set()
    for key, v in views.items():
        if v <= 0:
            continue
        amount = rate_amount(v, rate_micros_per_mille)
        if creator_cap_minor is not None and amount > creator_cap_minor:
            amount = creator_cap_minor
            capped.add(key)
        owed[key] = amount
    total = sum(owed.values())
    if period_cap_minor is None or total <= period_cap_minor:
        return Split(pool_minor=total, amounts=owed, capped=frozenset(capped), returned_minor=0)
    scaled = largest_remainder(period_cap_minor, owed, salt=salt)
    assert all(scaled[k] <= owed[k] for k in owed)
    return Split(
        pool_minor=period_cap_minor,
        amounts=scaled,
        capped=frozenset(capped),
        returned_minor=0,
        scaled_from_minor=total,
    )
