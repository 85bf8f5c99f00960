"""A real PostgreSQL for the tests: fixtures, and a throwaway server from the installed binaries.

``conftest.py`` loads this module as a plugin. The server is TEST_POSTGRES_URL when set (CI's
service container), else a private one started for the run with initdb and postgres. Each
test that asks for ``database_url`` gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url


def find_bin_dir() -> Path | None:
    """Where the server binaries are: on PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    found = Path("/usr/lib/postgresql").glob("*/bin/initdb")
    newest = sorted(found, key=lambda path: int(re.sub(r"\D", "", path.parts[-3]) or 0))
    return newest[-1].parent if newest else None


class PostgresServer:
    """initdb and postgres in a temporary directory, reached over a unix socket only.

    Listening on no TCP port, it cannot collide with anything else on the machine. PostgreSQL
    refuses to run as root, so as root both commands run as the ``postgres`` user.
    """

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.directory = Path(tempfile.mkdtemp(prefix="test-postgres-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The ``postgres`` database as the superuser, through the socket directory."""
        return f"postgresql://postgres@/postgres?host={self.directory}"

    def run_as_owner(self) -> list[str]:
        """The prefix that runs a command as the postgres user when we are root."""
        if os.geteuid() != 0:
            return []
        user = pwd.getpwnam("postgres")
        os.chown(self.directory, user.pw_uid, user.pw_gid)
        runuser = shutil.which("runuser", path="/usr/sbin:/sbin:/usr/bin") or "runuser"
        return [runuser, "-u", "postgres", "--"]

    def start(self, timeout: float = 30.0) -> None:
        """Create the cluster and start the server; return once it accepts connections."""
        prefix = self.run_as_owner()
        data = self.directory / "data"
        initdb = [str(self.bin_dir / "initdb"), "-D", str(data), "-U", "postgres"]
        initdb += ["--auth=trust", "--no-sync", "--encoding=UTF8", "--locale=C"]
        subprocess.run([*prefix, *initdb], cwd=self.directory, check=True, capture_output=True)
        settings = {
            "listen_addresses": "",
            "unix_socket_directories": str(self.directory),
            # Test data dies with the run: skip the work that makes it durable.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        command = [str(self.bin_dir / "postgres"), "-D", str(data)]
        for name, value in settings.items():
            command += ["-c", f"{name}={value}"]
        with (self.directory / "server.log").open("wb") as log:
            self.process = subprocess.Popen(
                [*prefix, *command],
                cwd=self.directory,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        """Fast shutdown (SIGINT) of the server's process group, then remove its files."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def no_postgres(reason: str) -> None:
    """Skip, or fail where a real database is required (REQUIRE_REDIS=1 or CI)."""
    if os.environ.get("REQUIRE_REDIS") == "1" or os.environ.get("CI"):
        pytest.fail(f"REQUIRE_REDIS=1 or CI is set but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A superuser URL of the PostgreSQL server for the run."""
    if os.environ.get("TEST_POSTGRES_URL"):
        yield os.environ["TEST_POSTGRES_URL"]
        return
    bin_dir = find_bin_dir()
    if bin_dir is None:
        no_postgres("no PostgreSQL server binaries (initdb) and TEST_POSTGRES_URL is unset")
    server = PostgresServer(bin_dir)
    server.start()
    yield server.url
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of this test's own: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'app.db'}"
        return
    server_url: str = request.getfixturevalue("postgres_url")
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(server_url, autocommit=True) as admin:
        # FORCE: the app's connection pool may still hold connections to it.
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
