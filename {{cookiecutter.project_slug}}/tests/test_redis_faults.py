"""A Redis that answers with an error is a 503 page, never a 500 and never "logged out".

Each test runs its own redis-server and breaks it the way production Redis breaks: out of
memory with ``noeviction``, turned into a read-only replica, a password set, then mended.
"""

from __future__ import annotations

import logging
import time

import pytest

from {{ cookiecutter.package_name }}.core.dev_redis import free_port
from {{ cookiecutter.package_name }}.core.limiter import limiter
from {{ cookiecutter.package_name }}.core.redis_client import get_client

COUNTER = "/api/probe/counter"


@pytest.fixture
def faulty_app(make_app, private_redis):
    """The app on the private server, its breaker quick to retry so recovery is quick too."""
    server, _ = private_redis
    app = make_app(
        REDIS_URL=server.url, REDIS_BREAKER_RESET_SECONDS=0.2, PROPAGATE_EXCEPTIONS=False
    )

    @app.get("/api/test/write")
    def write():
        get_client().set("written-by-a-view", "1", ex=60)
        return "written"

    @app.get("/test/page")
    def page():
        get_client().set("written-by-a-page", "1", ex=60)
        return "<p>written</p>"

    @app.get("/api/test/limited")
    @limiter.limit("100 per minute", key_func=lambda: "faults")
    def limited():
        return "counted"

    return app


def assert_is_the_503_page(response) -> None:
    """The JSON 503 (the probe routes are under /api/), with Retry-After."""
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json["error"] == "Service Unavailable"


def assert_one_line_per_failure(caplog) -> None:
    """Logged as errors, without a traceback."""
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors
    assert all(record.exc_info is None for record in errors)


def until_ok(client, url: str, timeout: float = 5.0):
    """Request ``url`` until it answers 200 (the breaker may need a moment to close)."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(url)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


def test_out_of_memory_is_a_503_then_recovers(faulty_app, private_redis, caplog):
    _, admin = private_redis
    client = faulty_app.test_client()
    client.post(COUNTER, json={"by": 2})
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", 1)
    try:
        with caplog.at_level(logging.ERROR):
            assert_is_the_503_page(client.post(COUNTER, json={}))  # a session write
            assert_is_the_503_page(client.get("/api/test/write"))  # any other write
            assert_is_the_503_page(client.get("/api/test/limited"))  # the limiter's counter
            readiness = client.get("/readyz")
        assert readiness.status_code == 503
        assert readiness.json["redis"] == "refusing-writes"
        assert_one_line_per_failure(caplog)
        assert "OutOfMemoryError" in caplog.text
        # Reading still works, so nobody looks logged out.
        assert client.get(COUNTER).json == {"count": 2}
    finally:
        admin.config_set("maxmemory", 0)
    assert client.post(COUNTER, json={}).json == {"count": 3}
    assert client.get("/api/test/limited").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_a_read_only_replica_is_a_503_then_recovers(faulty_app, private_redis, caplog):
    _, admin = private_redis
    client = faulty_app.test_client()
    client.post(COUNTER, json={"by": 4})
    admin.replicaof("127.0.0.1", free_port())  # a master nobody runs: stays read-only
    try:
        with caplog.at_level(logging.ERROR):
            assert_is_the_503_page(client.post(COUNTER, json={}))
            assert_is_the_503_page(client.get("/api/test/limited"))
            assert client.get("/readyz").status_code == 503
        assert_one_line_per_failure(caplog)
        assert "ReadOnlyError" in caplog.text
    finally:
        admin.replicaof("NO", "ONE")
    assert client.post(COUNTER, json={}).json == {"count": 5}
    assert client.get("/readyz").status_code == 200


def test_a_password_the_app_does_not_know_is_a_503_then_recovers(faulty_app, private_redis, caplog):
    _, admin = private_redis
    client = faulty_app.test_client()
    client.post(COUNTER, json={"by": 1})
    admin.config_set("requirepass", "a-password-the-app-lacks")
    admin.client_kill_filter(_type="normal", skipme=True)  # the app must log in again
    try:
        with caplog.at_level(logging.ERROR):
            assert_is_the_503_page(client.get(COUNTER))  # a session read
            assert_is_the_503_page(client.post(COUNTER, json={}))
            assert client.get("/readyz").status_code == 503
        assert_one_line_per_failure(caplog)
        assert "AuthenticationError" in caplog.text
    finally:
        admin.config_set("requirepass", "")
    assert until_ok(client, "/readyz").status_code == 200
    assert client.get(COUNTER).json == {"count": 1}


def test_a_reply_that_came_too_late_never_answers_the_next_request(make_app, private_redis):
    """A session read that timed out while Redis was stalled: its answer arrives later, on
    the connection the session store keeps, and must not be taken for another's."""
    server, admin = private_redis
    app = make_app(
        REDIS_URL=server.url,
        REDIS_SOCKET_TIMEOUT=0.2,
        REDIS_BREAKER_RESET_SECONDS=0.2,
        PROPAGATE_EXCEPTIONS=False,
    )
    first, second = app.test_client(), app.test_client()
    first.post(COUNTER, json={"by": 2})
    second.post(COUNTER, json={"by": 7})
    admin.client_pause(600)  # the server holds every other client's commands, then answers
    assert_is_the_503_page(first.get(COUNTER))
    time.sleep(0.7)
    assert until_ok(second, COUNTER).json == {"count": 7}
    assert first.get(COUNTER).json == {"count": 2}


def test_html_pages_get_the_html_503(faulty_app, private_redis):
    _, admin = private_redis
    client = faulty_app.test_client()
    client.post(COUNTER, json={})
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", 1)
    try:
        response = client.get("/test/page", headers={"Accept": "text/html"})
    finally:
        admin.config_set("maxmemory", 0)
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    assert "Retry-After" in response.headers
    assert "503" in response.get_data(as_text=True)
