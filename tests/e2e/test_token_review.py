"""Found in a review of waits that outlive a process: a step's WaitTimeout keeps the last
status the wait read (carried in the token), a done token stepped again is a status read
(its poll's errors are raised as themselves), and a token stepped again to the same end
(a redelivered task) is recorded in the history once."""

import base64
import json
import threading
import zlib

import pytest

import genstatus_sync as gs
from genstatus_sync import JobStatus, State
from genstatus_sync import history as histories

from ..clock import Clock

START = 1_000_000.0
TIMEOUT = 30.0


def _payload(token):
    return json.loads(base64.urlsafe_b64decode(token.split(".")[2] + "=="))


def _forged(data):
    """The token of the JSON object ``data``, with the right length and checksum."""
    text = json.dumps(data, separators=(",", ":"))
    payload = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    return f"gs2.{len(payload)}.{payload}.{zlib.crc32(payload.encode()):08x}"


# (provider, job id, Sivi user, states, progress, queue positions): ids of 99 characters that
# JSON escapes, full-precision progress, queue positions, neither
CASES = {
    "sivi": ("sivi", '"' * 99, '"' * 99, ["running"],
             [7 * i + 0.12345678901234567 for i in range(40)], None),
    "clipia": ("clipia", None, None, ["queued"], None, [40 - i for i in range(40)]),
    "rivya": ("rivya", None, None, ["queued", "running"], None, None),
    "sellerpic": ("sellerpic", None, None, ["running"], None, None),
}


def _timed_out(fake, case, stepped):
    """The WaitTimeout of a wait of 30 s whose last poll (the deadline's) meets 503s, one
    wait or cut into steps (each on a fresh client, as in another process), the last status
    a step returned and the longest token."""
    provider, job_id, user, states, progress, positions = case
    fake.reset()
    clock = Clock(now=START)
    job = fake.add_job(provider, states, progress=progress, queue_positions=positions,
                       job_id=job_id, abstract_user_id=user)
    args = {} if user is None else {"abstract_user_id": user}
    deadline = START + TIMEOUT
    if not stepped:
        def sleep(seconds):
            clock.sleep(seconds)
            if clock.now >= deadline - 1e-9:
                fake.fail(provider, 503, times=10)

        with pytest.raises(gs.WaitTimeout) as info:
            fake.client(provider, clock=clock, sleep=sleep).wait(job, timeout=TIMEOUT, **args)
        return info.value, None, 0
    token = fake.client(provider, clock=clock).wait_token(job, timeout=TIMEOUT, **args)
    seen, longest = None, len(token)
    while True:
        if clock.now >= deadline - 0.25:  # the deadline's own poll (a step that early counts)
            fake.fail(provider, 503, times=10)
        try:
            step = fake.client(provider, clock=clock).step(token)
        except gs.WaitTimeout as exc:
            return exc, seen, longest
        seen = step.status or seen
        token = step.token
        longest = max(longest, len(token))
        clock.sleep(step.retry_in)


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_a_steps_wait_timeout_keeps_the_last_status_read_as_one_wait_does(fake, case):
    # its last poll met a 503: .last was None, though earlier steps read statuses
    waited, _, _ = _timed_out(fake, case, stepped=False)
    stepped, seen, longest = _timed_out(fake, case, stepped=True)
    assert seen is not None and waited.last is not None
    last = stepped.last
    assert isinstance(last, JobStatus) and last.raw is None
    assert isinstance(stepped.last_error, gs.ServerError)
    assert (last.provider, last.job_id) == (seen.provider, seen.job_id)
    assert last.state is seen.state is waited.last.state and not last.done
    assert last.queue_position == seen.queue_position == waited.last.queue_position
    # progress kept to a thousandth of a percent (a float's 17 digits cost 17 characters)
    assert last.progress == (None if seen.progress is None else round(seen.progress, 3))
    assert seen.progress == waited.last.progress
    assert (case[4] is None) == (last.progress is None)
    assert (case[5] is None) == (last.queue_position is None)
    assert last.result_urls == () and last.error is None
    assert longest < 1024  # ids of 99 printable ASCII characters: still under 1 KB


def _rivya_token(fake, **fields):
    """A real Rivya token's JSON with ``fields`` set, forged back into a token."""
    client = gs.RivyaClient(api_key="k", base_url=fake.url, clock=lambda: START)
    return _forged({**_payload(client.wait_token("job-1", timeout=TIMEOUT)), **fields})


@pytest.mark.parametrize("last", [
    [], ["done"], ["succeeded"], ["failed", 50], ["Running"], [1], [None, 5],
    ["running", "5"], ["running", True], ["running", -1], ["running", 100.5],
    ["running", float("nan")], ["running", float("inf")], ["running", 5, -1],
    ["running", 5, 2.5], ["running", 5, True], ["running", 5, 10 ** 30], ["running", 5, 3, 1],
    "running", {"state": "running"}, 7,
], ids=repr)
def test_a_token_whose_last_status_is_garbled_is_a_configuration_error(fake, last):
    token = _rivya_token(fake, ls=last)
    client = fake.client("rivya", clock=lambda: START)
    with pytest.raises(gs.ConfigurationError, match="garbled wait token"):
        client.step(token)
    assert fake.requests == []


def test_a_tokens_last_status_is_read_back_and_a_token_without_one_reads_as_before(fake):
    fake.add_job("rivya", ["running"], job_id="job-1")
    client = fake.client("rivya", clock=lambda: START + 3600)
    for last, expected in [(["queued", 12.5, 3], (State.QUEUED, 12.5, 3)),
                           (["unknown"], (State.UNKNOWN, None, None)),
                           (["running", None, 0], (State.RUNNING, None, 0))]:
        fake.fail("rivya", 503)
        with pytest.raises(gs.WaitTimeout) as info:
            client.step(_rivya_token(fake, ls=last))
        got = info.value.last
        assert (got.provider, got.job_id) == ("rivya", "job-1") and got.raw is None
        assert (got.state, got.progress, got.queue_position) == expected
    fake.fail("rivya", 503)
    with pytest.raises(gs.WaitTimeout) as info:  # (no field: a token of an older version)
        client.step(_rivya_token(fake))
    assert info.value.last is None


def _done_token(fake, clock, **kwargs):
    client = fake.client("rivya", clock=clock, sleep=clock.sleep, **kwargs)
    token = client.wait_token(fake.add_job("rivya", ["running", "succeeded"]), timeout=60)
    while True:
        step = client.step(token)
        token = step.token
        if step.done:
            return client, token
        clock.sleep(step.retry_in)


def test_a_done_token_stepped_again_raises_its_polls_transient_error(fake):
    # it said done=False for a job the token knows ended, and past the deadline WaitTimeout
    clock = Clock(now=START)
    client, token = _done_token(fake, clock)
    learned = client.history.durations("z-image")
    for later in (1.0, 3600.0):  # before the deadline, and long past it
        clock.sleep(later)
        fake.fail("rivya", 503)
        with pytest.raises(gs.ServerError):
            client.step(token)
        again = client.step(token)  # the provider answers again: its status
        assert again.done and again.status.state is State.SUCCEEDED and again.retry_in is None
        token = again.token
    assert client.history.durations("z-image") == learned


def test_a_done_token_stepped_again_without_a_turn_of_the_budget_raises_without_sleeping(fake):
    clock = Clock(now=START)
    client, token = _done_token(fake, clock, max_rate=0.1)
    clock.sleep(3600)
    clock.sleeps.clear()
    assert client.step(token).done  # the budget's turn, taken
    polled = len(fake.requests)
    with pytest.raises(gs.RateLimitError, match="rate budget had no turn") as info:
        client.step(token)
    assert 0 < info.value.retry_after <= 10
    assert len(fake.requests) == polled and clock.sleeps == []


def test_a_done_token_whose_status_reads_not_done_again_past_the_deadline_times_out():
    # (a provider's glitch: done, then running again) a done token stepped past its deadline
    # said done=False, retry_in 0, at every step, polling for good: no deadline held it
    from genstatus_sync.testing import FakeProviders

    with FakeProviders(api_key="k") as fake:
        clock = Clock(now=START)
        job = fake.add_job("rivya", ["running", "succeeded", "running"])
        client = fake.client("rivya", clock=clock, sleep=clock.sleep)
        token = client.wait_token(job, timeout=60)
        while not (step := client.step(token)).done:
            token = step.token
            clock.sleep(step.retry_in)
        clock.sleep(3600)
        with pytest.raises(gs.WaitTimeout) as info:
            client.step(step.token)
        assert info.value.last.state is State.RUNNING


def test_a_done_token_whose_status_reads_not_done_again_goes_on_as_a_wait():
    # (a provider's glitch) the token given back was still a done one: its next step, made
    # early, polled at once, and a single 503 was raised, which ended a Celery wait
    from genstatus_sync.testing import FakeProviders

    with FakeProviders(api_key="k") as fake:
        clock = Clock(now=START)
        job = fake.add_job("rivya", ["running", "succeeded", "running", "running",
                                     "succeeded"])
        client = fake.client("rivya", clock=clock, sleep=clock.sleep, max_retries=0)
        token = client.wait_token(job, timeout=600)
        while not (step := client.step(token)).done:
            token = step.token
            clock.sleep(step.retry_in)
        glitch = client.step(step.token)
        assert not glitch.done and glitch.status.state is State.RUNNING and glitch.retry_in > 0
        assert "x" not in _payload(glitch.token)
        polled = len(fake.requests)
        early = client.step(glitch.token)  # before it is due: no poll
        assert early.status is None and len(fake.requests) == polled
        clock.sleep(glitch.retry_in)
        fake.fail("rivya", 503)
        failed = client.step(glitch.token)  # a transient error is the step's, not raised
        assert isinstance(failed.error, gs.ServerError) and not failed.done
        token = failed.token
        while not (step := client.step(token)).done:
            token = step.token
            clock.sleep(step.retry_in)
        assert step.status.state is State.SUCCEEDED


AT_ONCE = gs.Backoff(first_delay=0, initial=1, jitter=0)  # (a first poll due at once)


def _ending_token(fake, client):
    """A token (not a done one) whose step sees the job done, on the wall clock (the
    client's own), and that step."""
    token = client.wait_token(fake.add_job("sivi", ["succeeded"]))
    step = client.step(token)
    assert step.done
    return token, step


def test_a_token_stepped_again_to_the_same_end_is_recorded_once(fake):
    # a redelivered task (or a cron run that crashed before it kept the next token) steps
    # the same token again and sees the job done again: its duration was recorded twice
    client = fake.client("sivi", backoff=AT_ONCE)
    token, first = _ending_token(fake, client)
    learned, text = client.history.durations("sivi"), client.history.dumps()
    assert len(learned) == 1
    for _ in range(3):
        again = fake.client("sivi", backoff=AT_ONCE, history=client.history).step(token)
        assert again.done and again.status.state is State.SUCCEEDED
        client.step(first.token)  # (and the done token, as before)
    assert client.history.durations("sivi") == learned
    assert client.history.dumps() == text  # (what it remembers of the waits is not dumped)
    # another wait, of another job or of the same one, is another job's duration
    _ending_token(fake, client)
    assert len(client.history.durations("sivi")) == 2
    assert client.step(client.wait_token(_payload(token)["j"])).done
    assert len(client.history.durations("sivi")) == 3


def test_a_token_stepped_again_by_threads_at_once_is_recorded_once(fake):
    # (its first step in another process: a history of its own)
    token, _ = _ending_token(fake, fake.client("sivi", backoff=AT_ONCE))
    client = fake.client("sivi", backoff=AT_ONCE)
    start, done = threading.Barrier(8), []

    def replay():
        start.wait(10)
        done.append(client.step(token).done)

    threads = [threading.Thread(target=replay) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert done == [True] * 8
    assert len(client.history.durations("sivi")) == 1


def test_runs_of_a_simulation_on_a_clock_from_0_each_teach_the_history(fake):
    # (found in review of the check above: runs of a simulation, each on a virtual clock
    # from 0 and a fresh fake whose ids start again, are waits of the same job begun at the
    # same reading; they were taken for one wait stepped again, and only the first learned)
    history = gs.DurationHistory()
    for polls in (3, 5, 7, 4):
        fake.reset()
        clock = Clock(now=0.0)
        job = fake.add_job("sivi", ["running"] * polls + ["succeeded"], job_id="same")
        client = fake.client("sivi", clock=clock, sleep=clock.sleep, history=history)
        token = client.wait_token(job, timeout=None)
        while not (step := client.step(token)).done:
            token = step.token
            clock.sleep(step.retry_in)
    assert len(history.durations("sivi")) == 4


def test_the_waits_a_history_remembers_are_bounded_and_not_carried_by_loads():
    history = gs.DurationHistory()
    waits = [("sivi", START + i, 7) for i in range(histories._MAX_WAITS + 100)]
    assert all(history._first_record(wait) for wait in waits)
    assert len(history._waits) == histories._MAX_WAITS
    assert not any(history._first_record(wait) for wait in waits[-histories._MAX_WAITS:])
    assert history._first_record(waits[0])  # the oldest, forgotten
    history.add("sivi", 12.0)
    loaded = gs.DurationHistory.loads(history.dumps())
    assert loaded._first_record(waits[-1]) and loaded.durations("sivi") == (12.0,)
