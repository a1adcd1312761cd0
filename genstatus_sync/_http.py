"""The shared base of the provider clients: configuration, session, auth, timeouts, retries,
error mapping and redaction. The only module that touches ``requests`` exceptions."""

import ipaddress
import json
import logging
import math
import os
import random
import time
from email.utils import parsedate_to_datetime
from typing import (
    Any,
    Callable,
    ClassVar,
    Dict,
    Mapping,
    NoReturn,
    Optional,
    Tuple,
    Type,
    TypeVar,
    Union,
)
from urllib.parse import quote, urlsplit

import attrs
import requests

from ._convert import structure
from ._deadline import Bound, new_session
from ._version import __version__
from .backoff import Backoff
from .errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    GenerationFailed,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    TransportError,
)
from .status import JobStatus, State

logger = logging.getLogger("genstatus_sync")

Timeout = Union[float, Tuple[float, float]]
T = TypeVar("T")
ErrorDetails = Tuple[Optional[str], Union[int, str, None], Optional[str]]

MAX_BODY_BYTES = 10 * 1024 * 1024
SNIPPET_CHARS = 300
MAX_ID_CHARS = 1024
FINAL_POLL_GRACE = 0.5  # seconds a request may still take when a wait's deadline has come
RETRY_STATUSES = frozenset({429, 502, 503, 504})
_STATUS_ERRORS: Dict[int, Type[APIError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


def error_class(status: int) -> Type[APIError]:
    """The APIError subclass for an HTTP (or envelope) status code."""
    if status >= 500:
        return ServerError
    return _STATUS_ERRORS.get(status, APIError)


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Seconds to wait from a Retry-After header (seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def encode_segment(job_id: str) -> str:
    """Percent-encode ``job_id`` as exactly one path segment."""
    return quote(job_id, safe="")


def reject_extra(provider: str, extra: Mapping[str, Any]) -> None:
    """Raise ConfigurationError for keyword arguments a provider does not take."""
    if extra:
        raise ConfigurationError(f"{provider} takes no {', '.join(sorted(extra))} argument")


def check_job_id(job_id: object) -> str:
    """Return ``job_id`` if it can name a job; raises ConfigurationError before any request."""
    if not isinstance(job_id, str):
        raise ConfigurationError(f"job id must be a string, got {type(job_id).__name__}")
    if job_id in ("", ".", ".."):
        raise ConfigurationError(f"job id {job_id!r} cannot name a job")
    if len(job_id) > MAX_ID_CHARS:
        raise ConfigurationError(f"job id is longer than {MAX_ID_CHARS} characters")
    try:
        job_id.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigurationError(
            f"job id {job_id[:40]!r} is not valid Unicode (a lone surrogate)"
        ) from None
    return job_id


def _is_header_token(key: str) -> bool:
    return key.isascii() and key.isprintable() and key == key.strip()


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_timeout(timeout: object) -> Timeout:
    parts = timeout if isinstance(timeout, tuple) else (timeout,)
    if timeout is None or len(parts) not in (1, 2) or not all(
        isinstance(p, (int, float)) and not isinstance(p, bool) and math.isfinite(p) and p > 0
        for p in parts
    ):
        raise ConfigurationError(
            f"timeout must be a positive number or a (connect, read) pair, got {timeout!r}; "
            "a request without a timeout could hang forever"
        )
    return timeout  # type: ignore[return-value]


class BaseClient:
    """What every provider client shares. Subclasses set the class attributes and hooks."""

    provider: ClassVar[str]
    env_prefix: ClassVar[str]
    default_base_url: ClassVar[str]
    default_backoff: ClassVar[Backoff]

    _sleep: Callable[[float], None] = staticmethod(time.sleep)
    _clock: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(
        self,
        api_key: Optional[str] = None,
        *,
        base_url: Optional[str] = None,
        timeout: Timeout = (5.0, 30.0),
        session: Optional[requests.Session] = None,
        max_retries: int = 2,
        allow_insecure: bool = False,
        backoff: Optional[Backoff] = None,
    ) -> None:
        key_var = f"{self.env_prefix}_API_KEY"
        key = api_key if api_key is not None else os.environ.get(key_var)
        if not key:
            raise ConfigurationError(f"no {self.provider} API key: pass api_key= or set {key_var}")
        if not isinstance(key, str) or not _is_header_token(key):
            raise ConfigurationError(
                f"the {self.provider} API key is not a valid header value: printable ASCII "
                "only, no surrounding spaces"
            )
        self._key = key
        self.base_url = self._check_base_url(
            base_url or os.environ.get(f"{self.env_prefix}_BASE_URL") or self.default_base_url,
            allow_insecure,
        )
        self.timeout = _check_timeout(timeout)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigurationError(f"max_retries must be an int >= 0, got {max_retries!r}")
        self.max_retries = max_retries
        if backoff is not None and not isinstance(backoff, Backoff):
            raise ConfigurationError(f"backoff must be a Backoff, got {type(backoff).__name__}")
        self.backoff = backoff or self.default_backoff
        self._owns_session = session is None
        self.session = session if session is not None else new_session(self.base_url)
        self._headers = {
            "User-Agent": f"genstatus_sync/{__version__}",
            "Accept": "application/json",
            **self._auth_headers(key),
        }

    def _check_base_url(self, url: str, allow_insecure: bool) -> str:
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as exc:
            raise ConfigurationError(f"bad {self.provider} base URL {url!r}: {exc}") from None
        if parts.scheme not in ("http", "https") or not host:
            raise ConfigurationError(
                f"bad {self.provider} base URL {url!r}: expected http(s)://host[:port][/prefix]"
            )
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ConfigurationError(
                f"bad {self.provider} base URL: no query, fragment or credentials allowed"
            )
        if parts.scheme == "http" and not allow_insecure and not _is_loopback(host):
            raise ConfigurationError(
                f"{self.provider} base URL {url!r} is plain http: the API key would travel in "
                "clear text. Use https, or pass allow_insecure=True"
            )
        return url.rstrip("/")

    # -- the public calls, the same for every provider --------------------------------------

    def get_status(self, job_id: Any, **extra: Any) -> Any:
        """Return the provider's generated status model, exactly as the API sent it.

        Raises ConfigurationError (bad id, before any request), APIError subclasses,
        TransportError or ResponseFormatError.
        """
        return self._fetch_status(job_id, None, **extra)

    def poll(self, job_id: Any, **extra: Any) -> JobStatus:
        """Make one request and return the normalized JobStatus; raises as get_status does."""
        return self._redacted(self._normalize(self._fetch_status(job_id, None, **extra),
                                              str(job_id)))

    def wait(
        self,
        job_id: Any,
        *,
        timeout: Optional[float] = 600.0,
        backoff: Optional[Backoff] = None,
        on_update: Optional[Callable[[JobStatus], None]] = None,
        raise_on_failure: bool = True,
        **extra: Any,
    ) -> JobStatus:
        """Poll until the job is done and return its terminal JobStatus.

        Raises GenerationFailed when it FAILED (unless ``raise_on_failure=False``),
        WaitTimeout when ``timeout`` seconds pass first, and at once any non-transient error.
        """
        from ._wait import wait

        deadline = None if timeout is None else self._clock() + timeout
        status: JobStatus = wait(
            lambda: self._poll_before(deadline, job_id, **extra),
            is_done=_is_done,
            timeout=timeout,
            backoff=backoff or self.backoff,
            on_update=on_update,
            sleep=self._sleep,
            clock=self._clock,
        )
        if raise_on_failure and status.state is State.FAILED:
            raise GenerationFailed(status)
        return status

    # -- hooks ------------------------------------------------------------------------------

    def _auth_headers(self, key: str) -> Dict[str, str]:
        raise NotImplementedError

    def _fetch_status(self, job_id: Any, deadline: Optional[float], **extra: Any) -> Any:
        """One status request, parsed into the generated model."""
        raise NotImplementedError

    def _normalize(self, model: Any, job_id: str) -> JobStatus:
        raise NotImplementedError

    def _wait_poll(self, job_id: Any, deadline: Optional[float], **extra: Any) -> JobStatus:
        """One poll of a wait, whose requests end before ``deadline`` (monotonic seconds)."""
        return self._normalize(self._fetch_status(job_id, deadline, **extra), str(job_id))

    def _poll_before(self, deadline: Optional[float], job_id: Any, **extra: Any) -> JobStatus:
        """One poll of a wait, with the key redacted from the server's error text."""
        return self._redacted(self._wait_poll(job_id, deadline, **extra))

    def _redacted(self, status: JobStatus) -> JobStatus:
        if status.error is not None and self._key in status.error:
            return attrs.evolve(status, error=self._redact(status.error))
        return status

    def _structure(self, data: Any, cls: Type[T]) -> T:
        return structure(data, cls, provider=self.provider)

    def _error_details(self, data: Any) -> ErrorDetails:
        """(message, code, trace id) from an error body; subclasses know their envelopes."""
        if isinstance(data, dict):
            error = data.get("error")
            if isinstance(error, dict):
                return _text(error.get("message")), _text(error.get("code")), None
            for key in ("msg", "message", "reason", "detail"):
                if isinstance(data.get(key), str):
                    return data[key], None, None
        return None, None, None

    # -- the request ------------------------------------------------------------------------

    def _request(
        self,
        path: str,
        params: Optional[Mapping[str, str]] = None,
        *,
        deadline: Optional[float] = None,
    ) -> Tuple[int, Any]:
        """GET ``path``; return (status code, decoded JSON) of a 2xx reply, retrying transient
        failures. Raises APIError subclasses, TransportError or ResponseFormatError."""
        attempt = 0
        while True:
            try:
                return self._request_once(path, params, deadline)
            except (TransportError, RateLimitError, ServerError) as exc:
                retryable = not isinstance(exc, ServerError) or exc.status_code in RETRY_STATUSES
                if not retryable or attempt >= self.max_retries:
                    raise
                delay = min(8.0, 0.5 * 2**attempt) * random.uniform(0.9, 1.1)
                retry_after = getattr(exc, "retry_after", None)
                if retry_after is not None:
                    delay = max(delay, retry_after)
                if deadline is not None and self._clock() + delay >= deadline:
                    raise
                logger.debug("%s: retrying in %.2fs after %s", self.provider, delay,
                             type(exc).__name__)
                self._sleep(delay)
                attempt += 1

    def _request_once(
        self,
        path: str,
        params: Optional[Mapping[str, str]],
        deadline: Optional[float],
    ) -> Tuple[int, Any]:
        url = self.base_url + path
        timeout = self._timeout_before(deadline)
        total = sum(timeout) if isinstance(timeout, tuple) else 2 * timeout
        if deadline is not None:
            total = min(total, max(deadline - self._clock(), FINAL_POLL_GRACE))
        started = time.perf_counter()
        with Bound(total) as attempt:
            try:
                response = self.session.get(
                    url,
                    params=params,
                    headers=self._headers,
                    timeout=timeout,
                    allow_redirects=False,
                    stream=True,
                )
                try:
                    body = self._read_body(response)
                finally:
                    response.close()
            except requests.RequestException as exc:
                logger.debug("%s: GET %s failed: %s", self.provider, path, type(exc).__name__)
                if not attempt.expired:
                    kind = "timed out" if isinstance(exc, requests.Timeout) else "failed"
                    raise TransportError(
                        f"{self.provider}: GET {_where(url)} {kind}: {type(exc).__name__}"
                    ) from exc
        if attempt.expired:
            raise TransportError(
                f"{self.provider}: GET {_where(url)} timed out: no complete reply within "
                f"{total:.1f} s"
            )
        status = response.status_code
        logger.debug("%s: GET %s -> %d (%d bytes, %.1f ms)", self.provider, path, status,
                     len(body), (time.perf_counter() - started) * 1000)
        if 200 <= status < 300:
            return status, self._decode(body, status)
        self._raise_for_status(response, body)

    def _timeout_before(self, deadline: Optional[float]) -> Timeout:
        if deadline is None:
            return self.timeout
        # The last poll of a wait happens at its deadline: it gets a short grace, no more.
        left = max(deadline - self._clock(), FINAL_POLL_GRACE)
        if isinstance(self.timeout, tuple):
            return (min(self.timeout[0], left), min(self.timeout[1], left))
        return min(self.timeout, left)

    def _read_body(self, response: requests.Response) -> bytes:
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            self._too_large(response.status_code)
        chunks, size = [], 0
        for chunk in response.iter_content(chunk_size=65536):
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                self._too_large(response.status_code)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, status: int) -> NoReturn:
        raise ResponseFormatError(
            f"{self.provider}: reply body is larger than {MAX_BODY_BYTES} bytes; not read",
            provider=self.provider, status_code=status,
        )

    def _snippet(self, body: bytes) -> str:
        # redact before cutting, so that no prefix of the key survives at the cut
        return self._redact(body[: SNIPPET_CHARS * 4].decode("utf-8", "replace"))[:SNIPPET_CHARS]

    def _decode(self, body: bytes, status: int) -> Any:
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as exc:
            snippet = self._snippet(body)
            reason = "nested too deeply" if isinstance(exc, RecursionError) else "not JSON"
            raise ResponseFormatError(
                f"{self.provider}: HTTP {status} reply is {reason}: {snippet[:80]!r}",
                provider=self.provider, status_code=status, body=snippet,
            ) from None

    def _raise_for_status(self, response: requests.Response, body: bytes) -> NoReturn:
        status = response.status_code
        try:
            data: Any = json.loads(body)
        except (ValueError, RecursionError):
            data = None
        message, code, trace_id = self._error_details(data)
        self.raise_api_error(
            status, message or response.reason or f"HTTP {status}", code=code, trace_id=trace_id,
            body=self._snippet(body),
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )

    def _error_class(self, status: int, code: Union[int, str, None]) -> Type[APIError]:
        return error_class(status)

    def raise_api_error(self, status: int, message: str, **fields: Any) -> NoReturn:
        """Raise the APIError subclass for ``status`` (and the provider's error ``code``);
        the key is redacted from every text the server sent."""
        cls = self._error_class(status, fields.get("code"))
        fields = {name: self._redact(value) if isinstance(value, str) else value
                  for name, value in fields.items()}
        raise cls(self._redact(message)[:SNIPPET_CHARS], provider=self.provider,
                  status_code=status, **fields)

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "[redacted]") if self._key in text else text

    # -- lifetime ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the session if this client made it (a caller's session is left open)."""
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> "BaseClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(provider={self.provider!r}, base_url={self.base_url!r})"


def _is_done(status: JobStatus) -> bool:
    return status.done


def _where(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc + parts.path


def _text(value: object) -> Optional[str]:
    return value if isinstance(value, str) else None
