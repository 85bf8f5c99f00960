"""Baked projects ship a uv.lock that matches their pyproject.toml, and make installs from it."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from conftest import (
    CHOICES,
    ROOT,
    UV,
    UV_ENV,
    bake,
    combinations,
    locked_packages,
    need_python,
    run_command,
)

# Name → version and PEP 610 direct_url.json of every distribution in an environment (the
# first found: an editable install also exposes the src/*.egg-info its build left).
LIST_DISTRIBUTIONS = """
import json
from importlib.metadata import distributions
found = {}
for d in distributions():
    entry = {"version": d.version, "direct_url": d.read_text("direct_url.json")}
    found.setdefault(d.metadata["Name"].lower(), entry)
print(json.dumps(found))
"""


def load_post_gen_hook():
    spec = importlib.util.spec_from_file_location("post_gen", ROOT / "hooks/post_gen_project.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The answers the hook picks a stored lock by, and every combination of them.
LOCK_ANSWERS = load_post_gen_hook().LOCK_ANSWERS
LOCK_VARIANTS = combinations(LOCK_ANSWERS)


def run(command: list, cwd: Path, env: dict[str, str] = UV_ENV) -> subprocess.CompletedProcess:
    """run_command with uv's settings unless told otherwise."""
    return run_command(command, cwd, env=env)


def lock_check(project: Path) -> subprocess.CompletedProcess:
    return run([UV, "lock", "--check"], project)


def is_editable(distribution: dict) -> bool:
    """Whether LIST_DISTRIBUTIONS found this distribution installed in editable mode."""
    direct_url = json.loads(distribution["direct_url"] or "{}")
    return bool(direct_url.get("dir_info", {}).get("editable"))


@pytest.mark.parametrize("answers", LOCK_VARIANTS, ids=lambda a: "-".join(a.values()))
def test_baked_lock_is_up_to_date(tmp_path, answers):
    need_python(answers["python_version"])
    project = bake(tmp_path, **answers)
    assert not (project / "locks").exists()
    result = lock_check(project)
    assert result.returncode == 0, result.stderr
    lock = tomllib.loads((project / "uv.lock").read_text())
    assert lock["requires-python"] == f">={answers['python_version']}"


def test_lock_fits_any_project_name_and_the_other_answers(tmp_path):
    """The slug is filled in and sorted where uv puts it; the other answers change no pin."""
    others = {name: values[-1] for name, values in CHOICES.items() if name not in LOCK_ANSWERS}
    project = bake(tmp_path, project_name="Zeta Shop", **others)
    need_python(CHOICES["python_version"][0])
    result = lock_check(project)
    assert result.returncode == 0, result.stderr
    names = re.findall(r'^\[\[package\]\]\nname = "(.*)"', (project / "uv.lock").read_text(), re.M)
    assert "zeta-shop" in names
    assert names == sorted(names)


def test_lock_check_fails_once_a_dependency_is_added(tmp_path):
    project = bake(tmp_path)
    need_python(CHOICES["python_version"][0])
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(
        text.replace("dependencies = [\n", 'dependencies = [\n    "click>=8.1",\n')
    )
    assert "click>=8.1" in tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    result = lock_check(project)
    assert result.returncode != 0
    assert "needs to be updated" in result.stderr


def test_make_alone_lists_the_targets_with_their_help(tmp_path):
    project = bake(tmp_path)
    documented = re.findall(r"^([a-z-]+):.*## (.*)$", (project / "Makefile").read_text(), re.M)
    targets = re.findall(r"^([a-z-]+):", (project / "Makefile").read_text(), re.M)
    assert [name for name, _ in documented] == targets  # every target says what it does
    result = run(["make"], project)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for name, help_text in documented:
        assert any(f"make {name} " in line and line.endswith(help_text) for line in lines), name
    assert not (project / ".venv").exists()


@pytest.mark.slow
@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_make_install_installs_the_locked_versions(tmp_path, installer):
    """With uv on PATH, or without it (pip installs uv first): the pins, extras, editable app."""
    need_python(CHOICES["python_version"][0])
    project = bake(tmp_path)
    uv = str(UV) if installer == "uv" else ""
    result = run(["make", "install", f"UV={uv}"], project)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    installed = json.loads(
        run([project / ".venv/bin/python", "-c", LIST_DISTRIBUTIONS], project).stdout
    )
    locked = locked_packages(project)
    for name in ("flask", "redis", "sqlalchemy", "pytest", "ruff", "mypy"):
        assert installed[name]["version"] == locked[name], name
    assert is_editable(installed["flask-starter-app"])


@pytest.mark.slow
@pytest.mark.parametrize("extras", ["", "tracing"])
def test_dockerfile_installs_the_locked_runtime_dependencies_only(tmp_path, extras):
    """The build stage's `uv sync` commands, run as its shell runs them (no Docker daemon
    needed), without build arguments and with EXTRAS=tracing."""
    need_python(CHOICES["python_version"][0])
    project = bake(tmp_path, docker="yes")
    dockerfile = (project / "Dockerfile").read_text()
    syncs = re.findall(r"^RUN (?:--mount=\S+ )*(uv sync .*)$", dockerfile, re.M)
    assert len(syncs) == 2 and all("--locked" in command for command in syncs)
    assert re.search(r'^ARG EXTRAS=""$', dockerfile, re.M)
    stage, venv = tmp_path / "stage", tmp_path / "app" / ".venv"
    stage.mkdir()
    env = UV_ENV | {"UV_PROJECT_ENVIRONMENT": str(venv), "EXTRAS": extras}
    env["PATH"] = f"{UV.parent}:{env['PATH']}"
    for files, command in zip(
        [["pyproject.toml", "uv.lock"], ["README.md", "src"]], syncs, strict=True
    ):
        for name in files:
            copy = shutil.copytree if (project / name).is_dir() else shutil.copy
            copy(project / name, stage / name)
        result = run(["sh", "-c", command], stage, env=env)
        assert result.returncode == 0, result.stderr
    shutil.rmtree(stage)
    python = venv / "bin" / "python"
    imported = run([python, "-c", "import flask_starter_app, flask, gunicorn"], tmp_path)
    assert imported.returncode == 0, imported.stderr
    for dev_only in ("pytest", "ruff", "mypy"):
        assert run([python, "-c", f"import {dev_only}"], tmp_path).returncode != 0, dev_only
    # OpenTelemetry only when asked for: redis-py would import its SDK in every process.
    traced = run([python, "-c", "import opentelemetry.sdk.trace"], tmp_path)
    assert (traced.returncode == 0) is (extras == "tracing"), traced.stderr
    installed = json.loads(run([python, "-c", LIST_DISTRIBUTIONS], tmp_path).stdout)
    locked = locked_packages(project)
    assert {name: installed[name]["version"] for name in ("flask", "redis", "gunicorn")} == {
        name: locked[name] for name in ("flask", "redis", "gunicorn")
    }
    assert not is_editable(installed["flask-starter-app"])  # the runtime stage has no sources
