"""The shipped migrations upgrade a database made by the previous release, keeping its users."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from conftest import PASSWORD, AuthActions

# PostgreSQL joins when the conftest provides a ``postgres_url`` fixture (the URL of a
# server the run may create databases on); without one that case is skipped.
DATABASES = ["sqlite", "postgresql"]


@pytest.fixture(params=DATABASES)
def upgrade_url(request, tmp_path) -> Iterator[str]:
    """A fresh, empty database of each kind, dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'upgrade.db'}"
        return
    try:
        server_url = request.getfixturevalue("postgres_url")
    except pytest.FixtureLookupError:
        pytest.skip("no postgres_url fixture in conftest.py")
    name = f"upgrade_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_upgrade_from_0001_keeps_users_able_to_log_in(make_app, upgrade_url, mailbox):
    app = make_app(SQLALCHEMY_DATABASE_URI=upgrade_url)
    with app.app_context():
        upgrade(revision="0001")
        engine = app.extensions["migrate"].db.engine
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO users (username, email, password_hash, created_at) "
                    "VALUES ('alice', 'alice@example.com', :hash, CURRENT_TIMESTAMP)"
                ),
                {"hash": generate_hash(PASSWORD)},
            )
        upgrade()
        with engine.connect() as connection:
            verified, created = connection.execute(
                sa.text("SELECT verified_at, created_at FROM users")
            ).one()
        assert verified == created

    # The user from before verification existed logs in without confirming anything.
    auth = AuthActions(app.test_client(), mailbox)
    assert auth.login().status_code == 302
    assert mailbox.messages == []

    with app.app_context():
        downgrade(revision="0001")
        columns = {column["name"] for column in sa.inspect(engine).get_columns("users")}
        assert "verified_at" not in columns
        assert "password_changed_at" not in columns
        downgrade(revision="base")
        engine.dispose()  # before the fixture drops the database under it


def add_user(connection, name: str, **columns: str) -> int:
    """Insert a user with the columns the schema at hand needs; its id."""
    values = {"username": name, "email": f"{name}@example.com", "password_hash": "x"}
    values |= {"created_at": datetime.now(UTC), **columns}
    # Typed: SQLAlchemy then stores the times itself (sqlite3's own datetime adapter is
    # deprecated from Python 3.12 on).
    typed = {column: sa.DateTime(timezone=True) for column in values if column.endswith("_at")}
    users = sa.table(
        "users", sa.column("id"), *(sa.column(column, typed.get(column)) for column in values)
    )
    return connection.execute(users.insert().values(values).returning(users.c.id)).scalar_one()


def test_upgrade_to_0003_keys_every_account_and_never_gives_an_id_again(make_app, upgrade_url):
    app = make_app(SQLALCHEMY_DATABASE_URI=upgrade_url)
    with app.app_context():
        upgrade(revision="0002")
        engine = app.extensions["migrate"].db.engine
        with engine.begin() as connection:
            add_user(connection, "alice")
            add_user(connection, "bob")
        upgrade()
        with engine.begin() as connection:
            keys = connection.execute(sa.text("SELECT session_key FROM users")).scalars().all()
            assert len(set(keys)) == 2
            assert all(len(key) == 32 for key in keys)
            carol = add_user(connection, "carol", session_key="k" * 32)
            connection.execute(sa.text("DELETE FROM users WHERE username = 'carol'"))
            assert add_user(connection, "dave", session_key="d" * 32) > carol
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
            add_user(connection, "ALICE", session_key="a" * 32)  # the username index is kept

        downgrade(revision="0002")
        columns = {column["name"] for column in sa.inspect(engine).get_columns("users")}
        assert "session_key" not in columns
        with engine.begin() as connection:
            users = connection.execute(sa.text("SELECT username FROM users ORDER BY id"))
            assert users.scalars().all() == ["alice", "bob", "dave"]
            add_user(connection, "erin")
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
            add_user(connection, "Alice")
        upgrade()
        downgrade(revision="base")
        engine.dispose()  # before the fixture drops the database under it


def generate_hash(password: str) -> str:
    """A hash as release 0001 stored it (werkzeug's default method)."""
    from werkzeug.security import generate_password_hash

    return generate_password_hash(password)
