"""The Celery app of tests/e2e/test_celery.py: imported by the test and by the worker it starts.

Configured from the environment: GS_TEST_BROKER_URL (the broker: a Redis or a RabbitMQ),
GS_TEST_REDIS_URL (where the user's tasks record what they get), GS_TEST_FAKE_URL and
GS_TEST_FAKE_KEY (the FakeProviders the clients talk to). The user's tasks record what they
get in Redis: every call, its key, and whether the key was new (the dedupe a user would do).
"""

import json
import os

import redis
from celery import Celery

import genstatus_sync as gs
from genstatus_sync._registry import client_class
from genstatus_sync.celery import register

# Seconds, not minutes, yet long next to a run's queueing delay on a busy 2-core machine
QUICK = gs.Backoff(first_delay=0.8, initial=1.0, multiplier=1.5, max_interval=3.0, jitter=0.1)
MAX_COUNTDOWN = 2.0  # below QUICK's longer delays: some runs come early and make no request

app = Celery("gs_test", broker=os.environ.get("GS_TEST_BROKER_URL", "redis://127.0.0.1:1/0"))
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    broker_transport_options={"visibility_timeout": 60},  # (Redis; RabbitMQ has none)
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    # a hard limit below the clients' own (2 s + 5 s): a run held by a slow reply is killed;
    # and the defaults for all tasks a project may have, which the polling task keeps its
    # own options against (3 retries would end a wait at its 4th run; a killed child's run
    # retried on worker loss would come back after 3 minutes, not at once)
    task_annotations={"genstatus_sync.poll": {"time_limit": 4},
                      "*": {"max_retries": 3, "retry_on_worker_lost": True}},
)


def make_client(provider):
    return client_class(provider)(api_key=os.environ["GS_TEST_FAKE_KEY"],
                                  base_url=os.environ["GS_TEST_FAKE_URL"], backoff=QUICK,
                                  timeout=(2.0, 5.0))


poll = register(app, on_done="gs_test.done", on_error="gs_test.error",
                client_factory=make_client, max_countdown=MAX_COUNTDOWN)

_redis = {}


def store():
    """A Redis client of this process (the worker's children are forked after import)."""
    pid = os.getpid()
    if pid not in _redis:
        _redis.clear()
        _redis[pid] = redis.Redis.from_url(os.environ["GS_TEST_REDIS_URL"])
    return _redis[pid]


@app.task(name="gs_test.done", shared=False, acks_late=True, reject_on_worker_lost=True)
def done(status, key):
    job = f"{status['provider']}:{status['job_id']}"
    r = store()
    r.hincrby("calls", job, 1)
    r.rpush(f"keys:{job}", key)
    if r.set(f"seen:{key}", 1, nx=True):  # the first call with this key is the one that counts
        r.hset("accepted", job, json.dumps(status))
    else:
        r.incr("duplicates")


@app.task(name="gs_test.error", shared=False, acks_late=True, reject_on_worker_lost=True)
def error(report, key):
    store().hset("errors", f"{report['provider']}:{report['job_id']}",
                 json.dumps({"report": report, "key": key}))
