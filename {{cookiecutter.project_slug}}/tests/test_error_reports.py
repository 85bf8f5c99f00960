"""Error reports: with SENTRY_DSN, one report per unhandled error, tagged with the request id,
and nothing a visitor sent as a secret in it (without it nothing of sentry-sdk is loaded:
test_factory.py).

The Sentry server is a stand-in: a small HTTP server taking the envelopes the SDK posts to
/api/<project id>/envelope/, kept as they arrived.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Blueprint, Flask

from {{ cookiecutter.package_name }}.config import load_config
from {{ cookiecutter.package_name }}.core.csrf import csrf

PROJECT_ID = "42"

# What the visitor sends to the failing page; none of it may reach a report.
SECRETS = {
    "cookie": "cookie-secret-4f1b",
    "password": "password-secret-9c2e",
    "csrf_token": "csrf-secret-77d0",
    "authorization": "authorization-secret-3a5a",
    "query": "query-secret-e81c",
    "body": "body-secret-0b6d",
}

failing = Blueprint("failing", __name__)


@failing.route("/api/failing", methods=["GET", "POST"])
@csrf.exempt
def failing_page() -> str:
    """A view with a bug."""
    raise RuntimeError("the failing page failed")


class SentryStandIn(ThreadingHTTPServer):
    """Sentry's envelope endpoint on a free loopback port, keeping each envelope's bytes."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), EnvelopeHandler)
        self.envelopes: list[bytes] = []

    @property
    def dsn(self) -> str:
        """The DSN of a project on this server, as Sentry shows one."""
        return f"http://public-key@127.0.0.1:{self.server_address[1]}/{PROJECT_ID}"

    def events(self) -> list[dict[str, Any]]:
        """The error events of the envelopes received (sessions and the like left aside)."""
        found = []
        for envelope in self.envelopes:
            lines = envelope.split(b"\n")
            for header, payload in zip(lines[1::2], lines[2::2], strict=False):
                if json.loads(header).get("type") == "event":
                    found.append(json.loads(payload))
        return found


class EnvelopeHandler(BaseHTTPRequestHandler):
    """POST /api/<project id>/envelope/, answered as Sentry does."""

    server: SentryStandIn

    def do_POST(self) -> None:
        """Keep the envelope, uncompressed."""
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path != f"/api/{PROJECT_ID}/envelope/":
            self.send_error(404)
            return
        self.server.envelopes.append(body)
        answer = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads what arrived, not a log of it."""


@pytest.fixture
def sentry() -> Iterator[SentryStandIn]:
    """The stand-in server; afterwards this process reports nothing any more."""
    server = SentryStandIn()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    import sentry_sdk

    sentry_sdk.get_client().close()
    sentry_sdk.init(dsn=None)
    server.shutdown()
    server.server_close()


@pytest.fixture
def reporting_app(make_app, sentry: SentryStandIn):
    """The app with SENTRY_DSN naming the stand-in, and a page that fails."""
    app = make_app(SENTRY_DSN=sentry.dsn, PROPAGATE_EXCEPTIONS=False)  # as in production
    app.register_blueprint(failing)
    return app


def received(sentry: SentryStandIn) -> list[dict[str, Any]]:
    """The events sent so far, once the SDK's queue has been emptied."""
    import sentry_sdk

    sentry_sdk.flush(timeout=10)
    return sentry.events()


def test_an_unhandled_error_is_reported_once_with_its_request_id(reporting_app, sentry):
    response = reporting_app.test_client().get("/api/failing")
    assert response.status_code == 500

    (event,) = received(sentry)
    assert event["tags"]["request_id"] == response.headers["X-Request-ID"]
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "RuntimeError"
    assert exception["value"] == "the failing page failed"
    assert event["request"]["method"] == "GET"
    assert event["request"]["url"].endswith("/api/failing")


def test_a_report_carries_no_cookie_password_token_or_body(reporting_app, sentry):
    client = reporting_app.test_client()
    client.set_cookie("{{ cookiecutter.package_name }}_session", SECRETS["cookie"])
    response = client.post(
        f"/api/failing?token={SECRETS['query']}&page=2",
        data={
            "username": "alice",
            "password": SECRETS["password"],
            "csrf_token": SECRETS["csrf_token"],
            "note": SECRETS["body"],
        },
        headers={"Authorization": f"Bearer {SECRETS['authorization']}"},
    )
    assert response.status_code == 500

    (event,) = received(sentry)
    envelope = b"".join(sentry.envelopes).decode()
    leaked = [name for name, secret in SECRETS.items() if secret in envelope]
    assert not leaked, f"the report holds the {leaked}"
    assert "alice" not in envelope
    assert event["request"]["query_string"] == "token=[Filtered]&page=[Filtered]"
    assert "Cookie" not in event["request"]["headers"]
    assert "cookies" not in event["request"] and "data" not in event["request"]


def test_a_handled_error_page_is_not_reported(reporting_app, sentry):
    assert reporting_app.test_client().get("/no-such-page").status_code == 404
    assert received(sentry) == []


@pytest.mark.parametrize("name", ["SENTRY_DSN", "FLASK_SENTRY_DSN"])
def test_the_dsn_is_read_with_or_without_the_flask_prefix(monkeypatch, name, tmp_path):
    dsn = "http://public-key@127.0.0.1:9/1"
    monkeypatch.setenv(name, dsn)
    app = Flask(__name__, instance_path=str(tmp_path))
    load_config(app, "testing")
    assert app.config["SENTRY_DSN"] == dsn
