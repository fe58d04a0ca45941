"""An OpenID Connect issuer for tests: its discovery document and its JWKS over real HTTP on 127.0.0.1, and ID
tokens signed with its key (PyJWT). What a test checks is the gateway's verification of those tokens."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.helpers import serve_asgi


@dataclass
class Issuer:
    url: str
    key: ec.EllipticCurvePrivateKey

    def token(self, subject: str, *, audience: str = "glm-mcp", lifetime: float = 300, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "sub": subject, "aud": audience, "iat": now, "exp": now + int(lifetime), **claims}
        return jwt.encode(body, self.key, algorithm="ES256", headers={"kid": "k1"})


@asynccontextmanager
async def oidc_issuer() -> AsyncGenerator[Issuer, None]:
    key = ec.generate_private_key(ec.SECP256R1())
    public: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    jwks = {"keys": [{**public, "kid": "k1", "use": "sig", "alg": "ES256"}]}
    base: list[str] = []

    async def discovery(request: Request) -> JSONResponse:
        return JSONResponse(
            {"issuer": base[0], "jwks_uri": f"{base[0]}/jwks", "id_token_signing_alg_values_supported": ["ES256"]}
        )

    async def keys(request: Request) -> JSONResponse:
        return JSONResponse(jwks)

    app = Starlette(routes=[Route("/.well-known/openid-configuration", discovery), Route("/jwks", keys)])
    async with serve_asgi(app) as url:
        base.append(url)
        yield Issuer(url, key)
