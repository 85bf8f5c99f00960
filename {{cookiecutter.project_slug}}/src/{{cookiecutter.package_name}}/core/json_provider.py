"""JSON for requests and responses: Flask's provider, with deep nesting refused as bad input."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, except that a document nested past Python's recursion limit is a 400."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse JSON; ``[[[[...]]]]`` a few thousand deep is a ValueError, not a crash."""
        try:
            return super().loads(s, **kwargs)
        except RecursionError as exc:
            # request.get_json turns a ValueError into a 400 (or None when silent).
            raise ValueError("The JSON document is nested too deeply.") from exc


def init_app(app: Flask) -> None:
    """Use our provider for request.get_json, jsonify and the tojson filter."""
    app.json = JSONProvider(app)
