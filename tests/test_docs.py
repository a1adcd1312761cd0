"""Every code block in docs/ and the README runs, against FakeProviders, so the
documentation cannot rot.

A ```python block runs as a program (in a fresh namespace and working folder) with every
provider's <PROVIDER>_BASE_URL and <PROVIDER>_API_KEY pointing at a FakeProviders whose
unknown job ids are jobs that finish (``auto_jobs``), and with sleeping made instant: the
clients' and waits' sleeps move a virtual offset that their clocks add. A ```python celery
block needs a Celery worker and Redis: tests/e2e/test_celery.py runs those. Other fences
(```text, ```sh) are not run. A block that defines ``test_*`` functions has them called, as
pytest would, with this test's ``monkeypatch`` and ``tmp_path``.
"""

import contextlib
import inspect
import io
import re
import time
from pathlib import Path

import pytest

from genstatus_sync import _http, _wait
from genstatus_sync.testing import FakeProviders

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```(\w[\w-]*)?([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks():
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            language, info, code = match.group(1), match.group(2).strip(), match.group(3)
            if language == "python" and "celery" not in info.split():
                line = text.count("\n", 0, match.start()) + 2
                yield pytest.param(code, id=f"{path.name}:{line}")


BLOCKS = list(_blocks())


class _Instant:
    """Sleeps that return at once and move the clocks on by what they slept."""

    def __init__(self):
        self.offset = 0.0

    def sleep(self, seconds):
        self.offset += max(0.0, seconds)

    def monotonic(self):
        return time.monotonic() + self.offset

    def wall(self):
        return time.time() + self.offset


@pytest.fixture(scope="module")
def docs_fake():
    with FakeProviders(api_key="docs-key", auto_jobs=["queued", "running", "succeeded"]) as fake:
        yield fake


def test_every_doc_page_has_runnable_examples():
    pages = {block.id.split(":")[0] for block in BLOCKS}
    assert {"README.md", "quickstart.md", "clients.md", "waiting.md", "many-jobs.md",
            "tokens.md", "errors.md", "testing.md"} <= pages


@pytest.mark.parametrize("code", BLOCKS)
def test_the_example_runs(code, docs_fake, monkeypatch, tmp_path):
    instant = _Instant()
    for provider in ("SIVI", "RIVYA", "SELLERPIC", "CLIPIA"):
        monkeypatch.setenv(f"{provider}_BASE_URL", docs_fake.url)
        monkeypatch.setenv(f"{provider}_API_KEY", docs_fake.api_key)
    monkeypatch.setenv("CLIPIA_WEBHOOK_SECRET", "docs-webhook-secret")
    monkeypatch.setattr(_http.BaseClient, "_sleep", staticmethod(instant.sleep))
    monkeypatch.setattr(_http.BaseClient, "_clock", staticmethod(instant.monotonic))
    monkeypatch.setattr(_http.BaseClient, "_step_clock", staticmethod(instant.wall))
    monkeypatch.setattr(time, "sleep", instant.sleep)
    for function in (_wait.wait, _wait.wait_all, _wait.iter_wait_all):
        defaults = dict(function.__kwdefaults__)
        defaults.update(sleep=instant.sleep, clock=instant.monotonic)
        monkeypatch.setattr(function, "__kwdefaults__", defaults)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    out = io.StringIO()
    namespace = {"__name__": "__doc_example__"}
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<doc example>", "exec"), namespace)
        # a block written as a pytest test is run as pytest would (its monkeypatch is this
        # test's, undone when it ends)
        fixtures = {"monkeypatch": monkeypatch, "tmp_path": tmp_path}
        for name, function in list(namespace.items()):
            if name.startswith("test_") and callable(function):
                function(**{arg: fixtures[arg] for arg in inspect.signature(function).parameters})
    assert instant.offset < 3600  # no example waits for an hour, even virtually

