"""A stateful Stripe-compatible fake HTTP server for tests (loopback only, one background thread).

The real ``stripe.StripeClient`` talks to it over real HTTP: form-encoded bodies as the SDK sends
them (``metadata[k]=v``, ``created[gte]=...``), Stripe-shaped JSON objects and error envelopes
(``{"error": {"type", "code", "message", "param"}}`` with Stripe's HTTP statuses).

What it keeps as state (nothing is hard-coded):

* transfers, reversals, balance transactions, connected accounts;
* the platform's available balance per currency (transfers draw it down; ``balance_insufficient``
  when short) and each connected account's balance (reversals need it);
* idempotency records: same key + same parameters replays the stored response (including a
  stored 500), same key + other parameters is a 400 ``idempotency_error``, same key while the
  first request still runs is a 409.  Requests that fail parameter validation store nothing,
  as on Stripe ("results are only saved if an API endpoint started executing");
* a request log, and scripted faults (:class:`~tests.fakes.stripe_faults.Fault`) pushed with
  ``server.faults.push(...)`` (429 with ``Stripe-Should-Retry`` or ``Retry-After``, 500 before
  or after commit, timeouts, connection resets).

Parameters are checked against the SDK's generated TypedDicts (``stripe.params.*Params``):
an unknown parameter is a 400 ``parameter_unknown`` as on Stripe.  Some of those TypedDicts
inherit the SDK's *request options* (``idempotency_key``, ``api_key``...), which are headers,
never parameters, so they are removed from the accepted set.

Deliberately stricter than Stripe: ``currency`` must be lower case (the SDK docs say so; an
adapter that forgets to convert is caught here).
"""

from __future__ import annotations

import copy
import json
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, cast
from urllib.parse import parse_qsl, urlsplit

import stripe
import stripe.params as sp

from tests.fakes.stripe_faults import Fault, FaultScript, ScriptedFault

DEFAULT_API_KEY = "sk_test_fake_creator_ledger"
DEFAULT_PLATFORM_BALANCE_MINOR = 10**12
DEFAULT_START_TIME_S = 1_767_225_600  # 2026-01-01T00:00:00Z
MAX_LIST_LIMIT = 100

_REQUEST_OPTION_KEYS = frozenset(stripe.RequestOptions.__optional_keys__)
_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z_]+)?$")
_BRACKETS = re.compile(r"\[([^\[\]]*)\]")
_CURRENCY = re.compile(r"^[a-z]{3}$")
_CREATED_KEYS = frozenset({"gt", "gte", "lt", "lte"})
_METADATA_MAX_KEYS = 50
_METADATA_MAX_KEY_LEN = 40
_METADATA_MAX_VALUE_LEN = 500


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request as the fake saw it (``status`` None: the connection was reset)."""

    arrival: int  # requests are listed in the order they arrived, not the order they ended
    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None
    stripe_version: str | None
    status: int | None
    fault: Fault | None
    replayed: bool


class StripeHttpError(Exception):
    """An error reply in Stripe's envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        error: dict[str, Any] = {"type": type_, "message": message}
        if code is not None:
            error["code"] = code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param is not None:
            error["param"] = param
        self.body: dict[str, Any] = {"error": error}


@dataclass(slots=True)
class _Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False


@dataclass(slots=True)
class _IdempotencyRecord:
    fingerprint: str
    reply: _Reply | None  # None while the first request is in flight


@dataclass(slots=True)
class _Stored:
    seq: int
    obj: dict[str, Any]
    idempotency_key: str | None = None


Params = dict[str, Any]
Handler = Callable[["FakeStripeServer", dict[str, str], Params, str | None], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    params_type: Any  # an SDK TypedDict class
    handler: Handler
    extra_required: frozenset[str] = frozenset()

    def allowed(self) -> frozenset[str]:
        keys = self.params_type.__required_keys__ | self.params_type.__optional_keys__
        return frozenset(keys) - _REQUEST_OPTION_KEYS

    def required(self) -> frozenset[str]:
        return frozenset(self.params_type.__required_keys__) | self.extra_required


# --------------------------------------------------------------------------- parameter parsing


def unflatten_form(pairs: list[tuple[str, str]]) -> Params:
    """``[("metadata[a]", "1"), ("expand[0]", "x")]`` -> ``{"metadata": {"a": "1"}, ...}``."""
    root: Params = {}
    for raw_key, value in pairs:
        head, bracket, rest = raw_key.partition("[")
        parts = [head]
        if bracket:
            tail = "[" + rest
            found = _BRACKETS.findall(tail)
            if "".join(f"[{p}]" for p in found) != tail:
                raise StripeHttpError(400, f"Invalid parameter name: {raw_key}", param=raw_key)
            parts.extend(found)
        node = root
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise StripeHttpError(400, f"Invalid parameter: {raw_key}", param=raw_key)
            node = child
        last = parts[-1]
        if last == "":
            last = str(sum(1 for k in node if k.isdigit()))
        if last in node:
            raise StripeHttpError(400, f"Duplicate parameter: {raw_key}", param=raw_key)
        node[last] = value
    return cast(Params, _lists(root))


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _lists(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def _int(value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
        raise StripeHttpError(
            400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=name
        )
    number = int(value)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        bounds = f"{minimum if minimum is not None else ''}..{maximum if maximum else ''}"
        raise StripeHttpError(
            400,
            f"Invalid {name}: must be in {bounds}",
            code="parameter_invalid_integer",
            param=name,
        )
    return number


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str) or value == "":
        raise StripeHttpError(
            400, f"Invalid string: {value!r}", code="parameter_invalid_empty", param=name
        )
    return value


def _metadata(value: Any) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise StripeHttpError(
            400, "Invalid object", code="parameter_invalid_object", param="metadata"
        )
    if len(value) > _METADATA_MAX_KEYS:
        raise StripeHttpError(
            400, f"Metadata can have at most {_METADATA_MAX_KEYS} keys", param="metadata"
        )
    for key, item in value.items():
        if len(key) > _METADATA_MAX_KEY_LEN or not isinstance(item, str):
            raise StripeHttpError(400, f"Invalid metadata key {key!r}", param=f"metadata[{key}]")
        if len(item) > _METADATA_MAX_VALUE_LEN:
            raise StripeHttpError(
                400,
                f"Metadata values can have up to {_METADATA_MAX_VALUE_LEN} characters",
                param=f"metadata[{key}]",
            )
    return {k: v for k, v in value.items() if v != ""}


def _created_filter(value: Any) -> Callable[[int], bool]:
    if isinstance(value, str):
        exact = _int(value, "created")
        return lambda created: created == exact
    if not isinstance(value, dict):
        raise StripeHttpError(400, "Invalid created filter", param="created")
    unknown = sorted(set(value) - _CREATED_KEYS)
    if unknown:
        raise StripeHttpError(
            400,
            f"Received unknown parameter: created[{unknown[0]}]",
            code="parameter_unknown",
            param=f"created[{unknown[0]}]",
        )
    bounds = {k: _int(v, f"created[{k}]") for k, v in value.items()}

    def accept(created: int) -> bool:
        return (
            ("gt" not in bounds or created > bounds["gt"])
            and ("gte" not in bounds or created >= bounds["gte"])
            and ("lt" not in bounds or created < bounds["lt"])
            and ("lte" not in bounds or created <= bounds["lte"])
        )

    return accept


def _currency(value: Any) -> str:
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise StripeHttpError(
            400,
            f"Invalid currency: {value}. Use a three-letter lower-case ISO code.",
            code="parameter_invalid_string",
            param="currency",
        )
    return value


# --------------------------------------------------------------------------- the server


class FakeStripeServer:
    """The fake's state, its HTTP front end and its inspection API."""

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        default_balance_minor: int = DEFAULT_PLATFORM_BALANCE_MINOR,
        start_time_s: int = DEFAULT_START_TIME_S,
    ) -> None:
        self.api_key = api_key
        #: Stripe masks a wrong key in its 401 message; True repeats it whole, as a careless
        #: proxy or gateway might, to show that the adapter masks it itself.
        self.echo_api_key_in_errors = False
        self.faults = FaultScript()
        self.internal_errors: list[str] = []  # bugs in the fake itself; fake_stripe() fails on them
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._now_s = start_time_s
        self._default_balance_minor = default_balance_minor
        self._balances: dict[str, int] = {}
        self._account_balances: dict[tuple[str, str], int] = {}
        self._seq = 0
        self._transfers: dict[str, _Stored] = {}
        self._reversals: dict[str, _Stored] = {}
        self._balance_transactions: dict[str, _Stored] = {}
        self._accounts: dict[str, _Stored] = {}
        self._idempotency: dict[tuple[str, str], _IdempotencyRecord] = {}
        self._log: list[LoggedRequest] = []
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        httpd = _HttpServer(("127.0.0.1", 0), _Handler)
        httpd.fake = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "start() the server first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    # ----------------------------------------------------------------- inspection and setup

    def now(self) -> int:
        with self._lock:
            return self._now_s

    def set_time(self, epoch_s: int) -> None:
        with self._lock:
            self._now_s = epoch_s

    def advance(self, seconds: int) -> None:
        with self._lock:
            self._now_s += seconds

    def balance(self, currency: str) -> int:
        with self._lock:
            return self._balances.get(currency.lower(), self._default_balance_minor)

    def set_balance(self, currency: str, amount_minor: int) -> None:
        with self._lock:
            self._balances[currency.lower()] = amount_minor

    def account_balance(self, account_id: str, currency: str) -> int:
        with self._lock:
            return self._account_balances.get((account_id, currency.lower()), 0)

    def set_account_balance(self, account_id: str, currency: str, amount_minor: int) -> None:
        """E.g. 0 after the creator paid the money out to their bank."""
        with self._lock:
            self._account_balances[(account_id, currency.lower())] = amount_minor

    def create_account(
        self,
        *,
        transfers: str | None = "active",
        payouts_enabled: bool = True,
        currently_due: tuple[str, ...] = (),
        past_due: tuple[str, ...] = (),
        disabled_reason: str | None = None,
    ) -> str:
        with self._lock:
            account = self._new_account({}, transfers_requested=transfers is not None)
            self.set_account_state(
                account["id"],
                transfers=transfers,
                payouts_enabled=payouts_enabled,
                currently_due=currently_due,
                past_due=past_due,
                disabled_reason=disabled_reason,
            )
            return cast(str, account["id"])

    def set_account_state(
        self,
        account_id: str,
        *,
        transfers: str | None = "active",
        payouts_enabled: bool = True,
        currently_due: tuple[str, ...] = (),
        past_due: tuple[str, ...] = (),
        disabled_reason: str | None = None,
    ) -> None:
        with self._lock:
            account = self._accounts[account_id].obj
            capabilities: dict[str, str] = {}
            if transfers is not None:
                capabilities["transfers"] = transfers
            account["capabilities"] = capabilities
            account["payouts_enabled"] = payouts_enabled
            account["requirements"]["currently_due"] = list(currently_due)
            account["requirements"]["past_due"] = list(past_due)
            account["requirements"]["disabled_reason"] = disabled_reason

    def transfers(self) -> list[dict[str, Any]]:
        """Every transfer, oldest first (copies)."""
        with self._lock:
            return [copy.deepcopy(s.obj) for s in sorted(self._transfers.values(), key=_by_seq)]

    def transfer_counts_by_payout(self) -> Counter[str]:
        with self._lock:
            return Counter(s.obj["metadata"].get("payout_id", "") for s in self._transfers.values())

    def transfer_counts_by_idempotency_key(self) -> Counter[str]:
        with self._lock:
            return Counter(s.idempotency_key or "" for s in self._transfers.values())

    def balance_transactions(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                copy.deepcopy(s.obj)
                for s in sorted(self._balance_transactions.values(), key=_by_seq)
            ]

    def requests(self) -> list[LoggedRequest]:
        """Every request so far, in the order they arrived."""
        with self._lock:
            return sorted(self._log, key=lambda r: r.arrival)

    def requests_to(self, method: str, path: str) -> list[LoggedRequest]:
        return [r for r in self.requests() if r.method == method and r.path == path]

    # ----------------------------------------------------------------- request processing

    def process(
        self,
        method: str,
        path: str,
        pairs: list[tuple[str, str]],
        headers: dict[str, str],
    ) -> _Reply:
        """Everything one HTTP request does; sleeps (TIMEOUT faults) happen outside the lock."""
        arrival = self._next_seq()
        key = headers.get("idempotency-key") if method == "POST" else None
        version = headers.get("stripe-version")
        params: Params = {}
        scripted: ScriptedFault | None = None
        replayed = False
        try:
            params = unflatten_form(pairs)
            self._authenticate(headers.get("authorization", ""))
            if version is not None and not _VERSION.fullmatch(version):
                raise StripeHttpError(400, f"Invalid Stripe API version: {version}")
            route, args = self._route(method, path)
            scripted = self.faults.take(method, path)
            reply, replayed = self._run(route, args, params, key, headers, scripted)
        except StripeHttpError as exc:
            reply = _Reply(exc.status, exc.body)
        except Exception as exc:  # noqa: BLE001 - a bug in the fake must not look like a network error
            with self._lock:
                self.internal_errors.append(f"{method} {path}: {exc!r}")
            reply = _Reply(500, {"error": {"type": "api_error", "message": f"fake bug: {exc!r}"}})
        reply.headers.setdefault("Request-Id", f"req_fake{self._next_seq():010d}")
        if version is not None:
            reply.headers["Stripe-Version"] = version
        if key is not None:
            reply.headers["Idempotency-Key"] = key
        with self._lock:
            self._log.append(
                LoggedRequest(
                    arrival=arrival,
                    method=method,
                    path=path,
                    params=params,
                    idempotency_key=key,
                    stripe_version=version,
                    status=None if reply.reset else reply.status,
                    fault=scripted.fault if scripted else None,
                    replayed=replayed,
                )
            )
        return reply

    def _run(
        self,
        route: _Route,
        args: dict[str, str],
        params: Params,
        key: str | None,
        headers: dict[str, str],
        scripted: ScriptedFault | None,
    ) -> tuple[_Reply, bool]:
        fault = scripted.fault if scripted else None
        retry_header = {}
        if scripted is not None and scripted.should_retry is not None:
            retry_header = {"Stripe-Should-Retry": "true" if scripted.should_retry else "false"}
        if fault is Fault.RATE_LIMIT:
            error = StripeHttpError(
                429,
                "Too many requests hit the API too quickly. We recommend an exponential "
                "backoff of your requests.",
                code="rate_limit",
            )
            headers = dict(retry_header)
            if scripted is not None and scripted.retry_after_s is not None:
                headers["Retry-After"] = f"{scripted.retry_after_s:g}"
            return _Reply(429, error.body, headers), False
        if fault is Fault.ERROR_500_BEFORE_COMMIT:
            return _Reply(500, _api_error_body(), dict(retry_header)), False
        if fault is Fault.RESET_BEFORE_COMMIT:
            return _Reply(0, {}, reset=True), False

        scope = (headers.get("stripe-account", ""), key) if key is not None else None
        fingerprint = json.dumps([route.method, args, params], sort_keys=True)
        reply: _Reply | None = None
        with self._lock:
            record = self._idempotency.get(scope) if scope else None
            if record is not None:
                replay = self._replay(record, fingerprint, key)
            else:
                replay = None
                self._validate(route, params)
                if scope is not None:
                    self._idempotency[scope] = _IdempotencyRecord(fingerprint, None)
                if scripted is None or scripted.fault is not Fault.TIMEOUT_BEFORE_COMMIT:
                    reply = self._execute(route, args, params, key, scope)
                    if fault is Fault.ERROR_500_AFTER_COMMIT and scope is not None:
                        # Stripe stores the 500 and replays it for the same key.
                        self._idempotency[scope].reply = _Reply(500, _api_error_body())
        # Sleeps and resets happen outside the lock, so other requests go on meanwhile.
        if replay is not None:
            return self._after_commit(replay, scripted, {}), True
        if reply is not None:
            return self._after_commit(reply, scripted, retry_header), False
        # TIMEOUT_BEFORE_COMMIT: the key stays in flight (409 for a retry) while we "work".
        assert scripted is not None
        self._stopping.wait(scripted.delay_s)
        with self._lock:
            return self._execute(route, args, params, key, scope), False

    def _replay(self, record: _IdempotencyRecord, fingerprint: str, key: str | None) -> _Reply:
        if record.fingerprint != fingerprint:
            raise StripeHttpError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.",
                type_="idempotency_error",
            )
        if record.reply is None:
            raise StripeHttpError(
                409,
                "There is currently another in-progress request using this Idempotent Key "
                "(that probably means you submitted twice, and the other request is still "
                "going through): " + str(key) + ". Please try again later.",
                type_="idempotency_error",
            )
        return _Reply(
            record.reply.status,
            copy.deepcopy(record.reply.body),
            {**record.reply.headers, "Idempotent-Replayed": "true"},
        )

    def _after_commit(
        self, reply: _Reply, scripted: ScriptedFault | None, retry_header: dict[str, str]
    ) -> _Reply:
        if scripted is None:
            return reply
        if scripted.fault is Fault.ERROR_500_AFTER_COMMIT:
            return _Reply(500, _api_error_body(), dict(retry_header))
        if scripted.fault is Fault.TIMEOUT_AFTER_COMMIT:
            self._stopping.wait(scripted.delay_s)
            return reply
        if scripted.fault is Fault.RESET_AFTER_COMMIT:
            return _Reply(0, {}, reset=True)
        return reply

    def _execute(
        self,
        route: _Route,
        args: dict[str, str],
        params: Params,
        key: str | None,
        scope: tuple[str, str] | None,
    ) -> _Reply:
        """Run the endpoint and store its reply for the key (caller holds the lock)."""
        try:
            reply = _Reply(200, route.handler(self, args, params, key))
        except StripeHttpError as exc:
            reply = _Reply(exc.status, exc.body)
        reply.headers["Request-Id"] = f"req_fake{self._next_seq():010d}"
        if scope is not None:
            self._idempotency[scope].reply = _Reply(
                reply.status, copy.deepcopy(reply.body), dict(reply.headers)
            )
        return reply

    def _authenticate(self, authorization: str) -> None:
        scheme, _, token = authorization.partition(" ")
        if scheme != "Bearer" or not token:
            raise StripeHttpError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth.",
            )
        if token != self.api_key:
            shown = token if self.echo_api_key_in_errors else f"{token[:8]}****{token[-4:]}"
            raise StripeHttpError(401, f"Invalid API Key provided: {shown}")

    def _route(self, method: str, path: str) -> tuple[_Route, dict[str, str]]:
        for route in _ROUTES:
            if route.method != method:
                continue
            match = route.pattern.fullmatch(path)
            if match:
                return route, match.groupdict()
        raise StripeHttpError(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
            "or we can help at https://support.stripe.com/.",
        )

    def _validate(self, route: _Route, params: Params) -> None:
        allowed = route.allowed()
        for name in params:
            if name not in allowed:
                raise StripeHttpError(
                    400,
                    f"Received unknown parameter: {name}",
                    code="parameter_unknown",
                    param=name,
                )
        for name in sorted(route.required()):
            if name not in params:
                raise StripeHttpError(
                    400,
                    f"Missing required param: {name}.",
                    code="parameter_missing",
                    param=name,
                )

    def _next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def _new_id(self, prefix: str) -> tuple[int, str]:
        seq = self._next_seq()
        return seq, f"{prefix}_fake{seq:012d}"

    # ----------------------------------------------------------------- endpoints (lock held)

    def _new_account(self, params: Params, *, transfers_requested: bool) -> dict[str, Any]:
        seq, account_id = self._new_id("acct")
        account: dict[str, Any] = {
            "id": account_id,
            "object": "account",
            "type": params.get("type", "custom"),
            "country": params.get("country", "US"),
            "email": params.get("email"),
            "default_currency": params.get("default_currency", "usd"),
            "business_type": params.get("business_type"),
            "charges_enabled": False,
            "payouts_enabled": True,
            "details_submitted": True,
            "capabilities": {"transfers": "active"} if transfers_requested else {},
            "requirements": {
                "currently_due": [],
                "eventually_due": [],
                "past_due": [],
                "pending_verification": [],
                "errors": [],
                "current_deadline": None,
                "disabled_reason": None,
            },
            "metadata": _metadata(params.get("metadata")),
            "created": self._now_s,
            "livemode": False,
        }
        self._accounts[account_id] = _Stored(seq, account)
        return account

    def _create_account(self, _args: dict[str, str], params: Params, _key: str | None) -> Any:
        capabilities = params.get("capabilities") or {}
        requested = capabilities.get("transfers", {}) if isinstance(capabilities, dict) else {}
        account = self._new_account(
            params,
            transfers_requested=isinstance(requested, dict)
            and requested.get("requested") == "true",
        )
        return copy.deepcopy(account)

    def _retrieve_account(self, args: dict[str, str], _params: Params, _key: str | None) -> Any:
        stored = self._accounts.get(args["id"])
        if stored is None:
            raise _missing("account", args["id"], "id")
        return copy.deepcopy(stored.obj)

    def _list_accounts(self, _args: dict[str, str], params: Params, _key: str | None) -> Any:
        return self._page("/v1/accounts", self._accounts, params, lambda _obj: True)

    def _create_transfer(self, _args: dict[str, str], params: Params, key: str | None) -> Any:
        amount = _int(params["amount"], "amount", minimum=1, maximum=99_999_999_999)
        currency = _currency(params["currency"])
        destination = _str(params["destination"], "destination")
        metadata = _metadata(params.get("metadata"))
        group = params.get("transfer_group")
        account = self._accounts.get(destination)
        if account is None:
            raise _missing("destination", destination, "destination")
        if account.obj["capabilities"].get("transfers") != "active":
            raise StripeHttpError(
                400,
                "Your destination account needs to have at least one of the following "
                "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                code="insufficient_capabilities_for_transfer",
                param="destination",
            )
        available = self.balance(currency)
        if available < amount:
            raise StripeHttpError(
                400,
                "You have insufficient available funds in your Stripe account. Try adding "
                "funds directly to your available balance by creating Charges using the "
                "4000000000000077 test card.",
                code="balance_insufficient",
            )
        seq, transfer_id = self._new_id("tr")
        txn = self._new_balance_transaction(-amount, currency, transfer_id, "transfer")
        self._balances[currency] = available - amount
        self._account_balances[(destination, currency)] = (
            self.account_balance(destination, currency) + amount
        )
        transfer: dict[str, Any] = {
            "id": transfer_id,
            "object": "transfer",
            "amount": amount,
            "amount_reversed": 0,
            "balance_transaction": txn,
            "created": self._now_s,
            "currency": currency,
            "description": params.get("description"),
            "destination": destination,
            "destination_payment": f"py_fake{seq:012d}",
            "livemode": False,
            "metadata": metadata,
            "reversals": {
                "object": "list",
                "data": [],
                "has_more": False,
                "total_count": 0,
                "url": f"/v1/transfers/{transfer_id}/reversals",
            },
            "reversed": False,
            "source_transaction": None,
            "source_type": params.get("source_type", "card"),
            "transfer_group": group,
        }
        self._transfers[transfer_id] = _Stored(seq, transfer, key)
        return copy.deepcopy(transfer)

    def _retrieve_transfer(self, args: dict[str, str], _params: Params, _key: str | None) -> Any:
        return copy.deepcopy(self._transfer(args["id"]).obj)

    def _transfer(self, transfer_id: str) -> _Stored:
        stored = self._transfers.get(transfer_id)
        if stored is None:
            raise _missing("transfer", transfer_id, "id")
        return stored

    def _list_transfers(self, _args: dict[str, str], params: Params, _key: str | None) -> Any:
        group = params.get("transfer_group")
        destination = params.get("destination")
        created = _created_filter(params["created"]) if "created" in params else None

        def accept(obj: dict[str, Any]) -> bool:
            return (
                (group is None or obj["transfer_group"] == group)
                and (destination is None or obj["destination"] == destination)
                and (created is None or created(obj["created"]))
            )

        return self._page("/v1/transfers", self._transfers, params, accept)

    def _create_reversal(self, args: dict[str, str], params: Params, key: str | None) -> Any:
        stored = self._transfer(args["id"])
        transfer = stored.obj
        remaining = transfer["amount"] - transfer["amount_reversed"]
        amount = _int(params["amount"], "amount", minimum=1) if "amount" in params else remaining
        if remaining == 0:
            raise StripeHttpError(
                400,
                f"Transfer {transfer['id']} has already been fully reversed.",
                param="amount",
            )
        if amount > remaining:
            raise StripeHttpError(
                400,
                f"Amount ({amount}) is greater than the unreversed amount ({remaining}) of "
                "the transfer.",
                code="parameter_invalid_integer",
                param="amount",
            )
        currency = transfer["currency"]
        destination = transfer["destination"]
        if self.account_balance(destination, currency) < amount:
            raise StripeHttpError(
                400,
                "Insufficient funds in the connected account to reverse this transfer.",
                code="balance_insufficient",
            )
        seq, reversal_id = self._new_id("trr")
        txn = self._new_balance_transaction(amount, currency, reversal_id, "transfer_refund")
        self._balances[currency] = self.balance(currency) + amount
        self._account_balances[(destination, currency)] -= amount
        reversal: dict[str, Any] = {
            "id": reversal_id,
            "object": "transfer_reversal",
            "amount": amount,
            "balance_transaction": txn,
            "created": self._now_s,
            "currency": currency,
            "destination_payment_refund": f"pyr_fake{seq:012d}",
            "metadata": _metadata(params.get("metadata")),
            "source_refund": None,
            "transfer": transfer["id"],
        }
        self._reversals[reversal_id] = _Stored(seq, reversal, key)
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
        sub = transfer["reversals"]
        sub["data"].insert(0, copy.deepcopy(reversal))
        sub["total_count"] += 1
        return copy.deepcopy(reversal)

    def _list_reversals(self, args: dict[str, str], params: Params, _key: str | None) -> Any:
        transfer_id = self._transfer(args["id"]).obj["id"]
        return self._page(
            f"/v1/transfers/{transfer_id}/reversals",
            self._reversals,
            params,
            lambda obj: obj["transfer"] == transfer_id,
        )

    def _retrieve_balance(self, _args: dict[str, str], _params: Params, _key: str | None) -> Any:
        currencies = sorted(set(self._balances) | {"usd"})
        return {
            "object": "balance",
            "livemode": False,
            "available": [
                {
                    "amount": self.balance(c),
                    "currency": c,
                    "source_types": {"card": self.balance(c)},
                }
                for c in currencies
            ],
            "pending": [
                {"amount": 0, "currency": c, "source_types": {"card": 0}} for c in currencies
            ],
        }

    def _list_balance_transactions(
        self, _args: dict[str, str], params: Params, _key: str | None
    ) -> Any:
        created = _created_filter(params["created"]) if "created" in params else None
        kind = params.get("type")
        source = params.get("source")
        currency = params.get("currency")

        def accept(obj: dict[str, Any]) -> bool:
            return (
                (created is None or created(obj["created"]))
                and (kind is None or obj["type"] == kind)
                and (source is None or obj["source"] == source)
                and (currency is None or obj["currency"] == currency)
            )

        return self._page("/v1/balance_transactions", self._balance_transactions, params, accept)

    def _new_balance_transaction(self, amount: int, currency: str, source: str, kind: str) -> str:
        seq, txn_id = self._new_id("txn")
        self._balance_transactions[txn_id] = _Stored(
            seq,
            {
                "id": txn_id,
                "object": "balance_transaction",
                "amount": amount,
                "available_on": self._now_s,
                "created": self._now_s,
                "currency": currency,
                "description": None,
                "exchange_rate": None,
                "fee": 0,
                "fee_details": [],
                "net": amount,
                "reporting_category": "transfer" if kind == "transfer" else "transfer_reversal",
                "source": source,
                "status": "available",
                "type": kind,
            },
        )
        return txn_id

    def _page(
        self,
        url: str,
        table: dict[str, _Stored],
        params: Params,
        accept: Callable[[dict[str, Any]], bool],
    ) -> dict[str, Any]:
        """One page of a list, newest first, with Stripe's cursor semantics."""
        limit = _int(params.get("limit", "10"), "limit", minimum=1, maximum=MAX_LIST_LIMIT)
        ordered = sorted(table.values(), key=_newest_first)
        after = params.get("starting_after")
        before = params.get("ending_before")
        if after is not None and before is not None:
            raise StripeHttpError(
                400, "You may only specify one of these parameters: ending_before, starting_after."
            )
        if after is not None:
            cursor = table.get(after)
            if cursor is None:
                raise _missing("object", after, "starting_after")
            ordered = [s for s in ordered if _newest_first(s) > _newest_first(cursor)]
        if before is not None:
            cursor = table.get(before)
            if cursor is None:
                raise _missing("object", before, "ending_before")
            ordered = [s for s in ordered if _newest_first(s) < _newest_first(cursor)]
        matching = [s.obj for s in ordered if accept(s.obj)]
        window = matching[-limit:] if before is not None else matching[:limit]
        return {
            "object": "list",
            "data": copy.deepcopy(window),
            "has_more": len(matching) > limit,
            "url": url,
        }


def _by_seq(stored: _Stored) -> int:
    return stored.seq


def _newest_first(stored: _Stored) -> tuple[int, int]:
    return (-stored.obj["created"], -stored.seq)


def _missing(kind: str, object_id: str, param: str) -> StripeHttpError:
    return StripeHttpError(
        404 if param == "id" else 400,
        f"No such {kind}: '{object_id}'",
        code="resource_missing",
        param=param,
    )


def _api_error_body() -> dict[str, Any]:
    return {
        "error": {
            "type": "api_error",
            "message": "An unknown error occurred while processing your request.",
        }
    }


_ROUTES: tuple[_Route, ...] = (
    _Route(
        "POST",
        re.compile(r"/v1/transfers"),
        sp.TransferCreateParams,
        FakeStripeServer._create_transfer,
        frozenset({"amount"}),
    ),
    _Route(
        "GET", re.compile(r"/v1/transfers"), sp.TransferListParams, FakeStripeServer._list_transfers
    ),
    _Route(
        "GET",
        re.compile(r"/v1/transfers/(?P<id>[^/]+)"),
        sp.TransferRetrieveParams,
        FakeStripeServer._retrieve_transfer,
    ),
    _Route(
        "POST",
        re.compile(r"/v1/transfers/(?P<id>[^/]+)/reversals"),
        sp.TransferReversalCreateParams,
        FakeStripeServer._create_reversal,
    ),
    _Route(
        "GET",
        re.compile(r"/v1/transfers/(?P<id>[^/]+)/reversals"),
        sp.TransferReversalListParams,
        FakeStripeServer._list_reversals,
    ),
    _Route(
        "GET",
        re.compile(r"/v1/balance"),
        sp.BalanceRetrieveParams,
        FakeStripeServer._retrieve_balance,
    ),
    _Route(
        "GET",
        re.compile(r"/v1/balance_transactions"),
        sp.BalanceTransactionListParams,
        FakeStripeServer._list_balance_transactions,
    ),
    _Route(
        "POST",
        re.compile(r"/v1/accounts"),
        sp.AccountCreateParams,
        FakeStripeServer._create_account,
    ),
    _Route(
        "GET", re.compile(r"/v1/accounts"), sp.AccountListParams, FakeStripeServer._list_accounts
    ),
    _Route(
        "GET",
        re.compile(r"/v1/accounts/(?P<id>[^/]+)"),
        sp.AccountRetrieveParams,
        FakeStripeServer._retrieve_account,
    ),
)


# --------------------------------------------------------------------------- HTTP front end


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeStripeServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that gave up (timeouts) make writes fail; that is expected here."""


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes
    _MAX_BODY: ClassVar[int] = 1_000_000

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the fake keeps its own request log."""

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > self._MAX_BODY:
            self.send_error(413)
            return
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        text = body.decode("utf-8") if method == "POST" else split.query
        pairs = parse_qsl(text, keep_blank_values=True)
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.server.fake.process(method, split.path, pairs, headers)
        if reply.reset:
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        payload = json.dumps(reply.body).encode("utf-8")
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True


@contextmanager
def fake_stripe(
    *,
    api_key: str = DEFAULT_API_KEY,
    default_balance_minor: int = DEFAULT_PLATFORM_BALANCE_MINOR,
    start_time_s: int = DEFAULT_START_TIME_S,
) -> Iterator[FakeStripeServer]:
    """Start a fake on 127.0.0.1 (ephemeral port), yield it, stop it."""
    server = FakeStripeServer(
        api_key=api_key,
        default_balance_minor=default_balance_minor,
        start_time_s=start_time_s,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
    if server.internal_errors:
        msg = "the fake Stripe server failed internally: " + "; ".join(server.internal_errors)
        raise AssertionError(msg)


def wait_until(predicate: Callable[[], bool], *, timeout_s: float = 2.0) -> bool:
    """Poll ``predicate`` every 10 ms for at most ``timeout_s``; True once it holds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
