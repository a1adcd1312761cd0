"""The one place that touches requests and urllib3.

A transport sends one GET and returns a ``Reply`` (status, headers, body bytes) or raises
``TransportError`` / ``ResponseFormatError``. ``RequestsTransport``, the clients' default, owns
the requests session and its adapters, and:

* bounds a whole request, not only each socket read: a watchdog thread shuts the request's
  socket down at its limit, so a server trickling one byte a second is cut off, and a host
  name is resolved within that limit too (a nameserver that never answers holds no request);
* reads at most ``max_bytes`` of a body, whatever its framing (Content-Length, chunked, a
  chunk size of -1, read to close) or encoding (gzip and deflate are inflated here, in
  bounded steps), and follows no redirect;
* maps every requests, urllib3 and http.client exception into ours; an exception whose text
  may carry server bytes (a bad status line or chunk size) is not chained;
* is safe in threads (one pool sized for ``pool_maxsize`` requests in flight) and across
  ``fork()``: a forked child starts with empty pools, never the parent's kept-alive sockets.

Any object with the same ``get`` and ``close`` (see ``Transport``) can stand in, as
``genstatus_sync.testing.MockTransport`` does for tests without sockets.
"""

import contextlib
import heapq
import http.client
import ipaddress
import logging
import math
import os
import queue
import re
import socket
import ssl
import sys
import threading
import time
import weakref
import zlib
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Tuple,
    TypeVar,
    cast,
)
from urllib.parse import unquote

import attrs
import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.exceptions import ProtocolError as Urllib3ProtocolError
from urllib3.exceptions import SSLError as Urllib3SSLError
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError

from ._locks import at_fork
from .errors import ConfigurationError, ResponseFormatError, TransportError

try:  # Protocol is in typing from Python 3.8
    from typing import Protocol
except ImportError:  # pragma: no cover
    Protocol = object  # type: ignore[assignment]

__all__ = ["MAX_BODY_BYTES", "Reply", "Request", "RequestsTransport", "Streamed", "Transport"]

T = TypeVar("T")

MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_POOL_MAXSIZE = 128  # requests in flight per host that keep their connection
_CHUNK = 65536
_DIGITS = re.compile(r"[0-9]{1,20}", re.ASCII)
_WATCHDOG_MAX_WAIT = 3600.0  # the watchdog looks again at least hourly (no huge waits)
_WATCHDOG_GAP = 0.01  # and at most every 10 ms: a request may run this much past its limit


def _headers(headers: Mapping[str, str]) -> Mapping[str, str]:
    found: Mapping[str, str] = CaseInsensitiveDict(dict(headers))
    return found


@attrs.frozen
class Request:
    """What a transport is asked to send: a GET of ``url`` with ``params`` and ``headers``."""

    url: str
    params: Mapping[str, str] = attrs.field(factory=dict)
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)  # carries the key
    method: str = "GET"


@attrs.frozen
class Reply:
    """A whole HTTP reply: status code, headers (case-insensitive) and body bytes."""

    status: int
    headers: Mapping[str, str] = attrs.field(converter=_headers, factory=dict)
    body: bytes = b""
    reason: str = ""


class Transport(Protocol):
    """Sends one GET. ``timeout`` is the (connect, read) pair, ``total`` the whole request's
    limit in seconds (None: only the per-read timeouts); at most ``max_bytes`` of body."""

    def get(self, request: Request, *, timeout: Tuple[float, float], total: Optional[float],
            max_bytes: int = MAX_BODY_BYTES) -> Reply:
        ...  # pragma: no cover

    def close(self) -> None:
        ...  # pragma: no cover


class RequestsTransport:
    """The default transport: a requests session of its own, or the caller's ``session``
    (left open by ``close``; without this transport's adapter only per-read timeouts hold)."""

    def __init__(self, session: Optional[requests.Session] = None, *, base_url: str = "",
                 pool_maxsize: int = DEFAULT_POOL_MAXSIZE) -> None:
        if session is not None and not isinstance(session, requests.Session):
            raise ConfigurationError(
                f"session must be a requests.Session, got {type(session).__name__}")
        _install_process_hooks()
        self._owns_session = session is None
        self.session = session if session is not None else new_session(base_url, pool_maxsize)
        # Our own session's settings do not change: its default headers, proxies and CA
        # settings are taken once (a caller's session is asked at every request).
        self._defaults = dict(self.session.headers) if self._owns_session else None
        self._any_url = False  # see for_any_url: proxies per URL, its query kept secret
        self._direct = False  # (for_any_url(direct=True): no proxy, whatever the environment)
        _transports.add(self)

    def get(self, request: Request, *, timeout: Tuple[float, float], total: Optional[float],
            max_bytes: int = MAX_BODY_BYTES) -> Reply:
        with self.stream(request, timeout=timeout, total=total, max_bytes=max_bytes) as reply:
            body = b"".join(reply.chunks())
        return Reply(status=reply.status, headers=reply.headers, body=body, reason=reply.reason)

    @contextlib.contextmanager
    def stream(self, request: Request, *, timeout: Tuple[float, float],
               total: Optional[float] = None,
               max_bytes: int = MAX_BODY_BYTES) -> Iterator["Streamed"]:
        """``with transport.stream(request, ...) as reply:`` the status and headers, and
        ``reply.chunks()`` the decoded body, at most ``max_bytes`` of it; the same bounds and
        exception mapping as ``get``. (Downloads stream this way, with ``total=None``.)"""
        call = _Call(shown_url(request.url), total, max_bytes,
                     _hidden_parts(request.url, query=self._any_url))
        try:
            response = call(lambda: self._send(request, timeout))
            try:
                yield Streamed(response, call(lambda: _BodyReader(response, max_bytes)), call)
            finally:
                response.close()
        finally:
            call.done()

    def _send(self, request: Request, timeout: Tuple[float, float]) -> requests.Response:
        session = self.session
        if self._defaults is None:
            prepared = session.prepare_request(requests.Request(
                "GET", request.url, params=dict(request.params), headers=dict(request.headers)))
            url = prepared.url or request.url
            settings = session.merge_environment_settings(url, {}, True, None, None)
            verify, cert, proxies = settings["verify"], settings["cert"], settings["proxies"]
        else:  # what prepare_request and merge_environment_settings give, without their work
            prepared = requests.PreparedRequest()
            prepared.prepare(method="GET", url=request.url, params=dict(request.params),
                             headers={**self._defaults, **request.headers})
            url = prepared.url or request.url
            verify, cert, proxies = session.verify, session.cert, session.proxies
            if self._any_url and not self._direct:
                proxies = _environ_proxies(url)
        return session.get_adapter(url).send(prepared, stream=True, timeout=timeout,
                                             verify=True if verify is None else verify,
                                             cert=cert, proxies=proxies)

    def close(self) -> None:
        """Close the session if this transport made it, and its idle connections now."""
        if not self._owns_session:
            return
        # (the session's close only forgets its pools since urllib3 2: their connections
        # closed when the pools were collected, not while an error of theirs was kept, its
        # traceback holding a pool)
        for adapter in self.session.adapters.values():
            for pool in _pools(adapter):
                _close_idle(getattr(pool, "pool", None))
        self.session.close()

    def _reset_after_fork(self) -> None:
        # In a forked child: new, empty pools. The parent's are dropped without a call into
        # them; their sockets close here only, when urllib3's finalizer of each pool empties
        # its queue of idle connections, under the queue's lock: one held by another thread
        # at the fork would hang the child inside fork() for good, so each gets a new one.
        for adapter in self.session.adapters.values():
            for pool in _pools(adapter):
                _unlock(getattr(pool, "pool", None))
            if isinstance(adapter, HTTPAdapter):
                sizes = vars(adapter)
                adapter.init_poolmanager(sizes["_pool_connections"], sizes["_pool_maxsize"],
                                         block=sizes["_pool_block"])
                adapter.proxy_manager = {}


# -- reading a body within its cap ------------------------------------------------------------

class _TooLarge(Exception):
    def __init__(self, status: int, how: str = "", limit: Optional[int] = None) -> None:
        super().__init__(status)
        self.status, self.how, self.limit = status, how, limit


class _Undecodable(Exception):
    def __init__(self, status: int, what: str) -> None:
        super().__init__(what)
        self.status = status


class _CutShort(Exception):
    """A compressed body whose stream ended before its end mark (and, for gzip, its checksum):
    the connection closed early, or the server framed a cut body as whole."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _wire_limit(max_bytes: int) -> int:
    """The bytes on the wire a body of at most ``max_bytes`` may take: its framing too, up to
    that of chunks of one byte each (b"1\\r\\nX\\r\\n": six bytes a byte)."""
    return 6 * max_bytes + 2 * _CHUNK


_NEGATIVE = re.compile(rb"\s*-")  # a chunk-size line of a negative size, as int() reads it


class _CappedFile:
    """Stands between http.client and the socket file, under a reply's body: hands out at
    most ``limit`` bytes in all and ``most`` in one read, and refuses a chunk of negative size
    (``chunked``: the body is; its size lines are the only lines read then, with trailers):
    read as -1, it is a read to the end, on Python 3.10 and later of the whole cap at once,
    before of nothing, and the body's bytes then read as chunk sizes."""

    def __init__(self, fp: Any, limit: int, status: int, most: int,
                 chunked: bool = False) -> None:
        self._fp, self._left, self._status, self._limit = fp, limit, status, limit
        self._most, self._chunked = most, chunked

    def _count(self, size: int) -> None:
        self._left -= size
        if self._left < 0:
            raise _TooLarge(self._status, " on the wire, framing included", self._limit)

    def _take(self, data: bytes) -> bytes:
        self._count(len(data))
        return data

    def _room(self, amt: Optional[int]) -> int:
        room = min(self._left + 1, self._most)
        return room if amt is None or amt < 0 or amt > room else amt

    def read(self, amt: Optional[int] = None) -> bytes:
        return self._take(self._fp.read(self._room(amt)))

    def read1(self, amt: int = -1) -> bytes:
        return self._take(self._fp.read1(self._room(amt)))

    def readline(self, limit: int = -1) -> bytes:
        line = self._take(self._fp.readline(self._room(limit)))
        if self._chunked and _NEGATIVE.match(line):
            raise http.client.IncompleteRead(b"")
        return line

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)[: self._room(None)]
        count: int = self._fp.readinto(view)
        self._count(count)
        return count

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fp, name)


class _BodyReader:
    """Iterates over a reply's body, decoded, at most ``max_bytes`` of it; the raw bytes on the
    wire (framing included) are bounded too, by the file under http.client."""

    def __init__(self, response: requests.Response, max_bytes: int) -> None:
        status = self._status = response.status_code
        self._max, self._size = max_bytes, 0
        # An error reply's body only explains its status: one that is too large or cannot be
        # decoded is left unread (or read up to the cap), and the status still tells. So does
        # a 202's (Clipia's "not ready yet", whose body the client does not read).
        self.lenient = not 200 <= status < 300 or status == 202  # (read by Streamed)
        self._pending: List[bytes] = []
        self._inflating: Iterator[bytes] = iter(())  # what a compressed chunk still makes
        self._ended = False
        self._decoder: Optional[_Inflater] = None
        self._raw: Iterator[bytes] = iter(())
        length = response.headers.get("Content-Length", "").strip()
        if _DIGITS.fullmatch(length) and int(length) > max_bytes:
            if self.lenient:
                self._ended = True
                return
            raise _TooLarge(status, " (Content-Length)")
        raw = response.raw
        inner = getattr(raw, "_fp", None)
        if inner is not None and hasattr(inner, "fp") and inner.fp is not None:
            inner.fp = _CappedFile(inner.fp, _wire_limit(max_bytes), status,
                                   max_bytes + max_bytes // 8 + _CHUNK,
                                   chunked=getattr(inner, "chunked", False) is True)
        if hasattr(raw, "stream"):
            try:
                self._decoder = _decoder(response.headers.get("Content-Encoding", ""), status)
            except _Undecodable:
                if not self.lenient:
                    raise
                self._ended = True
                return
            self._raw = raw.stream(_CHUNK, decode_content=False)
        else:  # an adapter of the caller's without a urllib3 response: content comes decoded
            self._raw = response.iter_content(_CHUNK)

    def next_piece(self) -> Optional[bytes]:
        """The next decoded piece of the body, or None at its end."""
        if not self.lenient:
            return self._next_piece()
        try:
            return self._next_piece()
        except (_TooLarge, _Undecodable, _CutShort, OSError, http.client.HTTPException,
                urllib3.exceptions.HTTPError, requests.RequestException):
            # (also a body cut short, reset or stalled to the read timeout or the request's
            # limit: its status and Retry-After were read whole, and they tell)
            self._ended, self._pending, self._inflating = True, [], iter(())
            return None

    def _next_piece(self) -> Optional[bytes]:
        while not self._pending:
            inflated = next(self._inflating, None)
            if inflated is not None:  # (taken a step at a time: one chunk may make gigabytes)
                self._pending.append(inflated)
                continue
            if self._ended:
                return None
            chunk = next(self._raw, None)
            if chunk is None:
                self._ended = True
                if self._decoder is not None:
                    self._pending.extend(self._decoder.finish())
                continue
            if self._decoder is None:
                self._pending.append(chunk)
            else:
                room = min(self._max - self._size + 1, sys.maxsize)  # zlib takes a C size
                self._inflating = self._decoder.feed(chunk, room)
        piece = self._pending.pop(0)
        self._size += len(piece)
        if self._size > self._max:
            raise _TooLarge(self._status)
        return piece


class Streamed:
    """A reply being read: ``status``, ``headers``, ``reason``, and ``chunks()``."""

    def __init__(self, response: requests.Response, reader: _BodyReader, call: "_Call") -> None:
        self.status: int = response.status_code
        self.headers: Mapping[str, str] = response.headers
        self.reason = _text(response.reason)
        self._reader, self._call = reader, call

    def chunks(self) -> Iterator[bytes]:
        """The decoded body, piece by piece; raises ResponseFormatError past its cap and
        TransportError when the connection breaks or the request's limit is reached."""
        while True:
            piece = self._call(self._reader.next_piece, whole_head=self._reader.lenient)
            if piece is None:
                return
            if piece:
                yield piece


class _Call:
    """Runs each step of one request with the thread's request state set and every foreign
    exception mapped into ours (raised outside the handler, so nothing chains by accident);
    arms the watchdog for the request's ``total`` limit."""

    def __init__(self, where: str, total: Optional[float], max_bytes: int,
                 hidden: Tuple[str, ...] = ()) -> None:
        self.where, self.total, self.max_bytes = where, total, max_bytes
        self.hidden = hidden  # what of the URL a chained exception must not show
        self.slot = _Slot()
        if total is not None:
            self.slot.deadline = time.monotonic() + max(0.0, min(total, 1e9))
            _watchdog.arm(total, self.slot)

    def __call__(self, step: Callable[[], T], whole_head: bool = False) -> T:
        """``step()``, its failures mapped; ``whole_head``: the step reads the body of a
        reply whose head was read whole, which the request's limit cutting it leaves as it
        is (an error reply's status tells without its body)."""
        failure: Optional[BaseException] = None
        _state.slot, _state.active = self.slot, True
        try:
            result = step()
        except _TooLarge as exc:
            failure = ResponseFormatError(
                f"reply to GET {self.where} is larger than "
                f"{self.max_bytes if exc.limit is None else exc.limit} bytes{exc.how}; "
                "not read",
                status_code=exc.status, body="")
        except _Undecodable as exc:
            failure = ResponseFormatError(
                f"reply to GET {self.where} could not be decoded: {exc}",
                status_code=exc.status, body="")
        except _CutShort:
            # as a body shorter than its Content-Length: the reply is not whole; another try
            # may get it whole
            failure = TransportError(
                f"GET {self.where} failed: the reply's compressed body ended before its end "
                "(cut short)")
        except Exception as exc:  # noqa: BLE001 - every foreign failure becomes ours, below
            failure = exc
        finally:
            _state.slot, _state.active = None, False
        if self.slot.expired and not (whole_head and failure is None):
            # also when the step returned: a cut reply can look whole (a status line cut
            # before its CRLF parses, a body read to the close ends at the cut)
            raise TransportError(f"GET {self.where} timed out: no complete reply within "
                                 f"{self.total:.1f} s")
        if failure is None:
            return result
        if isinstance(failure, (TransportError, ResponseFormatError)):
            raise failure
        mapped, chain = _map_exception(failure, self.where)
        if chain and not _mentions(failure, self.hidden):
            if isinstance(failure, requests.RequestException):
                # kept as the cause for its text; not the request it holds (headers, key)
                failure.request = failure.response = None
            raise mapped from failure
        raise mapped

    def done(self) -> None:
        if self.total is not None:
            _watchdog.disarm(self.slot)


_INFLATE_STEP = 4 * _CHUNK  # the most output one step of inflating makes


class _Inflater:
    """gzip (one or more members) or deflate (zlib or raw), inflated in steps of at most
    ``room`` bytes of output, so that a small bomb cannot become a large body."""

    def __init__(self, wbits: int, status: int) -> None:
        self._wbits, self._status = wbits, status
        self._inflate = zlib.decompressobj(wbits)
        self._tried_raw = wbits != zlib.MAX_WBITS
        self._fed = False

    def feed(self, data: bytes, room: int) -> Iterator[bytes]:
        self._fed = self._fed or bool(data)
        full = False  # the last step filled its limit: zlib may hold more of it, input or not
        while data or full:
            step = min(room, _INFLATE_STEP)  # (a download's room is gigabytes)
            try:
                out = self._inflate.decompress(data, step)
            except zlib.error:
                if self._tried_raw:
                    raise _Undecodable(self._status, "bad compressed data") from None
                self._tried_raw = True  # "deflate" sent as a raw stream, without zlib's header
                self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self._tried_raw = True
            room -= len(out)
            if room <= 0:
                raise _TooLarge(self._status, " once inflated")
            yield out
            full = len(out) >= step and not self._inflate.eof
            if self._inflate.eof:  # (asked first: at a member's end, a step cut short at its
                # output's limit keeps the rest in unconsumed_tail as well as in unused_data)
                data = self._inflate.unused_data
                if data.strip(b"\0"):  # the next gzip member
                    self._inflate = zlib.decompressobj(self._wbits)
                else:
                    data = b""
            else:
                data = self._inflate.unconsumed_tail

    def finish(self) -> Iterator[bytes]:
        """What is left; _CutShort if the stream has not reached its end (an empty body, as
        a 204 may carry with its Content-Encoding, is empty)."""
        if self._fed and not self._inflate.eof:
            raise _CutShort(self._status)
        yield self._inflate.flush()


def _decoder(encoding: str, status: int) -> Optional[_Inflater]:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return _Inflater(16 + zlib.MAX_WBITS, status)
    if encoding == "deflate":
        return _Inflater(zlib.MAX_WBITS, status)
    # the value is named only when it is a known one: what else a server sends here is its own
    # text (it may echo the key, and lower-cased it would escape redaction)
    known = encoding if encoding in ("br", "zstd", "compress", "x-compress") else "of the reply"
    raise _Undecodable(status, f"unsupported Content-Encoding {known}")


# -- exceptions ---------------------------------------------------------------------------------

def _map_exception(exc: BaseException, where: str) -> Tuple[TransportError, bool]:
    """Our TransportError for a foreign exception, and whether it may be chained to it (only
    when its text cannot carry bytes the server sent)."""
    name = type(exc).__name__
    if isinstance(exc, requests.exceptions.SSLError) or (isinstance(
            exc, requests.ConnectionError) and _holds(exc, (ssl.SSLError, Urllib3SSLError))):
        # requests' SSLError, or its ProxyError for the TLS to an https:// proxy
        return TransportError(f"GET {where} failed: TLS certificate or handshake failure "
                              f"({name})", transient=False), True
    if isinstance(exc, (requests.Timeout, Urllib3TimeoutError)):
        # (urllib3's own: a read timeout while the body streams)
        return TransportError(f"GET {where} timed out: {name}"), True
    if isinstance(exc, Urllib3ProtocolError) and not _carries_server_bytes(
            exc, skip=Urllib3ProtocolError):
        # the body broke off: a reset, or the connection closed before its end
        return TransportError(f"GET {where} failed: the reply broke off ({name})"), True
    if isinstance(exc, requests.ConnectionError) and _holds(exc, _CLOSED):
        # a kept-alive connection the server closed as the request went out, or a reset: no
        # reply bytes to quote (not chained all the same: what else it wraps may)
        return TransportError(f"GET {where} failed: the server closed or reset the connection "
                              "before its reply was whole"), False
    if isinstance(exc, requests.ConnectionError):
        if _carries_server_bytes(exc):
            return TransportError(f"GET {where} failed: the reply broke the HTTP protocol"), False
        return TransportError(f"GET {where} failed: {name}{_local_reason(exc)}"), True
    if isinstance(exc, OSError) and not isinstance(exc, requests.RequestException) and any(
            word in str(exc) for word in ("certificate", "TLS", "SSL")):
        return TransportError(f"GET {where} failed: TLS configuration ({name})",
                              transient=False), False
    if isinstance(exc, (requests.exceptions.InvalidSchema, requests.exceptions.InvalidURL,
                        requests.exceptions.MissingSchema)):
        # raised before anything is sent: the URLs are checked before, so what is left is
        # the proxy the environment names (a socks:// one without requests[socks], a bad
        # port, "http://"); no later try gets past it. Not chained: it may quote the proxy
        # URL, with its credentials.
        socks = " (a SOCKS proxy needs requests[socks])" if "SOCKS" in str(exc) else ""
        return TransportError(
            f"GET {where} failed before any request was sent: the proxy the environment gives "
            f"(HTTPS_PROXY, HTTP_PROXY, ALL_PROXY) or the URL is not usable ({name}){socks}",
            transient=False), False
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError,
                        requests.exceptions.ContentDecodingError)):
        return TransportError(f"GET {where} failed: the reply broke off or is garbled"), False
    return TransportError(f"GET {where} failed: the reply broke the HTTP protocol ({name})"), False


_CLOSED = (http.client.RemoteDisconnected, ConnectionResetError, ConnectionAbortedError,
           BrokenPipeError)


def _carries_server_bytes(exc: BaseException, skip: Optional[type] = None) -> bool:
    """Whether ``exc`` holds, in its arguments, an error that quotes the reply (a status line,
    a chunk size, a header): http.client's and urllib3's protocol errors. ``skip``: a kind
    that is only a wrapper here (what it wraps decides). IncompleteRead holds only counts."""
    from http.client import HTTPException, IncompleteRead

    import urllib3.exceptions
    from urllib3.exceptions import DecodeError, HeaderParsingError, InvalidHeader, ProtocolError

    if skip is not None and isinstance(exc, skip):
        inner = [a for a in exc.args if isinstance(a, BaseException)]
        if not inner or any(not isinstance(a, (str, BaseException)) for a in exc.args):
            return True  # nothing to decide by: read as quoting
        # (exactly these: urllib3's InvalidChunkLength is an IncompleteRead that quotes)
        counts_only = (IncompleteRead, getattr(urllib3.exceptions, "IncompleteRead", None))
        return any(type(e) not in counts_only and _carries_server_bytes(e) for e in inner)
    return _holds(exc, (HTTPException, ProtocolError, DecodeError, HeaderParsingError,
                        InvalidHeader))


def _holds(exc: BaseException, kinds: Tuple[type, ...], depth: int = 0) -> bool:
    """Whether ``exc`` is one of ``kinds`` or wraps one in its arguments or ``reason``
    (urllib3 and requests wrap the error that happened, a few levels deep)."""
    if isinstance(exc, kinds):
        return True
    if depth > 4:
        return False
    inner = [a for a in exc.args if isinstance(a, BaseException)]
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        inner.append(reason)
    return any(_holds(e, kinds, depth + 1) for e in inner)


def _local_reason(exc: BaseException) -> str:
    """What the system said of a connection that failed, as " (connection refused)", from
    the OSError it wraps (its errno's own text, none of the server's bytes); "" if none."""
    seen: List[BaseException] = []
    stack = [exc]
    while stack and len(seen) < 24:
        at = stack.pop()
        if any(at is e for e in seen):
            continue
        seen.append(at)
        if isinstance(at, socket.gaierror):
            return " (the host name did not resolve)"
        number = getattr(at, "errno", None) if isinstance(at, OSError) else None
        if isinstance(number, int) and number > 0:
            with contextlib.suppress(ValueError, OverflowError):
                return f" ({os.strerror(number).lower()})"
        reason = getattr(at, "reason", None)
        stack.extend(e for e in (at.__context__, at.__cause__, reason, *at.args)
                     if isinstance(e, BaseException))
    return ""


def shown_url(url: str) -> str:
    """``url`` for messages: no credentials (``user:password@``), no query (a signed URL's
    token) or fragment, at most 200 characters. Every message that names a URL uses this."""
    text = url.split("?", 1)[0].split("#", 1)[0]
    scheme, sep, rest = text.partition("://")
    if sep:
        authority, slash, path = rest.partition("/")
        text = f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"
    return text[:200]



def _hidden_parts(url: str, *, query: bool) -> Tuple[str, ...]:
    """What ``shown_url`` leaves out of ``url`` that must not reach a message by another way
    (a chained exception's text): its credentials, and its query when ``query`` (a result's
    signed URL); percent-decoded."""
    text = url.split("#", 1)[0]
    base, _, search = text.partition("?")
    _, sep, rest = base.partition("://")
    userinfo = rest.partition("/")[0].rpartition("@")[0] if sep else ""
    user, _, password = userinfo.partition(":")
    parts = [userinfo, password or user] + ([search] if query else [])
    return tuple(unquote(p) for p in parts if p)


def _mentions(exc: BaseException, parts: Tuple[str, ...], depth: int = 0) -> bool:
    """Whether the text of ``exc``, of its arguments or of the exceptions it wraps or chains
    holds one of ``parts`` (compared percent-decoded)."""
    if not parts:
        return False
    text = unquote(f"{exc} {exc!r}")
    if any(p in text for p in parts):
        return True
    if depth > 6:
        return False
    inner = [a for a in exc.args if isinstance(a, BaseException)]
    inner += [e for e in (getattr(exc, "reason", None), exc.__cause__, exc.__context__)
              if isinstance(e, BaseException)]
    return any(_mentions(e, parts, depth + 1) for e in inner)


def _text(value: object) -> str:
    """A reason phrase as text: http.client reads it as latin-1, and a server that sends one
    not in ASCII sends UTF-8 (read as latin-1, "Ошибка" was "Ð\x9eÑ\x88Ð¸..."); bytes that
    are not UTF-8 stay latin-1."""
    if isinstance(value, str):
        if value.isascii():
            return value
        try:
            value = value.encode("latin-1")
        except UnicodeEncodeError:  # (not http.client's: an adapter's own text)
            return str(value)
    if not isinstance(value, bytes):
        return ""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


# -- the whole-request bound ----------------------------------------------------------------

_state = threading.local()  # .slot: the current request's _Slot; .active: inside a request


class _Slot:
    """One request: the connection it uses and whether its limit cut it off."""

    __slots__ = ("conn", "expired", "finished", "deadline")

    def __init__(self) -> None:
        self.conn: Any = None
        self.expired = False
        self.finished = False
        self.deadline: Optional[float] = None  # time.monotonic() of its limit, if any

    def expire(self) -> None:
        if self.conn is None:
            return  # a session without our adapter: nothing to cut, nothing cut
        # (http.client lets go of the connection's socket once a reply says the connection
        # closes after it, Connection: close or HTTP/1.0, and the body is then read from a
        # file on the socket: the socket it was made with is the one to cut)
        sock = _plain_socket(getattr(self.conn, "sock", None)
                             or getattr(self.conn, "_made_socket", None))
        self.expired = True
        if sock is not None:
            # the plain socket's shutdown, also under TLS: the blocked read sees EOF now
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _plain_socket(sock: Any) -> Optional[socket.socket]:
    """The socket.socket under a TLS socket or urllib3's SSLTransport (an https proxy)."""
    for _ in range(4):
        if sock is None or isinstance(sock, socket.socket):
            return sock
        sock = getattr(sock, "socket", None)
    return None


class _Watchdog:
    """One daemon thread per process that cuts requests off at their limits.

    Arming pushes onto a heap and wakes the thread only when the new limit is the earliest;
    disarming only marks the slot done (it is dropped when its limit comes). So a request
    costs no thread switch: the thread wakes at the earliest pending limit, at most every
    ``_WATCHDOG_GAP`` seconds, and cuts the slots still running.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        # taken as ``with self._lock:`` by the requests' threads (a lock's own __enter__ is
        # C code: a Condition's, Python, could be interrupted by a Ctrl-C just after the
        # acquire and leave the lock held, and every request of the process hung in arm())
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._heap: List[Tuple[float, int, _Slot]] = []
        self._count = 0
        self._wake_at = math.inf
        self._thread: Optional[threading.Thread] = None

    def arm(self, seconds: float, slot: _Slot) -> None:
        deadline = time.monotonic() + max(0.0, min(seconds, 1e9))
        with self._lock:
            self._count += 1
            heapq.heappush(self._heap, (deadline, self._count, slot))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="genstatus-deadline",
                                                daemon=True)
                self._thread.start()
            elif deadline < self._wake_at:
                self._cond.notify()

    def disarm(self, slot: _Slot) -> None:
        with self._lock:
            slot.finished = True
            slot.conn = None

    def released(self, slot: _Slot, conn: Any) -> None:
        """``conn`` goes back to its pool (the reply was read to its end): from now on
        another request may use it, and this slot must not cut it."""
        with self._lock:
            if slot.conn is conn:
                slot.conn = None

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    _, _, slot = heapq.heappop(self._heap)
                    if not slot.finished:
                        with contextlib.suppress(Exception):  # it must outlive any socket
                            slot.expire()
                self._wake_at = self._heap[0][0] if self._heap else math.inf
                wait = min(max(self._wake_at - now, _WATCHDOG_GAP), _WATCHDOG_MAX_WAIT)
                self._cond.wait(wait)


_watchdog = _Watchdog()
_transports: "weakref.WeakSet[RequestsTransport]" = weakref.WeakSet()
_hooks_installed = False


def _after_fork_in_child() -> None:
    global _lookups_lock
    _watchdog.reset()
    _lookups.clear()  # the parent's lookups' threads are not in the child
    _lookups_lock = threading.Lock()
    _state.__dict__.clear()
    for transport in list(_transports):
        transport._reset_after_fork()


class _ServerTextFilter(logging.Filter):
    """urllib3 logs, inside a request, exceptions that quote the reply: unparsable header data
    (at WARNING), a bad status line or chunk size when it retries (a caller's session). Inside
    our requests, such an argument is shown by its type's name and the traceback is dropped:
    that text may echo the key."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(_state, "active", False) and (record.exc_info or any(
                isinstance(a, BaseException) for a in _args(record))):
            record.args = tuple(type(a).__name__ if isinstance(a, BaseException) else a
                                for a in _args(record))
            record.exc_info = record.exc_text = None
        return True


def _args(record: logging.LogRecord) -> Tuple[Any, ...]:
    return record.args if isinstance(record.args, tuple) else ()


def _install_process_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    at_fork("after_in_child", _after_fork_in_child)
    for name in ("urllib3.connection", "urllib3.connectionpool", "urllib3.response",
                 "urllib3.poolmanager", "urllib3.util.retry"):
        logging.getLogger(name).addFilter(_ServerTextFilter())


def _pools(adapter: object) -> List[Any]:
    """The connection pools of an adapter's pool managers, its proxies' too (read without
    their locks: in a forked child one may be held by a thread that is not there)."""
    if not isinstance(adapter, HTTPAdapter):
        return []
    found: List[Any] = []
    for manager in [vars(adapter).get("poolmanager"),
                    *vars(adapter).get("proxy_manager", {}).values()]:
        container = getattr(getattr(manager, "pools", None), "_container", None)
        found.extend(tuple(container.values()) if container else ())
    return found


def _close_idle(idle: object) -> None:
    """Close the connections a pool's queue holds idle, leaving the pool open: a request of
    another thread that has the pool and not yet a connection makes a new one (a closed pool
    would fail it)."""
    while isinstance(idle, queue.Queue):
        try:
            conn = idle.get(block=False)
        except queue.Empty:
            return
        if conn is not None:
            conn.close()


def _unlock(idle: object) -> None:
    """Give a pool's queue of idle connections new locks (in a forked child, where the
    parent's may be held by a thread that is not there); what it holds stays."""
    if isinstance(idle, queue.Queue):
        idle.mutex = threading.Lock()
        idle.not_empty = threading.Condition(idle.mutex)
        idle.not_full = threading.Condition(idle.mutex)
        idle.all_tasks_done = threading.Condition(idle.mutex)


class _PoolQueue(queue.LifoQueue):  # type: ignore[type-arg]
    """A pool's idle connections, as urllib3 keeps them, taken and given back (without
    blocking, as our pools do) under the queue's lock taken in C. ``queue``'s own methods take
    it through ``Condition.__enter__``, Python code: a signal's exception (Ctrl-C, the CLI's
    SIGTERM) raised there just after the lock was taken left it held, and every later request
    of the client hung on it."""

    def get(self, block: bool = True, timeout: Optional[float] = None) -> Any:
        if block:
            return super().get(block, timeout)
        with self.mutex:
            if not self._qsize():
                raise queue.Empty
            item = self._get()
            self.not_full.notify()
            return item

    def put(self, item: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        if block:
            return super().put(item, block, timeout)
        with self.mutex:
            if 0 < self.maxsize <= self._qsize():
                raise queue.Full
            self._put(item)
            self.unfinished_tasks += 1
            self.not_empty.notify()


class _Noting:
    QueueCls = _PoolQueue

    def _get_conn(self, timeout: Optional[float] = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        slot = getattr(_state, "slot", None)
        if slot is not None:
            slot.conn = conn
        return conn

    def _put_conn(self, conn: Any) -> None:
        slot = getattr(_state, "slot", None)
        if slot is not None:
            _watchdog.released(slot, conn)
        super()._put_conn(conn)  # type: ignore[misc]


_MAX_INTERIM = 16  # interim (1xx) replies skipped before the final one, at most
_MAX_LINE = 65536  # http.client's longest status or header line
_MAX_HEADERS = 100  # and most header lines


class _FinalResponse(http.client.HTTPResponse):
    """http.client's reply, skipping every interim reply (102 Processing, 103 Early Hints, as
    CDNs send), not only 100 Continue: taken as the reply, a 103 would leave the real one on
    the kept-alive connection, where the connection's next request would read it. (101
    Switching Protocols is final: it ends the HTTP exchange.)"""

    def _read_status(self) -> Tuple[str, int, str]:
        for _ in range(_MAX_INTERIM):
            version, status, reason = super()._read_status()  # type: ignore[misc]
            if not 102 <= status < 200:  # 100 is skipped by http.client itself
                if not isinstance(self.fp, _HeadFile):
                    self.fp = cast(Any, _HeadFile(self.fp))  # (begin() reads the headers next)
                return version, status, reason
            _skip_headers(self.fp)
        raise http.client.HTTPException(f"more than {_MAX_INTERIM} interim replies")

    def begin(self) -> None:
        try:
            super().begin()
        finally:
            fp: Any = self.fp
            if isinstance(fp, _HeadFile):
                self.fp = fp.raw


class _HeadFile:
    """The socket file while a reply's header lines are read: the connection's end before
    the blank line that ends them is a reply cut short. (http.client reads it as the end of
    the head, and the reply as a whole one with an empty body: a download saved an empty
    file, and a status read was a format error, not retried.)"""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def readline(self, limit: int = -1) -> bytes:
        line: bytes = self.raw.readline(limit)
        if not line:
            raise http.client.RemoteDisconnected("the connection closed inside the reply's head")
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def _skip_headers(fp: Any) -> None:
    """Read an interim reply's header lines up to the blank line that ends them."""
    for _ in range(_MAX_HEADERS + 1):
        line = fp.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise http.client.LineTooLong("header line")
        if not line:
            raise http.client.RemoteDisconnected("the connection closed inside the reply's head")
        if line in (b"\r\n", b"\n"):
            return
    raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")


class _Resolving:
    """A connection whose host name is resolved within its request's limit: the watchdog has
    no socket to cut while a resolver that gets no answer holds the thread (glibc: 5 s a try,
    two tries, per nameserver). Then each address is connected to in turn, as urllib3 does."""

    _dns_host: str
    port: int
    timeout: Optional[float]
    _made_socket: Any = None

    sock: Any

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        # what _Slot.expire cuts once http.client lets go of it: the socket as connected (under
        # TLS the wrapping socket; the plain one _new_conn made is detached by the wrap)
        self._made_socket = self.sock

    def _new_conn(self) -> socket.socket:
        sock = self._resolved_conn()
        self._made_socket = sock  # (until connect() has the socket it ends with)
        return sock

    def _resolved_conn(self) -> socket.socket:
        # (urllib3 before 1.23, which requests 2.28 still accepts, has no _dns_host and
        # connects to self.host: such a connection resolves without the request's limit,
        # which the watchdog still holds once the socket exists)
        host: Optional[str] = getattr(self, "_dns_host", None)
        slot: Optional[_Slot] = getattr(_state, "slot", None)
        deadline = None if slot is None else slot.deadline
        if slot is None or deadline is None or host is None or _is_address(host):
            sock: socket.socket = super()._new_conn()  # type: ignore[misc]
            return sock
        try:
            addresses = _resolve(host, self.port, deadline)
        except socket.timeout:
            raise ConnectTimeoutError(cast(Any, self), f"no address for {host!r} within the "
                                      "request's limit") from None
        except OSError as exc:  # (a NewConnectionError is transient, as urllib3's own is)
            raise NewConnectionError(cast(Any, self), f"Failed to resolve {host!r} "
                                     f"({type(exc).__name__})") from None
        failure: Optional[Exception] = None
        timeout = self.timeout
        try:
            for address in addresses:
                # each address gets the connect timeout, or what is left of the request's
                # limit if less: a host whose first addresses never answer (a broken IPv6
                # route, a dead A record) gave each the whole connect timeout, and the
                # watchdog, firing while no socket existed yet, cut nothing
                left = deadline - time.monotonic()
                if left <= 0 or slot.expired:
                    break
                self._dns_host = address
                self.timeout = min(timeout, left) if isinstance(timeout, (int, float)) else left
                try:
                    sock = super()._new_conn()  # type: ignore[misc]
                except (NewConnectionError, ConnectTimeoutError) as exc:
                    failure = exc
                    continue
                if slot.expired or time.monotonic() >= deadline:  # (cut while connecting)
                    with contextlib.suppress(OSError):
                        sock.close()
                    break
                return sock
        finally:
            self._dns_host, self.timeout = host, timeout
        if failure is None or slot.expired or time.monotonic() >= deadline:
            raise ConnectTimeoutError(cast(Any, self), f"no connection to {host!r} within "
                                      "the request's limit")
        raise failure


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class _Lookup:
    """One host name being resolved, in a thread of its own; requests that need it meanwhile
    wait for the same answer, each until its own limit."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.addresses: List[str] = []
        self.error: Optional[OSError] = None


_lookups: Dict[Tuple[str, int], _Lookup] = {}
_lookups_lock = threading.Lock()


def _resolve(host: str, port: int, deadline: float) -> List[str]:
    """The addresses of ``host`` (IPv6 and IPv4, in the resolver's order), or socket.timeout
    at ``deadline``, or the resolver's error."""
    key = (host, port)
    with _lookups_lock:
        lookup = _lookups.get(key)
        if lookup is None:
            lookup = _lookups[key] = _Lookup()
            threading.Thread(target=_look_up, args=(key, lookup), name="genstatus-resolve",
                             daemon=True).start()
    if not lookup.done.wait(max(0.0, deadline - time.monotonic())):
        raise socket.timeout(f"no address for {host!r} within the request's limit")
    if lookup.error is not None:
        raise lookup.error
    return lookup.addresses


def _numeric(address: Tuple[Any, ...]) -> str:
    """An address of getaddrinfo's as text to connect to: an IPv6 link-local one (fe80::...)
    keeps its scope (``%2``), without which it cannot be reached."""
    host = str(address[0])
    if len(address) >= 4 and address[3] and "%" not in host:
        host = f"{host}%{address[3]}"
    return host


def _look_up(key: Tuple[str, int], lookup: _Lookup) -> None:
    try:
        found = socket.getaddrinfo(key[0], key[1], 0, socket.SOCK_STREAM)
        lookup.addresses = list(dict.fromkeys(_numeric(entry[4]) for entry in found))
        if not lookup.addresses:
            lookup.error = socket.gaierror("no address")
    except OSError as exc:
        lookup.error = exc
    except Exception as exc:  # noqa: BLE001 - (a bad name: UnicodeError) the waiter raises it
        lookup.error = OSError(type(exc).__name__)
    finally:
        with _lookups_lock:  # no cache: the next connection asks the resolver again
            if _lookups.get(key) is lookup:
                del _lookups[key]
        lookup.done.set()


class _FinalHTTPConnection(_Resolving, HTTPConnection):
    response_class = _FinalResponse


class _FinalHTTPSConnection(_Resolving, HTTPSConnection):
    response_class = _FinalResponse


class _NotingPool(_Noting, HTTPConnectionPool):
    ConnectionCls = _FinalHTTPConnection


class _NotingHTTPSPool(_Noting, HTTPSConnectionPool):
    ConnectionCls = _FinalHTTPSConnection


_POOLS = {"http": _NotingPool, "https": _NotingHTTPSPool}


class _BoundAdapter(HTTPAdapter):
    """An HTTPAdapter whose pools let the watchdog find and cut a request's socket."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # requests decides by the request's URL alone: a plain http:// request forwarded over
        # TLS to an https:// proxy would get an unverified TLS connection (the key inside)
        if isinstance(conn, HTTPSConnectionPool) and not url.lower().startswith("https:"):
            url = "https:" + url.partition(":")[2]
        # (Any: typed in types-requests, untyped in requests' own py.typed)
        cast(Any, super()).cert_verify(conn, url, verify, cert)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if getattr(manager, "pool_classes_by_scheme", None) is not None and not proxy.lower(
        ).startswith("socks"):
            manager.pool_classes_by_scheme = _POOLS
        return manager


def for_any_url(pool_maxsize: int = DEFAULT_POOL_MAXSIZE, *,
                direct: bool = False) -> RequestsTransport:
    """A transport for URLs of any host (downloads and their redirects): the proxy of each
    request is the one the environment gives for its URL (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY,
    NO_PROXY), read at that request, rather than once for one base URL; ``direct``: none."""
    transport = RequestsTransport(pool_maxsize=pool_maxsize)
    transport._any_url = True
    if direct:
        transport.session.proxies, transport._direct = {}, True
    return transport


def _environ_proxies(url: str) -> Dict[str, str]:
    """The proxies the environment gives for ``url``, as requests with ``trust_env`` finds
    them: none when NO_PROXY covers its host."""
    found: Dict[str, str] = requests.utils.get_environ_proxies(url, no_proxy=None)
    return found


def new_session(base_url: str, pool_maxsize: int = DEFAULT_POOL_MAXSIZE) -> requests.Session:
    """A requests Session whose requests the watchdog can cut off.

    The environment's proxy and CA settings for ``base_url`` (HTTPS_PROXY, NO_PROXY,
    REQUESTS_CA_BUNDLE, ...) are read here, once: requests would scan os.environ again on
    every request. .netrc is not consulted: the clients authenticate with their key.
    """
    session = requests.Session()
    adapter = _BoundAdapter(pool_maxsize=pool_maxsize)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    url: Any = base_url or None  # (requests' own types want a str; None is what it reads)
    settings = session.merge_environment_settings(url, {}, None, None, None)
    session.trust_env = False
    session.proxies = settings["proxies"]
    session.verify = settings["verify"]
    return session
