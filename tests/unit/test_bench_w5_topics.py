"""The W5 limit knows every event topic the domain declares, and agrees with the ledger's
projections on which of them write journal, entity or payout rows (so a new event cannot make
the bench fail, or the limit silently skip rows the ledger writes)."""

from __future__ import annotations

from uuid import uuid4

import pytest
from eventsourcing.domain import Aggregate

from bench.limit_w5 import NO_ROWS, Rebuild
from creator_ledger.domain import posting
from creator_ledger.domain.catalog import AGGREGATES
from creator_ledger.ledger.projection_handlers import ENTITY_HANDLERS, PAYOUT_HANDLERS


def _declared() -> dict[str, type]:
    """Every event class of every aggregate in the catalog, by ``<Aggregate>.<Event>``."""
    out: dict[str, type] = {}
    for aggregate in AGGREGATES:
        for value in vars(aggregate).values():
            if isinstance(value, type) and issubclass(value, Aggregate.Event):
                topic = getattr(value, "TOPIC", None)  # the aggregate's Event base has none
                if isinstance(topic, str):
                    out[topic.removeprefix("creator-ledger/")] = value
    return out


def _projected_by_the_ledger() -> set[type]:
    return set(ENTITY_HANDLERS) | set(PAYOUT_HANDLERS) | set(posting._RULES)


def test_the_catalog_declares_the_events_the_bench_writes() -> None:
    declared = _declared()
    assert len(declared) > 60
    assert {"MoneySupply.Opened", "PayoutRun.Proposed", "Payout.ReversalReported"} <= set(declared)


def test_every_declared_topic_is_known_to_the_w5_limit() -> None:
    rebuild = Rebuild()
    unknown = sorted(kind for kind in _declared() if not rebuild.knows(kind))
    assert unknown == []


def test_the_w5_limit_writes_rows_for_exactly_the_events_the_ledger_projects() -> None:
    projected = _projected_by_the_ledger()
    declared = _declared()
    listed_but_projected = sorted(k for k in NO_ROWS if declared[k] in projected)
    handled_but_not_projected = sorted(
        k for k, cls in declared.items() if k not in NO_ROWS and cls not in projected
    )
    assert listed_but_projected == []
    assert handled_but_not_projected == []


def test_no_rows_names_only_declared_events() -> None:
    assert sorted(NO_ROWS - set(_declared())) == []


def test_an_unknown_topic_fails_loudly() -> None:
    rebuild = Rebuild()
    with pytest.raises(NotImplementedError, match=r"Creator\.Teleported"):
        rebuild.apply(1, uuid4(), 1, "creator-ledger/Creator.Teleported", b"{}")
