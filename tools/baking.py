"""Baking the template with the real cookiecutter, and the option combinations to bake."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parent.parent
CHOICES: dict[str, list[str]] = {
    name: value
    for name, value in json.loads((ROOT / "cookiecutter.json").read_text()).items()
    if isinstance(value, list) and not name.startswith("_")
}


def combinations(names: list[str] | tuple[str, ...]) -> list[dict[str, str]]:
    """Every combination of the named choice answers, the defaults' first."""
    return [
        dict(zip(names, values, strict=True))
        for values in itertools.product(*(CHOICES[name] for name in names))
    ]


def all_combinations() -> list[dict[str, str]]:
    """Every combination of the choice variables."""
    return combinations(list(CHOICES))


# The answers that shape the Python sources and the package tree; docker, ci and the license
# only add or change files around them.
TREE_ANSWERS = ("layout", "auth", "examples", "api")


def tree_combinations() -> list[dict[str, str]]:
    """Every combination of the tree answers, the defaults' first."""
    return combinations(TREE_ANSWERS)


def combination_id(answers: dict[str, str]) -> str:
    """A readable test id such as python_version=3.11-layout=small-auth=no-..."""
    return "-".join(f"{name}={value}" for name, value in answers.items()).replace(" ", "_")


def bake(output_dir: Path, **answers: str) -> Path:
    """Bake the template with the real cookiecutter and return the project directory.

    cookiecutter runs each hook from a temporary copy that it never deletes: the copies go
    to a folder of this bake's own, removed with them (the test suite bakes hundreds of times).
    """
    with tempfile.TemporaryDirectory(prefix="bake-hooks-") as hooks:
        saved, tempfile.tempdir = tempfile.tempdir, hooks
        try:
            made = cookiecutter(
                str(ROOT), no_input=True, output_dir=str(output_dir), extra_context=answers
            )
        finally:
            tempfile.tempdir = saved
    return Path(made)


def run_cookiecutter(*arguments: str | Path, **options: Any) -> subprocess.CompletedProcess[str]:
    """The ``cookiecutter --no-input`` command, its output captured as text.

    Its hook copies go to a scratch folder removed after it, as in ``bake`` (the command
    reads the folder from TMPDIR).
    """
    command = [sys.executable, "-m", "cookiecutter", "--no-input", *map(str, arguments)]
    with tempfile.TemporaryDirectory(prefix="bake-hooks-") as hooks:
        env = os.environ | {"TMPDIR": hooks}
        return subprocess.run(command, env=env, capture_output=True, text=True, **options)


# What a baked default project needs to start in production on this machine: a real key,
# the hosts tests call it by, and a mail server (accounts refuse to start without one).
PRODUCTION_ENV = {
    "FLASK_CONFIG": "production",
    "FLASK_DEBUG": "0",
    "SECRET_KEY": "Tq7pW2mZk9Rv4Xb8Nc3Hj6Ld1Fs5Gy0Ae_Uo-Pi",
    "TRUSTED_HOSTS": "127.0.0.1,localhost",
    "MAIL_SERVER": "127.0.0.1",
}
