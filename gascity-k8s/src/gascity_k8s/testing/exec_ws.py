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


async def serve_exec(
    request: web.Request, proc: subprocess.Popen[bytes], argv: list[str], pool: ThreadPoolExecutor
) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=0)
    await ws.prepare(request)
    loop = asyncio.get_running_loop()
    send_lock = asyncio.Lock()

    async def send(channel: int, data: bytes) -> None:
        async with send_lock:
            if not ws.closed:
                await ws.send_bytes(bytes([channel]) + data)

    async def pump(stream: IO[bytes] | None, channel: int) -> None:
        if stream is None:
            return
        reader: Any = stream
        while True:
            data: bytes = await loop.run_in_executor(pool, reader.read1, 65536)
            if not data:
                return
            await send(channel, data)

    def close_stdin() -> None:
        if proc.stdin and not proc.stdin.closed:
            try:
                proc.stdin.close()
            except OSError:
                pass

    def write_stdin(data: bytes) -> None:
        if proc.stdin and not proc.stdin.closed:
            try:
                proc.stdin.write(data)
                proc.stdin.flush()
            except OSError:
                pass

    async def receive() -> None:
        async for msg in ws:
            if msg.type in (WSMsgType.BINARY, WSMsgType.TEXT):
                data = msg.data if isinstance(msg.data, bytes) else msg.data.encode()
                if not data:
                    continue
                channel, payload = data[0], data[1:]
                if channel == STDIN and payload:
                    await loop.run_in_executor(pool, write_stdin, payload)
                elif channel == CLOSE and payload[:1] == bytes([STDIN]):
                    await loop.run_in_executor(pool, close_stdin)
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
        await loop.run_in_executor(pool, close_stdin)

    receiver = asyncio.create_task(receive())
    await asyncio.gather(pump(proc.stdout, STDOUT), pump(proc.stderr, STDERR))
    code = await loop.run_in_executor(pool, proc.wait)
    close_stdin()
    if ws.ws_protocol in ("v4.channel.k8s.io", "v5.channel.k8s.io"):
        await send(ERROR, json.dumps(exit_status(code, argv)).encode())
    receiver.cancel()
    await ws.close()
    return ws
