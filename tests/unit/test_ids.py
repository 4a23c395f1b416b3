from __future__ import annotations

import copy
import pickle
from collections import Counter
from uuid import UUID, uuid5

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creator_ledger.domain.creator import Creator
from creator_ledger.domain.ids import (
    BOOK_SHARDS,
    NAMESPACE,
    _named,
    book_shard,
    book_shard_hex,
    stable_id,
)


def test_creators_spread_evenly_over_the_account_books() -> None:
    shards = Counter(book_shard(Creator.create_id(f"creator-{n}")) for n in range(25_600))
    assert len(shards) == BOOK_SHARDS
    assert min(shards.values()) > 60  # 100 expected per book
    assert max(shards.values()) < 140


def test_the_hex_form_names_the_same_book() -> None:
    for n in range(1_000):
        cid = Creator.create_id(f"c{n}")
        assert book_shard_hex(cid.hex) == book_shard(cid)


def test_ids_are_stable_and_distinct_per_kind() -> None:
    assert stable_id("fund", "a") == stable_id("fund", "a")
    assert stable_id("fund", "a") != stable_id("program", "a")


#: Ids stored before the fast construction of ``_named``: it must go on naming them.
KNOWN = {
    "creator/creator-0000001": UUID("d6e176ea-951b-542c-a14b-568f27428a28"),
    "fund/bench": UUID("93b3c4f6-9c09-5dae-9512-c9e3c1875417"),
}


@settings(max_examples=500)
@given(st.text())
def test_named_ids_are_the_standard_library_uuid5(name: str) -> None:
    try:
        expected = uuid5(NAMESPACE, name)
    except UnicodeEncodeError:  # a lone surrogate: refused the same way
        with pytest.raises(UnicodeEncodeError):
            _named.__wrapped__(name)
        return
    got = _named.__wrapped__(name)  # not the cached one
    assert got == expected
    assert (got.int, got.version, got.variant, got.is_safe) == (
        expected.int,
        expected.version,
        expected.variant,
        expected.is_safe,
    )
    assert hash(got) == hash(expected)
    assert str(got) == str(expected)
    assert got.bytes == expected.bytes
    assert got.hex == expected.hex
    assert pickle.loads(pickle.dumps(got)) == expected
    assert copy.deepcopy(got) == expected


def test_named_ids_of_known_names() -> None:
    for name, expected in KNOWN.items():
        assert _named.__wrapped__(name) == expected
    assert stable_id("creator", "creator-0000001") == KNOWN["creator/creator-0000001"]
    assert str(stable_id("fund", "bench")) == str(KNOWN["fund/bench"])
    with pytest.raises(TypeError):  # immutable, as every UUID
        stable_id("fund", "bench").int = 1  # type: ignore[misc]
