"""Real engines for the replica tests: Debian's `redis-server` and `nginx`, as processes on 127.0.0.1."""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from anyio.streams.text import TextReceiveStream

NGINX_MAIN = """
worker_processes 1;
error_log {root}/error.log warn;
pid {root}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    include {root}/glm-mcp.conf;
}}
"""
"""The frame nginx's own image gives `conf.d/`; the server and upstream blocks are the compose file's own
(`deploy/compose/nginx.conf`), pointed at the replicas of the test."""

SHIPPED_CONF = Path(__file__).resolve().parent.parent / "deploy" / "compose" / "nginx.conf"


def nginx_config(folder: Path, upstreams: Sequence[str], port: int) -> Path:
    """Write nginx's configuration into `folder`: the compose file's, balancing over `upstreams` (`host:port`) and
    listening on 127.0.0.1:`port`, with everything nginx writes kept in `folder`; returns its path."""
    shipped = SHIPPED_CONF.read_text()
    servers = "".join(f"    server {upstream} max_fails=1 fail_timeout=10s;\n" for upstream in upstreams)
    shipped = re.sub(r"(upstream glm_mcp \{\n)(?:\s*server [^\n]*\n)+", lambda m: m.group(1) + servers, shipped)
    shipped = re.sub(r"listen 8080;", f"listen 127.0.0.1:{port};", shipped)
    assert servers in shipped and str(port) in shipped, "deploy/compose/nginx.conf changed shape: update this helper"
    (folder / "glm-mcp.conf").write_text(shipped)
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_MAIN.format(root=folder))
    return conf


def free_port() -> int:
    """A port free on 127.0.0.1 now (nginx cannot be told to pick one itself)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@asynccontextmanager
async def redis_server(folder: Path) -> AsyncGenerator[str, None]:
    """A fresh `redis-server` on a Unix socket in `folder`, without persistence; yields its URL."""
    binary = shutil.which("redis-server")
    assert binary is not None, "Debian's redis-server is needed (apt-get install redis-server)"
    sock = folder / "redis.sock"
    command = [
        binary,
        "--port",
        "0",
        "--unixsocket",
        str(sock),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(folder),
    ]
    process = await anyio.open_process(command)
    ready = anyio.Event()

    async def read_log() -> None:  # to the end: a full pipe would stall redis
        seen: list[str] = []
        assert process.stdout is not None
        async for chunk in TextReceiveStream(process.stdout):
            seen.append(chunk)
            if "ready to accept connections" in "".join(seen[-3:]).lower():
                ready.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(read_log)
        try:
            with anyio.fail_after(30):  # hang guard: redis starts in milliseconds
                await ready.wait()
            yield f"unix://{sock}"
        finally:
            with contextlib.suppress(ProcessLookupError):  # a test may have shut it down already
                process.terminate()
            with anyio.fail_after(20):  # hang guard: a stopped engine exits at once
                await process.wait()
            tg.cancel_scope.cancel()


@asynccontextmanager
async def nginx_proxy(folder: Path, upstreams: Sequence[str]) -> AsyncGenerator[str, None]:
    """Debian's `nginx` with the compose file's configuration, balancing round robin over `upstreams` (`host:port`);
    yields its URL."""
    binary = shutil.which("nginx", path="/usr/sbin:/usr/bin:/sbin:/bin")
    assert binary is not None, "Debian's nginx is needed (apt-get install nginx)"
    port = free_port()
    conf = nginx_config(folder, upstreams, port)
    process = await anyio.open_process([binary, "-p", str(folder), "-c", str(conf), "-g", "daemon off;"])
    try:
        with anyio.fail_after(30):  # hang guard: waits for nginx to accept connections
            while True:
                try:
                    stream = await anyio.connect_tcp("127.0.0.1", port)
                except OSError:
                    if process.returncode is not None:
                        raise AssertionError((folder / "error.log").read_text()) from None
                    await anyio.sleep(0.05)  # nginx says nothing when it listens: poll for the socket
                    continue
                await stream.aclose()
                break
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        with anyio.fail_after(20):  # hang guard: a stopped engine exits at once
            await process.wait()
