"""Rate limits in Redis; a route opts in with ``@limiter.limit(...)``, the others pay nothing.

A limit is checked by its route's decorator when that route is called: there is no hook on
any other request. The counting is the ``limits`` library's fixed window on the app's own
Redis client and circuit breaker (``core.rate_counter``), so Sentinel, Cluster, the
timeouts and the 503 page apply to the counters as to the sessions.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from flask import current_app, request
from werkzeug.exceptions import TooManyRequests

if TYPE_CHECKING:
    from limits import RateLimitItem


def remote_address() -> str:
    """The default key: the client address (behind proxies, set PROXY_FIX so it is real)."""
    return request.remote_addr or "127.0.0.1"


def counter() -> ModuleType:
    """``core.rate_counter``, imported the first time anything is counted.

    Not imported with this module: ``limits`` loads all of its storage backends, which
    would add to the start-up of every process and every ``flask`` command.
    """
    from . import rate_counter

    return rate_counter


def parse(text: str) -> tuple[RateLimitItem, ...]:
    """``"10 per minute"`` (several joined by ";" or ",") as limits' items, smallest first."""
    items: tuple[RateLimitItem, ...] = counter().parse(text)
    return items


def too_many_requests(limit: RateLimitItem) -> TooManyRequests:
    """The 429, saying when to come back: at the latest when the limit's window ends."""
    return TooManyRequests(f"Too many requests: {limit}.", retry_after=limit.get_expiry())


class Limiter:
    """Per-route limits: the decorator counts its route's requests and refuses with a 429."""

    def identifiers(self, *parts: str) -> tuple[str, ...]:
        """Counter names under this app's RATELIMIT_KEY_PREFIX (apps may share a Redis)."""
        return (current_app.config["RATELIMIT_KEY_PREFIX"], *parts)

    def hit(self, limit: RateLimitItem, *parts: str) -> bool:
        """Count one request against ``limit``; False once it is over."""
        allowed: bool = counter().strategy.hit(limit, *self.identifiers(*parts))
        return allowed

    def test(self, limit: RateLimitItem, *parts: str) -> bool:
        """Whether one more request would be within ``limit``, counting nothing."""
        allowed: bool = counter().strategy.test(limit, *self.identifiers(*parts))
        return allowed

    def reset_time(self, limit: RateLimitItem, *parts: str) -> float:
        """When the current window of ``limit`` ends, in seconds since the epoch."""
        stats = counter().strategy.get_window_stats(limit, *self.identifiers(*parts))
        reset: float = stats.reset_time
        return reset

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
        """Count this request against its route's limits, per ``key_func()`` and endpoint."""
        text = limit_value() if callable(limit_value) else limit_value
        self.enforce(text, key_func(), request.endpoint or request.path, on_breach=on_breach)

    def enforce(
        self,
        text: str,
        *parts: str,
        on_breach: Callable[[RateLimitItem], None] | None = None,
    ) -> None:
        """Count one request against each limit in ``text`` under the counter ``parts``;
        raise the 429 at the first one over."""
        for limit in parse(text):
            if not self.hit(limit, *parts):
                current_app.logger.info("ratelimit %s exceeded for %s", limit, "/".join(parts))
                if on_breach is not None:
                    on_breach(limit)
                raise too_many_requests(limit)


limiter = Limiter()
