"""wait(), wait_all() and Backoff with a virtual clock: nothing sleeps for real."""

import logging
import random

import pytest

import genstatus_sync as gs
from genstatus_sync import JobStatus, State
from genstatus_sync._wait import iter_wait_all


class Clock:
    """A virtual monotonic clock; ``sleep`` records each delay and advances time."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def status(state, progress=None, queue=None, raw=None):
    return JobStatus(provider="p", job_id="j", state=state, progress=progress,
                     queue_position=queue, raw=raw)


NO_JITTER = gs.Backoff(first_delay=0.0, initial=1.0, multiplier=2.0, max_interval=8.0, jitter=0)


def scripted(results):
    """A poll() that returns (or raises) the given results in turn, the last repeating."""
    calls = []

    def poll():
        item = results[min(len(calls), len(results) - 1)]
        calls.append(item)
        if isinstance(item, BaseException):
            raise item
        return item

    poll.calls = calls
    return poll


def test_backoff_delay_sequence_and_cap():
    delays = NO_JITTER.delays()
    assert [next(delays) for _ in range(7)] == [0.0, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_backoff_jitter_stays_in_bounds():
    backoff = gs.Backoff(first_delay=2.0, initial=1.0, multiplier=1.5, max_interval=30, jitter=0.1)
    delays = backoff.delays(random.Random(7))
    plain = gs.Backoff(first_delay=2.0, initial=1.0, multiplier=1.5, max_interval=30,
                       jitter=0).delays()
    seen = [(next(delays), next(plain)) for _ in range(200)]
    assert all(0.9 * p <= d <= 1.1 * p for d, p in seen)
    assert len({round(d / p, 6) for d, p in seen[1:]}) > 100


@pytest.mark.parametrize("kwargs", [{"initial": 0}, {"initial": -1}, {"multiplier": 0.5},
                                    {"jitter": 1.0}, {"max_interval": 0},
                                    {"first_delay": float("nan")}, {"initial": "1"},
                                    {"max_interval": float("inf")}, {"jitter": True}])
def test_backoff_rejects_nonsense(kwargs):
    with pytest.raises(gs.ConfigurationError):
        gs.Backoff(**kwargs)


def test_backoff_caps_an_initial_delay_above_its_cap():
    delays = gs.Backoff(initial=5, max_interval=2, jitter=0).delays()
    assert [next(delays) for _ in range(4)] == [0.0, 2.0, 2.0, 2.0]


def test_backoff_is_a_frozen_value():
    backoff = gs.Backoff()
    with pytest.raises(AttributeError):
        backoff.initial = 3  # type: ignore[misc]
    assert backoff == gs.Backoff()


def test_wait_polls_on_the_backoff_schedule_until_done():
    clock = Clock()
    poll = scripted([status(State.QUEUED), status(State.RUNNING), status(State.RUNNING),
                     status(State.SUCCEEDED)])
    result = gs.wait(poll, is_done=lambda s: s.done, backoff=NO_JITTER, sleep=clock.sleep,
                     clock=clock)
    assert result.state is State.SUCCEEDED
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert len(poll.calls) == 4


def test_first_delay_is_slept_before_the_first_poll():
    clock = Clock()
    backoff = gs.Backoff(first_delay=2.5, initial=5, multiplier=1, max_interval=5, jitter=0)
    gs.wait(scripted([status(State.QUEUED), status(State.SUCCEEDED)]), is_done=lambda s: s.done,
            backoff=backoff, sleep=clock.sleep, clock=clock)
    assert clock.sleeps == [2.5, 5]


def test_deadline_is_never_crossed_and_the_last_poll_is_at_it():
    clock = Clock()
    start = clock.now
    poll_times = []

    def poll():
        poll_times.append(clock.now)
        return status(State.RUNNING)

    with pytest.raises(gs.WaitTimeout) as info:
        gs.wait(poll, is_done=lambda s: s.done, timeout=10.0, backoff=NO_JITTER,
                sleep=clock.sleep, clock=clock)
    assert clock.now == start + 10.0
    assert poll_times[-1] == start + 10.0
    assert all(t <= start + 10.0 for t in poll_times)
    assert clock.sleeps == [1.0, 2.0, 4.0, 3.0]
    exc = info.value
    assert isinstance(exc, TimeoutError)
    assert exc.polls == 5 and exc.elapsed == 10.0
    assert exc.last.state is State.RUNNING and exc.last_error is None


def test_timeout_zero_polls_once():
    clock = Clock()
    with pytest.raises(gs.WaitTimeout) as info:
        gs.wait(scripted([status(State.RUNNING)]), is_done=lambda s: s.done, timeout=0,
                backoff=gs.Backoff(first_delay=5), sleep=clock.sleep, clock=clock)
    assert info.value.polls == 1 and clock.sleeps == []


def test_retry_after_wins_when_longer_and_never_passes_the_deadline():
    clock = Clock()
    limited = gs.RateLimitError("slow down", status_code=429, retry_after=6.0)
    short = gs.ServerError("busy", status_code=503, retry_after=0.5)
    poll = scripted([limited, short, status(State.SUCCEEDED)])
    gs.wait(poll, is_done=lambda s: s.done, backoff=NO_JITTER, sleep=clock.sleep, clock=clock)
    assert clock.sleeps == [6.0, 2.0]
    clock = Clock()
    far = gs.RateLimitError("later", status_code=429, retry_after=100.0)
    with pytest.raises(gs.WaitTimeout) as info:
        gs.wait(scripted([far]), is_done=lambda s: s.done, timeout=30, backoff=NO_JITTER,
                sleep=clock.sleep, clock=clock)
    assert clock.sleeps == [30.0]
    assert info.value.last is None and info.value.last_error is far


def test_transient_errors_are_tolerated():
    clock = Clock()
    poll = scripted([gs.TransportError("reset"), gs.ServerError("x", status_code=502),
                     gs.RateLimitError("x", status_code=429), status(State.SUCCEEDED)])
    assert gs.wait(poll, is_done=lambda s: s.done, backoff=NO_JITTER, sleep=clock.sleep,
                   clock=clock).state is State.SUCCEEDED
    assert len(poll.calls) == 4


@pytest.mark.parametrize("error", [gs.AuthenticationError("no", status_code=401),
                                   gs.NotFoundError("no", status_code=404),
                                   gs.ResponseFormatError("bad"), KeyboardInterrupt()])
def test_other_errors_propagate_at_once(error):
    clock = Clock()
    poll = scripted([status(State.RUNNING), error, status(State.SUCCEEDED)])
    with pytest.raises(type(error)):
        gs.wait(poll, is_done=lambda s: s.done, backoff=NO_JITTER, sleep=clock.sleep,
                clock=clock)
    assert len(poll.calls) == 2


def test_on_update_fires_on_first_poll_and_on_changes_only():
    clock = Clock()
    seen = []
    poll = scripted([status(State.QUEUED, queue=2), status(State.QUEUED, queue=2),
                     status(State.QUEUED, queue=1), status(State.RUNNING, 10),
                     status(State.RUNNING, 10), status(State.RUNNING, 50),
                     status(State.SUCCEEDED, 100)])
    gs.wait(poll, is_done=lambda s: s.done, backoff=NO_JITTER, on_update=seen.append,
            sleep=clock.sleep, clock=clock)
    assert [(s.state, s.progress, s.queue_position) for s in seen] == [
        (State.QUEUED, None, 2), (State.QUEUED, None, 1), (State.RUNNING, 10, None),
        (State.RUNNING, 50, None), (State.SUCCEEDED, 100, None)]


def test_unknown_state_warns_once_per_value_and_keeps_polling(caplog):
    class Raw:
        def __init__(self, value):
            self.status = value

    clock = Clock()
    poll = scripted([status(State.UNKNOWN, raw=Raw("moderating")),
                     status(State.UNKNOWN, raw=Raw("moderating")),
                     status(State.UNKNOWN, raw=Raw("paused")), status(State.SUCCEEDED)])
    with caplog.at_level(logging.WARNING, logger="genstatus_sync"):
        gs.wait(poll, is_done=lambda s: s.done, backoff=NO_JITTER, sleep=clock.sleep,
                clock=clock)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "'moderating'" in warnings[0] and "'paused'" in warnings[1]


def test_generic_wait_works_for_any_callable():
    clock = Clock()
    values = iter(range(10))
    assert gs.wait(lambda: next(values), is_done=lambda n: n >= 3, backoff=NO_JITTER,
                   sleep=clock.sleep, clock=clock) == 3


def test_progress_lets_a_steady_job_be_polled_less():
    """Linear progress predicts the end: one long sleep instead of the backoff's many."""
    def run(with_progress):
        clock = Clock()
        start = clock.now
        duration = 100.0

        def poll():
            elapsed = clock.now - start
            if elapsed >= duration:
                return status(State.SUCCEEDED)
            return status(State.RUNNING, 100 * elapsed / duration if with_progress else None)

        backoff = gs.Backoff(first_delay=1, initial=1, multiplier=1.5, max_interval=30, jitter=0)
        gs.wait(poll, is_done=lambda s: s.done, backoff=backoff, sleep=clock.sleep, clock=clock)
        return len(clock.sleeps), clock.now - start - duration

    plain_polls, plain_lag = run(False)
    smart_polls, smart_lag = run(True)
    assert smart_polls < plain_polls
    assert smart_lag <= plain_lag
    assert smart_lag <= 0.05 * 100


def test_progress_never_makes_a_sleep_longer_than_twice_the_cap():
    clock = Clock()
    start = clock.now

    def poll():  # progress that crawls: predicts an absurdly long job
        return status(State.RUNNING, 0.001 if clock.now - start < 1000 else 50)

    backoff = gs.Backoff(first_delay=1, initial=1, multiplier=2, max_interval=10, jitter=0)
    with pytest.raises(gs.WaitTimeout):
        gs.wait(poll, is_done=lambda s: s.done, timeout=500, backoff=backoff, sleep=clock.sleep,
                clock=clock)
    assert max(clock.sleeps) <= 20


class FakeClient:
    """Stands in for a provider client in wait_all: a scripted sequence per job id. Its
    ``job()`` handles have what the wait code needs (the Pollable protocol)."""

    provider = "fake"

    def __init__(self, scripts, backoff=NO_JITTER):
        self.scripts = scripts
        self.backoff = backoff
        self.calls = dict.fromkeys(scripts, 0)

    def job(self, job_id):
        return FakeJob(self, job_id)

    def poll_job(self, job_id):
        script = self.scripts[job_id]
        item = script[min(self.calls[job_id], len(script) - 1)]
        self.calls[job_id] += 1
        if isinstance(item, BaseException):
            raise item
        return JobStatus(provider="fake", job_id=job_id, state=item)


class FakeJob:
    def __init__(self, client, job_id):
        self.client, self.job_id = client, job_id
        self.provider, self.backoff = client.provider, client.backoff

    def poll_within(self, seconds):
        return self.client.poll_job(self.job_id)


def test_wait_all_returns_outcomes_in_input_order_and_isolates_failures():
    clock = Clock()
    n = 1000
    scripts = {}
    for i in range(n):
        kind = i % 5
        scripts[str(i)] = {
            0: [State.QUEUED, State.RUNNING, State.SUCCEEDED],
            1: [State.RUNNING, State.FAILED],
            2: [gs.NotFoundError("gone", status_code=404)],
            3: [State.RUNNING],  # never finishes
            4: [gs.TransportError("flaky"), State.SUCCEEDED],
        }[kind]
    client = FakeClient(scripts)
    jobs = [(client, str(i)) for i in range(n)]
    outcomes = gs.wait_all(jobs, timeout=60, sleep=clock.sleep, clock=clock)
    assert len(outcomes) == n
    for i, outcome in enumerate(outcomes):
        kind = i % 5
        if kind in (0, 4):
            assert outcome.state is State.SUCCEEDED and outcome.job_id == str(i)
        elif kind == 1:
            assert outcome.state is State.FAILED
        elif kind == 2:
            assert isinstance(outcome, gs.NotFoundError)
        else:
            assert isinstance(outcome, gs.WaitTimeout) and outcome.last.job_id == str(i)
    assert clock.now - 1000.0 == 60.0
    assert all(s >= 0 for s in clock.sleeps)


def test_iter_wait_all_yields_jobs_as_they_finish():
    clock = Clock()
    client = FakeClient({"slow": [State.RUNNING] * 5 + [State.SUCCEEDED],
                         "fast": [State.SUCCEEDED]})
    order = [i for i, _ in iter_wait_all([(client, "slow"), (client, "fast")],
                                         sleep=clock.sleep, clock=clock)]
    assert order == [1, 0]


def test_wait_all_on_update_per_job():
    clock = Clock()
    client = FakeClient({"a": [State.QUEUED, State.QUEUED, State.SUCCEEDED],
                         "b": [State.RUNNING, State.SUCCEEDED]})
    seen = []
    gs.wait_all([(client, "a"), (client, "b")], on_update=seen.append, sleep=clock.sleep,
                clock=clock)
    assert sorted((s.job_id, s.state.value) for s in seen) == [
        ("a", "queued"), ("a", "succeeded"), ("b", "running"), ("b", "succeeded")]
