"""The account after login: password reset and change, the sessions page, deletion, commands."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import click
import msgspec
import pytest
from flask import request
from sqlalchemy import select

from conftest import PASSWORD, AuthActions, csrf_token
from {{ cookiecutter.package_name }}.auth import signed_in_sessions
from {{ cookiecutter.package_name }}.auth.current_user import the_user
from {{ cookiecutter.package_name }}.auth.models import User, utcnow
from {{ cookiecutter.package_name }}.core.database import db
from {{ cookiecutter.package_name }}.core.sessions import current_session_id

NEW_PASSWORD = "a brand new passphrase"
PRODUCTION_SECRET = "Kq3v8ZtW1mXy7RbN0pLs4HdJ6fGc2TaE9uYo5wVi"


@pytest.fixture
def app(make_auth_app):
    """The app on a fresh migrated database, mailing the test SMTP server."""
    return make_auth_app()


def page(client, url="/"):
    return client.get(url).get_data(as_text=True)


def logged_in(client) -> bool:
    return client.get("/auth/account").status_code == 200


def second_browser(app, mailbox, **environ) -> AuthActions:
    """alice logged in from another browser."""
    other = AuthActions(app.test_client(), mailbox)
    assert other.login(**environ).status_code == 302
    return other


def reset_link(auth, mailbox, address="alice@example.com") -> str:
    auth.post("/auth/password/forgot", {"email": address})
    return mailbox.link(address)


def test_forgot_password_answers_the_same_for_any_address(auth, mailbox):
    auth.signup()
    answers = {}
    for address in ("alice@example.com", "nobody@example.com"):
        response = auth.post("/auth/password/forgot", {"email": address})
        assert response.status_code == 303
        text = page(auth.client, response.headers["Location"]).replace(address, "ADDRESS")
        answers[address] = re.sub(r'name="csrf_token"[^>]*?value="[^"]+"', "", text)
    assert answers["alice@example.com"] == answers["nobody@example.com"]
    assert "/auth/password/reset/" in mailbox.text(mailbox.last("alice@example.com"))
    nobody = mailbox.text(mailbox.last("nobody@example.com"))
    assert "no account uses it" in nobody
    assert "/auth/password/reset/" not in nobody


def test_reset_story_signs_out_every_session(alice, app, client, mailbox):
    other = second_browser(app, mailbox)
    visitor = AuthActions(app.test_client(), mailbox)
    link = reset_link(visitor, mailbox)
    assert link.startswith("/auth/password/reset/")
    assert "For <strong>alice</strong>" in page(visitor.client, link)
    response = visitor.post(link, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.headers["Location"] == "/auth/login"
    assert "every session signed out" in page(visitor.client, "/auth/login")

    assert not logged_in(client)
    assert not logged_in(other.client)
    assert visitor.login().status_code == 200  # the old password no longer works
    assert visitor.login(password=NEW_PASSWORD).status_code == 302

    # The link worked once.
    again = visitor.client.get(link)
    assert again.status_code == 410
    assert "Link already used" in again.get_data(as_text=True)


def test_a_reset_link_dies_when_the_password_changes(alice, mailbox):
    link = reset_link(AuthActions(alice.client.application.test_client(), mailbox), mailbox)
    alice.post(
        "/auth/password",
        {"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    response = alice.client.get(link)
    assert response.status_code == 410
    assert "Nothing was changed." in response.get_data(as_text=True)


def test_an_expired_reset_link_changes_nothing(make_auth_app, mailbox):
    app = make_auth_app(RESET_LINK_MAX_AGE=timedelta(seconds=-1))
    auth = AuthActions(app.test_client(), mailbox)
    auth.signup()
    link = reset_link(auth, mailbox)
    response = auth.client.get(link)
    assert response.status_code == 410
    assert "This link has expired." in response.get_data(as_text=True)
    response = auth.post(link, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, "/auth/login")
    assert response.status_code == 410
    assert auth.login().status_code == 302


@pytest.mark.parametrize("how", ["tampered", "other user"])
def test_a_forged_reset_link_changes_nothing(auth, mailbox, how):
    auth.signup()
    auth.signup(username="bob", email="bob@example.com")
    token = reset_link(auth, mailbox).rsplit("/", 1)[1]
    if how == "tampered":
        forged = token[:5] + ("x" if token[5] != "x" else "y") + token[6:]
    else:
        bob = reset_link(auth, mailbox, "bob@example.com").rsplit("/", 1)[1]
        forged = bob.split(".")[0] + "." + ".".join(token.split(".")[1:])
    url = f"/auth/password/reset/{forged}"
    assert auth.client.get(url).status_code == 400
    response = auth.post(url, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, "/auth/login")
    assert response.status_code == 400
    assert "This link is not valid." in response.get_data(as_text=True)
    assert auth.login().status_code == 302
    assert auth.login(username="bob").status_code == 302


def test_reset_refuses_a_weak_new_password(auth, mailbox):
    auth.signup()
    link = reset_link(auth, mailbox)
    response = auth.post(link, {"password": "qwertyuiop", "confirm": "qwertyuiop"})
    assert response.status_code == 400
    assert "one of the most common ones" in response.get_data(as_text=True)
    assert auth.login().status_code == 302


def test_changing_the_password(alice, app, client, mailbox):
    other = second_browser(app, mailbox)
    before = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value

    wrong = alice.post(
        "/auth/password",
        {"current_password": "not it at all", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert wrong.status_code == 400
    assert "That is not your current password." in wrong.get_data(as_text=True)

    response = alice.post(
        "/auth/password",
        {"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert response.headers["Location"] == "/auth/account"
    assert "your other sessions are signed out" in page(client, "/auth/account")
    after = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    assert after != before
    assert logged_in(client)
    assert not logged_in(other.client)
    stolen = app.test_client()
    stolen.set_cookie(app.config["SESSION_COOKIE_NAME"], before)
    assert not logged_in(stolen)
    notice = mailbox.last("alice@example.com")
    assert notice["Subject"].startswith("Your password was changed")
    assert alice.login(password=NEW_PASSWORD).status_code == 302


def test_sessions_page_lists_and_signs_out_sessions(alice, app, client, mailbox):
    phone = second_browser(
        app, mailbox, REMOTE_ADDR="192.0.2.10", HTTP_USER_AGENT="PhoneBrowser/1.0"
    )
    tablet = second_browser(
        app, mailbox, REMOTE_ADDR="192.0.2.20", HTTP_USER_AGENT="TabletBrowser/2.0"
    )
    listing = page(client, "/auth/sessions")
    assert listing.count("Sign out</button>") == 3
    assert "192.0.2.10" in listing and "PhoneBrowser/1.0" in listing
    assert "This session" in listing
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", listing)

    # Sign out the phone by its row's button.
    handle = re.search(
        r'<td>192\.0\.2\.10</td>.*?action="(/auth/sessions/[0-9a-f]+/sign-out)"', listing, re.S
    ).group(1)
    response = alice.post(handle, {}, "/auth/sessions")
    assert response.headers["Location"] == "/auth/sessions"
    assert not logged_in(phone.client)
    assert logged_in(tablet.client)
    assert "PhoneBrowser" not in page(client, "/auth/sessions")
    assert alice.post(handle, {}, "/auth/sessions").status_code == 404

    response = alice.post("/auth/sessions/sign-out-others", {}, "/auth/sessions")
    assert "Signed out 1 other session." in page(client, "/auth/sessions")
    assert not logged_in(tablet.client)
    assert logged_in(client)


def test_two_devices_signing_each_other_out_at_once_leave_one_signed_in(
    alice, client, make_auth_app, mailbox
):
    tablet_instance = make_auth_app()

    @tablet_instance.before_request
    def signed_out_by_the_laptop_meanwhile():
        # The laptop's "sign out other sessions", a moment earlier, ended the tablet's.
        if request.path == "/auth/sessions/sign-out-others":
            signed_in_sessions.end_sessions(the_user().id, [current_session_id()])

    tablet = second_browser(tablet_instance, mailbox)
    response = tablet.post("/auth/sessions/sign-out-others", {}, "/auth/sessions")
    assert response.headers["Location"] == "/auth/login"
    assert "This session was signed out from another device." in page(tablet.client, "/auth/login")
    assert not logged_in(tablet.client)
    assert logged_in(client)


def test_signing_out_other_sessions_waits_while_another_request_does(
    alice, app, client, mailbox, redis_conn
):
    tablet = second_browser(app, mailbox)
    with app.app_context():
        lock_name = signed_in_sessions.index_key(1) + signed_in_sessions.LOCK
    held = redis_conn.lock(lock_name, timeout=30)
    assert held.acquire(blocking=False)
    answered = threading.Event()

    def sign_out_others():
        tablet.post("/auth/sessions/sign-out-others", {}, "/auth/sessions")
        answered.set()

    worker = threading.Thread(target=sign_out_others)
    worker.start()
    assert not answered.wait(1.5)
    assert logged_in(client)
    held.release()
    worker.join(10)
    assert answered.is_set()
    assert not logged_in(client)
    assert logged_in(tablet.client)


def test_sessions_page_spans_app_instances_and_drops_expired_sessions(
    alice, make_auth_app, mailbox, redis_conn, app
):
    other_instance = make_auth_app()
    laptop = second_browser(other_instance, mailbox, HTTP_USER_AGENT="Laptop/3")
    listing = page(alice.client, "/auth/sessions")
    assert "Laptop/3" in listing
    # The laptop's session expires in Redis: it leaves the list and the index.
    sid = laptop.client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    redis_conn.delete(app.config["SESSION_KEY_PREFIX"] + sid)
    assert "Laptop/3" not in page(alice.client, "/auth/sessions")
    index = redis_conn.hkeys(app.config["SESSION_KEY_PREFIX"] + "user:1")
    assert not [field for field in index if field.decode().startswith(sid)]


def test_a_logged_in_session_stays_small_and_last_seen_is_written_rarely(
    alice, app, client, redis_conn
):
    sid = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    stored = redis_conn.get(app.config["SESSION_KEY_PREFIX"] + sid)
    assert len(stored) < 300
    client.get("/auth/account")  # shows (and so removes) the welcome message
    before = redis_conn.info("commandstats")
    for _ in range(3):
        client.get("/auth/account")
    after = redis_conn.info("commandstats")
    assert after.get("cmdstat_hset") == before.get("cmdstat_hset")
    assert after.get("cmdstat_set") == before.get("cmdstat_set")


def test_deleting_the_account(alice, app, client, mailbox):
    other = second_browser(app, mailbox)
    wrong = alice.post("/auth/delete", {"password": "not my password"})
    assert wrong.status_code == 400
    assert "That is not your password." in wrong.get_data(as_text=True)
    assert logged_in(client)

    response = alice.post("/auth/delete", {"password": PASSWORD})
    assert response.headers["Location"] == "/"
    assert "Your account and everything in it are deleted." in page(client)
    assert not logged_in(client)
    assert not logged_in(other.client)
    assert mailbox.last("alice@example.com")["Subject"].startswith("Your account was deleted")
    assert alice.login().status_code == 200
    # The address is free again.
    assert alice.register().headers["Location"] == "/auth/check-email"
    assert "Check your inbox" in page(client, "/auth/check-email")


def test_an_account_deleted_from_two_browsers_at_once_is_mailed_once(
    database_url, make_auth_app, mailbox, monkeypatch
):
    """Both requests pass the password check before either deletes: one mail, no error."""
    app = make_auth_app(
        SQLALCHEMY_DATABASE_URI=None, DATABASE_URL=database_url, PASSWORD_HASH_CONCURRENCY=2
    )
    alice = AuthActions(app.test_client(), mailbox)
    alice.signup()
    alice.login()
    phone = second_browser(app, mailbox)
    tokens = [csrf_token(browser.client, "/auth/delete") for browser in (alice, phone)]
    # Each request, past the password check, waits here for the other.
    both_checked = threading.Barrier(2, timeout=10)
    end_all_sessions = signed_in_sessions.end_all_sessions

    def end_all_sessions_together(user_id, keep=None):
        both_checked.wait()
        return end_all_sessions(user_id, keep)

    monkeypatch.setattr(signed_in_sessions, "end_all_sessions", end_all_sessions_together)
    answers = []

    def delete(browser, token):
        data = {"password": PASSWORD, "csrf_token": token}
        answers.append(browser.client.post("/auth/delete", data=data))

    browsers = zip((alice, phone), tokens, strict=True)
    threads = [threading.Thread(target=delete, args=pair) for pair in browsers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answer.status_code for answer in answers) == [302, 302]
    deleted = [
        message
        for message in mailbox.messages
        if message["Subject"].startswith("Your account was deleted")
    ]
    assert len(deleted) == 1
    assert user_id(app, "alice") is None
    with app.app_context():
        db.engine.dispose()


def user_id(app, username: str) -> int | None:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.username == username))


def lose_session_lists(app, redis_conn) -> None:
    """Delete every user's list of sessions, as Redis evicting keys can."""
    lists = list(redis_conn.scan_iter(match=f"{app.config['SESSION_KEY_PREFIX']}user:*"))
    assert lists
    redis_conn.delete(*lists)


def test_a_deleted_accounts_other_browser_never_becomes_the_next_account(
    database_url, make_auth_app, mailbox, redis_conn
):
    app = make_auth_app(SQLALCHEMY_DATABASE_URI=None, DATABASE_URL=database_url)
    alice = AuthActions(app.test_client(), mailbox)
    alice.signup()
    alice.login()
    phone = second_browser(app, mailbox)
    alice_id = user_id(app, "alice")
    lose_session_lists(app, redis_conn)
    alice.post("/auth/delete", {"password": PASSWORD})

    bob = AuthActions(app.test_client(), mailbox)
    bob.signup(username="bob", email="bob@example.com")
    assert bob.login(username="bob").status_code == 302
    assert user_id(app, "bob") > alice_id
    assert not logged_in(phone.client)
    assert "bob" not in page(phone.client)


def test_a_session_ends_when_its_accounts_id_names_another_account(alice, app, mailbox, redis_conn):
    phone = second_browser(app, mailbox)
    alice_id = user_id(app, "alice")
    lose_session_lists(app, redis_conn)
    alice.post("/auth/delete", {"password": PASSWORD})
    # What a database that gives ids again would do (SQLite did, before AUTOINCREMENT).
    with app.app_context():
        bob = User(id=alice_id, username="bob", email="bob@example.com", verified_at=utcnow())
        bob.set_password(PASSWORD)
        db.session.add(bob)
        db.session.commit()
    assert not logged_in(phone.client)
    assert "bob" not in page(phone.client)


def test_a_session_without_its_accounts_key_is_ended(alice, app, client, redis_conn):
    # As every session from before the upgrade that gave accounts their key (0003).
    sid = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    key = app.config["SESSION_KEY_PREFIX"] + sid
    stored = msgspec.msgpack.decode(redis_conn.get(key))
    del stored["user_key"]
    redis_conn.set(key, msgspec.msgpack.encode(stored), keepttl=True)
    assert not logged_in(client)


@pytest.mark.parametrize("path", ["/auth/password", "/auth/sessions", "/auth/delete"])
def test_account_pages_need_a_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")


def test_password_forms_are_throttled_per_address(alice):
    for _ in range(10):
        alice.post("/auth/delete", {"password": "wrong"})
    assert alice.post("/auth/delete", {"password": "wrong"}).status_code == 429


def test_forgot_password_is_throttled_per_target_address(make_auth_app, mailbox):
    app = make_auth_app(EMAIL_RATE_LIMIT="3 per hour")
    for n in range(3):
        visitor = AuthActions(app.test_client(), mailbox)
        data = {"email": "victim@example.com"}
        address = {"REMOTE_ADDR": f"192.0.2.{n}"}
        response = visitor.post("/auth/password/forgot", data, environ_base=address)
        assert response.status_code == 303
    visitor = AuthActions(app.test_client(), mailbox)
    address = {"REMOTE_ADDR": "192.0.2.99"}
    response = visitor.post("/auth/password/forgot", data, environ_base=address)
    assert response.status_code == 429
    assert len(mailbox.to("victim@example.com")) == 3


def test_users_create_makes_a_verified_account(app, runner, auth):
    args = ["users", "create", "bob", "Bob@Example.com", "--password", PASSWORD]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "Created user bob." in result.output
    assert auth.login(username="bob").headers["Location"] == "/"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bob", "not-an-email", "--password", PASSWORD], "email:"),
        (["bob", "bob@example.com", "--password", "short"], "password:"),
        (["bob", "bob@example.com", "--password", "password123"], "most common"),
    ],
)
def test_users_create_refuses_bad_input(runner, args, message):
    result = runner.invoke(args=["users", "create", *args])
    assert result.exit_code != 0
    assert message in result.output


def test_users_create_refuses_a_duplicate(runner):
    args = ["users", "create", "bob", "bob@example.com", "--password", PASSWORD]
    assert runner.invoke(args=args).exit_code == 0
    result = runner.invoke(args=args)
    assert result.exit_code != 0
    assert "exists" in result.output


def test_users_verify_lets_an_unconfirmed_account_log_in(auth, runner):
    auth.register()
    assert auth.login().status_code == 403
    result = runner.invoke(args=["users", "verify", "Alice@example.com"])
    assert "Confirmed alice@example.com" in result.output
    assert auth.login().status_code == 302
    missing = runner.invoke(args=["users", "verify", "nobody@example.com"])
    assert missing.exit_code != 0
    assert "No account uses nobody@example.com." in missing.output


def test_users_reset_link_prints_a_working_link(auth, runner):
    auth.signup()
    result = runner.invoke(args=["users", "reset-link", "alice@example.com"])
    link = result.output.strip()
    assert link.startswith("http://localhost/auth/password/reset/")
    path = link.removeprefix("http://localhost")
    auth.post(path, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert auth.login(password=NEW_PASSWORD).status_code == 302


def test_mail_settings_from_the_environment(make_app, monkeypatch):
    monkeypatch.setenv("MAIL_SERVER", "smtp.example.com")
    monkeypatch.setenv("MAIL_PORT", "2525")
    monkeypatch.setenv("MAIL_USE_TLS", "false")
    monkeypatch.setenv("FLASK_MAIL_USE_SSL", "true")
    monkeypatch.setenv("MAIL_DEFAULT_SENDER", "Team <team@example.com>")
    config = make_app().config
    assert config["MAIL_SERVER"] == "smtp.example.com"
    assert config["MAIL_PORT"] == 2525
    assert config["MAIL_USE_TLS"] is False
    assert config["MAIL_USE_SSL"] is True
    assert config["MAIL_DEFAULT_SENDER"] == "Team <team@example.com>"


def test_a_bad_mail_setting_stops_the_start(make_app, monkeypatch):
    monkeypatch.setenv("MAIL_USE_TLS", "maybe")
    with pytest.raises(click.ClickException, match="MAIL_USE_TLS='maybe' is not a yes/no value"):
        make_app()


def test_links_use_the_first_trusted_host(make_app, monkeypatch):
    monkeypatch.delenv("APP_BASE_URL")
    config = make_app(
        "production",
        SECRET_KEY=PRODUCTION_SECRET,
        MAIL_SERVER="smtp.example.com",
        TRUSTED_HOSTS=[".example.com", "www.example.com"],
    ).config
    assert config["APP_BASE_URL"] == "https://www.example.com"
    assert config["MAIL_DEFAULT_SENDER"] == f"{config['APP_NAME']} <no-reply@www.example.com>"


def test_production_refuses_to_start_without_a_mail_server(make_app, monkeypatch):
    monkeypatch.delenv("MAIL_SERVER")
    with pytest.raises(click.ClickException, match="MAIL_SERVER is not set"):
        make_app("production", SECRET_KEY=PRODUCTION_SECRET)


def test_production_refuses_links_without_a_host_to_name(make_app, monkeypatch):
    monkeypatch.delenv("APP_BASE_URL")
    with pytest.raises(click.ClickException, match="TRUSTED_HOSTS names no exact host"):
        make_app("production", SECRET_KEY=PRODUCTION_SECRET, TRUSTED_HOSTS=[".example.com"])


def test_csrf_token_is_required_on_every_account_form(alice, client):
    for path in ("/auth/password", "/auth/delete", "/auth/sessions/sign-out-others"):
        response = client.post(path, data={"password": PASSWORD})
        assert response.status_code == 400, path
    assert logged_in(client)
    assert csrf_token(client, "/auth/delete")
