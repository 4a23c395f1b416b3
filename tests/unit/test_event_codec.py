"""The event store's encoders give what the supported paths give: the ledger's transcoder
writes the very bytes the library's ``JSONTranscoder`` writes (or raises what it raises), for
every code point and for generated states of every shape; binary array parameters are read
back by PostgreSQL as the values they were built from, and a wrong element type is refused."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from creator_ledger.adapters import event_codec
from creator_ledger.adapters.event_codec import (
    DateAsISO,
    LedgerTranscoder,
    bytea_array,
    int8_array,
    text_array,
    uuid_array,
)


def _registered(transcoder: JSONTranscoder) -> JSONTranscoder:
    for t in (UUIDAsHex(), DatetimeAsISO(), DecimalAsStr(), DateAsISO()):
        transcoder.register(t)
    return transcoder


OURS = _registered(LedgerTranscoder())
LIBRARY = _registered(JSONTranscoder())


def _outcome(transcoder: JSONTranscoder, state: Any) -> tuple[str, Any]:
    try:
        return "bytes", transcoder.encode(state)
    except Exception as e:  # noqa: BLE001 - whatever it is, both must raise the same
        return "error", type(e)


def _same(state: Any) -> bytes | None:
    ours, theirs = _outcome(OURS, state), _outcome(LIBRARY, state)
    assert ours == theirs, state
    return ours[1] if ours[0] == "bytes" else None


def test_every_code_point_is_written_as_the_library_writes_it() -> None:
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(chars), 4096):
        chunk = chars[start : start + 4096]
        assert _same({"text": "".join(chunk), "each": chunk}) is not None
    assert _same({"lone surrogate": "\ud800"}) is None  # both refuse it


class _Colour(enum.Enum):
    RED = "red"


class _Status(enum.StrEnum):
    OK = "ok"


class _Count(enum.IntEnum):
    ONE = 1


class _Text(str):
    __slots__ = ()


STAMP = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


@pytest.mark.parametrize(
    "state",
    [
        {},
        {"timestamp": STAMP, "id": UUID(int=7), "on": date(2026, 1, 31), "amount": 5},
        {"at": datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-5))), "naive": STAMP},
        {"nested": {"ids": [uuid4(), uuid4()], "days": (date(2026, 1, 1),)}},
        {"money": Decimal("12.3400"), "flag": True, "none": None, "neg": -(2**63)},
        {"max": 2**64 - 1, "beyond": 2**64},  # orjson refuses: the library writes it
        {"below": -(2**63) - 1},
        {"float": 0.1, "big float": 1e16, "nan": float("nan")},  # written the library's way
        {"int keys": {1: "a", 2: "b"}},  # json writes them as text
        {"status": _Status.OK, "count": _Count.ONE, "text": _Text("sub")},  # subclasses
        {"colour": _Colour.RED},  # no transcoding: both refuse
        {"set": {1, 2}},  # likewise
        {"deep": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]},
        {"tuple": (1, "a", None), "empty": [], "empty dict": {}},
    ],
)
def test_states_of_every_shape_are_written_as_the_library_writes_them(state: Any) -> None:
    encoded = _same(state)
    if encoded is not None:
        assert LIBRARY.decode(encoded) == OURS.decode(encoded)


def test_nesting_deeper_than_orjson_takes_goes_the_librarys_way() -> None:
    deep: Any = "leaf"
    for _ in range(400):  # orjson stops at 254 levels
        deep = [deep]
    assert _same({"deep": deep}) is not None


def test_an_unregistered_type_is_refused_with_the_librarys_error() -> None:
    with pytest.raises(TranscodingNotRegisteredError):
        OURS.encode({"colour": _Colour.RED})


_keys = st.text(max_size=8)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.text()
    | st.uuids()
    | st.datetimes(timezones=st.just(UTC))
    | st.dates()
    | st.decimals(allow_nan=False)
    | st.floats(allow_nan=False)
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(_keys | st.integers(), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=6))
def test_generated_states_are_written_as_the_library_writes_them(state: dict[str, Any]) -> None:
    _same(state)


def test_the_fast_path_is_taken_for_the_ledgers_states(monkeypatch: pytest.MonkeyPatch) -> None:
    """A state of UUIDs, datetimes, dates and JSON's own types never reaches the library's
    encoder (the test above would pass with no fast path at all)."""

    def refuse(self: Any, obj: Any) -> bytes:
        raise AssertionError("the library's encoder was used")

    monkeypatch.setattr(JSONTranscoder, "encode", refuse)
    state = {"id": uuid4(), "at": STAMP, "on": date(2026, 1, 1), "issued": {"actor": "svc:x"}}
    assert OURS.decode(OURS.encode(state)) == state


# -- binary arrays ----------------------------------------------------------------------------


@pytest.mark.postgres
def test_binary_arrays_are_read_back_as_built(pg_database: str) -> None:
    ids = [uuid4() for _ in range(3)]
    ints = [0, 1, -1, 2**63 - 1, -(2**63)]
    texts = ["", "creator-ledger/Creator.Enrolled", "é ✓ 𝄞"]
    blobs = [b"", b"\x00\xff", b'{"a":1}' * 100]
    with psycopg.connect(pg_database) as conn:
        row = conn.execute(
            "SELECT %b::uuid[], %b::bigint[], %b::text[], %b::bytea[],"
            " cardinality(%b::uuid[]), cardinality(%b::bigint[])",
            (
                uuid_array(ids),
                int8_array(ints),
                text_array(texts),
                bytea_array(blobs),
                uuid_array([]),
                int8_array([]),
            ),
        ).fetchone()
    assert row == (ids, ints, texts, blobs, 0, 0)


@pytest.mark.postgres
def test_an_array_of_the_wrong_element_type_is_refused(pg_database: str) -> None:
    with psycopg.connect(pg_database) as conn, pytest.raises(psycopg.errors.DatatypeMismatch):
        conn.execute("SELECT %b::uuid[]", (int8_array([1, 2]),))


def test_an_integer_beyond_64_bits_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(event_codec.struct.error):
        int8_array([2**63])
