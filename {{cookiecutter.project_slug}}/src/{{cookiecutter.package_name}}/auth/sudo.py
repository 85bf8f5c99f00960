"""Sudo mode: a sensitive account action needs a sign-in within SUDO_MODE_LIFETIME.

A login counts as a sign-in (``current_user.log_in`` notes its time), and so does typing
the password again on the confirm page, ``/auth/sudo``, with a code as well when the
account has two-factor sign-in on. ``sudo_required``, placed under ``login_required``, sends a
visitor whose sign-in is older to that page and back: a GET returns to the page itself, a
POST to the page of its form, and the POST is never replayed, so a stale session does
nothing. Wrong passwords there count as failed logins on the account (``throttles``).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, overload

from flask import current_app, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from . import second_factor
from .current_user import SUDO_AT, login_required, the_user
from .events import security_event
from .forms import SudoCodeForm, SudoForm
from .login_routes import refuse_if_throttled, safe_next
from .normalise import login_name
from .passwords import accepted_form
from .throttles import per_address, record_login_failure
from .two_factor_login import check_second_factor

View = Callable[..., Any]


def in_sudo_mode() -> bool:
    """True if this session signed in (login or confirm page) within SUDO_MODE_LIFETIME."""
    lifetime: timedelta = current_app.config["SUDO_MODE_LIFETIME"]
    signed_in: float = session.get(SUDO_AT, 0)
    return time.time() - signed_in < lifetime.total_seconds()


@overload
def sudo_required(view: View) -> View: ...


@overload
def sudo_required(*, form_page: str) -> Callable[[View], View]: ...


def sudo_required(
    view: View | None = None, *, form_page: str | None = None
) -> View | Callable[[View], View]:
    """Send a visitor without a recent sign-in to the confirm page, then back.

    ``form_page`` names the endpoint of the page a POST-only view's form is on; without it
    a POST returns to its own URL's page.
    """

    def decorate(guarded: View) -> View:
        @functools.wraps(guarded)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if in_sudo_mode():
                return guarded(*args, **kwargs)
            if request.method == "GET":
                return redirect(url_for("auth.sudo", next=request.full_path.rstrip("?")))
            back = url_for(form_page) if form_page else request.path
            return redirect(url_for("auth.sudo", next=back), 303)

        return wrapped

    return decorate(view) if view is not None else decorate


@login_required
@per_address
def sudo() -> ResponseReturnValue:
    """Confirm the password, then go on to ``next`` (a path on this site) or the account."""
    user = the_user()
    # With two-factor sign-in on, a sign-in is the password and a code.
    form = SudoCodeForm() if second_factor.is_on(user) else SudoForm()
    back = safe_next(request.args.get("next"))
    if form.validate_on_submit():
        # Failures count on the username, as failed logins by that name do.
        name = login_name(user.username)
        refuse_if_throttled(name)
        if accepted_form(user.check_password, form.password.data or "") is not None:
            code = getattr(form, "code", None)  # only with two-factor sign-in on
            if code is not None and not check_second_factor(user, code.data or ""):
                code.errors.append("That code is not valid, or was used already.")
                return render_template("auth/sudo.html", form=form, next=back), 400
            session[SUDO_AT] = int(time.time())
            security_event("sudo", "Password confirmed", user_id=user.id)
            return redirect(back or url_for("auth.account"), 303)
        record_login_failure(name)
        security_event("sudo_failed", "Wrong password to confirm", logging.WARNING, user_id=user.id)
        form.password.errors.append("That is not your password.")  # type: ignore[attr-defined]
        return render_template("auth/sudo.html", form=form, next=back), 400
    status = 400 if form.errors else 200
    return render_template("auth/sudo.html", form=form, next=back), status
