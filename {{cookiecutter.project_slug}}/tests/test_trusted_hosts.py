"""Host names: the site answers only to TRUSTED_HOSTS, so no URL it builds names another host."""

from __future__ import annotations

import logging

import pytest
from flask import url_for

EVIL = "evil.example"
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "BREW"]


@pytest.fixture
def app(make_app):
    """The app with an extra page that builds an absolute URL, and errors shown as pages."""
    app = make_app(PROPAGATE_EXCEPTIONS=False)

    @app.get("/external")
    def external() -> str:
        return url_for("main.index", _external=True)

    return app


def test_the_test_clients_host_is_trusted(client):
    response = client.get("/external")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "http://localhost/"


def test_an_untrusted_host_gets_a_clean_400_page(client, caplog):
    with caplog.at_level(logging.INFO):
        response = client.get("/about", headers={"Host": EVIL})
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "400 · Bad Request" in page
    assert "This server does not answer for that host name." in page
    assert EVIL not in page
    assert "href=" not in page  # no URL can be built for that host
    [record] = caplog.records
    assert record.levelname == "WARNING"
    assert EVIL in record.getMessage()
    assert record.exc_info is None


def test_an_untrusted_host_gets_json_from_the_api(client):
    response = client.get("/api/probe/plain", headers={"Host": EVIL})
    assert response.status_code == 400
    assert response.json == {
        "error": "Bad Request",
        "status": 400,
        "description": "This server does not answer for that host name.",
    }


def test_no_absolute_url_is_built_for_an_untrusted_host(client):
    response = client.get("/external", headers={"Host": EVIL})
    assert response.status_code == 400
    assert EVIL not in response.get_data(as_text=True)


def test_a_form_post_to_an_untrusted_host_is_the_same_400(client):
    """CSRF fails too, but the answer is still the Host page, not a broken error page."""
    response = client.post("/api/probe/counter", headers={"Host": EVIL}, json={})
    assert response.status_code == 400
    response = client.post("/about", headers={"Host": EVIL}, data={"x": "1"})
    assert response.status_code == 400
    assert "does not answer for that host name" in response.get_data(as_text=True)


def test_every_route_refuses_an_untrusted_host(app, client):
    """Whatever the route and method: 400, and no Location pointing anywhere."""
    for rule in app.url_map.iter_rules():
        path = rule.rule.replace("<", "").replace(">", "")  # any text fills an argument
        for method in METHODS:
            response = client.open(path, method=method, headers={"Host": EVIL})
            assert response.status_code == 400, (method, path, response.status_code)
            assert "Location" not in response.headers


def test_redirect_to_rule_refuses_an_untrusted_host(app, client):
    if not any(rule.endpoint == "tour.home" for rule in app.url_map.iter_rules()):
        pytest.skip("the tour (examples) is not baked")
    assert client.get("/home", headers={"Host": EVIL}).status_code == 400
    response = client.get("/home")
    assert response.status_code == 308
    assert response.headers["Location"] in {"/", "http://localhost/"}


def test_a_leading_dot_trusts_subdomains_and_ports_are_ignored(make_app):
    client = make_app(TRUSTED_HOSTS=[".example.com"]).test_client()
    assert client.get("/about", headers={"Host": "www.example.com:8443"}).status_code == 200
    assert client.get("/about", headers={"Host": "example.com"}).status_code == 200
    assert client.get("/about", headers={"Host": "example.com.evil.example"}).status_code == 400


def test_development_trusts_this_machine(make_app):
    client = make_app("development").test_client()
    for host in ("localhost:5000", "127.0.0.1:5000"):
        assert client.get("/about", headers={"Host": host}).status_code == 200
    assert client.get("/about", headers={"Host": EVIL}).status_code == 400


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TRUSTED_HOSTS", "example.com, www.example.com"),
        ("FLASK_TRUSTED_HOSTS", '["example.com", "www.example.com"]'),
    ],
)
def test_trusted_hosts_from_the_environment(monkeypatch, make_app, name, value):
    monkeypatch.setenv(name, value)
    app = make_app()
    assert app.config["TRUSTED_HOSTS"] == ["example.com", "www.example.com"]
    client = app.test_client()
    assert client.get("/about", headers={"Host": "www.example.com"}).status_code == 200
    assert client.get("/about").status_code == 400  # localhost is no longer trusted
