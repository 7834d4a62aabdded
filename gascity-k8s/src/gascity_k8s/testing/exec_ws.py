"""The ``pods/exec`` subresource over WebSocket, speaking the channel protocol.

Frames carry a channel byte then data: 0 stdin, 1 stdout, 2 stderr, 3 the final
``Status`` (v4+), 4 resize. ``v5.channel.k8s.io`` adds 255 = "close channel N",
which is how a client signals EOF on stdin.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

from aiohttp import WSMsgType, web

__all__ = ["PROTOCOLS", "serve_exec"]

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


def exit_status(code: int, argv: list[str]) -> dict[str, Any]:
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": "command terminated with non-zero exit code: "
        f"error executing command {argv}, exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


class _Channels:
    """One exec: the process's pipes bridged to the WebSocket's channels."""

    def __init__(self, ws: web.WebSocketResponse, proc: subprocess.Popen[bytes],
                 pool: ThreadPoolExecutor) -> None:
        self.ws, self.proc, self.pool = ws, proc, pool
        self.loop = asyncio.get_running_loop()
        self.send_lock = asyncio.Lock()

    async def send(self, channel: int, data: bytes) -> None:
        async with self.send_lock:
            if not self.ws.closed:
                await self.ws.send_bytes(bytes([channel]) + data)

    async def pump(self, stream: IO[bytes] | None, channel: int) -> None:
        if stream is None:
            return
        reader: Any = stream
        while True:
            data: bytes = await self.loop.run_in_executor(self.pool, reader.read1, 65536)
            if not data:
                return
            await self.send(channel, data)

    def close_stdin(self) -> None:
        stdin = self.proc.stdin
        if stdin and not stdin.closed:
            try:
                stdin.close()
            except OSError:
                pass

    def write_stdin(self, data: bytes) -> None:
        stdin = self.proc.stdin
        if stdin and not stdin.closed:
            try:
                stdin.write(data)
                stdin.flush()
            except OSError:
                pass

    async def receive(self) -> None:
        async for msg in self.ws:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
            if msg.type in (WSMsgType.BINARY, WSMsgType.TEXT):
                data = msg.data if isinstance(msg.data, bytes) else msg.data.encode()
                await self.frame(data)
        await self.loop.run_in_executor(self.pool, self.close_stdin)

    async def frame(self, data: bytes) -> None:
        if not data:
            return
        channel, payload = data[0], data[1:]
        if channel == STDIN and payload:
            await self.loop.run_in_executor(self.pool, self.write_stdin, payload)
        elif channel == CLOSE and payload[:1] == bytes([STDIN]):
            await self.loop.run_in_executor(self.pool, self.close_stdin)


async def serve_exec(
    request: web.Request, proc: subprocess.Popen[bytes], argv: list[str], pool: ThreadPoolExecutor
) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=0)
    await ws.prepare(request)
    channels = _Channels(ws, proc, pool)
    receiver = asyncio.create_task(channels.receive())
    await asyncio.gather(channels.pump(proc.stdout, STDOUT), channels.pump(proc.stderr, STDERR))
    code = await channels.loop.run_in_executor(pool, proc.wait)
    channels.close_stdin()
    if ws.ws_protocol in ("v4.channel.k8s.io", "v5.channel.k8s.io"):
        await channels.send(ERROR, json.dumps(exit_status(code, argv)).encode())
    receiver.cancel()
    await ws.close()
    return ws
