"""Forgotten and changed passwords (URLs in this package's ``__init__.py``).

A new password ends every other session of the account: a reset link ends them all, a
change keeps only the session that made it, under a new id.
"""

from __future__ import annotations

import logging
import time

from flask import current_app, flash, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue

from {{ cookiecutter.package_name }}.core.database import db
from {{ cookiecutter.package_name }}.core.sessions import (
    current_session_id,
    end_session,
    rotate_session,
)

from . import emails, signed_in_sessions
from .current_user import login_required, the_user
from .events import security_event
from .forms import ChangePasswordForm, ResetPasswordForm
from .links import RESET, USED, link_problem, password_fingerprint, user_from_link
from .models import utcnow
from .passwords import accepted_form
from .sudo import sudo_required
from .throttles import per_address, per_email


@per_address
@per_email
def forgot_password() -> ResponseReturnValue:
    """Mail a reset link; the same answer for any address."""
    return emails.address_form(
        "auth/forgot.html",
        mail=emails.send_reset,
        asked_for="a password reset",
        event=("password_reset_requested", "Password reset requested"),
        purpose="reset",
    )


@per_address
def reset_password(token: str) -> ResponseReturnValue:
    """Set a new password from the mailed link, once; every session of the user ends."""
    retry = "auth.forgot_password"
    user, payload = user_from_link(RESET, token, current_app.config["RESET_LINK_MAX_AGE"], retry)
    if payload.get("p") != password_fingerprint(user):
        link_problem("Link already used", USED, 410, retry)
    form = ResetPasswordForm()
    form.identity = (user.username, user.email)
    if form.validate_on_submit():
        user.change_password(form.password.data or "")
        # The link came to the address, which proves it as well as a confirm link would.
        user.verified_at = user.verified_at or utcnow()
        db.session.commit()
        ended = signed_in_sessions.end_all_sessions(user.id)
        if session.get("user_id") == user.id:
            end_session()
        security_event("password_reset", "Password reset", user_id=user.id, sessions_ended=ended)
        flash(
            "Your password is changed and every session signed out. Log in with it now.", "success"
        )
        return redirect(url_for("auth.login"))
    status = 400 if form.errors else 200
    return render_template("auth/reset.html", form=form, user=user), status


@login_required
@sudo_required
@per_address
def change_password() -> ResponseReturnValue:
    """Change the password: this session gets a new id, every other session ends."""
    user = the_user()
    form = ChangePasswordForm()
    form.identity = (user.username, user.email)
    if form.validate_on_submit():
        if accepted_form(user.check_password, form.current_password.data or "") is None:
            security_event(
                "password_change_failed", "Wrong current password", logging.WARNING, user_id=user.id
            )
            form.current_password.errors.append("That is not your current password.")  # type: ignore[attr-defined]
            return render_template("auth/password.html", form=form), 400
        user.change_password(form.password.data or "")
        db.session.commit()
        old_sid = current_session_id()
        rotate_session()
        session["auth_at"] = int(time.time())
        signed_in_sessions.rename(user.id, old_sid, current_session_id())
        ended = signed_in_sessions.end_all_sessions(user.id, keep=current_session_id())
        security_event(
            "password_changed", "Password changed", user_id=user.id, sessions_ended=ended
        )
        flash("Your password is changed; your other sessions are signed out.", "success")
        if not emails.send_password_changed(user):
            flash("We could not send the notification mail about this change.", "warning")
        return redirect(url_for("auth.account"))
    status = 400 if form.errors else 200
    return render_template("auth/password.html", form=form), status
