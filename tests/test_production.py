"""The baked project under gunicorn: unsafe settings stop the master, other hosts get a 400.

Each refusal must end the whole server (exit status not 0, within a timeout, no worker
respawned in a loop), in one line that names the setting, with no traceback and no
password.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
import requests
from conftest import CHOICES, bake, free_port, locked_venv, serve, stop_group, wait_for_port
from itsdangerous import URLSafeTimedSerializer

from tools.baking import PRODUCTION_ENV

PASSWORD = "S3cretPassw0rd"
GOOD = PRODUCTION_ENV | {"TRUSTED_HOSTS": "127.0.0.1,localhost,example.com"}
REFUSALS = {
    "debug": ({"FLASK_DEBUG": "1"}, "DEBUG is on"),
    "insecure-cookie": ({"FLASK_SESSION_COOKIE_SECURE": "false"}, "SESSION_COOKIE_SECURE is off"),
    "no-csrf": ({"FLASK_WTF_CSRF_ENABLED": "false"}, "WTF_CSRF_ENABLED is off"),
    "no-hosts": ({"TRUSTED_HOSTS": " , "}, "TRUSTED_HOSTS is empty"),
    "short-key": ({"SECRET_KEY": "too-short-a-key"}, "SECRET_KEY is shorter than 32"),
    "placeholder-key": (
        {"SECRET_KEY": "django-insecure-" + "x7Kp2mQ9vR4tW8yZ3bN6cF1hJ5"},
        "SECRET_KEY is a placeholder",
    ),
    "redis-url": ({"REDIS_URL": f"http://user:{PASSWORD}@redis.example/0"}, "REDIS_URL ("),
    "database-url": (
        {"DATABASE_URL": f"postgresql://user:{PASSWORD}@db.example:port/app"},
        "DATABASE_URL (",
    ),
}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The default bake (auth and examples included), shared by this module's servers."""
    return bake(tmp_path_factory.mktemp("production"))


def run_until_exit(project: Path, env: dict[str, str], *options: str, timeout: float = 60):
    """Start gunicorn and wait for it to end by itself: its exit status and output."""
    log = project.parent / f"gunicorn-{free_port()}.log"
    with log.open("w") as output:
        process = serve(project, free_port(), env, *options, output=output)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_group(process)
        pytest.fail(f"gunicorn still ran after {timeout}s:\n{log.read_text()[-3000:]}")
    return process.returncode, log.read_text()


@pytest.mark.parametrize("case", list(REFUSALS))
def test_unsafe_setting_stops_the_master(project, redis_url, case, tmp_path):
    changes, named = REFUSALS[case]
    # The metrics folder gunicorn.conf.py makes in the temporary directory goes too.
    scratch = {"TMPDIR": str(tmp_path), "PROMETHEUS_MULTIPROC_DIR": ""}
    env = {"REDIS_URL": redis_url} | GOOD | changes | scratch
    returncode, output = run_until_exit(project, env)
    assert returncode != 0
    naming = [line for line in output.splitlines() if named in line]
    assert len(naming) == 1, output
    assert naming[0].startswith("error: Refusing to start in production: ")
    assert "Traceback" not in output
    assert PASSWORD not in output
    assert "Booting worker" not in output  # the master stopped before starting any
    assert not list(tmp_path.glob("prometheus-*"))


def test_without_the_config_file_a_worker_stops_the_server(project, redis_url, tmp_path):
    """gunicorn run without gunicorn.conf.py: the worker's exit status 3 ends the master."""
    bare = tmp_path / "bare.conf.py"
    bare.write_text("")
    env = {"REDIS_URL": redis_url} | GOOD | {"FLASK_DEBUG": "1"}
    returncode, output = run_until_exit(project, env, "-c", str(bare), "--workers", "1")
    assert returncode == 3, output
    assert len([line for line in output.splitlines() if "DEBUG is on" in line]) == 1, output
    assert "Traceback" not in output
    assert output.count("Booting worker") == 1  # not respawned


@pytest.fixture(scope="module")
def server(project, tmp_path_factory):
    """The project under gunicorn with safe settings; yields its URL and log file."""
    from tools.servers import start_redis_server

    redis_process, redis_port = start_redis_server()
    log = tmp_path_factory.mktemp("server") / "server.log"
    port = free_port()
    env = {"REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"} | GOOD
    with log.open("w") as output:
        process = serve(project, port, env, "--workers", "1", output=output)
    try:
        wait_for_port(port, process=process)
        yield f"http://127.0.0.1:{port}", log
    finally:
        stop_group(process)
        stop_group(redis_process)


def test_untrusted_host_gets_a_400_and_one_log_line(server):
    base, log = server
    response = requests.get(base + "/about", headers={"Host": "evil.example"}, timeout=10)
    assert response.status_code == 400
    assert "does not answer for that host name" in response.text
    assert "evil.example" not in response.text
    home = requests.get(
        base + "/home", headers={"Host": "evil.example"}, allow_redirects=False, timeout=10
    )
    assert home.status_code == 400
    assert "Location" not in home.headers
    lines = log.read_text().splitlines()
    assert "Traceback" not in log.read_text()
    refused = [json.loads(line) for line in lines if "Refused a request for host" in line]
    assert [record["level"] for record in refused] == ["WARNING", "WARNING"]
    assert "evil.example" in refused[0]["message"]


def test_redirects_name_a_trusted_host_over_https(server):
    """Behind a TLS proxy on this machine (gunicorn trusts its X-Forwarded-Proto)."""
    base, _ = server
    response = requests.get(
        base + "/home",
        headers={"Host": "example.com", "X-Forwarded-Proto": "https"},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 308
    assert response.headers["Location"] == "https://example.com/"
    login = requests.get(
        base + "/auth/account", headers={"Host": "example.com"}, allow_redirects=False, timeout=10
    )
    assert login.status_code == 302
    assert login.headers["Location"].startswith("/auth/login")  # relative: no host at all


def test_mailed_link_tokens_stay_out_of_the_access_log(server):
    """A verify or reset link works for whoever reads it until used: the log hides it."""
    base, log = server
    token = URLSafeTimedSerializer("any-key-0123456789abcdef", salt="x").dumps({"u": 1})
    for path in (f"/auth/verify/{token}", f"/auth/password/reset/{token}"):
        assert requests.get(base + path, timeout=10).status_code in (400, 410)
    deadline = time.monotonic() + 5  # gunicorn writes the access line after the response
    while time.monotonic() < deadline and log.read_text().count("[token]") < 2:
        time.sleep(0.1)
    text = log.read_text()
    assert token not in text
    access = [json.loads(line) for line in text.splitlines() if "[token]" in line]
    assert [line["logger"] for line in access] == ["gunicorn.access"] * 2


def post_chunked(base: str, chunks: Iterable[bytes]) -> bytes:
    """POST a login form sent as these raw chunks (the last chunk added); the whole answer."""
    head = (
        b"POST /auth/login HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        try:  # the server may stop reading (and close) once it has refused the body
            connection.sendall(head + b"".join(chunks) + b"0\r\n\r\n")
        except OSError:
            pass
        return connection.makefile("rb").read()


@pytest.mark.parametrize("chunk", [b"ZZ\r\n{}\r\n", b"2\r\n{}XX", b"-2\r\n{}\r\n"])
def test_a_body_gunicorn_cannot_read_is_a_400(server, chunk):
    """A malformed chunked body reaches the view as gunicorn's error: the client's, not ours."""
    base, log = server
    answer = post_chunked(base, [chunk])
    assert answer.split(maxsplit=2)[1] == b"400", answer[:200]
    assert b"The request body could not be read." in answer
    assert "Traceback" not in log.read_text()


def test_a_chunked_body_past_the_limit_is_a_413(server):
    """A chunked body (no length to refuse up front) over MAX_CONTENT_LENGTH (2 MB) is refused
    as too large, not read cut at the limit (a form missing its fields: a 400)."""
    base, log = server
    chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"a" * 64 * 1024)
    answer = post_chunked(base, [chunk] * 48)  # 3 MB
    assert answer.split(maxsplit=2)[1] == b"413", answer[:200]
    assert "Traceback" not in log.read_text()


def flask_command(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``flask <args>`` in the project folder (its .flaskenv read), production settings."""
    base = {key: value for key, value in os.environ.items() if not key.startswith("FLASK_")}
    base |= {key: value for key, value in GOOD.items() if key != "FLASK_DEBUG"}
    base |= {"PYTHONPATH": str(project / "src")}
    flask = Path(sys.executable).parent / "flask"
    return subprocess.run(
        [flask, *args], cwd=project, env=base | env, capture_output=True, text=True, timeout=60
    )


def test_flask_commands_run_in_production_from_the_project_folder(project, redis_url):
    """`.flaskenv` holds development defaults: none of them may stop a production command."""
    for command in (["db", "upgrade"], ["routes"]):
        result = flask_command(project, {"REDIS_URL": redis_url}, *command)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("case", ["debug", "short-key", "database-url"])
def test_flask_commands_refuse_unsafe_settings_in_one_line(project, redis_url, case):
    changes, named = REFUSALS[case]
    result = flask_command(project, {"REDIS_URL": redis_url} | changes, "db", "upgrade")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert PASSWORD not in result.stderr
    naming = [line for line in result.stderr.splitlines() if named in line]
    assert len(naming) == 1, result.stderr


def test_production_on_sqlite_warns_once_not_once_per_worker(server):
    base, log = server
    assert requests.get(base + "/healthz", timeout=10).status_code == 200  # a worker is up
    warnings = [line for line in log.read_text().splitlines() if "running on SQLite" in line]
    assert len(warnings) == 1, warnings


UNTRACED_PAGES = """
import sys

import wsgi

client = wsgi.app.test_client()
pages = [client.get(path, headers={"Host": "127.0.0.1"}).status_code for path in ("/", "/healthz")]
print(pages, sorted(name for name in sys.modules if name.startswith("opentelemetry")))
"""


def test_an_install_without_the_tracing_extra_loads_no_opentelemetry(tmp_path, redis_url):
    """The Dockerfile's install (no extras): pages load nothing of OpenTelemetry, not even
    through redis-py, and an endpoint set without the extra stops the server in one line."""
    project = bake(tmp_path / "bake")
    venv = locked_venv(project, CHOICES["python_version"][0], extras=())
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLASK_")}
    env |= GOOD | {"REDIS_URL": redis_url, "INSTANCE_PATH": str(tmp_path / "instance")}
    pages = subprocess.run(
        [venv / "python", "-c", UNTRACED_PAGES],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert pages.returncode == 0, pages.stderr[-3000:]
    assert pages.stdout.split("\n")[-2] == "[200, 200] []", pages.stdout
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}"}
    served = subprocess.run(
        [venv / "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{free_port()}"],
        cwd=project,
        env=env | endpoint,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert served.returncode != 0
    naming = [line for line in served.stderr.splitlines() if "OTEL_EXPORTER_OTLP" in line]
    assert naming == [
        "error: OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed: install "
        "the tracing extra (uv sync --extra tracing; for an image, docker build --build-arg "
        "EXTRAS=tracing, or BUILD_EXTRAS=tracing in .env for compose)."
    ], served.stderr
    assert "Traceback" not in served.stderr
