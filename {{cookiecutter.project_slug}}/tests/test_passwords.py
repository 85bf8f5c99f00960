"""Passwords: one text however it is typed, long enough to see, hashed a few at a time."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import unicodedata
from collections.abc import Iterator

import click
import pytest
from werkzeug.security import check_password_hash, generate_password_hash

from conftest import PASSWORD
from {{ cookiecutter.package_name }}.auth.hash_slots import take_slot
from {{ cookiecutter.package_name }}.auth.models import User
from {{ cookiecutter.package_name }}.core.database import db

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def app(make_auth_app):
    """The app on a fresh migrated database, mailing the test SMTP server."""
    return make_auth_app()


def stored_hash(app) -> str:
    with app.app_context():
        return User.by_username("alice").password_hash


@pytest.mark.parametrize(
    ("chosen", "typed"),
    [
        ("\ufb01ne ca\ufb00eine daily", "fine caffeine daily"),  # the "ﬁ" and "ﬀ" ligatures
        ("fine caffeine daily", "\ufb01ne ca\ufb00eine daily"),
        ("caf\u00e9 au lait, please", "cafe\u0301 au lait, please"),  # é composed, decomposed
        ("cafe\u0301 au lait, please", "caf\u00e9 au lait, please"),
        ("\uff48\uff55\uff4d\uff42\uff4c\uff45 pie", "humble pie"),  # fullwidth letters
    ],
    ids=["ligature-set", "ligature-typed", "composed-set", "decomposed-set", "fullwidth"],
)
def test_a_password_typed_in_another_unicode_form_logs_in(auth, chosen, typed):
    auth.signup(password=chosen)
    assert auth.login(password=typed).status_code == 302


def test_a_hash_made_before_passwords_were_normalised_logs_in_and_is_redone(app, auth):
    typed = "cafe\u0301 \ufb01gs at noon"  # not in NFKC: the old hash is of this very text
    auth.signup()
    with app.app_context():
        user = User.by_username("alice")
        user.password_hash = generate_password_hash(typed, app.config["PASSWORD_HASH_METHOD"])
        db.session.commit()
    assert auth.login(password=typed).status_code == 302
    redone = stored_hash(app)
    assert check_password_hash(redone, unicodedata.normalize("NFKC", typed))
    assert not check_password_hash(redone, typed)
    assert auth.login(password="caf\u00e9 figs at noon").status_code == 302
    assert stored_hash(app) == redone


@pytest.mark.parametrize(
    "password",
    [
        "\u200b" * 8,  # zero-width spaces
        "\u034f" * 8,  # combining grapheme joiners
        "\u200bw\u200bx\u200by\u200bz",
        "ab cd ef g",
    ],
    ids=["zero-width", "grapheme-joiner", "half-invisible", "seven-with-spaces"],
)
def test_a_password_with_fewer_than_eight_visible_characters_is_refused(auth, mailbox, password):
    response = auth.register(password=password)
    assert response.status_code == 400
    assert "spaces and invisible characters do not count" in response.get_data(as_text=True)
    assert mailbox.messages == []


def test_a_common_password_in_fullwidth_letters_is_refused(auth, mailbox):
    response = auth.register(password="\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44\uff11")
    assert response.status_code == 400
    assert "one of the most common ones" in response.get_data(as_text=True)


@contextlib.contextmanager
def every_hashing_slot_busy(app) -> Iterator[None]:
    """Hold every password-hashing slot, as hashes running in other threads would."""
    folder, size = app.config["PASSWORD_HASH_SLOT_FOLDER"], app.config["PASSWORD_HASH_CONCURRENCY"]
    held = []
    while (slot := take_slot(folder, size)) is not None:
        held.append(slot)
    try:
        yield
    finally:
        for slot in held:
            os.close(slot)


# Another worker process hashing: it holds every slot until its standard input closes.
OTHER_WORKER = """
import sys
from {{ cookiecutter.package_name }}.auth.hash_slots import take_slot
folder, size = sys.argv[1], int(sys.argv[2])
held = [take_slot(folder, size) for _ in range(size)]
print("holding" if None not in held else "refused", flush=True)
sys.stdin.read()
"""


FORMS_THAT_HASH = {
    "login": ("/auth/login", {"username": "alice", "password": PASSWORD}),
    "register": (
        "/auth/register",
        {"username": "bob", "email": "bob@example.com", "password": NEW_PASSWORD},
    ),
    "change": ("/auth/password", {"current_password": PASSWORD, "password": NEW_PASSWORD}),
    "delete": ("/auth/delete", {"password": PASSWORD}),
}


@pytest.mark.parametrize("form", FORMS_THAT_HASH)
def test_with_every_hashing_slot_busy_a_form_that_hashes_is_refused_at_once(
    app, client, alice, mailbox, form
):
    url, data = FORMS_THAT_HASH[form]
    data = data | {"confirm": data.get("password")}
    with every_hashing_slot_busy(app):
        started = time.perf_counter()
        response = alice.post(url, data)
        waited = time.perf_counter() - started
        assert client.get("/").status_code == 200  # pages that hash nothing still answer
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert waited < 1
    assert alice.post(url, data).status_code in {200, 302, 303}


def test_hashes_in_another_worker_process_take_the_slots_of_this_one(app, auth):
    auth.signup()
    env = os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)}  # the package, as found here
    folder, size = app.config["PASSWORD_HASH_SLOT_FOLDER"], app.config["PASSWORD_HASH_CONCURRENCY"]
    other = subprocess.Popen(
        [sys.executable, "-c", OTHER_WORKER, folder, str(size)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert other.stdout.readline() == "holding\n"
        refused = auth.login()
    finally:
        other.communicate("", timeout=30)
    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) >= 1
    assert auth.login().status_code == 302  # its slots are free once it has exited


def test_a_reset_is_refused_at_once_with_every_hashing_slot_busy(app, auth, mailbox):
    auth.signup()
    auth.post("/auth/password/forgot", {"email": "alice@example.com"})
    link = mailbox.link("alice@example.com")
    with every_hashing_slot_busy(app):
        response = auth.post(link, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 503
    assert "Retry-After" in response.headers
    assert auth.login().status_code == 302  # nothing changed
    auth.post(link, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert auth.login(password=NEW_PASSWORD).status_code == 302


def test_the_command_line_is_not_bounded(app, runner):
    args = ["users", "create", "bob", "bob@example.com", "--password", PASSWORD]
    with every_hashing_slot_busy(app):
        result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output


def test_hashing_leaves_one_cpu_to_the_other_pages_unless_told(make_app, monkeypatch):
    assert make_app().config["PASSWORD_HASH_CONCURRENCY"] == max(1, (os.cpu_count() or 1) - 1)
    monkeypatch.setenv("FLASK_PASSWORD_HASH_CONCURRENCY", "3")
    assert make_app().config["PASSWORD_HASH_CONCURRENCY"] == 3


def test_no_hashing_slot_at_all_stops_the_start(make_app):
    with pytest.raises(click.ClickException, match="PASSWORD_HASH_CONCURRENCY=0 must be at least"):
        make_app(PASSWORD_HASH_CONCURRENCY=0)
