"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, current_app, jsonify

from . import redis_client

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up; touches neither Redis nor the session."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready to serve: Redis answers a PING (with its round-trip time)."""
    started = time.perf_counter()
    try:
        redis_client.get_client().ping()
    except redis_client.UNAVAILABLE as exc:
        current_app.logger.error("Readiness check failed, Redis is unreachable: %s", exc)
        return jsonify(status="unavailable", redis="unreachable"), 503
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    return jsonify(status="ok", redis="ok", redis_latency_ms=latency_ms), 200


def init_app(app: Flask) -> None:
    """Serve the probes at the root of the site."""
    app.register_blueprint(bp)
