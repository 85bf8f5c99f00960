"""URL rules whose builders are compiled on first use build what werkzeug's own rules build."""

from __future__ import annotations

import threading

import pytest
from flask import Flask

from {{ cookiecutter.package_name }}.core.converters import RegexConverter
from {{ cookiecutter.package_name }}.core.url_rules import LazyRule

RULES = [
    ("/", "home", {}),
    ("/items/<int:item_id>", "item", {"item_id": 7}),
    ('/codes/<regex("[A-Z]{3}"):code>/<path:rest>', "code", {"code": "ABC", "rest": "a/b c"}),
    ("/search", "search", {}),
]
EXTRA = {"q": "flask & more", "page": 2}


def built(app: Flask, endpoint: str, values: dict[str, object]) -> str:
    """The URL of ``endpoint`` as url_for builds it, outside any request."""
    with app.test_request_context():
        return app.url_for(endpoint, **values)


def rules_app(lazy: bool) -> Flask:
    """An app with the RULES, on werkzeug's rules or on LazyRule."""
    app = Flask(__name__)
    if lazy:
        app.url_rule_class = LazyRule
    app.url_map.converters["regex"] = RegexConverter
    for rule, endpoint, _ in RULES:
        app.add_url_rule(rule, endpoint, lambda **_: "")
    return app


def test_the_app_uses_lazy_rules(app):
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"]
    assert rules and all(isinstance(rule, LazyRule) for rule in rules)


@pytest.mark.parametrize("extra", [{}, EXTRA], ids=["plain", "with query arguments"])
def test_urls_are_those_werkzeug_builds(extra):
    stock, lazy = rules_app(lazy=False), rules_app(lazy=True)
    for _ in range(2):  # the first build compiles, the second uses what it compiled
        for _, endpoint, values in RULES:
            assert built(lazy, endpoint, values | extra) == built(stock, endpoint, values | extra)


def test_a_value_the_converter_refuses_is_refused_as_before():
    with pytest.raises(ValueError, match="does not match"):
        built(rules_app(lazy=True), "code", {"code": "abc", "rest": "x"})


def test_threads_building_at_once_get_the_same_urls():
    app = rules_app(lazy=True)
    urls: list[str] = []
    threads = [
        threading.Thread(target=lambda: urls.append(built(app, "item", {"item_id": 7} | EXTRA)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert urls == ["/items/7?q=flask+%26+more&page=2"] * 8
