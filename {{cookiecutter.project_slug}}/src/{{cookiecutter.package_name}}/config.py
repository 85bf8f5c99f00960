"""Every setting, declared once with its default, and the order in which they are loaded.

Pick a class with ``create_app("production")`` or the ``FLASK_CONFIG`` environment
variable (development, production or testing); with neither, production is used, so a
server never starts in debug mode by accident. Any setting can be overridden from the
environment with a ``FLASK_`` prefix; the names in ``PLAIN_ENV_KEYS`` also without it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from datetime import timedelta
{%- if cookiecutter.auth == "yes" %}
from email.utils import formataddr
{%- endif %}
from typing import Any, ClassVar
from urllib.parse import unquote{% if cookiecutter.auth == "yes" %}, urlsplit{% endif %}

import click
from flask import Config as FlaskConfig
from flask import Flask


class Config:
    """Settings shared by every environment; values from the environment win."""

    APP_NAME = {{ cookiecutter.project_name|tojson }}
    CONFIG_NAME = "base"
    # Signs the session cookie and CSRF tokens; production refuses to start without one.
    SECRET_KEY: str | None = None
    # The host names this site answers to (Flask checks the Host header against them): any
    # other gets a 400, so no link or redirect is ever built with an attacker's host name.
    # A leading dot trusts subdomains (".example.com"). None trusts every host, which only
    # development and testing do; production refuses to start without a list.
    TRUSTED_HOSTS: ClassVar[list[str] | None] = None
    # Requests of these methods without a valid CSRF token are refused (core.csrf); production
    # refuses to turn this off. The token comes in the form field or one of the headers.
    WTF_CSRF_ENABLED = True
    WTF_CSRF_METHODS: ClassVar[list[str]] = ["POST", "PUT", "PATCH", "DELETE"]
    WTF_CSRF_HEADERS: ClassVar[list[str]] = ["X-CSRFToken", "X-CSRF-Token"]
    # Seconds a form's token stays valid.
    WTF_CSRF_TIME_LIMIT = 3600
    # Over HTTPS, an unsafe request must also name a page of this site as its Referer.
    WTF_CSRF_SSL_STRICT = True

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
    # After this many unreachable-Redis errors in a row, requests that need Redis get the 503
    # at once for REDIS_BREAKER_RESET_SECONDS (also the Retry-After), then one probes.
    REDIS_BREAKER_FAILURES = 2
    REDIS_BREAKER_RESET_SECONDS = 5

    # With SESSION_COOKIE_SECURE, derive() adds the __Host- prefix to both cookie names.
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
    # Sessions nobody logged in to (a flash message, a cart) are dropped sooner.
    SESSION_ANONYMOUS_LIFETIME = timedelta(hours=1)
    # A login lasts at most this long, however active the session (ASVS 3.3.2).
    SESSION_ABSOLUTE_LIFETIME = timedelta(days=7)
    # A session that would grow past this is refused (413) and not stored.
    SESSION_MAX_BYTES = 4096
    # The CSRF secret lives in this signed cookie, not in Redis: a visitor who only looks at
    # a form costs no server state. Forms send the token in the field WTF_CSRF_FIELD_NAME.
    CSRF_COOKIE_NAME = "{{ cookiecutter.package_name }}_csrf"
    WTF_CSRF_FIELD_NAME = "csrf_token"

    # None: Flask re-reads changed templates while DEBUG is on, and only then.
    TEMPLATES_AUTO_RELOAD: bool | None = None

    # Bigger request bodies get a 413 before any view runs.
    MAX_CONTENT_LENGTH = 2 * 1024 * 1024
    UPLOAD_FOLDER: str | None = None  # derived: <instance folder>/uploads
    UPLOAD_EXTENSIONS = frozenset({"txt", "md", "pdf", "png", "jpg", "jpeg", "gif"})
    # Each user's quota: files and bytes kept in their own folder under UPLOAD_FOLDER.
    UPLOAD_MAX_FILES = 20
    UPLOAD_MAX_BYTES = 20 * 1024 * 1024
    # Longer original file names are refused with a 400 rather than cut short.
    UPLOAD_MAX_NAME_LENGTH = 100
    # Upload POSTs per user (per client address for visitors), in the limits library's syntax.
    UPLOAD_RATE_LIMIT = "10 per minute"

    # Throttle keys start with this, so apps sharing a Redis do not share counters.
    RATELIMIT_KEY_PREFIX = "{{ cookiecutter.package_name }}"
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
    # Per client address, on login, register and every password form.
    LOGIN_RATE_LIMIT = "10 per minute"
    # Failed logins on one account (from any address) before the addresses that failed on
    # it are refused; an address with no failure still gets its try, so the owner is never
    # locked out by someone else's guesses.
    ACCOUNT_FAILURE_LIMIT = "10 per 15 minutes"
    # Mails the account forms may send to one address (register, resend, forgot password).
    EMAIL_RATE_LIMIT = "5 per hour"
    # werkzeug's hashing method ("scrypt", "pbkdf2:sha256:600000"); a stored hash made
    # another way is redone at the owner's next login.
    PASSWORD_HASH_METHOD = "scrypt"  # noqa: S105 - a method name, not a password
    VERIFY_LINK_MAX_AGE = timedelta(hours=48)
    RESET_LINK_MAX_AGE = timedelta(hours=1)
    # "Last seen" on the sessions page is written at most this often per session.
    SESSION_SEEN_INTERVAL = timedelta(minutes=5)
    # Links in mails start with this ("https://example.com"), never with the request's
    # Host header. Derived from the first exact TRUSTED_HOSTS entry + PREFERRED_URL_SCHEME.
    APP_BASE_URL: str | None = None
    # Outgoing mail (SMTP). Unset MAIL_SERVER prints each mail to the log instead (not in
    # production, which refuses to start without it).
    MAIL_SERVER: str | None = None
    MAIL_PORT = 587
    MAIL_USE_TLS = True  # STARTTLS after connecting
    MAIL_USE_SSL = False  # TLS from the first byte (usually port 465)
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    MAIL_DEFAULT_SENDER: str | None = None  # derived: APP_NAME <no-reply@host of APP_BASE_URL>
    # A stuck mail server must not hold a worker for long.
    MAIL_TIMEOUT = 10
{%- endif %}


class DevelopmentConfig(Config):
    """Local work: debug on; `make run` starts a throwaway Redis and sets REDIS_URL."""

    CONFIG_NAME = "development"
    DEBUG = True
    # A plain `flask --debug run` expects a Redis here.
    REDIS_URL: str | None = "redis://127.0.0.1:6379/0"
    # What a browser on this machine sends. werkzeug cannot match IPv6 literals such as
    # [::1] (it cuts trusted names at the first colon), so use localhost for IPv6.
    TRUSTED_HOSTS: ClassVar[list[str] | None] = ["localhost", "127.0.0.1"]
{%- if cookiecutter.auth == "yes" %}
    # Where `flask --debug run` serves; mails are printed to the console while MAIL_SERVER is unset.
    APP_BASE_URL: str | None = "http://127.0.0.1:5000"
{%- endif %}


class TestingConfig(Config):
    """The test suite: a fixed key, Redis from the test fixture."""

    CONFIG_NAME = "testing"
    TESTING = True
    SECRET_KEY = "testing-only-secret-key-not-for-production"  # noqa: S105
    # The test client's Host header.
    TRUSTED_HOSTS: ClassVar[list[str] | None] = ["localhost"]


class ProductionConfig(Config):
    """Behind gunicorn: secure cookies, JSON logs, required secrets."""

    CONFIG_NAME = "production"
    SESSION_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"
    HSTS_SECONDS = 31536000
    LOG_FORMAT = "json"
    # Never check template files for changes, even if DEBUG is switched on by mistake:
    # the check costs a stat() per template per render (9% of the home page's time).
    TEMPLATES_AUTO_RELOAD = False


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}

# Twelve-factor names read as they are, without the FLASK_ prefix. TRUSTED_HOSTS is
# comma-separated ("example.com,www.example.com"); FLASK_TRUSTED_HOSTS takes a JSON list.
PLAIN_ENV_KEYS: tuple[str, ...] = (
    "SECRET_KEY",
    "REDIS_URL",
    "REDIS_SENTINELS",
    "REDIS_SENTINEL_SERVICE",
    "DATABASE_URL",
    "TRUSTED_HOSTS",
    "PROXY_FIX",
)
{%- if cookiecutter.auth == "yes" %}
# As SMTP providers' docs spell them; derive() turns MAIL_PORT and the flags into int/bool.
PLAIN_ENV_KEYS += (
    "APP_BASE_URL",
    "MAIL_SERVER",
    "MAIL_PORT",
    "MAIL_USE_TLS",
    "MAIL_USE_SSL",
    "MAIL_USERNAME",
    "MAIL_PASSWORD",
    "MAIL_DEFAULT_SENDER",
)
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}
{%- endif %}

# How examples and docs begin their keys; a production key begins with none of them.
PLACEHOLDER_PREFIXES = (
    "change-me",
    "change_me",
    "changeme",
    "django-insecure-",
    "secret",
    "insecure",
    "replace-me",
    "your-secret",
    "placeholder",
    "development",
    "testing-only",
)
MIN_SECRET_LENGTH = 32
# secrets.token_urlsafe(32) gives about 30 different characters; 8 is plainly not random.
MIN_SECRET_DISTINCT_CHARACTERS = 8
# A host name as Flask compares it (IDNA-encoded), optionally with a leading dot or a port.
HOST_NAME = re.compile(r"\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?(:[0-9]{1,5})?")
# "scheme://user:password@": up to the last "@", so a password with "@" or "/" in it
# is hidden whole (when unsure, more is hidden, never less).
USERINFO = re.compile(r"^(?P<head>(?:[A-Za-z][A-Za-z0-9+.-]*://)?[^:/@]*):(?P<password>.*)@")
NEW_KEY_COMMAND = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
HOST_PREFIX = "__Host-"


class ConfigurationError(click.ClickException):
    """The app cannot start with this configuration.

    A ClickException, so a ``flask`` command prints it as one line ("Error: ...") and exits
    1, as gunicorn.conf.py and wsgi.py do for the server.
    """


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
    if isinstance(config["TRUSTED_HOSTS"], str):
        config["TRUSTED_HOSTS"] = parse_hosts(config["TRUSTED_HOSTS"])
    config["PROXY_FIX"] = parse_proxy_fix(config["PROXY_FIX"])
{%- if cookiecutter.auth == "yes" %}
    if not config["SQLALCHEMY_DATABASE_URI"]:
        config["SQLALCHEMY_DATABASE_URI"] = database_uri(config["DATABASE_URL"]) or (
            "sqlite:///" + os.path.join(instance_path, "app.db")
        )
    derive_mail(config)
{%- endif %}
    for key in ("SESSION_ANONYMOUS_LIFETIME", "SESSION_ABSOLUTE_LIFETIME"):
        if not isinstance(config[key], timedelta):  # seconds, from the environment
            config[key] = timedelta(seconds=int(config[key]))
    if host_prefix_allowed(config):
        for key in ("SESSION_COOKIE_NAME", "CSRF_COOKIE_NAME"):
            if not config[key].startswith(HOST_PREFIX):
                config[key] = HOST_PREFIX + config[key]


def host_prefix_allowed(config: Mapping[str, Any]) -> bool:
    """True when the cookies can be ``__Host-``: Secure, Path=/ and no Domain.

    Browsers then refuse the cookie from any other host (a sibling subdomain cannot plant
    or overwrite it) or over plain HTTP, so development on http://localhost is left alone.
    """
    return bool(
        config["SESSION_COOKIE_SECURE"]
        and not config["SESSION_COOKIE_DOMAIN"]
        and config["SESSION_COOKIE_PATH"] in (None, "/")
        and config["APPLICATION_ROOT"] == "/"
    )


{%- if cookiecutter.auth == "yes" %}


def database_uri(url: str | None) -> str | None:
    """DATABASE_URL for SQLAlchemy: plain postgresql:// and postgres:// run on psycopg 3."""
    if not url:
        return None
    scheme, separator, rest = url.partition("://")
    if separator and scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg://{rest}"
    return url


def as_bool(key: str, value: Any) -> bool:
    """A flag from the environment ("true", "0", "off", ...) or from Python."""
    if isinstance(value, bool | int):
        return bool(value)
    word = str(value).strip().lower()
    if word not in TRUE_WORDS | FALSE_WORDS:
        raise ConfigurationError(f"{key}={value!r} is not a yes/no value (use true or false).")
    return word in TRUE_WORDS


def as_int(key: str, value: Any) -> int:
    """A number from the environment or from Python."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{key}={value!r} is not a whole number.") from None


def derive_mail(config: FlaskConfig) -> None:
    """Typed mail settings, the public base URL of links, and a default sender."""
    config["MAIL_PORT"] = as_int("MAIL_PORT", config["MAIL_PORT"])
    config["MAIL_TIMEOUT"] = as_int("MAIL_TIMEOUT", config["MAIL_TIMEOUT"])
    for key in ("MAIL_USE_TLS", "MAIL_USE_SSL"):
        config[key] = as_bool(key, config[key])
    for key in ("VERIFY_LINK_MAX_AGE", "RESET_LINK_MAX_AGE", "SESSION_SEEN_INTERVAL"):
        if not isinstance(config[key], timedelta):
            config[key] = timedelta(seconds=as_int(key, config[key]))
    if not config["APP_BASE_URL"]:
        # ".example.com" in TRUSTED_HOSTS allows subdomains; it names no host to link to.
        exact = [host for host in config["TRUSTED_HOSTS"] or [] if not host.startswith(".")]
        if exact:
            config["APP_BASE_URL"] = f"{config['PREFERRED_URL_SCHEME']}://{exact[0]}"
    if config["APP_BASE_URL"]:
        config["APP_BASE_URL"] = config["APP_BASE_URL"].rstrip("/")
    if not config["MAIL_DEFAULT_SENDER"]:
        host = urlsplit(config["APP_BASE_URL"] or "").hostname or "localhost"
        config["MAIL_DEFAULT_SENDER"] = formataddr((config["APP_NAME"], f"no-reply@{host}"))
{%- endif %}


def parse_hosts(value: str) -> list[str]:
    """``"example.com, www.example.com"`` -> ["example.com", "www.example.com"]."""
    return [host.strip() for host in value.split(",") if host.strip()]


def parse_proxy_fix(value: object) -> dict[str, int]:
    """``{"x_for": 1, "x_proto": 1}`` (JSON in the environment), or ``1`` for one proxy."""
    problem = (
        f"PROXY_FIX ({value!r}) is malformed: give a JSON object of hop counts such as "
        '{"x_for": 1, "x_proto": 1}, or one number of proxies'
    )
    parsed = value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            raise ConfigurationError(problem) from None
    if isinstance(parsed, int) and not isinstance(parsed, bool):
        parsed = {"x_for": parsed, "x_proto": parsed}
    if not (
        isinstance(parsed, dict)
        and set(parsed) <= set(Config.PROXY_FIX)
        and all(type(count) is int and count >= 0 for count in parsed.values())
    ):
        raise ConfigurationError(problem)
    return parsed


def redact(url: str) -> str:
    """The URL with its password replaced by ***, for error messages and logs."""
    return USERINFO.sub(r"\g<head>:***@", url, count=1)


def password_of(url: str) -> str:
    """The password in the URL, or an empty string."""
    match = USERINFO.match(url)
    return match["password"] if match else ""


def url_problem(name: str, url: str, error: BaseException, verdict: str = "is malformed") -> str:
    """One sentence naming the setting and the reason, with no password in it."""
    reason = " ".join(str(error).split()) or type(error).__name__
    password = password_of(url)
    for spelling in {password, unquote(password)} - {""}:
        reason = reason.replace(spelling, "***")
    return f"{name} ({redact(url)}) {verdict}: {reason}"


def secret_key_problems(secret: str) -> list[str]:
    """Why the key is unsafe for production, if it is."""
    if not secret:
        return ["SECRET_KEY is not set"]
    lowered = secret.lower()
    prefix = next((prefix for prefix in PLACEHOLDER_PREFIXES if lowered.startswith(prefix)), None)
    if prefix:
        return [f"SECRET_KEY is a placeholder (it starts with {prefix!r})"]
    if len(secret) < MIN_SECRET_LENGTH:
        return [f"SECRET_KEY is shorter than {MIN_SECRET_LENGTH} characters"]
    if len(set(secret)) < MIN_SECRET_DISTINCT_CHARACTERS:
        return ["SECRET_KEY is not random (too few different characters)"]
    return []


def trusted_hosts_problems(hosts: Any) -> list[str]:
    """Why TRUSTED_HOSTS cannot protect production, if it cannot."""
    if hosts is None:
        return ["TRUSTED_HOSTS is not set (the host names of the site, e.g. example.com)"]
    if not isinstance(hosts, list | tuple) or not all(isinstance(host, str) for host in hosts):
        return ["TRUSTED_HOSTS must be a list of host names"]
    if not hosts:
        return ["TRUSTED_HOSTS is empty"]
    return [
        f"TRUSTED_HOSTS entry {host!r} is not a host name"
        for host in hosts
        if not HOST_NAME.fullmatch(host)
    ]


def connection_problems(config: Mapping[str, Any]) -> list[str]:
    """Connection URLs that cannot be used as written (building a client connects nowhere)."""
    from .core.redis_client import check_settings

    problems = []
    name = "REDIS_SENTINELS" if config.get("REDIS_SENTINELS") else "REDIS_URL"
    if config.get(name):
        try:
            check_settings(config)
        except (ValueError, TypeError) as exc:
            problems.append(url_problem(name, config[name], exc))
{%- if cookiecutter.auth == "yes" %}
    database_url = config.get("SQLALCHEMY_DATABASE_URI") or ""
    if database_url:
        import sqlalchemy
        from sqlalchemy.exc import SQLAlchemyError

        setting = "DATABASE_URL" if config.get("DATABASE_URL") else "SQLALCHEMY_DATABASE_URI"
        try:
            sqlalchemy.create_engine(database_url).dispose()
        except (SQLAlchemyError, ImportError, ValueError, TypeError) as exc:
            problems.append(url_problem(setting, database_url, exc))
{%- endif %}
    return problems


def production_problems(config: Mapping[str, Any]) -> list[str]:
    """What is missing or unsafe for production, as sentences naming each setting."""
    problems = secret_key_problems(config.get("SECRET_KEY") or "")
    if not (config.get("REDIS_URL") or config.get("REDIS_SENTINELS")):
        problems.append("REDIS_URL is not set")
    problems += connection_problems(config)
    problems += trusted_hosts_problems(config.get("TRUSTED_HOSTS"))
    if config.get("DEBUG"):
        problems.append("DEBUG is on (unset FLASK_DEBUG): the debugger runs code for anyone")
    if not config.get("SESSION_COOKIE_SECURE"):
        problems.append("SESSION_COOKIE_SECURE is off: session cookies would cross plain HTTP")
    if not config.get("WTF_CSRF_ENABLED"):
        problems.append("WTF_CSRF_ENABLED is off: forms would accept cross-site posts")
{%- if cookiecutter.auth == "yes" %}
    if not config.get("MAIL_SERVER"):
        problems.append("MAIL_SERVER is not set (accounts send mail)")
    if config.get("TRUSTED_HOSTS") and not config.get("APP_BASE_URL"):
        problems.append("APP_BASE_URL is not set and TRUSTED_HOSTS names no exact host")
{%- endif %}
    return problems


def check_production(config: Mapping[str, Any]) -> None:
    """Refuse to start production with missing or unsafe settings, in one line."""
    problems = production_problems(config)
    if problems:
        advice = " (see .env.example)"
        if any(problem.startswith("SECRET_KEY") for problem in problems):
            advice += f"; make a key with {NEW_KEY_COMMAND}"
        raise ConfigurationError(
            "Refusing to start in production: " + "; ".join(problems) + f". Fix them{advice}."
        )
