"""The ``genstatus`` command line: ``status``, ``wait`` and ``demo``.

Exit codes: 0 done (wait: succeeded), 1 generation failed, 2 usage or configuration error,
3 timed out, 4 API or transport error. Keys come from the environment only.
"""

import argparse
import json
import sys
import time
from typing import Any, Callable, List, Optional, TextIO

from ._registry import PROVIDERS, client_class
from .errors import ConfigurationError, GenerationFailed, GenStatusError, WaitTimeout
from .status import JobStatus, State

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TIMEOUT, EXIT_ERROR = 0, 1, 2, 3, 4


def _client(provider: str, base_url: Optional[str]) -> Any:
    return client_class(provider)(base_url=base_url)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genstatus",
        description="Read and wait for AI generation jobs (keys from SIVI_API_KEY, "
                    "RIVYA_API_KEY, SELLERPIC_API_KEY, CLIPIA_API_KEY).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in (("status", "read a job's status once"),
                       ("wait", "wait until a job finishes")):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("provider", choices=PROVIDERS, metavar="PROVIDER",
                         help=f"one of {', '.join(PROVIDERS)}")
        sub.add_argument("job_id", metavar="JOB_ID")
        sub.add_argument("--json", action="store_true", help="print the status as JSON")
        sub.add_argument("--base-url", help="override the provider's base URL")
        sub.add_argument("--abstract-user-id", help="Sivi: read another user's request")
    wait = commands.choices["wait"]
    wait.add_argument("--timeout", type=float, default=600.0, help="seconds (default 600)")
    wait.add_argument("--quiet", action="store_true", help="show no progress")
    commands.add_parser("demo", help="run all four providers against local fake servers",
                        description="Start the built-in fake providers and wait for one job "
                                    "of each, offline.")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line; return the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        return demo()
    extra = {"abstract_user_id": args.abstract_user_id} if args.abstract_user_id else {}
    try:
        client = _client(args.provider, args.base_url)
    except ConfigurationError as exc:
        print(f"genstatus: {exc}", file=sys.stderr)
        return EXIT_USAGE
    with client:
        try:
            if args.command == "status":
                status = client.poll(args.job_id, **extra)
                code = EXIT_OK
            else:
                status, code = _wait(client, args, extra)
        except ConfigurationError as exc:
            print(f"genstatus: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except GenStatusError as exc:
            print(f"genstatus: {exc}", file=sys.stderr)
            return EXIT_ERROR
    _print_status(status, args.json, sys.stdout)
    return code


def _wait(client: Any, args: argparse.Namespace, extra: Any) -> "tuple[JobStatus, int]":
    display = None if args.quiet else Progress(sys.stderr, f"{args.provider} {args.job_id}")
    if display is not None and display.live:
        client._sleep = display.sleep
    try:
        status = client.wait(args.job_id, timeout=args.timeout,
                             on_update=display.update if display else None, **extra)
        code = EXIT_OK
    except GenerationFailed as exc:
        status, code = exc.status, EXIT_FAILED
    except WaitTimeout as exc:
        if display:
            display.finish()
        print(f"genstatus: {exc}", file=sys.stderr)
        if exc.last is None:
            return JobStatus(provider=args.provider, job_id=args.job_id,
                             state=State.UNKNOWN), EXIT_TIMEOUT
        return exc.last, EXIT_TIMEOUT
    finally:
        if display:
            display.finish()
    return status, code


def _print_status(status: JobStatus, as_json: bool, out: TextIO) -> None:
    if as_json:
        out.write(json.dumps(status.to_dict()) + "\n")
        return
    line = f"{status.provider} {status.job_id}: {status.state.value}"
    if status.progress is not None and not status.done:
        line += f" {status.progress:.0f}%"
    if status.queue_position is not None:
        line += f" (queue position {status.queue_position})"
    if status.error:
        line += f": {status.error}"
    out.write(line + "\n")
    for url in status.result_urls:
        out.write(f"  {url}\n")


class Progress:
    """Progress on stderr: a live line on a terminal, one line per change otherwise."""

    def __init__(self, stream: TextIO, label: str, clock: Callable[[], float] = time.monotonic):
        self.stream, self.label, self.clock = stream, label, clock
        self.live = stream.isatty()
        self.started = clock()
        self.last: Optional[JobStatus] = None

    def update(self, status: JobStatus) -> None:
        self.last = status
        if self.live:
            self._draw(None)
        else:
            self.stream.write(f"{self.label}: {self._describe(status)} "
                              f"({self.clock() - self.started:.1f}s)\n")
            self.stream.flush()

    def sleep(self, seconds: float) -> None:
        end = self.clock() + seconds
        while True:
            left = end - self.clock()
            if left <= 0:
                return
            self._draw(left)
            time.sleep(min(0.2, left))

    def finish(self) -> None:
        if self.live and self.last is not None:
            self._draw(None)
            self.stream.write("\n")
            self.stream.flush()
            self.last = None

    @staticmethod
    def _describe(status: JobStatus) -> str:
        text = status.state.value
        if status.progress is not None:
            text += f" {status.progress:.0f}%"
        if status.queue_position is not None:
            text += f" queue {status.queue_position}"
        return text

    def _draw(self, next_poll: Optional[float]) -> None:
        if self.last is None:
            return
        progress = self.last.progress
        filled = int((progress if progress is not None else (100 if self.last.done else 0)) / 5)
        bar = "#" * filled + "." * (20 - filled)
        tail = f" next poll {next_poll:4.1f}s" if next_poll is not None else ""
        self.stream.write(f"\r{self.label}: [{bar}] {self._describe(self.last):<18} "
                          f"{self.clock() - self.started:5.1f}s{tail}\x1b[K")
        self.stream.flush()


def demo() -> int:
    """Wait for one scripted job of each provider on the built-in fake providers."""
    from . import Backoff, wait_all
    from .testing import FakeProviders

    quick = Backoff(first_delay=0.0, initial=0.2, multiplier=1.3, max_interval=0.4)
    script = ["queued", "queued", "running", "running", "running", "running", "succeeded"]
    print("genstatus demo: four fake providers on 127.0.0.1, one job each (offline)")
    with FakeProviders(api_key="demo-key") as fake:
        jobs = []
        for provider in PROVIDERS:
            job_id = fake.add_job(provider, script, every=0.3,
                                  progress=[None, None, 10, 35, 60, 85, 100])
            jobs.append((fake.client(provider, backoff=quick), job_id))
        started = time.monotonic()

        def show(status: JobStatus) -> None:
            print(f"  {time.monotonic() - started:4.1f}s  {status.provider:<9} "
                  f"{Progress._describe(status)}", flush=True)

        outcomes = wait_all(jobs, timeout=30.0, on_update=show)
        for client, _ in jobs:
            client.close()
    print("results:")
    ok = True
    for outcome in outcomes:
        if isinstance(outcome, JobStatus):
            _print_status(outcome, False, sys.stdout)
            ok = ok and outcome.state is State.SUCCEEDED
        else:
            print(f"  error: {outcome}")
            ok = False
    return EXIT_OK if ok else EXIT_ERROR
