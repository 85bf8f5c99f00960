"""Scale out on real engines: two app instances on PostgreSQL, behind nginx, Sentinel, Cluster.

Each test bakes the default project once, gives it a PostgreSQL database of its own, runs the
migrations once (as compose's ``migrate`` service does) and starts two gunicorn instances
with MIGRATE_ON_START off. The Redis failover tests start their own Sentinel group or
cluster, since they kill a master.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import redis
import requests
from conftest import bake, free_port, require, require_postgres, serve, stop_group
from itsdangerous import URLSafeTimedSerializer
from psycopg import sql
from redis.cluster import RedisCluster

from tools.servers import (
    HOST,
    RedisSentinelGroup,
    start_nginx,
    start_redis_cluster,
    start_redis_sentinel_group,
    start_redis_server,
)

CSRF = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')
PASSWORD = "correct horse battery staple"
# LOGIN_RATE_LIMIT: POSTs per minute and client address to the login and register forms.
LOGIN_LIMIT = 10
RECOVERY_SECONDS = 30


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The default bake (small layout, accounts, the tour), shared by this module's tests."""
    return bake(tmp_path_factory.mktemp("scale"))


@pytest.fixture
def database_url(postgres_url) -> Iterator[str]:
    """A PostgreSQL database of this test's own on the run's server."""
    name = f"scale_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def app_env(database_url: str, **settings: str) -> dict[str, str]:
    """Production settings for every instance: one database, migrations already applied."""
    prefix = f"scale-{uuid.uuid4().hex[:8]}"
    return {
        "FLASK_CONFIG": "production",
        "SECRET_KEY": "CU-U9Ggg30i_GMIkjP23VtASuCVAyK5bjpiaI_rNwz0",
        "TRUSTED_HOSTS": "127.0.0.1,localhost",
        "MAIL_SERVER": HOST,
        "MAIL_PORT": str(free_port()),  # nothing listens: no mail leaves the test
        "DATABASE_URL": database_url,
        "FLASK_MIGRATE_ON_START": "false",
        "REDIS_URL": "",
        "REDIS_SENTINELS": "",
        # Apps sharing the run's Redis keep their keys apart.
        "FLASK_SESSION_KEY_PREFIX": f"{prefix}:session:",
        "FLASK_RATELIMIT_KEY_PREFIX": prefix,
    } | settings


def run_python(project: Path, env: dict[str, str], code: str, *args: str) -> None:
    """Run ``code`` in the project, as a shell command of an operator would."""
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=project,
        env=os.environ | {"PYTHONPATH": str(project / "src")} | env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# `flask db upgrade`, once, before any instance starts (compose's migrate service).
MIGRATE = """
import sys
from flask.cli import main
sys.argv[1:] = ["--app", "wsgi:app", "db", "upgrade"]
main()
"""
# `flask users create NAME EMAIL` for each name: verified accounts, as an operator makes them.
CREATE_USERS = """
import sys
from wsgi import app
runner = app.test_cli_runner()
for name in sys.argv[2:]:
    args = ["users", "create", name, f"{name}@example.com", "--password", sys.argv[1]]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
"""


@contextmanager
def instances(
    project: Path, env: dict[str, str], logs: Path, count: int = 2
) -> Iterator[list[str]]:
    """``count`` gunicorn instances of the project; yields their base URLs."""
    run_python(project, env, MIGRATE)
    servers = []
    try:
        ports = [free_port() for _ in range(count)]
        for number, port in enumerate(ports):
            options = ["-c", "gunicorn.conf.py", "--workers", "1", "--threads", "4"]
            with (logs / f"instance-{number}.log").open("w") as output:
                servers.append(serve(project, port, env, *options, output=output, timeout=30))
        yield [f"http://{HOST}:{port}" for port in ports]
        for server in servers:
            assert server.poll() is None, "an instance exited: recovery must need no restart"
    finally:
        for server in servers:
            stop_group(server)


class Visitor:
    """A browser: keeps its cookies (sent by hand, Secure ones over http too), fills forms."""

    def __init__(self, name: str = "") -> None:
        self.name = name or f"user{uuid.uuid4().hex[:8]}"
        self.cookies: dict[str, str] = {}

    def request(self, method: str, url: str, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{key}={value}" for key, value in self.cookies.items())
        response = requests.request(
            method, url, headers=headers, allow_redirects=False, timeout=10, **kwargs
        )
        self.cookies.update(response.cookies.get_dict())
        return response

    def token(self, url: str) -> str:
        page = self.request("GET", url)
        assert page.status_code == 200, page.status_code
        return CSRF.search(page.text).group(1)

    def login(self, base: str) -> None:
        data = {"username": self.name, "password": PASSWORD}
        data["csrf_token"] = self.token(base + "/auth/login")
        response = self.request("POST", base + "/auth/login", data=data)
        assert response.status_code == 302, response.text[-500:]

    def bad_login(self, base: str, username: str, **kwargs) -> requests.Response:
        data = {"username": username, "password": "wrong password"}
        data["csrf_token"] = self.token(base + "/auth/login")
        return self.request("POST", base + "/auth/login", data=data, **kwargs)

    def logged_in(self, base: str) -> bool:
        response = self.request("GET", base + "/auth/account")
        return response.status_code == 200 and self.name in response.text


def users(project: Path, env: dict[str, str], count: int) -> list[Visitor]:
    """Visitors with verified accounts, made from the shell (registering needs the mailed link)."""
    visitors = [Visitor() for _ in range(count)]
    run_python(project, env, CREATE_USERS, PASSWORD, *(visitor.name for visitor in visitors))
    return visitors


def wait_through_outage(check, bases: list[str]) -> tuple[set[int], float]:
    """Poll ``check(base)`` (a status code) on every instance until each answers 200.

    Returns every status seen and the seconds until recovery; fails after RECOVERY_SECONDS.
    """
    started = time.monotonic()
    seen: set[int] = set()
    healthy: set[str] = set()
    while time.monotonic() - started < RECOVERY_SECONDS:
        for base in bases:
            status = check(base)
            seen.add(status)
            healthy = healthy | {base} if status == 200 else healthy - {base}
        if healthy == set(bases):
            return seen, time.monotonic() - started
        time.sleep(0.1)
    pytest.fail(f"no recovery within {RECOVERY_SECONDS}s; statuses seen: {sorted(seen)}")


def kill(process: subprocess.Popen) -> None:
    """SIGKILL, as a crashed machine: no goodbye to clients or replicas."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextmanager
def sentinel_group(database_url: str) -> Iterator[tuple[RedisSentinelGroup, dict[str, str]]]:
    """A master, a replica and three sentinels, and the app settings that point at them."""
    with start_redis_sentinel_group("app-master") as group:
        yield (
            group,
            app_env(
                database_url, REDIS_SENTINELS=group.sentinels, REDIS_SENTINEL_SERVICE="app-master"
            ),
        )


@pytest.fixture
def sentinel_ready() -> None:
    require("redis-server")
    require_postgres()


def test_sessions_and_limits_survive_a_sentinel_failover(
    tmp_path, project, sentinel_ready, database_url
):
    """Kill the master: 503s (never 500) while the sentinels promote the replica, then all back."""
    with (
        sentinel_group(database_url) as (group, env),
        instances(project, env, tmp_path) as bases,
    ):
        visitors = users(project, env, 3)
        for number, visitor in enumerate(visitors):
            visitor.login(bases[number % 2])
            assert visitor.logged_in(bases[(number + 1) % 2])
            for base in bases:
                visitor.request("POST", base + "/api/counter", json={"by": 2})
        attacker = Visitor()
        assert [attacker.bad_login(bases[i % 2], "mallory").status_code for i in range(4)] == [
            200
        ] * 4
        with redis.Redis.from_url(group.master_url) as master:
            master.set("scale-test:marker", "1")
            assert master.wait(1, 5000) == 1  # every write above is on the replica

        kill(group.processes[0])
        statuses, recovery = wait_through_outage(
            lambda base: visitors[0].request("GET", base + "/auth/account").status_code,
            bases,
        )
        assert 503 in statuses and statuses <= {200, 503}, statuses
        with redis.Redis(host=HOST, port=group.sentinel_ports[0], decode_responses=True) as s:
            promoted = s.sentinel_get_master_addr_by_name("app-master")
        assert promoted == (HOST, group.replica_port)

        for visitor in visitors:
            assert all(visitor.logged_in(base) for base in bases)
            counter = visitor.request("POST", bases[0] + "/api/counter", json={"by": 1})
            assert counter.json()["count"] == 5
        # Every login POST from this address counts, before the failover and after.
        left = LOGIN_LIMIT - len(visitors) - 4
        after = [attacker.bad_login(bases[i % 2], "mallory").status_code for i in range(left + 1)]
        assert after == [200] * left + [429]
    print(f"sentinel failover: recovered in {recovery:.1f}s, statuses {sorted(statuses)}")


def role_of(server: redis.Redis) -> str | None:
    """The server's replication role; None while it drops its clients to change it."""
    try:
        role: str = server.info("replication")["role"]
    except redis.exceptions.ConnectionError:
        return None
    return role


def test_a_demoted_master_never_gives_a_500(tmp_path, project, sentinel_ready, database_url):
    """A planned SENTINEL FAILOVER demotes a live master: writes move on, no 500 on the way."""
    with (
        sentinel_group(database_url) as (group, env),
        instances(project, env, tmp_path) as bases,
    ):
        [visitor] = users(project, env, 1)
        visitor.login(bases[0])
        with redis.Redis(host=HOST, port=group.sentinel_ports[0]) as sentinel:
            sentinel.execute_command("SENTINEL", "FAILOVER", "app-master")

        def write(base: str) -> int:
            return visitor.request("POST", base + "/api/counter", json={}).status_code

        statuses, _ = wait_through_outage(write, bases)
        # Keep writing until the sentinels have turned the old master into a replica.
        deadline = time.monotonic() + RECOVERY_SECONDS
        with redis.Redis.from_url(group.master_url) as old_master:
            while role_of(old_master) != "slave":
                assert time.monotonic() < deadline, "the old master was never demoted"
                statuses |= {write(base) for base in bases}
                time.sleep(0.05)
        for _ in range(10):  # connections to the demoted master must move on, not fail
            statuses |= {write(base) for base in bases}
        assert statuses <= {200, 503}, statuses
        assert visitor.logged_in(bases[1])
        with redis.Redis(host=HOST, port=group.sentinel_ports[0], decode_responses=True) as s:
            assert s.sentinel_get_master_addr_by_name("app-master") == (
                HOST,
                group.replica_port,
            )
    print(f"planned sentinel failover: statuses {sorted(statuses)}")


def test_sessions_survive_a_cluster_master_failure(tmp_path, project, database_url):
    """Six nodes: kill the master holding a visitor's session; its replica takes over."""
    require("redis-server", "redis-cli")
    require_postgres()
    with start_redis_cluster() as cluster:
        env = app_env(database_url, REDIS_URL=cluster.url)
        with instances(project, env, tmp_path) as bases:
            visitors = users(project, env, 4)
            for number, visitor in enumerate(visitors):
                visitor.login(bases[number % 2])
                assert visitor.logged_in(bases[(number + 1) % 2])

            prefix = env["FLASK_SESSION_KEY_PREFIX"]
            with RedisCluster(host=HOST, port=cluster.ports[0]) as client:
                [session_id] = [
                    value for key, value in visitors[0].cookies.items() if "session" in key
                ]
                key = prefix + session_id
                assert client.exists(key)
                owner = client.get_node_from_key(key).port
            victim = next(node for node in cluster.nodes if node.port == owner)
            with redis.Redis(host=HOST, port=owner) as master:
                assert master.info("replication")["role"] == "master"
                master.set("{" + key + "}:marker", "1")  # same slot as the session
                assert master.wait(1, 5000) == 1

            kill(victim.process)
            statuses, recovery = wait_through_outage(
                lambda base: visitors[0].request("GET", base + "/auth/account").status_code,
                bases,
            )
            assert 503 in statuses and statuses <= {200, 503}, statuses
            for visitor in visitors:
                assert all(visitor.logged_in(base) for base in bases)
                assert (
                    visitor.request("POST", bases[1] + "/api/counter", json={}).status_code == 200
                )
    print(f"cluster failover: recovered in {recovery:.1f}s, statuses {sorted(statuses)}")


def nginx_site(project: Path, directory: Path, upstreams: list[str]) -> tuple[Path, int, int]:
    """A copy of deploy/nginx.conf on free ports, its TLS block enabled with a test certificate.

    Only addresses, ports and paths change; every proxy setting is the shipped one.
    """
    text = (project / "deploy" / "nginx.conf").read_text()
    http_port, https_port = free_port(), free_port()
    servers = "".join(f"    server {address.removeprefix('http://')};\n" for address in upstreams)
    text, count = re.subn(r"(?m)^    server web:8000.*\n", servers, text)
    assert count == 1, "deploy/nginx.conf no longer has its upstream line"
    tls = re.search(r"# --- TLS server: begin ---\n(.*?)# --- TLS server: end ---", text, re.S)
    assert tls, "deploy/nginx.conf no longer has its TLS block"
    enabled = re.sub(r"(?m)^# ?", "", tls.group(1))
    text = text.replace(tls.group(1), enabled)
    replacements = {
        "listen 80;": f"listen {HOST}:{http_port};",
        "listen 443 ssl;": f"listen {HOST}:{https_port} ssl;",
        "/etc/nginx/certs/fullchain.pem": str(directory / "cert.pem"),
        "/etc/nginx/certs/privkey.pem": str(directory / "key.pem"),
        "/var/log/nginx/access.log": str(directory / "access.log"),
    }
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"]
    subject = ["-subj", f"/CN={HOST}", "-addext", f"subjectAltName=IP:{HOST}"]
    files = ["-keyout", str(directory / "key.pem"), "-out", str(directory / "cert.pem")]
    subprocess.run(
        ["openssl", "req", "-x509", *key, *subject, *files],
        check=True,
        capture_output=True,
    )
    site = directory / "site.conf"
    site.write_text(text)
    return site, http_port, https_port


def test_two_instances_behind_nginx(tmp_path, project, database_url):
    """Round robin keeps the session; limits see the real address; scheme and request ids pass."""
    require("redis-server", "nginx", "openssl")
    require_postgres()
    process, redis_port = start_redis_server()
    try:
        env = app_env(
            database_url,
            REDIS_URL=f"redis://{HOST}:{redis_port}/0",
            FLASK_PROXY_FIX=json.dumps({"x_for": 1, "x_proto": 1}),
        )
        with instances(project, env, tmp_path) as bases:
            site, http_port, https_port = nginx_site(project, tmp_path, bases)
            with start_nginx(site):
                front = f"http://{HOST}:{http_port}"
                [visitor] = users(project, env, 1)
                visitor.login(front)
                counts = [
                    visitor.request("POST", front + "/api/counter", json={}).json()["count"]
                    for _ in range(8)
                ]
                assert counts == list(range(1, 9))
                assert all(visitor.logged_in(front) for _ in range(4))
                log = (tmp_path / "access.log").read_text()
                assert {f"upstream={base.removeprefix('http://')}" in log for base in bases} == {
                    True
                }

                # Rate limits: the address nginx saw, whatever X-Forwarded-For the client sent.
                attacker = Visitor()
                statuses = [
                    attacker.bad_login(
                        front, f"nobody{i}", headers={"X-Forwarded-For": f"203.0.113.{i}"}
                    ).status_code
                    for i in range(LOGIN_LIMIT)
                ]
                left = LOGIN_LIMIT - 1  # the visitor's login above came from this address too
                assert statuses == [200] * left + [429]

                # The scheme: nginx terminating TLS says https, and the app builds https URLs.
                secure = requests.get(
                    f"https://{HOST}:{https_port}/home",
                    allow_redirects=False,
                    timeout=10,
                    verify=str(tmp_path / "cert.pem"),
                )
                assert secure.headers["Location"] == f"https://{HOST}:{https_port}/"
                plain = requests.get(front + "/home", allow_redirects=False, timeout=10)
                assert plain.headers["Location"] == f"http://{HOST}:{http_port}/"

                # A mailed link's token stays out of nginx's log as out of the app's.
                token = URLSafeTimedSerializer("any-key-0123456789", salt="x").dumps({"u": 1})
                requests.get(front + f"/auth/password/reset/{token}", timeout=10)

                # One request id from nginx to the app's log and back.
                generated = requests.get(front + "/about", timeout=10).headers["X-Request-ID"]
                assert re.fullmatch(r"[0-9a-f]{32}", generated)
                given = requests.get(
                    front + "/about", headers={"X-Request-ID": "trace-scale-1"}, timeout=10
                ).headers["X-Request-ID"]
                assert given == "trace-scale-1"
    finally:
        stop_group(process)

    nginx_log = (tmp_path / "access.log").read_text()
    app_lines = [
        json.loads(line)
        for number in range(2)
        for line in (tmp_path / f"instance-{number}.log").read_text().splitlines()
        if line.startswith("{")
    ]
    assert token not in nginx_log
    assert '"GET /auth/password/reset/[token] HTTP/1.1" 400' in nginx_log
    for request_id in (generated, given):
        assert f"request_id={request_id}" in nginx_log
        assert any(line.get("request_id") == request_id for line in app_lines), request_id
