# GENERATED from openapi/sivi.yaml by scripts/generate_models.py - do not edit.

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

from attrs import field as _attrs_field
from attrs import frozen as _attrs_frozen

from .. import _strict as _s
from .._open_enum import OpenEnum as _OpenEnum


@_attrs_frozen(kw_only=True)
class ErrorEnvelope:
    status: int = _attrs_field(metadata={"json": "status"})
    message: Optional[str] = (
        _attrs_field(default=None, metadata={"json": "message", "omit_if_none": True})
    )


@_attrs_frozen(kw_only=True)
class RequestStatus:
    """The status of one design generation request."""

    status: RequestStatusValue = _attrs_field(metadata={"json": "status"})
    request_id: str = _attrs_field(metadata={"json": "requestId"})
    """Unique identifier for the design generation request."""
    queue_wait_time: Optional[float] = (
        _attrs_field(default=None, metadata={"json": "queueWaitTime", "omit_if_none": True})
    )
    """Wait time in queue before processing began (in milliseconds)."""
    design_id: Optional[str] = (
        _attrs_field(default=None, metadata={"json": "designId", "omit_if_none": True})
    )
    """Unique identifier for the generated design."""
    link: Optional[str] = (
        _attrs_field(default=None, metadata={"json": "link", "omit_if_none": True})
    )
    """Link to view the design in the Sivi web application."""
    share_link: Optional[str] = (
        _attrs_field(default=None, metadata={"json": "shareLink", "omit_if_none": True})
    )
    """Shareable link to the design results."""
    progress: Optional[float] = (
        _attrs_field(default=None, metadata={"json": "progress", "omit_if_none": True})
    )
    """Progress of a processing request, in percent."""
    reason: Optional[str] = (
        _attrs_field(default=None, metadata={"json": "reason", "omit_if_none": True})
    )
    """Reason for failure (only present in failed responses)."""
    result: Optional[Result] = _attrs_field(default=None, metadata={"json": "result"})
    """Contains generated design variants (null for pending/failed jobs)."""


@_attrs_frozen(kw_only=True)
class RequestStatusEnvelope:
    """The envelope every reply comes in; status mirrors an HTTP status code."""

    status: int = _attrs_field(metadata={"json": "status"})
    """Outcome of the call; 200 when body holds the request status."""
    body: RequestStatus = _attrs_field(metadata={"json": "body"})


@_attrs_frozen(kw_only=True)
class RequestStatusQuery:
    """The JSON object carried, URL-encoded, in the queryParams parameter."""

    request_id: str = _attrs_field(metadata={"json": "requestId"})
    """The request ID received from the design generation request."""
    abstract_user_id: Optional[str] = (
        _attrs_field(default=None, metadata={"json": "abstractUserId", "omit_if_none": True})
    )
    """Unique identifier for the user whose requests to check. If provided, returns request
    status for the specified user; if not, for the authenticated user."""


class RequestStatusValue(_OpenEnum):
    """Job status."""

    pending = 'pending'
    processing = 'processing'
    complete = 'complete'
    failed = 'failed'


@_attrs_frozen(kw_only=True)
class Result:
    """The generated design variants."""

    variations: List[Variation] = _attrs_field(metadata={"json": "variations"})


@_attrs_frozen(kw_only=True)
class Variation:
    """One generated design variant."""

    variant_image_url: str = _attrs_field(metadata={"json": "variantImageUrl"})
    """URL of the variant's rendered image."""
    variant_edit_link: Optional[str] = (
        _attrs_field(default=None, metadata={"json": "variantEditLink", "omit_if_none": True})
    )
    """Link that opens the variant in the Sivi editor."""
    variant_id: Optional[str] = (
        _attrs_field(default=None, metadata={"json": "variantId", "omit_if_none": True})
    )
    """Unique identifier of the variant."""


@_attrs_frozen(kw_only=True)
class WebhookEvent:
    """The body of a status push: the status reply itself, an envelope whose body is the
    request status. A push of the request status alone, without the envelope, is read
    too (genstatus_sync.webhooks.parse tells them apart by the body key)."""

    body: RequestStatus = _attrs_field(metadata={"json": "body"})
    status: Optional[int] = (
        _attrs_field(default=None, metadata={"json": "status", "omit_if_none": True})
    )
    """200, as in a status reply; a push with another value carries no status and is
    refused."""


# -- structure functions: decoded JSON -> the classes above, strictly (see genstatus_sync._strict)


def structure_error_envelope(o: Any) -> ErrorEnvelope:
    if o.__class__ is not dict:
        raise _s.expected("an object", o)
    return ErrorEnvelope(
        status=v if (v := o["status"]).__class__ is int else _s.integer(v),
        message=v if (v := o.get("message")) is None or v.__class__ is str else _s.string(v),
    )


def structure_request_status(o: Any) -> RequestStatus:
    if o.__class__ is not dict:
        raise _s.expected("an object", o)
    return RequestStatus(
        status=_s.enum(o["status"], RequestStatusValue),
        request_id=v if (v := o["requestId"]).__class__ is str else _s.string(v),
        queue_wait_time=v if (v := o.get("queueWaitTime")) is None or v.__class__ is float else _s.number(v),
        design_id=v if (v := o.get("designId")) is None or v.__class__ is str else _s.string(v),
        link=v if (v := o.get("link")) is None or v.__class__ is str else _s.string(v),
        share_link=v if (v := o.get("shareLink")) is None or v.__class__ is str else _s.string(v),
        progress=v if (v := o.get("progress")) is None or v.__class__ is float else _s.number(v),
        reason=v if (v := o.get("reason")) is None or v.__class__ is str else _s.string(v),
        result=None if (v := o.get("result")) is None else structure_result(v),
    )


def structure_request_status_envelope(o: Any) -> RequestStatusEnvelope:
    if o.__class__ is not dict:
        raise _s.expected("an object", o)
    return RequestStatusEnvelope(
        status=v if (v := o["status"]).__class__ is int else _s.integer(v),
        body=structure_request_status(o["body"]),
    )


def structure_request_status_query(o: Any) -> RequestStatusQuery:
    if o.__class__ is not dict:
        raise _s.expected("an object", o)
    return RequestStatusQuery(
        request_id=v if (v := o["requestId"]).__class__ is str else _s.string(v),
        abstract_user_id=v if (v := o.get("abstractUserId")) is None or v.__class__ is str else _s.string(v),
    )


def structure_result(o: Any) -> Result:
    if o.__class__ is not dict:
        raise _s.expected("an object", o)
    return Result(
        variations=[structure_variation(item) for item in _s.array(o["variations"])],
    )


def structure_variation(o: Any) -> Variation:
    if o.__class__ is not dict:
        raise _s.expected("an object", o)
    return Variation(
        variant_image_url=v if (v := o["variantImageUrl"]).__class__ is str else _s.string(v),
        variant_edit_link=v if (v := o.get("variantEditLink")) is None or v.__class__ is str else _s.string(v),
        variant_id=v if (v := o.get("variantId")) is None or v.__class__ is str else _s.string(v),
    )


def structure_webhook_event(o: Any) -> WebhookEvent:
    if o.__class__ is not dict:
        raise _s.expected("an object", o)
    return WebhookEvent(
        body=structure_request_status(o["body"]),
        status=v if (v := o.get("status")) is None or v.__class__ is int else _s.integer(v),
    )


STRUCTURE: Dict[type, Callable[[Any], Any]] = {
    ErrorEnvelope: structure_error_envelope,
    RequestStatus: structure_request_status,
    RequestStatusEnvelope: structure_request_status_envelope,
    RequestStatusQuery: structure_request_status_query,
    Result: structure_result,
    Variation: structure_variation,
    WebhookEvent: structure_webhook_event,
}
