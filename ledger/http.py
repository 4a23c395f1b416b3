"""The ledger's HTTP endpoint: Stripe webhooks, health, readiness and metrics (an ASGI app on
Starlette, served by ``creator-ledger serve`` under uvicorn, or mounted in a service's own app).

    from creator_ledger.ledger.http import create_app
    app = create_app()                    # settings from the environment, opened on first use
    app = create_app(ledger)              # or an open CreatorLedger (the caller closes it)

=========================  ====================================================================
``POST /webhooks/stripe``  verifies the ``Stripe-Signature`` header on the raw body
                           (``STRIPE_WEBHOOK_SECRET``) and records the event: 200 with what was
                           done (a replay: 200, nothing changes); 400 for a bad or missing
                           signature or a malformed event (nothing written); 503 when the
                           database cannot be reached or no secret is configured; 500 when a
                           stored event cannot be read (``UnreadableEventError``)
``GET /healthz``           200 while the process serves (liveness)
``GET /readyz``            200 when the database answers and the read models are within
                           ``LEDGER_READY_MAX_LAG_EVENTS`` events and ``LEDGER_READY_MAX_LAG_S``
                           seconds of the events; 503 otherwise, saying which
``GET /metrics``           Prometheus text: the process's metrics and this ledger's lag and
                           payouts (:mod:`.metrics`)
=========================  ====================================================================

The ledger is synchronous: every call runs in Starlette's thread pool, never on the event loop.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from creator_ledger import __version__
from creator_ledger.domain.errors import (
    DatabaseUnavailableError,
    LedgerError,
    NotMigratedError,
    UnreadableEventError,
    WebhookSignatureError,
)
from creator_ledger.ledger.facade import CreatorLedger
from creator_ledger.ledger.logs import log_context, logger, register_secrets
from creator_ledger.ledger.metrics import exposition, ledger_registry
from creator_ledger.ledger.settings import Settings

_log = logger("http")
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _LedgerHolder:
    """The app's ledger: the one given, or one opened from settings on first use (so the app
    also works mounted inside another app, whose lifespan would not open it)."""

    def __init__(self, source: CreatorLedger | Settings | None) -> None:
        self._ledger = source if isinstance(source, CreatorLedger) else None
        self._settings = source if isinstance(source, Settings) else None
        self.owned = self._ledger is None
        self._lock = threading.Lock()
        self.registry: Any = None
        if self._ledger is not None:
            self._opened(self._ledger)

    def _opened(self, ledger: CreatorLedger) -> None:
        self.registry = ledger_registry(ledger.parts.operations.status)
        s = ledger.settings
        register_secrets(
            s.stripe_secret_key.get_secret_value() if s.stripe_secret_key else None,
            s.stripe_webhook_secret.get_secret_value() if s.stripe_webhook_secret else None,
            s.postgres_parts()["password"] if s.is_postgres else None,
        )

    def get(self) -> CreatorLedger:
        with self._lock:
            if self._ledger is None:
                ledger = CreatorLedger.open(self._settings or Settings.from_env())
                self._opened(ledger)
                self._ledger = ledger
            return self._ledger

    def close(self) -> None:
        with self._lock:
            if self.owned and self._ledger is not None:
                self._ledger.close()
                self._ledger = None


def _error(status: int, error: LedgerError | str) -> JSONResponse:
    body = error.to_dict() if isinstance(error, LedgerError) else {"error": error}
    return JSONResponse(body, status_code=status)


def _unavailable(e: LedgerError) -> JSONResponse:
    return _error(503, e)


def create_app(source: CreatorLedger | Settings | None = None) -> Starlette:
    """The ASGI app for ``source``: an open ledger (left open), settings, or the environment's
    settings (the ledger is then opened on first use and closed at shutdown)."""
    holder = _LedgerHolder(source)

    async def stripe_webhook(request: Request) -> Response:  # noqa: PLR0911 - one per answer
        raw = await request.body()  # the raw bytes: the signature covers them exactly
        signature = request.headers.get("stripe-signature")
        if not signature:
            return _error(400, "missing the Stripe-Signature header")
        try:
            ledger = await run_in_threadpool(holder.get)
        except (DatabaseUnavailableError, NotMigratedError) as e:
            return _unavailable(e)
        secret = ledger.settings.stripe_webhook_secret
        if secret is None:
            return _error(503, "no webhook secret configured: set STRIPE_WEBHOOK_SECRET")

        def handle() -> Any:
            with log_context(endpoint="webhooks/stripe"):
                return ledger.handle_stripe_webhook(
                    raw, signature, secret=secret.get_secret_value()
                )

        try:
            result = await run_in_threadpool(handle)
        except WebhookSignatureError as e:
            _log.warning("webhook refused: %s", e.message)
            return _error(400, e)
        except (DatabaseUnavailableError, NotMigratedError) as e:
            return _unavailable(e)
        except UnreadableEventError as e:  # the ledger's store, not the request, is at fault
            _log.error("webhook not recorded: %s", e.message)
            return _error(500, e)
        except LedgerError as e:
            _log.warning("webhook not recorded: %s", e.message)
            return _error(400, e)
        _log.info(
            "webhook %s: %s",
            result.type,
            result.action,
            extra={"event_id": result.event_id, "payout_id": getattr(result, "payout_id", None)},
        )
        return JSONResponse(result.model_dump(mode="json"))

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__})

    def readiness() -> tuple[int, dict[str, Any]]:
        try:
            ledger = holder.get()
            ledger.ping()
            status = ledger.parts.operations.status()
        except LedgerError as e:
            return 503, {"status": "not ready", "database": e.message}
        settings = ledger.settings
        problems = []
        if status.max_lag_events > settings.ready_max_lag_events:
            problems.append(
                f"read models lag {status.max_lag_events} events"
                f" (at most {settings.ready_max_lag_events})"
            )
        if status.lag_s > settings.ready_max_lag_s:
            problems.append(
                f"read models lag {status.lag_s:.1f} s (at most {settings.ready_max_lag_s:g})"
            )
        body = {
            "status": "not ready" if problems else "ready",
            "database": "ok",
            "last_event": status.last_event,
            "lag_events": status.lag_events,
            "lag_s": round(status.lag_s, 3),
            "problems": problems,
        }
        return (503 if problems else 200), body

    async def readyz(_request: Request) -> Response:
        code, body = await run_in_threadpool(readiness)
        return JSONResponse(body, status_code=code)

    async def metrics(_request: Request) -> Response:
        def render() -> bytes:
            try:
                holder.get()
            except LedgerError:
                return exposition()
            return exposition(holder.registry)

        return Response(await run_in_threadpool(render), media_type=METRICS_CONTENT_TYPE)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(holder.close)

    app = Starlette(
        lifespan=lifespan,
        routes=[
            Route("/webhooks/stripe", stripe_webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
    )
    app.state.ledger_holder = holder
    return app
