"""Where a login comes back: a listener on 127.0.0.1 that takes the authorization server's redirect, and the
browser that is opened for the person.

Contract:
- `RedirectCatcher.bind(port)` listens on 127.0.0.1 (port 0: a free one) before the login URL is handed out;
  `wait(state)` answers connections until one brings `/callback` with the login's own `state`, and returns the
  code (with `iss`); a redirect with another `state` is answered 400 and ignored (it is not this login's);
  an `error` from the authorization server ends the wait with that error;
- `open_browser` opens a URL with Python's `webbrowser` (so `$BROWSER` is honoured) in a child process whose
  standard streams are not the gateway's (under `glm-mcp stdio` they carry MCP), and only where a browser can be
  opened at all.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from html import escape
from urllib.parse import parse_qs, urlsplit

import anyio
import h11
from anyio.abc import SocketAttribute, SocketListener, SocketStream
from mcp.client.auth import OAuthFlowError
from mcp.shared.auth import AuthorizationCodeResult

logger = logging.getLogger(__name__)

CALLBACK_PATH = "/callback"
_CONNECTION_SECONDS = 10.0
"""How long one connection to the listener may take to send its request: a stray client cannot hold the login."""


def port_is_free(port: int) -> bool:
    """Whether a listener could take `port` on 127.0.0.1 now (as the login's listener binds: reusing addresses, so
    a port only in TIME_WAIT after the last login counts as free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def can_open_browser(environ: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Whether a browser can be shown to a person here: `$BROWSER` set, a desktop session, macOS or Windows."""
    if environ.get("BROWSER"):
        return True
    if platform in ("darwin", "win32"):
        return True
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def open_browser(url: str) -> bool:
    """Open `url` in the user's browser without touching the gateway's standard streams; whether one was started."""
    if not can_open_browser(os.environ):
        return False
    try:
        opener = subprocess.Popen(
            [sys.executable, "-m", "webbrowser", "-t", url],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        logger.warning("could not open a browser (%s); open the login URL by hand", exc)
        return False
    # A `$BROWSER` command may run until its window closes: a thread of its own waits for it (no zombie).
    threading.Thread(target=opener.wait, name="browser", daemon=True).start()
    return True


def _page(title: str, text: str) -> bytes:
    return (
        f"<!doctype html><meta charset=utf-8><title>{escape(title)}</title>"
        f"<body style='font-family:sans-serif;margin:3em'><h1>{escape(title)}</h1><p>{escape(text)}</p>"
    ).encode()


class RedirectCatcher:
    """One login's redirect listener."""

    def __init__(self, server: str) -> None:
        self.server = server
        self._listener: SocketListener | None = None
        self.port = 0

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}{CALLBACK_PATH}"

    async def bind(self, port: int) -> None:
        """Listen on 127.0.0.1:`port` (0: any free port).

        Raises:
            OAuthFlowError: The port is taken.
        """
        try:
            listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=port)
        except OSError as exc:
            raise OAuthFlowError(
                f"cannot listen for the login's redirect on 127.0.0.1:{port} ({exc.strerror}); another login for "
                "this server may be waiting (finish or stop it), or set a free `redirect_port` in its `oauth`"
            ) from None
        single = listener.listeners[0]
        assert isinstance(single, SocketListener)  # one address, one TCP listener
        self._listener = single
        self.port = int(single.extra(SocketAttribute.local_port))

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.aclose()
            self._listener = None

    async def wait(self, state: str | None) -> AuthorizationCodeResult:
        """The redirect that carries `state`.

        Raises:
            OAuthFlowError: The authorization server sent an error instead of a code.
        """
        assert self._listener is not None, "bind first"
        try:
            while True:
                stream = await self._listener.accept()
                async with stream:
                    with anyio.move_on_after(_CONNECTION_SECONDS):
                        result = await self._serve(stream, state)
                        if result is not None:
                            return result
        finally:
            await self.close()

    async def _serve(self, stream: SocketStream, state: str | None) -> AuthorizationCodeResult | None:
        connection = h11.Connection(h11.SERVER)
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                try:
                    connection.receive_data(await stream.receive(65536))
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return None
                continue
            if isinstance(event, h11.Request):
                break
            return None
        target = urlsplit(event.target.decode("ascii", "replace"))
        query = {key: values[0] for key, values in parse_qs(target.query).items()}
        if target.path != CALLBACK_PATH:
            await self._answer(stream, connection, 404, _page("Not found", "This address only takes a login."))
            return None
        if state is not None and query.get("state") != state:
            await self._answer(
                stream, connection, 400, _page("Not this login", "This redirect belongs to another login attempt.")
            )
            return None
        if error := query.get("error"):
            why = query.get("error_description") or error
            await self._answer(stream, connection, 200, _page("Login refused", why))
            raise OAuthFlowError(f"the authorization server refused the login: {why}")
        await self._answer(
            stream,
            connection,
            200,
            _page("Logged in", f"glm-mcp is logged in to '{self.server}'. You can close this tab."),
        )
        return AuthorizationCodeResult(code=query.get("code", ""), state=query.get("state"), iss=query.get("iss"))

    @staticmethod
    async def _answer(stream: SocketStream, connection: h11.Connection, status: int, body: bytes) -> None:
        headers = [
            ("content-type", "text/html; charset=utf-8"),
            ("content-length", str(len(body))),
            ("connection", "close"),
            ("cache-control", "no-store"),
        ]
        try:
            await stream.send(connection.send(h11.Response(status_code=status, headers=headers)) or b"")
            await stream.send(connection.send(h11.Data(data=body)) or b"")
            await stream.send(connection.send(h11.EndOfMessage()) or b"")
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
