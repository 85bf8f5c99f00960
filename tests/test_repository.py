"""The template repository's own CI: its workflow lints clean and installs what the suite needs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
import requests
import yaml
from conftest import CHOICES, ROOT, free_port, stop_group, uv, wait_for_port
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tools.baking import bake

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
BIN = Path(sys.executable).parent


def test_root_workflow_passes_actionlint(actionlint):
    result = subprocess.run(
        [actionlint, WORKFLOW.relative_to(ROOT)], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_root_workflow_matches_the_github_workflow_schema():
    command = [BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", WORKFLOW]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# The Pythons the template's own tooling runs on: every python_version answer.
TOOLING_PYTHONS = ["3.11", "3.12", "3.13", "3.14"]


def test_root_workflow_runs_make_test_on_every_push_with_the_servers_installed():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(triggers) == {"push", "pull_request"}
    (job,) = workflow["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    assert job["env"]["REQUIRE_REDIS"] == "1"
    steps = {step.get("uses", "").split("@")[0]: step for step in job["steps"]}
    assert "actions/setup-node" in steps
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert runs[-1] == "make test"
    assert ci_run_packages() - {"chromium", "npm"} <= set(" ".join(runs).split())


def test_root_workflow_runs_the_suite_on_every_python_the_tooling_supports():
    """One job per Python, each to the end: setup-python gives make test its interpreter."""
    (job,) = yaml.safe_load(WORKFLOW.read_text())["jobs"].values()
    assert job["strategy"]["matrix"] == {"python-version": TOOLING_PYTHONS}
    assert job["strategy"]["fail-fast"] is False
    assert set(CHOICES["python_version"]) <= set(TOOLING_PYTHONS)
    assert "${{ matrix.python-version }}" in job["name"]
    steps = {step.get("uses", "").split("@")[0]: step for step in job["steps"]}
    setup = steps["actions/setup-python"]["with"]
    assert setup["python-version"] == "${{ matrix.python-version }}"
    runs = [step["run"] for step in job["steps"] if "run" in step]
    # The same command as .ci/run and the README: make test, on the interpreter set up above.
    assert runs[-1] == "make test"
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith("make test")
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^PYTHON \?= python3$", makefile, re.M)


def ci_run_packages() -> set[str]:
    """The apt packages .ci/run installs when their command is missing."""
    return set(re.findall(r"missing\+=\(([\w-]+)\)", (ROOT / ".ci" / "run").read_text()))


def test_ci_run_installs_every_server_the_launchers_start():
    assert {"redis-server", "redis-tools", "postgresql", "nginx", "chromium", "wrk"} <= (
        ci_run_packages()
    )
    assert subprocess.run(["bash", "-n", ROOT / ".ci" / "run"]).returncode == 0


def requirement_names(requirements: list[str]) -> dict[str, Requirement]:
    parsed = (Requirement(line) for line in requirements)
    return {canonicalize_name(requirement.name): requirement for requirement in parsed}


def test_the_suite_venv_installs_everything_a_baked_project_needs(tmp_path):
    """Baked suites run in this venv: whatever the template adds must be installed here too."""
    baked = tomllib.loads((bake(tmp_path, auth="yes") / "pyproject.toml").read_text())["project"]
    needed = requirement_names(
        baked["dependencies"]
        + [line for extra in baked["optional-dependencies"].values() for line in extra]
    )
    ours = requirement_names(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]["test"]
    )
    needed.pop(baked["name"])  # the dev and test extras take in its own tracing extra
    assert set(needed) - set(ours) == set()
    for name, requirement in needed.items():
        if requirement.marker is None or requirement.marker.evaluate():  # for this platform
            assert requirement.specifier.contains(version(name)), (name, version(name))


def test_the_template_tooling_lock_matches_its_pyproject():
    """`make venv` installs from uv.lock; a dependency changed without `make lock` fails here."""
    result = uv("lock", "--check", cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_make_demo_installs_no_test_tooling():
    """The demo's tools are the project's dependencies; the suite's are the `test` group."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert set(requirement_names(pyproject["project"]["dependencies"])) == {"cookiecutter", "uv"}
    makefile = (ROOT / "Makefile").read_text()
    demo_sync = re.search(r"^\$\(VENV\)/\.demo-tools:.*\n\t(.*)$", makefile, re.M)
    assert demo_sync and "--group" not in demo_sync.group(1)


# What a venv holds: its distributions' names.
LIST_NAMES = (
    "import json, importlib.metadata as m; "
    "print(json.dumps([d.metadata['Name'].lower() for d in m.distributions()]))"
)


def demo(tmp_path: Path, port: int, log: Path) -> subprocess.Popen:
    """`make demo` into a scratch folder and venv, served on ``port``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("VIRTUAL_ENV")}
    env.pop("REDIS_URL", None)  # the demo starts its own throwaway Redis
    command = ["make", "demo", f"DEMO={tmp_path / 'demo'}", f"VENV={tmp_path / 'venv'}"]
    with log.open("a") as output:
        return subprocess.Popen(
            [*command, f"PORT={port}"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.mark.slow
def test_make_demo_serves_a_demo_without_test_tooling_and_keeps_it(tmp_path):
    """The README's first command, twice: the second run keeps the demo and its data."""
    log = tmp_path / "demo.log"
    for attempt in ("first", "second"):
        port = free_port()
        started = time.monotonic()
        server = demo(tmp_path, port, log)
        try:
            wait_for_port(port, timeout=180, process=server)
            home = requests.get(f"http://127.0.0.1:{port}/", timeout=10)
            assert home.status_code == 200, log.read_text()[-3000:]
            print(f"\nmake demo ({attempt}) answered after {time.monotonic() - started:.1f} s")
        finally:
            stop_group(server)
        if attempt == "first":
            marker = next((tmp_path / "demo").glob("*/.env"))
            marker.write_text(marker.read_text() + "# kept\n")
    assert "Using the demo already in" in log.read_text()
    assert marker.read_text().endswith("# kept\n")
    names = json.loads(
        subprocess.run(
            [tmp_path / "venv" / "bin" / "python", "-c", LIST_NAMES],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert {"cookiecutter", "uv"} <= set(names)
    assert not {"pytest", "mypy", "playwright", "matplotlib"} & set(names)
