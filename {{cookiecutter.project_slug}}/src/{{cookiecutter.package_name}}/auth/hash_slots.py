"""At most PASSWORD_HASH_CONCURRENCY password hashes (made or checked) at once on the machine.

A password hash is slow and memory-hungry on purpose. Unbounded, a burst of logins takes
every CPU, every thread and a block of memory for each hash, and the pages that hash
nothing (``/healthz``, the home page) wait behind them. A bound per process would still
let every gunicorn worker hash at once, so each slot is a lock file in
PASSWORD_HASH_SLOT_FOLDER held with ``flock``: the lock belongs to the open file, so every
worker and every thread that opens it shares the one bound, and a worker killed mid-hash
frees its slot as its files close. With every slot busy, a request that would hash is
refused at once with a 503 and Retry-After rather than queued. The hash keeps its cost.
Login takes its slot before any other work of its own (``holding_hash_slot``), so a
refusal costs next to nothing. The ``flask users`` commands hash outside any request and
are not bounded. ``flock`` is POSIX (Linux, macOS): like gunicorn, this does not run on
Windows.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
from collections.abc import Callable, Iterator
from typing import Any

from flask import current_app, g, has_request_context, request
from werkzeug.exceptions import ServiceUnavailable

# What a refused client is told to wait, in seconds: longer than one hash takes.
RETRY_AFTER = 1


def take_slot(folder: str, size: int) -> int | None:
    """The open lock file of a free slot, held (closing it frees the slot); None if all
    ``size`` are busy."""
    os.makedirs(folder, exist_ok=True)
    for number in range(size):
        slot = os.open(os.path.join(folder, f"slot-{number}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(slot, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(slot)
            continue
        return slot
    return None


@contextlib.contextmanager
def hash_slot() -> Iterator[None]:
    """Hold a slot while hashing; in a request, a 503 at once if none is free.

    A request holds at most one: hashing again inside the block (a login that redoes an old
    hash) uses the slot it has.
    """
    if not has_request_context() or "hash_slot" in g:
        yield
        return
    config = current_app.config
    slot = take_slot(config["PASSWORD_HASH_SLOT_FOLDER"], config["PASSWORD_HASH_CONCURRENCY"])
    if slot is None:
        current_app.logger.warning(
            "Every password hashing slot is busy", extra={"event": "hashing_busy"}
        )
        raise ServiceUnavailable(
            "The server is busy; try again in a moment.", retry_after=RETRY_AFTER
        )
    g.hash_slot = slot
    try:
        yield
    finally:
        g.pop("hash_slot")
        os.close(slot)


def holding_hash_slot(view: Callable[..., Any]) -> Callable[..., Any]:
    """A view that hashes on POST holds its slot throughout: with none free, it is refused
    before it does any other work (throttles, database)."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if request.method != "POST":
            return view(*args, **kwargs)
        with hash_slot():
            return view(*args, **kwargs)

    return wrapped
