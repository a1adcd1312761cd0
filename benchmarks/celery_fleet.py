"""A Celery fleet waiting for 2,000 jobs, next to one process's gs.wait_all of the same jobs.

redis-server (Debian's) and the Celery workers (2 workers, prefork, concurrency 2 each) are
child processes; FakeProviders runs in this process, on the wall clock. Jobs of all four
providers end (one in ten FAILED) a duration after their first poll, drawn uniformly from
5-60 s; they report progress 25/50/75 % on the way. Both fleets use each provider's default
Backoff. ``--scale`` multiplies the durations and the backoffs alike, so requests per job and
lag as a share of the duration keep their meaning while the run gets shorter. jobs/s is the
jobs over the time from the first start to the last outcome (the durations bound it, not the
fleet). Lag is the time from a job's end to the first poll that saw it (and, "to callback", to
the user's code: the on_done task, or wait_all's on_update). CPU is the fleet's own while it
waited (workers and their children, or the wait_all process), not the fake's; ms/req is that
CPU per request. dup: on_done calls dropped as duplicates by key. Needs the [celery] extra
and redis-server.

    python benchmarks/celery_fleet.py [--jobs 2000] [--scale 1.0] [--workers 2]

This file is also the workers' app module (celery -A celery_fleet).
"""

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import attrs
import redis
from celery import Celery

from genstatus_sync._registry import PROVIDERS, client_class
from genstatus_sync.celery import register

HERE = Path(__file__).resolve().parent
KEY = "fleet-key"
STATES = ["queued", "running", "running", "running"]  # then succeeded or failed


def scaled_client(provider):
    """A client of ``provider`` (key and base URL from the environment) whose default
    Backoff is scaled by CELERY_FLEET_SCALE."""
    cls = client_class(provider)
    scale = float(os.environ.get("CELERY_FLEET_SCALE", "1"))
    b = cls.default_backoff
    return cls(backoff=attrs.evolve(b, first_delay=b.first_delay * scale,
                                    initial=b.initial * scale,
                                    max_interval=b.max_interval * scale))


app = Celery("celery_fleet", broker=os.environ.get("CELERY_FLEET_REDIS_URL", "redis://"))
app.conf.update(task_acks_late=True, task_reject_on_worker_lost=True,
                worker_prefetch_multiplier=1, task_serializer="json", accept_content=["json"],
                task_ignore_result=True, broker_connection_retry_on_startup=True,
                worker_hijack_root_logger=False)
poll = register(app, on_done="celery_fleet.done", on_error="celery_fleet.failed",
                client_factory=scaled_client)
_store = {}


def store():
    if os.getpid() not in _store:
        _store.clear()
        _store[os.getpid()] = redis.Redis.from_url(os.environ["CELERY_FLEET_REDIS_URL"])
    return _store[os.getpid()]


@app.task(name="celery_fleet.done", acks_late=True, reject_on_worker_lost=True)
def done(status, key):
    r = store()
    if r.set(f"seen:{key}", 1, nx=True):
        r.hset("done", f"{status['provider']}:{status['job_id']}", repr(time.time()))
    else:
        r.incr("duplicates")


@app.task(name="celery_fleet.failed", acks_late=True, reject_on_worker_lost=True)
def failed(report, key):
    store().hset("errors", f"{report['provider']}:{report['job_id']}", json.dumps(report))


# -- the benchmark ---------------------------------------------------------------------------

def population(n, scale, seed):
    """(provider, states, every) per job: done (states[-1]) 5-60 s x scale after its first poll."""
    rng = random.Random(seed)
    jobs = []
    for i in range(n):
        end = "failed" if i % 10 == 9 else "succeeded"
        jobs.append((PROVIDERS[i % 4], STATES + [end], rng.uniform(5, 60) * scale / len(STATES)))
    return jobs


def add_jobs(fake, jobs, prefix):
    """Job ids added to ``fake`` for ``jobs``, each with its end time once first polled."""
    ids = []
    for i, (provider, states, every) in enumerate(jobs):
        job_id = str(prefix * 10**7 + i) if provider == "sellerpic" else f"{prefix}-{i}"
        ids.append(fake.add_job(provider, states, every=every, job_id=job_id))
    return ids


def _requested_job(request):
    if request.provider == "sivi":
        return json.loads(request.query["queryParams"])["requestId"]
    if request.provider == "sellerpic":
        return request.query["id"]
    return request.path.split("/")[3 if request.provider == "clipia" else 4]


def measure(fake, jobs, ids, seen_at):
    """requests per job, poll lag and callback lag (lists) of one fleet's jobs."""
    times = {}
    for request in fake.requests:
        if not request.path.startswith("/v1/requests/") or request.path.endswith("/status"):
            times.setdefault(f"{request.provider}:{_requested_job(request)}", []).append(
                request.time)
    mine = {f"{p}:{i}" for (p, _, _), i in zip(jobs, ids)}
    requests = sum(f"{r.provider}:{_requested_job(r)}" in mine for r in fake.requests)
    poll_lag, callback_lag = [], []
    for (provider, states, every), job_id in zip(jobs, ids):
        polls = sorted(times[f"{provider}:{job_id}"])
        end = polls[0] + every * (len(states) - 1)
        poll_lag.append(min(t for t in polls if t >= end - 1e-6) - end)
        callback_lag.append(seen_at[f"{provider}:{job_id}"] - end)
    return requests / len(jobs), poll_lag, callback_lag


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu(pids):
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _tree(pid):
    found = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def celery_fleet(fake, jobs, ids, args, env, logs):
    """(seconds from the first start to the last on_done, {job: on_done time}, CPU s)."""
    names = [f"fleet{i}-{os.getpid()}" for i in range(args.workers)]
    workers = [subprocess.Popen(
        [sys.executable, "-m", "celery", "-q", "-A", "celery_fleet", "worker", "--pool",
         "prefork", "--concurrency", str(args.concurrency), "-l", "warning", "-n",
         f"{name}@%h", "--without-mingle", "--without-gossip"],
        cwd=HERE, env=env, stdin=subprocess.DEVNULL, stdout=(logs / f"{name}.log").open("wb"),
        stderr=subprocess.STDOUT, start_new_session=True) for name in names]
    r = redis.Redis.from_url(env["CELERY_FLEET_REDIS_URL"])
    try:
        want = {f"{name}@{socket.gethostname()}" for name in names}
        deadline = time.monotonic() + 60
        while True:
            got = set()
            for reply in app.control.ping(timeout=0.3) or []:
                got.update(reply)
            if want <= got:
                break
            if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                raise SystemExit("the workers did not start; logs in " + str(logs))
        cpu_before = _cpu(p for w in workers for p in _tree(w.pid))
        started = time.time()
        for (provider, _, _), job_id in zip(jobs, ids):
            poll.start(provider, job_id, timeout=600)
        deadline = time.monotonic() + 600
        while r.hlen("done") + r.hlen("errors") < len(jobs):
            if time.monotonic() > deadline:
                raise SystemExit(f"only {r.hlen('done')} of {len(jobs)} jobs done in 600 s")
            time.sleep(0.1)
        cpu = _cpu(p for w in workers for p in _tree(w.pid)) - cpu_before
        seen = {job.decode(): float(t) for job, t in r.hgetall("done").items()}
        if r.hlen("errors"):
            raise SystemExit(f"on_error: {r.hgetall('errors')}")
        return max(seen.values()) - started, seen, cpu, int(r.get("duplicates") or 0)
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            try:
                w.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(w.pid, signal.SIGKILL)
                w.wait()


WAIT_ALL_CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import genstatus_sync as gs
from celery_fleet import scaled_client
jobs = json.load(sys.stdin)
clients = {p: scaled_client(p) for p in {p for p, _ in jobs}}
seen = {}
def on_update(status):
    if status.done:
        seen.setdefault(f"{status.provider}:{status.job_id}", time.time())
cpu, started = time.process_time(), time.time()
outcomes = gs.wait_all([(clients[p], j) for p, j in jobs], timeout=600, on_update=on_update)
print(json.dumps({"seen": seen, "cpu": time.process_time() - cpu, "started": started,
                  "errors": [repr(o) for o in outcomes if not isinstance(o, gs.JobStatus)]}))
"""


def wait_all_fleet(jobs, ids, env):
    """The same, for one process's gs.wait_all."""
    out = subprocess.run([sys.executable, "-c", WAIT_ALL_CHILD, str(HERE)], env=env,
                         input=json.dumps([[p, i] for (p, _, _), i in zip(jobs, ids)]),
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    if result["errors"]:
        raise SystemExit(f"wait_all: {result['errors'][:5]}")
    seen = result["seen"]
    return max(seen.values()) - result["started"], seen, result["cpu"], 0


def _row(label, wall, n, per_job, poll_lag, callback_lag, cpu, duplicates):
    def q(values, p):
        values = sorted(values)
        return values[min(len(values) - 1, int(p * len(values)))]

    return (f"{label:<32}{n / wall:7.1f}{per_job:9.2f}{statistics.median(poll_lag):9.2f}s"
            f"{q(poll_lag, 0.95):8.2f}s{statistics.median(callback_lag):9.2f}s"
            f"{q(callback_lag, 0.95):8.2f}s{cpu:8.1f}s{1000 * cpu / (per_job * n):8.2f}"
            f"{duplicates:6d}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    from genstatus_sync.testing import FakeProviders

    port = _free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no", "--loglevel", "warning"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    r = redis.Redis.from_url(url)
    for _ in range(500):
        try:
            r.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.02)
    app.conf.broker_url = url
    jobs = population(args.jobs, args.scale, args.seed)
    took = time.monotonic()
    try:
        with FakeProviders(api_key=KEY, clock=time.time) as fake, \
                tempfile.TemporaryDirectory() as logs:
            env = {**os.environ, "CELERY_FLEET_REDIS_URL": url, "CELERY_FLEET_SCALE":
                   str(args.scale), "PYTHONPATH": str(HERE),
                   "PYTHONWARNINGS": "ignore:You're running the worker with superuser",
                   **{f"{p.upper()}_{k}": v for p in PROVIDERS
                      for k, v in (("BASE_URL", fake.url), ("API_KEY", KEY))}}
            os.environ.update({k: v for k, v in env.items()  # for this process's clients
                               if k.endswith(("_BASE_URL", "_API_KEY", "_SCALE"))})
            celery_ids = add_jobs(fake, jobs, 1)
            c_wall, c_seen, c_cpu, c_dup = celery_fleet(fake, jobs, celery_ids, args, env,
                                                         Path(logs))
            wait_ids = add_jobs(fake, jobs, 2)
            w_wall, w_seen, w_cpu, _ = wait_all_fleet(jobs, wait_ids, env)
            c = measure(fake, jobs, celery_ids, c_seen)
            w = measure(fake, jobs, wait_ids, w_seen)
    finally:
        server.terminate()
        server.wait(10)
    print(f"{args.jobs} jobs of {', '.join(PROVIDERS)}, done 5-60 s x {args.scale:g} after "
          f"their first poll, default backoffs x {args.scale:g}; run took "
          f"{time.monotonic() - took:.0f} s")
    print(f"{'':<32}{'jobs/s':>7}{'req/job':>9}{'poll lag':>10}{'p95':>9}{'to callback':>13}"
          f"{'p95':>6}{'CPU':>9}{'ms/req':>8}{'dup':>6}")
    print(_row(f"celery: {args.workers} workers x {args.concurrency}", c_wall, args.jobs, *c,
               c_cpu, c_dup))
    print(_row("gs.wait_all, one process", w_wall, args.jobs, *w, w_cpu, 0))
    print(f"celery / wait_all: requests per job {c[0] / w[0]:.3f}x, median poll lag "
          f"{statistics.median(c[1]) / max(1e-9, statistics.median(w[1])):.2f}x, "
          f"CPU {c_cpu / max(1e-9, w_cpu):.1f}x")


if __name__ == "__main__":
    main()
