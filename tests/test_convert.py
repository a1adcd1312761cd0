"""The converter against the provider documents' examples and against bad input."""

import importlib
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from genstatus_sync import ResponseFormatError, _convert, _strict
from genstatus_sync._convert import format_datetime, parse_datetime, structure, unstructure
from genstatus_sync.models import clipia, rivya, sellerpic, sivi

from .examples import ALL, CLIPIA, RIVYA, SELLERPIC, SIVI
from .strategies import date_times


def assert_fields_equal(model: Any, shown: Any, path: str = "$") -> None:
    """Every value shown in the document equals the model field that carries its JSON key."""
    if attrs.has(type(model)):
        assert isinstance(shown, dict), path
        for field in attrs.fields(type(model)):
            key = field.metadata["json"]
            if key in shown:
                assert_fields_equal(getattr(model, field.name), shown[key], f"{path}.{key}")
            else:
                assert getattr(model, field.name) is None, f"{path}.{key} is not in the example"
    elif isinstance(model, list):
        assert len(model) == len(shown), path
        for i, (item, value) in enumerate(zip(model, shown)):
            assert_fields_equal(item, value, f"{path}[{i}]")
    elif isinstance(model, datetime):
        assert format_datetime(model) == shown, path
    else:
        assert model == shown, path
        assert isinstance(shown, bool) == isinstance(model, bool), path


@pytest.mark.parametrize(("document", "name", "body", "module", "cls"), ALL,
                         ids=[f"{d}:{n}" for d, n, *_ in ALL])
def test_document_example_structures_to_equal_fields_and_round_trips(document, name, body,
                                                                      module, cls):
    model_cls = getattr(importlib.import_module(f"genstatus_sync.models.{module}"), cls)
    model = structure(body, model_cls, provider=module)
    assert isinstance(model, model_cls)
    assert_fields_equal(model, body)
    assert unstructure(model) == body


def test_sivi_completed_example_values():
    env = structure(SIVI["Completed Request"], sivi.RequestStatusEnvelope, provider="sivi")
    assert env.status == 200
    assert env.body.status is sivi.RequestStatusValue.complete
    assert env.body.request_id == "sbhMkIZKCPp"
    assert env.body.queue_wait_time == 0
    (variation,) = env.body.result.variations
    assert variation.variant_id == "sh0V7MlzOPm"
    assert variation.variant_image_url.endswith("--sh0V7MlzOPm.jpg")


def test_rivya_examples_values():
    ok = structure(RIVYA["Succeeded Response"], rivya.Generation, provider="rivya")
    assert ok.status is rivya.GenerationStatus.succeeded
    assert ok.created_at == datetime(2026, 5, 10, tzinfo=timezone.utc)
    assert ok.result.urls == ["https://media.example/result.png"]
    assert ok.error is None
    failed = structure(RIVYA["Failed Response"], rivya.Generation, provider="rivya")
    assert failed.error == rivya.PublicError(code="generation_failed",
                                             message="The generation failed.")
    assert failed.final_credits == 0


def test_sellerpic_and_clipia_example_values():
    sp = structure(SELLERPIC["200 - Example 1"], sellerpic.GenerateStatusResponse,
                   provider="sellerpic")
    assert (sp.code, sp.success, sp.trace_id, sp.msg) == (0, True, "string", "string")
    assert sp.data.result_list[0].error_code == 0
    cl = structure(CLIPIA["Response 200"], clipia.RequestStatus, provider="clipia")
    assert cl.status is clipia.RequestStatusValue.in_progress
    assert (cl.progress, cl.queue_position, cl.logs) == (45, None, [])


def test_spec_examples_are_the_documents_examples():
    yaml = pytest.importorskip("yaml")
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "openapi"

    def examples(spec: str, path: str) -> list:
        doc = yaml.safe_load((root / f"{spec}.yaml").read_text())
        media = doc["paths"][path]["get"]["responses"]["200"]["content"]
        (content,) = media.values()
        return [e["value"] for e in content["examples"].values()]

    assert examples("sivi", "/api/prod/v2/enterprise/get-request-status") == list(SIVI.values())
    assert examples("rivya", "/api/v1/generations/{taskId}") == list(RIVYA.values())
    assert examples("sellerpic", "/v1/api/generate") == list(SELLERPIC.values())
    assert examples("clipia", "/v1/requests/{request_id}/status") == list(CLIPIA.values())


def test_unknown_keys_are_ignored():
    body = {**RIVYA["Succeeded Response"], "brand_new": {"x": 1}, "cost_usd": 0.02}
    model = structure(body, rivya.Generation, provider="rivya")
    assert model.id == "task_public_id"
    assert "brand_new" not in unstructure(model)


def test_unknown_status_value_is_kept():
    body = {**SIVI["Pending Request"]}
    body["body"] = {**body["body"], "status": "moderating"}
    model = structure(body, sivi.RequestStatusEnvelope, provider="sivi")
    assert model.body.status == "moderating"
    assert model.body.status.value == "moderating"
    assert not model.body.status.is_known
    assert sivi.RequestStatusValue.pending.is_known
    assert unstructure(model) == body
    assert "moderating" not in sivi.RequestStatusValue.__members__


def test_an_unknown_value_spelled_as_a_members_name_is_not_known():
    # Clipia's members are named in lower case, their values upper case: "in_progress" is
    # not a value Clipia's document lists, however much it looks like IN_PROGRESS's name
    body = {"status": "in_progress", "request_id": "764cabcf-b745-4b3e-ae38-1200304cf45b"}
    model = structure(body, clipia.RequestStatus, provider="clipia")
    assert not model.status.is_known
    assert clipia.RequestStatusValue("IN_PROGRESS").is_known


@pytest.mark.parametrize(
    ("body", "cls", "expected"),
    [
        ({"status": 200}, sivi.RequestStatusEnvelope, "$.body: required field missing"),
        ({"status": 200, "body": {"status": "pending"}}, sivi.RequestStatusEnvelope,
         "$.body.requestId: required field missing"),
        ({"id": "t", "status": 3}, rivya.Generation, "$.status: expected a string, got an integer"),
        ({"id": "t", "status": "queued", "reserved_credits": "1"}, rivya.Generation,
         "$.reserved_credits: expected a number, got a string"),
        ({"id": "t", "status": "queued", "created_at": "yesterday"}, rivya.Generation,
         "$.created_at: expected an ISO 8601 date-time"),
        ({"id": "t", "status": "queued", "result": {"urls": "https://x"}}, rivya.Generation,
         "$.result.urls: expected an array, got a string"),
        ({"id": "t", "status": "queued", "result": {"urls": ["a", 7]}}, rivya.Generation,
         "$.result.urls[1]: expected a string, got an integer"),
        ({"code": "0", "success": True, "traceId": "t"}, sellerpic.GenerateStatusResponse,
         "$.code: expected an integer, got a string"),
        ({"code": 0, "success": "false", "traceId": "t"}, sellerpic.GenerateStatusResponse,
         "$.success: expected a boolean, got a string"),
        ({"code": 0.5, "success": True, "traceId": "t"}, sellerpic.GenerateStatusResponse,
         "$.code: expected an integer, got a number"),
        ({"code": True, "success": True, "traceId": "t"}, sellerpic.GenerateStatusResponse,
         "$.code: expected an integer, got a boolean"),
        ({"code": 0, "success": True, "traceId": "t", "data": {"resultList": [{"errorCode": "x"}]}},
         sellerpic.GenerateStatusResponse, "$.data.resultList[0].errorCode: expected an integer"),
        ({"request_id": 5, "status": "COMPLETED", "output": ["u"]}, clipia.RequestResult,
         "$.request_id: expected a string, got an integer"),
        ({"request_id": "r", "status": "IN_QUEUE", "queue_position": "3"}, clipia.RequestStatus,
         "$.queue_position: expected an integer, got a string"),
    ],
)
def test_mismatch_names_the_json_path(body, cls, expected):
    with pytest.raises(ResponseFormatError) as info:
        structure(body, cls, provider="p")
    assert expected in str(info.value)
    assert str(info.value).startswith("p: reply does not fit ")
    assert info.value.provider == "p"
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize("body", [[], "text", 3, None, True, 1.5, [{"status": 200}]])
def test_non_object_top_level_is_a_format_error(body):
    with pytest.raises(ResponseFormatError, match=r"\$: expected an object"):
        structure(body, sivi.RequestStatusEnvelope, provider="sivi")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-05-10T00:00:00.000Z", datetime(2026, 5, 10, tzinfo=timezone.utc)),
        ("2026-05-10T00:00:00Z", datetime(2026, 5, 10, tzinfo=timezone.utc)),
        ("2026-05-10T01:02:03.12345Z", datetime(2026, 5, 10, 1, 2, 3, 123450, timezone.utc)),
        ("2026-05-10T01:02:03.123456789Z", datetime(2026, 5, 10, 1, 2, 3, 123456, timezone.utc)),
        ("2026-05-10T01:02:03+05:30",
         datetime(2026, 5, 10, 1, 2, 3, tzinfo=timezone(timedelta(hours=5, minutes=30)))),
        ("2026-05-10T01:02:03-0100", datetime(2026, 5, 10, 1, 2, 3,
                                              tzinfo=timezone(timedelta(hours=-1)))),
        ("2026-05-10 01:02:03", datetime(2026, 5, 10, 1, 2, 3)),
    ],
)
def test_datetimes_parse_on_every_python(text, expected):
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize("text", ["2026-13-01T00:00:00Z", "2026-05-10", "2026-05-10T00:00:00ZZ",
                                  "２０２６-05-10T00:00:00Z", ""])
def test_bad_datetimes_are_format_errors(text):
    with pytest.raises(ResponseFormatError, match=r"\$\.created_at"):
        structure({"id": "t", "status": "queued", "created_at": text}, rivya.Generation,
                  provider="rivya")


def test_datetimes_written_back_as_the_providers_write_them():
    assert format_datetime(datetime(2026, 5, 10, tzinfo=timezone.utc)) == "2026-05-10T00:00:00.000Z"
    assert format_datetime(datetime(2026, 5, 10, 0, 0, 0, 5, timezone.utc)) == (
        "2026-05-10T00:00:00.000005Z")
    tz = timezone(timedelta(hours=2))
    assert format_datetime(datetime(2026, 5, 10, tzinfo=tz)) == "2026-05-10T00:00:00.000+02:00"


def test_models_are_frozen_slotted_and_keyword_only():
    model = rivya.Generation(id="t", status=rivya.GenerationStatus.queued)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        model.id = "other"  # type: ignore[misc]
    assert not hasattr(model, "__dict__")
    with pytest.raises(TypeError):
        rivya.Generation("t", rivya.GenerationStatus.queued)  # type: ignore[misc]


def test_snake_case_constructor_round_trips_to_json_keys():
    model = sivi.RequestStatusQuery(request_id="abc")
    assert unstructure(model) == {"requestId": "abc"}
    assert structure({"requestId": "abc"}, sivi.RequestStatusQuery, provider="sivi") == model



SPELLINGS = [lambda t: t, lambda t: t.replace("T", "t"), lambda t: t.replace("T", " "),
             lambda t: t.replace(".", ","), lambda t: t[:-3] + t[-2:] if t[-3] == ":" else t,
             lambda t: t.replace("Z", "z")]


@given(date_times(), st.sampled_from(SPELLINGS))
def test_fast_and_portable_date_time_readings_agree(text, spelling):
    # 3.11+ tries datetime.fromisoformat first; 3.8-3.10 read with the regular expression only
    text = spelling(text)
    fast = _convert.parse_datetime(text)
    saved = _strict.FROMISOFORMAT_READS_RFC3339
    _strict.FROMISOFORMAT_READS_RFC3339 = False
    try:
        portable = _convert.parse_datetime(text)
    finally:
        _strict.FROMISOFORMAT_READS_RFC3339 = saved
    assert fast == portable and fast.utcoffset() == portable.utcoffset()
