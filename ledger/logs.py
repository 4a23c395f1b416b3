"""Logging: the standard ``logging`` module under named loggers, with structured fields, and no
secret in any line.

Loggers (all under ``creator_ledger``): ``.commands`` (every façade call: name, outcome,
duration), ``.payouts`` (every payment-provider call: operation, payout id, duration, errors),
``.reconcile`` (each reconciliation's result), ``.worker`` (batches, duties, stops), ``.http``
(webhooks), ``.metrics``.

Fields: every record carries the fields bound with :func:`log_context` (``run_id``,
``payout_id``, ``creator_ref``, ``idempotency_key``, ``actor``, ``command``, ...) and any
``extra=`` it was logged with.  :func:`configure_logging` writes them to stderr as text
(``time level logger message key=value ...``) or as one JSON object a line
(``--log-format json`` / ``LEDGER_LOG_FORMAT``).  A library user who configures logging
themselves gets the same records and fields (as ``LogRecord`` attributes).

Secrets: :func:`register_secrets` (the CLI, the worker and the HTTP app register the Stripe
key, the webhook secret and the database password of their settings) are replaced by ``***``
in every line the formatters write, and so is anything shaped like a Stripe key or a
password in a URL, whoever logged it (psycopg's pool, uvicorn, the library).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any, Literal

ROOT = "creator_ledger"
LogFormat = Literal["text", "json"]

_context: ContextVar[dict[str, Any]] = ContextVar("creator_ledger_log_context", default={})  # noqa: B039 - never mutated: each binding makes a new dict
_secrets: set[str] = set()
_secrets_lock = threading.Lock()
#: Stripe secret and restricted keys, webhook secrets; a URL's password.
_SHAPED = (
    (re.compile(r"\b((?:sk|rk)_(?:live|test)_|whsec_)[0-9A-Za-z]+"), r"\1***"),
    (re.compile(r"(\w+://[^:/@\s]*):[^@\s/]+@"), r"\1:***@"),
)
#: LogRecord attributes that are not fields.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def logger(name: str) -> logging.Logger:
    """The logger ``creator_ledger.<name>``."""
    return logging.getLogger(f"{ROOT}.{name}")


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Bind ``fields`` (those not None) to every record logged inside, in this thread or
    task."""
    bound = {k: v for k, v in fields.items() if v is not None}
    token = _context.set({**_context.get(), **bound})
    try:
        yield
    finally:
        _context.reset(token)


def context_fields() -> dict[str, Any]:
    return dict(_context.get())


def register_secrets(*values: str | None) -> None:
    """Mask these values (of at least 4 characters) in every line the formatters write."""
    with _secrets_lock:
        _secrets.update(v for v in values if v and len(v) >= 4)


def redact_secrets(text: str) -> str:
    """``text`` with every registered secret and every secret-shaped token masked."""
    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, "***")
    for pattern, replacement in _SHAPED:
        text = pattern.sub(replacement, text)
    return text


class _ContextFilter(logging.Filter):
    """Copies the bound fields onto each record (``extra=`` wins over the context)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``ts``, ``level``, ``logger``, ``message``, then the fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(record_fields(record))
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return redact_secrets(json.dumps(out, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """``time level logger message key=value ...``"""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in record_fields(record).items())
        line = f"{_time(record)} {record.levelname:<7} {record.name} {record.getMessage()}"
        if fields:
            line += f" {fields}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact_secrets(line)


_handler: logging.Handler | None = None


def configure_logging(
    log_format: LogFormat = "text", level: str = "INFO", *, stream: IO[str] | None = None
) -> logging.Handler:
    """Send every log record (the ledger's at ``level``, others at WARNING) to ``stream``
    (stderr) in ``log_format``; calling it again replaces the handler it installed before."""
    global _handler  # noqa: PLW0603 - one handler per process, replaced on reconfiguration
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(_ContextFilter())
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger(ROOT).setLevel(level)
    _handler = handler
    return handler
