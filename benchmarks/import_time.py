"""What importing genstatus_sync costs a script, next to importing requests alone.

Each statement runs in a fresh interpreter (timed inside it, around the statement only), the
statements interleaved run by run; medians of --runs runs. Targets: the first client ready
(imported and constructed) <= `import requests` + 25 ms; `import genstatus_sync` alone far
below that (it loads neither requests nor attrs). Bytecode is cached first, as pip does on
install (the environment's PYTHONDONTWRITEBYTECODE is dropped for these runs). Then
`-X importtime` of the heaviest statement says what each module adds, grouped by top-level
package, and lists genstatus_sync's own modules.

    python benchmarks/import_time.py [--runs 15]
"""

import argparse
import os
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

STATEMENTS = {
    "import requests": "import requests",
    "import genstatus_sync": "import genstatus_sync",
    "genstatus_sync.RivyaClient": "from genstatus_sync import RivyaClient",
    "first client ready": "from genstatus_sync import RivyaClient; RivyaClient(api_key='k')",
    "all four clients": "from genstatus_sync import SiviClient, RivyaClient, SellerPicClient, "
                        "ClipiaClient",
    "requests+attrs+cattrs": "import requests, attrs, cattrs, cattrs.gen",
    "RivyaClient after those": "from genstatus_sync import RivyaClient",
}
# statements timed after a setup that is not timed
SETUP = {"RivyaClient after those": "import requests, attrs, cattrs, cattrs.gen"}
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
TIMER = "{}\nimport time; t = time.perf_counter(); {}; print(time.perf_counter() - t)"


def time_import(label):
    code = TIMER.format(SETUP.get(label, ""), STATEMENTS[label])
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ENV,
                         capture_output=True, text=True, check=True)
    return float(out.stdout)


def importtime(statement):
    """[(module, self us, cumulative us)] from -X importtime."""
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", statement], cwd=ROOT,
                         env=ENV, capture_output=True, text=True, check=True).stderr
    rows = []
    for line in err.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative, name = line[len("import time:"):].split("|")
        rows.append((name.strip(), int(self_us), int(cumulative)))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per statement")
    args = parser.parse_args(argv)
    times = {label: [] for label in STATEMENTS}
    for label in STATEMENTS:
        time_import(label)  # writes the bytecode caches
    for _ in range(args.runs):
        for label in STATEMENTS:
            times[label].append(time_import(label))
    medians = {label: statistics.median(values) * 1000 for label, values in times.items()}
    base = medians["import requests"]
    print(f"median of {args.runs} fresh processes each (ms; interleaved)")
    for label, ms in medians.items():
        print(f"  {label:<28} {ms:7.1f}   {ms - base:+7.1f} vs requests")
    first = medians["first client ready"] - base
    verdict = "holds" if first <= 25 else "MISSED"
    print(f"first client ready (import + construct): {first:+.1f} ms vs requests "
          f"(target <= +25 ms): {verdict}")
    print(f"import genstatus_sync: {medians['import genstatus_sync'] - base:+.1f} ms vs "
          "requests")

    rows = importtime(STATEMENTS["all four clients"])
    groups = defaultdict(int)
    for name, self_us, _ in rows:
        groups[name.split(".")[0]] += self_us
    print("\n-X importtime of the four clients, self time by top-level package (ms):")
    for package, us in sorted(groups.items(), key=lambda item: -item[1])[:12]:
        print(f"  {package:<24} {us / 1000:7.1f}")
    print("genstatus_sync modules (self / cumulative ms):")
    for name, self_us, cumulative in rows:
        if name.split(".")[0] == "genstatus_sync":
            print(f"  {name:<40} {self_us / 1000:6.1f} {cumulative / 1000:7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
