"""Rate limits in Redis (Flask-Limiter); routes opt in with ``@limiter.limit(...)``.

The storage URI and its options are derived from REDIS_URL / REDIS_SENTINELS in
``config.derive``, so the counters live beside the sessions.
"""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

# No default limits: only the routes that name a limit are counted.
limiter = Limiter(key_func=get_remote_address)


def init_app(app: Flask) -> None:
    """Bind the limiter to the app's configuration."""
    limiter.init_app(app)
