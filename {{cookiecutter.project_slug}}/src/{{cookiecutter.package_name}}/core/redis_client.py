"""The one Redis client of the app, built from config, and what a Redis fault becomes: a 503.

Sessions and readiness go through one circuit breaker per app (``get_breaker()``), so a
hung Redis costs one socket timeout, not one per request. Any Redis error that reaches
Flask (out of memory, read-only replica, loading, wrong password, unreachable) is answered
by the 503 page with Retry-After and logged in one line: never a 500, never "logged out".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import redis
from flask import Flask, Response, current_app
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel
from werkzeug.exceptions import ServiceUnavailable

from .breaker import UNREACHABLE, CircuitBreaker, CircuitOpen
from .errors import render_error

SCHEMES = ("redis://", "rediss://", "unix://")

# Every Redis failure means "the store cannot serve this request now", as opposed to a bug
# in a view: OOM and READONLY answers included, not only a dead socket.
UNAVAILABLE = (redis.exceptions.RedisError,)


class RedisUnavailable(ServiceUnavailable):
    """Redis could not serve a request that needs it."""

    description = "This service is temporarily unavailable. Please try again in a few seconds."

    def __init__(self, description: str | None = None) -> None:
        retry_after = math.ceil(current_app.config["REDIS_BREAKER_RESET_SECONDS"])
        super().__init__(description, retry_after=retry_after)


def describe(error: redis.exceptions.RedisError) -> str:
    """A short cause for the log line: unreachable, or the error Redis answered with."""
    kind = "unreachable" if isinstance(error, UNREACHABLE) else "failing"
    return f"Redis is {kind} ({type(error).__name__}: {error})"


def client_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """Timeouts and one quick retry, set explicitly: redis-py's defaults differ by constructor.

    Only a dropped connection is retried (a failover, an idle socket closed): a timeout
    means a hung server, and waiting for it twice only doubles the wait.
    """
    return {
        "socket_timeout": config["REDIS_SOCKET_TIMEOUT"],
        "socket_connect_timeout": config["REDIS_CONNECT_TIMEOUT"],
        "retry": Retry(
            ExponentialBackoff(cap=0.1, base=0.01),
            config["REDIS_RETRIES"],
            supported_errors=(redis.exceptions.ConnectionError,),
        ),
        "health_check_interval": 30,
    }


def parse_sentinels(value: str) -> list[tuple[str, int]]:
    """``"host1:26379,host2:26379"`` -> [("host1", 26379), ("host2", 26379)]."""
    nodes = []
    for item in value.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"REDIS_SENTINELS entry {item!r} is not host:port")
        nodes.append((host, int(port)))
    return nodes


def build_client(config: Mapping[str, Any]) -> redis.Redis:
    """A client for REDIS_URL, or for the Sentinel master when REDIS_SENTINELS is set."""
    options = client_options(config)
    if config.get("REDIS_SENTINELS"):
        # redis-py's Sentinel is not annotated; master_for returns a redis.Redis.
        sentinel = Sentinel(parse_sentinels(config["REDIS_SENTINELS"]), **options)  # type: ignore[no-untyped-call]
        master: redis.Redis = sentinel.master_for(config["REDIS_SENTINEL_SERVICE"], **options)  # type: ignore[no-untyped-call]
        return master
    url = config.get("REDIS_URL") or ""
    if not url.startswith(SCHEMES):
        raise ValueError(
            f"REDIS_URL must start with one of {', '.join(SCHEMES)} (got {url or 'nothing'!r})"
        )
    return redis.Redis.from_url(url, **options)


def handle_redis_error(error: redis.exceptions.RedisError) -> Response:
    """The safety net: a Redis error from any view or hook (the limiter's too) is a 503.

    Calls made outside the breaker (the limiter has its own connection) still teach it
    that Redis is unreachable, so the session requests that follow fail fast.
    """
    if isinstance(error, UNREACHABLE) and not isinstance(error, CircuitOpen):
        get_breaker().record_failure()
    current_app.logger.error("%s: answering 503", describe(error))
    return render_error(RedisUnavailable())


def init_app(app: Flask) -> None:
    """Build the client and its breaker; it connects on first use, so this needs no server."""
    if not (app.config["REDIS_URL"] or app.config["REDIS_SENTINELS"]):
        raise ValueError("REDIS_URL is not set: the app keeps its sessions in Redis.")
    app.extensions["redis"] = build_client(app.config)
    app.extensions["redis_breaker"] = CircuitBreaker(
        app.config["REDIS_BREAKER_FAILURES"], app.config["REDIS_BREAKER_RESET_SECONDS"]
    )
    app.register_error_handler(redis.exceptions.RedisError, handle_redis_error)


def get_client() -> redis.Redis:
    """The current app's client."""
    client: redis.Redis = current_app.extensions["redis"]
    return client


def get_breaker() -> CircuitBreaker:
    """The current app's circuit breaker for Redis."""
    breaker: CircuitBreaker = current_app.extensions["redis_breaker"]
    return breaker
