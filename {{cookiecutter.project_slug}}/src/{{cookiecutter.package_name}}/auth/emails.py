"""The account mails, each a plain-text and an HTML template in ``email/``, the forms
that send one to the address typed in, and the "check your inbox" page they lead to.

Every ``send_*`` returns True if the mail was queued for the job worker (or, where jobs run
inline, handed to the mail server), False if sending inline failed (already logged), so the
page can say so and offer to try again. Redis down while queueing is the 503 page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue

from .events import security_event
from .forms import EmailForm
from .links import RESET, VERIFY, absolute_url, email_change_token, link_for
from .models import User
from .smtp import MailNotSent, send


def send_templated(to: str, subject: str, template: str, **context: Any) -> bool:
    """Render ``email/<template>.txt`` and ``.html`` and send them; False if that failed."""
    context |= {
        "app_name": current_app.config["APP_NAME"],
        "login_url": absolute_url("auth.login"),
        "forgot_url": absolute_url("auth.forgot_password"),
        "register_url": absolute_url("auth.register"),
    }
    text = render_template(f"email/{template}.txt", **context)
    html = render_template(f"email/{template}.html", subject=subject, **context)
    try:
        send(to, f"{subject} · {context['app_name']}", text, html)
    except MailNotSent:
        return False
    return True


def hours(setting: str) -> int:
    """A link lifetime from config, in whole hours for the mail's wording."""
    return int(current_app.config[setting].total_seconds() // 3600)


def send_link(user: User, purpose: str, subject: str, template: str, max_age: str) -> bool:
    """A mail carrying the user's signed link for ``purpose``, and how long it works."""
    return send_templated(
        user.email,
        subject,
        template,
        user=user,
        link=link_for(purpose, user),
        valid_hours=hours(max_age),
    )


def send_verification(user: User) -> bool:
    """The link that confirms the address of a new account."""
    return send_link(user, VERIFY, "Confirm your email address", "verify", "VERIFY_LINK_MAX_AGE")


def send_registration_attempt(user: User) -> bool:
    """To the owner of an address someone tried to register again."""
    return send_templated(
        user.email, "Someone tried to register with your address", "registration_attempt", user=user
    )


def send_reset(user: User) -> bool:
    """The link that sets a new password."""
    return send_link(user, RESET, "Reset your password", "reset", "RESET_LINK_MAX_AGE")


def send_no_account(address: str, asked_for: str) -> bool:
    """To an address without an account, so the page (and its timing) is the same either way."""
    return send_templated(address, "About your request", "no_account", asked_for=asked_for)


def send_already_verified(user: User) -> bool:
    """A confirm link was asked for an address that is confirmed already."""
    return send_templated(
        user.email, "Your address is already confirmed", "already_verified", user=user
    )


def send_password_changed(user: User) -> bool:
    """Tell the owner their password changed, in case it was not them."""
    return send_templated(user.email, "Your password was changed", "password_changed", user=user)


def send_email_change(user: User, new_email: str) -> bool:
    """To the new address: the link that moves the account to it."""
    link = absolute_url("auth.confirm_email_change", token=email_change_token(user, new_email))
    return send_templated(
        new_email,
        "Confirm your new email address",
        "email_change",
        user=user,
        link=link,
        valid_hours=hours("VERIFY_LINK_MAX_AGE"),
    )


def send_email_change_attempt(owner: User) -> bool:
    """To the owner of an address another account asked to move to, instead of a link."""
    return send_templated(
        owner.email, "Someone tried to use your address", "email_change_attempt", user=owner
    )


def send_email_change_notice(user: User, new_email: str) -> bool:
    """To the current address: a change was asked, and a reset link in case it was not them."""
    return send_templated(
        user.email,
        "Your email address is being changed",
        "email_change_notice",
        user=user,
        new_email=new_email,
        reset_link=link_for(RESET, user),
        valid_hours=hours("RESET_LINK_MAX_AGE"),
    )


def send_account_deleted(username: str, address: str) -> bool:
    """Confirm that the account and its data are gone."""
    return send_templated(address, "Your account was deleted", "account_deleted", username=username)


# The subject of each change to two-factor sign-in; the mail says what happened.
TWO_FACTOR_SUBJECTS = {
    "on": "Two-factor sign-in is on",
    "off": "Two-factor sign-in is off",
    "new_codes": "New recovery codes",
    "recovery_code_used": "A recovery code was used",
    "reset": "Two-factor sign-in was reset",
}


def send_two_factor_notice(user: User, change: str) -> bool:
    """Tell the owner that two-factor sign-in changed (``TWO_FACTOR_SUBJECTS``)."""
    subject = TWO_FACTOR_SUBJECTS[change]
    return send_templated(user.email, subject, "two_factor_changed", user=user, change=change)


# The session key under which a form that mailed tells the "check your inbox" page what it
# did: a redirect carries no page, and the address does not belong in a URL (logs, history).
MAILED = "mailed"
# Where the page's "send it again" form posts, for each kind of mail.
RETRY = {
    "register": "auth.resend_verification",
    "verify": "auth.resend_verification",
    "reset": "auth.forgot_password",
    "change": "auth.change_email",
}


def mailed(email: str, sent: bool, purpose: str) -> ResponseReturnValue:
    """After a form mailed ``email``: see the "check your inbox" page (303, so a reload
    does not send the form again)."""
    session[MAILED] = {"email": email, "sent": sent, "purpose": purpose}
    return redirect(url_for("auth.check_email"), 303)


def check_email() -> ResponseReturnValue:
    """The "look in your inbox" page; if the mail failed, it says so and offers to retry.

    What the visitor asked for is done either way (an account made stays made).
    """
    note = session.get(MAILED)
    if not isinstance(note, dict) or note.get("purpose") not in RETRY:
        return redirect(url_for("auth.login"))  # nothing was mailed in this session
    email, purpose = str(note.get("email", "")), str(note["purpose"])
    retry_form = EmailForm(formdata=None, data={"email": email})
    return render_template(
        "auth/check_email.html",
        email=email,
        sent=bool(note.get("sent")),
        retry=RETRY[purpose],
        form=retry_form,
        purpose=purpose,
    )


def address_form(
    template: str,
    *,
    mail: Callable[[User], bool],
    asked_for: str,
    event: tuple[str, str],
    purpose: str,
) -> ResponseReturnValue:
    """A form that mails the address typed in: ``mail(user)`` to an account's owner, else a
    note that no account uses the address, then the same redirect either way."""
    form = EmailForm()
    if form.validate_on_submit():
        email = form.email.data or ""
        user = User.by_email(email)
        sent = send_no_account(email, asked_for) if user is None else mail(user)
        security_event(*event)
        return mailed(email, sent, purpose)
    status = 400 if form.errors else 200
    return render_template(template, form=form), status
