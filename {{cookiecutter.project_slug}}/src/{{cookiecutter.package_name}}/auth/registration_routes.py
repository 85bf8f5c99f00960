"""Registering an account and confirming its address (URLs in this package's ``__init__.py``).

Whether an address has an account is never shown: the pages are the same either way, and
each sends one mail to the address typed in. Whether a username is free is shown.

Confirming takes the link and the account's password. Anyone can register an address that
is not theirs; when its owner opens the mail, they do not know that password, so the account
stays unusable until they choose a new one with "forgot password", which confirms the
address and ends every session: whoever registered it is locked out for good.
"""

from __future__ import annotations

import logging

from flask import current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import IntegrityError

from {{ cookiecutter.package_name }}.core.database import db

from . import emails
from .events import security_event
from .forms import ConfirmEmailForm, EmailForm, RegisterForm
from .links import INVALID, USED, VERIFY, link_problem, user_from_link
from .models import User, utcnow
from .passwords import accepted_form
from .throttles import per_address, per_email

USERNAME_TAKEN = "That username is taken."


@per_address
@per_email
def register() -> ResponseReturnValue:
    """Create an unverified account, mail its confirm link, redirect to "check your inbox".

    The owner of an address in use gets a mail saying someone tried, instead of a link, and
    the visitor the same redirect and page.
    """
    form = RegisterForm()
    if form.validate_on_submit():
        username, email = (form.username.data or "").strip(), form.email.data or ""
        if User.by_username(username):
            form.username.errors.append(USERNAME_TAKEN)  # type: ignore[attr-defined]
        else:
            user = User(username=username, email=email)
            user.set_password(form.password.data or "")  # hashed either way: same timing
            owner = User.by_email(email)
            if owner is None:
                db.session.add(user)
                try:
                    db.session.commit()
                except IntegrityError:  # the same name or address a moment ago
                    db.session.rollback()
                    owner = User.by_email(email)
                    if owner is None:
                        form.username.errors.append(USERNAME_TAKEN)  # type: ignore[attr-defined]
                        return render_template("auth/register.html", form=form), 400
            if owner is None:
                security_event(
                    "registered", "Account registered", user_id=user.id, username=username
                )
                sent = emails.send_verification(user)
            else:
                security_event(
                    "register_existing_email",
                    "Registration with an address in use",
                    username=username,
                    user_id=owner.id,
                )
                sent = emails.send_registration_attempt(owner)
            return emails.mailed(email, sent, purpose="register")
    status = 400 if form.errors else 200
    return render_template("auth/register.html", form=form), status


@per_address
def verify_email(token: str) -> ResponseReturnValue:
    """Confirm the address from the mailed link and the account's password, once.

    Opening the link changes nothing (nor does a mail scanner fetching it); the page asks
    for the password, and offers "forgot password" to whoever did not register.
    """
    retry = "auth.resend_verification"
    user, payload = user_from_link(VERIFY, token, current_app.config["VERIFY_LINK_MAX_AGE"], retry)
    if user.email != payload.get("e"):
        link_problem("Link not valid", INVALID, 400, retry)
    if user.verified:
        link_problem("Link already used", USED, 410, "auth.login")
    form = ConfirmEmailForm()
    if form.validate_on_submit():
        if accepted_form(user.check_password, form.password.data or "") is not None:
            user.verified_at = utcnow()
            db.session.commit()
            security_event("email_verified", "Email address verified", user_id=user.id)
            flash("Your email address is confirmed. You can log in now.", "success")
            return redirect(url_for("auth.login"))
        security_event(
            "verify_failed", "Wrong password on a confirm link", logging.WARNING, user_id=user.id
        )
        form.password.errors.append("That is not the password of this account.")  # type: ignore[attr-defined]
    status = 400 if form.errors else 200
    reset_form = EmailForm(formdata=None, data={"email": user.email})
    return render_template("auth/confirm.html", form=form, reset_form=reset_form, user=user), status


@per_address
@per_email
def resend_verification() -> ResponseReturnValue:
    """Mail a new confirm link; the same answer for any address."""
    return emails.address_form(
        "auth/resend.html",
        mail=confirm_or_say_confirmed,
        asked_for="a new confirmation link",
        event=("verification_requested", "Confirmation link requested"),
        purpose="verify",
    )


def confirm_or_say_confirmed(user: User) -> bool:
    """A new confirm link, or a note that the address is confirmed already."""
    if user.verified:
        return emails.send_already_verified(user)
    return emails.send_verification(user)
