"""`make run`'s launcher: the dev server and its throwaway Redis stop together, cleanly."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from {{ cookiecutter.package_name }}.core.dev_redis import find_server, free_port

PROJECT = Path(__file__).resolve().parent.parent
STARTED = re.compile(r"started a throwaway .* at redis://127\.0\.0\.1:(\d+)/0")


def listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:port."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Launcher:
    """``python -m ...core.dev_redis flask --debug run`` on a free port, its output collected."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        env = {key: value for key, value in os.environ.items() if "REDIS" not in key}
        command = [sys.executable, "-m", "{{ cookiecutter.package_name }}.core.dev_redis"]
        command += [sys.executable, "-m", "flask", "--debug", "run", "--port", str(self.port)]
        self.process = subprocess.Popen(
            command,
            cwd=PROJECT,
            env=env
            | {
                # Installed or not, as pytest finds it (pythonpath = ["src"]).
                "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), env.get("PYTHONPATH", "")]),
                "INSTANCE_PATH": str(tmp_path / "instance"),
                "PYTHONUNBUFFERED": "1",
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self.collect, daemon=True)
        self.reader.start()

    def collect(self) -> None:
        """Keep every line the launcher and the dev server print."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def close(self) -> None:
        """Kill the launcher if a test left it running, and close its output pipe."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.reader.join(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()

    @property
    def output(self) -> str:
        """Everything printed so far."""
        return "".join(self.lines)

    def wait_until_serving(self, timeout: float = 30) -> int:
        """Wait for the dev server to listen; return the throwaway Redis's port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            found = STARTED.search(self.output)
            if found and listening(self.port):
                return int(found.group(1))
            time.sleep(0.1)
        pytest.fail(f"the dev server did not start:\n{self.output[-3000:]}")


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    """A running launcher, cleaned up after the test."""
    if find_server() is None:
        pytest.skip("no redis-server to start")
    started = Launcher(tmp_path)
    yield started
    started.close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_signal_ends_the_dev_server_and_its_redis(launcher, signum):
    redis_port = launcher.wait_until_serving()
    launcher.process.send_signal(signum)
    assert launcher.process.wait(timeout=30) == 0
    assert "Traceback" not in launcher.output
    assert "Stopped the throwaway Redis" in launcher.output
    assert not listening(launcher.port), "the dev server (or its reloader's child) still listens"
    assert not listening(redis_port)


def test_the_dev_server_stops_when_its_redis_dies(launcher):
    redis_port = launcher.wait_until_serving()
    with redis.Redis(port=redis_port) as client:
        client.shutdown(nosave=True)
    assert launcher.process.wait(timeout=30) != 0
    assert "The throwaway Redis exited: stopping the dev server." in launcher.output
    assert not listening(launcher.port)
