"""A real browser walks the account pages of the baked default project under gunicorn."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, bake, free_port, serve, stop_group, wait_for_port

ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR", ROOT / "build" / "artifacts"))
# Headless Chromium as root, with nothing that phones home (the machine has no network).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but chromium is not installed")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture
def server(tmp_path, redis_url):
    """The baked default project under gunicorn, production config, on a free port."""
    project = bake(tmp_path)
    port = free_port()
    env = {
        "SECRET_KEY": "browser-test-secret-key-0123456789abcdef",
        "REDIS_URL": redis_url,
        "TRUSTED_HOSTS": "127.0.0.1,localhost",
    }
    process = serve(project, port, env)
    wait_for_port(port)
    yield f"http://127.0.0.1:{port}"
    stop_group(process)


def test_account_story_in_a_real_browser(server, chromium_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        # CSP violations, failed loads and script errors all land in the console.
        errors: list[str] = []
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(server + "/")
        expect(page).to_have_title("Home · Flask Starter App")

        page.get_by_role("link", name="Register").click()
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Email").fill("alice@example.com")
        page.get_by_label("Password", exact=True).fill("correct horse battery")
        page.get_by_label("Repeat password").fill("correct horse battery")
        page.get_by_role("button", name="Register").click()
        welcome = "Welcome, alice! Your account is ready."
        expect(page.locator(".flash-success")).to_have_text(welcome)

        page.get_by_role("button", name="Log out").click()
        expect(page.locator(".flash-info")).to_have_text("You have been logged out.")

        page.get_by_role("link", name="Log in").click()
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill("not my password")
        page.get_by_role("button", name="Log in").click()
        expect(page.locator(".flash-error")).to_have_text("Invalid username or password.")

        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill("correct horse battery")
        page.get_by_role("button", name="Log in").click()
        expect(page.locator(".flash-success")).to_have_text("Welcome back, alice!")

        page.get_by_role("link", name="alice").click()
        expect(page.get_by_role("heading", name="Your account")).to_be_visible()
        expect(page.locator("dd").nth(1)).to_have_text("alice@example.com")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "account-page.png"), full_page=True)

        # The stylesheet loads under the Content-Security-Policy on every kind of page.
        for path in ("/about", "/upload", "/preferences", "/items/42"):
            page.goto(server + path)
            assert page.evaluate("document.styleSheets[0].cssRules.length") > 0, path
        assert errors == [], errors

        page.goto(server + "/no-such-page")
        expect(page.get_by_role("heading", name="404 · Not Found")).to_be_visible()
        assert page.evaluate("document.styleSheets[0].cssRules.length") > 0
        browser.close()
