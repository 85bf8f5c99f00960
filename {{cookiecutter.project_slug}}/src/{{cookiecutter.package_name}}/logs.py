"""One logging setup for every environment: text in development, JSON lines in production."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from flask import Flask, has_request_context, request

from .middleware import REQUEST_ID_KEY

TEXT_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


class RequestIDFilter(logging.Filter):
    """Put the request id (or "-" outside a request) on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keep the record; only annotate it."""
        record.request_id = (
            request.environ.get(REQUEST_ID_KEY, "-") if has_request_context() else "-"
        )
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        """Serialize the fields a collector indexes."""
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def make_handler(log_format: str) -> logging.Handler:
    """A stderr handler in the configured format, tagging records with the request id."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIDFilter())
    formatter = JSONFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
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
