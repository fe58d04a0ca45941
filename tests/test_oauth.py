"""Remote servers behind OAuth 2.1: a URL alone logs in (discovery, dynamic registration, PKCE, resource
indicators), logins are kept encrypted and refreshed, step-up asks for the union of scopes, and a server that needs
a person says so with the command to run. Against the MCP SDK's own authorization and resource servers over real
HTTP; the person is `tests/approving_browser.py`, run through `$BROWSER` as a real browser would be."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import sys
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import jwt
import mcp.types as T
import openai
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import MCPServer
from pydantic import SecretStr

from glm_mcp.config import GatewayConfig, HttpUpstreamConfig, ModelConfig, OAuthConfig, ServeConfig
from glm_mcp.gateway.core import Gateway
from glm_mcp.http.app import build_app
from glm_mcp.oauth.redirect import free_port
from glm_mcp.upstream.connection import ServerState
from tests.fakes.fake_glm import FakeGlm, Reply
from tests.fixture_servers.oauth_world import Accounts, World, client_metadata_document, oauth_world
from tests.fixture_servers.oidc_issuer import oidc_issuer
from tests.helpers import ROOT, ToolListHeard, glm_mcp_serve, run_cli, serve_asgi, text_of, write_config

BROWSER = f"{sys.executable} {ROOT / 'tests' / 'approving_browser.py'} %s"
NO_BROWSER = {"BROWSER": "", "DISPLAY": "", "WAYLAND_DISPLAY": ""}
"""A gateway's environment where it cannot open a browser: its logins reach people through their editors."""


class PersonAtTheEditor:
    """An editor's URL elicitation callback: its person opens the login and approves it in their browser."""

    def __init__(self) -> None:
        self.shown: list[str] = []

    async def __call__(self, context: Any, params: T.ElicitRequestParams) -> T.ElicitResult:
        assert isinstance(params, T.ElicitRequestURLParams)
        self.shown.append(params.url)
        async with httpx2.AsyncClient(follow_redirects=True) as browser:
            await browser.get(params.url)
        return T.ElicitResult(action="accept")


@pytest.fixture
def person(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A person at a browser who approves every login; returns the file listing the URLs they were shown."""
    shown = tmp_path / "shown.txt"
    monkeypatch.setenv("BROWSER", BROWSER)
    monkeypatch.setenv("APPROVING_BROWSER_LOG", str(shown))
    return shown


async def until_settled(gateway: Gateway, name: str = "remote") -> None:
    """Wait until the server's login, if any, is over: the server is connected, or parked needing a login."""
    upstream = gateway.servers[name]
    with anyio.fail_after(60):  # hang guard: a login through the browser process on a busy 2-core machine
        while upstream.signin.waiting or not (upstream.connected or upstream.state is ServerState.NEEDS_LOGIN):
            await gateway.next_change()


@contextlib.asynccontextmanager
async def headless_gateway(world: World, tmp_path: Path, person: PersonAtTheEditor) -> AsyncGenerator[Client, None]:
    """`glm-mcp serve` in front of `world` where no browser can open, and an editor whose person logs in."""
    config: dict[str, Any] = {"mcpServers": {"remote": {"url": world.url}}, "gateway": {"auth_tokens": []}}
    async with (
        glm_mcp_serve(config, tmp_path, env=NO_BROWSER) as gateway,
        gateway.mcp_client(elicitation_callback=person) as editor,
    ):
        yield editor


def config_for(url: str, state: Path, **server: Any) -> GatewayConfig:
    return GatewayConfig(
        servers={"remote": HttpUpstreamConfig(url=url, **server)},
        gateway=ServeConfig(state_dir=str(state), login_timeout=60),
    )


async def test_a_url_alone_logs_in_with_discovery_registration_pkce_and_the_resource(
    person: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with oauth_world() as world, Gateway(config_for(world.url, tmp_path)).running() as gateway:
        await until_settled(gateway)
        result = await gateway.call_tool("remote__whoami", {})
        status = json.dumps(gateway.status())
    issued = [*world.accounts.access, *world.accounts.refresh]
    assert issued and not any(token in caplog.text or token in status for token in issued), "tokens never shown"
    assert "with scopes ['read']" in text_of(result)
    assert len(world.accounts.clients) == 1, "registered itself (RFC 7591)"
    (asked,) = world.accounts.authorizations
    assert asked.resource == world.url, "the resource indicator names the server (RFC 8707)"
    assert asked.scopes == ["read"], "the scope the server's challenge named"
    assert str(asked.redirect_uri).startswith("http://127.0.0.1:")
    shown = person.read_text()  # noqa: ASYNC240  # what the browser was given, written before the login ended
    assert shown.count("/authorize?") == 1, "the person was shown one login"
    assert "code_challenge_method=S256" in shown


async def test_the_login_is_kept_encrypted_0600_and_reused_after_a_restart(person: Path, tmp_path: Path) -> None:
    async with oauth_world() as world:
        async with Gateway(config_for(world.url, tmp_path)).running() as gateway:
            await until_settled(gateway)
            await gateway.call_tool("remote__whoami", {})
        saved = tmp_path / "oauth" / "remote.login"
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        assert stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
        (token,) = world.accounts.access
        assert token.encode() not in saved.read_bytes(), "the access token is not stored in clear"
        async with Gateway(config_for(world.url, tmp_path)).running() as gateway:
            await until_settled(gateway)
            result = await gateway.call_tool("remote__whoami", {})
        assert not result.is_error
    assert len(world.accounts.authorizations) == 1, "the second start needed no person"


@pytest.mark.parametrize("separate", [False, True], ids=["one-origin", "separate-authorization-server"])
async def test_a_token_near_its_expiry_is_refreshed_without_a_person(
    person: Path, tmp_path: Path, separate: bool
) -> None:
    accounts = Accounts(access_seconds=30)  # within the refresh margin: refreshed before it is used again
    async with oauth_world(accounts, separate=separate) as world:
        async with Gateway(config_for(world.url, tmp_path)).running() as gateway:
            await until_settled(gateway)
            await gateway.call_tool("remote__whoami", {})
        async with Gateway(config_for(world.url, tmp_path)).running() as gateway:
            await until_settled(gateway)
            result = await gateway.call_tool("remote__whoami", {})
    assert not result.is_error
    assert accounts.grants[0] == "authorization_code" and "refresh_token" in accounts.grants[1:]
    assert len(accounts.authorizations) == 1


async def test_a_revoked_access_token_is_refreshed_on_401_without_a_person(person: Path, tmp_path: Path) -> None:
    async with oauth_world() as world, Gateway(config_for(world.url, tmp_path)).running() as gateway:
        await until_settled(gateway)
        world.accounts.revoke_access()
        result = await gateway.call_tool("remote__whoami", {})
    assert not result.is_error, text_of(result)
    assert world.accounts.grants == ["authorization_code", "refresh_token"]
    assert len(world.accounts.authorizations) == 1


async def test_calls_that_meet_a_revoked_token_at_once_share_one_refresh(person: Path, tmp_path: Path) -> None:
    """Where refresh tokens rotate, a second refresh would spend the old refresh token again and lose the login."""
    async with oauth_world() as world, Gateway(config_for(world.url, tmp_path)).running() as gateway:
        await until_settled(gateway)
        world.accounts.revoke_access()
        results: list[T.CallToolResult] = []

        async def call() -> None:
            results.append(await gateway.call_tool("remote__whoami", {}))

        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(call)
    assert [result.is_error for result in results] == [False] * 4, [text_of(result) for result in results]
    assert world.accounts.grants == ["authorization_code", "refresh_token"]


async def test_step_up_asks_once_more_for_the_union_of_scopes(person: Path, tmp_path: Path) -> None:
    async with oauth_world() as world, Gateway(config_for(world.url, tmp_path)).running() as gateway:
        await until_settled(gateway)
        result = await gateway.call_tool("remote__admin", {})
    assert text_of(result) == "admin done"
    first, second = world.accounts.authorizations
    assert first.scopes == ["read"] and sorted(second.scopes or []) == ["read", "write"]


async def test_without_a_person_the_server_needs_login_and_says_how(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("BROWSER", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    async with oauth_world() as world:
        config = config_for(world.url, tmp_path).model_copy(
            update={"gateway": ServeConfig(state_dir=str(tmp_path), login_timeout=1)}
        )
        async with Gateway(config).running() as gateway:
            await until_settled(gateway)
            assert gateway.servers["remote"].state is ServerState.NEEDS_LOGIN
            status = gateway.status()["servers"]["remote"]
    assert status["state"] == "needs login"
    assert "glm-mcp login remote" in status.get("error", "")
    assert world.accounts.authorizations == [], "nobody approved anything"


async def test_login_and_logout_commands(tmp_path: Path) -> None:
    env = {"BROWSER": BROWSER, "XDG_STATE_HOME": str(tmp_path / "state")}
    async with oauth_world() as world:
        config = write_config(tmp_path, {"remote": {"url": world.url}})
        code, _, err = await run_cli("login", "remote", "--config", str(config), env=env)
        assert code == 0, err
        assert f"open this URL to log in: {world.issuer}/authorize?" in err
        assert "logged in to 'remote' (2 tools)" in err
        code, out, err = await run_cli("tools", "--json", "--config", str(config), env={**env, "BROWSER": ""})
        assert code == 0, err
        assert json.loads(out)["servers"]["remote"]["state"] == "ready", "the saved login is used, no person"
        code, _, err = await run_cli("logout", "remote", "--config", str(config), env=env)
        assert code == 0 and "logged out of 'remote'" in err
        code, out, _ = await run_cli("tools", "--json", "--config", str(config), env={**env, "BROWSER": ""})
    remote = json.loads(out)["servers"]["remote"]
    assert code == 1 and remote["state"] == "needs login"
    assert "run `glm-mcp login remote`" in remote["error"]
    assert len(world.accounts.authorizations) == 1, "`tools` never starts a login"


async def test_login_of_an_unknown_or_local_server_is_a_usage_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"local": {"command": "true"}})
    code, _, err = await run_cli("login", "nope", "--config", str(config))
    assert code == 2 and "no server 'nope'" in err and "local" in err
    code, _, err = await run_cli("login", "local", "--config", str(config))
    assert code == 2 and "only remote (url) servers log in" in err


def test_a_login_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    from glm_mcp.errors import ConfigError
    from glm_mcp.oauth.vault import Vault

    vault = Vault(tmp_path / "oauth")
    vault.write("remote", {"url": "http://x"})
    os.chmod(vault.path("remote"), 0o644)
    with pytest.raises(ConfigError, match="mode 0600"):
        vault.read("remote")


async def test_an_editor_logs_in_through_glm_login_with_a_url_elicitation(tmp_path: Path) -> None:
    person_at_the_editor = PersonAtTheEditor()
    shown = person_at_the_editor.shown

    async with oauth_world() as world, headless_gateway(world, tmp_path, person_at_the_editor) as editor:
        before = [tool.name for tool in (await editor.list_tools()).tools]
        result = await editor.call_tool("glm__login", {"server": "remote"})
        after = [tool.name for tool in (await editor.list_tools()).tools]
    assert "glm__login" in before and "remote__whoami" not in before
    assert text_of(result) == "Logged in to 'remote': 2 tools."
    assert "remote__whoami" in after and "glm__login" not in after
    assert len(shown) == 1 and shown[0].startswith(f"{world.issuer}/authorize?")


async def test_the_status_page_login_action_gives_the_url_and_readyz_never_shows_it(tmp_path: Path) -> None:
    async with oauth_world() as world:
        config: dict[str, Any] = {"mcpServers": {"remote": {"url": world.url}}}
        heard = ToolListHeard()
        async with (
            glm_mcp_serve(config, tmp_path, env=NO_BROWSER) as gateway,
            httpx2.AsyncClient() as http,
            gateway.mcp_client(message_handler=heard) as editor,
        ):
            ready = (await http.get(f"{gateway.url}/readyz")).json()
            answer = await http.post(f"{gateway.url}/admin/servers/remote/login", headers=gateway.headers)
            url = answer.json()["url"]
            async with httpx2.AsyncClient(follow_redirects=True) as browser:  # the operator logs in
                await browser.get(url)
            await heard.tools_until(editor, lambda names: "remote__whoami" in names)  # connected once logged in
            after = (await http.get(f"{gateway.url}/readyz")).json()
    assert ready["servers"]["remote"]["state"] == "needs login"
    assert after["servers"]["remote"]["state"] == "ready"
    assert "/authorize" not in json.dumps(ready), "the login URL is the operator's, not /readyz's"
    assert url.startswith(f"{world.issuer}/authorize?")


async def test_glm_is_told_once_which_servers_need_a_login(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BROWSER", "")  # nobody logs in: the server waits
    fake = FakeGlm([Reply(content="Please log in to remote first.")])
    async with oauth_world() as world, serve_asgi(fake.app) as glm_url:
        model = ModelConfig(base_url=f"{glm_url}/api/paas/v4", api_key=SecretStr("zai-key"), name="glm-4.6")
        config = config_for(world.url, tmp_path).model_copy(update={"model": model})
        gateway = Gateway(config)
        async with serve_asgi(build_app(gateway)) as url:  # the app's lifespan runs the gateway
            client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
            messages: list[Any] = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "whoami?"}]
            answer = await client.chat.completions.create(model="glm-4.6", messages=messages)
            await client.close()
    assert answer.choices[0].message.content == "Please log in to remote first."
    (sent,) = fake.requests
    system = [message for message in sent["messages"] if message["role"] == "system"]
    assert len(system) == 1 and system[0]["content"].startswith("Be brief.")
    assert "`glm-mcp login remote`" in system[0]["content"]


async def test_oauth_false_keeps_a_401_a_plain_failure_and_a_bad_oauth_object_fails_that_server_only(
    person: Path, tmp_path: Path
) -> None:
    async with oauth_world() as world:
        config = GatewayConfig(
            servers={
                "off": HttpUpstreamConfig.model_validate({"url": world.url, "oauth": False}),
                "broken": HttpUpstreamConfig.model_validate(
                    {"url": world.url, "oauth": {"grant": "client_credentials"}}
                ),
            },
            gateway=ServeConfig(state_dir=str(tmp_path)),
        )
        async with Gateway(config).running() as gateway:
            status = gateway.status()["servers"]
    assert status["off"]["state"] == "failed" and "401" in status["off"].get("error", "")
    assert status["broken"]["state"] == "failed"
    assert status["broken"].get("error") == 'oauth: "grant": "client_credentials" needs a "client_id"'
    assert world.accounts.authorizations == [] and world.accounts.clients == {}


def test_oauth_keys_are_checked(tmp_path: Path) -> None:
    from glm_mcp.config import parse_config
    from glm_mcp.errors import ConfigError

    with pytest.raises(ConfigError, match=r"mcpServers\.remote\.oauth\.grant"):
        parse_config({"mcpServers": {"remote": {"url": "https://x/mcp", "oauth": {"grant": "password"}}}}, {})
    with pytest.raises(ConfigError, match=r"mcpServers\.remote\.oauth\.client_metadata_url"):
        parse_config(
            {"mcpServers": {"remote": {"url": "https://x/mcp", "oauth": {"client_metadata_url": "http://x/c"}}}}, {}
        )


async def test_two_people_of_one_gateway_each_use_their_own_login(tmp_path: Path) -> None:
    people = {"ada": "ada-token-" + "a" * 24, "bob": "bob-token-" + "b" * 24}

    approve = PersonAtTheEditor()

    @contextlib.asynccontextmanager
    async def editor_of(person: str, url: str) -> AsyncGenerator[Client, None]:
        headers = {"Authorization": f"Bearer {people[person]}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http,
            Client(streamable_http_client(f"{url}/mcp", http_client=http), elicitation_callback=approve) as client,
        ):
            yield client

    async with oauth_world() as world:
        tokens = [{"name": name, "token": token} for name, token in people.items()]
        config: dict[str, Any] = {"mcpServers": {"remote": {"url": world.url}}, "gateway": {"auth_tokens": tokens}}
        async with glm_mcp_serve(config, tmp_path, env=NO_BROWSER) as gateway:
            async with editor_of("ada", gateway.url) as ada, editor_of("bob", gateway.url) as bob:
                listed = [tool.name for tool in (await ada.list_tools()).tools]
                logged_in = await ada.call_tool("glm__login", {"server": "remote"})
                ada_is = text_of(await ada.call_tool("remote__whoami", {}))
                refused = await bob.call_tool("remote__whoami", {})
                authorizations_before_bob = len(world.accounts.authorizations)
                await bob.call_tool("glm__login", {"server": "remote"})
                bob_is = text_of(await bob.call_tool("remote__whoami", {}))
    assert "glm__login" in listed
    assert text_of(logged_in) == "Logged in to 'remote': 2 tools."
    assert refused.is_error and "bob is not logged in" in text_of(refused) and "glm__login" in text_of(refused)
    assert authorizations_before_bob == 1, "bob's refused call used nobody's token"
    ada_client, bob_client = ada_is.split()[1], bob_is.split()[1]
    assert ada_client != bob_client, "each person's calls carry their own login (their own client and token)"
    assert len(world.accounts.authorizations) == 2
    logins = sorted(path.name for path in (tmp_path / "state" / "glm-mcp" / "oauth").glob("*.login"))
    assert logins == ["remote@ada.login", "remote@bob.login"]


async def test_openid_connect_callers_are_people_and_the_gateway_publishes_its_resource_metadata(
    tmp_path: Path,
) -> None:
    approve = PersonAtTheEditor()

    async with oidc_issuer() as issuer, oauth_world() as world:
        config: dict[str, Any] = {
            "mcpServers": {"remote": {"url": world.url}},
            "gateway": {"auth_tokens": [], "oidc": {"issuer": issuer.url, "audience": "glm-mcp"}},
        }
        async with glm_mcp_serve(config, tmp_path, env=NO_BROWSER) as gateway, httpx2.AsyncClient() as http:
            metadata = (await http.get(f"{gateway.url}/.well-known/oauth-protected-resource/mcp")).json()
            anonymous = await http.post(f"{gateway.url}/mcp", json={})
            refused = {
                why: (
                    await http.get(f"{gateway.url}/v1/models", headers={"Authorization": f"Bearer {token}"})
                ).status_code
                for why, token in {
                    "expired": issuer.token("ada", lifetime=-60),
                    "another audience": issuer.token("ada", audience="someone-else"),
                    "another issuer": jwt.encode({"iss": "https://evil.example", "sub": "ada", "exp": 2**31}, "k" * 32),
                }.items()
            }
            headers = {"Authorization": f"Bearer {issuer.token('ada')}"}
            async with (
                httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as ada_http,
                Client(
                    streamable_http_client(f"{gateway.url}/mcp", http_client=ada_http), elicitation_callback=approve
                ) as ada,
            ):
                listed = [tool.name for tool in (await ada.list_tools()).tools]
                await ada.call_tool("glm__login", {"server": "remote"})
                whoami = await ada.call_tool("remote__whoami", {})
    assert metadata == {
        "resource": f"{gateway.url}/mcp",
        "authorization_servers": [issuer.url],
        "bearer_methods_supported": ["header"],
    }
    challenge = anonymous.headers["www-authenticate"]
    assert anonymous.status_code == 401 and "/.well-known/oauth-protected-resource/mcp" in challenge
    assert refused == {"expired": 401, "another audience": 401, "another issuer": 401}
    assert "glm__login" in listed, "with OpenID Connect, a remote server's logins are each person's"
    assert not whoami.is_error and (tmp_path / "state" / "glm-mcp" / "oauth" / "remote@ada.login").exists()


async def test_login_for_one_person_of_a_shared_gateway(tmp_path: Path) -> None:
    env = {"BROWSER": BROWSER, "XDG_STATE_HOME": str(tmp_path / "state")}
    tokens = [{"name": "ada", "token": "a" * 32}, {"name": "bob", "token": "b" * 32}]
    async with oauth_world() as world:
        config = write_config(tmp_path, {"remote": {"url": world.url}}, gateway={"auth_tokens": tokens})
        without = await run_cli("login", "remote", "--config", str(config), env=env)
        code, _, err = await run_cli("login", "remote", "--person", "ada", "--config", str(config), env=env)
    assert without[0] == 2 and "add --person NAME" in without[2]
    assert code == 0, err
    assert (tmp_path / "state" / "glm-mcp" / "oauth" / "remote@ada.login").exists()
    assert not (tmp_path / "state" / "glm-mcp" / "oauth" / "remote.login").exists()


async def test_a_call_that_needs_a_new_login_shows_it_to_the_callers_editor(tmp_path: Path) -> None:
    person_at_the_editor = PersonAtTheEditor()
    shown = person_at_the_editor.shown

    async with oauth_world() as world, headless_gateway(world, tmp_path, person_at_the_editor) as editor:
        await editor.call_tool("glm__login", {"server": "remote"})
        result = await editor.call_tool("remote__admin", {})  # needs the `write` scope: a new login, mid-call
    assert text_of(result) == "admin done"
    assert len(shown) == 2 and "scope=read+write" in shown[1], "the step-up login reached the caller's editor"


async def test_logins_can_live_in_the_os_keyring(person: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # keyrings.alt's file backend stands in for the desktop's keyring service, which CI machines lack.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    state = tmp_path / "state"
    async with oauth_world() as world:
        config = config_for(world.url, state)
        config = config.model_copy(update={"gateway": config.gateway.model_copy(update={"keyring": True})})
        async with Gateway(config).running() as gateway:
            await until_settled(gateway)
        async with Gateway(config).running() as gateway:
            await until_settled(gateway)
            result = await gateway.call_tool("remote__whoami", {})
    import keyring

    assert not result.is_error
    assert len(world.accounts.authorizations) == 1, "the second start read the login from the keyring"
    assert keyring.get_password("glm-mcp", "remote.login") is not None
    assert not list(state.glob("oauth/*.login")), "nothing under the state folder"


async def test_a_call_needing_a_new_login_from_an_editor_without_url_elicitation_fails_at_once(tmp_path: Path) -> None:
    env = {"BROWSER": BROWSER, "XDG_STATE_HOME": str(tmp_path / "state")}
    async with oauth_world() as world:
        config = write_config(tmp_path, {"remote": {"url": world.url}}, gateway={"auth_tokens": []})
        code, _, err = await run_cli("login", "remote", "--config", str(config), env=env)
        assert code == 0, err
        served = json.loads(config.read_text())  # the config just written
        async with glm_mcp_serve(served, tmp_path, env=NO_BROWSER) as gateway, gateway.mcp_client() as editor:
            with anyio.fail_after(30):  # far below the 300 s a login waits for a person who can see it
                result = await editor.call_tool("remote__admin", {})  # needs the `write` scope
    assert result.is_error and "glm-mcp login remote" in text_of(result)
    assert len(world.accounts.authorizations) == 1, "no login started that nobody could see"


async def test_glm_mcp_login_while_a_running_gateway_waits_for_the_same_login(tmp_path: Path) -> None:
    async with oauth_world() as world:
        config: dict[str, Any] = {"mcpServers": {"remote": {"url": world.url}}, "gateway": {"auth_tokens": []}}
        heard = ToolListHeard()
        async with (
            glm_mcp_serve(config, tmp_path, env=NO_BROWSER) as gateway,
            gateway.mcp_client(message_handler=heard) as editor,
        ):
            env = {"BROWSER": BROWSER, "XDG_STATE_HOME": str(tmp_path / "state")}
            code, _, err = await run_cli("login", "remote", "--config", str(tmp_path / "glm-mcp.json"), env=env)
            tools = await heard.tools_until(editor, lambda names: "remote__whoami" in names)
    assert code == 0, err  # the running gateway's login holds the registered port: the command registers anew
    assert "remote__whoami" in tools, "the running gateway took the login the command saved"


async def test_a_client_id_metadata_document_is_used_where_the_authorization_server_takes_them(
    person: Path, tmp_path: Path
) -> None:
    port = free_port()
    async with (
        client_metadata_document(tmp_path, port) as document,
        oauth_world(metadata={"client_id_metadata_document_supported": True}) as world,
    ):
        oauth = {"client_metadata_url": document, "redirect_port": port}
        config = config_for(world.url, tmp_path / "state", oauth=OAuthConfig.model_validate(oauth))
        async with Gateway(config).running() as gateway:
            await until_settled(gateway)
            result = await gateway.call_tool("remote__whoami", {})
    assert text_of(result).startswith(f"client {document} "), "the document's URL is the client's id"
    assert set(world.accounts.documents) == {document} and world.accounts.clients == {}, "no dynamic registration"


async def test_calls_to_one_remote_server_run_side_by_side(tmp_path: Path) -> None:
    """The SDK's OAuth client holds a lock until each response's headers arrive; a server that answers in JSON
    sends them with the result, so under that lock calls to it would wait for each other."""
    first_arrived, second_arrived = anyio.Event(), anyio.Event()
    open_server = MCPServer("open")

    @open_server.tool()
    async def meet(who: str) -> str:
        """Returns once the other caller has arrived too."""
        (first_arrived if who == "first" else second_arrived).set()
        await (second_arrived if who == "first" else first_arrived).wait()
        return f"{who} met the other"

    app = open_server.streamable_http_app(json_response=True, stateless_http=True)
    async with serve_asgi(app) as open_url:
        config = config_for(f"{open_url}/mcp", tmp_path)  # an OAuth client is set up for it, as for any URL
        async with Gateway(config).running() as gateway:
            results: dict[str, T.CallToolResult] = {}

            async def call(who: str) -> None:
                results[who] = await gateway.call_tool("remote__meet", {"who": who})

            with anyio.fail_after(20):  # a deadlock guard: serialised calls would never meet
                async with anyio.create_task_group() as tg:
                    tg.start_soon(call, "first")
                    tg.start_soon(call, "second")
    assert text_of(results["first"]) == "first met the other"
    assert text_of(results["second"]) == "second met the other"


async def test_registration_asks_for_the_refresh_grant_only_where_the_server_offers_it(
    person: Path, tmp_path: Path
) -> None:
    grants: dict[str, list[str]] = {}
    for offered in (["authorization_code", "refresh_token"], ["authorization_code"]):
        state = tmp_path / "-".join(offered)
        async with oauth_world(metadata={"grant_types_supported": offered}) as world:
            async with Gateway(config_for(world.url, state)).running() as gateway:
                await until_settled(gateway)
                result = await gateway.call_tool("remote__whoami", {})
            assert not result.is_error
            (client,) = world.accounts.clients.values()
            grants[" ".join(offered)] = list(client.grant_types)
    assert grants == {
        "authorization_code refresh_token": ["authorization_code", "refresh_token"],
        "authorization_code": ["authorization_code"],
    }
