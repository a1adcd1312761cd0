"""docs/celery.md and docs/cron.md run as written, by the markers their header comments
describe: programs against FakeProviders (through <PROVIDER>_BASE_URL and _API_KEY); for the
Celery recipe, with Debian's redis-server and a real Celery worker."""

import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genstatus_sync.testing import FakeProviders

from ..conftest import KEY
from .conftest import until

DOCS = Path(__file__).resolve().parents[2] / "docs"
PROVIDERS = ["sivi", "rivya", "sellerpic", "clipia"]
MARKER = re.compile(r"<!-- (file|worker|fake-jobs|run): (.*?) -->")


def blocks(path):
    """(info string, {marker: value}, code) of each fenced block, with the markers just
    before it."""
    found, markers, lines = [], {}, path.read_text().splitlines()
    i = 0
    while i < len(lines):
        match = MARKER.fullmatch(lines[i].strip())
        if match:
            markers[match.group(1)] = match.group(2)
        elif lines[i].startswith("```") and len(lines[i]) > 3:
            end = lines.index("```", i + 1)
            found.append((lines[i][3:].strip(), markers, "\n".join(lines[i + 1:end]) + "\n"))
            markers, i = {}, end
        elif lines[i].strip():
            markers = {}
        i += 1
    return found


def _environment(fake, directory, **extra):
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(tuple(f"{p.upper()}_" for p in PROVIDERS))}
    for provider in PROVIDERS:
        env[f"{provider.upper()}_BASE_URL"], env[f"{provider.upper()}_API_KEY"] = fake.url, KEY
    return {**env, "PYTHONPATH": str(directory), **extra}


def _add_fake_jobs(fake, markers):
    jobs = [item.split(":", 1) for item in markers["fake-jobs"].split()]
    for provider, job_id in jobs:
        fake.add_job(provider, ["queued", "succeeded"], job_id=job_id)
    return jobs


def _python(directory, name, args, env, timeout=60):
    return subprocess.run([sys.executable, name, *args], cwd=directory, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_every_python_block_of_both_recipes_is_marked_to_run():
    for doc in ("celery.md", "cron.md"):
        python = [(info, markers) for info, markers, _ in blocks(DOCS / doc)
                  if info.split()[0] == "python"]
        assert python and all("file" in markers or "run" in markers for _, markers in python)


def test_the_cron_recipe_waits_across_runs_and_a_run_that_overlaps_does_nothing(tmp_path):
    [(info, markers, code)] = [b for b in blocks(DOCS / "cron.md") if b[0] == "python"]
    (tmp_path / markers["file"]).write_text(code)
    with FakeProviders(api_key=KEY) as fake:
        jobs = _add_fake_jobs(fake, markers)
        env = _environment(fake, tmp_path)
        printed = []
        args = markers["run"].split()
        deadline = time.monotonic() + 60
        while len(printed) < len(jobs):
            assert time.monotonic() < deadline, f"only {printed} after 60 s"
            out = _python(tmp_path, markers["file"], args, env)
            assert out.returncode == 0, out.stderr
            printed += [json.loads(line) for line in out.stdout.splitlines()]
            args = []
            time.sleep(0.3)
        assert sorted((p["provider"], p["job_id"], p["state"]) for p in printed) == sorted(
            (provider, job_id, "succeeded") for provider, job_id in jobs)
        assert json.loads((tmp_path / "gs_waits.json").read_text()) == []
        # A run that finds the lock taken (the last run still stepping) leaves the file alone.
        out = _python(tmp_path, markers["file"], ["rivya:task_public_id"], env)
        assert out.returncode == 0 and len(json.loads((tmp_path / "gs_waits.json").read_text()))
        before = (tmp_path / "gs_waits.json").read_text()
        with open(tmp_path / "gs_waits.json.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            out = _python(tmp_path, markers["file"], [], env)
            assert out.returncode == 0 and "another run" in out.stderr and out.stdout == ""
            assert (tmp_path / "gs_waits.json").read_text() == before
            # a run that adds a wait waits for its turn (its wait is not lost)
            adding = subprocess.Popen([sys.executable, markers["file"], "sivi:sbhMkIZKCPp"],
                                      cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
            with pytest.raises(subprocess.TimeoutExpired):
                adding.wait(1.0)
        out, err = adding.communicate(timeout=60)
        assert adding.returncode == 0, err
        assert "token" in before and KEY not in before and fake.url not in before
        saved = json.loads((tmp_path / "gs_waits.json").read_text())
        assert ("sivi", "sbhMkIZKCPp") in [(w["provider"], w["job_id"]) for w in saved] or (
            '"sbhMkIZKCPp"' in out)
        # one provider without a key: its waits are error lines, the others' go on
        env_without = {k: v for k, v in env.items() if k != "SIVI_API_KEY"}
        (tmp_path / "gs_waits.json").write_text("[]")
        rivya = fake.add_job("rivya", ["succeeded"])
        out = _python(tmp_path, markers["file"], [f"rivya:{rivya}"], env)
        sivi_token = fake.client("sivi").wait_token("sbhMkIZKCPp")
        waits = json.loads((tmp_path / "gs_waits.json").read_text())
        waits.append({"provider": "sivi", "job_id": "sbhMkIZKCPp", "token": sivi_token,
                      "due": 0.0})
        (tmp_path / "gs_waits.json").write_text(json.dumps(waits))
        out = _python(tmp_path, markers["file"], [], env_without)
        assert out.returncode == 0, out.stderr
        lines = [json.loads(line) for line in out.stdout.splitlines()]
        assert {(d["provider"], d["state"]) for d in lines} >= {("sivi", "error")}
        # adding a wait it cannot keep (no key, no such provider, no such id) adds none
        (tmp_path / "gs_waits.json").write_text("[]")
        for bad in ["sivi:sbhMkIZKCPp", "nosuch:1", "rivya:"]:
            out = _python(tmp_path, markers["file"], [f"rivya:{rivya}", bad], env_without)
            assert out.returncode == 2 and out.stdout == "", (bad, out.stderr)
            assert f"cannot wait for {bad!r}" in out.stderr and "Traceback" not in out.stderr
            assert json.loads((tmp_path / "gs_waits.json").read_text()) == []


def test_the_celery_recipe_runs_with_a_real_worker(tmp_path, redis_port):
    celery = pytest.importorskip("celery", reason="Celery is not installed "
                                                  "(pip install -e '.[celery]')")
    broker = f"redis://127.0.0.1:{redis_port}/1"
    worker = None
    ran = 0
    with FakeProviders(api_key=KEY) as fake:
        env = _environment(fake, tmp_path, CELERY_BROKER_URL=broker, PYTHONWARNINGS=
                           "ignore:You're running the worker with superuser")
        try:
            for number, (info, markers, code) in enumerate(blocks(DOCS / "celery.md")):
                if info.split() != ["python", "celery"]:
                    continue
                name = markers.get("file", f"block_{number}.py")
                (tmp_path / name).write_text(code)
                if "worker" in markers:
                    worker = _start_worker(tmp_path, markers["worker"], env, broker, celery)
                if "run" in markers:
                    jobs = _add_fake_jobs(fake, markers)
                    out = _python(tmp_path, name, markers["run"].split(), env, timeout=150)
                    assert out.returncode == 0, out.stdout + out.stderr
                    for provider, job_id in jobs:
                        assert re.search(f"{provider}:{job_id} .*'state': 'succeeded'",
                                         out.stdout), out.stdout
                    ran += 1
        finally:
            if worker is not None:
                worker.terminate()
                try:
                    worker.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait()
    assert ran >= 1


def _start_worker(directory, module, env, broker, celery):
    name = f"docs-{os.getpid()}"
    log = (directory / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-q", "-A", module, "worker", "--pool", "prefork",
         "--concurrency", "2", "-l", "warning", "-n", f"{name}@%h", "--without-mingle",
         "--without-gossip"], cwd=directory, env=env, stdin=subprocess.DEVNULL, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True)
    control = celery.Celery(broker=broker, set_as_current=False).control

    def ready():
        assert worker.poll() is None, (directory / "worker.log").read_text()
        return control.ping(destination=[f"{name}@{socket.gethostname()}"], timeout=0.3)

    until(ready, 30, "the docs' Celery worker answers ping")
    return worker
