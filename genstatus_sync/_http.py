"""The shared base of the provider clients, generic in the model they return: configuration,
auth headers, the reply's error mapping and redaction. Requests go through a transport
(``_transport``); waiting is the job handle's (``_job``)."""

import json
import logging
import os
import time
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    ClassVar,
    Dict,
    FrozenSet,
    Generic,
    Mapping,
    NoReturn,
    Optional,
    Tuple,
    Type,
    TypeVar,
    Union,
)

from ._budget import RateBudget
from ._config import (
    Args,
    check_base_url,
    check_callable,
    check_count,
    check_flag,
    check_job_id,
    check_key,
    check_kind,
    check_rate,
    check_timeout,
    check_transport,
    checked_clock,
    is_given,
)
from ._locks import abandoned, at_fork
from ._redact import SNIPPET_CHARS, Redactor
from ._retry import call, parse_retry_after, read_retry_after
from ._strict import Declined, loads
from ._transport import Reply, Request, RequestsTransport, Transport
from ._version import __version__
from .backoff import Backoff, check_backoff
from .errors import (
    APIError,
    ConfigurationError,
    GenStatusError,
    RateLimitError,
    ResponseFormatError,
    TransportError,
    error_class,
)
from .history import DurationHistory, check_history
from .status import JobStatus

if TYPE_CHECKING:
    import requests

    from ._job import Job, Step

__all__ = ["BaseClient", "parse_retry_after"]

logger = logging.getLogger("genstatus_sync")
ModelT = TypeVar("ModelT")
IdT = TypeVar("IdT")
C = TypeVar("C", bound="BaseClient[Any, Any]")
T = TypeVar("T")
ErrorDetails = Tuple[Optional[str], Union[int, str, None], Optional[str]]


def _load_before_fork() -> None:
    """Loads the wait machinery, which a client loads lazily with its first job or token: a
    fork while another thread was loading it would leave that import's lock held in the
    child for good (its first wait would hang). Run before each fork, the fork waits for it."""
    from . import _job, _token  # noqa: F401


class BaseClient(Generic[ModelT, IdT]):
    """What every provider client shares; a subclass sets the class attributes and hooks."""

    provider: ClassVar[str]
    env_prefix: ClassVar[str]
    default_base_url: ClassVar[str]
    default_backoff: ClassVar[Backoff]
    _sleep: Callable[[float], None] = staticmethod(time.sleep)  # a client's sleep= and clock=
    _clock: Callable[[], float] = staticmethod(time.monotonic)
    _step_clock: Callable[[], float] = staticmethod(time.time)  # tokens cross processes

    def __init__(self, api_key: Optional[str] = None, *, base_url: Optional[str] = None,
                 timeout: Union[float, Tuple[float, float]] = (5.0, 30.0),
                 session: "Optional[requests.Session]" = None,
                 transport: Optional[Transport] = None, max_retries: int = 2,
                 max_rate: Optional[float] = None, allow_insecure: bool = False,
                 backoff: Optional[Backoff] = None,
                 history: Optional[DurationHistory] = None,
                 sleep: Optional[Callable[[float], None]] = None,
                 clock: Optional[Callable[[], float]] = None) -> None:
        at_fork("before", _load_before_fork)
        variable = f"{self.env_prefix}_API_KEY"
        key = check_key(self.provider, os.environ.get(variable) if api_key is None else api_key,
                        variable, from_env=api_key is None)
        self._redactor = Redactor(key)
        self.base_url = check_base_url(self.provider, base_url if is_given(base_url) else (
            os.environ.get(f"{self.env_prefix}_BASE_URL") or self.default_base_url),
            check_flag("allow_insecure", allow_insecure))
        self.timeout = check_timeout(timeout)
        self.max_retries = check_count("max_retries", max_retries)
        self._budget = RateBudget(check_rate(max_rate))
        self.backoff = check_backoff(backoff) or self.default_backoff
        # how long this client's jobs took, per kind: its waits plan from it and feed it
        checked = check_history(history)
        self.history: DurationHistory = DurationHistory() if checked is None else checked
        if session is not None and transport is not None:
            raise ConfigurationError("pass session= or transport=, not both")
        check_transport(transport)
        self._owns_transport = transport is None
        self.transport: Transport = transport if transport is not None else RequestsTransport(
            session, base_url=self.base_url)
        if sleep is not None:
            self._sleep = check_callable("sleep", sleep)
        if clock is not None:
            self._clock = self._step_clock = checked_clock(check_callable("clock", clock))
        self._headers = {"User-Agent": f"genstatus_sync/{__version__}",
                         "Accept": "application/json", "Accept-Encoding": "gzip, deflate",
                         **self._auth_headers(key)}

    @property
    def max_rate(self) -> Optional[float]:
        """Requests per second this client sends at most (None: no limit of ours)."""
        return self._budget.max_rate

    @property
    def session(self) -> "Optional[requests.Session]":
        """The requests session of the default transport (None with another transport)."""
        return getattr(self.transport, "session", None)

    # -- the public calls, the same for every provider (Sivi adds abstract_user_id=) ----------

    def get_status(self, job_id: IdT) -> ModelT:
        """Return the provider's generated status model, exactly as the API sent it. Raises
        ConfigurationError (bad id, before any request), APIError subclasses, TransportError or
        ResponseFormatError; transient failures are tried again ``max_retries`` times."""
        return self._get_status(job_id, ())

    def poll(self, job_id: IdT) -> JobStatus:
        """Make one request (retried as get_status) and return the normalized JobStatus."""
        return self._poll(job_id, ())

    def wait(self, job_id: IdT, *, timeout: Optional[float] = 600.0,
             backoff: Optional[Backoff] = None,
             on_update: Optional[Callable[[JobStatus], None]] = None,
             raise_on_failure: bool = True, kind: Optional[str] = None) -> JobStatus:
        """Poll until the job is done and return its terminal JobStatus. Raises
        GenerationFailed when it FAILED (unless ``raise_on_failure=False``), WaitTimeout when
        ``timeout`` seconds pass first, and at once any error that is not transient. The
        polls are planned from ``client.history``'s durations of the job's kind (``kind``,
        else Rivya's model, else the provider), which this wait then feeds."""
        return self.job(job_id, kind=kind).wait(timeout=timeout, backoff=backoff,
                                                on_update=on_update,
                                                raise_on_failure=raise_on_failure)

    def job(self, job_id: IdT, *, kind: Optional[str] = None) -> "Job":
        """A frozen handle on one job (this client, its id, its kind if named), for
        ``gs.wait_all``."""
        from ._job import Job  # (the wait machinery loads with the first job)

        return Job(self, self._check_id(job_id), (), _kind(kind))

    def wait_token(self, job_id: IdT, *, timeout: Optional[float] = 600.0,
                   kind: Optional[str] = None) -> str:
        """A wait of ``job_id`` as a printable token, for waits that outlive a process (no
        request is made): pass it to ``step``, in this process or another. The token carries
        the job's kind; each step plans from the history of the client that takes it."""
        return self.job(job_id, kind=kind).wait_token(timeout=timeout)

    def step(self, token: str) -> "Step":
        """Exactly one poll of the job a token names (Clipia: and its result when done), if
        it is due and the client's rate budget has a turn for it (the step does not wait for
        one): a Step with ``status``, ``error`` (a transient error met), ``done``,
        ``retry_in`` (seconds until the next poll, or until the budget's turn) and the next
        ``token``. At or past the deadline it makes at most one last poll, with the client's
        own timeout, and raises WaitTimeout if the job is not done; other errors are raised
        as by ``poll``; a bad token is a ConfigurationError."""
        from ._token import decode  # (loaded with the first token read)

        saved = decode(token, self.provider)
        from ._job import Job

        return Job(self, self._check_id(saved.job_id), self._check_args(saved.args))._step(saved)

    def _get_status(self, job_id: Any, args: Args) -> ModelT:
        checked = self._check_id(job_id)
        return self._retrying(lambda: self._fetch_job(checked, args, None))

    def _retrying(self, request: Callable[[], T]) -> T:
        """``request()`` outside a wait: a transient failure is tried again, max_retries times."""
        return call(request, max_retries=self.max_retries, sleep=self._sleep,
                    provider=self.provider)

    def _poll(self, job_id: Any, args: Args) -> JobStatus:
        checked = self._check_id(job_id)
        return self._normalize(self._get_status(checked, args), checked)

    def _wait_poll(self, job_id: str, args: Args, seconds: Optional[float]) -> JobStatus:
        """One poll of a wait: no retries, every request ended within ``seconds``."""
        end = None if seconds is None else self._clock() + seconds
        return self._complete(self._normalize(self._fetch_job(job_id, args, seconds), job_id),
                              job_id, end)

    def _fetch_job(self, job_id: str, args: Args, seconds: Optional[float]) -> ModelT:
        """``_fetch``, its APIError naming the job (a 404 among many jobs says which)."""
        try:
            return self._fetch(job_id, args, seconds)
        except APIError as error:
            self._name_job(error, job_id)
            raise

    def _name_job(self, error: APIError, job_id: str) -> None:
        """Set ``error.job_id``, unless it names a job already."""
        if error.job_id is None:
            error.job_id = self._redactor.text(job_id)

    # -- hooks of the provider clients --------------------------------------------------------

    def _auth_headers(self, key: str) -> Dict[str, str]:
        raise NotImplementedError

    @classmethod
    def _check_id(cls, job_id: Any) -> str:
        return check_job_id(job_id)

    def _kind(self, status: Optional[JobStatus]) -> Optional[str]:
        """The kind of a job with no kind named, from its latest status (None: before any):
        the provider's name, unless the provider's replies tell kinds apart."""
        return self.provider

    @classmethod
    def _check_args(cls, args: Args) -> Args:
        """Provider arguments read back from a token, checked as the keywords would be."""
        if args:
            raise ConfigurationError(f"{cls.provider} takes no "
                                     f"{', '.join(name for name, _ in args)} argument")
        return args

    def _fetch(self, job_id: str, args: Args, seconds: Optional[float]) -> ModelT:
        """One status request, parsed into the generated model."""
        raise NotImplementedError

    def _normalize(self, model: ModelT, job_id: str) -> JobStatus:
        raise NotImplementedError

    def _complete(self, status: JobStatus, job_id: str, end: Optional[float]) -> JobStatus:
        """A wait's poll after the status request (Clipia fetches its result here)."""
        return status

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

    def _error_class(self, status: int, code: Union[int, str, None]) -> Type[APIError]:
        return error_class(status)

    # -- one request ------------------------------------------------------------------------

    def _get(self, path: str, params: Optional[Mapping[str, str]] = None,
             seconds: Optional[float] = None, unread: FrozenSet[int] = frozenset()
             ) -> Tuple[int, Any]:
        """GET ``path`` once: (status, decoded JSON with the key redacted) of a 2xx reply;
        (status, None) for a status in ``unread``, whose body is not read. ``seconds`` (None:
        the client's timeouts alone) bounds the whole request."""
        seconds = self._wait_turn(path, seconds)
        connect, read = self.timeout
        total = connect + read
        if seconds is not None:
            connect, read, total = min(connect, seconds), min(read, seconds), min(total, seconds)
        request = Request(self.base_url + path, dict(params or {}), self._headers)
        started = time.perf_counter()
        try:
            reply = self.transport.get(request, timeout=(connect, read), total=total)
        except GenStatusError as exc:
            logger.debug("%s: GET %s failed: %s", self.provider, path, type(exc).__name__)
            if isinstance(exc, (TransportError, ResponseFormatError)):
                text = str(exc.args[0]) if exc.args else type(exc).__name__
                if not text.startswith(f"{self.provider}: "):  # (a transport may raise one
                    text = f"{self.provider}: {text}"          # exception object twice)
                exc.args = (text,)
                if isinstance(exc, ResponseFormatError):
                    exc.message, exc.provider = exc.args[0], self.provider
            self._redactor.exception(exc)
            raise
        logger.debug("%s: GET %s -> %d (%d bytes, %.1f ms)", self.provider, path, reply.status,
                     len(reply.body), (time.perf_counter() - started) * 1000)
        if reply.status >= 300 or reply.status in unread:
            waits = read_retry_after(reply.headers.get("Retry-After")) if reply.status >= 300 \
                else (None, None)  # (the seconds to wait and to hold back, read once)
            self._budget.record(self._clock(), reply.status,
                                waits[1] if reply.status == 429 else None)
            if reply.status in unread:
                return reply.status, None
            return self._read(reply, waits)
        try:
            status, data = self._read(reply, (None, None))
        except GenStatusError:
            self._budget.record(self._clock(), reply.status)
            raise
        inner = self._envelope_status(data)
        if inner is None:
            self._budget.record(self._clock(), reply.status)
            return status, data
        # an error inside a 2xx reply's envelope counts (and is raised) as its own status: a
        # 429 there lowers the rate and its Retry-After holds requests back, as an HTTP one
        waits = read_retry_after(reply.headers.get("Retry-After"))
        self._budget.record(self._clock(), inner, waits[1] if inner == 429 else None)
        self._raise_for(inner, data, f"envelope status {inner}", self._body_of(data), reply,
                        waits)

    def _envelope_status(self, data: Any) -> Optional[int]:
        """The error status a 2xx reply's envelope carries, if it carries one (Sivi's does)."""
        return None

    def _take_turn(self, ahead: float) -> float:
        """0.0 when this client's next turn comes within ``ahead`` seconds (kept for its next
        request), else the seconds until it would (wait_all polls other clients meanwhile)."""
        return self._budget.take(self._clock(), ahead)

    def _wait_turn(self, path: str, seconds: Optional[float]) -> Optional[float]:
        """Wait for the rate budget's turn; the seconds then left of ``seconds``. A request
        of a wait_all that ended meanwhile (its thread's poll waited for the turn) is not
        sent."""
        before = self._clock()
        if seconds is None:
            # outside a wait, a request is bounded by the client's timeouts, its turn too: a
            # 429's Retry-After that holds the client back longer is raised, not waited out
            held, bound = self._budget.held(before), sum(self.timeout)
            if held > bound:
                raise RateLimitError(
                    f"GET {path} not sent: a 429's Retry-After holds this client's requests "
                    f"back {held:.0f} s more, longer than one request may take ({bound:g} s)",
                    provider=self.provider, retry_after=held)
        turn = self._budget.wait_turn(self._clock, self._sleep,
                                      None if seconds is None else seconds - 0.001)
        if abandoned():
            raise TransportError(f"{self.provider}: GET {path} not sent: the wait_all it was "
                                 "for has ended")
        if seconds is None:
            return None
        seconds -= self._clock() - before
        if not turn:
            raise RateLimitError(f"GET {path} not sent: the client's rate budget has no turn "
                                 "for it before the deadline", provider=self.provider)
        if seconds <= 0.001:
            raise TransportError(f"{self.provider}: GET {path} not sent: no time left")
        return seconds

    def _read(self, reply: Reply, waits: Tuple[Optional[float], Optional[float]]
              ) -> Tuple[int, Any]:
        status, body = reply.status, reply.body
        try:
            data: Any = loads(body)
            failure = ""
        except (ValueError, RecursionError) as exc:
            data = None
            failure = "nested too deeply" if isinstance(exc, RecursionError) else (
                str(exc) if isinstance(exc, Declined) else "not JSON")
        if not failure and self._redactor.may_hold_key(body):
            data = self._redactor.data(data)
        if 200 <= status < 300 and not failure:
            return status, data
        snippet = self._redactor.snippet(body)
        if 200 <= status < 300:
            raise ResponseFormatError(f"{self.provider}: HTTP {status} reply is {failure}: "
                                      f"{snippet[:80]!r}", provider=self.provider,
                                      status_code=status, body=snippet)
        self._raise_for(status, data, reply.reason or f"HTTP {status}", snippet, reply, waits)

    def _raise_for(self, status: int, data: Any, fallback: str, body: str, reply: Reply,
                   waits: Tuple[Optional[float], Optional[float]]) -> NoReturn:
        """Raise the error a reply (or its envelope) of ``status`` tells, with the details
        its body gives and the waits its Retry-After asks for."""
        message, code, trace_id = self._error_details(data)
        self.raise_api_error(status, message or fallback, code=code, trace_id=trace_id,
                             body=body, retry_after=waits[0],
                             retry_after_sent="Retry-After" in reply.headers, hold=waits[1])

    def _body_of(self, data: Any) -> str:
        """The start of a decoded reply, for an error found inside a 2xx one (an envelope's
        status, an error object): its JSON again, at most SNIPPET_CHARS, without the key."""
        return self._redactor.snippet(json.dumps(data, ensure_ascii=False).encode("utf-8"))

    def raise_api_error(self, status: int, message: str, *, retry_after_sent: bool = False,
                        hold: Optional[float] = None, **fields: Any) -> NoReturn:
        """Raise the APIError subclass for ``status`` (and the provider's error ``code``)."""
        cls = self._error_class(status, fields.get("code"))
        error = cls(self._redactor.text(message)[:SNIPPET_CHARS], provider=self.provider,
                    status_code=status, **fields)
        error._retry_after_sent = retry_after_sent
        error._hold = hold
        raise self._redactor.exception(error)

    # -- lifetime ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the transport if this client made it (a caller's session is left open)."""
        if self._owns_transport:
            self.transport.close()

    def __enter__(self: C) -> C:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(provider={self.provider!r}, base_url={self.base_url!r})"


def _text(value: object) -> Optional[str]:
    return value if isinstance(value, str) else None


def _kind(kind: Optional[str]) -> Optional[str]:
    return None if kind is None else check_kind(kind)
