"""Extension objects, created unbound here and bound to the app by ``init_app``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.globals import request_ctx
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect


class RouteLimiter(Limiter):
    """Flask-Limiter that costs nothing on requests where it has nothing to check.

    Limiter hooks every request: a check before the view, even when only a few routes carry
    ``@limiter.limit`` (those check themselves when called), and header and clean-up work
    after it. With no default, application, blueprint or meta limits the check finds
    nothing, and the later hooks only touch state a check leaves behind; together they cost
    about a quarter of a small request. Once any such limit is configured all run as usual.
    """

    def _check_request_limit(
        self, callable_name: str | None = None, in_middleware: bool = True
    ) -> None:
        if in_middleware and not self.has_app_wide_limits():
            return
        super()._check_request_limit(callable_name, in_middleware)

    def init_app(self, app: Flask) -> None:
        """Bind as usual, then skip the after-request hooks where no limit was checked."""
        super().init_app(app)
        for hooks in (app.after_request_funcs[None], app.teardown_request_funcs[None]):
            hooks[:] = [_after_a_check(hook) if self._owns(hook) else hook for hook in hooks]

    def _owns(self, hook: Callable[..., Any]) -> bool:
        """True for the hooks Limiter registered: bound to this limiter, or a partial of it."""
        return getattr(hook, "__self__", None) is self or getattr(hook, "args", ()) == (self,)

    def has_app_wide_limits(self) -> bool:
        """True if some limit applies beyond the decorated routes."""
        manager = self.limit_manager
        return bool(
            manager.default_limits
            or manager.application_limits
            or manager._blueprint_limits
            or self._meta_limits
        )


def _after_a_check(hook: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Run ``hook`` only if a limit was checked in this request, else pass its value on.

    ``hook`` is an after-request hook (response in, response out) or a teardown one.
    """

    @functools.wraps(hook)
    def guarded(value: Any) -> Any:
        # Limiter keeps its per-request state on the request context, made by the first check.
        if hasattr(request_ctx, "_limiter_request_context"):
            return hook(value)
        return value

    return guarded


csrf = CSRFProtect()
# No default limits: routes opt in with @limiter.limit(...).
limiter = RouteLimiter(key_func=get_remote_address)


def init_app(app: Flask) -> None:
    """Bind every extension; the limiter shares the app's Redis connection pool."""
    csrf.init_app(app)
    if not app.config.get("RATELIMIT_STORAGE_URI"):
        # With Sentinel there is no URL; the shared pool decides where commands go.
        app.config["RATELIMIT_STORAGE_URI"] = app.config["REDIS_URL"] or "redis://"
        app.config.setdefault(
            "RATELIMIT_STORAGE_OPTIONS",
            {"connection_pool": app.extensions["redis"].connection_pool},
        )
    limiter.init_app(app)
