"""The Flask tour: small, tested examples of Flask's everyday tools, one per route.

Route options (defaults, strict_slashes, redirect_to), the regex URL converter, a
response built by hand, a cookie, a file upload with ``secure_filename``, a class-based
JSON view over the session, and a template filter. Delete the tour when you no longer
need it: it is this {% if cookiecutter.auth == "yes" or cookiecutter.layout == "large" %}package{% else %}module{% endif %}, its templates, its tests and its line in ``create_app()``.
"""

from __future__ import annotations

from collections.abc import Callable
{%- if cookiecutter.auth == "yes" %}
from pathlib import Path
{%- endif %}
from typing import Any, ClassVar

from flask import (
    Blueprint,
{%- if cookiecutter.auth == "yes" %}
    Flask,
{%- endif %}
    Response,
{%- if cookiecutter.auth == "yes" %}
    abort,
{%- endif %}
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
{%- if cookiecutter.auth == "yes" %}
from flask.blueprints import BlueprintSetupState
{%- endif %}
from flask.typing import ResponseReturnValue
from flask.views import MethodView
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import BadRequest, UnsupportedMediaType
from werkzeug.utils import secure_filename

{% if cookiecutter.auth == "yes" -%}
from {{ cookiecutter.package_name }}.auth.current_user import logged_in_user, login_required
from {{ cookiecutter.package_name }}.auth.signals import account_deleted
{% endif -%}
from {{ cookiecutter.package_name }}.core.csrf import csrf
from {{ cookiecutter.package_name }}.core.limiter import limiter, remote_address
{%- if cookiecutter.auth == "yes" %}

from . import uploads
{%- endif %}

bp = Blueprint("tour", __name__{% if cookiecutter.layout == "large" %}, template_folder="templates"{% endif %})

THEMES = ("light", "dark")
THEME_COOKIE_MAX_AGE = 365 * 24 * 3600
# The largest id the item route matches (1-9 digits): the last item has no "next" link.
MAX_ITEM_ID = 999_999_999


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
    number = int(item_id)
    next_id = number + 1 if number < MAX_ITEM_ID else None
    return render_template("tour/item.html", item_id=number, next_id=next_id)


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


def upload_limit() -> str:
    """The throttle on upload POSTs, from config."""
    limit: str = current_app.config["UPLOAD_RATE_LIMIT"]
    return limit


def checked_upload() -> tuple[FileStorage, str]:
    """The uploaded file and the name to show for it, or a 400 saying what is wrong."""
    config = current_app.config
    file = request.files.get("file")
    original = file.filename if file else None
    if file is None or not original:
        raise BadRequest("Choose a file to upload.")
    if len(original) > config["UPLOAD_MAX_NAME_LENGTH"]:
        raise BadRequest(
            f"That file name is too long: at most {config['UPLOAD_MAX_NAME_LENGTH']} characters."
        )
    extension = original.rpartition(".")[2].lower() if "." in original else ""
    if extension not in config["UPLOAD_EXTENSIONS"]:
        allowed = ", ".join(sorted(config["UPLOAD_EXTENSIONS"]))
        raise BadRequest(f"That file type is not accepted. Allowed: {allowed}.")
    # secure_filename drops what it cannot spell in ASCII ("ファイル.txt" -> "txt").
    name = secure_filename(original)
    if not name.lower().endswith(f".{extension}"):
        name = f"file.{extension}"
    return file, name


{%- if cookiecutter.auth == "yes" %}


def upload_error(
    error: BadRequest | uploads.QuotaExceeded, page: Callable[[], str]
) -> ResponseReturnValue:
    """Show the upload page again with what went wrong, as a 400."""
    message = error.description if isinstance(error, BadRequest) else str(error)
    flash(message or "That upload was refused.", "error")
    return page(), 400


def upload_key() -> str:
    """Throttle key: the user when logged in, else the client address."""
    user = logged_in_user()
    return f"upload:user-{user.id}" if user else f"upload:{remote_address()}"


def my_folder() -> Path:
    """The logged-in user's upload folder (login_required has checked there is a user)."""
    user = logged_in_user()
    if user is None:
        abort(401)
    return uploads.user_folder(user.id)


def upload_page() -> str:
    """The form and the list of the user's files."""
    return render_template("tour/upload.html", files=uploads.list_files(my_folder()), stores=True)


@bp.route("/upload", methods=["GET", "POST"])
@login_required
@limiter.limit(upload_limit, key_func=upload_key, methods=["POST"])
def upload() -> ResponseReturnValue:
    """Keep an uploaded file in the user's own folder, within their quota."""
    if request.method != "POST":  # GET, and HEAD, which Flask routes with it
        return upload_page()
    try:
        file, name = checked_upload()
        stored = uploads.save(my_folder(), file, name)
    except (BadRequest, uploads.QuotaExceeded) as error:
        return upload_error(error, upload_page)
    flash(f"Uploaded {stored.name}.", "success")
    return redirect(url_for("tour.upload"))


@bp.post('/upload/<regex("[0-9a-f]{32}"):file_id>/delete')
@login_required
def delete_upload(file_id: str) -> ResponseReturnValue:
    """Delete one of the user's own files; another user's id is simply not found."""
    stored = uploads.find(my_folder(), file_id)
    if stored is None:
        abort(404)
    stored.path.unlink(missing_ok=True)
    flash(f"Deleted {stored.name}.", "success")
    return redirect(url_for("tour.upload"))


@bp.record_once
def delete_uploads_with_accounts(state: BlueprintSetupState) -> None:
    """Listen for deleted accounts of the app this blueprint is registered on."""
    account_deleted.connect(delete_files_of_deleted_account, state.app)


def delete_files_of_deleted_account(app: Flask, user_id: int) -> None:
    """A deleted account's files go with it (a failure here stops the deletion)."""
    uploads.delete_user_uploads(user_id)
{%- else %}


def upload_error(error: BadRequest, page: Callable[[], str]) -> ResponseReturnValue:
    """Show the upload page again with what went wrong, as a 400."""
    flash(error.description or "That upload was refused.", "error")
    return page(), 400


def upload_key() -> str:
    """Throttle key: the client address."""
    return f"upload:{remote_address()}"


def upload_page() -> str:
    """The form; without accounts there is no list of files."""
    return render_template("tour/upload.html", files=None, stores=False)


@bp.route("/upload", methods=["GET", "POST"])
@limiter.limit(upload_limit, key_func=upload_key, methods=["POST"])
def upload() -> ResponseReturnValue:
    """Check an uploaded file and say how it would be stored, without keeping it.

    Files kept for anonymous visitors could not be bounded (a new session is a new
    quota), so without accounts nothing is written to disk.
    """
    if request.method != "POST":  # GET, and HEAD, which Flask routes with it
        return upload_page()
    try:
        file, name = checked_upload()
    except BadRequest as error:
        return upload_error(error, upload_page)
    size = len(file.read())
    flash(f"Checked {name} ({size} bytes). Without accounts, uploads are not kept.", "success")
    return redirect(url_for("tour.upload"))
{%- endif %}


class CounterAPI(MethodView):
    """A class-based JSON view over a per-visitor counter kept in the session."""

    # JSON only: browsers cannot send a cross-site JSON POST without CORS, so the
    # content type check stands in for a CSRF token here.
    decorators: ClassVar[list[Callable[..., Any]]] = [csrf.exempt]
    # The view keeps nothing on self: one instance serves every request (Flask makes a new
    # one per request by default).
    init_every_request = False

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
        count = session["count"] = session.get("count", 0) + by
        return jsonify(count=count)

    def delete(self) -> Response:
        """Reset the counter."""
        session.pop("count", None)
        return jsonify(count=0)


bp.add_url_rule("/api/counter", view_func=CounterAPI.as_view("counter"))
