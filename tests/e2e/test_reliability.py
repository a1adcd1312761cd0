"""Issue 12, over real sockets and processes: every reply within the size cap, every failure
typed, every request bounded (also after a fork and through an https proxy), no reply mixed
between forked processes, deadlines kept, ids and base URLs that cannot move a request.

Run with ``-s`` to see the measured peaks and overruns."""

import subprocess
import sys
import time

import pytest

import genstatus_sync as gs

from ..conftest import KEY
from .rawserver import (
    MB,
    RawServer,
    chunk,
    deflate_bomb,
    gzip_members,
    head,
    reply,
    zeros,
)

PROVIDERS = ["sivi", "rivya", "sellerpic", "clipia"]
CLIENTS = {"sivi": gs.SiviClient, "rivya": gs.RivyaClient, "sellerpic": gs.SellerPicClient,
           "clipia": gs.ClipiaClient}
IDS = {"sivi": "job-1", "rivya": "job-1", "sellerpic": "1001",
       "clipia": "3f1c2c1e-0000-4000-8000-000000000001"}


def raw_client(provider, url, **kwargs):
    """A client of a raw server: sub-second timeouts, retry sleeps recorded, not slept."""
    kwargs.setdefault("timeout", (0.5, 0.5))
    kwargs.setdefault("max_retries", 1)
    client = CLIENTS[provider](api_key=KEY, base_url=url, **kwargs)
    client._sleep = [].append
    return client


# == 1. the size cap holds for every reply ==================================================

CAP = 10 * MB
ALLOWED = CAP + 50 * MB  # the goal: the cap and 50 MB, over a client that never polled
SENT = 200 * MB

# The peak is the child's VmHWM: its ru_maxrss would start at the forked pytest process's peak
# (Linux keeps ru_maxrss across execve), while VmHWM belongs to the new address space.
CHILD = r"""
import re, resource, sys
import genstatus_sync as gs
client = gs.RivyaClient(api_key="sk-child", base_url=sys.argv[1], timeout=(5.0, 10.0),
                        max_retries=0)
outcome = "-"
if sys.argv[2] == "poll":
    try:
        client.poll("job-1")
        outcome = "ok"
    except gs.GenStatusError as exc:
        outcome = type(exc).__name__
    except BaseException as exc:
        outcome = "foreign:" + type(exc).__name__
try:
    with open("/proc/self/status") as status:
        peak = int(re.search(r"VmHWM:\s*(\d+)", status.read()).group(1)) * 1024
except (OSError, AttributeError):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(peak, outcome)
"""


def _child_peak(url, what):
    """(peak RSS in bytes, outcome) of a fresh process that makes a client and maybe polls."""
    done = subprocess.run([sys.executable, "-c", CHILD, url, what], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    peak, outcome = done.stdout.split()
    return int(peak), outcome


@pytest.fixture(scope="module")
def baseline_peak():
    return _child_peak("http://127.0.0.1:9", "none")[0]


def _bombs():
    gib = 1024 * MB
    gzip_bomb = deflate_bomb(gib, 31)  # about 1 MB that inflates to 1 GiB
    return {
        "gzip": gzip_bomb,
        "deflate-zlib": deflate_bomb(gib, 15),
        "deflate-raw": deflate_bomb(gib, -15),
        "gzip-multi-member": gzip_members(1024, MB),  # 1024 members of 1 MB
    }


BOMBS = _bombs()


def _streaming(first, pieces=None, tail=b""):
    def handler(conn):
        if conn.send(first) and pieces is not None and conn.stream(pieces()):
            conn.send(tail)
    return handler


def _bomb_reply(status, encoding, name):
    body = BOMBS[name]
    fields = {"Content-Type": "application/json", "Content-Encoding": encoding,
              "Content-Length": str(len(body)), "Location": "/elsewhere"}
    return _streaming(head(status, fields) + body)


MEMORY_CASES = {
    "content-length": _streaming(head(200, {"Content-Length": str(SENT)}), lambda: zeros(SENT)),
    "content-length-lies-small": _streaming(head(200, {"Content-Length": str(CAP - 10)}),
                                            lambda: zeros(SENT)),
    "chunked": _streaming(head(200, {"Transfer-Encoding": "chunked"}),
                          lambda: (chunk(p) for p in zeros(SENT)), b"0\r\n\r\n"),
    "chunk-size-minus-1": _streaming(head(200, {"Transfer-Encoding": "chunked"}) + b"-1\r\n",
                                     lambda: zeros(SENT)),
    "chunk-size-huge": _streaming(head(200, {"Transfer-Encoding": "chunked"})
                                  + b"fffffffffffffff\r\n", lambda: zeros(SENT)),
    "chunk-size-line-endless": _streaming(head(200, {"Transfer-Encoding": "chunked"}),
                                          lambda: zeros(SENT)),
    "trailers-endless": _streaming(head(200, {"Transfer-Encoding": "chunked"}) + b"0\r\n",
                                   lambda: (b"X-T: 1\r\n" * (MB // 8) for _ in range(200))),
    "read-to-close": _streaming(head(200, {"Content-Type": "application/json"}),
                                lambda: zeros(SENT)),
    "read-to-close-http-1.0": _streaming(head(200, {}, version="HTTP/1.0"), lambda: zeros(SENT)),
    "headers-endless": _streaming(b"HTTP/1.1 200 OK\r\n",
                                  lambda: (b"X-A: b\r\n" * (MB // 8) for _ in range(200))),
    "gzip-200": _bomb_reply(200, "gzip", "gzip"),
    "gzip-302": _bomb_reply(302, "gzip", "gzip"),
    "gzip-500": _bomb_reply(500, "gzip", "gzip"),
    "gzip-404": _bomb_reply(404, "gzip", "gzip"),
    "deflate-zlib-200": _bomb_reply(200, "deflate", "deflate-zlib"),
    "deflate-raw-302": _bomb_reply(302, "deflate", "deflate-raw"),
    "gzip-multi-member-200": _bomb_reply(200, "gzip", "gzip-multi-member"),
    "gzip-chunked-301": _streaming(
        head(301, {"Content-Encoding": "gzip", "Transfer-Encoding": "chunked",
                   "Location": "/x"}),
        lambda: (chunk(BOMBS["gzip"][i:i + 65536]) for i in range(0, len(BOMBS["gzip"]), 65536)),
        b"0\r\n\r\n"),
    "gzip-claimed-garbage": _streaming(head(200, {"Content-Encoding": "gzip"}),
                                       lambda: zeros(SENT)),
    # within the cap, but JSON whose decoding takes many times its size
    "json-objects": _streaming(reply(200, b"[" + b"{}," * ((CAP - 16) // 3) + b"{}]")),
    "json-arrays-in-500": _streaming(reply(500, b"[" + b"[]," * ((CAP - 16) // 3) + b"[]]")),
    "json-keys": _streaming(reply(200, b"{" + b"".join(
        b'"%x":0,' % i for i in range((CAP - 16) // 10)) + b'"":0}')),
    "json-numbers": _streaming(reply(200, b"[" + b"1.5," * ((CAP - 16) // 4) + b"0]")),
    "json-astral-string": _streaming(reply(200, b'{"status": "\\ud83d\\ude00'
                                           + b"a" * (CAP - 40) + b'"}')),
}
PEAKS = {}


@pytest.mark.parametrize("case", list(MEMORY_CASES))
def test_one_poll_stays_within_the_size_cap_in_memory(case, baseline_peak):
    with RawServer(MEMORY_CASES[case]) as server:
        started = time.monotonic()
        peak, outcome = _child_peak(server.url, "poll")
        took = time.monotonic() - started
    PEAKS[case] = (peak - baseline_peak, outcome, took, sum(server.sent))
    assert not outcome.startswith("foreign"), outcome
    assert peak - baseline_peak <= ALLOWED, f"{(peak - baseline_peak) / MB:.0f} MB over baseline"


def test_report_memory_peaks(baseline_peak):
    """Prints each case's peak over the baseline (run with -s)."""
    print(f"\nbaseline child: {baseline_peak / MB:.0f} MB; cap {CAP / MB:.0f} MB, "
          f"allowed {ALLOWED / MB:.0f} MB over baseline")
    for case, (extra, outcome, took, sent) in PEAKS.items():
        print(f"  {case:28} +{extra / MB:6.1f} MB  {took:5.2f} s  server wrote "
              f"{sent / MB:7.1f} MB  -> {outcome}")
