"""Sessions by id, other than this request's: which still exist, and ending them anywhere.

The accounts' list of signed-in devices uses these; every call goes to the session store
behind the app's breaker, so Redis failing is the 503 page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app

from .lazy_session import SessionStoreUnavailable
from .redis_client import guarded
from .sessions import LazyRedisSessionInterface


def store_call(command: Callable[[], Any]) -> Any:
    """Run one call on the session store behind the circuit breaker; Redis down is a 503."""
    return guarded(command, "use the session store", SessionStoreUnavailable)


def _pipeline(command: str, sids: list[str]) -> list[Any]:
    """One command per session id, in one round trip (each key on its own in a cluster)."""
    interface = current_app.session_interface
    assert isinstance(interface, LazyRedisSessionInterface)  # noqa: S101
    pipe = interface.client.pipeline(transaction=False)
    for sid in sids:
        getattr(pipe, command)(interface.store_key(sid))
    return list(store_call(pipe.execute))


def existing_sessions(sids: list[str]) -> list[bool]:
    """Which of these session ids still have data in Redis (expired or ended ones do not)."""
    return [bool(found) for found in _pipeline("exists", sids)]


def delete_sessions(sids: list[str]) -> None:
    """End these sessions wherever they are in use: their Redis keys are deleted now."""
    _pipeline("delete", sids)
