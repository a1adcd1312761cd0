"""How many requests each polling policy makes, and how late it notices completion.

Simulates (virtual clock, fixed seed) jobs whose durations are drawn log-uniformly from 2 to
600 s, each waited for by the real ``genstatus_sync.wait`` from its submission, and prints
per policy: mean requests per job, median / 95th-percentile detection lag in seconds and as
a percentage of the job's duration, and the requests ratio to fixed 5 s polling.

    python benchmarks/polling_economy.py [--jobs 20000] [--seed 1]
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

CURVES = {
    "linear": lambda x: x,
    "fast-start (sqrt)": math.sqrt,
    "slow-start (x^2)": lambda x: x * x,
}
FIXED_5S = gs.Backoff(first_delay=5, initial=5, multiplier=1, max_interval=5, jitter=0)


def simulate(duration, backoff, curve):
    """Wait for one job with the real wait(); return (requests, lag seconds)."""
    now = [0.0]
    requests = [0]

    def poll():
        requests[0] += 1
        if now[0] >= duration:
            return JobStatus(provider="sim", job_id="j", state=State.SUCCEEDED)
        progress = None if curve is None else 100.0 * curve(now[0] / duration)
        return JobStatus(provider="sim", job_id="j", state=State.RUNNING, progress=progress)

    def sleep(seconds):
        now[0] += seconds

    gs.wait(poll, is_done=lambda s: s.done, timeout=None, backoff=backoff, sleep=sleep,
            clock=lambda: now[0])
    return requests[0], now[0] - duration


def run_policy(durations, backoff, curve, seed):
    random.seed(seed)  # Backoff's jitter
    results = [simulate(d, backoff, curve) for d in durations]
    requests = [r for r, _ in results]
    lags = [lag for _, lag in results]
    pct = [100 * lag / d for (_, lag), d in zip(results, durations)]
    q = statistics.quantiles
    return {
        "requests": statistics.fmean(requests),
        "lag_median": statistics.median(lags), "lag_p95": q(lags, n=20)[18],
        "pct_median": statistics.median(pct), "pct_p95": q(pct, n=20)[18],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    durations = [math.exp(rng.uniform(math.log(2), math.log(600))) for _ in range(args.jobs)]
    clients = {"sivi": gs.SiviClient, "rivya": gs.RivyaClient,
               "sellerpic": gs.SellerPicClient, "clipia": gs.ClipiaClient}
    policies = [("fixed 5 s", FIXED_5S, None)]
    for name, cls in clients.items():
        policies.append((f"{name} default", cls.default_backoff, None))
    for name in ("sivi", "clipia"):  # the providers that report progress
        for curve_name, curve in CURVES.items():
            policies.append((f"{name} + progress, {curve_name}", clients[name].default_backoff,
                             curve))
    rows = [(name, run_policy(durations, backoff, curve, args.seed))
            for name, backoff, curve in policies]
    base = rows[0][1]["requests"]
    print(f"{args.jobs} jobs, durations log-uniform 2-600 s, seed {args.seed}")
    print(f"{'policy':<36} {'req/job':>8} {'vs 5s':>6} {'lag med':>8} {'lag p95':>8} "
          f"{'med %':>6} {'p95 %':>6}")
    for name, r in rows:
        print(f"{name:<36} {r['requests']:8.2f} {r['requests'] / base:6.2f} "
              f"{r['lag_median']:7.2f}s {r['lag_p95']:7.2f}s {r['pct_median']:5.1f}% "
              f"{r['pct_p95']:5.1f}%")


if __name__ == "__main__":
    main()
