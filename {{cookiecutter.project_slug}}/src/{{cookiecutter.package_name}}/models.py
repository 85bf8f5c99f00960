"""The account model."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Index, String, func, select
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from {{ cookiecutter.package_name }}.core.database import db


def utcnow() -> datetime:
    """Timezone-aware now, for column defaults."""
    return datetime.now(UTC)


class User(db.Model):  # type: ignore[name-defined,misc]
    """An account that can log in."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(32))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    # "Alice" and "alice" are the same user.
    __table_args__ = (Index("ix_users_username_lower", func.lower(username), unique=True),)

    def set_password(self, password: str) -> None:
        """Store a salted hash (scrypt), never the password."""
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        """True if the password matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    @classmethod
    def by_username(cls, username: str) -> User | None:
        """Find a user by name, ignoring case."""
        query = select(cls).where(func.lower(cls.username) == username.strip().lower())
        user: User | None = db.session.scalar(query)
        return user

    @classmethod
    def by_email(cls, email: str) -> User | None:
        """Find a user by (normalised) email."""
        user: User | None = db.session.scalar(select(cls).where(cls.email == email))
        return user

    def __repr__(self) -> str:
        return f"<User {self.username!r}>"
