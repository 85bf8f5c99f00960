"""Traces of the baked app under gunicorn with its gunicorn.conf.py and two workers.

Each worker starts its exporter after the fork and sends its requests' spans to the
collector; the master, which built the app and migrated the database before forking,
sends none. The collector is a stand-in decoding what arrives with opentelemetry-proto.
"""

from __future__ import annotations

import gzip
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from conftest import bake, free_port, serve, stop_group, wait_for_port
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tools.baking import PRODUCTION_ENV

REQUESTS = 40


class Collector(ThreadingHTTPServer):
    """An OTLP/HTTP receiver on a free loopback port, keeping every span it is sent."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ExportHandler)
        self.spans: list = []
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def request_ids(self) -> dict[str, bytes]:
        """Request id -> trace id of every request span received so far."""
        with self.lock:
            return {
                attribute.value.string_value: span.trace_id
                for span in self.spans
                for attribute in span.attributes
                if attribute.key == "request_id"
            }


class ExportHandler(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest.FromString(body)
        with self.server.lock:
            for resource_spans in export.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    self.server.spans.extend(scope_spans.spans)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args) -> None:
        pass


@pytest.fixture
def collector():
    server = Collector()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The default bake."""
    return bake(tmp_path_factory.mktemp("tracing"))


def get_on_a_new_connection(url: str) -> requests.Response:
    """One GET on a connection of its own, so either worker may accept it."""
    return requests.get(url, timeout=10, headers={"Connection": "close"})


def test_each_worker_exports_its_requests_spans(project, redis_url, collector, tmp_path):
    env = PRODUCTION_ENV | {
        "GUNICORN_WORKERS": "2",
        "REDIS_URL": redis_url,
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        # Batches leave every 200 ms rather than every 5 s.
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    port = free_port()
    log = tmp_path / "gunicorn.log"
    with log.open("w") as output:
        process = serve(project, port, env, output=output)
    try:
        wait_for_port(port, process=process)
        with ThreadPoolExecutor(8) as pool:
            responses = list(
                pool.map(get_on_a_new_connection, [f"http://127.0.0.1:{port}/readyz"] * REQUESTS)
            )
        assert [response.status_code for response in responses] == [200] * REQUESTS
        sent = {response.headers["X-Request-ID"] for response in responses}
        deadline = time.monotonic() + 15
        while not sent <= collector.request_ids().keys() and time.monotonic() < deadline:
            time.sleep(0.2)
        traced = collector.request_ids()
        assert sent <= traced.keys(), f"{len(sent - traced.keys())} requests have no span"
    finally:
        stop_group(process)
    # Every span belongs to a request: the master, which ran the migrations, exported none.
    request_traces = set(traced.values())
    assert {span.trace_id for span in collector.spans} <= request_traces
    # Each request's probe key write is a child span in its trace.
    writes = [span for span in collector.spans if span.name == "SET"]
    assert {span.trace_id for span in writes} == request_traces
    assert "Traceback" not in log.read_text()
