"""Filters and globals available in every template."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask, get_flashed_messages

from .sessions import SessionStoreUnavailable


def pluralize(count: int, singular: str, plural: str | None = None) -> str:
    """``n|pluralize("visit")`` in a template: "1 visit", "3 visits"."""
    word = singular if count == 1 else (plural or singular + "s")
    return f"{count} {word}"


def current_year() -> int:
    """The year, for footers."""
    return datetime.now(UTC).year


def flashed_messages() -> list[tuple[str, str]]:
    """The flashed messages with categories; none while Redis is down, so pages still render."""
    try:
        messages: list[tuple[str, str]] = get_flashed_messages(with_categories=True)  # type: ignore[assignment]
    except SessionStoreUnavailable:
        return []
    return messages


def init_app(app: Flask) -> None:
    """Register the filters and globals."""
    app.add_template_filter(pluralize)
    app.add_template_global(current_year)
    app.add_template_global(flashed_messages)
