"""scripts/generate_models.py: the committed models are exactly what the specs generate."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("datamodel_code_generator")

ROOT = Path(__file__).resolve().parent.parent


def run_check(root: Path, cwd: "Path | None" = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(root / "scripts" / "generate_models.py"), "--check"],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


def test_committed_models_match_specs():
    result = run_check(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_check_passes_from_any_working_directory(tmp_path):
    # the formatter once took its line length from the pyproject.toml nearest the working
    # directory: run from elsewhere, the same specs gave differently wrapped models
    result = run_check(ROOT, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_untouched_copy_of_the_tree_passes_the_check(copy_of_tree, tmp_path):
    # what the tests below edit is all that makes their copy fail
    result = run_check(copy_of_tree, cwd=copy_of_tree)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture()
def copy_of_tree(tmp_path):
    for part in ("scripts", "openapi", "genstatus_sync/models"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_deleting_a_line_of_a_model_is_caught(copy_of_tree):
    model = copy_of_tree / "genstatus_sync" / "models" / "rivya.py"
    lines = model.read_text().splitlines(keepends=True)
    victim = next(i for i, line in enumerate(lines) if "reserved_credits" in line)
    model.write_text("".join(lines[:victim] + lines[victim + 1:]))
    result = run_check(copy_of_tree)
    assert result.returncode == 1
    assert "reserved_credits" in result.stdout
    assert "stale" in result.stderr


def test_changing_a_spec_is_caught(copy_of_tree):
    spec = copy_of_tree / "openapi" / "sivi.yaml"
    spec.write_text(spec.read_text().replace("enum: [pending, processing, complete, failed]",
                                             "enum: [pending, processing, complete, failed, gone]"))
    result = run_check(copy_of_tree)
    assert result.returncode == 1
    assert "+    gone = 'gone'" in result.stdout


def test_generated_modules_say_so():
    for module in sorted((ROOT / "genstatus_sync" / "models").glob("*.py")):
        first = module.read_text().splitlines()[0]
        assert first.startswith("# GENERATED"), module.name
        assert "do not edit" in first
        if module.name != "__init__.py":
            assert f"openapi/{module.stem}.yaml" in first
