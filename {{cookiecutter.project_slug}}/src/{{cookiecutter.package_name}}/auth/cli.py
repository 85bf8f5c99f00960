"""``flask users ...``: manage accounts from the command line."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from {{ cookiecutter.package_name }}.core.database import db

from . import second_factor
from .emails import send_two_factor_notice
from .events import security_event
from .forms import RegisterForm
from .links import RESET, link_for
from .models import User, utcnow

users_cli = AppGroup("users", help="Manage user accounts.")


def user_by_email(email: str) -> User:
    """The account with this address, or a clear error."""
    user = User.by_email(email.strip().lower())
    if user is None:
        raise click.ClickException(f"No account uses {email}.")
    return user


@users_cli.command("create")
@click.argument("username")
@click.argument("email")
@click.password_option(help="Prompted for (twice) when not given.")
def create_user(username: str, email: str, password: str) -> None:
    """Create a verified account, checked by the same rules as the register page."""
    data = {"username": username, "email": email, "password": password, "confirm": password}
    with current_app.test_request_context(method="POST", data=data):
        form = RegisterForm(meta={"csrf": False})
        valid = form.validate()
    if not valid:
        for field, errors in form.errors.items():
            click.echo(f"{field}: {' '.join(errors)}", err=True)
        raise SystemExit(1)
    if User.by_username(username) or User.by_email(form.email.data or ""):
        raise click.ClickException(f"A user named {username!r} or with that email exists.")
    user = User(username=username, email=form.email.data, verified_at=utcnow())
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"Created user {username}.")


@users_cli.command("verify")
@click.argument("email")
def verify_user(email: str) -> None:
    """Mark an account's email address as confirmed, so it can log in."""
    user = user_by_email(email)
    if user.verified:
        click.echo(f"{user.email} was already confirmed.")
        return
    user.verified_at = utcnow()
    db.session.commit()
    click.echo(f"Confirmed {user.email}; {user.username} can log in.")


@users_cli.command("reset-link")
@click.argument("email")
def reset_link(email: str) -> None:
    """Print a password reset link for an account (valid RESET_LINK_MAX_AGE, once)."""
    click.echo(link_for(RESET, user_by_email(email)))


@users_cli.command("reset-two-factor")
@click.argument("email")
def reset_two_factor(email: str) -> None:
    """Turn two-factor sign-in off for an account whose owner lost the app and the recovery
    codes (check who asks first); the owner is mailed."""
    user = user_by_email(email)
    if not second_factor.turn_off(user):
        click.echo(f"Two-factor sign-in was already off for {user.email}.")
        return
    security_event("two_factor_reset", "Two-factor sign-in reset by an operator", user_id=user.id)
    if not send_two_factor_notice(user, "reset"):
        click.echo("The notice mail could not be sent.", err=True)
    click.echo(f"Two-factor sign-in is off for {user.username}: the password alone signs in.")
