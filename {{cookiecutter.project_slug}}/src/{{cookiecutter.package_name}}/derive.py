"""The last loading step: settings computed from others, and environment strings given types.

Values from the environment arrive as strings ("true", "3600", a JSON object); each is
turned into what the settings classes declare, or stops start-up with a ConfigurationError
naming the setting. Nothing else writes ``app.config`` after loading.
"""

from __future__ import annotations

import json
{%- if cookiecutter.auth == "yes" %}
import os
{%- endif %}
from collections.abc import Mapping
from datetime import timedelta
{%- if cookiecutter.auth == "yes" %}
from email.utils import formataddr
{%- endif %}
from typing import Any
{%- if cookiecutter.auth == "yes" %}
from urllib.parse import urlsplit
{%- endif %}

from flask import Config as FlaskConfig

from .exceptions import ConfigurationError

# The headers PROXY_FIX counts proxies for, as werkzeug's ProxyFix names them.
PROXY_FIX_HEADERS = ("x_for", "x_proto", "x_host", "x_port", "x_prefix")
HOST_PREFIX = "__Host-"
{%- if cookiecutter.auth == "yes" %}
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}
{%- endif %}


def derive(config: FlaskConfig, instance_path: str) -> None:
    """Fill in the settings computed from others; the only writes after loading."""
{%- if cookiecutter.auth == "yes" and cookiecutter.examples == "yes" %}
    if not config["UPLOAD_FOLDER"]:
        config["UPLOAD_FOLDER"] = os.path.join(instance_path, "uploads")
{%- endif %}
    if isinstance(config["TRUSTED_HOSTS"], str):
        config["TRUSTED_HOSTS"] = parse_hosts(config["TRUSTED_HOSTS"])
{%- if cookiecutter.api == "yes" %}
    if isinstance(config["API_CORS_ORIGINS"], str):
        config["API_CORS_ORIGINS"] = parse_hosts(config["API_CORS_ORIGINS"])
{%- endif %}
    config["PROXY_FIX"] = parse_proxy_fix(config["PROXY_FIX"])
{%- if cookiecutter.auth == "yes" %}
    if not config["SQLALCHEMY_DATABASE_URI"]:
        config["SQLALCHEMY_DATABASE_URI"] = database_uri(config["DATABASE_URL"]) or (
            "sqlite:///" + os.path.join(instance_path, "app.db")
        )
    derive_mail(config)
    derive_hash_slots(config, instance_path)
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
        and set(parsed) <= set(PROXY_FIX_HEADERS)
        and all(type(count) is int and count >= 0 for count in parsed.values())
    ):
        raise ConfigurationError(problem)
    return parsed
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
        # Through str: a float or None is refused instead of truncated or a TypeError.
        return int(str(value))
    except ValueError:
        raise ConfigurationError(f"{key}={value!r} is not a whole number.") from None


def derive_hash_slots(config: FlaskConfig, instance_path: str) -> None:
    """How many password hashes at once, and where their slots are kept."""
    value = config["PASSWORD_HASH_CONCURRENCY"]
    if value in (None, ""):
        # One CPU is left to the pages that hash nothing, however many logins come at once.
        value = max(1, (os.cpu_count() or 1) - 1)
    concurrency = as_int("PASSWORD_HASH_CONCURRENCY", value)
    if concurrency < 1:
        raise ConfigurationError(f"PASSWORD_HASH_CONCURRENCY={value!r} must be at least 1.")
    config["PASSWORD_HASH_CONCURRENCY"] = concurrency
    if not config["PASSWORD_HASH_SLOT_FOLDER"]:
        config["PASSWORD_HASH_SLOT_FOLDER"] = os.path.join(instance_path, "hash-slots")


def derive_mail(config: FlaskConfig) -> None:
    """Typed mail settings and account lifetimes, the public base URL of links, a sender."""
    config["MAIL_PORT"] = as_int("MAIL_PORT", config["MAIL_PORT"])
    config["MAIL_TIMEOUT"] = as_int("MAIL_TIMEOUT", config["MAIL_TIMEOUT"])
    for key in ("MAIL_USE_TLS", "MAIL_USE_SSL"):
        config[key] = as_bool(key, config[key])
    for key in (
        "VERIFY_LINK_MAX_AGE",
        "RESET_LINK_MAX_AGE",
        "SESSION_SEEN_INTERVAL",
        "SUDO_MODE_LIFETIME",
        "TWO_FACTOR_LOGIN_LIFETIME",
    ):
        if not isinstance(config[key], timedelta):  # seconds, from the environment
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
