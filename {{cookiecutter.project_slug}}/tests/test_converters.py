"""The regex converter, in both directions."""

from __future__ import annotations

import pytest
from flask import url_for


@pytest.mark.parametrize("path", ["/items/0", "/items/42", "/items/123456789"])
def test_matching_ids_reach_the_view(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert f"Item {int(path.rsplit('/', 1)[1])}" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/items/abc", "/items/1234567890", "/items/-1", "/items/4.2"])
def test_other_ids_are_not_found(client, path):
    assert client.get(path).status_code == 404


def test_url_for_builds_through_the_converter(app):
    with app.test_request_context():
        assert url_for("main.item", item_id=7) == "/items/7"
        with pytest.raises(ValueError, match="does not match the URL pattern"):
            url_for("main.item", item_id="seven")


def test_converter_is_registered_by_name(app):
    assert "regex" in app.url_map.converters
