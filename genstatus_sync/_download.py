"""download(): one result URL streamed to a file, never a partial file under its final name.

The body goes to a hidden temporary file in the destination folder (``.<name>.<random>.part``),
is flushed to disk (fsync), and only then appears under its final name: hard-linked there
(``os.link`` fails rather than overwrite, so two downloads of the same name never clobber each
other), the temporary name then removed. Where the file system has no hard links the final name
is reserved with ``O_EXCL`` and the temporary file moved onto it (``os.replace``). Whatever
fails, KeyboardInterrupt included, the temporary file is removed.

The final name is the URL's last path segment made safe (``safe_name``); a name in use gets a
numeric suffix before its extension: ``result.png``, ``result-1.png``, ``result-2.png``, ...
"""

import contextlib
import errno
import math
import os
import pathlib
import secrets
import threading
import time
import unicodedata
from typing import Callable, Iterable, Iterator, Mapping, NoReturn, Optional, Tuple, Union
from urllib.parse import unquote, urljoin, urlsplit

from ._config import check_callable, check_count, check_number, check_timeout
from ._retry import parse_retry_after
from ._transport import Request, RequestsTransport, for_any_url
from ._transport import shown_url as _shown
from ._version import __version__
from .errors import ConfigurationError, TransportError, error_class

__all__ = ["download"]

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_NAME = "download"
MAX_NAME_BYTES = 200  # UTF-8 bytes of a final name, suffix included (file systems allow 255)
MAX_SUFFIX = 9999  # name-1 ... name-9999, then a random suffix
# (Windows also reads the superscript digits ¹²³ as device numbers, and "con .txt" as "con")
_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul", "conin$", "conout$", "clock$",
     *(f"{device}{digit}" for device in ("com", "lpt")
       for digit in "0123456789\u00b9\u00b2\u00b3")})
_UNSAFE = frozenset('/\\<>:"|?*')
_HEADERS = {"User-Agent": f"genstatus_sync/{__version__}", "Accept-Encoding": "identity"}

Progress = Callable[[int, Optional[int]], None]
PathLike = Union[str, "os.PathLike[str]"]


def download(url: str, dest_dir: PathLike, *, max_bytes: int = 2**31,
             timeout: Union[float, Tuple[float, float]] = (5.0, 30.0),
             on_progress: Optional[Progress] = None,
             total: Optional[float] = None) -> pathlib.Path:
    """Stream ``url`` to a new file in ``dest_dir`` and return its path.

    The name is the URL's last path segment made safe, suffixed ``-1``, ``-2``, ... rather than
    overwrite a file. Sends no key or provider header; follows at most 5 redirects (http and
    https only); each request (each redirect too) goes through the proxy the environment gives
    for its URL (HTTPS_PROXY, HTTP_PROXY, NO_PROXY); ``timeout`` is the (connect, read) pair,
    and ``total`` (seconds, None: none) bounds the whole download, redirects included (a server
    trickling the file is cut off then: TransportError); ``on_progress(done, total)`` after
    each piece
    (``total`` None when the size is not sent). Messages name URLs without credentials or
    query. Raises ConfigurationError (not http(s), ``dest_dir`` not a path of an existing
    folder, a bad argument), the APIError subclass of an error status (404: NotFoundError,
    ...), TransportError (connection, timeout, a body cut short, compressed or not, a 206
    part, too many redirects) or ResponseFormatError (more than ``max_bytes``); the file
    system's own OSError as it is (the folder not writable, a full disk). Whatever is raised,
    no file is left behind.
    """
    with contextlib.closing(Downloader()) as downloader:
        return downloader.download(url, dest_dir, max_bytes=max_bytes, timeout=timeout,
                                   on_progress=on_progress, total=total)


class Downloader:
    """``download`` with one session (and its kept-alive connections) for many downloads:
    the command line's. Safe in threads; ``close()`` when done. Not exported."""

    def __init__(self, *, direct: bool = False) -> None:
        self._transport: Optional[RequestsTransport] = None
        self._lock = threading.Lock()
        self._direct = direct  # no proxy (the demo's downloads from its own fake servers)

    def download(self, url: str, dest_dir: PathLike, *, max_bytes: int = 2**31,
                 timeout: Union[float, Tuple[float, float]] = (5.0, 30.0),
                 on_progress: Optional[Progress] = None,
                 total: Optional[float] = None) -> pathlib.Path:
        """As ``genstatus_sync.download``."""
        _check_url(url, "URL")
        folder = _check_folder(dest_dir)
        limit = check_count("max_bytes", max_bytes)
        pair = check_timeout(timeout)
        if on_progress is not None:
            check_callable("on_progress", on_progress)  # (before a request, not after one)
        seconds = check_number(total, "total must be seconds > 0 or None", positive=True,
                               maximum=math.inf) if total is not None else None
        end = None if seconds is None else time.monotonic() + seconds
        name = safe_name(url)
        transport = self._the_transport()
        current = url
        for hop in range(MAX_REDIRECTS + 1):
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                raise TransportError(f"GET {_shown(current)} timed out: the download took "
                                     f"more than {seconds:.1f} s")
            with transport.stream(Request(current, {}, _HEADERS), timeout=pair, total=left,
                                  max_bytes=limit) as reply:
                if reply.status in REDIRECT_STATUSES:
                    current = _redirect(current, reply.headers, hop)
                    continue
                if not 200 <= reply.status < 300:
                    _raise_status(current, reply.status, reply.reason, reply.headers)
                if reply.status == 206:  # a part, to a request for the whole (no Range sent)
                    raise TransportError(f"GET {_shown(current)}: the server sent part of the "
                                         "file (206 Partial Content) where all of it was asked")
                return _save(reply.chunks(), _size(reply.headers), folder, name, current,
                             on_progress)
        raise AssertionError("unreachable")  # pragma: no cover - _redirect raises first

    def _the_transport(self) -> RequestsTransport:
        with self._lock:
            if self._transport is None:
                self._transport = for_any_url(direct=self._direct)
            return self._transport

    def close(self) -> None:
        with self._lock:
            transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()


def _check_folder(dest_dir: object) -> pathlib.Path:
    folder: Optional[pathlib.Path] = None
    if isinstance(dest_dir, (str, os.PathLike)) and dest_dir != "":
        # (an empty str would be read as ".": the current folder, named by no one)
        with contextlib.suppress(TypeError):  # a PathLike of bytes
            folder = pathlib.Path(dest_dir)
    if dest_dir == "":
        raise ConfigurationError("dest_dir is empty: give the folder's path ('.' for the "
                                 "current one)")
    if folder is None:
        raise ConfigurationError("dest_dir must be the path of a folder (str or os.PathLike "
                                 f"of str), got {type(dest_dir).__name__}")
    try:
        is_folder = folder.is_dir()
    except OSError:  # a name too long (ENAMETOOLONG): Path.is_dir() lets that escape
        is_folder = False
    if not is_folder:
        raise ConfigurationError(f"download folder {str(folder)[:200]!r} is not an existing "
                                 "directory")
    return folder


def safe_name(url: str) -> str:
    """The file name for ``url``: its last path segment, percent-decoded, with separators,
    control and format characters and ``<>:"|?*`` replaced by ``_``, no leading dots or
    spaces, no trailing dots or spaces, a Windows device name (``con``, ``nul.txt``) prefixed
    with ``_``, at most ``MAX_NAME_BYTES`` in UTF-8 (the extension kept); ``download`` when
    nothing is left."""
    segment = urlsplit(url).path.rsplit("/", 1)[-1]
    text = unicodedata.normalize("NFC", unquote(segment, errors="replace"))
    text = "".join("_" if c in _UNSAFE or unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp")
                   else c for c in text)
    text = text.lstrip(". ").rstrip(". ")
    if not text:
        return DEFAULT_NAME
    if text.split(".", 1)[0].rstrip(" ").lower() in _WINDOWS_RESERVED:
        text = "_" + text
    return _fit(text, MAX_NAME_BYTES)


def _fit(name: str, limit: int) -> str:
    """``name`` cut to ``limit`` UTF-8 bytes, keeping a short extension."""
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, ext = _split(name)
    if len(ext.encode("utf-8")) > 16:
        stem, ext = name, ""
    room = limit - len(ext.encode("utf-8"))
    cut = stem.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip(". ")
    return (cut or DEFAULT_NAME) + ext


def _split(name: str) -> Tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    return (stem, dot + ext) if stem else (name, "")


def _candidates(name: str) -> Iterator[str]:
    yield name
    stem, ext = _split(name)
    for i in range(1, MAX_SUFFIX + 1):
        suffix = f"-{i}{ext}"
        yield _fit(stem, MAX_NAME_BYTES - len(suffix.encode("utf-8"))) + suffix
    while True:
        suffix = f"-{secrets.token_hex(4)}{ext}"
        yield _fit(stem, MAX_NAME_BYTES - len(suffix.encode("utf-8"))) + suffix


def _check_url(url: object, what: str) -> str:
    if not isinstance(url, str):
        raise ConfigurationError(f"the {what} must be a string, got {type(url).__name__}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigurationError(f"bad {what} {_shown(url)!r}: {exc}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{what} {_shown(url)!r} is not an http(s) URL; not fetched")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ConfigurationError(f"{what} {_shown(url)!r} has spaces or control characters")
    return url


def _redirect(current: str, headers: Mapping[str, str], hop: int) -> str:
    location = headers.get("Location")
    if not location:
        raise TransportError(f"GET {_shown(current)}: a redirect without a Location",
                             transient=False)
    with contextlib.suppress(UnicodeError):  # http.client read the header as latin-1
        location = location.encode("latin-1").decode("utf-8")
    try:
        target = urljoin(current, location.strip()).split("#", 1)[0]
        scheme = urlsplit(target).scheme.lower()
    except ValueError:  # urllib's own refusal: an unclosed IPv6 bracket, say
        raise TransportError(f"GET {_shown(current)}: redirected to a URL that cannot be "
                             "parsed; not followed", transient=False) from None
    if scheme not in ("http", "https"):
        raise TransportError(f"GET {_shown(current)}: redirected to a URL that is not http(s) "
                             f"({_shown(target)[:80]!r}); not followed", transient=False)
    try:
        _check_url(target, "redirect target")
    except ConfigurationError as exc:
        raise TransportError(f"GET {_shown(current)}: {exc}", transient=False) from None
    if hop >= MAX_REDIRECTS:
        raise TransportError(f"GET {_shown(current)}: more than {MAX_REDIRECTS} redirects",
                             transient=False)
    return target


def _raise_status(url: str, status: int, reason: str, headers: Mapping[str, str]) -> NoReturn:
    retry_after = headers.get("Retry-After")
    error = error_class(status)(f"GET {_shown(url)}: {reason or 'HTTP error'}",
                                status_code=status, retry_after=parse_retry_after(retry_after))
    error._retry_after_sent = retry_after is not None
    raise error


def _size(headers: Mapping[str, str]) -> Optional[int]:
    """The body's length as sent, when it can be believed: one Content-Length of digits, not
    chunked, not compressed (then the length is of the compressed bytes)."""
    length = headers.get("Content-Length", "").strip()
    if (not length.isdigit() or not length.isascii() or "Transfer-Encoding" in headers
            or headers.get("Content-Encoding", "identity").strip().lower() != "identity"):
        return None
    return int(length)


def _save(chunks: Iterable[bytes], total: Optional[int], folder: pathlib.Path, name: str,
          url: str, on_progress: Optional[Progress]) -> pathlib.Path:
    temp = ""
    try:  # (from the moment the file may exist: a Ctrl-C as os.open returns included)
        fd, temp = _temporary(folder, name)
        with os.fdopen(fd, "wb") as file:
            done = 0
            if on_progress is not None:
                on_progress(0, total)
            for piece in chunks:
                file.write(piece)
                done += len(piece)
                if on_progress is not None:
                    on_progress(done, total)
            if total is not None and done != total:
                raise TransportError(f"GET {_shown(url)} failed: the reply broke off after "
                                     f"{done} of {total} bytes")
            file.flush()
            os.fsync(file.fileno())
        return _publish(temp, folder, name)
    finally:
        if temp:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)


def _temporary(folder: pathlib.Path, name: str) -> Tuple[int, str]:
    """A new hidden file in ``folder`` (mode 0o666 less the umask, as the final file should
    have; tempfile's would be 0o600) and its path. Interrupted once the file may exist (a
    signal's exception raised as os.open returns), it removes the file: its name is random
    and opened with O_EXCL, so the file is this call's."""
    while True:
        temp = str(folder / f".{_fit(name, 100)}.{secrets.token_hex(6)}.part")
        try:
            return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                           0o666), temp
        except FileExistsError:
            continue
        except BaseException:
            _discard(temp)
            raise


def _publish(temp: str, folder: pathlib.Path, name: str) -> pathlib.Path:
    """Give the complete file ``temp`` its final name, the first free one of ``name``,
    ``name-1``, ...; never overwriting a file."""
    for candidate in _candidates(name):
        path = folder / candidate
        try:
            os.link(temp, path)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV,
                                 errno.EMLINK, errno.ENOSYS) and not isinstance(
                                     exc, (NotImplementedError, PermissionError)):
                raise
            return _publish_without_links(temp, folder, name)
        return path
    raise AssertionError("unreachable")  # pragma: no cover - the candidates never end


def _publish_without_links(temp: str, folder: pathlib.Path, name: str) -> pathlib.Path:
    for candidate in _candidates(name):
        path = folder / candidate
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except BaseException:  # (a signal's exception as os.open returned: the file is ours)
            _discard(path)
            raise
        try:  # the name is held by an empty file until the complete one replaces it
            os.close(fd)
            os.replace(temp, path)
        except BaseException:  # (a failure or a signal: no empty file left under the name)
            _discard(path)
            raise
        return path
    raise AssertionError("unreachable")  # pragma: no cover


def _discard(path: Union[str, pathlib.Path]) -> None:
    """Remove the file at ``path``, this call's own, on the way out of a failure: whatever
    stands in the way (it is gone already) must not hide that failure."""
    with contextlib.suppress(OSError):
        os.unlink(path)
