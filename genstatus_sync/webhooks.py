"""Receiving provider pushes: ``parse`` reads one into a ``JobStatus``, ``verify`` checks an
HMAC-SHA256 signature, ``verify_clipia`` does it from Clipia's headers.

Sivi and Clipia push status updates; Rivya and SellerPic document none. Neither document
shows a push body (the shapes assumed are in ``openapi/*.yaml``, ``WebhookEvent``, marked
inferred):

* Sivi: the status reply, the envelope ``{"status": 200, "body": {...}}`` or its body alone.
  Its document names no signature: ``parse`` it; there is nothing of Sivi's to verify.
* Clipia: the status reply's fields and, once terminal, the result's ``output`` and
  ``error``. Its pushes are "signed with HMAC-SHA256", headers and signed content unnamed:
  ``ClipiaSignature`` says what is assumed (``DEFAULT_CLIPIA_SIGNATURE``) and can be changed.

``verify`` and ``sign`` need only the standard library; ``parse`` loads the models and the
provider modules on its first call.
"""

import base64
import binascii
import hashlib
import hmac
import math
import re
import time
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Set,
    Tuple,
    Type,
    TypeVar,
    Union,
)

from ._config import check_job_id, check_number, read_clock, shown
from ._registry import PROVIDERS
from ._strict import Declined, loads
from .errors import ConfigurationError, ResponseFormatError, WebhookVerificationError

if TYPE_CHECKING:
    from email.message import Message

    from .status import JobStatus

__all__ = ["DEFAULT_CLIPIA_SIGNATURE", "ClipiaSignature", "parse", "sign", "verify",
           "verify_clipia"]

WEBHOOK_PROVIDERS = ("sivi", "clipia")
ENCODINGS = ("hex", "base64", "base64url")
SIGNED = ("timestamp.body", "body")
MAX_CANDIDATES = 16
_DIGEST_SIZE = hashlib.sha256().digest_size
_HEX = re.compile(r"[0-9a-fA-F]{64}")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{43}={0,1}")
_UNIX_SECONDS = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,9})?")  # ASCII digits only
_SEPARATORS = re.compile(r"[,\s]+")

Headers = Union[Mapping[str, str], "Message"]
T = TypeVar("T")


# -- parse ----------------------------------------------------------------------------------

def parse(provider: str, body: bytes) -> "JobStatus":
    """Return the ``JobStatus`` a push of ``provider`` (``"sivi"`` or ``"clipia"``) carries.

    ``body`` is the raw request body. Sivi's ``raw`` is its ``models.sivi.RequestStatus``
    (as ``get_status`` returns), Clipia's the ``models.clipia.WebhookEvent``; Clipia's
    ``result_urls`` are the ``url`` values under ``output`` (empty when the push has none:
    ``ClipiaClient.get_result`` then has them). Raises ResponseFormatError for a body that is
    not bytes, not JSON (an object with a key twice included: parsers differ on which one
    counts) or off the spec (a Sivi envelope whose status is not 200 included, or a job id
    that no client could poll: empty, ``.``, ``..``, over 1,024 characters, not valid Unicode),
    ConfigurationError for a provider without webhooks. Parsing checks no signature: verify
    first.
    """
    if provider not in WEBHOOK_PROVIDERS:
        if provider in PROVIDERS:
            raise ConfigurationError(f"{provider} documents no webhooks: poll it instead")
        raise ConfigurationError(f"unknown webhook provider {shown(provider)}; one of "
                                 f"{', '.join(WEBHOOK_PROVIDERS)}")
    data = _json(provider, body)
    status = _parse_sivi(data) if provider == "sivi" else _parse_clipia(data)
    try:  # an id no client could poll ("", "..", a lone surrogate) names no job of the user's
        check_job_id(status.job_id, "the job id")
    except ConfigurationError as exc:
        raise ResponseFormatError(f"{provider}: webhook body names no job: {exc}",
                                  provider=provider) from None
    return status


def _json(provider: str, body: object) -> object:
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise ResponseFormatError(f"{provider}: a webhook body must be the raw bytes received, "
                                  f"got {type(body).__name__}", provider=provider)
    try:  # (bounded: a small body cannot decode into a huge one)
        return loads(bytes(body), pairs=_unique)
    except RecursionError:
        failure = "nested too deeply"
    except Declined as exc:
        failure = str(exc)
    except ValueError:  # UnicodeDecodeError included
        failure = "not JSON"
    raise ResponseFormatError(f"{provider}: webhook body ({len(body)} bytes) is {failure}",
                              provider=provider)


def _unique(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    """An object of a push, refused when it has a key twice: which of them counts differs
    between parsers (a proxy in front may have read the other), so neither is guessed."""
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: Set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise Declined(f"ambiguous: it has the key {key!r} twice in one object")
            seen.add(key)
    return found


def _structure(data: object, cls: Type[T], provider: str) -> T:
    from ._convert import structure

    try:
        return structure(data, cls, provider=provider)
    except ResponseFormatError as exc:  # the same message, about a push rather than a reply
        message = exc.message.replace(": reply does not fit ", ": webhook body does not fit ", 1)
        raise ResponseFormatError(message, provider=provider) from None


def _parse_sivi(data: object) -> "JobStatus":
    from .models import sivi
    from .providers.sivi import normalize

    if isinstance(data, dict) and "body" in data:  # the status reply's envelope
        event = _structure(data, sivi.WebhookEvent, "sivi")
        if event.status is not None and event.status != 200:
            raise ResponseFormatError(f"sivi: webhook envelope status is {event.status}, not "
                                      "200: it carries no request status", provider="sivi")
        model = event.body
    else:  # the request status alone
        model = _structure(data, sivi.RequestStatus, "sivi")
    return normalize(model, model.request_id)


def _parse_clipia(data: object) -> "JobStatus":
    import attrs

    from .models import clipia
    from .providers.clipia import failure_reason, normalize, output_urls

    event = _structure(data, clipia.WebhookEvent, "clipia")
    # The push holds a status reply's fields: the client's own normalization reads them.
    status = normalize(_structure(data, clipia.RequestStatus, "clipia"), event.request_id)
    if event.output is None and event.error is None:
        return attrs.evolve(status, raw=event)
    # as ClipiaClient does with the result it fetches once the status is terminal
    return attrs.evolve(status, result_urls=tuple(output_urls(event.output)),
                        error=failure_reason(event.error) or status.error, raw=event)


# -- sign and verify ------------------------------------------------------------------------

def sign(body: bytes, secret: Union[str, bytes], *, timestamp: Union[int, float, str, None] = None,
         encoding: str = "hex") -> str:
    """Return the HMAC-SHA256 of ``body`` (or of ``timestamp.body``) with ``secret``, in
    ``encoding`` (``hex``, ``base64`` or ``base64url``): what ``verify`` accepts. Raises
    ConfigurationError for an empty secret, a non-bytes body or an unknown encoding, and
    WebhookVerificationError for a timestamp that is not Unix seconds."""
    if encoding not in ENCODINGS:
        raise ConfigurationError(f"encoding must be one of {', '.join(ENCODINGS)}, "
                                 f"got {shown(encoding)}")
    key, data = _key(secret), _body(body)
    stamp = None if timestamp is None else _timestamp(timestamp)[0]
    digest = _digest(key, data, stamp)
    if encoding == "hex":
        return digest.hex()
    if encoding == "base64":
        return base64.b64encode(digest).decode("ascii")
    return base64.urlsafe_b64encode(digest).decode("ascii")


def verify(body: bytes, signature: str, secret: Union[str, bytes], *,
           timestamp: Union[int, float, str, None] = None, tolerance: Optional[float] = 300.0,
           now: Optional[Callable[[], float]] = None) -> None:
    """Check that ``signature`` is the HMAC-SHA256 of the raw ``body`` with ``secret``, or of
    ``timestamp`` + ``"."`` + ``body`` when a timestamp is given; return None, or raise
    WebhookVerificationError saying why (never with the secret or the expected signature).

    * ``secret``: ``str`` (its UTF-8 bytes are the key) or ``bytes``, used as given (a
      ``whsec_...`` string is not decoded).
    * ``signature``: lower- or upper-case hex, or base64 (standard or URL-safe, padded or
      not), with an optional ``sha256=`` prefix; several candidates separated by commas or
      whitespace (a provider rotating secrets sends one per secret) pass when any one
      matches. Each is compared with ``hmac.compare_digest``.
    * ``timestamp``: Unix seconds, an ``int``, a ``float`` or a string of ASCII digits
      (maybe with a fraction). Its text is what was signed, so pass the header's value as
      received (an ``int`` is signed as its digits, an integral ``float`` as its whole
      number, another float as ``repr``). Once the signature matches, a timestamp more
      than ``tolerance`` seconds before or after ``now()`` (default ``time.time``) is
      refused; ``tolerance=None`` skips that check (then a captured push can be replayed).

    Raises ConfigurationError for an empty secret, a body that is not bytes, or arguments of
    the wrong type.
    """
    key, data = _key(secret), _body(body)
    check_tolerance = _tolerance(tolerance)
    clock = _clock(now)
    stamp, seconds = (None, 0.0) if timestamp is None else _timestamp(timestamp)
    candidates = _candidates(_signature(signature))
    expected = _digest(key, data, stamp)
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(candidate, expected)
    if not matched:
        what = "over the timestamp and body" if stamp is not None else "over the body"
        raise WebhookVerificationError(
            f"webhook signature does not match ({len(candidates)} candidate"
            f"{'' if len(candidates) == 1 else 's'} checked, HMAC-SHA256 {what}): wrong "
            "secret, or a body changed on the way (verify the raw bytes, before any parsing)")
    if stamp is not None and check_tolerance is not None:
        reading = read_clock(clock, "now() must return Unix seconds (as time.time)")
        if reading > _MILLISECONDS > seconds:
            raise ConfigurationError(f"now() must return Unix seconds (as time.time), got "
                                     f"{reading:.0f}: milliseconds?")
        age = reading - seconds
        if age > check_tolerance:
            raise WebhookVerificationError(
                f"webhook timestamp is {_over(age, check_tolerance)} s old, more than the "
                f"tolerance of {check_tolerance:g} s (a replay, or a clock off)")
        if -age > check_tolerance:
            why = ("in milliseconds? Unix seconds are expected" if seconds > _MILLISECONDS
                   else "a clock off")
            raise WebhookVerificationError(
                f"webhook timestamp is {_over(-age, check_tolerance)} s in the future, more than "
                f"the tolerance of {check_tolerance:g} s ({why})")


_MILLISECONDS = 1e11  # Unix seconds of the year 5138; milliseconds of 1973


def _over(seconds: float, limit: float) -> str:
    """``seconds`` with as few decimals as show it above ``limit`` (300.4 s, not 300 s, past
    a tolerance of 300 s)."""
    for decimals in range(4):
        text = f"{seconds:.{decimals}f}"
        if float(text) > limit:
            return text
    return repr(seconds)


def _key(secret: object) -> bytes:
    if isinstance(secret, str):
        try:
            key: Optional[bytes] = secret.encode("utf-8")
        except UnicodeEncodeError:  # it holds the secret (.object): raised outside, not chained
            key = None
        if key is None:
            raise ConfigurationError("the webhook secret is not valid text "
                                     "(it holds a lone surrogate)")
    elif isinstance(secret, (bytes, bytearray)):
        key = bytes(secret)
    else:
        raise ConfigurationError(f"the webhook secret must be str or bytes, "
                                 f"got {type(secret).__name__}")
    if not key:
        raise ConfigurationError("the webhook secret is empty: nothing could be verified")
    return key


def _body(body: object) -> bytes:
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise ConfigurationError(f"the webhook body must be the raw bytes received, got "
                                 f"{type(body).__name__} (a decoded or re-encoded body may "
                                 "differ from what was signed)")
    return bytes(body)


def _signature(signature: object) -> str:
    if isinstance(signature, (bytes, bytearray)):
        return bytes(signature).decode("ascii", "replace")
    if not isinstance(signature, str):
        raise ConfigurationError(f"signature must be a str, got {type(signature).__name__}")
    return signature


def _tolerance(tolerance: object) -> Optional[float]:
    if tolerance is None:
        return None
    return check_number(tolerance, "tolerance must be a number of seconds >= 0 or None",
                        maximum=math.inf)


def _clock(now: object) -> Callable[[], float]:
    if now is None:
        return time.time
    if not callable(now):
        raise ConfigurationError(f"now must be a function returning Unix seconds "
                                 f"(as time.time), got {type(now).__name__}")
    return now


def _timestamp(value: object) -> Tuple[bytes, float]:
    """(the signed text, the seconds) of a timestamp argument."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, bytes)):
        raise ConfigurationError(f"timestamp must be Unix seconds (int, float or str), "
                                 f"got {type(value).__name__}")
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str):
        if not _UNIX_SECONDS.fullmatch(value):
            raise WebhookVerificationError("webhook timestamp is not Unix seconds (ASCII "
                                           f"digits, at most 15 before a point): {value[:40]!r}")
        return value.encode("ascii"), float(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise WebhookVerificationError(f"webhook timestamp is not Unix seconds: {shown(value)}")
    if not 0 <= value < 10**15:
        raise WebhookVerificationError(f"webhook timestamp is out of range: {shown(value)}")
    if isinstance(value, float):
        text = str(int(value)) if value.is_integer() else repr(value)
    else:
        text = str(value)
    return text.encode("ascii"), float(value)


def _digest(key: bytes, body: bytes, stamp: Optional[bytes]) -> bytes:
    signed = body if stamp is None else stamp + b"." + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def _candidates(signature: str) -> List[bytes]:
    """The digests written in a signature value (hex or base64, ``sha256=`` allowed)."""
    parts = [part for part in _SEPARATORS.split(signature) if part]
    if not parts:
        raise WebhookVerificationError("webhook signature is empty")
    if len(parts) > MAX_CANDIDATES:
        raise WebhookVerificationError(f"webhook signature has {len(parts)} candidates, more "
                                       f"than the {MAX_CANDIDATES} checked")
    digests = [digest for digest in map(_decode, parts) if digest is not None]
    if not digests:
        raise WebhookVerificationError(
            "webhook signature is not a SHA-256 digest in hex or base64 "
            f"({len(parts)} candidate{'' if len(parts) == 1 else 's'}, optionally sha256=...)")
    return digests


def _decode(part: str) -> Optional[bytes]:
    if part[:7].lower() == "sha256=":
        part = part[7:]
    if _HEX.fullmatch(part):
        return bytes.fromhex(part)
    if not _BASE64.fullmatch(part):
        return None
    standard = part.rstrip("=").replace("-", "+").replace("_", "/") + "="
    try:
        digest = base64.b64decode(standard, validate=True)
    except (binascii.Error, ValueError):
        return None
    return digest if len(digest) == _DIGEST_SIZE else None


# -- Clipia ---------------------------------------------------------------------------------

# A stdlib dataclass rather than attrs: FakeProviders, standard library only, signs with it.
@dataclass(frozen=True)
class ClipiaSignature:
    """Where Clipia's webhook signature travels and what it covers. Clipia's document says
    only that pushes are signed with HMAC-SHA256; the default is an assumption:

    * ``header``: the signature, ``X-Clipia-Signature``;
    * ``timestamp_header``: the Unix seconds it was signed at, ``X-Clipia-Timestamp``;
    * ``signed``: ``"timestamp.body"`` (the timestamp header's value, a dot, the raw body:
      the common scheme that lets a receiver refuse replays) or ``"body"`` (the raw body
      alone, no timestamp: ``timestamp_header`` may then be None);
    * ``encoding``: how ``headers()`` writes the signature, ``hex``, ``base64`` or
      ``base64url`` (verification accepts any of them, and a ``sha256=`` prefix).

    Raises ConfigurationError for a value outside these.
    """

    header: str = "X-Clipia-Signature"
    timestamp_header: Optional[str] = "X-Clipia-Timestamp"
    encoding: str = "hex"
    signed: str = "timestamp.body"

    def __post_init__(self) -> None:
        if not isinstance(self.header, str) or not self.header.strip():
            raise ConfigurationError(f"header must be a header name, got {shown(self.header)}")
        if self.encoding not in ENCODINGS:
            raise ConfigurationError(f"encoding must be one of {', '.join(ENCODINGS)}, "
                                     f"got {shown(self.encoding)}")
        if self.signed not in SIGNED:
            raise ConfigurationError(f"signed must be one of {', '.join(SIGNED)}, "
                                     f"got {shown(self.signed)}")
        stamp = self.timestamp_header
        if self.signed == "timestamp.body" and (not isinstance(stamp, str) or not stamp.strip()):
            raise ConfigurationError(f'signed="timestamp.body" needs a timestamp_header, '
                                     f"got {shown(stamp)}")

    def headers(self, body: bytes, secret: Union[str, bytes], *,
                now: Optional[Callable[[], float]] = None) -> Dict[str, str]:
        """The signature headers for a push of ``body`` signed with ``secret`` at ``now()``
        (whole Unix seconds; default ``time.time``): what a sender (FakeProviders) adds."""
        if self.signed == "body":
            return {self.header: sign(body, secret, encoding=self.encoding)}
        assert self.timestamp_header is not None  # __post_init__ saw to it
        seconds = read_clock(_clock(now), "now() must return Unix seconds (as time.time)")
        if not 0 <= seconds < 10**15:
            raise ConfigurationError(f"now() must return Unix seconds (as time.time), got "
                                     f"{shown(seconds)}: out of range")
        stamp = str(int(seconds))
        return {self.timestamp_header: stamp,
                self.header: sign(body, secret, timestamp=stamp, encoding=self.encoding)}


DEFAULT_CLIPIA_SIGNATURE = ClipiaSignature()


def verify_clipia(headers: Headers, body: bytes, secret: Union[str, bytes], *,
                  scheme: ClipiaSignature = DEFAULT_CLIPIA_SIGNATURE,
                  tolerance: Optional[float] = 300.0,
                  now: Optional[Callable[[], float]] = None) -> None:
    """``verify`` a Clipia push from its request ``headers`` (any mapping, or the
    ``email.message.Message`` of ``http.server``; names matched case-insensitively) and raw
    ``body``, as ``scheme`` says (default: ``DEFAULT_CLIPIA_SIGNATURE``). Several signature
    headers are candidates together; a missing header or more than one timestamp header
    raises WebhookVerificationError, as a signature or timestamp that does not check out."""
    if not isinstance(scheme, ClipiaSignature):
        raise ConfigurationError(f"scheme must be a ClipiaSignature, "
                                 f"got {type(scheme).__name__}")
    signatures = _header(headers, scheme.header)
    if not signatures:
        raise WebhookVerificationError(f"webhook has no {scheme.header} header")
    timestamp = None
    if scheme.signed == "timestamp.body":
        assert scheme.timestamp_header is not None
        stamps = _header(headers, scheme.timestamp_header)
        if not stamps:
            raise WebhookVerificationError(f"webhook has no {scheme.timestamp_header} header")
        if len(stamps) > 1:
            raise WebhookVerificationError(
                f"webhook has {len(stamps)} {scheme.timestamp_header} headers; one is signed")
        timestamp = stamps[0]
    verify(body, ", ".join(signatures), secret, timestamp=timestamp, tolerance=tolerance,
           now=now)


def _header(headers: object, name: str) -> List[str]:
    """Every value of header ``name`` (case-insensitive), stripped."""
    items = getattr(headers, "items", None)
    if not callable(items):
        raise ConfigurationError(f"headers must be a mapping of header names to values, "
                                 f"got {type(headers).__name__}")
    wanted = name.strip().lower()
    found: Iterable[Tuple[object, object]] = items()
    values = []
    for key, value in found:
        if isinstance(key, bytes):
            key = key.decode("latin-1")
        if not (isinstance(key, str) and key.strip().lower() == wanted):
            continue
        # a framework's multi-valued header: each value counts, as repeated headers do
        for one in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(one, bytes):
                one = one.decode("latin-1")
            if not isinstance(one, str):
                raise ConfigurationError(f"header {name} must have text values (str or bytes, "
                                         f"or a list of them), got {type(one).__name__}")
            values.append(one.strip())
    return values
