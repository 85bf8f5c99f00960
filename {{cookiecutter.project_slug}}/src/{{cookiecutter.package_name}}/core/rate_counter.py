"""The counting behind ``core.limiter``: the limits library's fixed window on the app's Redis.

Imported by ``core.limiter`` the first time a limit is counted: limits loads every storage
backend it knows on import, a cost only the processes that count anything should pay.
"""

from __future__ import annotations

import functools
import time

from limits import RateLimitItem, parse_many
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter

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


class AppRedisStorage(Storage):
    """limits' storage interface on the current app's Redis client, behind its breaker."""

    STORAGE_SCHEME = None  # built here, never from a URL

    @property
    def base_exceptions(self) -> tuple[type[Exception], ...]:
        """What the client raises when Redis fails."""
        return redis_client.UNAVAILABLE

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add to the counter of ``key``, starting its window if new; one round trip."""
        count = redis_client.run_command(
            "count a rate limit", "EVAL", INCR_EXPIRE, 1, prefixed(key), expiry, amount
        )
        return int(count)

    def get(self, key: str) -> int:
        """The counter of ``key`` (0 when its window is over)."""
        return int(redis_client.run_command("read a rate limit", "GET", prefixed(key)) or 0)

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


strategy = FixedWindowRateLimiter(AppRedisStorage())


@functools.lru_cache(maxsize=64)
def parse(text: str) -> tuple[RateLimitItem, ...]:
    """``"10 per minute"`` (several joined by ";" or ",") as limits' items, smallest first.

    Kept per text: the texts come from a few settings, and parsing one costs 3-5 µs a check.
    """
    return tuple(sorted(parse_many(text)))
