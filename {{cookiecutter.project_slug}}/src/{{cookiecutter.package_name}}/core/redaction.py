"""Connection URLs as every message shows them: each password replaced by ``***``.

A URL carries a secret in its userinfo (``redis://user:password@host``) or in a query
parameter that redis-py or libpq reads (``?password=``, ``?sslpassword=``), for one
server, a Sentinel list or a cluster's node list alike. The production refusals, the log
lines and the errors a ``flask`` command prints all go through ``redact()`` or
``hide_secrets()``. When a URL can be read two ways, both readings are hidden: more is
hidden, never less.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, unquote_plus

MASK = "***"
# "scheme://user:password@" (or "user:password@host" with no scheme): up to the last "@",
# so a password with "@" or "/" in it is hidden whole.
SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*://"
USERINFO = re.compile(rf"^(?:{SCHEME}|(?!{SCHEME}))[^:/@]*:(?P<password>.*)@")
# One query parameter, wherever a "?" may have started the query.
PARAMETER = re.compile(r"[?&;](?P<name>[^=&;?]*)=(?P<value>[^&;]*)")
# A parameter whose name holds one of these (in any case) is a secret: password,
# sslpassword, passwd, pwd, token, client_secret...
SECRET_NAME_PARTS = ("pass", "pw", "token", "secret")


def is_secret_name(name: str) -> bool:
    """Whether a query parameter of this name carries a secret."""
    lowered = unquote_plus(name).lower()
    return any(part in lowered for part in SECRET_NAME_PARTS)


def secret_spans(url: str) -> list[tuple[int, int]]:
    """Where the URL's secrets are, as (start, end) pairs, in either reading of it."""
    spans = []
    userinfo = USERINFO.match(url)
    if userinfo and userinfo["password"]:
        spans.append(userinfo.span("password"))
    for parameter in PARAMETER.finditer(url):
        if parameter["value"] and is_secret_name(parameter["name"]):
            spans.append(parameter.span("value"))
    return spans


def redact(url: str) -> str:
    """The URL (or comma-separated URLs and host:port pairs) with every secret as ***."""
    shown: list[str] = []
    last = 0
    for start, end in sorted(secret_spans(url)):
        if start > last or not shown:  # else two readings overlap: one mask hides both
            shown += [url[last:start], MASK]
        last = max(last, end)
    return "".join([*shown, url[last:]])


def hide_secrets(text: str, *urls: str | None) -> str:
    """``text`` (an error message) with the URLs and each of their secrets hidden.

    A library's message may quote the URL whole, or only the password, as written or
    percent-decoded: each spelling is replaced, the longest first.
    """
    found: set[str] = set()
    for url in filter(None, urls):
        text = text.replace(url, redact(url))
        for start, end in secret_spans(url):
            secret = url[start:end]
            found |= {secret, unquote(secret), unquote_plus(secret)}
    for secret in sorted(found - {""}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
