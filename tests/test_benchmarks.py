"""The benchmark scripts run (their figures are read by people, not asserted here)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_polling_economy_runs_and_prints_every_policy():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "polling_economy.py"),
                             "--jobs", "40"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("40 jobs")
    assert [line.split("  ")[0] for line in lines[2:]] == [
        "fixed 5 s", "sivi default", "rivya default", "sellerpic default", "clipia default",
        "sivi + progress, linear", "sivi + progress, fast-start (sqrt)",
        "sivi + progress, slow-start (x^2)", "clipia + progress, linear",
        "clipia + progress, fast-start (sqrt)", "clipia + progress, slow-start (x^2)"]


def test_wait_all_benchmark_runs():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "wait_all.py"),
                             "--jobs", "20", "--rounds", "1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "20 jobs x 1 rounds (20 succeeded per round at least)" in result.stdout
    assert "ratio" in result.stdout
