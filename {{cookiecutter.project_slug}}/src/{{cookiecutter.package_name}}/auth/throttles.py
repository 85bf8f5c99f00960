"""How the account forms are throttled, with the counters in Redis (``core.limiter``).

* Per client address: LOGIN_RATE_LIMIT on every POST of login, register and each password
  form (``@per_address``).
* Per mailbox: one EMAIL_RATE_LIMIT budget shared by every form that mails the address typed
  in (register, resend the confirmation link, forgot password: ``@per_email``), however
  many clients ask. It is keyed on the address as the app would mail it
  (``normalise.mail_address``, the forms' own normalisation), so no spelling of a mailbox
  (case, fullwidth letters, invisible code points) has a budget of its own. It is counted
  on every POST of those forms whose address the form would accept, before the view runs
  and before anything asks whether an account uses the address: the page, or the 429 once
  the budget is spent, is the same either way. A POST whose address the form refuses mails
  nobody and is not counted here.
* Per account, failures only: after ACCOUNT_FAILURE_LIMIT failed logins on one login name
  (from anywhere), an address that has itself failed on it is refused until the window
  passes; an address that has not failed still gets its try. Guesses spread over many
  addresses slow down to one per address per window, and the owner, whose address has not
  failed, is never locked out by them. The name is the username or the address as
  ``normalise.login_name`` spells it, so no spelling of either has a budget of its own. An
  account's username and address count apart: one budget for both would answer 429 on one
  name after failures on the other, telling an outsider which address has which username.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import current_app, request

from {{ cookiecutter.package_name }}.core.limiter import limiter, parse, remote_address

from .events import security_event
from .normalise import AddressRefused, mail_address

if TYPE_CHECKING:
    from limits import RateLimitItem


def form_limit() -> str:
    """The per-address limit of the account forms."""
    limit: str = current_app.config["LOGIN_RATE_LIMIT"]
    return limit


def client_key() -> str:
    """Throttle key: the client address (behind proxies, set PROXY_FIX so it is real)."""
    return f"auth-ip:{remote_address()}"


def log_breach(limit: RateLimitItem) -> None:
    """Log a request refused by one of the limits above."""
    security_event(
        "throttled",
        "Throttled request",
        logging.WARNING,
        endpoint=request.endpoint,
        limit=str(limit),
    )


def account_name(name: str) -> str:
    """The per-account key, from a login name (``normalise.login_name``), as long as an
    address may be."""
    return name.strip().lower()[:254]


def failure_limits() -> tuple[RateLimitItem, RateLimitItem]:
    """The account's failure budget, and "this address failed once" over the same window."""
    (budget,) = parse(current_app.config["ACCOUNT_FAILURE_LIMIT"])
    return budget, type(budget)(1, budget.multiples)


def login_refused(name: str) -> int | None:
    """Seconds to wait if this address may not try this account now, else None."""
    budget, once = failure_limits()
    account, address = account_name(name), remote_address()
    failed_here = ("login-failed-from", account, address)
    if limiter.test(budget, "login-failures", account):
        return None
    if limiter.test(once, *failed_here):
        return None  # this address has not failed on the account: its try is not refused
    return max(1, int(limiter.reset_time(once, *failed_here) - time.time()) + 1)


def record_login_failure(name: str) -> None:
    """Count a failed login against the account and mark this address as failing on it."""
    budget, once = failure_limits()
    account, address = account_name(name), remote_address()
    limiter.hit(budget, "login-failures", account)
    limiter.hit(once, "login-failed-from", account, address)


def count_mail_to(typed: str) -> None:
    """Count a request to mail ``typed`` against its mailbox's budget; 429 once it is spent."""
    try:
        address = mail_address(typed)
    except AddressRefused:
        return  # the form refuses it: no mail goes anywhere
    limiter.enforce(
        current_app.config["EMAIL_RATE_LIMIT"], "auth-mailbox", address, on_breach=log_breach
    )


def per_email(view: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a form that mails the address typed in: each POST counts against it."""

    @functools.wraps(view)
    def limited(*args: Any, **kwargs: Any) -> Any:
        if request.method == "POST":
            count_mail_to(request.form.get("email", ""))
        return view(*args, **kwargs)

    return limited


# Every POST of an account form counts against the client address.
per_address = limiter.limit(form_limit, key_func=client_key, methods=["POST"], on_breach=log_breach)
