"""The JSON API under /api/v1: flask-smorest resources, their OpenAPI document and docs page.

``init_app`` brings the whole feature: the resources, the document at /api/v1/openapi.json
and the page at /api/v1/docs (``docs``).
{%- if cookiecutter.auth == "yes" %} With accounts, also personal access tokens: their page
on the account (``token_routes``), the ``Authorization: Bearer`` check (``bearer``) and
``flask users revoke-tokens``.
{%- endif %}

Errors under /api/v1 are problem details (``problems``); CORS (``cors``) and the
per-address throttle are the blueprint's hooks, so no other page pays for them.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, UnsupportedMediaType
{% if cookiecutter.auth == "yes" %}
from {{ cookiecutter.package_name }}.auth.cli import users_cli
from {{ cookiecutter.package_name }}.auth.signals import account_deleted
{%- endif %}
from {{ cookiecutter.package_name }}.core import errors
from {{ cookiecutter.package_name }}.core.csrf import csrf
from {{ cookiecutter.package_name }}.core.limiter import limiter, remote_address

{%- if cookiecutter.auth == "yes" %}

from . import resources, status, token_routes
from .bearer import SCHEME
{%- else %}

from . import status
{%- endif %}
from .blueprint import PREFIX, ProblemApi, blp, document_options, pagination_header_as_json
{%- if cookiecutter.auth == "yes" %}
from .cli import revoke_tokens_command
{%- endif %}
from .cors import allow_origin
from .docs import SPEC, pages
{%- if cookiecutter.auth == "yes" %}
from .models import forget_account
{%- endif %}
from .problems import render_problem

# Imported for their routes, which they add to the blueprint.
__all__ = ["init_app", {% if cookiecutter.auth == "yes" %}"resources", "status", "token_routes"{% else %}"status"{% endif %}]

BODY_METHODS = {"POST", "PUT", "PATCH"}


def throttle_address() -> None:
    """Every API request counts against its address's limit (tokens have their own)."""
    limiter.enforce(current_app.config["API_ADDRESS_RATE_LIMIT"], "api-address", remote_address())


def require_json() -> None:
    """A body the API is sent must be JSON (else a 415) within MAX_CONTENT_LENGTH (else a
    413), refused before the views' token checks, from its headers alone."""
    size = request.content_length
    if request.method not in BODY_METHODS or not size:
        return
    if request.max_content_length is not None and size > request.max_content_length:
        raise RequestEntityTooLarge()
    if not request.is_json:
        raise UnsupportedMediaType("The API takes JSON bodies (Content-Type: application/json).")


def render_api_error(error: HTTPException, code: int) -> Response:
    """A problem a listed origin may read, also where no API route was matched (an unknown
    path, a wrong method), so a browser's client sees the 404 or 405, not a CORS failure."""
    return allow_origin(render_problem(error, code))


blp.before_request(throttle_address)
blp.before_request(require_json)
blp.after_request(allow_origin)


def init_app(app: Flask) -> None:
    """Register the API, its document and pages; its errors answer as problem details."""
    api = ProblemApi(app, spec_kwargs=document_options(app.config["APP_NAME"]))
{%- if cookiecutter.auth == "yes" %}
    api.document_later(
        lambda spec: spec.components.security_scheme(SCHEME, {"type": "http", "scheme": "bearer"})
    )
{%- endif %}
    api.register_blueprint(blp)
    api.document_later(pagination_header_as_json)
    app.extensions[SPEC] = api
    app.register_blueprint(pages)
    # The API's own paths; other JSON under /api/ (a tour's example) keeps the core's errors.
    errors.render_path(app, PREFIX, render_api_error)
    # The API authenticates with a header a cross-site form cannot send, not with cookies.
    for endpoint, view in app.view_functions.items():
        if endpoint.startswith(f"{blp.name}."):
            csrf.exempt(view)
{%- if cookiecutter.auth == "yes" %}
    users_cli.add_command(revoke_tokens_command)
    account_deleted.connect(forget_account, app)
    # The account page links to the pages features add to it.
    app.extensions.setdefault("account_links", []).append(
        ("api_pages.tokens_list", "Personal access tokens")
    )
{%- endif %}
