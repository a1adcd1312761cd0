"""Checks of what a caller passes in: keys, base URLs, timeouts, counts and job ids.

Each returns the value it checked (normalized) or raises ConfigurationError, before any
request is made, with a message that never repeats a key.
"""

import ipaddress
import math
from typing import Optional, Tuple
from urllib.parse import quote, urlsplit

from .errors import ConfigurationError

MAX_ID_CHARS = 1024
MAX_TIMEOUT = 86400.0  # no single request waits more than a day; longer is a mistake

Timeout = Tuple[float, float]


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_key(provider: str, key: object, variable: str) -> str:
    """The API key, if it can be sent as a header value."""
    if not key:
        raise ConfigurationError(f"no {provider} API key: pass api_key= or set {variable}")
    if not (isinstance(key, str) and key.isascii() and key.isprintable() and key == key.strip()):
        raise ConfigurationError(
            f"the {provider} API key is not a valid header value: printable ASCII only, "
            "no surrounding spaces"
        )
    return key


def is_loopback(host: str) -> bool:
    """Whether ``host`` is localhost, in 127.0.0.0/8 or ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(provider: str, url: object, allow_insecure: bool) -> str:
    """An http(s) base URL without query, fragment or credentials, its trailing / dropped."""
    if not isinstance(url, str):
        raise ConfigurationError(f"{provider} base URL must be a string, got {type(url).__name__}")
    shown = repr(url[:200])
    if not url.isprintable() or any(c.isspace() for c in url) or not url.isascii():
        raise ConfigurationError(
            f"bad {provider} base URL {shown}: spaces, control or non-ASCII characters"
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
    if parts.scheme == "http" and not allow_insecure and not is_loopback(host):
        raise ConfigurationError(
            f"{provider} base URL {shown} is plain http: the API key would travel in clear "
            "text. Use https, or pass allow_insecure=True"
        )
    return url.rstrip("/")


def check_timeout(timeout: object) -> Timeout:
    """A ``(connect, read)`` pair from a number or a pair of positive seconds (at most a day)."""
    parts = timeout if isinstance(timeout, tuple) else (timeout,)
    if timeout is None or len(parts) not in (1, 2) or not all(
        _is_number(p) and math.isfinite(p) and 0 < p <= MAX_TIMEOUT for p in parts
    ):
        raise ConfigurationError(
            f"timeout must be a positive number of seconds (at most {MAX_TIMEOUT:.0f}) or a "
            f"(connect, read) pair, got {timeout!r:.60}; a request without a timeout could "
            "hang forever"
        )
    connect, read = (parts[0], parts[-1])
    return float(connect), float(read)


def check_wait_timeout(timeout: object) -> Optional[float]:
    """A wait's overall deadline in seconds (>= 0), or None for no deadline."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0:
        raise ConfigurationError(f"timeout must be seconds >= 0 or None, got {timeout!r:.60}")
    return float(timeout)


def check_count(name: str, value: object, *, minimum: int = 0) -> int:
    """An int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(f"{name} must be an int >= {minimum}, got {value!r:.60}")
    return value


def check_rate(value: object) -> Optional[float]:
    """Requests per second (> 0, finite), or None for no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and value > 0):
        raise ConfigurationError(f"max_rate must be requests per second > 0 or None, "
                                 f"got {value!r:.60}")
    return float(value)


def check_job_id(value: object, what: str = "job id") -> str:
    """A job id that can name a job: a non-empty string, not ``.``/``..``, valid Unicode."""
    if not isinstance(value, str):
        raise ConfigurationError(f"{what} must be a string, got {type(value).__name__}")
    # a str subclass could compare or print as something else: its plain string value
    job_id: str = value if type(value) is str else str.__str__(value)
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
        raise ConfigurationError(f"kind must be a non-empty string, got {value!r:.60}")
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
