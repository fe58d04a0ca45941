"""What an authorization server says of itself, as it was served (the SDK's model drops some of it), and a
registration fitted to it.

Contract:
- `is_server_metadata(request)` tells a request for authorization-server metadata (RFC 8414 or OpenID);
  `served(response)` is that metadata as a dict (None when it is none);
- `fitted_registration(request, metadata)` is a dynamic registration (RFC 7591) asking only for grant types the
  server lists in `grant_types_supported` (the `refresh_token` grant where it offers it); any other request is
  returned as it is.
"""

from __future__ import annotations

import json
from typing import Any, cast

import httpx2


def is_server_metadata(request: httpx2.Request) -> bool:
    path = request.url.path
    known = "/.well-known/oauth-authorization-server" in path or "/.well-known/openid-configuration" in path
    return request.method == "GET" and known


def served(response: httpx2.Response) -> dict[str, Any] | None:
    try:
        body: Any = json.loads(response.content)
    except ValueError:
        return None
    return cast(dict[str, Any], body) if isinstance(body, dict) and "issuer" in body else None


def fitted_registration(request: httpx2.Request, metadata: dict[str, Any] | None) -> httpx2.Request:
    endpoint = (metadata or {}).get("registration_endpoint")
    supported = (metadata or {}).get("grant_types_supported")
    if request.method != "POST" or not endpoint or str(request.url) != endpoint or not isinstance(supported, list):
        return request
    try:
        body: Any = json.loads(request.content)
    except ValueError:
        return request
    if not isinstance(body, dict):
        return request
    registration = cast(dict[str, Any], body)
    asked: Any = registration.get("grant_types")
    if not isinstance(asked, list):
        return request
    grants = cast(list[Any], asked)
    kept = [grant for grant in grants if grant in cast(list[Any], supported) or grant == "authorization_code"]
    if kept == grants:
        return request
    fitted = {**registration, "grant_types": kept}
    return httpx2.Request("POST", request.url, json=fitted, headers={"Content-Type": "application/json"})
