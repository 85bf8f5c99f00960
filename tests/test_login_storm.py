"""A login storm under the shipped gunicorn settings: the baked default (scrypt, as shipped)
on a real Redis, 200 logins at once from 200 addresses.

Password hashing is bounded across every worker of the machine: the logins past the bound
are refused at once with Retry-After, /healthz answers within a second throughout, and the
workers' memory stays flat.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from conftest import bake, free_port, require, serve, stop_group

from tools.baking import PRODUCTION_ENV
from tools.servers import HOST, start_redis_server

LOGINS = 200
WARM_UP = 40  # logins at once, twice: enough to reach every worker
# What the shipped settings derive on a machine of two CPUs (cpus * 2 + 1 gunicorn workers,
# one hash at a time), wherever the test runs: a bigger machine would hash every login.
HASH_SLOTS = 1
TWO_CPUS = {"GUNICORN_WORKERS": "5", "FLASK_PASSWORD_HASH_CONCURRENCY": str(HASH_SLOTS)}
MiB = 2**20
# werkzeug's scrypt (n=2**15, r=8) works in 128 * n * r bytes: 32 MiB per hash in flight.
HASH_MEMORY = 32 * MiB
PASSWORD = "a storm of logins at dawn"
CSRF_COOKIE = "__Host-flask_starter_app_csrf"
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')
# An operator's `flask users create`: the one real account of the storm.
CREATE_USER = """
import sys
from wsgi import app
args = ["users", "create", "alice", "alice@example.com", "--password", sys.argv[1]]
result = app.test_cli_runner().invoke(args=args)
assert result.exit_code == 0, result.output
"""
# /healthz every 50 ms on a new connection until stdin closes, one "status seconds" line
# each. Its own process: the storm's 200 client threads in this one would slow the clock
# that times it, not the server.
PROBE = """
import sys, threading, time, urllib.request
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
while not stop.wait(0.05):
    started = time.monotonic()
    try:
        with urllib.request.urlopen(sys.argv[1] + "/healthz", timeout=10) as response:
            status = response.status
    except Exception:
        status = 0
    print(status, time.monotonic() - started, flush=True)
"""


def server_env(project: Path, env: dict[str, str]) -> dict[str, str]:
    """The environment gunicorn runs with (see tools.servers.serve)."""
    inherited = {key: value for key, value in os.environ.items() if key != "FLASK_CONFIG"}
    return inherited | {"PYTHONPATH": str(project / "src")} | env


def worker_pids(server: subprocess.Popen) -> set[int]:
    """gunicorn's workers: the master's children."""
    pids = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines())
            if int(fields["PPid"]) == server.pid:
                pids.add(int(status.parent.name))
    return pids


def resident_memory(pids: set[int]) -> int:
    """The resident memory of these processes together, in bytes."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


@contextlib.contextmanager
def health_probe(base: str) -> Iterator[list[tuple[int, float]]]:
    """Probe /healthz from another process while the block runs, from its first answer on;
    yields the answers, filled in once the block ends."""
    answers: list[tuple[int, float]] = []
    probe = subprocess.Popen(
        [sys.executable, "-c", PROBE, base],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = probe.stdout.readline()
        yield answers
    finally:
        output, _ = probe.communicate("", timeout=30)
    for line in [first, *output.splitlines()]:
        status, seconds = line.split()
        answers.append((int(status), float(seconds)))


@contextlib.contextmanager
def peak_memory(pids: set[int]) -> Iterator[list[int]]:
    """The processes' resident memory, sampled every 20 ms while the block runs."""
    samples = [resident_memory(pids)]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            samples.append(resident_memory(pids))

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        yield samples
    finally:
        done.set()
        sampler.join()


def test_a_login_storm_is_refused_at_once_and_health_checks_stay_fast(tmp_path):
    """200 logins at once, each from its own address, on five workers: one hash at a time,
    the rest answer 503 with Retry-After at once; /healthz stays under a second throughout
    and the workers' memory flat."""
    require("redis-server")
    project = bake(tmp_path)
    redis_process, redis_port = start_redis_server()
    # Each login comes from its own address (X-Forwarded-For, trusted from one proxy), so the
    # per-address throttle lets every one reach the password check.
    redis_url = f"redis://{HOST}:{redis_port}/0"
    env = PRODUCTION_ENV | TWO_CPUS | {"REDIS_URL": redis_url, "FLASK_PROXY_FIX": '{"x_for": 1}'}
    port = free_port()
    base = f"http://{HOST}:{port}"
    server = None
    try:
        with (tmp_path / "server.log").open("w") as log:
            # The baked gunicorn.conf.py as shipped, with its four threads per worker.
            server = serve(project, port, env, "-c", "gunicorn.conf.py", output=log, timeout=60)
        subprocess.run(
            [sys.executable, "-c", CREATE_USER, PASSWORD],
            cwd=project,
            env=server_env(project, env),
            check=True,
            capture_output=True,
            timeout=60,
        )
        page = requests.get(base + "/auth/login", timeout=10)
        cookies = {CSRF_COOKIE: page.cookies[CSRF_COOKIE]}
        token = CSRF_FIELD.search(page.text).group(1)

        def log_in(number: int) -> requests.Response | None:
            """alice with her password, or someone unknown: either way one hash."""
            username = "alice" if number % 2 else f"nobody{number}"
            form = {"username": username, "password": PASSWORD, "csrf_token": token}
            headers = {"X-Forwarded-For": f"10.0.{number // 250}.{number % 250 + 1}"}
            with contextlib.suppress(requests.RequestException):
                return requests.post(
                    base + "/auth/login",
                    data=form,
                    cookies=cookies,
                    headers=headers,
                    allow_redirects=False,
                    timeout=30,
                )
            return None

        # Warm up, as a running site's workers are: each has hashed, refused and answered
        # 503 before (the first time imports modules and compiles templates).
        with ThreadPoolExecutor(max_workers=WARM_UP) as pool:
            for first in (1000, 1000 + WARM_UP):
                warm_up = list(pool.map(log_in, range(first, first + WARM_UP)))
                assert None not in warm_up, "a login got no answer before the storm"
        workers = worker_pids(server)
        before = resident_memory(workers)
        with health_probe(base) as health, peak_memory(workers) as memory:
            time.sleep(0.2)  # a few checks before the storm, for comparison
            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=LOGINS) as pool:
                answers = list(pool.map(log_in, range(LOGINS)))
            storm_seconds = time.monotonic() - started
            time.sleep(0.3)
        after = resident_memory(workers)
        assert worker_pids(server) == workers, "a worker died or was restarted"
    finally:
        if server is not None:
            stop_group(server)
        stop_group(redis_process)

    assert None not in answers, "a login got no answer"
    statuses = [answer.status_code for answer in answers]
    assert set(statuses) <= {200, 302, 303, 429, 503}, sorted(set(statuses))
    refused = [answer for answer in answers if answer.status_code in {429, 503}]
    assert all(int(answer.headers["Retry-After"]) >= 1 for answer in refused)
    assert refused, "every login was hashed: nothing bounds the hashing"
    assert len(refused) < LOGINS, "no login was hashed"
    assert len(health) >= 10, f"only {len(health)} health checks"
    assert all(status == 200 for status, _ in health), health
    slowest_health = max(seconds for _, seconds in health)
    assert slowest_health < 1, f"/healthz took {slowest_health:.2f} s"
    slowest_refusal = max(answer.elapsed.total_seconds() for answer in refused)
    peak_growth = max(memory) - before
    # The hashes in flight at once are all the memory the storm may take; none stays.
    peak_allowed = HASH_SLOTS * HASH_MEMORY + 32 * MiB
    assert peak_growth < peak_allowed, f"the workers grew by {peak_growth / MiB:.0f} MB at most"
    assert after - before < 24 * MiB, f"the workers kept {(after - before) / MiB:.0f} MB"
    print(
        f"\nlogin storm: {LOGINS} logins in {storm_seconds:.2f} s, {LOGINS - len(refused)} "
        f"hashed, {len(refused)} refused (the slowest in {slowest_refusal * 1000:.0f} ms), "
        f"statuses {sorted(set(statuses))}; "
        f"/healthz slowest {slowest_health * 1000:.0f} ms over {len(health)} checks; "
        f"{len(workers)} workers {before / MiB:.0f} MB, peak +{peak_growth / MiB:.0f} MB, "
        f"after {(after - before) / MiB:+.0f} MB"
    )
