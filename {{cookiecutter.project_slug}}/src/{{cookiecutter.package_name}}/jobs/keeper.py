"""Keeps one job worker running: started again whenever it dies, stopped with the server.

``python -m {{ cookiecutter.package_name }}.jobs.keeper [--json] -- COMMAND...`` runs COMMAND
(``flask jobs worker``) until SIGTERM or SIGINT, which it passes on (the running job may
finish), or until its parent, gunicorn's master, is gone; SIGHUP starts the worker afresh.
A process of its own rather than a thread of the master: a process started from a thread
while the master forks its web workers would wait for them (they inherit the pipe that
reports the start), and the master has no hook in which to start a dead worker again.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from types import FrameType

from {{ cookiecutter.package_name }}.core.logs import RequestIDFilter, json_formatter

logger = logging.getLogger("{{ cookiecutter.package_name }}.jobs.keeper")
# Seconds before a dead worker is started again, so a crash at start-up does not spin.
RESTART_DELAY = 2.0
# Seconds the running job gets to finish once the worker is asked to stop.
STOP_TIMEOUT = 30.0
# How often the keeper looks at its worker and its parent.
POLL_SECONDS = 0.5


class Keeper:
    """Runs ``command`` again and again until told to stop or orphaned."""

    def __init__(self, command: list[str]) -> None:
        self.command = command
        self.parent = os.getppid()
        self.process: subprocess.Popen[bytes] | None = None
        self.stop_asked_at: float | None = None

    def on_stop(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM, SIGINT: stop the worker for good (its running job may finish)."""
        self.stop()

    def on_restart(self, signum: int, frame: FrameType | None) -> None:
        """SIGHUP: stop the running worker; the loop starts a fresh one (new code)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def stopping(self) -> bool:
        """Whether the worker was asked to stop for good."""
        return self.stop_asked_at is not None

    def stop(self) -> None:
        """Stop the worker and do not start another."""
        if self.stop_asked_at is None:
            self.stop_asked_at = time.monotonic()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def watch(self, process: subprocess.Popen[bytes]) -> int:
        """Wait for the worker to end: stopping it if the parent goes, killing it if it does
        not stop in time. Its exit status."""
        while (status := process.poll()) is None:
            if os.getppid() != self.parent and not self.stopping():
                logger.warning("The server is gone: stopping the job worker")
                self.stop()
            if self.stop_asked_at and time.monotonic() - self.stop_asked_at > STOP_TIMEOUT:
                process.kill()
            time.sleep(POLL_SECONDS)
        return status

    def pause(self, seconds: float) -> None:
        """Sleep before a restart, waking early if asked to stop."""
        deadline = time.monotonic() + seconds
        while not self.stopping() and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS / 5)

    def run(self) -> None:
        """Start the worker, and again each time it exits unasked."""
        while not self.stopping():
            self.process = subprocess.Popen(self.command)  # noqa: S603 - the server's own command
            logger.info("Started the job worker (pid %s)", self.process.pid)
            status = self.watch(self.process)
            if self.stopping():
                return
            logger.error(
                "The job worker (pid %s) exited with %s; starting another in %s s",
                self.process.pid,
                status,
                RESTART_DELAY,
            )
            self.pause(RESTART_DELAY)


def main(argv: list[str]) -> None:
    """Parse the arguments, set up logging and signals, keep the worker running."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="log JSON lines")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the worker's command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    handler = logging.StreamHandler()
    handler.addFilter(RequestIDFilter())
    if args.json:
        handler.setFormatter(json_formatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    keeper = Keeper(command)
    signal.signal(signal.SIGTERM, keeper.on_stop)
    signal.signal(signal.SIGINT, keeper.on_stop)
    signal.signal(signal.SIGHUP, keeper.on_restart)
    keeper.run()


if __name__ == "__main__":
    main(sys.argv[1:])
