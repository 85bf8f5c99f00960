"""The ``url_for`` templates call: Flask's, remembering each URL it built per request root.

A page's links are the same on every request, and building each through Flask's
``url_for`` is a large part of the cost of rendering a page.
"""

from __future__ import annotations

import functools
from typing import Any

from flask import Flask, has_request_context, request, url_for

# Enough for every link of a large site; a flood of made-up Host headers only clears it.
URL_CACHE_SIZE = 4096


class URLCache:
    """Flask's ``url_for`` for templates, remembered per request root.

    A URL depends on the endpoint, its values (``_external`` and the other options
    included) and the URL adapter Flask binds to each request (scheme, host, script root,
    method), so those make the key: a prefix from ``SCRIPT_NAME`` or ProxyFix's
    ``X-Forwarded-Prefix`` gets its own entries. Anything that may depend on more goes
    straight to ``url_for``: rendering outside a request, ``.relative`` endpoints (they
    depend on the blueprint), unhashable values, and apps with ``url_defaults`` callbacks
    (their values can come from anywhere).
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.urls: dict[tuple[Any, ...], str] = {}

    def context(self) -> dict[str, Any]:
        """A context processor: this request's ``url_for``, its root read once per render."""
        if not has_request_context() or any(self.app.url_default_functions.values()):
            return {}
        environ = request.environ
        root = (
            environ["wsgi.url_scheme"],
            environ.get("HTTP_HOST"),
            environ.get("SERVER_NAME"),
            environ.get("SERVER_PORT"),
            environ.get("SCRIPT_NAME", ""),
            environ.get("REQUEST_METHOD"),
        )
        return {"url_for": functools.partial(self.url_for, root)}

    def url_for(self, root: tuple[Any, ...], endpoint: str, /, **values: Any) -> str:
        """The URL for ``endpoint``, built by Flask once per request root."""
        if endpoint[:1] == ".":
            return url_for(endpoint, **values)
        key: tuple[Any, ...] = (root, endpoint)
        for name, value in values.items():
            # The type too: 1, 1.0 and True are equal keys but different URLs.
            key += (name, type(value), value)
        try:
            return self.urls[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable value, such as a list of query values
            return url_for(endpoint, **values)
        url = url_for(endpoint, **values)
        if len(self.urls) >= URL_CACHE_SIZE:
            self.urls.clear()
        self.urls[key] = url
        return url


def init_app(app: Flask) -> None:
    """Give every template the remembering ``url_for``."""
    app.context_processor(URLCache(app).context)
