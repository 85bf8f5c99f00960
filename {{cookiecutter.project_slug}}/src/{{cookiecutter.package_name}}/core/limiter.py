"""Rate limits in Redis (Flask-Limiter); routes opt in with ``@limiter.limit(...)``.

The storage URI and its options are derived from REDIS_URL / REDIS_SENTINELS in
``config.derive``, so the counters live beside the sessions. Redis being unreachable while
a limit is checked gives the 503 page (``redis_client.handle_redis_error``).
"""

from __future__ import annotations

import threading
from typing import Any

import redis
from flask import Flask, Response
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits.storage import RedisClusterStorage, RedisSentinelStorage, Storage

from . import redis_client
from .errors import render_error

# No default limits: only the routes that name a limit are counted.
limiter = Limiter(key_func=get_remote_address)


class LazyRedisClusterStorage(Storage):
    """limits' Redis Cluster storage, built on first use: its client connects as it is built.

    ``config.derive`` names it as ``lazy+redis+cluster://...`` so that ``create_app`` opens
    no connection. It supports the fixed-window strategy (Flask-Limiter's default).
    """

    STORAGE_SCHEME = ["lazy+redis+cluster"]  # noqa: RUF012 - limits declares it a list

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        self.uri = uri.removeprefix("lazy+")
        self.options = options
        self.built: RedisClusterStorage | None = None
        self.lock = threading.Lock()

    @property
    def storage(self) -> RedisClusterStorage:
        """limits' own cluster storage, built now if this is the first use."""
        if self.built is None:
            with self.lock:
                if self.built is None:
                    try:
                        self.built = RedisClusterStorage(self.uri, **self.options)
                    except redis.exceptions.RedisClusterException as exc:
                        # No startup node answered: an outage like a refused connection (503).
                        raise redis.exceptions.ConnectionError(str(exc)) from exc
        return self.built

    @property
    def base_exceptions(self) -> tuple[type[Exception], ...]:
        """What the cluster client raises when it fails."""
        return redis_client.UNAVAILABLE

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add to the counter of ``key``, starting its window if new."""
        return self.storage.incr(key, expiry, amount)

    def get(self, key: str) -> int:
        """The counter of ``key``."""
        return self.storage.get(key)

    def get_expiry(self, key: str) -> float:
        """When the window of ``key`` ends."""
        return self.storage.get_expiry(key)

    def check(self) -> bool:
        """Whether the cluster answers."""
        return self.storage.check()

    def reset(self) -> int | None:
        """Delete every counter."""
        return self.storage.reset()

    def clear(self, key: str) -> None:
        """Delete the counter of ``key``."""
        self.storage.clear(key)


class TimedRedisSentinelStorage(RedisSentinelStorage):
    """limits' Sentinel storage, its connections to the sentinels timed out as the app's are.

    limits leaves those connections without a timeout unless given ``sentinel_kwargs``, an
    option the other storages refuse (and Flask-Limiter keeps storage options from one app
    to the next). So this storage makes them from the client options it is given.
    ``config.derive`` names it as ``timed+redis+sentinel://...`` for REDIS_SENTINELS.
    """

    STORAGE_SCHEME = ["timed+redis+sentinel"]  # noqa: RUF012 - limits declares it a list

    def __init__(self, uri: str, **options: Any) -> None:
        sentinels = redis_client.sentinel_options(options) | options.pop("sentinel_kwargs", {})
        super().__init__(uri.removeprefix("timed+"), sentinel_kwargs=sentinels, **options)


def too_many_requests(error: RateLimitExceeded) -> Response:
    """The 429 page says when to come back: at the latest when the limit's window ends.

    Flask-Limiter would read the exact time from Redis after the view (its headers, which
    are off); the window length needs no Redis call.
    """
    error.retry_after = error.retry_after or error.limit.limit.get_expiry()
    return render_error(error)


def init_app(app: Flask) -> None:
    """Bind the limiter to the app's configuration."""
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, too_many_requests)
