"""A request body past MAX_CONTENT_LENGTH is a 413 however it is sent.

With a Content-Length, Werkzeug refuses a body too big before reading any of it. A chunked
body has none: Werkzeug reads it up to the limit, and a form or a JSON document (read whole)
stopped there without a word, so the view got a cut body (a form without its CSRF token, a
broken document: a 400) where the client should hear that it sent too much.
"""

from __future__ import annotations

from typing import IO, cast

from flask import Flask, Request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream


class CappedBody(LimitedStream):
    """A stream of at most MAX_CONTENT_LENGTH bytes: a 413 once the body goes past them."""

    def on_exhausted(self) -> None:
        """A read at the limit: the body may end right there; one byte more means it did not."""
        try:
            more = self._stream.read(1)
        except (OSError, ValueError) as error:  # as Werkzeug's own reads: the client's fault
            self.on_disconnect(error=error)
            return
        if more:
            raise RequestEntityTooLarge()

    def readall(self) -> bytes:
        """The whole body, or a 413 (Werkzeug's stops at the limit without a word)."""
        body = super().readall()
        if body and self.is_exhausted:
            self.on_exhausted()
        return body


class CappedRequest(Request):
    """Flask's request, whose chunked body is a CappedBody."""

    @cached_property
    def stream(self) -> IO[bytes]:
        """As Werkzeug's, for a body with no length that the server ends (chunked)."""
        environ = self.environ
        # Most bodies have a length: decided without this lookup of the limit (through the app).
        if self.content_length is not None or "wsgi.input_terminated" not in environ:
            return super().stream
        limit = self.max_content_length
        if limit is None or self.shallow:
            return super().stream
        return cast("IO[bytes]", CappedBody(environ["wsgi.input"], limit, is_max=True))


def init_app(app: Flask) -> None:
    """Requests are CappedRequests."""
    app.request_class = CappedRequest
