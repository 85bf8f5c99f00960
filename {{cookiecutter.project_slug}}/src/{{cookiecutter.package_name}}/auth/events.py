"""Security events: one log line each, with fields a collector can search.

The JSON formatter keeps the ``extra=`` fields beside the request id, so a line reads like
``{"message": "Failed login", "event": "login_failed", "username": "alice", ...}``.
Passwords, session ids, CSRF tokens and link tokens are never passed here.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, has_request_context

from {{ cookiecutter.package_name }}.core.limiter import remote_address


def security_event(event: str, message: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one security event with the client address (behind PROXY_FIX, the real one)."""
    if has_request_context():
        fields.setdefault("address", remote_address())
    current_app.logger.log(level, message, extra={"event": event, **fields})
