# GENERATED from openapi/rivya.yaml by scripts/generate_models.py - do not edit.

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Dict, List, Optional

from attrs import field as _attrs_field
from attrs import frozen as _attrs_frozen

from .. import _strict as _s
from .._open_enum import OpenEnum as _OpenEnum


@_attrs_frozen(kw_only=True)
class ErrorResponse:
    error: Optional[PublicError] = (
        _attrs_field(default=None, metadata={"json": "error", "omit_if_none": True})
    )


@_attrs_frozen(kw_only=True)
class Generation:
    """An asynchronous generation job."""

    id: str = _attrs_field(metadata={"json": "id"})
    """The public task ID."""
    status: GenerationStatus = _attrs_field(metadata={"json": "status"})
    model: Optional[str] = (
        _attrs_field(default=None, metadata={"json": "model", "omit_if_none": True})
    )
    """The model that runs the generation."""
    reserved_credits: Optional[float] = (
        _attrs_field(default=None, metadata={"json": "reserved_credits", "omit_if_none": True})
    )
    """Credits reserved when the task was accepted."""
    final_credits: Optional[float] = (
        _attrs_field(default=None, metadata={"json": "final_credits", "omit_if_none": True})
    )
    """Credits finally charged."""
    created_at: Optional[datetime] = (
        _attrs_field(default=None, metadata={"json": "created_at", "omit_if_none": True})
    )
    updated_at: Optional[datetime] = (
        _attrs_field(default=None, metadata={"json": "updated_at", "omit_if_none": True})
    )
    result: Optional[GenerationResult] = _attrs_field(default=None, metadata={"json": "result"})
    """The result, when available."""
    error: Optional[PublicError] = _attrs_field(default=None, metadata={"json": "error"})
    """The public error object of a failed task."""


@_attrs_frozen(kw_only=True)
class GenerationResult:
    primary_url: Optional[str] = _attrs_field(default=None, metadata={"json": "primary_url"})
    """The first result URL, for convenience."""
    urls: Optional[List[str]] = (
        _attrs_field(default=None, metadata={"json": "urls", "omit_if_none": True})
    )
    """The public result URL list, when available."""


class GenerationStatus(_OpenEnum):
    """queued: task accepted, not complete; processing: generation is running; succeeded:
    result is available; failed: task failed and may include a public error object."""

    queued = 'queued'
    processing = 'processing'
    succeeded = 'succeeded'
    failed = 'failed'


@_attrs_frozen(kw_only=True)
class PublicError:
    code: Optional[str] = (
        _attrs_field(default=None, metadata={"json": "code", "omit_if_none": True})
    )
    """Machine-readable error code, e.g. generation_failed or not_found."""
    message: Optional[str] = (
        _attrs_field(default=None, metadata={"json": "message", "omit_if_none": True})
    )
    """Human-readable error message."""


# -- structure functions: decoded JSON -> the classes above, strictly (see genstatus_sync._strict)


def structure_error_response(o: Any) -> ErrorResponse:
    if o.__class__ is not dict:
        raise _s.expected("an object", o)
    return ErrorResponse(
        error=None if (v := o.get("error")) is None else structure_public_error(v),
    )


def structure_generation(o: Any) -> Generation:
    if o.__class__ is not dict:
        raise _s.expected("an object", o)
    return Generation(
        id=v if (v := o["id"]).__class__ is str else _s.string(v),
        status=_s.enum(o["status"], GenerationStatus),
        model=v if (v := o.get("model")) is None or v.__class__ is str else _s.string(v),
        reserved_credits=v if (v := o.get("reserved_credits")) is None or v.__class__ is float else _s.number(v),
        final_credits=v if (v := o.get("final_credits")) is None or v.__class__ is float else _s.number(v),
        created_at=None if (v := o.get("created_at")) is None else _s.parse_datetime(v),
        updated_at=None if (v := o.get("updated_at")) is None else _s.parse_datetime(v),
        result=None if (v := o.get("result")) is None else structure_generation_result(v),
        error=None if (v := o.get("error")) is None else structure_public_error(v),
    )


def structure_generation_result(o: Any) -> GenerationResult:
    if o.__class__ is not dict:
        raise _s.expected("an object", o)
    return GenerationResult(
        primary_url=v if (v := o.get("primary_url")) is None or v.__class__ is str else _s.string(v),
        urls=None if (v := o.get("urls")) is None else _s.strings(v),
    )


def structure_public_error(o: Any) -> PublicError:
    if o.__class__ is not dict:
        raise _s.expected("an object", o)
    return PublicError(
        code=v if (v := o.get("code")) is None or v.__class__ is str else _s.string(v),
        message=v if (v := o.get("message")) is None or v.__class__ is str else _s.string(v),
    )


STRUCTURE: Dict[type, Callable[[Any], Any]] = {
    ErrorResponse: structure_error_response,
    Generation: structure_generation,
    GenerationResult: structure_generation_result,
    PublicError: structure_public_error,
}
