"""Alembic environment for ``flask db``: migrations run on the app's SQLAlchemy engine."""

from __future__ import annotations

import logging
from logging.config import fileConfig
from typing import Any

from alembic import context
from flask import current_app
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Engine

config = context.config
if current_app.config["LOG_FORMAT"] == "json":
    # Production: alembic's lines go through the app's JSON handler, like everything else.
    for name in ("alembic", "flask_migrate"):
        logging.getLogger(name).handlers[:] = current_app.logger.handlers
        logging.getLogger(name).setLevel(logging.INFO)
        logging.getLogger(name).propagate = False
elif config.config_file_name:
    # Keep the loggers the app already configured (fileConfig would disable them).
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")
# Any fixed number: the PostgreSQL advisory lock that serialises concurrent upgrades.
LOCK_KEY = 0x6D696772


def get_engine() -> Engine:
    """The engine of the app's Flask-SQLAlchemy extension."""
    engine: Engine = current_app.extensions["migrate"].db.engine
    return engine


def get_metadata() -> MetaData:
    """The models' metadata, compared against the database by autogenerate."""
    metadata: MetaData = current_app.extensions["migrate"].db.metadata
    return metadata


def skip_empty_autogenerate(context: Any, revision: Any, directives: list[Any]) -> None:
    """Write no migration file when the models did not change."""
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        logger.info("No changes in schema detected.")


def run_migrations_offline() -> None:
    """Print the SQL instead of running it (``flask db upgrade --sql``)."""
    url = get_engine().url.render_as_string(hide_password=False)
    context.configure(url=url, target_metadata=get_metadata(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on a connection from the app's engine."""
    conf_args = current_app.extensions["migrate"].configure_args
    if conf_args.get("process_revision_directives") is None:
        conf_args["process_revision_directives"] = skip_empty_autogenerate
    with get_engine().connect() as connection:
        context.configure(connection=connection, target_metadata=get_metadata(), **conf_args)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # App instances starting together migrate one after the other, not at once.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
