"""How the event store encodes what it writes: event states as JSON, and PostgreSQL array
parameters in binary.

Both are fast paths for the single command (W2), which encodes four events and sends four
arrays per approval; each gives byte for byte what the supported path gives, and falls back to
it for anything it does not take.

* :class:`LedgerTranscoder` is the library's ``JSONTranscoder`` (the same transcodings, the
  same decoder) whose ``encode`` serialises with ``orjson`` the states made only of JSON's own
  types (exact ``str``, ``int``, ``bool``, ``None``, ``list``, ``tuple``, ``dict`` with ``str``
  keys) and of values of a registered transcoding at any depth (UUIDs, datetimes, dates,
  decimals), turned into the library's ``{"_type_": ..., "_data_": ...}`` first.  Any other
  value (a float, a subclass of a JSON type, an unregistered type), an integer beyond 64 bits
  or nesting deeper than orjson takes go the library's way, which gives the same bytes or the
  same error.  ``tests/unit/test_event_codec.py`` compares the two on every code point and on
  generated states, ``tests/integration/test_event_decoding.py`` on every event of a history.
  The library's encoder (the ``json`` module, calling back into Python for every UUID and
  datetime) took ~11-13 us a W2 event here; this takes ~7-9.
* :func:`pg_array` builds a one-dimensional array parameter in PostgreSQL's binary array
  format, sent as it is (the statement casts it: ``%b::uuid[]``).  psycopg's list dumpers scan
  every list to find its element type and dump each element through its own dumper: ~55 us of
  the ~70 us psycopg spent adapting the four arrays of one W2 append.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from datetime import date
from typing import Any

import orjson
import psycopg
from eventsourcing.persistence import JSONTranscoder, Transcoding
from psycopg.adapt import Dumper
from psycopg.pq import Format

# -- event states -----------------------------------------------------------------------------

#: Types the ``json`` module writes itself (``isinstance``): never handed to a transcoding.
_JSON_NATIVE = (str, int, float, list, tuple, dict)
_SCALARS = frozenset({str, int, bool, type(None)})


class DateAsISO(Transcoding):
    """Business dates (``date``; the library registers ``datetime`` only)."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class _UnplainError(Exception):
    """A value the fast encoder does not take: the library's encoder does."""


class LedgerTranscoder(JSONTranscoder):
    """The library's ``JSONTranscoder`` with an orjson fast path for ``encode`` (see the module
    docstring); decoding is the library's."""

    def __init__(self) -> None:
        super().__init__()
        #: the transcodings the fast path applies: of types ``json`` does not write itself
        self._fast: dict[type, Transcoding] = {}

    def register(self, transcoding: Transcoding) -> None:
        super().register(transcoding)
        if not issubclass(transcoding.type, _JSON_NATIVE):
            self._fast[transcoding.type] = transcoding

    def encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(self._plain(obj))
        except (_UnplainError, TypeError, RecursionError):  # orjson.JSONEncodeError: TypeError
            return super().encode(obj)

    def _plain(self, value: Any) -> Any:
        """``value`` with every transcoded value replaced by the library's wrapper, as its
        ``JSONEncoder(default=...)`` writes it; :class:`_UnplainError` for anything else."""
        kind = type(value)
        scalars = _SCALARS
        if kind in scalars:
            return value
        transcoding = self._fast.get(kind)
        if transcoding is not None:
            data = transcoding.encode(value)
            return {
                "_type_": transcoding.name,
                "_data_": data if type(data) in scalars else self._plain(data),
            }
        plain = self._plain
        if kind is dict:
            out = {}
            for k, v in value.items():
                if type(k) is not str:  # json turns int keys into text; orjson refuses them
                    raise _UnplainError
                out[k] = v if type(v) in scalars else plain(v)
            return out
        if kind is list or kind is tuple:
            return [v if type(v) in scalars else plain(v) for v in value]
        # floats (orjson writes some differently), subclasses of JSON's types, other types
        raise _UnplainError


# -- binary array parameters ------------------------------------------------------------------

#: Element type oids (``pg_type``) of the arrays the event store sends.
UUID_OID, INT8_OID, TEXT_OID, BYTEA_OID = 2950, 20, 25, 17
_INT8 = struct.Struct("!q")
_LENGTH = struct.Struct("!i")
_HEADER = struct.Struct("!iiIii")  # dimensions, has-nulls, element oid, length, lower bound


class PgArray:
    """A one-dimensional array parameter already in PostgreSQL's binary format."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class _PgArrayDumper(Dumper):
    format = Format.BINARY
    oid = 0  # the statement's cast says the type (``%b::uuid[]``)

    def dump(self, obj: Any) -> bytes:
        data: bytes = obj.data
        return data


psycopg.adapters.register_dumper(PgArray, _PgArrayDumper)


def pg_array(element_oid: int, elements: Iterable[bytes]) -> PgArray:
    """The array of ``elements``, each already in its type's binary form (see the helpers
    below), none of them NULL."""
    items = list(elements)
    if not items:
        return PgArray(struct.pack("!iiI", 0, 0, element_oid))
    length = _LENGTH.pack
    body = b"".join([length(len(e)) + e for e in items])
    return PgArray(_HEADER.pack(1, 0, element_oid, len(items), 1) + body)


def uuid_array(values: Iterable[Any]) -> PgArray:
    """``uuid[]`` of UUIDs."""
    return pg_array(UUID_OID, [v.bytes for v in values])


def int8_array(values: Iterable[int]) -> PgArray:
    """``bigint[]`` of integers (``struct.error`` beyond 64 bits)."""
    pack = _INT8.pack
    return pg_array(INT8_OID, [pack(v) for v in values])


def text_array(values: Iterable[str]) -> PgArray:
    """``text[]`` of strings, in UTF-8 (the ledger's databases are; the event store sends only
    its topics this way, which are ASCII)."""
    return pg_array(TEXT_OID, [v.encode() for v in values])


def bytea_array(values: Iterable[bytes]) -> PgArray:
    """``bytea[]`` of byte strings."""
    return pg_array(BYTEA_OID, values)
