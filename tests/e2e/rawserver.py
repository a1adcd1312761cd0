"""Raw-socket servers for hostile-server tests: each connection is handed to a function that
writes whatever bytes it likes, framing and all, which no HTTP server library would send.

``RawServer(handler)`` listens on loopback; ``handler(conn)`` runs in a thread per connection
with the request head already read (unless ``read_request=False``). ``conn`` sends bytes,
streams large bodies until the client hangs up, trickles, holds the connection open, or
resets it; the connection is closed when the handler returns.
"""

import contextlib
import json
import socket
import struct
import threading
import time
import zlib
from typing import Callable, Dict, Iterable, List, Optional, Union

MB = 2**20

Handler = Callable[["Conn"], None]


class Conn:
    """One accepted connection, as its handler sees it."""

    def __init__(self, sock: socket.socket, server: "RawServer") -> None:
        self.sock, self.server = sock, server
        self.head = b""  # the request head as read (request line and headers)
        self.sent = 0  # bytes written so far

    # -- the request ----------------------------------------------------------------------

    def read_request(self, limit: int = 2**20) -> bytes:
        """Read up to the end of the request head; returns it (b"" if the client left)."""
        data = b""
        self.sock.settimeout(5.0)
        try:
            while b"\r\n\r\n" not in data and len(data) < limit:
                got = self.sock.recv(65536)
                if not got:
                    break
                data += got
        except OSError:
            pass
        self.head = data
        return data

    @property
    def target(self) -> str:
        """The request target (path and query) of the request line."""
        line = self.head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ")
        return parts[1] if len(parts) >= 2 else ""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def header(self, name: str) -> Optional[str]:
        for line in self.head.split(b"\r\n")[1:]:
            field, _, value = line.decode("latin-1").partition(":")
            if field.strip().lower() == name.lower():
                return value.strip()
        return None

    # -- replying -------------------------------------------------------------------------

    def send(self, data: bytes) -> bool:
        """Write ``data``; False when the client has gone away."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        self.sent += len(data)
        return True

    def stream(self, pieces: Iterable[bytes]) -> bool:
        """Write every piece in turn until the client stops reading; False if it did."""
        return all(not self.server.stopping.is_set() and self.send(piece) for piece in pieces)

    def trickle(self, data: bytes, every: float) -> bool:
        """Write ``data`` one byte every ``every`` seconds."""
        return all(self.send(data[i:i + 1]) and not self.wait(every) for i in range(len(data)))

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when the server is stopping."""
        return self.server.stopping.wait(seconds)

    def hold(self, seconds: float = 30.0) -> None:
        """Keep the connection open, sending nothing, for ``seconds`` or until stopped."""
        self.wait(seconds)

    def reset(self) -> None:
        """Close with a TCP RST instead of a FIN."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            self.sock.close()


class RawServer:
    """A threaded TCP server on loopback (``host="::1"`` for IPv6) calling ``handler(conn)``
    for every connection. ``url`` is its base URL; ``heads`` the request heads it read."""

    def __init__(self, handler: Handler, *, host: str = "127.0.0.1",
                 read_request: bool = True) -> None:
        self.handler, self.read_request = handler, read_request
        self.stopping = threading.Event()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, 0))
        self._listener.listen(512)
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self.host = host
        self.heads: List[bytes] = []
        self.sent: List[int] = []  # bytes written per finished connection
        self._conns: Dict[socket.socket, threading.Thread] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="RawServer", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True,
                                      name="RawServer connection")
            with self._lock:
                self._conns[sock] = thread
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        conn = Conn(sock, self)
        try:
            if self.read_request:
                conn.read_request()
                with self._lock:
                    self.heads.append(conn.head)
            sock.settimeout(10.0)
            self.handler(conn)
        except OSError:
            pass  # the client went away
        finally:
            with self._lock:
                self._conns.pop(sock, None)
                self.sent.append(conn.sent)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
            with contextlib.suppress(OSError):
                sock.close()

    def stop(self) -> None:
        self.stopping.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            conns = list(self._conns.items())
        for sock, _ in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for _, thread in conns:
            thread.join(2.0)
        self._thread.join(2.0)

    def __enter__(self) -> "RawServer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def replying(data: Union[bytes, Callable[["Conn"], None]], **kwargs: object) -> RawServer:
    """A RawServer that answers every connection with ``data`` (bytes) and closes."""
    if isinstance(data, bytes):
        raw = data

        def handler(conn: Conn) -> None:
            conn.send(raw)

        return RawServer(handler, **kwargs)  # type: ignore[arg-type]
    return RawServer(data, **kwargs)  # type: ignore[arg-type]


# -- building replies -----------------------------------------------------------------------

def head(status: int = 200, headers: Optional[Dict[str, str]] = None, reason: str = "OK",
         version: str = "HTTP/1.1") -> bytes:
    """A status line and headers, as given (no Content-Length is added)."""
    lines = [f"{version} {status} {reason}"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def reply(status: int = 200, body: Union[bytes, object] = b"",
          headers: Optional[Dict[str, str]] = None, reason: str = "OK") -> bytes:
    """A whole reply with a Content-Length (``body`` not bytes: sent as JSON)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    fields = {"Content-Type": "application/json", "Content-Length": str(len(data)),
              "Connection": "close", **(headers or {})}
    return head(status, fields, reason) + data


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def zeros(total: int, piece: int = MB) -> Iterable[bytes]:
    """``total`` bytes of b"0" (a JSON-ish body: digits), ``piece`` at a time."""
    block = b"0" * piece
    for _ in range(total // piece):
        yield block


def deflate_bomb(size: int, wbits: int) -> bytes:
    """A compressed stream (wbits: 31 gzip, 15 zlib, -15 raw deflate) of ``size`` zero bytes,
    about size/1000 long, built in milliseconds: after a full flush the compressor's output
    for the same input repeats, so one compressed megabyte is repeated."""
    block = bytes(MB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    one = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    body = one * (size // MB) + compressor.flush()
    crc = adler = None
    if wbits == 31:
        crc = 0
        for _ in range(size // MB):
            crc = zlib.crc32(block, crc)
        return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + body
                + struct.pack("<II", crc, size & 0xFFFFFFFF))
    if wbits == 15:
        adler = 1
        for _ in range(size // MB):
            adler = zlib.adler32(block, adler)
        return b"\x78\xda" + body + struct.pack(">I", adler)
    return body


def gzip_members(count: int, size: int) -> bytes:
    """``count`` gzip members of ``size`` zero bytes each, one after another."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    member = compressor.compress(bytes(size)) + compressor.flush()
    return member * count


def wait_until(predicate: Callable[[], bool], seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
