"""CORS for the API only, off unless API_CORS_ORIGINS names the origins allowed.

An explicit allow-list, never a wildcard; no credentials are allowed, since the API
authenticates with bearer tokens, never with the session cookie. The hook is the API
blueprint's, so no other page pays for it.
"""

from __future__ import annotations

from flask import Response, current_app, request

ALLOWED_HEADERS = "Authorization, Content-Type"
EXPOSED_HEADERS = "X-Pagination, Retry-After, WWW-Authenticate"
# Seconds a browser may keep a preflight's answer.
PREFLIGHT_MAX_AGE = "600"


def allow_origin(response: Response) -> Response:
    """Let a listed origin read the response; answer its preflight."""
    origin = request.headers.get("Origin")
    response.vary.add("Origin")
    if not origin or origin not in current_app.config["API_CORS_ORIGINS"]:
        return response
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return response
    # Flask answers OPTIONS with the methods this URL takes (Allow): those, no others. An
    # unknown path has none, and its preflight gets nothing to go on.
    allow = response.headers.get("Allow")
    if allow:
        response.headers["Access-Control-Allow-Methods"] = allow
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return response
