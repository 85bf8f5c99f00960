"""The factory picks the right config and loads it from every documented place."""

from __future__ import annotations

import gc
import os
import runpy
import subprocess
import sys
import weakref
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import create_app
from {{ cookiecutter.package_name }}.exceptions import ConfigurationError

PROJECT = Path(__file__).resolve().parent.parent
GOOD_SECRET = "AGHvVZrv7xeEigkeHld9kNpzd3IL9GCYZ86ut2XLC-I"


def test_testing_config(app):
    assert app.testing
    assert app.config["CONFIG_NAME"] == "testing"


def test_config_name_from_environment(monkeypatch, redis_url):
    monkeypatch.setenv("FLASK_CONFIG", "development")
    app = create_app(overrides={"REDIS_URL": redis_url})
    assert app.debug
    assert app.config["CONFIG_NAME"] == "development"


def test_unknown_config_name_is_refused():
    with pytest.raises(ConfigurationError, match="Unknown configuration 'staging'"):
        create_app("staging")


def test_production_is_the_default(monkeypatch, redis_url):
    monkeypatch.delenv("FLASK_CONFIG", raising=False)
    monkeypatch.setenv("SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("TRUSTED_HOSTS", "example.com")
    app = create_app()
    assert app.config["CONFIG_NAME"] == "production"
    assert not app.debug
    assert app.config["SESSION_COOKIE_SECURE"]


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (None, "SECRET_KEY is not set"),
        ("change-me", "SECRET_KEY is a placeholder"),
        ("short", "shorter than 32 characters"),
    ],
)
def test_production_refuses_a_bad_secret_key(monkeypatch, redis_url, secret, message):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("FLASK_SECRET_KEY", raising=False)
    overrides = {"REDIS_URL": redis_url} | ({"SECRET_KEY": secret} if secret else {})
    with pytest.raises(ConfigurationError, match=message):
        create_app("production", overrides)


def test_production_refuses_to_start_without_redis(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("REDIS_SENTINELS", raising=False)
    with pytest.raises(ConfigurationError, match="REDIS_URL is not set"):
        create_app("production", {"SECRET_KEY": GOOD_SECRET})


def test_prefixed_environment_variables_override_the_class(monkeypatch, make_app):
    monkeypatch.setenv("FLASK_MAX_CONTENT_LENGTH", "1234")
    monkeypatch.setenv("FLASK_APP_NAME", '"Renamed"')
    app = make_app()
    assert app.config["MAX_CONTENT_LENGTH"] == 1234
    assert app.config["APP_NAME"] == "Renamed"


def test_instance_folder_config_is_loaded(monkeypatch, tmp_path, make_app):
    (tmp_path / "config.py").write_text('APP_NAME = "From the instance folder"\n')
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    app = make_app()
    assert app.instance_path == str(tmp_path)
    assert app.config["APP_NAME"] == "From the instance folder"
    assert "From the instance folder" in app.test_client().get("/").get_data(as_text=True)


def test_bad_redis_url_fails_at_start(make_app):
    with pytest.raises(ValueError, match="REDIS_URL must start with"):
        make_app(REDIS_URL="localhost:6379")


def dot_env_secret() -> str:
    for line in (PROJECT / ".env").read_text().splitlines():
        if line.startswith("SECRET_KEY="):
            return line.partition("=")[2]
    raise AssertionError("no SECRET_KEY in .env")


@pytest.mark.parametrize("from_environment", [False, True])
def test_wsgi_entry_point_reads_dot_env(monkeypatch, redis_url, from_environment):
    """gunicorn's wsgi:app takes settings from the project's .env; the environment wins."""
    # load_dotenv writes to os.environ: give it a copy so nothing leaks into other tests.
    monkeypatch.setattr(os, "environ", os.environ.copy())
    for name in ("SECRET_KEY", "FLASK_CONFIG", "INSTANCE_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REDIS_URL", redis_url)
    if from_environment:
        monkeypatch.setenv("SECRET_KEY", GOOD_SECRET)
    app = runpy.run_path(str(PROJECT / "wsgi.py"))["app"]
    gc.unfreeze()  # wsgi.py froze the test process's objects too
    assert app.config["CONFIG_NAME"] == "production"
    assert app.config["SECRET_KEY"] == (GOOD_SECRET if from_environment else dot_env_secret())


class Cycle:
    """An object that refers to itself: only the garbage collector frees it."""

    def __init__(self) -> None:
        self.itself = self


def test_wsgi_entry_point_spares_the_collector_the_app(monkeypatch, redis_url):
    """What wsgi:app built at start-up is left out of garbage collections from then on, and
    what was garbage by then is freed, not kept for good."""
    monkeypatch.setattr(os, "environ", os.environ.copy())
    monkeypatch.setenv("REDIS_URL", redis_url)
    gc.unfreeze()
    garbage = Cycle()
    gc.collect()  # now in the oldest generation, which only a full collection walks
    dead = weakref.ref(garbage)
    del garbage
    try:
        app = runpy.run_path(str(PROJECT / "wsgi.py"))["app"]
        assert dead() is None
        assert gc.get_freeze_count() > 10_000
        assert not any(tracked is app for tracked in gc.get_objects())  # the app among them
    finally:
        gc.unfreeze()


# What only some pages or commands use: migrations (flask db), the job queue (a page that
# mails), QR codes (turning two-factor on), error reports (SENTRY_DSN) and traces
# (OTEL_EXPORTER_OTLP_ENDPOINT; redis-py imports OpenTelemetry's metrics SDK by itself where
# it is installed, as here). A worker or a flask command that needs none of them must not
# import them at start-up, nor serving pages.
LOADED_WHEN_USED = ["alembic", "flask_migrate", "rq", "segno", "sentry_sdk"]
LOADED_WHEN_USED += ["opentelemetry.sdk.trace", "opentelemetry.instrumentation"]
LOADED_WHEN_USED += ["opentelemetry.exporter"]
BUILD_AND_SERVE = """
import sys
from {{ cookiecutter.package_name }} import create_app

app = create_app("production")
client = app.test_client()
assert client.get("/healthz", headers={"Host": "localhost"}).status_code == 200
assert client.get("/", headers={"Host": "localhost"}).status_code == 200
print(" ".join(sorted(sys.modules)))
"""


def test_start_up_imports_nothing_only_some_pages_or_commands_use(redis_url, tmp_path):
    """The app built as gunicorn builds it (production), in a fresh interpreter."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OTEL_", "FLASK_OTEL_", "SENTRY_", "FLASK_SENTRY_"))
    }
    env |= {
        "PYTHONPATH": str(PROJECT / "src"),
        "SECRET_KEY": GOOD_SECRET,
        "REDIS_URL": redis_url,
        "TRUSTED_HOSTS": "localhost",
        "MAIL_SERVER": "localhost",
        "INSTANCE_PATH": str(tmp_path),
    }
    built = subprocess.run(
        [sys.executable, "-c", BUILD_AND_SERVE], env=env, capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr[-3000:]
    loaded = set(built.stdout.split())
    assert "flask" in loaded
    early = {
        name
        for name in loaded
        for used in LOADED_WHEN_USED
        if name == used or name.startswith(used + ".")
    }
    assert not early, f"imported at start-up: {sorted(early)}"
