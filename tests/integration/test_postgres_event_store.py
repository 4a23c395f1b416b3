"""PostgreSQL itself refuses to change stored events; migrations are idempotent."""

from __future__ import annotations

import psycopg
import pytest

from creator_ledger import CreatorLedger, Settings
from creator_ledger.ledger.migrate import applied, migrate
from tests.conftest import Clock
from tests.scenario import ACTOR

pytestmark = pytest.mark.postgres
FINGERPRINT = (
    "SELECT count(*), md5(string_agg(state::text, ',' ORDER BY notification_id)) FROM ledger_events"
)


@pytest.fixture
def url_with_events(pg_database: str) -> str:
    with CreatorLedger.open(Settings(database_url=pg_database), clock=Clock()) as cl:
        cl.create_fund(
            fund_key="f",
            name="F",
            currency="USD",
            budget_minor=100,
            idempotency_key="f",
            actor=ACTOR,
        )
    return pg_database


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_events SET state = 'x'::bytea",
        "UPDATE ledger_events SET originator_version = originator_version + 100",
        "DELETE FROM ledger_events",
        "TRUNCATE ledger_events",
    ],
)
def test_postgresql_refuses_to_update_or_delete_stored_events(
    url_with_events: str, statement: str
) -> None:
    with psycopg.connect(url_with_events) as conn:
        before = conn.execute(FINGERPRINT).fetchone()
        with pytest.raises(
            psycopg.errors.InsufficientPrivilege, match="stored events are immutable"
        ):
            conn.execute(statement)
        conn.rollback()
        after = conn.execute(FINGERPRINT).fetchone()
    assert before == after
    assert before is not None
    assert before[0] > 0


def test_migrate_is_idempotent_and_records_what_it_applied(pg_database: str) -> None:
    settings = Settings(database_url=pg_database)
    assert migrate(settings) == []  # the template was migrated already
    assert applied(settings) == [
        "0001_event_store",
        "0002_read_models",
        "0003_read_model_tuning",
        "0004_code_columns_as_text",
        "0005_tracking_per_read_model",
        "0007_tamper_evidence",
        "0010_payout_controls",
    ]
