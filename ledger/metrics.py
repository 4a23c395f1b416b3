"""Metrics, through prometheus-client (the Python default for a scrape endpoint).

Process-wide counters and histograms live in prometheus-client's default registry, so a service
that mounts the HTTP app, or already serves its own ``/metrics``, exposes them with its other
metrics; what is read from a ledger's database at scrape time (projection lag, payouts by
status) is a :class:`LedgerCollector`, registered by whoever serves it (the HTTP app and the
worker each register theirs in a private registry, served together with the default one).

==============================================  ===============================================
``creator_ledger_commands_total``               façade calls by ``command`` and ``outcome``
                                                (``ok`` or the error's class name)
``creator_ledger_command_duration_seconds``     their latency, by ``command``
``creator_ledger_provider_calls_total``         payment-provider calls by ``operation`` and
                                                ``outcome`` (ok, rejected, unavailable,
                                                unknown, error)
``creator_ledger_provider_call_duration_seconds``  their latency, by ``operation``
``creator_ledger_provider_errors_total``        failed provider calls by ``operation``, ``error``
``creator_ledger_reconciliation_discrepancies`` discrepancies the last reconciliation found, by
                                                ``reconciliation`` and ``check`` (kind)
``creator_ledger_reconciliations_total``        reconciliations run, by ``reconciliation`` and
                                                ``result`` (clean, discrepancies)
``creator_ledger_commands_in_memory_total``    commands tried on cached aggregates first, by
                                                ``command`` and ``path`` (``written``, or
                                                ``checked``: decided again after a load)
``creator_ledger_projection_events_applied_total``  events the worker applied to the read models
``creator_ledger_worker_duties_total``          scheduled duties run, by ``duty``, ``outcome``
``creator_ledger_projection_lag_events``        events recorded but not yet applied, by
                                                ``read_model`` (scrape time)
``creator_ledger_projection_lag_seconds``       age of the oldest event not yet applied
``creator_ledger_payouts``                      payouts by ``status`` and ``currency``
``creator_ledger_payouts_amount_minor``         their amount in minor units
==============================================  ===============================================
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from creator_ledger.domain.errors import (
    LedgerError,
    PaymentOutcomeUnknownError,
    PaymentRejectedError,
    ProviderUnavailableError,
)
from creator_ledger.ledger.logs import logger
from creator_ledger.ledger.reconcile import ReconciliationReport

if TYPE_CHECKING:
    from creator_ledger.adapters.payments.port import (
        BalanceTransaction,
        PaymentProvider,
        Transfer,
        TransferRequest,
        TransferReversal,
    )
    from creator_ledger.ledger.operations import OperationalStatus

T = TypeVar("T")
_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

COMMANDS = Counter(
    "creator_ledger_commands", "Ledger calls, by command and outcome", ["command", "outcome"]
)
COMMAND_SECONDS = Histogram(
    "creator_ledger_command_duration_seconds",
    "Latency of ledger calls, by command",
    ["command"],
    buckets=_LATENCY_BUCKETS,
)
PROVIDER_CALLS = Counter(
    "creator_ledger_provider_calls",
    "Payment provider calls, by operation and outcome",
    ["operation", "outcome"],
)
PROVIDER_SECONDS = Histogram(
    "creator_ledger_provider_call_duration_seconds",
    "Latency of payment provider calls, by operation",
    ["operation"],
    buckets=_LATENCY_BUCKETS,
)
PROVIDER_ERRORS = Counter(
    "creator_ledger_provider_errors",
    "Failed payment provider calls, by operation and error",
    ["operation", "error"],
)
DISCREPANCIES = Gauge(
    "creator_ledger_reconciliation_discrepancies",
    "Discrepancies found by the last reconciliation, by reconciliation and check",
    ["reconciliation", "check"],
)
RECONCILIATIONS = Counter(
    "creator_ledger_reconciliations",
    "Reconciliations run, by reconciliation and result",
    ["reconciliation", "result"],
)
EVENTS_APPLIED = Counter(
    "creator_ledger_projection_events_applied", "Events applied to the read models by the worker"
)
IN_MEMORY = Counter(
    "creator_ledger_commands_in_memory",
    "Commands tried on cached aggregates first, by command and how they ended (written, or"
    " decided again the checked way)",
    ["command", "path"],
)
DUTIES = Counter(
    "creator_ledger_worker_duties", "Scheduled duties run, by duty and outcome", ["duty", "outcome"]
)

_commands_log = logger("commands")
_provider_log = logger("payouts")  # a provider call is money leaving, or a look at it
_reconcile_log = logger("reconcile")


def observe_call(name: str, outcome: str, seconds: float, *, is_command: bool) -> None:
    """Count and time one façade call; log it (commands at INFO, queries at DEBUG)."""
    COMMANDS.labels(name, outcome).inc()
    COMMAND_SECONDS.labels(name).observe(seconds)
    level = 20 if is_command else 10
    if outcome != "ok":
        level = 30 if outcome.endswith("UnavailableError") else max(level, 20)
    _commands_log.log(
        level,
        "%s: %s",
        name,
        outcome,
        extra={"outcome": outcome, "duration_ms": round(seconds * 1000, 3)},
    )


def observe_result(result: object) -> None:
    """What a result tells beyond its call: a reconciliation's discrepancies by kind."""
    if isinstance(result, ReconciliationReport):
        for check, found in result.checks.items():
            DISCREPANCIES.labels(result.kind, check).set(found)
        RECONCILIATIONS.labels(result.kind, "clean" if result.clean else "discrepancies").inc()
        _reconcile_log.log(
            20 if result.clean else 30,
            "reconciliation %s: %s",
            result.kind,
            "clean" if result.clean else f"{len(result.discrepancies)} discrepancies",
            extra={"reconciliation": result.kind, "checks": result.checks},
        )


def _provider_outcome(error: BaseException) -> str:
    if isinstance(error, ProviderUnavailableError):
        return "unavailable"
    if isinstance(error, PaymentOutcomeUnknownError):
        return "unknown"
    if isinstance(error, PaymentRejectedError):
        return "rejected"
    return "error"


class InstrumentedProvider:
    """A :class:`~adapters.payments.port.PaymentProvider` that counts, times and logs every
    call of the provider it wraps (payout id and outcome; never a key)."""

    def __init__(self, provider: PaymentProvider) -> None:
        self.provider = provider

    def _timed(self, operation: str, call: Callable[[], T], **fields: Any) -> T:
        started = time.perf_counter()
        try:
            result = call()
        except Exception as e:
            self._done(operation, started, e, fields)
            raise
        self._done(operation, started, None, fields)
        return result

    def _done(
        self, operation: str, started: float, error: BaseException | None, fields: dict[str, Any]
    ) -> None:
        seconds = time.perf_counter() - started
        outcome = "ok" if error is None else _provider_outcome(error)
        PROVIDER_CALLS.labels(operation, outcome).inc()
        PROVIDER_SECONDS.labels(operation).observe(seconds)
        extra = {"operation": operation, "outcome": outcome, "duration_ms": round(seconds * 1e3, 3)}
        if error is None:
            _provider_log.debug("%s: ok", operation, extra=extra | fields)
            return
        PROVIDER_ERRORS.labels(operation, type(error).__name__).inc()
        message = error.message if isinstance(error, LedgerError) else type(error).__name__
        _provider_log.warning("%s: %s", operation, message, extra=extra | fields)

    def _listed(self, operation: str, items: Callable[[], Iterator[T]]) -> Iterator[T]:
        started = time.perf_counter()
        try:
            yield from items()
        except Exception as e:
            self._done(operation, started, e, {})
            raise
        self._done(operation, started, None, {})

    def create_transfer(self, request: TransferRequest) -> Transfer:
        return self._timed(
            "create_transfer",
            lambda: self.provider.create_transfer(request),
            payout_id=request.payout_id,
            creator_ref=request.metadata.get("creator_ref"),
            run_id=request.metadata.get("run_id"),
        )

    def find_transfer(self, payout_id: str) -> Transfer | None:
        return self._timed(
            "find_transfer", lambda: self.provider.find_transfer(payout_id), payout_id=payout_id
        )

    def list_transfers(self, created_from: datetime, created_to: datetime) -> Iterator[Transfer]:
        return self._listed(
            "list_transfers", lambda: self.provider.list_transfers(created_from, created_to)
        )

    def list_balance_transactions(
        self, created_from: datetime, created_to: datetime
    ) -> Iterator[BalanceTransaction]:
        return self._listed(
            "list_balance_transactions",
            lambda: self.provider.list_balance_transactions(created_from, created_to),
        )

    def reverse_transfer(
        self, transfer_id: str, amount_minor: int, idempotency_key: str
    ) -> TransferReversal:
        return self._timed(
            "reverse_transfer",
            lambda: self.provider.reverse_transfer(transfer_id, amount_minor, idempotency_key),
            transfer_id=transfer_id,
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.provider, name)  # anything else the provider offers


class LedgerCollector(Collector):
    """Projection lag and payouts by status, read from one ledger when scraped."""

    def __init__(self, status: Callable[[], OperationalStatus]) -> None:
        self.status = status

    def collect(self) -> Iterable[Metric]:
        try:
            status = self.status()
        except Exception:  # noqa: BLE001 - a scrape must answer; /readyz says what is wrong
            logger("metrics").warning("cannot read the ledger's status for /metrics")
            return []
        lag = GaugeMetricFamily(
            "creator_ledger_projection_lag_events",
            "Events recorded but not yet applied, by read model",
            labels=["read_model"],
        )
        for name, behind in status.lag_events.items():
            lag.add_metric([name], behind)
        seconds = GaugeMetricFamily(
            "creator_ledger_projection_lag_seconds",
            "Age of the oldest event some read model has not applied (0: caught up)",
            value=status.lag_s,
        )
        payouts = GaugeMetricFamily(
            "creator_ledger_payouts",
            "Payouts by status and currency",
            labels=["status", "currency"],
        )
        amounts = GaugeMetricFamily(
            "creator_ledger_payouts_amount_minor",
            "Payout amounts in minor units, by status and currency",
            labels=["status", "currency"],
        )
        for p in status.payouts:
            payouts.add_metric([p.status, p.currency], p.count)
            amounts.add_metric([p.status, p.currency], p.amount_minor)
        return [lag, seconds, payouts, amounts]


def exposition(*registries: CollectorRegistry) -> bytes:
    """The default registry's metrics, then those of ``registries``, in the text format."""
    return b"".join(generate_latest(r) for r in (REGISTRY, *registries))


def ledger_registry(status: Callable[[], OperationalStatus]) -> CollectorRegistry:
    """A private registry with one ledger's :class:`LedgerCollector`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LedgerCollector(status))
    return registry
