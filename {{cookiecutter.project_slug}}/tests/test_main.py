"""The home and about pages, as a visitor sees them."""

from __future__ import annotations

import pytest


def test_home_page(client, app):
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f"<title>Home · {app.config['APP_NAME']}</title>" in page
    assert 'href="/static/style.css"' in page


def test_stylesheet_is_served(client):
    response = client.get("/static/style.css")
    assert response.status_code == 200
    assert response.mimetype == "text/css"
    response.close()


@pytest.mark.parametrize("path", ["/about", "/about/"])
def test_about_answers_with_or_without_slash(client, path):
    assert client.get(path).status_code == 200
