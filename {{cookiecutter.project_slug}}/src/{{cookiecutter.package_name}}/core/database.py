"""The user database: SQLAlchemy 2 models, migrations shipped with the package."""

from __future__ import annotations

import os
from pathlib import Path

import click
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

from .redaction import redact

# Shipped inside the package, so an installed app carries its migrations.
MIGRATIONS = Path(__file__).parent.parent / "migrations"


class Base(DeclarativeBase):
    """Base class of the typed models."""


class Database(SQLAlchemy):
    """Flask-SQLAlchemy, ending a request's database session only if the request had one."""

    def _teardown_session(self, exc: BaseException | None) -> None:
        # Most pages never touch the database, yet scoped_session.remove() looks the session
        # up twice and raises (and catches) a KeyError for each of them. Its registry holds
        # the process's open sessions, usually none: then not even has() needs asking.
        registry = self.session.registry
        if registry.registry and registry.has():
            self.session.remove()


db = Database(model_class=Base)
# SQLite databases this process has warned about. A gunicorn master checks the app before
# forking its workers, which inherit this, and starts its job worker with SQLITE_WARNED set
# (jobs.embedded): one warning in the log, not one per process.
warned_sqlite: set[str] = set()
SQLITE_WARNED = "APP_SQLITE_WARNED"


def init_app(app: Flask) -> None:
    """Bind the database, and ``flask db`` when a command runs (migrations ship in the package)."""
    # The default SQLite file lives in the instance folder, which Flask does not create.
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    uri: str = app.config["SQLALCHEMY_DATABASE_URI"]
    production = app.config["CONFIG_NAME"] == "production"
    warned = uri in warned_sqlite or os.environ.get(SQLITE_WARNED) == "1"
    if production and uri.startswith("sqlite") and not warned:
        warned_sqlite.add(uri)
        # One file on one machine: fine for a single instance, lost to every other one.
        app.logger.warning(
            "Production is running on SQLite (%s): set DATABASE_URL to a PostgreSQL database "
            "before running more than one app instance.",
            redact(uri),
        )
    db.init_app(app)
    if click.get_current_context(silent=True) is not None:
        enable_migrations(app)  # a `flask` command built the app: it may be `flask db`


def enable_migrations(app: Flask) -> None:
    """Bind Flask-Migrate, for `flask db` and upgrades at start-up; pages never need it.

    Imported here, not at the top: alembic and mako would cost every process and every
    worker their import time for commands that run only now and then.
    """
    if "migrate" not in app.extensions:
        from flask_migrate import Migrate

        Migrate(app, db, directory=str(MIGRATIONS))
