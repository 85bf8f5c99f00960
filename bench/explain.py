"""Where the time goes for each target missed: its request's parts, timed in-process.

bench/breakdown.py times every part of a scenario's request (hooks, session, Redis,
templates, database, middleware); this sets the parts of ours beside the reference's and
says how much of the difference the target needs gone.
"""

from __future__ import annotations

from bench import breakdown
from bench.load import Results, WorkerConfig
from bench.targets import SERVED


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
            for config, spread in results.target_spreads(configs, target)
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
