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
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
