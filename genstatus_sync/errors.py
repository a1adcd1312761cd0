"""Every exception genstatus_sync raises.

::

    GenStatusError
    ├── ConfigurationError (also ValueError)   missing key, bad base URL, bad id
    ├── TransportError                         connection failure, timeout, TLS failure (.transient)
    ├── ResponseFormatError                    not JSON, or JSON that does not fit the spec
    ├── APIError                               status_code, code, message, trace_id, body
    │   ├── AuthenticationError   401
    │   ├── PermissionDeniedError 403
    │   ├── NotFoundError         404, or Rivya's not_found
    │   ├── RateLimitError        429 (retry_after)
    │   └── ServerError           5xx (retry_after)
    ├── ResultNotReady                         Clipia result asked for too early (202)
    ├── GenerationFailed                       .status: JobStatus
    ├── WaitTimeout (also TimeoutError)        .last, .last_error, .elapsed, .polls
    └── WebhookVerificationError               a webhook's signature or timestamp does not check out

``is_transient(exc)`` is the one rule that says which of them a later try may get past.
No message or repr carries an API key: the clients redact what the server sent before it
gets here.
"""

from typing import TYPE_CHECKING, Dict, Optional, Type, Union

if TYPE_CHECKING:
    from .status import JobStatus

__all__ = [
    "APIError",
    "AuthenticationError",
    "ConfigurationError",
    "GenStatusError",
    "GenerationFailed",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseFormatError",
    "ResultNotReady",
    "ServerError",
    "TransportError",
    "WaitTimeout",
    "WebhookVerificationError",
]


class GenStatusError(Exception):
    """The base of every genstatus_sync error."""


class ConfigurationError(GenStatusError, ValueError):
    """The caller's input cannot work: missing key, bad base URL, bad job id or option."""


class TransportError(GenStatusError):
    """The request did not get a whole reply: connection failure, timeout, broken protocol.

    ``transient`` is False for a TLS certificate or configuration failure, which no later try
    can get past.
    """

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


class ResponseFormatError(GenStatusError):
    """The reply is not JSON, or its JSON does not fit the provider's spec."""

    def __init__(
        self,
        message: str,
        *,
        provider: Optional[str] = None,
        status_code: Optional[int] = None,
        body: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status_code = status_code
        self.body = body


class APIError(GenStatusError):
    """The provider answered with an error (an HTTP error status or an error envelope)."""

    # True when the reply carried a Retry-After, usable or not (retry_after None: unusable)
    _retry_after_sent = False
    # how long that Retry-After asks to hold back, more than a day read as a day (waits and the
    # rate budget honour it; retry_after stays None for it: no retry sleeps that long)
    _hold: Optional[float] = None

    def __init__(
        self,
        message: str,
        *,
        provider: Optional[str] = None,
        status_code: Optional[int] = None,
        code: Union[int, str, None] = None,
        trace_id: Optional[str] = None,
        body: Optional[str] = None,
        retry_after: Optional[float] = None,
        job_id: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        # the job the failed request was about (None: not known, or not about one job)
        self.job_id = job_id
        self.status_code = status_code
        self.code = code
        self.trace_id = trace_id
        self.body = body
        self.retry_after = retry_after

    def __str__(self) -> str:
        where = f"{self.provider}: " if self.provider else ""
        parts = [f"HTTP {_shown(self.status_code)}"] if self.status_code is not None else []
        if self.job_id is not None:
            parts.append(f"job {_shown(self.job_id, quoted=True)}")
        if self.code is not None:
            parts.append(f"code {_shown(self.code, quoted=True)}")
        if self.trace_id:
            parts.append(f"trace id {_shown(self.trace_id)}")
        detail = f" ({', '.join(parts)})" if parts else ""
        return f"{where}{self.message}{detail}"

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.message!r}, provider={self.provider!r}, "
                f"status_code={_shown(self.status_code)}, code={_shown(self.code, quoted=True)})")


_SHOWN = 80  # characters of a code, trace id or status a message shows (the attribute keeps all)


def _shown(value: object, quoted: bool = False) -> str:
    """``value`` for a message, at most about _SHOWN characters: a server's code or trace id
    of a megabyte (or a number of thousands of digits) is cut, not repeated in every line."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(int.__int__(value)) if abs(value) < 10 ** _SHOWN else (
            f"a number of about {int(value.bit_length() * 0.30103) + 1} digits")
    text = str(value) if not quoted else repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + f"... ({len(text)} characters)"


class AuthenticationError(APIError):
    """401: the key is missing, wrong or revoked."""


class PermissionDeniedError(APIError):
    """403: the key may not read this job."""


class NotFoundError(APIError):
    """404 (or Rivya's not_found): no such job for this key."""


class RateLimitError(APIError):
    """429: too many requests; ``retry_after`` is the server's suggested delay in seconds."""


class ServerError(APIError):
    """5xx: the provider failed; ``retry_after`` is set when the server suggested a delay."""


class ResultNotReady(GenStatusError):
    """Clipia's result was asked for while the generation still runs (HTTP 202)."""


class GenerationFailed(GenStatusError):
    """The job ended in FAILED; ``status`` is its last ``JobStatus``."""

    def __init__(self, status: "JobStatus") -> None:
        reason = f": {status.error}" if status.error else ""
        super().__init__(f"{status.provider} job {status.job_id!r} failed{reason}")
        self.status = status


class WaitTimeout(GenStatusError, TimeoutError):
    """The overall deadline passed before the job finished.

    ``last`` is the last status read (or None), ``last_error`` the last transient error
    (or None), ``elapsed`` the seconds waited and ``polls`` the number of polls made.
    """

    def __init__(
        self,
        message: str,
        *,
        last: "Optional[JobStatus]" = None,
        last_error: Optional[BaseException] = None,
        elapsed: float = 0.0,
        polls: int = 0,
    ) -> None:
        super().__init__(message)
        self.last = last
        self.last_error = last_error
        self.elapsed = elapsed
        self.polls = polls


class WebhookVerificationError(GenStatusError):
    """A webhook's signature does not match its body, or its timestamp is out of tolerance."""


TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_STATUS_ERRORS: Dict[int, Type[APIError]] = {401: AuthenticationError, 403: PermissionDeniedError,
                                             404: NotFoundError, 429: RateLimitError}


def error_class(status: int) -> Type[APIError]:
    """The APIError subclass for an HTTP error ``status``: 401, 403, 404, 429, 5xx; else
    APIError itself (also for the 6xx-9xx that http.client lets through). The one mapping,
    for the clients and for downloads."""
    return ServerError if 500 <= status < 600 else _STATUS_ERRORS.get(status, APIError)


def is_transient(exc: BaseException) -> bool:
    """Whether a later try may succeed where ``exc`` failed: the one retry rule.

    Connection failures and timeouts (not TLS failures), and HTTP (or envelope) statuses 408,
    429, 500, 502, 503 and 504 (a RateLimitError, or a ServerError without a status, is
    transient too). Everything else is final.
    """
    if isinstance(exc, TransportError):
        return exc.transient
    if isinstance(exc, RateLimitError) or (isinstance(exc, ServerError)
                                           and exc.status_code is None):
        return True
    return isinstance(exc, APIError) and exc.status_code in TRANSIENT_STATUSES
