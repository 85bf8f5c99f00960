"""Production refuses unsafe settings: one line naming each, never a password or a traceback."""

from __future__ import annotations

import os
import runpy
import secrets
from pathlib import Path
from urllib.parse import unquote

import pytest

from {{ cookiecutter.package_name }} import create_app
from {{ cookiecutter.package_name }}.checks import secret_key_problems
from {{ cookiecutter.package_name }}.config import Config
from {{ cookiecutter.package_name }}.exceptions import ConfigurationError

PROJECT = Path(__file__).resolve().parent.parent
# Fixed, so parametrize ids are the same in every process (pytest-xdist compares them).
GOOD_SECRET = "k7Qw2Zr9Lm4Vb8Nc3Xj6Ty1Hp5Gd0Fs-Ae_UiOo"
PASSWORD = "S3cretPassw0rd"
# The same password percent-encoded, as a URL must carry an "@": either spelling is hidden.
ENCODED = "S3cret%40Passw0rd"
# The app's own name, repeated to a key's length.
SLUG = create_app.__module__.replace("_", "-")
NAME_KEY = "-".join([SLUG] * (40 // len(SLUG) + 1))
ENVIRONMENT = (
    "SECRET_KEY",
    "TRUSTED_HOSTS",
    "REDIS_URL",
    "REDIS_SENTINELS",
    "DATABASE_URL",
    "FLASK_CONFIG",
    "FLASK_DEBUG",
)


@pytest.fixture
def production(monkeypatch, redis_url, tmp_path):
    """Build a production app from safe settings with ``changes`` applied (None removes one)."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)

    def build(**changes):
        settings = {
            "SECRET_KEY": GOOD_SECRET,
            "REDIS_URL": redis_url,
            "TRUSTED_HOSTS": ["example.com"],
{%- if cookiecutter.auth == "yes" %}
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'app.db'}",
{%- endif %}
        }
        settings.update(changes)
        return create_app("production", settings)

    return build


def refusal(build, **changes) -> str:
    """The one-line reason production gives for refusing these settings."""
    with pytest.raises(ConfigurationError) as refused:
        build(**changes)
    message = str(refused.value)
    assert message.startswith("Refusing to start in production: ")
    assert "\n" not in message
    return message


def test_safe_settings_start(production):
    app = production()
    assert app.config["TRUSTED_HOSTS"] == ["example.com"]
    assert app.config["PREFERRED_URL_SCHEME"] == "https"
    assert app.test_client().get("/healthz", headers={"Host": "example.com"}).status_code == 200


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"DEBUG": True}, "DEBUG is on"),
        ({"SESSION_COOKIE_SECURE": False}, "SESSION_COOKIE_SECURE is off"),
        ({"WTF_CSRF_ENABLED": False}, "WTF_CSRF_ENABLED is off"),
        ({"TRUSTED_HOSTS": None}, "TRUSTED_HOSTS is not set"),
        ({"TRUSTED_HOSTS": []}, "TRUSTED_HOSTS is empty"),
        ({"TRUSTED_HOSTS": " , "}, "TRUSTED_HOSTS is empty"),
        ({"TRUSTED_HOSTS": ["*"]}, "TRUSTED_HOSTS entry '*' is not a host name"),
        ({"TRUSTED_HOSTS": ["https://example.com"]}, "is not a host name"),
        ({"TRUSTED_HOSTS": 1}, "TRUSTED_HOSTS must be a list"),
        ({"SECRET_KEY": None}, "SECRET_KEY is not set"),
        ({"SECRET_KEY": "Y7tMaEnCwkqUnkV06pnETg"}, "shorter than 32 characters"),
        ({"SECRET_KEY": "a" * 64}, "SECRET_KEY is not random"),
        ({"SECRET_KEY": "ab" * 32}, "SECRET_KEY is not random"),
        ({"SECRET_KEY": "0123456789" * 4}, "SECRET_KEY is not random"),
        ({"SECRET_KEY": "abcdefgh" * 5}, "SECRET_KEY is not random"),
        ({"SECRET_KEY": NAME_KEY}, "SECRET_KEY is not random"),
        ({"SECRET_KEY": "correct-horse-battery-staple-extra-words-here"}, "not random"),
        ({"SECRET_KEY": "my-super-secret-production-key-for-this-app-2024"}, "not random"),
        ({"SECRET_KEY": "django-insecure-" + GOOD_SECRET}, "starts with 'django-insecure-'"),
        ({"SECRET_KEY": "changeme-" + GOOD_SECRET}, "starts with 'changeme'"),
        ({"SECRET_KEY": "Change-Me-" + GOOD_SECRET}, "starts with 'change-me'"),
        ({"SECRET_KEY": "secret-" + GOOD_SECRET}, "starts with 'secret'"),
        ({"SECRET_KEY": "testing-only-secret-key-not-for-production"}, "is a placeholder"),
        ({"REDIS_URL": None}, "REDIS_URL is not set"),
    ],
    ids=lambda value: str(value)[:40],
)
def test_unsafe_settings_are_refused(production, changes, message):
    assert message in refusal(production, **changes)


def test_debug_from_the_environment_is_refused(production, monkeypatch):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    assert "DEBUG is on (unset FLASK_DEBUG)" in refusal(production)


def test_every_problem_is_named_in_one_line(production):
    message = refusal(production, SECRET_KEY="short", TRUSTED_HOSTS=None, DEBUG=True)
    for setting in ("SECRET_KEY", "TRUSTED_HOSTS", "DEBUG"):
        assert setting in message
    assert "secrets.token_urlsafe(32)" in message  # how to make a good key


@pytest.mark.parametrize("key", ["0123456789" * 4, "abcdefgh" * 5, NAME_KEY])
def test_a_guessable_key_is_refused_with_the_rule(production, key):
    message = refusal(production, SECRET_KEY=key)
    assert "SECRET_KEY is not random enough: about " in message
    assert "bits by estimate, under 128 (a repeat, a run such as abc or 123, a word or the " in (
        message
    )
    assert "secrets.token_urlsafe(32)" in message  # how to make a good key


def test_random_keys_pass(production):
    for _ in range(1000):
        assert secret_key_problems(secrets.token_urlsafe(32), Config.APP_NAME) == []
        assert secret_key_problems(secrets.token_hex(32), Config.APP_NAME) == []
    for _ in range(5):
        production(SECRET_KEY=secrets.token_urlsafe(32))
        production(SECRET_KEY=secrets.token_hex(32))
{%- if cookiecutter.auth == "yes" %}


def test_a_two_factor_key_that_is_set_must_be_as_strong_as_the_secret_key(production):
    message = refusal(production, MFA_ENCRYPTION_KEY="short")
    assert "MFA_ENCRYPTION_KEY is shorter than 32 characters" in message
    assert "secrets.token_urlsafe(32)" in message  # how to make a good key
    production(MFA_ENCRYPTION_KEY=secrets.token_urlsafe(32))
{%- endif %}


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("REDIS_URL", f"http://user:{PASSWORD}@redis.example/0"),
        ("REDIS_URL", f"redis://user:{PASSWORD}@redis.example:port/0"),
        ("REDIS_URL", f"redis://:{PASSWORD}@redis.example:99999/0"),
        ("REDIS_URL", f"redis://user:{PASSWORD}@redis.example/0?socket_timeout=soon"),
        ("REDIS_URL", f"redis://redis.example:port/0?password={PASSWORD}"),
        ("REDIS_URL", f"redis://app@redis.example:port/0?Password={ENCODED}"),
        ("REDIS_URL", f"rediss://redis.example:99999/0?username=app&pass={PASSWORD}"),
        ("REDIS_URL", f"unix:///run/redis.sock?db=first&pw={PASSWORD}"),
        ("REDIS_URL", f"redis://redis.example/0?socket_timeout=soon&token={PASSWORD}"),
        ("REDIS_URL", f"redis://:{ENCODED}@redis.example:port/0?secret={PASSWORD}"),
        ("REDIS_URL", f"http://redis.example/0?password={PASSWORD}"),
        ("REDIS_URL", f"redis+cluster://user:{PASSWORD}@node1:7000,node2:port"),
        ("REDIS_URL", f"redis+cluster://node1:7000,node2:7001?password={PASSWORD}"),
        ("REDIS_URL", f"redis+cluster://:{ENCODED}@node1:7000/0"),
        ("REDIS_SENTINELS", "sentinel.example"),
        ("REDIS_SENTINELS", f"redis://:{PASSWORD}@sentinel1:26379"),
        ("REDIS_SENTINELS", f"sentinel1:26379,user:{ENCODED}@sentinel2:26379"),
{%- if cookiecutter.auth == "yes" %}
        ("DATABASE_URL", f"postgresql://user:{PASSWORD}@db.example:port/app"),
        ("DATABASE_URL", f"nosuchdb://user:{PASSWORD}@db.example/app"),
        ("DATABASE_URL", f"user:{PASSWORD}@db.example/app"),
        ("DATABASE_URL", f"postgresql://app@db.example:port/app?password={PASSWORD}"),
        ("DATABASE_URL", f"postgres://app@db.example:port/app?PASSWORD={ENCODED}"),
        ("DATABASE_URL", f"postgresql://app@db.example:port/app?sslpassword={PASSWORD}"),
        ("DATABASE_URL", f"nosuchdb://app@db.example/app?password={PASSWORD}"),
{%- endif %}
    ],
)
def test_malformed_urls_are_named_with_the_password_hidden(production, name, url):
    changes = {name: url}
{%- if cookiecutter.auth == "yes" %}
    if name == "DATABASE_URL":
        changes["SQLALCHEMY_DATABASE_URI"] = None  # derived from DATABASE_URL again
{%- endif %}
    message = refusal(production, **changes)
    assert f"{name} (" in message
    assert "is malformed" in message
    for spelling in (PASSWORD, ENCODED, unquote(ENCODED)):
        assert spelling not in message


def run_wsgi(monkeypatch, **environment):
    """Import wsgi.py as gunicorn does, with these environment variables."""
    # load_dotenv writes to os.environ: give it a copy so nothing leaks into other tests.
    monkeypatch.setattr(os, "environ", os.environ.copy())
    monkeypatch.delenv("FLASK_CONFIG", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(PROJECT / "wsgi.py"))


def test_wsgi_entry_point_stops_with_one_line(monkeypatch, capsys, redis_url):
    """Exit status 3 is gunicorn's "worker failed to boot": the master stops, no respawn."""
    with pytest.raises(SystemExit) as stopped:
        run_wsgi(monkeypatch, REDIS_URL=f"http://user:{PASSWORD}@redis.example/0", FLASK_DEBUG="1")
    assert stopped.value.code == 3
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: Refusing to start in production: ")
    assert "REDIS_URL (http://user:***@redis.example/0) is malformed" in line
    assert "DEBUG is on" in line
    assert PASSWORD not in line
