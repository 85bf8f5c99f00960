"""The job worker: RQ's SimpleWorker running each job inside the app, under the request id
of the request that queued it, and logging a job that failed for good in one line.

A SimpleWorker runs jobs in its own process, one after another: no fork per job, so the app
is built once and each job's metrics land in this process's files. The worker also runs
RQ's scheduler, which puts a job whose retry is due back on the queue.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from types import TracebackType
from typing import Any

from flask import Flask
from rq import Queue, SimpleWorker
from rq.job import Job

from {{ cookiecutter.package_name }}.core.logs import make_handler
from {{ cookiecutter.package_name }}.core.metrics import LazyMetric
from {{ cookiecutter.package_name }}.core.redis_client import get_client

from .queue import open_queue

# Jobs that failed on their last try, by the job's function name (the metrics page).
JOBS_FAILED = LazyMetric("Counter", "jobs_failed", "Jobs that failed on their last try.", ["job"])
# The id of the request that queued the running job ("-" between jobs).
JOB_REQUEST_ID: ContextVar[str] = ContextVar("job_request_id", default="-")
# RQ's loggers: the worker's, the jobs' (retries scheduled) and the scheduler's.
RQ_LOGGERS = ("rq.worker", "rq.job", "rq.queue", "rq.scheduler")


class JobRequestID(logging.Filter):
    """Put the running job's request id on records that carry none (a logger's filter runs
    before the handler's, which would write "-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keep the record; only annotate it."""
        if not hasattr(record, "request_id"):
            record.request_id = JOB_REQUEST_ID.get()
        return True


def job_label(job: Job) -> str:
    """The job's function name, as the queue labels it."""
    return (job.func_name or "unknown").rpartition(".")[2]


class AppWorker(SimpleWorker):
    """Runs each job in an app context, with its request id bound for every log line."""

    def __init__(self, app: Flask, queues: list[Queue], **kwargs: Any) -> None:
        super().__init__(queues, **kwargs)
        self.app = app
        self.stop_signalled = False

    def request_stop(self, signum: int, frame: Any) -> None:
        """SIGTERM or SIGINT: finish the running job, then stop (RQ's warm shutdown)."""
        self.stop_signalled = True
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]

    @property
    def should_run_maintenance_tasks(self) -> bool:
        """RQ's check every 10 minutes, and at once when the scheduler process has died.

        The scheduler exits on a lost connection; RQ starts it again only at its next
        maintenance, and until then no retry is put back on the queue. The worker's own
        loop goes round again as it reconnects, so this starts it once Redis is back.
        """
        return self.scheduler_died() or bool(super().should_run_maintenance_tasks)

    def run_maintenance_tasks(self) -> None:
        """RQ's maintenance; a dead scheduler it could not start again (another worker's
        holds the lock) is left to RQ's own retry at its next maintenance."""
        super().run_maintenance_tasks()  # type: ignore[no-untyped-call]
        if self.scheduler is not None and self.scheduler_died():
            self.scheduler._process = None

    def scheduler_died(self) -> bool:
        """Whether RQ's scheduler process has ended."""
        # RQ's own check reads the same attribute (typed there as only ever None).
        process = getattr(self.scheduler, "_process", None)
        return process is not None and not process.is_alive()

    def subscribe(self) -> None:
        """RQ's channel for commands (stop a job, shut down), read by a thread of its own.

        As RQ subscribes, but the thread waits for a message 1 s at a time, not 60: on
        stopping, RQ waits for that thread, and redis-py's wait for it is not cut short.
        """
        # redis-py annotates these only in its later versions, hence unused-ignore.
        self.pubsub = self.connection.pubsub()  # type: ignore[no-untyped-call, unused-ignore]
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment, unused-ignore]
            sleep_time=1, daemon=True, exception_handler=self._pubsub_exception_handler
        )

    def perform_job(self, job: Job, queue: Queue) -> bool:
        """RQ's run of one job (its retry or failure included), inside the app."""
        bound = JOB_REQUEST_ID.set(str(job.meta.get("request_id", "-")))
        try:
            with self.app.app_context():
                done: bool = super().perform_job(job, queue)
                return done
        finally:
            JOB_REQUEST_ID.reset(bound)

    def handle_exception(
        self,
        job: Job,
        *exc_info: type[BaseException] | BaseException | TracebackType | None,
    ) -> None:
        """A job raised: one line saying whether it is tried again or stays failed.

        Replaces RQ's own line, which would log the job's arguments (a mail, its links).
        """
        error = exc_info[1]
        name = job_label(job)
        extra = {"job": name, "job_id": job.id}
        if job.should_retry:
            self.app.logger.warning(
                "Job %s (%s) failed, %s tries left: %s",
                name,
                job.id,
                job.retries_left,
                error,
                extra=extra | {"event": "job_retry"},
            )
            return
        JOBS_FAILED.labels(name).inc()
        self.app.logger.error(
            "Job %s (%s) failed on its last try and stays in the failed jobs: %s",
            name,
            job.id,
            error,
            extra=extra | {"event": "job_failed"},
        )


def log_jobs_like_the_app(app: Flask) -> None:
    """RQ's lines in the app's format (JSON in production); every line of a job, the app's
    included, carries the request id that queued it."""
    handler = make_handler(app.config["LOG_FORMAT"])
    rq_logger = logging.getLogger("rq")
    rq_logger.addHandler(handler)  # RQ adds its own handler only where there is none
    rq_logger.propagate = False
    for name in (app.logger.name, *RQ_LOGGERS):
        logging.getLogger(name).addFilter(JobRequestID())


def run(app: Flask, burst: bool = False) -> bool:
    """Run jobs until stopped (SIGTERM lets the running one finish), or, with ``burst``,
    until the queue is empty; needs an app context. False if the worker stopped on an
    error (Redis lost) rather than on request."""
    log_jobs_like_the_app(app)
    connection = get_client()
    worker = AppWorker(app, [open_queue(connection, app.config)], connection=connection)
    worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
    return burst or worker.stop_signalled
