"""Rate limits in Redis; a route opts in with ``@limiter.limit(...)``, the others pay nothing.

The counting is the ``limits`` library's fixed window, on a storage that sends its commands
through the app's own Redis client and circuit breaker: Sentinel, Cluster, the timeouts and
the 503 page apply to the counters as to the sessions. There is no per-request hook: a limit
is checked by its route's decorator when that route is called.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import current_app, request
from limits import RateLimitItem, parse_many
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from . import redis_client

# limits' own Redis storage script: count, and start the window with the first hit.
INCR_EXPIRE = """
local current = redis.call("incrby", KEYS[1], ARGV[2])
if tonumber(current) == tonumber(ARGV[2]) then
    redis.call("expire", KEYS[1], ARGV[1])
end
return current
"""
# limits' own Redis storage prefix, so the keys are the ones its RedisStorage would write.
KEY_PREFIX = "LIMITS"


def remote_address() -> str:
    """The default key: the client address (behind proxies, set PROXY_FIX so it is real)."""
    return request.remote_addr or "127.0.0.1"


class AppRedisStorage(Storage):
    """limits' storage interface on the current app's Redis client, behind its breaker."""

    STORAGE_SCHEME = None  # built here, never from a URL

    @property
    def base_exceptions(self) -> tuple[type[Exception], ...]:
        """What the client raises when Redis fails."""
        return redis_client.UNAVAILABLE

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add to the counter of ``key``, starting its window if new; one round trip."""
        client, counter = redis_client.get_client(), prefixed(key)
        count = redis_client.guarded(
            lambda: client.eval(INCR_EXPIRE, 1, counter, expiry, amount), "count a rate limit"
        )
        return int(count)

    def get(self, key: str) -> int:
        """The counter of ``key`` (0 when its window is over)."""
        client = redis_client.get_client()
        return int(
            redis_client.guarded(lambda: client.get(prefixed(key)), "read a rate limit") or 0
        )

    def get_expiry(self, key: str) -> float:
        """When the window of ``key`` ends, in seconds since the epoch."""
        client = redis_client.get_client()
        seconds_left = redis_client.guarded(lambda: client.ttl(prefixed(key)), "read a rate limit")
        return time.time() + max(int(seconds_left), 0)

    def check(self) -> bool:
        """Whether Redis answers."""
        client = redis_client.get_client()
        return bool(redis_client.guarded(client.ping, "reach the rate limits"))

    def reset(self) -> int | None:
        """Not offered: it would scan every key of a shared Redis."""
        raise NotImplementedError("delete the counters one by one with clear()")

    def clear(self, key: str) -> None:
        """Delete the counter of ``key``."""
        client = redis_client.get_client()
        redis_client.guarded(lambda: client.delete(prefixed(key)), "clear a rate limit")


def prefixed(key: str) -> str:
    """The Redis key of a counter."""
    return f"{KEY_PREFIX}:{key}"


def too_many_requests(limit: RateLimitItem) -> TooManyRequests:
    """The 429, saying when to come back: at the latest when the limit's window ends."""
    return TooManyRequests(f"Too many requests: {limit}.", retry_after=limit.get_expiry())


class Limiter:
    """Per-route limits: the decorator counts its route's requests and refuses with a 429."""

    def __init__(self) -> None:
        self.strategy = FixedWindowRateLimiter(AppRedisStorage())

    def identifiers(self, *parts: str) -> tuple[str, ...]:
        """Counter names under this app's RATELIMIT_KEY_PREFIX (apps may share a Redis)."""
        return (current_app.config["RATELIMIT_KEY_PREFIX"], *parts)

    def hit(self, limit: RateLimitItem, *parts: str) -> bool:
        """Count one request against ``limit``; False once it is over."""
        return self.strategy.hit(limit, *self.identifiers(*parts))

    def test(self, limit: RateLimitItem, *parts: str) -> bool:
        """Whether one more request would be within ``limit``, counting nothing."""
        return self.strategy.test(limit, *self.identifiers(*parts))

    def reset_time(self, limit: RateLimitItem, *parts: str) -> float:
        """When the current window of ``limit`` ends, in seconds since the epoch."""
        return self.strategy.get_window_stats(limit, *self.identifiers(*parts)).reset_time

    def limit(
        self,
        limit_value: str | Callable[[], str],
        key_func: Callable[[], str] = remote_address,
        methods: Iterable[str] | None = None,
        on_breach: Callable[[RateLimitItem], None] | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorate a view: ``limit_value`` ("10 per minute", or a function returning it)
        counted per ``key_func()`` and endpoint, for the given methods (all if None)."""
        counted = {method.upper() for method in methods} if methods else None

        def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(view)
            def limited(*args: Any, **kwargs: Any) -> Any:
                if counted is None or request.method in counted:
                    self.check(limit_value, key_func, on_breach)
                return view(*args, **kwargs)

            return limited

        return decorate

    def check(
        self,
        limit_value: str | Callable[[], str],
        key_func: Callable[[], str],
        on_breach: Callable[[RateLimitItem], None] | None,
    ) -> None:
        """Count this request against each limit named; raise the 429 at the first over."""
        text = limit_value() if callable(limit_value) else limit_value
        key, scope = key_func(), request.endpoint or request.path
        for limit in sorted(parse_many(text)):
            if not self.hit(limit, key, scope):
                current_app.logger.info("ratelimit %s (%s) exceeded at %s", limit, key, scope)
                if on_breach is not None:
                    on_breach(limit)
                raise too_many_requests(limit)


limiter = Limiter()
