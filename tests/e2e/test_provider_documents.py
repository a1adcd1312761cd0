"""What the providers' documents allow and the first version misread, over real sockets:
Clipia's result, of which the document promises only "an output field once the status is
terminal" (the rest of its shape is our guess, so no guess may cost a finished wait), and
the fake's Clipia, which must end a wait on every state the SDK counts as terminal."""

import json

import pytest

import genstatus_sync as gs
from genstatus_sync import State

from ..conftest import KEY, fast_client
from .rawserver import RawServer, reply

RID = "764cabcf-b745-4b3e-ae38-1200304cf45b"
URL = "https://media.clipia.ai/a.png"


def clipia_server(status, result, result_status=200):
    """A Clipia whose status reply says ``status`` and whose result is ``result``."""
    status_body = {"request_id": RID, "status": status, "queue_position": None,
                   "progress": 100 if status == "COMPLETED" else None, "logs": []}
    seen = []

    def handler(conn):
        while conn.head:
            seen.append(conn.path)
            if conn.path.endswith("/status"):
                body = status_body
                code = 200
            else:
                body, code = result, result_status
            if not conn.send(reply(code, json.dumps(body).encode(),
                                   {"Content-Type": "application/json"})):
                return
            conn.read_request()

    server = RawServer(handler)
    server.seen = seen
    return server


def clipia(url):
    client = gs.ClipiaClient(api_key=KEY, base_url=url, timeout=(1.0, 1.0), max_retries=0)
    client._sleep = lambda seconds: None
    return client


@pytest.mark.parametrize("result", [
    {"status": "COMPLETED", "output": {"images": [{"url": URL}]}},  # no request_id
    {"request_id": RID, "output": [{"url": URL}]},  # output an array
    {"request_id": RID, "output": {"video": {"url": URL}}, "error": None, "extra": [1, 2]},
])
def test_a_finished_clipia_wait_reads_any_result_with_an_output(result):
    with clipia_server("COMPLETED", result) as server:
        status = clipia(server.url).wait(RID, timeout=5)
    assert status.state is State.SUCCEEDED and status.result_urls == (URL,)
    assert status.raw.output == result["output"]


@pytest.mark.parametrize("error, reason", [
    ({"code": "nsfw", "message": "Content rejected"}, "Content rejected"),
    ("Content rejected", "Content rejected"),
    ({"code": "nsfw"}, None),
    (["no", "reason"], None),
])
def test_a_failed_clipia_wait_reads_the_reason_a_result_gives_as_text_or_object(error, reason):
    result = {"request_id": RID, "status": "FAILED", "output": None, "error": error}
    with clipia_server("FAILED", result) as server:
        status = clipia(server.url).wait(RID, timeout=5, raise_on_failure=False)
    assert status.state is State.FAILED and status.error == reason


@pytest.mark.parametrize("result_status, body", [
    (403, {"detail": "API key lacks the requests:read scope"}),
    (202, {"request_id": RID, "status": "FAILED"}),
    (200, "not an object"),
])
def test_a_failed_clipia_wait_ends_failed_when_its_result_cannot_be_read(result_status, body):
    with clipia_server("FAILED", body, result_status) as server:
        client = clipia(server.url)
        status = client.wait(RID, timeout=5, raise_on_failure=False)
        assert status.state is State.FAILED
        with pytest.raises(gs.GenerationFailed):
            client.wait(RID, timeout=5)
    assert server.seen.count(f"/v1/requests/{RID}") == 2  # one result fetch per wait


def test_a_succeeded_clipia_wait_with_a_key_that_may_not_read_results_says_so():
    # the URLs are what the wait is for: a key without the scope is an error to fix
    with clipia_server("COMPLETED", {"detail": "no scope"}, 403) as server, \
            pytest.raises(gs.PermissionDeniedError):
        clipia(server.url).wait(RID, timeout=5)


def test_a_transient_failure_of_a_failed_requests_result_is_retried_for_its_reason():
    result = {"request_id": RID, "status": "FAILED", "error": "Content rejected"}
    answers = iter([(503, {"detail": "busy"}), (200, result)])
    seen = []

    def handler(conn):
        while conn.head:
            seen.append(conn.path)
            if conn.path.endswith("/status"):
                code, body = 200, {"request_id": RID, "status": "FAILED"}
            else:
                code, body = next(answers)
            if not conn.send(reply(code, json.dumps(body).encode(),
                                   {"Content-Type": "application/json"})):
                return
            conn.read_request()

    with RawServer(handler) as server:
        status = clipia(server.url).wait(RID, timeout=5, raise_on_failure=False)
    assert status.state is State.FAILED and status.error == "Content rejected"
    assert seen.count(f"/v1/requests/{RID}") == 2


@pytest.mark.parametrize("native", ["CANCELLED", "ERROR", "FAILED"])
def test_the_fakes_clipia_ends_a_wait_on_every_terminal_failure(fake, native):
    job = fake.add_job("clipia", ["running", native], error="Stopped")
    client = fast_client(fake, "clipia")
    status = client.wait(job, timeout=5, raise_on_failure=False)
    assert status.state is State.FAILED and status.error == "Stopped"
    assert client.get_result(job).status.value == native


@pytest.mark.parametrize("provider, job, sent", [
    ("sellerpic", "5", {"code": 1001, "msg": "bad task", "success": False, "traceId": "tr-1",
                        "data": None}),
    ("sivi", "r-1", {"status": 404, "body": {"message": "no such request"}}),
    ("rivya", "t-1", {"error": {"code": "not_found", "message": "no such task"}}),
])
def test_an_error_inside_a_2xx_reply_keeps_the_start_of_the_reply_as_its_body(provider, job,
                                                                              sent):
    # SellerPic reports every task error so (HTTP 200, code != 0): its errors had no body
    def handler(conn):
        conn.send(reply(200, json.dumps(sent).encode(), {"Content-Type": "application/json"}))

    with RawServer(handler) as server:
        client = {"sellerpic": gs.SellerPicClient, "sivi": gs.SiviClient,
                  "rivya": gs.RivyaClient}[provider](api_key=KEY, base_url=server.url,
                                                     max_retries=0)
        with pytest.raises(gs.APIError) as info:
            client.get_status(job)
    assert info.value.body is not None and json.loads(info.value.body) == sent


@pytest.mark.parametrize("error, reason", [
    ({"code": "generation_failed"}, "error code generation_failed"),
    ({"code": "nsfw_blocked", "message": ""}, "error code nsfw_blocked"),
    ({"code": "generation_failed", "message": "The generation failed."}, "The generation failed."),
    ({}, None),
])
def test_a_failed_rivya_task_says_its_error_code_when_it_gives_no_message(error, reason):
    # Rivya's document: a failed task "may include a public error object" (code, message)
    sent = {"id": "t-1", "status": "failed", "model": "z-image", "result": None, "error": error}

    def handler(conn):
        conn.send(reply(200, json.dumps(sent).encode(), {"Content-Type": "application/json"}))

    with RawServer(handler) as server:
        client = gs.RivyaClient(api_key=KEY, base_url=server.url, max_retries=0)
        client._sleep = lambda seconds: None
        with pytest.raises(gs.GenerationFailed) as info:
            client.wait("t-1", timeout=5)
    assert info.value.status.state is State.FAILED and info.value.status.error == reason
    assert reason is None or reason in str(info.value)
