"""FakeProviders: one threaded HTTP server on 127.0.0.1 that speaks all four provider APIs."""

import itertools
import json
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple
from urllib.parse import parse_qsl, unquote, urlsplit

from . import _render
from ._render import JobView

PROVIDERS = ("sivi", "rivya", "sellerpic", "clipia")
STATES = ("queued", "running", "succeeded", "failed")
FAULTS = ("slow", "drop", "empty", "html", "truncated", "off_spec", "huge", "never", "trickle",
          "bad_utf8", "bomb", "html_as_json", "json_as_html")
REDACTED = "[redacted]"


class RecordedRequest(NamedTuple):
    """One request the fake received; API keys in headers are replaced by ``[redacted]``."""

    provider: str
    method: str
    path: str
    query: Dict[str, str]
    headers: Dict[str, str]


class _Job:
    def __init__(self, job_id: str, states: Sequence[str], progress: Optional[Sequence[Any]],
                 queue_positions: Optional[Sequence[Any]], urls: List[str],
                 error: Optional[str], every: Optional[float]) -> None:
        self.job_id, self.states, self.urls, self.error = job_id, list(states), urls, error
        self.every, self.polls = every, 0
        self.first_poll: Optional[float] = None
        n = len(self.states)
        self.progress = list(progress) if progress is not None else [
            round(100 * i / max(1, n - 1), 1) if s == "running" else None
            for i, s in enumerate(self.states)]
        self.queue_positions = list(queue_positions) if queue_positions is not None else [
            max(0, self.states[i:].count("queued") - 1) if s == "queued" else None
            for i, s in enumerate(self.states)]

    def view(self, advance: bool) -> JobView:
        if self.every is not None:
            if self.first_poll is None:
                self.first_poll = time.monotonic()
            index = int((time.monotonic() - self.first_poll) / self.every)
        else:
            index = self.polls
            if advance:
                self.polls += 1
        index = min(index, len(self.states) - 1)
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


class FakeProviders:
    """A real HTTP server on 127.0.0.1 (a free port) serving Sivi, Rivya, SellerPic and Clipia
    at their documented paths, with their auth headers, bodies and status codes.

    Jobs follow a script (``add_job``: one state per poll, the last repeating, or one per
    ``every`` seconds); faults are injected with ``fail`` and ``fault``; every request is
    recorded in ``requests`` with keys redacted. Use it as a context manager.
    """

    def __init__(self, api_key: str = "test-key", *, host: str = "127.0.0.1") -> None:
        self.api_key = api_key
        self._host = host
        self._lock = threading.Lock()
        self._jobs: Dict[Tuple[str, str], _Job] = {}
        self._faults: Dict[str, List[_Fault]] = {p: [] for p in PROVIDERS}
        self._ids = itertools.count(1)
        self.requests: List[RecordedRequest] = []
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # -- lifetime ---------------------------------------------------------------------------

    def start(self) -> "FakeProviders":
        """Start serving in a background thread; returns self."""
        if self._server is None:
            self._server = _Server((self._host, 0), _handler_for(self))
            self._thread = threading.Thread(target=self._server.serve_forever,
                                            kwargs={"poll_interval": 0.05},
                                            name="FakeProviders", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

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
        """``http://127.0.0.1:PORT``: the base URL of all four providers."""
        if self._server is None:
            raise RuntimeError("FakeProviders is not started")
        return f"http://{self._host}:{self._server.server_port}"

    # -- scripting --------------------------------------------------------------------------

    def add_job(self, provider: str, states: Sequence[str] = ("queued", "running", "succeeded"),
                *, urls: Optional[Sequence[str]] = None, error: Optional[str] = None,
                progress: Optional[Sequence[Any]] = None,
                queue_positions: Optional[Sequence[Any]] = None,
                every: Optional[float] = None, job_id: Optional[str] = None) -> str:
        """Add a job and return its id. ``states`` are normalized names (queued, running,
        succeeded, failed), one per status poll with the last repeating (or one per ``every``
        seconds from the first poll); any other string is sent as the provider's raw status
        value."""
        _check_provider(provider)
        if not states:
            raise ValueError("a job needs at least one state")
        n = next(self._ids)
        if job_id is None:
            job_id = {"sellerpic": str(1000 + n), "clipia": str(uuid.uuid4())}.get(
                provider, f"{provider}-job-{n}")
        if urls is None:
            urls = [f"https://media.example.test/{provider}/{job_id}/{i}.png" for i in (1, 2)]
        job = _Job(job_id, states, progress, queue_positions, list(urls), error, every)
        with self._lock:
            self._jobs[(provider, job_id)] = job
        return job_id

    def fail(self, provider: str, status: int = 503, *, times: int = 1,
             retry_after: Optional[Any] = None, job_id: Optional[str] = None) -> None:
        """Answer the next ``times`` requests to ``provider`` with an HTTP error ``status``
        (and a ``Retry-After`` header, seconds or HTTP date, when given)."""
        _check_provider(provider)
        header = None if retry_after is None else str(retry_after)
        with self._lock:
            self._faults[provider].append(_Fault("status", times, status, header, job_id=job_id))

    def fault(self, provider: str, kind: str, *, times: int = 1, seconds: float = 1.0,
              job_id: Optional[str] = None) -> None:
        """Inject a fault in the next ``times`` requests to ``provider``: ``slow`` (reply
        after ``seconds``), ``drop`` (close without replying), ``never`` (accept, answer
        nothing for ``seconds``), ``trickle`` (the whole reply, one byte per ``seconds``),
        ``empty``, ``html``, ``truncated``, ``off_spec``, ``huge`` (a 50 MB body),
        ``bad_utf8`` (invalid UTF-8 in a JSON string), ``bomb`` (100,000 nested arrays),
        ``html_as_json`` (an HTML page labelled application/json) or ``json_as_html`` (the
        right reply labelled text/html)."""
        _check_provider(provider)
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULTS)}")
        with self._lock:
            self._faults[provider].append(_Fault(kind, times, seconds=seconds, job_id=job_id))

    def client(self, provider: str, **kwargs: Any) -> Any:
        """A client of ``provider`` pointed at this server, with its key."""
        _check_provider(provider)
        from ..providers.clipia import ClipiaClient
        from ..providers.rivya import RivyaClient
        from ..providers.sellerpic import SellerPicClient
        from ..providers.sivi import SiviClient

        cls = {"sivi": SiviClient, "rivya": RivyaClient, "sellerpic": SellerPicClient,
               "clipia": ClipiaClient}[provider]
        kwargs.setdefault("api_key", self.api_key)
        if "base_url" not in kwargs:
            kwargs["base_url"] = self.url
        return cls(**kwargs)

    # -- serving ----------------------------------------------------------------------------

    def _take_fault(self, provider: str, job_id: Optional[str]) -> Optional[_Fault]:
        with self._lock:
            for fault in self._faults[provider]:
                if fault.job_id is None or fault.job_id == job_id:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults[provider].remove(fault)
                    return fault
        return None

    def _job_view(self, provider: str, job_id: str, advance: bool) -> Optional[JobView]:
        with self._lock:
            job = self._jobs.get((provider, job_id))
            if job is None:
                return None
            view = job.view(advance)
        if provider == "clipia" and self.api_key.startswith("clipia_test_"):
            view.state, view.urls = "succeeded", view.urls or [_render.CLIPIA_SAMPLE]
        return view


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def get_request(self) -> Tuple[socket.socket, Any]:
        sock, address = super().get_request()
        # Without TCP_NODELAY every reply waits ~40 ms for a delayed ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, address


def _check_provider(provider: str) -> None:
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; one of {', '.join(PROVIDERS)}")


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


def _handler_for(fake: FakeProviders) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeProviders/1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        trickle: Optional[float] = None
        content_type = "application/json"

        def do_GET(self) -> None:
            self.trickle, self.content_type = None, "application/json"
            split = urlsplit(self.path)
            query = dict(parse_qsl(split.query, keep_blank_values=True))
            provider, job_id, endpoint = _route(split.path)
            headers = {k: v.replace(fake.api_key, REDACTED) if fake.api_key else v
                       for k, v in self.headers.items()}
            with fake._lock:
                fake.requests.append(RecordedRequest(provider or "", "GET", split.path, query,
                                                     headers))
            if provider is None:
                return self._send(404, {"error": "no such endpoint"})
            if provider == "sivi":
                try:
                    job_id = json.loads(query.get("queryParams", "")).get("requestId")
                except (ValueError, AttributeError):
                    return self._send(400, _render.error_body("sivi", 400, "bad queryParams", ""))
            elif provider == "sellerpic":
                job_id = query.get("id", "")
            trace_id = uuid.uuid4().hex
            if not self._authorized(provider):
                return self._send(401, _render.error_body(provider, 401, "Invalid API key",
                                                          trace_id))
            fault = fake._take_fault(provider, job_id)
            if fault is not None and self._apply(fault, provider, trace_id):
                return
            view = fake._job_view(provider, str(job_id), advance=endpoint == "status")
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

        def _authorized(self, provider: str) -> bool:
            if provider == "sivi":
                return self.headers.get("sivi-api-key") == fake.api_key
            scheme = "Key" if provider == "clipia" else "Bearer"
            return self.headers.get("Authorization") == f"{scheme} {fake.api_key}"

        def _apply(self, fault: _Fault, provider: str, trace_id: str) -> bool:
            """Carry out a fault; True when the reply has been dealt with."""
            if fault.kind == "status":
                body = _render.error_body(provider, fault.status, "injected error", trace_id)
                extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                self._send(fault.status, body, extra)
            elif fault.kind == "slow":
                time.sleep(fault.seconds)
                return False
            elif fault.kind == "never":
                time.sleep(fault.seconds)
                self.close_connection = True
            elif fault.kind == "drop":
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

        def _send(self, status: int, body: Any, headers: Optional[Dict[str, str]] = None) -> None:
            self._send_raw(status, json.dumps(body).encode(), self.content_type, headers)

        def _send_raw(self, status: int, data: bytes, content_type: str,
                      headers: Optional[Dict[str, str]] = None) -> None:
            fields = {"Content-Type": content_type, "Content-Length": str(len(data)),
                      **(headers or {})}
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
                    time.sleep(seconds)
            except OSError:
                pass  # the client gave up, as it should

        def _send_huge(self) -> None:
            # 50 MB of a JSON string, chunked, so that no Content-Length gives it away.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"x" * 65536
            try:
                self.wfile.write(b'1\r\n"\r\n')
                for _ in range(50 * 16):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b'1\r\n"\r\n0\r\n\r\n')
            except OSError:
                pass  # the client stopped reading, as it should
            self.close_connection = True

    return Handler
