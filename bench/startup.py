"""Start-up cost: importing the baked package and ``create_app("production")``, in fresh children.

Every gunicorn worker, ``flask`` command and test run pays this once, in a new
interpreter, so each run here is a new child process. The reference is a child that only
imports the libraries the app is built on: what any app made of them pays before its own
code runs. Children of both kinds take turns, in alternating order, so a busy moment of the
machine falls on both. CPU time (user + system) counts the work rather than the wait.

Two clocks: the child's own ``time.process_time()`` around the imports and the factory (the
target's ratio), and ``getrusage(RUSAGE_CHILDREN)`` over the whole child, interpreter
start-up included (a second view, closer to what launching a worker costs).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.baked import has_api, package_name, production_env

# What the app is built on (the reference imports these and nothing else), and what a bake
# with the JSON API is built on too.
LIBRARIES = ("flask", "flask_sqlalchemy", "sqlalchemy.orm", "redis", "flask_wtf", "flask_session")
API_LIBRARIES = ("flask_smorest",)
# Tooling a serving app never needs: the migrations, their templates, highlighting.
HEAVY = ("alembic", "flask_migrate", "mako", "pygments")
# Children of each kind per round, taking turns; the round keeps each kind's fastest.
TRIES_PER_ROUND = 3
CHILD = """
import json, sys, time
started = time.process_time()
{work}
cpu = time.process_time() - started
heavy = [name for name in {heavy!r} if name in sys.modules]
print(json.dumps({{"cpu_s": cpu, "modules": len(sys.modules), "heavy": heavy}}))
"""


def run_child(work: str, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """One fresh interpreter doing ``work``: its CPU inside and as a whole, what it loaded."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(
        [sys.executable, "-c", CHILD.format(work=work, heavy=HEAVY)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    report["whole_s"] = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return report


def fastest(tries: list[dict[str, Any]]) -> dict[str, Any]:
    """A round's result of one kind: the least CPU of its tries, on each clock.

    The work is the same every time, so a slower try is the machine's doing (another
    tenant, a cold cache), never the code's; the served scenarios take the fastest of their
    runs for the same reason.
    """
    best = dict(min(tries, key=lambda run: run["cpu_s"]))
    best["whole_s"] = min(run["whole_s"] for run in tries)
    return best


def libraries(project: Path) -> tuple[str, ...]:
    """The reference's imports for this bake: the API's framework where it has the API."""
    return LIBRARIES + (API_LIBRARIES if has_api(project) else ())


def measure(project: Path, redis_url: str, rounds: int) -> dict[str, Any]:
    """Per round, the CPU ratio of ours to the reference (inside the child, and whole)."""
    package = package_name(project)
    works = {
        "ours": f"import {package}\n{package}.create_app('production')",
        "reference": "import " + ", ".join(libraries(project)),
    }
    runs: dict[str, list[dict[str, Any]]] = {key: [] for key in works}
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as cache:
        # A deployed app starts from compiled bytecode: each child reads it from a scratch
        # cache the first runs fill, whether or not this shell lets Python write bytecode.
        env = os.environ | production_env(project, redis_url) | {"PYTHONPYCACHEPREFIX": cache}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        for work in works.values():
            run_child(work, env, project)
        for number in range(rounds):
            tries: dict[str, list[dict[str, Any]]] = {key: [] for key in works}
            for attempt in range(TRIES_PER_ROUND):
                for key in works if (number + attempt) % 2 == 0 else reversed(works):
                    tries[key].append(run_child(works[key], env, project))
            for key, made in tries.items():
                runs[key].append(fastest(made))
    ours, reference = runs["ours"], runs["reference"]
    return {
        "ratios": [a["cpu_s"] / b["cpu_s"] for a, b in zip(ours, reference, strict=True)],
        "whole_ratios": [a["whole_s"] / b["whole_s"] for a, b in zip(ours, reference, strict=True)],
        "ours_ms": statistics.median(run["cpu_s"] for run in ours) * 1000,
        "reference_ms": statistics.median(run["cpu_s"] for run in reference) * 1000,
        "ours_modules": ours[0]["modules"],
        "reference_modules": reference[0]["modules"],
        "heavy": ours[0]["heavy"],
        "libraries": libraries(project),
    }
