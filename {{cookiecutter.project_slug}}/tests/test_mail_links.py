"""Mailed links: opening one, as a mail scanner does, changes nothing; the form on its page
does the work, once; a used or expired link says so alike to GET and POST."""

from __future__ import annotations

from datetime import timedelta

import pytest

from conftest import PASSWORD, AuthActions

NEW_PASSWORD = "a brand new passphrase"
USED = "This link has been used already, or a newer one replaced it."
EXPIRED = "This link has expired."


def scan(app, link: str) -> None:
    """What a mail scanner does: fetch the link (no cookies, HEAD or GET), submit nothing."""
    for method in ("HEAD", "GET", "GET"):
        response = app.test_client().open(link, method=method)
        assert response.status_code == 200, method


def mailed_link(auth, mailbox, kind: str) -> str:
    """A confirm link (a new account) or a reset link (a confirmed one) for alice."""
    if kind == "confirm":
        auth.register()
    else:
        auth.signup()
        auth.post("/auth/password/forgot", {"email": "alice@example.com"})
    return mailbox.link("alice@example.com")


def use(auth, link: str, kind: str):
    """Send the form of the link's page, as its owner does."""
    fields = {"password": PASSWORD} if kind == "confirm" else {"password": NEW_PASSWORD}
    if kind == "reset":
        fields["confirm"] = NEW_PASSWORD
    return auth.post(link, fields)


def problem_page(auth, link: str) -> list[tuple[int, str]]:
    """The status and text of the link opened, then of its form sent (a token from login)."""
    opened = auth.client.get(link)
    fields = {"password": PASSWORD, "confirm": PASSWORD}
    posted = auth.post(link, fields, form_page="/auth/login")
    return [(r.status_code, r.get_data(as_text=True)) for r in (opened, posted)]


def test_a_scanner_opening_a_confirm_link_confirms_nothing(make_auth_app, mailbox):
    app = make_auth_app()
    auth = AuthActions(app.test_client(), mailbox)
    link = mailed_link(auth, mailbox, "confirm")
    scan(app, link)
    assert auth.login().status_code == 403
    assert use(auth, link, "confirm").headers["Location"] == "/auth/login"
    assert auth.login().status_code == 302


def test_a_scanner_opening_a_reset_link_changes_nothing(make_auth_app, mailbox):
    app = make_auth_app()
    auth = AuthActions(app.test_client(), mailbox)
    link = mailed_link(auth, mailbox, "reset")
    scan(app, link)
    assert auth.login().status_code == 302  # the old password still works
    assert use(auth, link, "reset").headers["Location"] == "/auth/login"
    assert auth.login(password=NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize("kind", ["confirm", "reset"])
def test_a_link_works_once_then_says_so_to_get_and_post(make_auth_app, mailbox, kind):
    auth = AuthActions(make_auth_app().test_client(), mailbox)
    link = mailed_link(auth, mailbox, kind)
    assert use(auth, link, kind).status_code == 302
    for status, text in problem_page(auth, link):
        assert status == 410
        assert USED in text
        assert "Nothing was changed." in text


@pytest.mark.parametrize("kind", ["confirm", "reset"])
def test_an_expired_link_says_so_to_get_and_post(make_auth_app, mailbox, kind):
    lifetime = "VERIFY_LINK_MAX_AGE" if kind == "confirm" else "RESET_LINK_MAX_AGE"
    app = make_auth_app(**{lifetime: timedelta(seconds=-1)})
    auth = AuthActions(app.test_client(), mailbox)
    link = mailed_link(auth, mailbox, kind)
    for status, text in problem_page(auth, link):
        assert status == 410
        assert EXPIRED in text
        assert "Ask for a new link" in text
    # Nothing changed: an unconfirmed account stays so, a confirmed one keeps its password.
    assert auth.login().status_code == (403 if kind == "confirm" else 302)
