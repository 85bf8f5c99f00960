"""The auth blueprint: register, log in, log out, the account page and login_required.

Registering the blueprint brings the rest of the feature with it: ``current_user`` (loaded
from the session only when a page asks) and the ``flask users`` commands.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_limiter.util import get_remote_address
from sqlalchemy.exc import IntegrityError
from werkzeug.local import LocalProxy
from werkzeug.security import check_password_hash, generate_password_hash

from {{ cookiecutter.package_name }}.core.database import db
from {{ cookiecutter.package_name }}.core.limiter import limiter
from {{ cookiecutter.package_name }}.core.sessions import end_session, rotate_session

from .cli import users_cli
from .forms import LoginForm, RegisterForm
from .models import User

# cli_group=None: the blueprint's commands are top-level, as `flask users ...`.
bp = Blueprint("auth", __name__, template_folder="templates", cli_group=None)
bp.cli.add_command(users_cli)


def logged_in_user() -> User | None:
    """The logged-in user, read from the session the first time a request asks.

    flaskr loads ``g.user`` in a before-request hook, which reads the session on every
    request; this keeps ``g.user`` but costs nothing on pages that never ask. While Redis
    is down the session read raises, and the page is a 503: never "logged out".
    """
    if "user" not in g:
        user_id = session.get("user_id")
        g.user = db.session.get(User, user_id) if user_id else None
    user: User | None = g.user
    return user


# Templates read ``current_user``; only those that use it load the session.
current_user = LocalProxy(logged_in_user)


@bp.app_context_processor
def inject_current_user() -> dict[str, Any]:
    """Make ``current_user`` available in every template."""
    return {"current_user": current_user}


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Send visitors who are not logged in to the login page, then back here."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if logged_in_user() is None:
            flash("Please log in to see that page.", "info")
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(char) < 32 for char in target):
        return None  # browsers read "/\evil.example" as "//evil.example"
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target


@functools.cache
def dummy_password_hash() -> str:
    """A hash to check against when the user does not exist, so both cases take as long."""
    return generate_password_hash(secrets.token_urlsafe(16))


def login_limit() -> str:
    """The throttle for login and register attempts, from config."""
    limit: str = current_app.config["LOGIN_RATE_LIMIT"]
    return limit


def client_key() -> str:
    """Throttle key: the client address (behind proxies, set PROXY_FIX so it is real)."""
    return f"auth-ip:{get_remote_address()}"


def username_key() -> str:
    """Throttle key: the username being tried, whichever address it comes from."""
    username = request.form.get("username", "").strip().lower()[:64]
    return f"auth-user:{username}"


def log_in(user: User) -> None:
    """Start an authenticated session under a new id (no session fixation)."""
    rotate_session()
    session["user_id"] = user.id
    g.user = user


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(login_limit, key_func=client_key, methods=["POST"])
def register() -> ResponseReturnValue:
    """Create an account and log in."""
    form = RegisterForm()
    if form.validate_on_submit():
        username, email = form.username.data or "", form.email.data or ""
        if User.by_username(username):
            form.username.errors.append("That username is taken.")  # type: ignore[attr-defined]
        elif User.by_email(email):
            form.email.errors.append("An account with this email exists.")  # type: ignore[attr-defined]
        else:
            user = User(username=username.strip(), email=email)
            user.set_password(form.password.data or "")
            db.session.add(user)
            try:
                db.session.commit()
            except IntegrityError:  # registered by someone else a moment ago
                db.session.rollback()
                form.username.errors.append("That username is taken.")  # type: ignore[attr-defined]
            else:
                log_in(user)
                flash(f"Welcome, {user.username}! Your account is ready.", "success")
                return redirect(url_for("auth.account"))
    status = 400 if form.errors else 200
    return render_template("auth/register.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(login_limit, key_func=client_key, methods=["POST"])
@limiter.limit(login_limit, key_func=username_key, methods=["POST"])
def login() -> ResponseReturnValue:
    """Check the credentials; the same answer for an unknown user and a wrong password."""
    form = LoginForm()
    if form.validate_on_submit():
        password = form.password.data or ""
        user = User.by_username(form.username.data or "")
        if user is None:
            check_password_hash(dummy_password_hash(), password)
        elif user.check_password(password):
            log_in(user)
            flash(f"Welcome back, {user.username}!", "success")
            return redirect(safe_next(request.args.get("next")) or url_for("main.index"))
        # The address and request id come with every log line; the password never does.
        current_app.logger.warning("Failed login for username %r", form.username.data)
        flash("Invalid username or password.", "error")
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End the session everywhere: the server-side copy is deleted."""
    end_session()
    flash("You have been logged out.", "info")
    return redirect(url_for("main.index"))


@bp.get("/account")
@login_required
def account() -> str:
    """A page only for logged-in users."""
    return render_template("auth/account.html")
