"""How many new sessions one client may start: a flood of cookieless requests cannot fill Redis.

A request that would store a session for a visitor who has none (no cookie, an expired one,
or one just logged out) counts against SESSION_CREATION_LIMIT for its client address (for
IPv6, its /64: one machine usually holds the whole block). Past the limit the request gets
a 429 with Retry-After and nothing is stored. A login's new session is not counted here: the
login form has limits of its own, and signed-in visitors must never be refused for what
anonymous ones did from the same address.
"""

from __future__ import annotations

import ipaddress

from flask import current_app

from .limiter import limiter, remote_address

SCOPE = "session-new"
IPV6_PREFIX = 64


def client_network() -> str:
    """The client address, or for IPv6 the /64 it belongs to."""
    address = remote_address()
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/{IPV6_PREFIX}", strict=False))
    return address


def count_new_session() -> None:
    """Count one new session for this client; raise the 429 once it is over the limit."""
    limiter.enforce(current_app.config["SESSION_CREATION_LIMIT"], SCOPE, client_network())
