"""gs.download over real HTTP: a result server of the standard library on 127.0.0.1 that can
be slow, cut off, redirect, lie about its length or fail; after every failure the folder holds
neither a file under the final name nor a temporary file."""

import gzip
import http.client
import http.server
import os
import socket
import threading
import time
import zlib

import pytest

import genstatus_sync as gs
from genstatus_sync import _download

BODY = bytes(range(256)) * 400  # 102,400 bytes: more than one 64 KB piece


class ResultServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests = []  # (path, headers) of every request

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_port}"

    def handle_error(self, request, client_address):
        pass  # a client that gave up (as it should) is no news


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self.server.requests.append((self.path, dict(self.headers.items())))
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        kind, arg = parts[0], parts[1] if len(parts) > 1 else ""
        if kind == "files":  # /files/<any name>: BODY, with its length
            self.reply(200, BODY)
        elif kind == "chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(BODY), 30000):
                piece = BODY[i:i + 30000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            if arg != "cut":  # /chunked/cut: the connection closes before the last chunk
                self.wfile.write(b"0\r\n\r\n")
            self.close_connection = True
        elif kind == "to-close":  # no length at all: the body ends when the connection does
            self.send_response(200)
            self.send_header("Content-Length", arg or "")  # "", or a bogus value
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(BODY)
            self.close_connection = True
        elif kind == "truncated":  # a Content-Length longer than the body, then closed
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY) * 2))
            self.end_headers()
            self.wfile.write(BODY)
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        elif kind == "slow-head":  # nothing for <arg> seconds
            time.sleep(float(arg))
            self.reply(200, BODY)
        elif kind == "trickle":  # the body in 8 pieces, <arg> seconds apart
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            step = len(BODY) // 8
            for i in range(0, len(BODY), step):
                self.wfile.write(BODY[i:i + step])
                self.wfile.flush()
                time.sleep(float(arg))
        elif kind == "gzip":
            self.reply(200, gzip.compress(BODY), {"Content-Encoding": "gzip"})
        elif kind == "compressed-cut":  # /compressed-cut/<how>: a compressed BODY, not whole
            self.compressed_cut(arg)
        elif kind == "partial":  # a 206 to a request without Range
            self.reply(206, BODY[:100], {"Content-Range": f"bytes 0-99/{len(BODY)}"})
        elif kind == "status":  # /status/<code>
            self.reply(int(arg), b'{"error": "no"}', {"Retry-After": "7"})
        elif kind == "redirect":  # /redirect/<hops>/<how>[/<status>]: <hops> of them, a file
            hops, how = int(arg), parts[2]
            status = int(parts[3]) if len(parts) > 3 else 302
            rest = f"{hops - 1}/{how}/{status}"
            target = f"/redirect/{rest}" if hops > 1 else "/files/final.bin"
            location = {"relative": f"../../{rest}" if hops > 1 else "../../../files/final.bin",
                        "rooted": target, "absolute": self.server.url + target}[how]
            self.reply(status, b"", {"Location": location})
        elif kind == "loop":
            self.reply(301, b"", {"Location": "/loop"})
        elif kind == "to-ftp":
            self.reply(302, b"", {"Location": "ftp://127.0.0.1/file.bin"})
        elif kind == "no-location":
            self.reply(302, b"")
        elif kind == "to":  # /to?<URL>: a redirect there
            self.reply(302, b"", {"Location": self.path.split("?", 1)[1]})
        else:
            self.reply(404, b"not here")

    def compressed_cut(self, how):
        packed = (zlib.compress(BODY) if how == "deflate" else gzip.compress(BODY))
        cut = packed[:-8] if how == "no-trailer" else packed[:len(packed) // 2]
        encoding = "deflate" if how == "deflate" else "gzip"
        self.send_response(200)
        self.send_header("Content-Encoding", encoding)
        if how == "chunked":  # whole chunked framing around a cut stream
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(cut), cut))
        elif how == "to-close":  # no length: the body ends where the connection closes
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(cut)
            self.close_connection = True
        else:  # a Content-Length that matches the cut bytes
            self.send_header("Content-Length", str(len(cut)))
            self.end_headers()
            self.wfile.write(cut)

    def reply(self, status, body, headers=None):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def server():
    srv = ResultServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


# -- what is saved, and where ---------------------------------------------------------------

def test_a_file_is_streamed_to_its_name_with_progress(server, tmp_path):
    seen = []
    path = gs.download(f"{server.url}/files/result.png?X-Amz-Signature=abc", tmp_path,
                       on_progress=lambda done, total: seen.append((done, total)))
    assert path == tmp_path / "result.png" and path.read_bytes() == BODY
    assert listing(tmp_path) == ["result.png"]
    assert seen[0] == (0, len(BODY)) and seen[-1] == (len(BODY), len(BODY)) and len(seen) >= 3
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_the_file_gets_the_umask_mode_not_a_private_temp_mode(server, tmp_path):
    path = gs.download(f"{server.url}/files/a.bin", tmp_path)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_no_key_or_provider_header_is_sent(server, tmp_path, monkeypatch):
    monkeypatch.setenv("RIVYA_API_KEY", "sk-should-never-travel")
    gs.download(f"{server.url}/files/a.bin", tmp_path)
    (_, headers), = server.requests
    assert set(headers) <= {"Host", "User-Agent", "Accept-Encoding", "Accept", "Connection"}
    assert headers["User-Agent"].startswith("genstatus_sync/")
    assert "sk-should-never-travel" not in repr(headers)


@pytest.mark.parametrize(("path", "total"), [("chunked", None), ("to-close", None),
                                             ("to-close/abc", None), ("to-close/-5", None),
                                             ("gzip", None)])
def test_without_a_believable_length_total_is_none(server, tmp_path, path, total):
    seen = []
    saved = gs.download(f"{server.url}/{path}", tmp_path,
                        on_progress=lambda done, size: seen.append((done, size)))
    assert saved.read_bytes() == BODY  # gzip: inflated, as requests would
    assert {size for _, size in seen} == {total}
    assert seen[-1][0] == len(BODY)


def test_names_collide_into_numeric_suffixes(server, tmp_path):
    (tmp_path / "result.png").write_bytes(b"mine")
    paths = [gs.download(f"{server.url}/files/result.png", tmp_path) for _ in range(3)]
    assert [p.name for p in paths] == ["result-1.png", "result-2.png", "result-3.png"]
    assert (tmp_path / "result.png").read_bytes() == b"mine"  # never overwritten
    assert gs.download(f"{server.url}/files/archive.tar.gz", tmp_path).name == "archive.tar.gz"
    assert gs.download(f"{server.url}/files/archive.tar.gz", tmp_path).name == "archive.tar-1.gz"
    assert gs.download(f"{server.url}/files/README", tmp_path).name == "README"
    assert gs.download(f"{server.url}/files/README", tmp_path).name == "README-1"


def test_concurrent_downloads_of_one_name_each_get_a_whole_file(server, tmp_path):
    paths, errors = [], []

    def one():
        try:
            paths.append(gs.download(f"{server.url}/files/same.bin", tmp_path))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(p.name for p in paths) == ["same-1.bin", "same-2.bin", "same-3.bin",
                                            "same-4.bin", "same-5.bin", "same.bin"]
    assert all(p.read_bytes() == BODY for p in paths)
    assert listing(tmp_path) == sorted(p.name for p in paths)


@pytest.mark.parametrize(("segment", "name"), [
    ("..%2F..%2Fx", "_.._x"),            # an encoded separator cannot leave the folder
    ("a%2Fb%5Cc.png", "a_b_c.png"),
    ("", "download"),                     # no last segment
    ("...", "download"),
    (".bashrc", "bashrc"),                # no hidden files
    ("con", "_con"), ("NUL.txt", "_NUL.txt"), ("com1.png", "_com1.png"),  # Windows devices
    ("COM%C2%B9.png", "_COM¹.png"), ("lpt%C2%B2", "_lpt²"), ("CONIN$", "_CONIN$"),
    ("con%20.txt", "_con .txt"), ("clock$.log", "_clock$.log"),
    ("%E2%80%AEgnp.exe", "_gnp.exe"),     # a right-to-left override (a format character)
    ("a%00b%1B%5B31m.png", "a_b_[31m.png"),  # control characters
    ("%C3%BCn%C3%AF%F0%9F%A6%84.png", "ünï🦄.png"),  # unicode kept
    ("u%CC%88.png", "ü.png"),             # NFC
    ("a%3Cb%3E%3A%22%7C%3F%2A.png", "a_b______.png"),
    ("trailing.%20.", "trailing"),
])
def test_unsafe_names_are_made_safe(server, tmp_path, segment, name):
    path = gs.download(f"{server.url}/files/{segment}", tmp_path)
    assert path.name == name and path.parent == tmp_path
    assert listing(tmp_path) == [name]


def test_a_dot_segment_url_names_its_last_segment(server, tmp_path):
    assert _download.safe_name("http://h/a/../x") == "x"
    assert _download.safe_name("http://h/dir/") == "download"


def test_a_very_long_name_is_cut_keeping_its_extension(server, tmp_path):
    long = "é" * 300 + ".png"
    path = gs.download(f"{server.url}/files/{long}", tmp_path)
    assert path.name.endswith(".png") and path.name.startswith("éé")
    assert len(path.name.encode()) <= _download.MAX_NAME_BYTES
    again = gs.download(f"{server.url}/files/{long}", tmp_path)
    assert again.name.endswith("-1.png") and len(again.name.encode()) <= _download.MAX_NAME_BYTES


def test_the_name_comes_from_the_url_asked_for_not_a_redirect_target(server, tmp_path):
    path = gs.download(f"{server.url}/redirect/2/absolute", tmp_path)
    assert path.name == "absolute" and path.read_bytes() == BODY


def test_without_hard_links_the_name_is_reserved_then_replaced(server, tmp_path, monkeypatch):
    def no_links(src, dst):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    (tmp_path / "x.bin").write_bytes(b"mine")
    path = gs.download(f"{server.url}/files/x.bin", tmp_path)
    assert path.name == "x-1.bin" and path.read_bytes() == BODY
    assert (tmp_path / "x.bin").read_bytes() == b"mine"
    assert listing(tmp_path) == ["x-1.bin", "x.bin"]


@pytest.mark.parametrize("failure", [OSError(5, "Input/output error"), KeyboardInterrupt()],
                         ids=["EIO", "Ctrl-C"])
def test_without_hard_links_a_failed_replace_leaves_no_empty_file(server, tmp_path, monkeypatch,
                                                                  failure):
    # the empty file that held the name stayed, a file under the final name that was never
    # the download (downloads.md: never a partial file under the final name)
    def no_links(src, dst):
        raise PermissionError(1, "Operation not permitted")

    def replace(src, dst):
        raise failure

    monkeypatch.setattr(os, "link", no_links)
    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(type(failure)):
        gs.download(f"{server.url}/files/x.bin", tmp_path)
    assert listing(tmp_path) == []


@pytest.mark.parametrize("which", ["the temporary file", "the final name, without links"])
def test_a_ctrl_c_as_a_file_is_opened_leaves_nothing(server, tmp_path, monkeypatch, which):
    # a signal's exception comes as a system call returns: os.open had made the file, and
    # the clean-up that removes it had not begun
    opened = []

    def open_then_interrupt(path, *args, **kwargs):
        fd = real_open(path, *args, **kwargs)
        if str(path).endswith(".part") == (which == "the temporary file"):
            opened.append(fd)  # (the download never saw it: closed below)
            raise KeyboardInterrupt
        return fd

    def no_links(src, dst):
        raise PermissionError(1, "Operation not permitted")

    real_open = os.open
    monkeypatch.setattr(os, "open", open_then_interrupt)
    if which != "the temporary file":
        monkeypatch.setattr(os, "link", no_links)
    with pytest.raises(KeyboardInterrupt):
        gs.download(f"{server.url}/files/x.bin", tmp_path)
    monkeypatch.undo()
    for fd in opened:
        os.close(fd)
    assert listing(tmp_path) == []


# -- redirects --------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["relative", "rooted", "absolute"])
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_up_to_five_redirects_are_followed(server, tmp_path, how, status):
    path = gs.download(f"{server.url}/redirect/5/{how}/{status}", tmp_path)
    assert path.read_bytes() == BODY
    assert server.requests[-1][0] == "/files/final.bin"
    assert len(server.requests) == 6


@pytest.mark.parametrize(("path", "words"), [
    ("redirect/6/rooted", "more than 5 redirects"),
    ("loop", "more than 5 redirects"),
    ("to-ftp", "not http(s)"),
    ("no-location", "without a Location"),
])
def test_bad_redirects_are_a_transport_error_and_leave_nothing(server, tmp_path, path, words):
    with pytest.raises(gs.TransportError, match=words.replace("(", r"\(").replace(")", r"\)")):
        gs.download(f"{server.url}/{path}", tmp_path)
    assert listing(tmp_path) == []
    assert len(server.requests) <= 6


# -- failures map to the error tree and leave no file -------------------------------------------

@pytest.mark.parametrize(("status", "cls"), [(404, gs.NotFoundError),
                                             (403, gs.PermissionDeniedError),
                                             (401, gs.AuthenticationError),
                                             (429, gs.RateLimitError), (500, gs.ServerError),
                                             (503, gs.ServerError), (410, gs.APIError)])
def test_error_statuses_map_to_the_error_tree(server, tmp_path, status, cls):
    with pytest.raises(cls) as info:
        gs.download(f"{server.url}/status/{status}?token=secret", tmp_path)
    assert type(info.value) is cls and info.value.status_code == status
    assert "secret" not in str(info.value)  # a signed URL's query is not repeated
    if status in (429, 503):
        assert info.value.retry_after == 7.0
    assert listing(tmp_path) == []


def test_a_body_shorter_than_its_content_length_is_a_transport_error(server, tmp_path):
    with pytest.raises(gs.TransportError):
        gs.download(f"{server.url}/truncated", tmp_path)
    assert listing(tmp_path) == []


@pytest.mark.parametrize("how", ["to-close", "length", "chunked", "no-trailer", "deflate"])
def test_a_compressed_body_cut_short_is_a_transport_error_and_saves_nothing(server, tmp_path,
                                                                            how):
    # before, the inflated half was saved under the final name as if it were the file
    with pytest.raises(gs.TransportError, match="compressed body ended before its end"):
        gs.download(f"{server.url}/compressed-cut/{how}", tmp_path)
    assert listing(tmp_path) == []


def test_a_part_of_the_file_is_a_transport_error_and_saves_nothing(server, tmp_path):
    with pytest.raises(gs.TransportError, match="206 Partial Content"):
        gs.download(f"{server.url}/partial", tmp_path)
    assert listing(tmp_path) == []


def test_a_folder_name_too_long_is_a_configuration_error(server, tmp_path):
    with pytest.raises(gs.ConfigurationError, match="not an existing directory"):
        gs.download(f"{server.url}/files/a.bin", tmp_path / ("a" * 300))
    assert server.requests == []


def test_a_chunked_body_cut_off_is_a_transport_error(server, tmp_path):
    with pytest.raises(gs.TransportError):
        gs.download(f"{server.url}/chunked/cut", tmp_path)
    assert listing(tmp_path) == []


@pytest.mark.parametrize("path", ["files/big.bin", "chunked", "to-close"])
def test_more_than_max_bytes_is_a_response_format_error(server, tmp_path, path):
    with pytest.raises(gs.ResponseFormatError, match="larger than 50000 bytes"):
        gs.download(f"{server.url}/{path}", tmp_path, max_bytes=50_000)
    assert listing(tmp_path) == []
    assert gs.download(f"{server.url}/{path}", tmp_path, max_bytes=len(BODY)).stat().st_size \
        == len(BODY)


def test_a_server_that_does_not_answer_times_out(server, tmp_path):
    started = time.monotonic()
    with pytest.raises(gs.TransportError, match="timed out"):
        gs.download(f"{server.url}/slow-head/3", tmp_path, timeout=(1.0, 0.3))
    assert time.monotonic() - started < 2.0
    assert listing(tmp_path) == []


def test_no_bound_on_the_whole_download_only_on_each_read(server, tmp_path):
    # 8 pieces 0.2 s apart: 1.6 s in all, more than connect + read timeout (1.0 s)
    path = gs.download(f"{server.url}/trickle/0.2", tmp_path, timeout=(0.25, 0.75))
    assert path.read_bytes() == BODY


def test_keyboard_interrupt_mid_body_leaves_nothing(server, tmp_path):
    def interrupt(done, total):
        if done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        gs.download(f"{server.url}/chunked", tmp_path, on_progress=interrupt)
    assert listing(tmp_path) == []


def test_an_on_progress_error_is_the_callers_and_leaves_nothing(server, tmp_path):
    def boom(done, total):
        raise RuntimeError("mine")

    with pytest.raises(RuntimeError, match="mine"):
        gs.download(f"{server.url}/files/a.bin", tmp_path, on_progress=boom)
    assert listing(tmp_path) == []


def test_a_disk_error_leaves_nothing(server, tmp_path, monkeypatch):
    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        gs.download(f"{server.url}/files/a.bin", tmp_path)
    assert listing(tmp_path) == []


def test_a_connection_refused_is_a_transport_error(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed at once: nothing listens there
    with pytest.raises(gs.TransportError):
        gs.download(f"http://127.0.0.1:{port}/a.png", tmp_path, timeout=(0.5, 0.5))
    assert listing(tmp_path) == []


# -- refused before any request ---------------------------------------------------------------

@pytest.mark.parametrize("url", ["ftp://127.0.0.1/a.png", "file:///etc/passwd",
                                 "data:image/png;base64,AAAA", "/relative/a.png", "127.0.0.1/a",
                                 "http:///nohost.png", "http://127.0.0.1:99999/a.png",
                                 "http://127.0.0.1/a b.png", "javascript:alert(1)", 42])
def test_non_http_urls_are_a_configuration_error(server, tmp_path, url):
    with pytest.raises(gs.ConfigurationError):
        gs.download(url, tmp_path)
    assert listing(tmp_path) == [] and server.requests == []


def test_the_folder_must_exist(server, tmp_path):
    with pytest.raises(gs.ConfigurationError, match="not an existing directory"):
        gs.download(f"{server.url}/files/a.bin", tmp_path / "nope")
    (tmp_path / "file").write_text("")
    with pytest.raises(gs.ConfigurationError):
        gs.download(f"{server.url}/files/a.bin", tmp_path / "file")
    assert server.requests == []


@pytest.mark.parametrize("kwargs", [{"timeout": None}, {"timeout": (1, 0)}, {"max_bytes": -1},
                                    {"max_bytes": 1.5}])
def test_bad_arguments_are_a_configuration_error(server, tmp_path, kwargs):
    with pytest.raises(gs.ConfigurationError):
        gs.download(f"{server.url}/files/a.bin", tmp_path, **kwargs)
    assert server.requests == []


def test_a_string_folder_works_and_the_path_is_returned_in_it(server, tmp_path):
    path = gs.download(f"{server.url}/files/a.bin", str(tmp_path))
    assert path == tmp_path / "a.bin"


# -- the environment's proxy, for each request ------------------------------------------------

class ForwardProxy(http.server.ThreadingHTTPServer):
    """A plain-http forward proxy: takes absolute-form requests (``GET http://host:port/x``),
    records them, and forwards each to its origin."""

    daemon_threads = True
    block_on_close = False

    def __init__(self):
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        self.requests = []  # the absolute URLs asked for

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_port}"

    def handle_error(self, request, client_address):
        pass


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        if not self.path.startswith("http://"):
            self.send_error(400)
            return
        host, _, path = self.path[len("http://"):].partition("/")
        hostname, _, port = host.rpartition("@")[2].partition(":")
        origin = http.client.HTTPConnection(hostname, int(port or 80), timeout=5)
        try:
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("proxy-connection", "connection")}
            origin.request("GET", "/" + path, headers=headers)
            reply = origin.getresponse()
            body = reply.read()
        finally:
            origin.close()
        self.send_response(reply.status)
        for name, value in reply.getheaders():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def proxy(monkeypatch):
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY",
                 "https_proxy", "HTTP_PROXY", "http_proxy", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
    srv = ForwardProxy()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    monkeypatch.setenv("HTTP_PROXY", srv.url)
    yield srv
    srv.shutdown()
    srv.server_close()


def test_a_download_goes_through_the_environments_proxy(server, proxy, tmp_path):
    path = gs.download(f"{server.url}/files/a.bin", tmp_path)
    assert path.read_bytes() == BODY
    assert proxy.requests == [f"{server.url}/files/a.bin"]
    assert [p for p, _ in server.requests] == ["/files/a.bin"]


def test_every_redirect_hop_goes_through_the_proxy(server, proxy, tmp_path):
    path = gs.download(f"{server.url}/redirect/2/absolute", tmp_path)
    assert path.read_bytes() == BODY
    assert proxy.requests == [f"{server.url}/redirect/2/absolute",
                              f"{server.url}/redirect/1/absolute/302",
                              f"{server.url}/files/final.bin"]


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "*"])
def test_no_proxy_covering_the_host_goes_direct(server, proxy, tmp_path, monkeypatch,
                                                no_proxy):
    monkeypatch.setenv("NO_PROXY", no_proxy)
    path = gs.download(f"{server.url}/redirect/1/rooted", tmp_path)
    assert path.read_bytes() == BODY
    assert proxy.requests == []
    assert [p for p, _ in server.requests] == ["/redirect/1/rooted", "/files/final.bin"]


def test_the_proxy_is_chosen_for_each_hop_by_its_own_host(server, proxy, tmp_path,
                                                          monkeypatch):
    # 127.0.0.1 goes direct; its redirect to localhost (another host, same server) through
    # the proxy
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    target = f"http://localhost:{server.server_port}/files/b.bin"
    path = gs.download(f"{server.url}/to?{target}", tmp_path)
    assert path.read_bytes() == BODY and path.name == "to"
    assert proxy.requests == [target]
    assert [p for p, _ in server.requests] == [f"/to?{target}", "/files/b.bin"]


def test_a_proxy_that_is_not_there_is_a_transport_error(server, proxy, tmp_path,
                                                        monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(gs.TransportError):
        gs.download(f"{server.url}/files/a.bin", tmp_path, timeout=(0.5, 0.5))
    assert server.requests == [] and listing(tmp_path) == []


@pytest.mark.parametrize("setting", ["socks5://user:pw-in-proxy@127.0.0.1:1080", "http://[bad",
                                     "http://127.0.0.1:99999", "http://"])
def test_an_unusable_proxy_setting_is_named_and_not_transient(server, proxy, tmp_path,
                                                                monkeypatch, setting):
    # it was "the reply broke the HTTP protocol", transient, where nothing had been sent
    monkeypatch.setenv("HTTP_PROXY", setting)
    for attempt in (lambda: gs.download(f"{server.url}/files/a.bin", tmp_path),
                    lambda: gs.RivyaClient(api_key="k", base_url=server.url,
                                           max_retries=3).get_status("task-1")):
        with pytest.raises(gs.TransportError, match="before any request was sent: the proxy "
                                                    "the environment gives") as info:
            attempt()
        assert not info.value.transient and info.value.__cause__ is None
        assert "pw-in-proxy" not in str(info.value)
    assert server.requests == [] and proxy.requests == [] and listing(tmp_path) == []


# -- credentials in a URL are never shown -------------------------------------------------------

SECRET = "s3cret-pw"


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed at once: nothing listens there


def texts(exc):
    """The message, repr and arguments of ``exc`` and of every exception in its chain."""
    seen, found = set(), []
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        found += [str(exc), repr(exc), *(repr(a) for a in exc.args)]
        exc = exc.__cause__ or exc.__context__
    return found


def with_secret(url):
    return url.replace("://", f"://user:{SECRET}@", 1)


@pytest.mark.parametrize("through_proxy", [False, True])
@pytest.mark.parametrize("case", ["refused", "404", "redirect-to-404", "redirect-to-refused"])
def test_credentials_in_a_url_are_in_no_error(server, proxy, tmp_path, monkeypatch, case,
                                              through_proxy):
    if not through_proxy:
        monkeypatch.delenv("HTTP_PROXY")
    refused = with_secret(f"http://127.0.0.1:{closed_port()}/x.png?token=t0ken")
    url = {"refused": refused,
           "404": with_secret(f"{server.url}/status/404?token=t0ken"),
           "redirect-to-404": f"{server.url}/to?" + with_secret(f"{server.url}/status/404"),
           "redirect-to-refused": f"{server.url}/to?{refused}"}[case]
    kind = gs.NotFoundError if "404" in case else gs.TransportError
    with pytest.raises(kind) as caught:
        gs.download(url, tmp_path, timeout=(0.5, 0.5))
    found = texts(caught.value)
    assert "127.0.0.1" in str(caught.value)
    assert not [t for t in found if SECRET in t or "t0ken" in t]
    assert listing(tmp_path) == []


# -- bad arguments ------------------------------------------------------------------------------

@pytest.mark.parametrize("folder", [None, 5, b"/tmp", 1.5, ["/tmp"], ""])
def test_a_folder_that_is_not_a_path_is_a_configuration_error(server, folder):
    with pytest.raises(gs.ConfigurationError, match="dest_dir"):
        gs.download(f"{server.url}/files/a.bin", folder)
    assert server.requests == []


def test_an_on_progress_that_is_not_callable_is_refused_before_any_request(server, tmp_path):
    with pytest.raises(gs.ConfigurationError, match="on_progress"):
        gs.download(f"{server.url}/files/x.bin", tmp_path, on_progress=3)
    assert server.requests == [] and listing(tmp_path) == []
