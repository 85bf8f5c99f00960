"""Password rules after NIST SP 800-63B: long enough, not common, not the user's own name.

A password is NFKC-normalised (``normalise``) before it is checked against the rules,
hashed or compared, so every way of typing it is the same password (SP 800-63B 5.1.1.2);
its length counts only the characters that show. Hashes made before passwords were
normalised still match the text as typed, and login redoes them.

``common-passwords.txt.gz`` is Django's list of the 20,000 commonest passwords
(django/contrib/auth/common-passwords.txt.gz from the Django 5.2 wheel, compiled by Royce
Williams; BSD-3-Clause, Copyright (c) Django Software Foundation and contributors).
The similarity test follows Django's UserAttributeSimilarityValidator.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from difflib import SequenceMatcher
from pathlib import Path

from flask import current_app
from werkzeug.security import generate_password_hash

from .hash_slots import hash_slot
from .normalise import nfkc, visible_length

PASSWORD_MIN = 8
# NIST asks to allow at least 64; the bound keeps anyone from making the server hash megabytes.
PASSWORD_MAX = 128
COMMON_PASSWORDS = Path(__file__).with_name("common-passwords.txt.gz")
LENGTH_RULE = (
    f"Use between {PASSWORD_MIN} and {PASSWORD_MAX} characters; spaces and invisible "
    f"characters do not count towards the {PASSWORD_MIN}."
)
# As Django: a password this close to the username, the email or a part of them is refused.
MAX_SIMILARITY = 0.7


@functools.cache
def common_passwords() -> frozenset[str]:
    """The list, read once per process (about 20,000 lowercase entries)."""
    import gzip  # here, not at start-up, like the list

    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines)


def too_similar(password: str, identity: Iterable[str]) -> bool:
    """True if the password is close to one of the values, or to a word of one."""
    lowered = password.lower()
    for value in identity:
        value = value.lower()
        for part in {value, *re.split(r"\W+", value)}:
            if len(part) < 3:
                continue
            matcher = SequenceMatcher(a=lowered, b=part)
            if matcher.quick_ratio() >= MAX_SIMILARITY and matcher.ratio() >= MAX_SIMILARITY:
                return True
    return False


def normalise_password(password: str) -> str:
    """The text that is hashed and compared: the password in NFKC."""
    return nfkc(password)


def length_problem(password: str) -> str | None:
    """LENGTH_RULE if the password breaks it, else None."""
    if visible_length(password) < PASSWORD_MIN or len(password) > PASSWORD_MAX:
        return LENGTH_RULE
    return None


def password_problem(password: str, identity: Iterable[str] = ()) -> str | None:
    """Why this password is refused, or None. Length is checked by the form field."""
    password = normalise_password(password)
    if password.lower().strip() in common_passwords():
        return "This password is one of the most common ones; choose another."
    if too_similar(password, identity):
        return "This password is too close to your username or email."
    return None


def hash_password(password: str) -> str:
    """A salted hash of the normalised password, made with PASSWORD_HASH_METHOD."""
    method = current_app.config["PASSWORD_HASH_METHOD"]
    with hash_slot():
        return generate_password_hash(normalise_password(password), method=method)


def accepted_form(check: Callable[[str], bool], password: str) -> str | None:
    """The form of the typed password that ``check`` (a stored hash's) accepts, or None.

    The normalised form first, then the text as typed (what a hash made before passwords
    were normalised holds), in one hashing slot. Login tries an unknown user's password on
    a dummy hash the same way, so both take as long.
    """
    with hash_slot():
        for candidate in dict.fromkeys((normalise_password(password), password)):
            if check(candidate):
                return candidate
    return None


@functools.cache
def hash_prefix(method: str) -> str:
    """What a hash made with ``method`` starts with ("scrypt:32768:8:1"), parameters included."""
    return generate_password_hash("", method=method).split("$", 1)[0]


def needs_rehash(password_hash: str) -> bool:
    """True when the stored hash was made with another method or other parameters."""
    method = current_app.config["PASSWORD_HASH_METHOD"]
    return password_hash.split("$", 1)[0] != hash_prefix(method)
