"""``creator-ledger serve`` as a real process on PostgreSQL, driven over real HTTP with
Stripe-signed bodies: a bad signature gets 400 and writes nothing, a replay gets 200 and
changes nothing, /healthz, /readyz (database and lag bound) and /metrics answer."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from creator_ledger import CreatorLedger, Settings
from creator_ledger.adapters.payments.webhooks import sign_stripe_payload
from tests import scenario
from tests.conftest import Clock

SECRET = "whsec_http_endpoint_test_secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def failed_payout(event_id: str, account: str) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": int(time.time()),
            "livemode": False,
            "type": "payout.failed",
            "account": account,
            "data": {
                "object": {
                    "id": "po_bank_1",
                    "object": "payout",
                    "amount": 4_200,
                    "currency": "usd",
                    "status": "failed",
                    "failure_code": "account_closed",
                    "failure_message": "The bank account has been closed",
                }
            },
        }
    ).encode()


@pytest.fixture
def server(pg_database: str, tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    with CreatorLedger.open(Settings(database_url=pg_database), clock=Clock()) as cl:
        scenario.fund(cl)
        scenario.creators(cl, 2, payout_ready=True)  # c0 is paid to acct_c00000
        cl.catch_up()
    port = free_port()
    log = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGER_", "STRIPE_"))}
    env |= {"STRIPE_WEBHOOK_SECRET": SECRET, "LEDGER_READY_MAX_LAG_EVENTS": "0"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "creator_ledger",
            "--log-format",
            "json",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--database",
            pg_database,
        ],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "serve did not start"
        time.sleep(0.2)
    try:
        yield base, pg_database, log
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            # uvicorn shuts down gracefully, then ends by the signal it caught (as supervisors
            # expect of a process stopped with SIGTERM).
            assert process.wait(timeout=30) in {0, -signal.SIGTERM}
            assert "Application shutdown complete" in log.read_text()
        finally:
            if process.poll() is None:
                process.kill()


def events(url: str) -> int:
    with CreatorLedger.open(Settings(database_url=url)) as cl:
        return cl.events_recorded()


@pytest.mark.postgres
def test_webhooks_over_http_verify_the_raw_body_and_replays_change_nothing(
    server: tuple[str, str, Path],
) -> None:
    base, url, log = server
    body = failed_payout("evt_http_1", "acct_c00000")
    with httpx.Client(base_url=base, timeout=30) as http:
        before = events(url)
        forged = http.post(
            "/webhooks/stripe",
            content=body,
            headers={
                "Stripe-Signature": sign_stripe_payload(body, "whsec_wrong", int(time.time()))
            },
        )
        assert forged.status_code == 400
        assert forged.json()["error"] == "WebhookSignatureError"
        tampered = http.post(
            "/webhooks/stripe",
            content=body.replace(b"4200", b"9999"),
            headers={"Stripe-Signature": sign_stripe_payload(body, SECRET, int(time.time()))},
        )
        assert tampered.status_code == 400
        assert http.post("/webhooks/stripe", content=body).status_code == 400  # no header
        assert events(url) == before  # nothing written

        signature = sign_stripe_payload(body, SECRET, int(time.time()))
        first = http.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": signature})
        assert first.status_code == 200, first.text
        assert first.json()["action"] == "bank_payout_recorded"
        after_first = events(url)
        assert after_first > before

        replay = http.post(
            "/webhooks/stripe", content=body, headers={"Stripe-Signature": signature}
        )
        assert replay.status_code == 200
        assert replay.json() == first.json()
        assert events(url) == after_first  # a replay changes nothing
    assert SECRET not in log.read_text()


@pytest.mark.postgres
def test_health_readiness_with_its_lag_bound_and_metrics(server: tuple[str, str, Path]) -> None:
    base, url, _log = server
    with httpx.Client(base_url=base, timeout=30) as http:
        health = http.get("/healthz")
        assert health.status_code == 200
        assert health.json()["status"] == "ok"

        ready = http.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready"

        with CreatorLedger.open(Settings(database_url=url), clock=Clock()) as cl:
            scenario.creators(cl, 3, prefix="late")  # recorded, not yet projected
        behind = http.get("/readyz")
        assert behind.status_code == 503  # LEDGER_READY_MAX_LAG_EVENTS=0
        assert behind.json()["status"] == "not ready"
        assert "lag" in behind.json()["problems"][0]

        metrics = http.get("/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        text = metrics.text
        assert 'creator_ledger_projection_lag_events{read_model="journal"}' in text
        assert "creator_ledger_projection_lag_seconds" in text
        assert "creator_ledger_commands_total" in text
        assert "creator_ledger_payouts" in text
