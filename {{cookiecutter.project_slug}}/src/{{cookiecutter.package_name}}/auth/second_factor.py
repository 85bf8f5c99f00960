"""The second factor of signing in: a time-based code (TOTP, RFC 6238, by pyotp) from an
authenticator app, or one of the account's single-use recovery codes.

A code is accepted once: the row keeps the time step of the last code accepted, and only a
later step passes, set by one conditional UPDATE so two requests racing with the same code
cannot both win. One step of clock drift either way is allowed (``valid_window=1``).
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from flask import current_app
from markupsafe import Markup
from sqlalchemy import delete, func, select, update

from {{ cookiecutter.package_name }}.core.database import db

from .models import RecoveryCode, TwoFactor, User, utcnow
from .secret_box import SecretUnreadable, keyed_hash, seal, unseal

if TYPE_CHECKING:
    import pyotp

# Steps either side of now whose codes are accepted: a phone's clock a little off.
DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
# 12 characters of base32 (60 bits), in groups of four for reading off a printout.
RECOVERY_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
RECOVERY_GROUPS = 3


def new_secret() -> str:
    """A fresh random secret (160 bits, base32) for an authenticator app."""
    import pyotp  # here, not at start-up: only the two-factor pages need it

    return pyotp.random_base32(32)


def totp(secret: str) -> pyotp.TOTP:
    """The code generator of ``secret`` (6 digits, 30 seconds)."""
    import pyotp

    return pyotp.TOTP(secret)


def setup_uri(secret: str, user: User) -> str:
    """The otpauth:// link an authenticator app reads from the QR code."""
    issuer: str = current_app.config["APP_NAME"]
    return totp(secret).provisioning_uri(name=user.username, issuer_name=issuer)


def qr_code_svg(uri: str) -> Markup:
    """The QR code of ``uri`` as an inline SVG element: no image request, no script."""
    import segno  # here, not at start-up: only the page that turns two-factor on draws one

    svg: str = segno.make(uri, error="m").svg_inline(
        scale=4,
        dark="#000",
        light="#fff",
        title="QR code for your authenticator app",
        svgclass="qr-code",
        lineclass=None,
    )
    # segno writes the markup itself, drawing only the bits of the link: nothing to escape.
    return Markup(svg)  # noqa: S704  # nosec B704


def matching_step(secret: str, code: str, after: int | None = None) -> int | None:
    """The time step whose code is ``code`` (now, or one step either side), if it is later
    than ``after``; else None."""
    code = "".join(code.split())
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return None
    generator = totp(secret)
    now = time.time()
    current = generator.timecode(datetime.fromtimestamp(now, UTC))
    for offset in range(-DRIFT_STEPS, DRIFT_STEPS + 1):
        step = current + offset
        if after is not None and step <= after:
            continue
        expected = generator.at(now, counter_offset=offset)
        if secrets.compare_digest(expected, code):
            return step
    return None


def two_factor_of(user: User) -> TwoFactor | None:
    """The account's code generator row, None while two-factor sign-in is off."""
    row: TwoFactor | None = db.session.get(TwoFactor, user.id)
    return row


def is_on(user: User) -> bool:
    """True if signing in to this account needs a second factor."""
    return two_factor_of(user) is not None


def turn_on(user: User, secret: str, step: int) -> list[str]:
    """Turn two-factor sign-in on with ``secret`` (its code of ``step`` just typed); the new
    recovery codes, to show once."""
    db.session.add(TwoFactor(user_id=user.id, secret=seal(secret), last_step=step))
    return new_recovery_codes(user)


def turn_off(user: User) -> bool:
    """Turn two-factor sign-in off and drop the recovery codes; False if it was off."""
    removed = db.session.execute(delete(TwoFactor).where(TwoFactor.user_id == user.id))
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.commit()
    return bool(getattr(removed, "rowcount", 0))


def use_app_code(user: User, code: str) -> bool:
    """True, once, for a current code of the account's app; the step is then spent."""
    row = two_factor_of(user)
    if row is None:
        return False
    try:
        secret = unseal(row.secret)
    except SecretUnreadable:
        # The key changed: no code can match until an operator resets the account's 2FA.
        current_app.logger.error("The two-factor secret of account %s does not open", user.id)
        return False
    step = matching_step(secret, code, after=row.last_step)
    if step is None:
        return False
    # Only the request that moves last_step on wins: a copy racing it finds it moved.
    spent = db.session.execute(
        update(TwoFactor)
        .where(TwoFactor.user_id == user.id, TwoFactor.last_step < step)
        .values(last_step=step)
    )
    db.session.commit()
    return bool(getattr(spent, "rowcount", 0))


def make_recovery_code() -> str:
    """A random code such as ``k7fq-2mzx-p9ad``."""
    chars = [secrets.choice(RECOVERY_ALPHABET) for _ in range(4 * RECOVERY_GROUPS)]
    return "-".join("".join(chars[i : i + 4]) for i in range(0, len(chars), 4))


def normalise_recovery_code(typed: str) -> str:
    """A typed code as it was made: lower case, grouped, spaces and dashes as they come."""
    bare = "".join(char for char in typed.lower() if char.isalnum())
    return "-".join(bare[i : i + 4] for i in range(0, len(bare), 4))


def new_recovery_codes(user: User) -> list[str]:
    """Replace the account's recovery codes with RECOVERY_CODE_COUNT new ones; return them."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [make_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=keyed_hash(c)) for c in codes)
    db.session.commit()
    return codes


def use_recovery_code(user: User, typed: str) -> bool:
    """True, once, for one of the account's unused recovery codes; it is then spent."""
    if not is_on(user) or len(typed) > 64:
        return False
    code_hash = keyed_hash(normalise_recovery_code(typed))
    spent = db.session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == code_hash,
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
    db.session.commit()
    return bool(getattr(spent, "rowcount", 0))


def recovery_codes_left(user: User) -> int:
    """How many of the account's recovery codes are unused."""
    query = select(func.count()).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
    )
    return int(db.session.scalar(query) or 0)


def use_any_code(user: User, typed: str) -> str | None:
    """Check what the user typed: an app code (six digits) or a recovery code. Which kind was
    accepted ("app" or "recovery"), or None."""
    if "".join(typed.split()).isdigit():
        return "app" if use_app_code(user, typed) else None
    return "recovery" if use_recovery_code(user, typed) else None


def forget_account(sender: object, user_id: int) -> None:
    """On ``account_deleted``: remove the account's two-factor rows with it (SQLite does not
    enforce the foreign keys' ON DELETE CASCADE)."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    db.session.execute(delete(TwoFactor).where(TwoFactor.user_id == user_id))
