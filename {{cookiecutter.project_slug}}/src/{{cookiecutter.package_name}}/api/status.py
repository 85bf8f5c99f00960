"""``GET /api/v1/status``: a public endpoint, no token needed, that says the API is up."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from .blueprint import JSON, VERSION, blp


class StatusSchema(ma.Schema):
    """What the API says about itself."""

    status = ma.fields.String(required=True, metadata={"example": "ok"})
    version = ma.fields.String(required=True, metadata={"example": "v1"})


@blp.route("/status")
class Status(MethodView):
    """The API's own health, for a client to check before it starts."""

    init_every_request = False  # it keeps nothing on self

    @blp.response(200, StatusSchema, content_type=JSON)
    def get(self) -> dict[str, Any]:
        """The API is up."""
        return {"status": "ok", "version": VERSION}
