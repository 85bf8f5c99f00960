"""The user database: SQLite for development, PostgreSQL for production, the same migrations."""

from __future__ import annotations

import json

import flask_migrate
import pytest
import sqlalchemy as sa

PRODUCTION = {
    "SECRET_KEY": "AnZNw9UikbktnuZl5fomriUpK880yzv261lNrnnCINM",
    "TRUSTED_HOSTS": ["localhost"],
    "MAIL_SERVER": "127.0.0.1",
    "MAIL_PORT": 9,
}
# Every table the migrations make.
TABLES = {"alembic_version", "users", "two_factor", "recovery_codes"}
{%- if cookiecutter.api == "yes" %}
TABLES |= {"access_tokens", "notes"}  # the API's
{%- endif %}


def tables(url: str) -> set[str]:
    """The tables in the database, seen from a connection of our own."""
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrations_upgrade_and_downgrade(make_app, database_url):
    app = make_app(DATABASE_URL=database_url)
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    with app.app_context():
        flask_migrate.upgrade()
        assert tables(url) == TABLES
        flask_migrate.downgrade(revision="base")
        assert tables(url) == {"alembic_version"}
        flask_migrate.upgrade()
        assert "users" in tables(url)
        app.extensions["sqlalchemy"].engine.dispose()  # before the database is dropped


def test_migrations_run_on_the_database_named_by_database_url(make_app, database_url):
    app = make_app(DATABASE_URL=database_url)
    dialect = database_url.partition(":")[0]
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith(
        "postgresql+psycopg://" if dialect == "postgresql" else "sqlite:///"
    )


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://app:pw@db:5432/app", "postgresql+psycopg://app:pw@db:5432/app"),
        ("postgres://app:pw@db/app", "postgresql+psycopg://app:pw@db/app"),
        ("postgresql+psycopg://app@db/app", "postgresql+psycopg://app@db/app"),
        ("sqlite:////srv/app.db", "sqlite:////srv/app.db"),
    ],
)
def test_plain_postgresql_urls_run_on_psycopg(make_app, given, used):
    app = make_app(DATABASE_URL=given)
    assert app.config["SQLALCHEMY_DATABASE_URI"] == used


def sqlite_warnings(capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The start-up warnings about SQLite the app wrote to its log (stderr)."""
    return [line for line in capsys.readouterr().err.splitlines() if "running on SQLite" in line]


def test_production_on_sqlite_warns_once_at_start_up(make_app, capsys, tmp_path):
    # Twice in one process, as a gunicorn master and then its workers create the app.
    for _ in range(2):
        make_app("production", DATABASE_URL=f"sqlite:///{tmp_path}/app.db", **PRODUCTION)
    [warning] = sqlite_warnings(capsys)
    record = json.loads(warning)
    assert record["level"] == "WARNING"
    assert "set DATABASE_URL to a PostgreSQL database" in record["message"]


@pytest.mark.parametrize("config_name", ["production", "development", "testing"])
def test_postgresql_or_development_gives_no_sqlite_warning(make_app, capsys, config_name):
    database = "postgresql://app@db/app" if config_name == "production" else None
    make_app(config_name, DATABASE_URL=database, **PRODUCTION)
    assert sqlite_warnings(capsys) == []


def test_a_request_gives_its_database_connection_back_when_it_ends(make_app):
    app = make_app()
    db = app.extensions["sqlalchemy"]
    for _ in range(3):  # each context's session is closed, not left to the next one
        with app.app_context():
            db.session.execute(sa.text("SELECT 1"))
            assert db.engine.pool.checkedout() == 1
        with app.app_context():
            assert db.engine.pool.checkedout() == 0
    with app.test_client() as client:  # a page that never asked for the database
        assert client.get("/healthz").status_code == 200
    with app.app_context():
        assert db.engine.pool.checkedout() == 0
