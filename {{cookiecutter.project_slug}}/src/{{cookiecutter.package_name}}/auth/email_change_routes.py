"""Changing the account's address (URLs in this package's ``__init__.py``).

The form (sudo mode) mails a link to the new address and a notice to the current one, then
shows "check your inbox". Whether another account uses the new address is never shown:
its owner gets a note instead of the link, and the requester the same page after the same
two mails. Opening the link is proof enough of owning the new address, signed in or not;
its page holds one button, so a mail scanner fetching it changes nothing. The new address
travels in the link, bound to the current address and password (``links``), so it works
once and dies when either changes, such as a password reset from the notice.
"""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import IntegrityError

from {{ cookiecutter.package_name }}.core.csrf import CsrfForm
from {{ cookiecutter.package_name }}.core.database import db

from . import emails
from .current_user import logged_in_user, login_required, the_user
from .events import security_event
from .forms import EmailForm
from .links import CHANGE_EMAIL, USED, link_problem, password_fingerprint, user_from_link
from .models import User, utcnow
from .sudo import sudo_required
from .throttles import count_mail_to, per_address, per_email

TAKEN = "Another account uses this address now, so it cannot be yours too."


@login_required
@sudo_required
@per_address
@per_email
def change_email() -> ResponseReturnValue:
    """Mail a link to the new address and a notice to the current one; the same page and
    mails whether or not an account uses the new address."""
    user = the_user()
    form = EmailForm()
    form.email.label.text = "New email address"
    if form.validate_on_submit():
        new_email = form.email.data or ""
        if new_email == user.email:
            form.email.errors.append("That is your address already.")  # type: ignore[attr-defined]
            return render_template("auth/change_email.html", form=form), 400
        # The notice spends the current mailbox's budget, as the link spends the new one's.
        count_mail_to(user.email)
        owner = User.by_email(new_email)
        if owner is None:
            sent = emails.send_email_change(user, new_email)
        else:
            sent = emails.send_email_change_attempt(owner)
        emails.send_email_change_notice(user, new_email)
        security_event(
            "email_change_requested",
            "Email change requested",
            user_id=user.id,
            address_in_use=owner is not None,
        )
        return emails.mailed(new_email, sent, purpose="change")
    status = 400 if form.errors else 200
    return render_template("auth/change_email.html", form=form), status


@per_address
def confirm_email_change(token: str) -> ResponseReturnValue:
    """Move the account to the address the link was mailed to, once, by the page's button."""
    retry = "auth.change_email"
    user, payload = user_from_link(
        CHANGE_EMAIL, token, current_app.config["VERIFY_LINK_MAX_AGE"], retry
    )
    new_email = payload.get("n")
    bound = payload.get("e") == user.email and payload.get("p") == password_fingerprint(user)
    if not isinstance(new_email, str) or not bound:
        link_problem("Link already used", USED, 410, retry)
    if User.by_email(new_email) is not None:
        link_problem("Address taken", TAKEN, 409, retry)
    form = CsrfForm()
    if form.validate_on_submit():
        user.email = new_email
        # The link came to the address: that confirms it as a confirm link would.
        user.verified_at = utcnow()
        try:
            db.session.commit()
        except IntegrityError:  # another account took it a moment ago
            db.session.rollback()
            link_problem("Address taken", TAKEN, 409, retry)
        security_event("email_changed", "Email address changed", user_id=user.id)
        flash(f"Your email address is now {new_email}.", "success")
        here = logged_in_user()
        return redirect(url_for("auth.account" if here and here.id == user.id else "auth.login"))
    status = 400 if form.errors else 200
    page = render_template("auth/confirm_email_change.html", form=form, user=user, email=new_email)
    return page, status
