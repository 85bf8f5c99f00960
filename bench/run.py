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
tries another worker model with the shipped worker count). This module runs the rounds;
bench/load.py starts the servers and wrk, bench/report.py writes the results and
bench/explain.py says where the time goes for each target missed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import breakdown, startup
from bench.baked import (
    has_api_tokens,
    package_name,
    prepare_database,
    production_env,
    without_metrics,
)
from bench.load import (
    RedisServer,
    Results,
    Scenario,
    Server,
    WorkerConfig,
    commands_per_request,
    credential_headers,
    fastest_in_turn,
    get_cookie,
    start,
    wait_ready,
    warm_up,
    worker_configs,
)
from bench.report import chart, render, summary
from tools.baking import ROOT, all_combinations, bake
from tools.servers import free_port, stop_group

HERE = Path(__file__).resolve().parent
# Start-up children are cheap next to a round of wrk runs.
STARTUP_ROUNDS_PER_ROUND = 3

SCENARIOS = [
    Scenario("raw", "raw WSGI hello", "raw", "/"),
    Scenario("bare", "bare Flask hello", "bare", "/"),
    Scenario("bare_json", "bare Flask JSON hello", "bare", "/json"),
    Scenario("stock_rw", "stock Flask-Session read+write", "stock", "/rw", "POST", "stock"),
    Scenario("stock_ro", "stock Flask-Session read-only", "stock", "/ro", credential="stock"),
    Scenario(
        "stock_ro_norefresh",
        "stock read-only, refresh off",
        "stock_norefresh",
        "/ro",
        credential="stock",
    ),
    Scenario(
        "floor_ro",
        "bare Flask + our session interface: read-only",
        "floor",
        "/api/counter",
        credential="counter",
    ),
    Scenario(
        "floor_rw",
        "bare Flask + our session interface: read+write",
        "floor",
        "/api/counter",
        "POST",
        credential="counter",
    ),
    Scenario(
        "ours_untouched",
        "ours: page not using the session (cookie sent)",
        "ours_light",
        "/healthz",
        credential="counter",
    ),
    Scenario("ours_ro", "ours: session read-only", "ours", "/api/counter", credential="counter"),
    Scenario(
        "ours_rw", "ours: session read+write", "ours", "/api/counter", "POST", credential="counter"
    ),
    Scenario(
        "ours_home", "ours: rendered home page, session cookie", "ours", "/", credential="counter"
    ),
    Scenario("ours_home_nocookie", "ours: rendered home page, no cookie", "ours_light", "/"),
    Scenario(
        "ours_home_login", "ours: rendered home page, logged in", "ours", "/", credential="login"
    ),
    Scenario(
        "ours_api_me",
        "ours: API read with a token (GET /api/v1/me)",
        "ours",
        "/api/v1/me",
        credential="token",
    ),
    Scenario(
        "ours_nomw_untouched",
        "ours without middleware: page not using the session",
        "ours_nomw",
        "/healthz",
        credential="counter",
    ),
    Scenario(
        "headers_floor_untouched",
        "ours without middleware, sending its headers (constants): page not using the session",
        "ours_headers",
        "/healthz",
        credential="counter",
    ),
    Scenario(
        "ours_nometrics_untouched",
        "ours without metrics: page not using the session",
        "ours_nometrics",
        "/healthz",
        credential="counter",
    ),
]


# The order scenarios are loaded in within a round: each target's two rows side by side
# (bare Flask between the two pages compared with it), so a slow spell of the machine that
# lasts a few seconds falls on both sides of a ratio rather than on one.
RUN_ORDER = [
    "raw",
    "ours_home_nocookie",
    "bare",
    "ours_untouched",
    "ours_nomw_untouched",
    "headers_floor_untouched",
    "ours_nometrics_untouched",
    "stock_ro_norefresh",
    "floor_ro",
    "ours_home",
    "stock_ro",
    "ours_ro",
    "stock_rw",
    "ours_rw",
    "floor_rw",
    "bare_json",
    "ours_api_me",
    "ours_home_login",
]


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
            headers = {}
            for scenario in scenarios:
                url = bases[scenario.server] + scenario.path
                headers[scenario.key] = credential_headers(
                    bases[scenario.server], scenario.credential
                )
                warm_up(url, headers[scenario.key], scenario.method, args.quick)
                if scenario.key not in results.commands:
                    results.commands[scenario.key] = commands_per_request(
                        redis_server, url, scenario, headers[scenario.key],
                        20 if args.quick else 50,
                    )  # fmt: skip
            paired = sorted(scenarios, key=lambda scenario: RUN_ORDER.index(scenario.key))
            for round_number in range(args.repeats):
                order = paired if round_number % 2 == 0 else paired[::-1]
                loads = [(bases[s.server] + s.path, headers[s.key], s.method) for s in order]
                fastest = fastest_in_turn(loads, args.samples, args.seconds)
                for scenario, result in zip(order, fastest, strict=True):
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

    Paired per round against the shipped config: [(label, cookie kind, ratio, p50, p99)].
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
                headers = credential_headers(base, kind)
                warm_up(base + "/", headers, "GET", args.quick)
                jobs.append((config.label, kind, base + "/", headers))
        runs: dict[tuple[str, str | None], list[dict[str, float]]] = {}
        for round_number in range(args.repeats):
            order = jobs if round_number % 2 == 0 else jobs[::-1]
            loads = [(url, headers, "GET") for _, _, url, headers in order]
            fastest = fastest_in_turn(loads, args.samples, args.seconds)
            for (label, kind, _, _), result in zip(order, fastest, strict=True):
                runs.setdefault((label, kind), []).append(result)
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
            # Session keys only (SESSION_KEY_PREFIX ends in ":session:"), not the counter of
            # new sessions per address.
            stored = [k for k in redis_server.client.keys("*") if b":session:" in k]
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
    if name == "ours_nometrics":
        env["FLASK_WSGI_MIDDLEWARE"] = json.dumps(without_metrics(package_name(project)))
    return Server(name, "wsgi:app", project, env)


def baked_reference_server(name: str, factory: str, project: Path, redis_url: str) -> Server:
    """A reference app of bench/apps.py built from the baked package (``factory('<package>')``,
    e.g. the design floor), in the baked app's environment."""
    target = f"bench.apps:{factory}({package_name(project)!r})"
    return Server(name, target, ROOT, production_env(project, redis_url))


def time_parts(project: Path, redis_url: str, scenarios: list[Scenario], quick: bool) -> dict:
    """bench/breakdown.py's in-process time per part, for the scenarios of the apps it loads."""
    wanted = {
        s.key: [s.server, s.method, s.path, s.credential]
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


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    # Short runs, many rounds: a round's ratio pairs ours and its reference within seconds,
    # and more rounds give the median and its IQR more to stand on.
    parser.add_argument("--seconds", type=int, default=1, help="wrk duration per sample")
    parser.add_argument(
        "--samples", type=int, default=3, help="wrk runs per scenario and round; the fastest counts"
    )
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
            scenarios = [s for s in scenarios if s.credential != "login"]
        if not has_api_tokens(project):
            scenarios = [s for s in scenarios if s.credential != "token"]
        configs = worker_configs(args.configs.split(","), project)
        reference_env = {"REDIS_URL": redis_server.url}
        servers = [
            Server("raw", "bench.apps:raw_app", ROOT, reference_env),
            Server("bare", "bench.apps:bare_app", ROOT, reference_env),
            Server("stock", "bench.apps:stock_app", ROOT, reference_env),
            Server("stock_norefresh", "bench.apps:stock_norefresh_app", ROOT, reference_env),
            ours_server(project, redis_server.url, "ours"),
            ours_server(project, redis_server.url, "ours_light"),
            baked_reference_server("floor", "floor_app", project, redis_server.url),
            baked_reference_server("ours_headers", "headers_floor_app", project, redis_server.url),
            ours_server(project, redis_server.url, "ours_nomw"),
            ours_server(project, redis_server.url, "ours_nometrics"),
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
