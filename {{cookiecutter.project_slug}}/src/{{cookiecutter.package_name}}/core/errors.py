"""Error pages: HTML for browsers, JSON for clients that ask for JSON."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable

from flask import Flask, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError, SecurityError

# Headers that describe the error body itself; ours replaces it.
BODY_HEADERS = {"content-type", "content-length"}
# Enough of a refused Host header to recognise it in the log.
LOGGED_HOST_LENGTH = 100


def wants_json() -> bool:
    """True for API paths and clients that prefer JSON over HTML."""
    if request.path.startswith("/api/") or request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and (
        request.accept_mimetypes["application/json"] > request.accept_mimetypes["text/html"]
    )


def untrusted_host() -> bool:
    """True when Flask refused the Host header (it is not in TRUSTED_HOSTS)."""
    return isinstance(request.routing_exception, SecurityError)


def render_untrusted_host() -> Response:
    """A 400 with one log line; the page has no links, as no URL can be built for the host."""
    host = request.headers.get("Host", "")[:LOGGED_HOST_LENGTH]
    current_app.logger.warning("Refused a request for host %r: it is not in TRUSTED_HOSTS", host)
    description = "This server does not answer for that host name."
    if wants_json():
        response = jsonify(error="Bad Request", status=400, description=description)
    else:
        response = Response(render_template("errors_bare.html", code=400, description=description))
    response.status_code = 400
    return response


def render_path(app: Flask, prefix: str, render: Callable[[HTTPException, int], Response]) -> None:
    """Errors of requests under ``prefix`` are rendered by ``render`` (an API's own format).

    The handler is registered again: an extension (flask-smorest's Api) may have replaced
    the app's, and this one keeps the HTML pages and hands ``prefix`` over.
    """
    app.extensions.setdefault("error_renderers", []).append((prefix, render))
    app.register_error_handler(HTTPException, render_error)


def path_renderer() -> Callable[[HTTPException, int], Response] | None:
    """The renderer a feature registered for this request's path, if any."""
    for prefix, render in current_app.extensions.get("error_renderers", ()):
        if request.path.startswith(prefix):
            return render  # type: ignore[no-any-return]
    return None


def render_error(error: HTTPException) -> Response:
    """One page for every HTTP error, keeping headers such as Allow and Retry-After."""
    if untrusted_host():
        return render_untrusted_host()
    code = error.code or 500
    render = path_renderer()
    if render is not None:
        response = render(error, code)
    elif wants_json():
        response = jsonify(error=error.name, status=code, description=error.description)
    else:
        response = Response(render_template("errors.html", error=error, code=code))
    response.status_code = code
    for name, value in error.get_headers():
        if name.lower() not in BODY_HEADERS:
            response.headers[name] = value
    return response


def handle_unexpected(error: InternalServerError) -> Response:
    """Errors raised after the view (in an after-request hook) keep their meaning.

    Flask sends those to the 500 handler: an HTTP error keeps its status, and any other
    error goes to the handler registered for it (a Redis failure is still the 503 page).
    """
    original = error.original_exception
    if isinstance(original, HTTPException):
        return render_error(original)
    if isinstance(original, Exception):
        # Without a handler for it, Flask raises it again: then it is the 500 page.
        with contextlib.suppress(Exception):
            return current_app.make_response(current_app.handle_user_exception(original))
    return render_error(error)


def become_error_page(app: Flask, response: Response, error: HTTPException) -> None:
    """Turn the response being finished into the page for ``error``, in place.

    Raising after the view would reach Flask as an unhandled exception: a traceback in the
    log for every request of an outage that is already logged in one line.
    """
    page = app.make_response(app.handle_http_exception(error))
    response.status = page.status
    response.headers = page.headers
    response.set_data(page.get_data())


def unreadable_body(error: Exception) -> Response:
    """The server could not read the body the client sent (a malformed chunk): a 400."""
    return render_error(BadRequest("The request body could not be read."))


def init_app(app: Flask) -> None:
    """Register the handlers.

    A request for another host needs no hook of its own: Flask refuses it while routing, so
    no view and no blueprint's hook runs for it, and its error reaches ``render_error``.
    """
    app.register_error_handler(HTTPException, render_error)
    app.register_error_handler(InternalServerError, handle_unexpected)
    # gunicorn raises these into the view that reads a body it cannot parse. It has loaded
    # them before it loads the app; importing them here would slow every other start-up.
    server_errors = sys.modules.get("gunicorn.http.errors")
    if server_errors is not None:
        for error in (server_errors.ParseException, server_errors.NoMoreData):
            app.register_error_handler(error, unreadable_body)
