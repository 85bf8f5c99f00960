"""``flask jobs worker``: run the background jobs (mail) in this app's configuration."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from .queue import CLUSTER_REASON, runs_inline

jobs_cli = AppGroup("jobs", help="Background jobs: the worker that sends the app's mail.")


@jobs_cli.command("worker")
@click.option("--burst", is_flag=True, help="Run the jobs queued now, then exit.")
def worker_command(burst: bool) -> None:
    """Run queued jobs until stopped; SIGTERM lets the running job finish first."""
    from .worker import run  # RQ's worker is loaded by this command only

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if runs_inline(app.config):
        reason = (
            CLUSTER_REASON
            if not app.config["JOBS_RUN_INLINE"]
            else "JOBS_RUN_INLINE is set: jobs run within the request, and no worker is needed"
        )
        raise click.ClickException(reason)
    if not run(app, burst=burst):
        raise click.ClickException("the job worker stopped on an error (see the log above)")
