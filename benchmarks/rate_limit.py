"""wait_all() for 1,000 jobs against providers that allow R requests per second, with no
max_rate set: jobs lost to 429s, the share of 429s, and the rate achieved next to R.

FakeProviders (``latency`` 100 ms) answers 429 (``Retry-After: 1``) to any request beyond
``--rate`` in a sliding second. The jobs (Rivya's; ``--providers`` takes several, each then
its own account with its own limit, its client learning its own) need three status polls
each (queued, running, succeeded; Clipia one more request for its result), on the
providers' default backoffs: far more is due than the limit lets through, from the first
second to nearly the last. The achieved rate is a provider's accepted requests per second
while its client's budget held requests back (from the first request to the end of the last
wait for a turn: inside wait_all only the budget sleeps on the client's ``sleep=``); "whole"
is the same from the first request to the last accepted one, the schedule's tail included
(the last few jobs' backoff, when nothing waits any more).

    python benchmarks/rate_limit.py [--jobs 1000] [--rate 20] [--providers rivya,...]
"""

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import genstatus_sync as gs
from genstatus_sync.testing import FakeProviders

PROVIDERS = ("sivi", "rivya", "sellerpic", "clipia")
STATES = ("queued", "running", "succeeded")


class Counting:
    """A transport that records (time sent, status) of every request (thread-safe)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.replies: List[Tuple[float, int]] = []
        self._lock = threading.Lock()

    def get(self, request: Any, **kwargs: Any) -> Any:
        sent = time.monotonic()
        reply = self.inner.get(request, **kwargs)
        with self._lock:
            self.replies.append((sent, reply.status))
        return reply

    def close(self) -> None:
        self.inner.close()


def lost_to_429(outcome: object) -> bool:
    if isinstance(outcome, gs.RateLimitError):
        return True
    return isinstance(outcome, gs.WaitTimeout) and isinstance(outcome.last_error,
                                                              gs.RateLimitError)


def run(jobs: int, rate: int, latency: float, providers: List[str],
        max_in_flight: Optional[int] = None) -> Dict[str, Any]:
    with FakeProviders(api_key="bench-key", latency=latency) as fake:
        held: Dict[str, List[float]] = {p: [] for p in providers}

        def sleeper(provider: str) -> Callable[[float], None]:
            def sleep(seconds: float) -> None:  # the budget holds a request back
                held[provider].append(time.monotonic() + seconds)
                time.sleep(seconds)
            return sleep

        clients = {p: fake.client(p, sleep=sleeper(p)) for p in providers}
        counters = {}
        for p, client in clients.items():
            fake.rate_limit(p, per_second=rate)
            counters[p] = client.transport = Counting(client.transport)
        handles = []
        for i in range(jobs):
            p = providers[i % len(providers)]
            handles.append(clients[p].job(fake.add_job(p, list(STATES))))
        # every request the jobs need, at the limit, three times over (and a minute)
        needed = max(sum(1 for h in handles if h.provider == p) for p in providers) * (
            len(STATES) + 1)
        timeout = 3 * needed / rate + 60
        start = time.monotonic()
        outcomes = gs.wait_all(handles, timeout=timeout, max_in_flight=max_in_flight)
        wall = time.monotonic() - start
        for client in clients.values():
            client.close()
    return {"outcomes": outcomes, "handles": handles, "wall": wall, "timeout": timeout,
            "replies": {p: c.replies for p, c in counters.items()}, "held": held}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=20, help="R: each provider's limit, req/s")
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--providers", default="rivya", help=f"any of {','.join(PROVIDERS)}")
    parser.add_argument("--max-in-flight", type=int, default=None,
                        help="wait_all's max_in_flight (default: its own)")
    args = parser.parse_args(argv)
    providers = [p.strip() for p in args.providers.split(",") if p.strip()]
    got = run(args.jobs, args.rate, args.latency, providers, args.max_in_flight)
    print(f"wait_all: {args.jobs} jobs of {', '.join(providers)}, each provider allowing "
          f"R = {args.rate} req/s (FakeProviders rate_limit, {args.latency * 1000:.0f} ms "
          f"latency), no max_rate, max_in_flight="
          f"{'default' if args.max_in_flight is None else args.max_in_flight}; "
          f"{got['wall']:.1f} s (timeout {got['timeout']:.0f} s)")
    header = (f"{'provider':<10} {'jobs':>5} {'done':>5} {'lost 429':>8} {'other':>5} | "
              f"{'requests':>8} {'429s':>5} {'429 %':>6} | {'held':>6} {'achieved':>8} "
              f"{'of R':>6} | {'whole':>6}")
    print(header)
    print("-" * len(header))
    worst_rate, total_429, total_requests, total_lost = float("inf"), 0, 0, 0
    for p in providers:
        mine = [o for h, o in zip(got["handles"], got["outcomes"]) if h.provider == p]
        done = sum(isinstance(o, gs.JobStatus) and o.state is gs.State.SUCCEEDED for o in mine)
        lost = sum(lost_to_429(o) for o in mine)
        replies = got["replies"][p]
        limited = sum(status == 429 for _, status in replies)
        accepted = sorted(t for t, status in replies if status != 429)
        first = min(t for t, _ in replies)
        busy_end = max(got["held"][p], default=first)
        inside = sum(first <= t <= busy_end for t in accepted)
        achieved = inside / (busy_end - first) if busy_end > first else float("nan")
        whole = (len(accepted) - 1) / (accepted[-1] - first) if accepted[-1] > first else \
            float("nan")
        worst_rate = min(worst_rate, achieved)
        total_429 += limited
        total_requests += len(replies)
        total_lost += lost
        print(f"{p:<10} {len(mine):>5} {done:>5} {lost:>8} {len(mine) - done - lost:>5} | "
              f"{len(replies):>8} {limited:>5} {100 * limited / len(replies):5.2f}% | "
              f"{busy_end - first:5.0f}s {achieved:6.2f}/s {100 * achieved / args.rate:5.1f}% | "
              f"{100 * whole / args.rate:5.1f}%")
    print(f"goals: jobs lost to 429s {total_lost} (0); 429s {100 * total_429 / total_requests:.2f}%"
          f" of requests (<= 2%); achieved rate, worst provider, "
          f"{100 * worst_rate / args.rate:.1f}% of R while it held requests back (>= 90%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
