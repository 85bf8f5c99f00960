"""The circuit breaker on its own, with a clock the test moves."""

from __future__ import annotations

import pytest
import redis

from {{ cookiecutter.package_name }}.core.breaker import CircuitBreaker, CircuitOpen


class Clock:
    """A clock that stands still until the test moves it."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def fail(breaker: CircuitBreaker, error: Exception) -> None:
    """One call through the breaker that raises ``error``."""

    def command() -> None:
        raise error

    with pytest.raises(type(error)):
        breaker.call(command)


def succeed(breaker: CircuitBreaker) -> None:
    """One call through the breaker that works."""
    assert breaker.call(lambda: "answered") == "answered"


def test_opens_after_consecutive_failures_and_refuses_without_trying():
    breaker = CircuitBreaker(failures=2, reset_seconds=5, clock=Clock())
    fail(breaker, redis.exceptions.TimeoutError("hung"))
    assert not breaker.is_open
    fail(breaker, redis.exceptions.ConnectionError("refused"))
    assert breaker.is_open
    with pytest.raises(CircuitOpen):
        breaker.call(lambda: pytest.fail("the command must not run while the breaker is open"))


def test_a_success_resets_the_count():
    breaker = CircuitBreaker(failures=2, reset_seconds=5, clock=Clock())
    fail(breaker, redis.exceptions.TimeoutError("hung"))
    succeed(breaker)
    fail(breaker, redis.exceptions.TimeoutError("hung"))
    assert not breaker.is_open


def test_one_probe_at_a_time_after_the_reset_time():
    clock = Clock()
    breaker = CircuitBreaker(failures=1, reset_seconds=5, clock=clock)
    fail(breaker, redis.exceptions.TimeoutError("hung"))
    clock.now += 5
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # everyone else, while it is out
    breaker.record_failure()
    assert not breaker.allow()  # open again for another 5 s
    clock.now += 5
    succeed(breaker)
    assert not breaker.is_open
    assert breaker.allow()


def test_an_answered_error_does_not_open_it():
    breaker = CircuitBreaker(failures=1, reset_seconds=5, clock=Clock())
    fail(breaker, redis.exceptions.OutOfMemoryError("OOM command not allowed"))
    fail(breaker, redis.exceptions.ReadOnlyError("READONLY replica"))
    assert not breaker.is_open


def test_an_unrelated_error_frees_the_probe():
    clock = Clock()
    breaker = CircuitBreaker(failures=1, reset_seconds=5, clock=clock)
    fail(breaker, redis.exceptions.TimeoutError("hung"))
    clock.now += 5
    fail(breaker, KeyError("a bug in the block"))
    assert breaker.allow()
