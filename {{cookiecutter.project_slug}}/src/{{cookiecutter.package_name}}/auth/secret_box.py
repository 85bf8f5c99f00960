"""Two-factor secrets at rest: encrypted, and recovery codes kept as keyed hashes.

The key is MFA_ENCRYPTION_KEY, or SECRET_KEY when that is unset, stretched by HKDF into
one key per use, so a dump of the database alone yields no secret and no code. Changing
the key makes the stored secrets unreadable: their owners then need ``flask users
reset-two-factor`` (README, accounts).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from typing import TYPE_CHECKING

from flask import current_app

# cryptography is imported where it is used: only two-factor pages and sign-ins need it,
# and every process start (each worker, each flask command) would pay for it.
if TYPE_CHECKING:
    from cryptography.fernet import Fernet

# One derived key per use: the cipher's key never doubles as the hash's.
SEALING = b"two-factor secret sealing"
HASHING = b"recovery code hashing"


class SecretUnreadable(Exception):
    """A sealed secret that this key did not seal (the key changed, or the value did)."""


@functools.cache
def derived_key(material: str, purpose: bytes) -> bytes:
    """32 bytes for ``purpose`` from the configured key (HKDF-SHA256)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose)
    return hkdf.derive(material.encode())


def key_material() -> str:
    """MFA_ENCRYPTION_KEY, or SECRET_KEY when that is unset."""
    material: str = current_app.config["MFA_ENCRYPTION_KEY"] or current_app.config["SECRET_KEY"]
    return material


def cipher() -> Fernet:
    """The app's Fernet cipher (AES-128-CBC with HMAC-SHA256: tampering is detected)."""
    from cryptography.fernet import Fernet

    return Fernet(base64.urlsafe_b64encode(derived_key(key_material(), SEALING)))


def seal(secret: str) -> str:
    """``secret`` encrypted, as text for a column."""
    return cipher().encrypt(secret.encode()).decode()


def unseal(sealed: str) -> str:
    """The secret ``seal`` encrypted; SecretUnreadable if this key did not seal it."""
    from cryptography.fernet import InvalidToken

    try:
        return cipher().decrypt(sealed.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("the two-factor secret does not open with this key") from exc


def keyed_hash(value: str) -> str:
    """HMAC-SHA256 of ``value``: what is stored of a random, high-entropy recovery code."""
    key = derived_key(key_material(), HASHING)
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
