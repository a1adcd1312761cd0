"""One status poll: client.get_status() next to a bare requests call for the same reply.

Against FakeProviders on loopback with keep-alive, served from a separate process (so that
the server's Python does not compete for this process's GIL), per provider, interleaved
call by call:
  ours: client.get_status(job)                                  (the generated model)
  bare: session.get(url, params=..., headers=..., timeout=...).json()   (a dict), sending what
        a correct hand-written call needs: the key, and for SellerPic the
        `Content-Type: application/json` its document requires
  floor: the bare call on a session that read the environment's proxy and CA settings once
         and then has trust_env=False, as the clients' sessions do: requests' own per-request
         scan of os.environ (about a third of `bare` here) is what separates it from `bare`
Before and after the timed calls, bare and floor must get HTTP 200 and the very body the
client gets (SellerPic: but its per-reply traceId), or the script stops with an error.
Prints median wall times and ratios (target: ours <= 1.05 x floor), and the same for the
calling thread's CPU time (time.thread_time: the in-process server's work is not counted).

    python benchmarks/poll_overhead.py [--calls 2000]
"""

import argparse
import functools
import json
import statistics
import subprocess
import sys
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests

from genstatus_sync.testing import FakeProviders, MockTransport

PROVIDERS = ("sivi", "rivya", "sellerpic", "clipia")


def bare_request(fake, provider, job):
    """(url, params, headers) of the same request the client sends: what the provider's
    document requires of a call, nothing more (not the client's User-Agent or Accept)."""
    if provider == "sivi":
        return (f"{fake.url}/api/prod/v2/enterprise/get-request-status",
                {"queryParams": json.dumps({"requestId": job}, separators=(",", ":"))},
                {"sivi-api-key": fake.api_key})
    if provider == "rivya":
        return (f"{fake.url}/api/v1/generations/{job}", None,
                {"Authorization": f"Bearer {fake.api_key}"})
    if provider == "sellerpic":
        return (f"{fake.url}/v1/api/generate", {"id": job},
                {"Authorization": f"Bearer {fake.api_key}", "Content-Type": "application/json"})
    return (f"{fake.url}/v1/requests/{job}/status", None,
            {"Authorization": f"Key {fake.api_key}"})


def bare_call(session, url, params, headers):
    return session.get(url, params=params, headers=headers, timeout=(5.0, 30.0)).json()


def recorded_reply(client, job):
    """The Reply the client's own transport gets for one get_status(job)."""
    real = client.transport
    replies = []

    def record(request):
        replies.append(real.get(request, timeout=client.timeout, total=None))
        return replies[-1]

    client.transport = MockTransport(record)
    try:
        client.get_status(job)
    finally:
        client.transport = real
    return replies[0]


def comparable(body):
    """A reply body as compared between the calls: decoded, without SellerPic's traceId (a
    new one in every reply)."""
    data = json.loads(body)
    if isinstance(data, dict):
        data.pop("traceId", None)
    return data


def check_same_reply(provider, client, job, sessions, url, params, headers):
    """Stop unless each of ``sessions`` (name: session) gets HTTP 200 and the body the client
    gets, so that the timed calls are of the same reply."""
    reply = recorded_reply(client, job)
    if reply.status != 200:
        raise SystemExit(f"poll_overhead: {provider}: the client got HTTP {reply.status}")
    ours = comparable(reply.body)
    for name, session in sessions.items():
        response = session.get(url, params=params, headers=headers, timeout=(5.0, 30.0))
        if response.status_code != 200:
            raise SystemExit(f"poll_overhead: {provider}: the {name} call got HTTP "
                             f"{response.status_code}, not the client's 200: "
                             f"{response.text[:200]}")
        if comparable(response.content) != ours:
            raise SystemExit(f"poll_overhead: {provider}: the {name} call got another body than "
                             f"the client's: {response.text[:200]} != {reply.body[:200]!r}")


def offline_seconds(client, job):
    """get_status with the reply in hand: our code around one request (id check, URL, reply
    checks, decoding, parse into the model), without the request."""
    real = client.transport
    reply = recorded_reply(client, job)  # one real request, to record its reply
    client.transport = MockTransport(lambda request: reply)
    best = min(timeit.repeat(functools.partial(client.get_status, job), number=2000,
                             repeat=5)) / 2000
    client.transport = real
    return best


def measure(call, wall, cpu):
    start_wall, start_cpu = time.perf_counter(), time.thread_time()
    call()
    cpu.append(time.thread_time() - start_cpu)
    wall.append(time.perf_counter() - start_wall)


def serve():
    """The server process: start FakeProviders, print its URL and jobs, serve until stdin ends."""
    with FakeProviders(api_key="bench-key") as fake:
        jobs = {p: fake.add_job(p, ["running"], progress=[42.0]) for p in PROVIDERS}
        print(json.dumps({"url": fake.url, "jobs": jobs}), flush=True)
        sys.stdin.read()


class RemoteFake:
    """FakeProviders in a child process; ``client()`` and ``url`` as the real one has."""

    api_key = "bench-key"

    def __enter__(self):
        self.process = subprocess.Popen([sys.executable, __file__, "--serve"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        started = json.loads(self.process.stdout.readline())
        self.url, self.jobs = started["url"], started["jobs"]
        return self

    def __exit__(self, *exc_info):
        self.process.stdin.close()
        self.process.wait(timeout=10)

    def client(self, provider):
        return FakeProviders.client(self, provider)


def run(calls):
    """{provider: {"ours"|"bare"|"floor": (median wall, median cpu)}} in seconds."""
    results = {}
    with RemoteFake() as fake:
        for provider in PROVIDERS:
            job = fake.jobs[provider]
            client = fake.client(provider)
            url, params, headers = bare_request(fake, provider, job)
            session, floor_session = requests.Session(), requests.Session()
            settings = floor_session.merge_environment_settings(url, {}, None, None, None)
            floor_session.trust_env = False
            floor_session.proxies, floor_session.verify = settings["proxies"], settings["verify"]
            calls_by_name = {
                "ours": functools.partial(client.get_status, job),
                "bare": functools.partial(bare_call, session, url, params, headers),
                "floor": functools.partial(bare_call, floor_session, url, params, headers),
            }
            sessions = {"bare": session, "floor": floor_session}
            check_same_reply(provider, client, job, sessions, url, params, headers)
            for _ in range(max(20, calls // 20)):  # warm: connections, converter, caches
                for call in calls_by_name.values():
                    call()
            walls = {name: [] for name in calls_by_name}
            cpus = {name: [] for name in calls_by_name}
            order = list(calls_by_name)
            for i in range(calls):
                for name in order[i % 3:] + order[:i % 3]:  # rotate who goes first
                    measure(calls_by_name[name], walls[name], cpus[name])
            check_same_reply(provider, client, job, sessions, url, params, headers)
            results[provider] = {name: (statistics.median(walls[name]),
                                        statistics.median(cpus[name])) for name in order}
            results[provider]["offline"] = (offline_seconds(client, job), 0.0)
            client.close()
            session.close()
            floor_session.close()
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls of each, per provider")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve()
    results = run(args.calls)
    print(f"median of {args.calls} interleaved calls each, per provider (microseconds)")
    print(f"{'':<10} {'-- wall time --':^38}   {'-- calling thread CPU --':^38}")
    header = f"{'ours':>6} {'bare':>6} {'floor':>6} {'/bare':>6} {'/floor':>6}"
    print(f"{'provider':<10} {header}         {header}")
    worst = worst_floor = 0.0
    for provider, r in results.items():
        cells = []
        for i in (0, 1):
            ours, bare, floor = (r[name][i] for name in ("ours", "bare", "floor"))
            cells.append(f"{ours * 1e6:6.0f} {bare * 1e6:6.0f} {floor * 1e6:6.0f} "
                         f"{ours / bare:6.3f} {ours / floor:6.3f}")
        worst = max(worst, r["ours"][0] / r["bare"][0])
        worst_floor = max(worst_floor, r["ours"][0] / r["floor"][0])
        print(f"{provider:<10} {cells[0]}         {cells[1]}")
    print(f"worst wall-time ratio to bare requests: {worst:.3f}")
    print(f"worst wall-time ratio to the floor: {worst_floor:.3f} (target <= 1.05)")
    offline = ", ".join(f"{p} {r['offline'][0] * 1e6:.1f}" for p, r in results.items())
    print(f"of ours, the work around the request (ids, URL, checks, parse), us: {offline}")
    print("checked before and after the timed calls: bare and floor got HTTP 200 and the "
          "client's body (SellerPic: but its traceId)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
