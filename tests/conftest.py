"""Shared helpers for the template's tests: baking, option combinations, a real Redis."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import redis
from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parent.parent
CHOICES = {
    name: value
    for name, value in json.loads((ROOT / "cookiecutter.json").read_text()).items()
    if isinstance(value, list) and not name.startswith("_")
}


def all_combinations() -> list[dict[str, str]]:
    """Every combination of the choice variables."""
    names = list(CHOICES)
    return [
        dict(zip(names, values, strict=True)) for values in itertools.product(*CHOICES.values())
    ]


def combination_id(answers: dict[str, str]) -> str:
    """A readable test id such as py3.11-small-auth_no-docker_yes-github-MIT."""
    return "-".join(f"{name}={value}" for name, value in answers.items()).replace(" ", "_")


def bake(output_dir: Path, **answers: str) -> Path:
    """Bake the template with the real cookiecutter and return the project directory."""
    return Path(
        cookiecutter(str(ROOT), no_input=True, output_dir=str(output_dir), extra_context=answers)
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    """Block until something accepts connections on the port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listened on port {port} within {timeout}s")


def stop_group(process: subprocess.Popen) -> None:
    """Stop a server started in its own process group, children included."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def start_redis_server(executable: str = "redis-server") -> tuple[subprocess.Popen, int]:
    """A throwaway redis-server on a free loopback port, checked to be the one answering.

    Another test can take the port between ``free_port()`` and the bind; our server then
    exits and the port answers for someone else's, so the pid is checked and, if it is not
    ours, another port is tried.
    """
    for _ in range(5):
        port = free_port()
        command = [executable, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
        process = subprocess.Popen([*command, "--appendonly", "no"], stdout=subprocess.DEVNULL)
        wait_for_port(port)
        with redis.Redis(port=port) as client:
            if client.info("server")["process_id"] == process.pid:
                return process, port
        process.terminate()
        process.wait(timeout=10)
    raise RuntimeError("no free port kept long enough to start redis-server on")


def serve(
    project: Path,
    port: int,
    env: dict[str, str],
    *options: str,
    output: int | IO[Any] = subprocess.DEVNULL,
) -> subprocess.Popen:
    """Start gunicorn on the baked project's ``wsgi:app`` at 127.0.0.1:port, in its own group.

    The server gets this process's environment without FLASK_CONFIG (so ``wsgi:app`` runs
    in production unless ``env`` says otherwise), the project's ``src`` on the path, and
    ``env``. Its output, stderr included, goes to ``output``.
    """
    server_env = {key: value for key, value in os.environ.items() if key != "FLASK_CONFIG"}
    server_env |= {"PYTHONPATH": str(project / "src")} | env
    command = [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{port}"]
    return subprocess.Popen(
        [*command, *options],
        cwd=project,
        env=server_env,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A private redis-server for the run; missing Redis fails under REQUIRE_REDIS=1."""
    executable = shutil.which("redis-server")
    if executable is None:
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail("REQUIRE_REDIS=1 but redis-server is not on PATH")
        pytest.skip("redis-server is not on PATH")
    process, port = start_redis_server(executable)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)
