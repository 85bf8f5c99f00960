"""Traces over OTLP/HTTP: each request as a span, with its Redis commands and SQL queries.

create_app imports this module only when OTEL_EXPORTER_OTLP_ENDPOINT is set: without it
the app loads nothing of OpenTelemetry and requests pay nothing. Its packages are the
``tracing`` extra, not a dependency, because redis-py imports OpenTelemetry's metrics SDK
by itself wherever that is installed, in every process. OpenTelemetry's maintained
instrumentations make the spans; the SDK's own variables (OTEL_EXPORTER_OTLP_HEADERS,
OTEL_TRACES_SAMPLER, OTEL_BSP_*, OTEL_PYTHON_FLASK_EXCLUDED_URLS) apply as documented.

Each process exports its spans from a batch processor it starts on its first request: a
gunicorn master builds the app before it forks the workers, and the processor's thread
(and the exporter's connections) would not carry over into them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask, request

from ..exceptions import ConfigurationError
from . import redis_command
from .logs import REDACTED, SIGNED_TOKEN

try:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
except ModuleNotFoundError as missing:
    raise ConfigurationError(
        "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed: install the "
        "tracing extra (uv sync --extra tracing; for an image, docker build --build-arg "
        "EXTRAS=tracing, or BUILD_EXTRAS=tracing in .env for compose)."
    ) from missing

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# The same name as the field of the log lines, so one search finds a request's both.
REQUEST_ID_ATTRIBUTE = "request_id"
TRACES_PATH = "/v1/traces"

# The process whose provider is exporting (None: none yet). Only the first app of a process
# sets it up: OpenTelemetry's provider is one per process.
_exporting_pid: int | None = None
_exporting_lock = threading.Lock()


def traces_url(endpoint: str) -> str:
    """Where spans are posted: the endpoint's /v1/traces, as the SDK derives it."""
    if not endpoint.startswith(("http://", "https://")):
        problem = f"OTEL_EXPORTER_OTLP_ENDPOINT ({endpoint!r}) must be an http:// or https:// URL."
        raise ConfigurationError(problem)
    return endpoint.rstrip("/") + TRACES_PATH


def make_provider(config: Mapping[str, Any]) -> TracerProvider:
    """A provider batching spans to the configured collector, named for this service."""
    resource = Resource.create(
        {
            "service.name": config["OTEL_SERVICE_NAME"],
            "deployment.environment.name": config["CONFIG_NAME"],
        }
    )
    provider = TracerProvider(resource=resource)
    exporter = OTLPSpanExporter(endpoint=traces_url(config["OTEL_EXPORTER_OTLP_ENDPOINT"]))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def start_exporting(config: Mapping[str, Any]) -> None:
    """Make this process's provider the one every instrumentation's tracer uses, once."""
    global _exporting_pid
    with _exporting_lock:
        if _exporting_pid != os.getpid():
            trace.set_tracer_provider(make_provider(config))
            _exporting_pid = os.getpid()


class ExportFromServingProcess:
    """Start exporting in the process that serves, before its first request's span."""

    def __init__(self, wsgi_app: WSGIApplication, config: Mapping[str, Any]) -> None:
        self.wsgi_app = wsgi_app
        self.config = config

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Pass the request on; the first one in a process starts the exporter."""
        if _exporting_pid != os.getpid():
            start_exporting(self.config)
        return self.wsgi_app(environ, start_response)


def tag_request(span: trace.Span, environ: WSGIEnvironment) -> None:
    """The request's id, as RequestID (the outermost middleware) set it, on its span."""
    if span.is_recording():
        span.set_attribute(REQUEST_ID_ATTRIBUTE, environ.get("HTTP_X_REQUEST_ID", "-"))


def hide_tokens() -> None:
    """A mailed link's token out of the request's span, as out of the access log.

    Runs after the instrumentation's own before_request, which sets the URL attributes.
    """
    target = request.full_path.rstrip("?")
    if SIGNED_TOKEN.search(target):
        span = trace.get_current_span()
        span.set_attribute("http.target", SIGNED_TOKEN.sub(REDACTED, target))
        span.set_attribute("url.path", SIGNED_TOKEN.sub(REDACTED, request.path))
        if request.query_string:
            query = request.query_string.decode("latin-1")
            span.set_attribute("url.query", SIGNED_TOKEN.sub(REDACTED, query))


def instrument_sql(app: Flask) -> None:
    """Spans for the queries of the app's database engines, where it has a database."""
    if "sqlalchemy" not in app.extensions:
        return
    # Imported only here: it imports SQLAlchemy, which an app without a database lacks.
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    instrumentor = SQLAlchemyInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        return  # engines made since then were instrumented as they were created
    with app.app_context():
        engines = list(app.extensions["sqlalchemy"].engines.values())
    # Its declared range lags SQLAlchemy's minor releases; it hooks only the engines'
    # documented events, which 2.x keeps, and the tests check its spans arrive.
    instrumentor.instrument(engines=engines, skip_dep_check=True)


def init_app(app: Flask) -> None:
    """Trace the app's requests, Redis commands and SQL queries (a span processor per process)."""
    traces_url(app.config["OTEL_EXPORTER_OTLP_ENDPOINT"])  # a bad URL stops start-up
    # The tracers stand in for the provider until start_exporting() sets it.
    flask = FlaskInstrumentor()
    # The Flask instrumentation publishes no types.
    flask.instrument_app(app, request_hook=tag_request)  # type: ignore[no-untyped-call]
    app.before_request(hide_tokens)
    redis = RedisInstrumentor()
    if not redis.is_instrumented_by_opentelemetry:
        redis.instrument()  # redis-py's classes, so every client of the process
    redis_command.through_execute_command = True
    instrument_sql(app)
    app.wsgi_app = ExportFromServingProcess(app.wsgi_app, app.config)  # type: ignore[method-assign]
