"""Callers named by OpenID Connect: a bearer token that is a JWT of the configured issuer is its person's.

Contract:
- `OidcVerifier.person(token)` is the token's person (the configured claim), or None: a token that is not a JWT,
  not signed by one of the issuer's keys (RS256/ES256/PS256/EdDSA family, never `none` nor HMAC), of another
  issuer or audience, expired or not yet valid, or without the claim, is nobody's;
- the issuer's keys come from its JWKS (the `jwks_uri` of `<issuer>/.well-known/openid-configuration`), fetched
  on first use and again when a token names a key not in it (at most every `REFETCH_SECONDS`); a JWKS that cannot
  be fetched makes every such token nobody's, logged, never an error of the request;
- `resource_metadata(base)` is the protected resource metadata (RFC 9728) of the gateway's `/mcp`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio
import httpx2

from glm_mcp.config import OidcConfig

logger = logging.getLogger(__name__)

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
REFETCH_SECONDS = 60.0


class OidcVerifier:
    """The issuer's keys, and the check of one token."""

    def __init__(self, config: OidcConfig, transport: httpx2.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self._transport = transport
        self._keys: dict[str, Any] = {}
        self._fetched_at = -REFETCH_SECONDS
        self._lock = anyio.Lock()

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._fetched_at < REFETCH_SECONDS:
                return
            import jwt  # PyJWT is loaded only where callers are checked against an issuer

            self._fetched_at = time.monotonic()
            issuer = self.config.issuer.rstrip("/")
            try:
                async with httpx2.AsyncClient(timeout=10, transport=self._transport) as http:
                    discovery = (await http.get(f"{issuer}/.well-known/openid-configuration")).raise_for_status()
                    jwks_uri = discovery.json()["jwks_uri"]
                    jwks = (await http.get(jwks_uri)).raise_for_status().json()
                keys = jwt.PyJWKSet.from_dict(jwks)
            except (httpx2.HTTPError, ValueError, KeyError, TypeError, jwt.PyJWKSetError) as exc:
                logger.warning("oidc: the keys of %s could not be fetched (%s); its tokens are refused", issuer, exc)
                return
            self._keys = {key.key_id or "": key for key in keys.keys}

    async def person(self, token: str) -> str | None:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None
        kid = str(header.get("kid") or "")
        if kid not in self._keys:
            await self._refresh()
        key = self._keys.get(kid) or (next(iter(self._keys.values())) if len(self._keys) == 1 and not kid else None)
        if key is None:
            return None
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=ALGORITHMS,
                issuer=self.config.issuer,
                audience=self.config.audience,
                options={"verify_aud": self.config.audience is not None, "require": ["exp", "iss"]},
            )
        except jwt.PyJWTError as exc:
            logger.info("oidc: a token was refused: %s", exc)
            return None
        person = claims.get(self.config.name_claim)
        return person if isinstance(person, str) and person else None

    def resource_metadata(self, base: str) -> dict[str, Any]:
        return {
            "resource": f"{base}/mcp",
            "authorization_servers": [self.config.issuer],
            "bearer_methods_supported": ["header"],
        }
