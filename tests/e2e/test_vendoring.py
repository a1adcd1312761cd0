"""The package copied into someone else's tree under another name still works."""

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import genstatus_sync

SCRIPT = textwrap.dedent("""
    import sys

    class HideInstalledCopy:
        def find_spec(self, name, path=None, target=None):
            if name == "genstatus_sync" or name.startswith("genstatus_sync."):
                raise ImportError(f"the installed {name} is hidden")

    sys.meta_path.insert(0, HideInstalledCopy())

    from someapp._vendor import genstatus_sync as gs
    from someapp._vendor.genstatus_sync.testing import FakeProviders

    with FakeProviders(api_key="vendored-key") as fake:
        jobs = [(fake.client(p), fake.add_job(p, ["queued", "running", "succeeded"]))
                for p in ("sivi", "rivya", "sellerpic", "clipia")]
        client, job = jobs[0]
        client._sleep = lambda seconds: None
        status = client.wait(job, timeout=30)
        assert status.state is gs.State.SUCCEEDED, status
        outcomes = gs.wait_all(jobs[1:], timeout=30, sleep=lambda seconds: None)
        assert [o.state for o in outcomes] == [gs.State.SUCCEEDED] * 3, outcomes
        assert gs.ResponseFormatError.__module__ == "someapp._vendor.genstatus_sync.errors"
    from someapp._vendor.genstatus_sync import webhooks
    push = b'{"request_id": "r", "status": "COMPLETED", "output": {"v": {"url": "https://x/1"}}}'
    webhooks.verify(push, webhooks.sign(push, "secret"), "secret")
    assert webhooks.parse("clipia", push).result_urls == ("https://x/1",)
    installed = [name for name in sys.modules if name.split(".")[0] == "genstatus_sync"]
    assert installed == [], installed
    assert "someapp._vendor.genstatus_sync.providers.clipia" in sys.modules
    print("vendored wait:", status.state.value, status.result_urls[0])
""")


def test_a_vendored_copy_runs_a_full_wait_with_the_installed_copy_hidden(tmp_path):
    vendor = tmp_path / "someapp" / "_vendor"
    shutil.copytree(Path(genstatus_sync.__file__).parent, vendor / "genstatus_sync",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "someapp" / "__init__.py").write_text("")
    (vendor / "__init__.py").write_text("")
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # the fake's jobs report result files it serves itself
    assert result.stdout.startswith("vendored wait: succeeded http://127.0.0.1:")
