"""FakeProviders: one threaded HTTP server on loopback that speaks all four provider APIs."""

import contextlib
import difflib
import ipaddress
import itertools
import json
import math
import re
import socket
import struct
import threading
import time
import uuid
import zlib
from collections import deque
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import (
    Any,
    Callable,
    Deque,
    Dict,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Union,
)
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from .._registry import PROVIDERS, check_provider, client_class
from .._transport import RequestsTransport
from ..webhooks import WEBHOOK_PROVIDERS, ClipiaSignature
from . import _render
from ._render import JobView
from ._webhooks import Deliveries, Hook, Push, WebhookDelivery, make_push

STATES = ("queued", "running", "succeeded", "failed")
FAULTS = ("slow", "drop", "empty", "html", "truncated", "off_spec", "huge", "never", "trickle",
          "bad_utf8", "bomb", "html_as_json", "json_as_html")
REDACTED = "[redacted]"
AUTH_HEADERS = ("authorization", "proxy-authorization", "sivi-api-key")
MIN_KEY_TO_REDACT = 8  # a shorter key would match inside ordinary header values
# The standard handler stops at 64 KB (an HTML 414); Sivi's JSON query can be longer than that
# and should still get Sivi's own 400.
MAX_REQUEST_LINE = 2**20
MAX_DISCARDED_BODY = 2**16
STOP_GRACE = 2.0  # seconds stop() waits for connection threads once their sockets are shut
_SCHEME = re.compile(r"[A-Za-z]{1,16}")
_SELLERPIC_ID = re.compile(r"-?[0-9]{1,19}", re.ASCII)
MEDIA = "/media/"  # GET /media/<provider>/<job id>/<name>: a result file of a known job


def _png() -> bytes:
    """A valid 1x1 PNG (one teal pixel): what the media route serves."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00\x00\x80\x80")) + chunk(b"IEND", b""))


MEDIA_BYTES = _png()


class RecordedRequest(NamedTuple):
    """One request the fake received, as it arrived (``time``: the fake's clock at arrival,
    ``time.monotonic()`` unless a ``clock`` was given).

    Redaction: the values of the auth headers (``sivi-api-key``, ``Authorization``,
    ``Proxy-Authorization``) are always recorded as ``[redacted]``, or ``<scheme> [redacted]``
    when they start with a scheme word (letters only, as ``Bearer`` or ``Key``), whatever key
    they carry, the fake's own or any other. Every other header, query name and value and path
    segment is recorded as sent, except that one containing the fake's own key (when the key
    has at least 8 characters) is replaced by ``[redacted]`` as a whole.
    """

    provider: str
    method: str
    path: str
    query: Dict[str, str]
    headers: Dict[str, str]
    time: float = 0.0


class _Job:
    def __init__(self, job_id: str, states: Sequence[str], progress: Optional[Sequence[Any]],
                 queue_positions: Optional[Sequence[Any]], urls: Optional[List[str]],
                 error: Optional[str], every: Optional[float]) -> None:
        self.job_id, self.states, self.error = job_id, list(states), error
        self.urls: List[str] = urls or []
        self.own_media = urls is None  # the fake's own /media/ URLs, made with its port
        self.every, self.polls = every, 0
        self.first_poll: Optional[float] = None
        self.hook: Optional[Hook] = None
        self.user: Optional[str] = None  # Sivi: the abstractUserId whose request it is
        self.pushed: Optional[Tuple[str, Any, Any]] = None  # what the last push showed
        self.shown: Optional[int] = None  # the index the status endpoint last reported
        n = len(self.states)
        self.progress = list(progress) if progress is not None else [
            round(100 * i / max(1, n - 1)) if s == "running" else None  # whole percents
            for i, s in enumerate(self.states)]
        self.queue_positions = list(queue_positions) if queue_positions is not None else [
            max(0, self.states[i:].count("queued") - 1) if s == "queued" else None
            for i, s in enumerate(self.states)]

    def poll(self, now: float) -> JobView:
        """What a status poll at ``now`` shows; the job moves on (by poll, or by time)."""
        if self.every is not None:
            if self.first_poll is None:
                self.first_poll = now
            index = int((now - self.first_poll) / self.every)
        else:
            index = self.polls
            self.polls += 1
        # A poll held by a slow reply comes with the time it arrived, maybe before the first
        # poll that answered, or one that showed a later state: a job never moves back.
        self.shown = max(min(index, len(self.states) - 1), self.shown or 0)
        return self.view(self.shown)

    def result(self) -> JobView:
        """What the status endpoint last showed (never moving the job on): the result endpoint
        answers from it, so it is never ahead of the status."""
        if self.shown is None:
            return JobView(self.job_id, "queued", None, None, self.urls, self.error)
        return self.view(self.shown)

    def view(self, index: int) -> JobView:
        return JobView(self.job_id, self.states[index], _at(self.progress, index),
                       _at(self.queue_positions, index), self.urls, self.error)


def _at(values: Sequence[Any], index: int) -> Any:
    return values[min(index, len(values) - 1)] if values else None


class _Fault:
    def __init__(self, kind: str, times: int, status: int = 200,
                 retry_after: Optional[str] = None, seconds: float = 0.0,
                 job_id: Optional[str] = None) -> None:
        self.kind, self.times, self.status = kind, times, status
        self.retry_after, self.seconds, self.job_id = retry_after, seconds, job_id


def _loopback(host: object) -> str:
    """``host`` without brackets, when it is a loopback address or ``localhost``; else
    ValueError (the fake accepts its test key from anyone who can reach it)."""
    text = host.strip("[]") if isinstance(host, str) else None
    if text == "localhost":
        return text
    try:
        if text is not None and ipaddress.ip_address(text).is_loopback:
            return text
    except ValueError:
        pass
    raise ValueError(f"FakeProviders serves on loopback only: host must be 127.0.0.1, ::1, "
                     f"another loopback address or localhost, got {host!r:.60}")


class FakeProviders:
    """A real HTTP server on loopback (``127.0.0.1``, or ``host="::1"``, another loopback
    address or ``localhost``; any other host is a ValueError; a free port) serving
    Sivi, Rivya, SellerPic and Clipia at their documented paths, with their auth headers,
    bodies and status codes.

    Jobs follow a script (``add_job``: one state per poll, the last repeating, or one per
    ``every`` seconds); faults are injected with ``fail`` and ``fault``, limits with
    ``rate_limit``, delays with ``latency``; every request that parses as HTTP is recorded in
    ``requests`` (see ``RecordedRequest`` for what is redacted). Use it as a context manager.
    Sivi and Clipia jobs added with a ``webhook_url`` are pushed there, signed (see
    ``add_job``), from a background thread that never holds up a reply; each push is recorded
    in ``webhooks`` (``WebhookDelivery``); ``deliver_webhook`` and ``flush_webhooks`` make
    tests deterministic.

    A request is answered, in this order: 404 for an unknown path; 429 over a ``rate_limit``;
    405 (``Allow: GET``) for any other standard method (HEAD included, without a body); 400
    for a malformed request (Sivi's ``queryParams``, SellerPic's ``id`` missing or not an
    int64, or its required ``Content-Type: application/json``); 401 for a wrong key; then the
    injected faults; then the job (404 when unknown). Errors come in the provider's own shape;
    what does not parse as HTTP (request line, headers, ``Content-Length``, an unknown method:
    501) gets a JSON error and the connection is closed.

    ``latency`` delays every reply by that many seconds (each request in its own thread, so
    concurrent requests overlap); ``clock`` is the time source for request times, rate-limit
    windows and ``every`` jobs (tests may pass a virtual one); webhook timestamps are wall
    time (``time.time``), as a receiver's ``verify`` expects.

    ``auto_jobs`` (a list of states, e.g. ``["queued", "running", "succeeded"]``) makes any
    job id not added a job with that script, as if added at its first request: code written
    for real ids (a demo, documentation) runs against the fake unchanged.
    """

    def __init__(self, api_key: str = "test-key", *, host: str = "127.0.0.1",
                 latency: float = 0.0, clock: Callable[[], float] = time.monotonic,
                 auto_jobs: Optional[Sequence[str]] = None) -> None:
        if auto_jobs is not None and (isinstance(auto_jobs, str) or not auto_jobs):
            raise ValueError("auto_jobs is a list of states, e.g. ['running', 'succeeded']")
        if auto_jobs is not None:
            _check_states(auto_jobs, None)
        self._auto_jobs = None if auto_jobs is None else list(auto_jobs)
        self.api_key = api_key
        self._host = _loopback(host)
        self._clock = clock
        self._lock = threading.Lock()
        self._jobs: Dict[Tuple[str, str], _Job] = {}
        self._faults: Dict[str, List[_Fault]] = {p: [] for p in PROVIDERS}
        self._limits: Dict[str, int] = {}
        self._windows: Dict[str, Deque[float]] = {p: deque() for p in PROVIDERS}
        self._latency: Dict[Optional[str], float] = dict.fromkeys(
            (*PROVIDERS, None), _check_seconds("latency", latency))
        self._ids = itertools.count(1)
        self.requests: List[RecordedRequest] = []
        self.webhooks: List[WebhookDelivery] = []
        self._deliveries: Optional[Deliveries] = None
        self._server: Optional[_Server] = None
        self._served_at = ""  # the base URL of the server started last (kept after stop)
        self._thread: Optional[threading.Thread] = None

    def reset(self) -> None:
        """Forget every job, pending fault, recorded request and recorded webhook push, as if
        new (the port, rate limits and latencies stay): one server can serve many tests."""
        with self._lock:
            self._jobs.clear()
            for faults in self._faults.values():
                faults.clear()
            for window in self._windows.values():
                window.clear()
            self.requests.clear()
            self.webhooks.clear()

    # -- lifetime ---------------------------------------------------------------------------

    def start(self) -> "FakeProviders":
        """Start serving in a background thread (a new port after a ``stop``); returns self."""
        with self._lock:
            if self._server is not None:
                return self
            stopping = threading.Event()
            family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
            server = _Server((self._host, 0), _handler_for(self, stopping), family, stopping)
            self._server = server
            self._served_at = self.url
            self._deliveries = Deliveries(self.webhooks, self._push_timed)
            if any(job.hook and job.every for job in self._jobs.values()):
                self._deliveries.watch_time()
            self._thread = threading.Thread(target=server.serve_forever,
                                            kwargs={"poll_interval": 0.05},
                                            name="FakeProviders", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: close the listening socket and every open connection (kept-alive ones
        too; a reply not yet sent is never sent) and end their threads; stop pushing webhooks
        (a push not yet delivered is dropped, one under way is cut). Stopping a stopped
        server does nothing."""
        with self._lock:
            server, thread, deliveries = self._server, self._thread, self._deliveries
            self._server = self._thread = self._deliveries = None
        if server is None or thread is None:
            return
        server.stopping.set()
        server.shutdown()
        server.server_close()
        server.close_connections(STOP_GRACE)
        thread.join()
        if deliveries is not None:
            deliveries.stop(STOP_GRACE)

    @classmethod
    def fixture(cls, **kwargs: Any) -> Callable[[], Iterator["FakeProviders"]]:
        """A generator function for ``pytest.fixture``: a started server per test, stopped
        after it. ``fake = pytest.fixture(FakeProviders.fixture(api_key="k"))``."""

        def fake_providers() -> Iterator["FakeProviders"]:
            with cls(**kwargs) as fake:
                yield fake

        return fake_providers

    def __enter__(self) -> "FakeProviders":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (``http://[::1]:PORT`` on IPv6): the base URL of all four
        providers. Raises ``RuntimeError`` when not started."""
        server = self._server
        if server is None:
            raise RuntimeError("FakeProviders is not started")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{server.server_port}"

    # -- scripting --------------------------------------------------------------------------

    def add_job(self, provider: str, states: Sequence[str] = ("queued", "running", "succeeded"),
                *, urls: Optional[Sequence[str]] = None, error: Optional[str] = None,
                progress: Optional[Sequence[Any]] = None,
                queue_positions: Optional[Sequence[Any]] = None,
                every: Optional[float] = None, from_add: bool = False,
                job_id: Optional[str] = None, webhook_url: Optional[str] = None,
                webhook_secret: Union[str, bytes, None] = None,
                webhook_scheme: Optional[ClipiaSignature] = None,
                abstract_user_id: Optional[str] = None) -> str:
        """Add a job and return its id. ``states`` are normalized names (queued, running, succeeded,
        failed), one per status poll with the last repeating (or one per ``every`` seconds from the
        first status poll; with ``from_add=True``, from when it is added, as a provider times a job
        from its submission: a wait whose first poll comes late, as a schedule that learns makes it,
        then sees the job end when a real one would); any other string is sent as the provider's raw
        status value (but a misspelt name, ``succeded`` or ``Running``, is a ValueError). Clipia's
        result endpoint answers from the state its status endpoint last showed (202 until that was
        terminal). ``urls`` left out: two result files served by the fake itself (``media_urls``; a
        tiny PNG, no key needed), so that downloading them works offline. Raises ``ValueError`` on a
        bad argument (a SellerPic ``job_id`` that is not an int64 task id >= 0 in plain digits, as
        the client sends it, included: a poll's ``id`` that is no int64 is answered 400, and ``007``
        names task ``7``).

        ``abstract_user_id`` (Sivi only) makes the job that user's request: as on Sivi, it is
        found only by a poll that names that user (``abstractUserId``); any other poll, one
        that names no user included, gets 404 (a job added without it is found by any).

        With ``webhook_url`` (Sivi and Clipia, the providers that push), the job is pushed
        there, as JSON POSTs from a background thread (the body ``openapi/*.yaml`` assumes,
        ``WebhookEvent``), whenever what its status shows (state, progress, queue position)
        changes: on the status poll that moves it, or, for an ``every=`` job, when its time
        comes (its clock then starts when it is added, not at a first poll); so the terminal
        state is always pushed once. ``deliver_webhook`` pushes at a test's command. Pushes
        are signed with ``webhook_secret`` as ``webhook_scheme`` says (default
        ``webhooks.DEFAULT_CLIPIA_SIGNATURE``, for Sivi too, whose document names no
        signature); no secret: unsigned. Each is recorded in ``webhooks``."""
        check_provider(provider)
        hook = None
        if webhook_url is not None:
            if provider not in WEBHOOK_PROVIDERS:
                raise ValueError(f"{provider} documents no webhooks; "
                                 f"only {', '.join(WEBHOOK_PROVIDERS)} push")
            hook = Hook(webhook_url, webhook_secret, webhook_scheme)
        elif webhook_secret is not None or webhook_scheme is not None:
            raise ValueError("webhook_secret and webhook_scheme need a webhook_url")
        for name, value in (("states", states), ("urls", urls), ("progress", progress),
                            ("queue_positions", queue_positions)):
            if isinstance(value, (str, bytes)):  # (a str would be one state per character)
                raise ValueError(f"{name} must be a list, got the string {value!r}")
        if job_id is not None and (not isinstance(job_id, str) or not job_id):
            raise ValueError(f"job_id must be a non-empty string, got {job_id!r}")
        if (provider == "sellerpic" and job_id is not None
                and (_sellerpic_task(job_id) != job_id or job_id.startswith("-"))):
            raise ValueError(f"a SellerPic job_id is an int64 task id >= 0, written as the "
                             f"client sends it (digits, no leading zeros), got {job_id!r}")
        if abstract_user_id is not None and (provider != "sivi" or not isinstance(
                abstract_user_id, str) or not abstract_user_id):
            raise ValueError("abstract_user_id is a non-empty string, for Sivi's jobs only; "
                             f"got {abstract_user_id!r} for {provider}")
        if not states:
            raise ValueError("a job needs at least one state")
        _check_states(states, provider)
        if every is not None and not _check_seconds("every", every) > 0:
            raise ValueError(f"every must be more than 0 seconds, got {every!r}")
        if not isinstance(from_add, bool):
            raise ValueError(f"from_add must be True or False, got {from_add!r}")
        if from_add and every is None:
            raise ValueError("from_add=True times a job's states from when it is added: it "
                             "needs every= (seconds per state)")
        n = next(self._ids)
        if job_id is None:
            job_id = {"sellerpic": str(1000 + n), "clipia": str(uuid.uuid4())}.get(
                provider, f"{provider}-job-{n}")
        job = _Job(job_id, states, progress, queue_positions,
                   None if urls is None else list(urls), error, every)
        job.hook, job.user = hook, abstract_user_id
        with self._lock:
            if every is not None and (from_add or hook is not None):
                job.first_poll = self._clock()
            self._jobs[(provider, job_id)] = job
            deliveries = self._deliveries
        if deliveries is not None and hook is not None and every is not None:
            deliveries.watch_time()
        return job_id

    def deliver_webhook(self, job_id: str, *, provider: Optional[str] = None,
                        timeout: float = 10.0) -> WebhookDelivery:
        """Push job ``job_id`` now, whether or not anything changed, and return its record
        once delivered (after the pushes queued before it). What it pushes: the next state,
        as a status poll would move the job on (for an ``every=`` job, its state at the
        clock's time now). ``provider`` is needed only when two providers' jobs share the id.
        Raises ``ValueError`` for a job without a ``webhook_url``, ``RuntimeError`` when the
        server is not running or stops first, ``TimeoutError`` after ``timeout`` seconds."""
        _check_seconds("timeout", timeout)
        with self._lock:
            found = [(p, job) for (p, i), job in self._jobs.items()
                     if i == job_id and (provider is None or p == provider)]
            if len(found) != 1:
                raise ValueError(f"no job {job_id!r}" if not found else
                                 f"jobs of several providers have the id {job_id!r}: "
                                 "name the provider")
            (where, job), = found
            if job.hook is None:
                raise ValueError(f"{where} job {job_id!r} has no webhook_url")
            if self._deliveries is None:
                raise RuntimeError("FakeProviders is not started")
            push = self._push(where, job, self._shown(where, job, job.poll(self._clock())))
        if not push.done.wait(timeout):
            raise TimeoutError(f"the push of {where} job {job_id!r} was not delivered "
                               f"within {timeout:g} s")
        if push.record is None:
            raise RuntimeError("FakeProviders stopped before the push was delivered")
        return push.record

    def flush_webhooks(self, timeout: float = 10.0) -> None:
        """Wait until every push made so far is delivered (or given up after its retries);
        ``TimeoutError`` after ``timeout`` seconds. Does nothing when not started."""
        _check_seconds("timeout", timeout)
        with self._lock:
            deliveries = self._deliveries
        if deliveries is not None:
            deliveries.flush(timeout)

    def fail(self, provider: str, status: int = 503, *, times: int = 1,
             retry_after: Optional[Any] = None, job_id: Optional[str] = None,
             in_body: bool = False) -> None:
        """Answer the next ``times`` requests to ``provider`` (or to its job ``job_id``) with
        an HTTP error ``status`` (and a ``Retry-After`` header, seconds or HTTP date, when
        given). With ``in_body=True`` the reply is an HTTP 200 whose body carries the error
        where the provider puts one: Sivi's envelope ``status``, SellerPic's non-zero
        ``code`` (with ``success`` false), and for Rivya's ``not_found`` (``status=404``,
        the one error its document names without an HTTP status) an ``error`` object;
        other in-body errors are ones no document shows (Clipia's, Rivya's but not_found),
        so asking for them is a ``ValueError``.
        ``times`` must be a whole number of at least 1, and ``job_id`` a job already added
        (unless ``auto_jobs``), else ``ValueError``."""
        check_provider(provider)
        _check_times(times)
        if not isinstance(in_body, bool):
            raise ValueError(f"in_body must be True or False, got {in_body!r}")
        if in_body and (provider == "clipia" or (provider == "rivya" and status != 404)):
            raise ValueError(f"{provider} documents no error {status} inside a 200 reply"
                             f"{' (only not_found, status=404)' if provider == 'rivya' else ''}"
                             "; leave in_body out for an HTTP error status")
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError(f"status must be an HTTP status (an int from 100 to 599), "
                             f"got {status!r}")
        header = None if retry_after is None else str(retry_after)
        with self._lock:
            self._check_aim(provider, job_id)
            self._faults[provider].append(_Fault("in_body" if in_body else "status", times,
                                                 status, header, job_id=job_id))

    def _check_aim(self, provider: str, job_id: Optional[str]) -> None:
        """ValueError for a fault aimed at a job not added (a typo would leave it pending,
        never met, and a test of it passing untested); with ``auto_jobs`` any id is one."""
        if job_id is not None and self._auto_jobs is None and (
                provider, job_id) not in self._jobs:
            raise ValueError(f"no {provider} job {job_id!r} to aim the fault at: add it first "
                             "(or leave job_id out to aim at every request)")

    def fault(self, provider: str, kind: str, *, times: int = 1, seconds: float = 1.0,
              job_id: Optional[str] = None) -> None:
        """Inject a fault in the next ``times`` requests to ``provider``: ``slow`` (reply
        after ``seconds``), ``drop`` (close without replying), ``never`` (accept, answer
        nothing for ``seconds``), ``trickle`` (the whole reply, one byte per ``seconds``),
        ``empty``, ``html``, ``truncated``, ``off_spec``, ``huge`` (a 50 MB body),
        ``bad_utf8`` (invalid UTF-8 in a JSON string), ``bomb`` (100,000 nested arrays),
        ``html_as_json`` (an HTML page labelled application/json) or ``json_as_html`` (the
        right reply labelled text/html). ``times`` must be a whole number of at least 1,
        ``seconds`` at least 0, and ``job_id`` a job already added (unless ``auto_jobs``),
        else ``ValueError``."""
        check_provider(provider)
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULTS)}")
        _check_times(times)
        _check_seconds("seconds", seconds)
        with self._lock:
            self._check_aim(provider, job_id)
            self._faults[provider].append(_Fault(kind, times, seconds=seconds, job_id=job_id))

    def rate_limit(self, provider: str, per_second: Optional[int]) -> None:
        """Answer 429 (``Retry-After`` in whole seconds, at least 1, and the provider's error
        body) to a request that would make more than ``per_second`` requests to ``provider``
        in a sliding 1-second window; ``None`` removes the limit. As a real provider does, only
        requests let through are counted: a 429 does not use up the budget. Raises
        ``ValueError`` unless ``per_second`` is ``None`` or a whole number of at least 1."""
        check_provider(provider)
        if per_second is not None and (not isinstance(per_second, int)
                                       or isinstance(per_second, bool) or per_second < 1):
            raise ValueError(f"per_second must be a whole number >= 1 or None, "
                             f"got {per_second!r}")
        with self._lock:
            if per_second is None:
                self._limits.pop(provider, None)
            else:
                self._limits[provider] = per_second
            self._windows[provider].clear()

    def latency(self, provider: str, seconds: float) -> None:
        """Delay every later reply of ``provider`` by ``seconds`` (0: no delay), replacing the
        ``latency`` given to the constructor. Raises ``ValueError`` for a negative or
        non-finite number."""
        check_provider(provider)
        _check_seconds("seconds", seconds)
        with self._lock:
            self._latency[provider] = seconds

    def client(self, provider: str, **kwargs: Any) -> Any:
        """A client of ``provider`` pointed at this server, with its key (``base_url`` or
        ``api_key`` left out or ``None`` mean this server's, never the environment's). With
        this server's base URL (``base_url`` left out), its requests go here directly, never
        through the environment's proxy (HTTP_PROXY without a NO_PROXY for 127.0.0.1 would
        take them elsewhere); a ``base_url``, ``session`` or ``transport`` given is used as
        it is."""
        check_provider(provider)
        cls = client_class(provider)
        if kwargs.get("api_key") is None:
            kwargs["api_key"] = self.api_key
        direct = kwargs.get("base_url") is None
        if direct:
            kwargs["base_url"] = self.url
        client = cls(**kwargs)
        transport = client.transport
        if (direct and kwargs.get("session") is None and kwargs.get("transport") is None
                and isinstance(transport, RequestsTransport)):
            transport.session.proxies = {}  # (the client's own session: read per request)
        return client

    def media_urls(self, provider: str, job_id: str) -> List[str]:
        """The result URLs a job added without ``urls=`` reports: two files on this server,
        ``{url}/media/{provider}/{job id}/{provider}-{job id}-{1,2}.png`` (the id
        percent-encoded)."""
        return _media_urls(self.url, provider, job_id)

    # -- serving ----------------------------------------------------------------------------

    def _record(self, provider: Optional[str], method: str, path: str, query: Dict[str, str],
                headers: Sequence[Tuple[str, str]], now: float) -> None:
        recorded = {name: _redact_auth(value) if name.lower() in AUTH_HEADERS
                    else self._redact(value) for name, value in headers}
        path = "/".join(REDACTED if self._has_key(s) or self._has_key(unquote(s)) else s
                        for s in path.split("/"))
        query = {self._redact(k): self._redact(v) for k, v in query.items()}
        with self._lock:
            self.requests.append(RecordedRequest(provider or "", method, path, query, recorded,
                                                 now))

    def _has_key(self, value: str) -> bool:
        return len(self.api_key) >= MIN_KEY_TO_REDACT and self.api_key in value

    def _redact(self, value: str) -> str:
        return REDACTED if self._has_key(value) else value

    def _latency_for(self, provider: Optional[str]) -> float:
        with self._lock:
            return self._latency[provider]

    def _admit(self, provider: str, now: float) -> Optional[int]:
        """None when the request is within ``provider``'s rate limit (it is then counted), else
        the seconds until it would be."""
        with self._lock:
            limit = self._limits.get(provider)
            if limit is None:
                return None
            window = self._windows[provider]
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) < limit:
                window.append(now)
                return None
            return max(1, math.ceil(window[0] + 1.0 - now))

    def _has_job(self, provider: str, job_id: str) -> bool:
        with self._lock:
            return (provider, job_id) in self._jobs

    def _take_fault(self, provider: str, job_id: Optional[str]) -> Optional[_Fault]:
        with self._lock:
            for fault in self._faults[provider]:
                if fault.job_id is None or fault.job_id == job_id:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults[provider].remove(fault)
                    return fault
        return None

    def _job_view(self, provider: str, job_id: str, endpoint: str,
                  now: float, user: Optional[str] = None) -> Optional[JobView]:
        with self._lock:
            job = self._jobs.get((provider, job_id))
            if job is None and self._auto_jobs is not None:
                job = self._jobs[(provider, job_id)] = _Job(job_id, self._auto_jobs, None, None,
                                                            None, None, None)
            if job is None or (job.user is not None and job.user != user):
                return None  # (Sivi: a request added as one user's is not found by another)
            if endpoint != "status":
                return self._shown(provider, job, job.result())
            view = self._shown(provider, job, job.poll(now))
            if (job.hook is not None and self._deliveries is not None  # None: stopping
                    and _showing(view) != job.pushed):
                self._push(provider, job, view)
        return view

    def _shown(self, provider: str, job: _Job, view: JobView) -> JobView:
        if job.own_media:
            # (the server's base URL as started: a reply in the making when stop() comes
            # would meet a server that is gone, and its thread end in an error)
            view.urls = _media_urls(self._served_at, provider, job.job_id)
        if provider == "clipia" and self.api_key.startswith("clipia_test_"):
            # Clipia's sandbox: COMPLETED at once, with its one fixed sample asset, whatever
            # the job (its own URLs would be what no sandbox returns)
            view.state, view.urls = "succeeded", [_render.CLIPIA_SAMPLE]
        return view

    def _push(self, provider: str, job: _Job, view: JobView) -> Push:
        """Queue a push of ``view`` (the lock held: pushes keep the order of what was shown)."""
        assert job.hook is not None and self._deliveries is not None
        job.pushed = _showing(view)
        push = make_push(provider, job.job_id, job.hook, _render.webhook(provider, view),
                         self._clock())
        return self._deliveries.send(push)

    def _push_timed(self) -> bool:
        """Push every ``every=`` job whose state changed with time; False when none can."""
        with self._lock:
            if self._deliveries is None:
                return False
            now, left = self._clock(), False
            for (provider, _), job in self._jobs.items():
                if job.hook is None or job.every is None:
                    continue
                view = self._shown(provider, job, job.poll(now))
                if _showing(view) != job.pushed:
                    self._push(provider, job, view)
                left = left or job.shown != len(job.states) - 1
            return left


class _Server(ThreadingHTTPServer):
    """One thread per connection, each tracked so that ``close_connections`` can end them."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024  # the listen backlog: a thousand clients connecting at once

    def __init__(self, address: Tuple[str, int], handler: type, family: socket.AddressFamily,
                 stopping: threading.Event) -> None:
        self.address_family = family
        self.stopping = stopping
        self._connections: Dict[Any, threading.Thread] = {}
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def get_request(self) -> Tuple[socket.socket, Any]:
        sock, address = super().get_request()
        # Without TCP_NODELAY every reply waits ~40 ms for a delayed ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, address

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._serve, args=(request, client_address),
                                  name="FakeProviders connection", daemon=True)
        with self._connections_lock:
            if self.stopping.is_set():
                self.shutdown_request(request)
                return
            self._connections[request] = thread
        thread.start()

    def _serve(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except OSError:
            pass  # the client went away, or stop() shut the connection: nothing to report
        finally:
            with self._connections_lock:
                self._connections.pop(request, None)
            self.shutdown_request(request)

    def close_connections(self, timeout: float) -> None:
        """Shut every open connection (its thread's next read or write fails at once) and
        wait up to ``timeout`` seconds for their threads."""
        with self._connections_lock:
            connections = list(self._connections.items())
        for sock, _ in connections:
            with contextlib.suppress(OSError):  # already closed by its thread
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for _, thread in connections:
            thread.join(max(0.0, deadline - time.monotonic()))


def _media_urls(base: str, provider: str, job_id: str) -> List[str]:
    segment = quote(job_id, safe="")
    return [f"{base}{MEDIA}{provider}/{segment}/{provider}-{segment}-{i}.png" for i in (1, 2)]


def _showing(view: JobView) -> Tuple[str, Any, Any]:
    return view.state, view.progress, view.queue_position


NAMES = ("queued", "running", "succeeded", "failed")


def _check_states(states: Sequence[Any], provider: Optional[str]) -> None:
    """ValueError for a state that is no string, or that looks like a misspelt normalized
    name ("succeded", "Running"): sent as a raw status, it would read as UNKNOWN and the
    test's wait poll on until its timeout. A provider's own value ("complete") is kept."""
    natives = {value for name, values in _render.NATIVE.items()
               if provider in (None, name) for value in values.values()}
    for state in states:
        if not isinstance(state, str) or not state:
            raise ValueError(f"a state is a non-empty string, got {state!r}")
        if state in NAMES or state in natives:
            continue
        near = difflib.get_close_matches(state.lower(), NAMES, n=1, cutoff=0.8)
        if near:
            raise ValueError(f"unknown state {state!r}: did you mean {near[0]!r}? (states are "
                             f"{', '.join(NAMES)}, or a provider's own status value)")


def _check_times(times: int) -> None:
    if not isinstance(times, int) or isinstance(times, bool) or times < 1:
        raise ValueError(f"times must be a whole number >= 1 (the number of requests it "
                         f"applies to), got {times!r}")


def _check_seconds(name: str, seconds: float) -> float:
    if (not isinstance(seconds, (int, float)) or isinstance(seconds, bool)
            or not math.isfinite(seconds) or seconds < 0):
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {seconds!r}")
    return seconds


def _redact_auth(value: str) -> str:
    scheme, _, rest = value.strip().partition(" ")
    if not scheme:
        return value  # nothing was sent to hide
    return f"{scheme} {REDACTED}" if rest.strip() and _SCHEME.fullmatch(scheme) else REDACTED


def _split_target(target: str) -> Optional[Tuple[str, str]]:
    """(path, query) of a request target, in origin form or (from a client that takes the fake
    for its proxy) absolute form; None when it is neither."""
    if target.startswith("/") or target == "*":  # "*": OPTIONS for the server as a whole
        path, _, query = target.partition("?")
        return path, query
    try:
        parts = urlsplit(target)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return parts.path or "/", parts.query


def _route(path: str) -> Tuple[Optional[str], Optional[str], str]:
    """(provider, raw job id or None, endpoint) for a request path."""
    if path == "/api/prod/v2/enterprise/get-request-status":
        return "sivi", None, "status"
    if path == "/v1/api/generate":
        return "sellerpic", None, "status"
    parts = path.split("/")
    if len(parts) == 5 and path.startswith("/api/v1/generations/"):
        return "rivya", unquote(parts[4]), "status"
    if len(parts) in (4, 5) and path.startswith("/v1/requests/"):
        if len(parts) == 5 and parts[4] != "status":
            return None, None, ""
        return "clipia", unquote(parts[3]), "status" if len(parts) == 5 else "result"
    return None, None, ""


def _sellerpic_task(value: str) -> Optional[str]:
    """SellerPic's ``id`` as the task it names (an int64's digits, without leading zeros), or
    None when it is no int64: the document's id is an ``integer <int64>``."""
    if not _SELLERPIC_ID.fullmatch(value) or not -2**63 <= int(value) < 2**63:
        return None
    return str(int(value))


def _sivi_request_id(query: Dict[str, str]) -> Optional[str]:
    try:
        params = json.loads(query.get("queryParams", ""))
    except (ValueError, RecursionError):  # RecursionError: deeply nested arrays or objects
        return None
    request_id = params.get("requestId") if isinstance(params, dict) else None
    return request_id if isinstance(request_id, str) and request_id else None


def _sivi_user(query: Dict[str, str]) -> Optional[str]:
    """The ``abstractUserId`` a Sivi poll names (None: the key's own user)."""
    try:
        params = json.loads(query.get("queryParams", ""))
    except (ValueError, RecursionError):
        return None
    user = params.get("abstractUserId") if isinstance(params, dict) else None
    return user if isinstance(user, str) and user else None


def _is_json(content_type: Optional[str]) -> bool:
    return (content_type or "").split(";")[0].strip().lower() == "application/json"


def _handler_for(fake: FakeProviders, stopping: threading.Event) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeProviders/1"

        trickle: Optional[float] = None
        content_type = "application/json"
        delay = 0.0

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def handle_one_request(self) -> None:
            # The standard one with a longer request line (MAX_REQUEST_LINE) and every
            # reply in JSON.
            try:
                self.raw_requestline = self.rfile.readline(MAX_REQUEST_LINE + 1)
                if len(self.raw_requestline) > MAX_REQUEST_LINE:
                    self.requestline = self.request_version = self.command = ""
                    self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                    return
                if not self.raw_requestline:
                    self.close_connection = True
                    return
                if not self.parse_request():
                    return  # parse_request has sent the error
                method = getattr(self, "do_" + self.command, None)
                if method is None:
                    self.send_error(HTTPStatus.NOT_IMPLEMENTED,
                                    f"Unsupported method ({self.command!r})")
                    return
                method()
                self.wfile.flush()
            except socket.timeout:
                self.close_connection = True

        def send_error(self, code: int, message: Optional[str] = None,
                       explain: Optional[str] = None) -> None:
            """The standard error reply (bad request line, headers too long, ...) in JSON, and
            with a status line even when the request line was unreadable (the standard one then
            falls back to HTTP/0.9: a bare body)."""
            self.close_connection = True
            self.request_version = "HTTP/1.1"
            phrase = self.responses.get(code, ("Error",))[0]
            data = json.dumps({"error": {"status": code, "message": message or phrase}}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            if getattr(self, "command", None) != "HEAD":
                self.wfile.write(data)

        def do_GET(self) -> None:
            self.trickle, self.content_type, self.delay = None, "application/json", 0.0
            now = fake._clock()
            target = _split_target(self.path)
            path, raw_query = target or (self.path, "")
            query = dict(parse_qsl(raw_query, keep_blank_values=True))
            provider, job_id, endpoint = _route(path) if target else (None, None, "")
            fake._record(provider, self.command, path, query, list(self.headers.items()), now)
            self.delay = fake._latency_for(provider)
            if not self._drop_body():
                return self._send(400, {"error": "bad Content-Length"})
            if target is None:
                return self._send(400, {"error": "bad request target"})
            if provider is None and path.startswith(MEDIA):
                return self._media(path)
            if provider is None:
                return self._send(404, {"error": "no such endpoint"})
            trace_id = uuid.uuid4().hex
            retry_after = fake._admit(provider, now)
            if retry_after is not None:
                return self._send(429, _render.error_body(provider, 429, "Too many requests",
                                                          trace_id),
                                  {"Retry-After": str(retry_after)})
            if self.command != "GET":
                return self._send(405, _render.error_body(
                    provider, 405, f"Method {self.command} not allowed; use GET", trace_id),
                    {"Allow": "GET"})
            if provider == "sivi":
                job_id = _sivi_request_id(query)
                if job_id is None:
                    return self._send(400, _render.error_body(
                        "sivi", 400, "queryParams must be a JSON object with a requestId",
                        trace_id))
            elif provider == "sellerpic":
                job_id = _sellerpic_task(query.get("id", ""))
                if job_id is None or not _is_json(self.headers.get("Content-Type")):
                    message = ("id is required" if not query.get("id") else
                               "id must be an integer (int64)" if job_id is None else
                               "Content-Type must be application/json")
                    return self._send(400, _render.error_body("sellerpic", 400, message,
                                                              trace_id))
            if not self._authorized(provider):
                return self._send(401, _render.error_body(provider, 401, "Invalid API key",
                                                          trace_id))
            fault = fake._take_fault(provider, job_id)
            if fault is not None and self._apply(fault, provider, trace_id):
                return
            view = fake._job_view(provider, str(job_id), endpoint, now,
                                  _sivi_user(query) if provider == "sivi" else None)
            if view is None:
                message = "Record Not Found" if provider == "sellerpic" else "Task not found."
                return self._send(404, _render.error_body(provider, 404, message, trace_id))
            if fault is not None and fault.kind == "off_spec":
                return self._send(200, {"status": 200, "body": {"status": 7}, "id": None,
                                        "code": "zero", "request_id": 1})
            if provider == "sivi":
                self._send(200, _render.sivi(view))
            elif provider == "rivya":
                self._send(200, _render.rivya(view))
            elif provider == "sellerpic":
                self._send(200, _render.sellerpic(view, trace_id))
            elif endpoint == "status":
                self._send(200, _render.clipia_status(view))
            else:
                self._send(*_render.clipia_result(view))

        # the other standard methods: 405 on a known path; any other method is 501
        do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET
        do_OPTIONS = do_TRACE = do_CONNECT = do_GET

        def _media(self, path: str) -> None:
            """A job's result file: the same small PNG for any name under a known job."""
            parts = path[len(MEDIA):].split("/")
            if self.command not in ("GET", "HEAD"):
                return self._send(405, {"error": "use GET"}, {"Allow": "GET, HEAD"})
            if len(parts) != 3 or not parts[2] or not fake._has_job(parts[0], unquote(parts[1])):
                return self._send(404, {"error": "no such file"})
            self._send_raw(200, MEDIA_BYTES, "image/png" if parts[2].endswith(".png")
                           else "application/octet-stream")

        def _drop_body(self) -> bool:
            """Read a small request body, so that the next request on the connection starts
            where it should; with a large, chunked or unreadable one, close after replying.
            False for a Content-Length that is not a number."""
            length = (self.headers.get("Content-Length") or "0").strip()
            if not length.isdigit() or not length.isascii():
                self.close_connection = True
                return False
            if "Transfer-Encoding" in self.headers or int(length) > MAX_DISCARDED_BODY:
                self.close_connection = True
            elif int(length) > 0:
                try:
                    self.connection.settimeout(1.0)
                    self.rfile.read(int(length))
                except OSError:
                    self.close_connection = True
                finally:
                    with contextlib.suppress(OSError):
                        self.connection.settimeout(None)
            return True

        def _authorized(self, provider: str) -> bool:
            if provider == "sivi":
                return self.headers.get("sivi-api-key") == fake.api_key
            scheme = "Key" if provider == "clipia" else "Bearer"
            return self.headers.get("Authorization") == f"{scheme} {fake.api_key}"

        def _apply(self, fault: _Fault, provider: str, trace_id: str) -> bool:
            """Carry out a fault; True when the reply has been dealt with."""
            if fault.kind in ("status", "in_body"):
                body = _render.error_body(provider, fault.status, "injected error", trace_id)
                extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                self._send(200 if fault.kind == "in_body" else fault.status, body, extra)
            elif fault.kind == "slow":
                if stopping.wait(fault.seconds):
                    self.close_connection = True
                    return True
                return False
            elif fault.kind == "never":
                if self._delay_reply():
                    stopping.wait(fault.seconds)
                self.close_connection = True
            elif fault.kind == "drop":
                self._delay_reply()
                self.close_connection = True
            elif fault.kind == "empty":
                self._send_raw(200, b"", "application/json")
            elif fault.kind == "html":
                self._send_raw(200, b"<html><body>Bad Gateway</body></html>", "text/html")
            elif fault.kind == "truncated":
                self._send_raw(200, b'{"status": 200, "body": {"stat', "application/json")
            elif fault.kind == "huge":
                self._send_huge()
            elif fault.kind == "bad_utf8":
                self._send_raw(200, b'{"status": "\xff\xfe\xc3("}', "application/json")
            elif fault.kind == "bomb":
                self._send_raw(200, b"[" * 100_000 + b"]" * 100_000, "application/json")
            elif fault.kind == "html_as_json":
                self._send_raw(200, b"<!DOCTYPE html><title>502</title>", "application/json")
            elif fault.kind == "trickle":
                self.trickle = fault.seconds
                return False
            elif fault.kind == "json_as_html":
                self.content_type = "text/html; charset=iso-8859-1"
                return False
            else:
                return False
            return True

        def _delay_reply(self) -> bool:
            """Wait out the latency; False (the connection to be closed, unanswered) when the
            server stopped meanwhile."""
            delay, self.delay = self.delay, 0.0
            if stopping.wait(delay) if delay > 0 else stopping.is_set():
                self.close_connection = True
                return False
            return True

        def _send(self, status: int, body: Any, headers: Optional[Dict[str, str]] = None) -> None:
            self._send_raw(status, json.dumps(body).encode(), self.content_type, headers)

        def _send_raw(self, status: int, data: bytes, content_type: str,
                      headers: Optional[Dict[str, str]] = None) -> None:
            if not self._delay_reply():
                return
            fields = {"Content-Type": content_type, "Content-Length": str(len(data)),
                      **(headers or {})}
            if self.command == "HEAD":
                data = b""
            if self.trickle is not None:
                return self._trickle(status, fields, data, self.trickle)
            self.send_response(status)
            for name, value in fields.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _trickle(self, status: int, fields: Dict[str, str], data: bytes,
                     seconds: float) -> None:
            phrase = self.responses.get(status, ("",))[0]
            head = f"HTTP/1.1 {status} {phrase}\r\nConnection: close\r\n" + "".join(
                f"{name}: {value}\r\n" for name, value in fields.items()) + "\r\n"
            reply = head.encode("latin-1") + data
            self.close_connection = True
            try:
                for i in range(len(reply)):
                    self.wfile.write(reply[i:i + 1])
                    self.wfile.flush()
                    if stopping.wait(seconds):
                        return
            except OSError:
                pass  # the client gave up, as it should

        def _send_huge(self) -> None:
            # 50 MB of a JSON string, chunked, so that no Content-Length gives it away.
            self.close_connection = True
            if not self._delay_reply():
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"x" * 65536
            try:
                self.wfile.write(b'1\r\n"\r\n')
                for _ in range(50 * 16):
                    if stopping.is_set():
                        return
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b'1\r\n"\r\n0\r\n\r\n')
            except OSError:
                pass  # the client stopped reading, as it should

    return Handler
