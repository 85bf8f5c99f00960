"""CSRF protection for every form (Flask-WTF); JSON views opt out with ``csrf.exempt``.

Flask-WTF signs a random secret into each form's token and compares it with the copy it
finds in ``session`` under WTF_CSRF_FIELD_NAME. Our session (``core.sessions``) keeps that
one key out of Redis: it lives in its own signed cookie (CSRF_COOKIE_NAME: HttpOnly,
SameSite=Lax, Secure and ``__Host-`` in production), as Django keeps its CSRF secret. So a
visitor who only looks at a form costs no server state, and checking a token needs no Redis
read. ``rotate_csrf()`` replaces the secret (at login and logout): forms rendered before
then are refused.
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, current_app, g, request, session
from flask_wtf.csrf import CSRFProtect
from itsdangerous import BadSignature, Signer

csrf = CSRFProtect()

SIGNER_SALT = "csrf-cookie"


def new_secret() -> str:
    """A fresh CSRF secret, in the same form as Flask-WTF's own (40 hex digits)."""
    return secrets.token_hex(20)


class CsrfCookie:
    """One request's CSRF secret: read from its cookie when first asked, written if changed."""

    def __init__(self, app: Flask, cookie: str | None) -> None:
        self.app = app
        self.cookie = cookie
        self.value: str | None = None
        self.read = False
        self.used = False  # the response depends on the secret: a form or a checked token
        self.changed = False

    def signer(self) -> Signer:
        """Signs with SECRET_KEY under a salt of its own, so no other signed value passes."""
        return Signer(self.app.secret_key or "", salt=SIGNER_SALT, key_derivation="hmac")

    def get(self) -> str | None:
        """The secret from the cookie, or None when there is none or its signature is bad."""
        self.used = True
        if not self.read:
            self.read = True
            if self.cookie:
                try:
                    self.value = self.signer().unsign(self.cookie).decode()
                except (BadSignature, UnicodeDecodeError):
                    self.value = None
        return self.value

    def set(self, value: str | None) -> None:
        """Replace the secret (None forgets it); the response carries the new cookie."""
        self.used = self.read = self.changed = True
        self.value = value

    def save(self, response: Response) -> None:
        """Send the cookie if the secret changed; mark pages that depend on it uncacheable."""
        if not self.used:
            return
        response.vary.add("Cookie")
        response.headers["Cache-Control"] = "no-store"
        if not self.changed:
            return
        config = self.app.config
        name = config["CSRF_COOKIE_NAME"]
        secure = config["SESSION_COOKIE_SECURE"]
        samesite = config["SESSION_COOKIE_SAMESITE"]
        if self.value is None:
            response.delete_cookie(name, path="/", secure=secure, samesite=samesite)
            return
        # A browser-session cookie: a form's token expires anyway (WTF_CSRF_TIME_LIMIT).
        token = self.signer().sign(self.value).decode()
        response.set_cookie(name, token, path="/", secure=secure, httponly=True, samesite=samesite)


def rotate_csrf() -> None:
    """Give the visitor a new CSRF secret now; tokens issued before stop validating."""
    field = current_app.config["WTF_CSRF_FIELD_NAME"]
    session[field] = new_secret()
    # generate_csrf caches the signed token of this request on g under the same name.
    g.pop(field, None)


def protect_unsafe_methods() -> None:
    """Check the token of a POST, PUT, PATCH or DELETE, unless its view is csrf.exempt.

    Flask-WTF's own hook (off: WTF_CSRF_CHECK_DEFAULT) does the same, but looks the view's
    exemption up before the method: about 20 µs on every GET.
    """
    config = current_app.config
    if config["WTF_CSRF_ENABLED"] and request.method in config["WTF_CSRF_METHODS"]:
        csrf.protect(apply_exemptions=True)


def init_app(app: Flask) -> None:
    """Check the token on every POST, PUT, PATCH and DELETE."""
    csrf.init_app(app)
    app.before_request(protect_unsafe_methods)
