"""The logged-in user's own pages: the account, where it is signed in, deleting it.

URLs in this package's ``__init__.py``. Deleting an account sends ``account_deleted``
(``signals``), so features that keep something per user (the tour's uploads) remove it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import abort, current_app, flash, g, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import delete, select

from {{ cookiecutter.package_name }}.core.database import db
from {{ cookiecutter.package_name }}.core.sessions import current_session_id, end_session

from . import emails, signed_in_sessions
from .current_user import log_out_here, login_required, the_user
from .events import security_event
from .forms import DeleteAccountForm
from .login_routes import logout
from .models import User
from .passwords import accepted_form
from .signals import account_deleted
from .sudo import sudo_required
from .throttles import per_address


def when(timestamp: float) -> str:
    """A template filter: seconds since the epoch as a UTC date and time."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


@login_required
def account() -> str:
    """A page only for logged-in users, linking to the pages other features add to it."""
    links = current_app.extensions.get("account_links", [])
    return render_template("auth/account.html", links=links)


@login_required
@sudo_required
def sessions() -> str:
    """Where the account is logged in, with a way to sign each out."""
    listed = signed_in_sessions.active_sessions(the_user().id)
    here = signed_in_sessions.session_handle(current_session_id())
    return render_template("auth/sessions.html", sessions=listed, here=here)


@login_required
@sudo_required(form_page="auth.sessions")
def sign_out_session(handle: str) -> ResponseReturnValue:
    """Sign out one of the user's sessions (this one logs out)."""
    user = the_user()
    listed = signed_in_sessions.active_sessions(user.id)
    chosen = [info.sid for info in listed if info.handle == handle]
    if not chosen:
        abort(404, description="That session has already ended.")
    if chosen[0] == current_session_id():
        return logout()
    if signed_in_sessions.end_other_sessions(user.id, chosen) is None:
        return signed_out_meanwhile()
    security_event("session_ended", "Signed out another session", user_id=user.id)
    flash("That session is signed out.", "success")
    return redirect(url_for("auth.sessions"))


@login_required
@sudo_required(form_page="auth.sessions")
def sign_out_other_sessions() -> ResponseReturnValue:
    """Sign out every session of the user except this one."""
    user = the_user()
    ended = signed_in_sessions.end_other_sessions(user.id)
    if ended is None:
        return signed_out_meanwhile()
    security_event(
        "sessions_ended", "Signed out other sessions", user_id=user.id, sessions_ended=ended
    )
    flash(f"Signed out {ended} other session{'' if ended == 1 else 's'}.", "success")
    return redirect(url_for("auth.sessions"))


def signed_out_meanwhile() -> ResponseReturnValue:
    """This session was signed out from another of the account's sessions during the request."""
    log_out_here(None)
    flash("This session was signed out from another device.", "info")
    return redirect(url_for("auth.login"))


def delete_user(user_id: int) -> bool:
    """Delete the account's row and, first, what features keep for it (``account_deleted``);
    False if another request deleted it meanwhile.

    Two requests sent at once (a double click, two devices) both get this far. The row's
    lock holds the second until the first has committed; it then finds no row and leaves
    the reporting and the mail to the first. SQLite has no row locks: there the second
    waits at its first write instead, and its DELETE finds nothing.
    """
    if db.session.scalar(select(User.id).where(User.id == user_id).with_for_update()) is None:
        return False
    # The proxy's documented way to reach the app behind it, as Flask's own signals do.
    account_deleted.send(current_app._get_current_object(), user_id=user_id)  # type: ignore[attr-defined]
    deleted = db.session.execute(delete(User).where(User.id == user_id))
    return bool(getattr(deleted, "rowcount", 0))


@login_required
@sudo_required
@per_address
def delete_account() -> ResponseReturnValue:
    """Delete the account, its sessions and what other features keep for it; mail a note."""
    user = the_user()
    form = DeleteAccountForm()
    if form.validate_on_submit():
        if accepted_form(user.check_password, form.password.data or "") is None:
            form.password.errors.append("That is not your password.")  # type: ignore[attr-defined]
            return render_template("auth/delete.html", form=form), 400
        user_id, username, address = user.id, user.username, user.email
        signed_in_sessions.end_all_sessions(user_id)
        removed = delete_user(user_id)
        db.session.commit()
        end_session()
        g.user = None
        flash("Your account and everything in it are deleted.", "info")
        if removed:
            security_event("account_deleted", "Account deleted", user_id=user_id)
            if not emails.send_account_deleted(username, address):
                flash("We could not send the confirmation mail.", "warning")
        return redirect(url_for("main.index"))
    status = 400 if form.errors else 200
    return render_template("auth/delete.html", form=form), status
