"""genstatus_sync.celery without a broker: the core never loads it or Celery, and the task it
registers is configured for at-least-once polling. Over a real worker: tests/e2e/test_celery.py."""

import ast
import functools
import subprocess
import sys
import time
from datetime import datetime

import pytest

import genstatus_sync
from genstatus_sync.errors import ConfigurationError

from .test_structure import MODULES, NAME, _imports


def test_no_module_of_the_package_imports_the_celery_integration():
    users = {module for module, path in MODULES.items()
             if f"{NAME}.celery" in _imports(module, path) and module != f"{NAME}.celery"}
    assert users == set()


def test_importing_the_package_or_the_integration_loads_no_celery():
    code = ("import sys, genstatus_sync, genstatus_sync.testing, genstatus_sync.cli; "
            "loaded = 'genstatus_sync.celery' in sys.modules; import genstatus_sync.celery; "
            "print(loaded, sorted(m for m in sys.modules if m.split('.')[0] in "
            "('celery', 'kombu', 'redis')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False []"


def test_the_integration_imports_celery_for_type_checkers_only():
    tree = ast.parse((MODULES[f"{NAME}.celery"]).read_text())
    top = {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import)
           for alias in node.names}
    top |= {node.module.split(".")[0] for node in tree.body
            if isinstance(node, ast.ImportFrom) and node.module and not node.level}
    assert "celery" not in top and "kombu" not in top


celery = pytest.importorskip("celery",
                             reason="Celery is not installed (pip install -e '.[celery]')")

from genstatus_sync.celery import (  # noqa: E402
    DEFAULT_VISIBILITY_TIMEOUT,
    RABBITMQ_CONSUMER_TIMEOUT,
    SQS_VISIBILITY_TIMEOUT,
    register,
)


def _app(**conf):
    app = celery.Celery("unit", broker="memory://", set_as_current=False)
    app.conf.update(conf)
    return app


def _sent(app, queue="celery"):
    """The messages waiting in ``queue`` of an app's in-memory broker: (task, args, eta)."""
    found = []
    with app.connection_for_read() as connection:
        waiting = connection.SimpleQueue(queue)
        while True:
            try:
                message = waiting.get(timeout=0.05)
            except waiting.Empty:
                return found
            message.ack()
            found.append((message.headers["task"], message.payload[0], message.headers["eta"]))


def test_the_task_acks_late_requeues_a_lost_run_and_retries_for_ever_in_json():
    poll = register(_app(), on_done="tasks.done")
    task = poll.task
    assert task.name == "genstatus_sync.poll" == poll.name
    assert (task.acks_late, task.reject_on_worker_lost, task.max_retries) == (True, True, None)
    assert (task.serializer, task.ignore_result) == ("json", True)


def test_countdowns_stay_below_half_the_visibility_timeout_or_max_countdown():
    assert register(_app(), on_done="d").max_countdown == DEFAULT_VISIBILITY_TIMEOUT / 2
    options = {"broker_transport_options": {"visibility_timeout": 600}}
    assert register(_app(**options), on_done="d").max_countdown == 300
    assert register(_app(**options), on_done="d", max_countdown=20).max_countdown == 20
    assert register(_app(**options), on_done="d", max_countdown=900).max_countdown == 300
    assert register(_app(**options), on_done="d", visibility_timeout=100).max_countdown == 50
    late = _app()
    poll = register(late, on_done="d")
    late.conf.broker_transport_options = {"visibility_timeout": 60}  # configured after
    assert poll.max_countdown == 30


@pytest.mark.parametrize(("broker", "options", "timeout"), [
    ("redis://127.0.0.1:6379/0", {}, DEFAULT_VISIBILITY_TIMEOUT),
    ("sqs://", {}, SQS_VISIBILITY_TIMEOUT),
    ("amqp://guest@127.0.0.1//", {}, RABBITMQ_CONSUMER_TIMEOUT),
    ("pyamqp://127.0.0.1//", {}, RABBITMQ_CONSUMER_TIMEOUT),
    ("amqps://user@broker.example//", {}, RABBITMQ_CONSUMER_TIMEOUT),  # (TLS: CloudAMQP)
    (None, {}, RABBITMQ_CONSUMER_TIMEOUT),  # Celery's default broker is a local RabbitMQ
    (["amqp://a.example//", "amqp://b.example//"], {}, RABBITMQ_CONSUMER_TIMEOUT),  # failover
    # a visibility_timeout copied from a Redis setup: RabbitMQ ignores it
    ("amqp://127.0.0.1//", {"visibility_timeout": 43200}, RABBITMQ_CONSUMER_TIMEOUT),
    ("amqp://127.0.0.1//", {"visibility_timeout": 600}, 600),
])
def test_countdowns_stay_below_half_of_what_the_broker_holds_a_message_unacknowledged(
        broker, options, timeout):
    # RabbitMQ has no visibility timeout, but closes a channel that holds a message
    # unacknowledged past its consumer_timeout (30 min): a countdown is held so
    app = celery.Celery("unit", broker=broker, set_as_current=False)
    app.conf.broker_transport_options = options
    assert register(app, on_done="d").max_countdown == timeout / 2


@pytest.mark.parametrize(("broker", "countdowns"), [
    ("amqp://127.0.0.1//", [0.0, 1.0, 1.0, 3.0, 900.0]),
    ("memory://", [0.0, 0.3, 1.0, 2.4, 900.0]),
])
def test_countdowns_to_rabbitmq_are_whole_seconds_rounded_up(broker, countdowns):
    # quorum queues (native delayed delivery) take whole seconds, at least one: 0.3 s was a
    # ValueError when the run was retried, and 2.4 s came 0.4 s early
    app = celery.Celery("unit", broker=broker, set_as_current=False)
    poll = register(app, on_done="d", max_countdown=900)
    assert [poll._countdown(s) for s in (0.0, 0.3, 1.0, 2.4, 5000.0)] == countdowns


@pytest.mark.parametrize("options", [
    {"on_done": ""}, {"on_done": 5}, {"on_done": "d", "on_error": 3.0},
    {"on_done": "d", "client_factory": "rivya"}, {"on_done": "d", "name": ""},
    {"on_done": "d", "visibility_timeout": 0}, {"on_done": "d", "max_countdown": float("nan")},
    {"on_done": "d", "max_countdown": True}, {"on_done": "d", "queue": ""},
    {"on_done": "d", "visibility_timeout": 10**400},
    {"on_done": "d", "max_countdown": float("inf")},
    {"on_done": "d", "max_countdown": -(10**5000)}, {"on_done": "d", "queue": 10**5000},
    {"on_done": "d", "name": -(10**5000)},
])
def test_a_bad_option_is_a_configuration_error(options):
    with pytest.raises(ConfigurationError):
        register(_app(), **options)


def _forged_token(data):
    """A token of ``data`` with the right length and checksum (anyone can compute them)."""
    import base64
    import zlib

    payload = base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")
    return f"gs2.{len(payload)}.{payload}.{zlib.crc32(payload.encode()):08x}"


_FIELDS = ('{"v": 2, "p": "rivya", "j": "t", "a": [], "s": START, "d": DEADLINE, "r": 1, '
           '"n": 0, "k": null, "sn": 0.0, "l": null, "m": 0, "ra": null, "du": 1.0}')


@pytest.mark.parametrize("token", [
    _forged_token(_FIELDS.replace("START", "1" + "0" * 400).replace("DEADLINE", "null")),
    _forged_token(_FIELDS.replace("START", "1.0").replace("DEADLINE", "NaN")),
    _forged_token("[" * 100_000 + "]" * 100_000),
    "gs2." + "9" * 5000 + ".AAAA.00000000",
], ids=["huge start", "NaN deadline", "deep", "length of 5000 digits"])
def test_resume_refuses_a_forged_token_before_sending_anything(token):
    app = _app()
    poll = register(app, on_done="d")
    with pytest.raises(ConfigurationError, match="garbled"):
        poll.resume("rivya", token)
    assert _sent(app) == []


@pytest.mark.parametrize(("change", "error"), [
    ('"j": ""', "cannot name a job"), ('"j": ".."', "cannot name a job"),
    ('"j": "' + "x" * 5000 + '"', "longer than 1024"),
    ('"a": [["abstract_user_id", "u"]]', "rivya takes no abstract_user_id"),
    ('"a": [["api_key", "x"]]', "rivya takes no api_key"),
], ids=["empty id", "dots", "long id", "sivi's argument", "an unknown argument"])
def test_resume_refuses_a_token_whose_job_no_client_would_step_before_sending_it(change, error):
    # (a checksum anyone can compute: the token's id and arguments were not checked, and the
    # wait went out to fail in a worker, as an on_error call, where the docs promise a
    # ConfigurationError there and then; no client is made, no key needed, for the check)
    app = _app()
    poll = register(app, on_done="d")
    field = change.split(":")[0]
    fields = _FIELDS.replace("START", "1.0").replace("DEADLINE", "null")
    start = fields.index(field)
    token = _forged_token(fields[:start] + change + fields[fields.index(",", start):])
    with pytest.raises(ConfigurationError, match=error):
        poll.resume("rivya", token)
    assert _sent(app) == []


def test_start_sends_the_token_for_when_its_first_poll_is_due_with_the_wait_key():
    made = []

    def factory(provider):
        made.append(provider)
        return genstatus_sync.RivyaClient(api_key="k", base_url="http://127.0.0.1:9")

    app = _app()
    poll = register(app, on_done="d", client_factory=factory, queue="polling")
    with pytest.raises(ConfigurationError, match="unknown provider"):
        poll.start("midjourney", "job")
    before = time.time()
    key = poll.start("rivya", "task-1")
    assert poll.client("rivya") is poll.client("rivya") and made == ["rivya"]
    [(name, (provider, token, sent_key), eta)] = _sent(app, "polling")
    assert (name, provider, sent_key) == ("genstatus_sync.poll", "rivya", key)
    assert key.startswith("rivya:task-1:")
    first_poll = datetime.fromisoformat(eta).timestamp() - before
    assert 0 < first_poll <= genstatus_sync.RivyaClient.default_backoff.first_delay * 1.1 + 0.1
    assert poll.resume("rivya", token) == key  # the key is the wait's, whoever hands it over
    assert [args[2] for _, args, _ in _sent(app, "polling")] == [key]


# -- found in review: eager runs, broker failures, arguments, SQS ---------------------------

def test_an_eager_run_waits_to_the_end_in_the_calling_process():
    # (task_always_eager, as unit tests of Celery code run: a retry would be dropped)
    from genstatus_sync.testing import FakeProviders

    from .clock import Clock

    app = _app(task_always_eager=True)
    outcomes = []

    @app.task(name="tests.done")
    def done(status, key):
        outcomes.append((status["state"], key))

    clock = Clock(now=time.time())
    with FakeProviders(api_key="k-eager-test") as fake:
        job = fake.add_job("rivya", ["queued", "running", "succeeded"])
        poll = register(app, on_done="tests.done", client_factory=lambda provider: fake.client(
            provider, clock=clock, sleep=clock.sleep))
        key = poll.start("rivya", job)
    assert outcomes == [("succeeded", key)]
    assert clock.sleeps  # it slept (on the client's clock) between its polls


def test_an_eager_run_on_a_sleep_that_returns_at_once_makes_one_step_a_sleep():
    # (docs/testing.md's fake.client(p, sleep=...) without a clock: the steps' clock is wall
    # time; each step after a sleep that did not sleep was not due, and the run spun: a 30 s
    # wait made 774,635 sleep calls and took 30 s of CPU)
    from genstatus_sync.testing import FakeProviders

    app = _app(task_always_eager=True)
    outcomes, sleeps = [], []

    @app.task(name="tests.done_fast", shared=False)
    def done(status, key):
        outcomes.append(status["state"])

    with FakeProviders(api_key="k-eager-fast") as fake:
        job = fake.add_job("rivya", ["queued"] * 4 + ["succeeded"])
        poll = register(app, on_done="tests.done_fast", client_factory=lambda provider:
                        fake.client(provider, sleep=sleeps.append))
        poll.start("rivya", job)
        polled = [r for r in fake.requests if r.provider == "rivya" and job in r.path]
    assert outcomes == ["succeeded"]
    assert len(polled) == 5 and len(sleeps) == 5  # a sleep before each poll, none more
    assert sleeps[0] > 0 and all(seconds >= 5.0 for seconds in sleeps[1:])  # Rivya's 5 s


class _Task:
    """Stands in for the bound task whose retry Celery's own code makes: publishing fails."""

    class request:
        is_eager = False

    def retry(self, **options):
        from celery.exceptions import Reject
        from kombu.exceptions import OperationalError

        raise Reject(OperationalError("Error 111 connecting: Connection refused"),
                     requeue=False)  # what Task.retry raises when apply_async fails


def test_a_run_that_cannot_publish_its_next_run_goes_back_to_the_queue(monkeypatch):
    from celery.exceptions import Reject

    from genstatus_sync import celery as integration
    from genstatus_sync.testing import FakeProviders

    monkeypatch.setattr(integration, "_REQUEUE_PAUSE", 0.0)
    with FakeProviders(api_key="k-requeue-test") as fake:
        job = fake.add_job("rivya", ["running"] * 5)
        poll = register(_app(), on_done="tests.done",
                        client_factory=lambda provider: fake.client(provider))
        token = poll.client("rivya").wait_token(job)
        with pytest.raises(Reject) as info:
            poll._run(_Task(), "rivya", token, "key")
    assert info.value.requeue is True


def test_a_finished_run_that_cannot_publish_on_done_goes_back_to_the_queue(monkeypatch):
    from celery.exceptions import Reject
    from kombu.exceptions import OperationalError

    from genstatus_sync import celery as integration
    from genstatus_sync.testing import FakeProviders

    monkeypatch.setattr(integration, "_REQUEUE_PAUSE", 0.0)
    app = _app()

    def refused(*args, **kwargs):
        raise OperationalError("Error 111 connecting: Connection refused")

    with FakeProviders(api_key="k-requeue-test") as fake:
        job = fake.add_job("rivya", ["succeeded"])
        poll = register(app, on_done="tests.done",
                        client_factory=lambda provider: fake.client(provider))
        clock_token = poll.client("rivya").wait_token(job)
        monkeypatch.setattr(celery.canvas.Signature, "apply_async", refused)
        time.sleep(0)  # (the first poll of a Rivya wait is due after its first delay)
        saved = integration.decode(clock_token, "rivya")
        monkeypatch.setattr(time, "time", lambda: saved.due + 1)
        with pytest.raises(Reject) as info:
            poll._run(_Task(), "rivya", clock_token, "key")
    assert info.value.requeue is True


@pytest.mark.parametrize(("provider", "arguments"), [("sivi", {"bogus": 1}),
                                                     ("rivya", {"abstract_user_id": "u"})])
def test_start_with_an_argument_the_provider_takes_not_is_a_configuration_error(
        provider, arguments):
    app = _app()
    poll = register(app, on_done="d", client_factory=lambda p: genstatus_sync.RivyaClient(
        api_key="k", base_url="http://127.0.0.1:9") if p == "rivya" else genstatus_sync.SiviClient(
        api_key="k", base_url="http://127.0.0.1:9"))
    with pytest.raises(ConfigurationError, match="takes no argument"):
        poll.start(provider, "job", **arguments)
    assert _sent(app) == []


def test_on_sqs_countdowns_stay_below_half_its_visibility_timeout():
    app = celery.Celery("unit", broker="sqs://", set_as_current=False)
    assert register(app, on_done="d").max_countdown == 900


# -- found in the second review: content types, result backends, time limits ----------------

@pytest.mark.parametrize("accept", [["pickle"], ["yaml", "msgpack"]])
def test_an_app_that_accepts_no_json_is_a_configuration_error(accept):
    # its worker would refuse every run ("Refusing to deserialize untrusted content")
    with pytest.raises(ConfigurationError, match="accept_content"):
        register(_app(accept_content=accept), on_done="d")
    assert register(_app(accept_content=["pickle", "json"]), on_done="d")
    assert register(_app(accept_content=["application/json"]), on_done="d")


def test_a_result_backend_that_cannot_load_is_raised_before_the_wait_is_sent():
    # (a caller who tried start() again would have started a second wait)
    app = _app(result_backend="mongodb://127.0.0.1:1/")  # pymongo is not installed
    poll = register(app, on_done="d", client_factory=lambda provider:
                    genstatus_sync.RivyaClient(api_key="k", base_url="http://127.0.0.1:9"))
    with pytest.raises(celery.exceptions.ImproperlyConfigured, match="pymongo"):
        poll.start("rivya", "task-1")
    assert _sent(app) == []


def test_a_run_killed_at_its_hard_time_limit_goes_back_to_the_queue():
    task = register(_app(), on_done="d").task
    assert task.acks_on_failure_or_timeout is False
    if hasattr(celery.Task, "acks_on_timeout"):  # Celery 5.7 and later
        assert task.acks_on_timeout is False


# -- two registrations in one process ---------------------------------------------------------

def test_each_app_runs_its_own_registration():
    # a shared task (Celery's default) reached every app made later: the second app's worker
    # ran the first registration, with its on_done and its clients
    from genstatus_sync.testing import FakeProviders

    from .clock import Clock

    clock = Clock(now=time.time())
    outcomes = []
    with FakeProviders(api_key="k-two-apps") as fake:
        polls = []
        for label in ("first", "second"):
            app = _app(task_always_eager=True)
            app.finalize()  # (the tasks shared by apps before are in it now, not in any order)

            @app.task(name="tests.two_apps_done", shared=False)  # (this app's own)
            def done(status, key, label=label):
                outcomes.append((label, status["state"]))

            polls.append(register(app, on_done="tests.two_apps_done", client_factory=(
                lambda provider: fake.client(provider, clock=clock, sleep=clock.sleep))))
        for poll in reversed(polls):
            poll.start("rivya", fake.add_job("rivya", ["running", "succeeded"]))
    assert outcomes == [("second", "succeeded"), ("first", "succeeded")]


def test_a_second_registration_of_a_name_on_one_app_is_refused():
    # Celery keeps the first task under a name: the second call's options would be lost
    app = _app()
    register(app, on_done="d")
    with pytest.raises(ConfigurationError, match="already registered.*name="):
        register(app, on_done="other")
    assert register(app, on_done="other", name="genstatus_sync.poll_other").name == (
        "genstatus_sync.poll_other")

    @app.task(name="mine")
    def mine():
        pass

    app.finalize()
    with pytest.raises(ConfigurationError, match="'mine' is already registered"):
        register(app, on_done="d", name="mine")


# -- found in a third review: the app's own defaults against the polling task's --------------

def test_the_apps_annotations_cannot_change_the_options_a_wait_relies_on():
    # task_annotations are applied after a task's own options: {"*": {"max_retries": 3}}
    # ended every wait at its 4th run, without on_error
    app = _app(task_annotations={"*": {"max_retries": 3, "acks_late": False,
                                       "retry_on_worker_lost": True, "time_limit": 30}})
    poll = register(app, on_done="d")
    task = app.tasks[poll.name]
    assert (task.max_retries, task.acks_late, task.reject_on_worker_lost,
            task.retry_on_worker_lost, task.ignore_result) == (None, True, True, False, True)
    assert task.time_limit == 30  # the rest of the annotations apply


def test_an_app_that_deduplicates_successful_runs_is_refused():
    # a wait's runs share a task id and end in SUCCESS: a run delivered again was skipped
    with pytest.raises(ConfigurationError, match="worker_deduplicate_successful_tasks"):
        register(_app(worker_deduplicate_successful_tasks=True), on_done="d")
    # (Celery deduplicates only with a result backend it calls persistent, or none)
    assert register(_app(worker_deduplicate_successful_tasks=True, result_backend="rpc://"),
                    on_done="d")
    app = _app()
    poll = register(app, on_done="d", client_factory=lambda provider: genstatus_sync.RivyaClient(
        api_key="k", base_url="http://127.0.0.1:9"))
    app.conf.worker_deduplicate_successful_tasks = True  # configured after register
    with pytest.raises(ConfigurationError, match="worker_deduplicate_successful_tasks"):
        poll.start("rivya", "task-1")
    assert _sent(app) == []


def test_a_task_declared_before_register_under_its_name_is_refused_at_start():
    # (declared, not yet in the app: Celery kept the user's task and it got the waits)
    app = _app()
    ran = []

    @app.task(name="myproj.poll", shared=False)
    def mine(*args):
        ran.append(args)

    poll = register(app, on_done="d", name="myproj.poll", client_factory=lambda provider:
                    genstatus_sync.RivyaClient(api_key="k", base_url="http://127.0.0.1:9"))
    with pytest.raises(ConfigurationError, match="not this polling task"):
        poll.start("rivya", "task-1")
    assert _sent(app) == [] and ran == []


def test_an_immutable_signature_is_refused():
    # .si() drops the arguments it is called with: on_done would never get the status
    app = _app()

    @app.task(name="tests.job_done_si", shared=False)
    def job_done(*args):
        pass

    with pytest.raises(ConfigurationError, match="immutable"):
        register(app, on_done=job_done.si())
    with pytest.raises(ConfigurationError, match="immutable"):
        register(app, on_done="d", on_error=job_done.si(), name="other")
    assert register(app, on_done=job_done.s(), name="third")


def test_a_plain_function_as_a_callback_is_refused_and_tasks_are_taken():
    # a plain function was taken, sent as a task's name when its job ended, and the wait lost
    app = _app()

    def job_done(status, key):
        pass

    for bad in (job_done, lambda status, key: None, print, functools.partial(job_done, 1),
                type("Done", (), {})):
        with pytest.raises(ConfigurationError, match="must be a task name, a task or a "
                                                     "signature"):
            register(app, on_done=bad)
        with pytest.raises(ConfigurationError, match="must be a task name"):
            register(app, on_done="d", on_error=bad, name="other")
    with pytest.raises(ConfigurationError, match="decorate it with @app.task"):
        register(app, on_done=job_done)

    lazy = app.task(name="tests.job_done_lazy", shared=False)(job_done)  # before finalize
    assert register(app, on_done=lazy, on_error=lazy.s(), name="lazy")
    app.finalize()
    ready = app.task(name="tests.job_done_ready", shared=False)(job_done)
    assert register(app, on_done=ready, name="ready")


def test_an_eager_run_whose_on_done_cannot_be_sent_raises_it_to_the_caller():
    import kombu.exceptions

    # a name no task of the app has is sent to the broker, even eagerly; with none there the
    # run was put "back in the queue" (there is none) after a pause, and on_done never came
    from genstatus_sync.testing import FakeProviders

    from .clock import Clock

    app = celery.Celery("unit-eager", broker="redis://127.0.0.1:1/0", set_as_current=False)
    app.conf.update(task_always_eager=True, task_eager_propagates=True,
                    broker_connection_timeout=0.5, broker_connection_retry=False,
                    task_publish_retry=False)
    clock = Clock(now=time.time())
    with FakeProviders(api_key="k-eager-send") as fake:
        poll = register(app, on_done="tests.no_such_task", client_factory=lambda provider:
                        fake.client(provider, clock=clock, sleep=clock.sleep))
        with pytest.raises(kombu.exceptions.OperationalError):  # (not Celery's Reject)
            poll.start("rivya", fake.add_job("rivya", ["succeeded"]))


# -- found in a review of the integration on a real worker ----------------------------------

@pytest.mark.parametrize("signature", [
    lambda task: task.s(object()), lambda task: task.s({1, 2}),
    lambda task: task.s(extra=object()), lambda task: task.s().set(headers={"h": object()})])
def test_a_signature_whose_arguments_json_cannot_encode_is_refused_by_register(signature):
    # it was taken, and when the job ended the worker could not send on_done: the wait lost
    # (EncodeError in the worker's log, on_error never called)
    app = _app()

    @app.task(name="tests.done_unencodable", shared=False)
    def done(*args, **kwargs):
        pass

    with pytest.raises(ConfigurationError, match="on_done's signature cannot be sent as json"):
        register(app, on_done=signature(done))
    with pytest.raises(ConfigurationError, match="on_error's signature"):
        register(app, on_done="d", on_error=signature(done), name="other")
    assert register(app, on_done=done.s("/srv/out"), name="fine")  # (JSON takes a str)

    @app.task(name="tests.done_pickled", shared=False, serializer="pickle")
    def pickled(*args, **kwargs):
        pass

    # its task's own serializer sends it: taken (the app's JSON would refuse it)
    assert register(app, on_done=signature(pickled), name="pickled")


def test_an_error_of_the_workers_own_ends_the_wait_in_on_error_not_in_silence():
    # (a client_factory that reads a setting the worker lacks: KeyError) the run failed, was
    # rejected without requeue, and neither on_done nor on_error ever came
    from genstatus_sync.testing import FakeProviders

    app = _app(task_always_eager=True)
    reports = []

    @app.task(name="tests.failed_worker", shared=False)
    def failed(report, key):
        reports.append((report, key))

    def factory(provider):
        raise KeyError("proxy")

    with FakeProviders(api_key="k-worker-error") as fake:
        poll = register(app, on_done="tests.none", on_error="tests.failed_worker",
                        client_factory=factory)
        token = fake.client("rivya").wait_token(fake.add_job("rivya", ["succeeded"]))
        key = poll.resume("rivya", token)  # (made elsewhere: the run makes the first client)
    [(report, sent_key)] = reports
    assert sent_key == key and report["error"] == "KeyError" and report["last"] is None
    assert "error in the worker" in report["message"] and "proxy" not in report["message"]


def test_a_visibility_timeout_given_above_the_brokers_own_keeps_the_brokers():
    # register(visibility_timeout=3600) on a Redis whose option says 20: countdowns of 1,800 s
    # outlived the broker's 20, and every wait ran twice to its end
    app = _app(broker_transport_options={"visibility_timeout": 20})
    assert register(app, on_done="d", visibility_timeout=3600).max_countdown == 10
    assert register(_app(), on_done="d", visibility_timeout=100, name="n").max_countdown == 50


def test_a_soft_time_limit_outside_a_request_runs_the_step_again():
    # (a soft limit inside a request is the client's transient error; one that lands
    # elsewhere in a step is the worker's, and must not end the wait as an error)
    from celery.exceptions import SoftTimeLimitExceeded

    from genstatus_sync.testing import FakeProviders

    app = _app()
    reports = []

    @app.task(name="tests.failed_soft", shared=False)
    def failed(report, key):
        reports.append(report)

    def factory(provider):
        raise SoftTimeLimitExceeded()

    with FakeProviders(api_key="k-soft-limit") as fake:
        token = fake.client("rivya").wait_token(fake.add_job("rivya", ["succeeded"]))
    poll = register(app, on_done="tests.none", on_error="tests.failed_soft",
                    client_factory=factory)
    poll.task.push_request(id="run-1", called_directly=False, retries=0)  # as a worker's run
    try:
        poll._run(poll.task, "rivya", token, "the-key")
    finally:
        poll.task.pop_request()
    [(name, args, eta)] = _sent(app)
    assert name == "genstatus_sync.poll" and args == ["rivya", token, "the-key"]
    assert reports == []
