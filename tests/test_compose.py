"""The compose files, read as compose reads them: production refuses to start without its
secrets and a mail relay; `make up` runs the same file on one machine, mail caught by Mailpit.

Docker is not needed: each file is parsed, interpolated from the baked .env and the shell
(compose does this per file, before it merges them, so a later file cannot lift a required
value of an earlier one), then merged for the keys the files use.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import bake

BIN = Path(sys.executable).parent
# ${NAME}, ${NAME:-default} and ${NAME:?message}: the forms the compose files use.
VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")
# Where a production .env names its relay (the baked one leaves MAIL_SERVER commented out).
RELAY = {"MAIL_SERVER": "smtp.example.com"}


class RequiredValueMissing(Exception):
    """A ${NAME:?message} with NAME unset or empty: compose stops with the message."""


def interpolate(value: object, env: dict[str, str]) -> object:
    """The value with every variable replaced, as compose does before it merges files."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        if env.get(name):
            return env[name]
        if operator == "?":
            raise RequiredValueMissing(f"{name}: {argument}")
        return argument if operator == "-" else ""

    return VARIABLE.sub(replace, value)


def merge(base: object, override: object) -> object:
    """Compose's merge for the keys these files use: mappings key by key, ports appended."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            if key in base and key == "ports":
                merged[key] = base[key] + value
            elif key in base:
                merged[key] = merge(base[key], value)
            else:
                merged[key] = value
        return merged
    return override


def dot_env(project: Path) -> dict[str, str]:
    """The variables of the baked .env, which compose reads for interpolation."""
    lines = (project / ".env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def load(project: Path, files: list[str], env: dict[str, str]) -> dict:
    """What `docker compose -f FILE ...` runs: each file interpolated, then merged in order."""
    merged: dict = {}
    for name in files:
        merged = merge(merged, interpolate(yaml.safe_load((project / name).read_text()), env))
    return merged


def make_up(project: Path) -> tuple[dict[str, str], list[str], list[str]]:
    """The shell variables, the compose files and the compose command `make up` runs."""
    # Under the root `make test` this make is a sub-make, which would print its directory.
    command = ["make", "--no-print-directory", "-n", "up"]
    result = subprocess.run(command, cwd=project, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    words = shlex.split(result.stdout.strip())
    assignments = {}
    while "=" in words[0]:
        name, value = words.pop(0).split("=", 1)
        assignments[name] = value
    assert words[:2] == ["docker", "compose"], result.stdout
    files = [words[index + 1] for index, word in enumerate(words) if word == "-f"]
    command = [word for word in words[2:] if word != "-f" and word not in files]
    return assignments, files or ["compose.yaml"], command


def app_services(services: dict) -> list[str]:
    """The services that run the app (built from the Dockerfile)."""
    return [name for name, service in services.items() if "build" in service]


@pytest.mark.parametrize("auth", ["yes", "no"])
def test_compose_keeps_data_in_volumes_and_migrates_once(tmp_path, auth):
    """Named volumes for every store, one migrate run before the replicas, nginx in front."""
    project = bake(tmp_path, auth=auth, docker="yes")
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    services = compose["services"]
    stores = {"redis": "redis-data", "web": "instance"}
    if auth == "yes":
        stores["postgres"] = "postgres-data"
    assert set(compose["volumes"]) == set(stores.values())
    for service, volume in stores.items():
        assert any(mount.startswith(f"{volume}:") for mount in services[service]["volumes"])
    assert "--appendonly" in services["redis"]["command"]
    web = services["web"]
    assert web["deploy"]["replicas"] == 2
    # gunicorn is reached through nginx only: nginx alone publishes a port.
    assert [name for name, service in services.items() if "ports" in service] == ["nginx"]
    assert services["nginx"]["volumes"] == ["./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro"]
    assert json.loads(web["environment"]["FLASK_PROXY_FIX"]) == {"x_for": 1, "x_proto": 1}
    if auth == "yes":
        assert web["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert web["environment"]["FLASK_MIGRATE_ON_START"] == "false"
        assert services["migrate"]["command"][-2:] == ["db", "upgrade"]
        # The mail the replicas queue is sent by the worker service, not by a worker
        # gunicorn would start in each replica.
        assert web["environment"]["FLASK_JOBS_EMBEDDED_WORKER"] == "false"
        worker = services["worker"]
        assert worker["command"][-2:] == ["jobs", "worker"]
        assert worker["build"] == web["build"]
        assert worker["environment"] == services["migrate"]["environment"]
        assert "FLASK_JOBS_EMBEDDED_WORKER" not in worker["environment"]
        assert worker["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert worker["depends_on"]["redis"] == {"condition": "service_healthy"}
        assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
        assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
        assert web["environment"]["DATABASE_URL"].startswith("postgresql://app:")
        env = (project / ".env").read_text()
        assert re.search(r"^POSTGRES_PASSWORD=[\w-]{40,}$", env, re.M)
    else:
        assert {"migrate", "postgres", "worker"}.isdisjoint(services)
    check = [BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", "compose.yaml"]
    result = subprocess.run(check, cwd=project, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_compose_refuses_to_start_without_a_mail_relay(tmp_path):
    """The baked .env has the secrets but no relay: compose stops and says what to set."""
    project = bake(tmp_path, auth="yes", docker="yes")
    assert "${MAIL_SERVER:?" in (project / "compose.yaml").read_text()
    with pytest.raises(RequiredValueMissing, match=r"^MAIL_SERVER: set MAIL_SERVER .* make up"):
        load(project, ["compose.yaml"], dot_env(project))
    services = load(project, ["compose.yaml"], dot_env(project) | RELAY)["services"]
    for name in app_services(services):
        assert services[name]["environment"]["MAIL_SERVER"] == "smtp.example.com"
    assert "mailpit" not in services
    for required in ("SECRET_KEY", "POSTGRES_PASSWORD"):
        env = dot_env(project) | RELAY
        del env[required]
        with pytest.raises(RequiredValueMissing, match=rf"^{required}: "):
            load(project, ["compose.yaml"], env)


def test_make_up_runs_the_site_on_this_machine_with_mail_caught_by_mailpit(tmp_path):
    project = bake(tmp_path, auth="yes", docker="yes")
    shell, files, command = make_up(project)
    assert files == ["compose.yaml", "compose.local.yaml"]
    assert command == ["up", "--build"]
    # What `make up` gives compose passes compose.yaml's checks; the .env alone does not.
    services = load(project, files, dot_env(project) | shell)["services"]

    mailpit = services["mailpit"]
    assert mailpit["image"].startswith("axllent/mailpit:")
    assert mailpit["healthcheck"]["test"] == ["CMD", "/mailpit", "readyz"]
    # Its web UI, on this machine only; the app reaches its SMTP port on compose's network.
    assert mailpit["ports"] == ["127.0.0.1:8025:8025"]
    for name in ("web", "worker"):  # the worker sends the mail; web must start with a relay
        assert services[name]["depends_on"]["mailpit"] == {"condition": "service_healthy"}
    for name in app_services(services):
        environment = services[name]["environment"]
        assert environment["MAIL_SERVER"] == "mailpit", name
        assert environment["MAIL_PORT"] == "1025", name  # Mailpit's SMTP port
        assert environment["MAIL_USE_TLS"] == environment["MAIL_USE_SSL"] == "false", name
        assert environment["MAIL_USERNAME"] == environment["MAIL_PASSWORD"] == "", name
        # The value make up gives only passes compose.yaml's check; the local file decides.
        assert shell["MAIL_SERVER"] == environment["MAIL_SERVER"]

    # One consistent project: every dependency exists, every port is local and its own.
    for name, service in services.items():
        assert set(service.get("depends_on", {})) <= set(services), name
    published = [port for service in services.values() for port in service.get("ports", [])]
    assert all(port.startswith("127.0.0.1:") for port in published), published
    host_ports = [port.split(":")[1] for port in published]
    assert sorted(host_ports) == sorted(set(host_ports)) == ["8000", "8025"]


def test_the_local_file_only_adds_to_what_compose_merges_key_by_key(tmp_path):
    """Mappings (environment, depends_on) merge per key, so the merge above is compose's own."""
    project = bake(tmp_path, auth="yes", docker="yes")
    base = yaml.safe_load((project / "compose.yaml").read_text())["services"]
    local = yaml.safe_load((project / "compose.local.yaml").read_text())["services"]
    for name, service in local.items():
        if name in base:
            assert set(service) <= {"environment", "depends_on"}, name
            assert all(isinstance(value, dict) for value in service.values()), name
    check = [
        BIN / "check-jsonschema",
        "--builtin-schema",
        "vendor.compose-spec",
        "compose.local.yaml",
    ]
    result = subprocess.run(check, cwd=project, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_accounts_make_up_is_docker_compose_up(tmp_path):
    """No mail to catch: no local file, and compose.yaml starts on the baked .env alone."""
    project = bake(tmp_path, auth="no", docker="yes")
    assert not (project / "compose.local.yaml").exists()
    shell, files, command = make_up(project)
    assert (shell, files, command) == ({}, ["compose.yaml"], ["up", "--build"])
    services = load(project, files, dot_env(project))["services"]
    assert "mailpit" not in services


@pytest.mark.parametrize(
    ("auth", "how"),
    [("yes", "production"), ("yes", "make up"), ("no", "production")],
    ids=["accounts", "accounts-make-up", "no-accounts"],
)
def test_the_environment_compose_gives_passes_the_production_checks(tmp_path, auth, how):
    """Every service that runs the app starts with what the compose files and Dockerfile set."""
    project = bake(tmp_path, auth=auth, docker="yes")
    if how == "make up":
        shell, files, _ = make_up(project)
    else:
        shell, files = RELAY if auth == "yes" else {}, ["compose.yaml"]
    services = load(project, files, dot_env(project) | shell)["services"]
    (project / ".env").unlink()  # .dockerignore keeps it out of the image
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FLASK_", "REDIS_", "MAIL_"))
    }
    base |= {"FLASK_CONFIG": "production", "PYTHONPATH": str(project / "src")}  # Dockerfile
    names = app_services(services)
    assert names == (["web", "worker", "migrate"] if auth == "yes" else ["web"])
    for name in names:
        env = base | {key: str(value) for key, value in services[name]["environment"].items()}
        result = subprocess.run(
            [sys.executable, "-c", "import wsgi"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, f"{name}: {result.stderr}"


@pytest.mark.parametrize("auth", ["yes", "no"])
def test_traces_and_error_reports_reach_every_app_service_when_set(tmp_path, auth):
    """Off unless .env or the shell names them (an empty value, the default, is off)."""
    project = bake(tmp_path, auth=auth, docker="yes")
    optional = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
        "SENTRY_DSN": "https://key@errors.example.com/1",
    }
    shell = (RELAY if auth == "yes" else {}) | optional
    plain = load(project, ["compose.yaml"], dot_env(project) | shell)["services"]
    # The image gets OpenTelemetry, an extra, only when asked: otherwise redis-py would
    # import its SDK in every process.
    assert {plain[name]["build"]["args"]["EXTRAS"] for name in app_services(plain)} == {""}
    shell["BUILD_EXTRAS"] = "tracing"
    services = load(project, ["compose.yaml"], dot_env(project) | shell)["services"]
    for name in app_services(services):
        environment = services[name]["environment"]
        assert {key: environment[key] for key in optional} == optional, name
        assert environment["OTEL_SERVICE_NAME"] == project.name
        assert services[name]["build"] == {"context": ".", "args": {"EXTRAS": "tracing"}}
