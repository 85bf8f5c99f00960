"""Bad answers stop the bake with one clear line and leave nothing on disk."""

from __future__ import annotations

import importlib.util

import pytest
from conftest import ROOT

from tools.baking import run_cookiecutter


def load_hook(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pre_gen = load_hook("pre_gen_project")


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        (["project_slug=My App"], "project_slug 'My App' must be lowercase"),
        (["package_name=my-app"], "is not a valid Python identifier"),
        (["package_name=1app"], "is not a valid Python identifier"),
        (["package_name=class"], "package_name 'class' is a Python keyword"),
        (["package_name=flask"], "package_name 'flask' would shadow the module"),
        (["package_name=redis"], "would shadow the module"),
        (["package_name=test"], "would shadow the module"),
        (["package_name=json"], "would shadow the module"),
        (["email=not-an-email"], "email 'not-an-email' is not an email address"),
        (['email=a"b@example.com'], "is not an email address"),
        (['project_name=Say "hi"'], "must be one line of text without double quotes"),
        (["project_name=back\\slash"], "without double quotes or backslashes"),
    ],
)
def test_bad_answers_stop_the_bake_and_leave_no_directory(tmp_path, answers, message):
    result = run_cookiecutter("-o", tmp_path, ROOT, *answers, check=False)
    assert result.returncode != 0
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["my_app", "shop2", "acme_billing"])
def test_good_package_names_pass(name):
    assert pre_gen.check_package_name(name) is None


def test_project_name_becomes_a_clean_slug_and_package(tmp_path):
    result = run_cookiecutter("-o", tmp_path, ROOT, "project_name=Zoë's Café 2.0!", check=True)
    assert "Created zoe-s-cafe-2-0/" in result.stdout
    assert (tmp_path / "zoe-s-cafe-2-0" / "src" / "zoe_s_cafe_2_0" / "__init__.py").exists()


def test_all_problems_are_reported_together():
    problems = pre_gen.validate('A "name"', "Bad Slug", "import", "nope")
    assert len(problems) == 4


def test_post_gen_removes_options_that_are_off(tmp_path):
    post_gen = load_hook("post_gen_project")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    post_gen.remove(tmp_path, "Dockerfile", ".github")
    assert list(tmp_path.iterdir()) == []


def test_post_gen_fails_loudly_on_a_path_the_template_lacks(tmp_path):
    """The hook's lists cannot drift from the template: a stale entry stops the bake."""
    post_gen = load_hook("post_gen_project")
    with pytest.raises(FileNotFoundError, match=r"tests/test_gone\.py is not in the template"):
        post_gen.remove(tmp_path, "tests/test_gone.py")


def test_every_path_the_post_gen_hook_names_is_in_the_template():
    post_gen = load_hook("post_gen_project")
    template = ROOT / "{{cookiecutter.project_slug}}"
    package = "{{cookiecutter.package_name}}"
    named = [path for paths in post_gen.FEATURE_FILES.values() for path in paths]
    named += post_gen.KEPT_UPLOADS_FILES + post_gen.API_ACCOUNT_FILES + post_gen.LOCAL_MAIL_FILES
    named += [path for path in post_gen.DOCKER_FILES + post_gen.CI_FILES]
    for path in named:
        assert (template / path.format(package=package)).exists(), path
    for moves in post_gen.LARGE_LAYOUT_MOVES.values():
        for old in moves:
            assert (template / "src" / package / old).exists(), old


def test_secret_is_env_file_safe():
    post_gen = load_hook("post_gen_project")
    secret = post_gen.make_secret_key()
    assert len(secret) >= 48
    assert all(char.isalnum() or char in "-_" for char in secret)


def test_bake_prints_next_steps(tmp_path):
    result = run_cookiecutter("-o", tmp_path, ROOT, check=True)
    assert "make install" in result.stdout
    assert "make run" in result.stdout
