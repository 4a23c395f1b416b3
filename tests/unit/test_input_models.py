"""Values a caller builds for a command (program rules, creator records) refuse bad input with
the ledger's own errors, as the commands do: a caller catches ``LedgerError`` and nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from creator_ledger import PoolShareRule, RatePerMilleRule
from creator_ledger.domain.errors import InvalidAmountError, InvalidInputError, LedgerError
from creator_ledger.ledger.creators import CreatorRecord

CASES: list[tuple[str, Callable[[], Any], type[LedgerError], str]] = [
    ("zero pool", lambda: PoolShareRule(pool_minor=0), InvalidAmountError, "pool_minor"),
    ("float pool", lambda: PoolShareRule(pool_minor=1.5), InvalidAmountError, "pool_minor"),
    (
        "pool beyond bigint",
        lambda: PoolShareRule(pool_minor=2**63),
        InvalidAmountError,
        "64-bit",
    ),
    ("missing pool", PoolShareRule, InvalidInputError, "pool_minor"),
    (
        "unknown field",
        lambda: PoolShareRule(pool_minor=1, pool=2),  # type: ignore[call-arg]
        InvalidInputError,
        "pool",
    ),
    (
        "negative cap",
        lambda: RatePerMilleRule(rate_micros_per_mille=1, creator_cap_minor=-1),
        InvalidAmountError,
        "creator_cap_minor",
    ),
    (
        "a NUL in a payout account",
        lambda: CreatorRecord(
            creator_ref="a", display_name="A", country="US", payout_account="acct\x00"
        ),
        InvalidInputError,
        "payout_account",
    ),
    (
        "a NUL in a display name",
        lambda: CreatorRecord(creator_ref="a", display_name="A\x00", country="US"),
        InvalidInputError,
        "display_name",
    ),
    (
        "an unknown KYC status",
        lambda: CreatorRecord(creator_ref="a", display_name="A", country="US", kyc_status="ok"),
        InvalidInputError,
        "kyc_status",
    ),
]


@pytest.mark.parametrize(("what", "build", "error", "field"), CASES, ids=[c[0] for c in CASES])
def test_values_built_for_a_command_refuse_bad_input_with_ledger_errors(
    what: str, build: Callable[[], Any], error: type[LedgerError], field: str
) -> None:
    with pytest.raises(error) as caught:
        build()
    assert field in caught.value.message, what
    assert isinstance(caught.value, ValueError)  # and, as before, a ValueError


def test_good_values_are_built_as_before() -> None:
    assert PoolShareRule(pool_minor=5).model_dump() == {
        "kind": "pool_share",
        "pool_minor": 5,
        "creator_cap_minor": None,
    }
    record = CreatorRecord(creator_ref="a", display_name="A", country="US", payout_account="acct_1")
    assert record.payout_account == "acct_1"
