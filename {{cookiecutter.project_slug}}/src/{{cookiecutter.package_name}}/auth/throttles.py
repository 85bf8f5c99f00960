"""How the account forms are throttled, with the counters in Redis (``core.limiter``).

* Per client address: LOGIN_RATE_LIMIT on every POST of login, register and each password
  form (``@per_address``).
* Per target address: EMAIL_RATE_LIMIT on the forms that send mail to the address typed in
  (``@per_email``).
* Per account, failures only: after ACCOUNT_FAILURE_LIMIT failed logins on one username
  (from anywhere), an address that has itself failed on it is refused until the window
  passes; an address that has not failed still gets its try. Guesses spread over many
  addresses slow down to one per address per window, and the owner, whose address has not
  failed, is never locked out by them.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from flask import current_app, request

from {{ cookiecutter.package_name }}.core.limiter import limiter, parse, remote_address

from .events import security_event

if TYPE_CHECKING:
    from limits import RateLimitItem


def form_limit() -> str:
    """The per-address limit of the account forms."""
    limit: str = current_app.config["LOGIN_RATE_LIMIT"]
    return limit


def email_limit() -> str:
    """The per-target-address limit of the forms that send mail."""
    limit: str = current_app.config["EMAIL_RATE_LIMIT"]
    return limit


def client_key() -> str:
    """Throttle key: the client address (behind proxies, set PROXY_FIX so it is real)."""
    return f"auth-ip:{remote_address()}"


def email_key() -> str:
    """Throttle key: the address a mail would go to, whoever asks."""
    address = request.form.get("email", "").strip().lower()[:254]
    return f"auth-email:{address}"


def log_breach(limit: RateLimitItem) -> None:
    """Log a request refused by one of the limits above."""
    security_event(
        "throttled",
        "Throttled request",
        logging.WARNING,
        endpoint=request.endpoint,
        limit=str(limit),
    )


def account_name(username: str) -> str:
    """The per-account key: usernames are case-insensitive."""
    return username.strip().lower()[:64]


def failure_limits() -> tuple[RateLimitItem, RateLimitItem]:
    """The account's failure budget, and "this address failed once" over the same window."""
    (budget,) = parse(current_app.config["ACCOUNT_FAILURE_LIMIT"])
    return budget, type(budget)(1, budget.multiples)


def login_refused(username: str) -> int | None:
    """Seconds to wait if this address may not try this account now, else None."""
    budget, once = failure_limits()
    account, address = account_name(username), remote_address()
    failed_here = ("login-failed-from", account, address)
    if limiter.test(budget, "login-failures", account):
        return None
    if limiter.test(once, *failed_here):
        return None  # this address has not failed on the account: its try is not refused
    return max(1, int(limiter.reset_time(once, *failed_here) - time.time()) + 1)


def record_login_failure(username: str) -> None:
    """Count a failed login against the account and mark this address as failing on it."""
    budget, once = failure_limits()
    account, address = account_name(username), remote_address()
    limiter.hit(budget, "login-failures", account)
    limiter.hit(once, "login-failed-from", account, address)


# Every POST of an account form counts against the client address.
per_address = limiter.limit(form_limit, key_func=client_key, methods=["POST"], on_breach=log_breach)
# Forms that mail the address typed in also count against that address.
per_email = limiter.limit(email_limit, key_func=email_key, methods=["POST"], on_breach=log_breach)
