"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, current_app, jsonify
from flask.typing import ResponseReturnValue

from . import redis_client
from .breaker import UNREACHABLE, CircuitOpen

bp = Blueprint("health", __name__)

# Written with a short expiry on every readiness check: a Redis that is out of memory or a
# read-only replica still answers PING, but cannot keep a session.
PROBE_KEY_SUFFIX = "readyz"
PROBE_TTL_MS = 5000
ALIVE = b'{"status":"ok"}\n'


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up; touches neither Redis nor the session."""
    # A body written once: probes call this often, and it never changes.
    return current_app.response_class(ALIVE, mimetype="application/json")


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Ready to serve: Redis accepts a write (with its round-trip time)."""
    started = time.perf_counter()
    key = current_app.config["SESSION_KEY_PREFIX"] + PROBE_KEY_SUFFIX
    try:
        client = redis_client.get_client()
        redis_client.get_breaker().call(lambda: client.set(key, "1", px=PROBE_TTL_MS))
    except redis_client.UNAVAILABLE as exc:
        state = "refusing-writes"  # answered with an error: out of memory, read-only...
        if isinstance(exc, UNREACHABLE):
            state = "circuit-open" if isinstance(exc, CircuitOpen) else "unreachable"
        current_app.logger.error("Readiness check failed: %s", redis_client.describe(exc))
        retry_after = str(redis_client.retry_after_seconds())  # as every other 503 says
        return jsonify(status="unavailable", redis=state), 503, {"Retry-After": retry_after}
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    return jsonify(status="ok", redis="ok", redis_latency_ms=latency_ms), 200


def init_app(app: Flask) -> None:
    """Serve the probes at the root of the site."""
    app.register_blueprint(bp)
