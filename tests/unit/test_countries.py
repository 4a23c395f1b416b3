"""Countries are ISO 3166-1 alpha-2 codes, from a table generated from the ISO data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from iso3166 import countries

from creator_ledger import CreatorLedger
from creator_ledger.domain.creator import Creator
from creator_ledger.domain.errors import InvalidInputError
from creator_ledger.domain.iso3166_data import COUNTRIES
from creator_ledger.ledger.creators import CreatorRecord
from tests.conftest import event_count
from tests.scenario import ACTOR


def test_the_country_table_is_the_iso_3166_data_of_the_installed_package() -> None:
    assert dict(COUNTRIES) == {c.alpha2: c.name for c in countries}, (
        "regenerate with: python tools/gen_iso3166.py"
    )


@pytest.mark.parametrize("country", ["ZZ", "AA", "UK", "us", "U", "USA", "U\x00"])
def test_a_country_that_is_not_iso_3166_is_refused_and_nothing_is_written(
    cl: CreatorLedger, country: str
) -> None:
    before = event_count(cl)
    with pytest.raises(InvalidInputError, match="ISO 3166-1 alpha-2") as caught:
        cl.enrol_creator(
            creator_ref="a", display_name="A", country=country, idempotency_key="k", actor=ACTOR
        )
    assert caught.value.message.startswith("country must be")
    with pytest.raises(InvalidInputError, match="ISO 3166-1 alpha-2"):
        cl.enrol_creators(creators=[("a", "A", country)], idempotency_key="k", actor=ACTOR)
    assert event_count(cl) == before


def test_iso_3166_countries_are_accepted(cl: CreatorLedger) -> None:
    cl.enrol_creators(
        creators=[
            ("a", "A", "GB"),
            ("b", "B", "DE"),
            CreatorRecord(creator_ref="c", display_name="C", country="JP"),
        ],
        idempotency_key="k",
        actor=ACTOR,
    )
    assert cl.balances("c").creator_ref == "c"


def test_the_domain_refuses_a_country_that_is_not_iso_3166() -> None:
    with pytest.raises(InvalidInputError, match="ISO 3166"):
        Creator.enrol(
            creator_ref="a", display_name="A", country="ZZ", effective_at=datetime.now(UTC)
        )
    with pytest.raises(InvalidInputError, match="ISO 3166"):
        CreatorRecord(creator_ref="a", display_name="A", country="ZZ")
