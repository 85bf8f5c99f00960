"""The Flask tour: small, tested examples of Flask's everyday tools, one per route.

Route options (defaults, strict_slashes, redirect_to), the regex URL converter, a
response built by hand, a cookie, a file upload with ``secure_filename``, a class-based
JSON view over the session, and a template filter. Delete this blueprint when you no
longer need it (or bake with ``examples=no``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, ClassVar

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask.views import MethodView
from werkzeug.exceptions import BadRequest, UnsupportedMediaType
from werkzeug.utils import secure_filename

from {{ cookiecutter.package_name }}.core.csrf import csrf

bp = Blueprint("tour", __name__, template_folder="templates")

THEMES = ("light", "dark")
THEME_COOKIE_MAX_AGE = 365 * 24 * 3600


@bp.app_template_filter()
def pluralize(count: int, singular: str, plural: str | None = None) -> str:
    """A template filter: ``n|pluralize("visit")`` gives "1 visit", "3 visits"."""
    word = singular if count == 1 else (plural or singular + "s")
    return f"{count} {word}"


# defaults: /hello/ greets "world", /hello/<name> greets the name.
@bp.get("/hello/", defaults={"name": "world"})
@bp.get("/hello/<name>")
def hello(name: str) -> str:
    """Greet by name; Jinja escapes it."""
    return render_template("tour/hello.html", name=name)


# redirect_to: the old address answers with a permanent redirect, no view needed.
bp.add_url_rule("/home", endpoint="home", redirect_to="/")


@bp.get('/items/<regex("[0-9]{1,9}"):item_id>')
def item(item_id: str) -> str:
    """A route using the regex converter: only 1-9 digits match, anything else is a 404."""
    return render_template("tour/item.html", item_id=int(item_id))


@bp.get("/robots.txt")
def robots() -> Response:
    """A response built by hand: plain text with its own headers."""
    response = make_response("User-agent: *\nDisallow: /api/\n")
    response.mimetype = "text/plain"
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.get("/preferences")
def preferences() -> str:
    """The theme picker."""
    return render_template("tour/preferences.html")


@bp.post("/preferences/theme")
def set_theme() -> ResponseReturnValue:
    """Remember the colour theme in a cookie, or forget it with theme=default."""
    theme = request.form.get("theme", "")
    response = redirect(url_for("tour.preferences"))
    if theme == "default":
        response.delete_cookie("theme", secure=current_app.config["SESSION_COOKIE_SECURE"])
    elif theme in THEMES:
        response.set_cookie(
            "theme",
            theme,
            max_age=THEME_COOKIE_MAX_AGE,
            samesite="Lax",
            httponly=True,
            secure=current_app.config["SESSION_COOKIE_SECURE"],
        )
    else:
        raise BadRequest(f"Unknown theme {theme!r}: choose one of {', '.join(THEMES)}.")
    return response


def allowed_upload(filename: str) -> bool:
    """True for names whose extension is in UPLOAD_EXTENSIONS."""
    extension = filename.rpartition(".")[2].lower()
    return "." in filename and extension in current_app.config["UPLOAD_EXTENSIONS"]


@bp.route("/upload", methods=["GET", "POST"])
def upload() -> ResponseReturnValue:
    """Store an uploaded file in the instance folder under a safe name."""
    if request.method == "GET":
        return render_template("tour/upload.html")
    file = request.files.get("file")
    filename = secure_filename(file.filename or "") if file else ""
    error = None
    if not file or not file.filename:
        error = "Choose a file to upload."
    elif not filename or not allowed_upload(filename):
        allowed = ", ".join(sorted(current_app.config["UPLOAD_EXTENSIONS"]))
        error = f"That file type is not accepted. Allowed: {allowed}."
    if error is not None:
        flash(error, "error")
        return render_template("tour/upload.html"), 400
    assert file is not None  # noqa: S101 - checked above
    folder = current_app.config["UPLOAD_FOLDER"]
    os.makedirs(folder, exist_ok=True)
    file.save(os.path.join(folder, filename))
    flash(f"Uploaded {filename}.", "success")
    return redirect(url_for("tour.upload"))


class CounterAPI(MethodView):
    """A class-based JSON view over a per-visitor counter kept in the session."""

    # JSON only: browsers cannot send a cross-site JSON POST without CORS, so the
    # content type check stands in for a CSRF token here.
    decorators: ClassVar[list[Callable[..., Any]]] = [csrf.exempt]

    def get(self) -> Response:
        """Read the counter."""
        return jsonify(count=session.get("count", 0))

    def post(self) -> Response:
        """Add ``by`` (default 1) to the counter."""
        if not request.is_json:
            raise UnsupportedMediaType("Send the request body as application/json.")
        payload = request.get_json(silent=True)
        by = payload.get("by", 1) if isinstance(payload, dict) else None
        if not isinstance(by, int) or isinstance(by, bool) or not 1 <= by <= 1000:
            raise BadRequest('Send {"by": n} with a whole number n from 1 to 1000.')
        session["count"] = session.get("count", 0) + by
        return jsonify(count=session["count"])

    def delete(self) -> Response:
        """Reset the counter."""
        session.pop("count", None)
        return jsonify(count=0)


bp.add_url_rule("/api/counter", view_func=CounterAPI.as_view("counter"))
