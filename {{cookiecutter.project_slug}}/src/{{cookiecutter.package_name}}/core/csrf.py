"""CSRF protection for every form (Flask-WTF); JSON views opt out with ``csrf.exempt``."""

from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()


def init_app(app: Flask) -> None:
    """Check the token on every POST, PUT, PATCH and DELETE."""
    csrf.init_app(app)
