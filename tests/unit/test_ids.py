from __future__ import annotations

from collections import Counter

from creator_ledger.domain.creator import Creator
from creator_ledger.domain.ids import BOOK_SHARDS, book_shard, book_shard_hex, stable_id


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
