"""Real engines for the replica tests: Debian's `redis-server` and `nginx`, as processes on 127.0.0.1."""

from __future__ import annotations

import shutil
import socket
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from anyio.streams.text import TextReceiveStream

NGINX_CONF = """
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
    upstream glm_mcp {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://glm_mcp;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 300s;
            proxy_next_upstream error timeout non_idempotent;
        }}
    }}
}}
"""
"""Round robin without session affinity, as a team would put in front of replicas; a request that could not
reach a replica at all (connection refused) goes to the next one."""


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
            process.terminate()
            with anyio.fail_after(20):  # hang guard: a stopped engine exits at once
                await process.wait()
            tg.cancel_scope.cancel()


@asynccontextmanager
async def nginx_proxy(folder: Path, upstreams: Sequence[str]) -> AsyncGenerator[str, None]:
    """Debian's `nginx` balancing round robin over `upstreams` (`host:port`); yields its URL."""
    binary = shutil.which("nginx", path="/usr/sbin:/usr/bin:/sbin:/bin")
    assert binary is not None, "Debian's nginx is needed (apt-get install nginx)"
    port = free_port()
    servers = "\n".join(f"        server {upstream} max_fails=1 fail_timeout=30s;" for upstream in upstreams)
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(root=folder, servers=servers, port=port))
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
