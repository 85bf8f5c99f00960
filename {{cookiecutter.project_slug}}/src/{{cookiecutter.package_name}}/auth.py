"""The auth blueprint: accounts from registration to deletion, and login_required.

Registering the blueprint brings the rest of the feature with it: ``current_user`` (loaded
from the session only when a page asks) and the ``flask users`` commands. The forms that
take an email address answer the same whether an account uses it or not: each sends one
mail to that address either way.
"""

from __future__ import annotations

import functools
import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import TooManyRequests
from werkzeug.local import LocalProxy
from werkzeug.security import check_password_hash, generate_password_hash

from {{ cookiecutter.package_name }}.core import uploads
from {{ cookiecutter.package_name }}.core.database import db
from {{ cookiecutter.package_name }}.core.limiter import limiter
from {{ cookiecutter.package_name }}.core.sessions import (
    current_session_id,
    end_session,
    rotate_session,
)

from . import emails, user_sessions
from .cli import users_cli
from .events import security_event
from .forms import (
    ChangePasswordForm,
    DeleteAccountForm,
    EmailForm,
    LoginForm,
    RegisterForm,
    ResetPasswordForm,
)
from .links import RESET, VERIFY, LinkExpired, LinkInvalid, password_fingerprint, read_token
from .models import User, utcnow
from .throttle import (
    client_key,
    email_key,
    email_limit,
    form_limit,
    log_breach,
    login_refused,
    record_login_failure,
)

# cli_group=None: the blueprint's commands are top-level, as `flask users ...`.
bp = Blueprint("auth", __name__, template_folder="templates", cli_group=None)
bp.cli.add_command(users_cli)

# Every POST of an account form counts against the client address.
per_address = limiter.limit(form_limit, key_func=client_key, methods=["POST"], on_breach=log_breach)
# Forms that mail the address typed in also count against that address.
per_email = limiter.limit(email_limit, key_func=email_key, methods=["POST"], on_breach=log_breach)


def logged_in_user() -> User | None:
    """The logged-in user, read from the session the first time a request asks.

    flaskr loads ``g.user`` in a before-request hook, which reads the session on every
    request; this keeps ``g.user`` but costs nothing on pages that never ask. While Redis
    is down the session read raises, and the page is a 503: never "logged out". A session
    that logged in before the password last changed is ended here.
    """
    if "user" not in g:
        user_id = session.get("user_id")
        user = db.session.get(User, user_id) if user_id else None
        if user is not None and user.password_changed_since(session.get("auth_at", 0)):
            end_session()
            user = None
        elif user is not None:
            user_sessions.touch(user.id)
        g.user = user
    current: User | None = g.user
    return current


# Templates read ``current_user``; only those that use it load the session.
current_user = LocalProxy(logged_in_user)


@bp.app_context_processor
def inject_current_user() -> dict[str, Any]:
    """Make ``current_user`` available in every template."""
    return {"current_user": current_user}


@bp.app_template_filter("when")
def when(timestamp: float) -> str:
    """Seconds since the epoch as a UTC date and time for pages."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Send visitors who are not logged in to the login page, then back here.

    The login page says why from its ``next`` parameter: a flash would give every
    anonymous visitor a server-side session.
    """

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if logged_in_user() is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def the_user() -> User:
    """The logged-in user, in a view behind ``login_required``."""
    user = logged_in_user()
    assert user is not None  # noqa: S101 - login_required ran first
    return user


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


def log_in(user: User, remember: bool) -> None:
    """Start an authenticated session under a new id (no session fixation) and list it.

    Without "remember me" the cookie lasts until the browser closes; with it, for
    PERMANENT_SESSION_LIFETIME. Either way the server forgets a session idle that long.
    """
    rotate_session()
    session["user_id"] = user.id
    session["auth_at"] = session["seen"] = int(time.time())
    session.permanent = remember
    user_sessions.record_login(user.id)
    g.user = user


def log_out_here(user: User | None) -> None:
    """End the current session and take it off the user's list."""
    if user is not None:
        user_sessions.forget(user.id, [current_session_id()])
    end_session()
    g.user = None


def check_email_page(email: str, sent: bool, retry: str, purpose: str) -> str:
    """The "look in your inbox" page; if the mail failed, it says so and offers to retry.

    What the visitor asked for is done either way (an account made stays made).
    """
    retry_form = EmailForm(formdata=None, data={"email": email})
    return render_template(
        "auth/check_email.html",
        email=email,
        sent=sent,
        retry=retry,
        form=retry_form,
        purpose=purpose,
    )


@bp.route("/register", methods=["GET", "POST"])
@per_address
@per_email
def register() -> ResponseReturnValue:
    """Create an unverified account and mail its confirm link.

    Whether the address has an account is never shown: the page is the same, and the
    owner of a used address gets a mail instead. Whether the username is free is shown.
    """
    form = RegisterForm()
    if form.validate_on_submit():
        username, email = (form.username.data or "").strip(), form.email.data or ""
        if User.by_username(username):
            form.username.errors.append("That username is taken.")  # type: ignore[attr-defined]
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
                        form.username.errors.append("That username is taken.")  # type: ignore[attr-defined]
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
            return check_email_page(email, sent, "auth.resend_verification", purpose="register")
    status = 400 if form.errors else 200
    return render_template("auth/register.html", form=form), status


def refuse_if_throttled(username: str) -> None:
    """429 if this address has failed on this account and the account's budget is spent."""
    wait = login_refused(username)
    if wait is not None:
        security_event(
            "throttled",
            "Throttled login on an account under attack",
            logging.WARNING,
            endpoint=request.endpoint,
            username=username,
        )
        raise TooManyRequests(retry_after=wait)


@bp.route("/login", methods=["GET", "POST"])
@per_address
def login() -> ResponseReturnValue:
    """Check the credentials; the same answer for an unknown user and a wrong password."""
    form = LoginForm()
    if form.validate_on_submit():
        username, password = form.username.data or "", form.password.data or ""
        refuse_if_throttled(username)
        user = User.by_username(username)
        if user is None:
            check_password_hash(
                dummy_password_hash(current_app.config["PASSWORD_HASH_METHOD"]), password
            )
        elif user.check_password(password):
            if not user.verified:
                security_event("login_unverified", "Login before verifying", user_id=user.id)
                resend = EmailForm(formdata=None, data={"email": user.email})
                return render_template("auth/unverified.html", form=resend, email=user.email), 403
            if user.rehash_if_needed(password):
                db.session.commit()
                security_event("password_rehashed", "Password hash upgraded", user_id=user.id)
            log_in(user, remember=bool(form.remember.data))
            security_event("login", "Logged in", user_id=user.id, username=user.username)
            flash(f"Welcome back, {user.username}!", "success")
            return redirect(safe_next(request.args.get("next")) or url_for("main.index"))
        record_login_failure(username)
        # The address and request id come with every log line; the password never does.
        security_event("login_failed", "Failed login", logging.WARNING, username=username[:64])
        flash("Invalid username or password.", "error")
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End the session everywhere: the server-side copy is deleted."""
    user = logged_in_user()
    log_out_here(user)
    if user is not None:
        security_event("logout", "Logged out", user_id=user.id)
    flash("You have been logged out.", "info")
    return redirect(url_for("main.index"))


@bp.get("/account")
@login_required
def account() -> str:
    """A page only for logged-in users."""
    return render_template("auth/account.html")


EXPIRED = "This link has expired."
USED = "This link has been used already, or a newer one replaced it."
INVALID = "This link is not valid. Check that you copied all of it."


def link_problem(title: str, message: str, status: int, retry: str) -> NoReturn:
    """Stop with the page for a link that cannot be used; nothing was changed."""
    page = render_template("auth/link_problem.html", title=title, message=message, retry=retry)
    abort(make_response(page, status))


def user_from_link(
    purpose: str, token: str, max_age: timedelta, retry: str
) -> tuple[User, dict[str, Any]]:
    """The user a mailed link was made for, and what it says; else stops with the problem page."""
    try:
        payload = read_token(purpose, token, int(max_age.total_seconds()))
    except LinkExpired:
        link_problem("Link expired", EXPIRED, 410, retry)
    except LinkInvalid:
        link_problem("Link not valid", INVALID, 400, retry)
    user = db.session.get(User, payload["u"])
    if user is None:
        link_problem("Link not valid", INVALID, 400, retry)
    return user, payload


@bp.get("/verify/<token>")
def verify_email(token: str) -> ResponseReturnValue:
    """Confirm the address from the mailed link, once; then the owner can log in."""
    retry = "auth.resend_verification"
    user, payload = user_from_link(VERIFY, token, current_app.config["VERIFY_LINK_MAX_AGE"], retry)
    if user.email != payload.get("e"):
        link_problem("Link not valid", INVALID, 400, retry)
    if user.verified:
        link_problem("Link already used", USED, 410, "auth.login")
    user.verified_at = utcnow()
    db.session.commit()
    security_event("email_verified", "Email address verified", user_id=user.id)
    flash("Your email address is confirmed. You can log in now.", "success")
    return redirect(url_for("auth.login"))


@bp.route("/verify", methods=["GET", "POST"])
@per_address
@per_email
def resend_verification() -> ResponseReturnValue:
    """Mail a new confirm link; the same answer for any address."""
    form = EmailForm()
    if form.validate_on_submit():
        email = form.email.data or ""
        user = User.by_email(email)
        if user is None:
            sent = emails.send_no_account(email, "a new confirmation link")
        elif user.verified:
            sent = emails.send_already_verified(user)
        else:
            sent = emails.send_verification(user)
        security_event("verification_requested", "Confirmation link requested")
        return check_email_page(email, sent, "auth.resend_verification", purpose="verify")
    status = 400 if form.errors else 200
    return render_template("auth/resend.html", form=form), status


@bp.route("/password/forgot", methods=["GET", "POST"])
@per_address
@per_email
def forgot_password() -> ResponseReturnValue:
    """Mail a reset link; the same answer for any address."""
    form = EmailForm()
    if form.validate_on_submit():
        email = form.email.data or ""
        user = User.by_email(email)
        if user is None:
            sent = emails.send_no_account(email, "a password reset")
        else:
            sent = emails.send_reset(user)
        security_event("password_reset_requested", "Password reset requested")
        return check_email_page(email, sent, "auth.forgot_password", purpose="reset")
    status = 400 if form.errors else 200
    return render_template("auth/forgot.html", form=form), status


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
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
        ended = user_sessions.end_all_sessions(user.id)
        if session.get("user_id") == user.id:
            end_session()
        security_event("password_reset", "Password reset", user_id=user.id, sessions_ended=ended)
        flash(
            "Your password is changed and every session signed out. Log in with it now.", "success"
        )
        return redirect(url_for("auth.login"))
    status = 400 if form.errors else 200
    return render_template("auth/reset.html", form=form, user=user), status


@bp.route("/password", methods=["GET", "POST"])
@login_required
@per_address
def change_password() -> ResponseReturnValue:
    """Change the password: this session gets a new id, every other session ends."""
    user = the_user()
    form = ChangePasswordForm()
    form.identity = (user.username, user.email)
    if form.validate_on_submit():
        if not user.check_password(form.current_password.data or ""):
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
        user_sessions.rename(user.id, old_sid, current_session_id())
        ended = user_sessions.end_all_sessions(user.id, keep=current_session_id())
        security_event(
            "password_changed", "Password changed", user_id=user.id, sessions_ended=ended
        )
        flash("Your password is changed; your other sessions are signed out.", "success")
        if not emails.send_password_changed(user):
            flash("We could not send the notification mail about this change.", "warning")
        return redirect(url_for("auth.account"))
    status = 400 if form.errors else 200
    return render_template("auth/password.html", form=form), status


@bp.get("/sessions")
@login_required
def sessions() -> str:
    """Where the account is logged in, with a way to sign each out."""
    listed = user_sessions.active_sessions(the_user().id)
    here = user_sessions.session_handle(current_session_id())
    return render_template("auth/sessions.html", sessions=listed, here=here)


@bp.post("/sessions/<handle>/sign-out")
@login_required
def sign_out_session(handle: str) -> ResponseReturnValue:
    """Sign out one of the user's sessions (this one logs out)."""
    user = the_user()
    chosen = [info.sid for info in user_sessions.active_sessions(user.id) if info.handle == handle]
    if not chosen:
        abort(404, description="That session has already ended.")
    if chosen[0] == current_session_id():
        return logout()
    user_sessions.end_sessions(user.id, chosen)
    security_event("session_ended", "Signed out another session", user_id=user.id)
    flash("That session is signed out.", "success")
    return redirect(url_for("auth.sessions"))


@bp.post("/sessions/sign-out-others")
@login_required
def sign_out_other_sessions() -> ResponseReturnValue:
    """Sign out every session of the user except this one."""
    user = the_user()
    ended = user_sessions.end_all_sessions(user.id, keep=current_session_id())
    security_event(
        "sessions_ended", "Signed out other sessions", user_id=user.id, sessions_ended=ended
    )
    flash(f"Signed out {ended} other session{'' if ended == 1 else 's'}.", "success")
    return redirect(url_for("auth.sessions"))


@bp.route("/delete", methods=["GET", "POST"])
@login_required
@per_address
def delete_account() -> ResponseReturnValue:
    """Delete the account, its sessions and its uploads, then confirm by mail."""
    user = the_user()
    form = DeleteAccountForm()
    if form.validate_on_submit():
        if not user.check_password(form.password.data or ""):
            form.password.errors.append("That is not your password.")  # type: ignore[attr-defined]
            return render_template("auth/delete.html", form=form), 400
        user_id, username, address = user.id, user.username, user.email
        user_sessions.end_all_sessions(user_id)
        uploads.delete_user_uploads(user_id)
        db.session.delete(user)
        db.session.commit()
        end_session()
        g.user = None
        security_event("account_deleted", "Account deleted", user_id=user_id)
        flash("Your account and everything in it are deleted.", "info")
        if not emails.send_account_deleted(username, address):
            flash("We could not send the confirmation mail.", "warning")
        return redirect(url_for("main.index"))
    status = 400 if form.errors else 200
    return render_template("auth/delete.html", form=form), status
