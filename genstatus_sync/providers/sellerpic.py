"""SellerPic: ``GET /v1/api/generate?id=<int64>`` with ``Authorization: Bearer``; replies come
in a ``code``/``success``/``traceId`` envelope."""

import re
from typing import Any, Dict, Optional, Union

from .._config import Args
from .._convert import structure
from .._http import BaseClient, ErrorDetails
from ..backoff import Backoff
from ..errors import ConfigurationError
from ..models.sellerpic import GenerateStatusResponse
from ..status import JobStatus, State

__all__ = ["SellerPicClient"]

_DIGITS = re.compile(r"[0-9]{1,19}", re.ASCII)
_INT64_MAX = 2**63 - 1
# Only SUCCESS is documented, in a free-text field (not an enum): it is read in any case, as
# these, read as a failed item, are (a "Success" must not leave a wait polling to its deadline).
_SUCCESS = "SUCCESS"
_FAILED = frozenset({"FAILED", "FAIL", "ERROR"})


def _shown(job_id: object) -> str:
    # neither a huge id nor a huge int's repr (which may raise past 4,300 digits) goes in a message
    if isinstance(job_id, str):
        text = str.__str__(job_id)
        return repr(text[:40]) + (f" ({len(text)} characters)" if len(text) > 40 else "")
    if isinstance(job_id, int) and not isinstance(job_id, bool):
        return "a negative number" if int.__int__(job_id) < 0 else "a number out of range"
    return type(job_id).__name__


def task_id(job_id: Union[int, str]) -> int:
    """The int64 task id from an int or a string of digits; raises ConfigurationError."""
    value: object = job_id
    if isinstance(value, str):
        text = str.__str__(value)
        value = int(text) if len(text) <= 19 and _DIGITS.fullmatch(text) else None
    elif type(value) is not int and isinstance(value, int) and not isinstance(value, bool):
        value = int.__int__(value)  # an int subclass: its own value, not its __str__
    if type(value) is not int or not 0 <= value <= _INT64_MAX:
        raise ConfigurationError(
            f"SellerPic task id must be a non-negative int64 (digits), got {_shown(job_id)}"
        )
    return value


def _folded(status: str) -> str:
    # ASCII case only: str.upper() also makes "SUCCESS" of "\u017fuccess" (a long s)
    return status.upper() if status.isascii() else status


class SellerPicClient(BaseClient[GenerateStatusResponse, Union[int, str]]):
    """Reads SellerPic generation tasks. ``get_status`` returns the whole
    ``models.sellerpic.GenerateStatusResponse``; an error envelope raises APIError."""

    provider = "sellerpic"
    env_prefix = "SELLERPIC"
    default_base_url = "https://api.sellerpic.ai"
    # No guidance in the document: exponential from 2 s, ratio 1.3, cap 30 s, which polls
    # half as often as every 5 s with a median lag of 13 % (benchmarks/polling_economy.py).
    default_backoff = Backoff(first_delay=2.0, initial=2.0, multiplier=1.3, max_interval=30.0)

    def _auth_headers(self, key: str) -> Dict[str, str]:
        return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    @classmethod
    def _check_id(cls, job_id: Any) -> str:
        return str(task_id(job_id))

    def _fetch(self, job_id: str, args: Args, seconds: Optional[float]) -> GenerateStatusResponse:
        status, data = self._get("/v1/api/generate", {"id": job_id}, seconds)
        if isinstance(data, dict) and (data.get("code") != 0 or data.get("success") is False):
            message, code, trace_id = self._error_details(data)
            self.raise_api_error(status, message or "error envelope", code=code, trace_id=trace_id,
                                 body=self._body_of(data))
        return structure(data, GenerateStatusResponse, provider=self.provider)

    def _error_details(self, data: Any) -> ErrorDetails:
        if not isinstance(data, dict):
            return None, None, None
        msg, code, trace = data.get("msg"), data.get("code"), data.get("traceId")
        return (msg if isinstance(msg, str) else None,
                code if isinstance(code, int) and not isinstance(code, bool) else None,
                trace if isinstance(trace, str) else None)

    def _normalize(self, model: GenerateStatusResponse, job_id: str) -> JobStatus:
        items = (model.data.result_list or []) if model.data is not None else []
        urls = tuple(item.file_url for item in items if item.file_url)
        statuses = [_folded(item.status or "") for item in items]
        failed = [item for item, status in zip(items, statuses)
                  if status in _FAILED or (item.error_code or 0) != 0]
        if not items:
            state = State.QUEUED
        elif failed:
            state = State.FAILED
        elif all(status == _SUCCESS for status in statuses):
            state = State.SUCCEEDED
        else:
            state = State.RUNNING
        error = next((item.error_msg for item in failed if item.error_msg), None)
        if state is State.FAILED and error is None:
            error = f"item status {failed[0].status}, error code {failed[0].error_code}"
        return JobStatus(provider=self.provider, job_id=job_id, state=state, result_urls=urls,
                         error=error, raw=model)
