"""Waits as Celery tasks: each run of the polling task is one ``client.step(token)``.

::

    app = Celery("tasks")        # task_acks_late, task_reject_on_worker_lost, JSON: docs/celery.md
    poll = register(app, on_done="tasks.job_done")
    key = poll.start("rivya", "task-123")   # the token is made here; the task polls when due

Not done: the task is retried with ``countdown=step.retry_in``, capped below the broker's
visibility timeout (a countdown beyond it is delivered twice); a run before the poll is due
(after a capped countdown) makes no request. Done (SUCCEEDED or FAILED): the user's ``on_done``
task gets ``(JobStatus.to_dict(), key)``. ``key`` names one wait (provider, job id and the
wait's start) and is the same in every redelivery, so ``on_done`` can drop duplicates: delivery
is at least once. Out of time, or an error no later poll can get past (or one of the worker's
own, a ``client_factory``'s): ``on_error`` gets ``(report, key)``, or without one the task
fails with that exception.

A run that cannot publish what comes next (the next run, or the ``on_done``/``on_error``
call: the broker is away) goes back to the queue (``Reject(requeue=True)``, after a pause),
never acknowledged without it. Run eagerly (``task.apply()``, ``task_always_eager``), a wait
goes on in the calling process, sleeping between its steps, until it ends.

Needs the ``[celery]`` extra. Nothing else in the package imports this module, and it
imports Celery only for type checkers and when a run must be requeued: it works through the
app it is given.
"""

import inspect
import logging
import math
import os
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Set, Tuple, Union, cast

import attrs

from ._config import check_number, shown
from ._registry import check_provider, client_class
from ._token import decode, encode
from .errors import ConfigurationError, GenStatusError, WaitTimeout

if TYPE_CHECKING:
    from celery import Celery, Task  # type: ignore[import-not-found, import-untyped, unused-ignore]
    from celery.canvas import Signature  # type: ignore[import-not-found, import-untyped, unused-ignore]

    from ._http import BaseClient

__all__ = ["DEFAULT_VISIBILITY_TIMEOUT", "PollTask", "RABBITMQ_CONSUMER_TIMEOUT",
           "SQS_VISIBILITY_TIMEOUT", "register"]

logger = logging.getLogger("genstatus_sync")

# kombu's visibility timeout for Redis (SQS: 1800 s) when broker_transport_options sets none.
# RabbitMQ has none, but its consumer_timeout (30 min by default) ends a channel that holds a
# message unacknowledged for longer (a countdown is held so): read as one.
DEFAULT_VISIBILITY_TIMEOUT = 3600.0
SQS_VISIBILITY_TIMEOUT = 1800.0  # kombu's for SQS
RABBITMQ_CONSUMER_TIMEOUT = 1800.0  # RabbitMQ's default consumer_timeout
# a broker's kind by its URL's scheme, where kombu cannot load its transport to say
_KINDS = {"sqs": "sqs", "amqp": "amqp", "amqps": "amqp", "pyamqp": "amqp", "librabbitmq": "amqp"}
_registered: "weakref.WeakKeyDictionary[Any, Set[str]]" = weakref.WeakKeyDictionary()  # per app
_REQUEUE_PAUSE = 1.0  # seconds a run that could not publish waits before going back

# The polling task's options that a wait relies on; the app's task_annotations (applied after
# a task's own options: {"*": {"max_retries": 3}} is a common default) cannot change them.
# max_retries=None: retried until the wait ends (retry(max_retries=None) means "the task's").
# A run the pool kills at its hard time limit goes back to the queue, as one whose worker died
# does (Celery acknowledges it by default, and the wait was lost): acks_on_timeout from Celery
# 5.7, acks_on_failure_or_timeout before (a run that fails is then rejected without requeue,
# which ends it as an ack does). retry_on_worker_lost would send a killed run back only after
# default_retry_delay (3 minutes), where reject_on_worker_lost requeues it at once.
_PINNED: Dict[str, Any] = {
    "acks_late": True, "reject_on_worker_lost": True, "retry_on_worker_lost": False,
    "acks_on_timeout": False, "acks_on_failure_or_timeout": False, "max_retries": None,
    "ignore_result": True, "serializer": "json"}

TaskRef = Union[str, "Task", "Signature"]
ClientFactory = Callable[[str], "BaseClient[Any, Any]"]


def register(app: "Celery", *, on_done: TaskRef, on_error: Optional[TaskRef] = None,
             client_factory: Optional[ClientFactory] = None,
             name: str = "genstatus_sync.poll", visibility_timeout: Optional[float] = None,
             max_countdown: Optional[float] = None, queue: Optional[str] = None) -> "PollTask":
    """Register the polling task on ``app`` under ``name`` and return its PollTask.

    ``on_done`` and ``on_error`` are the user's tasks (a name, a task or a signature; called
    as ``on_done(status_dict, key)``, ``on_error(report, key)``). ``client_factory(provider)``
    makes the clients, once per process (default: each provider's client with its key and base
    URL from the environment). Countdowns stay at most half of ``visibility_timeout`` (default:
    ``app.conf.broker_transport_options["visibility_timeout"]``, else kombu's: 3600 s, for an
    ``sqs://`` broker 1800 s; for RabbitMQ, ``amqp://``, its default ``consumer_timeout``,
    1800 s; where both give one, the lower) and at most
    ``max_countdown``. ``queue`` routes the polling task. Raises ConfigurationError for a bad
    option, a ``name`` already registered on ``app``, an ``on_done`` or ``on_error``
    signature whose arguments its serializer cannot encode, or an app configured to lose waits
    (no JSON accepted, successful runs deduplicated)."""
    _check_ref("on_done", on_done)
    if on_error is not None:
        _check_ref("on_error", on_error)
    for label, ref in (("on_done", on_done), ("on_error", on_error)):
        _check_encodes(app, label, ref)
    if client_factory is not None and not callable(client_factory):
        raise ConfigurationError("client_factory must be callable: provider name -> client")
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"name must be a non-empty task name, got {shown(name)}")
    if queue is not None and (not isinstance(queue, str) or not queue):
        raise ConfigurationError(f"queue must be a queue name or None, got {shown(queue)}")
    for label, value in (("visibility_timeout", visibility_timeout),
                         ("max_countdown", max_countdown)):
        if value is not None:
            _check_seconds(label, value)
    _check_app(app)
    names = _registered.setdefault(app, set())
    if name in names or name in getattr(app, "_tasks", {}):  # (app.tasks would finalize it)
        # Celery would keep the first task under the name, and this call's options be lost
        raise ConfigurationError(f"a task named {name!r} is already registered on this app: "
                                 "register the polling task once, or pass another name=")
    names.add(name)
    return PollTask(app, on_done=on_done, on_error=on_error,
                    client_factory=client_factory or _client_from_environment, name=name,
                    visibility_timeout=visibility_timeout, max_countdown=max_countdown,
                    queue=queue)


class PollTask:
    """The polling task of one Celery app (made by ``register``): ``start`` and ``resume``
    hand waits to it; ``task`` is the Celery task itself."""

    def __init__(self, app: "Celery", *, on_done: TaskRef, on_error: Optional[TaskRef],
                 client_factory: ClientFactory, name: str, visibility_timeout: Optional[float],
                 max_countdown: Optional[float], queue: Optional[str]) -> None:
        self.app = app
        self.name = name
        self._on_done, self._on_error = on_done, on_error
        self._clients = _Clients(client_factory)
        self._visibility_timeout, self._max_countdown = visibility_timeout, max_countdown
        self._broker: Tuple[str, str] = ("", "")  # (the broker's URL, its kind), see _driver

        def poll(task: Any, provider: str, token: str, key: str) -> None:
            self._run(task, provider, token, key)

        poll.__doc__ = "One step of a genstatus_sync wait (see genstatus_sync.celery)."
        # sent with each message: the task attribute `queue` is deprecated in Celery 5
        self._route: Dict[str, Any] = {"queue": queue} if queue is not None else {}
        self._poll = poll
        # shared=False: a shared task (Celery's default) is added to every app finalized
        # later, and a second app's register would then get the first one's task, its
        # on_done and clients and all
        self.task: Task = app.task(poll, bind=True, name=name, shared=False,
                                   base=_pinned(app), **_PINNED)

    @property
    def max_countdown(self) -> float:
        """The longest countdown the task is retried with, in seconds: half the broker's
        visibility timeout, or ``max_countdown`` when lower (read from the app's configuration
        when asked, so configure the app before or after ``register``)."""
        options = self.app.conf.broker_transport_options or {}
        driver = self._driver()
        broker = (_check_seconds("broker_transport_options['visibility_timeout']",
                                 options["visibility_timeout"])
                  if "visibility_timeout" in options else None)
        timeout = self._visibility_timeout
        if timeout is None:
            timeout = broker if broker is not None else (
                SQS_VISIBILITY_TIMEOUT if driver == "sqs"
                else RABBITMQ_CONSUMER_TIMEOUT if driver == "amqp"
                else DEFAULT_VISIBILITY_TIMEOUT)
            if driver == "amqp":  # (RabbitMQ ignores the option: a Redis setting, kept lower)
                timeout = min(timeout, RABBITMQ_CONSUMER_TIMEOUT)
        elif broker is not None and driver != "amqp":
            # (the broker redelivers by its own: a higher one given here forked every wait
            # whose countdown passed the broker's)
            timeout = min(timeout, broker)
        cap = timeout / 2
        return cap if self._max_countdown is None else min(cap, self._max_countdown)

    def _driver(self) -> str:
        """The broker's kind, as kombu names it: "amqp" for RabbitMQ however its URL says so
        (amqp://, amqps://, pyamqp://, none: Celery's default), "redis", "sqs", ...; read
        once per broker URL (no connection is made; by the URL's scheme when kombu cannot load
        the transport), "" when neither tells."""
        conf = self.app.conf
        url = repr((conf.broker_write_url, conf.broker_url))
        if self._broker[0] != url:
            kind = ""
            try:
                connection = self.app.connection_for_write()
                try:
                    kind = str(getattr(connection.transport, "driver_type", ""))
                finally:
                    connection.release()
            except Exception:  # a transport kombu cannot load here (SQS without boto3)
                logger.debug("kombu cannot load the broker's transport", exc_info=True)
                first = conf.broker_write_url or conf.broker_url or ""
                if isinstance(first, (list, tuple)):
                    first = first[0] if first else ""
                scheme = str(first).split(";")[0].partition(":")[0].strip().lower()
                kind = _KINDS.get(scheme, "")
            self._broker = (url, kind)
        return self._broker[1]

    def start(self, provider: str, job_id: Any, *, timeout: Optional[float] = 600.0,
              **provider_args: Any) -> str:
        """Start waiting for ``job_id`` of ``provider`` (``timeout``: the overall deadline in
        seconds; provider arguments as for ``client.wait``, e.g. Sivi's ``abstract_user_id``):
        the token is made with this process's client (no request) and the first run is
        scheduled for when its first poll is due. Returns the wait's key, which ``on_done``
        and ``on_error`` will get. Raises ConfigurationError for an unknown provider or a bad
        id or argument."""
        client = self._clients.get(check_provider(provider))
        try:
            inspect.signature(client.wait_token).bind(job_id, timeout=timeout, **provider_args)
        except TypeError:
            raise ConfigurationError(f"{provider} takes no argument "
                                     f"{', '.join(sorted(provider_args)) or '?'} for a wait"
                                     ) from None
        return self.resume(provider, client.wait_token(job_id, timeout=timeout, **provider_args))

    def resume(self, provider: str, token: str) -> str:
        """Hand an existing wait token (from ``client.wait_token`` or a step) to the task;
        returns its key. A bad or foreign token is a ConfigurationError here, before anything
        is sent."""
        job_id, started, due = _read(check_provider(provider), token)
        key = _key(provider, job_id, started)
        # Celery loads the result backend as it hands back the AsyncResult, after the message
        # went out: one that cannot load would raise with the wait already started (and a
        # caller who tried again would start a second one). Loaded here, it raises first.
        self.app.backend  # noqa: B018 - loaded for its error
        _check_app(self.app)  # (configured after register, as Django settings may be)
        found = self.app.tasks.get(self.name)
        if getattr(getattr(found, "run", None), "__func__", None) is not self._poll:
            # a task of the user's declared under the name before register (not yet in the
            # app then): Celery kept it, and it would get the waits
            raise ConfigurationError(f"the app's task {self.name!r} is not this polling task "
                                     "(another task has the name): register under another "
                                     "name=")
        self.task.apply_async(args=[provider, token, key],
                              countdown=self._countdown(due - time.time()), **self._route)
        return key

    def client(self, provider: str) -> "BaseClient[Any, Any]":
        """This process's client of ``provider`` (made on first use, and again after a fork)."""
        return self._clients.get(check_provider(provider))

    def _countdown(self, retry_in: float) -> float:
        countdown = max(0.0, min(retry_in, self.max_countdown))
        # RabbitMQ's quorum queues (native delayed delivery) take whole seconds, at least one
        # (a fraction is cut off; 0.6 s is a ValueError): a countdown is rounded up, never
        # to a run that comes early
        return float(math.ceil(countdown)) if countdown and self._driver() == "amqp" else countdown

    def _run(self, task: Any, provider: str, token: str, key: str) -> None:
        eager = bool(getattr(getattr(task, "request", None), "is_eager", False))
        while True:
            try:
                client = self._clients.get(check_provider(provider))
                step = client.step(token)
            except GenStatusError as exc:
                if self._on_error is None:
                    raise
                logger.info("%s: wait %s ended: %s", provider, key, type(exc).__name__)
                self._send(self._on_error, _report(provider, token, exc), key, eager)
                return
            except Exception as exc:  # (not the provider's: the worker's own)
                if type(exc).__name__ == "SoftTimeLimitExceeded" and not eager:
                    # (outside a request, which makes it a transient error: the run again)
                    self._retry(task, provider, token, key, 1.0)
                    return
                if self._on_error is None:
                    raise
                # (a client_factory that fails, a bug: ended as a report, not a run that
                # fails and is rejected, its wait lost with on_error never called)
                logger.error("%s: wait %s ended by an error in the worker", provider, key,
                             exc_info=True)
                self._send(self._on_error, _report(provider, token, exc), key, eager)
                return
            if step.done and step.status is not None:
                self._send(self._on_done, step.status.to_dict(), key, eager)
                return
            if not eager:
                break
            # run eagerly, Celery would drop the retry (and with it the wait): it goes on here
            client._sleep(step.retry_in or 0.0)
            token = _slept(step.token, client)
        self._retry(task, provider, step.token, key, step.retry_in or 0.0)

    def _retry(self, task: Any, provider: str, token: str, key: str, retry_in: float) -> None:
        # Celery's retry (same task id, same queue) without raising Retry: the worker then
        # builds no traceback for it, which halves its CPU per run (benchmarks/celery_fleet.py)
        try:
            task.retry(args=[provider, token, key], countdown=self._countdown(retry_in),
                       throw=False, **self._route)
        except Exception as exc:  # noqa: BLE001 - Celery's Reject(requeue=False) drops the wait
            raise _requeued(exc) from None

    def _send(self, target: TaskRef, payload: Dict[str, Any], key: str, eager: bool) -> None:
        try:
            self.app.signature(target).apply_async(args=(payload, key))
        except Exception as exc:  # failed, the task would be acknowledged
            if eager:  # no queue to go back to: the caller hears it (a name no task has, that
                raise  # Celery sent to a broker, one that is not there)
            raise _requeued(exc) from None

    def __repr__(self) -> str:
        return f"PollTask({self.name!r})"


class _Clients:
    """One client per provider per process, made on first use; a forked child makes its own
    (a client's connections must not cross a fork)."""

    def __init__(self, factory: ClientFactory) -> None:
        self._factory = factory
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._clients: Dict[str, BaseClient[Any, Any]] = {}

    def get(self, provider: str) -> "BaseClient[Any, Any]":
        if self._pid != os.getpid():
            self._pid, self._lock, self._clients = os.getpid(), threading.Lock(), {}
        with self._lock:
            client = self._clients.get(provider)
            if client is None:
                client = self._clients[provider] = self._factory(provider)
        return client


def _requeued(exc: Exception) -> Exception:
    """What a run raises when publishing failed with ``exc``: for the broker's own failure
    (kombu's OperationalError, a socket error; inside Celery's Reject or not), a Reject that
    puts the run back in the queue, after a pause; anything else as it is."""
    from celery.exceptions import Reject  # type: ignore[import-not-found, import-untyped, unused-ignore]
    from kombu.exceptions import OperationalError  # type: ignore[import-not-found, import-untyped, unused-ignore]

    reason = exc.reason if isinstance(exc, Reject) else exc
    if isinstance(reason, (OperationalError, OSError)):
        logger.warning("genstatus_sync: a wait's next message could not be published (%s); "
                       "its run goes back to the queue", type(reason).__name__)
        time.sleep(_REQUEUE_PAUSE)
        requeue: Exception = Reject(reason, requeue=True)
        return requeue
    return exc


def _client_from_environment(provider: str) -> "BaseClient[Any, Any]":
    return client_class(provider)()


def _read(provider: str, token: str) -> Tuple[str, float, float]:
    """(job id, the wait's start, its next poll's due time) of a token, its job id and
    arguments checked as a client's step checks them (no client made: no key needed)."""
    saved = decode(token, provider)
    kind = client_class(provider)
    kind._check_id(saved.job_id)
    kind._check_args(saved.args)
    return saved.job_id, saved.state.started, saved.due


def _key(provider: str, job_id: str, started: float) -> str:
    return f"{provider}:{job_id}:{started:.6f}"


def _report(provider: str, token: str, error: Exception) -> Dict[str, Any]:
    """What ``on_error`` gets: the job, the error, and the last status read (WaitTimeout). Of
    an error that is not the SDK's (a client_factory's, a bug), its class only: its text is
    for the worker's log (it may hold a setting or a key)."""
    try:
        job_id: Optional[str] = decode(token, provider).job_id
    except ConfigurationError:
        job_id = None
    name = type(error).__name__
    message = str(error) if isinstance(error, GenStatusError) else (
        f"the wait ended on an error in the worker ({name}), not from {provider}: its "
        "traceback is in the worker's log")
    last = error.last if isinstance(error, WaitTimeout) else None
    return {"provider": provider, "job_id": job_id, "error": name, "message": message,
            "last": last.to_dict() if last is not None else None}


def _check_ref(label: str, ref: object) -> None:
    if isinstance(ref, str):
        if not ref:
            raise ConfigurationError(f"{label} must name a task, got an empty string")
    elif not (isinstance(ref, dict) or _is_task(ref)):
        what = (f"the function {getattr(ref, '__qualname__', '?')!r}: decorate it with "
                "@app.task, or give its task's name" if callable(ref) else type(ref).__name__)
        raise ConfigurationError(f"{label} must be a task name, a task or a signature, got "
                                 f"{what}")
    elif isinstance(ref, dict) and ref.get("immutable"):
        raise ConfigurationError(f"{label} is an immutable signature (.si()): it would not get "
                                 "the status or report and the key; give .s() instead")


def _check_encodes(app: "Celery", label: str, ref: object) -> None:
    """A signature whose arguments (or headers) the serializer of its messages cannot encode
    is a ConfigurationError here: sent when its wait ends, it failed in the worker, and the
    wait was lost (on_error, too, is a message that could not be sent)."""
    if not isinstance(ref, dict):
        return
    from kombu.serialization import dumps as untyped  # type: ignore[import-not-found, import-untyped, unused-ignore]

    dumps = cast(Callable[..., Any], untyped)
    options = ref.get("options") or {}
    # (the one its message goes out in: the signature's, else its task's, when the signature
    # was made from one, else the app's; read without finalizing the app)
    serializer = (options.get("serializer") or getattr(getattr(ref, "_type", None),
                                                       "serializer", None)
                  or app.conf.task_serializer or "json")
    sample = {"provider": "rivya", "job_id": "j", "state": "succeeded", "progress": 100.0}
    try:
        dumps([[*(ref.get("args") or ()), sample, "key"], dict(ref.get("kwargs") or {}),
               options.get("headers") or {}], serializer=serializer)
    except Exception as exc:  # noqa: BLE001 - kombu's EncodeError, or the serializer's own
        raise ConfigurationError(
            f"{label}'s signature cannot be sent as {serializer}: its arguments or headers "
            f"do not encode ({type(exc).__name__}: {shown(str(exc))})") from None


def _slept(token: str, client: "BaseClient[Any, Any]") -> str:
    """``token`` due now, its wait having slept until then on the client's sleep: a sleep that
    returns at once (a test's) would else leave each step not due on the step clock, and the
    run spun (a 30 s wait took 30 s of CPU, 770,000 steps), where client.wait goes on."""
    saved = decode(token, client.provider)
    now = client._step_clock()
    return token if saved.due <= now else encode(attrs.evolve(saved, due=now))


def _is_task(ref: object) -> bool:
    """A Celery task (or the proxy ``@app.task`` returns before the app is finalized): what
    has ``apply_async``. A plain function is not one: it would be sent as a task's name, and
    the wait lost when its job ends."""
    return not isinstance(ref, type) and callable(getattr(ref, "apply_async", None))


def _check_seconds(label: str, value: object) -> float:
    return check_number(value, f"{label} must be a positive number of seconds", positive=True)


def _pinned(app: "Celery") -> type:
    """The app's task class, with ``_PINNED`` applied again after the app's annotations."""

    class PinnedTask(app.Task):  # type: ignore[misc]
        @classmethod
        def annotate(cls) -> None:
            super().annotate()
            for option, value in _PINNED.items():
                setattr(cls, option, value)

    return PinnedTask


def _check_app(app: "Celery") -> None:
    """Refuse an app whose configuration would lose waits."""
    accepted = app.conf.accept_content
    if accepted is not None and not {"json", "application/json"} & set(accepted):
        # the task's messages are JSON: a worker that accepts none drops every wait
        raise ConfigurationError("the app's accept_content must include 'json' (the polling "
                                 f"task's messages are JSON), got {shown(list(accepted))}")
    if (app.conf.get("worker_deduplicate_successful_tasks")
            and getattr(app.backend, "persistent", True)):  # (Celery's own condition for it)
        # every run of a wait has the wait's task id, and each ends in SUCCESS: a worker that
        # deduplicates skips a run delivered again (after a lost connection), and the wait
        raise ConfigurationError("worker_deduplicate_successful_tasks must be off: the runs of "
                                 "a wait share one task id, and a run delivered again would be "
                                 "skipped, its wait lost")
