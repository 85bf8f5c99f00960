"""Pages kept for anonymous visitors: rendered once, and never shown to the wrong visitor."""

from __future__ import annotations

import pytest
from flask import (
    Flask,
    flash,
    get_flashed_messages,
    redirect,
    render_template_string,
    request,
    template_rendered,
)

from {{ cookiecutter.package_name }}.core.csrf import csrf, generate_csrf
from {{ cookiecutter.package_name }}.core.page_cache import kept_for_anonymous, personal_when


@pytest.fixture
def kept_app(make_app) -> Flask:
    """The app plus kept test pages: a plain one, one with a form, and a route that flashes.

    Each page renders a template (which ``renders`` counts), then adds what it shows of the
    request in Python.
    """
    app = make_app()

    @app.get("/test/kept")
    @kept_for_anonymous
    def kept() -> str:
        render_template_string("<p>kept</p>")
        messages = "".join(f"[{message}]" for message in get_flashed_messages())
        theme = request.cookies.get("theme", "light")
        return f'<p class="theme-{theme}">{messages}{request.args.get("q", "")}</p>'

    @app.get("/test/kept-form")
    @kept_for_anonymous
    def kept_form() -> str:
        render_template_string("<p>form</p>")
        return f"<input value='{generate_csrf()}'>"

    @app.post("/test/flash")
    @csrf.exempt
    def flash_something():
        flash("news for you", "info")
        return redirect("/test/kept")

    return app


@pytest.fixture
def renders(kept_app: Flask) -> list[str]:
    """The names of the templates rendered while the test runs."""
    rendered: list[str] = []

    def record(sender: Flask, template, context, **extra) -> None:
        rendered.append(template.name or "string")

    template_rendered.connect(record, kept_app)
    yield rendered
    template_rendered.disconnect(record, kept_app)


def test_a_page_is_rendered_once_for_every_anonymous_visitor(kept_app, renders):
    first = kept_app.test_client().get("/test/kept")
    second = kept_app.test_client().get("/test/kept")
    assert renders == ["string"]
    assert first.get_data() == second.get_data()
    assert second.status_code == 200


def test_the_home_page_is_kept(kept_app, renders):
    pages = [kept_app.test_client().get("/").get_data() for _ in range(3)]
    assert len(renders) == 1
    assert pages[0] == pages[1] == pages[2]


def test_each_url_and_cookie_gets_its_own_copy(kept_app, renders):
    assert b"theme-light" in kept_app.test_client().get("/test/kept").get_data()
    dark = kept_app.test_client()
    dark.set_cookie("theme", "dark")
    assert b"theme-dark" in dark.get("/test/kept").get_data()
    assert b"findme" in kept_app.test_client().get("/test/kept?q=findme").get_data()
    assert len(renders) == 3


def test_a_visitor_with_a_flash_gets_it_not_the_kept_page(kept_app, renders):
    kept_app.test_client().get("/test/kept")  # kept, without any message
    client = kept_app.test_client()
    client.post("/test/flash")
    assert b"[news for you]" in client.get("/test/kept").get_data()
    assert b"[news for you]" not in client.get("/test/kept").get_data()  # shown once
    assert b"[news for you]" not in kept_app.test_client().get("/test/kept").get_data()


def test_a_page_with_a_form_token_is_never_kept(kept_app, renders):
    alice, bob = kept_app.test_client(), kept_app.test_client()
    first, second = alice.get("/test/kept-form"), bob.get("/test/kept-form")
    assert len(renders) == 2
    assert first.get_data() != second.get_data()  # each visitor has a token of their own
    assert first.headers["Cache-Control"] == "no-store"


def test_a_visitor_a_feature_calls_personal_is_never_served_the_kept_page(kept_app, renders):
    kept_app.test_client().get("/test/kept")
    personal_when(kept_app, lambda: True)
    kept_app.test_client().get("/test/kept")
    kept_app.test_client().get("/test/kept")
    assert len(renders) == 3
