"""Sudo mode: changing the password, signing out sessions and deleting the account need a
recent sign-in; with an older one the user confirms the password first, then goes on."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import PASSWORD, AuthActions, signed_in_long_ago

NEW_PASSWORD = "a brand new passphrase"
CHANGE = {"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}


@pytest.fixture
def app(make_auth_app):
    """The app on a fresh migrated database, with the default SUDO_MODE_LIFETIME."""
    return make_auth_app()


def sent_to_confirm(response) -> str:
    """The ``next`` of a redirect to the confirm page; fails for any other answer."""
    assert response.status_code in {302, 303}, response.status_code
    location = urlsplit(response.headers["Location"])
    assert location.path == "/auth/sudo"
    return parse_qs(location.query)["next"][0]


def logged_in(client) -> bool:
    return client.get("/auth/account").status_code == 200


def test_right_after_login_the_sensitive_actions_work(alice, app, client, mailbox):
    for path in ("/auth/password", "/auth/sessions", "/auth/delete"):
        assert client.get(path).status_code == 200, path
    other = AuthActions(app.test_client(), mailbox)
    other.login()
    signed_out = alice.post("/auth/sessions/sign-out-others", {}, "/auth/sessions")
    assert signed_out.headers["Location"] == "/auth/sessions"
    assert not logged_in(other.client)
    assert alice.post("/auth/password", CHANGE).headers["Location"] == "/auth/account"


@pytest.mark.parametrize("path", ["/auth/password", "/auth/sessions", "/auth/delete"])
def test_after_the_lifetime_a_page_sends_to_confirm_and_back(alice, app, client, redis_conn, path):
    signed_in_long_ago(app, client, redis_conn)
    assert sent_to_confirm(client.get(path)) == path
    assert sent_to_confirm(client.get(f"{path}?from=menu")) == f"{path}?from=menu"
    assert logged_in(client)


def test_after_the_lifetime_a_form_does_nothing(alice, app, client, mailbox, redis_conn):
    other = AuthActions(app.test_client(), mailbox)
    other.login()
    signed_in_long_ago(app, client, redis_conn)

    # Each POST goes to the confirm page, on its way back to the form's page.
    assert sent_to_confirm(alice.post("/auth/password", CHANGE, "/")) == "/auth/password"
    assert sent_to_confirm(alice.post("/auth/delete", {"password": PASSWORD}, "/")) == (
        "/auth/delete"
    )
    others = alice.post("/auth/sessions/sign-out-others", {}, "/")
    assert sent_to_confirm(others) == "/auth/sessions"

    assert logged_in(client)
    assert logged_in(other.client)
    assert other.login(password=PASSWORD).status_code == 302  # the password is unchanged
    assert not mailbox.to("alice@example.com")[1:]  # only the confirmation link was mailed


def test_the_password_on_the_confirm_page_returns_to_the_action(alice, app, client, redis_conn):
    signed_in_long_ago(app, client, redis_conn)
    confirm = client.get("/auth/delete").headers["Location"]
    assert "Confirm your password" in client.get(confirm).get_data(as_text=True)

    confirmed = alice.post(confirm, {"password": PASSWORD})
    assert confirmed.headers["Location"] == "/auth/delete"
    deleted = alice.post("/auth/delete", {"password": PASSWORD})
    assert deleted.headers["Location"] == "/"
    assert not logged_in(client)


def test_a_wrong_password_is_refused_and_throttled_like_failed_logins(
    make_auth_app, mailbox, redis_conn
):
    app = make_auth_app(ACCOUNT_FAILURE_LIMIT="3 per 15 minutes")
    alice = AuthActions(app.test_client(), mailbox)
    alice.signup()
    alice.login()
    signed_in_long_ago(app, alice.client, redis_conn)
    for _ in range(3):
        wrong = alice.post("/auth/sudo?next=/auth/delete", {"password": "not my password"})
        assert wrong.status_code == 400
        assert "That is not your password." in wrong.get_data(as_text=True)
    assert sent_to_confirm(alice.client.get("/auth/delete")) == "/auth/delete"

    # The account's failure budget is spent for this address: even the password is refused,
    # here and on the login form.
    refused = alice.post("/auth/sudo?next=/auth/delete", {"password": PASSWORD})
    assert refused.status_code == 429
    assert alice.login().status_code == 429
    assert sent_to_confirm(alice.client.get("/auth/delete")) == "/auth/delete"


@pytest.mark.parametrize(
    "target", ["//evil.example", "https://evil.example", "/\\evil.example", "javascript:x"]
)
def test_an_unsafe_next_is_ignored(alice, client, target):
    page = client.get("/auth/sudo", query_string={"next": target}).get_data(as_text=True)
    assert "evil" not in page
    confirmed = alice.post(
        "/auth/sudo", {"password": PASSWORD}, "/auth/sudo", query_string={"next": target}
    )
    assert confirmed.headers["Location"] == "/auth/account"


def test_the_confirm_page_needs_a_login(client):
    response = client.get("/auth/sudo?next=/auth/delete")
    assert response.headers["Location"].startswith("/auth/login")


def test_the_lifetime_is_a_setting(make_auth_app, monkeypatch):
    assert make_auth_app().config["SUDO_MODE_LIFETIME"] == timedelta(minutes=10)
    monkeypatch.setenv("SUDO_MODE_LIFETIME", "60")
    assert make_auth_app().config["SUDO_MODE_LIFETIME"] == timedelta(seconds=60)
    monkeypatch.setenv("FLASK_SUDO_MODE_LIFETIME", "120")
    assert make_auth_app().config["SUDO_MODE_LIFETIME"] == timedelta(seconds=120)


def test_with_no_lifetime_even_a_new_login_confirms_first(make_auth_app, mailbox):
    app = make_auth_app(SUDO_MODE_LIFETIME=timedelta(0))
    alice = AuthActions(app.test_client(), mailbox)
    alice.signup()
    alice.login()
    assert sent_to_confirm(alice.client.get("/auth/password")) == "/auth/password"
