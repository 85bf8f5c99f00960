"""The baked project as the benchmark runs it: its production environment, database and login."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

SECRET = "4xCoD_1voJPWx73RmtK-O3aRKW2hOQ5Vs15CIm_nsY4"
# Created with `flask users create` in the baked project, so the real login form has a user.
USER = ("bench", "bench@example.com", "bench-password-123")
# The token the tokens page shows once, and what its form asks for (a read token, a day).
NEW_TOKEN = re.compile(r'<code class="token">([^<]+)</code>')
TOKEN_FORM = {"name": "bench", "read": "y", "days": "1"}
CSRF_FIELD = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"|'
                        r'<input[^>]*value="([^"]+)"[^>]*name="csrf_token"')  # fmt: skip


def production_env(project: Path, redis_url: str) -> dict[str, str]:
    """What the baked app needs to run in production, its database in the project's instance/."""
    # Metrics in multiprocess mode, as gunicorn.conf.py sets them up.
    metrics = project / "instance" / "prometheus"
    metrics.mkdir(parents=True, exist_ok=True)
    return {
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        "FLASK_CONFIG": "production",
        "SECRET_KEY": SECRET,
        "REDIS_URL": redis_url,
        "PYTHONPATH": str(project / "src"),
        "INSTANCE_PATH": str(project / "instance"),
        "FLASK_APP": "wsgi:app",
        # Whatever the calling shell says: production refuses debug.
        "FLASK_DEBUG": "0",
        "TRUSTED_HOSTS": "127.0.0.1,localhost",
        # Production with accounts requires a mail server; the bench sends no mail.
        "MAIL_SERVER": "127.0.0.1",
        # The API's throttles count every request as in production, with room for a load test.
        "FLASK_API_ADDRESS_RATE_LIMIT": "100000000 per minute",
        "FLASK_API_TOKEN_RATE_LIMIT": "100000000 per minute",
    }


def without_metrics(package: str) -> list[str]:
    """The baked WSGI_MIDDLEWARE less its Metrics layer (the metrics' cost is the difference)."""
    layers = ("RequestID", "SecurityHeaders", "TrustedProxies")
    return [f"{package}.core.middleware.{layer}" for layer in layers]


def package_name(project: Path) -> str:
    """The import name of the baked package: the one package in the project's src/."""
    (package,) = [init.parent.name for init in (project / "src").glob("*/__init__.py")]
    return package


def has_auth(project: Path) -> bool:
    """True when the bake has the account pages (and so a user database)."""
    return any((project / "src").glob("*/migrations"))


def has_api(project: Path) -> bool:
    """True when the bake has the JSON API (and so flask-smorest)."""
    return any((project / "src").glob("*/api/__init__.py"))


def has_api_tokens(project: Path) -> bool:
    """True when the bake has the JSON API with personal access tokens (api and auth)."""
    return any((project / "src").glob("*/api/tokens.py"))


def prepare_database(project: Path, env: dict[str, str]) -> bool:
    """Migrate the user database and create the bench user; False when the bake has no auth."""
    if not has_auth(project):
        return False
    flask = [sys.executable, "-m", "flask"]
    run_env = os.environ | env
    subprocess.run(
        [*flask, "db", "upgrade"], cwd=project, env=run_env, check=True, capture_output=True
    )
    username, email, password = USER
    created = subprocess.run(
        [*flask, "users", "create", username, email, "--password", password],
        cwd=project,
        env=run_env,
        capture_output=True,
        text=True,
    )
    if created.returncode != 0 and "exists" not in created.stderr + created.stdout:
        raise RuntimeError(f"flask users create failed: {created.stderr}")
    return True


def set_cookies(response: requests.Response) -> dict[str, str]:
    """Every cookie the response sets, name to value, read from the raw headers."""
    cookies = {}
    for header in response.raw.headers.getlist("Set-Cookie"):
        name, _, rest = header.partition("=")
        cookies[name] = rest.split(";", 1)[0]
    return cookies


def session_cookie(response: requests.Response) -> str | None:
    """``name=value`` of the session cookie the response sets, if it sets one.

    Read from the raw headers: production cookies are Secure, and a cookie jar would not
    send them back over the benchmark's plain HTTP.
    """
    for header in response.raw.headers.getlist("Set-Cookie"):
        name, _, rest = header.partition("=")
        if "session" in name.lower():
            return f"{name}={rest.split(';', 1)[0]}"
    return None


def counter_cookie(base: str) -> str:
    """An anonymous session holding the tour's counter (POST /api/counter)."""
    response = requests.post(base + "/api/counter", json={}, timeout=10)
    response.raise_for_status()
    cookie = session_cookie(response)
    assert cookie, response.headers
    return cookie


def login_cookie(base: str) -> str:
    """A logged-in session, made through the real login form, after its welcome page.

    GET the form (its CSRF cookie), POST it (a new session id holding the user), then
    GET the page it redirects to, which shows and so removes the flash message.
    """
    page = requests.get(base + "/auth/login", timeout=10)
    page.raise_for_status()
    # The form's CSRF secret travels in a cookie of its own, not in a server session.
    csrf = "; ".join(f"{name}={value}" for name, value in set_cookies(page).items())
    match = CSRF_FIELD.search(page.text)
    assert csrf and match, page.text[:2000]
    username, _, password = USER
    response = requests.post(
        base + "/auth/login",
        data={"csrf_token": match.group(1) or match.group(2), "username": username,
              "password": password},
        headers={"Cookie": csrf},
        allow_redirects=False,
        timeout=10,
    )  # fmt: skip
    assert response.status_code == 302, f"login answered {response.status_code}"
    cookie = session_cookie(response)
    assert cookie, "login set no session cookie"
    landing = requests.get(
        base + response.headers["Location"].removeprefix(base), headers={"Cookie": cookie},
        timeout=10,
    )  # fmt: skip
    landing.raise_for_status()
    assert USER[0] in landing.text, "the page after login does not show the user"
    return session_cookie(landing) or cookie


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


def form_token(page: str) -> str:
    """The CSRF token of the form on a page."""
    match = CSRF_FIELD.search(page)
    assert match, page[:2000]
    return match.group(1) or match.group(2)


def api_token(base: str) -> str:
    """A read token made on the tokens page as a user makes one: signed in (so in sudo mode),
    the form sent with its CSRF token."""
    name, _, value = login_cookie(base).partition("=")
    page = requests.get(base + "/auth/tokens", headers={"Cookie": f"{name}={value}"}, timeout=10)
    page.raise_for_status()
    cookies = {name: value} | set_cookies(page)
    made = requests.post(
        base + "/auth/tokens",
        data=TOKEN_FORM | {"csrf_token": form_token(page.text)},
        headers={"Cookie": "; ".join(f"{key}={item}" for key, item in cookies.items())},
        timeout=10,
    )
    made.raise_for_status()
    match = NEW_TOKEN.search(made.text)
    assert match, made.text[:2000]
    return match.group(1)


def api_token_in_process(client: Any) -> str:
    """``api_token`` through a test client of the app."""
    login_with_form(client)
    page = client.get("/auth/tokens", base_url="https://127.0.0.1").get_data(as_text=True)
    made = client.post(
        "/auth/tokens",
        data=TOKEN_FORM | {"csrf_token": form_token(page)},
        base_url="https://127.0.0.1",
        headers={"Referer": "https://127.0.0.1/auth/tokens"},
    )
    match = NEW_TOKEN.search(made.get_data(as_text=True))
    assert match, made.get_data(as_text=True)[:2000]
    return match.group(1)
