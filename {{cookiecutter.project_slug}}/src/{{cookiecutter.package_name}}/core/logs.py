"""One logging setup for every environment: text in development, JSON lines in production.

Every record carries the request id (``-`` outside a request), and no line shows a mailed
link's token, but for a mail printed in development (no MAIL_SERVER) for its reader to open.
gunicorn's error and access logs use the same formatter and filters through
``gunicorn.conf.py``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Flask, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
# The fields a collector indexes; anything passed with ``extra=`` is added beside them.
JSON_FIELDS = "%(levelname)s %(name)s %(message)s %(request_id)s"
JSON_RENAMES = {"levelname": "level", "name": "logger"}
# gunicorn's access-log atoms that hold the URL: request line, path, query string.
URL_ATOMS = ("r", "U", "q")
# itsdangerous' signed tokens: payload, timestamp and signature, dot-separated base64url.
SIGNED_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{16,}")
REDACTED = "[token]"
# The ``event`` of a mail printed in development (no MAIL_SERVER): its link is for the
# developer to open, so it is shown whole.
MAIL_PRINTED = "mail_printed"


class RequestIDFilter(logging.Filter):
    """Put the request id (or "-" outside a request) on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keep the record; only annotate it."""
        if not hasattr(record, "request_id"):
            # The RequestID middleware has replaced any unsafe incoming value by now.
            record.request_id = (
                request.headers.get("X-Request-ID", "-") if has_request_context() else "-"
            )
        return True


class HideSignedTokens(logging.Filter):
    """A signed token in a message is replaced, as in the access log: Flask logs an error
    as "Exception on /auth/password/reset/<token> [POST]". A printed mail keeps its link."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keep the record; only hide tokens."""
        if getattr(record, "event", None) == MAIL_PRINTED:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format: logging's emit() reports it
            return True
        if SIGNED_TOKEN.search(message):
            record.msg, record.args = SIGNED_TOKEN.sub(REDACTED, message), None
        return True


class AccessLogFields(logging.Filter):
    """gunicorn access records: lift the request id and status out of the log atoms.

    The URL is logged with any signed token in it replaced: a mailed link (verify an
    address, reset a password) works for whoever reads it until it is used.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keep the record; only annotate it and hide tokens."""
        atoms: Any = record.args
        if isinstance(atoms, dict):
            record.request_id = atoms.get("{x-request-id}o", "-")
            record.status = atoms.get("s")
            record.duration_ms = atoms.get("M")
            for name in URL_ATOMS:
                if isinstance(atoms.get(name), str):
                    atoms[name] = SIGNED_TOKEN.sub(REDACTED, atoms[name])
        return True


def json_formatter() -> logging.Formatter:
    """One JSON object per line, ISO-8601 UTC time, our field names."""
    return JsonFormatter(JSON_FIELDS, rename_fields=JSON_RENAMES, timestamp="time")


def make_handler(log_format: str) -> logging.Handler:
    """A stderr handler in the configured format, tagging records with the request id."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIDFilter())
    handler.addFilter(HideSignedTokens())
    formatter = json_formatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    handler.set_name("app")
    return handler


def init_app(app: Flask) -> None:
    """Replace Flask's default handler with ours (once, even if the factory runs again)."""
    logger = app.logger
    for old in list(logger.handlers):
        logger.removeHandler(old)
    logger.addHandler(make_handler(app.config["LOG_FORMAT"]))
    logger.setLevel(logging.DEBUG if app.debug else logging.INFO)
    # JSON lines go to collectors once: a root handler (gunicorn's) must not repeat them.
    logger.propagate = app.config["LOG_FORMAT"] != "json"
