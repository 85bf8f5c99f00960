"""Error pages: HTML for browsers, JSON for clients that ask for JSON."""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

# Headers that describe the error body itself; ours replaces it.
BODY_HEADERS = {"content-type", "content-length"}


def wants_json() -> bool:
    """True for API paths and clients that prefer JSON over HTML."""
    if request.path.startswith("/api/") or request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and (
        request.accept_mimetypes["application/json"] > request.accept_mimetypes["text/html"]
    )


def render_error(error: HTTPException) -> Response:
    """One page for every HTTP error, keeping headers such as Allow and Retry-After."""
    code = error.code or 500
    if wants_json():
        response = jsonify(error=error.name, status=code, description=error.description)
    else:
        response = Response(render_template("errors.html", error=error, code=code))
    response.status_code = code
    for name, value in error.get_headers():
        if name.lower() not in BODY_HEADERS:
            response.headers[name] = value
    return response


def handle_unexpected(error: InternalServerError) -> Response:
    """HTTP errors raised after the view (e.g. in an after-request hook) keep their status."""
    original = error.original_exception
    if isinstance(original, HTTPException):
        return render_error(original)
    return render_error(error)


def init_app(app: Flask) -> None:
    """Register the handlers."""
    app.register_error_handler(HTTPException, render_error)
    app.register_error_handler(InternalServerError, handle_unexpected)
