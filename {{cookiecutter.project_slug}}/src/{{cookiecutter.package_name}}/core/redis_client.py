"""The one Redis client of the app, built from config, and what a Redis fault becomes: a 503.

Every call a request makes (sessions, rate-limit counters, readiness) goes through one
circuit breaker per app and process (``guarded()``, ``get_breaker()``), so a hung Redis
costs each process its first timeouts, not one per request. Any Redis error that reaches
Flask (out of memory, read-only replica, loading, wrong password, unreachable) is answered
by the 503 page with Retry-After and logged in one line: never a 500, never "logged out".

REDIS_URL may name one server (redis://, rediss://, unix://) or a Redis Cluster
(redis+cluster://host:port[,host:port...]); REDIS_SENTINELS names Sentinels instead. A
cluster client connects as it is built, so every client is built on first use.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, cast
from urllib.parse import unquote, urlsplit

import redis
from flask import Flask, Response, current_app, has_app_context, has_request_context, request
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel
from werkzeug.exceptions import ServiceUnavailable

from . import metrics, redis_command
from .breaker import UNREACHABLE, CircuitBreaker, CircuitOpen
from .errors import render_error
from .redaction import hide_secrets, redact

SCHEMES = ("redis://", "rediss://", "unix://")
CLUSTER_SCHEME = "redis+cluster://"

# What the app talks to: one server (or a Sentinel's master), or a cluster.
Client = redis.Redis | RedisCluster

# Every Redis failure means "the store cannot serve this request now", as opposed to a bug
# in a view: OOM and READONLY answers included, not only a dead socket.
# A cluster raises errors of its own family when a slot has no live node (a master down,
# its replica not yet promoted) or when no node answers at all.
UNAVAILABLE = (redis.exceptions.RedisError, redis.exceptions.RedisClusterException)


class RedisUnavailable(ServiceUnavailable):
    """Redis could not serve a request that needs it."""

    description = "This service is temporarily unavailable. Please try again in a few seconds."
    # Counted among the session store's errors as well as Redis's (metrics).
    session_store = False

    def __init__(self, description: str | None = None) -> None:
        super().__init__(description, retry_after=retry_after_seconds())


def retry_after_seconds() -> int:
    """When to try again after a Redis failure: once the breaker lets a request through."""
    seconds: float = current_app.config["REDIS_BREAKER_RESET_SECONDS"]
    return math.ceil(seconds)


def describe(error: Exception) -> str:
    """A short cause for the log line: unreachable, or the error Redis answered with; a
    password of the configured URLs that the error quotes is shown as ***."""
    kind = "unreachable" if isinstance(error, UNREACHABLE) else "failing"
    urls = []
    if has_app_context():
        urls = [current_app.config["REDIS_URL"], current_app.config["REDIS_SENTINELS"]]
    return f"Redis is {kind} ({hide_secrets(f'{type(error).__name__}: {error}', *urls)})"


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


def sentinel_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """For the connections to the sentinels themselves: the client's timeouts, no retry.

    Left to redis-py, a dead sentinel is retried with growing back-off (seconds per
    request) when the client could simply ask the next one.
    """
    return {
        "socket_timeout": options.get("socket_timeout"),
        "socket_connect_timeout": options.get("socket_connect_timeout"),
        "retry": Retry(NoBackoff(), 0),
    }


def parse_sentinels(value: str) -> list[tuple[str, int]]:
    """``"host1:26379,host2:26379"`` -> [("host1", 26379), ("host2", 26379)]."""
    nodes = []
    for item in value.split(","):
        host, _, port = item.strip().rpartition(":")
        # A URL ("redis://:password@host:26379") would be read as a host name.
        if not host or not port.isdigit() or "@" in host or "/" in host:
            raise ValueError(f"REDIS_SENTINELS entry {redact(item)!r} is not host:port")
        nodes.append((host, int(port)))
    return nodes


class ClusterURL(NamedTuple):
    """The parts of a redis+cluster:// URL."""

    nodes: list[tuple[str, int]]
    username: str | None
    password: str | None


def parse_cluster_url(url: str) -> ClusterURL:
    """``redis+cluster://[user:password@]host:port[,host:port...]`` -> nodes and credentials."""
    usage = "REDIS_URL must be redis+cluster://[user:password@]host:port[,host:port...]"
    parts = urlsplit(url)
    if parts.scheme != "redis+cluster" or parts.path not in ("", "/") or parts.query:
        got = redact(url)
        raise ValueError(f"{usage} (a cluster has no database number or options; got {got!r})")
    credentials, _, hosts = parts.netloc.rpartition("@")
    username, _, password = credentials.partition(":")
    nodes = []
    for item in hosts.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{usage} (node {item!r} is not host:port)")
        nodes.append((host.strip("[]"), int(port)))
    return ClusterURL(nodes, unquote(username) or None, unquote(password) or None)


def build_cluster_client(config: Mapping[str, Any]) -> RedisCluster:
    """A Redis Cluster client; it connects to a node as it is built, to learn the slots."""
    url = parse_cluster_url(config["REDIS_URL"])
    options = client_options(config)
    try:
        return RedisCluster(
            # redis-py's ClusterNode is not annotated.
            startup_nodes=[ClusterNode(host, port) for host, port in url.nodes],  # type: ignore[no-untyped-call]
            username=url.username,
            password=url.password,
            socket_timeout=options["socket_timeout"],
            socket_connect_timeout=options["socket_connect_timeout"],
            retry=options["retry"],
        )
    except redis.exceptions.RedisClusterException as exc:
        # No startup node answered: the same outage as a refused connection, so a 503.
        raise redis.exceptions.ConnectionError(str(exc)) from exc


def build_client(config: Mapping[str, Any]) -> redis.Redis:
    """A client for REDIS_URL, or for the Sentinel master when REDIS_SENTINELS is set."""
    options = client_options(config)
    if config.get("REDIS_SENTINELS"):
        # redis-py annotates Sentinel only from 8.2 on, so older pins need the ignores.
        nodes = parse_sentinels(config["REDIS_SENTINELS"])
        sentinel = Sentinel(nodes, sentinel_kwargs=sentinel_options(options), **options)  # type: ignore[no-untyped-call, unused-ignore]
        master: redis.Redis = sentinel.master_for(config["REDIS_SENTINEL_SERVICE"], **options)  # type: ignore[no-untyped-call, unused-ignore]
        return master
    url = config.get("REDIS_URL") or ""
    if not url.startswith(SCHEMES):
        raise ValueError(
            f"REDIS_URL must start with one of {', '.join((*SCHEMES, CLUSTER_SCHEME))} "
            f"(got {redact(url) or 'nothing'!r})"
        )
    return redis.Redis.from_url(url, **options)


def is_cluster(config: Mapping[str, Any]) -> bool:
    """Whether the settings name a Redis Cluster (REDIS_SENTINELS wins over REDIS_URL)."""
    url: str = config.get("REDIS_URL") or ""
    return not config.get("REDIS_SENTINELS") and url.startswith(CLUSTER_SCHEME)


def check_settings(config: Mapping[str, Any]) -> None:
    """Raise ValueError if no client can be built from the settings; connects nowhere."""
    if is_cluster(config):
        parse_cluster_url(config["REDIS_URL"])
    else:
        build_client(config)


class LazyClient:
    """Holds the app's client and builds it on first use, once, whichever thread asks first."""

    def __init__(self, build: Callable[[], Client]) -> None:
        self.build = build
        self.client: Client | None = None
        self.lock = threading.Lock()
        # Each thread's own connection for the commands a request sends (``run_command``).
        self.connections = redis_command.ThreadConnections()

    def get(self) -> Client:
        """The client, built now if this is the first use (a failed build is tried again)."""
        if self.client is None:
            with self.lock:
                if self.client is None:
                    self.client = self.build()
        return self.client


def handle_redis_error(error: Exception) -> Response:
    """The safety net: a Redis error from any view or hook is a 503.

    A call made outside the breaker (a view using the client directly) still teaches it
    that Redis is unreachable, so the requests that follow fail fast.
    """
    if isinstance(error, UNREACHABLE) and not isinstance(error, CircuitOpen):
        get_breaker().record_failure()
    metrics.count_redis_error(error, session_store=False)
    current_app.logger.error("%s: answering 503", describe(error))
    return render_error(RedisUnavailable())


def init_app(app: Flask) -> None:
    """Build the client and its breaker; it connects on first use, so this needs no server."""
    if not (app.config["REDIS_URL"] or app.config["REDIS_SENTINELS"]):
        raise ValueError("REDIS_URL is not set: the app keeps its sessions in Redis.")
    if is_cluster(app.config):
        parse_cluster_url(app.config["REDIS_URL"])  # a malformed URL fails start-up, not a request
        config = app.config
        app.extensions["redis"] = LazyClient(lambda: build_cluster_client(config))
    else:
        client = build_client(app.config)  # redis.Redis connects on its first command
        app.extensions["redis"] = LazyClient(lambda: client)
    app.extensions["redis_breaker"] = CircuitBreaker(
        app.config["REDIS_BREAKER_FAILURES"],
        app.config["REDIS_BREAKER_RESET_SECONDS"],
        on_change=metrics.breaker_changed,
    )
    for error in UNAVAILABLE:
        app.register_error_handler(error, handle_redis_error)


def get_client() -> redis.Redis:
    """The current app's client, built now if this is its first use.

    Typed redis.Redis for its callers: a RedisCluster answers the same single-key commands
    and single-key pipelines, which is all the app sends.
    """
    holder: LazyClient = current_app.extensions["redis"]
    return cast(redis.Redis, holder.get())


def guarded(
    command: Callable[[], Any],
    task: str,
    unavailable: type[RedisUnavailable] = RedisUnavailable,
) -> Any:
    """Run one Redis call behind the breaker; Redis failing is the 503 page, logged once
    as "Redis is unreachable (...): cannot <task>"."""
    refused = False  # by the open breaker: no round trip
    try:
        return get_breaker().call(command)
    except UNAVAILABLE as exc:
        refused = isinstance(exc, CircuitOpen)
        metrics.count_redis_error(exc, unavailable.session_store)
        current_app.logger.error("%s: cannot %s", describe(exc), task)
        raise unavailable() from exc
    finally:
        if not refused and has_request_context():
            metrics.count_round_trip(request.environ)


def run_command(
    task: str, *args: Any, unavailable: type[RedisUnavailable] = RedisUnavailable
) -> Any:
    """One command on the current app's Redis, on this thread's connection, behind the
    breaker; Redis's raw answer (bytes, an int, or None)."""
    holder: LazyClient = current_app.extensions["redis"]
    return guarded(
        lambda: redis_command.run(holder.get(), holder.connections, *args), task, unavailable
    )


def get_breaker() -> CircuitBreaker:
    """The current app's circuit breaker for Redis."""
    breaker: CircuitBreaker = current_app.extensions["redis_breaker"]
    return breaker
