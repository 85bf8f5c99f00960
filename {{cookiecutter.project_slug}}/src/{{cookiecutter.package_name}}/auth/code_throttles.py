"""How often the codes of two-factor sign-in may be tried (counters in Redis, ``core.limiter``).

Per client address, every POST of a form that takes a code counts against LOGIN_RATE_LIMIT
(``throttles.per_address``). Per account, wrong codes count against
TWO_FACTOR_FAILURE_LIMIT, from any address: once it is spent the account's code forms
answer 429 until the window passes, so guesses at six digits stay far from the million.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from flask import current_app, request
from werkzeug.exceptions import TooManyRequests

from {{ cookiecutter.package_name }}.core.limiter import limiter, parse

from .events import security_event

if TYPE_CHECKING:
    from limits import RateLimitItem

    from .models import User


def failure_budget() -> RateLimitItem:
    """The account's budget of wrong codes."""
    (budget,) = parse(current_app.config["TWO_FACTOR_FAILURE_LIMIT"])
    return budget


def refuse_if_codes_throttled(user: User) -> None:
    """429 (with Retry-After) while the account's budget of wrong codes is spent."""
    budget = failure_budget()
    if limiter.test(budget, "code-failures", str(user.id)):
        return
    security_event(
        "throttled",
        "Throttled code on an account under attack",
        logging.WARNING,
        endpoint=request.endpoint,
        user_id=user.id,
    )
    wait = limiter.reset_time(budget, "code-failures", str(user.id)) - time.time()
    raise TooManyRequests(retry_after=max(1, int(wait) + 1))


def record_code_failure(user: User) -> None:
    """Count a wrong code against the account."""
    limiter.hit(failure_budget(), "code-failures", str(user.id))
