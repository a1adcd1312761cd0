"""Schedules that learn, over real HTTP: every wait, wait_all and step of a client feeds its
history (per kind: Rivya's model, else the provider, or the kind named), and later waits of
that kind plan from it. FakeProviders and the clients share a virtual clock."""

import pytest

import genstatus_sync as gs
from genstatus_sync import State
from genstatus_sync.testing import FakeProviders

from ..clock import Clock
from ..conftest import KEY


@pytest.fixture()
def timed():
    clock = Clock(now=2_000_000.0)
    with FakeProviders(api_key=KEY, clock=clock) as fake:
        yield fake, clock


def _job(fake, provider, seconds=20.0, job_id=None):
    """A job that runs for ``seconds`` from its first status poll, then succeeds."""
    return fake.add_job(provider, ["running", "succeeded"], every=seconds, job_id=job_id)


def _wait(fake, clock, client, provider, seconds=20.0, **kwargs):
    job = _job(fake, provider, seconds)
    before = len(fake.requests)
    start = clock.now
    status = client.wait(job, **kwargs)
    assert status.state is State.SUCCEEDED
    return len(fake.requests) - before, clock.now - start


def test_a_client_learns_how_long_its_jobs_take_and_polls_around_that(timed):
    fake, clock = timed
    # (Rivya's own polls, 5-10 s apart for a minute and a half, leave a job of 20 s nothing
    # to learn: a job of five minutes, polled 15-20 s apart by then, has)
    client = fake.client("rivya", clock=clock, sleep=clock.sleep)
    runs = [_wait(fake, clock, client, "rivya", 300.0) for _ in range(14)]
    assert client.history.kinds() == ("z-image",)  # Rivya's kind is the reply's model
    assert len(client.history.durations("z-image")) == 14
    (first_requests, first_took), (last_requests, last_took) = runs[0], runs[-1]
    assert last_requests <= first_requests
    assert last_took < first_took - 5  # seen done seconds sooner: 300 s after the first poll


def test_each_client_has_its_own_history_unless_given_one_to_share(timed):
    fake, clock = timed
    one = fake.client("sivi", clock=clock, sleep=clock.sleep)
    other = fake.client("sivi", clock=clock, sleep=clock.sleep)
    assert one.history is not other.history
    _wait(fake, clock, one, "sivi")
    assert one.history.durations("sivi") and not other.history.durations("sivi")
    shared = gs.DurationHistory()
    a = fake.client("sivi", clock=clock, sleep=clock.sleep, history=shared)
    b = fake.client("clipia", clock=clock, sleep=clock.sleep, history=shared)
    assert a.history is shared and b.history is shared
    _wait(fake, clock, a, "sivi")
    _wait(fake, clock, b, "clipia")
    assert set(shared.kinds()) == {"sivi", "clipia"}


def test_wait_names_a_kind(timed):
    fake, clock = timed
    sivi = fake.client("sivi", clock=clock, sleep=clock.sleep)
    _wait(fake, clock, sivi, "sivi", kind="poster", abstract_user_id="user-7")
    rivya = fake.client("rivya", clock=clock, sleep=clock.sleep)
    _wait(fake, clock, rivya, "rivya", kind="portrait")
    assert sivi.history.kinds() == ("poster",) and rivya.history.kinds() == ("portrait",)
    assert repr(sivi.job("r1", kind="poster")) == "Job('sivi', 'r1', kind='poster')"


@pytest.mark.parametrize("bad", ["", 3, "x" * 101])
def test_a_bad_kind_or_history_is_a_configuration_error(fake, bad):
    client = fake.client("rivya")
    with pytest.raises(gs.ConfigurationError):
        client.wait("job", kind=bad)
    with pytest.raises(gs.ConfigurationError):
        client.wait_token("job", kind=bad)
    with pytest.raises(gs.ConfigurationError):
        fake.client("rivya", history="not a history")
    assert fake.requests == []


def test_wait_all_feeds_the_history_of_each_jobs_client(timed):
    fake, clock = timed
    shared = gs.DurationHistory()
    sivi = fake.client("sivi", clock=clock, sleep=clock.sleep, history=shared)
    rivya = fake.client("rivya", clock=clock, sleep=clock.sleep)
    jobs = [(sivi, _job(fake, "sivi")), rivya.job(_job(fake, "rivya"), kind="fast"),
            (rivya, _job(fake, "rivya"))]
    outcomes = gs.wait_all(jobs, sleep=clock.sleep, clock=clock, max_in_flight=1)
    assert all(o.state is State.SUCCEEDED for o in outcomes)
    assert shared.kinds() == ("sivi",)
    assert set(rivya.history.kinds()) == {"fast", "z-image"}


def test_steps_feed_the_history_of_the_client_that_takes_them(timed):
    fake, clock = timed
    shared = gs.DurationHistory()
    job = _job(fake, "clipia")
    token = fake.client("clipia", clock=clock).wait_token(job, kind="video-5s")
    while True:  # each step on a fresh client, as in another process, sharing the history
        step = fake.client("clipia", clock=clock, history=shared).step(token)
        if step.done:
            break
        token = step.token
        clock.sleep(step.retry_in)
    assert shared.durations("video-5s") and shared.kinds() == ("video-5s",)


def test_steps_plan_from_the_history_as_one_wait_does(timed):
    fake, clock = timed
    learned = gs.DurationHistory()
    for i in range(12):
        learned.add("z-image", 400 + 10 * ((7 * i) % 12))  # 400-510 s, in no order
    text = learned.dumps()

    def requests(stepped):
        fake.reset()
        start = clock.now
        job = _job(fake, "rivya", 400.0, job_id="job-400")
        history = gs.DurationHistory.loads(text)
        if not stepped:
            fake.client("rivya", clock=clock, sleep=clock.sleep, history=history).wait(job)
        else:
            token = fake.client("rivya", clock=clock, history=history).wait_token(job)
            while True:
                step = fake.client("rivya", clock=clock, history=history).step(token)
                if step.done:
                    break
                token = step.token
                clock.sleep(step.retry_in)
        return [round(r.time - start, 6) for r in fake.requests]

    one_wait = requests(False)
    assert requests(True) == one_wait
    fake.reset()
    start = clock.now
    job = _job(fake, "rivya", 400.0, "job-400")
    fake.client("rivya", clock=clock, sleep=clock.sleep).wait(job)
    plain = [round(r.time - start, 6) for r in fake.requests]
    assert one_wait != plain and len(one_wait) <= len(plain)


# A batch of 60 jobs of one kind, 10-120 s evenly, started together
_BATCH = [10.0 + 110.0 * i / 59 for i in range(60)]
_BATCH_BACKOFF = gs.Backoff(first_delay=2.0, initial=2.0, multiplier=1.5, max_interval=30.0,
                            jitter=0)


def _together(fake, clock, client):
    """Requests of the batch waited by one wait_all call of ``client``."""
    jobs = [client.job(fake.add_job("sivi", ["running", "succeeded"], every=s)) for s in _BATCH]
    before = len(fake.requests)
    outcomes = gs.wait_all(jobs, timeout=None, max_in_flight=1, sleep=clock.sleep, clock=clock)
    assert all(o.state is State.SUCCEEDED for o in outcomes)
    return len(fake.requests) - before


def _stepped(fake, clock, client):
    """Requests of the batch as a Celery worker runs it: tokens made together, each stepped
    by ``client`` (one worker process) when it is due."""
    due = [(client.wait_token(fake.add_job("sivi", ["running", "succeeded"], every=s),
                              timeout=None), clock.now) for s in _BATCH]
    before = len(fake.requests)
    while due:
        due.sort(key=lambda entry: entry[1])
        token, at = due.pop(0)
        clock.sleep(max(0.0, at - clock.now))
        step = client.step(token)
        if not step.done:
            due.append((step.token, clock.now + step.retry_in))
    return len(fake.requests) - before


def _alone(fake, clock):
    """Requests of the batch, each job on a client of its own: an empty history, plain
    backoff."""
    before = len(fake.requests)
    for s in _BATCH:
        _batch_client(fake, clock).wait(fake.add_job("sivi", ["running", "succeeded"], every=s),
                                        timeout=None)
    return len(fake.requests) - before


def _batch_client(fake, clock):
    return fake.client("sivi", clock=clock, sleep=clock.sleep, backoff=_BATCH_BACKOFF)


def test_jobs_waited_together_plan_from_the_history_as_it_was_when_they_began(timed):
    # 60 jobs of one kind started together end shortest first: while they run, those that
    # ended must not teach the others that the kind is short (the history is read as it was
    # when the call began; what they teach is for the waits after it)
    fake, clock = timed
    client = _batch_client(fake, clock)
    assert _together(fake, clock, client) == _alone(fake, clock)
    assert len(client.history.durations("sivi")) > 0  # taught, for the calls after it


def test_jobs_stepped_together_plan_from_the_history_as_it_was_when_their_waits_began(timed):
    # The same batch, as a Celery worker runs it. The jobs that end first must not teach the
    # others' steps that the kind is short (before, they made 765 requests against 494);
    # they teach the waits that begin after them.
    fake, clock = timed
    client = _batch_client(fake, clock)
    began = clock.now
    assert _stepped(fake, clock, client) == _alone(fake, clock)
    history = client.history
    assert len(history.durations("sivi")) >= gs.DurationHistory.MIN_JOBS
    # a wait that began with the batch plans from none of its jobs, one that begins after it
    # from all that the history keeps
    backoff = _BATCH_BACKOFF
    assert history._schedule("sivi", backoff, began) is None
    assert history._schedule("sivi", backoff) is not None
    assert history._schedule("sivi", backoff, clock.now + 1) == history._schedule("sivi", backoff)


def test_a_batch_stepped_after_one_that_taught_the_history_plans_as_wait_all_does(timed):
    # A second batch: while it runs, its jobs push the first batch's durations out of the
    # history (and its shortest read as a new regime), but its steps keep planning from what
    # the history held when their waits began, as wait_all does (before: 344 requests
    # against 628)
    fake, clock = timed
    counts = []
    for second in (_together, _stepped):
        client = _batch_client(fake, clock)
        _together(fake, clock, client)  # teaches the history
        assert client.history._schedule("sivi", _BATCH_BACKOFF) is not None
        counts.append(second(fake, clock, client))
    assert counts[0] == counts[1]


def test_jobs_stepped_one_after_another_plan_as_waits_one_after_another(timed):
    # each token made the moment the job before was seen done (a worker whose on_done starts
    # the next job, on a coarse clock): that job's duration is known to the next wait
    fake, clock = timed
    backoff = gs.Backoff(first_delay=2.0, initial=2.0, multiplier=1.5, max_interval=30.0,
                         jitter=0)

    def one_after_another(stepped):
        client = fake.client("sivi", clock=clock, sleep=clock.sleep, backoff=backoff)
        counts = []
        for i in range(20):
            job = fake.add_job("sivi", ["running", "succeeded"], every=40.0 + i % 5)
            before = len(fake.requests)
            if stepped:
                token = client.wait_token(job, timeout=None)
                while not (step := client.step(token)).done:
                    token = step.token
                    clock.sleep(step.retry_in)
            else:
                client.wait(job, timeout=None)
            counts.append(len(fake.requests) - before)
        return counts

    waited = one_after_another(False)
    assert one_after_another(True) == waited
    alone = []  # each on a client of its own: plain backoff
    for i in range(20):
        before = len(fake.requests)
        fake.client("sivi", clock=clock, sleep=clock.sleep, backoff=backoff).wait(
            fake.add_job("sivi", ["running", "succeeded"], every=40.0 + i % 5), timeout=None)
        alone.append(len(fake.requests) - before)
    assert waited[:8] == alone[:8] and waited != alone  # the later ones planned from history


def test_a_rivya_wait_never_polls_sooner_than_the_document_asks_even_once_it_has_learned(timed):
    # Rivya: "wait 2-3 seconds after submission, poll every 5-10 seconds ... avoid tight
    # loops". Learned close polls, and jitter under the 5 s start, used to come 1.6 s apart.
    fake, clock = timed
    client = fake.client("rivya", clock=clock, sleep=clock.sleep)
    for n in range(20):
        job = fake.add_job("rivya", ["running", "succeeded"], every=300.0)
        before = len(fake.requests)
        start = clock.now
        assert client.wait(job).state is State.SUCCEEDED
        times = [r.time for r in fake.requests[before:]]
        assert 2.0 <= times[0] - start <= 3.0, n
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert min(gaps) >= 5.0 - 1e-6, (n, gaps)
    assert client.history.durations("z-image")  # (it did learn: the last waits planned)
    assert len(gaps) < 20  # a plain wait of a 300 s job polls 29 times after the first


@pytest.mark.parametrize("retry_after", ["172800", "Wed, 21 Oct 2099 07:28:00 GMT"])
def test_a_retry_after_of_more_than_a_day_holds_waits_back_to_their_deadline(timed,
                                                                            retry_after):
    # it was dropped as unusable, and the waits polled on as if none had come
    fake, clock = timed
    jobs = [fake.add_job("rivya", ["running"]) for _ in range(20)]
    client = fake.client("rivya", clock=clock, sleep=clock.sleep)
    fake.fail("rivya", 429, times=1000, retry_after=retry_after)
    with pytest.raises(gs.WaitTimeout) as info:
        client.wait(jobs[0], timeout=60)
    assert len(fake.requests) <= 2 and info.value.last_error.retry_after is None
    before = len(fake.requests)
    outcomes = gs.wait_all([client.job(job) for job in jobs[1:]], timeout=60, max_in_flight=1,
                           sleep=clock.sleep, clock=clock)
    assert all(isinstance(o, gs.WaitTimeout) for o in outcomes)
    assert len(fake.requests) - before <= 2 * len(jobs[1:])  # not ~20 each


def test_a_rivya_wait_polls_5_to_10_s_apart_for_a_normal_jobs_time_then_slows_down(timed):
    # the document: "poll every 5-10 seconds for normal jobs; slow down for long video and
    # audio jobs" (its example took a minute). Polls once spread past 10 s after 30 s, to
    # 20 s by 80 s, whatever the job.
    fake, clock = timed
    client = fake.client("rivya", clock=clock, sleep=clock.sleep)
    for n in range(5):
        job = fake.add_job("rivya", ["running"])
        start = clock.now
        with pytest.raises(gs.WaitTimeout):
            client.wait(job, timeout=600)
        times = [r.time - start for r in fake.requests if r.path.endswith(job)]
        gaps = [(a, b - a) for a, b in zip(times, times[1:])]
        assert 2.0 <= times[0] <= 3.0
        assert all(5.0 - 1e-6 <= gap <= 10.0 for at, gap in gaps if at < 90), (n, gaps)
        assert all(gap <= 22.0 for _, gap in gaps[:-1])  # 20 s at most (and jitter)
        assert max(gap for _, gap in gaps[:-1]) > 15.0  # slower for a long job


def _rivya_replying(*replies):
    """A Rivya client whose polls get ``replies`` in turn (the last one again after them)."""
    from genstatus_sync.testing import MockTransport, json_reply

    queue = list(replies)

    def provider(request):
        return json_reply(queue.pop(0) if len(queue) > 1 else queue[0])

    clock = Clock()
    return gs.RivyaClient(api_key=KEY, transport=MockTransport(provider), clock=clock,
                          sleep=clock.sleep)


def test_a_rivya_model_named_only_once_the_job_ends_is_its_kind():
    # (Rivya's document shows the model in ended replies only)
    running = {"id": "t1", "status": "running"}
    done = {"id": "t1", "status": "succeeded", "model": "z-image",
            "result": {"urls": ["https://example.test/1.png"]}}
    client = _rivya_replying(running, running, done)
    client.wait("t1")
    assert client.history.kinds() == ("z-image",)
    unnamed = _rivya_replying(running, dict(done, model=None))
    unnamed.wait("t1")
    assert unnamed.history.kinds() == ("rivya",)  # no reply named one: the provider's
