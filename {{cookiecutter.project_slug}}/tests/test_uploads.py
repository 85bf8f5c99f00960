"""The upload example, as its users and its abusers use it.
{%- if cookiecutter.auth == "yes" %}

Files belong to accounts: each user has a folder of their own, a quota, a throttle, and a
list of their files with a delete button.
{%- else %}

Without accounts nothing is kept: an upload is checked and described, then dropped.
{%- endif %}
"""

from __future__ import annotations

import io
import re
{%- if cookiecutter.auth == "yes" %}
from pathlib import Path
{%- endif %}

{% if cookiecutter.auth == "yes" -%}
import flask_migrate
{% endif -%}
import pytest
{%- if cookiecutter.auth == "yes" %}
from sqlalchemy import text

from {{ cookiecutter.package_name }}.tour.uploads import delete_user_uploads, user_folder

PASSWORD = "a long passphrase for the upload tests 3"
{%- endif %}

CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')
DELETE_FORM = re.compile(r'action="(/upload/[0-9a-f]{32}/delete)"')


def token(client, url: str = "/upload") -> str:
    """The CSRF token of the form at ``url``."""
    return CSRF_INPUT.search(client.get(url).get_data(as_text=True)).group(1)


def upload(client, filename: str, content: bytes = b"hello"):
    """Post one file through the upload form."""
    data = {"csrf_token": token(client), "file": (io.BytesIO(content), filename)}
    return client.post("/upload", data=data, content_type="multipart/form-data")
{%- if cookiecutter.auth == "yes" %}


@pytest.fixture
def make_uploader(make_app, tmp_path):
    """Logged-in clients of one app (built with the given settings), one per username."""
    apps = {}

    def make(username: str = "alice", **settings):
        if "app" not in apps:
            app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'app.db'}", **settings)
            with app.app_context():
                flask_migrate.upgrade()
            apps["app"] = app
        app = apps["app"]
        email = f"{username}@example.com"
        created = app.test_cli_runner().invoke(
            args=["users", "create", username, email, "--password", PASSWORD]
        )
        assert created.exit_code == 0, created.output
        client = app.test_client()
        form = {"username": username, "password": PASSWORD}
        client.post("/auth/login", data=form | {"csrf_token": token(client, "/auth/login")})
        client.user_id, client.user_folder = user_of(app, username)
        return client

    return make


def user_of(app, username: str) -> tuple[int, Path]:
    """The id and the upload folder of the user with this name."""
    with app.app_context():
        session = app.extensions["sqlalchemy"].session
        query = text("SELECT id FROM users WHERE username = :name")
        user_id = session.execute(query, {"name": username}).scalar_one()
        return user_id, user_folder(user_id)


@pytest.fixture
def uploader(make_uploader):
    """A logged-in client."""
    return make_uploader()


def stored_files(client) -> list[Path]:
    """What is on disk in the client's upload folder."""
    folder = client.user_folder
    return sorted(folder.iterdir()) if folder.exists() else []


def test_visitors_are_sent_to_log_in(client):
    response = client.get("/upload")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login?next=/upload")
    assert client.post("/upload", data={}).status_code in {302, 400}


def test_upload_is_kept_in_the_users_folder_under_a_server_chosen_name(uploader):
    response = upload(uploader, "../../etc/notes.txt", b"my notes")
    assert response.status_code == 302
    [stored] = stored_files(uploader)
    assert re.fullmatch(r"[0-9a-f]{32}-etc_notes\.txt", stored.name)
    assert stored.read_bytes() == b"my notes"
    page = uploader.get("/upload").get_data(as_text=True)
    assert "Uploaded etc_notes.txt." in page
    assert '<span class="upload-name">etc_notes.txt</span>' in page
    assert "1 of 20 files" in page


def test_names_secure_filename_cannot_spell_keep_their_type(uploader):
    upload(uploader, "ファイル.txt")
    assert '<span class="upload-name">file.txt</span>' in uploader.get("/upload").get_data(
        as_text=True
    )


def test_same_name_from_two_users_overwrites_nothing(make_uploader):
    alice, bob = make_uploader("alice"), make_uploader("bob")
    upload(alice, "report.txt", b"alice's")
    upload(bob, "report.txt", b"bob's")
    upload(alice, "report.txt", b"alice's second")
    assert sorted(path.read_bytes() for path in stored_files(alice)) == [
        b"alice's",
        b"alice's second",
    ]
    assert [path.read_bytes() for path in stored_files(bob)] == [b"bob's"]
    assert alice.user_folder != bob.user_folder


def test_users_delete_their_own_files_only(make_uploader):
    alice, bob = make_uploader("alice"), make_uploader("bob")
    upload(alice, "mine.txt")
    [delete_url] = DELETE_FORM.findall(alice.get("/upload").get_data(as_text=True))

    # Bob knows the id, but it names no file of his.
    assert bob.post(delete_url, data={"csrf_token": token(bob)}).status_code == 404
    assert alice.post(delete_url).status_code == 400  # no CSRF token
    assert len(stored_files(alice)) == 1

    response = alice.post(delete_url, data={"csrf_token": token(alice)})
    assert response.status_code == 302
    assert stored_files(alice) == []
    page = alice.get("/upload").get_data(as_text=True)
    assert "Deleted mine.txt." in page
    assert "You have not uploaded anything yet." in page


def test_the_number_of_files_is_limited(make_uploader):
    client = make_uploader(UPLOAD_MAX_FILES=2)
    assert upload(client, "one.txt").status_code == 302
    assert upload(client, "two.txt").status_code == 302
    response = upload(client, "three.txt")
    assert response.status_code == 400
    assert "You can keep 2 files" in response.get_data(as_text=True)
    assert len(stored_files(client)) == 2


def test_the_bytes_kept_are_limited(make_uploader):
    client = make_uploader(UPLOAD_MAX_BYTES=10)
    assert upload(client, "small.txt", b"12345").status_code == 302
    response = upload(client, "big.txt", b"123456")
    assert response.status_code == 400
    assert "delete a file first" in response.get_data(as_text=True)
    assert [path.read_bytes() for path in stored_files(client)] == [b"12345"]


def test_uploads_are_throttled_per_user(make_uploader):
    alice = make_uploader("alice", UPLOAD_RATE_LIMIT="2 per minute")
    bob = make_uploader("bob")
    assert upload(alice, "a.txt").status_code == 302
    assert upload(alice, "b.txt").status_code == 302
    assert upload(alice, "c.txt").status_code == 429
    assert upload(bob, "d.txt").status_code == 302


def test_delete_user_uploads_removes_the_folder(make_uploader):
    client = make_uploader()
    upload(client, "a.txt")
    with client.application.app_context():
        delete_user_uploads(client.user_id)
        delete_user_uploads(client.user_id)  # nothing left: no error
    assert not client.user_folder.exists()


def test_deleting_an_account_deletes_its_uploads_and_no_one_elses(make_uploader):
    alice, bob = make_uploader("alice"), make_uploader("bob")
    upload(alice, "mine.txt")
    upload(bob, "his.txt")
    form = {"password": PASSWORD, "csrf_token": token(alice, "/auth/delete")}
    response = alice.post("/auth/delete", data=form)
    assert response.headers["Location"] == "/"
    assert not alice.user_folder.exists()
    assert [path.name.endswith("-his.txt") for path in stored_files(bob)] == [True]
{%- else %}


@pytest.fixture
def uploader(client):
    """Anyone may use the upload page when there are no accounts."""
    return client


@pytest.fixture
def make_uploader(make_app):
    """Clients of an app built with the given settings."""
    return lambda **settings: make_app(**settings).test_client()


def test_upload_is_checked_and_not_kept(make_app, monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    uploader = make_app().test_client()
    response = upload(uploader, "../../etc/notes.txt", b"my notes")
    assert response.status_code == 302
    page = uploader.get("/upload").get_data(as_text=True)
    assert "Checked etc_notes.txt (8 bytes)" in page
    assert "Files are checked, not kept" in page
    assert not (tmp_path / "instance").exists()


def test_uploads_are_throttled_per_address(make_uploader):
    client = make_uploader(UPLOAD_RATE_LIMIT="2 per minute")
    assert upload(client, "a.txt").status_code == 302
    assert upload(client, "b.txt").status_code == 302
    assert upload(client, "c.txt").status_code == 429
{%- endif %}


def test_only_a_post_uploads(uploader):
    """HEAD is routed with GET: it answers as the page does, and takes no file (no CSRF
    check or upload limit applies to it)."""
    data = {"file": (io.BytesIO(b"x"), "a.txt")}
    response = uploader.open("/upload", method="HEAD", data=data)
    assert response.status_code == 200
    page = uploader.get("/upload").get_data(as_text=True)
    assert "Uploaded" not in page and "Checked" not in page
{%- if cookiecutter.auth == "yes" %}
    assert stored_files(uploader) == []
{%- endif %}


def test_other_file_types_are_refused(uploader):
    response = upload(uploader, "run.sh")
    assert response.status_code == 400
    assert "That file type is not accepted" in response.get_data(as_text=True)


@pytest.mark.parametrize("filename", ["a" * 296 + ".txt", "x" * 101])
def test_overlong_names_are_refused(uploader, filename):
    response = upload(uploader, filename)
    assert response.status_code == 400
    assert "That file name is too long: at most 100 characters." in response.get_data(as_text=True)


def test_upload_without_a_file_says_so(uploader):
    response = uploader.post("/upload", data={"csrf_token": token(uploader)})
    assert response.status_code == 400
    assert "Choose a file to upload." in response.get_data(as_text=True)


def test_upload_without_a_csrf_token_is_refused(uploader):
    data = {"file": (io.BytesIO(b"x"), "a.txt")}
    response = uploader.post("/upload", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)


def test_too_large_upload_gets_the_413_page(make_uploader):
    client = make_uploader(MAX_CONTENT_LENGTH=1024)
    response = upload(client, "big.txt", b"x" * 4096)
    assert response.status_code == 413
    assert "413" in response.get_data(as_text=True)


def test_the_page_states_the_limits(uploader):
    page = uploader.get("/upload").get_data(as_text=True)
    assert "(up to 2048 kilobytes; gif, jpeg, jpg, md, pdf, png, txt)" in page
