"""How each provider writes a job's state, and its errors, as the documents show them."""

import uuid
from typing import Any, Dict, List, Optional, Tuple

# normalized state -> each provider's own value (a value not listed here is sent as is)
NATIVE = {
    "sivi": {"queued": "pending", "running": "processing", "succeeded": "complete",
             "failed": "failed"},
    "rivya": {"queued": "queued", "running": "processing", "succeeded": "succeeded",
              "failed": "failed"},
    "clipia": {"queued": "IN_QUEUE", "running": "IN_PROGRESS", "succeeded": "COMPLETED",
               "failed": "FAILED"},
    "sellerpic": {},
}
# Rivya's document names only "generation_failed"; these are our guesses for the others.
RIVYA_ERROR_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found",
                     405: "method_not_allowed", 429: "rate_limited"}
CLIPIA_SAMPLE = "https://media.clipia.ai/sample/mock-result.png"


class JobView:
    """What one reply shows of a job: its current state and the job's script."""

    def __init__(self, job_id: str, state: str, progress: Optional[float],
                 queue_position: Optional[int], urls: List[str], error: Optional[str]) -> None:
        self.job_id, self.state, self.progress = job_id, state, progress
        self.queue_position, self.urls, self.error = queue_position, urls, error


def sivi(job: JobView) -> Dict[str, Any]:
    design = str(uuid.uuid5(uuid.NAMESPACE_URL, job.job_id))
    body: Dict[str, Any] = {
        "queueWaitTime": 0,
        "status": NATIVE["sivi"].get(job.state, job.state),
        "requestId": job.job_id,
        "designId": design,
        "link": f"https://instant.sivi.ai/#/design/{design}",
        "shareLink": f"https://instant.sivi.ai/#/results/{design}",
        "result": None,
    }
    if job.state == "running" and job.progress is not None:
        body["progress"] = job.progress
    if job.state == "failed":
        body["reason"] = job.error or "Generation failed"
    if job.state == "succeeded":
        body["result"] = {"variations": [
            {"variantImageUrl": url, "variantId": f"v{i}",
             "variantEditLink": f"https://instant.sivi.ai/#/variant/v{i}/independent-design-editor"}
            for i, url in enumerate(job.urls)]}
    return {"status": 200, "body": body}


def rivya(job: JobView) -> Dict[str, Any]:
    done = job.state == "succeeded"
    return {
        "id": job.job_id,
        "status": NATIVE["rivya"].get(job.state, job.state),
        "model": "z-image",
        "reserved_credits": 1,
        "final_credits": 1 if done else 0,
        "created_at": "2026-05-10T00:00:00.000Z",
        "updated_at": "2026-05-10T00:01:00.000Z",
        "result": {"primary_url": job.urls[0] if job.urls else None, "urls": job.urls}
        if done else None,
        "error": {"code": "generation_failed", "message": job.error or "The generation failed."}
        if job.state == "failed" else None,
    }


def sellerpic(job: JobView, trace_id: str) -> Dict[str, Any]:
    items: List[Dict[str, Any]] = []
    if job.state == "running":
        items = [{"id": f"{job.job_id}-0", "fileUrl": None, "status": "PROCESSING",
                  "errorCode": 0, "errorMsg": None}]
    elif job.state == "succeeded":
        items = [{"id": f"{job.job_id}-{i}", "fileUrl": url, "status": "SUCCESS", "errorCode": 0,
                  "errorMsg": None} for i, url in enumerate(job.urls)]
    elif job.state == "failed":
        items = [{"id": f"{job.job_id}-0", "fileUrl": None, "status": "FAILED", "errorCode": 1001,
                  "errorMsg": job.error or "Generation failed"}]
    elif job.state != "queued":
        items = [{"id": f"{job.job_id}-0", "fileUrl": None, "status": job.state, "errorCode": 0,
                  "errorMsg": None}]
    return {"code": 0, "data": {"resultList": items}, "msg": "success", "success": True,
            "traceId": trace_id}


def clipia_status(job: JobView) -> Dict[str, Any]:
    return {
        "request_id": job.job_id,
        "status": NATIVE["clipia"].get(job.state, job.state),
        "queue_position": job.queue_position if job.state == "queued" else None,
        "progress": job.progress if job.state == "running" else (
            100 if job.state == "succeeded" else None),
        "logs": [],
    }


_CLIPIA_FAILED = ("FAILED", "ERROR", "CANCELLED")  # the terminal states other than COMPLETED


def clipia_result(job: JobView) -> Tuple[int, Dict[str, Any]]:
    """The result: 202 until the status is terminal (COMPLETED or one of _CLIPIA_FAILED)."""
    native = NATIVE["clipia"].get(job.state, job.state)
    if native in _CLIPIA_FAILED:
        return 200, {"request_id": job.job_id, "status": native, "output": None,
                     "error": job.error or "Generation failed"}
    if native != "COMPLETED":
        return 202, clipia_status(job)
    return 200, {"request_id": job.job_id, "status": "COMPLETED",
                 "output": {"images": [{"url": url} for url in job.urls]}}


def webhook(provider: str, job: JobView) -> Dict[str, Any]:
    """The body of a push (as openapi/*.yaml WebhookEvent assumes): Sivi's status reply; Clipia's
    status reply with, once terminal, the result's output and error."""
    if provider == "sivi":
        return sivi(job)
    body = clipia_status(job)
    status, result = clipia_result(job)
    if status == 200:
        body.update(output=result["output"], error=result.get("error"))
    return body


def error_body(provider: str, status: int, message: str, trace_id: str) -> Dict[str, Any]:
    """An error reply in the provider's own shape."""
    if provider == "sivi":
        return {"status": status, "body": {"message": message}}
    if provider == "rivya":
        code = RIVYA_ERROR_CODES.get(status, "error")
        return {"error": {"code": code, "message": message}}
    if provider == "sellerpic":
        return {"code": status, "data": None, "msg": message, "success": False,
                "traceId": trace_id}
    return {"detail": message}
