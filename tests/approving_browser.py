"""A person at a browser who approves every login at once: `$BROWSER` for tests.

Python's `webbrowser` runs it as `python tests/approving_browser.py <url>`. It opens the login URL and follows the
authorization server's redirects, as a browser does after its person clicked "allow", until the redirect reaches the
login's listener on 127.0.0.1. With `APPROVING_BROWSER_LOG` set, each URL it was given is appended to that file (a
test reads what the person was shown).
"""

from __future__ import annotations

import os
import sys

import httpx2


def main(url: str) -> None:
    if log := os.environ.get("APPROVING_BROWSER_LOG"):
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(url + "\n")
    with httpx2.Client(follow_redirects=True, timeout=30) as browser:
        browser.get(url)


if __name__ == "__main__":
    main(sys.argv[-1])
