"""Server-side sessions in Redis: Flask-Session's Redis interface, loaded lazily.

The stock interface reads Redis when a request starts and writes the whole session back
when it ends, whether the view used the session or not. This subclass changes three things:

* the read happens the first time the view touches ``session`` (a health check or a
  static page carrying a session cookie costs no Redis call and survives a Redis outage);
* the write happens only when the session changed, or when less than half of
  PERMANENT_SESSION_LIFETIME is left, which slides the expiry without a write per request;
* Redis being unreachable becomes a 503 page, with one log line instead of a traceback.

Use ``rotate_session()`` at login (the id changes, the data stays, the old id dies) and
``end_session()`` at logout (the Redis key is deleted, not just the cookie).
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import msgspec
from flask import Flask, Request, Response, current_app, session
from flask_session.base import ServerSideSessionInterface
from flask_session.redis import RedisSession, RedisSessionInterface
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from . import redis_client

RETRY_AFTER_SECONDS = 5
SID_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
SAVED_AT = "_saved_at"  # stored beside the data, never visible in ``session``


class SessionStoreUnavailable(ServiceUnavailable):
    """Redis could not be reached for a request that needs the session."""

    description = "Sessions are temporarily unavailable. Please try again in a few seconds."

    def __init__(self) -> None:
        super().__init__(retry_after=RETRY_AFTER_SECONDS)


def _plain(value: Any) -> Any:
    """Store Markup and lazy strings as plain text; they are escaped again when shown."""
    if isinstance(value, str) or hasattr(value, "__html__"):
        return str(value)
    raise NotImplementedError(f"cannot store {type(value).__name__} in the session")


class SessionSerializer:
    """msgpack without Flask-Session's pickle fallback: stored data is never unpickled."""

    def __init__(self) -> None:
        self.encoder = msgspec.msgpack.Encoder(enc_hook=_plain)
        self.decoder = msgspec.msgpack.Decoder(dict)

    def encode(self, data: dict[str, Any]) -> bytes:
        """Serialize the session data."""
        return self.encoder.encode(data)

    def decode(self, raw: bytes) -> dict[str, Any]:
        """Deserialize the session data; raise msgspec.DecodeError on garbage."""
        data: dict[str, Any] = self.decoder.decode(raw)
        return data


class LazyRedisSession(RedisSession):
    """A session whose data is fetched from Redis the first time it is used."""

    def __init__(
        self,
        sid: str,
        loader: Callable[[LazyRedisSession], None] | None = None,
        permanent: bool | None = None,
    ) -> None:
        # Nothing to fetch while the base class sets itself up.
        self._loader: Callable[[LazyRedisSession], None] | None = None
        self.store_failed = False
        self.saved_at = 0.0
        super().__init__(None, sid=sid, permanent=permanent)
        self._loader = loader

    @property
    def loaded(self) -> bool:
        """True once the data is in memory (a new session has nothing to fetch)."""
        return self._loader is None

    def _load(self) -> None:
        if self.store_failed:
            # Redis already failed in this request: fail the same way, without waiting again.
            raise SessionStoreUnavailable()
        loader, self._loader = self._loader, None
        if loader is not None:
            loader(self)


def _loads_first(name: str) -> Callable[..., Any]:
    method = getattr(RedisSession, name)

    @functools.wraps(method)
    def wrapper(self: LazyRedisSession, *args: Any, **kwargs: Any) -> Any:
        self._load()
        return method(self, *args, **kwargs)

    return wrapper


# Every way of reading or changing a dict fetches the data first. dict's C methods do not
# call each other, so each one is wrapped.
for _name in (
    "__getitem__", "__setitem__", "__delitem__", "__contains__", "__iter__", "__len__",
    "__bool__", "__repr__", "__eq__", "__ne__", "__or__", "__ior__", "get", "setdefault",
    "pop", "popitem", "update", "clear", "keys", "values", "items", "copy",
):  # fmt: skip
    setattr(LazyRedisSession, _name, _loads_first(_name))


class LazyRedisSessionInterface(RedisSessionInterface):
    """Flask-Session's Redis interface with lazy reads, change-only writes and 503s."""

    session_class = LazyRedisSession

    def __init__(self, app: Flask, client: redis_client.LazyClient, **kwargs: Any) -> None:
        # RedisSessionInterface.__init__ only stores a ready redis.Redis; ours is built on first
        # use (a cluster client connects as it is built), so ``client`` is a property below.
        ServerSideSessionInterface.__init__(self, app, **kwargs)
        self.lazy_client = client
        self.serializer = SessionSerializer()
        # token_urlsafe(n) gives ceil(4n/3) characters from this alphabet, nothing else.
        self.sid_chars = math.ceil(self.sid_length * 4 / 3)

    @property
    def client(self) -> Any:
        """The app's Redis client (a server, a Sentinel master or a cluster).

        Typed Any like the base class's attribute: redis-py types every reply bytes | str,
        and ours are bytes (no decode_responses).
        """
        return self.lazy_client.get()

    def new_session(self) -> LazyRedisSession:
        """An empty session with a fresh id."""
        return self.session_class(sid=self._generate_sid(self.sid_length), permanent=self.permanent)

    def open_session(self, app: Flask, request: Request) -> LazyRedisSession:
        """Read the id from the cookie; fetch nothing yet. A malformed id starts afresh."""
        sid = request.cookies.get(self.get_cookie_name(app), "")
        if len(sid) != self.sid_chars or not SID_ALPHABET.fullmatch(sid):
            return self.new_session()
        return self.session_class(sid=sid, loader=self._fetch)

    def _fetch(self, session: LazyRedisSession) -> None:
        """Fill the session from Redis; an unknown or unreadable id gets a new one."""
        try:
            raw = self.client.get(self._get_store_id(session.sid))
        except redis_client.UNAVAILABLE as exc:
            session.store_failed = True
            current_app.logger.error("Redis is unreachable, cannot read the session: %s", exc)
            raise SessionStoreUnavailable() from exc
        data = self._decode(raw) if raw else None
        if data is None:
            # Never adopt an id the client chose (session fixation): issue our own.
            session.sid = self._generate_sid(self.sid_length)
            if self.permanent:
                dict.__setitem__(session, "_permanent", True)
            return
        session.saved_at = float(data.pop(SAVED_AT, 0))
        dict.update(session, data)

    def _decode(self, raw: bytes) -> dict[str, Any] | None:
        try:
            return self.serializer.decode(raw)
        except msgspec.DecodeError:
            current_app.logger.warning("Discarding an unreadable session")
            return None

    def refresh_due(self, app: Flask, session: LazyRedisSession) -> bool:
        """True when less than half of the lifetime is left on the stored session."""
        half_life = app.permanent_session_lifetime.total_seconds() / 2
        return time.time() - session.saved_at > half_life

    def _upsert_session(
        self, session_lifetime: timedelta, session: RedisSession, store_id: str
    ) -> None:
        session_data = dict(session)
        session_data[SAVED_AT] = int(time.time())
        self.client.set(
            store_id,
            self.serializer.encode(session_data),
            ex=int(session_lifetime.total_seconds()),
        )

    def save_session(self, app: Flask, session: RedisSession, response: Response) -> None:
        """Write only what changed (or is due for a refresh); leave untouched sessions alone."""
        assert isinstance(session, LazyRedisSession)  # noqa: S101 - set by open_session
        if not session.loaded or session.store_failed:
            return
        try:
            if session and not session.modified and self.refresh_due(app, session):
                session.modified = True
            super().save_session(app, session, response)
        except redis_client.UNAVAILABLE as exc:
            session.store_failed = True
            app.logger.error("Redis is unreachable, cannot save the session: %s", exc)
            become_error_page(app, response, SessionStoreUnavailable())

    def should_set_storage(self, app: Flask, session: RedisSession) -> bool:
        """Write on change only; ``save_session`` marks a due refresh as a change."""
        return bool(session.modified)

    def forget(self, session: LazyRedisSession) -> None:
        """Delete the stored copy of this session now."""
        try:
            self._delete_session(self._get_store_id(session.sid))
        except redis_client.UNAVAILABLE as exc:
            session.store_failed = True
            raise SessionStoreUnavailable() from exc


def become_error_page(app: Flask, response: Response, error: HTTPException) -> None:
    """Turn the response being finished into the page for ``error``, in place.

    Raising after the view would reach Flask as an unhandled exception: a traceback in the
    log for every request of an outage that is already logged in one line.
    """
    page = app.make_response(app.handle_http_exception(error))
    response.status = page.status
    response.headers = page.headers
    response.set_data(page.get_data())


def _current() -> tuple[LazyRedisSessionInterface, LazyRedisSession]:
    interface = current_app.session_interface
    current = session._get_current_object()  # type: ignore[attr-defined]
    assert isinstance(interface, LazyRedisSessionInterface)  # noqa: S101
    assert isinstance(current, LazyRedisSession)  # noqa: S101
    return interface, current


def rotate_session() -> None:
    """Give the session a new id and keep its data; the old id stops working at once.

    Unlike Flask-Session's ``regenerate()``, this also works on an empty or just-cleared
    session, so calling it can never silently do nothing.
    """
    interface, current = _current()
    current._load()
    interface.forget(current)
    current.sid = interface._generate_sid(interface.sid_length)
    current.modified = True


def end_session() -> None:
    """Log out for real: delete the Redis key and continue under a new, empty session.

    Anything stored after this (a "logged out" flash) goes under the new id, so the old
    cookie finds nothing if it is replayed.
    """
    interface, current = _current()
    current._load()
    interface.forget(current)
    current.clear()
    current.sid = interface._generate_sid(interface.sid_length)


def init_app(app: Flask) -> None:
    """Install the lazy Redis session interface on the app."""
    app.session_interface = LazyRedisSessionInterface(
        app,
        client=app.extensions["redis"],
        key_prefix=app.config["SESSION_KEY_PREFIX"],
        permanent=app.config["SESSION_PERMANENT"],
        sid_length=app.config["SESSION_ID_LENGTH"],
    )
