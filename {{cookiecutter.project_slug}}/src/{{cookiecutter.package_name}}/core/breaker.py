"""A circuit breaker: after Redis stops answering, fail fast instead of waiting on sockets.

Closed, every call goes through. After ``failures`` unreachable-Redis errors in a row it
opens: calls fail at once with ``CircuitOpen`` for ``reset_seconds``. Then one call at a
time is let through as a probe (half-open); its success closes the breaker, its failure
opens it again. A Redis that answers with an error (OOM, READONLY) is reachable: that
error is passed on but does not open the breaker, since reads still work there.
One breaker per app and process, shared by every thread; ``on_change`` hears it open and
close (the metrics' gauge).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import redis

# Redis did not answer: the socket failed, timed out, or the server is not serving yet; or
# a cluster has no node for a slot, or none that answers (redis-py's cluster errors).
UNREACHABLE = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.RedisClusterException,
)


class CircuitOpen(redis.exceptions.ConnectionError):
    """Redis failed moments ago; this call was refused without trying."""


class CircuitBreaker:
    """Closed -> open after consecutive failures -> one probe at a time -> closed."""

    def __init__(
        self,
        failures: int,
        reset_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[bool], None] = lambda is_open: None,
    ) -> None:
        self.threshold = max(1, failures)
        self.on_change = on_change
        self.reset_seconds = reset_seconds
        self.clock = clock
        self.lock = threading.Lock()
        self.failures = 0
        self.opened_at: float | None = None
        self.probing = False

    @property
    def is_open(self) -> bool:
        """True while calls are refused (a probe in flight or the wait not over)."""
        with self.lock:
            return self.opened_at is not None and (
                self.probing or self.clock() - self.opened_at < self.reset_seconds
            )

    def allow(self) -> bool:
        """May a call go to Redis now? In the half-open state, only the first caller may."""
        with self.lock:
            if self.opened_at is None:
                return True
            if self.probing or self.clock() - self.opened_at < self.reset_seconds:
                return False
            self.probing = True
            return True

    def record_success(self) -> None:
        """Redis answered: close the breaker."""
        with self.lock:
            was_open = self.opened_at is not None
            self.failures = 0
            self.opened_at = None
            self.probing = False
        if was_open:
            self.on_change(False)

    def record_failure(self) -> None:
        """Redis did not answer: count it, and open (again) at the threshold."""
        with self.lock:
            opening = self.opened_at is None and self.failures + 1 >= self.threshold
            self.failures += 1
            self.probing = False
            if self.failures >= self.threshold:
                self.opened_at = self.clock()
        if opening:
            self.on_change(True)

    def release(self) -> None:
        """The call ended without telling anything about Redis: let another probe try."""
        with self.lock:
            self.probing = False

    def call(self, command: Callable[[], Any]) -> Any:
        """Run ``command`` against Redis, or raise ``CircuitOpen`` without trying."""
        if self.opened_at is not None and not self.allow():
            raise CircuitOpen("Redis failed recently; not trying again yet")
        try:
            result = command()
        except UNREACHABLE:
            self.record_failure()
            raise
        except redis.exceptions.RedisError:
            self.record_success()  # it answered, with an error: reachable
            raise
        except BaseException:
            self.release()
            raise
        if self.failures or self.opened_at is not None:
            self.record_success()
        return result
