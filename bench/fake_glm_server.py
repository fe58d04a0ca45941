"""The GLM emulator as a process for benchmarks: each request asks for one echo call, then answers; with `--answer`,
every request is answered at once with a short text (the model hop measured alone)."""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes.fake_glm import FakeGlm, Reply


def script(body: dict[str, Any]) -> Reply:
    tool_results = [m for m in body["messages"] if m.get("role") == "tool"]
    if tool_results:
        return Reply(content=f"The echo said {tool_results[-1]['content']}.")
    tools = [t["function"]["name"] for t in body.get("tools", [])]
    name = next((t for t in tools if t.endswith("echo")), "echo")
    return Reply(reasoning="Use the echo tool.", tool_calls=[(name, json.dumps({"text": "hello"}))])


def answer(body: dict[str, Any]) -> Reply:
    return Reply(content="The answer is a short sentence of a few words, streamed word by word.")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--answer", action="store_true", help="answer every request with text, never a tool call")
    args = parser.parse_args()
    fake = FakeGlm(answer if args.answer else script, generation="2026")
    uvicorn.run(fake.app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
