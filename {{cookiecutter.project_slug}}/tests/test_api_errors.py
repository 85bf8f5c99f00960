"""Every status the API answers with is a problem detail (RFC 9457), raised in a view or
outside one: an unknown path, a wrong method, a body that is not JSON, Redis down."""

from __future__ import annotations

import pytest

PROBLEM = "application/problem+json"


def assert_problem(answer, status: int) -> None:
    """A problem detail with the members RFC 9457 names."""
    assert answer.status_code == status
    assert answer.mimetype == PROBLEM
    body = answer.get_json(force=True)
    assert body["status"] == status and body["type"] == "about:blank"
    assert body["title"] and body["detail"]


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v1/notes/1/x", "/api/v1"])
def test_an_unknown_api_path_is_a_404_problem(client, path):
    assert_problem(client.get(path), 404)


def test_a_wrong_method_is_a_405_problem_with_allow(client):
    answer = client.delete("/api/v1/status")
    assert_problem(answer, 405)
    assert "GET" in answer.headers["Allow"]


{%- if cookiecutter.auth == "yes" %}


def test_a_body_that_is_not_json_is_a_415_problem(client):
    answer = client.post("/api/v1/notes", data="title=x", content_type="text/plain")
    assert_problem(answer, 415)


def test_a_body_too_big_is_a_413_problem(make_app):
    client = make_app(MAX_CONTENT_LENGTH=10).test_client()
    answer = client.post("/api/v1/notes", json={"title": "x" * 100})
    assert_problem(answer, 413)
{%- endif %}


def test_redis_down_is_a_503_problem(make_app, private_redis):
    server, _ = private_redis
    client = make_app(REDIS_URL=server.url).test_client()
    assert client.get("/api/v1/status").status_code == 200
    server.stop()
    answer = client.get("/api/v1/status")
    assert_problem(answer, 503)
    assert "Retry-After" in answer.headers
    # The pages keep their HTML error page.
    assert client.get("/healthz/ready").mimetype != PROBLEM
