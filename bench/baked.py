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
