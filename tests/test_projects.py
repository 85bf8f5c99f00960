"""Baked projects pass their own tests, run with make, and share sessions across servers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from conftest import (
    CHOICES,
    assert_mypy_and_bandit_pass,
    bake,
    combination_id,
    free_port,
    locked_venv,
    serve,
    spread_pythons,
    stop_group,
    tree_combinations,
    wait_for_port,
)

# Each tree's suite runs once, on the Python spread_pythons gives it: the oldest's on the
# template's venv (the defaults' in `make test` below, in its own locked venv), every other
# Python's in a venv from that Python's lock.
PYTHONS = spread_pythons(tree_combinations())
OLDEST = CHOICES["python_version"][0]
OTHER_PYTHONS = [
    (version, answers) for version in CHOICES["python_version"][1:] for answers in PYTHONS[version]
]


@pytest.mark.parametrize("answers", PYTHONS[OLDEST][1:], ids=combination_id)
def test_baked_project_passes_its_own_tests(tmp_path, answers, redis_url):
    project = bake(tmp_path, **answers)
    env = os.environ | {"REQUIRE_REDIS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


@pytest.mark.parametrize(
    ("version", "answers"),
    OTHER_PYTHONS,
    ids=[f"{version}-{combination_id(answers)}" for version, answers in OTHER_PYTHONS],
)
def test_each_offered_python_runs_its_project_tests_and_linters(
    tmp_path, version, answers, redis_url
):
    """The other python_version answers, each on its own interpreter from its own lock: the
    suite and `make lint`'s gates (ruff, mypy strict, bandit)."""
    project = bake(tmp_path, python_version=version, **answers)
    venv = locked_venv(project, version, extras=("dev", "test"))
    which = subprocess.run(
        [venv / "python", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
    )
    assert which.stdout.strip() == version
    for command in (
        [venv / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        [venv / "ruff", "check", "."],
        [venv / "ruff", "format", "--check", "."],
    ):
        result = subprocess.run(
            command,
            cwd=project,
            env=os.environ | {"REQUIRE_REDIS": "1"},
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert_mypy_and_bandit_pass(project, venv)


@pytest.mark.slow
def test_make_install_test_lint_and_run(tmp_path):
    """The README's promise: make install, make test, make lint, make run serve the home page."""
    project = bake(tmp_path)
    env = {key: value for key, value in os.environ.items() if not key.startswith("VIRTUAL_ENV")}
    env.pop("REDIS_URL", None)
    for target in ("install", "lint", "test"):
        result = subprocess.run(
            ["make", target], cwd=project, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, (
            f"make {target}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )

    port = free_port()
    server = subprocess.Popen(
        ["make", "run"],
        cwd=project,
        env=env | {"FLASK_RUN_PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_port(port, timeout=30)
        response = requests.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert response.status_code == 200
        assert "<title>Home · Flask Starter App</title>" in response.text
        ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert ready.json()["redis"] == "ok"  # the throwaway Redis make run started
    finally:
        stop_group(server)


# Production with accounts requires a mail server (these tests send no mail).
MAIL = {"MAIL_SERVER": "127.0.0.1"}


def gunicorn(project: Path, port: int, redis_url: str) -> subprocess.Popen:
    env = MAIL | {
        "SECRET_KEY": "RrsRdWqAayv8D8h94KXOSRtIJZ6Yq_dABK-tgM0PQEg",
        "TRUSTED_HOSTS": "127.0.0.1,localhost",
        "REDIS_URL": redis_url,
        "FLASK_CONFIG": "production",
    }
    return serve(project, port, env, "-c", "gunicorn.conf.py", "--workers", "2", "--threads", "4")


def test_sessions_are_shared_by_two_servers(tmp_path, redis_url):
    """Two gunicorn servers, one Redis: 8 clients x 200 increments, alternating, none lost."""
    project = bake(tmp_path)
    ports = [free_port(), free_port()]
    servers = []
    try:
        # One after the other: each master applies the migrations before it listens.
        for port in ports:
            servers.append(gunicorn(project, port, redis_url))
            wait_for_port(port)
        cookie_name = "__Host-flask_starter_app_session"  # production: Secure, __Host-

        def one_client(_: int) -> tuple[int, int]:
            http = requests.Session()
            cookie = None
            count = 0
            for i in range(200):
                url = f"http://127.0.0.1:{ports[i % 2]}/api/counter"
                headers = {"Cookie": f"{cookie_name}={cookie}"} if cookie else {}
                response = http.post(url, json={}, headers=headers, timeout=10)
                response.raise_for_status()
                # Secure cookies are not replayed over http by requests; carry it by hand.
                if cookie_name in response.cookies:
                    cookie = response.cookies[cookie_name]
                count = response.json()["count"]
            final = requests.get(
                f"http://127.0.0.1:{ports[1]}/api/counter",
                headers={"Cookie": f"{cookie_name}={cookie}"},
                timeout=10,
            )
            return count, final.json()["count"]

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(one_client, range(8)))
        assert results == [(200, 200)] * 8
    finally:
        for server in servers:
            stop_group(server)


def test_production_serving_under_gunicorn(tmp_path, redis_url):
    """Headers, request ids in access and JSON app logs, and the account pages over HTTP."""
    project = bake(tmp_path)
    port = free_port()
    log = tmp_path / "server.log"
    env = MAIL | {
        "SECRET_KEY": "UFsqi9Rzi7UbU_zH1augeUEMZUtS4fGiigAohaPo450",
        "REDIS_URL": redis_url,
        "TRUSTED_HOSTS": "127.0.0.1,localhost",
    }
    with log.open("w") as output:
        server = serve(project, port, env, output=output)  # wsgi:app defaults to production
    try:
        wait_for_port(port)
        base = f"http://127.0.0.1:{port}"
        home = requests.get(base + "/", headers={"X-Request-ID": "trace-home-1"}, timeout=10)
        assert home.status_code == 200
        assert home.headers["X-Request-ID"] == "trace-home-1"
        assert home.headers["Strict-Transport-Security"].startswith("max-age=")
        assert home.headers["X-Content-Type-Options"] == "nosniff"
        assert "default-src 'self'" in home.headers["Content-Security-Policy"]

        page = requests.get(base + "/auth/login", timeout=10)
        assert 'name="csrf_token"' in page.text
        # Looking at a form costs no session: its CSRF secret comes in a cookie of its own.
        assert list(page.cookies.keys()) == ["__Host-flask_starter_app_csrf"]
        cookie = page.cookies["__Host-flask_starter_app_csrf"]
        assert "Secure" in page.headers["Set-Cookie"]
        assert page.headers["Cache-Control"] == "no-store"
        token = re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', page.text).group(1)
        failed = requests.post(
            base + "/auth/login",
            data={"username": "nobody", "password": "wrong password", "csrf_token": token},
            headers={
                "Cookie": f"__Host-flask_starter_app_csrf={cookie}",
                "X-Request-ID": "trace-login-2",
            },
            timeout=10,
        )
        assert "Invalid username, email or password." in failed.text
    finally:
        stop_group(server)

    lines = [line for line in log.read_text().splitlines() if line.strip()]
    # Every line is one JSON object: gunicorn's own, its access log, alembic's and the app's.
    app_lines = [json.loads(line) for line in lines]
    loggers = {line["logger"] for line in app_lines}
    assert {"gunicorn.error", "gunicorn.access", "flask_starter_app"} <= loggers, loggers
    assert any(line["logger"].startswith("alembic") for line in app_lines)
    access = next(line for line in app_lines if line["logger"] == "gunicorn.access")
    assert access["request_id"] == "trace-home-1"
    # Each app record once, as JSON: not repeated by a handler the migrations put on root.
    assert not [line for line in lines if "[flask_starter_app]" in line], lines
    failure = next(line for line in app_lines if "Failed login" in line["message"])
    assert failure["request_id"] == "trace-login-2"
    assert failure["level"] == "WARNING"
    assert "wrong password" not in log.read_text()


@pytest.mark.parametrize("auth", CHOICES["auth"])
def test_production_refuses_to_start_without_a_secret_key(tmp_path, redis_url, auth):
    project = bake(tmp_path, auth=auth)
    (project / ".env").unlink()
    env = {key: value for key, value in os.environ.items() if key != "SECRET_KEY"}
    env |= {"REDIS_URL": redis_url, "PYTHONPATH": str(project / "src")}
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{free_port()}"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Refusing to start in production: SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr
