"""Logging (named loggers, structured fields, JSON or text, secrets masked) and metrics
(commands by name and outcome, provider calls, reconciliation discrepancies, lag, payouts)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from creator_ledger import CreatorLedger, NotFoundError, PaymentRejectedError, Settings
from creator_ledger.adapters.payments.port import TransferRequest
from creator_ledger.ledger.bootstrap import memory_provider
from creator_ledger.ledger.logs import (
    configure_logging,
    log_context,
    logger,
    redact_secrets,
    register_secrets,
)
from creator_ledger.ledger.metrics import InstrumentedProvider, exposition, ledger_registry
from tests import scenario
from tests.conftest import Clock


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("json", "DEBUG", stream=stream)
    yield stream
    configure_logging("text", "WARNING")


def records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_command_logs_one_json_line_with_its_key_actor_outcome_and_duration(
    captured: io.StringIO,
) -> None:
    with CreatorLedger.open(Settings(database_url="memory://"), clock=Clock()) as cl:
        scenario.fund(cl)
        with pytest.raises(NotFoundError):
            cl.balances("nobody")
    lines = records(captured)
    [create] = [r for r in lines if r.get("command") == "create_fund"]
    assert create["logger"] == "creator_ledger.commands"
    assert create["level"] == "INFO"
    assert create["idempotency_key"] == "fund/fund"
    assert create["actor"] == scenario.ACTOR
    assert create["outcome"] == "ok"
    assert isinstance(create["duration_ms"], float)
    [refused] = [r for r in lines if r.get("command") == "balances"]
    assert refused["outcome"] == "NotFoundError"
    assert refused["creator_ref"] == "nobody"


def test_bound_fields_reach_every_record_and_text_lines_carry_them() -> None:
    stream = io.StringIO()
    configure_logging("text", "INFO", stream=stream)
    try:
        with log_context(run_id="usd-2026-06-30-x", payout_id="p-1", unused=None):
            logger("payouts").info("paid")
    finally:
        configure_logging("text", "WARNING")
    line = stream.getvalue()
    assert "creator_ledger.payouts paid" in line
    assert "run_id=usd-2026-06-30-x" in line
    assert "payout_id=p-1" in line
    assert "unused" not in line


def test_secrets_are_masked_in_every_line_whoever_logs_them(captured: io.StringIO) -> None:
    register_secrets("correct-horse-battery", None, "x")
    logging.getLogger("psycopg.pool").warning(
        "error connecting to postgresql://ledger:correct-horse-battery@db/ledger"
    )
    logger("provider").warning("key sk_live_51ABCDEFGHIJKLMNOP and whsec_ABCDEFGH echoed")
    text = captured.getvalue()
    assert "correct-horse-battery" not in text
    assert "ABCDEFGHIJKLMNOP" not in text
    assert "whsec_ABCDEFGH" not in text
    assert redact_secrets("postgresql://u:pw@h/d") == "postgresql://u:***@h/d"


def test_commands_are_counted_and_timed_by_name_and_outcome() -> None:
    before_ok = sample("creator_ledger_commands_total", command="create_fund", outcome="ok")
    before_refused = sample(
        "creator_ledger_commands_total", command="balances", outcome="NotFoundError"
    )
    before_timed = sample("creator_ledger_command_duration_seconds_count", command="create_fund")
    with CreatorLedger.open(Settings(database_url="memory://"), clock=Clock()) as cl:
        scenario.fund(cl, key="metrics-fund")
        with pytest.raises(NotFoundError):
            cl.balances("nobody")
    ok = sample("creator_ledger_commands_total", command="create_fund", outcome="ok")
    assert ok == before_ok + 1
    refused = sample("creator_ledger_commands_total", command="balances", outcome="NotFoundError")
    assert refused == before_refused + 1
    timed = sample("creator_ledger_command_duration_seconds_count", command="create_fund")
    assert timed == before_timed + 1


def test_reconciliation_discrepancies_are_a_gauge_by_kind() -> None:
    with CreatorLedger.open(Settings(database_url="memory://"), clock=Clock()) as cl:
        scenario.fund(cl)
        report = cl.reconcile_internal()
    assert report.clean
    for check in report.checks:
        gauge = sample(
            "creator_ledger_reconciliation_discrepancies", reconciliation="internal", check=check
        )
        assert gauge == 0
    assert sample("creator_ledger_reconciliations_total", reconciliation="internal", result="clean")


def test_provider_calls_are_counted_timed_and_their_errors_named(captured: io.StringIO) -> None:
    provider = InstrumentedProvider(memory_provider())
    request = TransferRequest(
        payout_id="p-metrics-1",
        idempotency_key="k-metrics-1",
        destination="acct_x",
        amount_minor=100,
        currency="USD",
        metadata={"payout_id": "p-metrics-1"},
    )
    before = sample(
        "creator_ledger_provider_calls_total", operation="create_transfer", outcome="ok"
    )
    provider.create_transfer(request)
    assert provider.find_transfer("p-metrics-1") is not None
    after = sample("creator_ledger_provider_calls_total", operation="create_transfer", outcome="ok")
    assert after == before + 1
    errors_before = sample(
        "creator_ledger_provider_errors_total",
        operation="reverse_transfer",
        error="PaymentRejectedError",
    )
    with pytest.raises(PaymentRejectedError):
        provider.reverse_transfer("tr_missing", 1, "k-r")
    errors = sample(
        "creator_ledger_provider_errors_total",
        operation="reverse_transfer",
        error="PaymentRejectedError",
    )
    assert errors == errors_before + 1
    [logged] = [r for r in records(captured) if r.get("operation") == "create_transfer"]
    assert logged["payout_id"] == "p-metrics-1"


def test_the_ledger_collector_reports_lag_in_events_and_seconds_and_payouts_by_status() -> None:
    with CreatorLedger.open(Settings(database_url="memory://"), clock=Clock()) as cl:
        scenario.fund(cl)
        scenario.creators(cl, 2)
        registry = ledger_registry(cl.parts.operations.status)
        behind = registry.get_sample_value(
            "creator_ledger_projection_lag_events", {"read_model": "journal"}
        )
        assert behind is not None
        assert behind > 0  # nothing has caught up yet
        assert (registry.get_sample_value("creator_ledger_projection_lag_seconds") or 0) > 0
        cl.catch_up()
        caught_up = registry.get_sample_value(
            "creator_ledger_projection_lag_events", {"read_model": "journal"}
        )
        assert caught_up == 0
        assert registry.get_sample_value("creator_ledger_projection_lag_seconds") == 0
        text = exposition(registry).decode()
    assert "creator_ledger_commands_total" in text
    assert "creator_ledger_projection_lag_events" in text
