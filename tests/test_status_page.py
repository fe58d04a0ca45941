"""The status page in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright) against a real
`glm-mcp serve`, watching a server die and come back, a call appear live, a call made through the form, a model
request, and a reload. Screenshots are kept in `test-artifacts/` at the repository root."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import mcp.types as T
import openai
import pytest

from tests.engines import redis_server
from tests.fakes.fake_glm import FakeGlm, Reply
from tests.helpers import ROOT, glm_mcp_serve, serve_asgi

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SDK_SERVER = str(ROOT / "tests" / "fixture_servers" / "sdk_server.py")
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _servers(*names: str) -> dict[str, object]:
    return {name: {"command": sys.executable, "args": [SDK_SERVER]} for name in names}


@pytest.fixture
async def browser_page() -> AsyncIterator[object]:
    if CHROMIUM is None:
        message = "Chromium is needed for the status page tests: apt-get install chromium (.ci/run does)"
        if os.environ.get("GLM_MCP_REQUIRE_BROWSER"):
            pytest.fail(message)  # CI installs it: there, a missing browser is a failure, never a skip
        pytest.skip(message)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield await browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            await browser.close()


async def test_the_status_page_shows_the_gateway_live_and_drives_it(tmp_path: Path, browser_page: object) -> None:
    from playwright.async_api import Page, expect

    page = browser_page
    assert isinstance(page, Page)
    ARTIFACTS.mkdir(exist_ok=True)
    fake = FakeGlm(lambda body: Reply(content="Hello from GLM."), generation="2026")
    async with serve_asgi(fake.app) as glm_url:
        config = {"mcpServers": _servers("one", "two"), "model": {"base_url": glm_url, "api_key": "k"}}
        async with glm_mcp_serve(config, tmp_path) as gateway:
            assert gateway.token is not None
            await page.goto(gateway.url + "/")
            assert "token" not in page.url
            await page.get_by_test_id("token").fill(gateway.token)
            await page.get_by_test_id("sign-in").click()
            servers = page.get_by_test_id("servers")
            await expect(servers.locator('tr[data-server="one"] [data-testid="state"]')).to_have_text("ready")
            await expect(page.get_by_test_id("live")).to_have_text("live")
            await page.screenshot(path=str(ARTIFACTS / "status-1-loaded.png"), full_page=True)

            # A server killed from outside: the page shows it restarting, then ready again.
            async with gateway.mcp_client() as editor:
                reply = (await editor.call_tool("one__pid", {})).content[0]
                assert isinstance(reply, T.TextContent)
                pid = int(reply.text)
                os.kill(pid, signal.SIGKILL)
                state = servers.locator('tr[data-server="one"] [data-testid="state"]')
                await expect(state).to_have_text("restarting", timeout=10_000)
                await page.screenshot(path=str(ARTIFACTS / "status-2-restarting.png"), full_page=True)
                await expect(state).to_have_text("ready", timeout=15_000)

                # A call from an editor appears live.
                await editor.call_tool("two__echo", {"text": "seen live"})
                call_row = page.get_by_test_id("calls").locator('tr[data-tool="two__echo"]').first
                await expect(call_row).to_contain_text("mcp")
                await call_row.click()
                await expect(page.get_by_test_id("calls")).to_contain_text('"text": "seen live"')

            # A call through the form.
            await page.get_by_test_id("call-name").fill("one__echo")
            await page.get_by_test_id("call-arguments").fill(json.dumps({"text": "from the page"}))
            await page.get_by_test_id("call").click()
            await expect(page.get_by_test_id("call-result")).to_have_text("from the page")

            # A model request, from an OpenAI client of the gateway.
            client = openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key=gateway.token, max_retries=0)
            async with client:
                await client.chat.completions.create(model="glm-4.6", messages=[{"role": "user", "content": "hi"}])
            await expect(page.get_by_test_id("model-requests")).to_contain_text("glm-4.6")
            await expect(page.get_by_test_id("model-requests")).to_contain_text("openai")  # the face it came in on
            await page.screenshot(path=str(ARTIFACTS / "status-3-calls.png"), full_page=True)

            # A reload from the page: a server added to the config shows up.
            config["mcpServers"] = _servers("one", "two", "three")
            (tmp_path / "glm-mcp.json").write_text(json.dumps(config))
            await page.get_by_test_id("reload").click()
            await expect(page.get_by_test_id("notice")).to_contain_text("reloaded")
            await expect(servers.locator('tr[data-server="three"] [data-testid="state"]')).to_have_text("ready")
            await page.get_by_test_id("tool-search").fill("three__echo")
            await expect(page.get_by_test_id("tools")).to_contain_text("three__echo")
            await page.screenshot(path=str(ARTIFACTS / "status-4-reloaded.png"), full_page=True)


async def test_the_page_asks_before_a_destructive_call_and_runs_under_its_content_security_policy(
    tmp_path: Path, browser_page: object
) -> None:
    from playwright.async_api import Dialog, Page, expect

    page = browser_page
    assert isinstance(page, Page)
    ARTIFACTS.mkdir(exist_ok=True)
    store = tmp_path / "notes.json"
    notes = {"command": sys.executable, "args": ["-m", "servers.notes", "--store", str(store)]}
    violations: list[str] = []
    page.on("console", lambda message: _note_violation(message, violations))
    answers = ["dismiss", "accept"]
    asked: list[str] = []

    async def on_dialog(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await (dialog.dismiss() if answers.pop(0) == "dismiss" else dialog.accept())

    page.on("dialog", on_dialog)
    async with glm_mcp_serve({"mcpServers": {"notes": notes}}, tmp_path) as gateway:
        assert gateway.token is not None
        async with gateway.mcp_client() as editor:
            await editor.call_tool("notes__add_note", {"text": "keep me"})
        response = await page.goto(gateway.url + "/")
        assert response is not None and "script-src 'sha256-" in response.headers["content-security-policy"]
        await page.get_by_test_id("token").fill(gateway.token)
        await page.get_by_test_id("sign-in").click()
        await expect(page.get_by_test_id("live")).to_have_text("live")  # the script ran under the policy
        for _ in range(2):
            await page.get_by_test_id("call-name").fill("notes__delete_note")
            await page.get_by_test_id("call-arguments").fill('{"note_id": 1}')
            await page.get_by_test_id("call").click()
            if answers:
                await expect(page.get_by_test_id("call-result")).to_have_text("notes__delete_note was not called.")
                assert json.loads(store.read_text())[0]["text"] == "keep me"
        await expect(page.get_by_test_id("call-result")).to_have_text("deleted note 1")
        # The calls table says when a call started and how long it took, with units.
        await expect(page.get_by_test_id("calls").locator("tr").first).to_contain_text(" ms")
        # Tool search reads names, servers and descriptions, not the policy column ("refused" is in no name).
        await page.get_by_test_id("tool-search").fill("refused")
        await expect(page.get_by_test_id("tools").locator("tr")).to_have_count(0)
        await page.get_by_test_id("tool-search").fill("note")
        await expect(page.get_by_test_id("tools")).to_contain_text("notes__delete_note")
        # A phone-sized window: the page does not spill sideways; wide tables scroll inside themselves.
        await page.set_viewport_size({"width": 400, "height": 800})
        assert await page.evaluate("document.documentElement.scrollWidth") <= 400
        await page.screenshot(path=str(ARTIFACTS / "status-5-narrow.png"), full_page=True)
        icon = await page.evaluate("document.querySelector('link[rel=icon]').href")
    assert icon.startswith("data:image/svg+xml")
    assert len(asked) == 2 and "may change or delete data" in asked[0]
    assert violations == []


def _note_violation(message: object, violations: list[str]) -> None:
    text = str(getattr(message, "text", ""))
    if "Content Security Policy" in text:
        violations.append(text)


async def test_a_server_behind_oauth_is_logged_into_from_the_status_page(tmp_path: Path, browser_page: object) -> None:
    from playwright.async_api import Page, expect

    from tests.fixture_servers.oauth_world import oauth_world

    page = browser_page
    assert isinstance(page, Page)
    ARTIFACTS.mkdir(exist_ok=True)
    no_browser = {"BROWSER": "", "DISPLAY": "", "WAYLAND_DISPLAY": ""}  # the gateway opens none: the page does
    async with oauth_world() as world:
        config = {"mcpServers": {"remote": {"url": world.url}}}
        async with glm_mcp_serve(config, tmp_path, env=no_browser) as gateway:
            assert gateway.token is not None
            await page.goto(gateway.url + "/")
            await page.get_by_test_id("token").fill(gateway.token)
            await page.get_by_test_id("sign-in").click()
            state = page.get_by_test_id("servers").locator('tr[data-server="remote"] [data-testid="state"]')
            await expect(state).to_have_text("needs login")
            async with page.context.expect_page() as opened:
                await page.get_by_test_id("login-remote").click()
            login_tab = await opened.value
            # The authorization server approves at once and sends the browser back to the gateway's listener.
            await expect(login_tab.locator("h1")).to_have_text("Logged in", timeout=15_000)
            await expect(state).to_have_text("ready", timeout=15_000)
            await page.screenshot(path=str(ARTIFACTS / "status-5-logged-in.png"), full_page=True)
    assert len(world.accounts.authorizations) == 1


async def test_the_status_page_lists_every_replica_and_each_callers_budget(
    tmp_path: Path, browser_page: object
) -> None:
    from playwright.async_api import Page, expect

    page = browser_page
    assert isinstance(page, Page)
    token = "team-token-for-the-page"
    async with redis_server(tmp_path) as redis_url:
        gateway_section = {"auth_tokens": [token], "redis_url": redis_url, "limits": {"requests_per_minute": 50}}
        first, second = tmp_path / "first", tmp_path / "second"
        first.mkdir()
        second.mkdir()
        config = {"mcpServers": _servers("one"), "gateway": {**gateway_section, "replica_name": "first"}}
        other = {"mcpServers": _servers("one"), "gateway": {**gateway_section, "replica_name": "second"}}
        async with glm_mcp_serve(config, first) as gateway, glm_mcp_serve(other, second):
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
                ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
                await http.post(
                    f"{gateway.url}/mcp", json=ping, headers={"Accept": "application/json, text/event-stream"}
                )
            await page.goto(gateway.url + "/")
            await page.get_by_test_id("token").fill(token)
            await page.get_by_test_id("sign-in").click()
            replicas = page.get_by_test_id("replicas")
            await expect(replicas.locator('tr[data-replica="first"]')).to_contain_text("(this one)")
            await expect(replicas.locator('tr[data-replica="second"]')).to_contain_text("one: ready")
            usage = page.get_by_test_id("usage")
            await expect(usage.locator("tr").first).to_contain_text("1 / 50")  # the editor's request, counted
            await page.screenshot(path=str(ARTIFACTS / "status-5-replicas.png"), full_page=True)
