"""The app's URL rules: werkzeug's, with their URL builders compiled when first used.

werkzeug compiles two Python functions per rule as the rule is added, for building its
URLs with and without extra query arguments: about 7 ms for the default app's rules, paid
at start-up by each gunicorn worker and each ``flask`` command, mostly for rules it never
builds a URL for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from werkzeug.routing import Rule


class LazyRule(Rule):
    """A rule whose builders are compiled on the first ``url_for`` that needs them."""

    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        slot = "_build_unknown" if append_unknown else "_build"

        def compile_and_build(rule: Rule, **values: Any) -> tuple[str, str]:
            builder = Rule._compile_builder(rule, append_unknown).__get__(rule, None)
            setattr(rule, slot, builder)  # what werkzeug's compile() would have set
            result: tuple[str, str] = builder(**values)
            return result

        return compile_and_build


def init_app(app: Flask) -> None:
    """Make the rules added from now on lazy (before any blueprint is registered)."""
    app.url_rule_class = LazyRule
