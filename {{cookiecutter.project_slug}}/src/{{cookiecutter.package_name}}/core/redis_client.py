"""The one Redis client of the app, built from config: sessions and health checks use it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis
from flask import Flask, current_app
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

SCHEMES = ("redis://", "rediss://", "unix://")

# The errors that mean "Redis is unreachable right now", as opposed to a bug.
UNAVAILABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def client_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """Timeouts and one quick retry, set explicitly: redis-py's defaults differ by constructor."""
    return {
        "socket_timeout": config["REDIS_SOCKET_TIMEOUT"],
        "socket_connect_timeout": config["REDIS_CONNECT_TIMEOUT"],
        "retry": Retry(ExponentialBackoff(cap=0.1, base=0.01), config["REDIS_RETRIES"]),
        "retry_on_error": list(UNAVAILABLE),
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


def init_app(app: Flask) -> None:
    """Build the client once; it connects on first use, so building it needs no server."""
    if not (app.config["REDIS_URL"] or app.config["REDIS_SENTINELS"]):
        raise ValueError("REDIS_URL is not set: the app keeps its sessions in Redis.")
    app.extensions["redis"] = build_client(app.config)


def get_client() -> redis.Redis:
    """The current app's client."""
    client: redis.Redis = current_app.extensions["redis"]
    return client
