"""Every option combination bakes into a clean, lint-free, compilable project."""

from __future__ import annotations

import compileall
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import CHOICES, all_combinations, bake, combination_id

RUFF = [sys.executable, "-m", "ruff"]
BINARY_SUFFIXES = {".png", ".ico", ".jpg", ".gif", ".woff", ".woff2", ".gz"}


def text_files(project: Path):
    for path in project.rglob("*"):
        if (
            path.is_file()
            and path.suffix not in BINARY_SUFFIXES
            and ".ruff_cache" not in path.parts
        ):
            yield path


@pytest.mark.parametrize("answers", all_combinations(), ids=combination_id)
def test_combination_bakes_clean(tmp_path, answers):
    project = bake(tmp_path, **answers)
    package = project / "src" / "flask_starter_app"

    for path in text_files(project):
        text = path.read_text()
        assert "cookiecutter" not in text.lower(), f"template leftover in {path}"
        # Jinja templates of the app legitimately contain {{ and {%; nothing else may.
        if "templates" not in path.parts:
            assert not re.search(r"\{\{|\{%", text), f"unrendered Jinja in {path}"
    for path in project.rglob("*"):
        assert "{{" not in path.name and "cookiecutter" not in path.name
        if path.is_dir():
            assert any(path.iterdir()), f"empty directory {path}"

    for check in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run(
            [*RUFF, *check, "--no-cache"], cwd=project, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
    assert compileall.compile_dir(project, quiet=1, force=True)

    # Option blocks leave the README's Markdown tidy: headings set apart, no blank-line runs.
    readme = (project / "README.md").read_text()
    assert "\n\n\n" not in readme
    assert not re.search(r"[^\n]\n#", readme), "a heading glued to the line above"

    # The layout that was chosen, and only it.
    large = answers["layout"] == "large"
    assert (package / "main" / "routes.py").exists() is large
    assert (package / "main" / "templates" / "main" / "index.html").exists() is large
    assert (package / "views.py").exists() is not large
    assert (package / "templates" / "main" / "index.html").exists() is not large
    assert not (package / "_large").exists()

    # Auth: pages, models, migrations and the database dependency, or none of them.
    auth = answers["auth"] == "yes"
    auth_module = package / "auth" / "routes.py" if large else package / "auth.py"
    assert auth_module.exists() is auth
    for path in ("models.py", "database.py", "forms.py", "users.py", "migrations/env.py"):
        assert (package / path).exists() is auth, path
    assert (project / "tests" / "test_auth.py").exists() is auth
    templates = package / "auth" / "templates" if large else package / "templates"
    assert (templates / "auth" / "login.html").exists() is auth
    dependencies = " ".join(
        tomllib.loads((project / "pyproject.toml").read_text())["project"]["dependencies"]
    )
    assert ("sqlalchemy" in dependencies) is auth

    # Optional files.
    assert (project / "Dockerfile").exists() is (answers["docker"] == "yes")
    assert (project / "compose.yaml").exists() is (answers["docker"] == "yes")
    assert (project / ".github").exists() is (answers["ci"] == "github")
    assert (project / "LICENSE").exists() is (answers["open_source_license"] != "Not open source")
    assert not (project / "licenses").exists()

    # Generated config files parse and say what was asked.
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "flask-starter-app"
    assert pyproject["project"]["requires-python"] == f">={answers['python_version']}"
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + answers["python_version"].replace(
        ".", ""
    )
    if answers["ci"] == "github":
        workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
        job = workflow["jobs"]["test"]
        assert job["env"]["REQUIRE_REDIS"] == "1"
        assert "redis" in job["services"]
        assert [step.get("run") for step in job["steps"][-3:]] == [
            "make install",
            "make lint",
            "make test",
        ]
    if answers["docker"] == "yes":
        compose = yaml.safe_load((project / "compose.yaml").read_text())
        assert set(compose["services"]) == {"web", "redis"}
        dockerfile = (project / "Dockerfile").read_text()
        assert f"FROM python:{answers['python_version']}-slim" in dockerfile
        assert "USER 10001" in dockerfile


def test_env_file_gets_a_fresh_secret_each_bake(tmp_path):
    first = bake(tmp_path / "one")
    second = bake(tmp_path / "two")
    secrets = []
    for project in (first, second):
        env = dict(
            line.split("=", 1)
            for line in (project / ".env").read_text().splitlines()
            if line and not line.startswith("#")
        )
        assert len(env["SECRET_KEY"]) >= 48
        secrets.append(env["SECRET_KEY"])
        assert (project / ".env").stat().st_mode & 0o077 == 0
    assert secrets[0] != secrets[1]
    assert "SECRET_KEY=change-me" in (first / ".env.example").read_text()


def test_project_name_drives_slug_and_package(tmp_path):
    project = bake(tmp_path, project_name="Acme Billing Portal")
    assert project.name == "acme-billing-portal"
    assert (project / "src" / "acme_billing_portal" / "__init__.py").exists()
    config = (project / "src" / "acme_billing_portal" / "config.py").read_text()
    assert 'APP_NAME = "Acme Billing Portal"' in config


BIN = Path(sys.executable).parent


@pytest.mark.parametrize("python_version", CHOICES["python_version"])
def test_deployment_files_pass_their_linters(tmp_path, python_version):
    """hadolint for the Dockerfile; the published JSON schemas for compose and the workflow."""
    project = bake(tmp_path, python_version=python_version, docker="yes", ci="github")
    checks = [
        [BIN / "hadolint", "Dockerfile"],
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", "compose.yaml"],
        [
            BIN / "check-jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            ".github/workflows/ci.yml",
        ],
    ]
    for command in checks:
        result = subprocess.run(command, cwd=project, capture_output=True, text=True)
        assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"


@pytest.mark.parametrize("python_version", CHOICES["python_version"])
def test_workflow_passes_actionlint(tmp_path, python_version, actionlint):
    project = bake(tmp_path, python_version=python_version, ci="github")
    workflow = ".github/workflows/ci.yml"
    result = subprocess.run([actionlint, workflow], cwd=project, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_a_broken_workflow(tmp_path, actionlint):
    """The linter really reads the file: an unknown job key and a bad expression fail it."""
    project = bake(tmp_path, ci="github")
    workflow = project / ".github/workflows/ci.yml"
    text = workflow.read_text()
    workflow.write_text(text.replace("runs-on:", "runs-into: ${{ matrix.nope }}\n    runs-on:", 1))
    result = subprocess.run(
        [actionlint, workflow.relative_to(project)], cwd=project, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert 'unexpected key "runs-into"' in result.stdout
