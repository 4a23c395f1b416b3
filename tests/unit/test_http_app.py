"""The ASGI app is importable and mountable inside a service's own app (no lifespan needed)."""

from __future__ import annotations

import warnings

from starlette.applications import Starlette
from starlette.routing import Mount

from creator_ledger import CreatorLedger, Settings, UnreadableEventError
from creator_ledger.ledger.http import create_app
from tests import scenario
from tests.conftest import Clock

with warnings.catch_warnings():
    # Starlette's test client would rather have httpx2; httpx (which the suite drives uvicorn
    # with) still works.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient


def test_the_app_mounted_in_another_app_answers_health_readiness_and_metrics() -> None:
    with CreatorLedger.open(Settings(database_url="memory://"), clock=Clock()) as cl:
        scenario.fund(cl)
        cl.catch_up()
        service = Starlette(routes=[Mount("/ledger", app=create_app(cl))])
        http = TestClient(service)
        assert http.get("/ledger/healthz").json()["status"] == "ok"
        ready = http.get("/ledger/readyz")
        assert ready.status_code == 200
        assert ready.json()["lag_events"] == {"journal": 0, "entities": 0, "payouts": 0, "audit": 0}
        assert "creator_ledger_projection_lag_events" in http.get("/ledger/metrics").text
        no_secret = http.post(
            "/ledger/webhooks/stripe", content=b"{}", headers={"Stripe-Signature": "t=1,v1=x"}
        )
        assert no_secret.status_code == 503
        assert "STRIPE_WEBHOOK_SECRET" in no_secret.json()["error"]


def test_an_app_built_from_settings_opens_its_ledger_on_first_use_and_reports_failures() -> None:
    app = create_app(Settings(database_url="postgresql://nobody@127.0.0.1:1/none"))
    with TestClient(app) as http:
        assert http.get("/healthz").status_code == 200  # alive, though the database is not
        ready = http.get("/readyz")
        assert ready.status_code == 503
        assert "cannot reach PostgreSQL at 127.0.0.1:1" in ready.json()["database"]


def test_a_webhook_that_meets_an_unreadable_stored_event_gets_500_not_400() -> None:
    """A stored event that no longer decodes is the ledger's fault, not the request's: 500 (the
    provider redelivers later), with the error's fields, never a 400 that blames the body."""
    settings = Settings(database_url="memory://", stripe_webhook_secret="whsec_test")
    with CreatorLedger.open(settings, clock=Clock()) as cl:

        def unreadable(*_args: object, **_kwargs: object) -> None:
            raise UnreadableEventError(
                "the stored event 'x' of y at version 2 cannot be read",
                originator_id="y",
                version=2,
                topic="x",
            )

        cl.handle_stripe_webhook = unreadable  # type: ignore[method-assign]
        http = TestClient(create_app(cl))
        answer = http.post("/webhooks/stripe", content=b"{}", headers={"Stripe-Signature": "t=1"})
        assert answer.status_code == 500
        body = answer.json()
        assert body["error"] == "UnreadableEventError"
        assert body["version"] == 2
