"""DPoP (RFC 9449): access tokens bound to a key of the gateway's, where the authorization server offers them.

Contract:
- `DPoPKey` is one server's EC P-256 key (kept, encrypted, with its login: a bound token is useless without it);
  `proof` signs a fresh proof JWT (`typ` `dpop+jwt`, the public key as `jwk`, a new `jti`, `htm`, `htu` without
  query or fragment, `iat`, `ath` for a request carrying a token, the server's `nonce` when it gave one);
- `as_bearer` reads whether a token answer is DPoP-bound, and gives it to the SDK as the Bearer answer it reads;
- `Proofs` keeps the nonces servers hand out (`DPoP-Nonce`, per origin) and says whether a response asks to try
  again with one (`use_dpop_nonce`, from an authorization server's 400 or a resource server's 401).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import httpx2
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ALGORITHM = "ES256"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class DPoPKey:
    """A key that proves possession of DPoP-bound tokens."""

    def __init__(self, pem: str | None = None) -> None:
        if pem is None:
            self._key = ec.generate_private_key(ec.SECP256R1())
        else:
            loaded = serialization.load_pem_private_key(pem.encode(), password=None)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise ValueError("a DPoP key must be an EC P-256 key")
            self._key = loaded
        numbers = self._key.public_key().public_numbers()
        self.jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64(numbers.x.to_bytes(32, "big")),
            "y": _b64(numbers.y.to_bytes(32, "big")),
        }

    def pem(self) -> str:
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    def proof(self, method: str, url: str, *, token: str | None = None, nonce: str | None = None) -> str:
        parts = urlsplit(url)
        claims: dict[str, object] = {
            "jti": secrets.token_urlsafe(16),
            "htm": method,
            "htu": urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")),
            "iat": int(time.time()),
        }
        if token is not None:
            claims["ath"] = _b64(hashlib.sha256(token.encode("ascii")).digest())
        if nonce is not None:
            claims["nonce"] = nonce
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"typ": "dpop+jwt", "jwk": self.jwk})


def _origin(url: httpx2.URL) -> str:
    return f"{url.scheme}://{url.netloc.decode()}"


class Proofs:
    """The nonces servers gave, by origin."""

    def __init__(self) -> None:
        self._nonces: dict[str, str] = {}

    def nonce(self, request: httpx2.Request) -> str | None:
        return self._nonces.get(_origin(request.url))

    def heard(self, response: httpx2.Response) -> bool:
        """Keep the response's nonce; whether it asks for the request again with it."""
        nonce = response.headers.get("DPoP-Nonce")
        if not nonce:
            return False
        self._nonces[_origin(response.request.url)] = nonce
        if response.status_code == 401:
            return "use_dpop_nonce" in response.headers.get("WWW-Authenticate", "")
        if response.status_code == 400:
            try:
                return json.loads(response.content).get("error") == "use_dpop_nonce"
            except (ValueError, AttributeError):
                return False
        return False


def as_bearer(response: httpx2.Response) -> tuple[bool | None, httpx2.Response]:
    """Whether a token answer issued a DPoP-bound token (None when it is no token answer), and the answer as the
    SDK can read it (its model takes only `Bearer`)."""
    try:
        body: Any = json.loads(response.content)
    except ValueError:
        return None, response
    if not isinstance(body, dict):
        return None, response
    fields = cast(dict[str, Any], body)
    if str(fields.get("token_type", "")).lower() != "dpop":
        return False, response
    headers = [(key, value) for key, value in response.headers.items() if key.lower() != "content-length"]
    content = json.dumps({**fields, "token_type": "Bearer"}).encode()
    return True, httpx2.Response(response.status_code, headers=headers, content=content, request=response.request)
