"""Unhandled errors reported to Sentry, through sentry-sdk's Flask integration, scrubbed.

create_app imports this module only when SENTRY_DSN is set: without it nothing of
sentry-sdk is loaded. A report carries the exception and its stack, the method, the path
(mailed tokens in it replaced), the names of the query's parameters, a few harmless
headers and the request id as a tag. It never carries cookies, bodies (form, JSON or
files), query values, credentials headers, the client's address or the stack's local
variables, where a view's password or token would be.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

import sentry_sdk
from flask import Flask, has_request_context, request
from sentry_sdk.integrations.flask import FlaskIntegration
from sentry_sdk.types import Event, Hint

from .logs import REDACTED, SIGNED_TOKEN

# The request headers a report keeps: none of them carries a credential or a URL.
KEPT_HEADERS = frozenset(
    {"accept", "accept-language", "content-length", "content-type", "host", "user-agent"}
)
FILTERED = "[Filtered]"
# What a report may say about the request; "data", "cookies", "env" and others are dropped.
KEPT_REQUEST_FIELDS = ("method", "url", "query_string", "headers")


def scrub_query(query: str) -> str:
    """The parameters' names only: a value may be a token, an address or a search."""
    names = [name for name, _ in parse_qsl(query, keep_blank_values=True)]
    return urlencode([(name, FILTERED) for name in names], safe="[]")


def scrub_request(described: dict[str, Any]) -> dict[str, Any]:
    """The request as a report shows it: nothing a visitor sent as a secret or as content."""
    kept = {field: described[field] for field in KEPT_REQUEST_FIELDS if field in described}
    if isinstance(kept.get("url"), str):
        kept["url"] = SIGNED_TOKEN.sub(REDACTED, kept["url"].split("?", 1)[0])
    if isinstance(kept.get("query_string"), str):
        kept["query_string"] = scrub_query(kept["query_string"])
    else:
        kept.pop("query_string", None)
    headers = kept.get("headers")
    if isinstance(headers, dict):
        kept["headers"] = {
            name: value for name, value in headers.items() if name.lower() in KEPT_HEADERS
        }
    return kept


def before_send(event: Event, hint: Hint) -> Event | None:
    """Scrub the request and tag the report with the request's id, as the log lines have it."""
    if "request" in event:
        event["request"] = scrub_request(dict(event["request"]))
    event.pop("user", None)
    # The command line may carry a setting (gunicorn -e SECRET_KEY=...).
    event.get("extra", {}).pop("sys.argv", None)
    if has_request_context():
        # The RequestID middleware has replaced any unsafe incoming value by now.
        request_id = request.headers.get("X-Request-ID", "-")
        event["tags"] = {**event.get("tags", {}), "request_id": request_id}
    return event


def init_app(app: Flask) -> None:
    """Report this process's unhandled errors to the configured Sentry project."""
    sentry_sdk.init(
        dsn=app.config["SENTRY_DSN"],
        environment=app.config["CONFIG_NAME"],
        integrations=[FlaskIntegration()],
        # Its Redis and SQL integrations would add commands (session keys) and queries.
        auto_enabling_integrations=False,
        # send_default_pii stays at its default, off: no user, address or cookies collected.
        # The scrubbing below makes sure of it whatever the SDK's defaults become.
        include_local_variables=False,
        max_request_body_size="never",
        before_send=before_send,
    )
