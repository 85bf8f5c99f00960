"""``Authorization: Bearer <token>`` on the API: who is asking, with which scopes.

Only the header counts: the session cookie is never read here, so a browser that is
logged in but sends no token gets the 401 like anyone else, and a cross-site request,
which cannot set the header, cannot act for its user (no CSRF token needed). A refusal
carries ``WWW-Authenticate`` as RFC 6750 spells it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NoReturn

from flask import current_app, g, request
from werkzeug.exceptions import Forbidden, HTTPException, Unauthorized

from {{ cookiecutter.package_name }}.auth.models import User
from {{ cookiecutter.package_name }}.core.limiter import limiter

from . import tokens
from .blueprint import blp
from .models import AccessToken

# The name of the security scheme in the OpenAPI document.
SCHEME = "bearerAuth"
REALM = "api"
# What a guarded operation may answer when refused, by flask-smorest's names (for these
# codes, in place of any response the view declares itself).
REFUSALS = {401: "UNAUTHORIZED", 403: "FORBIDDEN", 429: "TOO_MANY_REQUESTS"}

View = Callable[..., Any]


def refuse(error: type[HTTPException], code: str | None, detail: str, scope: str = "") -> NoReturn:
    """Raise ``error`` (401 or 403) with its Bearer challenge."""
    challenge = f'Bearer realm="{REALM}"'
    if code:
        challenge += f', error="{code}", error_description="{detail}"'
    if scope:
        challenge += f', scope="{scope}"'
    refused = error(detail)
    refused.data = {"headers": {"WWW-Authenticate": challenge}}  # type: ignore[attr-defined]
    raise refused


def presented_token() -> str | None:
    """The token in the Authorization header, if it is a Bearer one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def authenticate(scope: str) -> AccessToken:
    """The request's live token, which must hold ``scope``; counted against its throttle."""
    token = presented_token()
    if token is None:
        refuse(Unauthorized, None, "This endpoint needs a personal access token.")
    found = tokens.find(token)
    if found is None:
        refuse(Unauthorized, "invalid_token", "The token is unknown, expired or revoked.")
    row, g.api_user = found
    limiter.enforce(current_app.config["API_TOKEN_RATE_LIMIT"], "api-token", str(row.id))
    if scope not in row.scope_list:
        refuse(Forbidden, "insufficient_scope", f"This needs the {scope} scope.", scope)
    tokens.note_use(row)
    g.api_token = row
    return row


def token_user() -> User:
    """The owner of the request's token, in a view behind ``requires`` (loaded with it)."""
    user: User = g.api_user
    return user


def requires(scope: str) -> Callable[[View], View]:
    """Guard an API method with a token holding ``scope``, and document that."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            authenticate(scope)
            return view(*args, **kwargs)

        # One doc() for the scheme and the refusals: each alt_response() would deep-copy the
        # view's documentation, schemas and all, and add a wrapper every request goes through.
        documented: View = blp.doc(security=[{SCHEME: [scope]}], responses=REFUSALS)(guarded)
        return documented

    return decorate
