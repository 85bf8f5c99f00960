"""Password rules after NIST SP 800-63B: long enough, not common, not the user's own name.

``common-passwords.txt.gz`` is Django's list of the 20,000 commonest passwords
(django/contrib/auth/common-passwords.txt.gz from the Django 5.2 wheel, compiled by Royce
Williams; BSD-3-Clause, Copyright (c) Django Software Foundation and contributors).
The similarity test follows Django's UserAttributeSimilarityValidator.
"""

from __future__ import annotations

import functools
import gzip
import re
from collections.abc import Iterable
from difflib import SequenceMatcher
from pathlib import Path

from flask import current_app
from werkzeug.security import generate_password_hash

PASSWORD_MIN = 8
# NIST asks to allow at least 64; the bound keeps anyone from making the server hash megabytes.
PASSWORD_MAX = 128
COMMON_PASSWORDS = Path(__file__).with_name("common-passwords.txt.gz")
# As Django: a password this close to the username, the email or a part of them is refused.
MAX_SIMILARITY = 0.7


@functools.cache
def common_passwords() -> frozenset[str]:
    """The list, read once per process (about 20,000 lowercase entries)."""
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


def password_problem(password: str, identity: Iterable[str] = ()) -> str | None:
    """Why this password is refused, or None. Length is checked by the form field."""
    if password.lower().strip() in common_passwords():
        return "This password is one of the most common ones; choose another."
    if too_similar(password, identity):
        return "This password is too close to your username or email."
    return None


def hash_password(password: str) -> str:
    """A salted hash made with PASSWORD_HASH_METHOD."""
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


@functools.cache
def hash_prefix(method: str) -> str:
    """What a hash made with ``method`` starts with ("scrypt:32768:8:1"), parameters included."""
    return generate_password_hash("", method=method).split("$", 1)[0]


def needs_rehash(password_hash: str) -> bool:
    """True when the stored hash was made with another method or other parameters."""
    method = current_app.config["PASSWORD_HASH_METHOD"]
    return password_hash.split("$", 1)[0] != hash_prefix(method)
