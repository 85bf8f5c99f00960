"""results.md, the chart and the printed summary, from what a run measured.

Targets come from bench/targets.py, each with its median, IQR and verdict under every
worker config, beside the in-process view bench/breakdown.py gives of the same requests.
"""

# The report speaks in ratios: the multiplication sign is meant.
# ruff: noqa: RUF001

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path

from bench import breakdown, load, startup
from bench.explain import levers, where_time_goes
from bench.load import Results, Scenario, WorkerConfig
from bench.targets import NOISE_RULE, SERVED, STARTUP, Spread, Target

LOGGED_IN_TARGET_BYTES = 300


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


def in_process_spread(parts: dict, target: Target) -> Spread | None:
    """bench/breakdown.py's view of a served target: per round, the ratio of the reference's
    time per request to ours, each its fastest batch in that round."""
    ours, ref = parts.get(target.ours), parts.get(target.reference)
    if not ours or not ref:
        return None
    pairs = zip(ref["best_us"], ours["best_us"], strict=True)
    return Spread.of([theirs / mine for theirs, mine in pairs])


def target_rows(results: Results, configs: list[WorkerConfig], extra: dict) -> list[tuple]:
    """(target, {config key: (spread, verdict)}, second view) for every target measured.

    Start-up serves nothing: its one measurement stands under every config, and its second
    view is the CPU of the whole child.
    """
    rows = []
    parts = extra.get("parts", {})
    for target in SERVED:
        served = {c.key: (s, target.verdict(s)) for c, s in results.target_spreads(configs, target)}
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
        f"{', '.join(f'`{name}`' for name in measured['libraries'])} alone "
        f"{measured['reference_ms']:.0f} ms ({measured['reference_modules']} modules). "
        f"Loaded after `create_app` among {', '.join(f'`{n}`' for n in startup.HEAVY)}: "
        f"{heavy}."
    ]


def cpu_list(cpus: set[int]) -> str:
    """``{3, 1}`` -> ``CPUs 1, 3``; ``{0}`` -> ``CPU 0``."""
    return f"CPU{'s' if len(cpus) > 1 else ''} " + ", ".join(str(cpu) for cpu in sorted(cpus))


def placement() -> str:
    """Where the clients and the servers ran (bench/load.py)."""
    if load.SERVER_CPUS == load.CLIENT_CPUS:
        return f"clients and servers sharing {cpu_list(load.CLIENT_CPUS)}"
    return (
        f"wrk and Redis on {cpu_list(load.CLIENT_CPUS)} and every server on "
        f"{cpu_list(load.SERVER_CPUS)}, so a run does not depend on where the scheduler "
        "puts the client"
    )


def render(results: Results, extra, configs, scenarios, args) -> str:
    """results.md: one table per worker config, the targets, and the other measurements."""
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {machine()}.",
        f"wrk -t1 -c8 after a warm-up, {placement()}; in each of {args.repeats} interleaved "
        f"round{'s' if args.repeats != 1 else ''} a scenario's result is the fastest of "
        f"{args.samples} runs of {args.seconds}s, taken in turn with the round's other "
        f"scenarios (a burst from another tenant only slows a run); medians (a ratio is "
        f"the median of the ratios within each round, shown with their interquartile "
        f"range); no access log "
        f"for any server; the servers of a config are up together, each idle while another "
        f"is loaded. Our pages that use neither Redis nor the session (the untouched and "
        f"cookieless home rows) have a server of their own running the same app, as their "
        f"references do: a server that had just served session pages served the untouched "
        f"page up to 20% slower until it had served a few seconds of it, with or without our "
        f"middleware (every round of the other order saw it, before the CPUs were pinned). "
        f"Made by `make bench` on {time.strftime('%Y-%m-%d')} in "
        f"{(time.monotonic() - args.started) / 60:.1f} minutes.",
        "",
        "Read+write rows, ours and the references, POST the same JSON body to the same view "
        "code; the other rows are GETs. The home page rows render the baked default "
        "(examples and account pages included); its session cookie holds the tour's counter, "
        "the logged-in one comes from the real login form. The design floor is bare Flask "
        "with only the baked session interface, set up by the baked package's own settings "
        "loader and init functions in the same environment (`bench/apps.py`).",
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
        "callable, each round's ratio taken between the fastest batches of "
        f"{breakdown.BATCH} requests; no server, socket or wrk sharing the machine): "
        "quieter, but without the server's own cost per request, which ours and the "
        "reference share, so it shows every difference larger than served. Start-up is "
        "measured once, in fresh child processes "
        f"with no server running ({len(extra['startup']['ratios']) if 'startup' in extra else 0} "
        f"interleaved rounds, each keeping the fastest of {startup.TRIES_PER_ROUND} children of "
        "each kind, `bench/startup.py`), so its row repeats under every config; "
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
