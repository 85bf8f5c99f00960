"""Account pages as a visitor uses them, and as an attacker tries them."""

from __future__ import annotations

import statistics
import time

import flask_migrate
import pytest

from conftest import csrf_token

PASSWORD = "correct horse battery"


@pytest.fixture
def app(make_app, database_url):
    """The app on a fresh database (SQLite, then PostgreSQL) built by the shipped migrations."""
    app = make_app(DATABASE_URL=database_url)
    with app.app_context():
        flask_migrate.upgrade()
    yield app
    with app.app_context():  # close its connections before the database is dropped
        app.extensions["sqlalchemy"].engine.dispose()


class AuthActions:
    """Fill in the account forms like a browser would, CSRF token included."""

    def __init__(self, client):
        self.client = client

    def register(self, username="alice", email="alice@example.com", password=PASSWORD, **extra):
        data = {"username": username, "email": email, "password": password, "confirm": password}
        data |= extra
        data["csrf_token"] = csrf_token(self.client, "/auth/register")
        return self.client.post("/auth/register", data=data)

    def login(self, username="alice", password=PASSWORD, next=None, **environ):
        url = "/auth/login" + (f"?next={next}" if next else "")
        token = csrf_token(self.client, "/auth/login")
        data = {"username": username, "password": password, "csrf_token": token}
        return self.client.post(url, data=data, **({"environ_base": environ} if environ else {}))

    def logout(self):
        return self.client.post("/auth/logout", data={"csrf_token": csrf_token(self.client, "/")})


@pytest.fixture
def auth(client):
    return AuthActions(client)


def page(client, url="/"):
    return client.get(url).get_data(as_text=True)


def session_cookie(client, app):
    return client.get_cookie(app.config["SESSION_COOKIE_NAME"])


def test_register_logout_login_story(client, auth):
    response = auth.register()
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/account"
    account = page(client, "/auth/account")
    assert "Welcome, alice! Your account is ready." in account
    assert "alice@example.com" in account
    assert "flash-success" in account

    auth.logout()
    home = page(client)
    assert "You have been logged out." in home
    assert "Log in" in home

    response = auth.login(password="wrong password")
    assert "Invalid username or password." in response.get_data(as_text=True)

    response = auth.login()
    assert response.status_code == 302
    assert "Welcome back, alice!" in page(client)
    assert "Your account" in page(client, "/auth/account")


def test_usernames_are_unique_whatever_the_case(auth, client):
    auth.register()
    auth.logout()
    response = auth.register(username="ALICE", email="other@example.com")
    assert response.status_code == 400
    assert "That username is taken." in response.get_data(as_text=True)


def test_emails_are_normalised_and_unique(auth, app):
    auth.register(email="Alice@EXAMPLE.com")
    auth.logout()
    response = auth.register(username="alice2", email="alice@example.com")
    assert "An account with this email exists." in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"password": "short12", "confirm": "short12"}, "between 8 and 128 characters"),
        ({"password": "x" * 129, "confirm": "x" * 129}, "between 8 and 128 characters"),
        ({"confirm": "something else"}, "The passwords do not match."),
        ({"email": "not-an-address"}, "An email address must have an @-sign."),
        ({"username": "al"}, "between 3 and 32 characters"),
        ({"username": "alice smith"}, "Use letters, digits"),
    ],
)
def test_register_shows_what_is_wrong_next_to_the_field(auth, fields, message):
    response = auth.register(**fields)
    assert response.status_code == 400
    page_text = response.get_data(as_text=True)
    assert message in page_text
    assert 'class="field-error"' in page_text


@pytest.mark.parametrize("path", ["/auth/login", "/auth/register", "/auth/logout"])
def test_posts_without_a_csrf_token_are_refused(client, path):
    response = client.post(path, data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert "CSRF token is missing" in response.get_data(as_text=True)


def test_logout_needs_a_post(client):
    assert client.get("/auth/logout").status_code == 405


def test_protected_page_sends_visitors_to_login_and_back(auth, client):
    auth.register()
    auth.logout()
    response = client.get("/auth/account")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login?next=/auth/account"
    assert "Please log in to see that page." in page(client, "/auth/login")
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
    auth.register()
    auth.logout()
    response = auth.login(next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_session_id_is_rotated_at_login(auth, client, app, make_app):
    auth.register()
    auth.logout()
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
    auth.register()
    stolen = session_cookie(client, app).value
    auth.logout()
    assert redis_conn.get(app.config["SESSION_KEY_PREFIX"] + stolen) is None
    replay = app.test_client()
    replay.set_cookie(app.config["SESSION_COOKIE_NAME"], stolen)
    assert replay.get("/auth/account").status_code == 302


def test_login_is_throttled_per_client_address(auth, client):
    for _ in range(10):
        assert auth.login(password="wrong password").status_code == 200
    response = auth.login(password="wrong password")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "429 · Too Many Requests" in response.get_data(as_text=True)


def test_login_is_throttled_per_username_across_addresses(auth):
    for attempt in range(10):
        auth.login(password="wrong password", REMOTE_ADDR=f"198.51.100.{attempt}")
    response = auth.login(password="wrong password", REMOTE_ADDR="198.51.100.99")
    assert response.status_code == 429


def test_unknown_user_and_wrong_password_look_the_same(auth, client):
    auth.register()
    auth.logout()

    def timed(username: str, address: str) -> tuple[float, str]:
        started = time.perf_counter()
        response = auth.login(username=username, password="wrong password", REMOTE_ADDR=address)
        return time.perf_counter() - started, response.get_data(as_text=True)

    unknown = [timed(f"nobody{i}", f"192.0.2.{i}") for i in range(5)]
    wrong = [timed("alice", f"192.0.2.{i + 100}") for i in range(5)]
    assert {text.count("Invalid username or password.") for _, text in unknown + wrong} == {1}
    # Both paths hash once; without the dummy check an unknown user answers ~50x faster.
    ratio = statistics.median(t for t, _ in unknown) / statistics.median(t for t, _ in wrong)
    assert 0.33 < ratio < 3


def test_users_create_command(app, runner, auth):
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


def test_pages_without_the_user_cost_no_redis_call(auth, client, redis_conn):
    auth.register()
    before = redis_conn.info("commandstats")
    client.get("/healthz")
    client.get("/api/probe/plain")
    after = redis_conn.info("commandstats")
    changed = {name for name in after if after[name] != before.get(name) and name != "cmdstat_info"}
    assert changed == set()


def test_a_form_token_from_before_login_or_logout_is_refused_after_it(auth, client):
    auth.register()
    auth.logout()
    before_login = csrf_token(client, "/auth/login")
    auth.login()
    assert client.post("/auth/logout", data={"csrf_token": before_login}).status_code == 400
    before_logout = csrf_token(client, "/")
    assert auth.logout().status_code == 302
    response = client.post("/auth/login", data={"csrf_token": before_logout, "username": "alice"})
    assert response.status_code == 400
