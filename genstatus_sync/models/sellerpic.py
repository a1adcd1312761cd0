# GENERATED from openapi/sellerpic.yaml by scripts/generate_models.py - do not edit.

from __future__ import annotations

from typing import List, Optional

from attrs import field as _attrs_field
from attrs import frozen as _attrs_frozen


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
