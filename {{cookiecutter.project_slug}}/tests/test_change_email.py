"""Changing the account's address: a link to the new address makes the change, once; the
current address gets a notice; nothing tells whether another account uses the new one."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import PASSWORD, AuthActions, signed_in_long_ago

FORM = "/auth/account/email"
OLD, NEW = "alice@example.com", "alice@new.example.org"
USED = "This link has been used already, or a newer one replaced it."
EXPIRED = "This link has expired."
CSRF_VALUE = re.compile(r'name="csrf_token"[^>]*?value="[^"]+"')
TAKEN = "Another account uses this address now, so it cannot be yours too."


@pytest.fixture
def app(make_auth_app):
    """The app on a fresh migrated database, mailing the test SMTP server."""
    return make_auth_app()


def ask_for(auth: AuthActions, address: str = NEW):
    """Send the change form for ``address``."""
    return auth.post(FORM, {"email": address})


def email_of(client) -> str:
    """The address the account page shows."""
    page = client.get("/auth/account").get_data(as_text=True)
    return page.split("<dt>Email</dt><dd>", 1)[1].split("</dd>", 1)[0]


def sent_to_confirm(response) -> str:
    """The ``next`` of a redirect to the sudo confirm page; fails for any other answer."""
    assert response.status_code in {302, 303}, response.status_code
    location = urlsplit(response.headers["Location"])
    assert location.path == "/auth/sudo"
    return parse_qs(location.query)["next"][0]


def use(auth: AuthActions, link: str, form_page: str | None = None):
    """Press the one button of the link's page (a page without it: ``form_page``'s token)."""
    return auth.post(link, {}, form_page)


def test_changing_the_address_story(alice, app, client, mailbox):
    assert FORM in client.get("/auth/account").get_data(as_text=True)
    asked = ask_for(alice)
    assert (asked.status_code, asked.headers["Location"]) == (303, "/auth/check-email")
    page = client.get("/auth/check-email").get_data(as_text=True)
    assert "Check your inbox" in page and NEW in page
    assert email_of(client) == OLD  # nothing changes before the link is opened

    link = mailbox.link(NEW)
    assert link.startswith(FORM + "/")
    notice = mailbox.text(mailbox.last(OLD))
    assert NEW in notice and "If it was not you" in notice

    opened = client.get(link)
    assert opened.status_code == 200
    assert "Use this address" in opened.get_data(as_text=True)
    assert email_of(client) == OLD

    done = use(alice, link)
    assert done.headers["Location"] == "/auth/account"
    page = client.get("/auth/account").get_data(as_text=True)
    assert f"Your email address is now {NEW}." in page
    assert email_of(client) == NEW

    alice.logout()
    assert alice.login(OLD).status_code == 200  # "Invalid username, email or password."
    assert alice.login(NEW).status_code == 302  # by the new address, confirmed


def test_the_link_works_without_a_sign_in(alice, app, mailbox):
    ask_for(alice)
    elsewhere = AuthActions(app.test_client(), mailbox)
    done = use(elsewhere, mailbox.link(NEW))
    assert done.headers["Location"] == "/auth/login"
    assert elsewhere.login(NEW).status_code == 302


def test_an_old_sign_in_goes_to_confirm_the_password_first(alice, app, client, mailbox, redis_conn):
    signed_in_long_ago(app, client, redis_conn)
    mailbox.messages.clear()

    assert sent_to_confirm(client.get(FORM)) == FORM
    sent = alice.post(FORM, {"email": NEW}, form_page="/auth/account")
    assert sent.status_code == 303
    assert sent_to_confirm(sent) == FORM
    assert mailbox.messages == []  # the stale POST did nothing

    alice.post("/auth/sudo", {"password": PASSWORD})
    assert client.get(FORM).status_code == 200


def test_an_address_in_use_gets_the_same_answer(alice, app, client, mailbox):
    bob = AuthActions(app.test_client(), mailbox)
    bob.signup("bob", "bob@example.com")
    answers = []
    for address in ("bob@example.com", NEW):
        mailbox.messages.clear()
        asked = ask_for(alice, address)
        page = client.get("/auth/check-email").get_data(as_text=True)
        page = CSRF_VALUE.sub("", page.replace(address, "ADDRESS"))
        answers.append((asked.status_code, asked.headers["Location"], page))
        assert sorted(message["To"] for message in mailbox.messages) == sorted([OLD, address])
    assert answers[0] == answers[1]

    # bob hears that someone tried, with no link that would move anything.
    mailbox.messages.clear()
    ask_for(alice, "bob@example.com")
    note = mailbox.text(mailbox.last("bob@example.com"))
    assert "already belongs to your account" in note and FORM not in note
    assert bob.login("bob@example.com").status_code == 302


def test_the_current_address_is_refused_as_new(alice, mailbox):
    mailbox.messages.clear()
    asked = ask_for(alice, "ALICE@example.com")
    assert asked.status_code == 400
    assert "That is your address already." in asked.get_data(as_text=True)
    assert mailbox.messages == []


def test_opening_the_link_changes_nothing(alice, app, client, mailbox):
    ask_for(alice)
    link = mailbox.link(NEW)
    for method in ("HEAD", "GET", "GET"):  # a mail scanner, without cookies
        assert app.test_client().open(link, method=method).status_code == 200
    assert email_of(client) == OLD
    assert use(alice, link).headers["Location"] == "/auth/account"


def test_the_link_works_once(alice, app, client, mailbox):
    ask_for(alice)
    link = mailbox.link(NEW)
    use(alice, link)
    for response in (client.get(link), use(alice, link, "/auth/login")):
        assert response.status_code == 410
        assert USED in response.get_data(as_text=True)
    assert email_of(client) == NEW


def test_an_older_link_dies_once_the_address_changed(alice, client, mailbox):
    ask_for(alice)
    first = mailbox.link(NEW)
    ask_for(alice, "alice@third.example.net")
    use(alice, mailbox.link("alice@third.example.net"))
    assert use(alice, first, "/auth/login").status_code == 410
    assert email_of(client) == "alice@third.example.net"


def test_an_expired_link_changes_nothing(alice, make_auth_app, client, mailbox):
    ask_for(alice)
    # A second app on the same database, whose links are all past their lifetime.
    expired = make_auth_app(VERIFY_LINK_MAX_AGE=timedelta(seconds=-1))
    later = AuthActions(expired.test_client(), mailbox)
    link = mailbox.link(NEW)
    for response in (later.client.get(link), use(later, link, "/auth/login")):
        assert response.status_code == 410
        assert EXPIRED in response.get_data(as_text=True)
    assert email_of(client) == OLD


def test_an_address_taken_meanwhile_is_not_moved_to(alice, app, client, mailbox):
    ask_for(alice)
    link = mailbox.link(NEW)
    AuthActions(app.test_client(), mailbox).register("carol", NEW)
    for response in (client.get(link), use(alice, link, "/auth/login")):
        assert response.status_code == 409
        assert TAKEN in response.get_data(as_text=True)
    assert email_of(client) == OLD


def test_the_notice_lets_the_owner_stop_the_change(alice, app, client, mailbox):
    ask_for(alice)
    link = mailbox.link(NEW)
    owner = AuthActions(app.test_client(), mailbox)
    reset = mailbox.link(OLD)  # the first link of the notice
    assert reset.startswith("/auth/password/reset/")
    new_password = "a brand new passphrase"
    owner.post(reset, {"password": new_password, "confirm": new_password})

    attacker = AuthActions(app.test_client(), mailbox)
    assert use(attacker, link, "/auth/login").status_code == 410  # the new password killed the link
    assert owner.login(OLD, new_password).status_code == 302
    assert email_of(owner.client) == OLD


def confirmed_alice(app, mailbox, **environ) -> AuthActions:
    """alice, made by the CLI (no mail spent) and logged in."""
    args = ["users", "create", "alice", OLD, "--password", PASSWORD]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    alice = AuthActions(app.test_client(), mailbox)
    alice.login(**environ)
    return alice


def test_each_change_spends_both_mailboxes_budget(make_auth_app, mailbox):
    app = make_auth_app(EMAIL_RATE_LIMIT="1 per hour")
    alice = confirmed_alice(app, mailbox)
    mailbox.messages.clear()
    assert ask_for(alice).status_code == 303
    # The new mailbox's budget is spent, and so is the current one's (the notice).
    assert ask_for(alice).status_code == 429
    assert ask_for(alice, "alice@other.example.net").status_code == 429
    assert sorted(message["To"] for message in mailbox.messages) == sorted([OLD, NEW])


def test_the_form_is_throttled_per_client_address(make_auth_app, mailbox):
    app = make_auth_app(LOGIN_RATE_LIMIT="2 per minute")
    alice = confirmed_alice(app, mailbox, REMOTE_ADDR="192.0.2.1")
    here = {"REMOTE_ADDR": "192.0.2.2"}
    statuses = [
        alice.post(FORM, {"email": f"alice{n}@new.example.org"}, environ_base=here).status_code
        for n in range(3)
    ]
    assert statuses == [303, 303, 429]
