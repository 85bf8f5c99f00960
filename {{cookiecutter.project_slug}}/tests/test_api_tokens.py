"""Personal access tokens: made on the account page in sudo mode and shown once, listed,
revoked; the API takes them as ``Authorization: Bearer`` with their scopes, never a cookie."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from conftest import PASSWORD, AuthActions, csrf_token, signed_in_long_ago
from {{ cookiecutter.package_name }}.api.models import AccessToken
from {{ cookiecutter.package_name }}.api.tokens import token_hash
from {{ cookiecutter.package_name }}.auth.models import utcnow
from {{ cookiecutter.package_name }}.core.database import db

NEW_TOKEN = re.compile(r'<code class="token">(fsa_[A-Za-z0-9_-]+)</code>')
TOKENS = "/auth/tokens"


@pytest.fixture
def app(database_app):
    """The app on a fresh migrated database (SQLite, then PostgreSQL)."""
    return database_app


def make_token(auth: AuthActions, name="laptop", scopes=("read",), days=30) -> str:
    """Make a token on the tokens page: the one time it is shown."""
    data: dict[str, object] = {"name": name, "days": days, **dict.fromkeys(scopes, "y")}
    if "read" not in scopes:
        data["read"] = ""
    page = auth.post(TOKENS, data)
    assert page.status_code == 200, page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    (token,) = NEW_TOKEN.findall(page.get_data(as_text=True))
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_made_on_the_account_page_is_shown_once_and_reads_the_account(alice, app):
    assert b"Personal access tokens" in alice.client.get("/auth/account").data
    token = make_token(alice)
    listed = alice.client.get(TOKENS).get_data(as_text=True)
    assert token not in listed and token[:12] in listed
    api = app.test_client()  # a program: no cookie at all
    me = api.get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json["username"] == "alice" and me.json["scopes"] == ["read"]
    assert "Set-Cookie" not in me.headers


def test_only_the_hash_and_a_prefix_are_stored(alice, app):
    token = make_token(alice)
    with app.app_context():
        rows = db.session.execute(text("SELECT prefix, token_hash FROM access_tokens")).all()
    assert rows == [(token[:12], token_hash(token))]


def test_the_tokens_page_needs_sudo_mode(alice, app, redis_conn):
    signed_in_long_ago(app, alice.client, redis_conn)
    page = alice.client.get(TOKENS)
    assert page.status_code == 302 and "/auth/sudo" in page.headers["Location"]


def test_a_revoked_token_is_refused(alice, app):
    token = make_token(alice)
    with app.app_context():
        token_id = db.session.scalar(select(AccessToken.id))
    revoked = alice.post(f"{TOKENS}/{token_id}/revoke", {}, form_page=TOKENS)
    assert revoked.status_code == 303
    refused = app.test_client().get("/api/v1/me", headers=bearer(token))
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert refused.content_type == "application/problem+json"


def test_an_expired_token_is_refused(alice, app):
    token = make_token(alice, days=7)
    with app.app_context():
        row = db.session.scalar(select(AccessToken))
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    refused = app.test_client().get("/api/v1/me", headers=bearer(token))
    assert refused.status_code == 401
    assert "expired" in alice.client.get(TOKENS).get_data(as_text=True)


@pytest.mark.parametrize("header", ["", "Bearer fsa_unknown", "Basic YWxpY2U6cHc=", "Bearer "])
def test_a_missing_or_unknown_token_is_refused(app, header):
    refused = app.test_client().get("/api/v1/me", headers={"Authorization": header})
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer ")
    assert refused.json["status"] == 401


@pytest.mark.parametrize("token_id", ["2147483648", "9223372036854775808", "9" * 30])
def test_a_token_id_past_the_databases_integer_is_not_found(alice, token_id):
    revoke = alice.post(f"{TOKENS}/{token_id}/revoke", {}, form_page=TOKENS)
    assert revoke.status_code == 404


def test_a_read_token_cannot_write(alice, app):
    token = make_token(alice, scopes=("read",))
    refused = app.test_client().post("/api/v1/notes", json={"title": "x"}, headers=bearer(token))
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]


def test_a_write_only_token_cannot_read(alice, app):
    token = make_token(alice, scopes=("write",))
    assert app.test_client().get("/api/v1/me", headers=bearer(token)).status_code == 403


def test_the_session_cookie_alone_is_refused(alice):
    """A logged-in browser without a token gets the 401: no CSRF hole."""
    assert alice.client.get("/api/v1/me").status_code == 401
    assert alice.client.post("/api/v1/notes", json={"title": "x"}).status_code == 401


def test_notes_are_created_listed_paged_changed_and_deleted(alice, app):
    token = make_token(alice, scopes=("read", "write"))
    api = app.test_client()
    for number in range(3):
        made = api.post("/api/v1/notes", json={"title": f"note {number}"}, headers=bearer(token))
        assert made.status_code == 201, made.json
    page = api.get("/api/v1/notes?page=1&page_size=2", headers=bearer(token))
    assert [note["title"] for note in page.json] == ["note 2", "note 1"]
    assert '"total": 3' in page.headers["X-Pagination"]
    note_id = page.json[0]["id"]
    changed = api.patch(f"/api/v1/notes/{note_id}", json={"body": "b"}, headers=bearer(token))
    assert changed.json["body"] == "b" and changed.json["title"] == "note 2"
    assert api.delete(f"/api/v1/notes/{note_id}", headers=bearer(token)).status_code == 204
    assert api.get(f"/api/v1/notes/{note_id}", headers=bearer(token)).status_code == 404
    assert "Set-Cookie" not in changed.headers


def test_another_users_note_is_not_there(alice, app, auth):
    token = make_token(alice, scopes=("read", "write"))
    made = app.test_client().post("/api/v1/notes", json={"title": "mine"}, headers=bearer(token))
    alice.logout()
    auth.signup("bob", "bob@example.com")
    auth.login("bob")
    other = make_token(auth, scopes=("read",))
    seen = app.test_client().get(f"/api/v1/notes/{made.json['id']}", headers=bearer(other))
    assert seen.status_code == 404


def test_invalid_fields_are_a_422_problem(alice, app):
    token = make_token(alice, scopes=("write",))
    refused = app.test_client().post("/api/v1/notes", json={"title": ""}, headers=bearer(token))
    assert refused.status_code == 422
    assert refused.content_type == "application/problem+json"
    assert "title" in refused.json["errors"]["json"]


def test_a_nul_character_is_refused_on_every_database(alice, app):
    """PostgreSQL cannot store one: the schema refuses it, and the document says so."""
    token = make_token(alice, scopes=("write",))
    note = {"title": "a\x00b"}
    refused = app.test_client().post("/api/v1/notes", json=note, headers=bearer(token))
    assert refused.status_code == 422 and "title" in refused.json["errors"]["json"]


# Each parses as JSON, but would break what reads it next: the parser's own depth, int()'s
# digit limit, a database that stores UTF-8 (no lone surrogate is UTF-8).
UNSOUND_DOCUMENTS = {
    "a lone surrogate escaped": b'{"title": "a\\ud800b"}',
    "a lone surrogate escaped in a key": b'{"title": "x", "\\udc00": 1}',
    "a surrogate encoded in UTF-8": '{"title": "a\ud800b"}'.encode("utf-8", "surrogatepass"),
    "arrays nested 3000 deep": b'{"title": "x", "body": ' + b"[" * 3000 + b"]" * 3000 + b"}",
    "an integer of 5000 digits": b'{"title": "x", "body": ' + b"9" * 5000 + b"}",
}


@pytest.mark.parametrize("document", UNSOUND_DOCUMENTS.values(), ids=UNSOUND_DOCUMENTS)
def test_a_body_that_is_not_sound_json_is_a_400_problem(alice, app, document):
    token = make_token(alice, scopes=("write",))
    refused = app.test_client().post(
        "/api/v1/notes", data=document, content_type="application/json", headers=bearer(token)
    )
    assert refused.status_code == 400, refused.get_data(as_text=True)
    assert refused.content_type == "application/problem+json"
    assert refused.json["errors"] == {"json": ["Invalid JSON body."]}


def test_a_character_beyond_the_basic_plane_escaped_as_a_pair_is_kept(alice, app):
    token = make_token(alice, scopes=("read", "write"))
    document = b'{"title": "\\ud83d\\ude00"}'  # one emoji, as json.dumps escapes it
    made = app.test_client().post(
        "/api/v1/notes", data=document, content_type="application/json", headers=bearer(token)
    )
    assert made.status_code == 201 and made.json["title"] == "\U0001f600"


def test_last_used_is_noted_at_most_once_a_minute(alice, app):
    token = make_token(alice)
    api = app.test_client()
    api.get("/api/v1/me", headers=bearer(token))
    with app.app_context():
        first = db.session.scalar(select(AccessToken.last_used_at))
    api.get("/api/v1/me", headers=bearer(token))
    with app.app_context():
        assert db.session.scalar(select(AccessToken.last_used_at)) == first
    assert first is not None and "never" not in alice.client.get(TOKENS).get_data(as_text=True)


def test_a_token_is_throttled(alice, make_auth_app, database_url):
    app = make_auth_app(
        SQLALCHEMY_DATABASE_URI=None, DATABASE_URL=database_url, API_TOKEN_RATE_LIMIT="2 per minute"
    )
    auth = AuthActions(app.test_client(), alice.mailbox)
    auth.login()
    token = make_token(auth)
    api = app.test_client()
    for _ in range(2):
        assert api.get("/api/v1/me", headers=bearer(token)).status_code == 200
    refused = api.get("/api/v1/me", headers=bearer(token))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert refused.content_type == "application/problem+json"
    with app.app_context():
        app.extensions["sqlalchemy"].engine.dispose()


def test_an_operator_revokes_every_token_of_an_account(alice, app):
    token = make_token(alice)
    result = app.test_cli_runner().invoke(args=["users", "revoke-tokens", "alice@example.com"])
    assert result.exit_code == 0 and "Revoked 1 token" in result.output
    assert app.test_client().get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_deleting_the_account_deletes_its_tokens(alice, app):
    make_token(alice)
    alice.post("/auth/delete", {"password": PASSWORD})
    with app.app_context():
        assert db.session.scalar(select(AccessToken)) is None


def test_the_form_needs_a_name_and_a_scope(alice):
    page = alice.post(TOKENS, {"name": "", "days": 30})
    assert page.status_code == 400
    page = alice.post(TOKENS, {"name": "x", "days": 30, "read": ""})
    assert page.status_code == 400 and "at least one scope" in page.get_data(as_text=True)
    assert csrf_token(alice.client, TOKENS)
