"""wait_all() over many jobs at a real latency: requests per job, detection lag and CPU per
request, next to the same jobs each waited alone.

A server of this benchmark's own runs in a child process (asyncio, standard library; the
bodies are FakeProviders' renderings) and answers every request of all four providers after
``--latency`` seconds (100 ms). It keeps no state: a job's id carries when it was submitted
and how long it runs, so the server knows its absolute finish time (queued for the first
10 % of its duration, then running, with progress for Sivi and Clipia, then succeeded).

For each N (``--sizes``), N jobs of the four providers in turn, durations uniform in
10-120 s (times ``--scale``; the providers' default backoffs are scaled with it), are
submitted at once and waited for by one ``gs.wait_all`` call: real threads, sockets and
time. The solo figures are those of the same jobs, each waited alone by ``client.wait`` with
the same schedule (each with an empty DurationHistory: a wait_all call plans from the
history as it was when it began, so its jobs do not learn from each other), on a virtual
clock through a MockTransport that answers as the server does, 100 ms included: a lone
job's lag is its schedule's. Detection lag is the time
``on_update`` saw the job done minus the time it finished. CPU per request is the whole
client process's (``time.process_time``: every thread) over the wait_all call, divided by
the requests it made; next to it, a sequential loop of ``get_status()`` against the same
server at the same latency, measured in the same run.

``--top-out RATES`` then runs jobs that poll every 0.1-1.9 s (1.1 s on average with the
latency), as many as make each requested rate, with the default ``max_in_flight`` and with
``--top-out-in-flight``, and prints the rate achieved, the client's CPU use and the
detection lag next to the solo one: where one process stops keeping up.

    python benchmarks/wait_all_latency.py [--sizes 100,1000,10000] [--scale 1.0]
        [--top-out 500,1000,1500] [--seed 1]
"""

import argparse
import asyncio
import bisect
import functools
import json
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl, unquote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import genstatus_sync as gs
from genstatus_sync.testing import MockTransport, _render, json_reply
from genstatus_sync.testing._render import JobView

PROVIDERS = ("sivi", "rivya", "sellerpic", "clipia")
API_KEY = "bench-key"
CLIENTS = {"sivi": gs.SiviClient, "rivya": gs.RivyaClient, "sellerpic": gs.SellerPicClient,
           "clipia": gs.ClipiaClient}
DURATIONS = (10.0, 120.0)
QUEUED_SHARE = 0.1  # a job is queued for this share of its duration, then running
WITH_PROGRESS = ("sivi", "clipia")
# the top-out's schedule: a poll every 0.1-1.9 s, so that the jobs' polls spread out at once
SPREAD_SECOND = gs.Backoff(first_delay=1.0, initial=1.0, multiplier=1.0, max_interval=1.0,
                           jitter=0.9)


# -- the jobs: an id says when the job was submitted and how long it runs ---------------------

def job_id(index: int, start_ms: int, duration_ms: int) -> str:
    """Digits only (SellerPic ids are int64): 1, the submission in ms after the server's
    epoch (7 digits), the duration in ms (6), the index (5)."""
    if not (0 <= start_ms < 10**7 and 0 < duration_ms < 10**6 and 0 <= index < 10**5):
        raise ValueError("job out of the id's range")
    return f"1{start_ms:07d}{duration_ms:06d}{index:05d}"


def job_times(job: str) -> Tuple[float, float]:
    """(submitted, duration) in seconds, the submission on the server's epoch."""
    return int(job[1:8]) / 1000.0, int(job[8:14]) / 1000.0


def view(job: str, now: float) -> JobView:
    """The job as it is at ``now`` (seconds after the server's epoch)."""
    start, duration = job_times(job)
    elapsed = now - start
    if elapsed >= duration:
        state, progress = "succeeded", None
    elif elapsed >= QUEUED_SHARE * duration:
        state, progress = "running", round(100.0 * elapsed / duration, 1)
    else:
        state, progress = "queued", None
    return JobView(job, state, progress, 0 if state == "queued" else None,
                   [f"https://media.example.test/{job}.png"], None)


def answer(path: str, query: Dict[str, str], now: float) -> Tuple[int, Dict[str, Any]]:
    """(HTTP status, JSON body) for a request at ``now``, as the four providers write it."""
    if path == "/api/prod/v2/enterprise/get-request-status":
        provider, job, endpoint = "sivi", json.loads(query["queryParams"])["requestId"], "status"
    elif path == "/v1/api/generate":
        provider, job, endpoint = "sellerpic", query["id"], "status"
    elif path.startswith("/api/v1/generations/"):
        provider, job, endpoint = "rivya", unquote(path.rsplit("/", 1)[1]), "status"
    elif path.startswith("/v1/requests/"):
        parts = path.split("/")
        provider, job = "clipia", unquote(parts[3])
        endpoint = "status" if len(parts) == 5 else "result"
    else:
        return 404, {"error": "no such endpoint"}
    seen = view(job, now)
    if provider not in WITH_PROGRESS:
        seen.progress = None
    if provider == "sivi":
        return 200, _render.sivi(seen)
    if provider == "rivya":
        return 200, _render.rivya(seen)
    if provider == "sellerpic":
        return 200, _render.sellerpic(seen, "trace")
    if endpoint == "status":
        return 200, _render.clipia_status(seen)
    return _render.clipia_result(seen)


# -- the server process -----------------------------------------------------------------------

def serve(latency: float) -> None:
    """Answer on a free loopback port after ``latency`` s; print the port and the epoch (on
    time.monotonic, which is system-wide); serve until stdin closes."""
    epoch = time.monotonic()
    phrases = {200: b"OK", 202: b"Accepted", 404: b"Not Found"}

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                now = time.monotonic() - epoch
                target = head.split(b" ", 2)[1].decode("latin-1")
                path, _, raw_query = target.partition("?")
                status, body = answer(path, dict(parse_qsl(raw_query)), now)
                data = json.dumps(body).encode()
                await asyncio.sleep(latency)
                writer.write(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s"
                             % (status, phrases[status], len(data), data))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(connection, "127.0.0.1", 0, backlog=4096)
        port = server.sockets[0].getsockname()[1]
        print(json.dumps({"port": port, "epoch": epoch}), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        threading.Thread(target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)),
                         daemon=True).start()
        async with server:
            await stop.wait()

    asyncio.run(main())


class Server:
    """The server in a child process: ``url``, ``epoch`` (its time.monotonic() at zero)."""

    def __init__(self, latency: float) -> None:
        self.latency = latency

    def __enter__(self) -> "Server":
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--latency", str(self.latency)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        started = json.loads(self.process.stdout.readline())
        self.url = f"http://127.0.0.1:{started['port']}"
        self.epoch = started["epoch"]
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Counting:
    """A transport that records when each request was sent and its reply's status, and the
    most requests it had in flight at once (``lock``: shared by the four clients')."""

    def __init__(self, inner: Any, lock: threading.Lock, flying: List[int]) -> None:
        self.inner, self._lock, self._flying = inner, lock, flying
        self.sent: List[Tuple[float, int]] = []

    def get(self, request: Any, **kwargs: Any) -> Any:
        with self._lock:
            self._flying[0] += 1
            self._flying[1] = max(self._flying[1], self._flying[0])
        sent = time.monotonic()
        try:
            reply = self.inner.get(request, **kwargs)
        finally:
            with self._lock:
                self._flying[0] -= 1
        self.sent.append((sent, reply.status))
        return reply

    def close(self) -> None:
        self.inner.close()


def scaled(backoff: gs.Backoff, scale: float) -> gs.Backoff:
    return gs.Backoff(first_delay=backoff.first_delay * scale, initial=backoff.initial * scale,
                      multiplier=backoff.multiplier, max_interval=backoff.max_interval * scale,
                      jitter=backoff.jitter)


def backoffs(scale: float, fixed: Optional[gs.Backoff] = None) -> Dict[str, gs.Backoff]:
    return {p: fixed or scaled(CLIENTS[p].default_backoff, scale) for p in PROVIDERS}


# -- the solo figures: each job waited alone, on a virtual clock -------------------------------

def solo(jobs: List[Tuple[str, str]], schedule: Dict[str, gs.Backoff],
         latency: float) -> Tuple[List[int], List[float], List[float]]:
    """Per job: (requests, lag, times of its requests) of ``client.wait`` alone, on a virtual
    clock, the replies computed as the server computes them and ``latency`` late."""
    now = [0.0]
    count = [0]
    times: List[float] = []

    def handler(request: Any) -> Any:
        count[0] += 1
        times.append(now[0])
        path = request.url.split("://", 1)[1].split("/", 1)[1]
        status, body = answer("/" + path, dict(request.params), now[0])
        now[0] += latency
        return json_reply(body, status)

    def sleep(seconds: float) -> None:
        now[0] += seconds

    clients = {p: CLIENTS[p](api_key=API_KEY, base_url="http://127.0.0.1:9",
                             transport=MockTransport(handler), backoff=schedule[p],
                             sleep=sleep, clock=lambda: now[0]) for p in PROVIDERS}
    requests, lags = [], []
    for provider, job in jobs:
        start, duration = job_times(job)
        now[0], count[0] = start, 0
        # alone: an empty history, as wait_all's jobs start with one (a call plans from the
        # history as it was when it began, so jobs waited together do not learn from each other)
        clients[provider].history = gs.DurationHistory()
        status = clients[provider].wait(job, timeout=None)
        assert status.state is gs.State.SUCCEEDED, status
        requests.append(count[0])
        lags.append(now[0] - (start + duration))
    return requests, lags, times


# -- the real run -----------------------------------------------------------------------------

def make_jobs(n: int, seed: int, scale: float, durations: Tuple[float, float],
              start_ms: int) -> List[Tuple[str, str]]:
    """N jobs of the four providers in turn, submitted at ``start_ms``, their durations drawn
    uniformly from ``durations`` (times ``scale``) with ``seed``."""
    rng = random.Random(seed)
    low, high = durations
    return [(PROVIDERS[i % 4],
             job_id(i, start_ms, round(1000 * scale * rng.uniform(low, high))))
            for i in range(n)]


def real(server: Server, jobs_of: Any, schedule: Dict[str, gs.Backoff],
         max_in_flight: Optional[int] = None, sample: bool = False) -> Dict[str, Any]:
    """Submit the jobs ``jobs_of(start_ms)`` makes and wait for them with one wait_all."""
    clients = {p: CLIENTS[p](api_key=API_KEY, base_url=server.url, backoff=schedule[p])
               for p in PROVIDERS}
    lock, flying = threading.Lock(), [0, 0]  # in flight now, at most
    counters = {p: Counting(c.transport, lock, flying) for p, c in clients.items()}
    for p, c in clients.items():
        c.transport = counters[p]
    t0 = time.monotonic() + 1.0  # the submission: the wait_all call starts then
    jobs = jobs_of(round((t0 - server.epoch) * 1000))
    index = {(p, (str(int(j)) if p == "sellerpic" else j)): i for i, (p, j) in enumerate(jobs)}
    handles = [clients[p].job(j) for p, j in jobs]
    seen: List[Optional[float]] = [None] * len(jobs)

    def on_update(status: gs.JobStatus) -> None:
        if status.done:
            seen[index[(status.provider, status.job_id)]] = time.monotonic()

    longest = max(job_times(j)[1] for _, j in jobs)
    samples: List[Tuple[float, float]] = []
    sampling = threading.Event()

    def sampler() -> None:  # (seconds since t0, process CPU seconds), every 0.25 s
        while not sampling.wait(0.25):
            samples.append((time.monotonic() - t0, time.process_time()))

    time.sleep(max(0.0, t0 - time.monotonic()))
    if sample:
        threading.Thread(target=sampler, daemon=True).start()
    wall, cpu = time.monotonic(), time.process_time()
    outcomes = gs.wait_all(handles, timeout=2 * longest + 60, on_update=on_update,
                           max_in_flight=max_in_flight)
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    sampling.set()
    sent = sorted(t - t0 for c in counters.values() for t, _ in c.sent)
    requests = len(sent)
    lags, lost = [], 0
    for (_, j), outcome, at in zip(jobs, outcomes, seen):
        if not isinstance(outcome, gs.JobStatus) or outcome.state is not gs.State.SUCCEEDED \
                or at is None:
            lost += 1
            continue
        start, duration = job_times(j)
        lags.append(at - server.epoch - (start + duration))
    for c in clients.values():
        c.close()
    return {"jobs": jobs, "requests": requests, "lags": lags, "lost": lost, "wall": wall,
            "cpu": cpu, "sent": sent, "in_flight": flying[1], "samples": samples,
            "errors": sum(s not in (200, 202) for c in counters.values() for _, s in c.sent)}


def single_cpu(server: Server, calls: int) -> float:
    """CPU per get_status() of a sequential loop against the server (whole process)."""
    clients = {p: CLIENTS[p](api_key=API_KEY, base_url=server.url) for p in PROVIDERS}
    start_ms = round((time.monotonic() - server.epoch) * 1000)
    jobs = [(p, job_id(i, start_ms, 999_999)) for i, p in enumerate(PROVIDERS)]
    for p, j in jobs:
        clients[p].get_status(j)  # warm the connection and the converter
    cpu = time.process_time()
    for i in range(calls):
        p, j = jobs[i % 4]
        clients[p].get_status(j)
    cpu = time.process_time() - cpu
    for c in clients.values():
        c.close()
    return cpu / calls


def median(values: List[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p95(values: List[float]) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=20)[18]


def peak_rate(times: List[float], window: float = 1.0) -> float:
    """The most requests per second in any ``window`` seconds, from the request times."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best / window


def rate_between(times: List[float], low: float, high: float) -> float:
    """Requests per second sent between ``low`` and ``high`` seconds (sorted times)."""
    return (bisect.bisect_left(times, high) - bisect.bisect_left(times, low)) / (high - low)


def run_sizes(server: Server, sizes: List[int], scale: float, seed: int, latency: float,
              calls: int, max_in_flight: Optional[int]) -> None:
    single = single_cpu(server, calls)
    schedule = backoffs(scale)
    low, high = (d * scale for d in DURATIONS)
    print(f"wait_all at {latency * 1000:.0f} ms latency: N jobs of the four providers in turn, "
          f"submitted at once, durations uniform {low:g}-{high:g} s, default backoffs"
          + ("" if scale == 1 else f" x {scale:g}") + f", seed {seed}, max_in_flight="
          + ("default" if max_in_flight is None else str(max_in_flight)))
    print("solo: the same jobs each waited alone by client.wait with the same schedule, on a "
          "virtual clock (same replies, same latency)")
    print(f"CPU per request: the client process's (all threads) over the wait_all call; single:"
          f" a sequential get_status() loop, same server and latency ({calls} calls): "
          f"{single * 1e6:.0f} us")
    print()
    header = (f"{'N':>6} | {'req/job':>7} {'solo':>6} {'ratio':>6} | {'lag med':>7} {'solo':>6} "
              f"{'ratio':>6} | {'lag p95':>7} {'solo':>6} {'ratio':>6} | {'CPU/req':>7} "
              f"{'ratio':>6} | {'lost':>4}")
    print(header)
    print("-" * len(header))
    loads = []
    for n in sizes:
        jobs_of = functools.partial(make_jobs, n, seed * 1_000_003 + n, scale, DURATIONS)
        got = real(server, jobs_of, schedule, max_in_flight)
        solo_requests, solo_lags, solo_times = solo(got["jobs"], schedule, latency)
        req_job, solo_req = got["requests"] / n, statistics.fmean(solo_requests)
        med, solo_med = median(got["lags"]), median(solo_lags)
        tail, solo_tail = p95(got["lags"]), p95(solo_lags)
        per_request = got["cpu"] / max(1, got["requests"])
        print(f"{n:>6} | {req_job:7.2f} {solo_req:6.2f} {req_job / solo_req:6.3f} | "
              f"{med:6.2f}s {solo_med:5.2f}s {med / solo_med:6.3f} | "
              f"{tail:6.2f}s {solo_tail:5.2f}s {tail / solo_tail:6.3f} | "
              f"{per_request * 1e6:5.0f}us {per_request / single:6.3f} | {got['lost']:>4}",
              flush=True)
        loads.append((n, got, solo_times))
    print()
    header = (f"{'N':>6} | {'wall':>5} {'req/s':>6} {'CPU%':>5} | {'busiest 1 s':>12} "
              f"{'busiest 10 s':>13} | {'in flight':>9}")
    print(header)
    print("-" * len(header))
    for n, got, solo_times in loads:
        wall = got["wall"]
        print(f"{n:>6} | {wall:4.0f}s {got['requests'] / wall:6.0f} "
              f"{100 * got['cpu'] / wall:4.0f}% | "
              f"{peak_rate(got['sent']):5.0f}/{peak_rate(solo_times):<6.0f} "
              f"{peak_rate(got['sent'], 10):6.0f}/{peak_rate(solo_times, 10):<6.0f} | "
              f"{got['in_flight']:>9}")
    print("req/s: wait_all's mean over the call; CPU%: the client process's CPU over wall time "
          "(100% = one core); busiest: requests per second sent by wait_all / asked by the "
          "schedule (solo) in the busiest window; in flight: the most requests at once")


def run_top_out(server: Server, rates: List[int], seconds: float, seed: int, latency: float,
                in_flight: int) -> None:
    schedule = backoffs(1.0, SPREAD_SECOND)
    interval = SPREAD_SECOND.initial + latency
    low = seconds / 2
    print()
    print(f"top-out: jobs on a backoff of {SPREAD_SECOND.initial:g} s (jitter "
          f"{SPREAD_SECOND.jitter:g}, so 0.1-1.9 s; Sivi and Clipia stretch it from their "
          f"progress), as many as the rate asked x 1.1 s; they finish uniformly in "
          f"{low:g}-{seconds:g} s. "
          f"Between {low / 4:g} s and {low:g} s, when all are polled: asked (the solo "
          f"schedule's req/s), achieved req/s, the client's CPU; lag of all jobs")
    header = (f"{'asked':>6} {'jobs':>6} {'cap':>7} | {'req/s':>6} {'CPU%':>5} {'in flight':>9} | "
              f"{'lag med':>7} {'solo':>6} {'lag p95':>7} {'solo':>6} {'lost':>4}")
    print(header)
    print("-" * len(header))
    for rate in rates:
        n = round(rate * interval)
        for limit in (None, in_flight):
            jobs_of = functools.partial(make_jobs, n, seed * 7919 + rate, 1.0, (low, seconds))
            got = real(server, jobs_of, schedule, max_in_flight=limit, sample=True)
            _, solo_lags, solo_times = solo(got["jobs"], schedule, latency)
            cpu = cpu_between(got["samples"], low / 4, low)
            asked = rate_between(sorted(t - job_times(got["jobs"][0][1])[0] for t in solo_times),
                                 low / 4, low)
            print(f"{asked:>6.0f} {n:>6} {'default' if limit is None else limit:>7} | "
                  f"{rate_between(got['sent'], low / 4, low):6.0f} {100 * cpu:4.0f}% "
                  f"{got['in_flight']:>9} | "
                  f"{median(got['lags']):6.2f}s {median(solo_lags):5.2f}s "
                  f"{p95(got['lags']):6.2f}s {p95(solo_lags):5.2f}s {got['lost']:>4}", flush=True)


def cpu_between(samples: List[Tuple[float, float]], low: float, high: float) -> float:
    """The client process's CPU share (1.0: one core) between ``low`` and ``high`` s."""
    inside = [s for s in samples if low <= s[0] <= high]
    if len(inside) < 2:
        return float("nan")
    (t1, c1), (t2, c2) = inside[0], inside[-1]
    return (c2 - c1) / (t2 - t1)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000",
                        help="numbers of jobs, comma-separated (0 or empty: none)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="durations and backoffs times this (smoke tests: 0.05)")
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--single-calls", type=int, default=100,
                        help="get_status() calls of the single-call CPU figure")
    parser.add_argument("--max-in-flight", type=int, default=None,
                        help="wait_all's max_in_flight for the sizes (default: its own)")
    parser.add_argument("--top-out", default="", help="request rates to try, comma-separated")
    parser.add_argument("--top-out-seconds", type=float, default=20.0)
    parser.add_argument("--top-out-in-flight", type=int, default=512)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.latency)
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip() and int(s) > 0]
    rates = [int(s) for s in args.top_out.split(",") if s.strip()]
    with Server(args.latency) as server:
        if sizes:
            run_sizes(server, sizes, args.scale, args.seed, args.latency, args.single_calls,
                      args.max_in_flight)
        if rates:
            run_top_out(server, rates, args.top_out_seconds, args.seed, args.latency,
                        args.top_out_in_flight)
    return 0


if __name__ == "__main__":
    sys.exit(main())
