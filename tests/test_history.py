"""DurationHistory: bounded, thread-safe, durations only, carried as JSON; and the schedule
fitted to it (virtual clock, fixed seeds: nothing sleeps)."""

import copy
import json
import math
import pickle
import random
import signal
import sys
import threading

import pytest

import genstatus_sync as gs
from genstatus_sync import JobStatus, State
from genstatus_sync._plan import Schedule, _plain_grid, _walk, fit, plain_after, regime

from .clock import Clock

SIVI = gs.SiviClient.default_backoff
RIVYA = gs.RivyaClient.default_backoff
CLIPIA = gs.ClipiaClient.default_backoff


def test_a_history_is_exported_and_starts_empty():
    history = gs.DurationHistory()
    assert gs.DurationHistory is type(history)
    assert len(history) == 0 and history.kinds() == () and history.durations("x") == ()
    assert repr(history) == "DurationHistory(kinds=0, durations=0)"


def test_add_records_durations_per_kind_oldest_first():
    history = gs.DurationHistory()
    for seconds in (3, 4.5, 5):
        history.add("z-image", seconds)
    history.add("sivi", 60)
    assert history.durations("z-image") == (3.0, 4.5, 5.0)
    assert history.durations("sivi") == (60.0,)
    assert history.kinds() == ("z-image", "sivi")
    assert len(history) == 4


@pytest.mark.parametrize(("kind", "seconds"), [("", 1), (None, 1), (3, 1), ("x" * 101, 1),
                                               ("\ud800", 1), ("k", -1), ("k", math.nan),
                                               ("k", math.inf), ("k", "3"), ("k", True)])
def test_add_refuses_what_is_not_a_kind_and_a_duration(kind, seconds):
    with pytest.raises(gs.ConfigurationError):
        gs.DurationHistory().add(kind, seconds)


def test_add_refuses_an_int_too_large_for_a_float_with_a_configuration_error():
    for seconds in (10**400, -(10**400), 10**5000):  # 10**5000: past int's str() limit too
        with pytest.raises(gs.ConfigurationError, match="too large for a float"):
            gs.DurationHistory().add("k", seconds)
    history = gs.DurationHistory()
    history.add("k", 10**300)  # a float still: clipped to MAX_SECONDS
    assert history.durations("k") == (history.MAX_SECONDS,)


def test_a_history_stays_small_however_many_jobs_fed_it():
    history = gs.DurationHistory()
    rng = random.Random(1)
    for i in range(20_000):
        # long kinds of the costliest characters to write: control and non-BMP characters
        kind = "".join(rng.choice("\x01\u2028\U0001f600a\"\\") for _ in range(100))
        history.add(kind if i % 7 else f"k{i % 50}", rng.uniform(0, 2e6))
    text = history.dumps()
    assert len(text.encode("utf-8")) < 64 * 1024
    assert len(history.kinds()) <= history.MAX_KINDS
    assert all(len(history.durations(k)) <= history.MAX_DURATIONS for k in history.kinds())
    assert all(d <= history.MAX_SECONDS for k in history.kinds() for d in history.durations(k))


def test_what_steps_record_stays_bounded_in_memory_too():
    # steps stamp their durations and keep some let go, for the steps of older waits: in
    # memory only, and no more of them however many jobs are stepped
    history = gs.DurationHistory()
    rng = random.Random(2)
    for i in range(5_000):
        d = 30 * math.exp(0.3 * rng.gauss(0, 1)) * (3 if i % 500 > 450 else 1)  # regimes
        history._record(f"k{i % 20}", 0.9 * d, d, made=float(i))
        if i % 5 == 0:  # a step of a wait that began a while ago
            history._schedule(f"k{i % 20}", gs.SiviClient.default_backoff, float(i - 300))
    assert len(history._kinds) <= history.MAX_KINDS
    assert set(history._made) <= set(history._kinds) and set(history._gone) <= set(history._kinds)
    for kind, records in history._kinds.items():
        assert len(history._made[kind]) == len(records) <= history.MAX_DURATIONS
        assert len(history._gone[kind]) <= 2 * history.MAX_DURATIONS
    assert len(history._prefix_fits) <= 4 * history.MAX_KINDS
    assert "made" not in history.dumps()


def test_a_step_of_an_older_wait_plans_from_what_it_knew_after_a_newer_wait_planned():
    # a wait that begins now plans from all the kind holds (and keeps that fit); a step of a
    # wait that began before the latest durations came must still plan from the earlier ones
    backoff = gs.SiviClient.default_backoff
    rng = random.Random(3)
    history = gs.DurationHistory()
    for i in range(12):  # known by t=100
        d = 30 * math.exp(0.1 * rng.gauss(0, 1))
        history._record("k", 0.97 * d, d, made=float(i))
    for i in range(12):  # recorded by steps after it: a slower lot
        d = 60 * math.exp(0.1 * rng.gauss(0, 1))
        history._record("k", 0.97 * d, d, made=200.0 + i)
    earlier = history._schedule("k", backoff, 100.0)
    assert earlier is not None and earlier != history._schedule("k", backoff)
    history._prefix_fits.clear()  # (a full cache is cleared)
    assert history._schedule("k", backoff, 100.0) == earlier


def test_the_least_recently_fed_kind_is_forgotten_first():
    history = gs.DurationHistory()
    for i in range(history.MAX_KINDS):
        history.add(f"k{i}", 1)
    history.add("k0", 2)  # fed again: now the most recent
    history.add("new", 1)
    assert "k1" not in history.kinds() and "k0" in history.kinds()
    assert history.kinds()[-1] == "new"


def test_dumps_and_loads_round_trip_and_plan_the_same():
    history = gs.DurationHistory()
    rng = random.Random(2)
    for _ in range(40):
        d = 300 * math.exp(0.2 * rng.gauss(0, 1))
        history._record("rivya-model", d * 0.97, d)
    history.add("sivi", 12.5)
    copy = gs.DurationHistory.loads(history.dumps())
    assert copy.dumps() == history.dumps()
    assert copy.durations("rivya-model") == history.durations("rivya-model")
    assert copy._schedule("rivya-model", RIVYA) == history._schedule("rivya-model", RIVYA)
    assert copy._schedule("rivya-model", RIVYA) is not None
    data = json.loads(history.dumps())  # plain JSON, durations only
    assert data["format"] == "genstatus_sync.DurationHistory" and data["version"] == 1
    assert gs.DurationHistory.loads(history.dumps().encode()).dumps() == history.dumps()


@pytest.mark.parametrize("text", [
    "", "not json", "[]", "{}", '{"format": "genstatus_sync.DurationHistory"}',
    '{"format": "genstatus_sync.DurationHistory", "version": 1}',
    '{"format": "genstatus_sync.DurationHistory", "version": 1, "kinds": {}}',
    '{"format": "genstatus_sync.DurationHistory", "version": 1, "kinds": [["k"]]}',
    '{"format": "genstatus_sync.DurationHistory", "version": 1, "kinds": [["", []]]}',
    '{"format": "genstatus_sync.DurationHistory", "version": 1, "kinds": [["k", [[2, 1]]]]}',
    '{"format": "genstatus_sync.DurationHistory", "version": 1, "kinds": [["k", [[-1, 1]]]]}',
    '{"format": "genstatus_sync.DurationHistory", "version": 1, "kinds": [["k", [["1", 2]]]]}',
    '{"format": "genstatus_sync.DurationHistory", "version": 1, "kinds": [["k", [[1, NaN]]]]}',
    '{"format": "genstatus_sync.DurationHistory", "version": 1, "kinds": [["k", [[1, 2e9]]]]}',
    '{"format": "genstatus_sync.DurationHistory", "version": 1, "kinds": [["k", []], ["k", []]]}',
    '{"format": "genstatus_sync.DurationHistory", "version": 1, "kinds": [["k", [[true, 2]]]]}',
    '{"format": "genstatus_sync.DurationHistory", "version": 1, "kinds": [["k", [[1, %s]]]]}'
    % ("9" * 400),
    '{"format": "genstatus_sync.DurationHistory", "version": 1, "kinds": [["k", [[-%s, 2]]]]}'
    % ("9" * 400),
    '{"format": "genstatus_sync.DurationHistory", "version": 1, "kinds": [["k", [[1, 1e999]]]]}',
    '{"format": "genstatus_sync.DurationHistory", "version": 1, "kinds": [["k", [[-1e999, 2]]]]}',
    '{"format": "genstatus_sync.DurationHistory", "version": 1, "kinds": [["k", [[1, Infinity]]]]}',
    '{"format": "genstatus_sync.DurationHistory", "version": 1, "kinds": [["k", [[NaN, 2]]]]}',
    '{"format": "genstatus_sync.DurationHistory", "version": 1, "kinds": [["k", [[1, false]]]]}',
    '{"format": "genstatus_sync.DurationHistory", "version": 1, "kinds": [["k", [[1, %s]]]]}'
    % ("9" * 5000),
    '{"format": "other", "version": 1, "kinds": []}',
    "[" * 100_000,
    b"\xff\xfe",
    None, 42,
])
def test_a_garbled_history_is_a_configuration_error(text):
    with pytest.raises(gs.ConfigurationError):
        gs.DurationHistory.loads(text)


def test_a_history_text_longer_than_any_dumps_is_refused_unread():
    # (a damaged cache value of 40 MB was parsed for 11 s, 600 MB, and accepted)
    kinds = ",".join(f'["k{i}", [[1.5, 2.5]]]' for i in range(60_000))
    text = '{"format": "genstatus_sync.DurationHistory", "version": 1, "kinds": [' + kinds + "]}"
    assert len(text) > gs.DurationHistory.MAX_TEXT
    for given in (text, text.encode()):
        with pytest.raises(gs.ConfigurationError, match="longer than"):
            gs.DurationHistory.loads(given)
    full = gs.DurationHistory()
    for kind in range(full.MAX_KINDS):
        for i in range(full.MAX_DURATIONS):
            full.add("k" * 90 + str(kind), 1e5 + i / 3)
    assert len(gs.DurationHistory.loads(full.dumps())) == len(full)  # (the largest it holds)


def test_a_history_reads_numbers_that_are_durations_however_written():
    text = ('{"format": "genstatus_sync.DurationHistory", "version": 1, "kinds": '
            '[["k", [[0, 1e-400], [1, 2.5E1], [0.%s1, 1000000]]]]}' % ("0" * 400))
    assert gs.DurationHistory.loads(text).durations("k") == (0.0, 25.0, 1e6)


def test_a_newer_history_says_so():
    text = '{"format": "genstatus_sync.DurationHistory", "version": 2, "kinds": []}'
    with pytest.raises(gs.ConfigurationError, match="newer"):
        gs.DurationHistory.loads(text)


def test_every_truncation_of_a_history_is_refused_or_read_whole():
    history = gs.DurationHistory()
    for i in range(12):
        history.add("k", 10 + i)
    text = history.dumps()
    for end in range(len(text)):
        with pytest.raises(gs.ConfigurationError):
            gs.DurationHistory.loads(text[:end])


def test_durations_given_rounded_start_no_new_regime_when_the_longest_comes_in_a_row():
    # whole seconds, 10-14 s in turn, then 14 s three times: the slower-kind test read the
    # ties at the longest duration seen as jobs surely running longer, and dropped 19 of the
    # 23 durations (seen in the thread-safety test below, whose threads interleave so)
    history = gs.DurationHistory()
    for i in range(20):
        history.add("k", 10 + i % 5)
    for _ in range(6):
        history.add("k", 14)
    assert len(history.durations("k")) == 26


def test_a_history_is_thread_safe():
    history = gs.DurationHistory()
    errors = []

    def feed(n):
        try:
            for i in range(300):
                history.add(f"k{n % 3}", 10 + (i % 5))
                history._schedule(f"k{n % 3}", SIVI)
                history.dumps()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=feed, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(history) == 3 * history.MAX_DURATIONS
    gs.DurationHistory.loads(history.dumps())


def test_a_history_holds_no_job_id_and_no_key(fake):
    from .conftest import KEY

    history = gs.DurationHistory()
    clock = Clock(now=5000.0)
    client = fake.client("rivya", history=history, clock=clock, sleep=clock.sleep)
    job = fake.add_job("rivya", ["queued", "running", "succeeded"], job_id="secret-job-42")
    client.wait(job)
    text = history.dumps()
    assert history.durations("z-image") and "secret-job-42" not in text and KEY not in text
    assert fake.url not in text and "127.0.0.1" not in text


# -- the fitted schedule ----------------------------------------------------------------------


def _records(median, sigma, n, seed=1, width=0.03):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        d = median * math.exp(sigma * rng.gauss(0, 1))
        out.append((d * (1 - width), d))
    return out


def test_no_schedule_before_enough_jobs_nor_for_durations_spread_widely():
    assert fit(_records(30, 0.2, 7), SIVI) is None
    assert fit(_records(30, 0.2, 8), SIVI) is not None
    rng = random.Random(3)
    wide = [(d * 0.9, d) for d in (math.exp(rng.uniform(math.log(2), math.log(600)))
                                   for _ in range(32))]
    assert fit(wide, SIVI) is None


def test_a_fitted_schedule_polls_around_the_bulk_and_sleeps_at_most_twice_the_cap():
    records = _records(600, 0.1, 32)
    schedule = fit(records, SIVI)
    assert isinstance(schedule, Schedule)
    ends = sorted(hi for _, hi in records)
    assert ends[0] * 0.8 <= schedule.first <= ends[len(ends) // 2]
    assert schedule.step <= 0.1 * 600 and schedule.last >= ends[int(0.9 * len(ends))]
    elapsed, sleeps = 0.0, []
    while True:
        at = schedule.next_poll(elapsed)
        if at is None:
            break
        sleeps.append(at - elapsed)
        elapsed = at
    assert max(sleeps) <= 2 * SIVI.max_interval + 1e-9 and min(sleeps) > 0


def test_jobs_that_stop_fitting_start_a_new_regime():
    records = _records(30, 0.1, 20)
    assert regime(records) == 0
    slower = records + [(60.0 * 0.97, 60.0)] * 2
    assert regime(slower) == 20
    faster = records + [(14.0, 14.5)] * 2
    assert regime(faster) == 20
    assert regime(records + [(0.0, 25.0)]) == 0  # done at the first poll: it came too late
    assert regime(records + [(0.0, 25.0)] * 2) == 20
    history = gs.DurationHistory()
    for lo, hi in slower:
        history._record("k", lo, hi)
    assert history.durations("k") == (60.0, 60.0)


def test_a_stationary_kind_rarely_starts_a_new_regime():
    history = gs.DurationHistory()
    rng = random.Random(4)
    resets = 0
    for _ in range(400):
        d = 30 * math.exp(0.25 * rng.gauss(0, 1))
        before = len(history.durations("k"))
        history._record("k", d * 0.96, d)
        resets += len(history.durations("k")) < before
    assert resets <= 4


def test_the_generic_wait_learns_from_and_plans_with_the_history_it_is_given():
    history = gs.DurationHistory()
    rng = random.Random(5)
    for i in range(12):
        duration = 20 * math.exp(0.1 * rng.gauss(0, 1))
        clock = Clock(0.0)

        def poll(duration=duration, clock=clock):
            state = State.SUCCEEDED if clock.now >= duration else State.RUNNING
            return JobStatus(provider="sim", job_id="j", state=state)

        gs.wait(poll, is_done=lambda s: s.done, timeout=None, backoff=SIVI, sleep=clock.sleep,
                clock=clock, history=history, kind="render")
        assert len(history.durations("render")) == i + 1
        if i >= 9:  # planned from the history: the first poll comes near the bulk
            assert history._schedule("render", SIVI) is not None
    assert history.kinds() == ("render",)


def _waited(duration, backoff, history=None, seed=0, kind="k"):
    """(requests, lag seconds, sleeps) of gs.wait on a virtual clock for a job that succeeds
    ``duration`` seconds after the wait starts."""
    clock = Clock(0.0)
    polls = [0]

    def poll():
        polls[0] += 1
        state = State.SUCCEEDED if clock.now >= duration else State.RUNNING
        return JobStatus(provider="sim", job_id="j", state=state)

    random.seed(seed)  # the jitter's
    gs.wait(poll, is_done=lambda s: s.done, timeout=None, backoff=backoff, sleep=clock.sleep,
            clock=clock, history=history, kind=kind)
    return polls[0], clock.now - duration, clock.sleeps


@pytest.mark.parametrize("seed", [1, 2, 7])
def test_a_kind_that_becomes_a_little_slower_costs_no_more_than_plain_backoff_allows(seed):
    # 20 jobs of about 10 s, then 20 of about 12 s: too small a change to start a new regime
    # (API.md: under drift, at most 1.10x plain backoff's requests, and no worse lag)
    clipia = gs.ClipiaClient.default_backoff
    rng = random.Random(seed)
    history = gs.DurationHistory()
    learned, plain, learned_lags, plain_lags = 0, 0, [], []
    for i in range(40):
        duration = 10 * (1.2 if i >= 20 else 1.0) * math.exp(0.1 * rng.gauss(0, 1))
        requests, lag, _ = _waited(duration, clipia, history, seed=i)
        alone, alone_lag, _ = _waited(duration, clipia, seed=i)
        if i >= 10:  # once the history has a schedule, as the benchmark measures
            learned, plain = learned + requests, plain + alone
            learned_lags.append(lag / duration)
            plain_lags.append(alone_lag / duration)
    assert history._schedule("k", clipia) is not None  # still learning, from the new jobs
    assert learned <= 1.10 * plain
    assert sorted(learned_lags)[15] <= sorted(plain_lags)[15]


def test_waits_of_a_kind_fit_its_schedule_once_until_its_durations_change(monkeypatch):
    from genstatus_sync import history as module

    fits = []

    def counted(records, backoff):
        fits.append(len(records))
        return fit(records, backoff)

    monkeypatch.setattr(module, "fit", counted)
    history = gs.DurationHistory()
    for lo, hi in _records(20, 0.1, 12):
        history._record("k", lo, hi)
    clock = Clock(0.0)
    for _ in range(3):  # each plans from a copy of the history (failed jobs teach nothing)
        gs.wait(lambda: JobStatus(provider="p", job_id="j", state=State.FAILED),
                is_done=lambda s: s.done, backoff=SIVI, sleep=clock.sleep, clock=clock,
                history=history, kind="k")
    assert fits == [12]
    _waited(20.0, SIVI, history)  # planned from the fit above; then a job of 13 is recorded
    _waited(20.0, SIVI, history)
    assert fits == [12, 13]


def test_a_copy_fed_jobs_of_its_own_gives_no_fit_back_to_the_history_it_came_from():
    history = gs.DurationHistory()
    for lo, hi in _records(60, 0.1, 12):
        history._record("k", lo, hi)
    copy = history._frozen()
    for lo, hi in _records(10, 0.1, 12, seed=2):  # the copy's jobs, and the history's own
        copy._record("k", lo, hi)
        history._record("k", lo * 6, hi * 6)
    copy._schedule("k", SIVI)
    assert history._schedule("k", SIVI) == fit(list(history._kinds["k"]), SIVI)


def test_a_history_of_jobs_of_a_millisecond_never_plans_polls_closer_than_one():
    fast = gs.Backoff(initial=0.001, max_interval=0.01, jitter=0)  # min_interval 0
    history = gs.DurationHistory()
    for i in range(12):
        history._record("k", 0.0015 + 0.0001 * i, 0.002 + 0.0001 * i)
    assert history._schedule("k", fast) is not None
    _, _, sleeps = _waited(0.0021, fast, history)
    assert len(sleeps) >= 2 and min(sleeps[1:]) >= 0.001 - 1e-12


@pytest.mark.parametrize("backoff", [
    SIVI, gs.ClipiaClient.default_backoff, gs.RivyaClient.default_backoff,
    gs.Backoff(first_delay=3, initial=0.1, multiplier=1.01, max_interval=1),
    gs.Backoff(initial=2, multiplier=1, max_interval=2, min_interval=0.5)])
def test_a_schedule_is_scored_on_plain_backoff_past_its_end_as_a_wait_polls(backoff):
    from genstatus_sync._plan import _beyond

    rng = random.Random(11)
    for _ in range(200):
        start = rng.uniform(0, 300)
        until = start + rng.uniform(0, 3000)
        polls = _beyond(backoff, start, until)
        walked, t = [], start
        while not walked or t < until + 10:
            t = plain_after(backoff, t)
            walked.append(t)
        for _ in range(10):
            duration = rng.uniform(start, until)
            k = next(i for i, at in enumerate(walked) if at >= duration)
            count, at = polls(duration)
            assert count == k + 1 and at == pytest.approx(walked[k], rel=1e-9)


def test_plain_polls_past_a_schedule_are_counted_as_a_wait_makes_them_at_odd_grids():
    from genstatus_sync._plan import _beyond, _steps

    # a first delay so long that the tiny delays after it add nothing: equal times on the grid
    swallowed = gs.Backoff(first_delay=86400, initial=1e-13, multiplier=2, max_interval=1)
    times, _ = _steps(swallowed)
    assert times[0] == times[7]
    polls = _beyond(swallowed, 100.0, times[-1] + 5)
    walked, t = [], 100.0
    while t < times[12]:
        t = plain_after(swallowed, t)
        walked.append(t)
    assert polls(times[12]) == (len(walked), walked[-1])
    # a duration that falls on a poll of a linear grid is seen by that poll, not the next
    linear = gs.Backoff(initial=0.5, multiplier=1, max_interval=0.5, jitter=0)
    start = 3.25
    after = plain_after(linear, start)
    on = plain_after(linear, plain_after(linear, after))
    assert _beyond(linear, start, 10.0)(on) == (3, on)


def test_a_backoff_of_polls_under_a_millisecond_apart_plans_plainly_and_raises_nothing():
    history = gs.DurationHistory()
    for i in range(12):
        history._record("k", 4.9 + 0.01 * i, 5.0 + 0.01 * i)
    for backoff in (gs.Backoff(first_delay=1, initial=30, multiplier=1000, max_interval=1e-300),
                    gs.Backoff(max_interval=5e-324), gs.Backoff(max_interval=1e-4)):
        assert history._schedule("k", backoff) is None
    assert history._schedule("k", gs.Backoff(max_interval=0.5)) is not None


def test_a_long_kind_on_a_short_backoff_is_fitted_without_walking_each_poll(monkeypatch):
    from genstatus_sync import _plan

    short = gs.Backoff(initial=1, max_interval=1, jitter=0)
    records = _records(100_000, 0.3, 32)
    calls = [0]
    real = _plan.plain_after

    def counted(backoff, elapsed):
        calls[0] += 1
        return real(backoff, elapsed)

    monkeypatch.setattr(_plan, "plain_after", counted)
    fit(records, short)
    assert calls[0] < 1000  # (walked a poll at a time: about 10,000 a schedule tried)


def test_wait_refuses_a_history_that_is_not_one_and_a_bad_kind():
    with pytest.raises(gs.ConfigurationError):
        gs.wait(lambda: 1, is_done=bool, history={})
    with pytest.raises(gs.ConfigurationError):
        gs.wait(lambda: 1, is_done=bool, history=gs.DurationHistory(), kind="")


def test_a_failed_job_teaches_nothing():
    history = gs.DurationHistory()
    clock = Clock(0.0)
    gs.wait(lambda: JobStatus(provider="p", job_id="j", state=State.FAILED),
            is_done=lambda s: s.done, backoff=SIVI, sleep=clock.sleep, clock=clock,
            history=history)
    assert history.durations("default") == ()


def test_a_kind_from_a_reply_or_a_text_is_kept_as_valid_unicode():
    history = gs.DurationHistory()
    history._record("model-\ud800" + "x" * 200, 1.0, 2.0)  # as a reply could name it
    text = gs.DurationHistory.loads(
        '{"format": "genstatus_sync.DurationHistory", "version": 1, '
        '"kinds": [["\\ud800", [[1, 2]]]]}').dumps()
    for dumped in (history.dumps(), text):
        dumped.encode("utf-8")  # no lone surrogate
        assert all(len(k) <= 100 for k in gs.DurationHistory.loads(dumped).kinds())


def test_a_kind_forgotten_and_fed_again_is_planned_from_its_new_durations():
    history = gs.DurationHistory()
    for lo, hi in _records(20, 0.1, 8):
        history._record("a", lo, hi)
    early = history._schedule("a", SIVI)
    assert early is not None and early.first < 30
    for i in range(history.MAX_KINDS):  # "a" is forgotten
        history.add(f"other{i}", 5)
    assert "a" not in history.kinds()
    for lo, hi in _records(600, 0.1, 8, seed=2):  # "a" again: 30 times slower now
        history._record("a", lo, hi)
    schedule = history._schedule("a", SIVI)
    assert schedule == fit(list(history._kinds["a"]), SIVI)  # as a fresh fit plans
    assert schedule is not None and schedule.first > 300


def test_a_history_read_back_and_fed_is_planned_from_what_it_holds_now():
    history = gs.DurationHistory()
    for lo, hi in _records(20, 0.1, 8):
        history._record("a", lo, hi)
        history._record("b", lo, hi)
    copy = gs.DurationHistory.loads(history.dumps())
    assert copy._schedule("a", SIVI) == copy._schedule("b", SIVI) is not None
    copy.add("a", 20)  # "b" keeps its fit, "a" is fitted again
    assert copy._schedule("a", SIVI) == fit(list(copy._kinds["a"]), SIVI)
    for _ in range(20):
        copy.add("b", 600)
    assert copy._schedule("b", SIVI) == fit(list(copy._kinds["b"]), SIVI)
    assert copy._schedule("b", SIVI) != copy._schedule("a", SIVI)


# -- the plain grid ---------------------------------------------------------------------------

GRIDS = [SIVI, RIVYA, CLIPIA, gs.SellerPicClient.default_backoff, gs.Backoff(),
         gs.Backoff(first_delay=5, initial=5, multiplier=1, max_interval=5, jitter=0),
         gs.Backoff(first_delay=0, initial=0.25, multiplier=2, max_interval=60),
         gs.Backoff(first_delay=3, initial=1, multiplier=1.1, max_interval=0.5),
         gs.Backoff(initial=0.001, multiplier=1.001, max_interval=30)]


def _reference_grid(backoff, until):
    """plain backoff's polls up to the first past ``until``, as fit() always summed them."""
    times, t, n = [], 0.0, 0
    while t <= until:
        t += backoff.delay(n)
        times.append(t)
        n += 1
        if n > 100_000:
            break
    return times


@pytest.mark.parametrize("backoff", GRIDS)
def test_the_plain_grid_is_the_walk_from_the_start_to_the_last_float(backoff):
    rng = random.Random(6)
    points = [0.0, -1.0, backoff.first_delay, backoff.first_delay + backoff.initial]
    points += [math.exp(rng.uniform(math.log(0.01), math.log(2e5))) for _ in range(100)]
    grid = _reference_grid(backoff, 1e3)
    points += grid[:50] + [t + 1e-9 for t in grid[:50]] + [t - 1e-9 for t in grid[:50]]
    for elapsed in points:
        assert plain_after(backoff, elapsed) == _walk(backoff, elapsed), elapsed
    for until in points[:24]:
        assert _plain_grid(backoff, until) == _reference_grid(backoff, until), until


def test_the_plain_grid_of_a_slowly_growing_backoff_is_cheap_and_the_same():
    backoff = gs.Backoff(initial=0.001, multiplier=1.0001)  # 103,000 delays to its cap
    for elapsed in (0.0, 0.5, 30.0, 299_000.0, 400_000.0):
        assert plain_after(backoff, elapsed) == _walk(backoff, elapsed)
    assert _plain_grid(backoff, 700.0) == _reference_grid(backoff, 700.0)
    assert _plain_grid(backoff, 1e6) == _reference_grid(backoff, 1e6)


def test_past_the_polls_summed_once_the_grid_is_walked_the_same(monkeypatch):
    from genstatus_sync import _plan

    monkeypatch.setattr(_plan, "_STEPS_MAX", 5)
    _plan._steps.cache_clear()
    try:
        for backoff in GRIDS:
            for elapsed in (0.0, 1.0, 7.5, 60.0, 1000.0):
                assert plain_after(backoff, elapsed) == _walk(backoff, elapsed)
                assert _plain_grid(backoff, elapsed) == _reference_grid(backoff, elapsed)
    finally:
        _plan._steps.cache_clear()


# -- hostile or odd texts (found in review) -------------------------------------------------

def _text(kinds):
    return json.dumps({"format": "genstatus_sync.DurationHistory", "version": 1,
                       "kinds": kinds})


def test_loaded_durations_are_kept_as_fed_ones_are_and_plan_no_crash():
    # sub-millisecond and subnormal durations: dumps() never writes them, loads() accepts them
    records = [[5e-324, 5e-324]] * 4 + [[30.0, 31.0], [29.0, 30.0], [32.0, 33.0], [30.5, 31.5]]
    records += [[1e-9, 2.0000004], [0.0, 1e6]]
    history = gs.DurationHistory.loads(_text([["default", records]]))
    assert history.durations("default")[:4] == (0.0,) * 4
    assert history.durations("default")[-2:] == (2.0, 1e6)
    clock = Clock()
    assert gs.wait(lambda: "done", is_done=lambda r: True, timeout=60, history=history,
                   sleep=clock.sleep, clock=clock) == "done"


def test_a_fit_of_any_loadable_records_raises_nothing():
    rng = random.Random(3)
    backoff = gs.SiviClient.default_backoff
    for _ in range(300):
        records = []
        for _ in range(rng.randrange(8, 33)):
            hi = rng.choice([0.0, 5e-324, 1e-3, 1e6, rng.uniform(0, 1e6), 10 ** rng.uniform(-4, 6)])
            records.append([hi * rng.choice([0.0, 0.5, rng.random(), 1.0]), hi])
        history = gs.DurationHistory.loads(_text([["k", records]]))
        fit(list(history._kinds["k"]), backoff)  # a Schedule or None, never an exception


def test_dumps_stays_within_its_bound_after_loads_of_long_floats_and_escaped_kinds():
    rng = random.Random(0)
    kinds = []
    for k in range(32):
        name = "".join(chr(1 + (k >> i & 1)) for i in range(100))  # escaped: 6 bytes each
        recs = []
        for _ in range(32):
            hi = rng.uniform(1.1e-100, 9.9e-100)  # (23-character reprs, unrounded)
            recs.append([hi * rng.uniform(0.5, 0.99), hi])
        kinds.append([name, recs])
    history = gs.DurationHistory.loads(_text(kinds))
    assert len(history.dumps().encode()) < 64 * 1024


def test_loads_of_many_kinds_keeps_the_latest_and_refuses_a_kind_twice():
    history = gs.DurationHistory.loads(_text([[f"k{i}", []] for i in range(20_000)]))
    assert history.kinds() == tuple(f"k{i}" for i in range(20_000 - 32, 20_000))
    with pytest.raises(gs.ConfigurationError, match="a kind twice"):
        gs.DurationHistory.loads(_text([["a", []], ["b", []], ["a", []]]))


@pytest.mark.parametrize("kind", [["a"], {"a": 1}, None, 7])
def test_durations_of_what_is_no_kind_are_none(kind):
    history = gs.DurationHistory()
    history.add("a", 1.0)
    assert history.durations(kind) == ()


def test_a_backoff_too_slow_to_fit_against_plans_plainly():
    backoff = gs.Backoff(initial=1e-5, multiplier=1.00001, max_interval=30, jitter=0)
    records = [(d * 0.9, d) for d in [45, 44, 46, 45, 43, 47, 45, 44, 46, 45, 44, 46]]
    assert fit(records, backoff) is None


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no interval timers here")
@pytest.mark.skipif(sys.version_info < (3, 10), reason=(
    "before 3.10 the interpreter itself handles a signal between a with block's end and its "
    "__exit__, so that any `with lock:` can be left holding it (CPython gh-74174, fixed in "
    "3.10): measured here on 3.8 and 3.9"))
def test_a_ctrl_c_at_any_moment_leaves_the_history_and_the_rate_budget_usable():
    # (their locks were taken by a wrapper's __enter__, in Python: a Ctrl-C right after the
    # acquire, before the with block began, left the lock held, and a notebook that caught the
    # KeyboardInterrupt hung on its next wait; a lock's own __enter__ is C code)
    from genstatus_sync._budget import RateBudget

    history, budget = gs.DurationHistory(), RateBudget(1e9)
    history.add("k", 1.0)

    pending = [True]

    def interrupt(signum, frame):
        if pending[0]:
            pending[0] = False
            raise KeyboardInterrupt

    def answers(call):
        thread = threading.Thread(target=call, daemon=True)
        thread.start()
        thread.join(2)
        return not thread.is_alive()

    before = signal.signal(signal.SIGALRM, interrupt)
    try:
        for _ in range(300):  # (each a real interval timer of 0.3 ms, ended by the interrupt)
            pending[0] = True
            try:
                # repeating: CPython drops an interrupt raised while a finalizer runs (the
                # garbage collector's, of the threads below), and the loop would spin for good
                signal.setitimer(signal.ITIMER_REAL, 0.0003, 0.0005)
                while True:
                    history.durations("k")
                    budget.reserve(0.0)
                    if not pending[0]:  # raised, and dropped: raise it at the next tick
                        pending[0] = True
            except KeyboardInterrupt:
                pass
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            assert answers(lambda: history.durations("k")) and answers(
                lambda: budget.reserve(0.0)), "a lock stayed held"
    finally:
        signal.signal(signal.SIGALRM, before)


def test_a_copy_or_a_pickle_of_a_history_is_a_separate_history_with_its_durations():
    # copy.copy gave an alias (a copy fed by one test fed the other's too), and pickle (a
    # multiprocessing argument, a task's) failed with a bare TypeError on its lock
    history = gs.DurationHistory()
    for seconds in (30, 31, 29, 30, 32, 28, 30, 31, 29, 30, 30):
        history.add("rivya:flux", seconds)
    for twin in (copy.copy(history), copy.deepcopy(history),
                 pickle.loads(pickle.dumps(history))):
        assert twin is not history and twin.dumps() == history.dumps()
        twin.add("other", 5.0)
        assert "other" not in history.kinds()
        assert history.durations("rivya:flux") == twin.durations("rivya:flux")
