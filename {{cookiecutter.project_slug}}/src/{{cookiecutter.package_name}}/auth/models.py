"""The account model."""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, String, func, select
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash

from {{ cookiecutter.package_name }}.core.database import db

from .passwords import hash_password, needs_rehash


def utcnow() -> datetime:
    """Timezone-aware now, for column defaults."""
    return datetime.now(UTC)


def new_session_key() -> str:
    """A random value of the account's own, that the account's sessions carry."""
    return secrets.token_hex(16)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every one we store is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class User(db.Model):  # type: ignore[name-defined,misc]
    """An account that can log in once its email address is verified."""

    __tablename__ = "users"

    # Never reused (an identity column; AUTOINCREMENT on SQLite): a deleted account's id
    # never names a newer one.
    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    username: Mapped[str] = mapped_column(String(32))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # None until the owner opens the link mailed to them; they cannot log in before.
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Sessions that logged in before this moment are no longer accepted.
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Stored in each session at login and checked on every use: a session whose account is
    # gone, or whose id now names another account, is ended.
    session_key: Mapped[str] = mapped_column(String(32), default=new_session_key)

    # "Alice" and "alice" are the same user.
    __table_args__ = (
        Index("ix_users_username_lower", func.lower(username), unique=True),
        {"sqlite_autoincrement": True},
    )

    @property
    def verified(self) -> bool:
        """True once the email address is confirmed."""
        return self.verified_at is not None

    def set_password(self, password: str) -> None:
        """Store a salted hash (PASSWORD_HASH_METHOD), never the password."""
        self.password_hash = hash_password(password)

    def change_password(self, password: str) -> None:
        """Set a new password and note when, which ends the sessions started before."""
        self.set_password(password)
        self.password_changed_at = utcnow()

    def check_password(self, password: str) -> bool:
        """True if the password matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    def rehash_if_needed(self, password: str) -> bool:
        """After a successful check: redo a hash made with old settings. True if redone."""
        if not needs_rehash(self.password_hash):
            return False
        self.set_password(password)
        return True

    def password_changed_since(self, timestamp: float) -> bool:
        """True if the password changed after ``timestamp`` (whole seconds since the epoch)."""
        if self.password_changed_at is None:
            return False
        return int(as_utc(self.password_changed_at).timestamp()) > timestamp

    def holds(self, session_key: object, auth_at: float) -> bool:
        """True if a session that logged in at ``auth_at`` with ``session_key`` is still ours."""
        if not isinstance(session_key, str) or not session_key.isascii():
            return False
        same = hmac.compare_digest(session_key, self.session_key)
        return same and not self.password_changed_since(auth_at)

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

    @classmethod
    def by_login(cls, name: str) -> User | None:
        """Find a user by what the login form names (``normalise.login_name``): an address
        or a username."""
        return cls.by_email(name) if "@" in name else cls.by_username(name)

    def __repr__(self) -> str:
        return f"<User {self.username!r}>"


class TwoFactor(db.Model):  # type: ignore[name-defined,misc]
    """An account's time-based code generator; the row exists while two-factor sign-in is on."""

    __tablename__ = "two_factor"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # Encrypted (``secret_box``): a dump of the database alone does not give it away.
    secret: Mapped[str] = mapped_column(String(255))
    enabled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The time step of the last code accepted: a code of that step or before is refused,
    # so an overheard code cannot be typed again.
    last_step: Mapped[int] = mapped_column(BigInteger)


class RecoveryCode(db.Model):  # type: ignore[name-defined,misc]
    """A single-use code that stands in for the app's code (the phone lost)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # A keyed hash (``secret_box``): the codes are random, so no slow hash is needed.
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
