"""Run mypy --strict on tests/typing: usage.py must pass; every line of mistakes.py marked
``# error: CODE`` must be reported with that code, and nothing else. Exit 1 otherwise.

    python tests/typing/check.py
"""

import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def mypy(path: Path) -> "tuple[int, str]":
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
                             "--hide-error-context", "--show-error-codes", str(path)],
                            capture_output=True, text=True)
    return result.returncode, result.stdout


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
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
