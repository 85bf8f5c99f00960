"""Every option combination bakes into a clean, lint-free, compilable project."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import CHOICES, all_combinations, bake, combination_id, tree_combinations

RUFF = str(Path(sys.executable).parent / "ruff")
BINARY_SUFFIXES = {".png", ".ico", ".jpg", ".gif", ".woff", ".woff2", ".gz"}


def text_files(project: Path):
    for path in project.rglob("*"):
        if (
            path.is_file()
            and path.suffix not in BINARY_SUFFIXES
            and ".ruff_cache" not in path.parts
        ):
            yield path


COMBINATIONS = all_combinations()
TREE_ANSWERS = tree_combinations()
_baked: dict[str, Path] = {}


@pytest.fixture
def baked(tmp_path_factory):
    """Bake answers once per test process; tests that only read the result share the bake."""

    def bake_once(answers: dict[str, str]) -> Path:
        key = combination_id(answers)
        if key not in _baked:
            _baked[key] = bake(tmp_path_factory.mktemp("bake"), **answers)
        return _baked[key]

    return bake_once


@pytest.mark.parametrize("answers", COMBINATIONS, ids=combination_id)
def test_every_combination_bakes_clean(tmp_path, answers):
    """One bake per combination, every check on it: a combination is baked once, whichever
    test process runs it (checks split over several tests would bake it in each)."""
    project = bake(tmp_path, **answers)
    check_no_template_leftovers(project)
    check_ruff_clean_and_compiles(project)
    check_readme_markdown_is_tidy(project)
    check_optional_files_follow_the_answers(project, answers)
    check_generated_config_files_say_what_was_asked(project, answers)
    # A passing bake is not kept: every combination's would fill gigabytes of /tmp.
    shutil.rmtree(project)


def check_no_template_leftovers(project: Path) -> None:
    for path in text_files(project):
        text = path.read_text()
        assert "cookiecutter" not in text.lower(), f"template leftover in {path}"
        # Jinja templates of the app legitimately contain {{ and {%, tests of templates hold
        # {{ expressions in strings; no other file may, and no Jinja statement is left.
        if "templates" not in path.parts:
            pattern = r"\{%" if path.parts[-2] == "tests" else r"\{\{|\{%"
            assert not re.search(pattern, text), f"unrendered Jinja in {path}"
    for path in project.rglob("*"):
        assert "{{" not in path.name and "cookiecutter" not in path.name
        if path.is_dir():
            assert any(path.iterdir()), f"empty directory {path}"


def check_ruff_clean_and_compiles(project: Path) -> None:
    for check in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run(
            [RUFF, *check, "--no-cache"], cwd=project, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
    for path in project.rglob("*.py"):
        # Compiled in memory: what the interpreter would refuse that a linter might not.
        compile(path.read_bytes(), str(path), "exec", dont_inherit=True)


def check_readme_markdown_is_tidy(project: Path) -> None:
    """Option blocks leave the README's Markdown tidy: headings set apart, no blank-line runs."""
    readme = (project / "README.md").read_text()
    assert "\n\n\n" not in readme
    assert not re.search(r"[^\n]\n#", readme), "a heading glued to the line above"


# Everything of the accounts feature: a package in both layouts.
AUTH_MODULES = ["current_user.py", "login_routes.py", "registration_routes.py"]
AUTH_MODULES += ["password_routes.py", "account_routes.py", "forms.py", "models.py", "cli.py"]
AUTH_MODULES += ["emails.py", "smtp.py", "events.py", "links.py", "passwords.py", "signals.py"]
AUTH_MODULES += ["throttles.py", "signed_in_sessions.py", "common-passwords.txt.gz"]


def feature_files(package: Path, large: bool, feature: str, modules: list[str]) -> list[Path]:
    """Where a feature's modules and templates live: a package holds more than one module;
    the large layout keeps the templates in it, the small one in the app's templates/."""
    if modules == ["routes.py"] and not large:
        places = [package / f"{feature}.py"]
    else:
        places = [package / feature / name for name in ["__init__.py", *modules]]
    templates = package / feature / "templates" if large else package / "templates"
    return [*places, templates / feature]


@pytest.mark.parametrize("answers", TREE_ANSWERS, ids=combination_id)
def test_package_tree_follows_the_layout(baked, answers):
    """Core first, then one place per feature: a module if one holds it, else a package."""
    package = baked(answers) / "src" / "flask_starter_app"
    large = answers["layout"] == "large"
    auth, tour = answers["auth"] == "yes", answers["examples"] == "yes"
    core = {path.name for path in (package / "core").glob("*.py")}
    assert {"redis_client.py", "sessions.py", "middleware.py", "errors.py", "health.py"} <= core
    assert {"limiter.py", "csrf.py", "logs.py", "converters.py", "dev_redis.py"} <= core
    assert {"url_cache.py", "template_globals.py"} <= core
    # Only what every page relies on: mail belongs to the accounts, uploads to the tour.
    assert not {"mail.py", "uploads.py", "templating.py"} & core
    features = {
        "main": (True, ["routes.py"]),
        "auth": (auth, AUTH_MODULES),
        "tour": (tour, ["routes.py", "uploads.py"] if auth else ["routes.py"]),
    }
    for feature, (wanted, modules) in features.items():
        places = feature_files(package, large, feature, modules)
        for path in places:
            assert path.exists() is wanted, path
        # Nowhere else: a feature is either a module or a package, never both.
        assert not ((package / f"{feature}.py").exists() and (package / feature).exists())
    top = {"__init__.py", "config.py", "derive.py", "checks.py", "exceptions.py", "key_strength.py"}
    if not large:
        top |= {"main.py"} | ({"tour.py"} if tour and not auth else set())
    assert {path.name for path in package.glob("*.py")} == top
    if large:
        assert {path.name for path in (package / "templates").iterdir()} == {
            "base.html",
            "errors.html",
            "errors_bare.html",
        }
    assert (package / "core" / "database.py").exists() is auth
    assert (package / "migrations" / "env.py").exists() is auth
    mail_templates = package / "auth" / "templates" if large else package / "templates"
    assert (mail_templates / "email" / "verify.txt").exists() is auth


@pytest.mark.parametrize("answers", TREE_ANSWERS, ids=combination_id)
def test_tests_follow_the_features(baked, answers):
    tests = baked(answers) / "tests"
    assert (tests / "test_auth.py").exists() is (answers["auth"] == "yes")
    assert (tests / "test_tour.py").exists() is (answers["examples"] == "yes")
    assert (tests / "test_uploads.py").exists() is (answers["examples"] == "yes")
    assert (tests / "test_main.py").exists()
    assert (tests / "test_converters.py").exists()  # the converter is core: always tested


def check_optional_files_follow_the_answers(project: Path, answers: dict[str, str]) -> None:
    dependencies = " ".join(
        tomllib.loads((project / "pyproject.toml").read_text())["project"]["dependencies"]
    )
    assert ("sqlalchemy" in dependencies) is (answers["auth"] == "yes")
    assert (project / "Dockerfile").exists() is (answers["docker"] == "yes")
    assert (project / "compose.yaml").exists() is (answers["docker"] == "yes")
    # The local mail catcher: only where there is compose and mail to catch.
    local_mail = answers["docker"] == answers["auth"] == "yes"
    assert (project / "compose.local.yaml").exists() is local_mail
    assert (project / ".github").exists() is (answers["ci"] == "github")
    assert (project / "LICENSE").exists() is (answers["open_source_license"] != "Not open source")
    assert not (project / "licenses").exists()


def check_generated_config_files_say_what_was_asked(project: Path, answers: dict[str, str]) -> None:
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "flask-starter-app"
    assert pyproject["project"]["requires-python"] == f">={answers['python_version']}"
    version = answers["python_version"].replace(".", "")
    assert pyproject["tool"]["ruff"]["target-version"] == f"py{version}"
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
        assert {"web", "redis"} <= set(compose["services"])
        # A full Redis refuses writes rather than evict signed-in sessions (README, Sessions).
        command = compose["services"]["redis"]["command"]
        assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
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
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", "compose.local.yaml"],
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
