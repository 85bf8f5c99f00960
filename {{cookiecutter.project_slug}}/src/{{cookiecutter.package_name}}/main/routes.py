"""The main blueprint: the home page and the about page."""

from __future__ import annotations

from flask import Blueprint, render_template

from {{ cookiecutter.package_name }}.core.page_cache import kept_for_anonymous

bp = Blueprint("main", __name__{% if cookiecutter.layout == "large" %}, template_folder="templates"{% endif %})


@bp.get("/")
@kept_for_anonymous
def index() -> str:
    """The home page."""
    return render_template("main/index.html")


# strict_slashes=False: /about and /about/ both answer, without a redirect.
@bp.get("/about", strict_slashes=False)
@kept_for_anonymous
def about() -> str:
    """A static page."""
    return render_template("main/about.html")
