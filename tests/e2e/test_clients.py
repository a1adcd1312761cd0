"""All four clients over real HTTP against FakeProviders on 127.0.0.1."""

import json
import time

import pytest

import genstatus_sync as gs
from genstatus_sync import State
from genstatus_sync.models import clipia, rivya, sellerpic, sivi

from .. import stalls
from ..clock import Clock
from ..conftest import KEY, fast_client

PROVIDERS = ["sivi", "rivya", "sellerpic", "clipia"]
MODELS = {"sivi": sivi.RequestStatus, "rivya": rivya.Generation,
          "sellerpic": sellerpic.GenerateStatusResponse, "clipia": clipia.RequestStatus}

# Each document's life cycle, in normalized states.
SEQUENCES = {
    "sivi": [["queued", "running", "succeeded"], ["queued", "running", "failed"]],
    "rivya": [["queued", "running", "succeeded"], ["queued", "failed"]],
    "sellerpic": [["queued", "running", "succeeded"], ["running", "failed"]],
    "clipia": [["queued", "queued", "running", "running", "succeeded"], ["running", "failed"]],
}


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("which", [0, 1])
def test_documented_life_cycles(fake, provider, which):
    states = SEQUENCES[provider][which]
    job = fake.add_job(provider, states, error="Image url invalid",
                       urls=["https://media.example.test/a.png", "https://media.example.test/b.png"])
    client = fast_client(fake, provider)
    seen = []
    final = client.wait(job, raise_on_failure=False, on_update=seen.append)
    changes = [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s]
    seen_states = [s.state.value for s in seen]
    assert [s for i, s in enumerate(seen_states) if i == 0 or seen_states[i - 1] != s] == changes
    if states[-1] == "succeeded":
        assert final.state is State.SUCCEEDED
        assert final.result_urls == ("https://media.example.test/a.png",
                                     "https://media.example.test/b.png")
        assert final.error is None
    else:
        assert final.state is State.FAILED
        assert final.error == "Image url invalid"
    assert final.provider == provider and final.job_id == job


@pytest.mark.parametrize("provider", PROVIDERS)
def test_get_status_returns_the_generated_model(fake, provider):
    job = fake.add_job(provider, ["running"])
    assert isinstance(fast_client(fake, provider).get_status(job), MODELS[provider])


def test_failed_job_raises_generation_failed_with_status(fake):
    job = fake.add_job("sivi", ["running", "failed"], error="Image url invalid")
    with pytest.raises(gs.GenerationFailed) as info:
        fast_client(fake, "sivi").wait(job)
    assert info.value.status.error == "Image url invalid"
    assert info.value.status.state is State.FAILED


def test_progress_and_queue_position_are_reported(fake):
    job = fake.add_job("clipia", ["queued", "running", "succeeded"], progress=[None, 45, 100],
                       queue_positions=[3, None, None])
    client = fast_client(fake, "clipia")
    first, second = client.poll(job), client.poll(job)
    assert (first.state, first.queue_position) == (State.QUEUED, 3)
    assert (second.state, second.progress) == (State.RUNNING, 45)
    result = client.wait(job)
    assert isinstance(result.raw, clipia.RequestResult)


@pytest.mark.parametrize("provider", ["sivi", "clipia"])
def test_progress_outside_0_to_100_is_not_reported(fake, provider):
    # JobStatus.progress is 0..100: -5 and 250 were passed on as they came (the model keeps them)
    job = fake.add_job(provider, ["running"] * 5, progress=[-5, 250, 100.5, 45, 100])
    client = fast_client(fake, provider)
    polls = [client.poll(job) for _ in range(5)]
    assert [s.progress for s in polls] == [None, None, None, 45, 100]
    assert [s.raw.progress for s in polls] == [-5, 250, 100.5, 45, 100]
    body = {"status": 200, "body": {"status": "processing", "requestId": job, "progress": 250}}
    if provider == "clipia":
        body = {"request_id": job, "status": "IN_PROGRESS", "progress": -1}
    assert gs.webhooks.parse(provider, json.dumps(body).encode()).progress is None


def test_clipia_poll_is_one_request_and_wait_fetches_the_result(fake):
    job = fake.add_job("clipia", ["succeeded"])
    client = fast_client(fake, "clipia")
    status = client.poll(job)
    assert status.state is State.SUCCEEDED and status.result_urls == ()
    assert [r.path for r in fake.requests] == [f"/v1/requests/{job}/status"]
    assert client.wait(job).result_urls
    assert fake.requests[-1].path == f"/v1/requests/{job}"


def test_clipia_sandbox_key_completes_at_once():
    from genstatus_sync.testing import FakeProviders

    with FakeProviders(api_key="clipia_test_abc") as sandbox:
        job = sandbox.add_job("clipia", ["queued", "running", "succeeded"], urls=[])
        result = fast_client(sandbox, "clipia").wait(job)
        mine = sandbox.add_job("clipia", ["running"], urls=["https://example.test/mine.mp4"])
        served = sandbox.add_job("clipia", ["running", "succeeded"])  # the fake's own media
        others = [fast_client(sandbox, "clipia").wait(j) for j in (mine, served)]
    assert result.state is State.SUCCEEDED
    assert result.result_urls == ("https://media.clipia.ai/sample/mock-result.png",)
    assert [o.result_urls for o in others] == [result.result_urls] * 2  # one fixed sample


def test_sivi_abstract_user_id_reaches_the_server(fake):
    job = fake.add_job("sivi", ["succeeded"])
    fast_client(fake, "sivi").poll(job, abstract_user_id="user-9")
    assert '"abstractUserId":"user-9"' in fake.requests[-1].query["queryParams"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_unknown_job_is_not_found(fake, provider):
    job = "424242" if provider == "sellerpic" else "missing"
    with pytest.raises(gs.NotFoundError) as info:
        fast_client(fake, provider).poll(job)
    # among many jobs, the error says which one was not found
    assert info.value.job_id == job
    assert f"job '{job}'" in str(info.value)


def test_a_wait_all_of_many_jobs_names_each_one_not_found(fake):
    clients = {p: fast_client(fake, p) for p in PROVIDERS}
    known = [(clients[p], fake.add_job(p, ["succeeded"])) for p in PROVIDERS]
    unknown = [(clients[p], "31337" if p == "sellerpic" else f"gone-{p}") for p in PROVIDERS]
    outcomes = gs.wait_all(known + unknown, timeout=30)
    assert all(o.state is State.SUCCEEDED for o in outcomes[:4])
    for (_, job), outcome in zip(unknown, outcomes[4:]):
        assert isinstance(outcome, gs.NotFoundError)
        assert outcome.job_id == job and f"job '{job}'" in str(outcome)


def test_clipias_result_request_names_its_job(fake):
    with pytest.raises(gs.NotFoundError) as info:
        fast_client(fake, "clipia").get_result("no-such-request")
    assert info.value.job_id == "no-such-request"


def test_a_job_id_holding_the_key_is_not_shown_in_the_error(fake):
    with pytest.raises(gs.NotFoundError) as info:
        fast_client(fake, "rivya").poll(f"x{KEY}x")
    assert KEY not in str(info.value) and KEY not in (info.value.job_id or "")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_wrong_key_is_authentication_error(fake, provider):
    job = fake.add_job(provider, ["running"])
    with pytest.raises(gs.AuthenticationError) as info:
        fast_client(fake, provider, api_key="wrong-key").poll(job)
    assert "wrong-key" not in str(info.value)


SCHEMES = {"sivi": "Bearer", "rivya": "Bearer", "sellerpic": "Bearer", "clipia": "Key"}
CLIENT_CLASSES = {"sivi": gs.SiviClient, "rivya": gs.RivyaClient,
                  "sellerpic": gs.SellerPicClient, "clipia": gs.ClipiaClient}


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("from_env", [False, True], ids=["api_key", "env"])
def test_a_key_given_with_its_scheme_word_is_refused_before_any_request(fake, monkeypatch,
                                                                       provider, from_env):
    # "Bearer KEY" was sent as "Authorization: Bearer Bearer KEY" and met a 401
    given = f"{SCHEMES[provider]} {KEY}"
    variable = f"{provider.upper()}_API_KEY"
    if from_env:
        monkeypatch.setenv(variable, given)
    with pytest.raises(gs.ConfigurationError, match="scheme word") as info:
        CLIENT_CLASSES[provider](api_key=None if from_env else given, base_url=fake.url)
    shown = [str(info.value), repr(info.value), *map(str, info.value.args)]
    assert not [text for text in shown if KEY in text or "LEAK" in text]
    assert (variable if from_env else "api_key=") in str(info.value)
    assert fake.requests == []


@pytest.mark.parametrize("success", ["success", "Success", "SUCCESS"])
def test_a_sellerpic_success_in_any_case_ends_the_wait(fake, success):
    # the document names SUCCESS in a free-text field; the failure words were read in any
    # case already, and a "success" polled on to the deadline
    job = fake.add_job("sellerpic", ["running", success, "\u017fuccess"])
    clock = Clock()
    client = fake.client("sellerpic", timeout=(0.5, 0.5), sleep=clock.sleep, clock=clock)
    assert client.wait(job, timeout=60).state is State.SUCCEEDED
    assert len(fake.requests) == 2
    # (ASCII case only: a long s is not an s)
    assert client.poll(job).state is State.RUNNING


@pytest.mark.parametrize("provider", PROVIDERS)
def test_unknown_status_value_is_unknown_and_wait_goes_on(fake, provider):
    job = fake.add_job(provider, ["running", "moderating", "moderating", "succeeded"])
    client = fast_client(fake, provider)
    client.poll(job)
    odd = client.poll(job)
    expected = State.RUNNING if provider == "sellerpic" else State.UNKNOWN
    assert odd.state is expected
    assert client.wait(job).state is State.SUCCEEDED


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_wait_recovers_from_transient_statuses(fake, provider, status):
    job = fake.add_job(provider, ["running", "succeeded"])
    fake.fail(provider, status, times=4, retry_after=1)
    sleeps = []
    client = fast_client(fake, provider, sleeps)
    assert client.wait(job, timeout=60).state is State.SUCCEEDED
    # one rule: the wait's schedule is the retry, so 4 failures cost exactly 4 requests
    # (Clipia: and one more for the result), and Retry-After is never undercut
    calls = [r for r in fake.requests if r.path.endswith("/status") or provider != "clipia"]
    assert len(calls) == 4 + 2
    assert len(fake.requests) == 6 + (provider == "clipia")
    assert all(delay >= 0.99 for delay in sleeps[1:5])


def test_retry_after_as_http_date_is_honoured(fake):
    from email.utils import formatdate

    job = fake.add_job("rivya", ["succeeded"])
    fake.fail("rivya", 503, retry_after=formatdate(time.time() + 600, usegmt=True))
    sleeps = []
    client = fast_client(fake, "rivya", sleeps, max_retries=0)
    with pytest.raises(gs.ServerError) as info:
        client.poll(job)
    assert 590 < info.value.retry_after <= 600
    # more than a day ahead is unusable: None, and raised at once even with retries left
    fake.fail("rivya", 503, retry_after="Wed, 21 Oct 2099 07:28:00 GMT")
    with pytest.raises(gs.ServerError) as info:
        fast_client(fake, "rivya", sleeps, max_retries=3).poll(job)
    assert info.value.retry_after is None and sleeps == []


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("kind", ["drop", "empty", "html", "truncated", "slow"])
def test_wait_recovers_or_raises_per_fault(fake, provider, kind):
    job = fake.add_job(provider, ["running", "succeeded"])
    fake.fault(provider, kind, seconds=0.05)
    client = fast_client(fake, provider, max_retries=1)
    if kind in ("drop", "slow"):
        assert client.wait(job, timeout=30).state is State.SUCCEEDED
    else:
        with pytest.raises(gs.ResponseFormatError) as info:
            client.wait(job, timeout=30)
        assert info.value.status_code == 200


@pytest.mark.parametrize("provider", PROVIDERS)
def test_off_spec_body_is_a_format_error(fake, provider):
    job = fake.add_job(provider, ["running"])
    fake.fault(provider, "off_spec")
    with pytest.raises((gs.ResponseFormatError, gs.APIError)):
        fast_client(fake, provider).poll(job)


def test_read_timeout_fires_and_is_transport_error(fake):
    job = fake.add_job("rivya", ["running"])
    fake.fault("rivya", "never", seconds=2.0)
    client = fast_client(fake, "rivya", timeout=(0.5, 0.2), max_retries=0)
    with pytest.raises(gs.TransportError) as info:
        client.poll(job)
    assert "timed out" in str(info.value)


def test_huge_body_is_refused_without_reading_it_all(fake):
    job = fake.add_job("rivya", ["running"])
    fake.fault("rivya", "huge")
    with pytest.raises(gs.ResponseFormatError, match="larger than"):
        fast_client(fake, "rivya", timeout=(0.5, 2.0)).poll(job)


def test_wait_deadline_holds_when_the_server_hangs(fake):
    import time

    job = fake.add_job("rivya", ["running"])
    fake.fault("rivya", "never", times=100, seconds=5.0)
    client = fast_client(fake, "rivya", timeout=(0.5, 5.0))
    client._sleep = time.sleep
    stalls.start()
    started = time.monotonic()
    with pytest.raises(gs.WaitTimeout) as info:
        client.wait(job, timeout=0.3)
    took = time.monotonic() - started
    # grace of the last poll, slack, and the time the machine took from every process
    assert took < 0.3 + 0.5 + 0.3 + stalls.stalled(started, started + took), took
    assert isinstance(info.value.last_error, gs.TransportError)


def test_wait_all_mixes_providers_and_isolates_outcomes(fake):
    jobs = []
    for provider in PROVIDERS:
        client = fast_client(fake, provider)
        jobs.append((client, fake.add_job(provider, ["queued", "running", "succeeded"])))
        jobs.append((client, fake.add_job(provider, ["running", "failed"])))
    missing = fast_client(fake, "rivya")
    jobs.append((missing, "missing"))
    outcomes = gs.wait_all(jobs, timeout=30, sleep=lambda s: None)
    states = [o.state if isinstance(o, gs.JobStatus) else type(o) for o in outcomes]
    assert states == [State.SUCCEEDED, State.FAILED] * 4 + [gs.NotFoundError]


def test_request_log_redacts_keys(fake):
    for provider in PROVIDERS:
        job = fake.add_job(provider, ["succeeded"])
        fast_client(fake, provider).poll(job)
    assert len(fake.requests) == 4
    for request in fake.requests:
        assert KEY not in repr(request)
        assert request.headers["User-Agent"].startswith("genstatus_sync/")


def test_proxy_from_the_environment_is_used(fake, monkeypatch):
    # FakeProviders serves absolute-URI requests too, so it can stand in for the proxy
    monkeypatch.setenv("HTTP_PROXY", fake.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    job = fake.add_job("rivya", ["running"])
    client = fast_client(fake, "rivya", base_url="http://rivya.invalid", allow_insecure=True)
    assert client.poll(job).state is State.RUNNING
    assert fake.requests[-1].path == f"/api/v1/generations/{job}"


def test_no_proxy_from_the_environment_is_honoured(fake, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    job = fake.add_job("rivya", ["running"])
    assert fast_client(fake, "rivya").poll(job).state is State.RUNNING


@pytest.mark.parametrize("flag", ["false", 0, 1, None, []])
def test_raise_on_failure_that_is_not_a_bool_is_refused_before_any_request(fake, flag):
    # ("false" read from a config file was taken for True: a failed job raised)
    job = fake.add_job("rivya", ["failed"])
    clock = Clock()
    client = fake.client("rivya", sleep=clock.sleep, clock=clock)
    with pytest.raises(gs.ConfigurationError, match="raise_on_failure must be True or False"):
        client.wait(job, timeout=5, raise_on_failure=flag)
    with pytest.raises(gs.ConfigurationError, match="raise_on_failure"):
        client.job(job).wait(timeout=5, raise_on_failure=flag)
    assert fake.requests == []
    assert client.wait(job, timeout=5, raise_on_failure=False).state is State.FAILED
