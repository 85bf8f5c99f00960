"""One request's session: a mapping whose data is read from Redis the first time it is used.

``core.sessions`` opens one per request and fills it on first use (``SessionLoader.fetch``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, Protocol

from flask import Flask
from flask.sessions import SessionMixin

from .redis_client import RedisUnavailable


class SessionStoreUnavailable(RedisUnavailable):
    """Redis could not serve a request that needs the session."""

    description = "Sessions are temporarily unavailable. Please try again in a few seconds."
    session_store = True


def absolute_lifetime(app: Flask) -> float:
    """SESSION_ABSOLUTE_LIFETIME in seconds: how long a login lasts, however active."""
    limit: timedelta = app.config["SESSION_ABSOLUTE_LIFETIME"]
    return limit.total_seconds()


class SessionLoader(Protocol):
    """What a session needs from the interface that opened it."""

    permanent: bool

    def fetch(self, session: LazySession) -> None:
        """Take ``session.sid`` from the request's cookie and fill ``session.data`` from the
        store (an empty dict if there is nothing)."""


class LazySession(SessionMixin):
    """One request's session: its data is fetched from Redis the first time it is used.

    A mapping built on the five methods below rather than a dict subclass, so every way of
    reading or changing it (``get``, ``in``, ``items``, ``pop``, ``update``...) loads first.
    """

    def __init__(self, interface: SessionLoader) -> None:
        self.interface = interface
        # Both read on first use: a page that never touches the session parses no cookie.
        self.sid: str | None = None  # None until something is stored: a new visitor has no key
        self.sent_sid: str | None = None  # the id of the browser's cookie, while it is good
        self.cookie_stale = False  # the cookie must be sent again ("remember me" changed)
        self.data: dict[str, Any] | None = None
        self.stored = False  # Redis holds a copy under this sid
        self.store_failed = False
        self.modified = False
        self.accessed = False
        self.saved_at = 0.0
        self.login_at = 0.0  # when rotate_session() last ran; 0 = never logged in
        self.remember = bool(interface.permanent)

    @property
    def loaded(self) -> bool:
        """True once the data is in memory."""
        return self.data is not None

    def load(self) -> dict[str, Any]:
        """The data, fetched now if this is the first use in this request."""
        self.accessed = True
        if self.data is None:
            if self.store_failed:  # Redis failed once in this request: do not wait again
                raise SessionStoreUnavailable()
            self.interface.fetch(self)
        assert self.data is not None  # noqa: S101 - fetch fills it or raises
        return self.data

    def __getitem__(self, key: str) -> Any:
        return self.load()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.load()[key] = value
        self.modified = True

    def __delitem__(self, key: str) -> None:
        del self.load()[key]
        self.modified = True

    def __iter__(self) -> Iterator[str]:
        return iter(self.load())

    def __len__(self) -> int:
        return len(self.load())

    # The two reads views make most, without the generic mapping's detour.
    def __contains__(self, key: object) -> bool:
        return key in self.load()

    def get(self, key: str, default: Any = None) -> Any:
        """``session.get``."""
        return self.load().get(key, default)

    def clear(self) -> None:
        """Empty the session; the stored copy is deleted when the response is saved."""
        self.load().clear()
        self.modified = True

    @property
    def permanent(self) -> bool:
        """Whether the cookie outlives the browser session ("remember me")."""
        self.load()
        return self.remember

    @permanent.setter
    def permanent(self, value: bool) -> None:
        self.load()
        self.remember, self.modified, self.cookie_stale = bool(value), True, True

    def lifetime(self, app: Flask) -> timedelta:
        """How long this session may stay idle: shorter before a login, capped after one."""
        idle: timedelta = app.permanent_session_lifetime
        if not self.login_at:
            anonymous: timedelta = app.config["SESSION_ANONYMOUS_LIFETIME"]
            return min(idle, anonymous)
        left = self.login_at + absolute_lifetime(app) - time.time()
        return min(idle, timedelta(seconds=max(1, left)))
