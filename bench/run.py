"""`make bench`: the baked app's speed as ratios against references measured in the same run.

Every server runs under the same gunicorn flags on 127.0.0.1; wrk loads each scenario for a
bounded time, servers are interleaved and the whole round is repeated, and medians are
reported. Absolute numbers move between runs and machines; the ratios are what count.

Run it from the repository root as `python -m bench.run` (what `make bench` does): it
imports the shared launchers from tools/, never the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
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

from tools.baking import ROOT, all_combinations, bake
from tools.servers import free_port, serve, start_redis_server, stop_group

HERE = Path(__file__).resolve().parent

# sync workers: every request is a new connection, so load spreads evenly over the two
# workers (with keep-alive, wrk's connections can all stick to one and halve the result).
GUNICORN_FLAGS = ["--workers", "2", "--worker-class", "sync"]
# No config file and no access log for anyone: only the apps differ.
GUNICORN_COMMON = ["--config", "/dev/null", "--log-level", "warning"]
COOKIE_NAME = "flask_starter_app_session"
SECRET = "bench-secret-key-0123456789abcdefghij"
# Production with accounts requires a mail server; the bench sends no mail.
MAIL = {"MAIL_SERVER": "127.0.0.1"}


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
    cookie_from: str | None = None  # how to get a session cookie first: "GET /x" or "POST /x"


SCENARIOS = [
    Scenario("raw", "raw WSGI hello", "raw", "/"),
    Scenario("bare", "bare Flask hello", "bare", "/"),
    Scenario(
        "stock_rw",
        "stock Flask-Session read+write",
        "stock",
        "/rw",
        method="POST",
        cookie_from="POST /rw",
    ),
    Scenario("stock_ro", "stock Flask-Session read-only", "stock", "/ro", cookie_from="POST /rw"),
    Scenario(
        "stock_ro_norefresh",
        "stock read-only, refresh off",
        "stock_norefresh",
        "/ro",
        cookie_from="POST /rw",
    ),
    Scenario(
        "ours_untouched",
        "ours: page not using the session (cookie sent)",
        "ours",
        "/healthz",
        cookie_from="POST /api/counter",
    ),
    Scenario(
        "ours_ro",
        "ours: session read-only",
        "ours",
        "/api/counter",
        cookie_from="POST /api/counter",
    ),
    Scenario(
        "ours_rw",
        "ours: session read+write",
        "ours",
        "/api/counter",
        method="POST",
        cookie_from="POST /api/counter",
    ),
    Scenario(
        "ours_home",
        "ours: rendered home page (cookie sent)",
        "ours",
        "/",
        cookie_from="POST /api/counter",
    ),
    Scenario(
        "ours_nomw_untouched",
        "ours without middleware: page not using the session",
        "ours_nomw",
        "/healthz",
        cookie_from="POST /api/counter",
    ),
]

TARGETS = [
    ("ours_rw", "stock_rw", 1.0, "read+write route vs stock read+write"),
    ("ours_ro", "stock_ro", 1.4, "read-only route vs stock read-only"),
    ("ours_untouched", "bare", 0.8, "page not using the session (cookie sent) vs bare Flask"),
    ("ours_untouched", "ours_nomw_untouched", 0.95, "middleware stack overhead ≤ 5%"),
]


class RedisServer:
    """A private redis-server for the run."""

    def __init__(self) -> None:
        self.process, self.port = start_redis_server()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.client = redis.Redis.from_url(self.url)

    def commands(self) -> int:
        """Commands served so far, not counting INFO itself."""
        stats = self.client.info("commandstats")
        return sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info")

    def stop(self) -> None:
        self.client.close()
        stop_group(self.process)


def start(server: Server, port: int) -> subprocess.Popen:
    """gunicorn on the server's target, listening when this returns."""
    options = [*GUNICORN_FLAGS, *GUNICORN_COMMON]
    return serve(server.cwd, port, server.env, *options, app=server.target, timeout=20)


def get_cookie(base: str, how: str | None) -> str | None:
    if not how:
        return None
    method, path = how.split()
    response = requests.request(
        method, base + path, json={} if method == "POST" else None, timeout=10
    )
    response.raise_for_status()
    match = re.search(rf"(?:session|{COOKIE_NAME})=([^;]+)", response.headers["Set-Cookie"])
    assert match, response.headers
    name = response.headers["Set-Cookie"].split("=", 1)[0]
    return f"{name}={match.group(1)}"


LATENCY = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, seconds: int, cookie: str | None, method: str) -> dict[str, float]:
    command = ["wrk", "--latency", "-t", "1", "-c", "8", "-d", f"{seconds}s", "--timeout", "5s"]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    if method == "POST":
        command += ["-s", str(HERE / "post_json.lua")]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    if "Non-2xx or 3xx responses" in output:
        raise RuntimeError(f"{url} answered errors under load:\n{output}")
    latency = {p: float(v) * UNITS[u] for p, v, u in LATENCY.findall(output)}
    return {"rps": rps, "p50_ms": latency["50"], "p99_ms": latency["99"]}


def commands_per_request(
    redis_server: RedisServer, base: str, scenario: Scenario, n: int = 50
) -> float:
    cookie = get_cookie(base, scenario.cookie_from)
    headers = {"Cookie": cookie} if cookie else {}
    before = redis_server.commands()
    for _ in range(n):
        body = {"json": {}} if scenario.method == "POST" else {}
        requests.request(scenario.method, base + scenario.path, headers=headers, timeout=10, **body)
    return (redis_server.commands() - before) / n


def measure_servers(servers: list[Server], repeats: int, seconds: int, redis_server: RedisServer):
    runs: dict[str, list[dict[str, float]]] = {s.key: [] for s in SCENARIOS}
    commands: dict[str, float] = {}
    for round_number in range(repeats):
        # Alternate the order each round so no server always runs on a warmer machine.
        order = servers if round_number % 2 == 0 else list(reversed(servers))
        for server in order:
            port = free_port()
            process = start(server, port)
            base = f"http://127.0.0.1:{port}"
            try:
                for scenario in (s for s in SCENARIOS if s.server == server.name):
                    cookie = get_cookie(base, scenario.cookie_from)
                    wrk(base + scenario.path, 1, cookie, scenario.method)  # warm up
                    runs[scenario.key].append(
                        wrk(base + scenario.path, seconds, cookie, scenario.method)
                    )
                    if round_number == 0 and scenario.cookie_from:
                        commands[scenario.key] = commands_per_request(redis_server, base, scenario)
                    print(
                        f"  round {round_number + 1} {scenario.key}: {runs[scenario.key][-1]}",
                        flush=True,
                    )
            finally:
                stop_group(process)
    medians = {
        key: {metric: statistics.median(run[metric] for run in values) for metric in values[0]}
        for key, values in runs.items()
    }
    return medians, commands


def time_create_app(project: Path, redis_url: str, iterations: int) -> dict[str, float]:
    """create_app("production") against a bare Flask app with as many routes, in-process.

    Compiling URL rules is most of either; giving the reference the same number of rules
    (in one blueprint) leaves our wiring (config, Redis client, extensions, logging,
    middleware) as the difference.
    """
    code = f"""
import json, timeit
from flask import Blueprint, Flask
from flask_starter_app import create_app

rules = len(list(create_app("production").url_map.iter_rules())) - 1  # less /static

def bare():
    app = Flask("bare")
    bp = Blueprint("main", "bare")
    for i in range(rules):
        bp.add_url_rule(f"/r{{i}}", f"r{{i}}", lambda: "x")
    app.register_blueprint(bp)
    return app

def best(function):
    return min(timeit.repeat(function, number={iterations}, repeat=3)) / {iterations}

ours = best(lambda: create_app("production"))
ref = best(bare)
print(json.dumps({{"ours_ms": ours * 1000, "bare_ms": ref * 1000, "rules": rules}}))
"""
    env = os.environ | {
        "SECRET_KEY": SECRET,
        "REDIS_URL": redis_url,
        "TRUSTED_HOSTS": "127.0.0.1,localhost",
        "PYTHONPATH": str(project / "src"),
        "INSTANCE_PATH": str(project / "instance"),
        **MAIL,
    }
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


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


def memory_per_session(redis_server: RedisServer, project: Path, sessions: int) -> float:
    """Redis memory growth per stored session, sessions created over HTTP by the baked app."""
    port = free_port()
    server = ours_server(project, redis_server.url, "ours")
    process = start(server, port)
    try:
        redis_server.client.flushdb()
        before = redis_server.client.info("memory")["used_memory"]
        for _ in range(sessions):
            requests.post(
                f"http://127.0.0.1:{port}/api/counter", json={}, timeout=10
            ).raise_for_status()
        after = redis_server.client.info("memory")["used_memory"]
    finally:
        stop_group(process)
    return (after - before) / sessions


def ours_server(project: Path, redis_url: str, name: str) -> Server:
    env = MAIL | {
        "FLASK_CONFIG": "production",
        "SECRET_KEY": SECRET,
        "REDIS_URL": redis_url,
        "TRUSTED_HOSTS": "127.0.0.1,localhost",
        "PYTHONPATH": str(project / "src"),
    }
    if name == "ours_nomw":
        env["FLASK_WSGI_MIDDLEWARE"] = "[]"
    return Server(name, "wsgi:app", project, env)


def machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in ("flask", "flask_session", "werkzeug", "gunicorn", "redis"):
        module = __import__(package)
        versions[package] = getattr(module, "__version__", None) or _dist_version(package)
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


def render(medians, commands, extra, seconds: int, repeats: int) -> str:
    refs = {"raw": "raw", "bare": "bare", "stock": "stock_rw"}
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {machine()}.",
        f"gunicorn {' '.join(GUNICORN_FLAGS)}, no access log; wrk -t1 -c8, {seconds}s per run, "
        f"{repeats} interleaved rounds, medians. "
        f"Made by `make bench` on {time.strftime('%Y-%m-%d')}.",
        "",
        "Read+write rows, ours and stock, POST the same JSON body to the same view code; "
        "read-only and untouched rows are GETs.",
        "",
        "| scenario | req/s | p50 ms | p99 ms | × raw | × bare Flask | × stock r+w "
        "| Redis cmds/req |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for scenario in SCENARIOS:
        m = medians[scenario.key]
        ratios = [m["rps"] / medians[ref]["rps"] for ref in refs.values()]
        cmds = commands.get(scenario.key)
        lines.append(
            f"| {scenario.label} | {m['rps']:,.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | "
            + " | ".join(f"{r:.2f}" for r in ratios)
            + f" | {'' if cmds is None else f'{cmds:.2f}'} |"
        )
    lines += [
        "",
        "## Targets",
        "",
        "| target | ratio | wanted | met |",
        "| --- | ---: | ---: | :---: |",
    ]
    for ours, ref, wanted, label in TARGETS:
        ratio = medians[ours]["rps"] / medians[ref]["rps"]
        met = "yes" if ratio >= wanted else "NO"
        lines.append(f"| {label} | {ratio:.3f} | ≥ {wanted} | {met} |")
    ca = extra["create_app"]
    ca_ratio = ca["ours_ms"] / ca["bare_ms"]
    lines.append(
        '| create_app("production") vs bare Flask + blueprint, same rule count '
        f"| {ca_ratio:.2f}× the time | ≤ 2× | {'yes' if ca_ratio <= 2 else 'NO'} |"
    )
    cmd_ok = (
        commands.get("ours_untouched") == 0
        and commands.get("ours_ro") == 1
        and commands.get("ours_rw", 99) <= 2
    )
    lines.append(
        "| Redis commands per request: untouched 0, read 1, read+write ≤ 2 | "
        f"{commands.get('ours_untouched')}, {commands.get('ours_ro')}, {commands.get('ours_rw')} | "
        f"0, 1, ≤ 2 | {'yes' if cmd_ok else 'NO'} |"
    )
    lines += ["", "## Other measurements", ""]
    lines.append(
        f'- `create_app("production")`: {ca["ours_ms"]:.2f} ms; bare Flask app + one blueprint '
        f"with the same {ca['rules']} URL rules: {ca['bare_ms']:.2f} ms."
    )
    if "bakes" in extra:
        b = extra["bakes"]
        lines.append(
            f"- Bake time over {b['combinations']} option combinations: "
            f"median {b['median_s']:.2f} s, max {b['max_s']:.2f} s."
        )
    if "suite_s" in extra:
        lines.append(f"- The baked default project's own test suite: {extra['suite_s']:.1f} s.")
    lines.append(
        f"- Redis memory per stored session (counter session, over HTTP): "
        f"{extra['bytes_per_session']:.0f} bytes."
    )
    return "\n".join(lines) + "\n"


def chart(medians, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [s.label for s in SCENARIOS]
    ratios = [medians[s.key]["rps"] / medians["bare"]["rps"] for s in SCENARIOS]
    colors = ["#0b6bcb" if s.server.startswith("ours") else "#9198a1" for s in SCENARIOS]
    figure, axis = plt.subplots(figsize=(10, 5))
    axis.barh(labels[::-1], ratios[::-1], color=colors[::-1])
    axis.axvline(1.0, color="#1f2328", linewidth=0.8)
    axis.set_xlabel("throughput relative to bare Flask (same gunicorn flags, same run)")
    for y, value in enumerate(ratios[::-1]):
        axis.text(value + 0.01, y, f"{value:.2f}×", va="center", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per run")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--out", type=Path, default=HERE, help="where results.md and the PNG go")
    parser.add_argument("--quick", action="store_true", help="a tiny run for the smoke test")
    args = parser.parse_args()
    for tool in ("wrk", "redis-server"):
        if shutil.which(tool) is None:
            sys.exit(f"error: {tool} is not installed (apt-get install {tool})")

    redis_server = RedisServer()
    scratch = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        project = bake(scratch)
        servers = [
            Server("raw", "bench.apps:raw_app", ROOT, {"REDIS_URL": redis_server.url}),
            Server("bare", "bench.apps:bare_app", ROOT, {"REDIS_URL": redis_server.url}),
            Server("stock", "bench.apps:stock_app", ROOT, {"REDIS_URL": redis_server.url}),
            Server(
                "stock_norefresh",
                "bench.apps:stock_norefresh_app",
                ROOT,
                {"REDIS_URL": redis_server.url},
            ),
            ours_server(project, redis_server.url, "ours"),
            ours_server(project, redis_server.url, "ours_nomw"),
        ]
        print(f"Serving {len(servers)} apps, {args.repeats} rounds of {args.seconds}s per scenario")
        medians, commands = measure_servers(servers, args.repeats, args.seconds, redis_server)
        extra: dict = {
            "create_app": time_create_app(project, redis_server.url, 20 if args.quick else 200),
            "bytes_per_session": memory_per_session(
                redis_server, project, 50 if args.quick else 1000
            ),
        }
        if not args.quick:
            extra["bakes"] = time_bakes(None)
            extra["suite_s"] = time_project_suite(project)
        report = render(medians, commands, extra, args.seconds, args.repeats)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.md").write_text(report)
        chart(medians, args.out / "ratios.png")
        print(report)
    finally:
        redis_server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
