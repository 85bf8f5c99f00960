"""Server-side sessions on a real Redis: storage, lifetime, rotation, attacks, outages."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import msgspec
import pytest
from flask import flash, redirect, request, session
from markupsafe import Markup

from {{ cookiecutter.package_name }}.core.csrf import csrf
from {{ cookiecutter.package_name }}.core.session_keys import delete_sessions
from {{ cookiecutter.package_name }}.core.sessions import (
    LOGIN_AT,
    SAVED_AT,
    current_session_id,
    end_session,
    rotate_session,
)

COUNTER = "/api/probe/counter"  # a number kept in the session (see conftest.probe)
SESSION_COMMANDS = (
    *("get", "set", "setex", "del", "expire", "getex", "exists", "ttl"),
    *("eval", "incrby"),  # counting a new visitor's session (core.session_limit)
)


def command_counts(conn) -> dict[str, int]:
    """Calls per session-related command so far, from the server's own statistics."""
    stats = conn.info("commandstats")
    return {name: stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in SESSION_COMMANDS}


def commands_during(conn, action) -> dict[str, int]:
    """The session-related commands the server received while ``action`` ran."""
    before = command_counts(conn)
    action()
    after = command_counts(conn)
    return {
        name: after[name] - before[name] for name in SESSION_COMMANDS if after[name] != before[name]
    }


def session_cookie(client, app):
    return client.get_cookie(app.config["SESSION_COOKIE_NAME"])


def stored(conn, app, sid: str) -> dict | None:
    raw = conn.get(app.config["SESSION_KEY_PREFIX"] + sid)
    return msgspec.msgpack.decode(raw) if raw else None


@pytest.fixture
def session_app(make_app):
    """The app plus routes that exercise the session helpers."""
    return with_session_routes(make_app())


def with_session_routes(app):
    """Add routes that rotate, end, fill and flash into the session."""

    @app.post("/test/rotate")
    @csrf.exempt
    def rotate():
        rotate_session()
        return "rotated"

    @app.post("/test/logout")
    @csrf.exempt
    def logout():
        end_session()
        return "bye"

    @app.post("/test/store")
    @csrf.exempt
    def store():
        session["note"] = request.get_data(as_text=True)
        return "stored"

    @app.post("/test/forget-me")
    @csrf.exempt
    def forget_me():
        session.permanent = False
        return "forgotten"

    @app.post("/test/flash-markup")
    @csrf.exempt
    def flash_markup():
        flash(Markup("<b>bold</b> news"), "info")
        return redirect("/")

    return app


def test_data_lives_in_redis_and_the_cookie_holds_only_the_id(client, app, redis_conn):
    client.post(COUNTER, json={"by": 3})
    cookie = session_cookie(client, app)
    assert len(cookie.value) >= 43
    assert "count" not in cookie.value
    data = stored(redis_conn, app, cookie.value)
    assert data["count"] == 3


def test_a_session_nobody_logged_in_to_expires_within_the_anonymous_lifetime(
    client, app, redis_conn
):
    client.post(COUNTER, json={})
    key = app.config["SESSION_KEY_PREFIX"] + session_cookie(client, app).value
    lifetime = app.config["SESSION_ANONYMOUS_LIFETIME"].total_seconds()
    assert lifetime <= 3600
    assert lifetime - 5 <= redis_conn.ttl(key) <= lifetime


def test_a_logged_in_session_keeps_the_session_lifetime(session_app, redis_conn):
    client = session_app.test_client()
    client.post(COUNTER, json={})
    client.post("/test/rotate")  # what log_in does
    key = session_app.config["SESSION_KEY_PREFIX"] + session_cookie(client, session_app).value
    lifetime = session_app.permanent_session_lifetime.total_seconds()
    assert lifetime - 5 <= redis_conn.ttl(key) <= lifetime


def test_cookie_flags(client, app):
    response = client.post(COUNTER, json={})
    header = response.headers["Set-Cookie"]
    assert header.startswith(app.config["SESSION_COOKIE_NAME"] + "=")
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Secure" not in header


def test_cookie_is_secure_in_production(make_app):
    prod = make_app("production", SECRET_KEY="FrnACAFNIOjzeyDjuAYJ8U1jJszHYBExWfXhgwIcVjE")
    response = prod.test_client().post(COUNTER, json={})
    assert "Secure" in response.headers["Set-Cookie"]


def test_request_that_never_touches_the_session_makes_no_redis_call(client, redis_conn):
    client.post(COUNTER, json={})
    used = commands_during(
        redis_conn,
        lambda: [
            client.get(path).close()
            for path in ("/healthz", "/api/probe/plain", "/static/style.css")
        ],
    )
    assert used == {}


def test_reading_the_session_is_one_read_and_no_write(client, redis_conn):
    client.post(COUNTER, json={})
    assert commands_during(redis_conn, lambda: client.get(COUNTER)) == {"get": 1}


def test_writing_the_session_is_one_read_and_one_write(client, redis_conn):
    client.post(COUNTER, json={})
    assert commands_during(redis_conn, lambda: client.post(COUNTER, json={})) == {
        "get": 1,
        "set": 1,
    }


def test_a_new_visitor_costs_one_count_and_one_write(client, redis_conn):
    # The count of new sessions from the client's address is one script: incrby, and the
    # expiry of the counter on its first count.
    expected = {"eval": 1, "incrby": 1, "expire": 1, "set": 1}
    assert commands_during(redis_conn, lambda: client.post(COUNTER, json={})) == expected


def test_expiry_slides_only_once_half_the_lifetime_is_used(make_app, redis_conn):
    app = make_app(PERMANENT_SESSION_LIFETIME=timedelta(hours=1))
    client = app.test_client()
    client.post(COUNTER, json={})
    key = app.config["SESSION_KEY_PREFIX"] + session_cookie(client, app).value

    # Fresh: reading does not refresh.
    assert commands_during(redis_conn, lambda: client.get(COUNTER)) == {"get": 1}

    # Pretend 40 minutes passed: the stored copy is past its half-life.
    data = msgspec.msgpack.decode(redis_conn.get(key))
    data[SAVED_AT] -= 40 * 60
    redis_conn.set(key, msgspec.msgpack.encode(data), ex=20 * 60)
    response = client.get(COUNTER)
    assert response.json == {"count": 1}
    assert "Set-Cookie" in response.headers
    assert redis_conn.ttl(key) > 59 * 60


def test_the_cookie_is_sent_again_only_when_it_changes_or_its_expiry_is_due(
    session_app, redis_conn
):
    client = session_app.test_client()
    assert "Set-Cookie" in client.post(COUNTER, json={}).headers  # a new session's id
    key = session_app.config["SESSION_KEY_PREFIX"] + session_cookie(client, session_app).value
    # A write soon after moves the key's expiry but not the cookie's, which it outlives.
    redis_conn.expire(key, 60)
    written = client.post(COUNTER, json={})
    assert written.json == {"count": 2}
    assert "Set-Cookie" not in written.headers
    assert redis_conn.ttl(key) > 60
    # "Remember me" changed: the cookie changes from a dated one to a browser-session one.
    forgotten = client.post("/test/forget-me")
    assert "Expires=" not in forgotten.headers["Set-Cookie"]
    # Half the lifetime later, a write sends the cookie with its new expiry too.
    data = msgspec.msgpack.decode(redis_conn.get(key))
    data[SAVED_AT] -= session_app.config["SESSION_ANONYMOUS_LIFETIME"].total_seconds() * 0.6
    redis_conn.set(key, msgspec.msgpack.encode(data), keepttl=True)
    assert "Set-Cookie" in client.post(COUNTER, json={}).headers
    # A new id (a login) is always sent, and only once.
    assert "Set-Cookie" in client.post("/test/rotate").headers
    rotated = client.post(COUNTER, json={})
    assert rotated.json == {"count": 4}
    assert "Set-Cookie" not in rotated.headers


def test_a_login_ends_after_the_absolute_lifetime_however_active(session_app, redis_conn):
    client = session_app.test_client()
    client.post(COUNTER, json={"by": 3})
    client.post("/test/rotate")  # what log_in does: starts the absolute lifetime
    key = session_app.config["SESSION_KEY_PREFIX"] + session_cookie(client, session_app).value
    data = msgspec.msgpack.decode(redis_conn.get(key))
    assert time.time() - 5 <= data[LOGIN_AT] <= time.time()

    # Pretend the login happened eight days ago, with the session used all along.
    data[LOGIN_AT] -= 8 * 24 * 3600
    redis_conn.set(key, msgspec.msgpack.encode(data), ex=3600)
    assert client.get(COUNTER).json == {"count": 0}
    assert redis_conn.get(key) is None


def test_the_idle_expiry_never_outlives_the_absolute_lifetime(make_app, redis_conn):
    app = with_session_routes(make_app(SESSION_ABSOLUTE_LIFETIME=timedelta(minutes=10)))
    client = app.test_client()
    client.post(COUNTER, json={})
    client.post("/test/rotate")
    key = app.config["SESSION_KEY_PREFIX"] + session_cookie(client, app).value
    assert 590 <= redis_conn.ttl(key) <= 600


def test_pages_of_a_logged_in_session_are_not_cached(session_app):
    client = session_app.test_client()
    client.post(COUNTER, json={})
    assert "no-store" not in client.get(COUNTER).headers.get("Cache-Control", "")
    client.post("/test/rotate")
    response = client.get(COUNTER)
    assert response.headers["Cache-Control"] == "no-store"
    assert "Cookie" in response.headers["Vary"]


@pytest.mark.parametrize(
    ("own", "sent"),
    [
        (None, "Cookie"),
        ("Accept-Encoding", "Accept-Encoding, Cookie"),
        ("X-Cookie-Consent", "X-Cookie-Consent, Cookie"),
        ("cookie, Origin", "cookie, Origin"),
    ],
)
def test_a_page_that_reads_the_session_varies_on_cookie_beside_its_own_vary(session_app, own, sent):
    @session_app.get("/test/varies")
    def varies():
        return str(session.get("note")), {"Vary": own} if own else {}

    # A first visit (no cookie at all) and a returning one: both pages depend on the cookie.
    client = session_app.test_client()
    assert client.get("/test/varies").headers["Vary"] == sent
    client.post("/test/store", data="x")
    assert client.get("/test/varies").headers["Vary"] == sent


def test_a_page_that_does_not_read_the_session_is_not_marked(session_app):
    client = session_app.test_client()
    client.post("/test/rotate")
    assert "Cache-Control" not in client.get("/api/probe/plain").headers


def test_a_session_past_the_size_limit_is_refused_and_not_stored(session_app, redis_conn):
    client = session_app.test_client()
    assert client.post("/test/store", data="small").status_code == 200
    key = session_app.config["SESSION_KEY_PREFIX"] + session_cookie(client, session_app).value
    before = redis_conn.get(key)

    response = client.post("/test/store", data="x" * session_app.config["SESSION_MAX_BYTES"])
    assert response.status_code == 413
    assert redis_conn.get(key) == before

    newcomer = session_app.test_client()
    response = newcomer.post("/test/store", data="x" * 5000)
    assert response.status_code == 413
    assert session_cookie(newcomer, session_app) is None


def test_rotation_keeps_the_data_and_kills_the_old_id(session_app, redis_conn):
    client = session_app.test_client()
    client.post(COUNTER, json={"by": 4})
    old = session_cookie(client, session_app).value
    client.post("/test/rotate")
    new = session_cookie(client, session_app).value
    assert new != old
    assert client.get(COUNTER).json == {"count": 4}
    assert stored(redis_conn, session_app, old) is None

    replay = session_app.test_client()
    replay.set_cookie(session_app.config["SESSION_COOKIE_NAME"], old)
    assert replay.get(COUNTER).json == {"count": 0}


def test_rotation_works_on_an_empty_session(session_app):
    client = session_app.test_client()
    assert client.post("/test/rotate").status_code == 200


def test_logout_deletes_the_key_and_the_old_cookie_finds_nothing(session_app, redis_conn):
    client = session_app.test_client()
    client.post(COUNTER, json={"by": 2})
    old = session_cookie(client, session_app).value
    client.post("/test/logout")
    assert stored(redis_conn, session_app, old) is None
    assert session_cookie(client, session_app) is None

    replay = session_app.test_client()
    replay.set_cookie(session_app.config["SESSION_COOKIE_NAME"], old)
    assert replay.get(COUNTER).json == {"count": 0}


def test_a_session_ended_while_its_request_runs_is_not_written_back(session_app, redis_conn):
    @session_app.post("/test/ended-meanwhile")
    @csrf.exempt
    def ended_meanwhile():
        session["count"] = session.get("count", 0) + 1  # read before the sign-out...
        delete_sessions([current_session_id()])  # ...that another request makes meanwhile
        return "done"

    client = session_app.test_client()
    client.post(COUNTER, json={"by": 3})
    sid = session_cookie(client, session_app).value
    assert client.post("/test/ended-meanwhile").status_code == 200
    assert stored(redis_conn, session_app, sid) is None
    assert session_cookie(client, session_app) is None
    assert client.get(COUNTER).json == {"count": 0}


@pytest.mark.parametrize(
    "cookie",
    ["garbage", "x" * 4000, "../../etc/passwd", "A" * 42, "A" * 44, "é" * 43, ""],
    ids=["garbage", "oversized", "path", "short", "long", "non-ascii", "empty"],
)
def test_malformed_cookies_get_a_fresh_session(app, cookie):
    client = app.test_client()
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
    assert client.get(COUNTER).json == {"count": 0}
    response = client.post(COUNTER, json={})
    assert response.status_code == 200
    assert session_cookie(client, app).value != cookie


def test_unknown_id_is_replaced_not_adopted(app, redis_conn):
    chosen = "A" * 43  # a well-formed id an attacker planted
    client = app.test_client()
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], chosen)
    client.post(COUNTER, json={})
    assert session_cookie(client, app).value != chosen
    assert stored(redis_conn, app, chosen) is None


def test_unreadable_stored_data_gives_a_fresh_session(client, app, redis_conn):
    client.post(COUNTER, json={})
    sid = session_cookie(client, app).value
    redis_conn.set(app.config["SESSION_KEY_PREFIX"] + sid, b"\xc1 not msgpack")
    assert client.get(COUNTER).json == {"count": 0}


def test_two_apps_on_one_redis_do_not_share_sessions(make_app, key_prefix):
    first = make_app()
    second = make_app(SESSION_KEY_PREFIX="other-" + key_prefix)
    client = first.test_client()
    client.post(COUNTER, json={"by": 9})
    other = second.test_client()
    other.set_cookie(second.config["SESSION_COOKIE_NAME"], session_cookie(client, first).value)
    assert other.get(COUNTER).json == {"count": 0}
    assert client.get(COUNTER).json == {"count": 9}


def test_flashing_markup_is_stored_as_text(session_app):
    client = session_app.test_client()
    response = client.post("/test/flash-markup", follow_redirects=True)
    assert response.status_code == 200
    assert "&lt;b&gt;bold&lt;/b&gt; news" in response.get_data(as_text=True)


def test_session_is_fetched_when_first_touched(client, app):
    client.post(COUNTER, json={"by": 2})
    cookie = f"{app.config['SESSION_COOKIE_NAME']}={session_cookie(client, app).value}"
    with app.test_request_context("/", headers={"Cookie": cookie}):
        assert not session.loaded  # type: ignore[attr-defined]
        assert session["count"] == 2
        assert session.loaded  # type: ignore[attr-defined]


@pytest.fixture
def stoppable_redis(redis_server):
    """The private server, restarted afterwards whatever the test did."""
    if redis_server is None:
        pytest.skip("stopping Redis needs the private redis-server, not a shared REDIS_URL")
    yield redis_server
    if redis_server.process.poll() is not None:
        redis_server.start()


def test_outage_gives_503_then_recovers(make_app, stoppable_redis, caplog):
    app = make_app(PROPAGATE_EXCEPTIONS=False, REDIS_BREAKER_RESET_SECONDS=0.2)
    client = app.test_client()
    client.post(COUNTER, json={"by": 5})
    stoppable_redis.stop()

    with caplog.at_level(logging.ERROR):
        api = client.get(COUNTER)
    assert api.status_code == 503
    assert api.headers["Retry-After"] == "1"  # REDIS_BREAKER_RESET_SECONDS, rounded up
    assert api.json["status"] == 503
    assert "Redis is unreachable" in caplog.text

    # A form page needs no Redis: its CSRF secret lives in a cookie.
    assert client.get("/api/probe/form").status_code == 200

    # Pages show flashed messages from the session: with a cookie, 503 rather than a page
    # that looks logged out; a new visitor has nothing to read and gets the page.
    assert client.get("/").status_code == 503
    assert app.test_client().get("/").status_code == 200

    # Pages that do not need the session keep working, cookie or not.
    started = time.monotonic()
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/probe/plain").status_code == 200
    assert client.get("/readyz").status_code == 503
    assert time.monotonic() - started < 5

    stoppable_redis.start()
    time.sleep(0.3)  # the circuit breaker lets a request try again after its reset time
    assert client.get(COUNTER).status_code == 200
    assert client.post(COUNTER, json={}).json == {"count": 1}
    assert client.get("/readyz").status_code == 200


def test_write_during_outage_is_a_503_not_a_traceback(make_app, stoppable_redis, caplog):
    # Testing config propagates unhandled exceptions, so a raise after the view would fail here.
    client = make_app().test_client()
    stoppable_redis.stop()
    with caplog.at_level(logging.ERROR):
        response = client.post(COUNTER, json={})  # a new visitor: the save is the first
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json["error"] == "Service Unavailable"
    assert [record.exc_info for record in caplog.records] == [None]
    assert "Redis is unreachable" in caplog.text  # counting the new session failed first

    # A form page stores nothing in Redis (its CSRF secret is a cookie), so it still works.
    assert client.get("/api/probe/form").status_code == 200
