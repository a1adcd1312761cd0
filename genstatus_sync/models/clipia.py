# GENERATED from openapi/clipia.yaml by scripts/generate_models.py - do not edit.

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

from attrs import field as _attrs_field
from attrs import frozen as _attrs_frozen

from .. import _strict as _s
from .._open_enum import OpenEnum as _OpenEnum


@_attrs_frozen(kw_only=True)
class ErrorResponse:
    detail: Optional[str] = (
        _attrs_field(default=None, metadata={"json": "detail", "omit_if_none": True})
    )
    message: Optional[str] = (
        _attrs_field(default=None, metadata={"json": "message", "omit_if_none": True})
    )


@_attrs_frozen(kw_only=True)
class RequestResult:
    """The final result of a generation."""

    request_id: Optional[str] = (
        _attrs_field(default=None, metadata={"json": "request_id", "omit_if_none": True})
    )
    status: Optional[RequestStatusValue] = (
        _attrs_field(default=None, metadata={"json": "status", "omit_if_none": True})
    )
    output: Optional[Any] = (
        _attrs_field(default=None, metadata={"json": "output", "omit_if_none": True})
    )
    """The generation's output (any JSON value); media URLs are under keys named url."""
    error: Optional[Any] = (
        _attrs_field(default=None, metadata={"json": "error", "omit_if_none": True})
    )
    """Failure reason of a terminal error status: a string, or an object whose message is
    one (JobStatus.error reads either)."""
    cost: Optional[float] = (
        _attrs_field(default=None, metadata={"json": "cost", "omit_if_none": True})
    )
    """The estimated cost (the sandbox shows it without charging it)."""


@_attrs_frozen(kw_only=True)
class RequestStatus:
    """The current status of a generation request."""

    request_id: str = _attrs_field(metadata={"json": "request_id"})
    status: RequestStatusValue = _attrs_field(metadata={"json": "status"})
    queue_position: Optional[int] = _attrs_field(default=None, metadata={"json": "queue_position"})
    """Position in the queue while queued; null otherwise."""
    progress: Optional[float] = _attrs_field(default=None, metadata={"json": "progress"})
    """Execution progress, in percent."""
    logs: Optional[List[Any]] = (
        _attrs_field(default=None, metadata={"json": "logs", "omit_if_none": True})
    )
    """Log entries of the generation."""


class RequestStatusValue(_OpenEnum):
    """IN_PROGRESS and COMPLETED are documented. IN_QUEUE (a queued request, which has a
    queue_position) and the terminal errors FAILED, ERROR and CANCELLED are inferred."""

    in_queue = 'IN_QUEUE'
    in_progress = 'IN_PROGRESS'
    completed = 'COMPLETED'
    failed = 'FAILED'
    error = 'ERROR'
    cancelled = 'CANCELLED'


@_attrs_frozen(kw_only=True)
class WebhookEvent:
    """The body Clipia posts to the webhook_url: the status reply's fields (request_id,
    status, queue_position, progress, logs) and, once the status is terminal, the
    result's output (media URLs under keys named url, as in RequestResult) and error. A
    terminal push without output carries no media URLs; fetch them with GET
    /v1/requests/{request_id}."""

    request_id: str = _attrs_field(metadata={"json": "request_id"})
    status: RequestStatusValue = _attrs_field(metadata={"json": "status"})
    queue_position: Optional[int] = _attrs_field(default=None, metadata={"json": "queue_position"})
    """Position in the queue while queued; null otherwise."""
    progress: Optional[float] = _attrs_field(default=None, metadata={"json": "progress"})
    """Execution progress, in percent."""
    logs: Optional[List[Any]] = (
        _attrs_field(default=None, metadata={"json": "logs", "omit_if_none": True})
    )
    """Log entries of the generation."""
    output: Optional[Any] = (
        _attrs_field(default=None, metadata={"json": "output", "omit_if_none": True})
    )
    """The generation's output once it is terminal (any JSON value, as in RequestResult);
    media URLs are under keys named url."""
    error: Optional[Any] = (
        _attrs_field(default=None, metadata={"json": "error", "omit_if_none": True})
    )
    """Failure reason of a terminal error status: a string, or an object whose message is
    one (as in RequestResult)."""


# -- structure functions: decoded JSON -> the classes above, strictly (see genstatus_sync._strict)


def structure_error_response(o: Any) -> ErrorResponse:
    if o.__class__ is not dict:
        raise _s.expected("an object", o)
    return ErrorResponse(
        detail=v if (v := o.get("detail")) is None or v.__class__ is str else _s.string(v),
        message=v if (v := o.get("message")) is None or v.__class__ is str else _s.string(v),
    )


def structure_request_result(o: Any) -> RequestResult:
    if o.__class__ is not dict:
        raise _s.expected("an object", o)
    return RequestResult(
        request_id=v if (v := o.get("request_id")) is None or v.__class__ is str else _s.string(v),
        status=None if (v := o.get("status")) is None else _s.enum(v, RequestStatusValue),
        output=None if (v := o.get("output")) is None else v,
        error=None if (v := o.get("error")) is None else v,
        cost=v if (v := o.get("cost")) is None or v.__class__ is float else _s.number(v),
    )


def structure_request_status(o: Any) -> RequestStatus:
    if o.__class__ is not dict:
        raise _s.expected("an object", o)
    return RequestStatus(
        request_id=v if (v := o["request_id"]).__class__ is str else _s.string(v),
        status=_s.enum(o["status"], RequestStatusValue),
        queue_position=v if (v := o.get("queue_position")) is None or v.__class__ is int else _s.integer(v),
        progress=v if (v := o.get("progress")) is None or v.__class__ is float else _s.number(v),
        logs=None if (v := o.get("logs")) is None else _s.array(v),
    )


def structure_webhook_event(o: Any) -> WebhookEvent:
    if o.__class__ is not dict:
        raise _s.expected("an object", o)
    return WebhookEvent(
        request_id=v if (v := o["request_id"]).__class__ is str else _s.string(v),
        status=_s.enum(o["status"], RequestStatusValue),
        queue_position=v if (v := o.get("queue_position")) is None or v.__class__ is int else _s.integer(v),
        progress=v if (v := o.get("progress")) is None or v.__class__ is float else _s.number(v),
        logs=None if (v := o.get("logs")) is None else _s.array(v),
        output=None if (v := o.get("output")) is None else v,
        error=None if (v := o.get("error")) is None else v,
    )


STRUCTURE: Dict[type, Callable[[Any], Any]] = {
    ErrorResponse: structure_error_response,
    RequestResult: structure_request_result,
    RequestStatus: structure_request_status,
    WebhookEvent: structure_webhook_event,
}
