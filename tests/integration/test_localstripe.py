"""localstripe (a third-party Stripe emulator) for what it really implements: EUR payouts through
the real ``StripeClient``, and signed webhooks verified by ``parse_stripe_webhook``.

localstripe runs in-process: its aiohttp app on 127.0.0.1 (ephemeral port) in a background thread
with its own event loop, with ``Store.dump_to_disk`` replaced by a no-op (its CLI listens on all
interfaces and pickles its store to /tmp on every write).  It has no transfers, no accounts, no
idempotency and no ``created`` filter on balance transactions, so those are tested against
``tests.fakes.stripe_server`` instead.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import queue
import socket
import threading
import time
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import localstripe.resources as localstripe_resources
import localstripe.webhooks as localstripe_webhooks
import pytest
import stripe
from aiohttp import web

from creator_ledger.adapters.payments.webhooks import (
    ProviderEvent,
    ProviderEventKind,
    parse_stripe_webhook,
)
from creator_ledger.domain.errors import WebhookSignatureError

with warnings.catch_warnings():
    # localstripe registers plain (non-async) aiohttp handlers when its module is imported.
    warnings.filterwarnings("ignore", "Bare functions are deprecated", DeprecationWarning)
    localstripe_server = importlib.import_module("localstripe.server")

API_KEY = "sk_test_localstripe"
WEBHOOK_SECRET = "whsec_localstripe_test"
WEBHOOK_EVENTS = ["payout.paid", "payout.failed", "payout.canceled"]
DELIVERY_TIMEOUT_S = 4.0  # localstripe waits 1 s before it delivers


@dataclass(frozen=True)
class Delivery:
    body: bytes
    signature: str


class WebhookReceiver:
    """A tiny HTTP endpoint on 127.0.0.1 that keeps every delivery."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Delivery] = queue.Queue()
        self._seen: list[Delivery] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver._queue.put(Delivery(body, self.headers.get("Stripe-Signature", "")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/webhooks/stripe"

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout_s: float = DELIVERY_TIMEOUT_S
    ) -> Delivery:
        """The first delivery (so far or within ``timeout_s``) whose JSON matches."""
        deadline = time.monotonic() + timeout_s
        while True:
            for delivery in self._seen:
                if predicate(json.loads(delivery.body)):
                    return delivery
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no matching webhook within {timeout_s} s; got {len(self._seen)}")
            try:
                self._seen.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                continue

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class LocalStripe:
    """localstripe's aiohttp app served from a background thread with its own loop."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._runner = web.AppRunner(localstripe_server.app, access_log=None)
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._runner.setup())
        site = web.SockSite(self._runner, self._sock)
        self._loop.run_until_complete(site.start())
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(timeout=5):
            pytest.fail("localstripe did not start within 5 s")

    def stop(self) -> None:
        async def shut_down() -> None:
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:  # webhook deliveries still sleeping
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shut_down(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def register_webhook(self, webhook_id: str, url: str, secret: str, events: list[str]) -> None:
        body = json.dumps({"url": url, "secret": secret, "events": events}).encode()
        request = urllib.request.Request(
            f"{self.base_url}/_config/webhooks/{webhook_id}",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=2) as response:
            assert response.status == 200


@pytest.fixture(scope="module")
def localstripe() -> Iterator[LocalStripe]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(localstripe_resources.Store, "dump_to_disk", lambda self: None)
        localstripe_resources.store.clear()
        localstripe_webhooks._webhooks.clear()
        server = LocalStripe()
        server.start()
        try:
            yield server
        finally:
            server.stop()
            localstripe_resources.store.clear()
            localstripe_webhooks._webhooks.clear()


@pytest.fixture(scope="module")
def receiver(localstripe: LocalStripe) -> Iterator[WebhookReceiver]:
    hooks = WebhookReceiver()
    localstripe.register_webhook("creator-ledger", hooks.url, WEBHOOK_SECRET, WEBHOOK_EVENTS)
    yield hooks
    hooks.stop()


@pytest.fixture
def client(localstripe: LocalStripe) -> Iterator[stripe.StripeClient]:
    http_client = stripe.RequestsClient(timeout=(1.0, 2.0))
    yield stripe.StripeClient(
        API_KEY,
        base_addresses={"api": localstripe.base_url},
        http_client=http_client,
        max_network_retries=0,
    )
    http_client.close()  # type: ignore[no-untyped-call]


@pytest.fixture(scope="module")
def announced(localstripe: LocalStripe, receiver: WebhookReceiver) -> dict[str, dict[str, Any]]:
    """Payouts whose webhooks the tests wait for, created together so the deliveries (each
    held back 1 s by localstripe) overlap."""
    http_client = stripe.RequestsClient(timeout=(1.0, 2.0))
    client = stripe.StripeClient(
        API_KEY, base_addresses={"api": localstripe.base_url}, http_client=http_client
    )
    payouts = {
        "paid": create_payout(client, "po_ls_paid", 2_500, status="paid"),
        "failed": create_payout(client, "po_ls_failed", 900, status="failed"),
        "pending": create_payout(client, "po_ls_cancel", 700),
        "tamper": create_payout(client, "po_ls_tamper", 100, status="paid"),
    }
    payouts["cancelled"] = client.v1.payouts.cancel(payouts["pending"]["id"]).to_dict()
    http_client.close()  # type: ignore[no-untyped-call]
    return payouts


def create_payout(
    client: stripe.StripeClient, payout_id: str, amount_minor: int, status: str | None = None
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "amount": amount_minor,
        "currency": "eur",
        "metadata": {"payout_id": payout_id},
    }
    if status is not None:
        params["status"] = status  # a localstripe extension: Stripe decides this itself
    typed: Any = params
    return client.v1.payouts.create(typed, {"idempotency_key": f"payout:{payout_id}"}).to_dict()


def delivered_event(receiver: WebhookReceiver, event_type: str, payout: str) -> ProviderEvent:
    delivery = receiver.wait_for(
        lambda e: e["type"] == event_type and e["data"]["object"]["id"] == payout
    )
    return parse_stripe_webhook(delivery.body, delivery.signature, WEBHOOK_SECRET)


def test_a_eur_payout_round_trips_through_the_real_stripe_client(
    client: stripe.StripeClient,
) -> None:
    created = create_payout(client, "po_ls_1", 1_234)

    fetched = client.v1.payouts.retrieve(created["id"]).to_dict()
    listed = [p.id for p in client.v1.payouts.list({"limit": 100}).auto_paging_iter()]

    assert fetched["id"] == created["id"]
    assert (fetched["amount"], fetched["currency"], fetched["status"]) == (1_234, "eur", "pending")
    assert fetched["metadata"] == {"payout_id": "po_ls_1"}
    assert created["id"] in listed


def test_a_paid_payout_is_announced_by_a_signed_webhook_that_verifies(
    client: stripe.StripeClient,
    receiver: WebhookReceiver,
    announced: dict[str, dict[str, Any]],
) -> None:
    payout = announced["paid"]

    event = delivered_event(receiver, "payout.paid", payout["id"])

    assert (event.type, event.object_type, event.object_id) == (
        "payout.paid",
        "payout",
        payout["id"],
    )
    assert (event.amount_minor, event.currency, event.status) == (2_500, "EUR", "paid")
    assert event.kind is ProviderEventKind.BANK_PAYOUT_PAID
    assert event.payout_id == "po_ls_paid"
    assert event.created.tzinfo is not None
    assert abs(event.created.timestamp() - payout["created"]) <= 1
    stored = client.v1.events.retrieve(event.event_id).to_dict()
    assert stored["data"]["object"]["id"] == payout["id"]


def test_a_failed_payout_webhook_carries_the_failure_code_and_message(
    receiver: WebhookReceiver, announced: dict[str, dict[str, Any]]
) -> None:
    event = delivered_event(receiver, "payout.failed", announced["failed"]["id"])

    assert event.kind is ProviderEventKind.BANK_PAYOUT_FAILED
    assert event.failure_code == "could_not_process"
    assert event.failure_message == "The bank could not process this payout."
    assert event.payout_id == "po_ls_failed"


def test_a_cancelled_pending_payout_is_announced_and_parses_generically(
    client: stripe.StripeClient,
    receiver: WebhookReceiver,
    announced: dict[str, dict[str, Any]],
) -> None:
    payout = announced["pending"]

    event = delivered_event(receiver, "payout.canceled", payout["id"])

    assert announced["cancelled"]["status"] == "canceled"
    assert (event.type, event.status, event.failure_code) == ("payout.canceled", "canceled", None)
    assert event.kind is ProviderEventKind.OTHER
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payouts.cancel(payout["id"])  # only pending payouts can be cancelled


def test_a_localstripe_webhook_with_a_wrong_secret_or_tampered_body_is_refused(
    receiver: WebhookReceiver, announced: dict[str, dict[str, Any]]
) -> None:
    payout_id = announced["tamper"]["id"]
    delivery = receiver.wait_for(
        lambda e: e["type"] == "payout.paid" and e["data"]["object"]["id"] == payout_id
    )
    tampered = delivery.body.replace(b'"amount": 100,', b'"amount": 10000,')
    assert tampered != delivery.body

    with pytest.raises(WebhookSignatureError):
        parse_stripe_webhook(delivery.body, delivery.signature, "whsec_someone_else")
    with pytest.raises(WebhookSignatureError):
        parse_stripe_webhook(tampered, delivery.signature, WEBHOOK_SECRET)
    event = parse_stripe_webhook(delivery.body, delivery.signature, WEBHOOK_SECRET)
    assert event.amount_minor == 100


def test_missed_webhooks_can_be_recovered_from_the_events_list(
    client: stripe.StripeClient,
    receiver: WebhookReceiver,
    announced: dict[str, dict[str, Any]],
) -> None:
    payout = announced["paid"]
    delivered = delivered_event(receiver, "payout.paid", payout["id"])

    listed = client.v1.events.list({"type": "payout.paid", "created": {"gte": payout["created"]}})

    assert delivered.event_id in [e.id for e in listed.data]
