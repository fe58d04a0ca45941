"""This replica among the others that share one Redis: who is alive, the key they sign with, reloads for all.

Contract:
- each replica writes its status every `HEARTBEAT_SECONDS` under its own key, which expires after three missed
  beats: `peers()` lists the replicas alive (a replica that died drops out within `3 * HEARTBEAT_SECONDS`);
- `signing_key()` is one random key for every replica (the first to ask creates it), so a `request_state` one
  replica signed is valid on another;
- a 2026-07-28 round presented to a replica other than the one holding its call is passed to that one through a
  queue of its own, and its answer back (`forward`, `serve_rounds`); a replica no longer alive answers nothing, so
  the round is refused at once with a message to start again;
- a config a replica reloaded is published with its text; every other replica applies that text as if its own
  file had changed (its own environment fills in `${VAR}`s), so a reload anywhere reaches everyone.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS

from glm_mcp.errors import SharedStateError
from glm_mcp.replicas.store import RedisStore

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0

FORWARD_SECONDS = 900.0
"""The longest a round passed to another replica waits for its answer (the call may run that long)."""

ApplyFnT = Callable[[str, str], Awaitable[None]]
"""Applies a config another replica published: (its text, where it came from)."""


def replica_name(configured: str | None) -> str:
    """This replica's name: the configured one, else host name and process id."""
    return configured or f"{socket.gethostname()}-{os.getpid()}"


class Cluster:
    """This replica's part in the shared Redis."""

    def __init__(self, store: RedisStore, name: str) -> None:
        self.store = store
        self.name = name
        self.id = secrets.token_hex(6)
        """Unique even when two replicas are given the same name (and named in the states its rounds issue)."""

    @property
    def home(self) -> str:
        """This replica's id, as `RoundsRelay` names it."""
        return self.id

    async def signing_key(self) -> bytes:
        """The key every replica signs `request_state`s with."""
        return bytes.fromhex(await self.store.set_once("signing-key", secrets.token_hex(32)))

    async def forward(self, home: str, request: dict[str, Any]) -> dict[str, Any]:
        """What replica `home` answers to a round passed to it (`Rounds.answer_forwarded` on its side)."""
        gone = {
            "kind": "error",
            "code": INVALID_PARAMS,
            "message": "the replica that held this call stopped, and the call with it; send the request again "
            "from the start",
        }
        try:
            if not await self.store.exists(f"replica:{home}"):
                return gone
            reply = secrets.token_hex(12)
            await self.store.push(f"rounds:{home}", json.dumps({"reply": reply, "request": request}), FORWARD_SECONDS)
            with anyio.move_on_after(FORWARD_SECONDS):
                while (answer := await self.store.pop(f"reply:{reply}", HEARTBEAT_SECONDS)) is None:
                    if not await self.store.exists(f"replica:{home}"):  # it died while its call went on
                        return gone
                return dict(json.loads(answer))
        except SharedStateError as exc:
            return {"kind": "error", "code": INTERNAL_ERROR, "message": f"the round could not be passed on: {exc}"}
        return gone

    async def serve_rounds(self, answer: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]) -> None:
        """Answer the rounds other replicas pass here, until cancelled."""
        async with anyio.create_task_group() as tg:
            while True:
                try:
                    text = await self.store.pop(f"rounds:{self.id}", 5.0)
                except SharedStateError as exc:
                    logger.warning("rounds passed to this replica cannot be read: %s", exc)
                    await anyio.sleep(1.0)
                    continue
                if text is not None:
                    tg.start_soon(self._answer_round, text, answer)

    async def _answer_round(self, text: str, answer: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]) -> None:
        try:
            message = json.loads(text)
            reply, request = str(message["reply"]), dict(message["request"])
        except (ValueError, KeyError, TypeError):
            logger.warning("a round in this replica's queue is not one a replica sent; ignored")
            return
        outcome = await answer(request)
        try:
            await self.store.push(f"reply:{reply}", json.dumps(outcome), FORWARD_SECONDS)
        except SharedStateError as exc:
            logger.warning("the answer to a round passed here was lost: %s", exc)

    async def publish_config(self, text: str, source: str) -> None:
        """Tell every other replica to apply this config text."""
        message = json.dumps({"from": self.id, "text": text, "source": source})
        try:
            await self.store.publish("reload", message)
        except SharedStateError as exc:
            logger.warning("the reload was not passed on to the other replicas: %s", exc)

    async def peers(self) -> list[dict[str, object]]:
        """Every replica alive (this one included), with its last status, by name."""
        found: list[dict[str, object]] = []
        for key in await self.store.keys("replica:*"):
            record = await self.store.record(key)
            if "status" in record:
                found.append(
                    {
                        "id": record.get("id", key.removeprefix("replica:")),
                        "name": record.get("name", ""),
                        "seen": float(record.get("seen", "0")),
                        "self": record.get("id") == self.id,
                        **json.loads(record["status"]),
                    }
                )
        return sorted(found, key=lambda peer: (str(peer["name"]), str(peer["id"])))

    async def run(self, status: Callable[[], Mapping[str, object]], apply: ApplyFnT) -> None:
        """Beat and listen for reloads until cancelled; the replica's key is removed when it stops."""
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._beat, status)

                async def reloaded(text: str) -> None:
                    await self._reloaded(text, apply)

                tg.start_soon(self.store.listen, "reload", reloaded)
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                try:
                    await self.store.delete(f"replica:{self.id}")
                except SharedStateError:
                    pass  # it expires on its own

    async def beat(self, status: Callable[[], Mapping[str, object]]) -> None:
        """Write this replica's status now (`run` does it every `HEARTBEAT_SECONDS`)."""
        fields = {"id": self.id, "name": self.name, "seen": str(time.time()), "status": json.dumps(status())}
        try:
            await self.store.put(f"replica:{self.id}", fields, 3 * HEARTBEAT_SECONDS)
        except SharedStateError as exc:
            logger.warning("this replica's heartbeat was not written: %s", exc)

    async def _beat(self, status: Callable[[], Mapping[str, object]]) -> None:
        while True:
            await anyio.sleep(HEARTBEAT_SECONDS)
            await self.beat(status)

    async def _reloaded(self, text: str, apply: ApplyFnT) -> None:
        try:
            message = json.loads(text)
            sender, config, source = message["from"], message["text"], message["source"]
        except (ValueError, KeyError, TypeError):
            logger.warning("a reload message in Redis is not one a replica sent; ignored")
            return
        if sender == self.id:
            return
        logger.warning("applying the config replica %s reloaded (%s)", sender, source)
        await apply(str(config), f"{source} (reloaded on {sender})")
