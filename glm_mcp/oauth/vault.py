"""OAuth logins kept like secrets: encrypted at rest, one file per server (and per user), 0600, under the state folder.

Contract:
- `Vault(folder)` keeps its key in `folder/key` (made once, 0600) and each login in `folder/<server>[@<user>].login`,
  encrypted with it (Fernet: AES-128-CBC with an HMAC-SHA256, from `cryptography`); nothing is written in clear;
- a login is bound to the server's URL: one saved for another URL is ignored (the config changed), never sent;
- `ServerLogin` is the SDK's `TokenStorage` for one server and user: tokens (refresh tokens rotated as the server
  returns them) and the client registration (its redirect URI keeps the port the next login listens on), the
  authorization server's metadata as served, and the DPoP key;
- `KeyringVault` keeps them in the OS keyring instead (`gateway.keyring`);
- a file that cannot be decrypted (another key, damage) is reported once and treated as no login.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

from glm_mcp.errors import ConfigError
from glm_mcp.private_files import create_private, read_private, write_private
from glm_mcp.redact import register

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

logger = logging.getLogger(__name__)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", lambda match: f"%{ord(match.group()):02X}", name)


def login_key(server: str, person: str | None) -> str:
    """The name a login goes by: the server's, or `server@person` for a person's own login to it."""
    return server if person is None else f"{server}@{person}"


def how_to_log_in(key: str) -> str:
    """What the person whose login `key` is does to log in."""
    server, _, person = key.partition("@")
    if person:
        return f"{person} logs in with glm__login (server '{server}') from their editor"
    return f"run `glm-mcp login {server}`"


LOGIN_POLL_SECONDS = 1.0
"""How often a login waiting for its person looks whether another process saved one (a file's time, or a hash)."""


class Vault:
    """The encrypted logins in one folder (`cryptography` is imported at the first login read or written: a gateway
    without OAuth servers never loads it)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._fernet: Fernet | None = None

    def _cipher(self) -> Fernet:
        from cryptography.fernet import Fernet

        if self._fernet is None:
            key = read_private(self.folder / "key", "the OAuth vault key")
            if not key:
                key = create_private(self.folder / "key", Fernet.generate_key())
            self._fernet = Fernet(key.strip())
        return self._fernet

    def path(self, server: str, user: str | None = None) -> Path:
        """The file holding `server`'s login (for `user`, on a gateway with several identities)."""
        suffix = f"@{_safe(user)}" if user else ""  # `login_key`'s shape, each part made safe for a file name
        return self.folder / f"{_safe(server)}{suffix}.login"

    def read(self, server: str, user: str | None = None) -> dict[str, Any]:
        """The saved login, `{}` when there is none (or it cannot be read)."""
        path = self.path(server, user)
        sealed = read_private(path, "a saved OAuth login")
        if not sealed:
            return {}
        from cryptography.fernet import InvalidToken

        try:
            data: Any = json.loads(self._cipher().decrypt(sealed))
        except (InvalidToken, ValueError):
            logger.warning("server '%s': the saved login in %s cannot be decrypted; log in again", server, path)
            return {}
        return dict(data) if isinstance(data, dict) else {}  # pyright: ignore[reportUnknownArgumentType]  # JSON

    def write(self, server: str, data: dict[str, Any], user: str | None = None) -> None:
        write_private(self.path(server, user), self._cipher().encrypt(json.dumps(data).encode()))

    def remove(self, server: str, user: str | None = None) -> bool:
        """Forget a login; whether there was one."""
        path = self.path(server, user)
        existed = path.exists() or path.is_symlink()
        path.unlink(missing_ok=True)
        return existed

    def version(self, server: str, user: str | None = None) -> object:
        """Changes whenever the login does (another process may have logged in); None without one."""
        try:
            return self.path(server, user).lstat().st_mtime
        except FileNotFoundError:
            return None


class KeyringVault(Vault):
    """The logins in the OS keyring (the `keyring` package: macOS Keychain, Windows Credential Locker, the Secret
    Service on Linux), one entry per server and user under the service `glm-mcp`; nothing under the state folder."""

    SERVICE = "glm-mcp"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        try:
            import keyring  # an optional extra: glm-mcp-gateway[keyring]
        except ImportError:
            raise ConfigError(
                '"keyring": true needs the keyring package: pip install "glm-mcp-gateway[keyring]"'
            ) from None
        self._keyring = keyring

    def _entry(self, server: str, user: str | None) -> str:
        return self.path(server, user).name

    def read(self, server: str, user: str | None = None) -> dict[str, Any]:
        stored = self._keyring.get_password(self.SERVICE, self._entry(server, user))
        if not stored:
            return {}
        try:
            data: Any = json.loads(stored)
        except ValueError:
            logger.warning("server '%s': the login in the keyring cannot be read; log in again", server)
            return {}
        return dict(cast(dict[str, Any], data)) if isinstance(data, dict) else {}

    def write(self, server: str, data: dict[str, Any], user: str | None = None) -> None:
        self._keyring.set_password(self.SERVICE, self._entry(server, user), json.dumps(data))

    def remove(self, server: str, user: str | None = None) -> bool:
        if self._keyring.get_password(self.SERVICE, self._entry(server, user)) is None:
            return False
        self._keyring.delete_password(self.SERVICE, self._entry(server, user))
        return True

    def version(self, server: str, user: str | None = None) -> object:
        stored = self._keyring.get_password(self.SERVICE, self._entry(server, user))
        return None if stored is None else hashlib.sha256(stored.encode()).hexdigest()


class ServerLogin:
    """One server's saved login for the SDK's OAuth client (`TokenStorage`), bound to the server's URL."""

    def __init__(self, vault: Vault, server: str, url: str, user: str | None = None) -> None:
        self.vault = vault
        self.server = server
        self.url = url
        self.user = user
        self._seen: object = None

    def _record(self) -> dict[str, Any]:
        data = self.vault.read(self.server, self.user)
        return data if data.get("url") == self.url else {}

    def _update(self, **changes: Any) -> None:
        data = self._record()
        data.update(changes, url=self.url)
        self.vault.write(self.server, data, self.user)
        self.seen()

    async def get_tokens(self) -> OAuthToken | None:
        tokens = self._record().get("tokens")
        if not tokens:
            return None
        found = OAuthToken.model_validate(tokens)
        register(secret for secret in (found.access_token, found.refresh_token) if secret)
        return found

    async def set_tokens(self, tokens: OAuthToken) -> None:
        # A refresh that returns a new refresh token replaces the old one here (rotation); the SDK carries the old
        # one forward when the server returns none.
        register(secret for secret in (tokens.access_token, tokens.refresh_token) if secret)  # never shown anywhere
        expires_at = None if tokens.expires_in is None else time.time() + float(tokens.expires_in)
        self._update(tokens=tokens.model_dump(mode="json", exclude_none=True), expires_at=expires_at)

    def expires_at(self) -> float | None:
        """When the saved access token expires (wall clock), None when unknown."""
        value = self._record().get("expires_at")
        return float(value) if isinstance(value, int | float) else None

    def seen(self) -> None:
        """Note the saved login as this process knows it (`changed` compares with it)."""
        self._seen = self.vault.version(self.server, self.user)

    def changed(self) -> bool:
        """Whether the saved login changed since this process last read or wrote it (another process logged in)."""
        return self.vault.version(self.server, self.user) != self._seen

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        client = self._record().get("client")
        return OAuthClientInformationFull.model_validate(client) if client else None

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self._update(client=client_info.model_dump(mode="json", exclude_none=True))

    def has_tokens(self) -> bool:
        return bool(self._record().get("tokens"))

    def registered_redirect_port(self) -> int | None:
        """The 127.0.0.1 port of the saved registration's redirect URI."""
        client: Any = self._record().get("client") or {}
        uris: Any = cast(dict[str, Any], client).get("redirect_uris") if isinstance(client, dict) else None
        if not isinstance(uris, list) or not uris:
            return None
        port = urlsplit(str(cast(list[Any], uris)[0])).port
        return port if isinstance(port, int) else None

    def dpop(self) -> tuple[str | None, bool]:
        """The DPoP key kept with this login (PEM), and whether its tokens are bound to it."""
        data = self._record()
        pem = data.get("dpop_key")
        return (pem if isinstance(pem, str) else None), data.get("dpop_bound") is True

    def keep_dpop(self, pem: str, *, bound: bool) -> None:
        self._update(dpop_key=pem, dpop_bound=bound)

    def server_metadata(self) -> dict[str, Any] | None:
        """The authorization server's metadata as it was last served."""
        found = self._record().get("server_metadata")
        return cast(dict[str, Any], found) if isinstance(found, dict) else None

    def keep_server_metadata(self, metadata: dict[str, Any]) -> None:
        if self.server_metadata() != metadata:
            self._update(server_metadata=metadata)

    def forget_client(self) -> None:
        """Drop the client registration (a new one is made at the next login)."""
        data = self._record()
        if data.pop("client", None) is not None:
            self.vault.write(self.server, data, self.user)

    def forget_tokens(self) -> None:
        """Drop the tokens, keep the client registration (and its redirect port): the next use logs in anew."""
        data = self._record()
        if data.pop("tokens", None) is not None:
            data.pop("expires_at", None)
            self.vault.write(self.server, data, self.user)
