"""Re-lock the generated project: bake every dependency variant, `uv lock` it, store the lock.

Run `make lock` after changing dependencies in the template's pyproject.toml. Each bake starts
from its stored lock, so only what the change needs moves; `--upgrade` (`make lock
UPGRADE=1`) moves every pin to the newest version allowed. uv needs a Python of each
python_version choice: it uses one it finds on PATH or downloads one.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.baking import ROOT, combinations, run_cookiecutter

LOCKS = ROOT / "{{cookiecutter.project_slug}}" / "locks"
# What the stored lock calls the project; the bake fills in the slug.
NAME_TEMPLATE = 'name = "{{ cookiecutter.project_slug }}"'


def load_post_gen_hook():
    """The post-gen hook as a module: it owns which answers a lock depends on and its name."""
    spec = importlib.util.spec_from_file_location("post_gen", ROOT / "hooks/post_gen_project.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def find_uv() -> str:
    """uv installed next to this Python (the template's venv), else the one on PATH."""
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if found is None:
        sys.exit("uv is not installed: pip install uv (the template's venv has it)")
    return found


def lock_variant(uv: str, answers: dict[str, str], workdir: Path, upgrade: bool) -> str:
    """Bake these answers, lock the project and return the lock with the name as a template."""
    baked = run_cookiecutter("-o", workdir, ROOT, *(f"{k}={v}" for k, v in answers.items()))
    if baked.returncode != 0:
        sys.exit(f"baking {answers} failed:\n{baked.stdout}{baked.stderr}")
    (project,) = workdir.iterdir()
    command = [uv, "lock", "--quiet", *(["--upgrade"] if upgrade else [])]
    subprocess.run(command, cwd=project, check=True, env=os.environ | {"UV_NO_PROGRESS": "1"})
    text = (project / "uv.lock").read_text()
    own_name = f'\nname = "{project.name}"\n'
    if text.count(own_name) != 1:
        sys.exit(f"expected one entry named {project.name} in the lock of {answers}")
    if any(marker in text for marker in ("{{", "{%", "{#")):
        sys.exit(f"the lock of {answers} holds Jinja syntax: it would not bake")
    # The dev and test extras name the project's own tracing extra: those name it too.
    own_extra = f'{{ name = "{project.name}", extras = '
    template_extra = f"{{ {NAME_TEMPLATE}, extras = "
    return text.replace(own_name, f"\n{NAME_TEMPLATE}\n").replace(own_extra, template_extra)


def main() -> None:
    """Write one lock per variant into the template and delete locks of dropped variants."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upgrade", action="store_true", help="newest allowed version of all")
    upgrade = parser.parse_args().upgrade
    hook = load_post_gen_hook()
    uv = find_uv()
    LOCKS.mkdir(exist_ok=True)
    written = set()
    with tempfile.TemporaryDirectory() as workdir:
        for number, answers in enumerate(combinations(hook.LOCK_ANSWERS)):
            name = hook.lock_name(answers)
            print(f"locking {name}", flush=True)
            text = lock_variant(uv, answers, Path(workdir) / str(number), upgrade)
            (LOCKS / name).write_text(text)
            written.add(name)
    for stale in {path.name for path in LOCKS.iterdir()} - written:
        print(f"removing {stale}")
        (LOCKS / stale).unlink()


if __name__ == "__main__":
    main()
