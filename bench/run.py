"""`make bench`: the baked app's speed as ratios against references measured in the same run.

Every server runs on 127.0.0.1 under each worker configuration in turn: 2 sync workers,
and the worker settings of the baked ``gunicorn.conf.py`` (read from the file). Ours and
the references get the same flags and no access log. wrk loads each scenario for a bounded
time, scenarios are interleaved, the whole round is repeated, and each ratio is the median
of the rounds' ratios with its interquartile range; a target whose rounds disagree is
reported as too noisy (bench/targets.py). Absolute numbers move between runs and machines;
the ratios are what count. Start-up is timed apart, in fresh child processes
(bench/startup.py), and bench/breakdown.py gives every target a second, in-process view.

Run it from the repository root as `python -m bench.run` (what `make bench` does): it
imports the shared launchers from tools/, never the test suite. ``--configs`` and
``--only`` narrow a run for exploring (``--configs shipped+worker_class=sync+threads=1``
tries another worker model with the shipped worker count).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import runpy
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
import requests

from bench import breakdown, startup
from bench.baked import (
    counter_cookie,
    login_cookie,
    package_name,
    prepare_database,
    production_env,
    session_cookie,
)
from bench.targets import NOISE_RULE, SERVED, STARTUP, Spread, Target
from tools.baking import ROOT, all_combinations, bake
from tools.servers import free_port, serve, start_redis_server, stop_group

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
LOGGED_IN_TARGET_BYTES = 300
# Start-up children are cheap next to a round of wrk runs.
STARTUP_ROUNDS_PER_ROUND = 3
CONNECTION_COMMANDS = {"cmdstat_info", "cmdstat_client|setinfo", "cmdstat_hello"}


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
    cookie: str | None = None  # the session the requests carry: "stock", "counter", "login"


SCENARIOS = [
    Scenario("raw", "raw WSGI hello", "raw", "/"),
    Scenario("bare", "bare Flask hello", "bare", "/"),
    Scenario("stock_rw", "stock Flask-Session read+write", "stock", "/rw", "POST", "stock"),
    Scenario("stock_ro", "stock Flask-Session read-only", "stock", "/ro", cookie="stock"),
    Scenario(
        "stock_ro_norefresh",
        "stock read-only, refresh off",
        "stock_norefresh",
        "/ro",
        cookie="stock",
    ),
    Scenario(
        "floor_ro",
        "bare Flask + our session interface: read-only",
        "floor",
        "/api/counter",
        cookie="counter",
    ),
    Scenario(
        "floor_rw",
        "bare Flask + our session interface: read+write",
        "floor",
        "/api/counter",
        "POST",
        cookie="counter",
    ),
    Scenario(
        "ours_untouched",
        "ours: page not using the session (cookie sent)",
        "ours",
        "/healthz",
        cookie="counter",
    ),
    Scenario("ours_ro", "ours: session read-only", "ours", "/api/counter", cookie="counter"),
    Scenario(
        "ours_rw", "ours: session read+write", "ours", "/api/counter", "POST", cookie="counter"
    ),
    Scenario(
        "ours_home", "ours: rendered home page, session cookie", "ours", "/", cookie="counter"
    ),
    Scenario("ours_home_nocookie", "ours: rendered home page, no cookie", "ours", "/"),
    Scenario("ours_home_login", "ours: rendered home page, logged in", "ours", "/", cookie="login"),
    Scenario(
        "ours_nomw_untouched",
        "ours without middleware: page not using the session",
        "ours_nomw",
        "/healthz",
        cookie="counter",
    ),
]


class RedisServer:
    """A private redis-server for the run."""

    def __init__(self) -> None:
        self.process, self.port = start_redis_server()
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
    return serve(server.cwd, port, server.env, *options, app=server.target, timeout=30)


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


def get_cookie(base: str, kind: str | None) -> str | None:
    """A session cookie of the given kind from the server at ``base``."""
    if kind is None:
        return None
    if kind == "counter":
        return counter_cookie(base)
    if kind == "login":
        return login_cookie(base)
    response = requests.post(base + "/rw", json={}, timeout=10)  # the stock reference
    response.raise_for_status()
    cookie = session_cookie(response)
    assert cookie, response.headers
    return cookie


LATENCY = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, seconds: int, cookie: str | None, method: str) -> dict[str, float]:
    """Requests/s and p50/p99 latency (ms) of one wrk run; any error response fails it."""
    command = ["wrk", "--latency", "-t", "1", "-c", "8", "-d", f"{seconds}s", "--timeout", "5s"]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    if method == "POST":
        command += ["-s", str(HERE / "post_json.lua")]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if match is None or "Non-2xx or 3xx responses" in output or "Socket errors" in output:
        raise RuntimeError(f"{url} answered errors under load:\n{output}")
    latency = {p: float(v) * UNITS[u] for p, v, u in LATENCY.findall(output)}
    return {"rps": float(match.group(1)), "p50_ms": latency["50"], "p99_ms": latency["99"]}


def warm_up(url: str, cookie: str | None, method: str, quick: bool) -> None:
    """Let every worker import, compile its templates and connect before it is timed."""
    if not quick:
        wrk(url, 1, cookie, method)
        return
    headers = {"Cookie": cookie} if cookie else {}
    body = {"json": {}} if method == "POST" else {}
    for _ in range(10):
        requests.request(method, url, headers=headers, timeout=10, **body).raise_for_status()


def commands_per_request(
    redis_server: RedisServer, url: str, scenario: Scenario, cookie: str | None, n: int = 50
) -> float:
    """Redis commands the server sends per request of this scenario."""
    headers = {"Cookie": cookie} if cookie else {}
    body = {"json": {}} if scenario.method == "POST" else {}
    redis_server.settle()
    before = redis_server.commands()
    for _ in range(n):
        requests.request(scenario.method, url, headers=headers, timeout=10, **body)
    return (redis_server.commands() - before) / n


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


def measure_servers(
    configs: list[WorkerConfig],
    servers: list[Server],
    scenarios: list[Scenario],
    args: argparse.Namespace,
    redis_server: RedisServer,
) -> Results:
    """Every scenario under every config: all servers of a config up at once, rounds interleaved.

    Idle servers cost nothing, so each round loads every scenario in turn within a short
    span; the order flips every round so none always runs first.
    """
    results = Results({(c.key, s.key): [] for c in configs for s in scenarios}, {})
    used = [s for s in servers if any(sc.server == s.name for sc in scenarios)]
    for config in configs:
        processes = {server.name: (start(server, port := free_port(), config), port)
                     for server in used}  # fmt: skip
        try:
            bases = {name: f"http://127.0.0.1:{port}" for name, (_, port) in processes.items()}
            for base in bases.values():
                wait_ready(base)
            cookies = {}
            for scenario in scenarios:
                url = bases[scenario.server] + scenario.path
                cookies[scenario.key] = get_cookie(bases[scenario.server], scenario.cookie)
                warm_up(url, cookies[scenario.key], scenario.method, args.quick)
                if scenario.key not in results.commands:
                    results.commands[scenario.key] = commands_per_request(
                        redis_server, url, scenario, cookies[scenario.key],
                        20 if args.quick else 50,
                    )  # fmt: skip
            for round_number in range(args.repeats):
                order = scenarios if round_number % 2 == 0 else scenarios[::-1]
                for scenario in order:
                    url = bases[scenario.server] + scenario.path
                    result = wrk(url, args.seconds, cookies[scenario.key], scenario.method)
                    results.runs[(config.key, scenario.key)].append(result)
                    print(
                        f"  {time.monotonic() - args.started:5.0f}s {config.key} "
                        f"round {round_number + 1} {scenario.key}: "
                        + ", ".join(f"{k} {v:,.2f}" for k, v in result.items()),
                        flush=True,
                    )
        finally:
            for process, _ in processes.values():
                stop_group(process)
    return results


WORKER_MODELS = ["shipped", "shipped+threads=1", "shipped+worker_class=sync+threads=1"]


def worker_models(project: Path, redis_url: str, args: argparse.Namespace) -> list[tuple]:
    """Our home page under the shipped worker count with other worker models, all up at once.

    Paired per round against the shipped config: [(label, cookie, ratio, p50, p99)].
    """
    server = ours_server(project, redis_url, "ours")
    configs = worker_configs(WORKER_MODELS, project)
    processes, jobs = [], []
    try:
        for config in configs:
            processes.append(start(server, port := free_port(), config))
            base = f"http://127.0.0.1:{port}"
            wait_ready(base)
            for kind in (None, "counter"):
                cookie = get_cookie(base, kind)
                warm_up(base + "/", cookie, "GET", args.quick)
                jobs.append((config.label, kind, base + "/", cookie))
        runs: dict[tuple[str, str | None], list[dict[str, float]]] = {}
        for round_number in range(args.repeats):
            for label, kind, url, cookie in jobs if round_number % 2 == 0 else jobs[::-1]:
                runs.setdefault((label, kind), []).append(wrk(url, args.seconds, cookie, "GET"))
    finally:
        for process in processes:
            stop_group(process)
    rows = []
    for label, kind, _, _ in jobs:
        values, ref = runs[(label, kind)], runs[(configs[0].label, kind)]
        rows.append((
            label,
            kind,
            statistics.median(v["rps"] / r["rps"] for v, r in zip(values, ref, strict=True)),
            statistics.median(v["p50_ms"] for v in values),
            statistics.median(v["p99_ms"] for v in values),
        ))  # fmt: skip
    return rows


def time_bakes(limit: int | None) -> dict[str, float]:
    combinations = all_combinations()[:limit] if limit else all_combinations()
    times = []
    with tempfile.TemporaryDirectory() as scratch:
        for number, answers in enumerate(combinations):
            started = time.perf_counter()
            bake(Path(scratch) / str(number), **answers)
            times.append(time.perf_counter() - started)
    return {
        "combinations": len(times),
        "median_s": statistics.median(times),
        "max_s": max(times),
    }


def time_project_suite(project: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def session_memory(
    redis_server: RedisServer, server: Server, config: WorkerConfig, with_login: bool
) -> dict[str, dict[str, int]]:
    """``MEMORY USAGE`` and value length of one stored session of each kind, made over HTTP."""
    port = free_port()
    process = start(server, port, config)
    base = f"http://127.0.0.1:{port}"
    sizes = {}
    try:
        wait_ready(base)
        for kind in ("counter", "login") if with_login else ("counter",):
            redis_server.client.flushdb()
            get_cookie(base, kind)
            stored = [k for k in redis_server.client.keys("*") if b"session" in k.lower()]
            # A login also adds the session to its user's index (started, last seen, browser).
            index = [k for k in stored if b":user:" in k]
            keys = [k for k in stored if k not in index]
            assert len(keys) == 1, f"expected one stored session after a {kind} flow: {keys}"
            sizes[kind] = {
                "memory": int(redis_server.client.memory_usage(keys[0], samples=0)),
                "value": int(redis_server.client.strlen(keys[0])),
                "key": len(keys[0]),
                "index": sum(int(redis_server.client.memory_usage(k, samples=0)) for k in index),
            }
    finally:
        stop_group(process)
    return sizes


def ours_server(project: Path, redis_url: str, name: str) -> Server:
    env = production_env(project, redis_url)
    if name == "ours_nomw":
        env["FLASK_WSGI_MIDDLEWARE"] = "[]"
    return Server(name, "wsgi:app", project, env)


def floor_server(project: Path, redis_url: str) -> Server:
    """Bare Flask + our session interface, in the baked app's environment, from bench/."""
    target = f"bench.apps:floor_app({package_name(project)!r})"
    return Server("floor", target, ROOT, production_env(project, redis_url))


def machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in ("flask", "flask_session", "werkzeug", "jinja2", "gunicorn", "redis"):
        versions[package] = _dist_version(package)
    redis_version = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True
    ).stdout
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + f"; {redis_version.split()[2] if redis_version else 'redis ?'}; "
        + (wrk_version.split()[1] if wrk_version else "wrk ?")
    )


def _dist_version(package: str) -> str:
    from importlib.metadata import version

    return version(package.replace("_", "-"))


def served_spreads(
    results: Results, configs: list[WorkerConfig], target: Target
) -> list[tuple[WorkerConfig, Spread]]:
    """(config, spread) of one served target under every config that measured it."""
    spreads = [(c, results.spread(c.key, target.ours, target.reference)) for c in configs]
    return [(config, spread) for config, spread in spreads if spread is not None]


def in_process_spread(parts: dict, target: Target) -> Spread | None:
    """bench/breakdown.py's view of a served target: its rounds' ratios of time per request."""
    ours, ref = parts.get(target.ours), parts.get(target.reference)
    if not ours or not ref:
        return None
    pairs = zip(ref["rounds_us"], ours["rounds_us"], strict=True)
    return Spread.of([theirs / mine for theirs, mine in pairs])


def time_parts(project: Path, redis_url: str, scenarios: list[Scenario], quick: bool) -> dict:
    """bench/breakdown.py's in-process time per part, for the scenarios of the apps it loads."""
    wanted = {
        s.key: [s.server, s.method, s.path, s.cookie]
        for s in scenarios
        if s.server in breakdown.SERVERS
    }
    with tempfile.TemporaryDirectory(prefix="bench-parts-") as scratch:
        out = Path(scratch) / "parts.json"
        command = [sys.executable, "-m", "bench.breakdown", "--project", str(project),
                   "--redis-url", redis_url, "--scenarios", json.dumps(wanted),
                   "--requests", "100" if quick else "2500", "--out", str(out)]  # fmt: skip
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())


def served_us(results: Results, config: str, scenario: str) -> float:
    """Microseconds of server time per request: one over the median requests per second."""
    median = results.median(config, scenario)
    assert median is not None
    return 1e6 / median["rps"]


def parts_table(mine: dict, theirs: dict) -> list[str]:
    """Each part's in-process µs, ours against the reference's, largest difference first."""
    names = set(mine["parts_us"]) | set(theirs["parts_us"])
    rows = sorted(
        ((name, mine["parts_us"].get(name, 0.0), theirs["parts_us"].get(name, 0.0))
         for name in names),
        key=lambda row: row[2] - row[1],
    )  # fmt: skip
    lines = [
        "| part | ours µs | reference µs | difference | what would remove it |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for name, ours, ref in rows:
        if max(ours, ref) >= 1:
            lines.append(
                f"| {name} | {ours:.0f} | {ref:.0f} | {ours - ref:+.0f} "
                f"| {breakdown.REMEDIES[name]} |"
            )
    return lines


def where_time_goes(results: Results, configs: list[WorkerConfig], parts: dict) -> list[str]:
    """For each target whose median misses: how much must go, and which parts hold it."""
    lines = [
        "## Where the time goes",
        "",
        "For each target whose median ratio misses (a missed target, or a too noisy one "
        "below the line), the request of that row timed part by part in-process by "
        "`bench/breakdown.py` (the app as a WSGI callable against the same Redis: no server, "
        "no socket; each part's time excludes the timed parts it calls, and each clock adds "
        "about a microsecond to the part around it, mostly Flask's). Served numbers are "
        "server time per request (1 / median requests per second) under the first config "
        "that misses the target; the share of the served difference that must go is applied "
        "to the in-process difference.",
    ]
    for target in SERVED:
        missed = [
            (config, spread)
            for config, spread in served_spreads(results, configs, target)
            if not target.reached(spread.median)
        ]
        mine, theirs = parts.get(target.ours), parts.get(target.reference)
        if not missed or not mine or not theirs:
            continue
        config, spread = missed[0]
        ours_us = served_us(results, config.key, target.ours)
        ref_us = served_us(results, config.key, target.reference)
        allowed = ref_us / target.wanted
        lines += [
            "",
            f"### {target.label}: {spread} under {config.key} ({target.verdict(spread)}), "
            f"wanted {target.wanted_text}",
            "",
            f"Served, a request takes {ours_us:.0f} µs against the reference's {ref_us:.0f} µs; "
            f"the target allows {allowed:.0f} µs, so {ours_us - allowed:.0f} µs must go.",
        ]
        if ours_us > ref_us:
            share = (ours_us - allowed) / (ours_us - ref_us)
            gap = mine["total_us"] - theirs["total_us"]
            needed = mine["total_us"] - share * gap
            lines[-1] += (
                f" In-process the request takes {mine['total_us']:.0f} µs against the "
                f"reference's {theirs['total_us']:.0f} µs; in the same proportion the target "
                f"needs about {needed:.0f} µs, {share * gap:.0f} µs less."
            )
        clocked = sum(mine["parts_us"].values())
        lines += [
            "",
            f"Ours' parts add up to {clocked:.0f} µs with the clocks on "
            f"({mine['total_us']:.0f} µs with them off); medians of "
            f"{breakdown.ROUNDS} interleaved rounds.",
            "",
            *parts_table(mine, theirs),
        ]
    return lines if len(lines) > 3 else []


def levers(parts: dict) -> list[str]:
    """Levers measured and not kept, with what they would save."""
    lines = []
    login = parts.get("ours_home_login")
    if login:
        database = login["parts_us"].get(breakdown.DATABASE, 0.0)
        lines.append(
            f"- A per-session copy of the current user: the database takes {database:.0f} µs "
            f"of a logged-in page's {login['total_us']:.0f} µs in-process. Not kept: that read "
            "is what ends a session started before a password change, and what shows another "
            "device's verification or deletion on the very next request."
        )
    templates = parts.get("templates")
    if templates:
        lines.append(
            f"- Jinja's bytecode cache: compiling all {templates['count']} templates takes "
            f"{templates['ms']:.0f} ms, once per worker; Jinja keeps them compiled in memory "
            "(and production never auto-reloads), so a bytecode cache would only shorten a "
            "worker's first requests. Not used."
        )
    return lines


def target_rows(results: Results, configs: list[WorkerConfig], extra: dict) -> list[tuple]:
    """(target, {config key: (spread, verdict)}, second view) for every target measured.

    Start-up serves nothing: its one measurement stands under every config, and its second
    view is the CPU of the whole child.
    """
    rows = []
    parts = extra.get("parts", {})
    for target in SERVED:
        served = {
            c.key: (s, target.verdict(s)) for c, s in served_spreads(results, configs, target)
        }
        if served:
            rows.append((target, served, in_process_spread(parts, target)))
    if "startup" in extra:
        spread = Spread.of(extra["startup"]["ratios"])
        cells = {config.key: (spread, STARTUP.verdict(spread)) for config in configs}
        rows.append((STARTUP, cells, Spread.of(extra["startup"]["whole_ratios"])))
    return rows


def startup_lines(measured: dict) -> list[str]:
    """What the start-up children spent and loaded."""
    heavy = ", ".join(f"`{name}`" for name in measured["heavy"]) or "none of them"
    return [
        f'- Start-up, CPU in a fresh child: importing the package and `create_app("production")` '
        f"{measured['ours_ms']:.0f} ms ({measured['ours_modules']} modules loaded); importing "
        f"{', '.join(f'`{name}`' for name in startup.LIBRARIES)} alone "
        f"{measured['reference_ms']:.0f} ms ({measured['reference_modules']} modules). "
        f"Loaded after `create_app` among {', '.join(f'`{n}`' for n in startup.HEAVY)}: "
        f"{heavy}."
    ]


def render(results: Results, extra, configs, scenarios, args) -> str:
    """results.md: one table per worker config, the targets, and the other measurements."""
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {machine()}.",
        f"wrk -t1 -c8, {args.seconds}s per run after a warm-up, {args.repeats} interleaved "
        f"round{'s' if args.repeats != 1 else ''}, medians (a ratio is the median of the "
        f"ratios within each round, shown with their interquartile range); no access log "
        f"for any server; the servers of a config are up together, each idle while another "
        f"is loaded. "
        f"Made by `make bench` on {time.strftime('%Y-%m-%d')} in "
        f"{(time.monotonic() - args.started) / 60:.1f} minutes.",
        "",
        "Read+write rows, ours and stock, POST the same JSON body to the same view code; "
        "the other rows are GETs. The home page rows render the baked default (examples and "
        "account pages included); its session cookie holds the tour's counter, the logged-in "
        "one comes from the real login form.",
        "",
    ]
    for config in configs:
        lines += [
            f"## {config.label}",
            "",
            f"gunicorn `{' '.join(config.flags)}` for every server.",
            "",
            "| scenario | req/s | p50 ms | p99 ms | × bare Flask | × stock r+w | Redis cmds/req |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for scenario in scenarios:
            m = results.median(config.key, scenario.key)
            assert m is not None
            cells = [results.ratio(config.key, scenario.key, ref) for ref in ("bare", "stock_rw")]
            cmds = results.commands.get(scenario.key)
            lines.append(
                f"| {scenario.label} | {m['rps']:,.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | "
                + " | ".join("" if r is None else f"{r:.2f}" for r in cells)
                + f" | {'' if cmds is None else f'{cmds:.2f}'} |"
            )
        lines.append("")
    header = " | ".join(f"{c.key} | verdict" for c in configs)
    lines += [
        "## Targets",
        "",
        f"| target | wanted | {header} | in-process |",
        "| --- | ---: |" + " ---: | :---: |" * len(configs) + " ---: |",
    ]
    for target, served, second in target_rows(results, configs, extra):
        cells = [served.get(c.key) for c in configs]
        lines.append(
            f"| {target.label} | {target.wanted_text} | "
            + " | ".join("— | —" if cell is None else f"{cell[0]} | {cell[1]}" for cell in cells)
            + f" | {second or '—'} |"
        )
    lines += [
        "",
        NOISE_RULE + " The in-process column is `bench/breakdown.py`'s view of the same "
        f"requests ({breakdown.ROUNDS} interleaved rounds of the app called as a WSGI "
        "callable; no server, socket or wrk sharing the machine): quieter, but blind to "
        "the server and the network. Start-up is measured once, in fresh child processes "
        f"with no server running ({len(extra['startup']['ratios']) if 'startup' in extra else 0} "
        "interleaved rounds, `bench/startup.py`), so its row repeats under every config; "
        "its in-process column is the CPU of the whole child, interpreter start included.",
        "",
        "| other check | measured | wanted | met |",
        "| --- | ---: | ---: | :---: |",
    ]
    if "startup" in extra:
        heavy = extra["startup"]["heavy"]
        lines.append(
            f"| tooling loaded by `create_app` ({', '.join(startup.HEAVY)}) "
            f"| {', '.join(heavy) or 'none'} | none | {'NO' if heavy else 'yes'} |"
        )
    wanted_cmds = {"ours_untouched": 0, "ours_ro": 1, "ours_rw": 2}
    if all(key in results.commands for key in wanted_cmds):
        got = [results.commands[key] for key in wanted_cmds]
        cmd_ok = got[0] == 0 and got[1] == 1 and got[2] <= 2
        lines.append(
            "| Redis commands per request: untouched 0, read 1, read+write ≤ 2 | "
            f"{', '.join(str(g) for g in got)} | 0, 1, ≤ 2 | {'yes' if cmd_ok else 'NO'} |"
        )
    memory = extra.get("session_memory", {})
    if "login" in memory:
        used = memory["login"]["memory"]
        lines.append(
            f"| Redis memory of a logged-in session (`MEMORY USAGE`; its entry in the user's "
            f"session index: {memory['login']['index']} bytes more) | {used} bytes "
            f"| < {LOGGED_IN_TARGET_BYTES} | {'yes' if used < LOGGED_IN_TARGET_BYTES else 'NO'} |"
        )
    if extra.get("parts"):
        lines += ["", *where_time_goes(results, configs, extra["parts"])]
    if "worker_models" in extra:
        lines += [
            "",
            "## Worker model",
            "",
            "The rendered home page under the shipped worker count with each worker model, "
            "all servers up at once; throughput relative to the shipped config in the same "
            "round.",
            "",
            "| worker model | cookie | × shipped | p50 ms | p99 ms |",
            "| --- | --- | ---: | ---: | ---: |",
        ]
        for label, kind, relative, p50, p99 in extra["worker_models"]:
            lines.append(f"| {label} | {kind or 'none'} | {relative:.2f} | {p50:.2f} | {p99:.2f} |")
    lines += ["", "## Other measurements", ""]
    lines += levers(extra.get("parts", {}))
    if "startup" in extra:
        lines += startup_lines(extra["startup"])
    if "bakes" in extra:
        b = extra["bakes"]
        lines.append(
            f"- Bake time over {b['combinations']} option combinations: "
            f"median {b['median_s']:.2f} s, max {b['max_s']:.2f} s."
        )
    if "suite_s" in extra:
        lines.append(f"- The baked default project's own test suite: {extra['suite_s']:.1f} s.")
    names = {"counter": "the counter session", "login": "a logged-in session"}
    for kind, size in memory.items():
        lines.append(
            f"- Redis memory of {names[kind]}: {size['memory']} bytes by `MEMORY USAGE` "
            f"(a {size['key']}-byte key, a {size['value']}-byte value)."
        )
    return "\n".join(lines) + "\n"


def summary(results: Results, configs: list[WorkerConfig], extra) -> str:
    """One line per target: measured, wanted, met, missed or too noisy."""
    lines = ["Targets:"]
    for target, served, second in target_rows(results, configs, extra):
        cells = "; ".join(f"{key} {spread} {verdict}" for key, (spread, verdict) in served.items())
        view = "whole child" if target is STARTUP else "in-process"
        lines.append(f"  {target.label} ({target.wanted_text}): {cells}; {view} {second}")
    memory = extra.get("session_memory", {})
    if "login" in memory:
        used = memory["login"]["memory"]
        met = "met" if used < LOGGED_IN_TARGET_BYTES else "NOT met"
        lines.append(
            f"  logged-in session in Redis (< {LOGGED_IN_TARGET_BYTES} bytes): {used} bytes {met}"
        )
    return "\n".join(lines)


def chart(
    results: Results, configs: list[WorkerConfig], scenarios: list[Scenario], path: Path
) -> None:
    """Throughput relative to bare Flask, one bar per worker config for each scenario."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [s for s in scenarios if s.key != "bare"]
    height = 0.8 / len(configs)
    colors = ["#0b6bcb", "#e8912d", "#2da44e", "#9198a1"]
    figure, axis = plt.subplots(figsize=(10, 1.2 + 0.45 * len(shown) * len(configs)))
    for index, config in enumerate(configs):
        ys = [len(shown) - 1 - i + (len(configs) - 1 - index) * height for i in range(len(shown))]
        values = [results.ratio(config.key, s.key, "bare") or 0 for s in shown]
        axis.barh(ys, values, height=height, color=colors[index % 4], label=config.label)
        for y, value in zip(ys, values, strict=True):
            axis.text(value + 0.01, y, f"{value:.2f}×", va="center", fontsize=7)
    axis.set_yticks(
        [len(shown) - 1 - i + height * (len(configs) - 1) / 2 for i in range(len(shown))],
        [s.label for s in shown],
        fontsize=8,
    )
    axis.axvline(1.0, color="#1f2328", linewidth=0.8)
    axis.set_xlabel("requests/s relative to bare Flask hello (same gunicorn flags, same run)")
    axis.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    # Short runs, many rounds: a round's ratio pairs ours and its reference within seconds,
    # and more rounds give the median and its IQR more to stand on.
    parser.add_argument("--seconds", type=int, default=2, help="wrk duration per run")
    parser.add_argument("--repeats", type=int, default=9, help="interleaved rounds")
    parser.add_argument("--out", type=Path, default=HERE, help="where results.md and the PNG go")
    parser.add_argument("--quick", action="store_true", help="a tiny run for the smoke test")
    parser.add_argument(
        "--configs",
        help="worker configurations, comma-separated (default: sync,shipped; with --quick, "
        "the shipped config with 2 workers, which boot faster)",
    )
    parser.add_argument("--only", help="scenario keys to run, comma-separated (plus bare)")
    parser.add_argument("--project", type=Path, help="an already baked project to measure")
    args = parser.parse_args()
    args.started = time.monotonic()
    for tool in ("wrk", "redis-server"):
        if shutil.which(tool) is None:
            sys.exit(f"error: {tool} is not installed (apt-get install {tool})")
    if args.configs is None:
        args.configs = "sync,shipped+workers=2" if args.quick else "sync,shipped"
    scenarios = SCENARIOS
    if args.quick:  # the refresh-off reference is context, not a target
        scenarios = [s for s in scenarios if s.key != "stock_ro_norefresh"]
    if args.only:
        wanted = {"bare", *args.only.split(",")}
        scenarios = [s for s in scenarios if s.key in wanted]

    redis_server = RedisServer()
    scratch = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        project = args.project or bake(scratch)
        with_login = prepare_database(project, production_env(project, redis_server.url))
        if not with_login:
            scenarios = [s for s in scenarios if s.cookie != "login"]
        configs = worker_configs(args.configs.split(","), project)
        reference_env = {"REDIS_URL": redis_server.url}
        servers = [
            Server("raw", "bench.apps:raw_app", ROOT, reference_env),
            Server("bare", "bench.apps:bare_app", ROOT, reference_env),
            Server("stock", "bench.apps:stock_app", ROOT, reference_env),
            Server("stock_norefresh", "bench.apps:stock_norefresh_app", ROOT, reference_env),
            ours_server(project, redis_server.url, "ours"),
            floor_server(project, redis_server.url),
            ours_server(project, redis_server.url, "ours_nomw"),
        ]
        print(
            f"{len(scenarios)} scenarios under {len(configs)} worker configs, "
            f"{args.repeats} rounds of {args.seconds}s each"
        )
        names = [server.name for server in servers]
        results = measure_servers(configs, servers, scenarios, args, redis_server)
        extra: dict = {"parts": time_parts(project, redis_server.url, scenarios, args.quick)}
        if not args.only:
            # A child costs less than a wrk run: more rounds for the same share of the time.
            extra["startup"] = startup.measure(
                project, redis_server.url, STARTUP_ROUNDS_PER_ROUND * args.repeats
            )
            extra["session_memory"] = session_memory(
                redis_server, servers[names.index("ours")], configs[0], with_login
            )
        if not (args.quick or args.only):
            extra["worker_models"] = worker_models(project, redis_server.url, args)
            extra["bakes"] = time_bakes(None)
            extra["suite_s"] = time_project_suite(project)
        report = render(results, extra, configs, scenarios, args)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.md").write_text(report)
        chart(results, configs, scenarios, args.out / "ratios.png")
        print(report)
        print(summary(results, configs, extra))
    finally:
        redis_server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
