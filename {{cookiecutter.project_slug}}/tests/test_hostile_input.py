"""Every route, fed what an attacker sends: the answer is a 4xx page, never a 500.

The test walks ``app.url_map`` (every rule but static files), so a route added later is
covered without touching this file. Exceptions are not propagated to the test
(``PROPAGATE_EXCEPTIONS=False``): a bug shows up as the 500 a visitor would see.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

CONVERTER = re.compile(r"<(?:[^<>:]+:)?(\w+)>")
FORM_FIELD = re.compile(r'<(?:input|textarea|select)[^>]*\bname="([^"]+)"')
CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "BREW"]
BODY_METHODS = ["POST", "PUT", "PATCH", "DELETE"]
PASSWORD = "a long passphrase for the hostile input test 7"

# Path segments: huge and negative numbers, long text, bad UTF-8, NUL, traversal.
SEGMENTS = [
    "9" * 5000,
    "-1",
    "-" + "9" * 40,
    "0",
    "999999999",
    "a" * 300,
    "%ff%fe",
    "%00",
    "a%00b",
    "..%2f..%2fetc%2fpasswd",
    "%c3%28",
    "%E2%80%AE",
]
QUERY = "?next=%ff%fe&next=%00&q=" + "x" * 3000 + "&page=-1&id=" + "9" * 5000
FIELD_VALUES = [
    "x" * 5000,
    "%ff",
    "\x00",
    "",
    "-1",
    "9" * 5000,
    "\ud800".encode("utf-8", "surrogatepass").decode("latin-1"),
]
FILE_NAMES = [
    "../../x",
    "../../etc/passwd.txt",
    "a" * 296 + ".txt",
    "x" * 5000 + ".txt",
    "ファイル.txt",
    "résumé.pdf",
    "",
    ".",
    "..",
    ".txt",
    "a\x00b.txt",
    "con.txt",
    "\u202etxt.exe",
]
NESTED = 3000


@dataclass
class Hostile:
    """One request to send: method, URL and whatever goes with it."""

    method: str
    url: str
    what: str
    kwargs: dict[str, object] = field(default_factory=dict)


def urls_for(rule_text: str) -> Iterator[tuple[str, str]]:
    """The rule with each argument replaced by each hostile segment, plus a hostile query."""
    names = CONVERTER.findall(rule_text)
    plain = CONVERTER.sub("1", rule_text)
    yield plain, "plain"
    yield plain + QUERY, "hostile query string"
    for name in names:
        for segment in SEGMENTS:
            url = CONVERTER.sub(
                lambda m, n=name, s=segment: s if m.group(1) == n else "1", rule_text
            )
            yield url, f"<{name}> = {segment[:20]!r}"


def multipart(token: str, filename: str) -> tuple[bytes, str]:
    """A raw multipart body (NUL and UTF-8 names included) as a browser would send it."""
    boundary = "hostile-boundary-7f3a"
    name = filename.encode("utf-8", "surrogatepass")
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="csrf_token"\r\n\r\n'
        f"{token}\r\n"
        f"--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="file"; filename="'
        + name
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\nhello\r\n'
        + f"--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def fields_as_files(token: str, fields: list[str]) -> tuple[bytes, str]:
    """A multipart body sending every field of the form as a file: text fields get none."""
    boundary = "hostile-boundary-9c1d"
    parts = [f'Content-Disposition: form-data; name="csrf_token"\r\n\r\n{token}']
    parts += [
        f'Content-Disposition: form-data; name="{name}"; filename="x.txt"\r\n'
        "Content-Type: text/plain\r\n\r\nhello"
        for name in fields
    ]
    body = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--\r\n"
    return body.encode(), f"multipart/form-data; boundary={boundary}"


def bodies(token: str, fields: list[str]) -> Iterator[tuple[str, dict[str, object]]]:
    """Hostile request bodies: deep and huge JSON, wrong types, odd uploads, odd form values."""
    json_type = "application/json"
    yield (
        "JSON arrays nested 3000 deep",
        {"data": "[" * NESTED + "]" * NESTED, "content_type": json_type},
    )
    yield (
        "JSON objects nested 3000 deep",
        {
            "data": '{"by": ' * NESTED + "1" + "}" * NESTED,
            "content_type": json_type,
        },
    )
    yield (
        "2 MB JSON string",
        {"data": '"' + "a" * (2 * 1024 * 1024) + '"', "content_type": json_type},
    )
    yield (
        "JSON string just under the size limit",
        {
            "data": '{"by": "' + "a" * (2 * 1024 * 1024 - 200) + '"}',
            "content_type": json_type,
        },
    )
    for document in ("[1]", '"x"', '[["a"]]', "null", "5"):
        yield f"JSON {document} (not an object)", {"data": document, "content_type": json_type}
    yield "invalid JSON", {"data": "{by: 1,,", "content_type": json_type}
    yield "JSON in UTF-16", {"data": '{"by": 1}'.encode("utf-16"), "content_type": json_type}
    yield "bad UTF-8 as JSON", {"data": b'{"by": "\xff\xfe"}', "content_type": json_type}
    yield "JSON sent as text/plain", {"data": '{"by": 1}', "content_type": "text/plain"}
    yield "multipart without a boundary", {"data": "x", "content_type": "multipart/form-data"}
    yield "XML", {"data": "<?xml version='1.0'?><a/>", "content_type": "application/xml"}
    yield (
        "bad UTF-8 form",
        {
            "data": b"%ff%fe=%00&csrf_token=" + token.encode(),
            "content_type": "application/x-www-form-urlencoded",
        },
    )
    for value in FIELD_VALUES:
        form = dict.fromkeys(fields, value) | {"csrf_token": token}
        yield f"form fields = {value[:10]!r}", {"data": form}
    body, content_type = fields_as_files(token, fields)
    yield "every form field sent as a file", {"data": body, "content_type": content_type}
    for filename in FILE_NAMES:
        body, content_type = multipart(token, filename)
        yield f"upload named {filename[:20]!r}", {"data": body, "content_type": content_type}


def hostile_requests(client, rule) -> Iterator[Hostile]:
    """Every hostile request for one rule."""
    token = CSRF_INPUT.search(client.get("/api/probe/form").get_data(as_text=True)).group(1)
    headers = {"X-CSRFToken": token}
    plain = CONVERTER.sub("1", rule.rule)
    page = client.get(plain).get_data(as_text=True) if "GET" in rule.methods else ""
    fields = sorted(set(FORM_FIELD.findall(page)) - {"csrf_token"}) or ["name"]
    for url, what in urls_for(rule.rule):
        for method in METHODS:
            yield Hostile(method, url, what, {"headers": headers})
    for what, kwargs in bodies(token, fields):
        for method in BODY_METHODS:
            yield Hostile(method, plain, what, {"headers": headers, **kwargs})
    yield Hostile(
        "GET", plain, "garbage cookies", {"headers": {"Cookie": "theme=%ff" + "x" * 4000}}
    )


@pytest.fixture
def app(make_app, tmp_path):
    """The app with exceptions turned into 500 pages, and its database ready if auth is baked."""
    app = make_app(
        PROPAGATE_EXCEPTIONS=False,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'app.db'}",
        LOGIN_RATE_LIMIT="10000 per minute",
    )
    if "auth.login" in app.view_functions:
        import flask_migrate

        with app.app_context():
            flask_migrate.upgrade()
    return app


def log_in(app, runner, client, username: str) -> None:
    """Create an account from the CLI and log in through the login form."""
    result = runner.invoke(
        args=["users", "create", username, f"{username}@example.com", "--password", PASSWORD]
    )
    assert result.exit_code == 0, result.output
    page = client.get("/auth/login").get_data(as_text=True)
    token = CSRF_INPUT.search(page).group(1)
    client.post(
        "/auth/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert "/auth/logout" in client.get("/").get_data(as_text=True), "login failed"


@pytest.mark.parametrize("logged_in", [False, True], ids=["visitor", "logged-in"])
def test_no_input_reaches_a_server_error(app, runner, logged_in):
    if logged_in and "auth.login" not in app.view_functions:
        pytest.skip("auth is not baked: there is no one to log in")
    # The probe blueprint is the suite's own scaffolding, not part of the app.
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static" and not rule.endpoint.startswith("probe.")
    ]
    failures = []
    sent = 0
    for number, rule in enumerate(rules):
        # A fresh client per rule: one route (logout, say) must not change the next one's test.
        client = app.test_client()
        if logged_in:
            log_in(app, runner, client, f"hostile{number}")
        for hostile in hostile_requests(client, rule):
            response = client.open(hostile.url, method=hostile.method, **hostile.kwargs)
            sent += 1
            if response.status_code >= 500:
                failures.append(
                    f"{hostile.method} {hostile.url[:80]} ({hostile.what}): {response.status_code}"
                )
    assert sent > 100 * len(rules)
    assert not failures, "\n".join(failures)
