"""genstatus_sync.celery on real parts: Debian's redis-server on a free port, a real Celery
worker subprocess (prefork, concurrency 2) running tests/e2e/celery_app.py, FakeProviders in
this process; each test runs with Redis as the broker, then with Debian's rabbitmq-server
(the user's tasks record what they get in Redis both times). Skipped only where redis-server,
rabbitmq-server or Celery cannot be had (CI installs them)."""

import importlib
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

import genstatus_sync as gs
from genstatus_sync._job import _EARLY
from genstatus_sync.testing import FakeProviders

from ..clock import Clock
from ..conftest import KEY
from .conftest import until as _until

INSTALL = "pip install -e '.[celery]'"
celery = pytest.importorskip("celery", reason=f"Celery is not installed ({INSTALL})")
redis = pytest.importorskip("redis", reason=f"redis-py is not installed ({INSTALL})")

ROOT = Path(__file__).resolve().parents[2]
PROVIDERS = ["sivi", "rivya", "sellerpic", "clipia"]
WORKER = f"gs-test-{os.getpid()}"


@pytest.fixture(scope="module")
def redis_url(redis_port):
    return f"redis://127.0.0.1:{redis_port}/0"


@pytest.fixture(scope="module")
def providers():
    with FakeProviders(api_key=KEY) as fake:
        yield fake


@pytest.fixture(scope="module", params=["redis", "rabbitmq"])
def broker_url(request, redis_url):
    return redis_url if request.param == "redis" else request.getfixturevalue("amqp_url")


@pytest.fixture(scope="module")
def worker(broker_url, redis_url, providers, tmp_path_factory):
    """(the worker process, the app module as this process sees it, a Redis client, the
    worker's log file)."""
    env = {"GS_TEST_BROKER_URL": broker_url, "GS_TEST_REDIS_URL": redis_url,
           "GS_TEST_FAKE_URL": providers.url, "GS_TEST_FAKE_KEY": KEY}
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    # the app's broker is read when the module is imported: once per broker
    module = importlib.reload(importlib.import_module("tests.e2e.celery_app"))
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-q", "-A", "tests.e2e.celery_app", "worker",
         "--pool", "prefork", "--concurrency", "2", "-l", "warning", "-n", WORKER + "@%h",
         "--without-mingle", "--without-gossip"],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(ROOT),
             "PYTHONWARNINGS": "ignore:You're running the worker with superuser"})
    try:
        destination = [f"{WORKER}@{socket.gethostname()}"]

        def ready():
            assert process.poll() is None, "the worker exited:\n" + log.read_text()
            return module.app.control.ping(destination=destination, timeout=0.3)

        _until(ready, 30, "the Celery worker answers ping")
        yield process, module, redis.Redis.from_url(redis_url), log
    finally:
        process.terminate()  # warm shutdown
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture()
def fleet(worker, providers):
    process, module, r, log = worker
    r.flushdb()
    providers.reset()
    yield process, module, r, log
    for provider in PROVIDERS:
        providers.latency(provider, 0.0)


def _job_id(provider, i):
    return str(7_000_000 + i) if provider == "sellerpic" else f"{provider}-{i}"


def _requested_job(request):
    """Which job a request recorded by FakeProviders was for."""
    if request.provider == "sivi":
        return json.loads(request.query["queryParams"])["requestId"]
    if request.provider == "sellerpic":
        return request.query["id"]
    return request.path.split("/")[3 if request.provider == "clipia" else 4]


def _requests_per_job(fake):
    return Counter(f"{r.provider}:{_requested_job(r)}" for r in fake.requests)


def _runs(clock, max_countdown, whole_seconds):
    """A sleep on ``clock`` that ends when a wait's Celery run would poll: the countdowns of
    genstatus_sync.celery (at most ``max_countdown``; on RabbitMQ rounded up to whole seconds),
    a run this near its poll's due time polling (_EARLY), an earlier one waiting again."""
    def sleep(seconds):
        left = seconds
        while True:
            countdown = max(0.0, min(left, max_countdown))
            if whole_seconds and countdown:
                countdown = float(math.ceil(countdown))
            clock.sleep(countdown)
            left -= countdown
            if left <= _EARLY:
                return

    return sleep


def _solo(scripts, backoff, runs=None):
    """Requests per job when each job is waited on alone by client.wait (with an empty
    history: plain backoff), on a virtual clock, against the same scripts (``runs``:
    ``(max_countdown, whole_seconds)``, sleeps that end when a Celery run would poll, see
    ``_runs``)."""
    clock = Clock(now=1_000_000.0)
    sleep = clock.sleep if runs is None else _runs(clock, *runs)
    with FakeProviders(api_key=KEY, clock=clock) as fake:
        for provider, job_id, states, every, args in scripts:
            fake.add_job(provider, states, every=every, job_id=job_id)
            with fake.client(provider, backoff=backoff, clock=clock, sleep=sleep) as c:
                c.wait(job_id, timeout=60, raise_on_failure=False, **args)
        return _requests_per_job(fake)


def _queued(app):
    """Messages waiting in the app's queue (none in a queue the broker does not have)."""
    with app.connection_for_read() as connection:
        try:
            return connection.default_channel.queue_declare("celery", passive=True).message_count
        except connection.channel_errors:
            return 0


def _outcomes(r):
    calls = {job.decode(): int(n) for job, n in r.hgetall("calls").items()}
    accepted = {job.decode(): json.loads(v) for job, v in r.hgetall("accepted").items()}
    return calls, accepted


def test_200_jobs_reach_on_done_once_each_with_the_requests_of_a_solo_wait(fleet, providers):
    # 50 jobs of each provider, one kind each, started together: each worker child's client
    # learns from the batch's shortest jobs as they end, and the steps of the others plan
    # from what was known when their waits began (nothing: plain backoff, as the solo
    # waits). Before they did, the longer jobs paid close polls placed around the shortest:
    # 5.88-6.00 requests per job against the solo 5.45.
    _, module, r, _ = fleet
    rng = random.Random(5)
    scripts = []
    for i in range(200):
        provider = PROVIDERS[i % 4]
        states = (["queued"] + ["running"] * rng.randint(1, 3)
                  + ["failed" if i % 10 == 9 else "succeeded"])
        every = rng.uniform(4.0, 10.0) / (len(states) - 1)  # done 4-10 s after the first poll
        args = {"abstract_user_id": "user-7"} if provider == "sivi" and i % 8 == 0 else {}
        scripts.append((provider, _job_id(provider, i), states, every, args))
        providers.add_job(provider, states, every=every, job_id=_job_id(provider, i))
    started = time.monotonic()
    keys = {}
    for provider, job_id, _, _, args in scripts:  # started over 2 s, as a service would
        keys[f"{provider}:{job_id}"] = module.poll.start(provider, job_id, timeout=60, **args)
        time.sleep(0.01)
    _until(lambda: r.hlen("accepted") >= 200, 40, "200 jobs reach on_done")
    took = time.monotonic() - started
    time.sleep(0.5)  # room for a late duplicate
    calls, accepted = _outcomes(r)
    assert calls == dict.fromkeys(keys, 1) and int(r.get("duplicates") or 0) == 0
    for provider, job_id, states, _, _ in scripts:
        status = accepted[f"{provider}:{job_id}"]
        assert (status["provider"], status["job_id"], status["state"]) == (
            provider, job_id, states[-1])
        assert r.lrange(f"keys:{provider}:{job_id}", 0, -1) == [
            keys[f"{provider}:{job_id}"].encode()]
    assert all(json.loads(r.query["queryParams"]).get("abstractUserId") == "user-7"
               for r in providers.requests if r.provider == "sivi"
               and _requested_job(r) in {j for p, j, _, _, a in scripts if a})
    # RabbitMQ's countdowns are whole seconds: its runs poll up to a second late, and fewer
    # times (5.01 requests per job against 5.45 for waits that sleep as planned)
    runs = (module.poll.max_countdown, module.app.conf.broker_url.startswith("amqp"))
    got = _requests_per_job(providers)
    solo = _solo(scripts, module.QUICK, runs=runs)
    assert set(got) == set(solo) == set(keys)
    print(f"\n200 jobs in {took:.1f} s; requests per job {sum(got.values()) / 200:.2f} "
          f"(solo wait {sum(solo.values()) / 200:.2f})")
    assert abs(sum(got.values()) - sum(solo.values())) <= 0.1 * sum(solo.values())


def _children(pid):
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_kill_9_of_a_worker_child_mid_run_loses_no_job_and_duplicates_share_their_key(
        fleet, providers):
    process, module, r, log = fleet
    states = ["queued"] * 2 + ["running"] * 2 + ["succeeded"]  # 5 polls: about 6 s
    scripts = [(PROVIDERS[i % 4], _job_id(PROVIDERS[i % 4], i), states, None, {})
               for i in range(200)]
    for provider, job_id, _, _, _ in scripts:
        providers.add_job(provider, states, job_id=job_id)
    for provider, job_id, _, _, _ in scripts:
        module.poll.start(provider, job_id, timeout=60)
    _until(lambda: len(providers.requests) >= 300, 20, "the waits under way")
    # Two slow replies hold both children mid-request; one child is killed while it waits.
    before = len(providers.requests)
    providers.fault("rivya", "slow", times=2, seconds=1.5)
    _until(lambda: sum(q.provider == "rivya" for q in providers.requests[before:]) >= 2, 10,
           "both children are in a slow request")
    slow = [f"rivya:{_requested_job(q)}" for q in providers.requests[before:]
            if q.provider == "rivya"][:2]
    victim = _children(process.pid)[0]
    logged = len(log.read_bytes())
    os.kill(victim, signal.SIGKILL)
    # (with RabbitMQ the pool reports the killed child's run as past its time limit)
    _until(lambda: f"pid:{victim} exited with 'signal 9" in log.read_bytes()[logged:].decode(
        errors="replace"), 10, "the worker reports its lost child")
    # A message delivered twice (as a broker may): the same token handed over twice.
    twice = [(p, providers.add_job(p, states)) for p in PROVIDERS]
    for provider, job_id in twice:
        token = module.poll.client(provider).wait_token(job_id, timeout=60)
        assert module.poll.resume(provider, token) == module.poll.resume(provider, token)
    _until(lambda: r.hlen("accepted") >= 204, 30, "every job reaches on_done")
    # the second delivery of a doubled message ends on its own schedule, after the first
    _until(lambda: all(int(r.hget("calls", f"{p}:{j}") or 0) >= 2 for p, j in twice), 30,
           "both deliveries of each doubled message reach on_done")
    time.sleep(0.5)
    calls, accepted = _outcomes(r)
    everyone = {f"{p}:{j}" for p, j, _, _, _ in scripts} | {f"{p}:{j}" for p, j in twice}
    assert set(accepted) == everyone  # no job lost: the killed run was delivered again
    assert all(status["state"] == "succeeded" for status in accepted.values())
    for job in calls:  # however often a job reached on_done, it had one key
        assert len(set(r.lrange(f"keys:{job}", 0, -1))) == 1, job
    assert int(r.get("duplicates") or 0) == sum(n - 1 for n in calls.values())
    assert all(calls[f"{p}:{j}"] == 2 for p, j in twice)
    got = _requests_per_job(providers)
    solo = _solo(scripts, module.QUICK)
    ours = sum(got[job] for job in solo)
    print(f"\nkill -9 of child {victim} during one of {slow}: {len(accepted)} of "
          f"{len(everyone)} jobs done, {sum(n > 1 for n in calls.values())} reached on_done "
          f"twice (same key); requests per job {ours / len(solo):.2f} "
          f"(solo wait {sum(solo.values()) / len(solo):.2f})")
    assert abs(ours - sum(solo.values())) <= 0.1 * sum(solo.values())


def test_a_wait_that_cannot_end_well_reaches_on_error_with_its_key(fleet, providers):
    _, module, r, _ = fleet
    never = providers.add_job("clipia", ["running"])
    gone_key = module.poll.start("rivya", "no-such-job", timeout=60)
    never_key = module.poll.start("clipia", never, timeout=1.0)
    wanted = {b"rivya:no-such-job", f"clipia:{never}".encode()}
    _until(lambda: wanted <= set(r.hkeys("errors")), 15, "both waits reach on_error")
    errors = {job.decode(): json.loads(v) for job, v in r.hgetall("errors").items()}
    gone, late = errors["rivya:no-such-job"], errors[f"clipia:{never}"]
    assert (gone["key"], gone["report"]["error"]) == (gone_key, "NotFoundError")
    assert (late["key"], late["report"]["error"]) == (never_key, "WaitTimeout")
    assert late["report"]["last"]["state"] == "running"
    assert r.hlen("calls") == 0


def test_a_run_killed_at_its_hard_time_limit_goes_back_to_the_queue(fleet, providers):
    # one reply of 6 s, past the poll task's 4 s time limit: the pool kills the run; Celery
    # used to acknowledge it, and the wait was lost without on_done or on_error
    _, module, r, log = fleet
    job = providers.add_job("rivya", ["running", "succeeded"], every=1.0)
    providers.fault("rivya", "slow", seconds=6.0, job_id=job)
    key = module.poll.start("rivya", job, timeout=120)
    _until(lambda: r.hexists("accepted", f"rivya:{job}"), 40, "the wait reaches on_done")
    assert json.loads(r.hget("accepted", f"rivya:{job}"))["state"] == "succeeded"
    assert r.lrange(f"keys:rivya:{job}", 0, -1) == [key.encode()]
    assert "TimeLimitExceeded" in log.read_text()  # (it was killed, and came back)


def test_a_bad_token_or_provider_is_refused_before_anything_is_sent(fleet):
    _, module, r, _ = fleet
    token = module.poll.client("rivya").wait_token("job-1")
    with pytest.raises(gs.ConfigurationError, match="garbled"):
        module.poll.resume("rivya", token[:-2] + ("11" if token.endswith("00") else "00"))
    with pytest.raises(gs.ConfigurationError, match="given to a clipia"):
        module.poll.resume("clipia", token)
    with pytest.raises(gs.ConfigurationError, match="unknown provider"):
        module.poll.start("midjourney", "job-1")
    assert _queued(module.app) == 0
