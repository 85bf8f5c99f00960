"""Errors of the API as RFC 9457 problem details (``application/problem+json``).

Every status the API answers with, from a view or from outside one (an unknown path, a
wrong method, a body too big, Redis down), has this one shape; the HTML pages keep theirs.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, current_app
from werkzeug.exceptions import HTTPException

PROBLEM = "application/problem+json"


class ProblemSchema(ma.Schema):
    """A problem: what kind, a short title, the status and what went wrong this time."""

    type = ma.fields.String(
        required=True, metadata={"description": "A URI naming the kind of problem"}
    )
    title = ma.fields.String(required=True, metadata={"description": "The status's phrase"})
    status = ma.fields.Integer(required=True, metadata={"description": "The HTTP status"})
    detail = ma.fields.String(metadata={"description": "What went wrong with this request"})
    errors = ma.fields.Dict(metadata={"description": "Invalid fields and why, by location"})


def problem(error: HTTPException, code: int) -> dict[str, Any]:
    """The problem's members; ``errors`` when the request's fields were refused."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": error.name,
        "status": code,
        "detail": error.description or error.name,
    }
    # webargs (behind flask-smorest) attaches the invalid fields to its 422.
    data = getattr(error, "data", None) or {}
    messages = data.get("errors") or data.get("messages")
    if messages:
        body["errors"] = messages
    return body


def render_problem(error: HTTPException, code: int) -> Response:
    """The problem as a response; core.errors adds the error's own headers (Allow, ...)."""
    response = current_app.response_class(
        current_app.json.dumps(problem(error, code)), status=code, mimetype=PROBLEM
    )
    headers = (getattr(error, "data", None) or {}).get("headers") or {}
    response.headers.update(headers)
    return response
