"""The genstatus command line, run as a real subprocess against FakeProviders."""

import json
import os
import subprocess
import sys

import pytest

from ..conftest import KEY


def cli_env(fake=None, provider="rivya", env_extra=None):
    """The environment of a command run: no provider's key or base URL but ``fake``'s."""
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    if fake is not None:
        env[f"{provider.upper()}_API_KEY"] = KEY
        env[f"{provider.upper()}_BASE_URL"] = fake.url
    env.update(env_extra or {})
    return env


def run(args, fake=None, provider="rivya", env_extra=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "genstatus_sync", *args], capture_output=True,
                          text=True, env=cli_env(fake, provider, env_extra), timeout=timeout)


@pytest.mark.parametrize("provider", ["sivi", "rivya", "sellerpic", "clipia"])
def test_status_json(fake, provider):
    job = fake.add_job(provider, ["running"], progress=[45])
    result = run(["status", provider, job, "--json"], fake, provider)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert list(data) == ["provider", "job_id", "state", "progress", "queue_position",
                          "result_urls", "error"]
    assert (data["provider"], data["job_id"], data["state"]) == (provider, job, "running")
    assert KEY not in result.stdout + result.stderr


def test_status_human_readable_with_urls(fake):
    job = fake.add_job("rivya", ["succeeded"], urls=["https://media.example.test/x.png"])
    result = run(["status", "rivya", job], fake)
    assert result.returncode == 0
    assert result.stdout == f"rivya {job}: succeeded\n  https://media.example.test/x.png\n"


def test_status_of_a_failed_job_still_exits_0(fake):
    job = fake.add_job("rivya", ["failed"], error="boom")
    result = run(["status", "rivya", job, "--json"], fake)
    assert result.returncode == 0
    assert json.loads(result.stdout)["error"] == "boom"


def test_wait_succeeds_with_progress_lines_on_stderr(fake):
    job = fake.add_job("clipia", ["queued", "running", "running", "succeeded"],
                       progress=[None, 30, 70, 100], every=1.0)
    result = run(["wait", "clipia", job, "--json", "--timeout", "30"], fake, "clipia")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["state"] == "succeeded"
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"clipia {job}: queued")
    assert any(": running 30%" in line or ": running 70%" in line for line in lines)
    assert lines[-1].startswith(f"clipia {job}: succeeded")


def test_wait_quiet_shows_no_progress(fake):
    job = fake.add_job("rivya", ["succeeded"])
    result = run(["wait", "rivya", job, "--quiet"], fake)
    assert result.returncode == 0 and result.stderr == ""


def test_wait_failed_exits_1(fake):
    job = fake.add_job("rivya", ["failed"], error="The generation failed.")
    result = run(["wait", "rivya", job, "--json", "--quiet"], fake)
    assert result.returncode == 1
    assert json.loads(result.stdout)["state"] == "failed"


def test_wait_timeout_exits_3(fake):
    job = fake.add_job("rivya", ["running"])
    result = run(["wait", "rivya", job, "--timeout", "0.2", "--json", "--quiet"], fake)
    assert result.returncode == 3
    assert json.loads(result.stdout)["state"] == "running"
    assert "not done" in result.stderr


def test_wait_timeout_exits_3_even_when_every_poll_failed(fake):
    fake.fail("rivya", 503, times=1000)
    result = run(["wait", "rivya", "job", "--timeout", "0.3", "--json", "--quiet"], fake)
    assert result.returncode == 3
    assert json.loads(result.stdout)["state"] == "unknown"


def test_missing_key_exits_2_and_names_the_variable():
    result = run(["status", "sivi", "r1"])
    assert result.returncode == 2
    assert "SIVI_API_KEY" in result.stderr


@pytest.mark.parametrize("args", [[], ["status"], ["status", "nobody", "x"], ["wait", "rivya"],
                                  ["wait", "rivya", "x", "--timeout", "soon"]])
def test_usage_errors_exit_2(args):
    assert run(args).returncode == 2


def test_bad_id_exits_2(fake):
    assert run(["status", "sellerpic", "not-a-number"], fake, "sellerpic").returncode == 2


def test_api_and_transport_errors_exit_4(fake):
    assert run(["status", "rivya", "missing"], fake).returncode == 4
    wrong = run(["status", "rivya", "x"], fake, env_extra={"RIVYA_API_KEY": "wrong"})
    assert wrong.returncode == 4
    assert "wrong" not in wrong.stderr.replace("wrong-", "")
    closed = run(["status", "rivya", "x"], env_extra={"RIVYA_API_KEY": KEY,
                                                     "RIVYA_BASE_URL": "http://127.0.0.1:9"})
    assert closed.returncode == 4


def test_base_url_flag(fake):
    job = fake.add_job("rivya", ["queued"])
    result = run(["status", "rivya", job, "--base-url", fake.url],
                 env_extra={"RIVYA_API_KEY": KEY})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("command", ["status", "wait"])
@pytest.mark.parametrize("url", ["", "  "])
def test_an_empty_base_url_flag_is_a_usage_error_not_the_providers_own_host(fake, command, url):
    # (--base-url "$URL" with $URL unset: the key must not go to the real provider)
    job = fake.add_job("rivya", ["succeeded"])
    result = run([command, "rivya", job, "--base-url", url], env_extra={
        "RIVYA_API_KEY": KEY, "RIVYA_BASE_URL": "http://127.0.0.1:9"})
    assert result.returncode == 2 and result.stdout == ""
    assert "--base-url is empty" in result.stderr and "Traceback" not in result.stderr


def test_demo_runs_offline_and_prints_four_results(tmp_path):
    result = run(["demo"], env_extra={"TMPDIR": str(tmp_path)}, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for provider in ("sivi", "rivya", "sellerpic", "clipia"):
        assert f"{provider} " in out
    assert out.count(": succeeded") == 4
    # the fake serves the results itself: each of the 8 is downloaded, its path printed
    assert out.count("/media/") == 8 and out.count(f" -> {tmp_path}") == 8
    (folder,) = tmp_path.iterdir()
    assert len(list(folder.iterdir())) == 8 and f"results saved in {folder}" in out


@pytest.mark.parametrize(("raised", "code", "says"), [
    ("KeyboardInterrupt", 130, "interrupted"), ("SIGTERM", 143, ""), ("SIGHUP", 129, "")])
def test_a_signal_in_mains_own_clean_up_is_still_its_exit_code(monkeypatch, capsys, raised,
                                                              code, says):
    # a second Ctrl-C, or one that came as main handled the first (its except and finally
    # clauses) escaped main and printed a traceback
    import signal

    from genstatus_sync import __main__, cli

    def main():
        if raised == "KeyboardInterrupt":
            raise KeyboardInterrupt
        raise cli._Signalled(getattr(signal, raised))

    monkeypatch.setattr(cli, "main", main)
    assert __main__.run() == code
    assert capsys.readouterr().err.strip() == ("genstatus: " + says if says else "")
