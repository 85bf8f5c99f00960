"""A request body past MAX_CONTENT_LENGTH is a 413 however it is sent.

With a Content-Length, Werkzeug refuses a body too big before reading any of it. A chunked
body has none: Werkzeug reads it up to the limit, and a form or a JSON document (read whole)
stopped there without a word, so the view got a cut body (a form without its CSRF token, a
broken document: a 400) where the client should hear that it sent too much.
"""

from __future__ import annotations

from typing import IO

from flask import Flask, Request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream


class CappedBody(LimitedStream):
    """A stream of at most MAX_CONTENT_LENGTH bytes that refuses a longer body when read whole."""

    def readall(self) -> bytes:
        """The whole body, or a 413 if there is more of it than the limit."""
        body = super().readall()
        # A body may end right at the limit; one byte more means it did not.
        if self.is_exhausted and self._stream.read(1):
            raise RequestEntityTooLarge()
        return body


class CappedRequest(Request):
    """Flask's request, whose chunked body is a CappedBody."""

    @cached_property
    def stream(self) -> IO[bytes]:
        """As Werkzeug's, for a body with no length that the server ends (chunked)."""
        limit = self.max_content_length
        environ = self.environ
        if (
            limit is None
            or self.shallow
            or "wsgi.input_terminated" not in environ
            or self.content_length is not None
        ):
            return super().stream
        return CappedBody(environ["wsgi.input"], limit, is_max=True)  # type: ignore[return-value]


def init_app(app: Flask) -> None:
    """Requests are CappedRequests."""
    app.request_class = CappedRequest
