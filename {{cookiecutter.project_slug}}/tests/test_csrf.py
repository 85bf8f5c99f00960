"""CSRF: every form is protected, and its secret costs anonymous visitors no server state."""

from __future__ import annotations

import io
import re

import pytest
from flask import session
from flask_wtf.file import FileField
from wtforms import StringField

from {{ cookiecutter.package_name }}.core.csrf import CsrfForm, csrf
from {{ cookiecutter.package_name }}.core.sessions import end_session, rotate_session

FORM = "/api/probe/form"  # a form page; its POST is checked by CSRFProtect (see conftest.probe)
TOKEN = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')
PRODUCTION_SECRET = "vSWNKMZfbDSCyfxtiCiFWeDQeGrNU_GRodHeTRWuYfE"
# The form pages of the features, by endpoint; a feature not baked is skipped.
FORM_PAGES = {
    "auth.login": "/auth/login",
    "auth.register": "/auth/register",
    "tour.upload": "/upload",
    "tour.preferences": "/preferences",
}


def token_from(response) -> str:
    """The CSRF token of the form in the page."""
    match = TOKEN.search(response.get_data(as_text=True))
    assert match, "no CSRF token in the page"
    return match.group(1)


def stored_keys(redis_conn, app) -> list[bytes]:
    """Every session key this test's app has in Redis."""
    return list(redis_conn.scan_iter(match=app.config["SESSION_KEY_PREFIX"] + "*"))


def set_cookie_names(response) -> set[str]:
    """The names of the cookies the response sets."""
    return {value.split("=", 1)[0] for value in response.headers.getlist("Set-Cookie")}


@pytest.fixture
def csrf_app(make_app):
    """The app plus a session rotation and a logout, as the auth feature does them."""
    app = make_app()

    @app.post("/test/login")
    @csrf.exempt
    def login():
        rotate_session()
        session["user_id"] = 1
        return "in"

    @app.post("/test/logout")
    @csrf.exempt
    def logout():
        end_session()
        return "out"

    return app


def test_a_form_post_with_its_token_is_accepted(client):
    token = token_from(client.get(FORM))
    response = client.post(FORM, data={"csrf_token": token})
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "accepted"


@pytest.mark.parametrize(
    ("referrer", "status"),
    [
        ("https://localhost/api/probe/form", 200),
        (None, 400),
        ("https://elsewhere.example/form", 400),
        ("http://localhost/api/probe/form", 400),
        ("http://[", 400),
        ("https://[::1/form", 400),
    ],
)
def test_over_https_a_post_must_come_from_a_page_of_the_site(client, referrer, status):
    """As Flask-WTF checks: a missing, foreign or malformed Referer is a 400, never a 500."""
    token = token_from(client.get(FORM, base_url="https://localhost"))
    headers = {"Referer": referrer} if referrer else {}
    response = client.post(
        FORM, data={"csrf_token": token}, headers=headers, base_url="https://localhost"
    )
    assert response.status_code == status


def test_a_form_post_without_a_token_is_refused(client):
    client.get(FORM)
    response = client.post(FORM, data={})
    assert response.status_code == 400
    assert response.json["error"] == "Bad Request"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_every_unsafe_method_needs_a_token_unless_its_view_is_exempt(make_app, method):
    app = make_app()

    @app.route("/test/guarded", methods=["GET", method])
    def guarded():
        return "done"

    @app.route("/test/exempt", methods=[method])
    @csrf.exempt
    def exempt():
        return "done"

    client = app.test_client()
    assert client.get("/test/guarded").status_code == 200
    assert client.open("/test/guarded", method=method).status_code == 400
    assert client.open("/test/exempt", method=method).status_code == 200


def test_one_visitors_token_fails_for_another_visitor(app):
    alice, mallory = app.test_client(), app.test_client()
    alices_token = token_from(alice.get(FORM))
    mallory.get(FORM)  # mallory has a CSRF cookie of her own
    assert mallory.post(FORM, data={"csrf_token": alices_token}).status_code == 400
    fresh = app.test_client()  # and one with no cookie at all
    assert fresh.post(FORM, data={"csrf_token": alices_token}).status_code == 400
    assert alice.post(FORM, data={"csrf_token": alices_token}).status_code == 200


def test_a_forged_csrf_cookie_is_ignored(app):
    client = app.test_client()
    token = token_from(client.get(FORM))
    client.set_cookie(app.config["CSRF_COOKIE_NAME"], "0" * 40 + ".forged")
    assert client.post(FORM, data={"csrf_token": token}).status_code == 400


def test_a_cookieless_form_page_creates_no_session(client, app, redis_conn):
    response = client.get(FORM)
    assert response.status_code == 200
    assert stored_keys(redis_conn, app) == []
    assert set_cookie_names(response) == {app.config["CSRF_COOKIE_NAME"]}


@pytest.mark.parametrize("endpoint", sorted(FORM_PAGES))
def test_a_cookieless_visit_to_a_feature_form_creates_no_session(client, app, redis_conn, endpoint):
    if endpoint not in app.view_functions:
        pytest.skip(f"{endpoint.split('.')[0]} is not baked into this project")
    # A page that needs a login shows the login form instead: still no server state.
    response = client.get(FORM_PAGES[endpoint], follow_redirects=True)
    assert response.status_code == 200
    assert token_from(response)
    assert stored_keys(redis_conn, app) == []
    assert app.config["SESSION_COOKIE_NAME"] not in set_cookie_names(response)


def test_an_anonymous_flood_costs_no_redis_memory(app, redis_conn):
    pages = [FORM, "/", "/healthz"]
    pages += [url for endpoint, url in FORM_PAGES.items() if endpoint in app.view_functions]
    keys_before = redis_conn.dbsize()
    for _ in range(20):
        for url in pages:
            assert app.test_client().get(url, follow_redirects=True).status_code == 200
    assert redis_conn.dbsize() == keys_before
    assert stored_keys(redis_conn, app) == []


def test_a_session_key_appears_only_when_a_view_stores_something(client, app, redis_conn):
    client.get("/api/probe/counter")  # reads an empty session
    client.get(FORM)
    assert stored_keys(redis_conn, app) == []
    client.post("/api/probe/counter", json={})
    assert len(stored_keys(redis_conn, app)) == 1


def test_the_csrf_cookie_flags(client, app):
    response = client.get(FORM)
    header = response.headers["Set-Cookie"]
    assert header.startswith(app.config["CSRF_COOKIE_NAME"] + "=")
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Path=/" in header
    assert "Secure" not in header
    assert response.headers["Cache-Control"] == "no-store"


def test_production_cookies_are_host_prefixed_and_secure(make_app):
    prod = make_app("production", SECRET_KEY=PRODUCTION_SECRET)
    assert prod.config["CSRF_COOKIE_NAME"].startswith("__Host-")
    assert prod.config["SESSION_COOKIE_NAME"].startswith("__Host-")
    client = prod.test_client()
    cookies = client.get(FORM).headers.getlist("Set-Cookie")
    cookies += client.post("/api/probe/counter", json={}).headers.getlist("Set-Cookie")
    assert {cookie.split("=", 1)[0] for cookie in cookies} == {
        prod.config["CSRF_COOKIE_NAME"],
        prod.config["SESSION_COOKIE_NAME"],
    }
    for cookie in cookies:
        assert "Secure" in cookie
        assert "Path=/" in cookie
        assert "Domain" not in cookie


def test_development_cookies_keep_plain_names(make_app):
    dev = make_app("development")
    assert not dev.config["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert not dev.config["CSRF_COOKIE_NAME"].startswith("__Host-")


def test_the_token_changes_at_login_and_at_logout(csrf_app):
    client = csrf_app.test_client()
    before_login = token_from(client.get(FORM))
    client.post("/test/login")
    assert client.post(FORM, data={"csrf_token": before_login}).status_code == 400
    after_login = token_from(client.get(FORM))
    assert after_login != before_login
    assert client.post(FORM, data={"csrf_token": after_login}).status_code == 200

    client.post("/test/logout")
    assert client.post(FORM, data={"csrf_token": after_login}).status_code == 400
    after_logout = token_from(client.get(FORM))
    assert client.post(FORM, data={"csrf_token": after_logout}).status_code == 200


def test_the_csrf_secret_is_never_stored_in_redis(csrf_app, redis_conn):
    client = csrf_app.test_client()
    client.get(FORM)
    client.post("/test/login")
    client.get(FORM)
    (key,) = stored_keys(redis_conn, csrf_app)
    assert b"csrf" not in redis_conn.get(key)


class NoteForm(CsrfForm):
    title = StringField()


class AttachmentForm(CsrfForm):
    title = StringField()
    attachment = FileField()


@pytest.mark.parametrize(
    ("form_class", "kept"), [(NoteForm, set()), (AttachmentForm, {"attachment"})]
)
def test_files_reach_file_fields_only(make_app, form_class, kept):
    """A file sent under a text field's name is no text: a form of text fields gets no file."""
    app = make_app()

    @app.post("/test/form")
    @csrf.exempt
    def post_form():
        form = form_class(meta={"csrf": False})
        return {name: type(field.data).__name__ for name, field in form._fields.items()}

    files = {"title": (io.BytesIO(b"x"), "t.txt"), "attachment": (io.BytesIO(b"y"), "a.txt")}
    got = app.test_client().post("/test/form", data=files).json
    assert {name for name, kind in got.items() if kind == "FileStorage"} == kept
