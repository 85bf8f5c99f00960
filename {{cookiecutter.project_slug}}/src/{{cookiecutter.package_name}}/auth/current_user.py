"""Who is logged in: ``current_user``, read from the session only when something asks.

flaskr loads ``g.user`` in a before-request hook, which reads the session on every
request; ``logged_in_user()`` keeps ``g.user`` but costs nothing on pages that never ask.
``login_required`` guards a view; ``log_in`` and ``log_out_here`` start and end an
authenticated session.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from flask import g, redirect, request, session, url_for
from werkzeug.local import LocalProxy

from {{ cookiecutter.package_name }}.core.database import db
from {{ cookiecutter.package_name }}.core.sessions import (
    current_session_id,
    end_session,
    rotate_session,
)

from . import signed_in_sessions
from .models import User

# When this session last signed in (logged in, or confirmed the password for ``sudo``).
SUDO_AT = "sudo_at"


def logged_in_user() -> User | None:
    """The logged-in user, read from the session the first time a request asks.

    While Redis is down the session read raises, and the page is a 503: never "logged
    out". A session is ended here if its account is gone, if its id now names another
    account (the session's key is not that account's), or if it logged in before the
    password last changed: none of that needs the user's list of sessions in Redis.
    """
    # The object behind the proxy, looked up once: every page that asks pays for this.
    request_globals = g._get_current_object()
    if "user" not in request_globals:
        user_id = session.get("user_id")
        user = db.session.get(User, user_id) if user_id else None
        if user_id and (
            user is None or not user.holds(session.get("user_key"), session.get("auth_at", 0))
        ):
            end_session()
            user = None
        elif user is not None:
            signed_in_sessions.touch(user.id)
        request_globals.user = user
    current: User | None = request_globals.user
    return current


def names_a_user() -> bool:
    """Whether this session is a login's, asked of the session alone (no database read).

    What the page cache asks: a session naming an account that has since gone is still
    someone's, and its page is rendered, where the nav's ``current_user`` ends it.
    """
    return "user_id" in session


# Templates read ``current_user``; only those that use it load the session.
current_user = LocalProxy(logged_in_user)


def inject_current_user() -> dict[str, Any]:
    """A context processor: ``current_user`` in every template."""
    return {"current_user": current_user}


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Send visitors who are not logged in to the login page, then back here.

    The login page says why from its ``next`` parameter: a flash would give every
    anonymous visitor a server-side session.
    """

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if logged_in_user() is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def the_user() -> User:
    """The logged-in user, in a view behind ``login_required``."""
    user = logged_in_user()
    assert user is not None  # noqa: S101 - login_required ran first
    return user


def log_in(user: User, remember: bool) -> None:
    """Start an authenticated session under a new id (no session fixation) and list it.

    Without "remember me" the cookie lasts until the browser closes; with it, for
    PERMANENT_SESSION_LIFETIME. Either way the server forgets a session idle that long.
    The login is a sign-in, so sensitive actions (``sudo``) need none for a while.
    """
    rotate_session()
    session["user_id"] = user.id
    session["user_key"] = user.session_key
    session["auth_at"] = session["seen"] = session[SUDO_AT] = int(time.time())
    session.permanent = remember
    signed_in_sessions.record_login(user.id)
    g.user = user


def log_out_here(user: User | None) -> None:
    """End the current session and take it off the user's list."""
    if user is not None:
        signed_in_sessions.forget(user.id, [current_session_id()])
    end_session()
    g.user = None
