"""The benchmark scripts run (their figures are read by people, not asserted here)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_polling_economy_runs_and_prints_every_policy():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "polling_economy.py"),
                             "--jobs", "40", "--runs", "1", "--progress-jobs", "20"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    economy, learning, progress = [part.splitlines()
                                   for part in result.stdout.strip().split("\n\n")]
    assert economy[0].startswith("40 jobs")
    assert [line.split("  ")[0] for line in economy[2:]] == [
        "fixed 5 s", "sivi default", "rivya default", "sellerpic default", "clipia default",
        "sivi + progress, linear", "sivi + progress, fast-start (sqrt)",
        "sivi + progress, slow-start (x^2)", "clipia + progress, linear",
        "clipia + progress, fast-start (sqrt)", "clipia + progress, slow-start (x^2)",
        "sivi + history", "rivya + history", "clipia + history"]
    assert learning[0].startswith("Schedules that learn: 1 runs x 40 jobs")
    workloads = [f"clustered, {m} s, sigma {s}" for m in (5, 30, 600) for s in (0.1, 0.25, 0.5)]
    workloads += [f"{k}, {m} s, sigma 0.25" for k in ("2x slower", "2x faster")
                  for m in (5, 30, 600)]
    workloads += [f"1.2x slower, {m} s, sigma {s}" for m in (5, 30, 600) for s in (0.1, 0.25)]
    assert [(line[:30].strip(), line[31:38].strip()) for line in learning[2:]] == [
        (w, p) for w in workloads for p in ("sivi", "rivya", "clipia")]
    assert all(line.rstrip().endswith(")") and (" ok (" in line or " NO (" in line)
               for line in learning[2:])
    assert progress[0].startswith("Misleading progress: 20 jobs of 5-600 s")
    shapes = [line[:26].strip() for line in progress[2:-2]]
    assert shapes[:3] == ["linear", "linear, rounded", "queued 30 %, then linear"]
    assert {"races to 99, sticks", "jumps 0 -> 100 late", "random noise", "exceeds 100",
            "negative (-1)", "reset to 0 midway", "stalls at 90"} <= set(shapes)
    assert len(shapes) >= 16
    assert progress[-2].startswith("sivi + linear progress:")
    assert progress[-1].startswith("clipia + linear progress:")


def test_wait_all_benchmark_runs():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "wait_all.py"),
                             "--jobs", "20", "--rounds", "1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "20 jobs x 1 rounds (20 succeeded per round at least)" in result.stdout
    assert "ratio" in result.stdout


def _run(script, *args):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_poll_overhead_runs_and_prints_every_provider():
    out = _run("poll_overhead.py", "--calls", "5")
    rows = [line.split()[0] for line in out.splitlines()[3:7]]
    assert rows == ["sivi", "rivya", "sellerpic", "clipia"]
    assert "worst wall-time ratio to bare requests" in out


def test_parse_benchmark_runs_against_generated_pydantic_models():
    pytest.importorskip("pydantic", minversion="2")
    pytest.importorskip("datamodel_code_generator")
    out = _run("parse.py", "--number", "3", "--repeat", "1")
    labels = {line.split()[0] for line in out.splitlines()[2:-1]}
    assert labels == {"sivi", "rivya", "sellerpic", "clipia"}
    assert "ours / pydantic: median" in out
    assert re.search(r"\(target <= 1.5: (YES|NO)\)", out) and "replies over the target:" in out


def test_import_time_runs_and_lists_our_modules():
    out = _run("import_time.py", "--runs", "1")
    assert "import genstatus_sync:" in out
    assert "genstatus_sync._http" in out


def test_celery_fleet_runs_tiny_next_to_wait_all():
    pytest.importorskip("celery", reason="Celery is not installed (pip install -e '.[celery]')")
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    out = _run("celery_fleet.py", "--jobs", "20", "--scale", "0.05")
    lines = out.splitlines()
    assert lines[0].startswith("20 jobs of sivi, rivya, sellerpic, clipia")
    assert [line.split()[0] for line in lines[2:4]] == ["celery:", "gs.wait_all,"]
    assert lines[4].startswith("celery / wait_all: requests per job")


def test_wait_all_latency_runs_a_size_and_a_top_out_rate():
    out = _run("wait_all_latency.py", "--sizes", "40", "--scale", "0.03", "--single-calls", "8",
               "--top-out", "40", "--top-out-seconds", "2")
    lines = out.splitlines()
    assert "solo: the same jobs each waited alone" in out
    rows = [line for line in lines if line.split("|")[0].strip() == "40"]
    assert len(rows) == 2  # the figures and the load
    assert rows[0].split()[-1] == "0"  # no job lost
    top = [line for line in lines if line.split()[2:3] in (["default"], ["512"])]
    assert len(top) == 2 and all(line.split()[-1] == "0" for line in top)


def test_rate_limit_runs_and_states_its_goals():
    out = _run("rate_limit.py", "--jobs", "20", "--rate", "20", "--providers", "clipia")
    row = next(line for line in out.splitlines() if line.startswith("clipia"))
    assert row.split()[1:4] == ["20", "20", "0"]  # jobs, done, lost to 429s
    assert "goals: jobs lost to 429s 0 (0)" in out


def test_schedule_bound_runs_and_prints_a_floor_per_workload():
    out = _run("schedule_bound.py", "--medians", "5", "--sigmas", "0.25", "--runs", "1")
    lines = out.strip().splitlines()
    assert lines[1].split()[:2] == ["workload", "provider"]
    rows = [line.split() for line in lines[2:]]
    assert [row[4] for row in rows] == ["sivi", "rivya", "clipia"]
    floors = [float(row[7].rstrip("%")) for row in rows]
    plains = [float(row[6].rstrip("%")) for row in rows]
    assert all(0 < f < p for f, p in zip(floors, plains))
