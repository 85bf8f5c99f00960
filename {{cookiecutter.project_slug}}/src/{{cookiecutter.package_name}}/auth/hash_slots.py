"""At most PASSWORD_HASH_CONCURRENCY password hashes (made or checked) at once per process.

A password hash is slow and memory-hungry on purpose. Unbounded, a burst of logins takes
every thread of a worker and a block of memory for each, and the pages that hash nothing
(``/healthz``, the home page) wait behind them. With every slot busy, a request that would
hash is refused at once with a 503 and Retry-After instead of waiting: its client tries
again a moment later and the worker's other threads stay free. The hash keeps its cost.
The ``flask users`` commands hash outside any request and are not bounded.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from flask import current_app, has_request_context
from werkzeug.exceptions import ServiceUnavailable

# What a refused client is told to wait, in seconds: longer than one hash takes.
RETRY_AFTER = 1

_made = threading.Lock()
_slots: dict[int, threading.BoundedSemaphore] = {}


def slots(size: int) -> threading.BoundedSemaphore:
    """This process's semaphore of ``size`` slots, made on first use."""
    with _made:
        if size not in _slots:
            _slots[size] = threading.BoundedSemaphore(size)
        return _slots[size]


@contextlib.contextmanager
def hash_slot() -> Iterator[None]:
    """Hold a slot while hashing; in a request, a 503 at once if none is free."""
    if not has_request_context():
        yield
        return
    slot = slots(current_app.config["PASSWORD_HASH_CONCURRENCY"])
    if not slot.acquire(blocking=False):
        current_app.logger.warning(
            "Every password hashing slot is busy", extra={"event": "hashing_busy"}
        )
        raise ServiceUnavailable(
            "The server is busy; try again in a moment.", retry_after=RETRY_AFTER
        )
    try:
        yield
    finally:
        slot.release()
