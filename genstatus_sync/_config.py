"""Checks of what a caller passes in: keys, base URLs, timeouts, counts and job ids.

Each returns the value it checked (normalized) or raises ConfigurationError, before any
request is made, with a message that never repeats a key.
"""

import ipaddress
import math
import re
import sys
import time
from typing import Any, Callable, Optional, Tuple, TypeVar
from urllib.parse import quote, urlsplit

from .errors import ConfigurationError

Args = Tuple[Tuple[str, str], ...]  # provider arguments, as (name, value) pairs

MAX_ID_CHARS = 1024
MAX_TIMEOUT = 86400.0  # no single request waits more than a day; longer is a mistake

Timeout = Tuple[float, float]
F = TypeVar("F", bound=Callable[..., Any])

# host[:port] or [IPv6][:port]; a host is dot-separated labels of letters, digits, "-" (not
# first or last) and "_", as DNS names and IPv4 addresses are, with an optional final dot
_NETLOC = re.compile(r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]]+))(?::(?P<port>[0-9]*))?",
                     re.ASCII)
_HOST = re.compile(r"(?:(?!-)[A-Za-z0-9_-]{1,63}(?<!-)\.)*(?!-)[A-Za-z0-9_-]{1,63}(?<!-)\.?",
                   re.ASCII)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


SHOWN_CHARS = 60  # a value in a message is cut to this many characters


def shown(value: object) -> str:
    """``value`` as a message shows it: its repr cut to SHOWN_CHARS characters, but never the
    digits of a huge int (the repr of one past 4,300 digits raises ValueError) and never a
    repr that fails (a tuple holding such an int, a broken ``__repr__``): its type then."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 190:
        return f"a{' negative' if value < 0 else 'n'} int of {value.bit_length()} bits"
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - whatever a repr raises, the message still gets made
        return type(value).__name__
    return text[:SHOWN_CHARS]


def as_float(value: object) -> Optional[float]:
    """``value`` as a float when it is a number (an int or a float, not a bool) that a float
    can hold, NaN and the infinities included; None for anything else, an int beyond a
    float's range (``float()`` of it raises OverflowError) included."""
    if not _is_number(value):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (OverflowError, TypeError, ValueError):  # too large, or a subclass's odd __float__
        return None


def check_number(value: object, expected: str, *, positive: bool = False,
                 maximum: float = sys.float_info.max) -> float:
    """``value`` as a float, if it is a number >= 0 (> 0 when ``positive``) and at most
    ``maximum`` (finite then, unless ``maximum`` is ``math.inf``), not NaN. Else
    ConfigurationError ``"{expected}, got {shown(value)}"``: this is the check of every
    seconds, rate or tolerance argument, so that no number (a huge int, NaN, a bool) makes
    any other exception."""
    number = as_float(value)
    if number is None or not (number > 0 if positive else number >= 0) or not number <= maximum:
        beyond = ", beyond a float's range" if number is None and isinstance(
            value, int) and not isinstance(value, bool) and value > 0 else ""
        raise ConfigurationError(f"{expected}, got {shown(value)}{beyond}")
    return number


def plain(value: str) -> str:
    """A str's plain value: a subclass could compare, print or encode as something else."""
    return value if type(value) is str else str.__str__(value)


def is_given(value: object) -> bool:
    """Whether an optional string argument was given: not None, not the empty string."""
    return value is not None and not (isinstance(value, str) and not plain(value))


def check_key(provider: str, key: object, variable: str, *, from_env: bool = False) -> str:
    """The API key, if it can be sent as a header value and holds no space (no provider's
    key does: a space means a scheme word, ``"Bearer abc"``, that the client would send
    twice). ``from_env``: it was read from ``variable``, which the message then names; no
    message shows any part of the key."""
    if isinstance(key, str):
        key = plain(key)
    if key is None or (isinstance(key, str) and not key):
        raise ConfigurationError(f"no {provider} API key: pass api_key= or set {variable}")
    where = variable if from_env else "api_key="
    if not (isinstance(key, str) and key.isascii() and key.isprintable()):
        raise ConfigurationError(
            f"the {provider} API key ({where}) is not a valid header value: printable ASCII "
            f"only{_why_not_printable(key)}"
        )
    if " " in key:
        raise ConfigurationError(
            f"the {provider} API key ({where}) contains a space, and keys have none: give the "
            "key alone, without a scheme word such as 'Bearer' or 'Key' (the client writes "
            "the header's scheme itself) and without surrounding spaces"
        )
    return key


def _why_not_printable(key: object) -> str:
    """Where a key's first character that cannot be sent is (its place only, nothing of the
    key): a line end left at its end by a file written on Windows is the usual one."""
    if not isinstance(key, str):
        return f" (got {type(key).__name__})"
    at = next(i for i, c in enumerate(key) if not (c.isascii() and c.isprintable()))
    if key[at:].strip("\r\n") == "":
        return " (it ends in a line end: a .env file with CRLF line ends?)"
    return f" (character {at + 1} is not)"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is localhost, in 127.0.0.0/8 or ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


INSECURE_HINT = ", or pass allow_insecure=True"  # (the CLI, which has no such option, drops it)


def check_base_url(provider: str, url: object, allow_insecure: bool) -> str:
    """An http(s) base URL without query, fragment or credentials, its trailing / dropped."""
    if not isinstance(url, str):
        raise ConfigurationError(f"{provider} base URL must be a string, got {type(url).__name__}")
    url = plain(url)
    shown = repr(url[:200])
    if not url.isprintable() or any(c.isspace() for c in url) or not url.isascii() or (
            "\\" in url):
        raise ConfigurationError(
            f"bad {provider} base URL {shown}: spaces, control, non-ASCII characters or "
            "backslashes"
        )
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigurationError(f"bad {provider} base URL {shown}: {exc}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigurationError(
            f"bad {provider} base URL {shown}: expected http(s)://host[:port][/prefix]"
        )
    if parts.query or parts.fragment or "@" in parts.netloc or "?" in url or "#" in url:
        raise ConfigurationError(
            f"bad {provider} base URL: no query, fragment or credentials allowed"
        )
    if not _good_netloc(parts.netloc):
        raise ConfigurationError(
            f"bad {provider} base URL {shown}: the host must be a DNS name, an IPv4 address or "
            "a bracketed IPv6 address, the port 1 to 65535"
        )
    if parts.scheme == "http" and not allow_insecure and not is_loopback(host):
        raise ConfigurationError(
            f"{provider} base URL {shown} is plain http: the API key would travel in clear "
            f"text. Use https{INSECURE_HINT}"
        )
    return url.rstrip("/")


def _good_netloc(netloc: str) -> bool:
    found = _NETLOC.fullmatch(netloc)
    if found is None or (found["port"] and not 0 < int(found["port"]) <= 65535):
        return False
    if found["ipv6"] is not None:
        try:
            ipaddress.IPv6Address(found["ipv6"])
        except ValueError:
            return False
        return True
    return len(found["host"]) <= 253 and _HOST.fullmatch(found["host"]) is not None


def check_flag(name: str, value: object) -> bool:
    """A bool: a truthy string such as ``"false"`` from a config file is not taken for True."""
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, got {type(value).__name__}")
    return value


def check_callable(name: str, value: F) -> F:
    """A callable (a function or method to be called later, such as ``sleep=``)."""
    if not callable(value):
        raise ConfigurationError(f"{name} must be callable, got {type(value).__name__}")
    return value


def read_clock(clock: Callable[[], Any], expected: str) -> float:
    """``clock()`` as a float, if it is a finite number; else ConfigurationError ``"{expected},
    got ..."`` (a NaN reading would be a deadline that never comes, a str a TypeError deep
    inside). Every clock a caller gives (``clock=``, ``now=``) is read through this."""
    value = clock()
    number = as_float(value)
    if number is None or not math.isfinite(number):
        raise ConfigurationError(f"{expected}, got {shown(value)}")
    return number


CLOCK_EXPECTED = "clock() must return seconds (a finite number, as time.monotonic)"


def checked_clock(clock: Callable[[], Any]) -> Callable[[], float]:
    """``clock`` read through ``read_clock`` at every reading (not only the first: a reading
    that turns NaN later is a deadline that never comes); ``time.monotonic`` and
    ``time.time`` as they are."""
    if clock in (time.monotonic, time.time) or getattr(clock, "_checked", False):
        return clock

    def read() -> float:
        return read_clock(clock, CLOCK_EXPECTED)

    read._checked = True  # type: ignore[attr-defined]
    return read


def check_transport(transport: object) -> None:
    """None, or an object with the Transport methods ``get`` and ``close``."""
    if transport is not None and not (callable(getattr(transport, "get", None))
                                      and callable(getattr(transport, "close", None))):
        raise ConfigurationError(f"transport must have get() and close() methods, got "
                                 f"{type(transport).__name__}")


def check_timeout(timeout: object) -> Timeout:
    """A ``(connect, read)`` pair from a number or a pair of positive seconds (at most a day)."""
    parts = timeout if isinstance(timeout, tuple) else (timeout,)
    numbers = [n for n in map(as_float, parts[:2]) if n is not None and 0 < n <= MAX_TIMEOUT]
    if timeout is None or len(parts) not in (1, 2) or len(numbers) != len(parts):
        raise ConfigurationError(
            f"timeout must be a positive number of seconds (at most {MAX_TIMEOUT:.0f}) or a "
            f"(connect, read) pair, got {shown(timeout)}; a request without a timeout could "
            "hang forever"
        )
    return numbers[0], numbers[-1]


def check_wait_timeout(timeout: object) -> Optional[float]:
    """A wait's overall deadline in seconds (>= 0), or None for no deadline."""
    if timeout is None:
        return None
    return check_number(timeout, "timeout must be seconds >= 0 or None", maximum=math.inf)


def check_count(name: str, value: object, *, minimum: int = 0) -> int:
    """An int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(f"{name} must be an int >= {minimum}, got {shown(value)}")
    return value


MIN_RATE = 1e-9  # requests per second: one every 31 years; a slower one cannot be slept for


def check_rate(value: object) -> Optional[float]:
    """Requests per second (>= MIN_RATE, finite), or None for no limit."""
    if value is None:
        return None
    rate = check_number(value, "max_rate must be requests per second > 0 or None",
                        positive=True)
    if rate < MIN_RATE:
        raise ConfigurationError(f"max_rate must be at least {MIN_RATE:g} requests per second "
                                 f"(one every 31 years) or None, got {shown(value)}")
    return rate


def check_job_id(value: object, what: str = "job id") -> str:
    """A job id that can name a job: a non-empty string, not ``.``/``..``, valid Unicode."""
    if not isinstance(value, str):
        raise ConfigurationError(f"{what} must be a string, got {type(value).__name__}")
    job_id = plain(value)
    if job_id in ("", ".", ".."):
        raise ConfigurationError(f"{what} {job_id!r} cannot name a job")
    if len(job_id) > MAX_ID_CHARS:
        raise ConfigurationError(f"{what} is longer than {MAX_ID_CHARS} characters")
    try:
        job_id.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigurationError(
            f"{what} {job_id[:40]!r} is not valid Unicode (a lone surrogate)"
        ) from None
    return job_id


def encode_segment(job_id: str) -> str:
    """Percent-encode ``job_id`` as exactly one path segment."""
    return quote(job_id, safe="")


KIND_CHARS = 100  # a kind of job (a model, a template) is named in at most this many characters


def check_kind(value: object) -> str:
    """A kind of job, as ``wait(..., kind=...)`` names it: a non-empty string of at most
    KIND_CHARS characters, valid Unicode."""
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"kind must be a non-empty string, got {shown(value)}")
    kind: str = value if type(value) is str else str.__str__(value)
    if len(kind) > KIND_CHARS:
        raise ConfigurationError(f"kind is longer than {KIND_CHARS} characters")
    try:
        kind.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigurationError("kind is not valid Unicode (a lone surrogate)") from None
    return kind


def kind_of_reply(value: object) -> Optional[str]:
    """A kind read from a provider's reply (Rivya's ``model``): its first KIND_CHARS
    characters, made valid Unicode; None when the reply names none."""
    if not isinstance(value, str) or not value:
        return None
    text = str.__str__(value)[:KIND_CHARS]
    return text.encode("utf-8", "replace").decode("utf-8")
