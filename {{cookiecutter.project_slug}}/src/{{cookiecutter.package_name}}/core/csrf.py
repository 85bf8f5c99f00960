"""CSRF protection: a signed token in every form, checked on every POST, PUT, PATCH, DELETE.

The secret behind a visitor's tokens lives in a cookie of its own (CSRF_COOKIE_NAME:
signed, HttpOnly, SameSite=Lax, Secure and ``__Host-`` in production), as Django keeps its
CSRF secret, and not in the session: a visitor who only looks at a form gets no server
state, and checking a token needs no Redis read. The tokens are Flask-WTF's (the secret,
signed with SECRET_KEY and timed by WTF_CSRF_TIME_LIMIT by itsdangerous). Forms get them
through wtforms' ``csrf_class`` hook (``CsrfForm``), templates through ``csrf_token()``,
scripts send them in an ``X-CSRFToken`` header. ``@csrf.exempt`` takes a view out of the
check; ``rotate_csrf()`` (at login and logout) replaces the secret, so forms rendered
before then are refused.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, after_this_request, current_app, g, has_request_context, request
from flask_wtf import FlaskForm
from itsdangerous import BadData, BadSignature, SignatureExpired, Signer, URLSafeTimedSerializer
from werkzeug.datastructures import CombinedMultiDict, MultiDict
from werkzeug.exceptions import BadRequest, UnsupportedMediaType
from wtforms import Field, FieldList, FileField, FormField
from wtforms.csrf.core import CSRF
from wtforms.form import BaseForm
from wtforms.validators import ValidationError

COOKIE_SALT = "csrf-cookie"
SUBMIT_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TOKEN_SALT = "wtf-csrf-token"  # noqa: S105 - a salt, not a secret; Flask-WTF's own


class CSRFError(BadRequest):
    """The request's CSRF token is missing or does not belong to this visitor."""


def cookie_signer() -> Signer:
    """Signs the secret's cookie under a salt of its own, so no other signed value passes."""
    return Signer(current_app.secret_key or "", salt=COOKIE_SALT, key_derivation="hmac")


def token_serializer() -> URLSafeTimedSerializer:
    """Signs (and times) the secret into the tokens that forms carry."""
    return URLSafeTimedSerializer(current_app.secret_key or "", salt=TOKEN_SALT)


def current_secret() -> str | None:
    """The visitor's secret from their cookie (None if missing or forged), read once."""
    if "csrf_secret" not in g:
        secret, cookie = None, request.cookies.get(current_app.config["CSRF_COOKIE_NAME"])
        if cookie:
            try:
                # Only this app signs it: a valid signature means ASCII (replace is a backstop).
                secret = cookie_signer().unsign(cookie).decode(errors="replace")
            except BadSignature:
                secret = None
        g.csrf_secret = secret
    secret_now: str | None = g.csrf_secret
    return secret_now


def mark_private() -> None:
    """The response depends on the visitor's secret: never cache it, once per request."""
    if not g.get("csrf_private"):
        g.csrf_private = True

        @after_this_request
        def no_store(response: Response) -> Response:
            response.vary.add("Cookie")
            response.headers["Cache-Control"] = "no-store"
            return response


def rotate_csrf() -> None:
    """Give the visitor a new secret now; tokens issued before it stop validating."""
    first_change = "csrf_secret_changed" not in g
    g.csrf_secret, g.csrf_secret_changed = secrets.token_hex(20), True
    g.pop("csrf_token", None)  # this request's token was signed from the old secret
    mark_private()
    if first_change:
        after_this_request(send_cookie)


def send_cookie(response: Response) -> Response:
    """Send the secret's cookie: a browser-session cookie (each token expires anyway)."""
    config = current_app.config
    response.set_cookie(
        config["CSRF_COOKIE_NAME"],
        cookie_signer().sign(g.csrf_secret).decode(),
        path="/",
        secure=config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite=config["SESSION_COOKIE_SAMESITE"],
    )
    return response


def generate_csrf() -> str:
    """This request's token (``csrf_token()`` in templates); a new visitor gets a secret."""
    if "csrf_token" not in g:
        if current_secret() is None:
            rotate_csrf()
        g.csrf_token = token_serializer().dumps(current_secret())
        mark_private()
    token: str = g.csrf_token
    return token


def validate_csrf(token: str | None) -> None:
    """Raise ``CSRFError`` saying why, unless ``token`` was made from this visitor's secret."""
    mark_private()
    if not token:
        raise CSRFError("The CSRF token is missing.")
    secret = current_secret()
    if secret is None:
        raise CSRFError("The CSRF cookie is missing: reload the page and try again.")
    try:
        signed = token_serializer().loads(token, max_age=current_app.config["WTF_CSRF_TIME_LIMIT"])
    except SignatureExpired as exc:
        raise CSRFError("The CSRF token has expired.") from exc
    except BadData as exc:
        raise CSRFError("The CSRF token is invalid.") from exc
    if not isinstance(signed, str) or not hmac.compare_digest(signed, secret):
        raise CSRFError("The CSRF tokens do not match.")


def request_token() -> str | None:
    """The token a request carries: the form field, else one of the CSRF headers."""
    config = current_app.config
    token = request.form.get(config["WTF_CSRF_FIELD_NAME"])
    for header in config["WTF_CSRF_HEADERS"]:
        token = token or request.headers.get(header)
    return token


def check_referrer() -> None:
    """Over HTTPS, the request must come from a page of this site (as Flask-WTF checks)."""
    if not request.referrer:
        raise CSRFError("The referrer header is missing.")
    try:
        referrer = urlsplit(request.referrer)
    except ValueError:  # "http://[" is not a URL: a 400 like any other bad referrer
        raise CSRFError("The referrer header is not a URL.") from None
    here = urlsplit(request.host_url)
    if (referrer.scheme, referrer.netloc) != (here.scheme, here.netloc):
        raise CSRFError("The referrer does not match the host.")


class CsrfProtect:
    """Checks every unsafe method's token before its view; ``exempt`` opts a view out."""

    def exempt(self, view: Callable[..., Any]) -> Callable[..., Any]:
        """Take this view out of the check (a JSON view authenticated some other way)."""
        view.csrf_exempt = True  # type: ignore[attr-defined]
        return view

    def protect(self) -> None:
        """The check, for a request whose method is one of WTF_CSRF_METHODS."""
        config = current_app.config
        if not config["WTF_CSRF_ENABLED"]:
            return
        view = current_app.view_functions.get(request.endpoint or "")
        if view is None or getattr(view, "csrf_exempt", False):
            return  # no such page (a 404 or 405 follows), or a view that opted out
        if request.is_secure and config["WTF_CSRF_SSL_STRICT"]:
            check_referrer()
        validate_csrf(request_token())
        g.csrf_valid = True

    def init_app(self, app: Flask) -> None:
        """Check every unsafe method, and give templates ``csrf_token()``."""
        app.jinja_env.globals["csrf_token"] = generate_csrf
        # The methods are read once: a GET, most requests, is then one set lookup.
        methods = frozenset(app.config["WTF_CSRF_METHODS"])

        def protect_unsafe_methods() -> None:
            if request.method in methods:
                self.protect()

        app.before_request(protect_unsafe_methods)


csrf = CsrfProtect()


class FormCsrf(CSRF):
    """wtforms' CSRF hook, answered from the cookie's secret."""

    def generate_csrf_token(self, csrf_token_field: Field) -> str:
        """The request's token, for the form's hidden field."""
        return generate_csrf()

    def validate_csrf_token(self, form: BaseForm, field: Field) -> None:
        """Accept what the before-request check accepted; check it otherwise."""
        if g.get("csrf_valid"):
            return
        try:
            validate_csrf(field.data)
        except CSRFError as exc:
            raise ValidationError(exc.description) from exc


def file_field_names(form: BaseForm) -> set[str] | None:
    """The names a form reads files under: its file fields'; None (any name) when it nests
    fields, in a FieldList or FormField, which keep the files as Flask-WTF gives them."""
    names = set()
    for field in form:
        if isinstance(field, FieldList | FormField):
            return None
        if isinstance(field, FileField):
            names.add(field.name)
    return names


class CsrfForm(FlaskForm):
    """Flask-WTF's form, with this module's tokens; the base of the app's forms."""

    class Meta:
        csrf_class = FormCsrf

        def wrap_formdata(self, form: BaseForm, formdata: Any) -> Any:
            """Form fields come from form bodies only; a JSON body is refused with a 415, and
            files reach file fields only.

            Flask-WTF would read the fields out of JSON, where a document that is not an
            object (``[1]``, ``"x"``) breaks it.
            """
            if has_request_context() and request.is_json and request.method in SUBMIT_METHODS:
                raise UnsupportedMediaType("This form takes form fields, not a JSON document.")
            data = super().wrap_formdata(form, formdata)  # type: ignore[misc]
            if not isinstance(data, CombinedMultiDict):  # no files: most forms, every GET
                return data
            names = file_field_names(form)
            if names is None:
                return data
            # Flask-WTF hands every uploaded file to the form: one sent under a text
            # field's name would reach that field's validators as a file, not text.
            files = [item for item in request.files.items(multi=True) if item[0] in names]
            if files:
                return CombinedMultiDict((MultiDict(files), request.form))
            return request.form or None  # None: as Flask-WTF answers for an empty form


def init_app(app: Flask) -> None:
    """Check the token on every POST, PUT, PATCH and DELETE."""
    csrf.init_app(app)
