"""Keeping secrets out of everything the gateway shows: logs, errors, status, servers' stderr lines. No I/O.

Contract:
- `show_url` marks one URL made for a person to open (a login's) to be shown whole;
- `register` adds the secret values of a configuration (keys, tokens, `env` and header values, URL credentials);
  `scrub` replaces each of them in a text with `***`, and shows every URL in it without userinfo and with its
  query values replaced;
- `ScrubbingFormatter` applies `scrub` to every formatted log line, tracebacks included;
- `printable` escapes control characters in text that came from elsewhere (servers' log messages and stderr
  lines), so it cannot forge log lines or send terminal escapes;
- a URL's path segments that look like credentials (16 characters or more, or 8 or more mixing letters and
  digits) are shown as `***`: some services put the key in the path.
The registry is process-wide on purpose: a secret is a secret wherever it turns up.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
_URL = re.compile(r"\b(?:https?|wss?)://[^\s'\"<>]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SECRET_LIKE = re.compile(r"[^/]{16,}|(?=[^/]*[0-9])(?=[^/]*[A-Za-z])[^/]{8,}")


def printable(text: str) -> str:
    """`text` with every control character shown as an escape (`\\n`, `\\x1b`, ...), for one log line."""
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


_secrets: list[str] = []
_public_urls: set[str] = set()


def register(values: Iterable[str]) -> None:
    """Remember secret values; from now on `scrub` hides them."""
    known = set(_secrets)
    known.update(value for value in values if len(value) >= 4)
    _secrets[:] = sorted(known, key=len, reverse=True)  # longest first: one secret may contain another


def show_url(url: str) -> None:
    """Let `scrub` show this exact URL as it is: one made to be opened by a person (a login's URL carries public
    values only: the client's id, the login's `state`, the PKCE challenge)."""
    _public_urls.add(url)


def redact_url(url: str) -> str:
    """A URL as it may be shown: no user or password, query values replaced, no fragment."""
    if url in _public_urls:
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return MASK
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    query = "&".join(
        f"{pair.split('=', 1)[0]}={MASK}" if "=" in pair else pair for pair in parts.query.split("&") if pair
    )
    path = "/".join(MASK if _SECRET_LIKE.fullmatch(segment) else segment for segment in parts.path.split("/"))
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def scrub(text: str) -> str:
    """`text` with every registered secret and every URL credential hidden."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    if "://" in text:
        text = _URL.sub(lambda match: redact_url(match.group()), text)
    return text


class ScrubbingFormatter(logging.Formatter):
    """A log formatter whose every line, tracebacks included, has gone through `scrub`."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))
