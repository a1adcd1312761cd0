"""Run mypy --strict on tests/typing: usage.py must pass; every line of mistakes.py marked
``# error: CODE`` must be reported with that code, and nothing else. Then on a copy of the
package vendored under another name, with a user's config (none of ours: Celery, which ships
no types, is not excused): it must pass. Exit 1 otherwise.

    python tests/typing/check.py
"""

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent.parent / "genstatus_sync"


def mypy(path: Path, *options: str, cwd: "Path | None" = None) -> "tuple[int, str]":
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                             "--hide-error-context", "--show-error-codes", *options,
                             str(path)], capture_output=True, text=True, cwd=cwd)
    return result.returncode, result.stdout


def vendored() -> "tuple[int, str]":
    """mypy --strict on the package copied as ``thirdparty/gs_copy``, with an empty config."""
    with tempfile.TemporaryDirectory() as folder:
        tree = Path(folder)
        (tree / "thirdparty").mkdir()
        (tree / "thirdparty" / "__init__.py").write_text("")
        shutil.copytree(PACKAGE, tree / "thirdparty" / "gs_copy",
                        ignore=shutil.ignore_patterns("__pycache__"))
        (tree / "mypy.ini").write_text("[mypy]\n")
        return mypy(tree / "thirdparty", "--config-file", str(tree / "mypy.ini"), cwd=tree)


def main() -> int:
    ok = True
    code, out = mypy(HERE / "usage.py")
    if code != 0:
        print("usage.py: mypy --strict reports errors:\n" + out)
        ok = False
    else:
        print("usage.py: mypy --strict passes")
    source = (HERE / "mistakes.py").read_text().splitlines()
    expected = {(number, match.group(1)) for number, line in enumerate(source, 1)
                for match in [re.search(r"# error: ([a-z-]+)", line)] if match}
    _, out = mypy(HERE / "mistakes.py")
    found = {(int(m.group(1)), m.group(2)) for m in re.finditer(
        r"mistakes\.py:(\d+): error: .*\[([a-z-]+)\]$", out, re.MULTILINE)}
    missing, extra = expected - found, found - expected
    for number, error in sorted(missing):
        print(f"mistakes.py:{number}: expected [{error}], mypy did not report it")
    for number, error in sorted(extra):
        print(f"mistakes.py:{number}: unexpected [{error}]")
    if missing or extra:
        print(out)
        ok = False
    else:
        print(f"mistakes.py: all {len(expected)} mistakes reported, nothing else")
    code, out = vendored()
    if code != 0:
        print("a vendored copy: mypy --strict with a user's config reports errors:\n" + out)
        ok = False
    else:
        print("a vendored copy: mypy --strict with a user's config passes")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
