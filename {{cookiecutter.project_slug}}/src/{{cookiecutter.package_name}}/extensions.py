"""Extension objects, created unbound here and bound to the app by ``init_app``."""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect


class RouteLimiter(Limiter):
    """Flask-Limiter without its app-wide check on requests where it has nothing to check.

    Limiter checks every request before the view, even when only a few routes carry
    ``@limiter.limit`` (those check themselves when called). With no default, application,
    blueprint or meta limits that check finds nothing, yet it costs about a third of a small
    request; once any such limit is configured it runs as usual.
    """

    def _check_request_limit(
        self, callable_name: str | None = None, in_middleware: bool = True
    ) -> None:
        if in_middleware and not self.has_app_wide_limits():
            return
        super()._check_request_limit(callable_name, in_middleware)

    def has_app_wide_limits(self) -> bool:
        """True if some limit applies beyond the decorated routes."""
        manager = self.limit_manager
        return bool(
            manager.default_limits
            or manager.application_limits
            or manager._blueprint_limits
            or self._meta_limits
        )


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
