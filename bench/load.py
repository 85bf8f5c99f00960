"""Servers under load: gunicorn with the same flags for every app, wrk, and what each run measured.

Every server listens on 127.0.0.1 and gets the same worker flags, no config file and no
access log, so only the apps differ. wrk loads one URL at a time; any error response
fails the run. The clients (wrk and Redis) run on one CPU and the servers on the others.
"""

# The report speaks in ratios: the multiplication sign is meant.
# ruff: noqa: RUF001

from __future__ import annotations

import os
import re
import runpy
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
import requests

from bench.baked import api_token, counter_cookie, login_cookie, session_cookie
from bench.targets import Spread, Target
from tools.servers import on_cpus, serve, start_redis_server, stop_group

HERE = Path(__file__).resolve().parent


# No config file and no access log for anyone: only the apps differ.
GUNICORN_COMMON = ["--config", "/dev/null", "--log-level", "warning"]
# The settings of gunicorn.conf.py that shape throughput, as command-line flags.
SHIPPED_SETTINGS = {
    "workers": "--workers",
    "worker_class": "--worker-class",
    "threads": "--threads",
    "keepalive": "--keep-alive",
    "timeout": "--timeout",
    "graceful_timeout": "--graceful-timeout",
}
CONNECTION_COMMANDS = {"cmdstat_info", "cmdstat_client|setinfo", "cmdstat_hello"}

# wrk and Redis on the first CPU, every server on the rest. Left to the scheduler,
# wrk and the workers shared cores differently from one run to the next: two servers of the
# same app measured 0.90-1.19 of each other over nine rounds, and 0.95-1.02 once pinned. A
# server's rate is then what its own CPUs do, as on a host of its own with Redis elsewhere.
_CPUS = sorted(os.sched_getaffinity(0))
CLIENT_CPUS = set(_CPUS[:1])
SERVER_CPUS = set(_CPUS[1:]) or CLIENT_CPUS  # one CPU: everything shares it


@dataclass
class WorkerConfig:
    """One set of gunicorn worker flags, given to every server alike."""

    key: str
    label: str
    flags: list[str]


@dataclass
class Server:
    """One gunicorn target and the scenarios measured on it."""

    name: str
    target: str
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Scenario:
    """One URL loaded by wrk on one server."""

    key: str
    label: str
    server: str
    path: str
    method: str = "GET"
    # What the requests carry: a session ("stock", "counter", "login") or an API token ("token").
    credential: str | None = None


class RedisServer:
    """A private redis-server for the run."""

    def __init__(self) -> None:
        self.process, self.port = start_redis_server(cpus=CLIENT_CPUS)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.client = redis.Redis.from_url(self.url)

    def commands(self) -> int:
        """Commands served so far, not counting INFO itself or a new connection's handshake.

        redis-py names itself (CLIENT SETINFO) on every new connection: a worker that wrk's
        keep-alive connections never reached connects during the count, once.
        """
        stats = self.client.info("commandstats")
        return sum(v["calls"] for k, v in stats.items() if k not in CONNECTION_COMMANDS)

    def settle(self, timeout: float = 5.0) -> None:
        """Wait until no commands arrive: requests wrk left queued in a backlog are done."""
        deadline = time.monotonic() + timeout
        last = self.commands()
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = self.commands()
            if now == last:
                return
            last = now

    def stop(self) -> None:
        self.client.close()
        stop_group(self.process)


def shipped_config(project: Path, overrides: dict[str, str] | None = None) -> WorkerConfig:
    """The worker settings of the baked gunicorn.conf.py (as this environment makes them)."""
    settings = runpy.run_path(str(project / "gunicorn.conf.py"))
    values = {name: str(settings[name]) for name in SHIPPED_SETTINGS if name in settings}
    values |= overrides or {}
    flags = [item for name, value in values.items() for item in (SHIPPED_SETTINGS[name], value)]
    label = f"gunicorn.conf.py: {values['workers']} × {values['worker_class']}"
    if values["worker_class"] == "gthread":
        label += f", {values['threads']} thread{'s' if values['threads'] != '1' else ''}"
    if overrides:
        label += " (" + ", ".join(f"{k}={v}" for k, v in overrides.items()) + ")"
    key = "shipped" + "".join(f"+{k}={v}" for k, v in (overrides or {}).items())
    return WorkerConfig(key, label, flags)


def worker_configs(names: list[str], project: Path) -> list[WorkerConfig]:
    """``sync`` (2 sync workers), ``shipped``, or ``shipped+setting=value+...``."""
    configs = []
    for name in names:
        if name == "sync":
            flags = ["--workers", "2", "--worker-class", "sync"]
            configs.append(WorkerConfig("sync", "2 × sync", flags))
        elif name.startswith("shipped"):
            overrides = dict(part.split("=", 1) for part in name.split("+")[1:])
            configs.append(shipped_config(project, overrides))
        else:
            sys.exit(f"error: unknown worker configuration {name!r}")
    return configs


def start(server: Server, port: int, config: WorkerConfig) -> subprocess.Popen:
    """gunicorn on the server's target, listening when this returns."""
    options = [*config.flags, *GUNICORN_COMMON]
    return serve(
        server.cwd, port, server.env, *options, app=server.target, timeout=30, cpus=SERVER_CPUS
    )


def wait_ready(base: str, timeout: float = 90.0) -> None:
    """Block until a worker answers: the port listens before the workers have imported the app."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(base + "/", timeout=timeout)
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def get_cookie(base: str, kind: str) -> str:
    """A session cookie of the given kind from the server at ``base``."""
    if kind == "counter":
        return counter_cookie(base)
    if kind == "login":
        return login_cookie(base)
    response = requests.post(base + "/rw", json={}, timeout=10)  # the stock reference
    response.raise_for_status()
    cookie = session_cookie(response)
    assert cookie, response.headers
    return cookie


def credential_headers(base: str, kind: str | None) -> dict[str, str]:
    """The header a scenario's requests carry: a session cookie, an API token, or none."""
    if kind is None:
        return {}
    if kind == "token":
        return {"Authorization": f"Bearer {api_token(base)}"}
    return {"Cookie": get_cookie(base, kind)}


LATENCY = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, seconds: int, headers: dict[str, str], method: str) -> dict[str, float]:
    """Requests/s and p50/p99 latency (ms) of one wrk run; any error response fails it."""
    command = ["wrk", "--latency", "-t", "1", "-c", "8", "-d", f"{seconds}s", "--timeout", "5s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if method == "POST":
        command += ["-s", str(HERE / "post_json.lua")]
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, preexec_fn=on_cpus(CLIENT_CPUS)
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if match is None or "Non-2xx or 3xx responses" in output or "Socket errors" in output:
        raise RuntimeError(f"{url} answered errors under load:\n{output}")
    latency = {p: float(v) * UNITS[u] for p, v, u in LATENCY.findall(output)}
    return {"rps": float(match.group(1)), "p50_ms": latency["50"], "p99_ms": latency["99"]}


def fastest_in_turn(
    loads: list[tuple[str, dict[str, str], str]], samples: int, seconds: int
) -> list[dict[str, float]]:
    """For each load (url, headers, method), the fastest of a few short wrk runs.

    Another tenant of the machine can halve a run's speed for a second or two, and never
    doubles it: as timeit takes the fastest of its repeats, the fastest sample is the one
    least disturbed, which keeps those bursts out of the rounds' ratios. The samples are
    taken in turn (every load once, then again), so a slow spell of a few seconds takes one
    sample of a load, not all of them.
    """
    runs: list[list[dict[str, float]]] = [[] for _ in loads]
    for _ in range(samples):
        for taken, (url, headers, method) in zip(runs, loads, strict=True):
            taken.append(wrk(url, seconds, headers, method))
    return [max(taken, key=lambda result: result["rps"]) for taken in runs]


def warm_up(url: str, headers: dict[str, str], method: str, quick: bool) -> None:
    """Let every worker import, compile its templates and connect before it is timed."""
    if not quick:
        wrk(url, 1, headers, method)
        return
    body = {"json": {}} if method == "POST" else {}
    for _ in range(10):
        requests.request(method, url, headers=headers, timeout=10, **body).raise_for_status()


def commands_per_request(
    redis_server: RedisServer, url: str, scenario: Scenario, headers: dict[str, str], n: int = 50
) -> float:
    """Redis commands the server sends per request of this scenario.

    The fewest of three counts: on a loaded machine a request wrk left in a backlog can outlast
    ``settle`` and add its commands to one count, never take any away.
    """
    body = {"json": {}} if scenario.method == "POST" else {}
    counts = []
    for _ in range(3):
        redis_server.settle()
        before = redis_server.commands()
        for _ in range(n):
            response = requests.request(scenario.method, url, headers=headers, timeout=10, **body)
            response.raise_for_status()
        counts.append((redis_server.commands() - before) / n)
    return min(counts)


@dataclass
class Results:
    """wrk results per (config, scenario), one per round, and Redis commands per request."""

    runs: dict[tuple[str, str], list[dict[str, float]]]
    commands: dict[str, float]

    def median(self, config: str, scenario: str) -> dict[str, float] | None:
        """Median requests/s, p50 and p99 over the rounds."""
        values = self.runs.get((config, scenario))
        if not values:
            return None
        return {metric: statistics.median(run[metric] for run in values) for metric in values[0]}

    def spread(self, config: str, ours: str, ref: str) -> Spread | None:
        """Requests/s of ``ours`` over ``ref`` measured in the same round, over the rounds.

        Pairing within a round cancels what the rest of a shared machine does between rounds.
        """
        a, b = self.runs.get((config, ours)), self.runs.get((config, ref))
        if not a or not b:
            return None
        return Spread.of([x["rps"] / y["rps"] for x, y in zip(a, b, strict=True)])

    def ratio(self, config: str, ours: str, ref: str) -> float | None:
        """The median of ``spread``."""
        spread = self.spread(config, ours, ref)
        return None if spread is None else spread.median

    def target_spreads(
        self, configs: list[WorkerConfig], target: Target
    ) -> list[tuple[WorkerConfig, Spread]]:
        """(config, spread) of one served target under every config that measured it."""
        spreads = [(c, self.spread(c.key, target.ours, target.reference)) for c in configs]
        return [(config, spread) for config, spread in spreads if spread is not None]
