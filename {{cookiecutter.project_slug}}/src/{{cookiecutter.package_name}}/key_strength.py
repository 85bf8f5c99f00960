"""How hard SECRET_KEY is to guess: a rough estimate, in bits, of the randomness it holds.

Read left to right, each character is worth the bits of the character classes the key
uses (lower case 26, upper case 26, digits 10, anything else 33), except what a guesser
tries first, worth little or nothing:

- a repeat of an earlier part (3 characters or more, in any case), a symbol used before,
  the app's own name or a word of it, and the words keys are made of ("secret", "key",
  "production"...): nothing;
- a run such as ``abc``, ``321``, ``qwerty`` or ``aaa``: one character;
- a word-like run (3 to 8 letters in one case or capitalised, with a vowel and no four
  consonants in a row): at most ``WORD_BITS``.

``secrets.token_urlsafe(32)`` holds 256 bits and is estimated at well over
``MIN_SECRET_BITS``; a key made of words, counting or repeats is not.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterable

MIN_SECRET_BITS = 128
# A word from a dictionary of 65,536.
WORD_BITS = 16
# Shorter repeats and runs happen by chance in random keys.
SHORTEST = 3
CLASSES = (
    (string.ascii_lowercase, 26),
    (string.ascii_uppercase, 26),
    (string.digits, 10),
)
OTHER_CHARACTERS = 33
ROWS = ("abcdefghijklmnopqrstuvwxyz", "0123456789", "qwertyuiop", "asdfghjkl", "zxcvbnm")
RUNS = ROWS + tuple(row[::-1] for row in ROWS)
WORD = re.compile(r"[A-Z][a-z]{2,7}|[a-z]{3,8}|[A-Z]{3,8}")
VOWEL = re.compile(r"[aeiouy]", re.IGNORECASE)
# Words rarely have four consonants in a row; random letters often do.
CONSONANTS = re.compile(r"[b-df-hj-np-tv-xz]{4}", re.IGNORECASE)
# What keys are made of when a person makes them up.
KEY_WORDS = (
    "secret",
    "key",
    "password",
    "token",
    "session",
    "signing",
    "flask",
    "django",
    "app",
    "prod",
    "production",
    "dev",
    "development",
    "test",
    "testing",
    "staging",
    "local",
    "change",
    "replace",
    "random",
    "long",
    "super",
    "very",
    "default",
    "example",
    "insecure",
    "private",
    "admin",
)


def name_words(*names: str) -> set[str]:
    """The words of the app's names ("Flask Starter", "flask_starter"), lower case."""
    return {
        word for name in names for word in re.split(r"[^a-z0-9]+", name.lower()) if len(word) >= 3
    }


def word_like(letters: str) -> bool:
    """Whether a run of letters could be a word: a vowel, and no four consonants in a row."""
    return bool(VOWEL.search(letters)) and not CONSONANTS.search(letters)


def bits_per_character(key: str) -> float:
    """log2 of the character classes the key draws from."""
    pool = sum(size for characters, size in CLASSES if any(c in characters for c in key))
    if any(not (c.isascii() and c.isalnum()) for c in key):
        pool += OTHER_CHARACTERS
    return math.log2(max(pool, 2))


def shared_start(first: str, second: str) -> int:
    """How many characters two strings have in common at their start."""
    pairs = zip(first, second, strict=False)
    return next((i for i, (a, b) in enumerate(pairs) if a != b), min(len(first), len(second)))


def repeat_length(text: str, at: int) -> int:
    """The length of the longest earlier part that ``text[at:]`` starts with."""
    return max((shared_start(text[start:], text[at:]) for start in range(at)), default=0)


def run_length(text: str, at: int) -> int:
    """The length of the run (one character repeated, or a stretch of RUNS) starting here."""
    same = len(text[at:]) - len(text[at:].lstrip(text[at]))
    lengths = [same]
    for run in RUNS:
        start = run.find(text[at : at + SHORTEST])
        if len(text) - at >= SHORTEST and start >= 0:
            lengths.append(shared_start(run[start:], text[at:]))
    return max(lengths)


def estimated_bits(key: str, words: Iterable[str] = (), enough: float = MIN_SECRET_BITS) -> float:
    """The key's estimated randomness in bits; counting stops once ``enough`` is reached."""
    per_character = bits_per_character(key)
    lowered = key.lower()
    known = (*KEY_WORDS, *words)
    bits, at = 0.0, 0
    while at < len(key) and bits < enough:
        named = [len(word) for word in known if lowered.startswith(word, at)]
        free = max([repeat_length(lowered, at), *named])
        if free >= SHORTEST:
            at += free
        elif not key[at].isalnum() and key[at] in key[:at]:
            at += 1
        elif (run := run_length(lowered, at)) >= SHORTEST:
            bits, at = bits + per_character, at + run
        elif (word := WORD.match(key, at)) and word_like(word[0]):
            bits, at = bits + min(WORD_BITS, per_character * len(word[0])), word.end()
        else:
            bits, at = bits + per_character, at + 1
    return bits
