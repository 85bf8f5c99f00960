"""Pages kept in memory for visitors who see them as everyone else does.

A view decorated with ``@kept_for_anonymous`` is rendered once per URL and cookies, and
served from memory after that, as long as the visitor would get the same page: nothing is
flashed for them, and no feature says the page is theirs (auth registers "a user is logged
in" with ``personal_when``). A rendered page is kept only when it showed nothing of the
visitor's own: no CSRF token, no cookie set, no session change, a plain 200.

The key is the full URL (scheme, host, script root, path and query) and the request's
cookies other than the session and CSRF ones (the theme, say), so a page may depend on
those; a page that reads other request headers must not use this. Each worker keeps its
own bounded copy, emptied when a new release starts.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, g, request, session
from flask.sansio.app import App

MAX_PAGES = 256
PERSONAL_CHECKS = "page_cache_personal"
PAGES = "page_cache"


def personal_when(app: App, check: Callable[[], bool]) -> None:
    """Register a test that the current visitor sees pages of their own (a login, a cart)."""
    app.extensions.setdefault(PERSONAL_CHECKS, []).append(check)


def is_personal() -> bool:
    """Whether this request's page could differ from the one everyone else gets."""
    if "_flashes" in session:  # Flask keeps flashed messages there until a page shows them
        return True
    return any(check() for check in current_app.extensions.get(PERSONAL_CHECKS, ()))


def page_key() -> tuple[Any, ...]:
    """What a kept page may depend on: the URL and the cookies that are not private."""
    config = current_app.config
    private = {config["SESSION_COOKIE_NAME"], config["CSRF_COOKIE_NAME"]}
    cookies = tuple(sorted(item for item in request.cookies.items() if item[0] not in private))
    return (request.endpoint, request.url, cookies)


def can_keep(response: Response) -> bool:
    """True for a page that showed nothing of the visitor's own."""
    return (
        response.status_code == 200
        and not response.is_streamed
        and "Set-Cookie" not in response.headers
        and "no-store" not in response.headers.get("Cache-Control", "")
        and not g.get("csrf_private")  # a form with this visitor's token
        and not session.modified
    )


def kept_for_anonymous(view: Callable[..., Any]) -> Callable[..., Any]:
    """Serve this GET view's page from memory to visitors who would get the same page."""

    @functools.wraps(view)
    def serve(*args: Any, **kwargs: Any) -> Any:
        if request.method != "GET" or is_personal():
            return view(*args, **kwargs)
        pages: dict[tuple[Any, ...], tuple[bytes, list[tuple[str, str]]]]
        pages = current_app.extensions.setdefault(PAGES, {})  # one cache per app
        key = page_key()
        kept = pages.get(key)
        if kept is not None:
            body, headers = kept
            return current_app.response_class(body, headers=headers)
        response = current_app.make_response(view(*args, **kwargs))
        if can_keep(response):
            if len(pages) >= MAX_PAGES:
                pages.clear()  # a flood of made-up URLs only empties the cache
            pages[key] = (response.get_data(), list(response.headers.items()))
        return response

    return serve
