"""Shape the baked project: keep the chosen layout and options, write .env, say what's next."""

from __future__ import annotations

import secrets
import shutil
import sys
from pathlib import Path

# Files of each optional feature, relative to the project ({package} is the package name).
FEATURE_FILES = {
    "auth": [
        "src/{package}/auth",
        "src/{package}/templates/auth",
        "src/{package}/templates/email",
        "src/{package}/core/database.py",
        # Background jobs send the account mail, the only work that leaves the request.
        "src/{package}/jobs",
        "tests/test_jobs.py",
        "src/{package}/migrations",
        "tests/test_auth.py",
        "tests/test_accounts.py",
        "tests/test_mail_budget.py",
        "tests/test_mail_links.py",
        "tests/test_passwords.py",
        "tests/test_sudo.py",
        "tests/test_two_factor.py",
        "tests/test_change_email.py",
        "tests/test_migrations.py",
        "tests/test_database.py",
        "tests/postgres_server.py",
    ],
    "api": [
        "src/{package}/api",
        "src/{package}/templates/api",
        "tests/test_api.py",
        "tests/test_api_errors.py",
        "tests/test_api_schema.py",
    ],
    "tour": [
        "src/{package}/tour",
        "src/{package}/templates/tour",
        "tests/test_tour.py",
        "tests/test_uploads.py",
    ],
}
# The tour keeps uploaded files only for accounts: without auth it checks a file and drops it.
KEPT_UPLOADS_FILES = ["src/{package}/tour/uploads.py"]
# The API's tokens and per-user resources live in the accounts' database: without auth the
# API has its public endpoints only, and without the API the accounts have no tokens.
API_ACCOUNT_FILES = [
    "src/{package}/api/models.py",
    "src/{package}/api/tokens.py",
    "src/{package}/api/bearer.py",
    "src/{package}/api/schemas.py",
    "src/{package}/api/resources.py",
    "src/{package}/api/forms.py",
    "src/{package}/api/token_routes.py",
    "src/{package}/api/cli.py",
    "src/{package}/templates/api/tokens.html",
    "src/{package}/migrations/versions/0005_api.py",
    "tests/test_api_tokens.py",
]

# Every feature is baked as a package (src/{package}/<feature>/) with its templates in the
# app's templates/<feature>/. The small layout keeps that, except that a package holding
# one module (routes.py beside its __init__.py) becomes that module, <feature>.py. The large
# layout moves each feature's templates into its package (relative to src/{package}); the
# Blueprint() lines name the template folder for that layout.
LARGE_LAYOUT_MOVES = {
    "main": {"templates/main": "main/templates/main"},
    "auth": {"templates/auth": "auth/templates/auth", "templates/email": "auth/templates/email"},
    "tour": {"templates/tour": "tour/templates/tour"},
    "api": {"templates/api": "api/templates/api"},
}
ONE_MODULE_PACKAGE = {"__init__.py", "routes.py"}

DOCKER_FILES = ["Dockerfile", "compose.yaml", ".dockerignore"]
# compose.local.yaml sends the app's mail to a local catcher: only a bake with compose and
# accounts (the one feature that mails) has it.
LOCAL_MAIL_FILES = ["compose.local.yaml"]
CI_FILES = [".github"]

SECRET_PLACEHOLDER = "change-me"

# The answers the resolved dependencies depend on: one stored lock per combination of them
# (tools/lock.py writes them; requires-python decides the pins, so it cannot be filled in).
LOCK_ANSWERS = ["python_version", "auth", "api"]
LOCK_ENTRY = "\n[[package]]\n"
SLUG_PLACEHOLDER = "{{ '{{' }} cookiecutter.project_slug {{ '}}' }}"


def remove(project: Path, *relative_paths: str) -> None:
    """Delete files or directories under the project; a missing one is a bug in these lists."""
    for relative in relative_paths:
        path = project / relative
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            raise FileNotFoundError(f"post-gen hook: {relative} is not in the template")


def move(src: Path, old: str, new: str) -> None:
    """Move one file or directory inside the package; a missing one is a bug in the table."""
    if not (src / old).exists():
        raise FileNotFoundError(f"post-gen hook: {old} is not in the template")
    (src / new).parent.mkdir(parents=True, exist_ok=True)
    shutil.move(src / old, src / new)


def files_in(folder: Path) -> set[str]:
    """The names in a package's folder, Python's caches aside."""
    return {path.name for path in folder.iterdir() if path.name != "__pycache__"}


def apply_layout(project: Path, package: str, layout: str, features: list[str]) -> None:
    """Move each feature's templates into its package (large), or make one-module packages
    plain modules (small)."""
    src = project / "src" / package
    for feature in features:
        if layout == "large":
            for old, new in LARGE_LAYOUT_MOVES[feature].items():
                move(src, old, new)
        elif files_in(src / feature) == ONE_MODULE_PACKAGE:
            move(src, f"{feature}/routes.py", f"{feature}.py")
            shutil.rmtree(src / feature)


def choose_license(project: Path, license_name: str) -> None:
    """Keep the chosen license text as LICENSE, or none for closed source."""
    licenses = project / "licenses"
    chosen = licenses / f"{license_name}.txt"
    if chosen.exists():
        shutil.move(chosen, project / "LICENSE")
    shutil.rmtree(licenses)


def lock_name(answers: dict[str, str]) -> str:
    """The file under locks/ that holds the lock for these answers."""
    return "-".join(f"{name}_{answers[name]}" for name in LOCK_ANSWERS) + ".uv.lock"


def keep_lock(project: Path, answers: dict[str, str]) -> None:
    """Keep the lock resolved for these answers as uv.lock and drop the other variants."""
    locks = project / "locks"
    chosen = locks / lock_name(answers)
    if chosen.exists():
        # Copied unrendered (1.9 MB of Jinja-free text): only the project's name is filled in.
        text = chosen.read_text().replace(SLUG_PLACEHOLDER, answers["project_slug"])
        header, *entries = text.split(LOCK_ENTRY)
        # The project's own entry is named after the slug: sort it into place as uv would.
        entries.sort(key=lambda entry: entry.split('"', 2)[1])
        (project / "uv.lock").write_text(LOCK_ENTRY.join([header, *entries]))
    else:
        print(f"warning: no {chosen.name} in the template: run `make lock` there", file=sys.stderr)
    remove(project, "locks")


def make_secret_key() -> str:
    """A random key that is safe to paste into an env file (URL-safe alphabet, no quotes)."""
    return secrets.token_urlsafe(48)


def write_env(project: Path) -> None:
    """Copy .env.example to .env with a fresh SECRET_KEY (and PostgreSQL password, if any)."""
    example = (project / ".env.example").read_text()
    env = example.replace(f"SECRET_KEY={SECRET_PLACEHOLDER}", f"SECRET_KEY={make_secret_key()}")
    env = env.replace(
        f"POSTGRES_PASSWORD={SECRET_PLACEHOLDER}", f"POSTGRES_PASSWORD={make_secret_key()}"
    )
    target = project / ".env"
    target.write_text(env)
    target.chmod(0o600)


def shape(project: Path, answers: dict[str, str]) -> None:
    """Apply every answer to the freshly rendered project."""
    package = answers["package_name"]
    keep_lock(project, answers)
    chosen = {
        "auth": answers["auth"] == "yes",
        "tour": answers["examples"] == "yes",
        "api": answers["api"] == "yes",
    }
    if not (chosen["api"] and chosen["auth"]):
        remove(project, *(path.format(package=package) for path in API_ACCOUNT_FILES))
    for feature, kept in chosen.items():
        if not kept:
            remove(project, *(path.format(package=package) for path in FEATURE_FILES[feature]))
    if chosen["tour"] and not chosen["auth"]:
        remove(project, *(path.format(package=package) for path in KEPT_UPLOADS_FILES))
    features = ["main", *(feature for feature, kept in chosen.items() if kept)]
    apply_layout(project, package, answers["layout"], features)
    if answers["docker"] == "no" or not chosen["auth"]:
        remove(project, *LOCAL_MAIL_FILES)
    if answers["docker"] == "no":
        remove(project, *DOCKER_FILES)
    if answers["ci"] == "none":
        remove(project, *CI_FILES)
    choose_license(project, answers["open_source_license"])
    write_env(project)


def next_steps(project: Path) -> str:
    """What to type after baking."""
    return (
        f"\nCreated {project.name}/. Next:\n"
        f"  cd {project.name}\n"
        "  make install   # virtualenv + dependencies\n"
        "  make run       # development server on http://127.0.0.1:5000\n"
        "  make test      # the project's own tests\n"
        "  git init && git add -A && make hooks   # version control and the pre-commit hooks\n"
    )


if __name__ == "__main__":
    here = Path.cwd()
    shape(
        here,
        {
            "package_name": "{{ cookiecutter.package_name }}",
            "project_slug": "{{ cookiecutter.project_slug }}",
            "python_version": "{{ cookiecutter.python_version }}",
            "layout": "{{ cookiecutter.layout }}",
            "auth": "{{ cookiecutter.auth }}",
            "examples": "{{ cookiecutter.examples }}",
            "api": "{{ cookiecutter.api }}",
            "docker": "{{ cookiecutter.docker }}",
            "ci": "{{ cookiecutter.ci }}",
            "open_source_license": "{{ cookiecutter.open_source_license }}",
        },
    )
    print(next_steps(here))
