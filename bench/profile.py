"""Where the time goes on one URL of the baked app: an in-process WSGI harness under cProfile.

    python -m bench.profile /            # bake the default, profile GET / without a cookie
    python -m bench.profile / --cookie counter --project /tmp/x/flask-starter-app

No server and no socket: the production app is called as a WSGI callable (its middleware
included) against a private redis-server, so the profile shows the app's own work only.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.baked import CSRF_FIELD, USER, prepare_database, production_env
from tools.baking import bake
from tools.servers import start_redis_server, stop_group


def wsgi_call(app: Any, path: str, cookie: str | None) -> Callable[[], bytes]:
    """A function that sends GET ``path`` through the whole WSGI stack and returns the body."""
    from werkzeug.test import EnvironBuilder

    headers = {"Cookie": cookie} if cookie else {}
    template = EnvironBuilder(path=path, headers=headers, base_url="http://127.0.0.1").get_environ()

    def call() -> bytes:
        status: list[str] = []

        def start_response(s: str, h: Any, exc_info: Any = None) -> Any:
            status.append(s)
            return lambda data: None

        body = b"".join(app(dict(template), start_response))
        if not status[0].startswith("200"):
            raise RuntimeError(f"GET {path} answered {status[0]}")
        return body

    return call


def session_cookie(app: Any, how: str, has_auth: bool) -> str | None:
    """A session cookie: ``counter`` (POST /api/counter), ``login`` (the login form) or none."""
    if how == "none":
        return None
    client = app.test_client()
    if how == "counter":
        client.post("/api/counter", json={}, base_url="https://127.0.0.1")
    else:
        if not has_auth:
            raise SystemExit("--cookie login needs a bake with auth=yes")
        login_with_form(client)
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(name, domain="127.0.0.1")
    assert cookie is not None, f"no {name} cookie was set"
    return f"{name}={cookie.value}"


def login_with_form(client: Any) -> None:
    """Log in through the real form: GET it for the CSRF token, then POST it."""
    page = client.get("/auth/login", base_url="https://127.0.0.1").get_data(as_text=True)
    token = CSRF_FIELD.search(page)
    assert token, page
    username, _, password = USER
    response = client.post(
        "/auth/login",
        data={
            "csrf_token": token.group(1) or token.group(2),
            "username": username,
            "password": password,
        },
        base_url="https://127.0.0.1",
        headers={"Referer": "https://127.0.0.1/auth/login"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    client.get(response.headers["Location"], base_url="https://127.0.0.1")  # shows the flash


def main() -> int:
    """Bake (or use --project), start Redis, time and profile GET path in-process."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", nargs="?", default="/")
    parser.add_argument("--cookie", choices=("none", "counter", "login"), default="none")
    parser.add_argument("--project", type=Path, help="an already baked project")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="cumulative")
    args = parser.parse_args()

    redis_process, port = start_redis_server()
    scratch = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    try:
        project = args.project or bake(scratch)
        env = production_env(project, f"redis://127.0.0.1:{port}/0")
        has_auth = prepare_database(project, env)
        os.environ.update(env)
        sys.path[:0] = [str(project), str(project / "src")]
        os.chdir(project)
        from wsgi import app  # type: ignore[import-not-found]

        call = wsgi_call(app, args.path, session_cookie(app, args.cookie, has_auth))
        for _ in range(200):
            call()
        started = time.perf_counter()
        for _ in range(args.requests):
            call()
        per_request = (time.perf_counter() - started) / args.requests
        print(f"GET {args.path} cookie={args.cookie}: {per_request * 1e6:.0f} µs per request")
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.requests):
            call()
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats(args.sort).print_stats(args.top)
        print(out.getvalue())
    finally:
        stop_group(redis_process)
    return 0


if __name__ == "__main__":
    sys.exit(main())
