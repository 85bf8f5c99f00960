"""Two-factor sign-in: turned on with a code from the app, then every sign-in is the
password and a code (or a single-use recovery code), each code accepted once."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import msgspec
import pyotp
import pytest
from sqlalchemy import select, text

from conftest import PASSWORD, AuthActions, csrf_token, signed_in_long_ago
from {{ cookiecutter.package_name }}.auth import second_factor
from {{ cookiecutter.package_name }}.auth.models import TwoFactor
from {{ cookiecutter.package_name }}.auth.secret_box import SecretUnreadable, unseal
from {{ cookiecutter.package_name }}.auth.two_factor_login import PENDING
from {{ cookiecutter.package_name }}.core.database import db

KEY = re.compile(r'class="two-factor-key">([A-Z2-7]+)<')
RECOVERY_CODES = re.compile(r"<li><code>([a-z2-7-]+)</code></li>")
STEP = 30


@pytest.fixture
def app(database_app):
    """The app on a fresh migrated database (SQLite, then PostgreSQL)."""
    return database_app


def fresh_step() -> None:
    """Wait for the next time step if this one ends within two seconds, so a code made now
    is still of the step the server sees when it checks it."""
    left = STEP - time.time() % STEP
    if left < 2:
        time.sleep(left + 0.1)


def code(secret: str, steps: int = 0) -> str:
    """The app's code ``steps`` time steps from now."""
    return pyotp.TOTP(secret).at(time.time() + steps * STEP)


def turn_on(auth: AuthActions) -> tuple[str, list[str]]:
    """Turn two-factor sign-in on for the logged-in user: its secret and recovery codes."""
    (secret,) = KEY.findall(auth.client.get("/auth/two-factor").get_data(as_text=True))
    fresh_step()
    page = auth.post("/auth/two-factor", {"code": code(secret)})
    assert page.status_code == 200, page.get_data(as_text=True)
    codes = RECOVERY_CODES.findall(page.get_data(as_text=True))
    assert len(codes) == 10
    return secret, codes


def enter_code(auth: AuthActions, typed: str):
    """Send the second step of signing in."""
    return auth.post("/auth/login/code", {"code": typed})


def two_factor_rows(app) -> list[TwoFactor]:
    """Every account's two-factor row."""
    with app.app_context():
        return list(db.session.scalars(select(TwoFactor)))


def logged_in(client) -> bool:
    return client.get("/auth/account").status_code == 200


@pytest.fixture
def with_2fa(alice: AuthActions) -> tuple[AuthActions, str, list[str]]:
    """alice turned two-factor sign-in on, then logged out."""
    secret, codes = turn_on(alice)
    alice.logout()
    return alice, secret, codes


def test_the_account_page_leads_to_it(alice, client):
    assert 'href="/auth/two-factor"' in client.get("/auth/account").get_data(as_text=True)


def test_turning_on_shows_a_qr_code_drawn_on_the_page_and_needs_a_valid_code(
    alice, app, client, mailbox
):
    page = client.get("/auth/two-factor").get_data(as_text=True)
    assert '<svg width="' in page and "<path" in page  # inline SVG: nothing to fetch
    assert "<script" not in page and "<img" not in page
    (secret,) = KEY.findall(page)
    assert client.get("/auth/two-factor").get_data(as_text=True).count(secret) == 1  # kept

    wrong = alice.post("/auth/two-factor", {"code": "000000"})
    assert wrong.status_code == 400
    assert "That code is not valid" in wrong.get_data(as_text=True)
    assert alice.post("/auth/two-factor", {"code": "not a code"}).status_code == 400
    assert two_factor_rows(app) == []
    assert mailbox.to("alice@example.com")[-1]["Subject"].startswith("Confirm")

    fresh_step()
    shown = alice.post("/auth/two-factor", {"code": code(secret)})
    assert shown.status_code == 200
    assert shown.headers["Cache-Control"] == "no-store"
    assert len(set(RECOVERY_CODES.findall(shown.get_data(as_text=True)))) == 10
    assert mailbox.last("alice@example.com")["Subject"].startswith("Two-factor sign-in is on")
    assert "Two-factor sign-in is on" in client.get("/auth/two-factor").get_data(as_text=True)


def test_sign_in_is_the_password_then_a_code(with_2fa, app, client):
    auth, secret, _ = with_2fa
    client.post("/api/probe/counter", json={})  # an anonymous session to rotate away from
    before = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    asked = auth.login(next="/auth/sessions")
    assert asked.status_code == 303
    assert asked.headers["Location"] == "/auth/login/code"
    assert not logged_in(client)  # the password alone signs nobody in

    fresh_step()
    # The step whose code turned it on is spent: the next step's (one step of drift) is not.
    signed_in = enter_code(auth, code(secret, steps=1))
    assert signed_in.status_code == 302
    assert signed_in.headers["Location"] == "/auth/sessions"
    assert logged_in(client)
    assert client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value != before


def test_remember_me_carries_through_the_code_step(with_2fa, app, client):
    auth, secret, _ = with_2fa
    auth.login(remember=True)
    fresh_step()
    signed_in = enter_code(auth, code(secret, steps=1))
    name = app.config["SESSION_COOKIE_NAME"]
    (cookie,) = [c for c in signed_in.headers.getlist("Set-Cookie") if c.startswith(f"{name}=")]
    assert "Expires=" in cookie


def test_a_code_is_accepted_once(with_2fa, client):
    auth, secret, _ = with_2fa
    fresh_step()
    auth.login()
    used = code(secret, steps=1)
    assert enter_code(auth, used).status_code == 302
    auth.logout()
    auth.login()
    replayed = enter_code(auth, used)
    assert replayed.status_code == 400
    assert "was used already" in replayed.get_data(as_text=True)
    # Nor does a code of an earlier step pass once a later one was used.
    assert enter_code(auth, code(secret)).status_code == 400
    assert not logged_in(client)


@pytest.mark.parametrize(("steps", "accepted"), [(-2, False), (-1, True), (1, True), (2, False)])
def test_one_step_of_clock_drift_is_tolerated(app, steps, accepted):
    secret = second_factor.new_secret()
    fresh_step()
    with app.app_context():
        step = second_factor.matching_step(secret, code(secret, steps))
    assert (step is not None) is accepted
    if accepted:
        assert step == int(time.time() // STEP) + steps


def test_a_recovery_code_signs_in_once(with_2fa, client, mailbox):
    auth, _, codes = with_2fa
    auth.login()
    assert enter_code(auth, codes[0]).status_code == 302
    assert "You used a recovery code; 9 left." in client.get("/").get_data(as_text=True)
    assert logged_in(client)
    notice = mailbox.last("alice@example.com")
    assert notice["Subject"].startswith("A recovery code was used")
    assert "If this was not you" in mailbox.text(notice)

    auth.logout()
    auth.login()
    used = enter_code(auth, codes[0])
    assert used.status_code == 400
    assert not logged_in(client)
    # Typed as people do: capitals, spaces for dashes.
    assert enter_code(auth, codes[1].upper().replace("-", " ")).status_code == 302


def test_the_half_signed_in_state_dies_after_five_minutes(with_2fa, app, client, redis_conn):
    auth, secret, _ = with_2fa
    auth.login()
    sid = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    key = app.config["SESSION_KEY_PREFIX"] + sid
    stored = msgspec.msgpack.decode(redis_conn.get(key))
    assert app.config["TWO_FACTOR_LOGIN_LIFETIME"] == timedelta(minutes=5)
    stored[PENDING]["at"] -= 5 * 60
    redis_conn.set(key, msgspec.msgpack.encode(stored), keepttl=True)

    fresh_step()
    late = auth.post("/auth/login/code", {"code": code(secret, steps=1)}, "/auth/login")
    assert late.status_code == 302
    assert late.headers["Location"] == "/auth/login"
    assert "took too long" in client.get("/auth/login").get_data(as_text=True)
    assert not logged_in(client)
    assert client.get("/auth/login/code").headers["Location"] == "/auth/login"


def test_wrong_codes_are_throttled_per_account(make_auth_app, mailbox):
    app = make_auth_app(TWO_FACTOR_FAILURE_LIMIT="3 per minute")
    auth = AuthActions(app.test_client(), mailbox)
    auth.signup()
    auth.login()
    secret, _ = turn_on(auth)
    auth.logout()
    auth.login()
    for _ in range(3):
        assert enter_code(auth, "000000").status_code == 400
    fresh_step()
    refused = enter_code(auth, code(secret, steps=1))  # right, but the budget is spent
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers
    # From another address too: the budget is the account's.
    other = AuthActions(app.test_client(), mailbox)
    other.login(REMOTE_ADDR="192.0.2.9")
    data = {
        "code": code(secret, steps=1),
        "csrf_token": csrf_token(other.client, "/auth/login/code"),
    }
    answer = other.client.post(
        "/auth/login/code", data=data, environ_base={"REMOTE_ADDR": "192.0.2.9"}
    )
    assert answer.status_code == 429


def test_code_attempts_are_throttled_per_client_address(make_auth_app, mailbox):
    app = make_auth_app(LOGIN_RATE_LIMIT="4 per minute")
    auth = AuthActions(app.test_client(), mailbox)
    auth.signup()
    auth.login()
    turn_on(auth)
    auth.logout()
    auth.login()
    for _ in range(4):
        assert enter_code(auth, "abcd-efgh-ijkl").status_code == 400
    assert enter_code(auth, "abcd-efgh-ijkl").status_code == 429


def test_turning_off_needs_sudo_mode_with_password_and_code(
    alice, app, client, redis_conn, mailbox
):
    secret, _ = turn_on(alice)
    signed_in_long_ago(app, client, redis_conn)
    sent = alice.post("/auth/two-factor/off", {}, "/auth/account")
    assert sent.status_code == 303
    assert sent.headers["Location"].startswith("/auth/sudo?next=/auth/two-factor")
    assert len(two_factor_rows(app)) == 1

    confirm = "/auth/sudo?next=/auth/two-factor"
    assert 'name="code"' in client.get(confirm).get_data(as_text=True)
    assert alice.post(confirm, {"password": PASSWORD}).status_code == 400  # no code
    assert alice.post(confirm, {"password": PASSWORD, "code": "000000"}).status_code == 400
    fresh_step()
    confirmed = alice.post(confirm, {"password": PASSWORD, "code": code(secret, steps=1)})
    assert confirmed.status_code == 303
    assert confirmed.headers["Location"] == "/auth/two-factor"

    off = alice.post("/auth/two-factor/off", {}, "/auth/two-factor")
    assert off.headers["Location"] == "/auth/account"
    assert mailbox.last("alice@example.com")["Subject"].startswith("Two-factor sign-in is off")
    alice.logout()
    assert alice.login().headers["Location"] == "/"  # the password alone again


def test_new_recovery_codes_need_sudo_mode_and_replace_the_old(
    alice, app, client, redis_conn, mailbox
):
    _, old = turn_on(alice)
    signed_in_long_ago(app, client, redis_conn)
    sent = alice.post("/auth/two-factor/recovery-codes", {}, "/auth/account")
    assert sent.headers["Location"].startswith("/auth/sudo")
    # A recovery code stands in for the app's code on the confirm page too.
    confirm = "/auth/sudo?next=/auth/two-factor"
    assert alice.post(confirm, {"password": PASSWORD, "code": old[0]}).status_code == 303

    renewed = alice.post("/auth/two-factor/recovery-codes", {}, "/auth/two-factor")
    new = RECOVERY_CODES.findall(renewed.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    assert mailbox.last("alice@example.com")["Subject"].startswith("New recovery codes")
    alice.logout()
    alice.login()
    assert enter_code(alice, old[1]).status_code == 400
    assert enter_code(alice, new[0]).status_code == 302


def test_an_operator_resets_two_factor_from_the_cli(with_2fa, app, client, mailbox):
    auth, _, _ = with_2fa
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "reset-two-factor", "alice@example.com"])
    assert result.exit_code == 0, result.output
    assert "Two-factor sign-in is off for alice" in result.output
    assert mailbox.last("alice@example.com")["Subject"].startswith("Two-factor sign-in was reset")
    assert auth.login().headers["Location"] == "/"
    again = runner.invoke(args=["users", "reset-two-factor", "alice@example.com"])
    assert "already off" in again.output
    unknown = runner.invoke(args=["users", "reset-two-factor", "bob@example.com"])
    assert unknown.exit_code != 0


def test_the_secret_and_recovery_codes_are_not_stored_in_clear(with_2fa, app, make_auth_app):
    _, secret, codes = with_2fa
    with app.app_context():  # what a dump of the database holds
        stored = "\n".join(
            str(value)
            for table in ("two_factor", "recovery_codes")
            for row in db.session.execute(text(f"SELECT * FROM {table}"))  # noqa: S608
            for value in row
        )
    assert secret not in stored and secret.lower() not in stored
    assert not any(recovery in stored for recovery in codes)
    (sealed,) = [line for line in stored.splitlines() if line.startswith("gAAAA")]
    with app.app_context():
        assert unseal(sealed) == secret
    # MFA_ENCRYPTION_KEY, when set, is the key instead of SECRET_KEY.
    other = make_auth_app(MFA_ENCRYPTION_KEY="another key, kept apart from the database")
    with other.app_context(), pytest.raises(SecretUnreadable):
        unseal(sealed)


def test_deleting_the_account_deletes_its_two_factor_rows(alice, app):
    turn_on(alice)
    assert alice.post("/auth/delete", {"password": PASSWORD}).status_code == 302
    assert two_factor_rows(app) == []
