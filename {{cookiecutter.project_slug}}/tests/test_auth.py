"""Registering, confirming and logging in, as a visitor does it and as an attacker tries it."""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import statistics
import time
from datetime import timedelta

import pytest

from conftest import CSRF_INPUT, PASSWORD, AuthActions, csrf_token


@pytest.fixture
def app(database_app):
    """The app on a fresh migrated database (SQLite, then PostgreSQL)."""
    return database_app


def page(client, url="/"):
    return client.get(url).get_data(as_text=True)


def session_cookie(client, app):
    return client.get_cookie(app.config["SESSION_COOKIE_NAME"])


def same_page(text, address):
    """The page with the address and the (time-stamped) CSRF token blanked out."""
    text = text.replace(address, "ADDRESS")
    return re.sub(r'name="csrf_token"[^>]*?value="[^"]+"', "CSRF", text)


def inbox_page(client, response) -> str:
    """The "check your inbox" page that a form which mailed redirects to (303: see other)."""
    assert response.status_code == 303
    assert response.headers["Location"] == "/auth/check-email"
    return page(client, "/auth/check-email")


def test_register_confirm_login_story(app, client, auth, mailbox):
    assert "Check your inbox" in inbox_page(client, auth.register())
    mail = mailbox.last("alice@example.com")
    assert mail["Subject"] == f"Confirm your email address · {app.config['APP_NAME']}"
    assert mail.get_body(("html",)) is not None

    # Not before the address is confirmed, and the page says why and offers a new link.
    response = auth.login()
    assert response.status_code == 403
    text = response.get_data(as_text=True)
    assert "Confirm your email first" in text
    assert "Resend the link" in text

    link = mailbox.link("alice@example.com")
    assert link.startswith("/auth/verify/")
    assert "Confirm your email address" in page(client, link)  # opening it changes nothing
    assert auth.login().status_code == 403
    response = auth.confirm()
    assert response.headers["Location"] == "/auth/login"
    assert "Your email address is confirmed." in page(client, "/auth/login")

    response = auth.login(password="wrong password")
    assert "Invalid username, email or password." in response.get_data(as_text=True)
    response = auth.login()
    assert response.status_code == 302
    assert "Welcome, alice!" in page(client)
    account = page(client, "/auth/account")
    assert "alice@example.com" in account

    auth.logout()
    home = page(client)
    assert "You have been logged out." in home
    assert "Log in" in home


def test_links_in_mail_come_from_the_configured_base_not_the_host_header(make_auth_app, mailbox):
    # Another name the site answers to: links still use the configured base.
    app = make_auth_app(
        APP_BASE_URL="https://accounts.example.org/app",
        TRUSTED_HOSTS=["localhost", "alias.example"],
    )
    auth = AuthActions(app.test_client(), mailbox)
    token = csrf_token(auth.client, "/auth/register")
    data = {
        "username": "alice",
        "email": "alice@example.com",
        "password": PASSWORD,
        "confirm": PASSWORD,
        "csrf_token": token,
    }
    # The same browser, reaching the app under another Host header.
    for name in (app.config["SESSION_COOKIE_NAME"], app.config["CSRF_COOKIE_NAME"]):
        if cookie := auth.client.get_cookie(name):
            auth.client.set_cookie(name, cookie.value, domain="alias.example")
    response = auth.client.post("/auth/register", data=data, base_url="http://alias.example")
    assert response.status_code == 303
    text = mailbox.text(mailbox.last("alice@example.com"))
    assert "https://accounts.example.org/app/auth/verify/" in text
    assert "alias.example" not in text


def test_registering_a_used_address_looks_the_same_and_tells_its_owner(
    auth, client, mailbox, make_auth_app
):
    auth.signup()
    fresh = inbox_page(client, auth.register(username="bob", email="bob@example.com"))
    again = inbox_page(client, auth.register(username="mallory", email="Alice@Example.com"))
    assert same_page(fresh, "bob@example.com") == same_page(again, "alice@example.com")
    warning = mailbox.last("alice@example.com")
    assert warning["Subject"].startswith("Someone tried to register with your address")
    assert "Nothing was changed." in mailbox.text(warning)
    # No account was made for mallory, and alice's still works.
    auth.confirm("alice@example.com")
    assert auth.login(username="mallory").status_code == 200
    assert auth.login().status_code == 302


def test_the_inbox_page_can_be_reloaded_and_sends_nothing_again(auth, client, mailbox):
    inbox_page(client, auth.register())
    reloaded = page(client, "/auth/check-email")
    assert "We sent a mail to <strong>alice@example.com</strong>" in reloaded
    assert len(mailbox.messages) == 1


def test_the_inbox_page_without_a_mail_sends_to_login(client):
    response = client.get("/auth/check-email")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login"


def test_usernames_are_unique_whatever_the_case(auth):
    auth.register()
    response = auth.register(username="ALICE", email="other@example.com")
    assert response.status_code == 400
    assert "That username is taken." in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"password": "short12", "confirm": "short12"}, "between 8 and 128 characters"),
        ({"password": "x" * 129, "confirm": "x" * 129}, "between 8 and 128 characters"),
        ({"confirm": "something else"}, "The passwords do not match."),
        ({"email": "not-an-address"}, "An email address must have an @-sign."),
        ({"username": "al"}, "between 3 and 32 characters"),
        ({"username": "alice smith"}, "Use letters, digits"),
        ({"password": "password1", "confirm": "password1"}, "one of the most common ones"),
        ({"password": "Iloveyou2", "confirm": "Iloveyou2"}, "one of the most common ones"),
        ({"password": "alice.wonder", "confirm": "alice.wonder"}, "too close to your username"),
        ({"password": "alice@example", "confirm": "alice@example"}, "too close to your username"),
    ],
)
def test_register_shows_what_is_wrong_next_to_the_field(auth, mailbox, fields, message):
    data = {"username": "alice.wonder", "email": "alice@example.com"} | fields
    password = data.pop("password", PASSWORD)
    response = auth.register(password=password, **data)
    assert response.status_code == 400
    page_text = response.get_data(as_text=True)
    assert message in page_text
    assert 'class="field-error"' in page_text
    assert mailbox.messages == []


def test_a_long_passphrase_is_accepted(auth, client):
    long_password = "a fairly long passphrase " * 2 + "that nobody else uses"
    assert len(long_password) >= 64
    assert "Check your inbox" in inbox_page(client, auth.register(password=long_password))


@pytest.mark.parametrize(
    "path",
    ["/auth/login", "/auth/register", "/auth/logout", "/auth/verify", "/auth/password/forgot"],
)
def test_posts_without_a_csrf_token_are_refused(client, path):
    response = client.post(path, data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert "CSRF token is missing" in response.get_data(as_text=True)


def test_logout_needs_a_post(client):
    assert client.get("/auth/logout").status_code == 405


def test_protected_page_sends_visitors_to_login_and_back(auth, client):
    auth.signup()
    response = client.get("/auth/account")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login?next=/auth/account"
    assert "Please log in to see that page." in page(client, response.headers["Location"])
    assert "Please log in to see that page." not in page(client, "/auth/login")
    response = auth.login(next="/auth/account")
    assert response.headers["Location"] == "/auth/account"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "/%0d%0aSet-Cookie:x",
        "evil.example",
    ],
)
def test_next_never_leaves_the_site(auth, target):
    auth.signup()
    response = auth.login(next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_session_id_is_rotated_at_login(auth, client, app):
    auth.signup()
    client.post("/api/probe/counter", json={})  # an anonymous session with data in it
    before = session_cookie(client, app).value
    auth.login()
    after = session_cookie(client, app).value
    assert after != before

    # Someone who planted or stole the pre-login cookie gets nothing.
    attacker = app.test_client()
    attacker.set_cookie(app.config["SESSION_COOKIE_NAME"], before)
    assert attacker.get("/auth/account").status_code == 302


def test_logout_invalidates_the_server_side_session(auth, client, app, redis_conn):
    auth.signup()
    auth.login()
    stolen = session_cookie(client, app).value
    auth.logout()
    assert redis_conn.get(app.config["SESSION_KEY_PREFIX"] + stolen) is None
    replay = app.test_client()
    replay.set_cookie(app.config["SESSION_COOKIE_NAME"], stolen)
    assert replay.get("/auth/account").status_code == 302


def set_cookie_header(response, name: str) -> str:
    """The Set-Cookie header of the cookie ``name`` (a response may set others too)."""
    (header,) = [
        value for value in response.headers.getlist("Set-Cookie") if value.startswith(f"{name}=")
    ]
    return header


def test_remember_me_decides_whether_the_cookie_outlives_the_browser(auth, client, app):
    auth.signup()
    name = app.config["SESSION_COOKIE_NAME"]
    forgetful = auth.login()
    assert "Expires=" not in set_cookie_header(forgetful, name)
    auth.logout()
    remembered = auth.login(remember=True)
    assert "Expires=" in set_cookie_header(remembered, name)
    expires = session_cookie(client, app).expires
    lifetime = app.permanent_session_lifetime.total_seconds()
    assert abs(expires.timestamp() - time.time() - lifetime) < 60


def test_login_is_throttled_per_client_address(auth):
    for _ in range(10):
        assert auth.login(password="wrong password").status_code == 200
    response = auth.login(password="wrong password")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "429 · Too Many Requests" in response.get_data(as_text=True)


@pytest.fixture
def proxied_app(make_auth_app):
    """Behind one trusted proxy hop: X-Forwarded-For names the client."""
    return make_auth_app(PROXY_FIX={"x_for": 1}, ACCOUNT_FAILURE_LIMIT="5 per 15 minutes")


def login_from(client, address, password, username="alice"):
    token = csrf_token(client, "/auth/login")
    data = {"username": username, "password": password, "csrf_token": token}
    return client.post("/auth/login", data=data, headers={"X-Forwarded-For": address})


def test_guesses_from_many_addresses_never_lock_the_owner_out(proxied_app, mailbox):
    AuthActions(proxied_app.test_client(), mailbox).signup()
    attacker = proxied_app.test_client()
    for attempt in range(30):
        response = login_from(attacker, f"198.51.100.{attempt}", "wrong password")
        assert "Invalid username, email or password." in response.get_data(as_text=True)
    owner = proxied_app.test_client()
    response = login_from(owner, "203.0.113.7", PASSWORD)
    assert response.status_code == 302
    assert "Welcome, alice!" in page(owner)


def test_every_spelling_of_an_address_shares_its_failure_budget(proxied_app, mailbox):
    AuthActions(proxied_app.test_client(), mailbox).signup()
    attacker = proxied_app.test_client()
    spellings = [
        "alice@example.com",
        "Alice@Example.com",
        "ALICE@EXAMPLE.COM",
        "\u200balice@example.com",  # a zero-width space first
    ]
    for attempt, spelling in enumerate([*spellings, "alice@\uff45\uff58ample.com"]):
        login_from(attacker, f"198.51.100.{attempt}", "wrong password", username=spelling)
    refused = login_from(attacker, "198.51.100.0", "another guess", username="alice@example.com")
    assert refused.status_code == 429
    # The owner, from an address that has not failed, logs in by address or by name.
    owner = proxied_app.test_client()
    response = login_from(owner, "203.0.113.7", PASSWORD, username="alice@example.com")
    assert response.status_code == 302


def test_spread_out_guessing_is_slowed_once_the_account_budget_is_spent(proxied_app, mailbox):
    AuthActions(proxied_app.test_client(), mailbox).signup()
    attacker = proxied_app.test_client()
    for attempt in range(5):
        login_from(attacker, f"198.51.100.{attempt}", "wrong password")
    # An address that already failed on this account must now wait...
    refused = login_from(attacker, "198.51.100.0", "another guess")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    # ...even with the right password: it is the attacker's address, not the owner's.
    assert login_from(attacker, "198.51.100.1", PASSWORD).status_code == 429
    # A fresh address gets one try, then waits too.
    assert login_from(attacker, "198.51.100.50", "guess").status_code == 200
    assert login_from(attacker, "198.51.100.50", "guess").status_code == 429
    # Other accounts are not affected, and neither is the owner.
    assert login_from(attacker, "198.51.100.0", "guess", username="bob").status_code == 200
    assert login_from(proxied_app.test_client(), "203.0.113.7", PASSWORD).status_code == 302


def test_register_is_throttled_per_address_and_per_target_email(make_auth_app, mailbox):
    app = make_auth_app(EMAIL_RATE_LIMIT="2 per hour")
    auth = AuthActions(app.test_client(), mailbox)
    for n in range(2):
        auth.register(username=f"alice{n}")
    assert auth.register(username="alice9").status_code == 429
    # Another address is still welcome, until the per-address limit.
    for n in range(7):
        assert auth.register(username=f"bob{n}", email=f"bob{n}@example.com").status_code == 303
    assert auth.register(username="carol", email="carol@example.com").status_code == 429


def test_unknown_user_and_wrong_password_look_the_same(make_auth_app, mailbox):
    # The real default hash: its cost is what an unknown user must not skip.
    auth = AuthActions(make_auth_app(PASSWORD_HASH_METHOD="scrypt").test_client(), mailbox)
    auth.signup()

    def timed(username: str, address: str) -> tuple[float, str]:
        started = time.perf_counter()
        response = auth.login(username=username, password="wrong password", REMOTE_ADDR=address)
        return time.perf_counter() - started, response.get_data(as_text=True)

    unknown = [timed(f"nobody{i}", f"192.0.2.{i}") for i in range(5)]
    unknown += [timed(f"nobody{i}@example.com", f"192.0.2.{i + 50}") for i in range(5)]
    wrong = [timed("alice", f"192.0.2.{i + 100}") for i in range(5)]
    wrong += [timed("alice@example.com", f"192.0.2.{i + 150}") for i in range(5)]
    answers = {text.count("Invalid username, email or password.") for _, text in unknown + wrong}
    assert answers == {1}
    # Every path hashes once; without the dummy check an unknown user answers ~50x faster.
    ratio = statistics.median(t for t, _ in unknown) / statistics.median(t for t, _ in wrong)
    assert 0.33 < ratio < 3


def test_login_takes_the_username_or_the_address(auth, client):
    auth.signup()
    spellings = ["alice", "ALICE", "alice@example.com", " Alice@EXAMPLE.com "]
    spellings.append("alice@\uff45\uff58ample.com")  # fullwidth letters
    for name in spellings:
        response = auth.login(username=name)
        assert response.status_code == 302, name
        assert "Welcome, alice!" in page(client)
        auth.logout()


@pytest.mark.parametrize(
    "name",
    ["alice", "alice@example.com", "nobody", "nobody@example.com", "alice@", "@example.com"],
)
def test_a_wrong_login_answers_the_same_by_username_or_address(auth, name):
    auth.signup()
    response = auth.login(username=name, password="wrong password")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert text.count("Invalid username, email or password.") == 1
    assert 'class="field-error"' not in text


def test_an_unconfirmed_account_is_refused_by_address_as_by_username(auth):
    auth.register()
    for name in ("alice", "alice@example.com"):
        response = auth.login(username=name)
        assert response.status_code == 403
        assert "Confirm your email first" in response.get_data(as_text=True)
    wrong = auth.login(username="alice@example.com", password="wrong password")
    assert "Invalid username, email or password." in wrong.get_data(as_text=True)


def test_an_old_password_hash_is_redone_at_the_next_login(
    make_app, make_auth_app, mailbox, tmp_path
):
    old = make_auth_app(PASSWORD_HASH_METHOD="pbkdf2:sha256:1000")
    AuthActions(old.test_client(), mailbox).signup()
    default = make_app().config["PASSWORD_HASH_METHOD"]
    assert default == "scrypt"
    new = make_auth_app(PASSWORD_HASH_METHOD=default)

    def stored_hash() -> str:
        # closing(): sqlite3's own context manager commits but leaves the connection open.
        with contextlib.closing(sqlite3.connect(tmp_path / "app.db")) as db:
            return db.execute("SELECT password_hash FROM users").fetchone()[0]

    assert stored_hash().startswith("pbkdf2:sha256:1000$")
    assert AuthActions(new.test_client(), mailbox).login().status_code == 302
    assert stored_hash().startswith("scrypt:")
    assert AuthActions(new.test_client(), mailbox).login().status_code == 302


def confirm_token(mailbox) -> str:
    return mailbox.link("alice@example.com").rsplit("/", 1)[1]


def test_a_confirm_link_works_once(auth, client, mailbox):
    auth.register()
    assert auth.confirm().status_code == 302
    again = auth.confirm()
    assert again.status_code == 410
    assert "Link already used" in again.get_data(as_text=True)


MALLORY_PASSWORD = "mallory's own passphrase"
ALICE_PASSWORD = "seven purple giraffes dance"


def test_an_account_made_with_someone_elses_address_is_theirs_once_they_act(app, mailbox):
    # mallory registers alice's address with a password of mallory's own.
    mallory = AuthActions(app.test_client(), mailbox)
    mallory.register(username="mallory", email="alice@example.com", password=MALLORY_PASSWORD)
    alice = AuthActions(app.test_client(), mailbox)

    # alice opens the confirm mail she did not ask for: the link alone confirms nothing.
    confirm_link = mailbox.link("alice@example.com")
    opened = page(alice.client, confirm_link)
    assert "Not your account, or forgot its password?" in opened
    wrong = alice.confirm(password="a guess at mallory's")
    assert wrong.status_code == 400
    assert "That is not the password of this account." in wrong.get_data(as_text=True)
    assert mallory.login("mallory", MALLORY_PASSWORD).status_code == 403  # still unconfirmed

    # Registering herself, she is told how to make the account hers.
    alice.register(username="alice", email="alice@example.com")
    note = mailbox.text(mailbox.last("alice@example.com"))
    assert "never confirmed" in note
    assert "/auth/password/forgot" in note

    # A new password through "forgot password" confirms the address and locks mallory out.
    alice.post("/auth/password/forgot", {"email": "alice@example.com"})
    reset_link = mailbox.link("alice@example.com")
    alice.post(reset_link, {"password": ALICE_PASSWORD, "confirm": ALICE_PASSWORD})
    refused = mallory.login("mallory", MALLORY_PASSWORD)
    assert "Invalid username, email or password." in refused.get_data(as_text=True)
    assert mallory.client.get("/auth/account").status_code == 302
    assert mallory.client.get(confirm_link).status_code == 410
    assert alice.login("mallory", ALICE_PASSWORD).status_code == 302
    assert "alice@example.com" in page(alice.client, "/auth/account")


def test_an_expired_confirm_link_changes_nothing(make_auth_app, mailbox):
    app = make_auth_app(VERIFY_LINK_MAX_AGE=timedelta(seconds=-1))
    auth = AuthActions(app.test_client(), mailbox)
    auth.register()
    response = auth.confirm()
    assert response.status_code == 410
    text = response.get_data(as_text=True)
    assert "This link has expired." in text
    assert "Ask for a new link" in text
    assert auth.login().status_code == 403


@pytest.mark.parametrize("how", ["tampered", "other purpose", "other user"])
def test_a_forged_confirm_link_is_refused(auth, client, mailbox, how):
    auth.register()
    token = confirm_token(mailbox)
    if how == "tampered":
        forged = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    elif how == "other purpose":
        forged = None
        response = client.get(f"/auth/password/reset/{token}")
        assert response.status_code == 400
    else:
        # Bob's payload under alice's signature: the signature no longer matches.
        auth.register(username="bob", email="bob@example.com")
        bob = mailbox.link("bob@example.com").rsplit("/", 1)[1]
        forged = bob.split(".")[0] + "." + ".".join(token.split(".")[1:])
    if forged is not None:
        response = client.get(f"/auth/verify/{forged}")
        assert response.status_code == 400
        assert "This link is not valid." in response.get_data(as_text=True)
    assert auth.login().status_code == 403  # still unconfirmed
    assert auth.login(username="bob").status_code in (200, 403)


def test_resend_answers_the_same_for_any_address(auth, client, mailbox):
    auth.register()
    answers = []
    for address in ("alice@example.com", "nobody@example.com"):
        response = auth.post("/auth/verify", {"email": address})
        answers.append(same_page(inbox_page(client, response), address))
    assert answers[0] == answers[1]
    assert "/auth/verify/" in mailbox.text(mailbox.last("alice@example.com"))
    assert "no account uses it" in mailbox.text(mailbox.last("nobody@example.com"))
    # The newest link works.
    assert auth.confirm().status_code == 302
    assert auth.login().status_code == 302


def test_a_mail_that_cannot_be_sent_is_reported_and_can_be_resent(make_auth_app, mailbox):
    broken = make_auth_app(MAIL_PORT=1)  # nothing listens there: connection refused
    auth = AuthActions(broken.test_client(), mailbox)
    text = inbox_page(auth.client, auth.register())
    assert "The mail could not be sent" in text
    assert "Your registration is saved." in text
    assert "Send the mail again" in text
    assert mailbox.messages == []

    working = make_auth_app()
    auth = AuthActions(working.test_client(), mailbox)
    response = auth.post("/auth/verify", {"email": "alice@example.com"})
    assert "Check your inbox" in inbox_page(auth.client, response)
    assert auth.confirm().status_code == 302
    assert auth.login().status_code == 302


def test_without_a_mail_server_development_prints_the_mail(make_auth_app, mailbox, capsys):
    app = make_auth_app(MAIL_SERVER=None)
    auth = AuthActions(app.test_client(), mailbox)
    text = inbox_page(auth.client, auth.register())
    assert mailbox.messages == []
    assert "Check your inbox" in text
    printed = capsys.readouterr().err
    assert "MAIL_SERVER is unset, so this mail is printed here" in printed
    # The printed link works: the developer confirms the account with it.
    link = re.search(r"http://localhost(/auth/verify/\S+)", printed).group(1)
    opened = auth.client.get(link).get_data(as_text=True)
    token = CSRF_INPUT.search(opened).group(1)
    confirmed = auth.client.post(link, data={"password": PASSWORD, "csrf_token": token})
    assert confirmed.status_code == 302
    assert auth.login().status_code == 302


def test_security_events_are_logged_without_secrets(make_auth_app, mailbox, capsys):
    app = make_auth_app(LOG_FORMAT="json")
    client = app.test_client()
    auth = AuthActions(client, mailbox)
    secrets = {PASSWORD, "wrong password", "n3w and longer secret"}
    auth.signup()
    auth.login(password="wrong password")
    auth.login()
    secrets.add(session_cookie(client, app).value)
    secrets.add(csrf_token(client, "/auth/password"))
    auth.post(
        "/auth/password",
        {
            "current_password": PASSWORD,
            "password": "n3w and longer secret",
            "confirm": "n3w and longer secret",
        },
    )
    secrets.add(session_cookie(client, app).value)
    auth.logout()
    for _ in range(10):
        auth.login(password="wrong password")
    log = capsys.readouterr().err
    lines = [line for line in log.splitlines() if line.startswith("{")]
    events = [json.loads(line) for line in lines]
    by_event = {event.get("event"): event for event in events}
    for name in (
        "registered",
        "email_verified",
        "login_failed",
        "login",
        "password_changed",
        "logout",
        "throttled",
    ):
        assert name in by_event, name
        assert re.fullmatch(r"[0-9a-f]{32}", by_event[name]["request_id"]), name
    assert by_event["login_failed"]["username"] == "alice"
    for secret in secrets:
        assert secret not in log


def test_pages_without_the_user_cost_no_redis_call(auth, client, redis_conn):
    auth.signup()
    auth.login()
    before = redis_conn.info("commandstats")
    client.get("/healthz")
    client.get("/api/probe/plain")
    after = redis_conn.info("commandstats")
    changed = {name for name in after if after[name] != before.get(name) and name != "cmdstat_info"}
    assert changed == set()


def test_a_form_token_from_before_login_or_logout_is_refused_after_it(auth, client):
    auth.signup()
    before_login = csrf_token(client, "/auth/login")
    auth.login()
    assert client.post("/auth/logout", data={"csrf_token": before_login}).status_code == 400
    before_logout = csrf_token(client, "/")
    assert auth.logout().status_code == 302
    response = client.post("/auth/login", data={"csrf_token": before_logout, "username": "alice"})
    assert response.status_code == 400
