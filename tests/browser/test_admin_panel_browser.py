"""The admin panel in a real browser (Debian's Chromium through Playwright) against the real
gateway wired to the in-process Kiro simulator.

One scenario walks what a user does: log in (wrong, then right password), add accounts by
credential JSON and by Builder ID, disable and re-enable one, create an API key and use it
through the anthropic SDK, find that call in the request log, check the dashboard against the
database, switch language, privacy mode, log out. Every page is screenshotted at desktop and
phone width into tests/artifacts/screenshots/. Any console error fails the test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import anthropic
import orjson
import pytest
from gateway_harness import Gateway
from playwright.sync_api import ConsoleMessage, Page, expect, sync_playwright

PASSWORD = "browser-test-password"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 860}
MOBILE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)"
        )
    gw = Gateway(tmp_path_factory.mktemp("gateway"), PASSWORD).start()
    yield gw
    gw.stop()


class ConsoleWatch:
    """Collects console errors; a step may allow the browser's own log line for one expected
    HTTP status (Chromium logs every non-2xx fetch as an error)."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed_status: int | None = None

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        text = message.text
        if self.allowed_status and f"status of {self.allowed_status}" in text:
            return
        self.errors.append(text)

    def on_page_error(self, error: Exception) -> None:
        self.errors.append(f"page error: {error}")


def watch(page: Page) -> ConsoleWatch:
    w = ConsoleWatch()
    page.on("console", w.on_console)
    page.on("pageerror", w.on_page_error)
    return w


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(150)  # let charts and toasts settle
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def goto(page: Page, gateway: Gateway, hash_: str) -> None:
    page.goto(f"{gateway.url}/admin/#/{hash_}")
    expect(page.locator("#page h1")).to_be_visible()


def login(page: Page, gateway: Gateway, password: str = PASSWORD) -> None:
    page.goto(f"{gateway.url}/admin/")
    page.fill("#login-password", password)
    page.click("#login-submit")


def test_admin_panel_end_to_end(gateway: Gateway) -> None:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=DESKTOP, locale="en-US")
        page = context.new_page()
        console = watch(page)

        # --- wrong, then right password -----------------------------------------------------
        page.goto(f"{gateway.url}/admin/")
        expect(page.locator("#login-view")).to_be_visible()
        expect(page.locator("#login-view .version-label")).to_have_text(re.compile(r"^v\d"))
        shot(page, "login-desktop")
        console.allowed_status = 401
        login(page, gateway, "not-the-password")
        expect(page.locator("#login-error")).to_contain_text("wrong password")
        console.allowed_status = None
        login(page, gateway)
        expect(page.locator("#app-view")).to_be_visible()
        expect(page.locator("#version")).to_have_text(re.compile(r"^v\d"))
        cookies = {c["name"]: c for c in context.cookies()}
        session_cookie = cookies["kiro_admin_session"]
        assert session_cookie["httpOnly"] and session_cookie["sameSite"] == "Strict"
        assert page.evaluate("document.cookie") == ""  # not readable from scripts
        expect(page.locator("#stat-accounts .value")).to_have_text("0 / 0")

        # --- add an account by credential JSON ----------------------------------------------
        sim_account = gateway.in_loop(
            lambda: gateway.sim.state.add_account("json.user@example.com")  # type: ignore[union-attr]
        )
        goto(page, gateway, "add")
        page.click("#tab-credentials")
        bad = [{"refreshToken": sim_account.refresh_token}, {"nothing": "here"}]
        page.fill("#cred", orjson.dumps(bad).decode())
        page.click("#cred-submit")
        report = page.locator("#import-report")
        expect(report).to_contain_text("1 of 2 imported")
        expect(report.locator("li.ok")).to_contain_text("json.user@example.com")
        expect(report.locator("li.bad")).to_have_count(1)
        shot(page, "add-credentials-desktop")

        # --- add an account by Builder ID (the simulator approves the code) -----------------
        page.click("#tab-builder")
        page.click("#builder-start")
        code = page.locator("#builder-code")
        expect(code).to_have_text(re.compile(r"^[A-Z]{4}-[A-Z]{4}$"))
        expect(page.locator("#builder-link")).to_have_attribute("href", re.compile("^http"))
        shot(page, "add-builder-id-desktop")
        user_code = code.inner_text()
        approved = gateway.in_loop(lambda: gateway.sim.state.approve_device(user_code))  # type: ignore[union-attr]
        expect(page.locator("#builder-done")).to_contain_text(approved.email, timeout=20_000)

        # --- accounts: both listed; disable and re-enable -----------------------------------
        goto(page, gateway, "accounts")
        rows = page.locator("tr.account-row")
        expect(rows).to_have_count(2)
        row = rows.filter(has_text="json.user@example.com")
        expect(row.locator(".state-cell .badge")).to_have_text("healthy")
        row.locator(".toggle-enabled").click()
        expect(row.locator(".state-cell .badge")).to_have_text("disabled")
        expect(row.locator(".toggle-enabled")).to_have_text("Enable")
        shot(page, "accounts-disabled-desktop")
        row.locator(".toggle-enabled").click()
        expect(row.locator(".state-cell .badge")).to_have_text("healthy")
        shot(page, "accounts-desktop")

        # --- API key, then a real /v1/messages call with it ---------------------------------
        goto(page, gateway, "settings")
        page.fill("#key-name", "browser-test")
        page.click("#key-create")
        key = page.locator("#new-key-value").inner_text()
        assert key.startswith("sk-")
        expect(page.locator("tr.key-row")).to_have_count(1)
        shot(page, "settings-desktop")
        client = anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0)
        message = client.messages.create(
            model="claude-sonnet-4.5",
            max_tokens=64,
            messages=[{"role": "user", "content": "Hello from the browser test"}],
        )
        assert message.content and message.usage.output_tokens > 0
        requests_in_db, ok_in_db, tokens_in_db = gateway.wait_for_usage_rows(1)
        assert requests_in_db == 1 and ok_in_db == 1

        goto(page, gateway, "requests")
        log_row = page.locator("tr.request-row").first
        expect(log_row).to_contain_text("claude-sonnet-4.5")
        expect(log_row).to_contain_text("browser-test")
        expect(log_row).to_contain_text("success")
        page.select_option("#filter-key", label="browser-test")
        expect(page.locator("tr.request-row")).to_have_count(1)
        log_row.click()
        expect(page.locator("#request-details")).to_contain_text("/v1/messages")
        shot(page, "requests-details-desktop")
        page.keyboard.press("Escape")
        shot(page, "requests-desktop")

        # --- the dashboard matches the database ---------------------------------------------
        goto(page, gateway, "dashboard")
        expect(page.locator("#stat-accounts .value")).to_have_text("2 / 2")
        expect(page.locator("#stat-requests .value")).to_have_text(str(requests_in_db))
        expect(page.locator("#stat-requests .sub")).to_contain_text(f"success {ok_in_db}")
        expect(page.locator("#stat-tokens .sub")).to_have_text(f"{tokens_in_db:,}")
        expect(page.locator("#day-requests .value")).to_have_text(str(requests_in_db))
        expect(page.locator("#day-tokens .value")).to_have_text(f"{tokens_in_db:,}")
        expect(page.locator("#chart-box svg rect")).not_to_have_count(0)
        shot(page, "dashboard-desktop")

        # --- language: switch, remembered across reloads, switch back ------------------------
        page.click("#lang-toggle")
        expect(page.locator("#nav a[data-page=dashboard]")).to_have_text("仪表盘")
        page.reload()
        expect(page.locator("#nav a[data-page=accounts]")).to_have_text("账号")
        expect(page.locator("#page h1")).to_have_text("仪表盘")
        shot(page, "dashboard-zh-desktop")
        page.click("#lang-toggle")
        expect(page.locator("#nav a[data-page=dashboard]")).to_have_text("Dashboard")

        # --- privacy mode masks emails ----------------------------------------------------------
        goto(page, gateway, "accounts")
        emails = page.locator("tr.account-row .email-text")
        expect(emails.filter(has_text="json.user@example.com")).to_have_count(1)
        page.check("#privacy-toggle")
        expect(page.locator("tr.account-row")).to_have_count(2)
        texts = emails.all_inner_texts()
        assert all("•••" in t and "@example.com" not in t for t in texts), texts
        assert "json.user@example.com" not in page.locator("#page").inner_text()
        shot(page, "accounts-privacy-desktop")
        page.reload()
        expect(page.locator("#privacy-toggle")).to_be_checked()
        page.uncheck("#privacy-toggle")

        # --- every page at phone width -----------------------------------------------------------
        page.set_viewport_size(MOBILE)
        for name in ("dashboard", "accounts", "add", "requests", "settings"):
            goto(page, gateway, name)
            shot(page, f"{name}-mobile")
        goto(page, gateway, "add")
        page.click("#tab-credentials")
        shot(page, "add-credentials-mobile")
        page.set_viewport_size(DESKTOP)
        goto(page, gateway, "add")
        shot(page, "add-desktop")

        # --- logout ends the session -----------------------------------------------------------
        page.click("#logout")
        expect(page.locator("#login-view")).to_be_visible()
        expect(page.locator("#login-error")).to_have_text("Logged out.")
        page.set_viewport_size(MOBILE)
        shot(page, "login-mobile")
        # The old cookie is dead on the server too.
        context.add_cookies([session_cookie])  # type: ignore[list-item]
        console.allowed_status = 401  # the refused fetch below
        status = page.evaluate("fetch('/admin/api/accounts').then(r => r.status)")
        assert status == 401
        console.allowed_status = None
        page.reload()
        expect(page.locator("#login-view")).to_be_visible()

        assert console.errors == [], console.errors
        browser.close()
