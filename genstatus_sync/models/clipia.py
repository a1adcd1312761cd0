# GENERATED from openapi/clipia.yaml by scripts/generate_models.py - do not edit.

from __future__ import annotations

from typing import Any, Dict, List, Optional

from attrs import field as _attrs_field
from attrs import frozen as _attrs_frozen

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

    request_id: str = _attrs_field(metadata={"json": "request_id"})
    status: Optional[RequestStatusValue] = (
        _attrs_field(default=None, metadata={"json": "status", "omit_if_none": True})
    )
    output: Optional[Dict[str, Any]] = _attrs_field(default=None, metadata={"json": "output"})
    """The generation's output; media URLs are under keys named url."""
    error: Optional[str] = _attrs_field(default=None, metadata={"json": "error"})
    """Failure reason of a terminal error status."""
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
