"""Personal access tokens: made, found by their hash, used, revoked.

A token is ``fsa_`` and 43 random URL-safe characters (256 bits): a plain sha256 of it is
enough to store, as nobody can guess their way back through it, and it is the lookup key.
Its first PREFIX_LENGTH characters are kept visible, so a leaked token can be found in the
owner's list and revoked.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, select, update

from {{ cookiecutter.package_name }}.auth.models import User, as_utc, utcnow
from {{ cookiecutter.package_name }}.core.database import db

from .models import SCOPES, AccessToken

# A token's "last used" is written at most this often: a busy client costs one UPDATE a
# minute, not one per request.
USED_INTERVAL = timedelta(minutes=1)
TOKEN_PREFIX = "fsa_"  # noqa: S105 - the visible start of every token, not a secret
PREFIX_LENGTH = len(TOKEN_PREFIX) + 8


# Built once: every API request runs it, and building it costs more than running it.
FIND = (
    select(AccessToken, User)
    .join(User, User.id == AccessToken.user_id)
    .where(AccessToken.token_hash == bindparam("token_hash"))
)


def token_hash(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue(user_id: int, name: str, scopes: Iterable[str], days: int) -> tuple[AccessToken, str]:
    """A new token for the user, valid ``days``: its row, and the token, shown once."""
    chosen = [scope for scope in SCOPES if scope in set(scopes)]
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = AccessToken(
        user_id=user_id,
        name=name,
        prefix=token[:PREFIX_LENGTH],
        token_hash=token_hash(token),
        scopes=" ".join(chosen),
        expires_at=utcnow() + timedelta(days=days),
    )
    db.session.add(row)
    db.session.commit()
    return row, token


def find(token: str) -> tuple[AccessToken, User] | None:
    """The live token (neither expired nor revoked) this string is, if any, and its owner,
    in one query."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    found = db.session.execute(FIND, {"token_hash": token_hash(token)}).first()
    if found is None:
        return None
    row, user = found
    if row.revoked_at is not None or expired(row):
        return None
    return row, user


def expired(row: AccessToken) -> bool:
    """Whether the token's lifetime is over."""
    return as_utc(row.expires_at) <= utcnow()


def note_use(row: AccessToken) -> None:
    """Record that the token was used, at most once per USED_INTERVAL."""
    now = utcnow()
    if row.last_used_at is not None and now - as_utc(row.last_used_at) < USED_INTERVAL:
        return
    db.session.execute(update(AccessToken).where(AccessToken.id == row.id).values(last_used_at=now))
    db.session.commit()


def tokens_of(user_id: int) -> list[dict[str, object]]:
    """The user's tokens that are not revoked, newest first (expired ones too, marked)."""
    query = (
        select(AccessToken)
        .where(AccessToken.user_id == user_id, AccessToken.revoked_at.is_(None))
        .order_by(AccessToken.id.desc())
    )
    return [listed(row) for row in db.session.scalars(query)]


def revoke(user_id: int, token_id: int | None = None) -> int:
    """Revoke one of the user's tokens (or all of them): how many were live."""
    query = update(AccessToken).where(
        AccessToken.user_id == user_id, AccessToken.revoked_at.is_(None)
    )
    if token_id is not None:
        query = query.where(AccessToken.id == token_id)
    count: int = db.session.execute(query.values(revoked_at=utcnow())).rowcount  # type: ignore[attr-defined]
    db.session.commit()
    return count


def in_utc(moment: datetime) -> datetime:
    """A stored moment in UTC, whatever zone the database handed it back in."""
    return as_utc(moment).astimezone(UTC)


def listed(row: AccessToken) -> dict[str, object]:
    """What the tokens page shows of a token: never the token itself."""
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "scopes": row.scopes,
        "expires": in_utc(row.expires_at),
        "expired": expired(row),
        "last_used": in_utc(row.last_used_at) if row.last_used_at else None,
    }
