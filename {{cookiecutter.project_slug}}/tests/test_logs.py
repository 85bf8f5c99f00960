"""Log lines: gunicorn's access records keep the request id, and no line shows a mailed
link's token."""

from __future__ import annotations

import logging
import runpy
from pathlib import Path

import pytest
from itsdangerous import URLSafeTimedSerializer
from werkzeug.utils import import_string

from {{ cookiecutter.package_name }}.core.logs import AccessLogFields, HideSignedTokens

SERIALIZER = URLSafeTimedSerializer("a-key-for-these-tests-only-0123456789", salt="link")


def access_record(path: str, query: str = "") -> logging.LogRecord:
    """A record as gunicorn's access logger makes it: the format, and the atoms as a dict."""
    atoms = {
        "r": f"GET {path}{'?' + query if query else ''} HTTP/1.1",
        "U": path,
        "q": query,
        "s": "200",
        "M": "3",
        "{x-request-id}o": "req-1",
    }
    return logging.LogRecord(
        "gunicorn.access", logging.INFO, __file__, 1, '"%(r)s" %(s)s', (atoms,), None
    )


@pytest.mark.parametrize(
    "payload",
    [{"u": 1, "e": "ann@example.com"}, {"u": 7, "p": "x" * 300}],
    ids=["plain", "compressed"],
)
def test_a_signed_link_token_never_reaches_the_access_log(payload):
    token = SERIALIZER.dumps(payload)
    for record in (access_record(f"/auth/verify/{token}"), access_record("/reset", f"t={token}")):
        assert AccessLogFields().filter(record)
        line = record.getMessage()
        assert token not in line and token.lstrip(".") not in line
        assert "[token]" in line
        assert record.args["U"].count("[token]") + record.args["q"].count("[token]") == 1


def test_an_access_record_keeps_its_url_and_gets_the_request_id():
    record = access_record("/items/42", "page=2&sort=name.asc")
    AccessLogFields().filter(record)
    assert record.getMessage() == '"GET /items/42?page=2&sort=name.asc HTTP/1.1" 200'
    assert (record.request_id, record.status, record.duration_ms) == ("req-1", "200", "3")


def test_a_signed_token_in_an_error_line_is_hidden(make_app, capfd):
    """Flask logs a failed request as "Exception on <path>": a link's path holds its token."""
    app = make_app(PROPAGATE_EXCEPTIONS=False)

    @app.get("/test/boom/<token>")
    def boom(token):
        raise RuntimeError("boom")

    token = SERIALIZER.dumps({"u": 1, "e": "ann@example.com"})
    assert app.test_client().get(f"/test/boom/{token}").status_code == 500
    logged = capfd.readouterr().err
    assert "Exception on /test/boom/[token] [GET]" in logged
    assert token not in logged


def test_gunicorns_error_log_as_configured_hides_tokens(monkeypatch, tmp_path):
    """The filters gunicorn.conf.py gives gunicorn's error lines (built here, not applied:
    the suite's own logging stays as it is)."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # the file sets one
    settings = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
    config = settings["logconfig_dict"]
    assert config["loggers"]["gunicorn.error"]["handlers"] == ["error"]
    names = config["handlers"]["error"]["filters"]
    filters = [import_string(config["filters"][name]["()"])() for name in names]
    token = SERIALIZER.dumps({"u": 7})
    record = logging.LogRecord(
        "gunicorn.error", logging.ERROR, __file__, 1, "Error handling %s", (f"/r/{token}",), None
    )
    assert all(each.filter(record) for each in filters)
    assert record.getMessage() == "Error handling /r/[token]"


def test_a_log_call_with_a_bad_format_does_not_raise():
    record = logging.LogRecord("app", logging.WARNING, __file__, 1, "a %s %s", (1,), None)
    assert HideSignedTokens().filter(record)
