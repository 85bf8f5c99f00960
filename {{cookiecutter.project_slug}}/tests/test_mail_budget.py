"""One mailbox gets at most EMAIL_RATE_LIMIT mails from the account forms, however it is asked."""

from __future__ import annotations

import itertools

import pytest

from conftest import AuthActions, csrf_token

MAILBOX = "alice@example.com"


def fullwidth(text: str) -> str:
    """``text`` in the fullwidth forms of its ASCII characters ("a" is U+FF41)."""
    return "".join(chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char for char in text)


# Spellings the forms all read as MAILBOX: case, fullwidth letters, invisible code points.
SPELLINGS = [
    "alice@example.com",
    "ALICE@EXAMPLE.COM",
    "Alice@Example.com",
    fullwidth("alice@example.com"),
    fullwidth("a") + "lice@example.com",
    "al\u034fice@example.com",
    "a\u034fl\u034fi\u034fc\u034fe@example.com",
    "alice\u200b@example.com",
    "\ufeffalice@EXAMPLE.com",
    " alice@example.com ",
]
FORMS = ["/auth/register", "/auth/verify", "/auth/password/forgot"]


@pytest.fixture
def app(make_auth_app):
    """The app on a fresh migrated database, mailing the test SMTP server."""
    return make_auth_app()


def ask(app, mailbox, form: str, address: str, client_address: str, n: int):
    """One visitor, from its own client address, sends ``form`` for ``address``."""
    visitor = AuthActions(app.test_client(), mailbox)
    data: dict[str, object] = {"email": address}
    if form == "/auth/register":
        data |= {"username": f"alice{n}", "password": "a quiet morning walk"}
        data["confirm"] = data["password"]
    return visitor.post(form, data, environ_base={"REMOTE_ADDR": client_address})


def test_thirty_spellings_from_thirty_clients_deliver_at_most_five_mails(app, mailbox):
    asks = zip(itertools.cycle(FORMS), SPELLINGS * 3, strict=False)
    statuses = [
        ask(app, mailbox, form, address, f"198.51.100.{n}", n).status_code
        for n, (form, address) in enumerate(asks)
    ]
    assert len(statuses) == 30
    assert app.config["EMAIL_RATE_LIMIT"] == "5 per hour"
    assert [message["To"] for message in mailbox.messages] == [MAILBOX] * 5
    assert statuses[:5] == [303] * 5
    assert set(statuses[5:]) == {429}


def test_the_budget_spent_looks_the_same_with_or_without_an_account(make_auth_app, mailbox):
    app = make_auth_app(EMAIL_RATE_LIMIT="1 per hour")
    AuthActions(app.test_client(), mailbox).signup()  # alice's one mail: her confirm link
    pages = []
    for address in ("alice@example.com", "nobody@example.com"):
        visitor = AuthActions(app.test_client(), mailbox)
        asked = [visitor.post("/auth/password/forgot", {"email": address}) for _ in range(2)]
        assert asked[-1].status_code == 429
        pages.append(asked[-1].get_data(as_text=True))
    assert pages[0] == pages[1]


def test_an_address_the_form_refuses_spends_no_budget(make_auth_app, mailbox):
    app = make_auth_app(EMAIL_RATE_LIMIT="1 per hour")
    visitor = AuthActions(app.test_client(), mailbox)
    for _ in range(3):
        response = visitor.post("/auth/password/forgot", {"email": "alice@@example.com"})
        assert response.status_code == 400
    assert visitor.post("/auth/password/forgot", {"email": MAILBOX}).status_code == 303
    assert len(mailbox.to(MAILBOX)) == 1


def test_the_form_mails_the_address_the_budget_counts(app, client, mailbox):
    token = csrf_token(client, "/auth/password/forgot")
    typed = fullwidth("AL") + "\u034f" + fullwidth("ICE@") + "example.com"
    response = client.post("/auth/password/forgot", data={"email": typed, "csrf_token": token})
    assert response.status_code == 303
    assert MAILBOX in client.get(response.headers["Location"]).get_data(as_text=True)
    assert [message["To"] for message in mailbox.messages] == [MAILBOX]
