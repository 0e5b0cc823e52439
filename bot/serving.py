"""Serve an ASGI app inside the running event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass
from typing import Any

import uvicorn

from bot.errors import ConfigError


@dataclass
class RunningServer:
    server: uvicorn.Server
    task: asyncio.Task[None]
    base_url: str

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task


def bind(host: str, port: int, setting: str = "PAYBOT_HTTP_PORT") -> socket.socket:
    """A listening socket, taken before anything else starts.

    A port in use becomes one line naming ``setting``, not a traceback from
    deep inside the server.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        message = f"{setting}: cannot listen on {host}:{port} ({exc.strerror})"
        raise ConfigError(message) from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def start_server(app: Any, sock: socket.socket) -> RunningServer:
    """Start serving ``app`` on ``sock``; returns once it listens."""
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    # The host program owns Ctrl-C; the server must not capture it.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # raises the start-up error
            raise OSError("the HTTP server stopped while starting")
        await asyncio.sleep(0.01)
    host, port = sock.getsockname()[:2]
    return RunningServer(server, task, f"http://{host}:{port}")
