"""Issue 12, class 6: a canary API key, echoed by a hostile server everywhere it can put it, is
found in no message, repr, attribute, traceback (chains included), status or log record.

One raw-socket server per provider plays every behaviour in turn; every client call is made
against each; everything the calls return or raise is walked (attributes, chained exceptions,
``JobStatus`` fields including ``raw``, ``WaitTimeout.last``/``last_error``,
``GenerationFailed.status``), and so is every log record of any logger at any level and every
warning. A leak is any 10 characters of the key, in any case, after undoing JSON and percent
escapes.
"""

import contextlib
import gzip
import json
import logging
import re
import time
import traceback
import warnings
from urllib.parse import quote, unquote

import attrs
import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

import genstatus_sync as gs
from genstatus_sync import cli
from genstatus_sync.testing import _render

from ..conftest import KEY
from .rawserver import RawServer, chunk, head

PROVIDERS = ["sivi", "rivya", "sellerpic", "clipia"]
CLIENTS = {"sivi": gs.SiviClient, "rivya": gs.RivyaClient, "sellerpic": gs.SellerPicClient,
           "clipia": gs.ClipiaClient}
IDS = {"sivi": "job-1", "rivya": "job-1", "sellerpic": "1001", "clipia": "job-1"}
# the conftest canary, and one with the characters JSON and URLs escape
KEYS = [KEY, "sk-CANARY/8d4e+f1a=9b27c\"q\\z"]
MARK = "KEYMARK"
WINDOW = 10


# -- what the server sends ------------------------------------------------------------------

def forms(key):
    """The key as a server may write it inside a JSON string: plain (JSON-escaped), with "/"
    escaped, every character as \\uXXXX (either case of hex), alternately escaped, and
    percent-encoded."""
    plain = json.dumps(key)[1:-1]
    every = "".join(f"\\u{ord(c):04x}" for c in key)
    found = {
        "plain": plain,
        "slash-escaped": plain.replace("/", "\\/"),
        "u-escaped": every,
        "u-escaped-upper": every.upper().replace("\\U", "\\u"),
        "mixed": "".join(f"\\u{ord(c):04x}" if i % 2 else json.dumps(c)[1:-1]
                         for i, c in enumerate(key)),
        "percent": quote(key, safe=""),
    }
    distinct = {}
    for name, form in found.items():  # a key without "/" or reserved characters has fewer
        distinct.setdefault(form, name)
    return {name: form for form, name in distinct.items()}


def view(provider, state, marked):
    """A provider body for a job in ``state``, with the marker as its id, urls and error."""
    job = _render.JobView(marked, state, 50.0 if state == "running" else None, None,
                          [f"https://media.example.test/{marked}.png"], marked)
    if provider == "sivi":
        return _render.sivi(job)
    if provider == "rivya":
        return _render.rivya(job)
    if provider == "sellerpic":
        return _render.sellerpic(job, marked)
    return _render.clipia_status(job)


def every_string(value, marked):
    """``value`` with every string, and one extra key in every object, carrying the marker."""
    if isinstance(value, dict):
        out = {k: every_string(v, marked) for k, v in value.items()}
        out[f"x-{marked}"] = marked
        return out
    if isinstance(value, list):
        return [every_string(v, marked) for v in value]
    return marked if isinstance(value, str) else value


def json_bodies(provider):
    """(name, status, body with MARK placeholders) of JSON replies that echo the key."""
    failed, done = view(provider, "failed", MARK), view(provider, "succeeded", MARK)
    bodies = [("failed", 200, failed), ("succeeded", 200, done),
              ("running", 200, view(provider, "running", MARK)),
              ("every-string", 200, every_string(failed, MARK)),
              ("every-string-succeeded", 200, every_string(done, MARK))]
    if provider == "rivya":
        bodies.append(("datetime", 200, {**failed, "created_at": MARK, "updated_at": MARK}))
        bodies.append(("number", 200, {**failed, "reserved_credits": MARK}))
    if provider == "sivi":
        bodies.append(("number", 200, {**failed, "body": {**failed["body"], "progress": MARK}}))
    if provider == "clipia":
        bodies.append(("number", 200, {**failed, "status": "IN_PROGRESS", "progress": MARK}))
    for status in (400, 401, 403, 404, 409, 429, 500, 503):
        bodies.append((f"error-{status}", status, _render.error_body(provider, status, MARK,
                                                                      MARK)))
    bodies.append(("error-in-200", 200, _render.error_body(provider, 401, MARK, MARK)))
    return bodies


def reply(status, body, headers=(), reason="Whatever"):
    fields = {"Content-Type": "application/json", "Content-Length": str(len(body)),
              "Connection": "close", **dict(headers)}
    return head(status, fields, reason) + body


def behaviours(provider, key):
    """name -> the bytes the server answers every request with."""
    out = {}
    raw = key.encode("latin-1")
    for form_name, form in forms(key).items():
        for name, status, body in json_bodies(provider):
            text = json.dumps(body).replace(MARK, form)
            out[f"json-{name}-{form_name}"] = reply(status, text.encode())
        for status in (200, 500):
            # the key across the 300-character snippet cut: split in its middle, at its last
            # character, and at a cut escape
            for offset in sorted({300 - len(form) // 2, 299, 297, 300 - len(form) + 3}):
                text = ("x" * offset + form + "y" * 40).encode()
                out[f"text-{status}-at-{offset}-{form_name}"] = reply(status, text)
            out[f"text-{status}-{form_name}"] = reply(status, f"bad key {form}".encode())
        out[f"gzip-{form_name}"] = reply(200, gzip.compress(
            json.dumps(view(provider, "failed", MARK)).replace(MARK, form).encode()),
            {"Content-Encoding": "gzip"})
    ok = json.dumps(view(provider, "running", "x")).encode()
    headers = ["X-Echo", "WWW-Authenticate", "Set-Cookie", "Content-Type", "Link"]
    for name in headers:
        out[f"header-{name}"] = reply(500, b"{}", {name: key})
    for status in (429, 503):
        out[f"retry-after-{status}"] = reply(status, b"{}", {"Retry-After": key})
    for status in (301, 302, 307, 308):
        out[f"location-{status}"] = reply(status, b"", {"Location": f"https://x.test/{key}"})
    out.update({
        "reason-500": reply(500, b"{}", reason=key),
        "reason-200-not-json": reply(200, b"", reason=key),
        "reason-404-not-json": reply(404, b"<html>", reason=key),
        "status-line": b"HTTP/1.1 " + raw + b"\r\n\r\n",
        "status-line-code": b"HTTP/1.1 2" + raw + b" OK\r\n\r\n",
        "status-line-version": raw + b" 200 OK\r\n\r\n",
        "http-0.9": raw,
        "header-name": head(200, {key: "1", "Content-Length": str(len(ok))}) + ok,
        "header-no-colon": b"HTTP/1.1 200 OK\r\n" + raw + b"\r\nContent-Length: "
                           + str(len(ok)).encode() + b"\r\n\r\n" + ok,
        "header-obs-fold": b"HTTP/1.1 200 OK\r\nX-A: b\r\n " + raw + b"\r\nContent-Length: "
                           + str(len(ok)).encode() + b"\r\n\r\n" + ok,
        "content-length": head(200, {"Content-Length": key}) + ok,
        "content-encoding": head(200, {"Content-Encoding": key, "Content-Length": str(len(ok))})
                            + ok,
        "transfer-encoding": head(200, {"Transfer-Encoding": key}) + ok,
        "chunk-size": head(200, {"Transfer-Encoding": "chunked"}) + raw + b"\r\n" + ok,
        "chunk-extension": head(200, {"Transfer-Encoding": "chunked"}) + b"2;" + raw
                           + b"\r\n{}\r\n0\r\n\r\n",
        "chunk-then-key": head(200, {"Transfer-Encoding": "chunked"}) + chunk(ok) + raw,
        "trailer": head(200, {"Transfer-Encoding": "chunked"}) + chunk(ok) + b"0\r\n" + raw
                   + b": 1\r\nX: " + raw + b"\r\n\r\n",
        "101": b"HTTP/1.1 101 " + raw + b"\r\nUpgrade: " + raw + b"\r\n\r\n" + raw,
        "100-then-key": b"HTTP/1.1 100 Continue\r\n\r\n" + raw + b"\r\n\r\n",
        "truncated-body": head(200, {"Content-Length": "500"}) + raw,
    })
    return out


# the command line too, where a reply ends it at once (a transient one would be retried with
# real sleeps)
CLI_BEHAVIOURS = {"reason-404-not-json", "reason-200-not-json", "header-no-colon",
                  "content-encoding", "json-error-401-mixed",
                  "json-failed-u-escaped", "json-every-string-percent"}


class Echo:
    """One raw server answering every request with ``self.now`` (one behaviour at a time)."""

    def __init__(self):
        self.now = b""
        self.server = RawServer(lambda conn: conn.send(self.now))

    def close(self):
        self.server.stop()


# -- what the calls show ----------------------------------------------------------------------

def calls(provider, client):
    job_id = IDS[provider]
    out = [("poll", lambda: client.poll(job_id)),
           ("get_status", lambda: client.get_status(job_id)),
           ("wait", lambda: client.wait(job_id, timeout=0)),
           ("wait-no-raise", lambda: client.wait(job_id, timeout=0, raise_on_failure=False)),
           ("wait_all-inline", lambda: gs.wait_all([(client, job_id)], timeout=0,
                                                   max_in_flight=1)),
           ("wait_all-threads", lambda: gs.wait_all([(client, job_id)], timeout=0))]
    if provider == "clipia":
        out.append(("get_result", lambda: client.get_result(job_id)))
    return out


def walk(value, found, seen, depth=0):
    """Every text reachable from ``value``: reprs, strings, tracebacks, attributes."""
    if depth > 12 or id(value) in seen:
        return
    seen.add(id(value))
    with contextlib.suppress(Exception):
        found.append(repr(value))
    if isinstance(value, (str, bytes, bytearray)):
        found.append(value if isinstance(value, str) else bytes(value).decode("latin-1"))
        return
    if isinstance(value, (int, float, bool, type(None))):
        return
    if isinstance(value, BaseException):
        found.append(str(value))
        found.extend(traceback.format_exception(type(value), value, value.__traceback__))
        walk(value.args, found, seen, depth + 1)
        walk(value.__cause__, found, seen, depth + 1)
        walk(value.__context__, found, seen, depth + 1)
    if isinstance(value, dict):
        for name, item in list(value.items()):
            walk(name, found, seen, depth + 1)
            walk(item, found, seen, depth + 1)
        return
    if isinstance(value, (list, tuple, set, frozenset)):
        for item in list(value):
            walk(item, found, seen, depth + 1)
        return
    if attrs.has(type(value)):
        for field in attrs.fields(type(value)):
            walk(getattr(value, field.name, None), found, seen, depth + 1)
    if isinstance(value, gs.JobStatus):
        walk(value.to_dict(), found, seen, depth + 1)
    with contextlib.suppress(TypeError):
        walk(vars(value), found, seen, depth + 1)  # foreign objects too: requests', urllib3's


_ESCAPE = re.compile(r"\\+u([0-9a-fA-F]{4})|\\+(.)")


def unescaped(text):
    """``text`` with JSON escapes (any number of backslashes, as reprs double them) and
    percent escapes undone."""
    text = _ESCAPE.sub(lambda m: chr(int(m[1], 16)) if m[1] else m[2], text)
    return unquote(text)


def leaks(text, key):
    """Whether ``text`` shows WINDOW characters of ``key`` (any case, escapes undone)."""
    if not text:
        return False
    haystack = unescaped(text).lower() + "\0" + text.lower()
    lowered = key.lower()
    return any(lowered[i:i + WINDOW] in haystack for i in range(len(key) - WINDOW + 1))


class Records(logging.Handler):
    """Every record of every logger, formatted with its exception and stack."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.texts = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record):
        self.texts.append(self.format(record))
        self.texts.append(repr(record.args))
        self.texts.append(repr(record.msg))
        self.texts.append(repr(vars(record)))


@pytest.fixture()
def records(caplog):
    caplog.set_level(logging.DEBUG)
    handler = Records()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler, caplog
    finally:
        root.removeHandler(handler)


def _client(provider, url, key, **kwargs):
    client = CLIENTS[provider](api_key=key, base_url=url, timeout=(0.5, 0.5), max_retries=1,
                               **kwargs)
    client._sleep = [].append
    return client


def run_canary(provider, key, setenv, timings=None):
    """Play every behaviour against every call (and the CLI, its key and base URL set with
    ``setenv``); return (leaks, counts)."""
    echo = Echo()
    setenv(f"{provider.upper()}_API_KEY", key)
    setenv(f"{provider.upper()}_BASE_URL", echo.server.url)
    leaked, counts = [], {"raised": 0, "returned": 0, "redacted": 0}
    retrying = requests.Session()  # a caller's session whose urllib3 retries log
    retrying.mount("http://", HTTPAdapter(max_retries=Retry(total=1, backoff_factor=0)))
    clients = [_client(provider, echo.server.url, key),
               _client(provider, echo.server.url, key, session=retrying)]
    try:
        for name, data in behaviours(provider, key).items():
            echo.now = data
            started = time.monotonic()
            # every call where the reply can become a status, a timeout's last status or a
            # failure; poll and get_status where it can only become an error's text; poll
            # through a caller's retrying session where urllib3 itself meets the bytes
            some = name.startswith("text-")
            for n, client in enumerate(clients if not name.startswith("json-") else clients[:1]):
                for what, call in calls(provider, client)[:2 if some else 1 if n else None]:
                    try:
                        outcome = call()
                        counts["returned"] += 1
                    except gs.GenStatusError as exc:
                        outcome = exc
                        counts["raised"] += 1
                    found = []
                    walk(outcome, found, set())
                    counts["redacted"] += any("[redacted]" in t for t in found)
                    leaked += [f"{name} {what}: {t[:300]!r}" for t in found if leaks(t, key)]
            if name in CLI_BEHAVIOURS or name.startswith("text-200-plain"):
                cli.main(["status", provider, IDS[provider], "--json"])
            if timings is not None:
                timings[name] = time.monotonic() - started
        # failures that chain requests' own exception (which holds the request, key and all)
        hanging = RawServer(lambda conn: conn.hold(5))
        try:
            for name, url, timeout in (("refused", "http://127.0.0.1:9", (0.5, 0.5)),
                                       ("read-timeout", hanging.url, (0.5, 0.1))):
                client = _client(provider, url, key)
                client.timeout = timeout
                for what, call in calls(provider, client)[:1]:
                    with contextlib.suppress(gs.GenStatusError):
                        call()
                    try:
                        call()
                    except gs.GenStatusError as exc:
                        assert exc.__cause__ is not None  # the cause is kept: no server text
                        found = []
                        walk(exc, found, set())
                        leaked += [f"{name} {what}: {t[:300]!r}" for t in found
                                   if leaks(t, key)]
        finally:
            hanging.stop()
    finally:
        echo.close()
        retrying.close()
    return leaked, counts


# every provider with the key that JSON and URLs escape; the conftest key (no escapes of its
# own) with the provider that has the most calls
@pytest.mark.parametrize(("provider", "key"), [(p, KEYS[1]) for p in PROVIDERS]
                         + [("clipia", KEYS[0])])
def test_a_canary_key_echoed_everywhere_is_shown_nowhere(provider, key, records, capsys,
                                                         monkeypatch):
    handler, caplog = records
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        leaked, counts = run_canary(provider, key, monkeypatch.setenv)
    out = capsys.readouterr()
    leaked += [f"cli: {t[:300]!r}" for t in (out.out, out.err) if leaks(t, key)]
    logged = handler.texts + [r.getMessage() for r in caplog.records] + [caplog.text]
    leaked += [f"log: {t[:300]!r}" for t in logged if leaks(t, key)]
    leaked += [f"warning: {w.message!r}" for w in warned if leaks(str(w.message), key)]
    assert counts["raised"] and counts["returned"] and counts["redacted"]
    assert handler.texts  # urllib3's and our records were seen
    assert leaked == []


def test_the_leak_detector_finds_every_form():
    for key in KEYS:
        for form in forms(key).values():
            assert leaks(form, key) and leaks(repr(form), key) and leaks(json.dumps(form), key)
        assert leaks(key.upper(), key) and leaks(repr(key.encode()), key)
        assert leaks("a" + key[3:13] + "b", key)
        assert not leaks("[redacted]" + key[:WINDOW - 1], key)
