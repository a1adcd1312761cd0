"""FakeProviders' webhook pushes: signed POSTs from one background thread (standard library
only), in the order they were made, each recorded as a ``WebhookDelivery``."""

import contextlib
import http.client
import json
import socket
import ssl
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, List, NamedTuple, Optional, Union
from urllib.parse import urlsplit

from ..webhooks import DEFAULT_CLIPIA_SIGNATURE, ClipiaSignature

ATTEMPTS = 3  # one try and two retries, on connection failures only
RETRY_DELAYS = (0.05, 0.2)
TIMEOUT = 5.0  # seconds to connect, and then for the receiver's reply
MAX_REPLY = 2**16  # of the receiver's reply body, read and dropped
TICK = 0.02  # seconds between two looks at the clock for ``every=`` jobs


class WebhookDelivery(NamedTuple):
    """One push FakeProviders made: where to, the receiver's HTTP status (``None`` when no
    attempt got a reply: then ``error`` says why), the JSON body and the headers sent (the
    signature headers among them; never the secret), the attempts made and the fake's clock
    when the push was made."""

    provider: str
    job_id: str
    url: str
    status: Optional[int]
    body: bytes
    headers: Dict[str, str]
    attempts: int = 1
    error: Optional[str] = None
    time: float = 0.0


class Hook:
    """Where a job's pushes go and how they are signed (the secret stays out of the repr)."""

    __slots__ = ("url", "_secret", "scheme")

    def __init__(self, url: str, secret: Union[str, bytes, None],
                 scheme: Optional[ClipiaSignature]) -> None:
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"webhook_url must be an http:// or https:// URL, got {url!r}")
        try:
            parts.port  # noqa: B018 - raises for a bad port
        except ValueError:
            raise ValueError(f"webhook_url has a bad port: {url!r}") from None
        if secret is not None and (not isinstance(secret, (str, bytes)) or not secret):
            raise ValueError("webhook_secret must be a non-empty str or bytes, or None for "
                             "unsigned pushes")
        if scheme is not None and not isinstance(scheme, ClipiaSignature):
            raise ValueError(f"webhook_scheme must be a ClipiaSignature, "
                             f"got {type(scheme).__name__}")
        self.url, self._secret = url, secret
        self.scheme = scheme or DEFAULT_CLIPIA_SIGNATURE

    def headers(self, body: bytes) -> Dict[str, str]:
        signed = {} if self._secret is None else self.scheme.headers(body, self._secret)
        return {"Content-Type": "application/json", "User-Agent": "FakeProviders/1", **signed}

    def __repr__(self) -> str:
        signed = "unsigned" if self._secret is None else "signed"
        return f"Hook({self.url!r}, {signed})"


class Push:
    """One push waiting for its delivery (``done`` is set once it is recorded or dropped)."""

    def __init__(self, provider: str, job_id: str, url: str, body: bytes,
                 headers: Dict[str, str], made: float) -> None:
        self.provider, self.job_id, self.url = provider, job_id, url
        self.body, self.headers, self.made = body, headers, made
        self.done = threading.Event()
        self.record: Optional[WebhookDelivery] = None


def make_push(provider: str, job_id: str, hook: Hook, payload: Any, made: float) -> Push:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Push(provider, job_id, hook.url, body, hook.headers(body), made)


class Deliveries:
    """The delivery thread of one FakeProviders run, and its timer for ``every=`` jobs."""

    def __init__(self, records: List[WebhookDelivery], tick: Callable[[], bool]) -> None:
        self._records = records
        self._tick = tick  # pushes what ``every=`` jobs show now; False once none is left
        self._queue: Deque[Push] = deque()
        self._pending = 0
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._socket: Optional[socket.socket] = None
        self._sender: Optional[threading.Thread] = None
        self._timer: Optional[threading.Thread] = None
        self._timer_wanted = False  # set by watch_time: the timer looks once more before ending

    def send(self, push: Push) -> Push:
        """Queue ``push`` (never blocking on the network); returns it."""
        with self._cond:
            if self._stopping.is_set():
                push.done.set()
                return push
            self._queue.append(push)
            self._pending += 1
            if self._sender is None:
                self._sender = threading.Thread(target=self._run, name="FakeProviders webhooks",
                                                daemon=True)
                self._sender.start()
            self._cond.notify_all()
        return push

    def watch_time(self) -> None:
        """Start the timer that pushes ``every=`` jobs' changes (once; a no-op when stopped)."""
        with self._cond:
            self._timer_wanted = True
            if self._timer is not None or self._stopping.is_set():
                return
            self._timer = threading.Thread(target=self._watch, name="FakeProviders webhook timer",
                                           daemon=True)
            self._timer.start()

    def flush(self, timeout: float) -> None:
        """Wait until every queued push is delivered or given up; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    plural = "es" if self._pending != 1 else ""
                    raise TimeoutError(f"{self._pending} webhook push{plural} still pending "
                                       f"after {timeout:g} s")
                self._cond.wait(left)

    def stop(self, grace: float) -> None:
        """Stop delivering: queued pushes are dropped (not recorded), one under way is cut."""
        with self._cond:
            self._stopping.set()
            dropped = list(self._queue)
            self._queue.clear()
            self._pending -= len(dropped)
            sock = self._socket
            self._cond.notify_all()
        for push in dropped:
            push.done.set()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in (self._sender, self._timer):
            if thread is not None and thread is not threading.current_thread():
                thread.join(grace)

    # -- the threads ------------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._stopping.wait(TICK):
            with self._cond:
                self._timer_wanted = False
            if self._tick():
                continue
            with self._cond:  # a job added meanwhile (watch_time) gets its look first
                if not self._timer_wanted:
                    self._timer = None
                    return

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping.is_set():
                    self._cond.wait()
                if self._stopping.is_set():
                    return
                push = self._queue.popleft()
            record = self._deliver(push)
            with self._cond:
                if record is not None:
                    push.record = record
                    self._records.append(record)
                self._pending -= 1
                self._cond.notify_all()
            push.done.set()

    def _deliver(self, push: Push) -> Optional[WebhookDelivery]:
        """POST the push, trying again on a connection failure; None when stopped meanwhile."""
        parts = urlsplit(push.url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        error = ""
        for attempt in range(1, ATTEMPTS + 1):
            connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
            try:
                sock = socket.create_connection((host, port), TIMEOUT)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with self._cond:  # from here on stop() can cut it
                    self._socket = sock
                    stopped = self._stopping.is_set()
                if stopped:
                    sock.close()
                    return None
                if parts.scheme == "https":
                    sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
                connection.sock = sock
                connection.request("POST", target, body=push.body, headers=push.headers)
                reply = connection.getresponse()
                reply.read(MAX_REPLY)
                return WebhookDelivery(push.provider, push.job_id, push.url, reply.status,
                                       push.body, push.headers, attempt, None, push.made)
            except (OSError, http.client.HTTPException) as exc:
                error = f"{type(exc).__name__}: {exc}"[:200]
            finally:
                with self._cond:
                    self._socket = None
                connection.close()
            if self._stopping.wait(RETRY_DELAYS[attempt - 1] if attempt < ATTEMPTS else 0):
                return None
        return WebhookDelivery(push.provider, push.job_id, push.url, None, push.body,
                               push.headers, ATTEMPTS, error, push.made)
