"""One form for what people type: the text the accounts store, compare and count.

Unicode spells one text many ways: "ﬁ" and "fi", fullwidth letters and plain ones, a
composed "é" and "e" followed by a combining accent; NFKC folds those together. Some code
points show nothing at all (a zero-width space, U+034F COMBINING GRAPHEME JOINER,
variation selectors): Unicode's default-ignorable code points, which an address drops and
a password's length does not count.
"""

from __future__ import annotations

import unicodedata


class AddressRefused(ValueError):
    """Not an address the app can mail; the message says why."""


# Unicode's Default_Ignorable_Code_Point ranges (DerivedCoreProperties.txt of Unicode 15),
# which unicodedata does not expose.
DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)


def nfkc(text: str) -> str:
    """``text`` in Unicode normalization form KC."""
    return unicodedata.normalize("NFKC", text)


def ignorable(char: str) -> bool:
    """True for a default-ignorable code point: one that shows nothing where unsupported."""
    code = ord(char)
    return any(low <= code <= high for low, high in DEFAULT_IGNORABLE)


def visible_length(text: str) -> int:
    """How many characters of ``text`` show: spaces, control, format and default-ignorable
    code points do not count."""
    shown = [char for char in nfkc(text) if unicodedata.category(char)[0] not in "ZC"]
    return sum(1 for char in shown if not ignorable(char))


def mail_address(text: str) -> str:
    """The address as the app mails it: NFKC, invisible code points and the spaces around it
    removed, then email_validator's normalisation, lowercased.

    The register, resend and forgot-password forms store and mail this, and their limit
    counts it, so no spelling of one mailbox gets its own. Raises AddressRefused.
    """
    # Imported here, not at the top: email_validator loads its IDNA tables, a start-up cost
    # for every process when only a form with an address needs it.
    from email_validator import EmailNotValidError, validate_email

    folded = "".join(char for char in nfkc(text) if not ignorable(char)).strip()
    try:
        return validate_email(folded, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AddressRefused(str(exc)) from exc


def login_name(text: str) -> str:
    """What the login form's one field names: an address (it holds an "@", which no username
    can) as ``mail_address`` spells it, else a username, lowercased as usernames compare.

    An address ``mail_address`` refuses is kept as typed: no account has it, so it fails
    like an unknown username, after the same password hash.
    """
    if "@" in nfkc(text):
        try:
            return mail_address(text)
        except AddressRefused:
            pass
    return text.strip().lower()
