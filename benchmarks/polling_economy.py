"""How many requests each polling policy makes, and how late it notices completion.

Every job is waited for by the real ``genstatus_sync.wait`` on a virtual clock (fixed seeds),
from its submission; progress, where a job reports it, is a whole percent, as providers send
it. A request is a request the wait makes: Clipia's counts include the one more request its
wait makes once the job is done (the result fetch), in every policy compared for Clipia
(its own schedules, plain backoff, and fixed 5 s polling of a Clipia job, which would fetch
the result too). Three tables:

1. jobs whose durations are log-uniform from 2 to 600 s, per policy: mean requests per job,
   median / 95th-percentile detection lag in seconds and as a share of the job's duration,
   and the requests ratio to fixed 5 s polling (Clipia's rows: to fixed 5 s polling plus
   the result request). "+ history" rows wait for them one after
   another with a DurationHistory of one kind: there is nothing to learn, and nothing changes.
2. schedules that learn: runs of 40 jobs of one kind (durations log-normal around a median,
   spread sigma; or a kind that becomes 2x slower or faster, or 1.2x slower, after job 20),
   each run with a fresh DurationHistory, jobs 11-40 measured against plain backoff on the
   same durations.
3. misleading progress: jobs of 5-600 s (log-uniform) whose progress follows a shape, against
   the same jobs without progress (plain backoff), per provider default.

Each table checks the bounds API.md promises and marks a row that misses one with "NO".

    python benchmarks/polling_economy.py [--jobs 20000] [--runs 40] [--progress-jobs 2000]
                                         [--seed 1]
"""

import argparse
import math
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import genstatus_sync as gs
from genstatus_sync import JobStatus, State

FIXED_5S = gs.Backoff(first_delay=5, initial=5, multiplier=1, max_interval=5, jitter=0)
# Requests a provider's wait makes once the job is done, after the status poll that saw it:
# Clipia's wait fetches the result (GET /v1/requests/{id}), whatever polled the status.
RESULT_REQUESTS = {"clipia": 1}
RESULT_NOTE = "clipia's requests include its result request (+1 per job)"
CLIENTS = {"sivi": gs.SiviClient, "rivya": gs.RivyaClient, "sellerpic": gs.SellerPicClient,
           "clipia": gs.ClipiaClient}
CURVES = {
    "linear": lambda x: x,
    "fast-start (sqrt)": math.sqrt,
    "slow-start (x^2)": lambda x: x * x,
}


def _stall(at):
    """Linear (as if the job took 70 % of its time), stalled at ``at`` % for 30 % of it."""
    start = 0.7 * at / 100
    return lambda x: x / 0.7 if x < start else at / 100 if x < start + 0.3 else (x - 0.3) / 0.7


SHAPES = {  # progress (0-1, times 100 and floored) at each share x of the job's duration
    "linear": lambda x: x,
    "linear, rounded": ("round", lambda x: x),
    "queued 30 %, then linear": lambda x: max(0.0, (x - 0.3) / 0.7),
    "fast start (sqrt)": math.sqrt,
    "slow start (x^2)": lambda x: x * x,
    "stalls at 30": _stall(30),
    "stalls at 50": _stall(50),
    "stalls at 90": _stall(90),
    "runs backwards": lambda x: 1.2 * x if x < 0.5 else 0.6 - 0.8 * (x - 0.5),
    "races to 99, sticks": lambda x: min(0.99, 5 * x),
    "jumps 0 -> 100 late": lambda x: 0.0 if x < 0.8 else 1.0,
    "constant 0": lambda x: 0.0,
    "constant 50": lambda x: 0.5,
    "random noise": "noise",
    "noisy linear (+-3)": "jitter",
    "sawtooth (4 resets)": lambda x: (4 * x) % 1.0,
    "races to 50, sticks": lambda x: min(0.5, 4 * x),
    "step-wise (by 25)": lambda x: math.floor(4 * x) / 4,
    "reset to 0 midway": lambda x: min(0.99, 2 * x) if x < 0.5 else 2 * (x - 0.5),
    "exceeds 100": lambda x: 1.5 * x,
    "negative (-1)": lambda x: -0.01,
    "late burst (50 at 80 %)": lambda x: 0.625 * x if x < 0.8 else 0.5 + 2.5 * (x - 0.8),
    "early burst (50 at 20 %)": lambda x: 2.5 * x if x < 0.2 else 0.5 + 0.625 * (x - 0.2),
    "ends early (done at 60)": lambda x: 0.6 * x,
    "ends early (done at 70)": lambda x: 0.7 * x,
    "ends early (done at 80)": lambda x: 0.8 * x,
    "ends early (done at 90)": lambda x: 0.9 * x,
}
STEADY = ("linear", "linear, rounded", "queued 30 %, then linear")
UNTELLABLE = tuple(s for s in SHAPES if s.startswith("ends early"))  # a slower job's, until
# it ends


def progress_at(shape, x, rng):
    """The progress a job of ``shape`` reports at share ``x`` of its duration (None: none)."""
    if shape is None:
        return None
    if shape == "noise":
        return rng.randrange(100)
    if shape == "jitter":
        return min(99, max(0, math.floor(100 * x + rng.uniform(-3, 3))))
    if isinstance(shape, tuple):
        return round(100 * shape[1](x))
    if callable(shape):
        return math.floor(100 * shape(x) + 1e-9)
    raise ValueError(shape)


def simulate(duration, backoff, shape=None, seed=0, history=None, kind=None, provider=None):
    """Wait for one job with the real wait(); return (requests, lag seconds). ``provider``
    counts the requests its wait makes once the job is done (RESULT_REQUESTS)."""
    now = [0.0]
    requests = [0]
    rng = random.Random(seed)

    def poll():
        requests[0] += 1
        if now[0] >= duration:
            return JobStatus(provider="sim", job_id="j", state=State.SUCCEEDED, progress=100)
        return JobStatus(provider="sim", job_id="j", state=State.RUNNING,
                         progress=progress_at(shape, now[0] / duration, rng))

    def sleep(seconds):
        now[0] += seconds

    random.seed(seed)  # the wait's jitter seed
    gs.wait(poll, is_done=lambda s: s.done, timeout=None, backoff=backoff, sleep=sleep,
            clock=lambda: now[0], history=history, kind=kind)
    return requests[0] + RESULT_REQUESTS.get(provider, 0), now[0] - duration


def _q(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(results, durations):
    requests = [r for r, _ in results]
    lags = [lag for _, lag in results]
    pct = [lag / d for (_, lag), d in zip(results, durations)]
    return {"requests": statistics.fmean(requests), "lag_median": statistics.median(lags),
            "lag_p95": _q(lags, 0.95), "lag_mean": statistics.fmean(lags),
            "pct_median": statistics.median(pct), "pct_p95": _q(pct, 0.95)}


# -- 1. a wide population -------------------------------------------------------------------


def economy(jobs, seed):
    rng = random.Random(seed)
    durations = [math.exp(rng.uniform(math.log(2), math.log(600))) for _ in range(jobs)]
    rows = [("fixed 5 s", FIXED_5S, None, False, None)]
    rows += [(f"{name} default", cls.default_backoff, None, False, name)
             for name, cls in CLIENTS.items()]
    for name in ("sivi", "clipia"):  # the providers that report progress
        for curve_name, curve in CURVES.items():
            rows.append((f"{name} + progress, {curve_name}", CLIENTS[name].default_backoff,
                         curve, False, name))
    rows += [(f"{name} + history", CLIENTS[name].default_backoff, None, True, name)
             for name in ("sivi", "rivya", "clipia")]
    out, providers = [], {}
    for label, backoff, curve, learning, provider in rows:
        history = gs.DurationHistory() if learning else None
        results = [simulate(d, backoff, curve, i, history, "wide" if learning else None,
                            provider) for i, d in enumerate(durations)]
        out.append((label, summary(results, durations)))
        providers[label] = provider
    # fixed 5 s polling of a provider's job: the same polls, and the requests after them
    base = {None: out[0][1]["requests"]}
    base.update((p, base[None] + RESULT_REQUESTS[p]) for p in RESULT_REQUESTS)
    fixed_with_result = ", ".join(f"{p} {r:.2f}" for p, r in base.items() if p is not None)
    print(f"{jobs} jobs, durations log-uniform 2-600 s, seed {seed}; {RESULT_NOTE}, and "
          f"their 'vs 5s' is to fixed 5 s polling plus that request ({fixed_with_result} "
          "req/job)")
    print(f"{'policy':<36} {'req/job':>8} {'vs 5s':>6} {'lag med':>8} {'lag p95':>8} "
          f"{'med %':>6} {'p95 %':>6}")
    for label, r in out:
        fixed = base.get(providers[label], base[None])
        print(f"{label:<36} {r['requests']:8.2f} {r['requests'] / fixed:6.2f} "
              f"{r['lag_median']:7.2f}s {r['lag_p95']:7.2f}s {100 * r['pct_median']:5.1f}% "
              f"{100 * r['pct_p95']:5.1f}%")
    return dict(out)


# -- 2. schedules that learn ----------------------------------------------------------------

RUN = 40  # jobs of one kind per run, with a fresh history
WARM = 10  # the first jobs of each run are not measured


def workload(kind, median, sigma, rng):
    scale = {"clustered": (1, 1), "2x slower": (1, 2), "2x faster": (1, 0.5),
             "1.2x slower": (1, 1.2)}[kind]
    return [median * scale[i >= RUN // 2] * math.exp(sigma * rng.gauss(0, 1))
            for i in range(RUN)]


def learning(kind, median, sigma, backoff, runs, seed, provider=None):
    rng = random.Random(seed)
    plain, learned, durations = [], [], []
    for run in range(runs):
        history = gs.DurationHistory()
        for i, d in enumerate(workload(kind, median, sigma, rng)):
            job_seed = 1000 * run + i
            p = simulate(d, backoff, None, job_seed, provider=provider)
            a = simulate(d, backoff, None, job_seed, history, "k", provider)
            if i >= WARM:
                plain.append(p)
                learned.append(a)
                durations.append(d)
    return summary(plain, durations), summary(learned, durations)


def schedules(runs, seed):
    print(f"Schedules that learn: {runs} runs x {RUN} jobs of one kind, a fresh history each, "
          f"jobs {WARM + 1}-{RUN} measured (seed {seed}); {RESULT_NOTE}, learned and plain")
    print(f"{'workload':<30} {'provider':<7} {'req/job':>14} {'ratio':>5} {'median lag':>15} "
          f"{'p95 lag':>15}  bounds")
    cases = [("clustered", m, s) for m in (5, 30, 600) for s in (0.1, 0.25, 0.5)]
    cases += [(k, m, 0.25) for k in ("2x slower", "2x faster") for m in (5, 30, 600)]
    # a change too small for the history to see as a new regime: caught by its cost
    cases += [("1.2x slower", m, s) for m in (5, 30, 600) for s in (0.1, 0.25)]
    rows = {}
    for kind, median, sigma in cases:
        for name in ("sivi", "rivya", "clipia"):
            plain, learned = learning(kind, median, sigma, CLIENTS[name].default_backoff, runs,
                                      seed, name)
            ratio = learned["requests"] / plain["requests"]
            if kind == "clustered":
                ok = ratio <= 1.0 and learned["pct_p95"] <= plain["pct_p95"]
                if sigma <= 0.3:
                    ok = ok and learned["pct_median"] <= 0.05
                bound = "req<=1, p95<=plain" + (", med<=5%" if sigma <= 0.3 else "")
            else:
                ok = ratio <= 1.10 and learned["pct_median"] <= plain["pct_median"]
                bound = "req<=1.10, med<=plain"
            label = f"{kind}, {median:g} s, sigma {sigma:g}"
            rows[(label, name)] = (plain, learned)
            med = f"{100 * plain['pct_median']:5.1f}%->{100 * learned['pct_median']:4.1f}%"
            p95 = f"{100 * plain['pct_p95']:5.1f}%->{100 * learned['pct_p95']:5.1f}%"
            print(f"{label:<30} {name:<7} {plain['requests']:6.2f}->{learned['requests']:6.2f} "
                  f"{ratio:5.2f} {med:>15} {p95:>15}  {'ok' if ok else 'NO'} ({bound})")
    return rows


# -- 3. misleading progress -----------------------------------------------------------------


def misleading(jobs, seed):
    rng = random.Random(seed)
    durations = [math.exp(rng.uniform(math.log(5), math.log(600))) for _ in range(jobs)]
    names = ("sivi", "rivya", "clipia")
    plain = {name: [simulate(d, CLIENTS[name].default_backoff, None, i, provider=name)
                    for i, d in enumerate(durations)] for name in names}
    base = {name: summary(plain[name], durations) for name in names}
    print(f"Misleading progress: {jobs} jobs of 5-600 s (log-uniform), seed {seed}; polls and "
          f"median lag (share of duration) vs plain backoff; {RESULT_NOTE}, with progress "
          "and without (and in the fixed 5 s polling compared with below)")
    print(f"{'progress':<26} " + " ".join(f"{name + ' polls':>11} {'lag':>5}" for name in names)
          + "  bounds")
    rows = {}
    for shape_name, shape in SHAPES.items():
        cells, ok, more = [], True, 0
        for name in names:
            results = [simulate(d, CLIENTS[name].default_backoff, shape, i, provider=name)
                       for i, d in enumerate(durations)]
            r = summary(results, durations)
            polls = r["requests"] / base[name]["requests"]
            lag = r["pct_median"] / base[name]["pct_median"]
            rows[(shape_name, name)] = (polls, lag)
            more += sum(a[0] > b[0] for a, b in zip(results, plain[name]))
            cells.append(f"{polls:11.2f} {lag:5.2f}")
            ok = ok and polls <= 1.25 and lag <= 1.5
        if shape_name in STEADY:
            ok, bound = more == 0, f"no job polled more than plain: {more} were"
        elif shape_name in UNTELLABLE:
            bound = "polls<=1.25, lag<=1.5 (not promised: see README)"
        else:
            bound = "polls<=1.25, lag<=1.5"
        print(f"{shape_name:<26} " + " ".join(cells) + f"  {'ok' if ok else 'NO'} ({bound})")
    fixed = statistics.fmean(simulate(d, FIXED_5S, None, i)[0] for i, d in enumerate(durations))
    for name in ("sivi", "clipia"):
        fixed_requests = fixed + RESULT_REQUESTS.get(name, 0)  # (its job's requests after)
        r = summary([simulate(d, CLIENTS[name].default_backoff, SHAPES["linear"], i,
                              provider=name) for i, d in enumerate(durations)], durations)
        ratio = r["requests"] / fixed_requests
        ok = ratio <= 0.25 and r["pct_median"] <= 0.05
        both = " (both with its result request)" if name in RESULT_REQUESTS else ""
        print(f"{name} + linear progress: {ratio:.3f}x the requests of fixed 5 s polling{both}, "
              f"median lag {100 * r['pct_median']:.1f}%  {'ok' if ok else 'NO'} "
              "(<= 0.25x at <= 5%)")
    return rows


def one_duration(jobs, seed):
    """The worst ratio, over medians of 5 to 600 s, of each progress shape's polls and median
    lag to plain backoff's, for jobs of about one duration (sigma 0.1)."""
    print(f"Misleading progress, jobs of about one duration: {jobs} jobs per median, sigma 0.1, "
          f"medians 5-600 s, seed {seed}; the worst ratio to plain backoff of any median, and "
          f"where; {RESULT_NOTE}")
    names, medians = ("sivi", "rivya", "clipia"), (5, 10, 20, 40, 80, 160, 300, 600)
    worst = {shape: [0.0, "", 0.0, ""] for shape in SHAPES}
    for name in names:
        backoff = CLIENTS[name].default_backoff
        for median in medians:
            rng = random.Random(seed * 1000 + median)
            durations = [median * math.exp(0.1 * rng.gauss(0, 1)) for _ in range(jobs)]
            base = summary([simulate(d, backoff, None, i, provider=name)
                            for i, d in enumerate(durations)], durations)
            for shape_name, shape in SHAPES.items():
                r = summary([simulate(d, backoff, shape, i, provider=name)
                             for i, d in enumerate(durations)], durations)
                polls = r["requests"] / base["requests"]
                lag = r["pct_median"] / base["pct_median"] if base["pct_median"] else 1.0
                w = worst[shape_name]
                if polls > w[0]:
                    w[0], w[1] = polls, f"{name} {median} s"
                if lag > w[2]:
                    w[2], w[3] = lag, f"{name} {median} s"
    print(f"{'progress':<26} {'polls':>6} {'where':<14} {'lag':>6} where")
    for shape_name, (polls, at, lag, lag_at) in worst.items():
        print(f"{shape_name:<26} {polls:6.2f} {at:<14} {lag:6.2f} {lag_at}")
    return worst


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20000, help="jobs in table 1")
    parser.add_argument("--runs", type=int, default=40, help="runs per workload in table 2")
    parser.add_argument("--progress-jobs", type=int, default=2000, help="jobs in table 3")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--one-duration", type=int, metavar="JOBS", default=0,
                        help="print only the worst ratios of the progress shapes for jobs of "
                             "about one duration, JOBS per median")
    args = parser.parse_args(argv)
    if args.one_duration:
        one_duration(args.one_duration, args.seed)
        return
    economy(args.jobs, args.seed)
    print()
    schedules(args.runs, args.seed)
    print()
    misleading(args.progress_jobs, args.seed)


if __name__ == "__main__":
    main()
