"""Traces: with OTEL_EXPORTER_OTLP_ENDPOINT, spans of the request, its Redis commands and SQL
queries reach the collector, tagged with the request id (without it nothing of tracing is
loaded: test_factory.py).

The collector is a stand-in: a small HTTP server that takes what the exporter posts to
/v1/traces and decodes it with opentelemetry-proto's own messages.
"""

from __future__ import annotations

import gzip
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Blueprint, current_app

from {{ cookiecutter.package_name }} import create_app
from {{ cookiecutter.package_name }}.core import redis_command
from {{ cookiecutter.package_name }}.core.redis_client import get_client
from {{ cookiecutter.package_name }}.exceptions import ConfigurationError

# A page that sends one Redis command and, where the app has a database, one query.
traced = Blueprint("traced", __name__)


@traced.get("/api/traced")
def traced_page() -> str:
    """Count a visit in Redis; ask the database, if there is one, for a number."""
    get_client().incr(current_app.config["SESSION_KEY_PREFIX"] + "traced")
    database = current_app.extensions.get("sqlalchemy")
    if database is not None:
        database.session.connection().exec_driver_sql("SELECT 42").scalar()
    return "traced"


class Collector(ThreadingHTTPServer):
    """An OTLP/HTTP receiver on a free loopback port, keeping each export request's spans."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ExportHandler)
        self.spans: list[Any] = []

    @property
    def endpoint(self) -> str:
        """What OTEL_EXPORTER_OTLP_ENDPOINT names: the exporter adds /v1/traces."""
        return f"http://127.0.0.1:{self.server_address[1]}"


class ExportHandler(BaseHTTPRequestHandler):
    """POST /v1/traces: an ExportTraceServiceRequest, answered as a collector does."""

    server: Collector

    def do_POST(self) -> None:
        """Decode the spans of the request and keep them."""
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
            ExportTraceServiceResponse,
        )

        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path != "/v1/traces":
            self.send_error(404)
            return
        export = ExportTraceServiceRequest.FromString(body)
        for resource_spans in export.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                self.server.spans.extend(
                    (resource_spans.resource, span) for span in scope_spans.spans
                )
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads what arrived, not a log of it."""


def attributes(item: Any) -> dict[str, Any]:
    """A span's (or resource's) attributes as a plain dict of their values."""
    values = {}
    for attribute in item.attributes:
        which = attribute.value.WhichOneof("value")
        values[attribute.key] = getattr(attribute.value, which) if which else None
    return values


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    """The stand-in collector; afterwards this process traces nothing any more.

    OpenTelemetry has one provider per process: the first traced app of the run sets it,
    so every test here exports to this one collector.
    """
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    from opentelemetry import trace
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    RedisInstrumentor().uninstrument()
    if "opentelemetry.instrumentation.sqlalchemy" in sys.modules:
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        SQLAlchemyInstrumentor().uninstrument()
    redis_command.through_execute_command = False
    provider: Any = trace.get_tracer_provider()
    provider.shutdown()
    server.shutdown()
    server.server_close()


@pytest.fixture
def traced_app(make_app, collector: Collector, monkeypatch: pytest.MonkeyPatch):
    """The app with OTEL_EXPORTER_OTLP_ENDPOINT naming the collector, as a deployment sets it."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
    app = make_app()
    app.register_blueprint(traced)
    return app


def exported(collector: Collector) -> list[Any]:
    """Every span the collector has, once the process's batch has been sent."""
    from opentelemetry import trace

    provider: Any = trace.get_tracer_provider()
    assert provider.force_flush(), "the spans could not be exported in time"
    return [span for _, span in collector.spans]


def test_a_request_is_traced_with_its_redis_command_and_query(traced_app, collector):
    response = traced_app.test_client().get("/api/traced")
    assert response.status_code == 200
    request_id = response.headers["X-Request-ID"]

    spans = exported(collector)
    (page,) = [span for span in spans if attributes(span).get("request_id") == request_id]
    assert page.name == "GET /api/traced"
    assert attributes(page)["http.route"] == "/api/traced"
    in_request = [span for span in spans if span.trace_id == page.trace_id and span is not page]
    redis_commands = [span for span in in_request if attributes(span).get("db.system") == "redis"]
    assert len(redis_commands) == 1
    assert redis_commands[0].parent_span_id == page.span_id
    if "sqlalchemy" in traced_app.extensions:
        queries = [span for span in in_request if "SELECT 42" in str(attributes(span))]
        assert len(queries) == 1
        assert queries[0].parent_span_id == page.span_id


def test_the_session_is_read_in_its_requests_trace(traced_app, collector):
    client = traced_app.test_client()
    client.post("/api/probe/counter", json={"by": 2})
    response = client.get("/api/probe/counter")
    assert response.json == {"count": 2}

    spans = exported(collector)
    request_id = response.headers["X-Request-ID"]
    (page,) = [span for span in spans if attributes(span).get("request_id") == request_id]
    reads = [span for span in spans if span.parent_span_id == page.span_id and span.name == "GET"]
    assert len(reads) == 1
    assert attributes(reads[0])["db.system"] == "redis"


def test_a_mailed_links_token_stays_out_of_the_span(traced_app, collector):
    token = "eyJpZCI6MTJ9.aBcDeF.c2lnbmF0dXJlLW9mLXRoZS1saW5r"
    response = traced_app.test_client().get(f"/links/{token}?next=/{token}")
    request_id = response.headers["X-Request-ID"]

    spans = exported(collector)
    (page,) = [span for span in spans if attributes(span).get("request_id") == request_id]
    assert token not in str(attributes(page))
    assert attributes(page)["http.target"] == "/links/[token]?next=/[token]"


def test_the_spans_name_the_service(traced_app, collector):
    traced_app.test_client().get("/healthz")
    exported(collector)
    resource, _ = collector.spans[-1]
    assert attributes(resource)["service.name"] == "{{ cookiecutter.project_slug }}"
    assert attributes(resource)["deployment.environment.name"] == "testing"


def test_the_endpoint_may_be_given_with_the_flask_prefix(monkeypatch, redis_url, collector):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.setenv("FLASK_OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
    app = create_app("testing", {"REDIS_URL": redis_url})
    assert app.config["OTEL_EXPORTER_OTLP_ENDPOINT"] == collector.endpoint


def test_an_endpoint_that_is_not_a_url_stops_start_up(redis_url, collector):
    with pytest.raises(ConfigurationError, match="OTEL_EXPORTER_OTLP_ENDPOINT"):
        create_app("testing", {"REDIS_URL": redis_url, "OTEL_EXPORTER_OTLP_ENDPOINT": "collector"})
