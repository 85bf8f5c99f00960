"""Server-side sessions in Redis: Flask-Session's Redis interface, loaded lazily.

The stock interface reads Redis when a request starts and writes the whole session back
when it ends, whether the view used the session or not. This subclass changes that:

* the read happens the first time the view touches ``session`` (a health check or a
  static page carrying a session cookie costs no Redis call and survives a Redis outage);
* the write happens only when the session changed, or when less than half of its
  lifetime is left, which slides the expiry without a write per request;
* the CSRF secret Flask-WTF keeps in ``session`` goes to a cookie of its own (``core.csrf``),
  so a visitor who only looks at a form gets no Redis key and no session cookie;
* a session nobody logged in to lives SESSION_ANONYMOUS_LIFETIME; after a login it lives
  PERMANENT_SESSION_LIFETIME idle and SESSION_ABSOLUTE_LIFETIME at most, and its pages are
  sent with ``Cache-Control: no-store``;
* a session that would grow past SESSION_MAX_BYTES is refused with a 413, not stored;
* any Redis error becomes a 503 page with one log line instead of a traceback, and the
  app's circuit breaker (``core.breaker``) makes a hung Redis fail fast.

Use ``rotate_session()`` at login (the id and the CSRF secret change, the data stays, the
old id dies, the absolute lifetime starts) and ``end_session()`` at logout (the Redis key
is deleted, not just the cookie, and the CSRF secret changes).
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from flask import Flask, Request, Response, current_app, session
from flask_session.base import ServerSideSessionInterface
from flask_session.redis import RedisSession, RedisSessionInterface
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from .breaker import CircuitBreaker
from .csrf import CsrfCookie, rotate_csrf
from .redis_client import UNAVAILABLE, LazyClient, RedisUnavailable, describe

SID_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
# Stored beside the data, never visible in ``session``.
SAVED_AT = "_saved_at"
LOGIN_AT = "_login_at"
MISSING = object()


class SessionStoreUnavailable(RedisUnavailable):
    """Redis could not serve a request that needs the session."""

    description = "Sessions are temporarily unavailable. Please try again in a few seconds."


class SessionTooLarge(RequestEntityTooLarge):
    """The view stored more in the session than SESSION_MAX_BYTES allows."""

    description = "This request would store too much in your session; nothing was saved."


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
    """A session whose data is fetched from Redis the first time it is used.

    The one key ``csrf_key`` is not part of the data: it reads and writes ``csrf_secret``,
    the CSRF cookie, without fetching anything.
    """

    def __init__(
        self,
        sid: str,
        loader: Callable[[LazyRedisSession], None] | None = None,
        permanent: bool | None = None,
        csrf_secret: CsrfCookie | None = None,
        csrf_key: str = "",
    ) -> None:
        # Nothing to fetch while the base class sets itself up.
        self._loader: Callable[[LazyRedisSession], None] | None = None
        self.csrf_secret = csrf_secret
        self.csrf_key = csrf_key
        self.store_failed = False
        self.stored = False  # Redis holds a copy under this sid
        self.saved_at = 0.0
        self.login_at = 0.0  # when rotate_session() last ran; 0 = never logged in
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

    def _csrf(self, key: object) -> CsrfCookie | None:
        """The CSRF cookie when ``key`` names it, else None."""
        return self.csrf_secret if key == self.csrf_key else None

    def __getitem__(self, key: str) -> Any:
        if (secret := self._csrf(key)) is not None:
            if (value := secret.get()) is None:
                raise KeyError(key)
            return value
        self._load()
        return super().__getitem__(key)

    def __setitem__(self, key: str, value: Any) -> None:
        if (secret := self._csrf(key)) is not None:
            secret.set(value)
            return
        self._load()
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        if (secret := self._csrf(key)) is not None:
            if secret.get() is None:
                raise KeyError(key)
            secret.set(None)
            return
        self._load()
        super().__delitem__(key)

    def __contains__(self, key: object) -> bool:
        if (secret := self._csrf(key)) is not None:
            return secret.get() is not None
        self._load()
        return bool(super().__contains__(key))

    def get(self, key: str, default: Any = None) -> Any:
        """``session.get``; the CSRF key reads its cookie."""
        if (secret := self._csrf(key)) is not None:
            value = secret.get()
            return default if value is None else value
        self._load()
        return super().get(key, default)

    def setdefault(self, key: str, default: Any = None) -> Any:
        """``session.setdefault``; the CSRF key reads or sets its cookie."""
        if (secret := self._csrf(key)) is not None:
            if secret.get() is None:
                secret.set(default)
            return secret.get()
        self._load()
        return super().setdefault(key, default)

    def pop(self, key: str, default: Any = MISSING) -> Any:
        """``session.pop``; the CSRF key forgets its cookie."""
        if (secret := self._csrf(key)) is not None:
            value = secret.get()
            if value is None:
                if default is MISSING:
                    raise KeyError(key)
                return default
            secret.set(None)
            return value
        self._load()
        if default is MISSING:
            return super().pop(key)
        return super().pop(key, default)


def _loads_first(name: str) -> Callable[..., Any]:
    method = getattr(RedisSession, name)

    @functools.wraps(method)
    def wrapper(self: LazyRedisSession, *args: Any, **kwargs: Any) -> Any:
        self._load()
        return method(self, *args, **kwargs)

    return wrapper


# Every other way of reading or changing a dict fetches the data first. dict's C methods do
# not call each other, so each one is wrapped.
for _name in (
    "__iter__", "__len__", "__bool__", "__repr__", "__eq__", "__ne__", "__or__", "__ior__",
    "popitem", "update", "clear", "keys", "values", "items", "copy",
):  # fmt: skip
    setattr(LazyRedisSession, _name, _loads_first(_name))


class LazyRedisSessionInterface(RedisSessionInterface):
    """Flask-Session's Redis interface with lazy reads, change-only writes and 503s."""

    session_class = LazyRedisSession

    def __init__(
        self, app: Flask, breaker: CircuitBreaker, client: LazyClient, **kwargs: Any
    ) -> None:
        # RedisSessionInterface.__init__ only stores a ready redis.Redis; ours is built on first
        # use (a cluster client connects as it is built), so ``client`` is a property below.
        ServerSideSessionInterface.__init__(self, app, **kwargs)
        self.breaker = breaker
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

    def store_key(self, sid: str) -> str:
        """The Redis key of a session id (the configured prefix, then the id)."""
        return f"{self.key_prefix}{sid}"

    def open_session(self, app: Flask, request: Request) -> LazyRedisSession:
        """Read the id from the cookie; fetch nothing yet. A malformed id starts afresh."""
        csrf_secret = CsrfCookie(app, request.cookies.get(app.config["CSRF_COOKIE_NAME"]))
        sid = request.cookies.get(self.get_cookie_name(app), "")
        if len(sid) == self.sid_chars and SID_ALPHABET.fullmatch(sid):
            loader: Callable[[LazyRedisSession], None] | None = self._fetch
            permanent = None  # the stored data says
        else:
            sid, loader, permanent = self._generate_sid(self.sid_length), None, self.permanent
        return self.session_class(
            sid=sid,
            loader=loader,
            permanent=permanent,
            csrf_secret=csrf_secret,
            csrf_key=app.config["WTF_CSRF_FIELD_NAME"],
        )

    def _fetch(self, session: LazyRedisSession) -> None:
        """Fill the session from Redis; an unknown, unreadable or too old id gets a new one."""
        try:
            with self.breaker.guard():
                raw = self.client.get(self.store_key(session.sid))
        except UNAVAILABLE as exc:
            session.store_failed = True
            current_app.logger.error("%s: cannot read the session", describe(exc))
            raise SessionStoreUnavailable() from exc
        data = self._decode(raw) if raw else None
        if data is not None and self.past_absolute_lifetime(current_app, data):
            current_app.logger.info("Ending a session older than SESSION_ABSOLUTE_LIFETIME")
            self.forget(session)
            data = None
        if data is None:
            # Never adopt an id the client chose (session fixation): issue our own.
            session.sid = self._generate_sid(self.sid_length)
            if self.permanent:
                dict.__setitem__(session, "_permanent", True)
            return
        session.stored = True
        session.saved_at = float(data.pop(SAVED_AT, 0))
        session.login_at = float(data.pop(LOGIN_AT, 0))
        data.pop(session.csrf_key, None)  # kept in its cookie now, never in Redis
        dict.update(session, data)

    def _decode(self, raw: bytes) -> dict[str, Any] | None:
        try:
            return self.serializer.decode(raw)
        except msgspec.DecodeError:
            current_app.logger.warning("Discarding an unreadable session")
            return None

    def past_absolute_lifetime(self, app: Flask, data: dict[str, Any]) -> bool:
        """True for a logged-in session whose login is older than SESSION_ABSOLUTE_LIFETIME."""
        login_at = float(data.get(LOGIN_AT, 0))
        limit = app.config["SESSION_ABSOLUTE_LIFETIME"].total_seconds()
        return bool(login_at) and time.time() - login_at > limit

    def lifetime(self, app: Flask, session: LazyRedisSession) -> timedelta:
        """How long this session may stay idle: shorter before a login, capped after one."""
        idle: timedelta = app.permanent_session_lifetime
        if not session.login_at:
            anonymous: timedelta = app.config["SESSION_ANONYMOUS_LIFETIME"]
            return min(idle, anonymous)
        absolute = app.config["SESSION_ABSOLUTE_LIFETIME"].total_seconds()
        left = session.login_at + absolute - time.time()
        return min(idle, timedelta(seconds=max(1, left)))

    def get_expiration_time(self, app: Flask, session: Any) -> datetime | None:
        """The cookie expires with the Redis key (a browser-session cookie if not permanent)."""
        if not session.permanent:
            return None
        return datetime.now(UTC) + self.lifetime(app, session)

    def refresh_due(self, app: Flask, session: LazyRedisSession) -> bool:
        """True when less than half of the lifetime is left on the stored session."""
        return time.time() - session.saved_at > self.lifetime(app, session).total_seconds() / 2

    def _upsert_session(
        self, session_lifetime: timedelta, session: RedisSession, store_id: str
    ) -> None:
        assert isinstance(session, LazyRedisSession)  # noqa: S101 - set by open_session
        session_data = dict(session)
        session_data[SAVED_AT] = int(time.time())
        if session.login_at:
            session_data[LOGIN_AT] = int(session.login_at)
        payload = self.serializer.encode(session_data)
        limit = self.app.config["SESSION_MAX_BYTES"]
        if len(payload) > limit:
            raise SessionTooLarge(f"{len(payload)} bytes, over the limit of {limit}")
        seconds = max(1, int(session_lifetime.total_seconds()))
        with self.breaker.guard():
            # A session read from Redis is rewritten only while its key is still there: one
            # ended meanwhile by another request (a sign-out everywhere) stays ended.
            written = self.client.set(store_id, payload, ex=seconds, xx=session.stored)
        session.stored = bool(written)

    def _delete_session(self, store_id: str) -> None:
        with self.breaker.guard():
            self.client.delete(store_id)

    def save_session(self, app: Flask, session: RedisSession, response: Response) -> None:
        """Write only what changed (or is due for a refresh); leave untouched sessions alone."""
        assert isinstance(session, LazyRedisSession)  # noqa: S101 - set by open_session
        if session.loaded and not session.store_failed:
            try:
                self.store(app, session, response)
            except UNAVAILABLE as exc:
                session.store_failed = True
                app.logger.error("%s: cannot save the session", describe(exc))
                become_error_page(app, response, SessionStoreUnavailable())
            except SessionTooLarge as exc:
                app.logger.warning("Refused to store a session: %s", exc.description)
                become_error_page(app, response, SessionTooLarge())
        if session.csrf_secret is not None:
            session.csrf_secret.save(response)

    def store(self, app: Flask, session: LazyRedisSession, response: Response) -> None:
        """Write, refresh or delete the stored copy, and set the cookie to match."""
        if session.accessed:
            response.vary.add("Cookie")
        if session.login_at:
            response.headers["Cache-Control"] = "no-store"  # a page for one logged-in user
        if not (session or session.modified):
            return  # nothing stored and nothing to forget: most anonymous pages
        name, domain, path = (
            self.get_cookie_name(app),
            self.get_cookie_domain(app),
            self.get_cookie_path(app),
        )
        secure, samesite = self.get_cookie_secure(app), self.get_cookie_samesite(app)
        if not session:
            if session.modified:  # emptied by the view: forget it on both sides
                if session.stored:
                    self._delete_session(self.store_key(session.sid))
                response.delete_cookie(
                    name, domain=domain, path=path, secure=secure, samesite=samesite
                )
            return
        if not (session.modified or self.refresh_due(app, session)):
            return
        self._upsert_session(self.lifetime(app, session), session, self.store_key(session.sid))
        if not session.stored:
            app.logger.info("Not saving a session that was ended while this request ran")
            response.delete_cookie(name, domain=domain, path=path, secure=secure, samesite=samesite)
            return
        response.set_cookie(
            name,
            session.sid,
            expires=self.get_expiration_time(app, session),
            httponly=self.get_cookie_httponly(app),
            domain=domain,
            path=path,
            secure=secure,
            samesite=samesite,
        )
        response.vary.add("Cookie")

    def forget(self, session: LazyRedisSession) -> None:
        """Delete the stored copy of this session now."""
        try:
            self._delete_session(self.store_key(session.sid))
        except UNAVAILABLE as exc:
            session.store_failed = True
            current_app.logger.error("%s: cannot delete the session", describe(exc))
            raise SessionStoreUnavailable() from exc
        session.stored = False


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
    # The proxy's documented way to reach the object behind it (Flask's "Notes On Proxies").
    current = session._get_current_object()  # type: ignore[attr-defined]
    assert isinstance(interface, LazyRedisSessionInterface)  # noqa: S101
    assert isinstance(current, LazyRedisSession)  # noqa: S101
    return interface, current


def rotate_session() -> None:
    """At login: a new id and CSRF secret, the same data; the old id stops working at once.

    It also starts the login's absolute lifetime (SESSION_ABSOLUTE_LIFETIME) and its longer
    idle lifetime. Unlike Flask-Session's ``regenerate()``, this also works on an empty or
    just-cleared session, so calling it can never silently do nothing.
    """
    interface, current = _current()
    current._load()
    interface.forget(current)
    current.sid = interface._generate_sid(interface.sid_length)
    current.login_at = time.time()
    current.modified = True
    rotate_csrf()


def end_session() -> None:
    """Log out for real: delete the Redis key and continue under a new, empty session.

    Anything stored after this (a "logged out" flash) goes under the new id, so the old
    cookie finds nothing if it is replayed; forms rendered before it are refused.
    """
    interface, current = _current()
    current._load()
    interface.forget(current)
    current.clear()
    current.sid = interface._generate_sid(interface.sid_length)
    current.login_at = 0.0
    rotate_csrf()


def current_session_id() -> str:
    """The id this request's session is stored under (after ``rotate_session()``, the new one)."""
    _, current = _current()
    sid: str = current.sid
    return sid


def _interface() -> LazyRedisSessionInterface:
    interface = current_app.session_interface
    assert isinstance(interface, LazyRedisSessionInterface)  # noqa: S101
    return interface


def store_call(command: Callable[[], Any]) -> Any:
    """Run one call on the session store behind the circuit breaker; Redis down is a 503."""
    try:
        with _interface().breaker.guard():
            return command()
    except UNAVAILABLE as exc:
        raise SessionStoreUnavailable() from exc


def existing_sessions(sids: list[str]) -> list[bool]:
    """Which of these session ids still have data in Redis (expired or ended ones do not)."""
    interface = _interface()
    pipe = interface.client.pipeline(transaction=False)
    for sid in sids:
        pipe.exists(interface.store_key(sid))
    return [bool(found) for found in store_call(pipe.execute)]


def delete_sessions(sids: list[str]) -> None:
    """End these sessions wherever they are in use: their Redis keys are deleted now."""
    interface = _interface()
    pipe = interface.client.pipeline(transaction=False)
    for sid in sids:  # one key per command: keys of a Redis Cluster live in different slots
        pipe.delete(interface.store_key(sid))
    store_call(pipe.execute)


def init_app(app: Flask) -> None:
    """Install the lazy Redis session interface on the app."""
    app.session_interface = LazyRedisSessionInterface(
        app,
        breaker=app.extensions["redis_breaker"],
        client=app.extensions["redis"],
        key_prefix=app.config["SESSION_KEY_PREFIX"],
        permanent=app.config["SESSION_PERMANENT"],
        sid_length=app.config["SESSION_ID_LENGTH"],
    )
