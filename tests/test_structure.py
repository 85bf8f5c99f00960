"""The baked package is a house a newcomer can find their way in, for every tree the answers make.

Every module is used, no module imports one that imports it back, nothing of a feature left
out remains, no module is too long to read at once, and the README's tree is the package.
The imports are read with ``ast``, so nothing of the baked code runs here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from conftest import CHOICES, ROOT, bake, combination_id, tree_combinations

PACKAGE = "flask_starter_app"
# The answers that change the Python sources (docker, ci and the license add other files).
TREE_ANSWERS = tree_combinations()
# Alembic runs these by path (`flask db upgrade`); nothing imports them.
NOT_IMPORTED = ("migrations/",)
MAX_LINES = 300
# Modules allowed past MAX_LINES, each with the reason.
LONG_MODULES: dict[str, str] = {}
# Words that belong to one feature: a bake without the feature has none of them in its
# settings, environment keys, compose file or README.
FEATURE_WORDS = {
    "auth": [
        "DATABASE_URL",
        "SQLALCHEMY",
        "MAIL_",
        "APP_BASE_URL",
        "POSTGRES",
        "PostgreSQL",
        "MIGRATE_ON_START",
        "LOGIN_RATE_LIMIT",
        "EMAIL_RATE_LIMIT",
        "ACCOUNT_FAILURE_LIMIT",
        "PASSWORD_HASH_METHOD",
        "PASSWORD_HASH_CONCURRENCY",
        "PASSWORD_HASH_SLOT_FOLDER",
        "LINK_MAX_AGE",
        "SESSION_SEEN_INTERVAL",
        "SUDO_MODE_LIFETIME",
        "## Accounts",
        "Mailpit",
        "compose.local.yaml",
    ],
    "examples": ["UPLOAD_", "upload", "Upload", "tour"],
    # Files are kept per account: only a bake with both has a folder and a quota.
    "kept uploads": ["UPLOAD_FOLDER", "UPLOAD_MAX_FILES", "UPLOAD_MAX_BYTES"],
    "api": ["API_CORS_ORIGINS", "API_ADDRESS_RATE_LIMIT", "OPENAPI", "## The API", "/api/v1"],
    # Tokens belong to accounts: only a bake with both has them.
    "api tokens": ["API_TOKEN_", "revoke-tokens", "Personal access tokens"],
}
_baked: dict[str, Path] = {}


@pytest.fixture
def project(tmp_path_factory, answers) -> Path:
    """The bake of these answers, once per test process."""
    key = combination_id(answers)
    if key not in _baked:
        _baked[key] = bake(tmp_path_factory.mktemp("structure"), **answers)
    return _baked[key]


def package_modules(package: Path) -> dict[str, Path]:
    """Dotted name -> file of every Python module in the package (caches and dot-folders aside)."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package.parent)
        if any(part.startswith((".", "__pycache__")) for part in relative.parts):
            continue
        parts = list(relative.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imported_names(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The package's modules this file imports anywhere in it (in functions too).

    ``from x import y`` names the module ``x.y`` if there is one, else ``x``; relative
    imports are resolved against the file's own package.
    """
    own_package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = own_package.split(".")[: len(own_package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {module for module in found if module in modules}


def with_packages(importer: str, imported: str) -> set[str]:
    """What importing ``imported`` runs: it and each package above it, except the packages
    the importer is itself in (they are already being imported)."""
    parts = imported.split(".")
    above = {".".join(parts[:depth]) for depth in range(1, len(parts))}
    importer_parts = importer.split(".")
    own = {".".join(importer_parts[:depth]) for depth in range(1, len(importer_parts) + 1)}
    return ({imported} | above) - own


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules of the package that importing it runs."""
    graph = {}
    for name, path in modules.items():
        imported = imported_names(path, name, modules)
        graph[name] = set().union(*(with_packages(name, module) for module in imported))
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (the first repeated at the end), or None."""
    state: dict[str, str] = {}
    trail: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        trail.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return [*trail[trail.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[module] = "done"
        trail.pop()
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def outside_imports(project: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules imported by the tests and the server's entry points."""
    files = [*sorted((project / "tests").glob("*.py")), project / "wsgi.py"]
    files.append(project / "gunicorn.conf.py")
    return set().union(*(imported_names(path, "outside", modules) for path in files))


@pytest.mark.parametrize("answers", TREE_ANSWERS, ids=combination_id)
def test_every_module_is_imported_by_the_app_or_its_tests(project):
    modules = package_modules(project / "src" / PACKAGE)
    graph = import_graph(modules)
    reached, todo = set(), [PACKAGE, *outside_imports(project, modules)]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(graph[module])
    package = project / "src" / PACKAGE
    unused = {
        name
        for name, path in modules.items()
        if name not in reached and not path.relative_to(package).as_posix().startswith(NOT_IMPORTED)
    }
    assert not unused, f"modules nothing imports: {sorted(unused)}"


@pytest.mark.parametrize("answers", TREE_ANSWERS, ids=combination_id)
def test_no_import_cycles(project):
    """Not even one broken at run time by an import inside a function."""
    cycle = find_cycle(import_graph(package_modules(project / "src" / PACKAGE)))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("answers", TREE_ANSWERS, ids=combination_id)
def test_no_module_is_too_long_to_read_at_once(project):
    package = project / "src" / PACKAGE
    lengths = {
        path.relative_to(package).as_posix(): len(path.read_text().splitlines())
        for path in package_modules(package).values()
    }
    too_long = {
        name: count
        for name, count in lengths.items()
        if count > MAX_LINES and name not in LONG_MODULES
    }
    assert not too_long, f"over {MAX_LINES} lines: {too_long}"
    for name in LONG_MODULES:
        assert lengths[name] > MAX_LINES, f"{name} is short now: drop it from LONG_MODULES"


def feature_texts(project: Path) -> dict[str, str]:
    """What names the settings and the environment keys: config, .env.example, compose, README."""
    package = project / "src" / PACKAGE
    files = [package / "config.py", package / "derive.py", package / "checks.py"]
    files += [project / ".env.example", project / "compose.yaml", project / "README.md"]
    return {path.name: path.read_text() for path in files if path.exists()}


@pytest.mark.parametrize("answers", TREE_ANSWERS, ids=combination_id)
def test_nothing_of_a_feature_left_out_remains(project, answers):
    baked = {
        "auth": answers["auth"] == "yes",
        "examples": answers["examples"] == "yes",
        "kept uploads": answers["auth"] == answers["examples"] == "yes",
        "api": answers["api"] == "yes",
        "api tokens": answers["auth"] == answers["api"] == "yes",
    }
    for name, text in feature_texts(project).items():
        for feature, words in FEATURE_WORDS.items():
            if not baked[feature]:
                found = [word for word in words if word in text]
                assert not found, f"{name} names {found} of {feature}, which was not baked"


def readme_tree(readme: str) -> list[str]:
    """The paths the README's "Where things are" block lists, directories ending in "/".

    Each line is an entry: two spaces of indent per level, the name, then what it is for.
    """
    block = readme.split("## Where things are", 1)[1].split("```\n", 2)[1]
    paths, parents = [], []
    for line in block.splitlines():
        depth, remainder = divmod(len(line) - len(line.lstrip(" ")), 2)
        assert remainder == 0 and depth <= len(parents), f"misindented tree line: {line!r}"
        name = line.split()[0]
        parents[depth:] = [name]
        paths.append("".join(parents))
    return paths


@pytest.mark.parametrize("answers", TREE_ANSWERS, ids=combination_id)
def test_readme_tree_is_the_package(project):
    listed = readme_tree((project / "README.md").read_text())
    for path in listed:
        assert (project / path).exists(), f"the README lists {path}, which is not there"
    package = project / "src" / PACKAGE
    modules = {path.relative_to(project).as_posix() for path in package_modules(package).values()}
    folders = {
        path.relative_to(project).as_posix() + "/"
        for path in [*package.iterdir(), *(path.parent for path in package.rglob("*.py"))]
        if path.is_dir() and path != package and not path.name.startswith((".", "__"))
    }
    unlisted = {
        path
        for path in modules | folders
        if path not in listed and not path.startswith(f"src/{PACKAGE}/migrations/")
    }
    assert not unlisted, f"the README's tree leaves out {sorted(unlisted)}"


@pytest.mark.parametrize("layout", CHOICES["layout"])
def test_root_readme_names_every_module(tmp_path, layout):
    """The template's own README describes the package a full bake gets, module by module."""
    project = bake(tmp_path, layout=layout, auth="yes", examples="yes", api="yes")
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## What the generated project contains", 1)[1].split("```", 2)[1]
    described = set(re.findall(r"[a-z_]+", block))
    names = {path.stem for path in package_modules(project / "src" / PACKAGE).values()}
    names -= {"__init__", "env"} | {path.stem for path in project.glob("src/*/migrations/**/*.py")}
    assert not names - described, f"the root README leaves out {sorted(names - described)}"
