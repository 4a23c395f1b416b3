"""Configuration, from the environment or explicit arguments.

``LEDGER_DATABASE_URL``
    ``sqlite:///path/to/ledger.sqlite`` (the embedded default),
    ``postgresql://user[:password]@host[:port]/dbname`` (PostgreSQL, schema from
    ``creator-ledger migrate``), or ``memory://`` (everything in this process, forgotten when
    it ends: for tests and trying things out).  Default: ``sqlite:///creator-ledger.sqlite`` in
    the current directory.
``LEDGER_POSTGRES_POOL_SIZE``
    Connections per pool (default 5).
``LEDGER_PAYOUT_THRESHOLDS``
    Minimum payout per currency in minor units, e.g. ``USD=1000,EUR=1000,JPY=1000`` (default:
    1,000 minor units, see :data:`DEFAULT_THRESHOLDS`).
``LEDGER_PAYMENT_PROVIDER``
    ``stripe`` (default) or ``memory`` (an in-process provider for trying things out: what it
    "pays" is forgotten when the process ends).
``STRIPE_SECRET_KEY``, ``STRIPE_API_BASE``
    The Stripe key for transfers, and optionally another API address (a local Stripe-compatible
    server).
``STRIPE_WEBHOOK_SECRET``
    The signing secret of the webhook endpoint (``whsec_...``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from creator_ledger.domain.errors import InvalidInputError
from creator_ledger.domain.money import check_amount, check_currency

DEFAULT_DATABASE_URL = "sqlite:///creator-ledger.sqlite"
MEMORY_URL = "memory://"
#: Minimum payout per currency (minor units); below it the balance rolls over to the next run.
DEFAULT_THRESHOLDS: Mapping[str, int] = {"USD": 1_000, "EUR": 1_000, "GBP": 1_000, "JPY": 1_000}
DEFAULT_THRESHOLD_MINOR = 1_000


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    postgres_pool_size: int = 5
    payout_thresholds: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    payment_provider: str = "stripe"
    stripe_secret_key: str | None = None
    stripe_api_base: str | None = None
    stripe_webhook_secret: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        thresholds = dict(DEFAULT_THRESHOLDS)
        raw = env.get("LEDGER_PAYOUT_THRESHOLDS", "")
        for part in filter(None, (p.strip() for p in raw.split(","))):
            code, sep, amount = part.partition("=")
            if not sep or not amount.strip().isdigit():
                msg = f"LEDGER_PAYOUT_THRESHOLDS: {part!r} is not CUR=minor_units (e.g. USD=1000)"
                raise InvalidInputError(msg)
            thresholds[check_currency(code.strip())] = check_amount(int(amount), allow_zero=True)
        provider = env.get("LEDGER_PAYMENT_PROVIDER", "stripe")
        if provider not in {"stripe", "memory"}:
            msg = f"LEDGER_PAYMENT_PROVIDER must be stripe or memory, got {provider!r}"
            raise InvalidInputError(msg)
        return cls(
            database_url=env.get("LEDGER_DATABASE_URL", DEFAULT_DATABASE_URL),
            postgres_pool_size=int(env.get("LEDGER_POSTGRES_POOL_SIZE", "5")),
            payout_thresholds=thresholds,
            payment_provider=provider,
            stripe_secret_key=env.get("STRIPE_SECRET_KEY") or None,
            stripe_api_base=env.get("STRIPE_API_BASE") or None,
            stripe_webhook_secret=env.get("STRIPE_WEBHOOK_SECRET") or None,
        )

    def threshold_minor(self, currency: str) -> int:
        return self.payout_thresholds.get(currency, DEFAULT_THRESHOLD_MINOR)

    @property
    def is_memory(self) -> bool:
        return self.database_url == MEMORY_URL

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))

    @property
    def sqlite_path(self) -> Path:
        if not self.database_url.startswith("sqlite:///"):
            msg = (
                f"LEDGER_DATABASE_URL {self.database_url!r} is not supported: use "
                "sqlite:///path/to/file.sqlite, postgresql://user@host:port/dbname or memory://"
            )
            raise InvalidInputError(msg)
        return Path(self.database_url.removeprefix("sqlite:///"))

    def postgres_parts(self) -> dict[str, str]:
        url = urlparse(self.database_url)
        return {
            "dbname": unquote(url.path.lstrip("/")) or "postgres",
            "host": url.hostname or "127.0.0.1",
            "port": str(url.port or 5432),
            "user": unquote(url.username or "postgres"),
            "password": unquote(url.password or ""),
        }

    def postgres_conninfo(self) -> str:
        p = self.postgres_parts()
        parts = [
            f"dbname={p['dbname']}",
            f"host={p['host']}",
            f"port={p['port']}",
            f"user={p['user']}",
        ]
        if p["password"]:
            parts.append(f"password={p['password']}")
        return " ".join(parts)

    def eventsourcing_env(self) -> dict[str, str]:
        """The ``eventsourcing`` library's configuration for these settings."""
        if self.is_postgres:
            p = self.postgres_parts()
            return {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": p["dbname"],
                "POSTGRES_HOST": p["host"],
                "POSTGRES_PORT": p["port"],
                "POSTGRES_USER": p["user"],
                "POSTGRES_PASSWORD": p["password"],
                "POSTGRES_POOL_SIZE": str(self.postgres_pool_size),
                "POSTGRES_MAX_OVERFLOW": "5",
                "POSTGRES_LOCK_TIMEOUT": "10",
                "CREATE_TABLE": "n",  # the schema comes from `creator-ledger migrate`
            }
        if self.is_memory:
            return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(self.sqlite_path),
            "SQLITE_LOCK_TIMEOUT": "30",
            "CREATE_TABLE": "y",
        }
