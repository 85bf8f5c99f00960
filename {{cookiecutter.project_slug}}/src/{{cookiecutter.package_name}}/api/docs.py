"""The API's documentation page, rendered on the server from its OpenAPI document.

No script and no asset from elsewhere: it works under the pages' Content-Security-Policy.
The document itself is at /api/v1/openapi.json.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template

from .blueprint import PREFIX

METHODS = ("get", "post", "put", "patch", "delete")
# Where init_app keeps the API (its ``spec``: the apispec document) in app.extensions.
SPEC = "api_spec"

# The API's HTML pages (this one{% if cookiecutter.auth == "yes" %}, and the account's tokens page{% endif %}).
pages = Blueprint("api_pages", __name__{% if cookiecutter.layout == "large" %}, template_folder="templates"{% endif %})


def operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Each operation of the document, in its order, with what the page shows of it."""
    listed = []
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                operation = item[method]
                scopes = [
                    scope for need in operation.get("security", []) for scope in need.values()
                ]
                listed.append(
                    {
                        "method": method.upper(),
                        "path": path,
                        "summary": operation.get("summary", ""),
                        "description": operation.get("description", ""),
                        "scopes": sorted({scope for group in scopes for scope in group}),
                        "parameters": operation.get("parameters", []),
                        "body": bool(operation.get("requestBody")),
                        "responses": sorted(operation.get("responses", {})),
                    }
                )
    return listed


def api_document() -> dict[str, Any]:
    """The OpenAPI document flask-smorest built from the resources and their schemas."""
    document: dict[str, Any] = current_app.extensions[SPEC].spec.to_dict()
    return document


@pages.route(f"{PREFIX}/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document."""
    return jsonify(api_document())


@pages.route(f"{PREFIX}/docs")
def docs() -> str:
    """Every operation, then every schema, from the document the API serves."""
    document = api_document()
    schemas = document.get("components", {}).get("schemas", {})
    return render_template(
        "api/docs.html", document=document, operations=operations(document), schemas=schemas
    )
