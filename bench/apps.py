"""Reference apps for the benchmark, served by gunicorn with the same flags as the baked app."""

from __future__ import annotations

import importlib
import os

import redis
from flask import Flask, Response, jsonify, request, session
from flask_session import Session
from werkzeug.exceptions import BadRequest, UnsupportedMediaType


def raw_app(environ, start_response):
    """The floor: a WSGI callable and nothing else."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


bare_app = Flask("bare")


@bare_app.get("/")
def bare_hello() -> str:
    return "hello"


@bare_app.get("/json")
def bare_json_hello() -> Response:
    """The reference for an API read: a small JSON object, as jsonify makes it."""
    return jsonify(hello="world")


def read_write() -> Response:
    """The same request and view work as the baked app's POST /api/counter.

    The references serve it too, so a comparison is of the session layer and the app
    around it, not of the view.
    """
    if not request.is_json:
        raise UnsupportedMediaType("Send the request body as application/json.")
    payload = request.get_json(silent=True)
    by = payload.get("by", 1) if isinstance(payload, dict) else None
    if not isinstance(by, int) or isinstance(by, bool) or not 1 <= by <= 1000:
        raise BadRequest('Send {"by": n} with a whole number n from 1 to 1000.')
    session["count"] = session.get("count", 0) + by
    return jsonify(count=session["count"])


def read_only() -> Response:
    """The baked app's GET /api/counter: the session read, nothing written."""
    return jsonify(count=session.get("count", 0))


def make_stock(refresh_each_request: bool) -> Flask:
    """Flask + stock Flask-Session on Redis, as its documentation sets it up."""
    app = Flask("stock")
    app.config.update(
        SECRET_KEY="bench-secret-key-0123456789abcdef",
        SESSION_TYPE="redis",
        SESSION_REDIS=redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")),
        SESSION_REFRESH_EACH_REQUEST=refresh_each_request,
        SESSION_KEY_PREFIX="stock:",
    )
    Session(app)
    app.post("/rw")(read_write)
    app.get("/ro")(read_only)
    return app


stock_app = make_stock(refresh_each_request=True)
stock_norefresh_app = make_stock(refresh_each_request=False)


def floor_app(package: str) -> Flask:
    """Bare Flask with only the baked app's session interface: the design floor for sessions.

    The baked package's own settings loader and init functions configure it as
    ``create_app("production")`` does (the same environment, so the same Redis, key prefix,
    lifetimes and cookies), with none of the app's other extensions, hooks or middleware.
    Its counter routes sit where the baked app's are, so the same cookie fits both.
    gunicorn serves it as ``bench.apps:floor_app('<package>')``, the baked ``src`` on the path.
    """
    config, redis_client, sessions = (
        importlib.import_module(f"{package}.{name}")
        for name in ("config", "core.redis_client", "core.sessions")
    )
    app = Flask("floor")
    config.load_config(app, "production")
    redis_client.init_app(app)
    sessions.init_app(app)
    app.post("/api/counter")(read_write)
    app.get("/api/counter")(read_only)
    return app


class ConstantHeaders:
    """A WSGI layer that appends the same headers to every response, and does nothing else."""

    def __init__(self, wsgi_app, headers: list[tuple[str, str]]) -> None:
        self.wsgi_app = wsgi_app
        self.headers = headers

    def __call__(self, environ, start_response):
        added = self.headers

        def start(status, headers, exc_info=None):
            return start_response(status, headers + added, exc_info)

        return self.wsgi_app(environ, start)


def headers_floor_app(package: str) -> Flask:
    """The baked app without its WSGI middleware but sending the headers that middleware adds,
    as constants (``ConstantHeaders``): the least any middleware sending them can cost.

    The floor of the middleware target: gunicorn checks and writes every response header in
    Python, and the client reads them, so headers cost a served page even from a layer that
    does nothing else. gunicorn serves it as ``bench.apps:headers_floor_app('<package>')``.
    """
    app = importlib.import_module(package).create_app("production", {"WSGI_MIDDLEWARE": []})
    middleware = importlib.import_module(f"{package}.core.middleware")
    added = middleware.SecurityHeaders.from_config(app.wsgi_app, app.config).headers
    app.wsgi_app = ConstantHeaders(
        app.wsgi_app, [*added, ("X-Request-ID", middleware.new_request_id())]
    )
    return app
