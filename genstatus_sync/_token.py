"""Wait tokens: one job's wait state as a printable string, for waits that outlive a process.

A token is ``gs1.<length>.<base64url JSON>.<crc32>``: versioned, JSON inside (never pickle),
checked as a whole. It holds the provider, the job id and provider arguments, the wait's
start and deadline and the next poll's due time (seconds on the stepping client's clock:
wall time unless the client was given a clock), the poll count, the jitter seed and the
progress prediction. It never holds a key, a header or a base URL.
"""

import base64
import binascii
import json
import re
import zlib
from typing import Any, Dict, Optional, Tuple

import attrs

from ._wait import WaitState
from .errors import ConfigurationError

__all__ = ["Saved", "decode", "encode"]

VERSION = 1
_HEAD = re.compile(r"gs(\d{1,6})")


@attrs.frozen
class Saved:
    """What a token carries: the job, its wait state, and when its next poll is due."""

    provider: str
    job_id: str
    args: Tuple[Tuple[str, str], ...]
    state: WaitState
    due: float


def encode(saved: Saved) -> str:
    """The token of ``saved``."""
    state = saved.state
    data = {"v": VERSION, "p": saved.provider, "j": saved.job_id,
            "a": [list(pair) for pair in saved.args], "s": state.started, "d": state.deadline,
            "r": state.seed, "n": state.polls, "pp": state.predicted, "pa": state.agreed,
            "ra": state.retry_after, "du": saved.due}
    payload = base64.urlsafe_b64encode(
        json.dumps(data, separators=(",", ":"), ensure_ascii=True).encode()).decode().rstrip("=")
    return f"gs{VERSION}.{len(payload)}.{payload}.{zlib.crc32(payload.encode()):08x}"


def decode(token: object, provider: str) -> Saved:
    """The Saved state of a token for ``provider``; ConfigurationError saying what is wrong
    with a token that is not one, is truncated or garbled, is newer than this library reads,
    or is another provider's."""
    if not isinstance(token, str) or not token.isascii() or not token.startswith("gs"):
        raise ConfigurationError("not a genstatus_sync wait token")
    parts = token.split(".")
    head = _HEAD.fullmatch(parts[0])
    if head is None:
        raise ConfigurationError("not a genstatus_sync wait token")
    version = int(head.group(1))
    if version > VERSION:
        raise ConfigurationError(f"a wait token of version {version}, newer than this "
                                 f"genstatus_sync reads (version {VERSION}): upgrade it")
    if version < 1:
        raise ConfigurationError(f"a wait token of unknown version {version}")
    if len(parts) != 4 or not parts[1].isdigit() or len(parts[3]) != 8:
        if len(parts) < 4 or len(parts[3]) < 8:
            raise ConfigurationError("a truncated wait token (part of it is missing)")
        raise ConfigurationError("a garbled wait token (its layout is damaged)")
    if len(parts[2]) < int(parts[1]):
        raise ConfigurationError("a truncated wait token (part of it is missing)")
    if len(parts[2]) != int(parts[1]) or f"{zlib.crc32(parts[2].encode()):08x}" != parts[3]:
        raise ConfigurationError("a garbled wait token (its checksum does not match)")
    try:
        raw = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
        data = json.loads(raw)
    except (ValueError, binascii.Error):
        raise ConfigurationError("a garbled wait token (its content is not readable)") from None
    saved = _read(data)
    if saved.provider != provider:
        raise ConfigurationError(f"a wait token of a {saved.provider} job, given to a "
                                 f"{provider} client")
    return saved


def _read(data: Any) -> Saved:
    fields: Dict[str, Tuple[type, ...]] = {
        "p": (str,), "j": (str,), "a": (list,), "s": (float, int), "d": (float, int, type(None)),
        "r": (int,), "n": (int,), "pp": (float, int, type(None)), "pa": (bool,),
        "ra": (float, int, type(None)), "du": (float, int)}
    if not isinstance(data, dict) or data.get("v") != VERSION or any(
            name not in data or type(data[name]) not in types for name, types in fields.items()):
        raise ConfigurationError("a garbled wait token (a field is missing or of the wrong type)")
    args = data["a"]
    if not all(isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)
               for pair in args) or data["n"] < 0:
        raise ConfigurationError("a garbled wait token (a field has an impossible value)")
    state = WaitState(started=float(data["s"]), deadline=_number(data["d"]), seed=data["r"],
                      polls=data["n"], predicted=_number(data["pp"]), agreed=data["pa"],
                      retry_after=_number(data["ra"]))
    return Saved(provider=data["p"], job_id=data["j"], args=tuple(tuple(p) for p in args),
                 state=state, due=float(data["du"]))


def _number(value: Optional[float]) -> Optional[float]:
    return None if value is None else float(value)
