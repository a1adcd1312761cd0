import shutil
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
