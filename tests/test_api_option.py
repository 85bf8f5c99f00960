"""The `api` answer: which files each combination with accounts and layout bakes."""

from __future__ import annotations

import pytest
from conftest import bake

PACKAGE = "flask_starter_app"
PUBLIC = {"__init__.py", "blueprint.py", "cors.py", "docs.py", "problems.py", "status.py"}
WITH_ACCOUNTS = PUBLIC | {
    "bearer.py",
    "cli.py",
    "forms.py",
    "models.py",
    "resources.py",
    "schemas.py",
    "token_routes.py",
    "tokens.py",
}
API_TESTS = {"test_api.py", "test_api_errors.py", "test_api_schema.py"}


def api_files(project) -> set[str]:
    """The API package's modules (its templates apart)."""
    package = project / "src" / PACKAGE / "api"
    return {path.name for path in package.glob("*.py")}


@pytest.mark.parametrize("layout", ["small", "large"])
@pytest.mark.parametrize("auth", ["yes", "no"])
def test_the_api_is_a_package_in_both_layouts(tmp_path, layout, auth):
    project = bake(tmp_path, layout=layout, auth=auth, api="yes")
    assert api_files(project) == (WITH_ACCOUNTS if auth == "yes" else PUBLIC)
    templates = (
        project / "src" / PACKAGE / "api" / "templates" / "api"
        if layout == "large"
        else project / "src" / PACKAGE / "templates" / "api"
    )
    expected = {"docs.html", "tokens.html"} if auth == "yes" else {"docs.html"}
    assert {path.name for path in templates.iterdir()} == expected
    tests = {path.name for path in (project / "tests").glob("test_api*.py")}
    assert tests == (API_TESTS | {"test_api_tokens.py"} if auth == "yes" else API_TESTS)
    migrations = project / "src" / PACKAGE / "migrations" / "versions"
    assert (migrations / "0005_api.py").exists() == (auth == "yes")
    pyproject = (project / "pyproject.toml").read_text()
    assert '"flask-smorest>=' in pyproject and '"schemathesis>=' in pyproject


@pytest.mark.parametrize("auth", ["yes", "no"])
def test_without_the_api_nothing_of_it_is_baked(tmp_path, auth):
    project = bake(tmp_path, auth=auth, api="no")
    package = project / "src" / PACKAGE
    assert not (package / "api").exists() and not (package / "templates" / "api").exists()
    assert not list((project / "tests").glob("test_api*.py"))
    assert not list(package.glob("migrations/versions/0005_*.py"))
    assert "flask-smorest" not in (project / "pyproject.toml").read_text()
    assert "api" not in (package / "__init__.py").read_text()
