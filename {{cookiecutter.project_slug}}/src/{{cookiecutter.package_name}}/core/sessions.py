"""Server-side sessions in Redis: Flask-Session's Redis interface, read only when used.

Stock Flask-Session reads Redis as a request starts and writes the session back as it ends,
used or not. This subclass reads on first use (a page that never touches ``session`` costs
no Redis call and survives an outage); writes only a changed session, or one past half its
lifetime; stores a new visitor's session only once it holds something (SESSION_CREATION_LIMIT
per client); keeps anonymous sessions SESSION_ANONYMOUS_LIFETIME and logged-in ones
PERMANENT_SESSION_LIFETIME idle, SESSION_ABSOLUTE_LIFETIME at most (pages ``no-store``);
refuses to grow past SESSION_MAX_BYTES (413); and answers a Redis failure with the 503 page.

``rotate_session()`` at login: a new id and CSRF secret, the same data, the old id dead at
once. ``end_session()`` at logout: the Redis key deleted, not just the cookie.
"""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from flask import Flask, Request, Response, current_app, request, session
from flask_session.base import ServerSideSessionInterface
from flask_session.redis import RedisSessionInterface
from werkzeug.exceptions import RequestEntityTooLarge, TooManyRequests

from .csrf import rotate_csrf
from .errors import become_error_page
from .lazy_session import LazySession, SessionStoreUnavailable, absolute_lifetime
from .redis_client import LazyClient, RedisUnavailable, run_command
from .session_limit import count_new_session

SID_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
# Stored beside the data, never visible in ``session``. SAVED_AT: when the cookie's expiry
# last moved (and the key's with it).
SAVED_AT = "_saved_at"
LOGIN_AT = "_login_at"
PERMANENT = "_permanent"


class SessionTooLarge(RequestEntityTooLarge):
    """The view stored more in the session than SESSION_MAX_BYTES allows."""

    description = "This request would store too much in your session; nothing was saved."


def _plain(value: Any) -> Any:
    """Store Markup and lazy strings as plain text; they are escaped again when shown."""
    if isinstance(value, str) or hasattr(value, "__html__"):
        return str(value)
    raise NotImplementedError(f"cannot store {type(value).__name__} in the session")


def vary_on_cookie(response: Response) -> None:
    """Add ``Cookie`` to ``Vary``; parsing the header only if there is one (it rarely is)."""
    vary = response.headers.get("Vary")
    if vary is None:
        response.headers["Vary"] = "Cookie"
    elif "cookie" not in {name.strip().lower() for name in vary.split(",")}:
        response.vary.add("Cookie")


class LazyRedisSessionInterface(RedisSessionInterface):
    """Flask-Session's Redis interface with lazy reads, change-only writes and 503s."""

    session_class = LazySession

    def __init__(self, app: Flask, client: LazyClient, **kwargs: Any) -> None:
        # RedisSessionInterface.__init__ only stores a ready client (or makes a default one);
        # ours is built on first use (a cluster client connects as it is built).
        ServerSideSessionInterface.__init__(self, app, **kwargs)
        self.lazy_client = client
        # msgpack without Flask-Session's pickle fallback: stored data is never unpickled.
        self.encoder = msgspec.msgpack.Encoder(enc_hook=_plain)
        self.decoder = msgspec.msgpack.Decoder(dict[str, Any])
        # token_urlsafe(n) gives ceil(4n/3) characters from SID_ALPHABET, nothing else.
        self.sid_chars = math.ceil(self.sid_length * 4 / 3)

    @property
    def client(self) -> Any:
        """The app's Redis client (a server, a Sentinel master or a cluster)."""
        return self.lazy_client.get()

    def store_key(self, sid: str) -> str:
        """The Redis key of a session id."""
        return f"{self.key_prefix}{sid}"

    def new_sid(self) -> str:
        """A fresh, random session id."""
        sid: str = self._generate_sid(self.sid_length)
        return sid

    def open_session(self, app: Flask, request: Request) -> LazySession:
        """A session that reads its cookie, and then Redis, when the view first uses it."""
        return LazySession(self)

    def cookie_sid(self) -> str | None:
        """The session id in this request's cookie; None if there is none or it is malformed."""
        if "HTTP_COOKIE" not in request.environ:
            return None  # a first visit: no cookies to parse
        cookie: str = request.cookies.get(current_app.config["SESSION_COOKIE_NAME"], "")
        return cookie if len(cookie) == self.sid_chars and SID_ALPHABET.fullmatch(cookie) else None

    def command(self, task: str, *args: Any) -> Any:
        """One command on the session store, behind the breaker: Redis failing is a 503."""
        return run_command(task, *args, unavailable=SessionStoreUnavailable)

    # Flask-Session's three backend methods, on the app's client behind its breaker.
    def _retrieve_session_data(self, store_id: str) -> dict[str, Any] | None:
        raw = self.command("read the session", "GET", store_id)
        if not raw:
            return None
        try:
            data: dict[str, Any] = self.decoder.decode(raw)
        except msgspec.DecodeError:
            current_app.logger.warning("Discarding an unreadable session")
            return None
        return data

    def _delete_session(self, store_id: str) -> None:
        self.command("delete the session", "DEL", store_id)

    def _upsert_session(self, lifetime: timedelta, session: Any, store_id: str) -> None:
        meta = {SAVED_AT: int(session.saved_at), PERMANENT: session.remember}
        if session.login_at:
            meta[LOGIN_AT] = int(session.login_at)
        payload = self.encoder.encode(session.data | meta)
        limit = current_app.config["SESSION_MAX_BYTES"]
        if len(payload) > limit:
            raise SessionTooLarge(f"{len(payload)} bytes, over the limit of {limit}")
        seconds = max(1, int(lifetime.total_seconds()))
        # A session read from Redis is rewritten only while its key is still there: one ended
        # meanwhile by another request (a sign-out everywhere) stays ended.
        args = ("SET", store_id, payload, "EX", seconds) + (("XX",) if session.stored else ())
        session.stored = bool(self.command("save the session", *args))

    def fetch(self, session: LazySession) -> None:
        """Fill the session from Redis; an unknown, unreadable or too old id is dropped."""
        session.sid = self.cookie_sid()
        if session.sid is None:
            session.data = {}  # a new visitor: nothing to read
            return
        try:
            data = self._retrieve_session_data(self.store_key(session.sid))
        except SessionStoreUnavailable:
            session.store_failed = True
            raise
        login_at = float(data.pop(LOGIN_AT, 0)) if data else 0.0
        if login_at and time.time() - login_at > absolute_lifetime(current_app):
            current_app.logger.info("Ending a session older than SESSION_ABSOLUTE_LIFETIME")
            self.forget(session)
            data = None
        if data is None:
            # Never adopt an id the client chose (session fixation): a new one if stored.
            session.sid, session.data = None, {}
            return
        session.stored, session.login_at, session.sent_sid = True, login_at, session.sid
        session.saved_at = float(data.pop(SAVED_AT, 0))
        session.remember = bool(data.pop(PERMANENT, self.permanent))
        session.data = data

    def forget(self, session: LazySession) -> None:
        """Delete the stored copy of this session now."""
        if session.sid is not None:
            try:
                self._delete_session(self.store_key(session.sid))
            except SessionStoreUnavailable:
                session.store_failed = True
                raise
        session.stored = False

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        """Write only what changed (or is due for a refresh); an unused session returns at once."""
        if session.data is None or session.store_failed or not session.accessed:
            return
        vary_on_cookie(response)
        if session.login_at:
            response.headers["Cache-Control"] = "no-store"  # a page for one logged-in user
        try:
            self.store(app, session, response)
        except RedisUnavailable:  # the session store, or the counter of new sessions
            session.store_failed = True
            become_error_page(app, response, SessionStoreUnavailable())
        except TooManyRequests as exc:
            become_error_page(app, response, exc)
        except SessionTooLarge as exc:
            app.logger.warning("Refused to store a session: %s", exc.description)
            become_error_page(app, response, SessionTooLarge())

    def store(self, app: Flask, session: LazySession, response: Response) -> None:
        """Write, refresh or delete the stored copy, and set the cookie to match."""
        if session.data:
            lifetime = session.lifetime(app)
            due = time.time() - session.saved_at > lifetime.total_seconds() / 2
            if not (session.modified or due):
                return
            if not (session.stored or session.login_at):
                count_new_session()  # a new key for a visitor: limited per client
            session.sid = session.sid or self.new_sid()
            # Every write moves the key's expiry; the cookie's moves only when due, so a
            # write in between sends no cookie (the key outlives the cookie either way).
            resend = due or session.cookie_stale or session.sid != session.sent_sid
            session.saved_at = time.time() if resend else session.saved_at
            self._upsert_session(lifetime, session, self.store_key(session.sid))
            if session.stored:
                if resend:
                    expires = datetime.now(UTC) + lifetime if session.remember else None
                    self.set_cookie(app, response, session.sid, expires)
                return
            app.logger.info("Not saving a session that was ended while this request ran")
        elif not session.modified:
            return  # nothing stored and nothing to forget: most anonymous pages
        elif session.stored:
            self.forget(session)  # emptied by the view: forget it on both sides
        self.set_cookie(app, response, "", None)

    def set_cookie(
        self, app: Flask, response: Response, sid: str, expires: datetime | None
    ) -> None:
        """Send the session cookie with the configured flags; an empty id deletes it."""
        response.set_cookie(
            app.config["SESSION_COOKIE_NAME"],
            sid,
            expires=expires if sid else 0,
            max_age=None if sid else 0,
            httponly=self.get_cookie_httponly(app),
            domain=self.get_cookie_domain(app),
            path=self.get_cookie_path(app),
            secure=self.get_cookie_secure(app),
            samesite=self.get_cookie_samesite(app),
        )


def _current() -> tuple[LazyRedisSessionInterface, LazySession]:
    interface = current_app.session_interface
    # The proxy's documented way to reach the object behind it (Flask's "Notes On Proxies").
    current = session._get_current_object()  # type: ignore[attr-defined]
    assert isinstance(interface, LazyRedisSessionInterface)  # noqa: S101
    assert isinstance(current, LazySession)  # noqa: S101
    return interface, current


def rotate_session() -> None:
    """At login: a new id and CSRF secret, the same data; the old id stops working at once.

    It also starts the login's absolute and longer idle lifetimes. Unlike Flask-Session's
    ``regenerate()``, it works on an empty or just-cleared session too: never a silent no-op.
    """
    interface, current = _current()
    current.load()
    interface.forget(current)
    current.sid = interface.new_sid()
    current.login_at = time.time()
    current.modified = True
    rotate_csrf()


def end_session() -> None:
    """Log out for real: delete the Redis key and continue under a new, empty session.

    Anything stored after this (a "logged out" flash) goes under the new id, so the old
    cookie finds nothing if it is replayed; forms rendered before it are refused.
    """
    interface, current = _current()
    current.clear()
    interface.forget(current)
    current.sid = interface.new_sid()
    current.login_at = 0.0
    rotate_csrf()


def current_session_id() -> str:
    """The id this request's session is stored under (after ``rotate_session()``, the new one)."""
    interface, current = _current()
    current.load()
    current.sid = current.sid or interface.new_sid()
    return current.sid


def init_app(app: Flask) -> None:
    """Install the lazy Redis session interface on the app."""
    app.session_interface = LazyRedisSessionInterface(
        app,
        client=app.extensions["redis"],
        key_prefix=app.config["SESSION_KEY_PREFIX"],
        permanent=app.config["SESSION_PERMANENT"],
        sid_length=app.config["SESSION_ID_LENGTH"],
    )
