"""Anonymous clients cannot push signed-in visitors out of Redis, however many sessions they start.

Redis runs as the README and compose.yaml set it up (``noeviction``: a full Redis refuses
writes, it never drops a key), with 2 MB of room; each client address may start
SESSION_CREATION_LIMIT sessions, the rest get a 429 and store nothing.
"""

from __future__ import annotations

import collections

from flask import Blueprint, jsonify, request, session

from {{ cookiecutter.package_name }}.core.csrf import csrf
from {{ cookiecutter.package_name }}.core.limiter import limiter, parse
from {{ cookiecutter.package_name }}.core.sessions import rotate_session

POLICY = "noeviction"  # the README's and compose.yaml's
HEADROOM = 2 * 1024 * 1024
SIGNED_IN = 10
ADDRESSES = [f"198.51.100.{number}" for number in range(1, 6)]
FLOOD = 5000
# What a visitor can make a session hold (a cart, a draft), well under SESSION_MAX_BYTES.
NOTE = "n" * 1000

# Routes of this test: signing in as auth does it, and a session that keeps what is sent.
visitors = Blueprint("visitors", __name__, url_prefix="/api/visitors")


@visitors.post("/sign-in")
@csrf.exempt
def sign_in():
    """A login: a new session id, then who is signed in."""
    rotate_session()
    session["user"] = request.get_json()["user"]
    return jsonify(user=session["user"])


@visitors.get("/me")
def me():
    """Who this session is signed in as."""
    return jsonify(user=session.get("user"))


@visitors.post("/note")
@csrf.exempt
def note():
    """Keep the note sent in the session."""
    session["note"] = request.get_json()["note"]
    return jsonify(kept=len(session["note"]))


def test_an_anonymous_flood_leaves_signed_in_sessions_and_counters_alone(make_app, private_redis):
    server, admin = private_redis
    app = make_app(REDIS_URL=server.url)
    app.register_blueprint(visitors)
    prefix = app.config["SESSION_KEY_PREFIX"]
    users = {f"user{number}": app.test_client() for number in range(SIGNED_IN)}
    for name, client in users.items():
        assert client.post("/api/visitors/sign-in", json={"user": name}).status_code == 200
    signed_in = set(admin.scan_iter(match=f"{prefix}*"))
    with app.test_request_context():
        for name in users:
            for _ in range(3):
                limiter.hit(parse("10 per hour")[0], "login", name)
    counters = {key: admin.get(key) for key in admin.scan_iter(match="LIMITS:*")}
    assert len(signed_in) == SIGNED_IN
    assert len(counters) == SIGNED_IN
    admin.config_set("maxmemory-policy", POLICY)
    admin.config_set("maxmemory", admin.info("memory")["used_memory"] + HEADROOM)

    anonymous = app.test_client(use_cookies=False)
    statuses: collections.Counter[int] = collections.Counter()
    for number in range(FLOOD):
        address = ADDRESSES[number % len(ADDRESSES)]
        response = anonymous.post(
            "/api/visitors/note", json={"note": NOTE}, environ_base={"REMOTE_ADDR": address}
        )
        statuses[response.status_code] += 1
        if response.status_code == 429:
            assert "Set-Cookie" not in response.headers
            assert int(response.headers["Retry-After"]) > 0

    # 60 new sessions per address in the minute (the window starts at each one's first).
    allowed = len(ADDRESSES) * parse(app.config["SESSION_CREATION_LIMIT"])[0].amount
    assert statuses == {200: allowed, 429: FLOOD - allowed}
    stored = set(admin.scan_iter(match=f"{prefix}*"))
    assert len(stored - signed_in) == allowed  # a refused request stored nothing
    assert signed_in <= stored
    assert {key: admin.get(key) for key in counters} == counters
    assert admin.info("stats")["evicted_keys"] == 0
    for name, client in users.items():
        assert client.get("/api/visitors/me").json == {"user": name}
