"""The command line where it met a full disk, odd ids and short keys, as a real subprocess
against FakeProviders."""

import json
import os
import resource
import subprocess
import sys

import pytest

from ..conftest import KEY
from .rawserver import wait_until
from .test_cli import cli_env, run

needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")


def run_into(args, fake, provider="rivya", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
             preexec_fn=None, env_extra=None):
    return subprocess.run([sys.executable, "-m", "genstatus_sync", *args], stdout=stdout,
                          stderr=stderr, env=cli_env(fake, provider, env_extra), timeout=120,
                          preexec_fn=preexec_fn)


@needs_dev_full
def test_a_full_disk_on_stdout_is_exit_4_with_one_line_and_no_traceback(fake):
    job = fake.add_job("rivya", ["succeeded"], urls=["https://media.example.test/x.png"])
    with open("/dev/full", "w") as full:
        done = run_into(["status", "rivya", job], fake, stdout=full)
    err = done.stderr.decode()
    assert done.returncode == 4
    assert "Traceback" not in err and "cannot write the output" in err


@needs_dev_full
def test_a_full_disk_on_stderr_keeps_the_result_on_stdout(fake):
    job = fake.add_job("clipia", ["running", "succeeded"], progress=[40, 100], every=0.3)
    with open("/dev/full", "w") as full:
        done = run_into(["wait", "clipia", job, "--json", "--timeout", "30"], fake, "clipia",
                        stderr=full)
    assert done.returncode == 0
    assert json.loads(done.stdout)["state"] == "succeeded"


def test_demo_whose_results_cannot_be_saved_says_so_and_exits_4(tmp_path):
    def small_files():  # every file the demo writes is cut short (EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (10, 10))

    done = run_into(["demo"], None, preexec_fn=small_files,
                    env_extra={"TMPDIR": str(tmp_path)})
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 4
    assert "Traceback" not in err and "download failed" in out
    assert not any(path.name.endswith(".part") for path in tmp_path.rglob("*"))


def test_a_sellerpic_id_with_leading_zeros_keeps_its_last_known_status(fake):
    job = fake.add_job("sellerpic", ["running"])
    env = cli_env(fake, "sellerpic")
    with subprocess.Popen([sys.executable, "-m", "genstatus_sync", "wait", "sellerpic",
                           "00" + job, "--json", "--quiet", "--timeout", "60"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as child:
        # the second poll comes after the first reply was read: only then is the job gone (at
        # the first request's arrival, its reply could still take the 404 set here)
        assert wait_until(lambda: len(fake.requests) >= 2, 30)
        fake.fail("sellerpic", status=404, times=1000)  # then the job is gone
        out, _ = child.communicate(timeout=90)
    assert child.returncode == 4
    data = json.loads(out)
    assert (data["job_id"], data["state"]) == ("00" + job, "running")


def test_a_sellerpic_id_with_leading_zeros_is_waited_and_reported_as_given(fake):
    job = fake.add_job("sellerpic", ["queued", "running", "succeeded"], every=0.2)
    done = run(["wait", "sellerpic", "0" + job, job, "--json", "--timeout", "30"], fake,
               "sellerpic")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(d["job_id"], d["state"]) for d in lines] == [("0" + job, "succeeded"),
                                                          (job, "succeeded")]
    assert len([r for r in fake.requests if r.provider == "sellerpic"]) <= 6  # polled once


def test_status_of_a_finished_clipia_request_shows_its_results(fake):
    job = fake.add_job("clipia", ["succeeded"], urls=["https://media.example.test/c.png"])
    done = run(["status", "clipia", job, "--json"], fake, "clipia")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result_urls"] == ["https://media.example.test/c.png"]


@pytest.mark.parametrize("provider", ["sivi", "rivya"])
def test_an_empty_abstract_user_id_is_a_usage_error(fake, provider):
    done = run(["status", provider, "x", "--abstract-user-id", ""], fake, provider)
    assert done.returncode == 2
    assert fake.requests == []


def test_an_unknown_status_is_named_by_the_providers_word(fake):
    job = fake.add_job("rivya", ["weird_state"])
    done = run(["wait", "rivya", job, "--timeout", "0.5"], fake)
    assert "unknown status 'weird_state'" in done.stderr


def test_a_wait_that_ends_on_errors_says_which(fake):
    done = run(["wait", "rivya", "x", "--timeout", "1", "--quiet"],
               env_extra={"RIVYA_API_KEY": KEY, "RIVYA_BASE_URL": "http://127.0.0.1:9"})
    assert done.returncode == 3
    assert "the last poll failed" in done.stderr and "127.0.0.1:9" in done.stderr


def test_a_short_key_leaves_result_urls_and_words_whole():
    from genstatus_sync._redact import Redactor
    from genstatus_sync.testing import FakeProviders

    url = "https://cdn.example.test/bucket/ok-key.png"
    with FakeProviders(api_key="k") as short:
        job = short.add_job("rivya", ["succeeded"], urls=[url])
        assert short.client("rivya", sleep=lambda seconds: None).wait(job).result_urls == (url,)
    redactor = Redactor("k")
    assert redactor.text("TLS handshake failure; key=k, k") == (
        "TLS handshake failure; key=[redacted], [redacted]")
    assert Redactor("sk-live-1234").text("a-sk-live-1234b") == "a-[redacted]b"  # a real key: all
    # after a JSON or percent escape a short key stands alone
    short_key = Redactor("k3y12ab")
    for text in ("a\\nk3y12ab", "api_key%3Dk3y12ab", "\\u0020k3y12ab", "\\tk3y12ab"):
        assert "k3y12ab" not in short_key.text(text), text


def test_status_of_a_finished_clipia_request_retries_its_result_as_its_poll(fake):
    from .rawserver import RawServer, reply

    served = []

    def clipia(conn):
        served.append(conn.path)
        if conn.path.endswith("/status"):
            conn.send(reply(200, {"request_id": "r1", "status": "COMPLETED"}))
        elif served.count(conn.path) == 1:
            conn.send(reply(503, {"detail": "busy"}, headers={"Retry-After": "0"}))
        else:
            conn.send(reply(200, {"request_id": "r1", "status": "COMPLETED",
                                  "output": {"images": [{"url": "https://media.test/1.png"}]}}))

    with RawServer(clipia) as server:
        done = run(["status", "clipia", "r1", "--json"],
                   env_extra={"CLIPIA_API_KEY": KEY, "CLIPIA_BASE_URL": server.url})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result_urls"] == ["https://media.test/1.png"]


def test_a_missing_key_is_told_as_the_command_can_take_it():
    # the library's message says "pass api_key=": the command has no such option
    env = {**cli_env(), "RIVYA_API_KEY": ""}
    done = subprocess.run([sys.executable, "-m", "genstatus_sync", "status", "rivya", "t"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == "genstatus: no rivya API key: set RIVYA_API_KEY\n"


@needs_dev_full
@pytest.mark.parametrize(("states", "expected"), [(["failed"], 4), (["running"], 4),
                                                  (["succeeded"], 4)])
def test_a_full_disk_on_stdout_is_exit_4_whatever_the_jobs_did(fake, states, expected):
    # it was 4 only for a job that succeeded: a failed one gave 1, a timed-out one 3, though
    # the output that says so was lost
    job = fake.add_job("rivya", states)
    with open("/dev/full", "w") as full:
        done = run_into(["wait", "rivya", job, "--timeout", "0"], fake, stdout=full)
    assert done.returncode == expected
    assert "cannot write the output" in done.stderr.decode()


@pytest.mark.parametrize("case", ["not found", "server error"])
def test_status_json_prints_one_object_when_the_poll_fails(fake, case):
    if case == "server error":
        fake.fail("rivya", 503, times=3)
        job = fake.add_job("rivya", ["running"])
    else:
        job = "no-such-job"
    result = run(["status", "rivya", job, "--json"], fake)
    assert result.returncode == 4
    data = json.loads(result.stdout)  # it printed nothing: a | jq pipeline read no input
    assert (data["job_id"], data["state"]) == (job, "unknown")
    assert ("not found" if case == "not found" else "503") in data["error"].lower()
    assert data["error"] in result.stderr


def test_a_plain_http_base_url_says_what_the_command_accepts(fake):
    env = {"RIVYA_BASE_URL": "http://example.com"}
    result = run(["status", "rivya", "job"], fake, env_extra=env)
    assert result.returncode == 2
    assert "allow_insecure" not in result.stderr  # no option of the command
    assert "plain http is for a loopback host only: localhost, 127.0.0.0/8" in result.stderr


def test_a_utf8_id_typed_under_a_latin1_locale_is_sent_as_typed(fake, tmp_path):
    job = fake.add_job("rivya", ["succeeded"], job_id="uni\u00fc\U0001f984")
    for command in (["status", "rivya", job, "--json"], ["wait", "rivya", job, "--json"]):
        done = subprocess.run(
            [sys.executable.encode(), b"-m", b"genstatus_sync",
             *(part.encode("utf-8") for part in command)],
            capture_output=True, env={**cli_env(fake), "LC_ALL": "C", "PYTHONUTF8": "0",
                                      "PYTHONCOERCECLOCALE": "0", "PYTHONIOENCODING": "utf-8"},
            timeout=60)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["job_id"] == job


def test_download_into_a_file_says_it_is_not_a_folder(fake, tmp_path):
    path = tmp_path / "afile"
    path.write_text("x")
    result = run(["wait", "rivya", "job", "--download", str(path)], fake)
    assert result.returncode == 2 and "not a folder" in result.stderr


# -- found in a user's review ---------------------------------------------------------------

def test_an_empty_base_url_variable_is_a_usage_error_not_the_providers_own_host(fake):
    # RIVYA_BASE_URL="$URL" with URL unset sent the key to the real rivya.ai, as an empty
    # --base-url would have (which was refused)
    job = fake.add_job("rivya", ["succeeded"])
    for empty in ("", "  "):
        done = run(["status", "rivya", job], fake, env_extra={"RIVYA_BASE_URL": empty})
        assert done.returncode == 2
        assert "RIVYA_BASE_URL is empty" in done.stderr and "Traceback" not in done.stderr
    assert fake.requests == []


def _takes_a_file(folder):
    import tempfile

    try:
        handle, path = tempfile.mkstemp(dir=folder)
    except OSError:
        return False
    os.close(handle)
    os.remove(path)
    return True


def test_a_download_folder_that_takes_no_file_is_a_usage_error_before_any_poll(fake, tmp_path):
    # it waited out every job (up to --timeout), then each file failed: exit 4
    folder = tmp_path / "results"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if _takes_a_file(folder):  # (root writes anywhere a mode forbids: not in /sys)
            folder = "/sys"
            if not os.path.isdir(folder) or _takes_a_file(folder):
                pytest.skip("no folder here refuses a file")
        job = fake.add_job("rivya", ["running"])
        done = run(["wait", "rivya", job, "--download", str(folder), "--timeout", "60"], fake)
    finally:
        (tmp_path / "results").chmod(0o700)
    assert done.returncode == 2
    assert "cannot write a file there" in done.stderr and "Traceback" not in done.stderr
    assert fake.requests == []
    assert folder == "/sys" or list(tmp_path.joinpath("results").iterdir()) == []


def test_job_ids_from_files_joined_each_with_a_byte_order_mark_are_read_as_ids(fake):
    # `cat a.txt b.txt |`: the second file's BOM was part of an id, another job
    job = fake.add_job("rivya", ["succeeded"])
    done = subprocess.run([sys.executable, "-m", "genstatus_sync", "wait", "rivya", "-",
                           "--json"], input=f"\ufeff{job}\n\ufeff{job}\n".encode(),
                          capture_output=True, env=cli_env(fake, "rivya"), timeout=60)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["job_id"] for line in done.stdout.splitlines()] == [job, job]
    assert {r.path.rsplit("/", 1)[-1] for r in fake.requests} == {job}


def test_the_command_tells_its_version():
    from genstatus_sync import __version__

    done = run(["--version"])
    assert done.returncode == 0 and done.stdout.strip() == f"genstatus {__version__}"
