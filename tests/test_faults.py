"""Faults under the shipped gunicorn settings: a frozen Redis costs fast 503s, never a hang."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import requests
from conftest import bake, free_port, require, serve, stop_group

from tools.baking import PRODUCTION_ENV
from tools.servers import start_redis_server

# Production cookies are Secure (and __Host-), so over plain HTTP they are carried by hand.
COOKIE = "__Host-flask_starter_app_session"
CSRF_COOKIE = "__Host-flask_starter_app_csrf"
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')
# The app's one log line per Redis failure names the error: CircuitOpen when the breaker
# refused the call without trying, anything else when the call waited on Redis.
REDIS_FAILURE = re.compile(r"^Redis is (?:unreachable|failing) \((\w+):")
# Refused at once, Redis not tried: by the breaker, or a login finding no hashing slot free.
NOT_TRIED = {"CircuitOpen", "HashingBusy"}
SESSIONS = 40
WORKERS = 2
BREAKER_RESET_SECONDS = 5  # the baked REDIS_BREAKER_RESET_SECONDS
WARM_UP = 16  # requests at once per round: enough to reach both workers
ONE_BY_ONE = 40
BURST = 120
HEALTH_EVERY = 20  # one health check among every 20 of the burst


def timed(
    method: str,
    url: str,
    cookies: dict[str, str] | None = None,
    data: dict[str, str] | None = None,
    request_id: str | None = None,
    timeout: float = 20,
) -> tuple[int, float]:
    """One request on a new connection: the status (0 if none came) and the seconds it took."""
    pairs = (cookies or {}).items()
    headers = {"Cookie": "; ".join(f"{name}={value}" for name, value in pairs)} if pairs else {}
    if request_id:
        headers["X-Request-ID"] = request_id
    started = time.monotonic()
    try:
        response = requests.request(method, url, headers=headers, data=data, timeout=timeout)
        status = response.status_code
    except requests.RequestException:
        status = 0
    return status, time.monotonic() - started


def timed_get(url: str, cookie: str | None = None) -> tuple[int, float]:
    """GET ``url`` (with the session cookie if given): the status and the seconds it took."""
    return timed("GET", url, {COOKIE: cookie} if cookie else {})


def until_ok(url: str, cookie: str | None, timeout: float) -> float:
    """Seconds until ``url`` answers 200 again (or ``timeout`` if it never does)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if timed_get(url, cookie)[0] == 200:
            return time.monotonic() - started
        time.sleep(0.2)
    return timeout


def redis_failures(log: Path) -> dict[str, str]:
    """Request id -> the error the app logged when Redis failed that request, or HashingBusy
    for a login refused before it reached Redis because every password hashing slot was
    taken (a login holds its slot from the start, its rate limit's Redis call included)."""
    failures = {}
    for line in log.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        found = REDIS_FAILURE.match(str(record.get("message", "")))
        if found:
            failures[record.get("request_id")] = found.group(1)
        elif record.get("event") == "hashing_busy":
            failures[record.get("request_id")] = "HashingBusy"
    return failures


@contextmanager
def served_on_private_redis(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, str, Path]]:
    """The baked default in production under the shipped gunicorn.conf.py with two workers,
    on a Redis of its own: (Redis, the app's base URL, gunicorn's log). All stopped after."""
    require("redis-server")
    project = bake(tmp_path)
    redis_process, redis_port = start_redis_server()
    port = free_port()
    env = PRODUCTION_ENV | {"REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
    log = tmp_path / "server.log"
    server = None
    try:
        # Inside the try: a server that fails to start must not leave Redis running.
        with log.open("w") as output:
            server = serve(
                project,
                port,
                env,
                "-c",
                "gunicorn.conf.py",
                "--workers",
                str(WORKERS),
                output=output,
                timeout=60,
            )
        yield redis_process, f"http://127.0.0.1:{port}", log
    finally:
        os.kill(redis_process.pid, signal.SIGCONT)  # a frozen Redis cannot stop
        if server is not None:
            stop_group(server)
        stop_group(redis_process)


def test_a_frozen_redis_gets_fast_503s_and_recovers_without_a_restart(tmp_path):
    """SIGSTOP Redis under 40 session requests: /healthz keeps answering, then all is back."""
    with served_on_private_redis(tmp_path) as (redis_process, base, _):
        # Forty visitors with a session each (the tour's counter keeps it in Redis).
        cookies = []
        for _ in range(SESSIONS):
            response = requests.post(base + "/api/counter", json={"by": 7}, timeout=10)
            response.raise_for_status()
            cookies.append(response.cookies[COOKIE])
        assert requests.get(base + "/readyz", timeout=10).status_code == 200

        os.kill(redis_process.pid, signal.SIGSTOP)
        health: list[tuple[int, float]] = []
        burst_done = threading.Event()

        def watch_health() -> None:
            while not burst_done.is_set():
                health.append(timed_get(base + "/healthz"))
                time.sleep(0.05)

        watcher = threading.Thread(target=watch_health)
        watcher.start()
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=SESSIONS) as pool:
            answers = list(
                pool.map(lambda cookie: timed_get(base + "/api/counter", cookie), cookies)
            )
        burst = time.monotonic() - started
        time.sleep(0.5)  # a few more health checks with the breaker open
        burst_done.set()
        watcher.join()

        assert [status for status, _ in answers] == [503] * SESSIONS
        assert burst < 6, f"the 40 session requests took {burst:.1f} s"
        assert health, "no health check was answered"
        assert all(status == 200 for status, _ in health), health
        slowest_health = max(seconds for _, seconds in health)
        assert slowest_health < 1, f"/healthz took {slowest_health:.2f} s"

        os.kill(redis_process.pid, signal.SIGCONT)
        ready_after = until_ok(base + "/readyz", None, timeout=10)
        assert ready_after < 10
        # Each worker has its own breaker: every session is back once each has probed Redis.
        assert all(until_ok(base + "/api/counter", cookie, timeout=10) < 10 for cookie in cookies)
        # Nobody was logged out: every session is still there.
        counts = [
            requests.get(
                base + "/api/counter", headers={"Cookie": f"{COOKIE}={cookie}"}, timeout=10
            ).json()["count"]
            for cookie in cookies
        ]
        assert counts == [7] * SESSIONS
        print(
            f"\nfrozen Redis: 40 session requests answered 503 in {burst:.2f} s; "
            f"/healthz slowest {slowest_health * 1000:.0f} ms over {len(health)} checks; "
            f"ready again {ready_after:.1f} s after SIGCONT"
        )


def test_every_redis_call_of_a_request_goes_through_the_one_breaker(tmp_path):
    """Session reads and rate-limited logins alike: after each worker's first timeouts,
    503s in under 50 ms; /healthz under 1 s among 120 of them at once; then all is back."""
    with served_on_private_redis(tmp_path) as (redis_process, base, log):
        visitors = []
        for _ in range(BURST // 2):
            response = requests.post(base + "/api/counter", json={"by": 7}, timeout=10)
            response.raise_for_status()
            visitors.append({COOKIE: response.cookies[COOKIE]})
        # The CSRF secret is in a cookie of its own, so a login post needs Redis only for
        # its rate limit's counter.
        page = requests.get(base + "/auth/login", timeout=10)
        login_cookies = {CSRF_COOKIE: page.cookies[CSRF_COOKIE]}
        form = {"username": "nobody", "password": "not the password"}
        form["csrf_token"] = CSRF_FIELD.search(page.text).group(1)
        answers: dict[str, tuple[int, float]] = {}

        def ask(number: int) -> str:
            """Even numbers read a session, odd ones post the login form; returns the id."""
            request_id = uuid.uuid4().hex
            if number % 2:
                answer = timed("POST", base + "/auth/login", login_cookies, form, request_id, 5)
            else:
                cookies = visitors[number // 2 % len(visitors)]
                answer = timed("GET", base + "/api/counter", cookies, None, request_id, 5)
            answers[request_id] = answer
            return request_id

        def check_health() -> tuple[int, float]:
            """GET /healthz: the status and the seconds it took."""
            return timed("GET", base + "/healthz", timeout=5)

        os.kill(redis_process.pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        # Each worker waits out its first timeouts, then its breaker opens: rounds of
        # requests at once until one is refused by the breakers throughout. The first
        # round only reads sessions, so no login that reached Redis counts against the
        # limit once it is back; the later ones post the form too, so each worker has
        # rendered its 503 page once before the timing starts.
        with ThreadPoolExecutor(max_workers=WARM_UP) as pool:
            for round_number in range(4):
                numbers = range(WARM_UP) if round_number else range(0, 2 * WARM_UP, 2)
                warm_up = list(pool.map(ask, numbers))
                failures = redis_failures(log)
                if all(failures.get(request_id) in NOT_TRIED for request_id in warm_up):
                    break
        opened_after = time.monotonic() - frozen_at
        kinds = {failures.get(request_id) for request_id in warm_up}
        assert kinds <= NOT_TRIED, f"after 4 rounds some still waited on Redis: {kinds}"

        # One at a time, so each time is the request's own, not a queue's.
        one_by_one = [ask(number) for number in range(ONE_BY_ONE)]
        # Then all at once, with health checks submitted among them.
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=BURST + BURST // HEALTH_EVERY) as pool:
            burst_futures, health_futures = [], []
            for number in range(BURST):
                burst_futures.append(pool.submit(ask, number))
                if number % HEALTH_EVERY == HEALTH_EVERY // 2:
                    health_futures.append(pool.submit(check_health))
            burst = [future.result() for future in burst_futures]
            health = [future.result() for future in health_futures]
        burst_seconds = time.monotonic() - started
        frozen_for = time.monotonic() - frozen_at

        failures = redis_failures(log)
        statuses = [answers[request_id][0] for request_id in one_by_one + burst]
        assert statuses == [503] * (ONE_BY_ONE + BURST)
        # Each 503 is a Redis failure, nearly all refused by the breaker without trying;
        # the others can only be half-open probes, one per worker once its wait is over.
        assert all(request_id in failures for request_id in one_by_one + burst)
        waited = [rid for rid in one_by_one + burst if failures[rid] not in NOT_TRIED]
        probes_allowed = WORKERS * int(frozen_for // BREAKER_RESET_SECONDS)
        assert len(waited) <= probes_allowed, (
            f"{len(waited)} requests waited on the frozen Redis: "
            f"{sorted({failures[rid] for rid in waited})}"
        )
        refused = [answers[rid][1] for rid in one_by_one if failures[rid] in NOT_TRIED]
        slowest_503 = max(refused)
        assert slowest_503 < 0.05, f"a refused request took {slowest_503 * 1000:.0f} ms"
        assert burst_seconds < 5, f"the {BURST} requests took {burst_seconds:.1f} s"
        assert [status for status, _ in health] == [200] * len(health)
        slowest_health = max(seconds for _, seconds in health)
        assert slowest_health < 1, f"/healthz took {slowest_health:.2f} s"

        os.kill(redis_process.pid, signal.SIGCONT)
        # Each worker's breaker probes on its own: every visitor is back once both have.
        for cookies in visitors:
            assert until_ok(base + "/api/counter", cookies[COOKIE], timeout=10) < 10
        counts = [
            requests.get(base + "/api/counter", cookies=cookies, timeout=10).json()["count"]
            for cookies in visitors
        ]
        assert counts == [7] * len(visitors)  # nobody lost a session
        status, _ = timed("POST", base + "/auth/login", login_cookies, form, timeout=10)
        assert status == 200  # the form again, saying the credentials are wrong
        print(
            f"\nfrozen Redis: breakers open {opened_after:.2f} s after SIGSTOP; "
            f"{len(refused)} requests one by one refused in at most {slowest_503 * 1000:.1f} ms; "
            f"{BURST} at once answered 503 in {burst_seconds:.2f} s ({len(waited)} probes); "
            f"/healthz slowest {slowest_health * 1000:.0f} ms over {len(health)} checks among them"
        )
