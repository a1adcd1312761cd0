"""Every promise of "Typed clients", as a user's ``mypy --strict`` sees it (never run).

tests/typing/check.py runs mypy on this file (it must pass) and on the mistakes in
``mistakes.py`` (each must be the error its comment names).
"""

import pathlib
from http.server import BaseHTTPRequestHandler
from typing import Any, Dict, List, Optional, Union

from typing_extensions import assert_type

import genstatus_sync as gs
from genstatus_sync import webhooks
from genstatus_sync.celery import PollTask, register
from genstatus_sync.models import clipia, rivya, sellerpic, sivi
from genstatus_sync.testing import FakeProviders, MockTransport, Reply, Request, json_reply


def clients() -> None:
    with gs.SiviClient() as sivi_client:
        assert_type(sivi_client, gs.SiviClient)
        assert_type(sivi_client.get_status("r"), sivi.RequestStatus)
        assert_type(sivi_client.get_status("r", abstract_user_id="u"), sivi.RequestStatus)
        assert_type(sivi_client.poll("r", abstract_user_id="u"), gs.JobStatus)
        assert_type(sivi_client.wait("r", timeout=5.0, abstract_user_id="u"), gs.JobStatus)
        progress: Optional[float] = sivi_client.get_status("r").progress
        del progress
    with gs.RivyaClient(api_key="k", max_rate=5.0) as rivya_client:
        assert_type(rivya_client, gs.RivyaClient)
        generation = rivya_client.get_status("task")
        assert_type(generation, rivya.Generation)
        assert_type(generation.status, rivya.GenerationStatus)
        assert_type(rivya_client.poll("task"), gs.JobStatus)
        assert_type(rivya_client.wait("task", on_update=print), gs.JobStatus)
    with gs.SellerPicClient(timeout=3.0) as sellerpic_client:
        assert_type(sellerpic_client, gs.SellerPicClient)
        reply = sellerpic_client.get_status(1234567890123)
        assert_type(reply, sellerpic.GenerateStatusResponse)
        assert_type(sellerpic_client.get_status("1234567890123"), sellerpic.GenerateStatusResponse)
        assert_type(sellerpic_client.poll(5), gs.JobStatus)
        assert_type(sellerpic_client.wait(5, raise_on_failure=False), gs.JobStatus)
        trace: str = reply.trace_id
        del trace
    with gs.ClipiaClient(backoff=gs.Backoff(initial=2.0)) as clipia_client:
        assert_type(clipia_client, gs.ClipiaClient)
        assert_type(clipia_client.get_status("r"), clipia.RequestStatus)
        assert_type(clipia_client.get_result("r"), clipia.RequestResult)
        assert_type(clipia_client.poll("r"), gs.JobStatus)
        status = clipia_client.wait("r")
        assert_type(status, gs.JobStatus)
        assert_type(status.state, gs.State)
        assert_type(status.result_urls, "tuple[str, ...]")
        assert_type(status.done, bool)


def many_jobs(sivi_client: gs.SiviClient, rivya_client: gs.RivyaClient) -> None:
    outcomes = gs.wait_all([(rivya_client, "a"), sivi_client.job("b", abstract_user_id="u")],
                           timeout=60.0, max_in_flight=8)
    assert_type(outcomes, List[Union[gs.JobStatus, Exception]])


def steps(rivya_client: gs.RivyaClient, sivi_client: gs.SiviClient) -> None:
    token = rivya_client.wait_token("task", timeout=600.0)
    assert_type(token, str)
    step = rivya_client.step(token)
    assert_type(step, gs.Step)
    assert_type(step.status, Optional[gs.JobStatus])
    assert_type(step.retry_in, Optional[float])
    assert_type(step.done, bool)
    assert_type(sivi_client.wait_token("r", abstract_user_id="u"), str)
    assert_type(sivi_client.job("r", abstract_user_id="u"), gs.Job)


def results(status: gs.JobStatus) -> None:
    def shown(done: int, total: Optional[int]) -> None:
        del done, total

    for url in status.result_urls:
        assert_type(gs.download(url, pathlib.Path("out"), on_progress=shown), pathlib.Path)
        assert_type(gs.download(url, "out", max_bytes=10, timeout=(1.0, 5.0)), pathlib.Path)


def celery_waits(app: Any) -> None:
    poll = register(app, on_done="tasks.done", on_error="tasks.failed", max_countdown=600.0,
                    client_factory=lambda provider: gs.RivyaClient(api_key="k"))
    assert_type(poll, PollTask)
    assert_type(poll.start("sivi", "r", timeout=60.0, abstract_user_id="u"), str)
    assert_type(poll.resume("rivya", "gs1.token"), str)
    assert_type(poll.max_countdown, float)


def waiting() -> None:
    count: int = gs.wait(lambda: 3, is_done=lambda n: n > 2, timeout=1.0,
                         backoff=gs.Backoff(first_delay=0.5))
    del count
    history = gs.DurationHistory()
    learned: int = gs.wait(lambda: 3, is_done=lambda n: n > 2, history=history, kind="render")
    del learned


def histories(sivi_client: gs.SiviClient) -> None:
    history = gs.DurationHistory.loads(gs.DurationHistory().dumps())
    assert_type(history, gs.DurationHistory)
    history.add("z-image", 12.5)
    assert_type(history.durations("z-image"), "tuple[float, ...]")
    assert_type(history.kinds(), "tuple[str, ...]")
    assert_type(history.dumps(), str)
    with gs.RivyaClient(api_key="k", history=history) as rivya_client:
        assert_type(rivya_client.history, gs.DurationHistory)
        assert_type(rivya_client.wait("task", kind="portrait"), gs.JobStatus)
        assert_type(rivya_client.wait_token("task", kind="portrait"), str)
        assert_type(rivya_client.job("task", kind="portrait"), gs.Job)
    assert_type(sivi_client.wait("r", kind="poster", abstract_user_id="u"), gs.JobStatus)
    assert_type(sivi_client.job("r", kind="poster", abstract_user_id="u"), gs.Job)
    assert_type(sivi_client.wait_token("r", kind="poster"), str)


def errors(exc: gs.WaitTimeout, api: gs.APIError) -> None:
    assert_type(exc.last, Optional[gs.JobStatus])
    assert_type(exc.polls, int)
    assert_type(api.status_code, Optional[int])
    assert_type(api.retry_after, Optional[float])


def testing() -> None:
    def handler(request: Request) -> Reply:
        return json_reply({"id": "t", "status": "queued"})

    client = gs.RivyaClient(api_key="k", transport=MockTransport(handler))
    assert_type(client.poll("t"), gs.JobStatus)
    with FakeProviders() as fake:
        assert_type(fake.url, str)


def receiving(headers: Dict[str, str], body: bytes, request: BaseHTTPRequestHandler) -> None:
    webhooks.verify_clipia(headers, body, "secret", tolerance=60.0)
    webhooks.verify_clipia(request.headers, body, b"secret", now=lambda: 0.0)
    webhooks.verify(body, headers["X-Sig"], "secret", timestamp=headers["X-Time"])
    status = webhooks.parse("clipia", body)
    assert_type(status, gs.JobStatus)
    scheme = webhooks.ClipiaSignature(header="X-Sig", encoding="base64")
    assert_type(scheme.headers(body, "secret"), Dict[str, str])
    assert_type(webhooks.sign(body, "secret", timestamp=1), str)
