"""Many jobs at once over real HTTP: wait_all's overlapping requests and deadline, clients
shared by threads, and one request budget per client."""

import logging
import threading
import time

import pytest

import genstatus_sync as gs
from genstatus_sync import State

from .. import stalls
from ..clock import max_in_any_second
from ..conftest import fast_client

PROVIDERS = ["sivi", "rivya", "sellerpic", "clipia"]


def test_32_threads_share_one_client_without_a_wrong_reply_or_a_pool_warning(fake, caplog):
    caplog.set_level(logging.WARNING)
    client = fake.client("rivya")
    jobs = [fake.add_job("rivya", ["running"], job_id=f"job-{i}") for i in range(32)]
    wrong, barrier = [], threading.Barrier(32)

    def worker(job):
        barrier.wait()
        for _ in range(30):
            status = client.poll(job)
            if status.job_id != job or status.raw.id != job:
                wrong.append((job, status.raw.id))

    threads = [threading.Thread(target=worker, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fake.requests) == 32 * 30
    assert wrong == []
    assert [r.getMessage() for r in caplog.records if "pool" in r.getMessage().lower()] == []


def test_wait_all_overlaps_requests_and_keeps_input_order(fake):
    fake.latency("rivya", 0.2)
    client = fast_client(fake, "rivya", timeout=(1, 2))
    client._sleep = time.sleep  # real time: the overlap is the subject
    jobs = [client.job(fake.add_job("rivya", ["succeeded"], job_id=f"j{i:02d}")) for i in range(40)]
    stalls.start()
    started = time.monotonic()
    outcomes = gs.wait_all(jobs, timeout=30)
    took = time.monotonic() - started
    assert [o.job_id for o in outcomes] == [job.job_id for job in jobs]
    assert all(o.state is State.SUCCEEDED for o in outcomes)
    # one after another 40 x 0.2 s = 8 s; overlapped, about one latency after the first delay
    # (and the time the machine measurably took from every process: at most 0.5 s)
    assert took < 2.5 + 2 * 0.2 + 1.0 + stalls.stalled(started, started + took), took


def test_on_update_runs_in_the_calling_thread_and_its_exception_is_the_callers(fake):
    client = fast_client(fake, "clipia")
    jobs = [(client, fake.add_job("clipia", ["queued", "running", "succeeded"]))
            for _ in range(10)]
    threads = set()

    def on_update(status):
        threads.add(threading.get_ident())

    gs.wait_all(jobs, timeout=30, on_update=on_update, sleep=lambda s: None)
    assert threads == {threading.get_ident()}

    def broken(status):
        raise KeyError("the caller's bug")

    with pytest.raises(KeyError, match="the caller's bug"):
        gs.wait_all(jobs, timeout=30, on_update=broken, sleep=lambda s: None)


def test_max_in_flight_1_starts_no_thread_and_polls_one_after_another(fake):
    client = fast_client(fake, "sellerpic")
    jobs = [(client, fake.add_job("sellerpic", ["running", "succeeded"])) for _ in range(5)]
    seen = []

    def on_update(status):
        seen.append(sum(t.name == "genstatus-wait_all" for t in threading.enumerate()))

    outcomes = gs.wait_all(jobs, timeout=30, max_in_flight=1, on_update=on_update,
                           sleep=lambda s: None)
    assert all(o.state is State.SUCCEEDED for o in outcomes)
    assert set(seen) == {0}
    with pytest.raises(gs.ConfigurationError, match="max_in_flight"):
        gs.wait_all(jobs, max_in_flight=0)


def test_wait_all_over_1000_never_answering_jobs_ends_within_its_timeout_plus_half_a_second(
        fake):
    fake.fault("rivya", "never", times=10**6, seconds=30)
    client = fake.client("rivya", timeout=(1.0, 5.0))
    jobs = [client.job(f"stuck-{i}") for i in range(1000)]
    stalls.start()
    started = time.monotonic()
    outcomes = gs.wait_all(jobs, timeout=1.0)
    took = time.monotonic() - started
    assert all(isinstance(o, gs.WaitTimeout) for o in outcomes)
    # scheduling slack of a 2-core machine, and the time the machine took from every process
    assert took <= 1.0 + 0.5 + 0.1 + stalls.stalled(started, started + took), took
    print(f"\n1000 hanging jobs: wait_all(timeout=1.0) returned after {took:.2f} s")


def test_wait_all_over_50000_jobs_given_as_pairs_keeps_its_deadline_too(fake):
    # the handles made from the pairs, and the 50,000 WaitTimeouts made at the end, took
    # a quarter of a second past the promise
    fake.fault("rivya", "never", times=10**6, seconds=30)
    client = fake.client("rivya", timeout=(1.0, 5.0))
    pairs = [(client, f"stuck-{i}") for i in range(50_000)]
    stalls.start()
    started = time.monotonic()
    outcomes = gs.wait_all(pairs, timeout=1.0)
    took = time.monotonic() - started
    assert len(outcomes) == 50_000 and all(isinstance(o, gs.WaitTimeout) for o in outcomes)
    # scheduling slack of a 2-core machine, and the time the machine took from every process
    assert took <= 1.0 + 0.5 + 0.1 + stalls.stalled(started, started + took), took
    print(f"\n50,000 hanging jobs: wait_all(timeout=1.0) returned after {took:.2f} s")


def test_a_job_whose_poll_hung_at_the_deadline_says_so_in_its_wait_timeout(fake):
    # among many jobs (given up a little early, for the WaitTimeouts to make), a job whose
    # poll was still in flight read "0 polls" with no last_error: as if never polled
    quick = gs.Backoff(first_delay=0, initial=0.1, multiplier=1, max_interval=0.1, jitter=0.1)
    providers = ["sivi", "rivya", "sellerpic", "clipia"]
    clients = {p: fake.client(p, backoff=quick) for p in providers}
    jobs = [clients[p].job(fake.add_job(p, ["queued", "running", "succeeded"]))
            for _ in range(125) for p in providers]
    for provider, kind in [("sellerpic", "never"), ("clipia", "trickle"),
                           ("rivya", "never"), ("sivi", "trickle")]:
        job = fake.add_job(provider, ["queued", "running", "succeeded"])
        fake.fault(provider, kind, times=1000, seconds=10.0, job_id=job)
        jobs.append(clients[provider].job(job))
    outcomes = gs.wait_all(jobs, timeout=3)
    assert all(o.state is State.SUCCEEDED for o in outcomes[:500])
    for outcome in outcomes[500:]:
        assert isinstance(outcome, gs.WaitTimeout) and outcome.polls >= 1, outcome
        assert isinstance(outcome.last_error, gs.TransportError), outcome


def test_a_provider_that_hangs_does_not_starve_the_others_in_one_wait_all(fake):
    # 200 Sivi jobs whose server never answers, listed first, and 40 healthy Rivya jobs: the
    # hung requests took every place in flight, and the Rivya jobs timed out behind them
    fake.fault("sivi", "never", times=10**6, seconds=30)
    quick = gs.Backoff(first_delay=0, initial=0.1, multiplier=1, max_interval=0.1, jitter=0)
    sivi = fake.client("sivi", timeout=(1.0, 5.0), backoff=quick)
    rivya = fake.client("rivya", backoff=quick)
    healthy = [fake.add_job("rivya", ["running", "running", "succeeded"]) for _ in range(40)]
    jobs = [sivi.job(f"stuck-{i}") for i in range(200)] + [rivya.job(j) for j in healthy]
    done_at = {}
    started = time.monotonic()

    def on_update(status):
        if status.state is State.SUCCEEDED:
            done_at[status.job_id] = time.monotonic() - started

    outcomes = gs.wait_all(jobs, timeout=4.0, on_update=on_update)
    assert all(o.state is State.SUCCEEDED for o in outcomes[200:])
    assert max(done_at[j] for j in healthy) < 3.0  # (each needs 0.2 s of polls; alone: 0.3 s)
    assert all(isinstance(o, gs.WaitTimeout) for o in outcomes[:200])


def test_a_client_held_by_its_budget_takes_no_share_of_the_places_from_the_others(fake):
    # 300 Sivi jobs whose replies take 0.3 s next to 10 Rivya jobs held back by max_rate=0.2:
    # the held client counted as one that needed places, the Sivi jobs were kept to half of
    # four, and none of them ended within 12 s (alone: within 3 s)
    fake.latency("sivi", 0.3)
    quick = gs.Backoff(first_delay=0.0, initial=0.5, multiplier=1.0, max_interval=0.5, jitter=0)
    sivi = fake.client("sivi", backoff=quick)
    rivya = fake.client("rivya", backoff=quick, max_rate=0.2)
    jobs = [sivi.job(fake.add_job("sivi", ["running", "succeeded"])) for _ in range(300)]
    jobs += [rivya.job(fake.add_job("rivya", ["running"])) for _ in range(10)]
    outcomes = gs.wait_all(jobs, timeout=6)
    assert all(isinstance(o, gs.JobStatus) and o.state is State.SUCCEEDED for o in outcomes[:300])
    assert all(isinstance(o, gs.WaitTimeout) for o in outcomes[300:])


def test_a_providers_rate_limit_is_learned_without_a_storm_of_429s(fake):
    # 40 jobs due at once against 40 requests a second, and no max_rate set
    fake.rate_limit("rivya", per_second=40)
    quick = gs.Backoff(first_delay=0, initial=0.5, multiplier=1, max_interval=0.5, jitter=0)
    client = fake.client("rivya", backoff=quick, timeout=(1, 2))
    jobs = [client.job(fake.add_job("rivya", ["running", "running", "succeeded"]))
            for _ in range(40)]
    outcomes = gs.wait_all(jobs, timeout=30)
    assert all(isinstance(o, gs.JobStatus) and o.state is State.SUCCEEDED for o in outcomes)
    limited = len(fake.requests) - 3 * 40  # every request beyond 3 per job was a 429
    print(f"\n40 jobs, 40/s limit: {len(fake.requests)} requests, {limited} got 429")
    assert limited <= 0.1 * 3 * 40  # the first burst meets the limit; after that, few


def test_one_budget_for_all_threads_of_a_client_counted_at_the_server(fake):
    # real time: the server's clock is the judge; 16 threads, 130 requests at 40 a second
    client = fake.client("rivya", max_rate=40)
    job = fake.add_job("rivya", ["running"])
    barrier = threading.Barrier(16)

    def worker(count):
        barrier.wait()
        for _ in range(count):
            client.poll(job)

    threads = [threading.Thread(target=worker, args=(9 if i < 2 else 8,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    times = [request.time for request in fake.requests]
    assert len(times) == 130
    assert max_in_any_second(times) <= 40 + 5
    assert max(times) - min(times) >= (130 - 45) / 40




def test_wait_all_adds_places_no_faster_than_replies_come(fake):
    # 60 jobs due at once, replies after 0.3 s: 4 requests first, at most 4 more per reply
    fake.latency("rivya", 0.3)
    at_once = gs.Backoff(first_delay=0, initial=5, multiplier=1, max_interval=5, jitter=0)
    client = fake.client("rivya", backoff=at_once, timeout=(2, 2))
    jobs = [client.job(fake.add_job("rivya", ["succeeded"])) for _ in range(60)]
    outcomes = gs.wait_all(jobs, timeout=30)
    assert all(o.state is State.SUCCEEDED for o in outcomes)
    times = sorted(request.time for request in fake.requests)
    first = times[0]
    assert sum(t < first + 0.25 for t in times) == 4  # before any reply: the first 4 only
    assert sum(t < first + 0.55 for t in times) <= 4 + 8  # then at most doubling a round trip


@pytest.mark.parametrize("max_in_flight", [1, 4])
def test_a_client_held_back_by_its_budget_does_not_hold_up_other_clients_jobs(fake, max_in_flight):
    # 20 Rivya jobs behind max_rate=2 (10 s of turns) and 6 Sivi jobs with no limit, all due at
    # once: the Sivi jobs go while the Rivya polls wait for their turns, not after them
    now = gs.Backoff(first_delay=0, initial=0.5, jitter=0)
    rivya = fake.client("rivya", max_rate=2, backoff=now)
    sivi = fake.client("sivi", backoff=now)
    jobs = [rivya.job(fake.add_job("rivya", ["succeeded"])) for _ in range(20)]
    jobs += [sivi.job(fake.add_job("sivi", ["succeeded"])) for _ in range(6)]
    ended = []
    outcomes = gs.wait_all(jobs, timeout=60, max_in_flight=max_in_flight,
                           on_update=lambda status: ended.append(status.provider))
    assert all(isinstance(o, gs.JobStatus) and o.state is State.SUCCEEDED for o in outcomes)
    assert len(ended) == 26
    assert "sivi" not in ended[9:]  # only the Rivya burst (2) and one waiting poll before
    times = sorted(r.time for r in fake.requests if "/generations/" in r.path)
    assert max_in_any_second(times) <= 2 + 2  # the budget still holds


@pytest.mark.parametrize("max_in_flight", [1, 4])
def test_a_budget_on_the_clients_own_clock_is_waited_on_that_clock(max_in_flight):
    # the clients run on a virtual clock (a test's, a simulation's), wait_all on real time:
    # turns 2 s apart are waited with the clients' sleep, not for real, and nothing times out
    from genstatus_sync.testing import FakeProviders

    from ..clock import Clock
    from ..conftest import KEY

    clock = Clock()
    with FakeProviders(api_key=KEY, clock=clock) as fake:
        now = gs.Backoff(first_delay=0, initial=0.5, jitter=0)
        client = fake.client("rivya", max_rate=0.5, backoff=now, clock=clock, sleep=clock.sleep)
        jobs = [client.job(fake.add_job("rivya", ["succeeded"])) for _ in range(6)]
        outcomes = gs.wait_all(jobs, timeout=20, max_in_flight=max_in_flight)
    assert all(isinstance(o, gs.JobStatus) and o.state is State.SUCCEEDED for o in outcomes)
    assert sum(clock.sleeps) >= 2 * (6 - 1) - 0.01  # one turn every 2 s, on the virtual clock


@pytest.mark.parametrize("error", [KeyError, KeyboardInterrupt])
def test_a_poll_waiting_for_its_turn_is_not_sent_once_wait_all_has_raised(fake, error):
    # Rivya behind max_rate=1: the first poll goes at once, the second waits for its turn in a
    # thread, on the client's sleep (held here until the call has ended). on_update raising
    # at the first reply (a caller's bug, or Ctrl-C arriving there) ends the call: the
    # waiting poll must not go out after it.
    released = threading.Event()

    def held_sleep(seconds):
        released.wait(10)

    now = gs.Backoff(first_delay=0, initial=0.5, jitter=0)
    client = fake.client("rivya", max_rate=1, backoff=now, sleep=held_sleep)
    jobs = [client.job(fake.add_job("rivya", ["succeeded"])) for _ in range(3)]

    def broken(status):
        raise error("the caller's")

    with pytest.raises(error, match="the caller's"):
        gs.wait_all(jobs, timeout=30, max_in_flight=4, on_update=broken)
    sent = len(fake.requests)
    released.set()
    for thread in threading.enumerate():
        if thread.name == "genstatus-wait_all":
            thread.join(5)
            assert not thread.is_alive()
    assert sent == 1
    assert len(fake.requests) == sent


def test_a_ctrl_c_as_wait_all_starts_a_thread_leaves_no_thread_behind(fake, monkeypatch):
    # Thread.start() waits for the new thread to run: a Ctrl-C lands there more often than
    # anywhere else early in a call. The thread started but was not yet listed, so the call's
    # end sent it no stop, and it waited for tasks for as long as the process lived.
    start = threading.Thread.start
    interrupted = []

    def start_then_ctrl_c(self):
        start(self)
        if self.name == "genstatus-wait_all" and not interrupted:
            interrupted.append(self)
            raise KeyboardInterrupt

    monkeypatch.setattr(threading.Thread, "start", start_then_ctrl_c)
    client = fake.client("rivya")
    jobs = [client.job(fake.add_job("rivya", ["running"])) for _ in range(3)]
    with pytest.raises(KeyboardInterrupt):
        gs.wait_all(jobs, timeout=30, max_in_flight=4)
    assert interrupted
    interrupted[0].join(5)
    assert not interrupted[0].is_alive(), "the interrupted call left its thread waiting"


def test_a_poll_waiting_for_a_far_turn_stops_waiting_when_wait_all_raises(fake):
    # Rivya behind one request every 30 s, on time.sleep: the second poll waits for its turn
    # in a thread. The call raises at the first reply: that thread stops waiting then (it
    # slept out the 30 s, and kept a thread of the caller's process for them).
    client = fake.client("rivya", max_rate=1 / 30, backoff=gs.Backoff(first_delay=0, jitter=0),
                         sleep=time.sleep)
    jobs = [client.job(fake.add_job("rivya", ["succeeded"])) for _ in range(2)]

    def broken(status):
        raise KeyError("the caller's")

    with pytest.raises(KeyError):
        gs.wait_all(jobs, timeout=60, max_in_flight=4, on_update=broken)
    for thread in threading.enumerate():
        if thread.name == "genstatus-wait_all":
            thread.join(5)
            assert not thread.is_alive()
    assert len(fake.requests) == 1


def test_polls_still_queued_when_wait_all_ends_are_not_sent(fake):
    # What only a thread's start latency reaches through the public call, made certain: the
    # one thread of a wait_all's runner is busy, two real polls queue behind it, the call
    # ends. The plain poll is dropped; the one holding its client's kept turn runs (to use
    # the turn up) and its client sends nothing. Neither reaches the server.
    from genstatus_sync._wait import _Threads

    client = fake.client("rivya", max_rate=100)
    first, second = (client.job(fake.add_job("rivya", ["succeeded"])) for _ in range(2))
    busy, release = threading.Event(), threading.Event()

    def hold():
        busy.set()
        release.wait(10)
        return "held"

    runner = _Threads(1)
    runner.submit(0, hold)
    assert busy.wait(10)
    runner.submit(1, lambda: first.poll_within(5.0))
    runner.submit(2, lambda: second.poll_within(5.0), True)
    runner.close()
    release.set()
    replies = {}
    for _ in range(2):
        index, result, error = runner.get(10)
        replies[index] = (result, error)
    for thread in runner._threads:
        thread.join(5)
        assert not thread.is_alive()
    assert runner.get(0) is None  # the plain poll was dropped: no reply, ever
    assert replies[0] == ("held", None)
    result, error = replies[2]
    assert isinstance(error, gs.TransportError) and "not sent" in str(error), replies
    assert fake.requests == []
