"""Accounts, from registration to deletion: the ``auth`` blueprint and every URL it serves.

Registering ``bp`` brings the whole feature: the pages listed below, ``current_user`` in
every template (read from the session only when a page asks: ``current_user.py``) and the
``flask users`` commands. Other features guard their views with
``current_user.login_required``, and sensitive ones also with ``sudo.sudo_required``.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue

from {{ cookiecutter.package_name }}.core.page_cache import personal_when

from . import (
    account_routes,
    email_change_routes,
    emails,
    login_routes,
    password_routes,
    registration_routes,
    second_factor,
    sudo,
    two_factor_login,
    two_factor_routes,
)
from .cli import users_cli
from .current_user import inject_current_user, names_a_user
from .signals import account_deleted

# cli_group=None: the blueprint's commands are top-level, as `flask users ...`.
bp = Blueprint("auth", __name__, cli_group=None{% if cookiecutter.layout == "large" %}, template_folder="templates"{% endif %})
bp.cli.add_command(users_cli)
bp.app_context_processor(inject_current_user)
bp.add_app_template_filter(account_routes.when, "when")
# A logged-in visitor's pages are their own: never served from the anonymous page cache.
bp.record_once(lambda state: personal_when(state.app, names_a_user))


@bp.record_once
def delete_two_factor_with_account(state: BlueprintSetupState) -> None:
    """An account's two-factor rows go with it."""
    account_deleted.connect(second_factor.forget_account, state.app)


# Every page of the feature, under the /auth prefix create_app() registers it with. A page
# with a form answers GET (the form) and POST (sending it), and a POST that did its work
# redirects (a reload never sends it again); the views guard themselves.
FORM = ["GET", "POST"]
PAGES: list[tuple[str, Callable[..., ResponseReturnValue], list[str]]] = [
    ("/register", registration_routes.register, FORM),
    ("/check-email", emails.check_email, ["GET"]),
    ("/verify/<token>", registration_routes.verify_email, FORM),
    ("/verify", registration_routes.resend_verification, FORM),
    ("/login", login_routes.login, FORM),
    ("/logout", login_routes.logout, ["POST"]),
    ("/login/code", two_factor_login.login_code, FORM),
    ("/sudo", sudo.sudo, FORM),
    ("/password/forgot", password_routes.forgot_password, FORM),
    ("/password/reset/<token>", password_routes.reset_password, FORM),
    ("/password", password_routes.change_password, FORM),
    ("/account", account_routes.account, ["GET"]),
    ("/account/email", email_change_routes.change_email, FORM),
    ("/account/email/<token>", email_change_routes.confirm_email_change, FORM),
    ("/sessions", account_routes.sessions, ["GET"]),
    ("/sessions/<handle>/sign-out", account_routes.sign_out_session, ["POST"]),
    ("/sessions/sign-out-others", account_routes.sign_out_other_sessions, ["POST"]),
    ("/delete", account_routes.delete_account, FORM),
    ("/two-factor", two_factor_routes.two_factor, FORM),
    ("/two-factor/recovery-codes", two_factor_routes.new_recovery_codes, ["POST"]),
    ("/two-factor/off", two_factor_routes.turn_off_two_factor, ["POST"]),
]
for rule, view, methods in PAGES:
    bp.add_url_rule(rule, view_func=view, methods=methods)
