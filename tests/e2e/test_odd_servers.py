"""Replies that real servers, proxies and CDNs send and that the first transport misread, over
real sockets: interim 1xx replies, error replies whose bodies cannot be read, bodies that
break off or stall, tiny chunks, numbers that are not JSON, unusable redirects."""

import contextlib
import gzip
import json
import sys
import time
import zlib

import pytest

import genstatus_sync as gs

from .. import stalls
from ..conftest import KEY
from ..examples import SIVI
from .rawserver import MB, RawServer, chunk, head, reply

PROVIDERS = ["sivi", "rivya", "sellerpic", "clipia"]
CLIENTS = {"sivi": gs.SiviClient, "rivya": gs.RivyaClient, "sellerpic": gs.SellerPicClient,
           "clipia": gs.ClipiaClient}


def rivya(url, **kwargs):
    kwargs.setdefault("timeout", (1.0, 1.0))
    client = gs.RivyaClient(api_key=KEY, base_url=url, **kwargs)
    client.slept = []
    client._sleep = client.slept.append  # retry sleeps recorded, not slept
    return client


def status_body(conn):
    """Rivya's status reply for the job the request names."""
    job = conn.path.rsplit("/", 1)[-1]
    return json.dumps({"id": job, "status": "processing"}).encode()


def keep_alive(answer):
    """A handler serving every request of a kept-alive connection with ``answer(conn, n)``
    (n counts the requests of the whole server, from 0)."""
    count = [0]

    def handler(conn):
        while conn.head:
            n, count[0] = count[0], count[0] + 1
            if not answer(conn, n):
                return
            conn.read_request()

    return handler


# -- interim replies ------------------------------------------------------------------------

@pytest.mark.parametrize("interim", [b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload"
                                     b"\r\n\r\n",
                                     b"HTTP/1.1 102 Processing\r\n\r\n",
                                     b"HTTP/1.1 103 Early Hints\r\n\r\n" * 3])
def test_interim_replies_are_skipped_and_no_request_reads_another_ones_reply(interim):
    def answer(conn, n):
        body = status_body(conn)
        if n == 0:
            conn.send(interim)
            time.sleep(0.2)  # the final reply comes a moment after the hints
        return conn.send(head(200, {"Content-Type": "application/json",
                                    "Content-Length": str(len(body))}) + body)

    with RawServer(keep_alive(answer)) as server:
        client = rivya(server.url)
        assert [client.get_status(job).id for job in ("job-A", "job-B", "job-C")] == [
            "job-A", "job-B", "job-C"]
        assert len(server.heads) == 1  # one kept-alive connection served them all


def test_endless_interim_replies_are_a_transient_transport_error():
    def answer(conn, n):
        return conn.send(b"HTTP/1.1 103 Early Hints\r\n\r\n" * 40)

    with RawServer(keep_alive(answer)) as server, pytest.raises(gs.TransportError) as info:
        rivya(server.url, max_retries=0).get_status("job")
    assert info.value.transient
    assert "HTTP protocol" in str(info.value)


# -- error replies whose bodies cannot be read ----------------------------------------------

UNREADABLE = {
    "gzip claimed, plain sent": (
        {"Content-Encoding": "gzip", "Content-Length": "19"}, [b"Service Unavailable"]),
    "an unsupported encoding": ({"Content-Encoding": "br", "Content-Length": "4"}, [b"\x1b\x00ab"]),
    "Content-Length over the cap": ({"Content-Length": str(20 * MB)}, []),
    "chunked past the cap": ({"Transfer-Encoding": "chunked"}, [chunk(b"<" * MB)] * 12),
    "a gzip bomb": ({"Content-Encoding": "gzip", "Content-Length": None},
                    [gzip.compress(bytes(30 * MB), 1)]),
    # these three were a TransportError, retried at once, the Retry-After lost
    "cut short at a close": ({"Content-Length": "100"}, [b'{"error": {"message": "slow']),
    "a chunk cut short": ({"Transfer-Encoding": "chunked"}, [b'1a\r\n{"error": ']),
    "a bad chunk size": ({"Transfer-Encoding": "chunked"}, [b"zz\r\n"]),
    "reset": ({"Content-Length": "100"}, [b'{"error": ', "reset"]),
    "stalled past the read timeout": ({"Content-Length": "100"}, [b'{"error": ', "stall"]),
}


@pytest.mark.parametrize("status", [503, 429, 502])
@pytest.mark.parametrize("case", list(UNREADABLE))
def test_an_error_reply_whose_body_cannot_be_read_keeps_its_status_and_retry_after(
        status, case):
    headers, pieces = UNREADABLE[case]
    if headers.get("Content-Length", "") is None:
        headers = {**headers, "Content-Length": str(len(pieces[0]))}

    def answer(conn, n):
        if n < 2:
            conn.send(head(status, {"Retry-After": "1", **headers}, reason="Busy"))
            conn.stream(piece for piece in pieces if isinstance(piece, bytes))
            if "reset" in pieces:
                conn.reset()
            if "stall" in pieces:
                conn.hold(3.0)
            return False  # (a body left unread: this connection is done)
        body = status_body(conn)
        return conn.send(reply(200, body))

    with RawServer(keep_alive(answer)) as server:
        client = rivya(server.url, max_retries=0)
        with pytest.raises(gs.APIError) as info:
            client.get_status("job")
        error = info.value
        assert error.status_code == status and error.retry_after == 1.0
        assert gs.errors.is_transient(error)
        assert type(error) is (gs.RateLimitError if status == 429 else gs.ServerError)
        # and the one retry rule applies: retried, then the job's own reply
        retrying = rivya(server.url, max_retries=3)
        assert retrying.get_status("job").id == "job"
        assert retrying.slept[0] == 1.0  # (a budget's turn may follow: this clock stands still)


def test_a_gzip_status_reply_cut_short_is_a_transient_transport_error_then_retried():
    # a cut gzip stream once ended the body quietly: what had been inflated was parsed
    def answer(conn, n):
        packed = gzip.compress(status_body(conn))
        body = packed[:-8] if n < 2 else packed  # the first two replies lack the gzip trailer
        return conn.send(head(200, {"Content-Encoding": "gzip",
                                    "Content-Length": str(len(body))}) + body)

    with RawServer(keep_alive(answer)) as server:
        with pytest.raises(gs.TransportError, match="compressed body ended") as info:
            rivya(server.url, max_retries=0).get_status("job")
        assert info.value.transient
        retrying = rivya(server.url, max_retries=3)
        assert retrying.get_status("job").id == "job"
        assert len(retrying.slept) == 1


def test_a_2xx_reply_whose_body_cannot_be_read_is_still_a_format_error():
    def answer(conn, n):
        conn.send(head(200, {"Content-Encoding": "gzip", "Content-Length": "19"})
                  + b"Service Unavailable")
        return False

    with RawServer(keep_alive(answer)) as server, pytest.raises(
            gs.ResponseFormatError, match="could not be decoded"):
        rivya(server.url, max_retries=0).get_status("job")


# -- bodies that stall or break off ---------------------------------------------------------

def test_a_body_that_stalls_is_a_timeout_and_one_that_breaks_off_is_said_so():
    def stall(conn, n):
        conn.send(head(200, {"Content-Length": "100"}) + b"{")
        conn.hold(3)
        return False

    def reset(conn, n):
        conn.send(head(200, {"Content-Length": "100"}) + b"{")
        time.sleep(0.2)
        conn.reset()
        return False

    with RawServer(keep_alive(stall)) as server, pytest.raises(
            gs.TransportError, match="timed out") as info:
        rivya(server.url, timeout=(1.0, 0.3), max_retries=0).get_status("job")
    assert info.value.transient and info.value.__cause__ is not None
    with RawServer(keep_alive(reset)) as server, pytest.raises(
            gs.TransportError, match="broke off") as info:
        rivya(server.url, max_retries=0).get_status("job")
    assert info.value.transient and info.value.__cause__ is not None


def test_a_bad_chunk_size_in_the_body_is_still_not_chained():
    # its text quotes the server's bytes, which may echo the key
    def answer(conn, n):
        conn.send(head(200, {"Transfer-Encoding": "chunked"}) + chunk(b"{") + b"zz" + KEY.encode()
                  + b"\r\n")
        return False

    with RawServer(keep_alive(answer)) as server, pytest.raises(gs.TransportError) as info:
        rivya(server.url, max_retries=0).get_status("job")
    assert info.value.__cause__ is None
    assert KEY not in repr(info.value)


# -- numbers that are not JSON --------------------------------------------------------------

BODIES = {
    "sivi": '{"status":200,"body":{"requestId":"r1","status":"processing","progress":%s}}',
    "rivya": '{"id":"r1","status":"processing","progress":%s}',
    "sellerpic": '{"code":0,"msg":"ok","data":{"id":1001,"status":1,"progress":%s}}',
    "clipia": '{"request_id":"r1","status":"IN_PROGRESS","progress":%s}',
}


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_numbers_that_are_not_json_are_format_errors(provider, number):
    body = (BODIES[provider] % number).encode()

    def answer(conn, n):
        return conn.send(reply(200, body))

    with RawServer(keep_alive(answer)) as server:
        client = CLIENTS[provider](api_key=KEY, base_url=server.url, max_retries=0)
        job = "1001" if provider == "sellerpic" else "r1"
        with pytest.raises(gs.ResponseFormatError, match="not JSON|out of range"):
            client.poll(job)


# -- downloads ------------------------------------------------------------------------------

def test_a_download_in_one_byte_chunks_is_saved_whole(tmp_path):
    size = 300_000

    def answer(conn, n):
        conn.send(head(200, {"Content-Type": "application/octet-stream",
                             "Transfer-Encoding": "chunked"}))
        conn.stream([b"1\r\na\r\n" * 10_000] * (size // 10_000) + [b"0\r\n\r\n"])
        return False

    with RawServer(keep_alive(answer)) as server:
        path = gs.download(server.url + "/a.bin", tmp_path, max_bytes=MB // 2)
    assert path.read_bytes() == b"a" * size


def _raw_deflate_ending_inside_zlib():
    """A raw deflate stream (no zlib header: "deflate" as some servers send it) whose last
    input byte is taken while a step of inflating has its output full: what is left of the
    output is inside zlib, with no input left to give it."""
    from genstatus_sync._transport import _INFLATE_STEP as step

    words = [b"alpha ", b"beta ", b"gamma ", b"delta\n"]
    text = b"".join(words[i * 7 % 4] for i in range(step // 4))[:step - 10] + bytes(20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = (compressor.compress(text[:step - 10]) + compressor.flush(zlib.Z_SYNC_FLUSH)
            + compressor.compress(bytes(20)) + compressor.flush())
    inflate = zlib.decompressobj(-15)
    first = inflate.decompress(body, step)
    assert len(first) == step and not inflate.unconsumed_tail and not inflate.eof
    return body, text


def test_a_raw_deflate_body_whose_end_zlib_holds_is_saved_whole(tmp_path):
    # (found in review) inflating a step at a time stopped when no input was left, and the
    # body's last bytes, still inside zlib, made it "cut short" on every try
    body, text = _raw_deflate_ending_inside_zlib()
    answer = head(200, {"Content-Encoding": "deflate", "Content-Length": str(len(body))}) + body
    with RawServer(lambda conn: conn.send(answer)) as server:
        assert gs.download(server.url + "/a.bin", tmp_path).read_bytes() == text


@pytest.mark.parametrize("limit", [sys.maxsize, 2**64])
def test_a_download_without_a_practical_limit_inflates_its_body(tmp_path, limit):
    body = gzip.compress(b"x" * 1000)

    def answer(conn, n):
        conn.send(head(200, {"Content-Encoding": "gzip", "Content-Length": str(len(body))})
                  + body)
        return False

    with RawServer(keep_alive(answer)) as server:
        path = gs.download(server.url + "/a.bin", tmp_path, max_bytes=limit)
    assert path.read_bytes() == b"x" * 1000


@pytest.mark.parametrize("location", ["http://[::1/file.png", "//[::1/x", "http://]/x"])
def test_a_redirect_to_an_unparsable_url_is_a_transport_error(tmp_path, location):
    def answer(conn, n):
        conn.send(head(302, {"Location": location, "Content-Length": "0"}, reason="Found"))
        return False

    with RawServer(keep_alive(answer)) as server, pytest.raises(
            gs.TransportError, match="redirect") as info:
        gs.download(server.url + "/result.png", tmp_path)
    assert not info.value.transient
    assert list(tmp_path.iterdir()) == []


# -- a resolver that gets no answer ---------------------------------------------------------

def _times_out_within(client, bound, wait):
    """``client.get_status`` ends in a transient timeout within ``bound`` seconds, and
    ``client.wait(timeout=wait)`` within its timeout (each + 0.5 s, and what the machine
    stalled meanwhile)."""
    stalls.start()
    started = time.monotonic()
    with pytest.raises(gs.TransportError, match="timed out") as info:
        client.get_status("job")
    took = time.monotonic() - started
    assert info.value.transient
    excused = stalls.stalled(started, started + took)  # the machine's, not ours
    assert took < bound + 0.5 + excused, f"{took:.2f} s for a request bounded at {bound} s"
    started = time.monotonic()
    with pytest.raises(gs.WaitTimeout):
        client.wait("job", timeout=wait)
    ended = time.monotonic()
    assert ended - started < wait + 0.5 + stalls.stalled(started, ended)


def test_a_resolver_that_gets_no_answer_cannot_carry_a_request_past_its_bound(monkeypatch):
    # a nameserver that does not answer (glibc: 5 s a try, two tries): stood in for by a
    # getaddrinfo that answers only once the test lets it, long after the bound
    import socket
    import threading

    answer = threading.Event()
    asked = []
    real = socket.getaddrinfo

    def resolver(host, *args, **kwargs):
        if host == "slow-dns.test":
            asked.append(host)
            answer.wait(30)
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)

    def ok(conn, n):
        return conn.send(reply(200, status_body(conn)))

    with RawServer(keep_alive(ok)) as server:
        client = gs.RivyaClient(api_key=KEY, base_url=f"http://slow-dns.test:{server.port}",
                                allow_insecure=True, timeout=(0.5, 0.5), max_retries=0)
        _times_out_within(client, 1.0, wait=1.5)
        assert len(asked) == 1  # the waits shared the one lookup still running
        answer.set()  # the name resolves at last: the next request gets through
        assert gs.RivyaClient(api_key=KEY, base_url=f"http://slow-dns.test:{server.port}",
                              allow_insecure=True).get_status("job-2").id == "job-2"


# -- a download bounded as a whole ----------------------------------------------------------

_FILE_HEADS = {  # then the body a byte every 50 ms, 10 s in all
    "kept-alive": head(200, {"Content-Type": "application/octet-stream",
                             "Content-Length": "200"}),
    "connection-close": head(200, {"Content-Type": "application/octet-stream",
                                   "Content-Length": "200", "Connection": "close"}),
    "http-1.0-read-to-close": head(200, {"Content-Type": "application/octet-stream"},
                                   version="HTTP/1.0"),
}


def _trickle(case):
    def handler(conn, n):
        conn.send(_FILE_HEADS[case])
        conn.trickle(b"x" * 200, 0.05)
        return False
    return handler


@pytest.mark.parametrize("case", sorted(_FILE_HEADS))
def test_a_download_with_a_total_is_cut_at_it_and_leaves_no_file(tmp_path, case):
    with RawServer(keep_alive(_trickle(case))) as server:
        stalls.start()
        started = time.monotonic()
        with pytest.raises(gs.TransportError, match="timed out") as info:
            gs.download(server.url + "/slow.bin", tmp_path, total=0.5)
        took = time.monotonic() - started
    assert info.value.transient
    excused = stalls.stalled(started, started + took)  # the machine's, not ours
    assert took < 0.5 + 0.5 + excused, f"{took:.2f} s for a download bounded at 0.5 s"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("total", [0, -1, float("nan"), "5", True])
def test_a_download_total_that_is_no_limit_is_a_configuration_error(tmp_path, total):
    with pytest.raises(gs.ConfigurationError, match="total"):
        gs.download("http://127.0.0.1:9/x.bin", tmp_path, total=total)


def test_the_commands_download_timeout_bounds_each_file(fake, tmp_path):
    from .test_cli import run

    with RawServer(keep_alive(_trickle("connection-close"))) as media:
        job = fake.add_job("clipia", ["succeeded"], urls=[media.url + "/slow.bin"])
        started = time.monotonic()
        done = run(["wait", "clipia", job, "--json", "--quiet", "--download", str(tmp_path),
                    "--download-timeout", "0.5"], fake, "clipia")
        took = time.monotonic() - started
    assert done.returncode == 4, done.stderr
    assert json.loads(done.stdout)["files"] == [None]
    assert "timed out" in done.stderr and took < 8  # (10 s to trickle it whole)
    assert list(tmp_path.iterdir()) == []


def test_a_link_local_address_keeps_its_scope_to_be_reached():
    from genstatus_sync._transport import _numeric

    assert _numeric(("fe80::1", 443, 0, 2)) == "fe80::1%2"
    assert _numeric(("2001:db8::1", 443, 0, 0)) == "2001:db8::1"
    assert _numeric(("127.0.0.1", 443)) == "127.0.0.1"


# -- text that is no valid Unicode ----------------------------------------------------------

@pytest.mark.parametrize("provider", ["sivi", "rivya", "sellerpic", "clipia"])
def test_a_result_url_with_a_lone_surrogate_is_a_response_format_error(fake, provider):
    # (it was returned in result_urls, where the caller's .encode() or database insert
    # raised a UnicodeEncodeError far from the reply)
    job = fake.add_job(provider, ["succeeded"], urls=["http://127.0.0.1:9/a\udfff.png"])
    client = fake.client(provider, sleep=lambda s: None)
    with pytest.raises(gs.ResponseFormatError, match="lone surrogate") as info:
        client.wait(job, timeout=60)
    assert not gs.errors.is_transient(info.value)
    good = fake.add_job(provider, ["succeeded"], urls=["http://127.0.0.1:9/a\U0001F600.png"])
    assert client.wait(good, timeout=60).result_urls == ("http://127.0.0.1:9/a\U0001F600.png",)


@pytest.mark.parametrize("body", [
    rb'{"request_id": "r", "status": "COMPLETED", "output": {"url": "\ud800"}}',
    b'{"request_id": "r", "status": "COMPLETED", "output": {"url": "\xed\xa0\x80"}}'])
def test_a_webhook_push_with_a_lone_surrogate_is_a_response_format_error(body):
    with pytest.raises(gs.ResponseFormatError, match="lone surrogate"):
        gs.webhooks.parse("clipia", body)


# -- an error inside a 200 ----------------------------------------------------------------

def test_a_sivi_rate_limit_inside_a_200_envelope_holds_the_client_back_as_an_http_429():
    # Sivi's envelope status is read as an HTTP status: a 429 in it once raised a
    # RateLimitError but counted as an accepted reply, its Retry-After unread, nothing held
    def answer(conn, n):
        if n == 0:
            body = {"status": 429, "body": {"message": "Slow down"}}
            return conn.send(reply(200, body, {"Retry-After": "60"}))
        return conn.send(reply(200, SIVI["Pending Request"]))

    with RawServer(keep_alive(answer)) as server:
        now = [0.0]
        client = gs.SiviClient(api_key=KEY, base_url=server.url, max_retries=0,
                               timeout=(1.0, 1.0), clock=lambda: now[0])
        with pytest.raises(gs.RateLimitError) as info:
            client.poll("r")
        assert (info.value.status_code, info.value.retry_after) == (429, 60.0)
        assert info.value.message == "Slow down" and gs.errors.is_transient(info.value)
        now[0] = 10.0
        with pytest.raises(gs.RateLimitError, match="not sent") as info:
            client.poll("r")  # held back as by an HTTP 429: 50 s of the 60 left
        assert info.value.retry_after == pytest.approx(50.0) and len(server.heads) == 1
        now[0] = 61.0
        assert client.poll("r").state is gs.State.QUEUED and len(server.heads) == 2


def _black_hole(host, port):
    """A listener on ``host`` that never accepts, its queue filled: SYNs go unanswered."""
    import socket

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(0)
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect((host, port))
        fillers.append(filler)
    return [listener, *fillers]


def test_a_host_whose_first_addresses_never_answer_cannot_carry_a_request_past_its_bound(
        monkeypatch):
    # a name with several addresses (a broken IPv6 route and IPv4, dead A records): each got
    # the whole connect timeout, and the watchdog, firing before there was a socket, cut
    # nothing: 1.5 s bounds took 17 s, and as long as the server trickled
    import socket

    real = socket.getaddrinfo

    def resolver(host, port, *args, **kwargs):
        if host == "two-addresses.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", port)),
                    (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.3", port)),
                    (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)

    def trickle(conn):
        conn.trickle(reply(200, status_body(conn)), 0.3)  # each read well within its timeout

    with RawServer(trickle) as server:
        holes = _black_hole("127.0.0.2", server.port) + _black_hole("127.0.0.3", server.port)
        try:
            client = gs.RivyaClient(api_key=KEY, allow_insecure=True, max_retries=0,
                                    base_url=f"http://two-addresses.test:{server.port}",
                                    timeout=(1.0, 0.5))
            _times_out_within(client, 1.5, wait=2.0)
        finally:
            for sock in holes:
                sock.close()


def test_a_reply_full_of_backslashes_cannot_carry_a_wait_past_its_deadline():
    # the key's redaction pattern scanned a run of backslashes again from each of them:
    # 250,000 of them took 10 s of CPU, the GIL held, the watchdog frozen with the rest
    def answer(conn, n):
        body = b'{"id": "job", "status": "processing", "x": "' + b"\\\\" * 125_000 + b'"}'
        return conn.send(reply(200, body))

    with RawServer(keep_alive(answer)) as server:
        client = rivya(server.url, timeout=(1.0, 1.0))
        client._sleep = time.sleep
        stalls.start()
        started = time.monotonic()
        assert client.get_status("job").status.value == "processing"
        with pytest.raises(gs.WaitTimeout):
            client.wait("job", timeout=2.0)
        ended = time.monotonic()
        assert ended - started < 2.0 + 0.5 + stalls.stalled(started, ended)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32-be"])
def test_a_utf16_or_utf32_reply_that_echoes_the_key_shows_it_nowhere(encoding):
    # JSON's decoding reads UTF-16/32 by the first bytes; the check for the key looked for
    # its ASCII bytes, which such a body does not hold: the key was in error, result_urls,
    # GenerationFailed's message and an error's body
    failed = {"id": "job", "status": "failed",
              "error": {"code": "bad_key", "message": f"key {KEY} revoked"},
              "result": {"urls": [f"https://cdn.test/{KEY}.png"]}}
    refused = {"error": {"code": "unauthorized", "message": f"bad key {KEY}"}}

    def answer(conn, n):
        if n == 0:
            return conn.send(reply(200, json.dumps(failed).encode(encoding)))
        return conn.send(reply(401, json.dumps(refused).encode(encoding)))

    with RawServer(keep_alive(answer)) as server:
        client = rivya(server.url, max_retries=0)
        status = client.poll("job")
        assert status.state is gs.State.FAILED and "revoked" in status.error
        shown = repr(status) + str(status.to_dict())
        with pytest.raises(gs.AuthenticationError) as info:
            client.poll("job")
        error = info.value
        shown += str(error) + repr(error) + str(error.body) + str(vars(error))
    assert KEY not in shown and KEY not in shown.replace("\x00", "")
    assert "[redacted]" in status.error and "bad key [redacted]" in error.body


@pytest.mark.parametrize("how", ["reset", "close"])
def test_a_kept_alive_connection_the_server_drops_is_told_as_such_and_retried(how):
    # it read "the reply broke the HTTP protocol", as if the server had sent garbage
    def answer(conn, n):
        if n == 1:
            if how == "reset":
                conn.reset()
            return False
        return conn.send(reply(200, status_body(conn), {"Connection": "keep-alive"}))

    with RawServer(keep_alive(answer)) as server:
        client = rivya(server.url, max_retries=0)
        assert client.get_status("job").id == "job"
        with pytest.raises(gs.TransportError, match="closed or reset the connection") as info:
            client.get_status("job")
        assert info.value.transient and "HTTP protocol" not in str(info.value)
        assert client.get_status("job").id == "job"  # a new connection


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 202 Accepted\r\nContent-Length: 20000000\r\nConnection: close\r\n\r\n",
    b"HTTP/1.1 202 Accepted\r\nContent-Encoding: br\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 202 Accepted\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello"])
def test_a_clipia_202_is_not_ready_whatever_its_body(answer):
    # its body was read and checked though the client never reads it: a 202 with a large or
    # undecodable body was a ResponseFormatError, and ended a finished job's wait
    def serve(conn):
        if conn.path.endswith("/status"):
            conn.send(reply(200, {"request_id": "job", "status": "COMPLETED"}))
        else:
            conn.send(answer)

    with RawServer(serve) as server:
        client = gs.ClipiaClient(api_key=KEY, base_url=server.url, timeout=(1.0, 1.0))
        with pytest.raises(gs.ResultNotReady):
            client.get_result("job")
        now = [0.0]

        def sleep(seconds):
            now[0] += seconds

        waiting = gs.ClipiaClient(api_key=KEY, base_url=server.url, timeout=(1.0, 1.0),
                                  clock=lambda: now[0], sleep=sleep)
        with pytest.raises(gs.WaitTimeout) as info:
            waiting.wait("job", timeout=20)
        assert info.value.polls > 2 and info.value.last.state is gs.State.RUNNING


@pytest.mark.parametrize(("body", "kept"), [
    ({"error": {"code": "c" * MB, "message": "m"}}, "code"),
    ({"code": 40001, "msg": "m", "success": False, "traceId": "t" * MB}, "trace_id"),
    ({"status": int("9" * 4000), "body": {"message": "m"}}, "status_code")])
def test_an_error_with_a_huge_code_or_trace_id_keeps_it_whole_but_shows_it_short(body, kept):
    # the message was capped, the code and the trace id appended whole: a line of 1 MB
    provider = "rivya" if "error" in body else "sellerpic" if "traceId" in body else "sivi"

    def answer(conn, n):
        status = 500 if provider == "rivya" else 200
        return conn.send(reply(status, json.dumps(body).encode()))

    with RawServer(keep_alive(answer)) as server:
        client = CLIENTS[provider](api_key=KEY, base_url=server.url, max_retries=0)
        with pytest.raises(gs.APIError) as info:
            client.get_status("job" if provider != "sellerpic" else 5)
    error = info.value
    assert len(str(error)) < 400 and len(repr(error)) < 400
    value = getattr(error, kept)
    assert value.bit_length() > 13_000 if isinstance(value, int) else len(value) == MB


# -- found in a review of hostile servers ---------------------------------------------------

CUT_HEADS = {
    "status-line-only": b"HTTP/1.1 200 OK\r\n",
    "inside-the-headers": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n",
    "inside-an-interim-reply": b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n",
}


@pytest.mark.parametrize("cut", list(CUT_HEADS))
def test_a_reply_whose_head_is_cut_by_a_close_is_transient_and_retried(cut):
    # http.client read the connection's end (a FIN) as the end of the head: a whole 200 with
    # an empty body, "not JSON", final, so neither retried nor waited past
    def answer(conn, n):
        conn.send(CUT_HEADS[cut] if n == 0 else reply(200, status_body(conn)))
        return False

    with RawServer(keep_alive(answer)) as server:
        with pytest.raises(gs.TransportError, match="closed or reset the connection") as info:
            rivya(server.url, max_retries=0).get_status("job")
        assert info.value.transient
        assert rivya(server.url, max_retries=1).get_status("job").id == "job"


@pytest.mark.parametrize("cut", list(CUT_HEADS))
def test_a_download_whose_head_is_cut_by_a_close_saves_nothing(tmp_path, cut):
    # it saved an empty file under the final name and said nothing
    with RawServer(lambda conn: conn.send(CUT_HEADS[cut])) as server, pytest.raises(
            gs.TransportError, match="closed or reset the connection"):
        gs.download(server.url + "/result.png", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_reason_phrase_in_utf8_reads_as_sent(tmp_path):
    # http.client reads the status line as latin-1: "Ошибка" was "Ð\x9eÑ\x88Ð¸Ð±...", C1
    # control characters included; one not in UTF-8 stays as latin-1 reads it
    phrases = ["Ошибка сервера".encode(), b"Fehler \xe4"]
    for phrase, shown in zip(phrases, ["Ошибка сервера", "Fehler ä"]):
        answer = (b"HTTP/1.1 500 " + phrase + b"\r\nContent-Length: 0\r\nConnection: close"
                  b"\r\n\r\n")
        with RawServer(lambda conn, answer=answer: conn.send(answer)) as server:
            with pytest.raises(gs.ServerError) as polled:
                rivya(server.url, max_retries=0).get_status("job")
            with pytest.raises(gs.ServerError) as downloaded:
                gs.download(server.url + "/result.png", tmp_path)
        assert shown in str(polled.value) and shown in str(downloaded.value)


def test_a_refused_connection_says_so():
    # it said only "failed: ConnectionError" (the system's reason was in __cause__)
    import socket

    with socket.socket() as unused:  # a port no one listens on
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}"
        with pytest.raises(gs.TransportError, match=r"ConnectionError \(connection refused\)"):
            rivya(url, max_retries=0).get_status("job")
