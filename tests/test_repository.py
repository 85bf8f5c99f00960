"""The template repository's own CI: its workflow lints clean and installs what the suite needs."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import yaml
from conftest import ROOT, uv
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


def test_root_workflow_runs_make_test_on_every_push_with_the_servers_installed():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(triggers) == {"push", "pull_request"}
    (job,) = workflow["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    assert job["env"]["REQUIRE_REDIS"] == "1"
    steps = {step.get("uses", "").split("@")[0]: step for step in job["steps"]}
    assert steps["actions/setup-python"]["with"]["python-version"] == "3.11"
    assert "actions/setup-node" in steps
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert runs[-1] == "make test"
    assert ci_run_packages() - {"chromium", "npm"} <= set(" ".join(runs).split())


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
