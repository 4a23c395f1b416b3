"""Configuration: ``LEDGER_*`` (and ``STRIPE_*``) environment variables or a ``.env`` file, read
by :meth:`Settings.from_env`; or explicit arguments, ``Settings(database_url=...)``, which read
nothing else.

Every value is checked: a bad one is refused with the variable's name and what it accepts.
Secrets (the Stripe keys, the webhook secret, the database password) are ``SecretStr`` and are
never shown: not in ``repr``, not in errors, not in logs (:meth:`Settings.safe_database_url`).
The database URL is handed to psycopg as it is, so its options (``sslmode``,
``application_name``, ...) are honoured.  The README's configuration table is checked against
this class (``tests/unit/test_settings.py``).

This module passes ~400 lines on purpose: it is the one class that holds every setting with its
check and its description, so that the README's table can be generated from it.
"""

from __future__ import annotations

import contextvars
import math
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from creator_ledger.domain.errors import InvalidInputError, LedgerError
from creator_ledger.domain.money import check_amount, check_currency

DEFAULT_DATABASE_URL = "sqlite:///creator-ledger.sqlite"
MEMORY_URL = "memory://"
#: Minimum payout per currency (minor units); below it the balance rolls over to the next run.
DEFAULT_THRESHOLDS: Mapping[str, int] = {"USD": 1_000, "EUR": 1_000, "GBP": 1_000, "JPY": 1_000}
DEFAULT_THRESHOLD_MINOR = 1_000
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

#: Set while :meth:`Settings.from_env` reads the environment (explicit construction does not).
_READING: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "creator_ledger_settings_environ", default=None
)

PerCurrency = Annotated[dict[str, int], NoDecode]


def _per_currency(value: object) -> dict[str, int]:
    """``"USD=1000,EUR=1000"`` (or a mapping) -> {currency: minor units}."""
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, str):
        items = []
        for part in filter(None, (p.strip() for p in value.split(","))):
            code, sep, amount = part.partition("=")
            if not sep or not amount.strip().isdigit():
                msg = f"{part!r} is not CUR=minor_units (e.g. USD=1000)"
                raise ValueError(msg)
            items.append((code.strip(), int(amount)))
    else:
        raise ValueError("expected CUR=minor_units,... (e.g. USD=1000,EUR=1000)")
    out: dict[str, int] = {}
    for code, amount in items:
        try:
            out[check_currency(str(code).upper())] = check_amount(amount, allow_zero=True)
        except LedgerError as e:
            raise ValueError(e.message) from None
    return out


def _approval_rules(value: object) -> dict[str, tuple[int, int]]:
    """``"USD=10000000:2"`` -> {"USD": (10000000, 2)}: runs above the total need that many."""
    if isinstance(value, Mapping):
        return {check_currency(k): (int(v[0]), int(v[1])) for k, v in value.items()}
    if not isinstance(value, str):
        raise ValueError("expected CUR=total_minor:approvers,... (e.g. USD=10000000:2)")
    out: dict[str, tuple[int, int]] = {}
    for part in filter(None, (p.strip() for p in value.split(","))):
        code, sep, rest = part.partition("=")
        total, colon, count = rest.partition(":")
        if not sep or not colon or not total.isdigit() or count not in {"0", "1", "2"}:
            msg = f"{part!r} is not CUR=total_minor:approvers with 0, 1 or 2 approvers"
            raise ValueError(msg)
        try:
            out[check_currency(code.strip().upper())] = (int(total), int(count))
        except LedgerError as e:
            raise ValueError(e.message) from None
    return out


class _MappingSource(EnvSettingsSource):
    """The environment read from a given mapping instead of ``os.environ`` (for tests)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self._environ.items()}


class Settings(BaseSettings):
    """The ledger's configuration (see the module docstring and the README's table)."""

    model_config = SettingsConfigDict(
        env_prefix="LEDGER_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
        hide_input_in_errors=True,
    )

    # -- storage ------------------------------------------------------------------------------
    database_url: SecretStr = Field(
        default=SecretStr(DEFAULT_DATABASE_URL),
        description="sqlite:///path/file.sqlite, postgresql://user:password@host:port/db?options,"
        " or memory:// (everything in this process)",
    )
    postgres_schema: str = Field(
        default="public", description="PostgreSQL schema of the ledger's tables"
    )
    postgres_pool_size: int = Field(default=5, ge=1, le=100, description="connections per pool")
    connect_timeout_s: float = Field(
        default=5.0, gt=0, le=120, description="seconds to wait for the database to answer"
    )
    postgres_lock_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="seconds a write waits for the events table's lock (another writer holds"
        " it) before it fails as busy, nothing written (exit 3)",
    )
    postgres_statement_timeout_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="seconds one write of events may take in all, lock wait included, before"
        " it fails as busy, nothing written (exit 3)",
    )
    app_role: str | None = Field(
        default=None,
        description="migrate: the PostgreSQL role the application runs as, granted only what"
        " it needs (as --app-role)",
    )

    # -- payouts ------------------------------------------------------------------------------
    payout_thresholds: PerCurrency = Field(
        default_factory=lambda: dict(DEFAULT_THRESHOLDS),
        description="minimum payout per currency, e.g. USD=1000,EUR=1000 (others: 1,000)",
    )
    payout_line_limits: PerCurrency = Field(
        default_factory=dict,
        description="largest payout to one creator per run, per currency, e.g. USD=5000000",
    )
    payout_run_limits: PerCurrency = Field(
        default_factory=dict,
        description="largest run total per currency; a run above it cannot be approved",
    )
    payout_approvers: int = Field(
        default=1, ge=0, le=2, description="distinct approvers every payout run needs (0-2)"
    )
    payout_approvers_above: Annotated[dict[str, tuple[int, int]], NoDecode] = Field(
        default_factory=dict,
        description="more approvers above a run total, e.g. USD=10000000:2",
    )
    new_account_hold_days: int = Field(
        default=0,
        ge=0,
        le=365,
        description="days a first payout to a newly linked or changed payout account waits",
    )

    # -- the payment provider -------------------------------------------------------------------
    payment_provider: Literal["stripe", "memory"] = Field(
        default="stripe", description="stripe, or memory (in-process, forgotten at exit)"
    )
    stripe_secret_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("STRIPE_SECRET_KEY", "stripe_secret_key"),
        description="the platform's Stripe key (sk_test_... or sk_live_...)",
    )
    stripe_api_base: str | None = Field(
        default=None,
        validation_alias=AliasChoices("STRIPE_API_BASE", "stripe_api_base"),
        description="another API address (a local Stripe-compatible server)",
    )
    stripe_webhook_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("STRIPE_WEBHOOK_SECRET", "stripe_webhook_secret"),
        description="the webhook endpoint's signing secret (whsec_...)",
    )
    stripe_connect_timeout_s: float = Field(
        default=3.0, gt=0, le=120, description="seconds to connect to Stripe"
    )
    stripe_read_timeout_s: float = Field(
        default=15.0, gt=0, le=120, description="seconds to wait for Stripe's answer"
    )
    stripe_max_network_retries: int = Field(
        default=2, ge=0, le=10, description="resends of one request under its idempotency key"
    )
    provider_rate_per_s: float = Field(
        default=100.0,
        gt=0,
        le=10_000,
        description="requests a second the payment provider allows; payouts are sent at this pace",
    )

    # -- operations -------------------------------------------------------------------------------
    log_format: Literal["text", "json"] = Field(default="text", description="text or json")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="DEBUG, INFO, WARNING or ERROR"
    )
    ready_max_lag_events: int = Field(
        default=1_000, ge=0, description="/readyz: most events the read models may lag"
    )
    ready_max_lag_s: float = Field(
        default=60.0, ge=0, description="/readyz: most seconds the read models may lag"
    )

    # -- reading --------------------------------------------------------------------------------

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit construction reads its arguments alone; :meth:`from_env` adds the
        environment and ``.env`` (or the mapping it was given)."""
        del file_secret_settings  # no secrets directory
        environ = _READING.get()
        if environ is None:
            return (init_settings,)
        if environ is _OS_ENVIRON:
            return (init_settings, env_settings, dotenv_settings)
        return (init_settings, _MappingSource(settings_cls, environ))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from the environment and ``.env`` (or from ``environ`` alone), with
        ``overrides`` on top; a bad value raises ``InvalidInputError`` naming the variable."""
        with _reading(_OS_ENVIRON if environ is None else environ):
            try:
                return cls(**overrides)
            except ValidationError as e:
                raise _translate(e, cls) from None

    @classmethod
    def explicit(cls, **values: Any) -> Settings:
        """Settings from ``values`` alone; a bad value raises ``InvalidInputError``."""
        try:
            return cls(**values)
        except ValidationError as e:
            raise _translate(e, cls) from None

    # -- validation -------------------------------------------------------------------------------

    @field_validator("payout_thresholds", "payout_line_limits", "payout_run_limits", mode="before")
    @classmethod
    def _parse_per_currency(cls, value: object) -> dict[str, int]:
        return _per_currency(value)

    @field_validator("payout_approvers_above", mode="before")
    @classmethod
    def _parse_approval_rules(cls, value: object) -> dict[str, tuple[int, int]]:
        return _approval_rules(value)

    @field_validator("database_url", mode="after")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        if url == MEMORY_URL or url.startswith("sqlite:///"):
            return value
        scheme = urlsplit(url).scheme if "://" in url else ""
        if scheme in {"postgresql", "postgres"}:
            return value
        shown = redact_url(url)
        msg = (
            f"unsupported database URL {shown!r} (scheme {scheme or 'none'!r}): use"
            " sqlite:///path/to/file.sqlite, postgresql://user@host:port/dbname or memory://"
        )
        raise ValueError(msg)

    @field_validator("app_role", mode="after")
    @classmethod
    def _check_app_role(cls, value: str | None) -> str | None:
        if value is not None and not _IDENTIFIER.match(value):
            raise ValueError("a role name is 1-63 lower-case letters, digits or _")
        return value

    @field_validator("postgres_schema", mode="after")
    @classmethod
    def _check_schema(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError("a schema name is 1-63 lower-case letters, digits or _")
        return value

    # -- derived ------------------------------------------------------------------------------

    def threshold_minor(self, currency: str) -> int:
        return self.payout_thresholds.get(currency, DEFAULT_THRESHOLD_MINOR)

    def approvers_for(self, currency: str, total_minor: int) -> int:
        """How many distinct approvers a run of ``total_minor`` in ``currency`` needs."""
        above = self.payout_approvers_above.get(currency)
        if above is not None and total_minor > above[0]:
            return max(self.payout_approvers, above[1])
        return self.payout_approvers

    @property
    def url(self) -> str:
        return self.database_url.get_secret_value()

    def safe_database_url(self) -> str:
        """The database URL with its password masked: for messages and logs."""
        return redact_url(self.url)

    @property
    def is_memory(self) -> bool:
        return self.url == MEMORY_URL

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith(("postgresql://", "postgres://"))

    @property
    def sqlite_path(self) -> Path:
        if not self.url.startswith("sqlite:///"):
            msg = f"{self.safe_database_url()!r} is not a SQLite URL (sqlite:///path/file.sqlite)"
            raise InvalidInputError(msg)
        return Path(self.url.removeprefix("sqlite:///"))

    def postgres_parts(self) -> dict[str, str]:
        """The URL's parts, for the event-sourcing library (which takes them one by one)."""
        url = urlsplit(self.url)
        return {
            "dbname": unquote(url.path.lstrip("/")) or "postgres",
            "host": url.hostname or "127.0.0.1",
            "port": str(url.port or 5432),
            "user": unquote(url.username or "postgres"),
            "password": unquote(url.password or ""),
        }

    def postgres_options(self) -> dict[str, str]:
        """The URL's query options (``sslmode``, ``application_name``, ...), for psycopg."""
        return dict(parse_qsl(urlsplit(self.url).query))

    def postgres_conninfo(self) -> str:
        """The URL itself: psycopg takes it unchanged, with every option it carries."""
        return self.url

    def postgres_session_options(self) -> dict[str, str]:
        """The URL's options, plus what every connection of the ledger needs: the schema on the
        search path (``LEDGER_POSTGRES_SCHEMA``; appended to any ``options`` the URL gives) and
        a libpq ``connect_timeout`` (``LEDGER_CONNECT_TIMEOUT_S``, unless the URL sets one)."""
        options = self.postgres_options()
        search_path = f"-c search_path={self.postgres_schema}"
        options["options"] = " ".join(filter(None, (options.get("options"), search_path)))
        options.setdefault("connect_timeout", str(self.connect_timeout_whole_s))
        return options

    @property
    def connect_timeout_whole_s(self) -> int:
        """The connect timeout in whole seconds (libpq and the library take integers)."""
        return max(1, math.ceil(self.connect_timeout_s))

    def eventsourcing_env(self) -> dict[str, str]:
        """The ``eventsourcing`` library's configuration for these settings."""
        if self.is_memory:
            return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
        if self.is_postgres:
            p = self.postgres_parts()
            return {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": p["dbname"],
                "POSTGRES_HOST": p["host"],
                "POSTGRES_PORT": p["port"],
                "POSTGRES_USER": p["user"],
                "POSTGRES_PASSWORD": p["password"],
                "POSTGRES_SCHEMA": self.postgres_schema,
                "POSTGRES_POOL_SIZE": str(self.postgres_pool_size),
                "POSTGRES_MAX_OVERFLOW": "5",
                "POSTGRES_LOCK_TIMEOUT": str(math.ceil(self.postgres_lock_timeout_s)),
                "POSTGRES_CONNECT_TIMEOUT": str(self.connect_timeout_whole_s),
                "CREATE_TABLE": "n",  # the schema comes from `creator-ledger migrate`
            }
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(self.sqlite_path),
            "SQLITE_LOCK_TIMEOUT": "30",
            "CREATE_TABLE": "y",
        }


#: Marks "read os.environ and .env" (as opposed to a given mapping).
_OS_ENVIRON: Mapping[str, str] = {}


@contextmanager
def _reading(environ: Mapping[str, str]) -> Iterator[None]:
    token = _READING.set(environ)
    try:
        yield
    finally:
        _READING.reset(token)


def env_name(field: str) -> str:
    """The environment variable of a settings field."""
    info = Settings.model_fields[field]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        first = alias.choices[0]
        if isinstance(first, str):
            return first
    return f"LEDGER_{field.upper()}"


def _translate(error: ValidationError, cls: type[Settings]) -> InvalidInputError:
    problems = []
    for item in error.errors(include_input=False):
        field = str(item["loc"][0]) if item["loc"] else ""
        name = env_name(field) if field in cls.model_fields else field
        message = str(item["msg"]).removeprefix("Value error, ")
        problems.append(f"{name}: {message}")
    msg = "bad configuration: " + "; ".join(problems)
    return InvalidInputError(msg, problems=problems)


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (also in a URL that does not parse)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        password = None
        parts = None
    if parts is None or password is None:
        # No URL structure to go by: mask anything shaped like "user:password@".
        return re.sub(r"([^:/@\s]*):[^@\s]*@", r"\1:***@", url)
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"{user}:***@{host}{port}", parts.path, parts.query, ""))


def settings_table() -> str:
    """The README's configuration table, generated from this class (a test keeps them equal)."""
    rows = ["| variable | meaning | default |", "|---|---|---|"]
    for field, info in Settings.model_fields.items():
        default: Any = info.get_default(call_default_factory=True)
        if isinstance(default, SecretStr):
            default = default.get_secret_value()
        if isinstance(default, dict):
            shown = ",".join(f"{k}={v}" for k, v in default.items()) or "-"
        elif default is None:
            shown = "-"
        else:
            shown = str(default)
        rows.append(f"| `{env_name(field)}` | {info.description} | `{shown}` |")
    return "\n".join(rows)
