"""JSON for requests and responses: Flask's provider, with deep nesting refused as bad input."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider

# No request of this app nests deeper; a deeper document is refused before any view sees it.
MAX_DEPTH = 64


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and objects in ``value`` nest past ``limit`` levels (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in item)
    return False


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, except that a document nested past MAX_DEPTH is a 400.

    The limit is ours, not the parser's: how deep the standard parser goes before it
    gives up depends on the Python version.
    """

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse JSON; ``[[[[...]]]]`` nested too deep is a ValueError, not a crash."""
        # request.get_json turns a ValueError into a 400 (or None when silent).
        try:
            value = super().loads(s, **kwargs)
        except RecursionError as exc:
            raise ValueError("The JSON document is nested too deeply.") from exc
        if nested_deeper_than(value, MAX_DEPTH):
            raise ValueError("The JSON document is nested too deeply.")
        return value


def init_app(app: Flask) -> None:
    """Use our provider for request.get_json, jsonify and the tojson filter."""
    app.json = JSONProvider(app)
