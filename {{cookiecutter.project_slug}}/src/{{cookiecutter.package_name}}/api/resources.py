"""The token's owner (``/me``) and their notes (``/notes``), each method needing a scope."""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask.views import MethodView
from flask_smorest import Page, abort
from sqlalchemy import Select, func, select
from werkzeug.exceptions import NotFound

from {{ cookiecutter.package_name }}.auth.models import as_utc, utcnow
from {{ cookiecutter.package_name }}.core.database import db

from .bearer import requires, token_user
from .blueprint import JSON, blp
from .models import MAX_ID, Note
from .schemas import NoteSchema, NoteUpdateSchema, UserSchema

# The query parameters of flask-smorest's pagination.
PAGE_PARAMETERS = {"page", "page_size"}


class QueryPage(Page):
    """flask-smorest's pagination over a SQLAlchemy query: one COUNT and one page of rows."""

    @property
    def item_count(self) -> int:
        """How many rows the whole query has."""
        query: Select[Any] = self.collection
        count = db.session.scalar(select(func.count()).select_from(query.subquery()))
        return count or 0

    @property
    def items(self) -> list[Any]:
        """This page's rows."""
        query: Select[Any] = self.collection
        offset = self.page_params.first_item
        if offset > MAX_ID:  # past any row, and past what the database takes as an offset
            return []
        return list(db.session.scalars(query.offset(offset).limit(self.page_params.page_size)))


@blp.route("/me")
class Me(MethodView):
    """The account the token belongs to."""

    init_every_request = False  # it keeps nothing on self

    @requires("read")
    @blp.response(200, UserSchema, content_type=JSON)
    def get(self) -> dict[str, Any]:
        """The token's owner, and the token's scopes."""
        user = token_user()
        return {
            "id": user.id,
            "username": user.username,
            "email": user.email,
            "created_at": as_utc(user.created_at),
            "scopes": token_scopes(),
        }


def token_scopes() -> list[str]:
    """The scopes of the request's token."""
    scopes: list[str] = g.api_token.scope_list
    return scopes


def refuse_unknown_query(known: set[str]) -> None:
    """A 422 for query parameters the operation does not take, as for unknown fields.

    flask-smorest's pagination lets unknown ones through; a misspelt ``pagesize`` would
    otherwise be ignored without a word.
    """
    unknown = set(request.args) - known
    if unknown:
        abort(422, errors={"query": {name: ["Unknown field."] for name in sorted(unknown)}})


def own_note(note_id: int) -> Note:
    """The token owner's note, or a 404 (another user's notes are not there for them)."""
    note: Note | None = db.session.get(Note, note_id)
    if note is None or note.user_id != token_user().id:
        raise NotFound("There is no such note.")
    return note


@blp.route("/notes")
class Notes(MethodView):
    """The token owner's notes."""

    init_every_request = False  # it keeps nothing on self

    @requires("read")
    @blp.response(200, NoteSchema(many=True), content_type=JSON)
    @blp.paginate(QueryPage)
    def get(self) -> Select[Any]:
        """The notes, newest first, a page at a time (X-Pagination says where you are)."""
        refuse_unknown_query(PAGE_PARAMETERS)
        return select(Note).where(Note.user_id == token_user().id).order_by(Note.id.desc())

    @requires("write")
    @blp.arguments(NoteSchema)
    @blp.response(201, NoteSchema, content_type=JSON)
    def post(self, fields: dict[str, Any]) -> Note:
        """Add a note."""
        note = Note(user_id=token_user().id, **fields)
        db.session.add(note)
        db.session.commit()
        return note


@blp.route(f"/notes/<int(max={MAX_ID}):note_id>")
class NoteItem(MethodView):
    """One of the token owner's notes."""

    init_every_request = False  # it keeps nothing on self

    @requires("read")
    @blp.response(200, NoteSchema, content_type=JSON)
    def get(self, note_id: int) -> Note:
        """The note."""
        return own_note(note_id)

    @requires("write")
    @blp.arguments(NoteUpdateSchema)
    @blp.response(200, NoteSchema, content_type=JSON)
    def patch(self, fields: dict[str, Any], note_id: int) -> Note:
        """Change the note's title or body."""
        note = own_note(note_id)
        for name, value in fields.items():
            setattr(note, name, value)
        note.updated_at = utcnow()
        db.session.commit()
        return note

    @requires("write")
    @blp.response(204)
    def delete(self, note_id: int) -> None:
        """Delete the note."""
        db.session.delete(own_note(note_id))
        db.session.commit()
