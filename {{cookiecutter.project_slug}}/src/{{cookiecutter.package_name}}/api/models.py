"""What the API stores: personal access tokens and the notes a token's owner keeps."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Identity, String, Text, delete
from sqlalchemy.orm import Mapped, mapped_column

from {{ cookiecutter.package_name }}.auth.models import utcnow
from {{ cookiecutter.package_name }}.core.database import db

SCOPES = ("read", "write")
# The database's integer: ids (and page offsets) past it find nothing, rather than overflow.
MAX_ID = 2**31 - 1


class AccessToken(db.Model):  # type: ignore[name-defined,misc]
    """A personal access token: only its hash is kept, and a prefix to recognise it by."""

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # The token's first characters ("fsa_" and a few more): shown in lists and greppable
    # in a leaked file, never enough to use it.
    prefix: Mapped[str] = mapped_column(String(16))
    # sha256 of the whole token, hex: the lookup key; the token itself is never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Space-separated, from SCOPES.
    scopes: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def scope_list(self) -> list[str]:
        """The scopes as a list."""
        return self.scopes.split()


class Note(db.Model):  # type: ignore[name-defined,misc]
    """A short text a user keeps: the example resource of the API."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def forget_account(sender: object, user_id: int) -> None:
    """On ``account_deleted``: the account's tokens and notes go with it (SQLite does not
    enforce the foreign keys' ON DELETE CASCADE)."""
    db.session.execute(delete(AccessToken).where(AccessToken.user_id == user_id))
    db.session.execute(delete(Note).where(Note.user_id == user_id))
