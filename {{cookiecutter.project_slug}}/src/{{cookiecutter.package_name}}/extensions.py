"""Extension objects, created unbound here and bound to the app by ``init_app``."""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
# No default limits: routes opt in with @limiter.limit(...).
limiter = Limiter(key_func=get_remote_address)


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
