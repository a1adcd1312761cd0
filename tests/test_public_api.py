"""The public surface: what API.md promises is exported, and nothing is loaded eagerly."""

import subprocess
import sys

import genstatus_sync as gs
from genstatus_sync import errors


def test_all_is_sorted_and_every_name_resolves():
    assert gs.__all__ == sorted(gs.__all__)
    for name in gs.__all__:
        assert getattr(gs, name) is not None
    assert set(gs.__all__) <= set(dir(gs))


def test_every_exception_is_exported_and_rooted():
    for name in errors.__all__:
        cls = getattr(gs, name)
        assert cls is getattr(errors, name)
        assert issubclass(cls, gs.GenStatusError)
    assert issubclass(gs.ConfigurationError, ValueError)
    assert issubclass(gs.WaitTimeout, TimeoutError)
    for name in ("AuthenticationError", "PermissionDeniedError", "NotFoundError",
                 "RateLimitError", "ServerError"):
        assert issubclass(getattr(gs, name), gs.APIError)


def test_unknown_attribute_is_an_attribute_error():
    try:
        gs.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_version_without_installed_metadata():
    assert gs.__version__.count(".") == 2


def test_import_loads_nothing_heavy():
    code = ("import sys, genstatus_sync; "
            "print(sorted(m for m in ('requests', 'cattrs', 'attrs') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
