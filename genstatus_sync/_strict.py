"""Decoded JSON into the generated models, strictly: a value of the wrong JSON type is an
error, never coerced (``"false"`` is not True, ``200.7`` is not 200).

The generated model modules carry one structure function per class (written by
scripts/generate_models.py, checked by its ``--check``), built from the checks here: they
need neither cattrs nor any code built at run time. The cattrs converter (``_convert``) uses
the same checks, so the two paths agree.
"""

import json
import math
import re
import sys
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple, Type, TypeVar

from ._open_enum import OpenEnum

__all__ = ["MAX_JSON_VALUES", "Declined", "Mismatch", "NotFinite", "TooManyValues",
           "format_datetime", "loads", "parse_datetime"]

E = TypeVar("E", bound=OpenEnum)

_DATETIME = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?"
    r"(?:([Zz])|([+-])(\d\d):?(\d\d))?",
    re.ASCII,
)

# From 3.11 on, fromisoformat takes "Z" and any number of fraction digits.
FROMISOFORMAT_READS_RFC3339 = sys.version_info >= (3, 11)


# Decoding a body within the 10 MB size cap may take many times its size: "[{},{},...]"
# becomes 25 times its size in objects, and one character beyond U+FFFF makes a string take 4
# bytes per character. A status reply holds a few hundred values; these bounds keep what any
# reply decodes into to a few times the cap's size at most.
MAX_JSON_VALUES = 100_000
MAX_STRING_BYTES = 10 * 2**20
# Nor does one nest deeper than a few levels: a deeper body is refused before decoding, so that
# no reply takes the decoder near the interpreter's recursion limit (where anything else that
# runs then, a finalizer in the user's code, would fail with RecursionError).
MAX_DEPTH = 200
# Strings are read with their escapes taken out first (``\\.``, as the decoder reads them:
# outside a string, a backslash is no JSON), then as a quote, anything but a quote, and the
# next quote or the end: a pattern that never fails, so each string is read once (a string
# left open and retried from each of its quotes took a time quadratic in its size), and whose
# repeats are of one character class (a repeat of alternatives keeps a note per step in the
# engine: 1.2 GB for a 10 MB string).
_ESCAPE = re.compile(r"\\.", re.DOTALL)
_STRING = re.compile(r'"[^"]*(?:"|\Z)')
_BRACKET = re.compile(r"[\[\]{}]")
_BEYOND_LATIN_1 = re.compile(rb"[\xc4-\xef]|\\u(?:0[1-9a-fA-F]|[1-9a-fA-F])")
_BEYOND_BMP = re.compile(rb"[\xf0-\xf4]|\\u[dD][89abAB]")
# where a decoded string may hold a lone surrogate: a surrogate's escape, or one encoded raw
# (in UTF-8, as the bytes ED A0-BF ..)
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
_RAW_SURROGATE = re.compile(r"[\ud800-\udfff]")


class Declined(ValueError):
    """A body that is not decoded, for the reason its message gives (shown as it is)."""


class TooManyValues(Declined):
    """A JSON body that would decode into far more memory than its size."""


class NotFinite(Declined):
    """A JSON body with a number no float holds (1e400), or Python's NaN and Infinity, which
    are not JSON: a non-finite progress would reach JobStatus and the CLI's --json output."""


def _constant(name: str) -> float:
    raise NotFinite(f"not JSON ({name} is not a JSON number)")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotFinite("out of range (a number no float holds)")
    return value


def loads(body: bytes, pairs: Optional[Callable[[List[Tuple[str, Any]]], Any]] = None) -> Any:
    """``json.loads(body)`` (``pairs``: its object_pairs_hook); raises TooManyValues, before
    decoding, for a body of more than MAX_JSON_VALUES values (counted by commas, colons and
    opening brackets) or one whose strings could take more than MAX_STRING_BYTES."""
    if len(body) > MAX_JSON_VALUES:  # a smaller body cannot decode into much more than itself
        if sum(body.count(mark) for mark in (b",", b":", b"[", b"{")) > MAX_JSON_VALUES:
            raise TooManyValues(f"too large to decode (more than {MAX_JSON_VALUES} JSON values)")
        width = 4 if _BEYOND_BMP.search(body) else 2 if _BEYOND_LATIN_1.search(body) else 1
        if len(body) * width > MAX_STRING_BYTES:
            raise TooManyValues(f"too large to decode ({len(body)} bytes of characters "
                                f"{width} bytes wide)")
    # decoded as json.loads decodes bytes (UTF-8, or UTF-16/32 by its first bytes), and the
    # nesting counted in that text: in a UTF-16 body, a byte 0x22 is no quote
    encoding = json.detect_encoding(body)
    text = body.decode(encoding, "surrogatepass")
    if text.count("[") + text.count("{") > MAX_DEPTH:
        _check_depth(text)
    value = json.loads(text, parse_constant=_constant, parse_float=_finite,
                       object_pairs_hook=pairs)
    if ("\\u" in text and _ESCAPED_SURROGATE.search(text) is not None) or (
            (encoding != "utf-8" or b"\xed" in body) and _RAW_SURROGATE.search(text) is not None):
        _check_unicode(value)
    return value


def _check_unicode(value: Any) -> None:
    """Declined for a decoded value with a string (or key) that is no valid Unicode: a lone
    surrogate, which no text of the user's can hold (it cannot be encoded, printed or stored;
    a pair of escapes for one character beyond the BMP is decoded into that character)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise Declined("not valid Unicode (a string with a lone surrogate)") from None


def _check_depth(text: str) -> None:
    """Declined for a text whose arrays and objects nest deeper than MAX_DEPTH (brackets in
    strings not counted)."""
    depth = 0
    for bracket in _BRACKET.finditer(_STRING.sub("", _ESCAPE.sub("", text))):
        if bracket.group() in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                raise Declined(f"nested too deeply (more than {MAX_DEPTH} levels)")
        else:
            depth -= 1


class Mismatch(ValueError):
    """A JSON value of the wrong kind; its message says what was expected."""


def kind(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
             int: "an integer", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def expected(what: str, value: object) -> Mismatch:
    return Mismatch(f"expected {what}, got {kind(value)}")


# Exact type checks: json.loads makes no subclasses, and `type(v) is int` also turns bool away.

def string(value: object, _: Any = None) -> str:
    if value.__class__ is str:
        return value
    raise expected("a string", value)


def integer(value: object, _: Any = None) -> int:
    if value.__class__ is int:
        return value
    raise expected("an integer", value)


def number(value: object, _: Any = None) -> float:
    if value.__class__ is float:
        return value
    if value.__class__ is int:
        try:
            return float(value)
        except OverflowError:
            raise Mismatch("number out of range") from None
    raise expected("a number", value)


def boolean(value: object, _: Any = None) -> bool:
    if value is True or value is False:
        return value
    raise expected("a boolean", value)


def enum(value: object, cls: Type[E]) -> E:
    """A member of the open enum ``cls``; an unknown string becomes a member too."""
    if value.__class__ is str:
        member = cls._value2member_map_.get(value)  # what cls(value) finds, without its work
        return cls(value) if member is None else member  # type: ignore[return-value]
    raise expected("a string", value)


def obj(value: object, _: Any = None) -> Dict[str, Any]:
    """A free-form JSON object, kept as sent."""
    if value.__class__ is dict:
        return value
    raise expected("an object", value)


def array(value: object, _: Any = None) -> List[Any]:
    """A JSON array (a copy); any other value, even a string, is a mismatch."""
    if value.__class__ is list:
        return list(value)
    raise expected("an array", value)


def strings(value: object) -> List[str]:
    return [v if v.__class__ is str else string(v) for v in array(value)]


def parse_datetime(value: object, _: Any = None) -> datetime:
    """Parse an RFC 3339 / ISO 8601 date-time (``Z``, offsets, any fraction) on every Python."""
    if not isinstance(value, str):
        raise expected("a date-time string", value)
    match = _DATETIME.fullmatch(value)
    if match is None:
        raise Mismatch(f"expected an ISO 8601 date-time, got {value[:40]!r}")
    if FROMISOFORMAT_READS_RFC3339:
        try:
            return datetime.fromisoformat(value)  # the same result, several times faster
        except ValueError:
            pass  # the reading below says why, or takes what 3.11 does not ("z", "+0530")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    tz: Optional[timezone] = None
    if zulu:
        tz = timezone.utc
    elif sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        tz = timezone(-offset if sign == "-" else offset)
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                        micro, tzinfo=tz)
    except ValueError as exc:
        raise Mismatch(f"invalid date-time {value[:40]!r}: {exc}") from None


def format_datetime(value: datetime) -> str:
    """Write a date-time as the providers do: ``2026-05-10T00:00:00.000Z`` when in UTC."""
    timespec = "milliseconds" if value.microsecond % 1000 == 0 else "microseconds"
    if value.utcoffset() == timedelta(0):
        return value.replace(tzinfo=None).isoformat(timespec=timespec) + "Z"
    return value.isoformat(timespec=timespec)
