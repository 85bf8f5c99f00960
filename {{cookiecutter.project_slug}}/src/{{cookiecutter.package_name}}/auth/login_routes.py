"""Logging in and out (their URLs are in this package's ``__init__.py``).

Login takes a username or the account's address in one field, and answers the same for an
unknown name or address and a wrong password, in the same time; an account under attack
refuses only the client addresses that failed on it (``throttles``).
"""

from __future__ import annotations

import functools
import logging
import secrets
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import TooManyRequests
from werkzeug.security import check_password_hash, generate_password_hash

from {{ cookiecutter.package_name }}.core.database import db

from . import second_factor
from .current_user import log_in, log_out_here, logged_in_user
from .events import security_event
from .forms import EmailForm, LoginForm
from .hash_slots import holding_hash_slot
from .models import User
from .normalise import login_name
from .passwords import accepted_form, normalise_password
from .throttles import login_refused, per_address, record_login_failure
from .two_factor_login import ask_for_code


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(char) < 32 for char in target):
        return None  # browsers read "/\evil.example" as "//evil.example"
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target


@functools.cache
def dummy_password_hash(method: str) -> str:
    """A hash to check against when the user does not exist, so both cases take as long."""
    return generate_password_hash(secrets.token_urlsafe(16), method=method)


def upgrade_hash(user: User, password: str, matched: str) -> bool:
    """After a successful login: redo a hash made from the password as typed (before
    passwords were normalised) or with old settings. True if redone."""
    if matched != normalise_password(password):
        user.set_password(password)
        return True
    return user.rehash_if_needed(password)


def refuse_if_throttled(name: str) -> None:
    """429 if this address has failed on this account and the account's budget is spent."""
    wait = login_refused(name)
    if wait is not None:
        security_event(
            "throttled",
            "Throttled login on an account under attack",
            logging.WARNING,
            endpoint=request.endpoint,
            username=name[:64],
        )
        raise TooManyRequests(retry_after=wait)


# The slot first: a refusal costs no Redis call and leaves the address's budget alone.
@holding_hash_slot
@per_address
def login() -> ResponseReturnValue:
    """Check the credentials; the same answer for an unknown user and a wrong password."""
    form = LoginForm()
    if form.validate_on_submit():
        typed, password = form.username.data or "", form.password.data or ""
        name = login_name(typed)
        refuse_if_throttled(name)
        user = User.by_login(name)
        if user is None:
            dummy = dummy_password_hash(current_app.config["PASSWORD_HASH_METHOD"])
            accepted_form(functools.partial(check_password_hash, dummy), password)
        elif (matched := accepted_form(user.check_password, password)) is not None:
            if not user.verified:
                security_event("login_unverified", "Login before verifying", user_id=user.id)
                resend = EmailForm(formdata=None, data={"email": user.email})
                return render_template("auth/unverified.html", form=resend, email=user.email), 403
            if upgrade_hash(user, password, matched):
                db.session.commit()
                security_event("password_rehashed", "Password hash upgraded", user_id=user.id)
            back = safe_next(request.args.get("next"))
            if second_factor.is_on(user):
                return ask_for_code(user, bool(form.remember.data), back)
            log_in(user, remember=bool(form.remember.data))
            security_event("login", "Logged in", user_id=user.id, username=user.username)
            flash(f"Welcome, {user.username}!", "success")
            return redirect(back or url_for("main.index"))
        record_login_failure(name)
        # The address and request id come with every log line; the password never does.
        security_event("login_failed", "Failed login", logging.WARNING, username=typed[:64])
        flash("Invalid username, email or password.", "error")
    return render_template("auth/login.html", form=form)


def logout() -> ResponseReturnValue:
    """End the session everywhere: the server-side copy is deleted."""
    user = logged_in_user()
    log_out_here(user)
    if user is not None:
        security_event("logout", "Logged out", user_id=user.id)
    flash("You have been logged out.", "info")
    return redirect(url_for("main.index"))
