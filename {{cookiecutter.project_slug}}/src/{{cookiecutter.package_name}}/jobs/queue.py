"""Putting a job on the app's queue, or running it at once where there is no queue."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from flask import current_app, has_request_context, request

from {{ cookiecutter.package_name }}.core.metrics import LazyMetric
from {{ cookiecutter.package_name }}.core.redis_client import get_client, guarded, is_cluster

# rq is imported when a job is queued, not at start-up: every worker and flask command would
# pay for it, and inline (development, tests, a Redis Cluster) never queues.
if TYPE_CHECKING:
    import redis
    from rq import Queue, Retry

# Jobs put on the queue, by the job's function name (the metrics page).
JOBS_ENQUEUED = LazyMetric("Counter", "jobs_enqueued", "Jobs put on the queue.", ["job"])
# Why a Redis Cluster runs jobs in the request: said once by the server and by the worker.
CLUSTER_REASON = (
    "REDIS_URL names a Redis Cluster, which RQ cannot use (its worker does not run on one): "
    "mail is sent within the request, and no job worker is needed"
)


def runs_inline(config: Mapping[str, Any]) -> bool:
    """Whether jobs run at once in the caller: as configured, or on a Redis Cluster."""
    return bool(config["JOBS_RUN_INLINE"]) or is_cluster(config)


def job_name(function: Callable[..., object]) -> str:
    """A job's label in the metrics and the log: its function's name."""
    return function.__name__


def open_queue(connection: redis.Redis, config: Mapping[str, Any]) -> Queue:
    """The app's queue (JOBS_QUEUE) on a connection; building it sends nothing to Redis."""
    from rq import Queue

    return Queue(config["JOBS_QUEUE"], connection=connection)


def retry_policy(config: Mapping[str, Any]) -> Retry | None:
    """One more try after each of JOBS_RETRY_INTERVALS; none for an empty list."""
    from rq import Retry

    intervals = [int(seconds) for seconds in config["JOBS_RETRY_INTERVALS"]]
    return Retry(max=len(intervals), interval=intervals) if intervals else None


def enqueue(function: Callable[..., object], *args: Any) -> None:
    """Run ``function(*args)`` in a job: queued and left to a worker, or run now inline.

    Queueing goes through the breaker like any Redis call of a request: with Redis down the
    request gets the 503 page, so a mail is never reported sent when it was not queued.
    Inline, the function's own exception reaches the caller, as it did before jobs.
    """
    config = current_app.config
    if runs_inline(config):
        function(*args)
        return
    queue = open_queue(get_client(), config)
    name = job_name(function)
    # The worker logs the job's lines under the id of the request that queued it.
    request_id = request.headers.get("X-Request-ID", "-") if has_request_context() else "-"
    guarded(
        lambda: queue.enqueue(
            function,
            *args,
            retry=retry_policy(config),
            job_timeout=config["JOBS_TIMEOUT"],
            result_ttl=0,  # a finished job is deleted at once: its arguments may be a mail
            failure_ttl=config["JOBS_FAILED_TTL"],
            meta={"request_id": request_id},
            description=name,  # RQ logs it: the default, the call, would show the mail
        ),
        f"queue the job {name}",
    )
    JOBS_ENQUEUED.labels(name).inc()
