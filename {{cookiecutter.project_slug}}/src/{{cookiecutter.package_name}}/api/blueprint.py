"""The ``api`` blueprint under /api/v1, and the ``Api`` that documents it.

Successful responses are ``application/json``; the documented errors are problem details
(``problems``), the content type ``Api`` gives every response that names none.
"""

from __future__ import annotations

from flask_smorest import Api, Blueprint

from .problems import PROBLEM, ProblemSchema

JSON = "application/json"
VERSION = "v1"
PREFIX = f"/api/{VERSION}"

blp = Blueprint("api", __name__, url_prefix=PREFIX, description="The JSON API, version 1.")


class ProblemApi(Api):
    """flask-smorest's Api documenting its errors as problem details.

    Its document is served by ``docs`` (no OPENAPI_URL_PREFIX: flask-smorest's own pages
    would load their scripts from a CDN).
    """

    ERROR_SCHEMA = ProblemSchema
    DEFAULT_RESPONSE_CONTENT_TYPE = PROBLEM


def document_options(app_name: str) -> dict[str, str]:
    """The OpenAPI document's title and versions, for ``ProblemApi(spec_kwargs=...)``."""
    return {"title": f"{app_name} API", "version": VERSION, "openapi_version": "3.1.0"}


def pagination_header_as_json(api: Api) -> None:
    """Document X-Pagination as the JSON document it is.

    flask-smorest gives the header a plain schema, which in OpenAPI means a comma-separated
    value; a header holding JSON is described with ``content``.
    """
    header = api.spec.components.headers.get("PAGINATION")
    if header is not None and "schema" in header:
        header["content"] = {JSON: {"schema": header.pop("schema")}}
