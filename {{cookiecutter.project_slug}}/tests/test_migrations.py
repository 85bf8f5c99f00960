"""The shipped migrations upgrade a database made by the previous release, keeping its users."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from conftest import PASSWORD, AuthActions

# Another backend joins by naming a fixture that yields its URL (e.g. a conftest
# ``postgres`` fixture): it is used when the conftest provides it, skipped otherwise.
DATABASES = ["sqlite", "postgres"]


@pytest.fixture(params=DATABASES)
def database_url(request, tmp_path) -> str:
    """A fresh, empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'upgrade.db'}"
    try:
        server = request.getfixturevalue(request.param)
    except pytest.FixtureLookupError:
        pytest.skip(f"no {request.param!r} fixture in conftest.py")
    return server if isinstance(server, str) else server.url


def test_upgrade_from_0001_keeps_users_able_to_log_in(make_app, database_url, mailbox):
    app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
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


def generate_hash(password: str) -> str:
    """A hash as release 0001 stored it (werkzeug's default method)."""
    from werkzeug.security import generate_password_hash

    return generate_password_hash(password)
