import pytest
from hypothesis import HealthCheck, settings

from genstatus_sync.testing import FakeProviders

# The fuzz suite's example counts: `ci` by default; `smoke` for CI's extra interpreters and
# lowest dependency versions; `--hypothesis-profile=slow` for the long run.
_FUZZ_CHECKS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True,
                          suppress_health_check=_FUZZ_CHECKS, print_blob=True)
settings.register_profile("smoke", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=_FUZZ_CHECKS, print_blob=True)
settings.register_profile("slow", max_examples=10_000, deadline=None,
                          suppress_health_check=_FUZZ_CHECKS, print_blob=True)
settings.load_profile("ci")

KEY = "sk-LEAKCHECK-7f3a9c-secret"
ENV_VARS = [f"{p}_{s}" for p in ("SIVI", "RIVYA", "SELLERPIC", "CLIPIA")
            for s in ("API_KEY", "BASE_URL")]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    """No test sees a key or base URL from the developer's environment."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


fake = pytest.fixture(FakeProviders.fixture(api_key=KEY))


@pytest.fixture()
def no_sleep():
    """A recording stand-in for time.sleep: tests never sleep for real."""
    return []


def fast_client(fake, provider, sleeps=None, **kwargs):
    """A client of the fake with a sub-second timeout whose sleeps are recorded, not slept."""
    kwargs.setdefault("timeout", (0.5, 0.5))
    client = fake.client(provider, **kwargs)
    client._sleep = (sleeps if sleeps is not None else []).append
    return client
