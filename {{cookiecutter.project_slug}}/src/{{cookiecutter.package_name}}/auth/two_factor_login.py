"""Signing in with two-factor sign-in on: the password first (``login_routes``), then a code.

Between the two steps the session holds only a note of whose password was right (no
``user_id``: nobody is logged in), which dies after TWO_FACTOR_LOGIN_LIFETIME or when the
account's password or key changes. The code step logs in as the password did: a new
session id, "remember me" as ticked. ``check_second_factor`` also serves the sudo page.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import current_app, flash, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue

from {{ cookiecutter.package_name }}.core.database import db

from . import emails, second_factor
from .code_throttles import record_code_failure, refuse_if_codes_throttled
from .current_user import log_in
from .events import security_event
from .forms import TwoFactorCodeForm
from .models import User
from .throttles import per_address

# The session key of the half-done sign-in.
PENDING = "two_factor_pending"


def ask_for_code(user: User, remember: bool, next_url: str | None) -> ResponseReturnValue:
    """After the right password: note whose it was and send the visitor to the code step."""
    session[PENDING] = {
        "user_id": user.id,
        "user_key": user.session_key,
        "at": int(time.time()),
        "remember": remember,
        "next": next_url or "",
    }
    security_event("two_factor_asked", "Password right, code asked", user_id=user.id)
    return redirect(url_for("auth.login_code"), 303)


def pending_sign_in() -> tuple[User, dict[str, Any]] | None:
    """The account and note of a half-done sign-in that is still good, else None (and a
    stale note is dropped)."""
    note = session.get(PENDING)
    if not isinstance(note, dict):
        return None
    lifetime = current_app.config["TWO_FACTOR_LOGIN_LIFETIME"].total_seconds()
    started = note.get("at", 0)
    user = db.session.get(User, note.get("user_id")) if time.time() - started < lifetime else None
    still_good = user is not None and user.holds(note.get("user_key"), started)
    if user is None or not still_good or not second_factor.is_on(user):
        session.pop(PENDING, None)
        return None
    return user, note


def check_second_factor(user: User, typed: str) -> str | None:
    """Accept an app code or a recovery code of the account, each once; which kind, or None.

    429 while the account's wrong codes are over budget; a recovery code used is mailed.
    """
    refuse_if_codes_throttled(user)
    kind = second_factor.use_any_code(user, typed)
    if kind is None:
        record_code_failure(user)
        security_event("two_factor_failed", "Wrong code", logging.WARNING, user_id=user.id)
        return None
    if kind == "recovery":
        left = second_factor.recovery_codes_left(user)
        security_event("recovery_code_used", "Recovery code used", user_id=user.id, left=left)
        emails.send_two_factor_notice(user, "recovery_code_used")
        flash(f"You used a recovery code; {left} left.", "warning")
    return kind


@per_address
def login_code() -> ResponseReturnValue:
    """The second step of signing in: a code from the app, or a recovery code."""
    expired = PENDING in session
    found = pending_sign_in()
    if found is None:
        if expired:
            flash("The sign-in took too long: log in again.", "info")
        return redirect(url_for("auth.login"))
    user, note = found
    form = TwoFactorCodeForm()
    if form.validate_on_submit():
        if check_second_factor(user, form.code.data or "") is not None:
            session.pop(PENDING, None)
            log_in(user, remember=bool(note.get("remember")))
            security_event("login", "Logged in", user_id=user.id, username=user.username)
            flash(f"Welcome, {user.username}!", "success")
            return redirect(note.get("next") or url_for("main.index"))
        form.code.errors.append("That code is not valid, or was used already.")  # type: ignore[attr-defined]
        return render_template("auth/login_code.html", form=form), 400
    status = 400 if form.errors else 200
    return render_template("auth/login_code.html", form=form), status
