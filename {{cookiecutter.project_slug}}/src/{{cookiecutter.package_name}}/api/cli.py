"""``flask users revoke-tokens``: stop every personal access token of an account at once."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from {{ cookiecutter.package_name }}.auth.cli import user_by_email
from {{ cookiecutter.package_name }}.auth.events import security_event

from . import tokens


@click.command("revoke-tokens")
@click.argument("email")
@with_appcontext
def revoke_tokens_command(email: str) -> None:
    """Revoke all of an account's personal access tokens (a leaked one, a lost laptop)."""
    user = user_by_email(email)
    count = tokens.revoke(user.id)
    security_event("tokens_revoked", "Tokens revoked by an operator", user_id=user.id)
    click.echo(f"Revoked {count} token{'' if count == 1 else 's'} of {user.username}.")
