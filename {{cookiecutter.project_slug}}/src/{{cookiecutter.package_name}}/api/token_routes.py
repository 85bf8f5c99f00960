"""The account's personal access tokens page: make one (shown once), list, revoke.

Every action needs sudo mode, as a token acts for the account without its password.
"""

from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from {{ cookiecutter.package_name }}.auth.current_user import login_required, the_user
from {{ cookiecutter.package_name }}.auth.events import security_event
from {{ cookiecutter.package_name }}.auth.sudo import sudo_required

from . import tokens
from .docs import pages
from .forms import NewTokenForm
from .models import MAX_ID


def tokens_page(
    form: NewTokenForm, new_token: str | None = None, status: int = 200
) -> ResponseReturnValue:
    """The page: the user's tokens, the form, and a new token if one was just made."""
    listed = tokens.tokens_of(the_user().id)
    page = render_template("api/tokens.html", form=form, tokens=listed, new_token=new_token)
    response = make_response(page, status)
    # The new token is on it: neither the browser's cache nor a proxy may keep it.
    response.headers["Cache-Control"] = "no-store"
    return response


@pages.route("/auth/tokens", methods=["GET", "POST"])
@login_required
@sudo_required
def tokens_list() -> ResponseReturnValue:
    """List the tokens; a sent form makes one and shows it, this once."""
    form = NewTokenForm()
    if not form.is_submitted():
        return tokens_page(form)
    if not form.validate():
        return tokens_page(form, status=400)
    user = the_user()
    _, token = tokens.issue(user.id, form.name.data or "", form.scopes, form.days.data or 30)
    security_event("token_created", "Made a personal access token", user_id=user.id)
    return tokens_page(NewTokenForm(formdata=None), new_token=token)


@pages.route(f"/auth/tokens/<int(max={MAX_ID}):token_id>/revoke", methods=["POST"])
@login_required
@sudo_required(form_page="api_pages.tokens_list")
def revoke_token(token_id: int) -> ResponseReturnValue:
    """Revoke one of the user's tokens: it stops working at once."""
    user = the_user()
    if not tokens.revoke(user.id, token_id):
        abort(404, description="That token is not yours, or it is already revoked.")
    security_event("token_revoked", "Revoked a personal access token", user_id=user.id)
    flash("The token is revoked.", "success")
    return redirect(url_for("api_pages.tokens_list"), 303)
