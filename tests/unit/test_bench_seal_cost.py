"""``python -m bench --seal-cost`` / ``--without-seals``: the options, and rounds that weigh
both sides alike."""

from __future__ import annotations

import psycopg
import pytest

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


@pytest.mark.postgres
def test_the_trigger_alone_is_timed_on_inserts_of_the_workloads_size_or_not_at_all(
    pg_database: str,
) -> None:
    """A database without the workloads' events cannot time their inserts: refused, where it
    timed an insert of no rows and reported next to nothing as the trigger's cost."""
    with pytest.raises(RuntimeError, match=r"has 0 stored .*ViewEarningsCredited"):
        seal_cost.trigger_cost(pg_database)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        for _, topic, rows, _ in seal_cost._SHAPES:
            conn.execute(
                "INSERT INTO ledger_events (originator_id, originator_version, topic, state)"
                " SELECT gen_random_uuid(), 1, %s, convert_to(repeat('x', 300), 'UTF8')"
                " FROM generate_series(1, %s)",
                (topic, rows),
            )
    figures = seal_cost.trigger_cost(pg_database)
    assert figures["w1_rows"] == 256
    assert figures["w2_rows"] == 4
    assert figures["w1_insert_ms_with"] > 0
    assert figures["w2_insert_ms_without"] > 0
    with psycopg.connect(pg_database) as conn:  # rolled back: nothing it inserted is left
        counted = conn.execute("SELECT count(*) FROM ledger_events").fetchone()
        assert counted == (260,)
