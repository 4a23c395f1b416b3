"""``creator-ledger worker`` and ``creator-ledger serve``: the long-running processes."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn
from prometheus_client import REGISTRY, start_http_server

from creator_ledger.domain.errors import LedgerError
from creator_ledger.ledger.cli_support import (
    STATE,
    DatabaseOption,
    fail_on,
    opened,
    settings_for,
)
from creator_ledger.ledger.facade import CreatorLedger
from creator_ledger.ledger.gc_pause import freeze_startup_heap
from creator_ledger.ledger.http import create_app
from creator_ledger.ledger.logs import configure_logging, logger
from creator_ledger.ledger.metrics import LedgerCollector
from creator_ledger.ledger.worker import DEFAULT_DUTIES, Worker

_log = logger("worker")


def _long_running_logging(database: str | None) -> None:
    """The worker and the server log at ``LEDGER_LOG_LEVEL`` (INFO by default) unless
    --log-level was given."""
    if STATE.log_level is None:
        configure_logging(STATE.log_format, settings_for(database).log_level)


def worker(
    database: DatabaseOption = None,
    poll_interval_s: Annotated[
        float,
        typer.Option("--poll-interval-s", min=0.05, max=3600, help="Poll at least this often."),
    ] = 1.0,
    duty_interval_s: Annotated[
        float,
        typer.Option(
            "--duty-interval-s", min=1, help="Run the scheduled duties this often (and at start)."
        ),
    ] = 3_600.0,
    no_duties: Annotated[
        bool, typer.Option("--no-duties", help="Only keep the read models caught up.")
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option("--metrics-port", min=1, max=65535, help="Serve /metrics on this port."),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", help="Address for --metrics-port.")
    ] = "127.0.0.1",
    once: Annotated[
        bool, typer.Option("--once", help="Catch up, run the duties once, and exit.")
    ] = False,
) -> None:
    """Keep the read models caught up as events arrive (LISTEN/NOTIFY on PostgreSQL, polling
    otherwise) and run the scheduled duties; stops cleanly on SIGTERM."""
    _long_running_logging(database)
    with opened(database) as cl:
        if not once:  # a long-lived process: see gc_pause.freeze_startup_heap
            freeze_startup_heap()
        w = Worker(
            cl,
            poll_interval_s=poll_interval_s,
            duty_interval_s=duty_interval_s,
            duties=() if no_duties else DEFAULT_DUTIES,
        )
        w.install_signal_handlers()
        collector = None
        if metrics_port is not None:
            collector = LedgerCollector(cl.parts.operations.status)
            REGISTRY.register(collector)
            start_http_server(metrics_port, addr=metrics_host)
            _log.info("metrics on http://%s:%d/metrics", metrics_host, metrics_port)
        try:
            stats = w.run(once=once)
        finally:
            if collector is not None:
                REGISTRY.unregister(collector)
    typer.echo(
        f"worker stopped: {stats.events_applied} events applied in {stats.batches} batches",
        err=True,
    )


def serve(
    database: DatabaseOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
) -> None:
    """Serve the Stripe webhook endpoint, /healthz, /readyz and /metrics (uvicorn)."""
    _long_running_logging(database)
    settings = settings_for(database)
    try:
        ledger = CreatorLedger.open(settings)  # fail fast: exit 3 or 4 before listening
    except LedgerError as e:
        fail_on(e)
    freeze_startup_heap()  # a long-lived process: see gc_pause.freeze_startup_heap
    logging_level = STATE.log_level or settings.log_level
    try:
        uvicorn.run(
            create_app(ledger),
            host=host,
            port=port,
            log_config=None,  # the ledger's logging (text or JSON, secrets masked)
            log_level=logging_level.lower(),
            access_log=True,
        )
    finally:
        ledger.close()
