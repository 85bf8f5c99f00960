"""The WSGI middleware stack: order, each built-in, user entries, bad entries."""

from __future__ import annotations

import json
import logging

import pytest
from flask import jsonify, request

from {{ cookiecutter.package_name }}.core.limiter import limiter
from {{ cookiecutter.package_name }}.core.middleware import RequestID, SecurityHeaders
from {{ cookiecutter.package_name }}.exceptions import ConfigurationError

PACKAGE = "{{ cookiecutter.package_name }}"


class Tag:
    """Test middleware: appends its name to a response header, to show the order."""

    name = "tag"

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        def start(status, headers, exc_info=None):
            headers = [(k, v) for k, v in headers if k != "X-Order"] + [
                ("X-Order", dict(headers).get("X-Order", "") + self.name + ";")
            ]
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


class Outer(Tag):
    name = "outer"


class Inner(Tag):
    name = "inner"


def test_request_id_is_generated_and_echoed(client):
    response = client.get("/healthz")
    assert len(response.headers["X-Request-ID"]) == 32


def test_sane_incoming_request_id_is_kept(client):
    response = client.get("/healthz", headers={"X-Request-ID": "edge-1234.abc"})
    assert response.headers["X-Request-ID"] == "edge-1234.abc"


@pytest.mark.parametrize("bad", ["has space", "x" * 200, "<script>", "new\\nline"])
def test_unsafe_incoming_request_id_is_replaced(client, bad):
    response = client.get("/healthz", headers={"X-Request-ID": bad})
    assert response.headers["X-Request-ID"] != bad
    assert len(response.headers["X-Request-ID"]) == 32


def test_security_headers(client):
    headers = client.get("/").headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "camera=()" in headers["Permissions-Policy"]
    assert "geolocation=()" in headers["Permissions-Policy"]
    assert "Strict-Transport-Security" not in headers


@pytest.mark.parametrize("path", ["/healthz", "/api/probe/plain", "/static/style.css", "/nope"])
def test_every_response_has_the_isolation_headers(client, path):
    response = client.get(path)
    response.close()
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response.headers["Permissions-Policy"]


def test_hsts_in_production(make_app):
    prod = make_app("production", SECRET_KEY="Ng8bW_aunYf2p0y5gppS2FEFFGTtaV9IpVMgXx1ltnY")
    headers = prod.test_client().get("/healthz").headers
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_first_entry_is_outermost(make_app):
    app = make_app(WSGI_MIDDLEWARE=[f"{__name__}.Outer", f"{__name__}.Inner"])
    # The innermost layer sees the response first, so it writes first.
    assert app.test_client().get("/healthz").headers["X-Order"] == "inner;outer;"


def test_user_middleware_from_config(make_app):
    default = make_app().config["WSGI_MIDDLEWARE"]
    app = make_app(WSGI_MIDDLEWARE=[*default, f"{PACKAGE}.core.middleware.ServerTiming"])
    assert app.test_client().get("/healthz").headers["Server-Timing"].startswith("app;dur=")


def test_bad_entry_fails_at_start_naming_it(make_app):
    with pytest.raises(ConfigurationError, match=r"'no\.such\.Middleware' cannot be imported"):
        make_app(WSGI_MIDDLEWARE=["no.such.Middleware"])


def remote_addr_app(make_app, proxy_fix):
    app = make_app(PROXY_FIX=proxy_fix)

    @app.get("/whoami")
    def whoami():
        return jsonify(addr=request.remote_addr, scheme=request.scheme)

    return app.test_client()


def test_forwarded_headers_are_ignored_by_default(make_app):
    client = remote_addr_app(make_app, {"x_for": 0})
    headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    assert client.get("/whoami", headers=headers).json == {"addr": "127.0.0.1", "scheme": "http"}


def test_proxy_fix_trusts_exactly_the_configured_hops(make_app):
    client = remote_addr_app(make_app, {"x_for": 1, "x_proto": 1})
    # The client forged the first address; the one proxy we trust appended the real one.
    headers = {"X-Forwarded-For": "10.6.6.6, 203.0.113.9", "X-Forwarded-Proto": "https"}
    assert client.get("/whoami", headers=headers).json == {
        "addr": "203.0.113.9",
        "scheme": "https",
    }


def test_middleware_command_prints_the_stack(runner, app):
    result = runner.invoke(args=["middleware"])
    lines = result.output.splitlines()
    assert lines[0] == app.config["WSGI_MIDDLEWARE"][0]
    assert lines[-1].strip() == "Flask app"


def test_log_lines_carry_the_request_id(make_app, capsys):
    app = make_app(LOG_FORMAT="json")

    @app.get("/log")
    def log():
        app.logger.info("hello from the view")
        return "ok"

    app.test_client().get("/log", headers={"X-Request-ID": "trace-42"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    entry = next(line for line in lines if line["message"] == "hello from the view")
    assert entry["request_id"] == "trace-42"
    assert entry["level"] == logging.getLevelName(logging.INFO)


def test_request_id_middleware_works_alone():
    """Each middleware is a plain WSGI class: no Flask needed to use or test it."""
    seen = {}

    def hello(environ, start_response):
        seen["id"] = environ["HTTP_X_REQUEST_ID"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hi"]

    app = RequestID(hello)
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured.update(headers)

    body = app({"HTTP_X_REQUEST_ID": "edge-7"}, start_response)
    assert list(body) == [b"hi"]
    assert seen["id"] == captured["X-Request-ID"] == "edge-7"


def answered_headers(wsgi_app, environ=None) -> list[tuple[str, str]]:
    """The headers a WSGI app (with its middleware) starts its response with."""
    captured: list[tuple[str, str]] = []

    def start_response(status, headers, exc_info=None):
        captured.extend(headers)

    wsgi_app(environ or {}, start_response)
    return captured


def app_setting(*headers: tuple[str, str]):
    """A WSGI app answering with these headers."""

    def answer(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), *headers])
        return [b"hi"]

    return answer


def test_an_id_the_app_set_is_replaced_by_the_requests_own():
    app = RequestID(app_setting(("x-request-id", "from-the-view"), ("Vary", "Cookie")))
    headers = answered_headers(app, {"HTTP_X_REQUEST_ID": "edge-8"})
    ids = [value for name, value in headers if name.lower() == "x-request-id"]
    assert ids == ["edge-8"]
    assert ("Vary", "Cookie") in headers


def test_a_security_header_the_view_set_is_kept_and_the_rest_added():
    own = ("content-security-policy", "default-src 'none'")
    headers = answered_headers(SecurityHeaders(app_setting(own, ("X-Frame-Options", "SAMEORIGIN"))))
    names = [name.lower() for name, _ in headers]
    assert len(names) == len(set(names))  # none twice
    assert own in headers
    assert ("X-Frame-Options", "SAMEORIGIN") in headers
    assert ("X-Content-Type-Options", "nosniff") in headers
    assert ("Cross-Origin-Opener-Policy", "same-origin") in headers


def test_a_decorated_route_is_throttled_in_redis(make_app, redis_conn):
    app = make_app()

    @app.get("/limited")
    @limiter.limit("2 per minute", key_func=lambda: "one-client")
    def limited():
        return "ok"

    client = app.test_client()
    responses = [client.get("/limited") for _ in range(3)]
    assert [response.status_code for response in responses] == [200, 200, 429]
    assert responses[2].headers["Retry-After"] == "60"  # at the latest, the window's end
    assert list(redis_conn.scan_iter(match="*one-client*"))  # counted in Redis
    # No X-RateLimit-* headers: they would cost a Redis read after the view.
    assert not [name for name, _ in responses[0].headers if name.startswith("X-RateLimit")]


@pytest.mark.parametrize("name", ["PROXY_FIX", "FLASK_PROXY_FIX"])
@pytest.mark.parametrize(
    ("value", "hops"),
    [('{"x_for": 1, "x_proto": 1}', {"x_for": 1, "x_proto": 1}), ("1", {"x_for": 1, "x_proto": 1})],
    ids=["json", "one-proxy"],
)
def test_proxy_fix_is_read_from_the_environment(monkeypatch, make_app, name, value, hops):
    monkeypatch.setenv(name, value)
    app = make_app()
    assert app.config["PROXY_FIX"] == hops

    @app.get("/whoami")
    def whoami():
        return jsonify(addr=request.remote_addr, scheme=request.scheme)

    headers = {"X-Forwarded-For": "10.6.6.6, 203.0.113.9", "X-Forwarded-Proto": "https"}
    response = app.test_client().get("/whoami", headers=headers)
    assert response.json == {"addr": "203.0.113.9", "scheme": "https"}


@pytest.mark.parametrize("value", ["yes", '{"x_forr": 1}', '{"x_for": -1}', '["x_for"]'])
def test_a_malformed_proxy_fix_fails_at_start_naming_it(monkeypatch, make_app, value):
    monkeypatch.setenv("PROXY_FIX", value)
    with pytest.raises(ConfigurationError, match=r"^PROXY_FIX \(.*\) is malformed"):
        make_app()
