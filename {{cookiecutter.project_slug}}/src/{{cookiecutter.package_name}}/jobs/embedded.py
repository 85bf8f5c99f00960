"""The job worker gunicorn's master runs beside the web workers (gunicorn.conf.py's hooks).

So that ``gunicorn -c gunicorn.conf.py wsgi:app`` alone sends mail: once the server is
ready, the master starts ``jobs.keeper``, which runs one ``flask jobs worker`` and starts it
again if it dies; when the server stops, so do they (the running job may finish first).
JOBS_EMBEDDED_WORKER false leaves them out, where workers run apart (compose's worker).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys

from flask import Flask

from {{ cookiecutter.package_name }}.core.database import SQLITE_WARNED, warned_sqlite

from .keeper import STOP_TIMEOUT
from .queue import CLUSTER_REASON, runs_inline

# gunicorn's own log (JSON through gunicorn.conf.py): these are the server's lines.
logger = logging.getLogger("gunicorn.error")


class EmbeddedWorker:
    """The keeper process of the server's job worker."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.command = command
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the keeper (from the master's main thread, between its forks)."""
        if self.process is None:
            self.process = subprocess.Popen(self.command, env=self.env)  # noqa: S603 - this Python, fixed arguments

    def restart(self) -> None:
        """Have the keeper start the worker afresh."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        """Stop the keeper and its worker, letting the running job finish."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(STOP_TIMEOUT + 5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def embedded_worker(app: Flask) -> EmbeddedWorker | None:
    """The worker for the server of ``app`` to run, or None where it needs none."""
    if runs_inline(app.config):
        if not app.config["JOBS_RUN_INLINE"]:
            logger.info(CLUSTER_REASON)
        return None
    if not app.config["JOBS_EMBEDDED_WORKER"]:
        logger.info("JOBS_EMBEDDED_WORKER is off: jobs wait for a `flask jobs worker` elsewhere")
        return None
    package = __name__.partition(".")[0]
    keeper = [sys.executable, "-m", f"{package}.jobs.keeper"]
    if app.config["LOG_FORMAT"] == "json":
        keeper.append("--json")
    worker = [sys.executable, "-m", "flask", "--app", package, "jobs", "worker"]
    # The server's configuration, not .flaskenv's development defaults.
    env = os.environ | {"FLASK_CONFIG": app.config["CONFIG_NAME"], "FLASK_SKIP_DOTENV": "1"}
    if warned_sqlite:
        env[SQLITE_WARNED] = "1"  # the server's log has said it once
    return EmbeddedWorker([*keeper, "--", *worker], env)


# The server's worker, kept here rather than in gunicorn.conf.py: gunicorn reads that file
# again on a reload, and the hooks read afterwards must still find the running worker.
current: EmbeddedWorker | None = None


def prepare(app: Flask) -> None:
    """Choose the worker for the server of ``app`` (gunicorn's on_starting)."""
    global current
    current = embedded_worker(app)


def start() -> None:
    """Start the chosen worker, if any (gunicorn's when_ready)."""
    if current is not None:
        current.start()


def restart() -> None:
    """Start the worker afresh (gunicorn's on_reload)."""
    if current is not None:
        current.restart()


def stop() -> None:
    """Stop the worker for good (gunicorn's on_exit)."""
    if current is not None:
        current.stop()
