"""Quality gates on the baked code, and taking template updates with cruft."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import (
    CHOICES,
    ROOT,
    assert_mypy_and_bandit_pass,
    bake,
    locked_packages,
    locked_venv,
    run_command,
    spread_pythons,
    tree_combinations,
    uv,
)

BIN = Path(sys.executable).parent
# The Python sources depend on the tree answers only; docker, ci and license add other files.
# Every tree on the Python spread_pythons gives it: here the oldest's, but the defaults'
# (`make lint` in test_projects.py runs the same gates on it in its locked venv); the other
# Pythons' trees get them in test_projects.py too, beside their suites, in the same venv.
OLDEST = CHOICES["python_version"][0]
CODE_VARIANTS = [
    answers | {"python_version": OLDEST}
    for answers in spread_pythons(tree_combinations())[OLDEST][1:]
]


@pytest.mark.parametrize("answers", CODE_VARIANTS, ids=lambda a: "-".join(a.values()))
def test_mypy_strict_and_bandit_are_clean(tmp_path, answers):
    """In the variant's own locked venv: the library versions (and Python) its users get."""
    project = bake(tmp_path, **answers)
    assert_mypy_and_bandit_pass(project, locked_venv(project, answers["python_version"]))


@pytest.mark.slow
@pytest.mark.parametrize("auth", CHOICES["auth"])
def test_mypy_passes_against_the_newest_versions_the_pins_allow(tmp_path, auth):
    """`uv lock --upgrade` in a scratch bake: an upstream release that breaks typing shows here
    before a user's upgrade finds it."""
    project = bake(tmp_path, auth=auth)
    shipped = locked_packages(project)
    upgraded = uv("lock", "--upgrade", cwd=project)
    assert upgraded.returncode == 0, upgraded.stderr[-3000:]
    moved = ", ".join(
        f"{name} {shipped.get(name)} -> {new}"
        for name, new in sorted(locked_packages(project).items())
        if shipped.get(name) != new
    )
    venv = locked_venv(project, CHOICES["python_version"][0])
    try:
        assert_mypy_and_bandit_pass(project, venv)
    except AssertionError as failure:
        raise AssertionError(
            f"the baked code fails its gates once these move: {moved or 'nothing'}. Fix the "
            "code (an ignore that only some versions need takes `unused-ignore`) or cap the "
            f"pin and re-lock.\n{failure}"
        ) from None


def test_python_sources_depend_only_on_the_tree_answers(tmp_path):
    """Why the gates above need not run for every docker/ci/license answer."""
    sources = []
    for number, answers in enumerate(
        [{}, {"docker": "no", "ci": "none", "open_source_license": "Not open source"}]
    ):
        project = bake(tmp_path / str(number), **answers)
        sources.append(
            {
                path.relative_to(project): path.read_bytes()
                for path in project.rglob("*.py")
                if path.name != "gunicorn.conf.py"
            }
        )
    assert sources[0] == sources[1]


def git(project: Path, *args: str) -> None:
    env = os.environ | {
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    subprocess.run(["git", *args], cwd=project, env=env, check=True, capture_output=True)


@pytest.mark.parametrize(
    "answers", [{}, {"layout": "large", "auth": "no"}], ids=["default", "large-noauth"]
)
def test_pre_commit_passes_right_after_baking(tmp_path, answers):
    project = bake(tmp_path, **answers)
    git(project, "init", "-q")
    git(project, "add", "-A")
    env = os.environ | {
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "PRE_COMMIT_HOME": str(tmp_path / "pc"),
    }
    result = run_command([BIN / "pre-commit", "run", "--all-files"], project, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ruff check" in result.stdout and "Passed" in result.stdout


def test_make_hooks_outside_git_says_what_to_do(tmp_path):
    project = bake(tmp_path)
    env = os.environ | {"GIT_CEILING_DIRECTORIES": str(tmp_path)}  # no repository above
    result = run_command(["make", "hooks"], project, env=env)
    assert result.returncode != 0
    assert "make hooks needs a git repository: run git init" in result.stdout


def test_dependencies_have_no_known_vulnerabilities(tmp_path):
    """pip-audit of the default project's dependencies; skips, saying why, if it cannot look."""
    project = bake(tmp_path)
    dependencies = tomllib.loads((project / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("\n".join(dependencies) + "\n")
    result = run_command(
        [BIN / "pip-audit", "--progress-spinner", "off", "--format", "json", "-r", requirements],
        tmp_path,
        timeout=600,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"pip-audit failed: {result.stderr[-2000:]}")
    audited = [dep for dep in report["dependencies"] if "skip_reason" not in dep]
    if not audited:
        reasons = {dep["skip_reason"] for dep in report["dependencies"]}
        pytest.skip(f"the vulnerability database could not be reached: {sorted(reasons)[:2]}")
    vulnerable = {dep["name"]: dep["vulns"] for dep in audited if dep["vulns"]}
    assert vulnerable == {}


def template_repo(tmp_path: Path) -> Path:
    """A git copy of the template as it is in this working tree."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    repo = tmp_path / "template"
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "template v1")
    return repo


def test_cruft_brings_template_changes_without_touching_user_edits(tmp_path):
    repo = template_repo(tmp_path)
    out = tmp_path / "out"
    created = run_command(
        [BIN / "cruft", "create", "--no-input", "--output-dir", out, repo], tmp_path
    )
    assert created.returncode == 0, created.stdout + created.stderr
    project = out / "flask-starter-app"
    assert json.loads((project / ".cruft.json").read_text())["template"] == str(repo)
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "baked")

    # The user's own work.
    views = project / "src" / "flask_starter_app" / "main.py"
    views.write_text(
        views.read_text()
        + '\n\n@bp.get("/mine")\ndef mine() -> str:\n    """Mine."""\n    return "mine"\n'
    )
    git(project, "commit", "-qam", "my route")

    # The template moves on.
    template_config = (
        repo
        / "{{cookiecutter.project_slug}}"
        / "src"
        / "{{cookiecutter.package_name}}"
        / "config.py"
    )
    template_config.write_text(
        template_config.read_text().replace(
            "    MAX_CONTENT_LENGTH = 2 * 1024 * 1024",
            "    # Raised by template v2.\n    MAX_CONTENT_LENGTH = 4 * 1024 * 1024",
        )
    )
    git(repo, "commit", "-qam", "template v2: bigger uploads")

    # cruft diff compares with the template at the baked commit: it sees the user's route.
    diff = run_command([BIN / "cruft", "diff"], project)
    assert "def mine() -> str:" in diff.stdout

    updated = run_command(
        [BIN / "cruft", "update", "--skip-apply-ask", "--allow-untracked-files", "-y"], project
    )
    assert updated.returncode == 0, updated.stdout + updated.stderr
    config = (project / "src" / "flask_starter_app" / "config.py").read_text()
    assert "MAX_CONTENT_LENGTH = 4 * 1024 * 1024" in config
    assert "def mine() -> str:" in views.read_text()
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    assert json.loads((project / ".cruft.json").read_text())["commit"] == commit
