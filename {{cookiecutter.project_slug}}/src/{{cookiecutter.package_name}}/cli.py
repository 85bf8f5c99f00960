"""``flask users ...``: manage accounts from the command line."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from {{ cookiecutter.package_name }}.core.database import db

from .forms import RegisterForm
from .models import User

users_cli = AppGroup("users", help="Manage user accounts.")


@users_cli.command("create")
@click.argument("username")
@click.argument("email")
@click.password_option(help="Prompted for (twice) when not given.")
def create_user(username: str, email: str, password: str) -> None:
    """Create an account, checked by the same rules as the register page."""
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
    user = User(username=username, email=form.email.data)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"Created user {username}.")
