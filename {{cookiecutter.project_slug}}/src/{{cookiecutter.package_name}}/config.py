"""Configuration classes, and the order in which the factory loads them.

Pick a class with ``create_app("production")`` or the ``FLASK_CONFIG`` environment
variable (development, production or testing); with neither, production is used, so a
server never starts in debug mode by accident.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar

from flask import Flask


class Config:
    """Settings shared by every environment; values from the environment win."""

    APP_NAME = {{ cookiecutter.project_name|tojson }}
    SECRET_KEY: str | None = None
    REDIS_URL: str | None = None
    # Set both to use Sentinel instead: "host1:26379,host2:26379" and the service name.
    REDIS_SENTINELS: str | None = None
    REDIS_SENTINEL_SERVICE: str = "mymaster"
    # A hung Redis must not hold a worker for long: fail fast, then 503.
    REDIS_SOCKET_TIMEOUT = 0.5
    REDIS_CONNECT_TIMEOUT = 0.5
    REDIS_RETRIES = 1

    SESSION_COOKIE_NAME = "{{ cookiecutter.package_name }}_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    SESSION_KEY_PREFIX = "{{ cookiecutter.package_name }}:session:"
    # Also the Redis TTL of every session key: keep it to hours, not Flask's 31 days.
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    # Our session interface slides the TTL itself, only once half the lifetime is used.
    SESSION_REFRESH_EACH_REQUEST = False

    MAX_CONTENT_LENGTH = 2 * 1024 * 1024
    UPLOAD_FOLDER: str | None = None  # default: <instance folder>/uploads
    UPLOAD_EXTENSIONS = frozenset({"txt", "md", "pdf", "png", "jpg", "jpeg", "gif"})

    RATELIMIT_HEADERS_ENABLED = True
    # Throttle keys start with this, so apps sharing a Redis do not share counters.
    RATELIMIT_NAMESPACE = "{{ cookiecutter.package_name }}"
    # Outermost first: each entry wraps everything listed after it.
    WSGI_MIDDLEWARE: ClassVar[list[str]] = [
        "{{ cookiecutter.package_name }}.middleware.RequestID",
        "{{ cookiecutter.package_name }}.middleware.SecurityHeaders",
        "{{ cookiecutter.package_name }}.middleware.TrustedProxies",
    ]
    # Proxies in front of the app, per header; all 0 = trust no X-Forwarded-* header.
    PROXY_FIX: ClassVar[dict[str, int]] = {
        "x_for": 0,
        "x_proto": 0,
        "x_host": 0,
        "x_port": 0,
        "x_prefix": 0,
    }
    HSTS_SECONDS = 0
    LOG_FORMAT = "text"
{%- if cookiecutter.auth == "yes" %}

    SQLALCHEMY_DATABASE_URI: str | None = None  # default: SQLite in the instance folder
    # Per client address and per username, on the login and register forms.
    LOGIN_RATE_LIMIT = "10 per minute"
{%- endif %}


class DevelopmentConfig(Config):
    """Local work: debug on; Redis started for you when REDIS_URL is unset."""

    DEBUG = True
    START_LOCAL_REDIS = True


class TestingConfig(Config):
    """The test suite: a fixed key, Redis from the test fixture."""

    TESTING = True
    SECRET_KEY = "testing-only-secret-key-not-for-production"  # noqa: S105


class ProductionConfig(Config):
    """Behind gunicorn: secure cookies, JSON logs, required secrets."""

    SESSION_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"
    HSTS_SECONDS = 31536000
    LOG_FORMAT = "json"


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}

# Twelve-factor names read as they are, without the FLASK_ prefix.
PLAIN_ENV_KEYS = ("SECRET_KEY", "REDIS_URL", "REDIS_SENTINELS", "DATABASE_URL")

# Values seen in examples and docs; a production key must be none of them.
PLACEHOLDER_SECRETS = {"change-me", "changeme", "dev", "secret", "development", "your-secret-key"}
MIN_SECRET_LENGTH = 24


class ConfigurationError(RuntimeError):
    """The app cannot start with this configuration."""


def config_name_from_env(name: str | None) -> str:
    """The config class to use: the argument, else FLASK_CONFIG, else production."""
    chosen = (name or os.environ.get("FLASK_CONFIG") or "production").lower()
    if chosen not in CONFIGS:
        raise ConfigurationError(
            f"Unknown configuration {chosen!r}: use one of {', '.join(sorted(CONFIGS))}."
        )
    return chosen


def load_config(app: Flask, name: str, overrides: Mapping[str, Any] | None = None) -> None:
    """Load settings in order: class, instance/config.py, environment, then overrides."""
    app.config.from_object(CONFIGS[name])
    app.config["CONFIG_NAME"] = name
    app.config.from_pyfile("config.py", silent=True)
    for key in PLAIN_ENV_KEYS:
        if os.environ.get(key):
            app.config[key] = os.environ[key]
    app.config.from_prefixed_env()
    app.config.update(overrides or {})
    app.config.setdefault("UPLOAD_FOLDER", None)
    if not app.config["UPLOAD_FOLDER"]:
        app.config["UPLOAD_FOLDER"] = os.path.join(app.instance_path, "uploads")
{%- if cookiecutter.auth == "yes" %}
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = app.config.get("DATABASE_URL") or (
            "sqlite:///" + os.path.join(app.instance_path, "app.db")
        )
{%- endif %}
    if name == "production":
        check_production(app.config)


def production_problems(config: Mapping[str, Any]) -> list[str]:
    """What is missing or unsafe for production, as sentences."""
    problems = []
    secret = config.get("SECRET_KEY") or ""
    if not secret:
        problems.append("SECRET_KEY is not set")
    elif secret.lower() in PLACEHOLDER_SECRETS or len(secret) < MIN_SECRET_LENGTH:
        problems.append(
            f"SECRET_KEY is a placeholder or shorter than {MIN_SECRET_LENGTH} characters"
        )
    if not (config.get("REDIS_URL") or config.get("REDIS_SENTINELS")):
        problems.append("REDIS_URL is not set")
    return problems


def check_production(config: Mapping[str, Any]) -> None:
    """Refuse to start production with missing or unsafe settings."""
    problems = production_problems(config)
    if problems:
        raise ConfigurationError(
            "Refusing to start in production: "
            + "; ".join(problems)
            + ". Set them in the environment (see .env.example)."
        )
