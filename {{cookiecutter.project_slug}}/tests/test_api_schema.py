"""The whole API against its own OpenAPI document, property-based (schemathesis): every
operation, {% if cookiecutter.auth == "yes" %}with a real token of a real account, {% endif %}on the app served over HTTP on
the test Redis{% if cookiecutter.auth == "yes" %} and each database{% endif %}. Each answer must be documented, conform to its schema and
never be a 5xx. Bounded: a few examples per operation, each with a deadline."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from werkzeug.serving import make_server
{%- if cookiecutter.auth == "yes" %}

from conftest import PASSWORD
from {{ cookiecutter.package_name }} import create_app
from {{ cookiecutter.package_name }}.api.docs import api_document
from {{ cookiecutter.package_name }}.api.tokens import issue
from {{ cookiecutter.package_name }}.auth.models import User, utcnow
from {{ cookiecutter.package_name }}.core.database import db
{%- else %}

from {{ cookiecutter.package_name }} import create_app
from {{ cookiecutter.package_name }}.api.docs import api_document
{%- endif %}

MAX_EXAMPLES = 15
# Milliseconds one example may take, request and checks together.
DEADLINE = 2000
# Enough for create_app to build an app: Redis is connected on first use, never here.
DOCUMENT_APP: dict[str, Any] = {
    "REDIS_URL": "redis://127.0.0.1:1",
{%- if cookiecutter.auth == "yes" %}
    "SQLALCHEMY_DATABASE_URI": "sqlite://",
{%- endif %}
}
{%- if cookiecutter.auth == "yes" %}
# The token of the test running (the ``token`` fixture's); each case sent carries it.
CURRENT: dict[str, str] = {}
{%- endif %}
# The served app answers for the address it listens on; throttles out of the way.
SERVED = {
    "TRUSTED_HOSTS": ["127.0.0.1"],
    "API_ADDRESS_RATE_LIMIT": "10000 per minute",
{%- if cookiecutter.auth == "yes" %}
    "API_TOKEN_RATE_LIMIT": "10000 per minute",
{%- endif %}
}
{%- if cookiecutter.auth == "yes" %}


@pytest.fixture
def served_app(make_auth_app, database_url) -> Iterator[Flask]:
    """The app to serve, on a fresh migrated database (SQLite, then PostgreSQL)."""
    app = make_auth_app(SQLALCHEMY_DATABASE_URI=None, DATABASE_URL=database_url, **SERVED)
    yield app
    with app.app_context():  # close its connections before the database is dropped
        app.extensions["sqlalchemy"].engine.dispose()
{%- else %}


@pytest.fixture
def served_app(make_app) -> Flask:
    """The app to serve."""
    return make_app(**SERVED)
{%- endif %}


@pytest.fixture
def served(served_app) -> Iterator[str]:
    """The app behind werkzeug's threaded server on a free port."""
    server = make_server("127.0.0.1", 0, served_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()
    server.server_close()
{%- if cookiecutter.auth == "yes" %}


@pytest.fixture
def token(served, served_app) -> str:
    """A read and write token of a verified account on the served app's database."""
    with served_app.app_context():
        user = User(username="alice", email="alice@example.com", verified_at=utcnow())
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
        CURRENT["token"] = issue(user.id, "schemathesis", ["read", "write"], 1)[1]
    return CURRENT["token"]
{%- endif %}


def built_document() -> dict[str, Any]:
    """The document, as an app of this code publishes it; building one connects nowhere."""
    app = create_app("testing", DOCUMENT_APP)
    with app.app_context():
        return api_document()


# Loaded when the tests are collected (schemathesis's fixture loader does not run on pytest
# 9); the served app is checked to publish this very document.
schema = schemathesis.openapi.from_dict(built_document())


def test_the_served_app_publishes_the_document_tested(served):
    assert requests.get(f"{served}/api/v1/openapi.json", timeout=5).json() == built_document()


{%- if cookiecutter.auth == "yes" %}


@schema.auth(refresh_interval=None)
class BearerToken:
    """The real token, on every case except those that leave it out on purpose (schemathesis
    then expects the 401)."""

    def get(self, case, context) -> str:
        return CURRENT.get("token", "")  # schemathesis asks once while collecting too

    def set(self, case, data: str, context) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
{%- endif %}


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=DEADLINE,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_keeps_to_the_document(case, served{% if cookiecutter.auth == "yes" %}, token{% endif %}):
    case.call_and_validate(base_url=served)
