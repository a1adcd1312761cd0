"""Rivya: ``GET /api/v1/generations/{taskId}`` with ``Authorization: Bearer``."""

from typing import Dict, Optional, Tuple, Type, Union

from .._config import Args, encode_segment, kind_of_reply
from .._convert import structure
from .._http import BaseClient
from ..backoff import Backoff
from ..errors import APIError, NotFoundError
from ..models.rivya import Generation, GenerationStatus
from ..status import JobStatus, State

__all__ = ["RivyaClient"]

_STATES = {
    GenerationStatus.queued: State.QUEUED,
    GenerationStatus.processing: State.RUNNING,
    GenerationStatus.succeeded: State.SUCCEEDED,
    GenerationStatus.failed: State.FAILED,
}


class RivyaClient(BaseClient[Generation, str]):
    """Reads Rivya generation jobs. ``get_status`` returns ``models.rivya.Generation``."""

    provider = "rivya"
    env_prefix = "RIVYA"
    default_base_url = "https://rivya.ai"
    # The document: wait 2-3 s after submission, then poll every 5-10 s for normal jobs
    # (its example took a minute), slower for long video and audio jobs, and avoid tight
    # loops: polls 5-10 s apart for the first 90 s (jitter included), then slowing to 20 s
    # apart by 5 minutes; no two polls closer than 5 s (jitter, history and progress
    # included). (A reply does not say whether its model makes video or audio: a long job
    # is one that has run long.)
    default_backoff = Backoff(first_delay=2.5, initial=5.0, multiplier=1.05, max_interval=20.0,
                              min_interval=5.0)

    def _auth_headers(self, key: str) -> Dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def _fetch(self, job_id: str, args: Args, seconds: Optional[float]) -> Generation:
        _, data = self._get(f"/api/v1/generations/{encode_segment(job_id)}", seconds=seconds)
        if isinstance(data, dict) and "status" not in data and _is_error_object(data.get("error")):
            message, code, _ = self._error_details(data)  # not_found sent with a 2xx status
            self.raise_api_error(200, message or "error reply", code=code,
                                 body=self._body_of(data))
        return structure(data, Generation, provider=self.provider)

    def _error_class(self, status: int, code: Union[int, str, None]) -> Type[APIError]:
        return NotFoundError if code == "not_found" else super()._error_class(status, code)

    def _kind(self, status: Optional[JobStatus]) -> Optional[str]:
        # jobs of one model take about the same time: the reply's model is the kind. A reply
        # that names none (Rivya's document shows the model in ended replies only) leaves the
        # kind open, for a later reply to name; a job that ends without one is the provider's
        if status is None:
            return None
        model = kind_of_reply(getattr(status.raw, "model", None))
        return model or (self.provider if status.done else None)

    def _normalize(self, model: Generation, job_id: str) -> JobStatus:
        urls: Tuple[str, ...] = ()
        if model.result is not None:
            urls = tuple(model.result.urls or ([model.result.primary_url]
                                               if model.result.primary_url else []))
        error = None
        if model.error is not None:
            # the message, else the code: a failure that names only its code still says it
            error = model.error.message or (
                f"error code {model.error.code}" if model.error.code else None)
        return JobStatus(provider=self.provider, job_id=job_id,
                         state=_STATES.get(model.status, State.UNKNOWN),
                         result_urls=urls, error=error, raw=model)


def _is_error_object(value: object) -> bool:
    return isinstance(value, dict) and isinstance(value.get("code"), str)
