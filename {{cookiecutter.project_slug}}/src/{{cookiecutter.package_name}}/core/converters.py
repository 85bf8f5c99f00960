"""URL converters registered on the app's url_map."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from werkzeug.routing import BaseConverter, Map


class RegexConverter(BaseConverter):
    """Match one path segment against the pattern given in the rule: ``<regex("[0-9]+"):id>``."""

    def __init__(self, url_map: Map, pattern: str) -> None:
        super().__init__(url_map)
        self.regex = pattern
        self._pattern = re.compile(pattern)

    def to_python(self, value: str) -> str:
        """Matched segments reach the view unchanged."""
        return value

    def to_url(self, value: Any) -> str:
        """Refuse to build a URL the same rule would not match."""
        text = str(value)
        if not self._pattern.fullmatch(text):
            raise ValueError(f"{text!r} does not match the URL pattern {self.regex!r}")
        return super().to_url(text)


def init_app(app: Flask) -> None:
    """Make ``regex`` usable in route rules."""
    app.url_map.converters["regex"] = RegexConverter
