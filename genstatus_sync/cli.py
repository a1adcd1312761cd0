"""The ``genstatus`` command line: ``status``, ``wait`` and ``demo``.

Exit codes: 0 done (wait: succeeded), 1 generation failed, 2 usage or configuration error
(before anything runs), 3 timed out, 4 API or transport error (a failed download included);
for many jobs the worst outcome wins (4 > 3 > 1 > 0); 130 interrupted (Ctrl-C). Keys come
from the environment only.

Output never ends in a traceback: a closed stdout or stderr (``| head -1``) is written to no
more and the command ends as it would have (same exit code, not 141); a character the
terminal's encoding lacks is printed escaped (``\\xfc``, ``\\U0001f984``).
"""

import argparse
import contextlib
import errno
import json
import logging
import math
import os
import signal
import sys
import tempfile
import threading
import time
import typing
import unicodedata
from typing import IO, Any, Callable, Dict, List, Optional, Sequence, TextIO, Tuple, cast

from ._config import INSECURE_HINT
from ._registry import PROVIDERS, client_class
from ._version import __version__
from .errors import ConfigurationError, GenStatusError, WaitTimeout
from .status import JobStatus, State

if typing.TYPE_CHECKING:
    from ._download import Downloader

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TIMEOUT, EXIT_ERROR = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130
REDRAW_EVERY = 0.2  # seconds between redraws of the live lines while nothing happens
MAX_LABEL = 48  # terminal cells of "provider job_id" shown in a progress line


class _Usage(Exception):
    """A usage or configuration error found before anything runs (exit 2)."""


def _client(provider: str, base_url: Optional[str]) -> Any:
    cls = client_class(provider)
    variable = f"{cls.env_prefix}_API_KEY"
    if not os.environ.get(variable):
        # (the library's own message would say "pass api_key=": no option of the command)
        raise _Usage(f"no {provider} API key: set {variable}")
    if base_url is not None and not base_url.strip():
        # (the library reads an empty one as not given: the provider's own host, where an
        # unset variable in --base-url "$URL" would send the key)
        raise _Usage("--base-url is empty: give a URL, or leave the option out")
    named = f"{cls.env_prefix}_BASE_URL"
    if base_url is None and named in os.environ and not os.environ[named].strip():
        # (the same for the variable: RIVYA_BASE_URL="$URL", or a compose file's ${URL})
        raise _Usage(f"{named} is empty: give a URL, or unset it")
    try:
        return cls(base_url=base_url)
    except ConfigurationError as exc:
        # (the library's message would say "pass allow_insecure=True": no option of the
        # command, which sends a key over plain http to loopback only)
        text = str(exc)
        if text.endswith(INSECURE_HINT):
            raise _Usage(text[:-len(INSECURE_HINT)] + " (plain http is for a loopback host "
                         "only: localhost, 127.0.0.0/8, [::1])") from None
        raise


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genstatus",
        description="Read and wait for AI generation jobs (keys from SIVI_API_KEY, "
                    "RIVYA_API_KEY, SELLERPIC_API_KEY, CLIPIA_API_KEY).")
    parser.add_argument("--version", action="version", version=f"genstatus {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in (("status", "read a job's status once"),
                       ("wait", "wait until jobs finish (many ids: waited on together)")):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("provider", choices=PROVIDERS, metavar="PROVIDER",
                         help=f"one of {', '.join(PROVIDERS)}")
        if name == "status":
            sub.add_argument("job_id", metavar="JOB_ID")
        else:
            sub.add_argument("job_ids", nargs="+", metavar="JOB_ID",
                             help="job ids; - reads them from stdin, one a line")
        sub.add_argument("--json", action="store_true",
                         help="print the status as JSON (wait: one object a line, in order)")
        sub.add_argument("--base-url", help="override the provider's base URL")
        sub.add_argument("--abstract-user-id", help="Sivi: read another user's request")
    wait = commands.choices["wait"]
    wait.add_argument("--timeout", type=float, default=600.0,
                      help="seconds for all the jobs together (default 600)")
    wait.add_argument("--quiet", action="store_true", help="show no progress")
    wait.add_argument("--download", metavar="DIR",
                      help="save every result of each succeeded job in DIR (an existing folder)")
    wait.add_argument("--download-timeout", type=float, metavar="S",
                      help="seconds each download may take as a whole (default: no limit; "
                           "each connect and read is bounded anyway)")
    commands.add_parser("demo", help="run all four providers against local fake servers",
                        description="Start the built-in fake providers and wait for one job "
                                    "of each, offline.")
    return parser


def _env_size(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.isascii() and value.isdigit() and 0 < int(value) < 10_000 else (
        default)


class _Signalled(BaseException):
    """SIGTERM or SIGHUP, raised where the command is, so that what it cleans up on the way
    out (a download's temporary file) is cleaned up, as for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _Stop:
    """When the signal the command is stopping on came (None: none yet)."""

    at: Optional[float] = None


_SAME_STOP = 1.0  # (s) a signal this soon after the first is the same stop: timeout(1)'s two


def _raise_signalled(signum: int, frame: object) -> None:
    now = time.monotonic()
    if _Stop.at is None:
        _Stop.at = now
        raise _Signalled(signum)
    if now - _Stop.at < _SAME_STOP:
        # a second one while the first unwinds (timeout(1) sends one to the process and one
        # to its group): raised again, it landed wherever the unwinding was, in a weakref
        # callback, and printed a traceback
        return
    # one sent later, while the stop's cleanup or its last output is held up (a reader that
    # reads nothing): the signal's own action, at once (it was ignored, for good)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _on_signals() -> Dict[int, Any]:
    """Route SIGTERM and SIGHUP to ``_Signalled`` (in the main thread, where a handler can be
    set; one ignored, as under nohup, stays ignored); the handlers they had, to be put back."""
    before: Dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return before
    _Stop.at = None
    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)  # (no SIGHUP on Windows)
        if number is not None and signal.getsignal(number) is signal.SIG_DFL:
            before[number] = signal.signal(number, _raise_signalled)
    return before


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line; return the exit code."""
    out, err = Output(sys.stdout), Output(sys.stderr)
    saved = sys.stdout, sys.stderr
    # argparse's messages and logging's last resort go through the same guards
    sys.stdout, sys.stderr = cast(TextIO, out), cast(TextIO, err)
    handlers = _on_signals()
    words: Optional[str] = None  # why the command stopped short, for its last line
    late: Optional[int] = None
    try:
        code = _run(argv, out, err)
    except KeyboardInterrupt:
        code, words = EXIT_INTERRUPTED, "interrupted"
    except _Signalled as stop:
        code, words = 128 + stop.signum, f"stopped by {signal.Signals(stop.signum).name}"
    finally:
        # flushed first: a second signal that comes once the handlers are back (timeout(1)
        # sends two, and the first may be handled before the second is sent) ends the process
        # at once, by that signal; what was printed must be out by then
        late = _last_words(out, err, words)
        for number, handler in handlers.items():
            signal.signal(number, handler)
        sys.stdout, sys.stderr = saved
        out.settle()
        err.settle()
    if late is not None:
        return late
    if words is not None:
        return code
    if out.failure is not None:  # the output is lost: not a success
        err.write(f"genstatus: cannot write the output: {_printable(str(out.failure))}\n")
        err.flush()
        return max(code, EXIT_ERROR)  # (the worst outcome wins: 4 > 3 > 1 > 0)
    return code


def _last_words(out: "Output", err: "Output", words: Optional[str]) -> Optional[int]:
    """Flush what the command printed, and write why it stopped short (``words``, if it
    did). A signal (or Ctrl-C) that comes while a reader that reads nothing holds a stream
    up ends the writing to that stream: what it holds is dropped (at exit it goes to
    os.devnull, see ``Output.settle``), and the exit code is then the signal's (returned;
    None when none came)."""
    late: Optional[int] = None

    def guarded(stream: "Output", step: Callable[[], object]) -> None:
        nonlocal late, words
        if stream.closed_pipe:
            return
        try:
            step()
        except (_Signalled, KeyboardInterrupt) as stop:
            stream.closed_pipe = True
            if late is None:
                signum = getattr(stop, "signum", None)
                late = EXIT_INTERRUPTED if signum is None else 128 + signum
                words = words or ("interrupted" if signum is None else
                                  f"stopped by {signal.Signals(signum).name}")

    guarded(out, out.flush)
    if words is not None:
        guarded(err, lambda: err.write(f"\ngenstatus: {words}\n"))
    guarded(err, err.flush)
    return late


def _run(argv: Optional[List[str]], out: "Output", err: "Output") -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        return demo(out)
    if args.command == "status":
        args.job_id = _from_argv(args.job_id)
    else:  # ("-" stays "-")
        args.job_ids = [_from_argv(item) for item in args.job_ids]
    if args.abstract_user_id is not None:
        args.abstract_user_id = _from_argv(args.abstract_user_id)
    try:
        if args.abstract_user_id is not None and args.provider != "sivi":
            raise _Usage("--abstract-user-id is for sivi only")
        if args.command == "status":
            return _status(args, out, err)
        return _wait(args, out, err)
    except (_Usage, ConfigurationError) as exc:
        err.write(f"genstatus: {_printable(str(exc))}\n")
        return EXIT_USAGE


def _extra(args: argparse.Namespace) -> Dict[str, str]:
    return ({"abstract_user_id": args.abstract_user_id} if args.abstract_user_id is not None
            else {})


def _status(args: argparse.Namespace, out: "Output", err: "Output") -> int:
    with _client(args.provider, args.base_url) as client:
        try:
            polled = client.poll(args.job_id, **_extra(args))
            # a finished Clipia request's results come from its result endpoint, as in wait
            # (tried again on a transient error, as the poll was)
            status = client._retrying(lambda: client._complete(polled, polled.job_id, None))
        except ConfigurationError:
            raise
        except GenStatusError as exc:
            err.write(f"genstatus: {_printable(str(exc))}\n")
            if args.json:  # one object on stdout whatever happened, as wait --json prints
                unknown = JobStatus(provider=args.provider, job_id=args.job_id,
                                    state=State.UNKNOWN)
                outcome = Outcome(unknown, EXIT_ERROR, str(exc) or type(exc).__name__)
                out.write(json.dumps(outcome.to_dict(args.job_id, False)) + "\n")
            return EXIT_ERROR
    if args.json:
        out.write(json.dumps(status.to_dict()) + "\n")
    else:
        _print_status(status, out)
    return EXIT_OK


# -- wait: many jobs ----------------------------------------------------------------------------

class Outcome:
    """What became of one job: its last known status, the error that ended it (or its
    download), the exit code it asks for and the files saved from its results."""

    def __init__(self, status: JobStatus, code: int, error: Optional[str] = None) -> None:
        self.status, self.code, self.error = status, code, error
        self.files: List[Optional[str]] = []

    def to_dict(self, job_id: str, with_files: bool) -> Dict[str, Any]:
        data = self.status.to_dict()
        data["job_id"] = job_id
        if self.error is not None:
            data["error"] = self.error
        if with_files:
            data["files"] = self.files
        return data


def _job_ids(given: Sequence[str], stdin: Optional[IO[str]]) -> List[str]:
    if list(given).count("-") > 1:
        raise _Usage("- (job ids from stdin) may be given once")
    ids: List[str] = []
    for item in given:
        if item != "-":
            ids.append(item)
            continue
        if stdin is None:
            raise _Usage("- given but there is no stdin to read job ids from")
        source = getattr(stdin, "buffer", None)
        try:
            text = source.read().decode("utf-8") if source is not None else stdin.read()
        except UnicodeDecodeError as exc:
            raise _Usage(f"job ids on stdin are not UTF-8 ({exc.reason} at byte "
                         f"{exc.start})") from None
        # (a byte-order mark starts each file that `cat a.txt b.txt` joins, not only the first)
        lines = (line.strip().lstrip("\ufeff").strip() for line in text.split("\n"))
        ids.extend(line for line in lines if line)
    if not ids:
        raise _Usage("no job ids (stdin had none)")
    return ids


def _from_argv(item: str) -> str:
    """An argument as the UTF-8 it was typed in: under a locale that is neither UTF-8 nor C
    (``LC_ALL=en_US.ISO-8859-1``), or with ``PYTHONUTF8=0``, Python decodes argv in its
    charset or with surrogate escapes, and a UTF-8 id would read as another one."""
    try:
        return os.fsencode(item).decode("utf-8")
    except UnicodeError:  # (not UTF-8 bytes: left as decoded, refused as such if garbled)
        return item


def _wait(args: argparse.Namespace, out: "Output", err: "Output") -> int:
    from ._wait import iter_wait_all

    ids = _job_ids(args.job_ids, sys.stdin)
    if args.download is not None:
        _check_folder(args.download)
    if args.timeout != args.timeout or args.timeout < 0:
        raise _Usage(f"--timeout must be seconds >= 0, got {args.timeout}")
    if args.download_timeout is not None and not args.download_timeout > 0:
        raise _Usage(f"--download-timeout must be seconds > 0, got {args.download_timeout}")
    with _client(args.provider, args.base_url) as client:
        handles = {job_id: client.job(job_id, **_extra(args))  # bad id: exit 2
                   for job_id in dict.fromkeys(ids)}
        # each job by the id the client reads it as (SellerPic's "0601" is job 601), once
        key_of = {given: job.job_id for given, job in handles.items()}
        by_key = {job.job_id: job for job in handles.values()}
        unique, jobs = list(by_key), list(by_key.values())
        display: Display = (Quiet(err) if args.quiet else
                            Live(err, unique, args.provider) if err.isatty() else
                            Plain(err))
        last: Dict[str, JobStatus] = {}

        def update(status: JobStatus) -> None:
            last[status.job_id] = status
            display.update(status)

        results: Dict[int, object] = {}
        with display.logging():
            try:
                display.start()  # (its ticker started: finish() ends it, whatever comes)
                # gs.wait_all, seeing each job end as it does; on the client's clock, as
                # client.wait would be
                for i, result in iter_wait_all(jobs, timeout=args.timeout, on_update=update,
                                               sleep=client._sleep, clock=client._clock):
                    results[i] = result
                    display.ended(unique[i], result)
            finally:
                display.finish()
    outcomes = {job_id: _outcome(args.provider, job_id, results[i], last.get(job_id), err)
                for i, job_id in enumerate(unique)}
    if args.download is not None:
        _download_all(unique, outcomes, args.download, display, err, args.download_timeout)
    for job_id in ids:
        outcome = outcomes[key_of[job_id]]
        if args.json:
            out.write(json.dumps(outcome.to_dict(job_id, args.download is not None)) + "\n")
        else:
            _print_status(outcome.status, out, outcome.files,
                          {EXIT_TIMEOUT: " (timed out)", EXIT_ERROR: " (error)"}.get(
                              outcome.code, ""))
    return max(outcome.code for outcome in outcomes.values())


def _check_folder(folder: str) -> None:
    """A --download folder that is one and takes a file, before the first poll (a read-only
    one was found once every wait had ended, up to --timeout later)."""
    if not os.path.isdir(folder):
        what = "not a folder" if os.path.exists(folder) else "no such folder"
        raise _Usage(f"--download {folder!r}: {what}")
    try:  # (a file without a name where the system allows, else removed at once)
        with tempfile.TemporaryFile(prefix=".genstatus-", suffix=".probe", dir=folder):
            pass
    except OSError as exc:
        raise _Usage(f"--download {folder!r}: cannot write a file there "
                     f"({exc.strerror or type(exc).__name__})") from None


def _outcome(provider: str, job_id: str, result: object, last: Optional[JobStatus],
             err: "Output") -> Outcome:
    if isinstance(result, JobStatus):
        return Outcome(result, EXIT_FAILED if result.state is State.FAILED else EXIT_OK)
    err.write(f"genstatus: {_printable(str(result))}\n")
    if isinstance(result, WaitTimeout):
        last = result.last or last
    status = last or JobStatus(provider=provider, job_id=job_id, state=State.UNKNOWN)
    code = EXIT_TIMEOUT if isinstance(result, WaitTimeout) else EXIT_ERROR
    return Outcome(status, code, str(result) or type(result).__name__)


def _download_all(ids: Sequence[str], outcomes: Dict[str, Outcome], folder: str,
                  display: "Display", err: "Output", total: Optional[float]) -> None:
    from ._download import Downloader

    with contextlib.closing(Downloader()) as downloader:  # one session for all of them
        for job_id in ids:
            _download_job(downloader, outcomes[job_id], job_id, folder, display, err, total)


def _download_job(downloader: "Downloader", outcome: Outcome, job_id: str, folder: str,
                  display: "Display", err: "Output", total: Optional[float]) -> None:
    from ._transport import shown_url  # the URL without credentials or query

    if outcome.status.state is not State.SUCCEEDED or outcome.code != EXIT_OK:
        return
    errors = []
    for url in outcome.status.result_urls:
        progress = display.downloading(outcome.status, url)
        try:
            path = downloader.download(url, folder, on_progress=progress, total=total)
        except (GenStatusError, OSError) as exc:
            display.saved(None)
            text = f"download of {shown_url(url)} failed: {exc}"
            err.write(f"genstatus: {outcome.status.provider} {_printable(job_id)}: "
                      f"{_printable(text)}\n")
            errors.append(text)
            outcome.files.append(None)
        else:
            display.saved(str(path))
            outcome.files.append(str(path))
    if errors:
        outcome.code, outcome.error = EXIT_ERROR, "; ".join(errors)


def _print_status(status: JobStatus, out: "Output", files: Sequence[Optional[str]] = (),
                  tag: str = "") -> None:
    line = f"{status.provider} {_printable(status.job_id)}: {status.state.value}"
    if status.progress is not None and not status.done:
        line += f" {status.progress:.0f}%"
    if status.queue_position is not None:
        line += f" (queue position {status.queue_position})"
    if status.error:
        line += f": {_printable(status.error)}"
    out.write(line + tag + "\n")
    for i, url in enumerate(status.result_urls):
        saved = files[i] if i < len(files) else None
        out.write(f"  {_printable(url)}" + (f" -> {_printable(saved)}" if saved else "") + "\n")


# -- progress on stderr -------------------------------------------------------------------------

def _describe(status: JobStatus) -> str:
    text = status.state.value
    if status.progress is not None:
        text += f" {status.progress:.0f}%"
    if status.queue_position is not None:
        text += f" queue {status.queue_position}"
    return text


def _printable(text: str) -> str:
    """``text`` with control and other unprintable characters escaped (``\\x1b``), so that an
    id or a server's message cannot move the cursor or change colours."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def _cells(c: str) -> int:
    if unicodedata.combining(c):
        return 0
    return 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1


def _width(text: str) -> int:
    """The terminal cells ``text`` takes."""
    return sum(_cells(c) for c in text)


def _fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` terminal cells (a wide character takes two)."""
    used = 0
    for i, c in enumerate(text):
        used += _cells(c)
        if used > width:
            return text[:i]
    return text


def _tail(text: str, width: int) -> str:
    """``text`` in ``width`` cells, its start elided (``...`` and the end of a path)."""
    if sum(map(_cells, text)) <= width:
        return text
    kept = _fit(text[::-1], max(0, width - 3))[::-1]
    return "..." + kept


def _size(n: Optional[int]) -> str:
    if n is None:
        return "?"
    if n < 1024:
        return f"{n} B"
    value, unit = n / 1024, "KB"
    for bigger in ("MB", "GB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}"


class Display:
    """Progress on stderr while jobs are waited on and their results saved."""

    def __init__(self, stream: "Output") -> None:
        self.stream = stream
        self.started = time.monotonic()

    def update(self, status: JobStatus) -> None:
        """A job's status changed."""

    def start(self) -> None:
        """The waits begin."""

    def ended(self, job_id: str, result: object) -> None:
        """A job ended: its JobStatus or the exception that ended it."""

    def finish(self) -> None:
        """The waits are over."""

    def note(self, text: str) -> None:
        """A warning, printed where it does not break the live lines."""
        self.stream.write(f"genstatus: {_printable(text)}\n")
        self.stream.flush()

    def downloading(self, status: JobStatus, url: str) -> Optional[Callable[[int, Optional[int]],
                                                                             None]]:
        """Before a download: its on_progress (or None)."""
        return None

    def saved(self, path: Optional[str]) -> None:
        """After a download: where it went (None: it failed)."""

    def logging(self) -> "_Notes":
        """While waiting, genstatus_sync's warnings go through ``note``."""
        return _Notes(self)

    def _label(self, provider: str, job_id: str) -> str:
        return _printable(f"{provider} {job_id}")


class Quiet(Display):
    """--quiet: no progress (warnings and errors are still printed)."""


class Plain(Display):
    """Not a terminal: one line per change, one per saved file."""

    def __init__(self, stream: "Output") -> None:
        super().__init__(stream)
        self._file, self._size = "", 0  # the job of the download under way, its bytes

    def update(self, status: JobStatus) -> None:
        self.stream.write(f"{self._label(status.provider, status.job_id)}: {_describe(status)} "
                          f"({time.monotonic() - self.started:.1f}s)\n")
        self.stream.flush()

    def downloading(self, status: JobStatus, url: str) -> Callable[[int, Optional[int]], None]:
        self._file, self._size = self._label(status.provider, status.job_id), 0

        def progress(done: int, total: Optional[int]) -> None:
            self._size = done

        return progress

    def saved(self, path: Optional[str]) -> None:
        if path is not None:
            self.stream.write(f"{self._file}: saved {_printable(path)} "
                              f"({self._size} bytes)\n")
            self.stream.flush()


class Live(Display):
    """A terminal: one line per job, redrawn in place (the cursor moved up over them) on each
    change and every REDRAW_EVERY seconds by a thread of its own (so that the elapsed times
    move on while requests are in flight), and a byte count line while a result is saved."""

    def __init__(self, stream: "Output", job_ids: Sequence[str], provider: str) -> None:
        super().__init__(stream)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: Optional[threading.Thread] = None
        self._drawn_at = -math.inf
        self.outcome: Dict[str, str] = {}
        self.ids = list(job_ids)
        self.labels = {job_id: self._label(provider, job_id) for job_id in self.ids}
        self.width = max(_width(label) for label in self.labels.values())
        self.last: Dict[str, JobStatus] = {}
        self.done_at: Dict[str, float] = {}
        self.drawn = 0  # lines drawn last time, the cursor on the line below them
        self._shown_at, self._bytes = -math.inf, 0

    def _label(self, provider: str, job_id: str) -> str:
        label = super()._label(provider, job_id)  # (cut by cells: a wide character takes two)
        return label if _width(label) <= MAX_LABEL else _fit(label, MAX_LABEL - 3) + "..."

    def start(self) -> None:
        self._draw()
        self._ticker = threading.Thread(target=self._tick, name="genstatus-progress",
                                        daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(REDRAW_EVERY):
            self._draw()

    def update(self, status: JobStatus) -> None:
        with self._lock:
            self.last[status.job_id] = status
            if status.done:
                self.done_at.setdefault(status.job_id, time.monotonic())
        if time.monotonic() - self._drawn_at >= 0.05:  # a burst of updates: a few redraws
            self._draw()

    def ended(self, job_id: str, result: object) -> None:
        with self._lock:
            self.done_at.setdefault(job_id, time.monotonic())
            if isinstance(result, WaitTimeout):
                self.outcome[job_id] = "timed out"
            elif not isinstance(result, JobStatus):
                self.outcome[job_id] = "error"
        self._draw()

    def finish(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        now = time.monotonic()
        with self._lock:
            for job_id in self.ids:
                self.done_at.setdefault(job_id, now)
        self._draw()

    def note(self, text: str) -> None:
        with self._lock:
            if self.drawn:
                self.stream.write(f"\r\x1b[{self.drawn}A\x1b[J")
                self.drawn = 0
            self.stream.write(f"genstatus: {_printable(text)}\n")
        self._draw()

    def downloading(self, status: JobStatus, url: str) -> Callable[[int, Optional[int]], None]:
        name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        self._shown_at, self._bytes = -math.inf, 0

        def progress(done: int, total: Optional[int]) -> None:
            now, self._bytes = time.monotonic(), done
            if now - self._shown_at < 0.1 and done != total:
                return
            self._shown_at = now
            size = f"{_size(done)} / {_size(total)}"
            if total:
                size += f" {100 * done / total:3.0f}%"
            self._line(f"saving {_printable(name)}: {size}")

        return progress

    def saved(self, path: Optional[str]) -> None:
        if path is not None:
            columns, _ = self._columns_rows()
            size = f" ({_size(self._bytes)})"
            room = columns - 1 - len("saved ") - len(size)
            self._line(f"saved {_tail(_printable(path), room)}{size}")
            self.stream.write("\n")
        else:
            self.stream.write("\r\x1b[K")
        self.stream.flush()

    def _columns_rows(self) -> Tuple[int, int]:
        try:
            size = os.get_terminal_size(self.stream.fileno())
        except (OSError, ValueError):
            return 80, 24
        # a terminal of no known size (0 x 0: an unsized pty) is taken as 80 x 24, as COLUMNS
        # and LINES say otherwise (shutil's way)
        columns = size.columns or _env_size("COLUMNS", 80)
        lines = size.lines or _env_size("LINES", 24)
        return max(20, columns), max(2, lines)

    def _line(self, text: str) -> None:
        columns, _ = self._columns_rows()
        self.stream.write("\r" + _fit(text, columns - 1) + "\x1b[K")
        self.stream.flush()

    def _lines(self, columns: int, rows: int) -> List[str]:
        now = time.monotonic()
        room = max(1, rows - 1)
        shown = self.ids if len(self.ids) <= room else self.ids[:room - 1]
        lines = []
        for job_id in shown:
            status = self.last.get(job_id)
            elapsed = self.done_at.get(job_id, now) - self.started
            label = self.labels[job_id]
            label += " " * (self.width - _width(label))
            if status is None or job_id in self.outcome:
                text = self.outcome.get(job_id, "waiting")
                if status is not None:
                    text = f"{_describe(status)}, {text}"
                lines.append(f"{label}: [{'.' * 20}] {text:<18} {elapsed:5.1f}s")
                continue
            progress = status.progress
            filled = int(max(0.0, min(100.0, progress if progress is not None else (
                100.0 if status.state is State.SUCCEEDED else 0.0))) / 5)
            bar = "#" * filled + "." * (20 - filled)
            lines.append(f"{label}: [{bar}] {_describe(status):<18} {elapsed:5.1f}s")
        if len(shown) < len(self.ids):
            rest = self.ids[len(shown):]
            counts: Dict[str, int] = {}
            for job_id in rest:
                status = self.last.get(job_id)
                state = self.outcome.get(job_id) or (
                    status.state.value if status is not None else "waiting")
                counts[state] = counts.get(state, 0) + 1
            lines.append(f"... {len(rest)} more: " + ", ".join(
                f"{n} {state}" for state, n in sorted(counts.items())))
        return [_fit(line, columns - 1) for line in lines]

    def _draw(self) -> None:
        with self._lock:
            columns, rows = self._columns_rows()
            lines = self._lines(columns, rows)
            up = f"\r\x1b[{self.drawn}A" if self.drawn else "\r"
            self.stream.write(up + "".join(f"{line}\x1b[K\n" for line in lines)
                              + ("\x1b[J" if len(lines) < self.drawn else ""))
            self.stream.flush()
            self.drawn = len(lines)
            self._drawn_at = time.monotonic()


class _Notes(logging.Handler):
    """While installed, the package's warnings are printed by a Display."""

    def __init__(self, display: Display) -> None:
        super().__init__(logging.WARNING)
        self.display = display
        self.logger = logging.getLogger("genstatus_sync")

    def emit(self, record: logging.LogRecord) -> None:
        self.display.note(record.getMessage())

    def __enter__(self) -> "_Notes":
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.logger.removeHandler(self)


# -- stdout and stderr that never raise ---------------------------------------------------------

class Output:
    """A text stream's write and flush, guarded: a closed pipe (EPIPE) stops all later output
    silently, as any other failure to write does (a full disk: kept in ``failure``), and a
    character the stream's encoding lacks is written escaped."""

    def __init__(self, stream: Optional[TextIO]) -> None:
        self._stream = stream
        self.closed_pipe = stream is None  # started with the descriptor closed: nothing to say
        self.failure: Optional[OSError] = None  # why writing stopped, other than a closed pipe

    def write(self, text: str) -> int:
        if self._stream is not None and not self.closed_pipe:
            self._guard(lambda: self._write(text))
        return len(text)

    def _write(self, text: str) -> None:
        assert self._stream is not None
        try:
            self._stream.write(text)
        except UnicodeEncodeError:  # raised before anything was written
            encoding = getattr(self._stream, "encoding", None) or "utf-8"
            self._stream.write(text.encode(encoding, "backslashreplace").decode(encoding))

    def flush(self) -> None:
        if self._stream is not None and not self.closed_pipe:
            self._guard(self._stream.flush)

    def _guard(self, step: Callable[[], object]) -> None:
        try:
            step()
        except OSError as exc:
            if not isinstance(exc, BrokenPipeError) and exc.errno not in (errno.EPIPE,
                                                                          errno.EINVAL):
                self.failure = exc  # ENOSPC, EFBIG, EIO: what is written is lost
            self.closed_pipe = True

    def isatty(self) -> bool:
        try:
            return self._stream is not None and self._stream.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        if self._stream is None:
            raise OSError(errno.EBADF, "no stream")
        return self._stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", None) or "utf-8"

    def settle(self) -> None:
        """After a closed pipe: the descriptor now writes to os.devnull, so that what is still
        buffered, flushed at exit, raises nothing (Python would print an error and exit 120)."""
        if not self.closed_pipe or self._stream is None:
            return
        try:
            fd = self._stream.fileno()
        except (OSError, ValueError, AttributeError):
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)


# -- demo ---------------------------------------------------------------------------------------

def demo(out: Optional["Output"] = None) -> int:
    """Wait for one scripted job of each provider on the built-in fake providers, then save
    their results (served by the fake) in a new temporary folder."""
    from . import Backoff, wait_all
    from ._download import Downloader
    from .testing import FakeProviders

    out = out or Output(sys.stdout)
    write = out.write
    quick = Backoff(first_delay=0.0, initial=0.2, multiplier=1.3, max_interval=0.4)
    script = ["queued", "queued", "running", "running", "running", "running", "succeeded"]
    write("genstatus demo: four fake providers on 127.0.0.1, one job each (offline)\n")
    with FakeProviders(api_key="demo-key") as fake:
        jobs = []
        for provider in PROVIDERS:
            job_id = fake.add_job(provider, script, every=0.3,
                                  progress=[None, None, 10, 35, 60, 85, 100])
            jobs.append((fake.client(provider, backoff=quick), job_id))
        started = time.monotonic()

        def show(status: JobStatus) -> None:
            write(f"  {time.monotonic() - started:4.1f}s  {status.provider:<9} "
                  f"{_describe(status)}\n")

        outcomes = wait_all(jobs, timeout=30.0, on_update=show)
        for client, _ in jobs:
            client.close()
        write("results:\n")
        ok, saved = True, 0
        # (from the fake servers directly, as its clients poll them: never through a proxy)
        downloader = Downloader(direct=True)
        try:
            folder: Optional[str] = tempfile.mkdtemp(prefix="genstatus-demo-")
        except OSError as exc:
            write(f"  no folder for the results: {exc}\n")
            folder, ok = None, False
        for outcome in outcomes:
            if not isinstance(outcome, JobStatus):
                write(f"  error: {outcome}\n")
                ok = False
                continue
            files: List[Optional[str]] = []
            for url in outcome.result_urls:
                if folder is None:
                    break
                try:
                    files.append(str(downloader.download(url, folder)))
                    saved += 1
                except (GenStatusError, OSError) as exc:
                    write(f"  download failed: {exc}\n")
                    files.append(None)
                    ok = False
            _print_status(outcome, out, files)
            ok = ok and outcome.state is State.SUCCEEDED
        downloader.close()
    if folder is not None and saved:
        write(f"results saved in {folder}\n")
    elif folder is not None:
        with contextlib.suppress(OSError):
            os.rmdir(folder)  # (nothing saved: no empty folder left behind)
    return EXIT_OK if ok else EXIT_ERROR
