"""Text the ledger keeps: keys, names and free text, checked before anything is written.

Events are immutable, so text that a store or a read model cannot hold, or that breaks a
table, a CSV line or an operator's screen, would poison every read from then on (PostgreSQL
``text`` refuses NUL, UTF-8 cannot encode a lone surrogate).  The rules, in one place:

* **Keys** (``fund_key``, ``creator_ref``, ids of holds, items, reports, contents, payout
  accounts ...): 1..200 ASCII letters, digits and ``. _ : / @ + -``, starting with a letter or a
  digit.
* **Names** (a fund's, a program's, a creator's display name): one line of 1..200 characters,
  not blank.
* **Free text** (reasons, notes, references): one line of at most 2,000 characters; a reason is
  also not blank.
* **Multi-line text** (a claim item's description): at most 2,000 characters; it may keep line
  feeds (``\\n``) and tabs (``\\t``), and no other control character.

No text may hold a control character (Unicode ``Cc``: C0 with NUL, DEL, C1), a line or paragraph
separator (U+2028, U+2029), a bidirectional embedding, override or isolate (U+202A..U+202E,
U+2066..U+2069: they make text display as something else) or a lone surrogate.  Everything else
in Unicode is accepted (accents, scripts, emoji and their joiners).  Lengths count code points.

An error names the field and the offending character by its code point and position; it never
echoes the character itself.
"""

from __future__ import annotations

import re
import unicodedata

from creator_ledger.domain.errors import InvalidInputError

KEY_MAX_LENGTH = 200
NAME_MAX_LENGTH = 200
TEXT_MAX_LENGTH = 2_000
KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$"
KEY_ACCEPTED = (
    f"1..{KEY_MAX_LENGTH} ASCII letters, digits and . _ : / @ + -, starting with a letter or"
    " a digit"
)

_KEY = re.compile(KEY_PATTERN)
#: Refused even though ``str.isprintable`` says nothing about them being controls.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: What multi-line text may keep.
_LINE_BREAKS = frozenset("\n\t")


def _subject(field: str | None) -> str:
    return f"{field} " if field else ""


def _unsafe(value: str, *, multiline: bool) -> tuple[int, str, str] | None:
    """(position, character, what it is) of the first character text may not hold, or None."""
    # The fast path: no Cc, Cs, Zl, Zp (nor Cf, Co, Cn, or Zs other than space).
    if value.isprintable() and _BIDI_CONTROLS.isdisjoint(value):
        return None
    for i, ch in enumerate(value):
        category = unicodedata.category(ch)
        if category == "Cc":
            if multiline and ch in _LINE_BREAKS:
                continue
            return i, ch, "a control character"
        if category == "Cs":
            return i, ch, "a lone surrogate (not valid Unicode)"
        if category in {"Zl", "Zp"}:
            return i, ch, "a line or paragraph separator"
        if ch in _BIDI_CONTROLS:
            return i, ch, "a bidirectional control character"
    return None


def check_text(
    value: object,
    *,
    field: str | None = None,
    max_length: int = TEXT_MAX_LENGTH,
    required: bool = False,
    multiline: bool = False,
) -> str:
    """``value`` if it is text the ledger may keep (see the module docstring); else
    :class:`InvalidInputError` naming ``field`` and saying what is accepted."""
    if (
        isinstance(value, str)
        and len(value) <= max_length
        and value.isprintable()
        and _BIDI_CONTROLS.isdisjoint(value)
        and (not required or value.strip())
    ):
        return value  # the common case, without building the messages below
    accepted = (
        "text (line feeds and tabs allowed, no other control characters)"
        if multiline
        else "one line of text without control characters"
    )
    accepted += f", at most {max_length:,} characters" + (", not blank" if required else "")
    subject = _subject(field)
    fields = {"field": field} if field else {}
    if not isinstance(value, str):
        msg = f"{subject}must be a string: {accepted}; got {type(value).__name__}"
        raise InvalidInputError(msg, **fields)
    if len(value) > max_length:
        msg = f"{subject}is {len(value):,} characters long: accepted is {accepted}"
        raise InvalidInputError(msg, **fields, length=len(value))
    found = _unsafe(value, multiline=multiline)
    if found is not None:
        position, ch, what = found
        msg = (
            f"{subject}contains {what} (U+{ord(ch):04X} at position {position}):"
            f" accepted is {accepted}"
        )
        raise InvalidInputError(msg, **fields, position=position, code_point=f"U+{ord(ch):04X}")
    if required and not value.strip():
        msg = f"{subject}must not be blank: accepted is {accepted}"
        raise InvalidInputError(msg, **fields)
    return value


def check_name(value: object, *, field: str | None = None) -> str:
    """A name: one line, 1..200 characters, not blank."""
    return check_text(value, field=field, max_length=NAME_MAX_LENGTH, required=True)


def check_reason(value: object, *, field: str | None = None) -> str:
    """A reason: one line, 1..2,000 characters, not blank."""
    return check_text(value, field=field, required=True)


def check_key(value: object, *, field: str | None = None) -> str:
    """A key (see the module docstring); the error never echoes what it refuses."""
    subject = _subject(field)
    fields = {"field": field} if field else {}
    if not isinstance(value, str):
        msg = f"{subject}must be a string of {KEY_ACCEPTED}; got {type(value).__name__}"
        raise InvalidInputError(msg, **fields)
    if not 1 <= len(value) <= KEY_MAX_LENGTH or not _KEY.fullmatch(value):
        shown = value if value.isascii() and value.isprintable() and len(value) <= 60 else None
        got = f"got {shown!r}" if shown is not None else f"got {len(value)} characters"
        msg = f"{subject}must be {KEY_ACCEPTED}; {got}"
        raise InvalidInputError(msg, **fields)
    return value
