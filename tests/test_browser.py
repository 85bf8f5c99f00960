"""A real browser walks the account pages of the baked default project under gunicorn."""

from __future__ import annotations

import email
import email.policy
import os
import re
import shutil
import time
from pathlib import Path

import pyotp
import pytest
from aiosmtpd.controller import Controller
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


class Inbox:
    """An SMTP sink (aiosmtpd): keeps what the app sends, for the test to open."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        # How many mails to each address the test has read.
        self.read: dict[str, int] = {}

    async def handle_DATA(self, server, session, envelope) -> str:
        raw = envelope.original_content or envelope.content
        self.messages.append(email.message_from_bytes(raw, policy=email.policy.default))
        return "250 Message accepted"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        """Every mail to ``address`` so far, oldest first."""
        return [message for message in self.messages if message["To"] == address]

    def link(self, address: str) -> str:
        """The link in the newest mail to ``address``, waiting for one newer than the last
        read: the app queues its mail for a job worker, which may send it after the page
        that says it was sent."""
        deadline = time.monotonic() + 15
        while len(mails := self.to(address)) <= self.read.get(address, 0):
            assert time.monotonic() < deadline, f"no new mail to {address}"
            time.sleep(0.1)
        self.read[address] = len(mails)
        mail = mails[-1]
        return re.search(r"https?://\S+", mail.get_body(("plain",)).get_content()).group(0)


@pytest.fixture
def inbox():
    controller = Controller(Inbox(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def server(tmp_path, redis_url, inbox):
    """The baked default project under gunicorn, production config, on a free port."""
    project = bake(tmp_path)
    port = free_port()
    env = {
        "SECRET_KEY": "eURH8bo9JbSl-Rb-xOkalIfl1YCX9dmlZBsgjMbHPIE",
        "REDIS_URL": redis_url,
        "TRUSTED_HOSTS": "127.0.0.1,localhost",
        "APP_BASE_URL": f"http://127.0.0.1:{port}",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(inbox.port),
        "MAIL_USE_TLS": "false",
    }
    process = serve(project, port, env)
    wait_for_port(port)
    yield f"http://127.0.0.1:{port}"
    stop_group(process)


def log_in(page, username: str, password: str) -> None:
    """Fill and send the login form the page shows."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def sign_in_with_code(page, username: str, password: str, code: str) -> None:
    """Log out if logged in, then log in with the password and, on the next page, ``code``."""
    from playwright.sync_api import expect

    log_out = page.get_by_role("button", name="Log out")
    if log_out.count():
        log_out.click()
        expect(page.get_by_role("link", name="Log in")).to_be_visible()
    page.get_by_role("link", name="Log in").click()
    log_in(page, username, password)
    expect(page.get_by_role("heading", name="Two-factor sign-in")).to_be_visible()
    page.get_by_label("Code", exact=True).fill(code)
    page.get_by_role("button", name="Verify").click()


def test_account_story_in_a_real_browser(server, inbox, chromium_path):
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

        # Register, open the mail, follow its link, confirm with the password.
        page.get_by_role("link", name="Register").click()
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Email").fill("alice@example.com")
        page.get_by_label("Password", exact=True).fill("correct horse battery")
        page.get_by_label("Repeat password").fill("correct horse battery")
        page.get_by_role("button", name="Register").click()
        expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
        page.goto(inbox.handler.link("alice@example.com"))
        page.get_by_label("Password").fill("correct horse battery")
        page.get_by_role("button", name="Confirm my address").click()
        confirmed = "Your email address is confirmed. You can log in now."
        expect(page.locator(".flash-success")).to_have_text(confirmed)

        log_in(page, "alice", "not my password")
        expect(page.locator(".flash-error")).to_have_text("Invalid username, email or password.")

        log_in(page, "alice", "correct horse battery")
        expect(page.locator(".flash-success")).to_have_text("Welcome, alice!")

        page.get_by_role("link", name="alice").click()
        expect(page.get_by_role("heading", name="Your account")).to_be_visible()
        expect(page.locator("dd").nth(1)).to_have_text("alice@example.com")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "account-page.png"), full_page=True)

        # Forgot password, in a second browser: the mail's link sets a new password, and
        # the first browser's session is signed out.
        other = browser.new_context().new_page()
        other.goto(server + "/auth/login")
        other.get_by_role("link", name="Forgot password?").click()
        other.get_by_label("Email").fill("alice@example.com")
        other.get_by_role("button", name="Mail me a link").click()
        expect(other.get_by_role("heading", name="Check your inbox")).to_be_visible()
        other.goto(inbox.handler.link("alice@example.com"))
        other.get_by_label("New password").fill("a new and longer secret")
        other.get_by_label("Repeat password").fill("a new and longer secret")
        other.get_by_role("button", name="Set the password").click()
        expect(other.locator(".flash-success")).to_contain_text("Your password is changed")
        log_in(other, "alice@example.com", "a new and longer secret")  # by address this time
        expect(other.locator(".flash-success")).to_have_text("Welcome, alice!")
        page.reload()
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()

        # Log in again in the first browser; the second signs it out from its sessions page.
        log_in(page, "alice", "a new and longer secret")
        expect(page.locator(".flash-success")).to_have_text("Welcome, alice!")
        other.goto(server + "/auth/account")
        other.get_by_role("link", name="Your sessions").click()
        expect(other.locator("table.sessions tbody tr")).to_have_count(2)
        other.screenshot(path=str(ARTIFACTS / "sessions-page.png"), full_page=True)
        other.get_by_role("button", name="Sign out all other sessions").click()
        expect(other.locator(".flash-success")).to_have_text("Signed out 1 other session.")
        expect(other.locator("table.sessions tbody tr")).to_have_count(1)
        page.goto(server + "/auth/account")
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()

        # A new address: the link mailed to it, opened in the signed-out first browser, makes
        # the change, and the account logs in by the new address.
        other.goto(server + "/auth/account")
        other.get_by_role("link", name="Change your email address").click()
        other.get_by_label("New email address").fill("alice@new.example.org")
        other.get_by_role("button", name="Mail me a link").click()
        expect(other.get_by_role("heading", name="Check your inbox")).to_be_visible()
        page.goto(inbox.handler.link("alice@new.example.org"))
        page.get_by_role("button", name="Use this address").click()
        changed = "Your email address is now alice@new.example.org."
        expect(page.locator(".flash-success")).to_have_text(changed)
        log_in(page, "alice@new.example.org", "a new and longer secret")
        expect(page.locator(".flash-success")).to_have_text("Welcome, alice!")
        page.goto(server + "/auth/account")
        expect(page.locator("dd").nth(1)).to_have_text("alice@new.example.org")

        # Two-factor sign-in: turned on with a code from the app (the QR code is inline SVG,
        # under the CSP); then signing in takes a code, or a recovery code, each once.
        page.get_by_role("link", name="Two-factor sign-in").click()
        expect(page.locator("svg.qr-code")).to_be_visible()
        app = pyotp.TOTP(page.locator(".two-factor-key").inner_text())
        page.get_by_label("Code", exact=True).fill(app.now())
        page.get_by_role("button", name="Turn on").click()
        expect(page.locator(".flash-success")).to_have_text("Two-factor sign-in is on.")
        recovery_codes = page.locator(".recovery-codes code").all_inner_texts()
        assert len(recovery_codes) == 10
        page.screenshot(path=str(ARTIFACTS / "recovery-codes-page.png"), full_page=True)

        # The code that turned it on is spent: the next time step's (one step of drift) is not.
        sign_in_with_code(page, "alice", "a new and longer secret", app.at(time.time() + 30))
        expect(page.locator(".flash-success")).to_have_text("Welcome, alice!")
        sign_in_with_code(page, "alice", "a new and longer secret", recovery_codes[0])
        expect(page.locator(".flash-success")).to_have_text("Welcome, alice!")
        expect(page.locator(".flash-warning")).to_have_text("You used a recovery code; 9 left.")
        # The stylesheet loads under the Content-Security-Policy on every kind of page.
        for path in ("/about", "/upload", "/preferences", "/items/42", "/auth/sessions"):
            other.goto(server + path)
            assert other.evaluate("document.styleSheets[0].cssRules.length") > 0, path
        assert errors == [], errors

        # A recovery code used once is refused (after the check above: the console reports
        # the refusal's 400 as a failed load).
        sign_in_with_code(page, "alice", "a new and longer secret", recovery_codes[0])
        expect(page.locator(".field-error")).to_have_text(
            "That code is not valid, or was used already."
        )
        expect(page.get_by_role("link", name="Log in")).to_be_visible()

        page.goto(server + "/no-such-page")
        expect(page.get_by_role("heading", name="404 · Not Found")).to_be_visible()
        assert page.evaluate("document.styleSheets[0].cssRules.length") > 0
        browser.close()
