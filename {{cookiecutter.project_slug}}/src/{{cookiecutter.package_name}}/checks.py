"""What production refuses to start with: each problem named in one sentence.

``load_config`` calls ``check_production`` for the production config; it raises one
ConfigurationError listing every problem, so one restart shows all that is left to fix.
Connection URLs are parsed, never connected to, and shown with every password as ``***``
(``core.redaction``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
{%- if cookiecutter.auth == "yes" %}

import sqlalchemy
from sqlalchemy.exc import SQLAlchemyError
{%- endif %}

from .core.redaction import hide_secrets, redact
from .core.redis_client import check_settings
from .exceptions import ConfigurationError
from .key_strength import MIN_SECRET_BITS, estimated_bits, name_words

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
# A host name as Flask compares it (IDNA-encoded), optionally with a leading dot or a port.
HOST_NAME = re.compile(r"\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?(:[0-9]{1,5})?")
NEW_KEY_COMMAND = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def url_problem(name: str, url: str, error: BaseException, verdict: str = "is malformed") -> str:
    """One sentence naming the setting and the reason, with no password in it."""
    reason = " ".join(hide_secrets(str(error), url).split()) or type(error).__name__
    return f"{name} ({redact(url)}) {verdict}: {reason}"


def secret_key_problems(secret: str, app_name: str = "", setting: str = "SECRET_KEY") -> list[str]:
    """Why the key (``setting``) is unsafe for production, if it is."""
    if not secret:
        return [f"{setting} is not set"]
    lowered = secret.lower()
    prefix = next((prefix for prefix in PLACEHOLDER_PREFIXES if lowered.startswith(prefix)), None)
    if prefix:
        return [f"{setting} is a placeholder (it starts with {prefix!r})"]
    if len(secret) < MIN_SECRET_LENGTH:
        return [f"{setting} is shorter than {MIN_SECRET_LENGTH} characters"]
    bits = estimated_bits(secret, name_words(app_name, __name__.partition(".")[0]))
    if bits < MIN_SECRET_BITS:
        return [
            f"{setting} is not random enough: about {bits:.0f} bits by estimate, under "
            f"{MIN_SECRET_BITS} (a repeat, a run such as abc or 123, a word or the app's name "
            "counts for little or nothing)"
        ]
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
        setting = "DATABASE_URL" if config.get("DATABASE_URL") else "SQLALCHEMY_DATABASE_URI"
        try:
            sqlalchemy.create_engine(database_url).dispose()
        except (SQLAlchemyError, ImportError, ValueError, TypeError) as exc:
            problems.append(url_problem(setting, database_url, exc))
{%- endif %}
    return problems


def production_problems(config: Mapping[str, Any]) -> list[str]:
    """What is missing or unsafe for production, as sentences naming each setting."""
    problems = secret_key_problems(config.get("SECRET_KEY") or "", config.get("APP_NAME") or "")
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
    if config.get("MFA_ENCRYPTION_KEY"):
        # Set, it alone opens the two-factor secrets: as strong as SECRET_KEY, then.
        app_name = config.get("APP_NAME") or ""
        key = config["MFA_ENCRYPTION_KEY"]
        problems += secret_key_problems(key, app_name, "MFA_ENCRYPTION_KEY")
{%- endif %}
    return problems


def check_production(config: Mapping[str, Any]) -> None:
    """Refuse to start production with missing or unsafe settings, in one line."""
    problems = production_problems(config)
    if problems:
        advice = " (see .env.example)"
        if any(problem.startswith(("SECRET_KEY", "MFA_ENCRYPTION_KEY")) for problem in problems):
            advice += f"; make a key with {NEW_KEY_COMMAND}"
        raise ConfigurationError(
            "Refusing to start in production: " + "; ".join(problems) + f". Fix them{advice}."
        )
