"""The API's documents, declared once: they validate requests, shape responses and are
the schemas of the OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import marshmallow as ma
from marshmallow import validate

from {{ cookiecutter.package_name }}.auth.models import as_utc

TITLE_MAX = 200
BODY_MAX = 10_000
# PostgreSQL's text cannot hold NUL; refused in the schema, so the document says so too.
NO_NUL = validate.Regexp(r"^[^\u0000]*$", error="NUL characters are not allowed.")


class UtcDateTime(ma.fields.DateTime):
    """A moment in UTC, with its offset: SQLite hands back the stored UTC times naive."""

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        """ISO 8601 with ``+00:00``."""
        return super()._serialize(as_utc(value) if value else value, attr, obj, **kwargs)


class UserSchema(ma.Schema):
    """The token's owner."""

    id = ma.fields.Integer(required=True)
    username = ma.fields.String(required=True)
    email = ma.fields.Email(required=True)
    created_at = UtcDateTime(required=True)
    scopes = ma.fields.List(
        ma.fields.String(), required=True, metadata={"description": "The token's scopes"}
    )


class NoteSchema(ma.Schema):
    """A note, as the API returns it."""

    id = ma.fields.Integer(required=True, dump_only=True)
    title = ma.fields.String(
        required=True, validate=[validate.Length(min=1, max=TITLE_MAX), NO_NUL]
    )
    body = ma.fields.String(load_default="", validate=[validate.Length(max=BODY_MAX), NO_NUL])
    created_at = UtcDateTime(required=True, dump_only=True)
    updated_at = UtcDateTime(required=True, dump_only=True)


class NoteUpdateSchema(ma.Schema):
    """The fields of a note a PATCH may change; those it leaves out stay."""

    title = ma.fields.String(validate=[validate.Length(min=1, max=TITLE_MAX), NO_NUL])
    body = ma.fields.String(validate=[validate.Length(max=BODY_MAX), NO_NUL])
