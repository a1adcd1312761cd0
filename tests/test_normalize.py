"""poll() on every example response of the provider documents gives the right JobStatus."""

import pytest
import responses

import genstatus_sync as gs
from genstatus_sync import State

from .conftest import KEY
from .examples import CLIPIA, RIVYA, SELLERPIC, SIVI, SIVI_IMAGE

SIVI_URL = "https://connect.sivi.ai/api/prod/v2/enterprise/get-request-status"
CLIPIA_ID = "764cabcf-b745-4b3e-ae38-1200304cf45b"


@pytest.mark.parametrize(
    ("name", "state", "progress", "urls", "error"),
    [("Pending Request", State.QUEUED, None, (), None),
     ("In-Progress Request", State.RUNNING, 45, (), None),
     ("Completed Request", State.SUCCEEDED, None, (SIVI_IMAGE,), None),
     ("Failed Request", State.FAILED, None, (), "Image url invalid")],
)
@responses.activate
def test_sivi_document_examples(name, state, progress, urls, error):
    responses.get(SIVI_URL, json=SIVI[name])
    status = gs.SiviClient(api_key=KEY).poll("sbhMkIZKCPp")
    assert (status.provider, status.job_id, status.state, status.progress, status.result_urls,
            status.error, status.queue_position) == ("sivi", "sbhMkIZKCPp", state, progress,
                                                     urls, error, None)
    assert status.raw.request_id == "sbhMkIZKCPp"
    assert status.done is (state in (State.SUCCEEDED, State.FAILED))


@pytest.mark.parametrize(
    ("name", "state", "urls", "error"),
    [("Succeeded Response", State.SUCCEEDED, ("https://media.example/result.png",), None),
     ("Failed Response", State.FAILED, (), "The generation failed.")],
)
@responses.activate
def test_rivya_document_examples(name, state, urls, error):
    responses.get("https://rivya.ai/api/v1/generations/task_public_id", json=RIVYA[name])
    status = gs.RivyaClient(api_key=KEY).poll("task_public_id")
    assert (status.state, status.result_urls, status.error, status.progress) == (
        state, urls, error, None)


@responses.activate
def test_sellerpic_document_example():
    # The document's example says status "string": not SUCCESS, not failed: still running.
    responses.get("https://api.sellerpic.ai/v1/api/generate", json=SELLERPIC["200 - Example 1"])
    status = gs.SellerPicClient(api_key=KEY).poll(42)
    assert (status.job_id, status.state, status.result_urls, status.error) == (
        "42", State.RUNNING, ("string",), None)


@pytest.mark.parametrize(
    ("items", "state", "error"),
    [([], State.QUEUED, None),
     ([{"status": "SUCCESS", "fileUrl": "a", "errorCode": 0}], State.SUCCEEDED, None),
     ([{"status": "SUCCESS", "fileUrl": "a"}, {"status": "PROCESSING"}], State.RUNNING, None),
     ([{"status": "SUCCESS", "fileUrl": "a"}, {"status": "failed", "errorMsg": "nsfw"}],
      State.FAILED, "nsfw"),
     ([{"status": "Error"}], State.FAILED, "item status Error, error code None"),
     ([{"status": "PROCESSING", "errorCode": 7, "errorMsg": "bad input"}], State.FAILED,
      "bad input")],
)
@responses.activate
def test_sellerpic_item_rules(items, state, error):
    responses.get("https://api.sellerpic.ai/v1/api/generate",
                  json={"code": 0, "data": {"resultList": items}, "success": True,
                        "traceId": "t"})
    status = gs.SellerPicClient(api_key=KEY).poll("7")
    assert (status.state, status.error) == (state, error)


@responses.activate
def test_sellerpic_missing_data_is_queued():
    responses.get("https://api.sellerpic.ai/v1/api/generate",
                  json={"code": 0, "success": True, "traceId": "t"})
    assert gs.SellerPicClient(api_key=KEY).poll("7").state is State.QUEUED


@responses.activate
def test_clipia_document_example():
    responses.get(f"https://api.clipia.ai/v1/requests/{CLIPIA_ID}/status",
                  json=CLIPIA["Response 200"])
    status = gs.ClipiaClient(api_key=KEY).poll(CLIPIA_ID)
    assert (status.state, status.progress, status.queue_position, status.result_urls) == (
        State.RUNNING, 45, None, ())


@pytest.mark.parametrize(("value", "state"), [("IN_QUEUE", State.QUEUED),
                                              ("COMPLETED", State.SUCCEEDED),
                                              ("FAILED", State.FAILED), ("ERROR", State.FAILED),
                                              ("CANCELLED", State.FAILED),
                                              ("PAUSED", State.UNKNOWN)])
@responses.activate
def test_clipia_states(value, state):
    responses.get(f"https://api.clipia.ai/v1/requests/{CLIPIA_ID}/status",
                  json={**CLIPIA["Response 200"], "status": value})
    assert gs.ClipiaClient(api_key=KEY).poll(CLIPIA_ID).state is state
