"""CPU time per poll of wait_all() over 1,000 jobs, next to a single get_status() call's.

Both run against FakeProviders on loopback; CPU time is the calling thread's only
(time.thread_time), so the in-process fake server's work is not counted. wait_all runs with
max_in_flight=1 (every poll in the calling thread: the scheduler's cost and the poll's are
both counted); the default, polls on worker threads, is measured over the whole process by
benchmarks/wait_all_latency.py. Target: <= 1.2x.

    python benchmarks/wait_all.py [--jobs 1000]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import genstatus_sync as gs
from genstatus_sync.testing import FakeProviders

PROVIDERS = ("sivi", "rivya", "sellerpic", "clipia")
NO_WAIT = gs.Backoff(first_delay=0.0, initial=0.001, multiplier=1.0, max_interval=0.001,
                     jitter=0.0)


def one_round(fake, clients, jobs_count):
    """(CPU per single get_status, CPU per request of wait_all, jobs succeeded)."""
    for p in PROVIDERS:
        clients[p].get_status(fake.add_job(p, ["running"]))  # warm the connection, converter
    # each get_status() on a job of its own, as wait_all's polls are: the same four jobs
    # again and again would find their URLs in urllib.parse's cache of recent ones (128),
    # which no loop over a thousand jobs does
    calls = max(200, jobs_count // 2)
    singles = [(clients[PROVIDERS[i % 4]], fake.add_job(PROVIDERS[i % 4], ["running"]))
               for i in range(calls)]
    start = time.thread_time()
    for client, job in singles:
        client.get_status(job)
    single = (time.thread_time() - start) / calls
    jobs = [(clients[PROVIDERS[i % 4]],
             fake.add_job(PROVIDERS[i % 4], ["queued", "running", "succeeded"]))
            for i in range(jobs_count)]
    before = len(fake.requests)
    start = time.thread_time()
    outcomes = gs.wait_all(jobs, timeout=300, sleep=lambda seconds: None, max_in_flight=1)
    spent = time.thread_time() - start
    requests = len(fake.requests) - before
    done = sum(isinstance(o, gs.JobStatus) and o.state is gs.State.SUCCEEDED for o in outcomes)
    return single, spent / requests, done


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with FakeProviders(api_key="bench-key") as fake:
        clients = {p: fake.client(p, backoff=NO_WAIT) for p in PROVIDERS}
        rounds = [one_round(fake, clients, args.jobs) for _ in range(args.rounds)]
        for client in clients.values():
            client.close()
    single = statistics.median(r[0] for r in rounds)
    per_poll = statistics.median(r[1] for r in rounds)
    ratios = sorted(r[1] / r[0] for r in rounds)
    print(f"wait_all: {args.jobs} jobs x {args.rounds} rounds "
          f"({min(r[2] for r in rounds)} succeeded per round at least), one thread")
    print(f"  CPU per request in wait_all   {per_poll * 1e6:8.1f} us (median)")
    print(f"  CPU per single get_status()   {single * 1e6:8.1f} us (median; each on a job of its "
          "own)")
    print(f"  ratio                         {per_poll / single:8.2f}x  (target <= 1.2x; "
          f"rounds {ratios[0]:.2f}-{ratios[-1]:.2f})")


if __name__ == "__main__":
    main()
