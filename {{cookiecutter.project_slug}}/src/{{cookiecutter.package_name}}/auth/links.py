"""Signed, time-limited links for mails (confirm an address, reset a password, move the
account to a new address), and the page for one that cannot be used.

A token is itsdangerous-signed with SECRET_KEY and a salt per purpose, so a link made for
one purpose is refused by the others. Each is single-use by what it carries: a confirm link
names the address (dead once it is confirmed), a reset link a fingerprint of the password
hash (dead once any new password is set), an address change both, and the new address
(dead once the address or the password changes). Links start with APP_BASE_URL, never with the
Host header of the request that asked for them.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import Any, NoReturn

from flask import abort, current_app, make_response, render_template
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from {{ cookiecutter.package_name }}.core.database import db

from .models import User

VERIFY = "verify-email"
RESET = "reset-password"
CHANGE_EMAIL = "change-email"
EXPIRED = "This link has expired."
USED = "This link has been used already, or a newer one replaced it."
INVALID = "This link is not valid. Check that you copied all of it."


class LinkExpired(Exception):
    """The link was genuine but is older than its lifetime."""


class LinkInvalid(Exception):
    """The link was altered, made for something else, or already used."""


def serializer(purpose: str) -> URLSafeTimedSerializer:
    """The signer for one purpose."""
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"auth-{purpose}")


def password_fingerprint(user: User) -> str:
    """Changes whenever the password hash changes; keyed, so it says nothing about the hash."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, user.password_hash.encode(), hashlib.sha256).hexdigest()[:16]


def make_token(purpose: str, user: User) -> str:
    """A token for ``user``: their id plus what makes it single-use."""
    payload: dict[str, Any] = {"u": user.id}
    if purpose == VERIFY:
        payload["e"] = user.email
    else:
        payload["p"] = password_fingerprint(user)
    return serializer(purpose).dumps(payload)


def email_change_token(user: User, new_email: str) -> str:
    """A token that moves ``user`` to ``new_email``: the new address travels in the token,
    so nothing waits in the database, and the current address and password bind it."""
    payload = {"u": user.id, "e": user.email, "p": password_fingerprint(user), "n": new_email}
    return serializer(CHANGE_EMAIL).dumps(payload)


def read_token(purpose: str, token: str, max_age_seconds: int) -> dict[str, Any]:
    """The payload of a genuine, fresh token; LinkExpired or LinkInvalid otherwise."""
    try:
        payload = serializer(purpose).loads(token, max_age=max_age_seconds)
    except SignatureExpired as exc:
        raise LinkExpired() from exc
    except BadSignature as exc:
        raise LinkInvalid() from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("u"), int):
        raise LinkInvalid()
    return payload


def absolute_url(endpoint: str, **values: Any) -> str:
    """APP_BASE_URL plus the route's path, the same whichever request (or command) asks."""
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    base: str = current_app.config["APP_BASE_URL"]
    return base + path


def link_for(purpose: str, user: User) -> str:
    """The absolute link to mail to ``user``."""
    endpoint = "auth.verify_email" if purpose == VERIFY else "auth.reset_password"
    return absolute_url(endpoint, token=make_token(purpose, user))


def link_problem(title: str, message: str, status: int, retry: str) -> NoReturn:
    """Stop with the page for a link that cannot be used; nothing was changed."""
    page = render_template("auth/link_problem.html", title=title, message=message, retry=retry)
    abort(make_response(page, status))


def user_from_link(
    purpose: str, token: str, max_age: timedelta, retry: str
) -> tuple[User, dict[str, Any]]:
    """The user a mailed link was made for, and what it says; else stops with the problem page."""
    try:
        payload = read_token(purpose, token, int(max_age.total_seconds()))
    except LinkExpired:
        link_problem("Link expired", EXPIRED, 410, retry)
    except LinkInvalid:
        link_problem("Link not valid", INVALID, 400, retry)
    user = db.session.get(User, payload["u"])
    if user is None:
        link_problem("Link not valid", INVALID, 400, retry)
    return user, payload
