"""Countries: ISO 3166-1 alpha-2 codes, from the table generated from the ISO data
(:mod:`domain.iso3166_data`, ``tools/gen_iso3166.py``)."""

from __future__ import annotations

from creator_ledger.domain.errors import InvalidInputError
from creator_ledger.domain.iso3166_data import COUNTRIES


def check_country(country: object) -> str:
    """``country`` if it is an ISO 3166-1 alpha-2 code (:mod:`domain.iso3166_data`)."""
    if isinstance(country, str) and country in COUNTRIES:
        return country
    shown = repr(country) if isinstance(country, str) and country.isprintable() else "that"
    msg = (
        f"country must be an ISO 3166-1 alpha-2 code, upper case, such as US, GB or DE;"
        f" {shown[:20]} is not one"
    )
    raise InvalidInputError(msg, field="country")
