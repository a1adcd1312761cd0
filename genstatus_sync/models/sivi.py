# GENERATED from openapi/sivi.yaml by scripts/generate_models.py - do not edit.

from __future__ import annotations

from typing import List, Optional

from attrs import field as _attrs_field
from attrs import frozen as _attrs_frozen

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
