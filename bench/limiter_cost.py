"""The baked app without Flask-Limiter's per-request hooks: a measurement, never served.

Flask-Limiter runs a before-request, an after-request and a teardown hook on every request,
also where no route limit applies. Served beside the real app, this copy prices those hooks
in `make bench`. Its rate limits do not work; nothing but the benchmark imports it.
"""

from __future__ import annotations

from typing import Any

from wsgi import app  # type: ignore[import-not-found]  # the baked project's, from its folder

(limiter,) = app.extensions["limiter"]


def is_the_limiters(hook: Any) -> bool:
    """A bound method of the limiter, or the partial it registers for its response headers."""
    return getattr(hook, "__self__", None) is limiter or limiter in getattr(hook, "args", ())


for hooks in (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs):
    for scope, functions in hooks.items():
        hooks[scope] = [hook for hook in functions if not is_the_limiters(hook)]
