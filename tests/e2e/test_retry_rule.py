"""One retry rule, everywhere: what is transient is retried (on the wait's schedule inside a
wait, max_retries outside), everything else is raised at once."""

import shutil
import ssl
import subprocess

import pytest

import genstatus_sync as gs
from genstatus_sync import State

from ..clock import Clock
from ..conftest import fast_client

PROVIDERS = ["sivi", "rivya", "sellerpic", "clipia"]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_inside_a_wait_n_transient_failures_cost_exactly_n_requests(fake, provider, status):
    job = fake.add_job(provider, ["succeeded"])
    fake.fail(provider, status, times=3)
    clock = Clock(now=0.0)
    client = fake.client(provider, sleep=clock.sleep, clock=clock, max_retries=5)
    assert client.wait(job, timeout=600).state is State.SUCCEEDED
    status_calls = [r for r in fake.requests if provider != "clipia" or r.path.endswith("/status")]
    assert len(status_calls) == 3 + 1
    assert len(fake.requests) == 3 + 1 + (provider == "clipia")  # and Clipia's result


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 501])
def test_other_statuses_end_a_wait_at_once(fake, status):
    job = fake.add_job("rivya", ["succeeded"])
    fake.fail("rivya", status, times=3)
    clock = Clock(now=0.0)
    client = fake.client("rivya", sleep=clock.sleep, clock=clock)
    with pytest.raises(gs.APIError) as info:
        client.wait(job, timeout=600)
    assert info.value.status_code == status
    assert len(fake.requests) == 1


def test_outside_a_wait_max_retries_and_their_schedule(fake):
    job = fake.add_job("rivya", ["succeeded"])
    fake.fail("rivya", 503, times=2)
    clock = Clock(now=0.0)
    client = fake.client("rivya", sleep=clock.sleep, clock=clock, max_retries=2)
    assert client.poll(job).state is State.SUCCEEDED
    assert len(fake.requests) == 3
    assert 0.45 <= clock.sleeps[0] <= 0.55 and 0.9 <= clock.sleeps[1] <= 1.1


@pytest.mark.parametrize(("value", "slept"), [("3", True), ("120", True), ("121", False),
                                              ("3600", False), ("1e10", False), ("soon", False),
                                              ("nan", False), ("Fri, 31 Dec 9999 23:59:59 GMT",
                                                               False)])
def test_outside_a_wait_a_long_or_unusable_retry_after_is_raised_not_slept_on(fake, value,
                                                                               slept):
    job = fake.add_job("rivya", ["succeeded"])
    fake.fail("rivya", 429, retry_after=value)
    clock = Clock(now=0.0)
    client = fake.client("rivya", sleep=clock.sleep, clock=clock, max_retries=2)
    if slept:
        assert client.poll(job).state is State.SUCCEEDED
        assert clock.sleeps == [float(value)]
        return
    with pytest.raises(gs.RateLimitError) as info:
        client.poll(job)
    assert clock.sleeps == [] and len(fake.requests) == 1
    expected = None if value in ("1e10", "soon", "nan", "Fri, 31 Dec 9999 23:59:59 GMT") else (
        float(value))
    assert info.value.retry_after == expected


def test_inside_a_wait_a_long_retry_after_is_honoured_up_to_the_deadline(fake):
    job = fake.add_job("rivya", ["succeeded"])
    fake.fail("rivya", 429, retry_after="3600", times=5)
    clock = Clock(now=0.0)
    client = fake.client("rivya", sleep=clock.sleep, clock=clock)
    with pytest.raises(gs.WaitTimeout) as info:
        client.wait(job, timeout=100)
    assert clock.now == 100 and info.value.polls == 2  # the failed poll, one last at the end
    assert isinstance(info.value.last_error, gs.RateLimitError)
    # that last one was not even sent: the Retry-After holds the whole client back
    assert len(fake.requests) == 1 and "not sent" in str(info.value.last_error)


@pytest.mark.parametrize("value", ["99999999999999999999", "Fri, 31 Dec 9999 23:59:59 GMT",
                                   "3600", "60"])
def test_outside_a_wait_a_request_the_client_is_held_back_from_longer_than_its_timeouts_is_raised(
        fake, value):
    job = fake.add_job("rivya", ["succeeded"])
    fake.fail("rivya", 429, retry_after=value)
    clock = Clock(now=0.0)
    client = fake.client("rivya", sleep=clock.sleep, clock=clock, max_retries=0,
                         timeout=(2.0, 3.0))
    with pytest.raises(gs.RateLimitError):
        client.poll(job)  # the 429: held back two minutes (at most), whatever it asked
    clock.now += 10
    with pytest.raises(gs.RateLimitError, match="not sent") as info:
        client.poll(job)  # once waited 110 s for its turn, whatever the client's timeouts
    assert clock.sleeps == [] and len(fake.requests) == 1
    held = min(float(value), 120.0) - 10 if value[0].isdigit() else 110.0
    assert info.value.retry_after == pytest.approx(held) and gs.errors.is_transient(info.value)
    clock.now += held - 4.0  # 4 s left of it, within the timeouts' 5 s: waited out, then sent
    assert client.poll(job).state is State.SUCCEEDED
    assert clock.sleeps == [pytest.approx(4.0)] and len(fake.requests) == 2


@pytest.fixture()
def tls_fake(fake, tmp_path):
    """The fake behind TLS with a throwaway self-signed certificate no client trusts."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a throwaway certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    fake._server.socket = context.wrap_socket(fake._server.socket, server_side=True)
    fake.https_url = fake.url.replace("http:", "https:")
    return fake


def test_a_certificate_failure_is_raised_at_once_outside_and_inside_a_wait(tls_fake):
    job = tls_fake.add_job("rivya", ["running"])
    clock = Clock(now=0.0)
    client = fast_client(tls_fake, "rivya", base_url=tls_fake.https_url, max_retries=3)
    client._sleep, client._clock = clock.sleep, clock
    with pytest.raises(gs.TransportError, match="TLS certificate") as info:
        client.poll(job)
    assert info.value.transient is False and not gs.errors.is_transient(info.value)
    assert clock.sleeps == []  # no retry
    with pytest.raises(gs.TransportError, match="TLS certificate"):
        client.wait(job, timeout=600)
    assert clock.now < 5  # not a WaitTimeout after ten minutes of retries
    outcomes = gs.wait_all([(client, job)], timeout=600, sleep=clock.sleep, clock=clock)
    assert isinstance(outcomes[0], gs.TransportError)


def test_a_wait_timeout_that_is_not_a_number_is_a_configuration_error(fake):
    client = fake.client("rivya")
    job = fake.add_job("rivya", ["succeeded"])
    for bad in ("10", [10], float("nan"), -1, True):
        with pytest.raises(gs.ConfigurationError, match="timeout"):
            client.wait(job, timeout=bad)
        with pytest.raises(gs.ConfigurationError, match="timeout"):
            gs.wait(lambda: 1, is_done=bool, timeout=bad)
        with pytest.raises(gs.ConfigurationError, match="timeout"):
            gs.wait_all([(client, job)], timeout=bad)
    assert fake.requests == []


def test_a_wait_that_times_out_names_its_job_and_its_unsent_last_poll(fake):
    # a 429's Retry-After of 5 s past a 2 s deadline: the last poll is held back unsent (it
    # counts as attempted, and its error says so), and the message names the job
    job = fake.add_job("clipia", ["running"])
    fake.fail("clipia", 429, times=1, retry_after=5)
    clock = Clock(now=0.0)
    client = fake.client("clipia", sleep=clock.sleep, clock=clock)
    with pytest.raises(gs.WaitTimeout) as info:
        client.wait(job, timeout=2)
    assert len(fake.requests) == 1 and info.value.polls == 2
    assert str(info.value).startswith(f"clipia job {job!r} not done after 2.0s and 2 polls;")
    assert "not sent" in str(info.value.last_error)
    assert len(clock.sleeps) <= 3  # (no spinning on the unsent poll)
