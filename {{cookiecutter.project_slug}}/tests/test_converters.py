"""The regex URL converter, registered on every app: matching, building, refusing."""

from __future__ import annotations

import pytest
from flask import url_for

from {{ cookiecutter.package_name }}.core.converters import RegexConverter


@pytest.fixture
def coded_app(make_app):
    """An app with one rule using the converter: three capital letters."""
    app = make_app()

    @app.get('/codes/<regex("[A-Z]{3}"):code>')
    def code(code: str) -> str:
        return f"code {code}"

    return app


def test_converter_is_registered_by_name(app):
    assert app.url_map.converters["regex"] is RegexConverter


@pytest.mark.parametrize("code", ["ABC", "XYZ"])
def test_matching_segments_reach_the_view_unchanged(coded_app, code):
    response = coded_app.test_client().get(f"/codes/{code}")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == f"code {code}"


@pytest.mark.parametrize("code", ["abc", "ABCD", "AB", "A-C", "%00AB"])
def test_other_segments_are_not_found(coded_app, code):
    assert coded_app.test_client().get(f"/codes/{code}").status_code == 404


def test_url_for_round_trips_through_the_converter(coded_app):
    with coded_app.test_request_context():
        assert url_for("code", code="QRS") == "/codes/QRS"
        with pytest.raises(ValueError, match="does not match the URL pattern"):
            url_for("code", code="qrs")
