"""The user database: SQLAlchemy 2 models, migrations shipped with the package."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

# Shipped inside the package, so an installed app carries its migrations.
MIGRATIONS = Path(__file__).parent.parent / "migrations"


class Base(DeclarativeBase):
    """Base class of the typed models."""


db = SQLAlchemy(model_class=Base)
migrate = Migrate()


def init_app(app: Flask) -> None:
    """Bind the database and ``flask db`` (migrations in the package, so installs carry them)."""
    # The default SQLite file lives in the instance folder, which Flask does not create.
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    uri: str = app.config["SQLALCHEMY_DATABASE_URI"]
    if app.config["CONFIG_NAME"] == "production" and uri.startswith("sqlite"):
        # One file on one machine: fine for a single instance, lost to every other one.
        app.logger.warning(
            "Production is running on SQLite (%s): set DATABASE_URL to a PostgreSQL database "
            "before running more than one app instance.",
            uri,
        )
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
