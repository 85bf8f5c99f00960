"""Background jobs on RQ, in the app's own Redis: work that must not hold a request (mail).

``enqueue(function, *args)`` puts a job on the app's queue and returns; a worker runs it
inside the app (``flask jobs worker``, or the process gunicorn.conf.py starts beside the web
workers) and tries it again after each of JOBS_RETRY_INTERVALS before it stays failed.
With JOBS_RUN_INLINE (development, the tests), or on a Redis Cluster, which RQ cannot use,
a job runs at once in the caller instead.
"""

from __future__ import annotations

from flask import Flask

from .cli import jobs_cli
from .queue import enqueue, runs_inline

__all__ = ["enqueue", "init_app", "runs_inline"]


def init_app(app: Flask) -> None:
    """Add the ``flask jobs`` commands; the queue itself is opened per job, on the app's client."""
    app.cli.add_command(jobs_cli)
