"""Functions every template may call; features add their own filters on their blueprint."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask


def current_year() -> int:
    """The year, for footers."""
    return datetime.now(UTC).year


def init_app(app: Flask) -> None:
    """Make the functions above available in every template."""
    app.add_template_global(current_year)
