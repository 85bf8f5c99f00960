"""Pages kept in memory for visitors who see them as everyone else does.

A view decorated with ``@kept_for_anonymous`` is rendered once per URL and cookies, and
served from memory after that, as long as the visitor would get the same page: nothing is
flashed for them, and no feature says the page is theirs (auth registers "a user is logged
in" with ``personal_when``). A rendered page is kept only when it showed nothing of the
visitor's own: no CSRF token, no cookie set, no session change, a plain 200.

The key is the full URL (scheme, host, script root, path and query, as the server passed
them) and the request's cookies other than the session and CSRF ones (the theme, say), so a
page may depend on those; a page that reads other request headers must not use this. Each
worker keeps its own bounded copy, emptied when a new release starts.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Flask, Request, Response, current_app, g, request, session
from flask.sansio.app import App

MAX_PAGES = 256
URL_PARTS = (
    "wsgi.url_scheme",
    "HTTP_HOST",
    "SERVER_NAME",
    "SERVER_PORT",
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
)
PERSONAL_CHECKS = "page_cache_personal"
PAGES = "page_cache"


def personal_when(app: App, check: Callable[[], bool]) -> None:
    """Register a test that the current visitor sees pages of their own (a login, a cart)."""
    app.extensions.setdefault(PERSONAL_CHECKS, []).append(check)


def is_personal(app: Flask) -> bool:
    """Whether this request's page could differ from the one everyone else gets."""
    if "_flashes" in session:  # Flask keeps flashed messages there until a page shows them
        return True
    return any(check() for check in app.extensions.get(PERSONAL_CHECKS, ()))


def page_key(app: Flask, current: Request) -> tuple[Any, ...]:
    """What a kept page may depend on: the URL and the cookies that are not private."""
    environ = current.environ
    cookies: tuple[tuple[str, str], ...] = ()
    if "HTTP_COOKIE" in environ:  # a first visit sends none: nothing to parse
        jar = current.cookies
        private = {app.config["SESSION_COOKIE_NAME"], app.config["CSRF_COOKIE_NAME"]}
        if not jar.keys() <= private:  # most visitors send only ours: nothing to sort
            cookies = tuple(sorted(item for item in jar.items() if item[0] not in private))
    # The URL's parts as the server passed them (after any proxy fix): building request.url
    # from them would cost more than the rest of a kept page.
    return (current.endpoint, tuple(map(environ.get, URL_PARTS)), cookies)


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
        # The objects behind the proxies (Flask's "Notes On Proxies"): looked up once here,
        # where a kept page spends most of its time.
        app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
        current: Request = request._get_current_object()  # type: ignore[attr-defined]
        if current.method != "GET" or is_personal(app):
            return view(*args, **kwargs)
        pages: dict[tuple[Any, ...], tuple[bytes, list[tuple[str, str]]]]
        pages = app.extensions.setdefault(PAGES, {})  # one cache per app
        key = page_key(app, current)
        kept = pages.get(key)
        if kept is not None:
            body, headers = kept
            # A list body: no set_data(), and the kept Content-Length is sent as it is.
            return app.response_class([body], headers=headers)
        response = app.make_response(view(*args, **kwargs))
        if can_keep(response):
            if len(pages) >= MAX_PAGES:
                pages.clear()  # a flood of made-up URLs only empties the cache
            pages[key] = (response.get_data(), list(response.headers.items()))
        return response

    return serve
