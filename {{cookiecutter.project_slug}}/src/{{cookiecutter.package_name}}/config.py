"""Every setting, declared once with its default, and the order in which they are loaded.

Pick a class with ``create_app("production")`` or the ``FLASK_CONFIG`` environment
variable (development, production or testing); with neither, production is used, so a
server never starts in debug mode by accident. Any setting can be overridden from the
environment with a ``FLASK_`` prefix; the names in ``PLAIN_ENV_KEYS`` also without it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar

from flask import Config as FlaskConfig
from flask import Flask


class Config:
    """Settings shared by every environment; values from the environment win."""

    APP_NAME = {{ cookiecutter.project_name|tojson }}
    CONFIG_NAME = "base"
    # Signs the session cookie and CSRF tokens; production refuses to start without one.
    SECRET_KEY: str | None = None

    # Redis holds the sessions and the rate-limit counters. One of REDIS_URL (redis://,
    # rediss://, unix://, or a cluster: redis+cluster://host:port,host:port) or
    # REDIS_SENTINELS ("host1:26379,host2:26379") is required.
    REDIS_URL: str | None = None
    REDIS_SENTINELS: str | None = None
    REDIS_SENTINEL_SERVICE = "mymaster"
    # A hung Redis must not hold a worker for long: fail fast, then 503.
    REDIS_SOCKET_TIMEOUT = 0.5
    REDIS_CONNECT_TIMEOUT = 0.5
    REDIS_RETRIES = 1

    SESSION_COOKIE_NAME = "{{ cookiecutter.package_name }}_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    # Apps sharing a Redis keep their sessions apart by this prefix.
    SESSION_KEY_PREFIX = "{{ cookiecutter.package_name }}:session:"
    # Session ids carry this many random bytes (32 bytes = 43 URL-safe characters).
    SESSION_ID_LENGTH = 32
    SESSION_PERMANENT = True
    # Also the Redis TTL of every session key: keep it to hours, not Flask's 31 days.
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    # Our session interface slides the TTL itself, only once half the lifetime is used.
    SESSION_REFRESH_EACH_REQUEST = False

    # Bigger request bodies get a 413 before any view runs.
    MAX_CONTENT_LENGTH = 2 * 1024 * 1024
    UPLOAD_FOLDER: str | None = None  # derived: <instance folder>/uploads
    UPLOAD_EXTENSIONS = frozenset({"txt", "md", "pdf", "png", "jpg", "jpeg", "gif"})

    RATELIMIT_HEADERS_ENABLED = True
    # Throttle keys start with this, so apps sharing a Redis do not share counters.
    RATELIMIT_KEY_PREFIX = "{{ cookiecutter.package_name }}"
    # Derived from REDIS_URL / REDIS_SENTINELS unless set: the limiter's own connection.
    RATELIMIT_STORAGE_URI: str | None = None
    RATELIMIT_STORAGE_OPTIONS: ClassVar[dict[str, Any]] = {}
    # Outermost first: each entry wraps everything listed after it.
    WSGI_MIDDLEWARE: ClassVar[list[str]] = [
        "{{ cookiecutter.package_name }}.core.middleware.RequestID",
        "{{ cookiecutter.package_name }}.core.middleware.SecurityHeaders",
        "{{ cookiecutter.package_name }}.core.middleware.TrustedProxies",
    ]
    # Proxies in front of the app, per header; all 0 = trust no X-Forwarded-* header.
    PROXY_FIX: ClassVar[dict[str, int]] = {
        "x_for": 0,
        "x_proto": 0,
        "x_host": 0,
        "x_port": 0,
        "x_prefix": 0,
    }
    # Strict-Transport-Security max-age; 0 sends none (it pins browsers to HTTPS).
    HSTS_SECONDS = 0
    LOG_FORMAT = "text"
{%- if cookiecutter.auth == "yes" %}

    # The user database: SQLite in the instance folder unless DATABASE_URL is set; production
    # wants PostgreSQL (postgresql://user:password@host:5432/name, run through psycopg 3).
    DATABASE_URL: str | None = None
    SQLALCHEMY_DATABASE_URI: str | None = None  # derived from DATABASE_URL
    # gunicorn's master applies the migrations before it starts workers. With several app
    # instances, run `flask db upgrade` once before them and set this false on each.
    MIGRATE_ON_START = True
    # Per client address and per username, on the login and register forms.
    LOGIN_RATE_LIMIT = "10 per minute"
{%- endif %}


class DevelopmentConfig(Config):
    """Local work: debug on; `make run` starts a throwaway Redis and sets REDIS_URL."""

    CONFIG_NAME = "development"
    DEBUG = True
    # A plain `flask run` expects a Redis here.
    REDIS_URL: str | None = "redis://127.0.0.1:6379/0"


class TestingConfig(Config):
    """The test suite: a fixed key, Redis from the test fixture."""

    CONFIG_NAME = "testing"
    TESTING = True
    SECRET_KEY = "testing-only-secret-key-not-for-production"  # noqa: S105


class ProductionConfig(Config):
    """Behind gunicorn: secure cookies, JSON logs, required secrets."""

    CONFIG_NAME = "production"
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
PLAIN_ENV_KEYS = (
    "SECRET_KEY",
    "REDIS_URL",
    "REDIS_SENTINELS",
    "REDIS_SENTINEL_SERVICE",
    "DATABASE_URL",
)

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
    """Load settings in order: class, instance/config.py, environment, overrides; derive."""
    app.config.from_object(CONFIGS[name])
    app.config.from_pyfile("config.py", silent=True)
    for key in PLAIN_ENV_KEYS:
        if os.environ.get(key):
            app.config[key] = os.environ[key]
    app.config.from_prefixed_env()
    app.config.update(overrides or {})
    derive(app.config, app.instance_path)
    if name == "production":
        check_production(app.config)


def derive(config: FlaskConfig, instance_path: str) -> None:
    """Fill in the settings computed from others; the only writes after loading."""
    if not config["UPLOAD_FOLDER"]:
        config["UPLOAD_FOLDER"] = os.path.join(instance_path, "uploads")
{%- if cookiecutter.auth == "yes" %}
    if not config["SQLALCHEMY_DATABASE_URI"]:
        config["SQLALCHEMY_DATABASE_URI"] = database_uri(config["DATABASE_URL"]) or (
            "sqlite:///" + os.path.join(instance_path, "app.db")
        )
{%- endif %}
    if not config["RATELIMIT_STORAGE_URI"]:
        config["RATELIMIT_STORAGE_URI"] = limiter_storage_uri(config)
        config["RATELIMIT_STORAGE_OPTIONS"] = {
            "socket_timeout": config["REDIS_SOCKET_TIMEOUT"],
            "socket_connect_timeout": config["REDIS_CONNECT_TIMEOUT"],
        }


{%- if cookiecutter.auth == "yes" %}


def database_uri(url: str | None) -> str | None:
    """DATABASE_URL for SQLAlchemy: plain postgresql:// and postgres:// run on psycopg 3."""
    if not url:
        return None
    scheme, separator, rest = url.partition("://")
    if separator and scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg://{rest}"
    return url
{%- endif %}


def limiter_storage_uri(config: Mapping[str, Any]) -> str:
    """The same Redis as the sessions, in the URL spelling of the ``limits`` library."""
    if config["REDIS_SENTINELS"]:
        nodes = config["REDIS_SENTINELS"].replace(" ", "")
        return f"redis+sentinel://{nodes}/{config['REDIS_SENTINEL_SERVICE']}"
    url: str = config["REDIS_URL"] or "redis://"
    if url.startswith("unix://"):
        return "redis+" + url
    if url.startswith("redis+cluster://"):
        # limits' own cluster storage connects as it is built; core.limiter's waits for use.
        return "lazy+" + url
    return url


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
