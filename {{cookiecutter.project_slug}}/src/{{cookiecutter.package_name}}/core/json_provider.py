"""JSON for requests and responses: Flask's provider, refusing as bad input what parses as
JSON but breaks the app further on."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider

# No request of this app nests deeper; a deeper document is refused before any view sees it.
MAX_DEPTH = 64
# Half of a UTF-16 pair, as JSON's "\ud800" escape may write it: no UTF-8 text (no database
# column, no page) can hold it.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
NOT_TEXT = "The JSON document holds a string that is not text (a lone surrogate)."
TOO_DEEP = "The JSON document is nested too deeply."


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


def has_lone_surrogate(value: Any) -> bool:
    """Whether a string in ``value`` (a key or a value) holds a lone surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if LONE_SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def decode(document: bytes | bytearray) -> str:
    """The document's text, strictly (the standard parser lets UTF-8-encoded surrogates
    through); in UTF-8, else UTF-16 or 32 as the standard parser reads them, any byte order
    mark dropped. A UnicodeDecodeError is a ValueError: a 400."""
    try:
        text = document.decode()  # UTF-8, by far the commonest: no detection to pay for
    except UnicodeDecodeError:
        text = ""
    if not text or "\x00" in text[:4]:  # no JSON text starts with a NUL: UTF-16 or 32
        text = document.decode(json.detect_encoding(document))
    return text.removeprefix("\ufeff")


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, except that these are a 400: a document nested past MAX_DEPTH, and a
    string that is not text.

    The depth limit is ours, not the parser's: how deep the standard parser goes before it
    gives up depends on the Python version.
    """

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse JSON; what is refused is a ValueError, which request.get_json turns into a
        400 (or None when silent)."""
        if isinstance(s, bytes | bytearray):
            s = decode(s)
        elif LONE_SURROGATE.search(s):
            raise ValueError(NOT_TEXT)
        try:
            value = super().loads(s, **kwargs)
        except RecursionError as exc:
            raise ValueError(TOO_DEEP) from exc
        # Each level opens a bracket: a document with few of them is not walked.
        if s.count("[") + s.count("{") > MAX_DEPTH and nested_deeper_than(value, MAX_DEPTH):
            raise ValueError(TOO_DEEP)
        # Only an escape can make a lone surrogate now: most documents are not walked.
        if SURROGATE_ESCAPE.search(s) and has_lone_surrogate(value):
            raise ValueError(NOT_TEXT)
        return value


def init_app(app: Flask) -> None:
    """Use our provider for request.get_json, jsonify and the tojson filter."""
    app.json = JSONProvider(app)
