"""Reference apps for the benchmark, served by gunicorn with the same flags as the baked app."""

from __future__ import annotations

import os

import redis
from flask import Flask, Response, jsonify, request, session
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
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


# Bare Flask with Flask-Limiter set up as its documentation shows, and no limit anywhere:
# the floor for any app that rate-limits with it.
bare_limiter_app = Flask("bare_limiter")
bare_limiter_app.get("/")(bare_hello)
Limiter(key_func=get_remote_address, storage_uri="memory://").init_app(bare_limiter_app)


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

    @app.post("/rw")
    def read_write() -> Response:
        # The same request and view work as the baked app's POST /api/counter, so the
        # comparison is of the session layer and the app around it, not of the view.
        if not request.is_json:
            raise UnsupportedMediaType("Send the request body as application/json.")
        payload = request.get_json(silent=True)
        by = payload.get("by", 1) if isinstance(payload, dict) else None
        if not isinstance(by, int) or isinstance(by, bool) or not 1 <= by <= 1000:
            raise BadRequest('Send {"by": n} with a whole number n from 1 to 1000.')
        session["count"] = session.get("count", 0) + by
        return jsonify(count=session["count"])

    @app.get("/ro")
    def read_only() -> Response:
        return jsonify(count=session.get("count", 0))

    return app


stock_app = make_stock(refresh_each_request=True)
stock_norefresh_app = make_stock(refresh_each_request=False)
