"""Liveness and readiness probes."""

from __future__ import annotations

from {{ cookiecutter.package_name }}.core.dev_redis import free_port


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_reports_redis_latency(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["redis"] == "ok"
    assert response.json["redis_latency_ms"] >= 0


def test_readyz_is_503_when_redis_is_unreachable(make_app, redis_url):
    # A port nothing listens on: the same client settings, a dead server.
    app = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "redis": "unreachable"}
    assert int(response.headers["Retry-After"]) >= 1  # as every other 503
