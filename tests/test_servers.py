"""The launchers in tools/servers.py start real servers that work, and stop every process."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
import redis
import requests
from conftest import require, require_postgres
from redis.cluster import ClusterNode, RedisCluster
from redis.sentinel import Sentinel

from tools.servers import (
    HOST,
    free_port,
    pid_alive,
    start_nginx,
    start_postgres,
    start_redis_cluster,
    start_redis_sentinel_group,
    start_redis_server,
    stop_group,
)


def test_redis_server_answers_for_its_own_pid():
    require("redis-server")
    process, port = start_redis_server()
    try:
        with redis.Redis(host=HOST, port=port) as client:
            assert client.info("server")["process_id"] == process.pid
            assert client.ping()
    finally:
        stop_group(process)
    assert not pid_alive(process.pid)


def test_a_server_that_cannot_start_says_why_at_once():
    require("redis-server")
    with pytest.raises(RuntimeError, match="no-such-directive"):
        start_redis_server("redis-server", "--no-such-directive", "yes")


def test_sentinel_group_replicates_and_names_its_master(redis_sentinel):
    key = f"story-{uuid.uuid4()}"
    with redis.Redis.from_url(redis_sentinel.master_url, decode_responses=True) as master:
        master.set(key, "written on the master")
        assert master.wait(1, 5000) == 1
    with redis.Redis.from_url(redis_sentinel.replica_url, decode_responses=True) as replica:
        assert replica.get(key) == "written on the master"

    for host, port in redis_sentinel.sentinel_addresses:
        with redis.Redis(host=host, port=port, decode_responses=True) as sentinel:
            address = sentinel.sentinel_get_master_addr_by_name(redis_sentinel.service_name)
            assert address == (HOST, redis_sentinel.master_port)
    assert redis_sentinel.sentinels == ",".join(
        f"127.0.0.1:{port}" for port in redis_sentinel.sentinel_ports
    )
    # What the baked app does with REDIS_SENTINELS and REDIS_SENTINEL_SERVICE.
    sentinels = Sentinel(redis_sentinel.sentinel_addresses, socket_timeout=2)
    client = sentinels.master_for(redis_sentinel.service_name, decode_responses=True)
    assert client.get(key) == "written on the master"
    client.close()


def test_cluster_is_ok_and_a_key_set_through_a_cluster_client_reads_back(redis_cluster):
    with redis.Redis(host=HOST, port=redis_cluster.ports[0], decode_responses=True) as node:
        assert node.cluster("info")["cluster_state"] == "ok"
    assert redis_cluster.url == "redis+cluster://" + ",".join(
        f"127.0.0.1:{port}" for port in redis_cluster.ports
    )
    client = RedisCluster(
        startup_nodes=[ClusterNode(HOST, port) for port in redis_cluster.ports],
        decode_responses=True,
    )
    try:
        # Keys in different slots, so more than one master answers.
        keys = {f"user:{number}:{uuid.uuid4()}": str(number) for number in range(20)}
        for key, value in keys.items():
            client.set(key, value)
        assert {key: client.get(key) for key in keys} == keys
        assert len({client.keyslot(key) for key in keys}) > 1
    finally:
        client.close()


def test_postgres_answers_select_1(postgres_url):
    assert re.fullmatch(r"postgresql://postgres@127\.0\.0\.1:\d+/postgres", postgres_url)
    with psycopg.connect(postgres_url, connect_timeout=5) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)


class Backend(BaseHTTPRequestHandler):
    """A tiny upstream that says what nginx forwarded to it."""

    def do_GET(self) -> None:
        body = f"backend got {self.path} for {self.headers['X-Forwarded-For']}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads nginx's access log instead."""


@pytest.fixture
def backend() -> Iterator[int]:
    server = ThreadingHTTPServer((HOST, 0), Backend)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def test_nginx_proxies_a_request_to_a_backend(tmp_path, backend):
    require("nginx")
    port = free_port()
    site = tmp_path / "site.conf"
    site.write_text(
        f"upstream app {{ server {HOST}:{backend}; }}\n"
        f"server {{\n    listen {HOST}:{port};\n"
        "    location / {\n        proxy_pass http://app;\n"
        "        proxy_set_header X-Forwarded-For $remote_addr;\n    }\n}\n"
    )
    with start_nginx(site) as nginx:
        response = requests.get(f"http://{HOST}:{port}/hello", timeout=10)
        assert response.status_code == 200
        assert response.text == "backend got /hello for 127.0.0.1"
        # nginx writes the access log line just after the response, so allow it a moment.
        deadline = time.monotonic() + 5
        while '"GET /hello' not in nginx.access_log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert '"GET /hello HTTP/1.1" 200' in nginx.access_log.read_text()
    assert not pid_alive(nginx.pid)


def test_nginx_with_a_bad_config_raises_its_error_and_leaves_nothing_running(tmp_path):
    require("nginx")
    site = tmp_path / "bad.conf"
    site.write_text(f"server {{ listen {HOST}:{free_port()}; no_such_directive on; }}\n")
    with pytest.raises(RuntimeError, match='unknown directive "no_such_directive"'):
        start_nginx(site)
    assert not [pid for pid in running_pids() if str(site) in command_line(pid)]


def running_pids() -> list[int]:
    return [int(path.name) for path in Path("/proc").iterdir() if path.name.isdigit()]


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def start_site(tmp_path: Path):
    site = tmp_path / "site.conf"
    site.write_text(f"server {{ listen {HOST}:{free_port()}; return 200 'ok'; }}\n")
    return start_nginx(site)


LAUNCHERS = {
    "sentinel": (lambda: require("redis-server"), lambda _: start_redis_sentinel_group()),
    "cluster": (lambda: require("redis-server", "redis-cli"), lambda _: start_redis_cluster()),
    "postgres": (require_postgres, lambda _: start_postgres()),
    "nginx": (lambda: require("nginx"), start_site),
}


@pytest.mark.parametrize("name", LAUNCHERS)
def test_stop_ends_every_process_and_removes_the_directory(tmp_path, name):
    requirement, launch = LAUNCHERS[name]
    requirement()
    servers = launch(tmp_path)
    pids = [*servers.pids, getattr(servers, "postmaster_pid", 0)]
    assert all(pid_alive(pid) for pid in pids if pid)
    servers.stop()
    assert not [pid for pid in pids if pid and pid_alive(pid)]
    assert not servers.directory.exists()
