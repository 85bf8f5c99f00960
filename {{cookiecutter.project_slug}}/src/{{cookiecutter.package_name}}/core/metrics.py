"""The app's Prometheus metrics, and the page that serves them in the text format.

Under gunicorn every worker writes its numbers to files in ``PROMETHEUS_MULTIPROC_DIR``
(prometheus_client's multiprocess mode, set up by ``gunicorn.conf.py``), and the worker
that answers a scrape adds up all of them; without it (``make run``, the tests) the one
process serves its own. What every request records (its count, its latency, its Redis
round trips) is kept in this process and written out at most ``FLUSH_SECONDS`` apart,
since writing those files on every request would cost more than the page itself.

prometheus_client is imported by the first metric used (``LazyMetric``), not as the app is
made: it costs every process about 10 ms to import, and a ``flask`` command records nothing.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import threading
import time
from bisect import bisect_left
from typing import TYPE_CHECKING, Any, ClassVar

from .breaker import UNREACHABLE, CircuitOpen

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment
    from prometheus_client import Histogram

# How stale a scrape may find another worker's request counts.
FLUSH_SECONDS = 1.0
# Where guarded() counts the current request's Redis round trips.
ROUND_TRIPS = "app.redis_round_trips"

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ROUND_TRIP_BUCKETS = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0)
REQUEST_LABELS = ("endpoint", "method", "status")
# The endpoint label of requests no route matched.
NO_ENDPOINT = "none"
# Any other method is counted as "other": a client cannot make up labels.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class LazyMetric:
    """A prometheus_client metric (``kind``: Counter, Gauge, Histogram), made on first use.

    Every one is made before a scrape, so /metrics lists them all from the start.
    """

    made: ClassVar[list[LazyMetric]] = []
    lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, kind: str, *args: Any, **kwargs: Any) -> None:
        self.kind, self.args, self.kwargs = kind, args, kwargs
        self.metric: Any = None
        LazyMetric.made.append(self)

    def get(self) -> Any:  # a Counter, Gauge or Histogram: each has methods of its own
        """The metric, made (and registered) now if this is its first use."""
        if self.metric is None:
            with LazyMetric.lock:  # registered twice, a name is an error
                if self.metric is None:
                    import prometheus_client

                    kind = getattr(prometheus_client, self.kind)
                    self.metric = kind(*self.args, **self.kwargs)
        return self.metric

    def labels(self, *values: str) -> Any:
        """The child of these label values."""
        return self.get().labels(*values)

    def inc(self, amount: float = 1) -> None:
        """Add to a counter or gauge without labels."""
        self.get().inc(amount)

    def set(self, value: float) -> None:
        """Set a gauge without labels."""
        self.get().set(value)


REQUESTS = LazyMetric("Counter", "http_requests", "Requests answered.", REQUEST_LABELS)
LATENCY = LazyMetric(
    "Histogram",
    "http_request_duration_seconds",
    "Time from the request reaching the app to its response starting.",
    REQUEST_LABELS,
    buckets=LATENCY_BUCKETS,
)
REDIS_ROUND_TRIPS = LazyMetric(
    "Histogram",
    "redis_round_trips_per_request",
    "Redis round trips of each request that used Redis.",
    ["endpoint"],
    buckets=ROUND_TRIP_BUCKETS,
)
REDIS_ERRORS = LazyMetric("Counter", "redis_errors", "Redis calls that failed.", ["cause"])
SESSION_STORE_ERRORS = LazyMetric(
    "Counter", "session_store_errors", "Session reads and writes that failed.", ["cause"]
)
# One per worker whose breaker is open (refusing Redis calls, or probing).
BREAKER_OPEN = LazyMetric(
    "Gauge",
    "redis_breaker_open",
    "Workers whose Redis circuit breaker is open.",
    multiprocess_mode="livesum",
)

logger = logging.getLogger(__name__)


def error_cause(error: Exception) -> str:
    """A short label for why a Redis call failed."""
    if isinstance(error, CircuitOpen):
        return "circuit_open"
    return "unreachable" if isinstance(error, UNREACHABLE) else "error_reply"


def count_redis_error(error: Exception, session_store: bool) -> None:
    """A Redis call failed (at most a few per request, and only while Redis is failing)."""
    cause = error_cause(error)
    REDIS_ERRORS.labels(cause).inc()
    if session_store:
        SESSION_STORE_ERRORS.labels(cause).inc()


def breaker_changed(is_open: bool) -> None:
    """The circuit breaker of this process opened or closed."""
    BREAKER_OPEN.set(1 if is_open else 0)


def count_round_trip(environ: WSGIEnvironment) -> None:
    """One more Redis round trip for the request of ``environ``."""
    environ[ROUND_TRIPS] = environ.get(ROUND_TRIPS, 0) + 1


def observe_all(child: Histogram, values: list[float]) -> None:
    """Add values to a histogram as as many ``observe()`` calls would.

    prometheus_client observes one value at a time, each a write to its file; this adds
    to the same sum and buckets, each once (a batch observe would be the change to send
    upstream). The tests compare both ways.
    """
    child._sum.inc(sum(values))
    bounds = child._upper_bounds  # the last is +Inf
    # The first bucket whose bound is >= the value, as observe() picks it.
    buckets = collections.Counter(bisect_left(bounds, value) for value in values)
    for bucket, count in buckets.items():
        child._buckets[bucket].inc(count)


class Recorder:
    """Each request's numbers, queued as they come and added up by a thread of this process.

    A request only appends one tuple (a deque's append is atomic, so it takes no lock);
    sorting them into labels and buckets happens in the flush, a second at a time.
    """

    def __init__(self) -> None:
        # (seconds, method, status line, endpoint, Redis round trips) per request.
        self.queue: collections.deque[tuple[float, str, str, str, int]] = collections.deque()
        self.lock = threading.Lock()  # one flush at a time
        self.flusher: threading.Thread | None = None

    def start_flusher(self) -> None:
        """Flush every FLUSH_SECONDS, and once more as the process exits.

        Called by the first request a process serves: a gunicorn worker, after the fork.
        """
        with self.lock:
            if self.flusher is not None:
                return
            self.flusher = threading.Thread(target=self.run, name="metrics-flush", daemon=True)
            self.flusher.start()
        atexit.register(self.flush)

    def run(self) -> None:
        """The flusher thread."""
        while True:
            time.sleep(FLUSH_SECONDS)
            try:
                self.flush()
            except Exception:  # a full disk must not end the flushing for good
                logger.exception("Could not write the request metrics")

    def flush(self) -> None:
        """Add up the queued requests and write them to the metrics."""
        with self.lock:
            pop = self.queue.popleft
            # Grouped as queued, labels made once per group: this runs once per request.
            latencies: collections.defaultdict[tuple[str, str, str], list[float]]
            latencies = collections.defaultdict(list)
            round_trips: collections.defaultdict[str, list[float]]
            round_trips = collections.defaultdict(list)
            for _ in range(len(self.queue)):  # what came in meanwhile waits for the next
                seconds, method, line, endpoint, trips = pop()
                latencies[endpoint, method, line].append(seconds)
                if trips:
                    round_trips[endpoint].append(trips)
            for (endpoint, method, line), values in latencies.items():
                labels = (endpoint, method if method in METHODS else "other", line[:3])
                REQUESTS.labels(*labels).inc(len(values))
                observe_all(LATENCY.labels(*labels), values)
            for endpoint, values in round_trips.items():
                observe_all(REDIS_ROUND_TRIPS.labels(endpoint), values)


RECORDER = Recorder()


def exposition() -> tuple[bytes, str]:
    """Every metric in the text format, and its content type: all workers' together in
    multiprocess mode."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    for metric in LazyMetric.made:
        metric.get()
    RECORDER.flush()
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST
