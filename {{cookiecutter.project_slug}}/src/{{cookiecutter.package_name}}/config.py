"""Every setting, declared once with its default, and the order in which they are loaded.

Pick a class with ``create_app("production")`` or the ``FLASK_CONFIG`` environment
variable (development, production or testing); with neither, production is used, so a
server never starts in debug mode by accident. Any setting can be overridden from the
environment with a ``FLASK_`` prefix; the names in ``PLAIN_ENV_KEYS`` also without it.
Settings computed from others are filled in by ``derive.py``; what production refuses
to start with is in ``checks.py``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar

from flask import Flask

from .checks import check_production
from .derive import PROXY_FIX_HEADERS, derive
from .exceptions import ConfigurationError


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
    # New sessions one client address (an IPv6 /64) may start, in the limits library's
    # syntax: past it, a request that would store one gets a 429 and stores nothing, so a
    # cookieless flood cannot fill Redis. Logins are not counted (their forms have limits).
    SESSION_CREATION_LIMIT = "60 per minute"
    # The CSRF secret lives in this signed cookie, not in Redis: a visitor who only looks at
    # a form costs no server state. Forms send the token in the field WTF_CSRF_FIELD_NAME.
    CSRF_COOKIE_NAME = "{{ cookiecutter.package_name }}_csrf"
    WTF_CSRF_FIELD_NAME = "csrf_token"

    # None: Flask re-reads changed templates while DEBUG is on, and only then.
    TEMPLATES_AUTO_RELOAD: bool | None = None

    # Bigger request bodies get a 413 before any view runs.
    MAX_CONTENT_LENGTH = 2 * 1024 * 1024
{%- if cookiecutter.examples == "yes" %}
    # The tour's upload page.
    UPLOAD_EXTENSIONS = frozenset({"txt", "md", "pdf", "png", "jpg", "jpeg", "gif"})
    # Longer original file names are refused with a 400 rather than cut short.
    UPLOAD_MAX_NAME_LENGTH = 100
    # Upload POSTs per {% if cookiecutter.auth == "yes" %}user (per client address for visitors){% else %}client address{% endif %}, in the limits library's syntax.
    UPLOAD_RATE_LIMIT = "10 per minute"
{%- if cookiecutter.auth == "yes" %}
    UPLOAD_FOLDER: str | None = None  # derived: <instance folder>/uploads
    # Each user's quota: files and bytes kept in their own folder under UPLOAD_FOLDER.
    UPLOAD_MAX_FILES = 20
    UPLOAD_MAX_BYTES = 20 * 1024 * 1024
{%- endif %}
{%- endif %}

    # Throttle keys start with this, so apps sharing a Redis do not share counters.
    RATELIMIT_KEY_PREFIX = "{{ cookiecutter.package_name }}"
    # Outermost first: each entry wraps everything listed after it.
    WSGI_MIDDLEWARE: ClassVar[list[str]] = [
        "{{ cookiecutter.package_name }}.core.middleware.RequestID",
        "{{ cookiecutter.package_name }}.core.middleware.SecurityHeaders",
        "{{ cookiecutter.package_name }}.core.middleware.TrustedProxies",
        # Below TrustedProxies: METRICS_ALLOW is checked against the client's address.
        "{{ cookiecutter.package_name }}.core.middleware.Metrics",
    ]
    # Who may read /metrics: addresses or networks ("10.0.0.0/8,192.0.2.7"; FLASK_METRICS_ALLOW
    # takes a JSON list). Behind a proxy, the client's address as PROXY_FIX determines it.
    # Anyone else gets the 404 of any unknown page.
    METRICS_ALLOW: ClassVar[list[str]] = ["127.0.0.0/8", "::1"]
    # Proxies in front of the app, per header (x_for, x_proto, x_host, x_port, x_prefix);
    # all 0 = trust no X-Forwarded-* header.
    PROXY_FIX: ClassVar[dict[str, int]] = dict.fromkeys(PROXY_FIX_HEADERS, 0)
    # Strict-Transport-Security max-age; 0 sends none (it pins browsers to HTTPS).
    HSTS_SECONDS = 0
    LOG_FORMAT = "text"
    # Traces (core.tracing): each request, its Redis commands{% if cookiecutter.auth == "yes" %} and SQL queries{% endif %}, sent over
    # OTLP/HTTP to this collector ("http://otel-collector:4318"). None sends none and loads
    # none of the tracing. The SDK's own OTEL_* variables (headers, sampler) apply too.
    OTEL_EXPORTER_OTLP_ENDPOINT: str | None = None
    # The service the traces are filed under.
    OTEL_SERVICE_NAME = "{{ cookiecutter.project_slug }}"
    # Unhandled errors are reported to this Sentry project (core.error_reports), scrubbed of
    # cookies, bodies and credentials. None reports nothing and loads nothing of sentry-sdk.
    SENTRY_DSN: str | None = None
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
    # Mails the account forms may send to one mailbox, all forms together (register, resend,
    # forgot password), however its address is spelled.
    EMAIL_RATE_LIMIT = "5 per hour"
    # werkzeug's hashing method ("scrypt", "pbkdf2:sha256:600000"); a stored hash made
    # another way is redone at the owner's next login.
    PASSWORD_HASH_METHOD = "scrypt"  # noqa: S105 - a method name, not a password
    # Password hashes made or checked at once by all the workers sharing the slot folder; a
    # request that would start one more gets a 503 with Retry-After at once, so a burst of
    # logins leaves a CPU, and the threads, to every other page.
    PASSWORD_HASH_CONCURRENCY: int | None = None  # derived: one fewer than the CPUs, at least 1
    # The slots, one lock file each: keep it on a local disk, one folder per machine (the
    # bound is for the machine's CPUs).
    PASSWORD_HASH_SLOT_FOLDER: str | None = None  # derived: <instance folder>/hash-slots
    VERIFY_LINK_MAX_AGE = timedelta(hours=48)
    RESET_LINK_MAX_AGE = timedelta(hours=1)
    # Changing the password, signing out sessions and deleting the account need a sign-in
    # this recent (the login, or the password typed again on /auth/sudo).
    SUDO_MODE_LIFETIME = timedelta(minutes=10)
    # Two-factor sign-in. Its secrets are stored encrypted with a key derived from this, or
    # from SECRET_KEY while it is unset: a separate key lets SECRET_KEY change without making
    # every stored secret unreadable (their owners would need `flask users reset-two-factor`).
    MFA_ENCRYPTION_KEY: str | None = None
    # Between the right password and the code, how long the half-done sign-in waits.
    TWO_FACTOR_LOGIN_LIFETIME = timedelta(minutes=5)
    # Wrong codes on one account (from any address) before its code forms answer 429.
    TWO_FACTOR_FAILURE_LIMIT = "10 per 15 minutes"
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
    # Mail is sent by background jobs (jobs/, RQ on the app's Redis); JOBS_RUN_INLINE runs them
    # in the request. gunicorn.conf.py runs a worker unless JOBS_EMBEDDED_WORKER is off.
    JOBS_RUN_INLINE = True  # development and tests: no worker needed; production queues
    JOBS_EMBEDDED_WORKER = True
    JOBS_QUEUE = "{{ cookiecutter.package_name }}"  # one per app sharing a Redis
    # A failed job is tried again after each wait (s), then kept JOBS_FAILED_TTL s (a week).
    JOBS_RETRY_INTERVALS: ClassVar[list[int]] = [10, 60, 300, 900]
    JOBS_TIMEOUT = 60  # seconds; a job running longer is stopped and counts as failed
    JOBS_FAILED_TTL = 7 * 24 * 3600
{%- endif %}
{%- if cookiecutter.api == "yes" %}

    # The JSON API (api/). Origins allowed to call it from a browser (CORS; empty: none, never
    # "*"): "https://a.example,https://b.example" (FLASK_API_CORS_ORIGINS: a JSON list).
    API_CORS_ORIGINS: ClassVar[list[str]] = []
    API_ADDRESS_RATE_LIMIT = "300 per minute"  # per client address, over all of /api/
{%- if cookiecutter.auth == "yes" %}
    API_TOKEN_RATE_LIMIT = "120 per minute"  # noqa: S105 - per personal access token
{%- endif %}
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
    # the check costs a stat() per template on every render.
    TEMPLATES_AUTO_RELOAD = False
{%- if cookiecutter.auth == "yes" %}
    JOBS_RUN_INLINE = False  # a page queues its mail; a job worker sends it
{%- endif %}


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
    "TRUSTED_HOSTS",
    "PROXY_FIX",
    "METRICS_ALLOW",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_SERVICE_NAME",
    "SENTRY_DSN",
)
{%- if cookiecutter.api == "yes" %}
PLAIN_ENV_KEYS += ("API_CORS_ORIGINS",)  # comma-separated, as TRUSTED_HOSTS
{%- endif %}
{%- if cookiecutter.auth == "yes" %}
# The database, the mail settings as SMTP providers' docs spell them (derive() turns
# MAIL_PORT and the flags into int/bool), sudo mode's lifetime in seconds and the two-factor key.
PLAIN_ENV_KEYS += ("DATABASE_URL", "APP_BASE_URL", "SUDO_MODE_LIFETIME", "MFA_ENCRYPTION_KEY")
PLAIN_ENV_KEYS += tuple(
    f"MAIL_{name}"
    for name in ("SERVER", "PORT", "USE_TLS", "USE_SSL", "USERNAME", "PASSWORD", "DEFAULT_SENDER")
)
{%- endif %}


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
