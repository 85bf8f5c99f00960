"""Errors shared by the app's layers; it imports nothing of the app, so any module may use it."""

from __future__ import annotations

import click


class ConfigurationError(click.ClickException):
    """The app cannot start with this configuration.

    A ClickException, so a ``flask`` command prints it as one line ("Error: ...") and exits
    1, as gunicorn.conf.py and wsgi.py do for the server.
    """
