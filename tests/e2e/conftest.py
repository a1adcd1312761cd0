import itertools
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def until(condition, timeout, what):
    """Wait for ``condition()`` to be true, checking every 50 ms; AssertionError after
    ``timeout`` seconds, saying ``what`` did not happen."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def redis_port():
    """The port of a redis-server (Debian's) started for the test session, without files;
    tests that need it skip where redis-server or redis-py is not installed."""
    server_path = shutil.which("redis-server")
    if server_path is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    redis = pytest.importorskip("redis", reason="redis-py is not installed "
                                                "(pip install -e '.[celery]')")
    port = free_port()
    server = subprocess.Popen([server_path, "--port", str(port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no", "--loglevel", "warning"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        client = redis.Redis(port=port)

        def answers():
            assert server.poll() is None, "redis-server exited"
            try:
                return client.ping()
            except redis.ConnectionError:
                return False

        until(answers, 10, "redis-server answers PING")
        yield port
    finally:
        server.terminate()
        server.wait(10)


_nodes = itertools.count()


@pytest.fixture(scope="module")
def amqp_url(tmp_path_factory):
    """The URL of a RabbitMQ (Debian's rabbitmq-server) started for the module on free ports,
    its files in a temporary folder, once it accepts a connection; it runs until the module's
    tests end (not through the rest of the session). Tests that need it skip where it is
    missing."""
    # Debian's /usr/sbin/rabbitmq-server runs the server as the rabbitmq user, with its files;
    # the script behind it runs it as this user, with the files here
    server_path = "/usr/lib/rabbitmq/bin/rabbitmq-server"
    if not os.access(server_path, os.X_OK):
        pytest.skip("rabbitmq-server is not installed (apt-get install rabbitmq-server)")
    kombu = pytest.importorskip("kombu", reason="kombu is not installed "
                                                "(pip install -e '.[celery]')")
    base = tmp_path_factory.mktemp("rabbitmq")
    port = free_port()
    node = f"gs-test-{os.getpid()}-{next(_nodes)}@localhost"
    env = {**os.environ, "HOME": str(base), "RABBITMQ_NODENAME": node,
           "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1", "RABBITMQ_NODE_PORT": str(port),
           "RABBITMQ_DIST_PORT": str(free_port()), "RABBITMQ_MNESIA_BASE": str(base / "db"),
           "RABBITMQ_LOG_BASE": str(base / "log"),
           "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
           # its schedulers do not spin when idle: the CPU is the tests' and the worker's
           "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "+sbwt none +sbwtdcpu none +sbwtdio none"}
    (base / "enabled_plugins").write_text("[].\n")
    server = subprocess.Popen([server_path], env=env, stdin=subprocess.DEVNULL,
                              stdout=(base / "server.log").open("wb"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    url = f"amqp://guest:guest@127.0.0.1:{port}//"
    try:
        def answers():
            assert server.poll() is None, ("rabbitmq-server exited:\n"
                                           + (base / "server.log").read_text(errors="replace"))
            try:
                with kombu.Connection(url, connect_timeout=1) as connection:
                    connection.connect()
                return True
            except OSError:
                return False

        until(answers, 60, "rabbitmq-server accepts a connection")
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
