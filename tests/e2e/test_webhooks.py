"""FakeProviders pushes signed webhooks over real HTTP to a receiver on 127.0.0.1, which
verifies and parses them as a user's receiver would."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import genstatus_sync as gs
from genstatus_sync import webhooks
from genstatus_sync.testing import FakeProviders, WebhookDelivery

from ..conftest import KEY, fast_client

SECRET = "whsec_E2E-CANARY-51c0ffee"
WAIT = 10.0  # seconds any wait for a push may take before the test fails (never slept)


class Receiver:
    """A webhook receiver on 127.0.0.1: records every push (headers, body) and answers
    ``status`` (or what ``handle(headers, body)`` returns); ``drop`` connections are closed
    unanswered first; ``hold`` keeps replies back until it is set."""

    def __init__(self, status=200, drop=0, handle=None):
        self.status, self.drop, self.handle = status, drop, handle
        self.pushes = []
        self.arrived = 0  # requests read, answered or not
        self.hold = None
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._cond:
                    dropping = receiver.drop > 0
                    receiver.drop -= dropping
                    receiver.arrived += 1
                    receiver._cond.notify_all()
                if dropping:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if receiver.hold is not None:
                    receiver.hold.wait(WAIT)
                status = receiver.status
                if receiver.handle is not None:
                    status = receiver.handle(self.headers, body)
                with receiver._cond:
                    receiver.pushes.append((self.headers, body))
                    receiver._cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}/hooks/genstatus?x=1"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()

    def wait_for(self, count):
        """The first ``count`` pushes, once they arrived (TimeoutError after WAIT seconds)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.pushes) >= count, WAIT):
                raise TimeoutError(f"{len(self.pushes)} of {count} pushes arrived")
            return list(self.pushes[:count])

    def wait_for_arrival(self, count):
        with self._cond:
            if not self._cond.wait_for(lambda: self.arrived >= count, WAIT):
                raise TimeoutError(f"{self.arrived} of {count} requests arrived")

    def close(self):
        if self.hold is not None:
            self.hold.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture()
def receiver():
    r = Receiver()
    yield r
    r.close()


def receive(provider, headers, body, secret=SECRET, now=None):
    """What a user's receiver does: verify the raw body, then parse it."""
    webhooks.verify_clipia(headers, body, secret, now=now)
    return webhooks.parse(provider, body)


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- pushes as the job is polled ------------------------------------------------------------

@pytest.mark.parametrize("provider", ["clipia", "sivi"])
def test_every_change_a_poll_shows_is_pushed_signed_in_order(fake, receiver, provider):
    urls = ["https://media.example.test/a.png", "https://media.example.test/b.png"]
    job = fake.add_job(provider, ["queued", "running", "running", "succeeded"], urls=urls,
                       progress=[None, 20, 70, None], webhook_url=receiver.url,
                       webhook_secret=SECRET)
    client = fast_client(fake, provider)
    status = client.wait(job, timeout=30)

    pushes = receiver.wait_for(4)
    fake.flush_webhooks()
    received = [receive(provider, headers, body) for headers, body in pushes]

    assert [(s.state, s.progress) for s in received][:3] == [
        (gs.State.QUEUED, None), (gs.State.RUNNING, 20), (gs.State.RUNNING, 70)]
    last = received[-1]
    assert (last.state, last.job_id, last.result_urls) == (gs.State.SUCCEEDED, job, tuple(urls))
    assert last.result_urls == status.result_urls
    assert len(receiver.pushes) == 4  # the polls that showed nothing new pushed nothing
    assert [(d.provider, d.job_id, d.status, d.attempts) for d in fake.webhooks] == [
        (provider, job, 200, 1)] * 4
    assert [d.body for d in fake.webhooks] == [body for _, body in pushes]
    assert all(d.url == receiver.url for d in fake.webhooks)


def test_a_failed_sivi_job_pushes_its_reason(fake, receiver):
    job = fake.add_job("sivi", ["running", "failed"], error="Image url invalid",
                       webhook_url=receiver.url, webhook_secret=SECRET)
    client = fast_client(fake, "sivi")
    client.poll(job)
    client.poll(job)
    headers, body = receiver.wait_for(2)[1]
    status = receive("sivi", headers, body)
    assert (status.state, status.error, status.job_id) == (gs.State.FAILED, "Image url invalid",
                                                           job)
    assert json.loads(body)["status"] == 200  # the status reply's envelope, as assumed


def test_a_failed_clipia_job_pushes_its_error_and_no_output(fake, receiver):
    job = fake.add_job("clipia", ["failed"], error="NSFW", webhook_url=receiver.url,
                       webhook_secret=SECRET)
    fast_client(fake, "clipia").poll(job)
    headers, body = receiver.wait_for(1)[0]
    status = receive("clipia", headers, body)
    assert (status.state, status.error, status.result_urls) == (gs.State.FAILED, "NSFW", ())


def test_the_clipia_sandbox_pushes_its_sample_at_once(receiver):
    with FakeProviders(api_key="clipia_test_sandbox") as fake:
        job = fake.add_job("clipia", ["queued", "running", "succeeded"],
                           urls=[], webhook_url=receiver.url, webhook_secret=SECRET)
        fake.client("clipia").poll(job)
        headers, body = receiver.wait_for(1)[0]
    status = receive("clipia", headers, body)
    assert status.state is gs.State.SUCCEEDED
    assert status.result_urls == ("https://media.clipia.ai/sample/mock-result.png",)


# -- pushes by time, and at the test's command ----------------------------------------------

def test_an_every_job_is_pushed_as_its_clock_moves_with_no_poll_at_all(receiver):
    now = [1000.0]
    with FakeProviders(api_key=KEY, clock=lambda: now[0]) as fake:
        job = fake.add_job("clipia", ["queued", "running", "succeeded"], every=10.0,
                           webhook_url=receiver.url, webhook_secret=SECRET)
        first = receiver.wait_for(1)
        assert receive("clipia", *first[0]).state is gs.State.QUEUED
        now[0] += 10.0
        second = receiver.wait_for(2)[1]
        assert receive("clipia", *second).state is gs.State.RUNNING
        now[0] += 25.0
        third = receiver.wait_for(3)[2]
        assert receive("clipia", *third).state is gs.State.SUCCEEDED
        fake.flush_webhooks()
        # the status endpoint agrees with what was pushed, and the result is there
        client = fake.client("clipia")
        assert client.poll(job).state is gs.State.SUCCEEDED
        assert client.get_result(job).output is not None
        assert len(receiver.pushes) == 3


def test_deliver_webhook_pushes_the_next_state_now_and_returns_its_record(fake, receiver):
    job = fake.add_job("clipia", ["queued", "succeeded"], webhook_url=receiver.url,
                       webhook_secret=SECRET)
    first = fake.deliver_webhook(job)
    assert isinstance(first, WebhookDelivery)
    assert (first.status, first.attempts, first.error) == (200, 1, None)
    assert webhooks.parse("clipia", first.body).state is gs.State.QUEUED
    second = fake.deliver_webhook(job, provider="clipia")
    again = fake.deliver_webhook(job)  # the last state repeats: a duplicate push
    assert [webhooks.parse("clipia", d.body).state for d in (second, again)] == [
        gs.State.SUCCEEDED] * 2
    assert [body for _, body in receiver.wait_for(3)] == [first.body, second.body, again.body]
    # what deliver_webhook showed counts as shown: a poll now pushes nothing new
    assert fast_client(fake, "clipia").poll(job).state is gs.State.SUCCEEDED
    fake.flush_webhooks()
    assert len(fake.webhooks) == 3


def test_an_unsigned_push_and_a_configured_scheme(fake, receiver):
    plain = fake.add_job("sivi", ["succeeded"], webhook_url=receiver.url)
    record = fake.deliver_webhook(plain)
    assert not any(name.lower().startswith("x-clipia") for name in record.headers)
    assert webhooks.parse("sivi", record.body).state is gs.State.SUCCEEDED
    scheme = webhooks.ClipiaSignature(header="Clipia-Signature", timestamp_header=None,
                                      encoding="base64", signed="body")
    custom = fake.add_job("clipia", ["running"], webhook_url=receiver.url,
                          webhook_secret=SECRET, webhook_scheme=scheme)
    fake.deliver_webhook(custom)
    headers, body = receiver.wait_for(2)[1]
    webhooks.verify_clipia(headers, body, SECRET, scheme=scheme)
    with pytest.raises(gs.WebhookVerificationError, match="no X-Clipia-Signature"):
        webhooks.verify_clipia(headers, body, SECRET)


# -- what a receiver refuses ----------------------------------------------------------------

def test_a_receiver_refuses_a_tampered_a_wrongly_keyed_or_a_replayed_push(fake, receiver):
    job = fake.add_job("clipia", ["succeeded"], webhook_url=receiver.url,
                       webhook_secret=SECRET)
    fake.deliver_webhook(job)
    headers, body = receiver.wait_for(1)[0]
    receive("clipia", headers, body)
    stamp = int(headers["X-Clipia-Timestamp"])
    with pytest.raises(gs.WebhookVerificationError, match="does not match"):
        receive("clipia", headers, body.replace(b"COMPLETED", b"FAILED"))
    with pytest.raises(gs.WebhookVerificationError, match="does not match"):
        receive("clipia", headers, body, secret="not-the-secret")
    with pytest.raises(gs.WebhookVerificationError, match="old"):
        receive("clipia", headers, body, now=lambda: stamp + 301)
    with pytest.raises(gs.WebhookVerificationError, match="future"):
        receive("clipia", headers, body, now=lambda: stamp - 301)
    receive("clipia", headers, body, now=lambda: stamp + 300)


# -- delivery: retries, never blocking the server, stop -------------------------------------

def test_a_dropped_connection_is_tried_again(fake):
    flaky = Receiver(drop=1)
    try:
        job = fake.add_job("clipia", ["running"], webhook_url=flaky.url, webhook_secret=SECRET)
        record = fake.deliver_webhook(job)
        assert (record.status, record.attempts) == (200, 2)
        assert len(flaky.wait_for(1)) == 1
    finally:
        flaky.close()


def test_an_unreachable_receiver_is_given_up_after_the_retries(fake):
    url = f"http://127.0.0.1:{closed_port()}/hook"
    job = fake.add_job("sivi", ["queued", "succeeded"], webhook_url=url, webhook_secret=SECRET)
    client = fast_client(fake, "sivi")
    client.poll(job)
    assert client.poll(job).state is gs.State.SUCCEEDED
    fake.flush_webhooks()
    assert [(d.status, d.attempts) for d in fake.webhooks] == [(None, 3), (None, 3)]
    assert all("Connection" in d.error for d in fake.webhooks)


def test_the_receivers_error_status_is_recorded_not_retried(fake):
    failing = Receiver(status=500)
    try:
        job = fake.add_job("clipia", ["running"], webhook_url=failing.url, webhook_secret=SECRET)
        record = fake.deliver_webhook(job)
        assert (record.status, record.attempts) == (500, 1)
    finally:
        failing.close()


def test_a_hanging_receiver_never_holds_up_the_fakes_replies(fake, receiver):
    receiver.hold = threading.Event()
    jobs = [fake.add_job("clipia", ["queued", "running", "succeeded"],
                         webhook_url=receiver.url, webhook_secret=SECRET) for _ in range(3)]
    client = fast_client(fake, "clipia")
    started = time.monotonic()
    for job in jobs:
        for _ in range(3):
            client.poll(job)  # nine pushes queued behind one that hangs
    assert time.monotonic() - started < 2.0
    receiver.hold.set()
    assert len(receiver.wait_for(9)) == 9


def test_deliver_webhook_and_flush_give_up_waiting_after_their_timeout(fake, receiver):
    receiver.hold = threading.Event()
    job = fake.add_job("clipia", ["running"], webhook_url=receiver.url, webhook_secret=SECRET)
    with pytest.raises(TimeoutError, match="not delivered within 0.2 s"):
        fake.deliver_webhook(job, timeout=0.2)
    with pytest.raises(TimeoutError, match="1 webhook push still pending"):
        fake.flush_webhooks(timeout=0.1)
    receiver.hold.set()
    fake.flush_webhooks()
    assert [d.status for d in fake.webhooks] == [200]


def test_stop_cuts_a_push_under_way_and_drops_the_rest(receiver):
    receiver.hold = threading.Event()
    fake = FakeProviders(api_key=KEY).start()
    try:
        job = fake.add_job("clipia", ["queued", "running", "succeeded"],
                           webhook_url=receiver.url, webhook_secret=SECRET)
        client = fast_client(fake, "clipia")
        for _ in range(3):
            client.poll(job)
        receiver.wait_for_arrival(1)  # the first push is under way: the receiver holds it
    finally:
        started = time.monotonic()
        fake.stop()
        took = time.monotonic() - started
    assert took < 3.0
    receiver.hold.set()
    assert fake.webhooks == []  # the one cut and the two dropped are not recorded
    fake.flush_webhooks()  # nothing pending once stopped
    with pytest.raises(RuntimeError, match="not started"):
        fake.deliver_webhook(job)


def test_an_every_job_keeps_pushing_after_a_restart(receiver):
    now = [0.0]
    fake = FakeProviders(api_key=KEY, clock=lambda: now[0])
    job = fake.add_job("sivi", ["queued", "succeeded"], every=5.0, webhook_url=receiver.url,
                       webhook_secret=SECRET)
    with fake:
        receiver.wait_for(1)
    now[0] = 6.0
    with fake:
        headers, body = receiver.wait_for(2)[1]
    assert receive("sivi", headers, body).state is gs.State.SUCCEEDED
    assert job in body.decode()


# -- arguments ------------------------------------------------------------------------------

@pytest.mark.parametrize(("provider", "kwargs", "says"), [
    ("rivya", {"webhook_url": "http://127.0.0.1:9/h"}, "documents no webhooks"),
    ("sellerpic", {"webhook_url": "http://127.0.0.1:9/h"}, "documents no webhooks"),
    ("clipia", {"webhook_url": "ftp://127.0.0.1/h"}, "http:// or https://"),
    ("clipia", {"webhook_url": "127.0.0.1:9"}, "http:// or https://"),
    ("clipia", {"webhook_url": "http://127.0.0.1:99999/h"}, "bad port"),
    ("clipia", {"webhook_url": "http://127.0.0.1:9/h", "webhook_secret": ""}, "non-empty"),
    ("clipia", {"webhook_secret": SECRET}, "need a webhook_url"),
    ("clipia", {"webhook_url": "http://127.0.0.1:9/h", "webhook_scheme": "hex"},
     "ClipiaSignature"),
])
def test_bad_webhook_arguments_are_value_errors(fake, provider, kwargs, says):
    with pytest.raises(ValueError, match=says):
        fake.add_job(provider, **kwargs)


def test_deliver_webhook_needs_a_job_with_a_webhook(fake):
    plain = fake.add_job("clipia")
    with pytest.raises(ValueError, match="no webhook_url"):
        fake.deliver_webhook(plain)
    with pytest.raises(ValueError, match="no job"):
        fake.deliver_webhook("nope")
    fake.add_job("sivi", job_id="shared", webhook_url="http://127.0.0.1:9/h")
    fake.add_job("clipia", job_id="shared", webhook_url="http://127.0.0.1:9/h")
    with pytest.raises(ValueError, match="name the provider"):
        fake.deliver_webhook("shared")


def test_the_secret_is_never_in_the_record_or_a_repr(fake, receiver):
    job = fake.add_job("clipia", ["succeeded"], webhook_url=receiver.url, webhook_secret=SECRET)
    fake.deliver_webhook(job)
    shown = repr(fake.webhooks) + repr(fake.requests) + repr(vars(fake))
    shown += "".join(repr(vars(j)) for j in fake._jobs.values())
    assert SECRET not in shown
    headers, body = receiver.wait_for(1)[0]
    assert SECRET not in str(headers) and SECRET.encode() not in body


# -- the receiver in docs/webhooks.md ----------------------------------------------------------

def readme_example():
    text = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text(
        encoding="utf-8")
    return text.split("<!-- webhooks-example -->\n```python\n", 1)[1].split("```", 1)[0]


def test_the_readmes_receiver_takes_the_fakes_pushes_and_refuses_others(fake, monkeypatch):
    monkeypatch.setenv("CLIPIA_WEBHOOK_SECRET", SECRET)
    example = {}
    exec(compile(readme_example(), "docs/webhooks.md", "exec"), example)
    receive_clipia = example["receive_clipia"]
    server = Receiver(handle=receive_clipia)
    try:
        job = fake.add_job("clipia", ["queued", "running", "succeeded"],
                           urls=["https://media.example.test/out.png"],
                           webhook_url=server.url, webhook_secret=SECRET)
        fast_client(fake, "clipia").wait(job, timeout=30)
        fake.flush_webhooks()
    finally:
        server.close()
    assert [d.status for d in fake.webhooks] == [200, 200, 200]
    assert example["finished"][job].result_urls == ("https://media.example.test/out.png",)

    headers, body = server.pushes[-1]
    forged = {"X-Clipia-Signature": "0" * 64,
              "X-Clipia-Timestamp": headers["X-Clipia-Timestamp"]}
    assert receive_clipia(forged, body) == 401
    assert receive_clipia(headers, body + b" ") == 401
    garbage = b'{"no": "status"}'
    assert receive_clipia(webhooks.DEFAULT_CLIPIA_SIGNATURE.headers(garbage, SECRET),
                          garbage) == 400
