"""The JSON API under /api/v1: a public endpoint, its OpenAPI document and docs page, CORS
off unless origins are listed, a throttle per address, and nothing of the browser session."""

from __future__ import annotations

import json
import threading

import pytest

PROBLEM = "application/problem+json"
ORIGIN = "https://app.example.com"


def test_status_is_public_json(client):
    answer = client.get("/api/v1/status")
    assert answer.status_code == 200 and answer.is_json
    assert answer.json == {"status": "ok", "version": "v1"}
    assert "Set-Cookie" not in answer.headers


def test_the_document_is_openapi_3_1_with_every_operation(client):
    document = client.get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.1")
    assert "/api/v1/status" in document["paths"]
{%- if cookiecutter.auth == "yes" %}
    assert {"/api/v1/me", "/api/v1/notes", "/api/v1/notes/{note_id}"} <= set(document["paths"])
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == {"type": "http", "scheme": "bearer"}
{%- endif %}
    error = document["components"]["responses"]["DEFAULT_ERROR"]["content"]
    assert list(error) == [PROBLEM]


def test_flask_openapi_prints_the_served_document(app, client):
    printed = app.test_cli_runner().invoke(args=["openapi", "print"])
    assert printed.exit_code == 0
    assert json.loads(printed.output) == client.get("/api/v1/openapi.json").json


def test_readers_arriving_together_get_the_same_whole_document(make_app):
    """The document is built by its first reader; the others wait for it, never read half."""
    app = make_app()
    clients = [app.test_client() for _ in range(4)]
    documents: list[bytes] = []
    threads = [
        threading.Thread(target=lambda c=c: documents.append(c.get("/api/v1/openapi.json").data))
        for c in clients
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(documents) == 4 and len(set(documents)) == 1
    assert "/api/v1/status" in json.loads(documents[0])["paths"]


def test_the_docs_page_is_served_here_under_the_csp(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "GET /api/v1/status" in html and "openapi.json" in html
    assert "<script" not in html and "https://" not in html.split("<main", 1)[-1]
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]


def test_html_pages_keep_their_html_errors(client):
    page = client.get("/no-such-page")
    assert page.status_code == 404 and page.mimetype == "text/html"


def test_cors_is_off_by_default(client):
    answer = client.get("/api/v1/status", headers={"Origin": ORIGIN})
    assert "Access-Control-Allow-Origin" not in answer.headers
    preflight = client.options(
        "/api/v1/status", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


@pytest.mark.parametrize("setting", ["API_CORS_ORIGINS", "FLASK_API_CORS_ORIGINS"])
def test_listed_origins_may_call_the_api(make_app, monkeypatch, setting):
    value = f"{ORIGIN},https://b.example" if setting == "API_CORS_ORIGINS" else f'["{ORIGIN}"]'
    monkeypatch.setenv(setting, value)
    client = make_app().test_client()
    answer = client.get("/api/v1/status", headers={"Origin": ORIGIN})
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Access-Control-Allow-Credentials" not in answer.headers
    assert "Origin" in answer.headers["Vary"]
    preflight = client.options(
        "/api/v1/status",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    other = client.get("/api/v1/status", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    # Only the API: the pages send no CORS headers to a listed origin either.
    assert "Access-Control-Allow-Origin" not in client.get("/", headers={"Origin": ORIGIN}).headers


def test_a_listed_origin_reads_the_apis_errors_too(make_app, monkeypatch):
    """An unknown path or a wrong method matches no API route, yet its problem is readable
    by a listed origin: its client sees the 404 or 405, not a CORS failure."""
    monkeypatch.setenv("API_CORS_ORIGINS", ORIGIN)
    client = make_app().test_client()
    for answer, status in (
        (client.get("/api/v1/no-such-thing", headers={"Origin": ORIGIN}), 404),
        (client.delete("/api/v1/status", headers={"Origin": ORIGIN}), 405),
    ):
        assert answer.status_code == status and answer.mimetype == PROBLEM
        assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "Origin" in answer.headers["Vary"]
    other = client.get("/api/v1/no-such-thing", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/api/v1/status", {"GET"}),
{%- if cookiecutter.auth == "yes" %}
        ("/api/v1/notes", {"GET", "POST"}),
        ("/api/v1/notes/1", {"GET", "PATCH", "DELETE"}),
{%- endif %}
    ],
)
def test_a_preflight_offers_the_methods_of_its_url(make_app, monkeypatch, path, methods):
    monkeypatch.setenv("API_CORS_ORIGINS", ORIGIN)
    client = make_app().test_client()
    preflight = client.options(
        path, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
    )
    offered = {
        method.strip() for method in preflight.headers["Access-Control-Allow-Methods"].split(",")
    }
    assert offered - {"HEAD", "OPTIONS"} == methods


def test_a_preflight_to_an_unknown_path_is_offered_nothing(make_app, monkeypatch):
    monkeypatch.setenv("API_CORS_ORIGINS", ORIGIN)
    client = make_app().test_client()
    preflight = client.options(
        "/api/v1/no-such-thing", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status_code == 404
    assert "Access-Control-Allow-Methods" not in preflight.headers


def test_an_address_is_throttled(make_app):
    client = make_app(API_ADDRESS_RATE_LIMIT="2 per minute").test_client()
    for _ in range(2):
        assert client.get("/api/v1/status").status_code == 200
    refused = client.get("/api/v1/status")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.mimetype == PROBLEM and refused.json["status"] == 429
    other = client.get("/api/v1/status", environ_base={"REMOTE_ADDR": "192.0.2.9"})
    assert other.status_code == 200
