"""Job handles: one job of one client, the unit that ``wait`` and ``wait_all`` poll.

A handle satisfies the wait code's ``Pollable`` protocol; the wait code never sees a
client. The client side it needs is the small ``_PollingClient`` protocol below.
"""

from typing import TYPE_CHECKING, Any, Callable, Optional

import attrs

from ._config import Args, check_flag
from ._wait import begin, job_seed, learn, request_window, run_wait
from .backoff import Backoff, check_backoff
from .errors import (
    ConfigurationError,
    GenerationFailed,
    GenStatusError,
    RateLimitError,
    is_transient,
)
from .history import DurationHistory
from .status import JobStatus, State

if TYPE_CHECKING:  # tokens are loaded with the first one made or read
    from ._token import Saved

try:
    from typing import Protocol
except ImportError:  # pragma: no cover
    Protocol = object  # type: ignore[assignment]

__all__ = ["Job", "Step"]

_EARLY = 0.25  # a step this close to its poll's due time polls (a scheduler's rounding)



class _PollingClient(Protocol):
    @property
    def provider(self) -> str: ...  # pragma: no cover

    @property
    def backoff(self) -> Backoff: ...  # pragma: no cover

    @property
    def history(self) -> DurationHistory: ...  # pragma: no cover

    @property
    def _sleep(self) -> Callable[[float], None]: ...  # pragma: no cover

    @property
    def _clock(self) -> Callable[[], float]: ...  # pragma: no cover

    @property
    def _step_clock(self) -> Callable[[], float]: ...  # pragma: no cover

    def _poll(self, job_id: Any, args: Args) -> JobStatus: ...  # pragma: no cover

    def _kind(self, status: Optional[JobStatus]) -> Optional[str]: ...  # pragma: no cover

    def _take_turn(self, ahead: float) -> float: ...  # pragma: no cover

    def _wait_poll(self, job_id: str, args: Args,
                   seconds: Optional[float]) -> JobStatus: ...  # pragma: no cover


_MAX_CLOCK = 1e15  # seconds a step clock may read (30 million years; a token holds 1e18)


@attrs.frozen(repr=False)
class Job:
    """One job: the client that reads it, its id, its provider arguments (Sivi's
    ``abstract_user_id``) and its kind when named (else the client reads it: Rivya's model,
    otherwise the provider). Made by ``client.job(job_id, ...)``; frozen and hashable."""

    client: _PollingClient
    job_id: str
    args: Args = ()
    kind: Optional[str] = None

    @property
    def provider(self) -> str:
        """The provider's name."""
        return self.client.provider

    @property
    def backoff(self) -> Backoff:
        """The client's default Backoff, which wait_all follows for this job."""
        return self.client.backoff

    @property
    def history(self) -> DurationHistory:
        """The client's DurationHistory, which this job's waits learn from and feed."""
        return self.client.history

    def kind_of(self, status: Optional[JobStatus]) -> Optional[str]:
        """The job's kind: the one it was given, else what the client reads from ``status``
        (None while it needs a reply to tell)."""
        return self.kind if self.kind is not None else self.client._kind(status)

    def poll(self) -> JobStatus:
        """One request (retried as the client's ``poll``): the normalized JobStatus."""
        return self.client._poll(self.job_id, self.args)

    def poll_within(self, seconds: Optional[float]) -> JobStatus:
        """One poll of a wait, without retries; every request ends within ``seconds``."""
        return self.client._wait_poll(self.job_id, self.args, seconds)

    def take_turn(self, ahead: float = 0.0) -> float:
        """0.0 when the client's rate budget has a turn within ``ahead`` seconds (kept for the
        client's next request, which waits for it), else the seconds until it would."""
        return self.client._take_turn(ahead)

    def wait(self, *, timeout: Optional[float] = 600.0, backoff: Optional[Backoff] = None,
             on_update: Optional[Callable[[JobStatus], None]] = None,
             raise_on_failure: bool = True) -> JobStatus:
        """As ``client.wait`` for this job."""
        check_flag("raise_on_failure", raise_on_failure)  # ("false" from a config: not True)
        check_backoff(backoff)
        client = self.client
        state = begin(client._clock, timeout, job_seed(self.provider, self.job_id),
                      self.kind_of(None))
        status = run_wait(self.poll_within, _done, state, backoff=backoff or client.backoff,
                          on_update=on_update, sleep=client._sleep, clock=client._clock,
                          history=client.history, kind_of=self.kind_of,
                          what=f"{self.provider} job {self.job_id!r} ")
        if raise_on_failure and status.state is State.FAILED:
            raise GenerationFailed(status)
        return status

    def wait_token(self, *, timeout: Optional[float] = 600.0) -> str:
        """A token for a wait of this job that ``client.step`` carries on (no request)."""
        clock = self.client._step_clock
        state = begin(clock, timeout, job_seed(self.provider, self.job_id), self.kind_of(None))
        if abs(state.started) > _MAX_CLOCK:  # a token must hold it, and a step read it back
            raise ConfigurationError(
                f"clock() read {state.started:.6g}: more than {_MAX_CLOCK:.0e} seconds, which a "
                "wait token cannot hold; clock= must return seconds (as time.time, not "
                "time.time_ns)")
        due = state.started + state.wait_for(state.started, self.backoff, self.history, True)
        from ._token import Saved, encode

        return encode(Saved(self.provider, self.job_id, self.args, state, due))

    def step(self, token: str) -> "Step":
        """One poll of the wait ``token`` (from ``wait_token``) carries: see ``client.step``.
        A token of another job is a ConfigurationError, as a bad token is."""
        from ._token import decode

        saved = decode(token, self.provider)
        if saved.job_id != self.job_id or saved.args != self.args:
            raise ConfigurationError(f"the wait token is for {self.provider} job "
                                     f"{saved.job_id!r}, not {self!r}: step it with "
                                     "client.step(token)")
        return self._step(saved)

    def _step(self, saved: "Saved") -> "Step":
        """One poll of the wait ``saved`` carries. Its plan reads the history of this job's
        client (in another process: that process's client's). A done token's step is a
        status read, not a wait: its poll's transient error (or the rate budget's want of a
        turn for it) is raised as itself, not put in a Step nor made a WaitTimeout."""
        from ._token import encode

        clock = self.client._step_clock
        state, now = saved.state, clock()
        what = f"{self.provider} job {self.job_id!r} "
        # the last poll: at or past the deadline, or the deadline's own poll as near it as a
        # scheduler's rounding comes (else each step in that moment would poll again)
        # (a done token's too: its status read says not done, as a provider's glitch can, at
        # or past the deadline is the wait's end, not another step due at once, for good)
        last = state.deadline is not None and (now >= state.deadline or (
            saved.due >= state.deadline and now >= saved.due - _EARLY))
        if now < saved.due - _EARLY and not last and not saved.done:
            # (never past the deadline, whatever the token says: one written on another
            # machine's clock, or by hand; the token given back then names the deadline's
            # own poll, for which a step a little early counts)
            if state.deadline is not None and saved.due > state.deadline:
                saved = attrs.evolve(saved, due=state.deadline)
            return Step(None, None, False, saved.due - now, encode(saved))
        hold = self.take_turn(_EARLY)
        if hold > 0:  # the client's rate budget has no turn for it yet: no sleep in here
            if last or saved.done:
                held = RateLimitError(
                    f"{what}not polled: the client's rate budget had no turn for its "
                    f"{'status read' if saved.done else 'last poll'}", provider=self.provider,
                    retry_after=hold)
                if saved.done:
                    raise held
                raise state.failed(held).timed_out(now, what)
            retry_in = min(hold, state.time_left(now))
            return Step(None, None, False, retry_in, encode(attrs.evolve(saved,
                                                                         due=now + retry_in)))
        error: Optional[GenStatusError] = None
        status: Optional[JobStatus] = None
        try:  # (a last poll has the client's own timeout: a late step still gets its poll)
            status = self.poll_within(None if last or saved.done
                                      else request_window(state, now))
        except GenStatusError as exc:
            if saved.done or not is_transient(exc):
                raise
            error, state = exc, state.failed(exc)
        else:
            before, seen_at = state, clock()
            state = state.polled(status, seen_at,
                                 None if state.kind is not None else self.kind_of(status))
            # (a done token stepped again teaches nothing; nor does a token stepped again
            # that sees the end its first step saw: a task redelivered, a cron run that
            # crashed before it kept the token that step gave. Told apart by its start on
            # the wall clock; on a clock of the caller's, a simulation's that starts each run
            # at 0, a wait of the same job begun at the same reading is another run)
            if status.done and not saved.done and (
                    "_step_clock" in vars(self.client) or self.history._first_record(
                        (state.kind, state.started, state.seed))):
                learn(self.history, state, before, status, seen_at, steps=True)
        now = clock()
        if status is not None and status.done:
            return Step(status, None, True, None, encode(attrs.evolve(saved, state=state,
                                                                       due=now, done=True)))
        if last:
            raise state.timed_out(now, what)
        delay = state.wait_for(now, self.backoff, self.history, steps=True)
        # (a done token whose status reads not done again goes on as a wait, no longer a
        # status read: its next step waits until due, and a transient error is its Step's)
        return Step(status, error, False, delay,
                    encode(attrs.evolve(saved, state=state, due=now + delay, done=False)))

    def __repr__(self) -> str:
        extra = "".join(f", {name}={value!r}" for name, value in self.args)
        if self.kind is not None:
            extra += f", kind={self.kind!r}"
        return f"Job({self.provider!r}, {self.job_id!r}{extra})"


@attrs.frozen
class Step:
    """What one ``client.step(token)`` did: ``status`` (None when this poll met a transient
    error, or when no poll was due yet), ``error`` (that transient error), ``done`` (the job
    SUCCEEDED or FAILED), ``retry_in`` (seconds until the next poll is due, never past the
    deadline; None when done) and ``token`` (for the next step)."""

    status: Optional[JobStatus]
    error: Optional[GenStatusError]
    done: bool
    retry_in: Optional[float]
    token: str = attrs.field(repr=False)


def _done(status: JobStatus) -> bool:
    return status.done
