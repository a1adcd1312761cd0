# GENERATED from openapi/sellerpic.yaml by scripts/generate_models.py - do not edit.

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

from attrs import field as _attrs_field
from attrs import frozen as _attrs_frozen

from .. import _strict as _s


@_attrs_frozen(kw_only=True)
class ApiImageMakeResult:
    """One generated item of the task."""

    id: Optional[str] = _attrs_field(default=None, metadata={"json": "id", "omit_if_none": True})
    """Image id, used with "Download Generated Result"."""
    file_url: Optional[str] = _attrs_field(default=None, metadata={"json": "fileUrl"})
    """URL of the generated file."""
    status: Optional[str] = (
        _attrs_field(default=None, metadata={"json": "status", "omit_if_none": True})
    )
    """Item status. The document names only SUCCESS; other values (e.g. FAILED, FAIL,
    ERROR, or a running state) are kept as sent."""
    error_code: Optional[int] = (
        _attrs_field(default=None, metadata={"json": "errorCode", "omit_if_none": True})
    )
    """Item error code; 0 when the item has no error."""
    error_msg: Optional[str] = _attrs_field(default=None, metadata={"json": "errorMsg"})
    """Item error message."""


@_attrs_frozen(kw_only=True)
class ErrorEnvelope:
    code: Optional[int] = (
        _attrs_field(default=None, metadata={"json": "code", "omit_if_none": True})
    )
    msg: Optional[str] = _attrs_field(default=None, metadata={"json": "msg"})
    success: Optional[bool] = (
        _attrs_field(default=None, metadata={"json": "success", "omit_if_none": True})
    )
    trace_id: Optional[str] = (
        _attrs_field(default=None, metadata={"json": "traceId", "omit_if_none": True})
    )


@_attrs_frozen(kw_only=True)
class GenerateStatusData:
    result_list: Optional[List[ApiImageMakeResult]] = (
        _attrs_field(default=None, metadata={"json": "resultList", "omit_if_none": True})
    )


@_attrs_frozen(kw_only=True)
class GenerateStatusResponse:
    code: int = _attrs_field(metadata={"json": "code"})
    """Result code, where 0 indicates success and non-0 indicates an error (see the
    provider's Error Codes page)."""
    success: bool = _attrs_field(metadata={"json": "success"})
    trace_id: str = _attrs_field(metadata={"json": "traceId"})
    """Trace ID for tracking the request across distributed systems."""
    data: Optional[GenerateStatusData] = _attrs_field(default=None, metadata={"json": "data"})
    msg: Optional[str] = _attrs_field(default=None, metadata={"json": "msg"})
    """Description of the result, providing additional context or information about the
    operation outcome."""


# -- structure functions: decoded JSON -> the classes above, strictly (see genstatus_sync._strict)


def structure_api_image_make_result(o: Any) -> ApiImageMakeResult:
    if o.__class__ is not dict:
        raise _s.expected("an object", o)
    return ApiImageMakeResult(
        id=v if (v := o.get("id")) is None or v.__class__ is str else _s.string(v),
        file_url=v if (v := o.get("fileUrl")) is None or v.__class__ is str else _s.string(v),
        status=v if (v := o.get("status")) is None or v.__class__ is str else _s.string(v),
        error_code=v if (v := o.get("errorCode")) is None or v.__class__ is int else _s.integer(v),
        error_msg=v if (v := o.get("errorMsg")) is None or v.__class__ is str else _s.string(v),
    )


def structure_error_envelope(o: Any) -> ErrorEnvelope:
    if o.__class__ is not dict:
        raise _s.expected("an object", o)
    return ErrorEnvelope(
        code=v if (v := o.get("code")) is None or v.__class__ is int else _s.integer(v),
        msg=v if (v := o.get("msg")) is None or v.__class__ is str else _s.string(v),
        success=v if (v := o.get("success")) is None or v.__class__ is bool else _s.boolean(v),
        trace_id=v if (v := o.get("traceId")) is None or v.__class__ is str else _s.string(v),
    )


def structure_generate_status_data(o: Any) -> GenerateStatusData:
    if o.__class__ is not dict:
        raise _s.expected("an object", o)
    return GenerateStatusData(
        result_list=None if (v := o.get("resultList")) is None else [structure_api_image_make_result(item) for item in _s.array(v)],
    )


def structure_generate_status_response(o: Any) -> GenerateStatusResponse:
    if o.__class__ is not dict:
        raise _s.expected("an object", o)
    return GenerateStatusResponse(
        code=v if (v := o["code"]).__class__ is int else _s.integer(v),
        success=v if (v := o["success"]).__class__ is bool else _s.boolean(v),
        trace_id=v if (v := o["traceId"]).__class__ is str else _s.string(v),
        data=None if (v := o.get("data")) is None else structure_generate_status_data(v),
        msg=v if (v := o.get("msg")) is None or v.__class__ is str else _s.string(v),
    )


STRUCTURE: Dict[type, Callable[[Any], Any]] = {
    ApiImageMakeResult: structure_api_image_make_result,
    ErrorEnvelope: structure_error_envelope,
    GenerateStatusData: structure_generate_status_data,
    GenerateStatusResponse: structure_generate_status_response,
}
