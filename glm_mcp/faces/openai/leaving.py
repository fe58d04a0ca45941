"""A request's answer that ends when its client leaves: a client that goes away before its answer is complete cancels
the run behind it (the model request, the running tool calls).

Under the gateway's own HTTP protocol the host says when the client leaves (`ON_DISCONNECT`), and nothing waits for
it; under another ASGI server, a listener waits on `receive` beside the answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from starlette.types import Receive, Scope, Send

from glm_mcp.faces.caller import ON_DISCONNECT

AnswerFnT = Callable[[Send], Awaitable[None]]
"""Writes the answer through the `send` it is given."""


async def until_client_leaves(scope: Scope, receive: Receive, send: Send, answer: AnswerFnT) -> None:
    """Run `answer`, cancelled if the client leaves first. Call it once the request's body has arrived."""
    hooks: list[Callable[[], None]] | None = scope.get(ON_DISCONNECT)
    if hooks is not None:
        with anyio.CancelScope() as run:
            hooks.append(run.cancel)
            try:
                await answer(send)
            finally:
                hooks.remove(run.cancel)
        return
    async with anyio.create_task_group() as tg:
        answered = [False]

        async def listen() -> None:
            # Once the answer is complete, uvicorn answers this receive with a disconnect: the listener then ends on
            # its own, and the run is not cancelled (a cancel costs anyio a task's repr).
            while (await receive())["type"] != "http.disconnect":
                pass
            if not answered[0]:
                tg.cancel_scope.cancel()

        tg.start_soon(listen)

        async def marked(message: Any) -> None:
            await send(message)
            answered[0] = message["type"] == "http.response.body" and not message.get("more_body", False)

        await answer(marked)
        if not answered[0]:
            tg.cancel_scope.cancel()
