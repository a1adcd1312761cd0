"""Waits that outlive a process: a wait cut into steps (fresh clients, fresh processes)
makes the same requests at the same times as one wait, also on a schedule learned from a
history (the same for both); bad tokens are refused, saying why."""

import json
import math
import subprocess
import sys
import textwrap
from urllib.parse import unquote

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import genstatus_sync as gs
from genstatus_sync import State
from genstatus_sync.testing import FakeProviders

from ..clock import Clock
from ..conftest import KEY

PROVIDERS = ["sivi", "rivya", "sellerpic", "clipia"]


jobs = st.tuples(
    st.sampled_from(PROVIDERS),
    st.lists(st.sampled_from(["queued", "running"]), min_size=0, max_size=12),
    st.sampled_from(["succeeded", "failed", "running"]),  # running: never ends, times out
    st.booleans(),  # progress reported
    st.lists(st.sampled_from([0, 503, 429]), min_size=0, max_size=4),  # failures, in order
    st.sampled_from([30.0, 120.0, 600.0]),
    st.sampled_from([None, 8.0, 60.0]),  # None: no history; else the median its kind took
)


def _history_text(median):
    """A history in which each provider's kind (Rivya's: its model) took about ``median``."""
    if median is None:
        return None
    history = gs.DurationHistory()
    for kind in ("sivi", "z-image", "sellerpic", "clipia"):
        for i in range(16):
            history.add(kind, median * (0.85 + 0.02 * ((7 * i) % 16)))  # in no order
    return history.dumps()


def _run(fake, clock, provider, states, failures, timeout, progress, stepped, history=None):
    """The requests (times on the virtual clock, paths, Sivi queries) and the outcome of one
    wait of a job, or of its wait cut into steps, each on a fresh client (all of one run
    sharing a history read from the text ``history``, when given)."""
    shared = None if history is None else gs.DurationHistory.loads(history)
    fake.reset()
    clock.now = clock.base
    job = fake.add_job(provider, states, progress=progress,
                       job_id="1234567" if provider == "sellerpic" else "job-1")
    for status in failures:
        if status:
            fake.fail(provider, status, retry_after=7 if status == 429 else None)
    if not stepped:
        with fake.client(provider, clock=clock, sleep=clock.sleep, history=shared) as client:
            try:
                outcome = client.wait(job, timeout=timeout, raise_on_failure=False).state
            except gs.WaitTimeout as exc:
                outcome = ("timeout", exc.polls)
    else:
        with fake.client(provider, clock=clock, history=shared) as client:
            token = client.wait_token(job, timeout=timeout)
        while True:
            with fake.client(provider, clock=clock, sleep=clock.sleep, history=shared) as client:
                try:
                    step = client.step(token)
                except gs.WaitTimeout as exc:
                    outcome = ("timeout", exc.polls)
                    break
            if step.done:
                outcome = step.status.state
                break
            token = step.token
            clock.sleep(step.retry_in)
    requests = [(round(r.time - clock.base, 6), r.path, r.query.get("queryParams"))
                for r in fake.requests]
    return requests, outcome


@pytest.fixture(scope="module")
def stepping():
    clock = Clock(now=1_000_000.0)
    clock.base = clock.now
    with FakeProviders(api_key=KEY, clock=clock) as fake:
        yield fake, clock


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(job=jobs)
def test_a_wait_cut_into_steps_makes_the_same_requests_as_one_wait(stepping, job):
    fake, clock = stepping
    provider, middle, last, with_progress, failures, timeout, median = job
    states = middle + [last]
    progress = ([None if s == "queued" else round(100 * (i + 1) / (len(states) + 1))
                 for i, s in enumerate(states)] if with_progress else None)
    history = _history_text(median)
    wait_requests, wait_outcome = _run(fake, clock, provider, states, failures, timeout,
                                       progress, stepped=False, history=history)
    step_requests, step_outcome = _run(fake, clock, provider, states, failures, timeout,
                                       progress, stepped=True, history=history)
    assert step_outcome == wait_outcome
    assert step_requests == wait_requests


def test_a_learned_schedule_is_followed_by_steps_too(stepping):
    """The history changes the schedule (so the property above covers a learned one), and
    steps follow it as one wait does."""
    fake, clock = stepping
    states = ["queued"] + ["running"] * 6 + ["succeeded"]
    plain, _ = _run(fake, clock, "rivya", states, [], 600.0, None, stepped=False)
    learned, _ = _run(fake, clock, "rivya", states, [], 600.0, None, stepped=False,
                      history=_history_text(300.0))
    stepped, _ = _run(fake, clock, "rivya", states, [], 600.0, None, stepped=True,
                      history=_history_text(300.0))
    assert [t for t, _, _ in learned] != [t for t, _, _ in plain]
    assert stepped == learned


STEP_IN_A_FRESH_PROCESS = textwrap.dedent("""
    import json, sys
    from genstatus_sync.testing import FakeProviders
    import genstatus_sync as gs
    provider, url, key, token, now = sys.argv[1:6]
    client = gs.__getattr__({"sivi": "SiviClient", "rivya": "RivyaClient",
                             "sellerpic": "SellerPicClient", "clipia": "ClipiaClient"}[provider])(
        api_key=key, base_url=url, clock=lambda: float(now), sleep=lambda s: None)
    step = client.step(token)
    print(json.dumps({"done": step.done, "retry_in": step.retry_in, "token": step.token,
                      "state": step.status.state.value if step.status else None}))
""")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_steps_in_fresh_processes_follow_the_same_schedule(stepping, provider):
    fake, clock = stepping
    states = ["queued", "running", "running", "succeeded"]
    expected, outcome = _run(fake, clock, provider, states, [503], 600.0, None, stepped=False)
    assert outcome is State.SUCCEEDED
    fake.reset()
    clock.now = clock.base
    job = fake.add_job(provider, states, job_id="1234567" if provider == "sellerpic" else "job-1")
    fake.fail(provider, 503)
    token = fake.client(provider, clock=clock).wait_token(job, timeout=600.0)
    while True:
        out = subprocess.run([sys.executable, "-c", STEP_IN_A_FRESH_PROCESS, provider,
                              fake.url, KEY, token, repr(clock.now)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        step = json.loads(out.stdout)
        if step["done"]:
            break
        token = step["token"]
        clock.now += step["retry_in"]
    assert step["state"] == "succeeded"
    got = [(round(r.time - clock.base, 6), r.path, r.query.get("queryParams"))
           for r in fake.requests]
    assert got == expected


def test_an_early_step_makes_no_request_and_says_when(fake):
    clock = Clock(now=1_000_000.0)
    client = fake.client("rivya", clock=clock, sleep=clock.sleep)
    job = fake.add_job("rivya", ["running", "succeeded"])
    token = client.wait_token(job)
    step = client.step(token)
    assert fake.requests == [] and step.status is None and step.error is None
    assert step.retry_in == pytest.approx(client.backoff.delay(0, 0.5), rel=0.11)
    clock.sleep(step.retry_in)
    step = client.step(step.token)
    assert step.status.state is State.RUNNING and len(fake.requests) == 1


def test_a_transient_error_is_a_step_with_its_error_and_retry_after(fake):
    clock = Clock(now=1_000_000.0)
    client = fake.client("clipia", clock=clock, sleep=clock.sleep)
    job = fake.add_job("clipia", ["running"])
    fake.fail("clipia", 429, retry_after=40)
    step = client.step(client.wait_token(job))
    assert step.status is None and isinstance(step.error, gs.RateLimitError)
    assert step.retry_in >= 40 and not step.done


def test_a_step_past_the_deadline_polls_once_more_then_times_out(fake):
    clock = Clock(now=1_000_000.0)
    client = fake.client("rivya", clock=clock, sleep=clock.sleep)
    job = fake.add_job("rivya", ["running"])
    token = client.wait_token(job, timeout=10)
    clock.sleep(100)
    with pytest.raises(gs.WaitTimeout) as info:
        client.step(token)
    assert info.value.polls == 1 and len(fake.requests) == 1


def test_retry_in_never_points_past_the_deadline(fake):
    clock = Clock(now=1_000_000.0)
    client = fake.client("rivya", clock=clock, sleep=clock.sleep)
    job = fake.add_job("rivya", ["running"])
    token = client.wait_token(job, timeout=12)
    while True:
        try:
            step = client.step(token)
        except gs.WaitTimeout:
            break
        assert clock.now + step.retry_in <= 1_000_000.0 + 12 + 1e-9
        token = step.token
        clock.sleep(step.retry_in)


def test_non_transient_errors_are_raised_as_by_poll(fake):
    clock = Clock(now=1_000_000.0)
    client = fake.client("rivya", clock=clock, sleep=clock.sleep)
    token = client.wait_token("no-such-job")
    clock.sleep(10)
    with pytest.raises(gs.NotFoundError):
        client.step(token)


def _token(fake, provider="rivya", **kwargs):
    client = fake.client(provider)
    return client, client.wait_token(fake.add_job(provider, ["running"]), **kwargs)


@pytest.mark.parametrize(("change", "says"), [
    (lambda t: t[:-3], "truncated"),
    (lambda t: t[: len(t) // 2], "truncated"),
    (lambda t: t.rsplit(".", 1)[0], "truncated"),
    (lambda t: t[:20] + ("A" if t[20] != "A" else "B") + t[21:], "garbled"),
    (lambda t: t.replace(".", ":", 1), "not a genstatus"),
    (lambda t: "gs3" + t[3:], "newer"),
    (lambda t: "gs0" + t[3:], "unknown version"),
    (lambda t: "", "not a genstatus"),
    (lambda t: "hello", "not a genstatus"),
    (lambda t: 42, "not a genstatus"),
    (lambda t: t + "x", "garbled"),
])
def test_a_bad_token_is_a_configuration_error_saying_which(fake, change, says):
    client, token = _token(fake)
    with pytest.raises(gs.ConfigurationError, match=says):
        client.step(change(token))
    assert fake.requests == []


@pytest.mark.parametrize("around", [("", "\n"), ("", "\r\n"), (" ", " \t\n")])
def test_a_token_read_back_with_the_newline_a_file_or_shell_adds_steps(fake, around):
    # ("a garbled wait token (its layout is damaged)": tokens kept in files end in a newline)
    client, token = _token(fake)
    step = client.step(around[0] + token + around[1])
    assert step.error is None and not step.done and step.retry_in > 0
    assert client.step(step.token + "\n").error is None


def test_a_token_of_another_provider_or_with_foreign_arguments_is_refused(fake):
    _, token = _token(fake, "sivi")
    with pytest.raises(gs.ConfigurationError, match="sivi job, given to a rivya client"):
        fake.client("rivya").step(token)
    sivi = fake.client("sivi")
    token = sivi.wait_token("r1", abstract_user_id="user-7")
    assert sivi.step(token)  # its own argument is fine
    from genstatus_sync import _token as tokens

    saved = tokens.decode(token, "sivi")
    forged = tokens.encode(tokens.Saved("rivya", "r1", (("abstract_user_id", "u"),), saved.state,
                                        saved.due))
    with pytest.raises(gs.ConfigurationError, match="takes no abstract_user_id"):
        fake.client("rivya").step(forged)


def test_a_token_is_printable_short_and_carries_no_key(fake):
    for provider in PROVIDERS:
        client = fake.client(provider)
        token = client.wait_token("9" * 18 if provider == "sellerpic" else "x" * 99)
        assert token.isascii() and token.isprintable() and len(token) < 1024
        assert KEY not in token and fake.url not in token
        import base64

        payload = base64.urlsafe_b64decode(token.split(".")[2] + "==").decode()
        assert KEY not in payload and "127.0.0.1" not in payload


@pytest.mark.parametrize("job", ["é" * 99, "😀" * 99, "任务" * 49])
def test_a_token_of_a_non_ascii_id_is_short_ascii_and_resumes_that_job(fake, job):
    # (its id is carried as UTF-8: an emoji 4 bytes, not the 12 of a JSON escape)
    clock = Clock()
    client = fake.client("rivya", clock=clock, sleep=clock.sleep)
    fake.add_job("rivya", ["running", "succeeded"], job_id=job)
    token = client.wait_token(job)
    assert token.isascii() and token.isprintable() and len(token) < 1024
    clock.sleep(client.step(token).retry_in)  # (an early step says when, asking nothing)
    step = client.step(token)
    assert step.status.job_id == job and unquote(fake.requests[-1].path).endswith("/" + job)


def test_a_version_1_token_is_still_read(fake):
    """Tokens made before schedules learned (no kind, no progress line) carry on."""
    import base64
    import zlib

    clock = Clock(now=1_000_000.0)
    client = fake.client("rivya", clock=clock, sleep=clock.sleep)
    job = fake.add_job("rivya", ["running", "succeeded"])
    data = {"v": 1, "p": "rivya", "j": job, "a": [], "s": clock.now, "d": clock.now + 600,
            "r": 7, "n": 0, "pp": None, "pa": False, "ra": None, "du": clock.now + 2.5}
    payload = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    token = f"gs1.{len(payload)}.{payload}.{zlib.crc32(payload.encode()):08x}"
    clock.sleep(2.5)
    step = client.step(token)
    assert step.status.state is State.RUNNING and step.token.startswith("gs2.")
    clock.sleep(step.retry_in)
    assert client.step(step.token).done
    assert client.history.durations("z-image")


def test_a_token_naming_an_impossible_kind_is_garbled(fake):
    from genstatus_sync import _token as tokens

    client = fake.client("rivya")
    saved = tokens.decode(client.wait_token("job", kind="portrait"), "rivya")
    for kind in ("\ud800", "x" * 101):
        forged = tokens.encode(tokens.Saved("rivya", "job", (), attrs.evolve(saved.state,
                                                                            kind=kind),
                                            saved.due))
        with pytest.raises(gs.ConfigurationError, match="garbled"):
            client.step(forged)
    assert fake.requests == []


def test_retry_in_never_points_past_the_deadline_whatever_the_token_says(fake):
    # a token whose next poll is due long after its deadline (written on another machine's
    # clock, or by hand) still says to come back by the deadline, and times out there
    clock = Clock(now=1_000_000.0)
    client = fake.client("rivya", clock=clock, sleep=clock.sleep)
    job = fake.add_job("rivya", ["running"])
    token = client.wait_token(job, timeout=12)
    due = json.loads(_payload(token))["du"]
    late = _forged(json.dumps({**json.loads(_payload(token)), "du": due + 1e6}))
    step = client.step(late)
    assert not step.done and step.status is None
    assert step.retry_in == pytest.approx(12.0)
    clock.sleep(step.retry_in - 0.2)  # (a scheduler a little early: the deadline's poll)
    polled = len(fake.requests)
    with pytest.raises(gs.WaitTimeout):
        client.step(step.token)
    assert len(fake.requests) == polled + 1


@pytest.mark.parametrize("value", [math.nan, "x", 10**400], ids=["nan", "str", "10**400"])
def test_a_clients_clock_that_stops_giving_seconds_is_a_configuration_error(fake, value):
    # a client's clock= was checked by no one: a step or a rate-limited poll met it as a bare
    # TypeError or OverflowError, and a wait read a NaN as a deadline that never comes
    job = fake.add_job("rivya", ["running"])
    broken = []

    def clock():
        return value if broken else 1_000_000.0

    client = fake.client("rivya", clock=clock, sleep=lambda seconds: None, max_rate=50.0)
    token = client.wait_token(job, timeout=5)
    broken.append(True)
    for call in (lambda: client.step(token), lambda: client.poll(job),
                 lambda: client.wait(job, timeout=5)):
        with pytest.raises(gs.ConfigurationError, match="clock"):
            call()


def _payload(token):
    import base64

    return base64.urlsafe_b64decode(token.split(".")[2] + "==").decode()


# -- forged tokens: a valid CRC32 is anyone's to compute, so the content is checked too ----

def _forged(text):
    """A token of JSON ``text`` with the right length and checksum, as ``encode`` lays out."""
    import base64
    import zlib

    payload = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    return f"gs2.{len(payload)}.{payload}.{zlib.crc32(payload.encode()):08x}"


def _fields(fake, **changes):
    """The JSON of a real Rivya token with some fields' JSON text replaced by ``changes``."""
    import base64

    _, token = _token(fake)
    data = json.loads(base64.urlsafe_b64decode(token.split(".")[2] + "=="))
    marks = {name: f"@{name}@" for name in changes}
    text = json.dumps({**data, **marks})
    for name, value in changes.items():
        text = text.replace(f'"{marks[name]}"', value)
    return text


HUGE = "1" + "0" * 400  # a JSON int that float() cannot hold
LINE = "[0.0, 0.0, true, 0.0, 0.0, null, null, 1]"


@pytest.mark.parametrize("changes", [
    *({name: value} for name in ("s", "du", "sn", "d", "ra")
      for value in (HUGE, "-" + HUGE, "NaN", "-Infinity")),
    *({name: "Infinity"} for name in ("s", "du", "sn", "ra")),
    *({name: value} for name in ("n", "m", "r") for value in (HUGE, "-1")),
    {"d": "0"},  # a deadline before the wait's start
    {"ra": "-5"},
    {"p": json.dumps("x" * 100_000)},
    *({"l": LINE.replace("0.0", value, 1)} for value in (HUGE, "NaN", "Infinity", "1e300")),
    {"l": LINE.replace("1]", HUGE + "]")},
    {"l": "[5.0, 10.0, false, 6.0, 20.0, 1.0, 0.5, 3]"},  # lowest rate above the highest
    {"l": "[6.0, 10.0, false, 5.0, 20.0, null, null, 3]"},  # first after last
], ids=repr)
def test_a_forged_token_with_impossible_numbers_is_garbled(fake, changes):
    client, _ = _token(fake)
    fake.reset()
    with pytest.raises(gs.ConfigurationError, match="garbled"):
        client.step(_forged(_fields(fake, **changes)))
    assert fake.requests == []


@pytest.mark.parametrize(("token", "says"), [
    (lambda: _forged("[" * 100_000 + "]" * 100_000), "garbled"),  # RecursionError in json
    (lambda: _forged('{"v": 2, "p": ' + "[" * 100_000 + "]" * 100_000 + "}"), "garbled"),
    (lambda: "gs2." + "9" * 5000 + ".AAAA.00000000", "garbled"),  # int() of 5,000 digits
    (lambda: "gs2.4." + "A" * 300_000 + ".00000000", "garbled"),
    (lambda: _forged('{"v": 2, "n": ' + "9" * 5000 + "}"), "garbled"),
], ids=["deep list", "deep field", "length of 5000 digits", "300 kB", "int of 5000 digits"])
def test_a_pathological_token_is_a_configuration_error(fake, token, says):
    client, _ = _token(fake)
    with pytest.raises(gs.ConfigurationError, match=says):
        client.step(token())


def test_a_forged_token_of_any_number_raises_nothing_but_configuration_errors(fake):
    client, _ = _token(fake)
    numbers = ["0", "-0.0", "1e308", "-1e308", "5e-324", HUGE, "-" + HUGE, "1e400", "NaN",
               "Infinity", "-Infinity", "9" * 4000]
    foreign = []
    for name in ("s", "d", "r", "n", "sn", "m", "ra", "du"):
        for number in numbers:
            try:
                client.step(_forged(_fields(fake, **{name: number})))
            except gs.GenStatusError:
                pass
            except Exception as exc:  # noqa: BLE001 - what the test looks for
                foreign.append(f"{name}={number[:20]}: {type(exc).__name__}: {exc}")
    assert foreign == []


@pytest.mark.parametrize("timeout", [math.inf, 10**300, 1e300])
def test_a_wait_of_an_endless_or_huge_timeout_still_steps(fake, timeout):
    clock = Clock(now=1_000_000.0)
    client = fake.client("rivya", clock=clock)
    token = client.wait_token(fake.add_job("rivya", ["running"]), timeout=timeout)
    clock.sleep(60)
    step = client.step(token)
    assert step.status.state is State.RUNNING and not step.done and 0 < step.retry_in < 60
    assert client.step(step.token).status is None  # early: its next poll is not due yet


# -- found in a review of waits that outlive a process --------------------------------------

def test_a_done_token_stepped_again_polls_once_more_and_teaches_nothing(fake):
    # a Celery redelivery or a cron run again: it recorded the job as taking until now
    clock = Clock(now=1_000_000.0)
    client = fake.client("rivya", clock=clock, sleep=clock.sleep)
    token = client.wait_token(fake.add_job("rivya", ["running", "succeeded"]))
    while True:
        step = client.step(token)
        token = step.token
        if step.done:
            break
        clock.sleep(step.retry_in)
    learned = client.history.durations("z-image")
    assert len(learned) == 1 and learned[0] < 60
    polls = len(fake.requests)
    for _ in range(3):
        clock.sleep(3600)
        again = client.step(token)
        assert again.done and again.status.state is State.SUCCEEDED
        token = again.token
    assert len(fake.requests) == polls + 3
    assert client.history.durations("z-image") == learned


def test_a_step_held_by_the_rate_budget_returns_when_to_come_back_without_sleeping(fake):
    # step() slept in the call for max_rate and for a 429's Retry-After, holding the worker
    clock = Clock(now=1_000_000.0)
    client = fake.client("rivya", clock=clock, sleep=clock.sleep, max_rate=0.2)
    tokens = [client.wait_token(fake.add_job("rivya", ["running"])) for _ in range(3)]
    clock.sleep(30)
    clock.sleeps.clear()
    first = client.step(tokens[0])
    assert first.status.state is State.RUNNING
    held = client.step(tokens[1])
    assert held.status is None and held.error is None and not held.done
    assert held.retry_in == pytest.approx(5.0, abs=0.3)
    assert len(fake.requests) == 1 and clock.sleeps == []
    clock.sleep(held.retry_in)
    assert client.step(held.token).status.state is State.RUNNING
    assert len(fake.requests) == 2

    other = fake.client("clipia", clock=clock, sleep=clock.sleep)
    jobs = [other.wait_token(fake.add_job("clipia", ["running"])) for _ in range(2)]
    fake.fail("clipia", 429, retry_after=90)
    assert isinstance(other.step(jobs[0]).error, gs.RateLimitError)
    clock.sleeps.clear()
    paused = other.step(jobs[1])  # another job of the client: the pause is the account's
    assert paused.status is None and paused.retry_in == pytest.approx(90, abs=1)
    assert clock.sleeps == [] and len(fake.requests) == 3


def test_a_step_held_by_the_budget_at_its_deadline_times_out_without_a_request(fake):
    clock = Clock(now=1_000_000.0)
    client = fake.client("clipia", clock=clock, sleep=clock.sleep)
    jobs = [client.wait_token(fake.add_job("clipia", ["running"]), timeout=20)
            for _ in range(2)]
    fake.fail("clipia", 429, retry_after=90)
    client.step(jobs[0])
    clock.sleep(30)  # past the second wait's deadline, within the client's pause
    clock.sleeps.clear()
    with pytest.raises(gs.WaitTimeout, match="rate budget") as info:
        client.step(jobs[1])  # (its last poll has the client's own timeout, not the pause)
    assert isinstance(info.value.last_error, gs.RateLimitError) and len(fake.requests) == 1
    assert clock.sleeps == []


def test_steps_that_come_back_early_make_the_requests_of_one_wait(fake):
    # a scheduler that rounds down came back before the deadline's poll again and again,
    # each time polling: 29 requests where one wait makes 7
    clock = Clock(now=1_000_000.0)
    with fake.client("rivya", clock=clock, sleep=clock.sleep) as client, pytest.raises(
            gs.WaitTimeout):
        client.wait(fake.add_job("rivya", ["running"]), timeout=61)
    waited = len(fake.requests)
    fake.reset()
    clock.now = 1_000_000.0
    client = fake.client("rivya", clock=clock, sleep=clock.sleep)
    token = client.wait_token(fake.add_job("rivya", ["running"]), timeout=61)
    for _ in range(500):
        try:
            step = client.step(token)
        except gs.WaitTimeout:
            break
        token = step.token
        clock.sleep(max(0.0, step.retry_in - 0.2))
    else:
        pytest.fail("the steps never reached their deadline")
    assert len(fake.requests) == waited


def test_a_late_step_gets_the_clients_own_timeout_for_its_last_poll(fake):
    # its last poll had only wait()'s grace (0.4 s): a job done long ago, a reply of 0.7 s, and
    # the step said WaitTimeout
    clock = Clock(now=1_000_000.0)
    client = fake.client("rivya", clock=clock, sleep=clock.sleep)
    token = client.wait_token(fake.add_job("rivya", ["succeeded"]), timeout=10)
    clock.sleep(3600)
    fake.latency("rivya", 0.7)
    step = client.step(token)
    assert step.done and step.status.state is State.SUCCEEDED


def test_a_huge_token_is_refused_as_too_long_before_it_is_read(fake):
    client, _ = _token(fake)
    with pytest.raises(gs.ConfigurationError, match="longer than"):
        client.step("gs2." + "." * 5_000_000)


def test_a_job_handle_steps_its_own_token_and_refuses_others(stepping):
    # job.step took a private record, not the token job.wait_token gives: a token was a bare
    # AttributeError ('str' object has no attribute 'state')
    fake, clock = stepping
    fake.reset()
    with fake.client("sivi", clock=clock) as client:
        job = client.job(fake.add_job("sivi", ["running", "succeeded"]),
                         abstract_user_id="user-1")
        other = client.job(job.job_id, abstract_user_id="user-2")
        token = job.wait_token(timeout=60)
        for wrong in (other, client.job("another-job", abstract_user_id="user-1")):
            with pytest.raises(gs.ConfigurationError, match="wait token is for sivi job"):
                wrong.step(token)
        for bad in (None, 42, "", token[:-3]):
            with pytest.raises(gs.ConfigurationError):
                job.step(bad)
        assert fake.requests == []  # nothing refused was polled
        while True:
            step = job.step(token)
            if step.done:
                break
            clock.sleep(step.retry_in)
            token = step.token
    assert step.status.state is State.SUCCEEDED and len(fake.requests) == 2


@pytest.mark.parametrize("reading", [2e18, 1.8e18, -2e18])  # time.time_ns for time.time
def test_a_clock_a_token_cannot_hold_is_named_at_wait_token(reading):
    # it made a token that step() then called garbled
    client = gs.RivyaClient(api_key=KEY, base_url="http://127.0.0.1:9", clock=lambda: reading)
    with pytest.raises(gs.ConfigurationError, match="clock= must return seconds"):
        client.wait_token("task-1")
    with pytest.raises(gs.ConfigurationError, match="clock= must return seconds"):
        client.job("task-1").wait_token()
