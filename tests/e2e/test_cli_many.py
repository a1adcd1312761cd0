"""`genstatus wait` with many job ids, as a real subprocess against FakeProviders: JSON Lines in
input order, ids from stdin, the worst exit code, --download, and the live lines as a real
pseudo-terminal shows them."""

import fcntl
import json
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

from ..conftest import KEY
from .test_cli import run

KEYS = ["provider", "job_id", "state", "progress", "queue_position", "result_urls", "error"]


def env_for(fake, provider="clipia", **extra):
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update({f"{provider.upper()}_API_KEY": KEY, f"{provider.upper()}_BASE_URL": fake.url})
    env.update(extra)
    return env


def lines_of(stdout):
    return [json.loads(line) for line in stdout.splitlines()]


def status_polls(fake, job):
    return [r for r in fake.requests if r.path.endswith(f"/{job}/status")]


# -- many ids, JSON Lines, exit codes -----------------------------------------------------------

def test_json_lines_in_input_order_each_with_its_outcome(fake):
    ok = fake.add_job("clipia", ["succeeded"])
    failed = fake.add_job("clipia", ["failed"], error="boom")
    running = fake.add_job("clipia", ["running"], progress=[40])
    result = run(["wait", "clipia", running, "missing", failed, ok, "--json", "--quiet",
                  "--timeout", "0.8"], fake, "clipia")
    assert result.returncode == 4, result.stderr  # an API error is the worst outcome
    rows = lines_of(result.stdout)
    assert [row["job_id"] for row in rows] == [running, "missing", failed, ok]
    assert all(list(row) == KEYS for row in rows)
    timed_out, missing, gone_wrong, done = rows
    assert (timed_out["state"], timed_out["progress"]) == ("running", 40)  # the last known
    assert "not done" in timed_out["error"]
    assert missing["state"] == "unknown" and "not found" in missing["error"].lower()
    assert (gone_wrong["state"], gone_wrong["error"]) == ("failed", "boom")
    assert done["state"] == "succeeded" and done["error"] is None and len(done["result_urls"]) == 2
    assert "not done" in result.stderr and "not found" in result.stderr.lower()


def test_the_worst_outcome_sets_the_exit_code(fake):
    ok = fake.add_job("clipia", ["succeeded"])
    failed = fake.add_job("clipia", ["failed"])
    running = fake.add_job("clipia", ["running"])
    cases = {(ok,): 0, (ok, failed): 1, (failed, running, ok): 3, (running, "missing", ok): 4,
             (failed, "missing"): 4}
    env = env_for(fake)
    procs = {ids: subprocess.Popen([sys.executable, "-m", "genstatus_sync", "wait", "clipia",
                                    *ids, "--quiet", "--timeout", "0.5"], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for ids in cases}
    codes = {ids: proc.wait(timeout=30) for ids, proc in procs.items()}
    for proc in procs.values():
        assert b"Traceback" not in proc.stderr.read()
        proc.stderr.close()
    assert codes == cases


def test_ids_from_stdin_blank_lines_skipped_duplicates_polled_once(fake):
    a, b = fake.add_job("clipia", ["succeeded"]), fake.add_job("clipia", ["failed"])
    result = subprocess.run([sys.executable, "-m", "genstatus_sync", "wait", "clipia", "-",
                             "--json", "--quiet"], input=f"\n{a}\r\n  \n {b} \n{a}\n\n",
                            capture_output=True, text=True, env=env_for(fake), timeout=30)
    assert result.returncode == 1, result.stderr
    assert [row["job_id"] for row in lines_of(result.stdout)] == [a, b, a]
    assert len(status_polls(fake, a)) == 1


def test_stdin_ids_and_command_line_ids_mix_in_order(fake):
    a, b, c = (fake.add_job("clipia", ["succeeded"]) for _ in range(3))
    result = subprocess.run([sys.executable, "-m", "genstatus_sync", "wait", "clipia", a, "-",
                             c, "--json", "--quiet"], input=f"{b}\n", capture_output=True,
                            text=True, env=env_for(fake), timeout=30)
    assert result.returncode == 0, result.stderr
    assert [row["job_id"] for row in lines_of(result.stdout)] == [a, b, c]


@pytest.mark.parametrize(("args", "stdin", "words"), [
    (["-", "-"], "x\n", "once"),
    (["-"], "\n \n", "no job ids"),
    (["-"], b"\xff\xfe\n", "not UTF-8"),
    (["a", "--download", "/nonexistent/folder"], "", "no such folder"),
    (["a", "", "b"], "", "cannot name a job"),
    (["a", "--abstract-user-id", "u1"], "", "sivi only"),
    (["a", "--timeout", "-1"], "", "timeout"),
    (["a", "--timeout", "nan"], "", "timeout"),
])
def test_usage_errors_exit_2_before_any_request(fake, args, stdin, words):
    result = subprocess.run([sys.executable, "-m", "genstatus_sync", "wait", "clipia", *args],
                            input=stdin if isinstance(stdin, bytes) else stdin.encode(),
                            capture_output=True, env=env_for(fake), timeout=30)
    assert result.returncode == 2
    assert words in result.stderr.decode()
    assert b"Traceback" not in result.stderr and fake.requests == []


def test_a_bad_sellerpic_id_among_good_ones_is_a_usage_error(fake):
    good = fake.add_job("sellerpic", ["succeeded"])
    result = run(["wait", "sellerpic", good, "not-a-number"], fake, "sellerpic")
    assert result.returncode == 2 and fake.requests == []


# -- progress off a terminal, --quiet, human output ---------------------------------------------

def test_plain_progress_lines_for_every_job_and_human_results_in_order(fake):
    a = fake.add_job("clipia", ["succeeded"], urls=["https://example.test/a.png"])
    b = fake.add_job("clipia", ["failed"], error="no credit")
    running = fake.add_job("clipia", ["running"], progress=[10])
    result = run(["wait", "clipia", a, b, running, "--timeout", "0.5"], fake, "clipia")
    assert result.returncode == 3
    progress = result.stderr.splitlines()
    for job, state in ((a, "succeeded"), (b, "failed"), (running, "running 10%")):
        assert any(line.startswith(f"clipia {job}: {state}") for line in progress), progress
    assert result.stdout.splitlines() == [
        f"clipia {a}: succeeded", "  https://example.test/a.png",
        f"clipia {b}: failed: no credit",
        f"clipia {running}: running 10% (timed out)"]


def test_quiet_shows_nothing_on_stderr_for_many_jobs(fake):
    ids = [fake.add_job("clipia", ["succeeded"]) for _ in range(5)]
    result = run(["wait", "clipia", *ids, "--quiet"], fake, "clipia")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.count(": succeeded") == 5


# -- --download -------------------------------------------------------------------------------

def test_download_saves_every_result_of_each_succeeded_job(fake, tmp_path):
    a, b = fake.add_job("clipia", ["succeeded"]), fake.add_job("clipia", ["succeeded"])
    failed = fake.add_job("clipia", ["failed"])
    result = run(["wait", "clipia", a, failed, b, "--json", "--download", str(tmp_path)], fake,
                 "clipia")
    assert result.returncode == 1, result.stderr
    rows = lines_of(result.stdout)
    assert list(rows[0]) == [*KEYS, "files"]
    saved = sorted(p.name for p in tmp_path.iterdir())
    assert saved == sorted(f"clipia-{job}-{i}.png" for job in (a, b) for i in (1, 2))
    assert rows[0]["files"] == [str(tmp_path / f"clipia-{a}-{i}.png") for i in (1, 2)]
    assert rows[1]["files"] == []  # a failed job has nothing to save
    assert result.stderr.count(" saved ") == 4 and "(69 bytes)" in result.stderr


def test_a_failed_download_is_exit_4_and_the_other_files_are_saved(fake, tmp_path):
    job = fake.add_job("clipia", ["succeeded"],
                       urls=[f"{fake.url}/media/clipia/no-such-job/1.png", "ftp://x/y.png"])
    other = fake.add_job("clipia", ["succeeded"])
    result = run(["wait", "clipia", job, other, "--json", "--download", str(tmp_path)], fake,
                 "clipia")
    assert result.returncode == 4
    broken, fine = lines_of(result.stdout)
    assert broken["state"] == "succeeded" and broken["files"] == [None, None]
    assert "download of" in broken["error"] and "not an http(s) URL" in broken["error"]
    assert fine["error"] is None and all(fine["files"])
    assert len(list(tmp_path.iterdir())) == 2 and "Traceback" not in result.stderr


def test_download_prints_paths_in_human_output(fake, tmp_path):
    job = fake.add_job("clipia", ["succeeded"])
    result = run(["wait", "clipia", job, "--quiet", "--download", str(tmp_path)], fake, "clipia")
    assert result.returncode == 0
    url = fake.media_urls("clipia", job)[0]
    assert f"  {url} -> {tmp_path / f'clipia-{job}-1.png'}" in result.stdout.splitlines()
    assert result.stderr == ""


# -- on a terminal: one live line per job -------------------------------------------------------

def run_in_pty(args, env, rows=24, columns=100, timeout=20.0):
    """Run the command with stdin, stdout and stderr on a new pseudo-terminal of that size;
    return its exit code and every byte it put on the terminal."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "genstatus_sync", *args], stdin=slave,
                            stdout=slave, stderr=slave, env=env)
    os.close(slave)
    data = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], deadline - time.monotonic())
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child has closed the terminal
                break
            if not chunk:
                break
            data += chunk
    finally:
        os.close(master)
    return proc.wait(timeout=5), bytes(data)


def screen(data, columns):
    """The terminal's lines after ``data``: text (wrapped at ``columns``), CR, LF and the
    cursor moves the live lines use (ESC[nA, ESC[K, ESC[J); any other escape fails."""
    lines, row, col = [""], 0, 0
    text, i = data.decode("utf-8"), 0
    while i < len(text):
        c = text[i]
        if c == "\x1b":
            match = re.match(r"\x1b\[(\d*)([A-Za-z])", text[i:])
            assert match, repr(text[i:i + 10])
            n, command = int(match.group(1) or 1), match.group(2)
            if command == "A":
                row = max(0, row - n)
            elif command in "KJ":
                lines[row] = lines[row][:col]
                if command == "J":
                    del lines[row + 1:]
            else:
                raise AssertionError(f"unexpected escape {match.group(0)!r}")
            i += len(match.group(0))
            continue
        if c == "\r":
            col = 0
        elif c == "\n":
            row += 1
            if row == len(lines):
                lines.append("")
        else:
            if col == columns:  # the terminal wraps: a live line that did would show twice
                row, col = row + 1, 0
                if row == len(lines):
                    lines.append("")
            line = lines[row].ljust(col)
            lines[row] = line[:col] + c + line[col + 1:]
            col += 1
        i += 1
    return lines


def live_lines(lines):
    return [line for line in lines if re.search(r": \[[#.]{20}\] ", line)]


def test_a_terminal_shows_one_line_per_job_redrawn_in_place(fake, tmp_path):
    moving = [fake.add_job("clipia", ["queued", "running", "running", "succeeded"],
                           progress=[None, 30, 70, 100], every=0.3) for _ in range(3)]
    failed = fake.add_job("clipia", ["failed"], error="boom")
    ids = [*moving, failed, "missing"]
    code, data = run_in_pty(["wait", "clipia", *ids, "--timeout", "10", "--download",
                             str(tmp_path)], env_for(fake))
    assert code == 4
    lines = screen(data, 100)
    live = live_lines(lines)
    assert len(live) == len(ids)  # one line per job, however often redrawn
    for job, line in zip(ids, live):
        assert line.startswith(f"clipia {job}")
    assert all("succeeded 100%" in line for line in live[:3])
    assert "failed" in live[3] and "error" in live[4]
    assert data.count(b"\x1b[5A") >= 3  # redrawn in place, more than once
    assert re.search(rb"queued|running", data)  # and seen on the way
    saved = [line for line in lines if line.startswith("saved ")]
    assert len(saved) == 6 and all(line.endswith("(69 B)") for line in saved)
    assert len(list(tmp_path.iterdir())) == 6
    # the results, on stdout (the same terminal), after the live lines
    assert lines.index(live[-1]) < lines.index(f"clipia {failed}: failed: boom")
    assert "Traceback" not in "\n".join(lines)


def test_a_terminal_of_no_known_size_is_drawn_as_80_by_24(fake):
    # an unsized pty (0 x 0: CI, docker exec -t) was drawn as 20 x 2: one clipped summary
    ids = [fake.add_job("clipia", ["succeeded"]) for _ in range(3)] + [
        fake.add_job("clipia", ["failed"])]
    env = {k: v for k, v in env_for(fake).items() if k not in ("COLUMNS", "LINES")}
    code, data = run_in_pty(["wait", "clipia", *ids, "--timeout", "10"], env, rows=0,
                            columns=0)
    assert code == 1
    lines = screen(data, 80)
    assert [line.split(":")[0] for line in live_lines(lines)] == [f"clipia {i}" for i in ids]


def test_more_jobs_than_the_terminal_has_rows_end_in_a_summary_line(fake):
    ids = [fake.add_job("clipia", ["succeeded"]) for _ in range(5)] + [
        fake.add_job("clipia", ["failed"])]
    code, data = run_in_pty(["wait", "clipia", *ids, "--timeout", "10"], env_for(fake),
                            rows=4)
    assert code == 1
    lines = screen(data, 100)
    live = live_lines(lines)
    assert [line.split(":")[0] for line in live] == [f"clipia {ids[0]}", f"clipia {ids[1]}"]
    assert "... 4 more: 1 failed, 3 succeeded" in lines


def test_live_lines_of_wide_ids_keep_their_status_column_and_line_up():
    # (labels were cut at 48 characters and padded by characters: 42 CJK characters took 84
    # of 80 columns, the status column was cut off, and the columns did not line up)
    import io
    import unicodedata

    from genstatus_sync.cli import MAX_LABEL, Live, Output

    def cells(text):
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)

    ids = ["\u4e2d" * 42, "\u4e2d" * 3, "job-1"]
    live = Live(Output(io.StringIO()), ids, "rivya")
    lines = live._lines(100, 24)[:len(ids)]
    assert all(cells(line) <= 99 for line in lines)
    assert all(line.rstrip().endswith("s") and "waiting" in line for line in lines), lines
    labels = [line[:line.index(": [")] for line in lines]
    assert cells(labels[0]) <= MAX_LABEL and labels[0].endswith("...")
    assert len({cells(label) for label in labels}) == 1  # the bars start in one column
