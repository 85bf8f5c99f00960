"""The ``api`` blueprint under /api/v1, and the ``Api`` that documents it.

Successful responses are ``application/json``; the documented errors are problem details
(``problems``), the content type ``Api`` gives every response that names none.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import marshmallow as ma
from apispec import APISpec
from flask import Flask, Request, current_app
from flask_smorest import Api, Blueprint
from flask_smorest.spec import openapi_cli
from webargs.core import missing
from webargs.flaskparser import FlaskParser, abort, is_json_request

from .problems import PROBLEM, ProblemSchema

JSON = "application/json"
VERSION = "v1"
PREFIX = f"/api/{VERSION}"


class JSONBodyParser(FlaskParser):
    """webargs' parser, reading JSON bodies through the app's JSON provider.

    webargs parses a body with the standard library itself and makes only bad syntax a
    400: a document nested too deep, an integer too long to convert or a string with a
    lone surrogate (which no database stores) was a 500. ``core.json_provider`` refuses all
    three, as it does for ``request.get_json``.
    """

    def load_json(self, req: Request, schema: ma.Schema) -> Any:
        """The body's document, or ``missing`` when there is no JSON body (as webargs)."""
        if not is_json_request(req):
            return missing
        body = req.get_data(cache=True)
        if not body:
            return missing
        try:
            return current_app.json.loads(body)
        except ValueError as error:  # bad syntax and bad UTF-8 are ValueErrors too
            abort(400, exc=error, messages={"json": ["Invalid JSON body."]})


class ApiBlueprint(Blueprint):
    """flask-smorest's blueprint, its arguments read by ``JSONBodyParser``."""

    ARGUMENTS_PARSER = JSONBodyParser()


blp = ApiBlueprint("api", __name__, url_prefix=PREFIX, description="The JSON API, version 1.")


class ProblemApi(Api):
    """flask-smorest's Api documenting its errors as problem details, its document built
    when first read.

    flask-smorest builds the OpenAPI document as the app is made (a component for every
    HTTP status, every view's schemas): about 5 ms of every worker's and every ``flask``
    command's start-up, for a document few processes serve. Here the routes are registered
    at once, and the document is built by its first reader (``docs``, ``flask openapi``),
    in the same steps and order. Its document is served by ``docs`` (no OPENAPI_URL_PREFIX:
    flask-smorest's own pages would load their scripts from a CDN).
    """

    ERROR_SCHEMA = ProblemSchema
    DEFAULT_RESPONSE_CONTENT_TYPE = PROBLEM

    def __init__(self, app: Flask, *, spec_kwargs: dict[str, Any]) -> None:
        self._document: APISpec | None = None
        self._options: dict[str, Any] | None = None
        self._steps: list[Callable[[APISpec], object]] = []
        self._built = self._building = False
        self._lock = threading.RLock()  # the build itself reads ``spec``
        super().__init__(app, spec_kwargs=spec_kwargs)

    @property
    def spec(self) -> APISpec | None:
        """The document, built now if this is its first reader (others wait for it)."""
        if self._built or self._options is None:
            return self._document
        with self._lock:
            if not (self._built or self._building):
                self._building = True
                try:
                    super()._init_spec(**self._options)
                    document = self._document
                    assert document is not None  # noqa: S101 - _init_spec sets it
                    for step in self._steps:
                        step(document)
                    self._built = True
                finally:
                    self._building = False
            return self._document

    @spec.setter
    def spec(self, document: APISpec | None) -> None:
        self._document = document

    def _init_spec(self, **options: Any) -> None:
        self._options = options  # flask-smorest's init_app builds here: wait for a reader
        self._app.cli.add_command(openapi_cli)  # as flask-smorest's own build does

    def document_later(self, step: Callable[[APISpec], object]) -> None:
        """Add ``step(spec)`` to the document's build, after those added before it."""
        self._steps.append(step)

    def register_blueprint(
        self, blp: Blueprint, *, parameters: list[Any] | None = None, **options: Any
    ) -> None:
        """Register the routes now and document them with the rest (as flask-smorest does)."""
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)

        def document(spec: APISpec) -> None:
            blp.register_views_in_doc(self, self._app, spec, name=name, parameters=parameters)
            spec.tag({"name": name, "description": blp.description})

        self.document_later(document)


def document_options(app_name: str) -> dict[str, str]:
    """The OpenAPI document's title and versions, for ``ProblemApi(spec_kwargs=...)``."""
    return {"title": f"{app_name} API", "version": VERSION, "openapi_version": "3.1.0"}


def pagination_header_as_json(spec: APISpec) -> None:
    """Document X-Pagination as the JSON document it is.

    flask-smorest gives the header a plain schema, which in OpenAPI means a comma-separated
    value; a header holding JSON is described with ``content``.
    """
    header = spec.components.headers.get("PAGINATION")
    if header is not None and "schema" in header:
        header["content"] = {JSON: {"schema": header.pop("schema")}}
