"""The two-factor settings page: turn it on (scan, type a code), make new recovery codes,
turn it off. Each change needs sudo mode and is mailed to the owner.

While it is being turned on, the new secret waits in the session, encrypted, and the
account keeps signing in with its password alone until a code from the app proves the
scan worked. The recovery codes are shown once, on the page answering the POST that made
them (``no-store``: not kept by the browser or a proxy); only their hashes are kept.
"""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue

from . import emails, second_factor
from .current_user import login_required, the_user
from .events import security_event
from .forms import ActionForm, TwoFactorCodeForm
from .models import User
from .secret_box import SecretUnreadable, seal, unseal
from .sudo import sudo_required
from .throttles import per_address

# The session key of the secret being set up.
SETUP = "two_factor_setup"


def setup_secret() -> str:
    """The secret being set up in this session, made on first use."""
    sealed = session.get(SETUP)
    if isinstance(sealed, str):
        try:
            return unseal(sealed)
        except SecretUnreadable:
            pass  # sealed under another key: start again
    secret = second_factor.new_secret()
    session[SETUP] = seal(secret)
    return secret


def show_recovery_codes(codes: list[str]) -> ResponseReturnValue:
    """The page listing new recovery codes, which neither browser nor proxy may keep."""
    response = make_response(render_template("auth/recovery_codes.html", codes=codes))
    response.headers["Cache-Control"] = "no-store"
    return response


def setup_page(user: User, form: TwoFactorCodeForm, status: int = 200) -> ResponseReturnValue:
    """The page to scan the QR code (or type the secret) and confirm a code."""
    secret = setup_secret()
    qr_code = second_factor.qr_code_svg(second_factor.setup_uri(secret, user))
    page = render_template("auth/two_factor.html", form=form, qr_code=qr_code, secret=secret)
    return page, status


@login_required
@sudo_required
@per_address
def two_factor() -> ResponseReturnValue:
    """Turn two-factor sign-in on, or see it is on with its recovery codes left."""
    user = the_user()
    if second_factor.is_on(user):
        left = second_factor.recovery_codes_left(user)
        return render_template("auth/two_factor_on.html", form=ActionForm(), left=left)
    form = TwoFactorCodeForm()
    if form.validate_on_submit():
        secret = setup_secret()
        step = second_factor.matching_step(secret, form.code.data or "")
        if step is None:
            form.code.errors.append("That code is not valid: check the app and try again.")  # type: ignore[attr-defined]
            return setup_page(user, form, 400)
        codes = second_factor.turn_on(user, secret, step)
        session.pop(SETUP, None)
        security_event("two_factor_on", "Two-factor sign-in turned on", user_id=user.id)
        emails.send_two_factor_notice(user, "on")
        flash("Two-factor sign-in is on.", "success")
        return show_recovery_codes(codes)
    return setup_page(user, form, 400 if form.errors else 200)


@login_required
@sudo_required(form_page="auth.two_factor")
def new_recovery_codes() -> ResponseReturnValue:
    """Replace the recovery codes (the old ones stop working) and show the new ones."""
    user = the_user()
    if not second_factor.is_on(user):
        return redirect(url_for("auth.two_factor"), 303)
    codes = second_factor.new_recovery_codes(user)
    security_event("recovery_codes_renewed", "New recovery codes", user_id=user.id)
    emails.send_two_factor_notice(user, "new_codes")
    flash("Your new recovery codes are below; the old ones no longer work.", "success")
    return show_recovery_codes(codes)


@login_required
@sudo_required(form_page="auth.two_factor")
def turn_off_two_factor() -> ResponseReturnValue:
    """Turn two-factor sign-in off: the password alone signs in again."""
    user = the_user()
    if second_factor.turn_off(user):
        security_event("two_factor_off", "Two-factor sign-in turned off", user_id=user.id)
        emails.send_two_factor_notice(user, "off")
        flash("Two-factor sign-in is off.", "info")
    return redirect(url_for("auth.account"), 303)
