"""Each user's active sessions, for the sessions page and for signing out everywhere.

One Redis hash per user, ``<SESSION_KEY_PREFIX>user:<id>``: field ``<sid>`` holds when the
session started, its address and browser (JSON); field ``<sid>:seen`` when it was last
used. The session itself carries only the user id, the account's session key and two
timestamps, so it stays small. Logins add a field, logouts and rotations move or remove it,
and listing drops the ids whose session has expired. Any number of app instances share it
through Redis. Losing it (an eviction) lists nothing but keeps no deleted account's session
usable: ``current_user`` checks every session against its account's row.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import current_app, request, session
from redis.exceptions import LockNotOwnedError

from {{ cookiecutter.package_name }}.core import redis_client
from {{ cookiecutter.package_name }}.core.lazy_session import SessionStoreUnavailable
from {{ cookiecutter.package_name }}.core.limiter import remote_address
from {{ cookiecutter.package_name }}.core.session_keys import (
    delete_sessions,
    existing_sessions,
    store_call,
)
from {{ cookiecutter.package_name }}.core.sessions import current_session_id

SEEN = ":seen"
USER_AGENT_MAX = 200
# Beside the user's hash: held while a request ends some of the user's sessions.
LOCK = ":lock"
# Such a request takes a few round trips; a lock its worker died holding frees itself.
LOCK_SECONDS = 5


@dataclass(frozen=True)
class SessionInfo:
    """One active session as the sessions page shows it."""

    sid: str
    started: float
    last_seen: float
    address: str
    browser: str

    @property
    def handle(self) -> str:
        """Names the session in pages and forms without revealing its id."""
        return session_handle(self.sid)


def session_handle(sid: str) -> str:
    """A short one-way name for a session id."""
    return hashlib.sha256(sid.encode()).hexdigest()[:20]


def index_key(user_id: int) -> str:
    """The Redis hash of this user's sessions, beside the sessions themselves."""
    return f"{current_app.config['SESSION_KEY_PREFIX']}user:{user_id}"


def index_ttl() -> int:
    """Outlives any session in it: sessions slide their expiry by at most one lifetime."""
    return int(current_app.permanent_session_lifetime.total_seconds() * 2)


def client() -> Any:
    """The app's Redis client.

    Typed Any, as the session interface's is: redis-py types every reply bytes | str, and
    ours are bytes (no decode_responses).
    """
    return redis_client.get_client()


def this_session_details() -> str:
    """Start time, address and browser of the current request, as stored."""
    browser = request.headers.get("User-Agent", "")[:USER_AGENT_MAX]
    details = {"started": int(time.time()), "address": remote_address(), "browser": browser}
    return json.dumps(details)


def record_login(user_id: int) -> None:
    """Add the current (just rotated) session to the user's index."""
    sid, now = current_session_id(), int(time.time())
    pipe = client().pipeline(transaction=False)
    pipe.hset(index_key(user_id), mapping={sid: this_session_details(), sid + SEEN: now})
    pipe.expire(index_key(user_id), index_ttl())
    store_call(pipe.execute)


def touch(user_id: int) -> None:
    """Note that the current session is in use, at most once per SESSION_SEEN_INTERVAL."""
    now = int(time.time())
    interval = current_app.config["SESSION_SEEN_INTERVAL"].total_seconds()
    if now - session.get("seen", 0) < interval:
        return
    session["seen"] = now
    sid = current_session_id()
    pipe = client().pipeline(transaction=False)
    pipe.hset(index_key(user_id), sid + SEEN, now)
    # A session from before the index existed is listed from now on.
    pipe.hsetnx(index_key(user_id), sid, this_session_details())
    pipe.expire(index_key(user_id), index_ttl())
    store_call(pipe.execute)


def rename(user_id: int, old_sid: str, new_sid: str) -> None:
    """Keep a rotated session's entry under its new id (same start, address, browser)."""
    key = index_key(user_id)
    details = store_call(lambda: client().hget(key, old_sid))
    pipe = client().pipeline(transaction=False)
    pipe.hdel(key, old_sid, old_sid + SEEN)
    pipe.hset(
        key, mapping={new_sid: details or this_session_details(), new_sid + SEEN: int(time.time())}
    )
    pipe.expire(key, index_ttl())
    store_call(pipe.execute)


def forget(user_id: int, sids: list[str]) -> None:
    """Drop these sessions from the index (their keys are deleted elsewhere, or expired)."""
    if sids:
        fields = [field for sid in sids for field in (sid, sid + SEEN)]
        store_call(lambda: client().hdel(index_key(user_id), *fields))


def active_sessions(user_id: int) -> list[SessionInfo]:
    """The user's live sessions, most recently used first; expired ones are pruned."""
    raw = store_call(lambda: client().hgetall(index_key(user_id)))
    fields = {key.decode(): value.decode() for key, value in raw.items()}
    sids = [field for field in fields if not field.endswith(SEEN)]
    found, expired = [], []
    for sid, live in zip(sids, existing_sessions(sids), strict=True):
        if not live:
            expired.append(sid)
            continue
        details = json.loads(fields[sid])
        seen = float(fields.get(sid + SEEN, details["started"]))
        found.append(
            SessionInfo(sid, details["started"], seen, details["address"], details["browser"])
        )
    forget(user_id, expired)
    return sorted(found, key=lambda info: info.last_seen, reverse=True)


def end_sessions(user_id: int, sids: list[str]) -> None:
    """Sign these sessions out now, wherever they are in use."""
    if sids:
        delete_sessions(sids)
        forget(user_id, sids)


def indexed_sessions(user_id: int) -> list[str]:
    """The ids in the user's index, expired or not."""
    raw = store_call(lambda: client().hkeys(index_key(user_id)))
    return [name for name in (field.decode() for field in raw) if not name.endswith(SEEN)]


def end_all_sessions(user_id: int, keep: str | None = None) -> int:
    """Sign out every session of the user except ``keep``; how many ended."""
    ended = [sid for sid in indexed_sessions(user_id) if sid != keep]
    end_sessions(user_id, ended)
    return len(ended)


@contextmanager
def user_lock(user_id: int) -> Iterator[None]:
    """One request at a time ends the user's sessions, whichever app instance runs it."""
    lock = client().lock(
        index_key(user_id) + LOCK, timeout=LOCK_SECONDS, blocking_timeout=LOCK_SECONDS + 1
    )
    if not store_call(lock.acquire):
        raise SessionStoreUnavailable  # held past its expiry: something is wrong with Redis
    try:
        yield
    finally:
        store_call(lambda: release(lock))


def release(lock: Any) -> None:
    """Free the lock; one that expired first is logged, as another request may have run."""
    try:
        lock.release()
    except LockNotOwnedError:
        current_app.logger.warning("Ending sessions took longer than %s s", LOCK_SECONDS)


def end_other_sessions(user_id: int, chosen: list[str] | None = None) -> int | None:
    """Sign out the chosen sessions of the user, or all but this one; how many ended.

    None, and nothing ended, when this session was itself signed out while the request
    ran. Two devices signing each other out at once would otherwise both end; under the
    user's lock the second finds out, and the first stays signed in.
    """
    here = current_session_id()
    with user_lock(user_id):
        listed = indexed_sessions(user_id)
        if here not in listed and not existing_sessions([here])[0]:
            return None
        ended = [sid for sid in (listed if chosen is None else chosen) if sid != here]
        end_sessions(user_id, ended)
    return len(ended)
