"""Template globals: links in pages are Flask's url_for, whatever root the request comes under."""{% raw %}

from __future__ import annotations

import pytest
from flask import g, render_template_string, request

LINKS = "{{ url_for('static', filename='style.css') }} {{ url_for('health.healthz') }}"


@pytest.fixture
def links_app(make_app):
    """An app with a page that renders two links."""
    app = make_app()
    app.add_url_rule("/links", "links", lambda: render_template_string(LINKS))
    return app


def test_links_are_flasks_urls(links_app):
    client = links_app.test_client()
    for _ in range(2):  # the second render is served from what the first built
        assert client.get("/links").text == "/static/style.css /healthz"


def test_links_follow_the_script_root_of_each_request(links_app):
    client = links_app.test_client()
    assert client.get("/links").text == "/static/style.css /healthz"
    mounted = client.get("/links", base_url="http://localhost/shop")
    assert mounted.text == "/shop/static/style.css /shop/healthz"
    assert client.get("/links").text == "/static/style.css /healthz"


def test_links_follow_a_trusted_forwarded_prefix(make_app):
    app = make_app(PROXY_FIX={"x_prefix": 1})
    app.add_url_rule("/links", "links", lambda: render_template_string(LINKS))
    client = app.test_client()
    for prefix in ("/a", "/b", ""):
        response = client.get("/links", headers={"X-Forwarded-Prefix": prefix} if prefix else {})
        assert response.text == f"{prefix}/static/style.css {prefix}/healthz"


def test_external_links_name_the_requested_host(make_app):
    links_app = make_app(TRUSTED_HOSTS=["a.example", "b.example"])
    links_app.add_url_rule(
        "/external",
        "external",
        lambda: render_template_string("{{ url_for('health.healthz', _external=True) }}"),
    )
    client = links_app.test_client()
    assert client.get("/external", base_url="http://a.example").text == "http://a.example/healthz"
    assert client.get("/external", base_url="http://b.example").text == "http://b.example/healthz"


def test_query_values_of_every_kind_are_kept(links_app):
    page = (
        "{{ url_for('health.healthz', page=1) }} {{ url_for('health.healthz', page=True) }} "
        "{{ url_for('health.healthz', page=pages) }}"
    )
    links_app.add_url_rule(
        "/query", "query", lambda: render_template_string(page, pages=request.args.getlist("p"))
    )
    client = links_app.test_client()
    assert client.get("/query?p=a&p=b").text == (
        "/healthz?page=1 /healthz?page=True /healthz?page=a&amp;page=b"
    )
    assert client.get("/query?p=c").text == "/healthz?page=1 /healthz?page=True /healthz?page=c"


def test_url_defaults_callbacks_are_honoured_on_every_request(make_app):
    """The i18n pattern from Flask's docs: a value taken from ``g`` by ``url_defaults``."""
    app = make_app()
    app.add_url_rule("/<lang>/hello", "hello", lambda lang: lang)
    app.add_url_rule("/page", "page", lambda: render_template_string("{{ url_for('hello') }}"))

    @app.url_defaults
    def add_language(endpoint: str, values: dict[str, str]) -> None:
        if endpoint == "hello":
            values.setdefault("lang", g.lang)

    @app.before_request
    def pick_language() -> None:
        g.lang = request.args.get("lang", "en")

    client = app.test_client()
    assert client.get("/page?lang=fr").text == "/fr/hello"
    assert client.get("/page?lang=de").text == "/de/hello"


@pytest.mark.parametrize(
    ("config_name", "debug", "reloads"),
    [("development", True, True), ("production", False, False)],
)
def test_templates_are_reread_only_in_development(make_app, config_name, debug, reloads):
    """Checking template files for changes costs a stat() per template per render."""
    app = make_app(config_name, SECRET_KEY="MrF4wUs20YE2eW6Iwb2CM7F-HofhldvcE2vjX", DEBUG=debug)
    assert app.jinja_env.auto_reload is reloads
{%- endraw %}
