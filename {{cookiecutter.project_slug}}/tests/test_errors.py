"""Error pages: HTML for people, JSON for programs, never a traceback."""

from __future__ import annotations

import io
import json

import pytest
import redis
from flask import abort, request
from gunicorn.http.errors import InvalidChunkSize
from werkzeug.test import encode_multipart

from {{ cookiecutter.package_name }}.core.csrf import csrf


def test_not_found_page_is_html(client, app):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "404 · Not Found" in page
    assert app.config["APP_NAME"] in page


def test_not_found_is_json_when_asked(client):
    response = client.get("/no-such-page", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.json["error"] == "Not Found"
    assert response.json["status"] == 404


def test_api_paths_answer_json(client):
    response = client.get("/api/nothing-here")
    assert response.json == {
        "error": "Not Found",
        "status": 404,
        "description": response.json["description"],
    }


def test_method_not_allowed_keeps_the_allow_header(client):
    response = client.post("/about")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert "405 · Method Not Allowed" in response.get_data(as_text=True)


def test_unexpected_errors_get_the_500_page(make_app):
    app = make_app(PROPAGATE_EXCEPTIONS=False)

    @app.get("/boom")
    def boom():
        raise RuntimeError("kaboom")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "500 · Internal Server Error" in page
    assert "kaboom" not in page


def test_http_error_after_the_view_keeps_its_status(make_app):
    app = make_app(PROPAGATE_EXCEPTIONS=False)

    @app.after_request
    def refuse(response):
        abort(503)

    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert "503 · Service Unavailable" in response.get_data(as_text=True)


def test_a_redis_failure_after_the_view_is_the_503_page(make_app):
    """An after-request hook that needs Redis (an extension's, say) while Redis fails."""
    app = make_app(PROPAGATE_EXCEPTIONS=False)

    @app.after_request
    def count(response):
        raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6399")

    response = app.test_client().get("/api/probe/plain")
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert response.json["error"] == "Service Unavailable"


def test_forbidden_page(make_app):
    app = make_app()

    @app.get("/forbidden")
    def forbidden():
        abort(403)

    response = app.test_client().get("/forbidden")
    assert response.status_code == 403
    assert "403 · Forbidden" in response.get_data(as_text=True)


@pytest.mark.parametrize("shape", ["arrays", "objects"])
def test_json_nested_past_the_depth_limit_is_a_400(make_app, shape):
    """64 levels of lists or objects are read; 65 are refused before the view. Brackets
    inside strings do not count as levels."""
    app = make_app()

    @app.post("/test/json")
    @csrf.exempt
    def read_json():
        return {"type": type(request.get_json()).__name__}

    def nested(depth):
        if shape == "arrays":
            return "[" * depth + "]" * depth
        return '{"a": ' * (depth - 1) + "{}" + "}" * (depth - 1)

    def send(document):
        return app.test_client().post("/test/json", data=document, content_type="application/json")

    assert send(nested(64)).json == {"type": "list" if shape == "arrays" else "dict"}
    assert send(nested(65)).status_code == 400  # the standard parser would take it
    assert send(json.dumps(["[{" * 100])).json == {"type": "list"}


def test_a_body_the_server_cannot_read_is_a_400(make_app):
    """gunicorn raises its parse errors (a malformed chunk) into the view reading the body;
    it has loaded them before the app, as this module has."""
    app = make_app(PROPAGATE_EXCEPTIONS=False)

    @app.post("/test/body")
    @csrf.exempt
    def read_body():
        raise InvalidChunkSize(b"ZZ")

    response = app.test_client().post("/test/body", headers={"Accept": "text/html"})
    assert response.status_code == 400
    assert "The request body could not be read." in response.get_data(as_text=True)


def chunked_body(kind: str, text: str) -> tuple[bytes, str]:
    """A body carrying ``text`` in the field "text", and its content type."""
    if kind == "json":
        return json.dumps({"text": text}).encode(), "application/json"
    if kind == "multipart":
        boundary, body = encode_multipart({"text": text}, boundary="b0undary")
        return body, f"multipart/form-data; boundary={boundary}"
    return f"text={text}".encode(), "application/x-www-form-urlencoded"


@pytest.mark.parametrize("kind", ["form", "multipart", "json"])
def test_a_chunked_body_past_the_limit_is_a_413(make_app, kind):
    """A body with no length (chunked, which the server ends) is refused whole when it is
    too large, not handed to the view cut at the limit; one that fits is read whole."""
    app = make_app(MAX_CONTENT_LENGTH=1000)

    @app.post("/test/body")
    @csrf.exempt
    def read_body():
        data = request.get_json()["text"] if kind == "json" else request.form["text"]
        return str(len(data))

    def send(size):
        body, content_type = chunked_body(kind, "a" * size)
        return app.test_client().post(
            "/test/body",
            input_stream=io.BytesIO(body),
            content_type=content_type,
            # As gunicorn passes a chunked body on: no length, and the stream ends with it.
            headers={"Transfer-Encoding": "chunked"},
            environ_overrides={"wsgi.input_terminated": True},
        )

    # The longest text whose body is 1000 bytes.
    at_limit = max(n for n in range(1000) if len(chunked_body(kind, "a" * n)[0]) <= 1000)
    assert len(chunked_body(kind, "a" * at_limit)[0]) == 1000
    assert send(at_limit).get_data(as_text=True) == str(at_limit)
    assert send(at_limit + 1).status_code == 413
    assert send(5000).status_code == 413
