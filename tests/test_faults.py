"""Faults under the shipped gunicorn settings: a frozen Redis costs fast 503s, never a hang."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from conftest import bake, free_port, require, serve, stop_group

from tools.baking import PRODUCTION_ENV
from tools.servers import start_redis_server

COOKIE = "__Host-flask_starter_app_session"  # production: Secure, so carried by hand
SESSIONS = 40


def timed_get(url: str, cookie: str | None = None) -> tuple[int, float]:
    """GET ``url`` (with the session cookie if given): the status and the seconds it took."""
    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
    started = time.monotonic()
    try:
        status = requests.get(url, headers=headers, timeout=20).status_code
    except requests.RequestException:
        status = 0
    return status, time.monotonic() - started


def until_ok(url: str, cookie: str | None, timeout: float) -> float:
    """Seconds until ``url`` answers 200 again (or ``timeout`` if it never does)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if timed_get(url, cookie)[0] == 200:
            return time.monotonic() - started
        time.sleep(0.2)
    return timeout


def test_a_frozen_redis_gets_fast_503s_and_recovers_without_a_restart(tmp_path):
    """SIGSTOP Redis under 40 session requests: /healthz keeps answering, then all is back."""
    require("redis-server")
    project = bake(tmp_path)
    redis_process, redis_port = start_redis_server()
    port = free_port()
    env = PRODUCTION_ENV | {"REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
    base = f"http://127.0.0.1:{port}"
    server = None
    stopped = False
    try:
        # Inside the try: a server that fails to start must not leave Redis running.
        with (tmp_path / "server.log").open("w") as log:
            server = serve(
                project,
                port,
                env,
                "-c",
                "gunicorn.conf.py",
                "--workers",
                "2",
                output=log,
                timeout=60,
            )
        # Forty visitors with a session each (the tour's counter keeps it in Redis).
        cookies = []
        for _ in range(SESSIONS):
            response = requests.post(base + "/api/counter", json={"by": 7}, timeout=10)
            response.raise_for_status()
            cookies.append(response.cookies[COOKIE])
        assert requests.get(base + "/readyz", timeout=10).status_code == 200

        os.kill(redis_process.pid, signal.SIGSTOP)
        stopped = True
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
        stopped = False
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
    finally:
        if stopped:
            os.kill(redis_process.pid, signal.SIGCONT)
        if server is not None:
            stop_group(server)
        stop_group(redis_process)
