"""The HTTP server of ``[api]``: probes, metrics, the JSON API, SSE and the dashboard.

Routes (JSON shaped like the reference's ``/v0`` API where it has an equivalent):

==========================================  ==========================================
``GET /healthz``, ``GET /health``           alive (200) with city, version, uptime
``GET /readyz``                             200 after the first tick, else 503 + reasons
``GET /metrics``                            Prometheus text format
``GET /v0/status``                          city summary
``GET /v0/api``                             the API's version and whether it is read-only
``GET /v0/agents``, ``GET /v0/agent/NAME``  agents: desired vs running, state, reasons
``GET /v0/pools``                           pools: desired vs running, scale_check
``GET /v0/sessions``                        the latest listing
``GET /v0/session/NAME/peek?lines=N``       a session's recent output
``GET /v0/events?after_seq=&type=&since=``  events after a cursor (``next_cursor``)
``GET /v0/events/stream``                   Server-Sent Events (``after_seq``,
                                            ``Last-Event-ID``)
``GET /v0/mail/count?agent=NAME``           open/unread mail (every agent without one)
``POST /v0/agent/NAME/suspend|resume``      mutations: token, see :mod:`.auth`
``POST /v0/session/NAME/nudge|kill``
``POST /v0/reload``
``GET /``                                   the dashboard page
==========================================  ==========================================
"""

from __future__ import annotations

import json
import logging
import queue
import re
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from gascity import __version__
from gascity.config.durations import parse_duration
from gascity.errors import GasCityError
from gascity.types import Event, EventFilter

from . import mutations
from .auth import MutationPolicy, bind_or_default, is_loopback, load_or_create_token
from .feed import EventFeed
from .metrics import CONTENT_TYPE, Metrics
from .mutations import ApiError
from .plugin import api_thread
from .view import CityView

if TYPE_CHECKING:
    from gascity.controller.controller import Controller

    from .plugin import DashboardPlugin

__all__ = ["ApiServer"]

log = logging.getLogger("gascity.dashboard")

_KEEPALIVE = 15.0
_REPLAY_PAGE = 500
_MAX_BODY = 64 * 1024
_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/app.css": ("app.css", "text/css; charset=utf-8"),
}
_NAME = r"(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)"
# An agent also by the reference's qualified name: a rig's "frontend/witness".
_AGENT = r"(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*(?:/[A-Za-z0-9][A-Za-z0-9_.-]*)?)"


class ApiServer:
    """Owns the listener thread, the event feed and the metrics of one controller."""

    def __init__(self, controller: Controller, plugin: DashboardPlugin) -> None:
        api = controller.loaded.config.api
        self.controller = controller
        self.plugin = plugin
        self.bind = bind_or_default(api.bind)
        self.view = CityView(controller, plugin)
        self.feed = EventFeed(controller.hooks, on_event=self._stored_event)
        self.metrics = Metrics(self.view, self.feed)
        self.loopback = is_loopback(self.bind)
        self.policy = MutationPolicy(
            bind=self.bind, allow_mutations=api.allow_mutations,
            token=load_or_create_token(controller.paths.state_dir))
        handler = type("Handler", (_Handler,), {"api": self})
        self.httpd = _server_class(self.bind)((self.bind, api.port), handler)
        self.httpd.daemon_threads = True
        self.port: int = self.httpd.server_address[1]
        self._thread: threading.Thread | None = None
        self.closing = threading.Event()

    def host_allowed(self, host: str | None) -> bool:
        """On a loopback bind, only loopback names in ``Host``: a web page whose name
        an attacker re-points at 127.0.0.1 (DNS rebinding) gets nothing to read."""
        if not self.loopback:
            return True
        host = (host or "").strip().lower()
        name = host.split("]", 1)[0] + "]" if host.startswith("[") else host.rsplit(":", 1)[0]
        return name in ("localhost", "[::1]") or name.startswith("127.")

    def _stored_event(self, event: Event) -> None:
        self.metrics.on_stored_event(event.type)

    def start(self) -> None:
        self.feed.start()
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="gc-api",
                                        kwargs={"poll_interval": 0.5}, daemon=True)
        self._thread.start()
        mode = "read-only" if self.policy.read_only else "mutations need .gc/api-token"
        host = f"[{self.bind}]" if ":" in self.bind else self.bind
        log.info("api: serving http://%s:%d/ (%s)", host, self.port, mode)

    def close(self) -> None:
        self.closing.set()
        self.feed.close()
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ---------------------------------------------------------------- routes

    def get_routes(self) -> list[tuple[re.Pattern[str], Callable[..., Any]]]:
        return [
            (re.compile(r"/v0/status"), lambda q: self.view.status()),
            (re.compile(r"/v0/api"), lambda q: {
                "version": __version__, "read_only": self.policy.read_only,
                "token_file": ".gc/api-token"}),
            (re.compile(r"/v0/agents"), lambda q: _items(self.view.agents())),
            (re.compile(rf"/v0/agent/{_AGENT}"), self._agent),
            (re.compile(r"/v0/pools"), lambda q: _items(self.view.pools())),
            (re.compile(r"/v0/sessions"), lambda q: _items(self.view.session_items())),
            (re.compile(rf"/v0/session/{_NAME}/peek"), self._peek),
            (re.compile(r"/v0/events"), self._events),
            (re.compile(r"/v0/mail/count"), self._mail_count),
        ]

    def _agent(self, q: dict[str, str], name: str) -> Any:
        name = mutations.agent_name(self.controller, name)
        for row in self.view.agents():
            if row["name"] == name:
                return row
        raise ApiError(404, "not_found", f"agent {name!r} not found")

    def _peek(self, q: dict[str, str], name: str) -> Any:
        lines = _int(q, "lines", 50, 1, 2000)
        try:
            output = self.controller.hooks.peek(name, lines)
        except GasCityError as exc:
            raise ApiError(404, "not_found", f"{name}: {exc}") from exc
        return {"name": name, "lines": lines, "output": output}

    def _events(self, q: dict[str, str]) -> Any:
        # limit=0 is "as many as a page holds", as in the reference.
        limit = _int(q, "limit", 100, 0, 1000) or 1000
        # A reference client hands back next_cursor as ``cursor``; ours is a seq.
        cursor_key = "after_seq" if q.get("after_seq") or "cursor" not in q else "cursor"
        types = tuple(t for t in q.get("type", "").split(",") if t)
        newest = q.get("newest", "") in ("1", "true")
        since = None
        if q.get("since"):
            try:
                ago = parse_duration(q["since"])
            except ValueError as exc:
                raise ApiError(400, "invalid", f"since: {exc}, got {q['since']!r}") from None
            since = datetime.now(UTC) - timedelta(seconds=ago)
        filt = EventFilter(types=types, actor=q.get("actor") or None, since=since,
                           after_seq=_int(q, cursor_key, 0, 0, None), limit=limit,
                           newest=newest)
        try:
            events = self.controller.hooks.list_events(filt)
        except GasCityError as exc:
            raise ApiError(503, "events_unavailable", str(exc)) from exc
        body: dict[str, Any] = {"items": [e.to_json() for e in events], "total": len(events)}
        if len(events) == limit and not newest:
            body["next_cursor"] = str(events[-1].seq)
        return body

    def _mail_count(self, q: dict[str, str]) -> Any:
        agent = q.get("agent")
        names = [agent] if agent else [a.name for a in self.controller.loaded.config.agent]
        try:
            counts = self.view.mail_counts(names)
        except GasCityError as exc:
            raise ApiError(503, "mail_unavailable", str(exc)) from exc
        return {"total": sum(c["total"] for c in counts.values()),
                "unread": sum(c["unread"] for c in counts.values()),
                "agents": counts}

    def post(self, path: str, body: dict[str, Any]) -> Any:
        controller = self.controller
        running = {row.name for row in self.view.sessions()}
        if m := re.fullmatch(rf"/v0/agent/{_AGENT}/(?P<action>suspend|resume)", path):
            return mutations.set_agent_suspended(
                controller, mutations.agent_name(controller, m["name"]),
                m["action"] == "suspend")
        if m := re.fullmatch(rf"/v0/session/{_NAME}/nudge", path):
            text = body.get("text") if isinstance(body.get("text"), str) else ""
            return mutations.nudge(controller, m["name"], str(text), running)
        if m := re.fullmatch(rf"/v0/session/{_NAME}/kill", path):
            return mutations.kill(controller, m["name"], running)
        if path == "/v0/reload":
            return mutations.reload(controller)
        raise ApiError(404, "not_found", f"no such endpoint: POST {path}")


def _server_class(bind: str) -> type[ThreadingHTTPServer]:
    # ThreadingHTTPServer is IPv4 only; "::1" (a local bind in the reference) and "::"
    # need an IPv6 socket.
    if ":" not in bind:
        return ThreadingHTTPServer
    return type("ThreadingHTTPServer6", (ThreadingHTTPServer,),
                {"address_family": socket.AF_INET6})


def _items(items: list[Any]) -> dict[str, Any]:
    return {"items": items, "total": len(items)}


def _int(q: dict[str, str], key: str, default: int, lo: int, hi: int | None) -> int:
    raw = q.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid", f"{key}: expected an integer, got {raw!r}") from None
    if value < lo or (hi is not None and value > hi):
        bound = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ApiError(400, "invalid", f"{key}: expected {bound}, got {value}")
    return value


class _Handler(BaseHTTPRequestHandler):
    api: ApiServer
    server_version = f"gascity/{__version__}"
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: a response leaves in two writes (headers, then body); with Nagle the
    # body waited for the client's delayed ACK, 40 ms on every keep-alive request.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        # Each request has a thread of its own (ThreadingHTTPServer).
        api_thread.serving = True
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("api: %s - %s", self.address_string(), format % args)

    # ------------------------------------------------------------- responses

    def _send(self, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        body = (json.dumps(data, default=str) + "\n").encode()
        self._send(status, body, "application/json; charset=utf-8")

    def _error(self, status: int, code: str, message: str) -> None:
        self._json(status, {"code": code, "message": message})

    # --------------------------------------------------------------- methods

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        api = self.api
        if not api.host_allowed(self.headers.get("Host")):
            self._error(403, "host", "this server answers only to a loopback host name")
            return
        try:
            if path in ("/healthz", "/health"):
                self._json(200, {"status": "ok", "city": api.controller.city.name,
                                 "version": __version__,
                                 "uptime_sec": int(time.time() - api.view.started)})
                return
            if path == "/readyz":
                reasons = api.view.not_ready()
                self._json(503 if reasons else 200,
                           {"status": "not ready" if reasons else "ready",
                            "reasons": reasons})
                return
            if path == "/metrics":
                self._send(200, api.metrics.render(), CONTENT_TYPE)
                return
            if path == "/v0/events/stream":
                self._stream(q)
                return
            if path in _STATIC:
                name, ctype = _STATIC[path]
                data = resources.files("gascity_dashboard").joinpath("static", name)
                self._send(200, data.read_bytes(), ctype)
                return
            for pattern, handler in api.get_routes():
                m = pattern.fullmatch(path)
                if m:
                    self._json(200, handler(q, **m.groupdict()))
                    return
            self._error(404, "not_found", f"no such endpoint: GET {path}")
        except ApiError as exc:
            self._error(exc.status, exc.code, exc.message)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:
            log.exception("api: GET %s failed", path)
            self._error(500, "internal", f"{type(exc).__name__}: {exc}")

    do_HEAD = do_GET

    def do_POST(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        api = self.api
        if not api.host_allowed(self.headers.get("Host")):
            self._error(403, "host", "this server answers only to a loopback host name")
            return
        try:
            refused = api.policy.check(self.headers.get("Authorization"))
            if refused is not None:
                self._error(*refused)
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_BODY:
                raise ApiError(413, "too_large", f"request body over {_MAX_BODY} bytes")
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError as exc:
                raise ApiError(400, "invalid", f"body: expected JSON: {exc}") from None
            if not isinstance(body, dict):
                raise ApiError(400, "invalid", "body: expected a JSON object")
            log.info("api: POST %s from %s", path, self.address_string())
            self._json(200, api.post(path, body))
        except ApiError as exc:
            self._error(exc.status, exc.code, exc.message)
        except Exception as exc:
            log.exception("api: POST %s failed", path)
            self._error(500, "internal", f"{type(exc).__name__}: {exc}")

    def do_PUT(self) -> None:
        self._refuse()

    def do_PATCH(self) -> None:
        self._refuse()

    def do_DELETE(self) -> None:
        self._refuse()

    def _refuse(self) -> None:
        refused = self.api.policy.check(self.headers.get("Authorization"))
        if refused is not None:
            self._error(*refused)
        else:
            self._error(HTTPStatus.METHOD_NOT_ALLOWED, "method", f"{self.command} not supported")

    # ------------------------------------------------------------------- SSE

    def _stream(self, q: dict[str, str]) -> None:
        api = self.api
        after = _int(q, "after_seq", -1, 0, None) if "after_seq" in q else -1
        last_id = self.headers.get("Last-Event-ID")
        if last_id and last_id.isdigit():
            after = int(last_id)
        types = frozenset(t for t in q.get("type", "").split(",") if t)
        sub = api.feed.subscribe()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("X-Accel-Buffering", "no")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            self.wfile.write(b": connected\n\n")
            self.wfile.flush()
            sent = self._replay(after, types) if after >= 0 else 0
            while not api.closing.is_set() and not sub.overflowed:
                try:
                    live = sub.get(timeout=_KEEPALIVE)
                except queue.Empty:
                    self.wfile.write(b": keepalive\n\n")
                    self.wfile.flush()
                    continue
                if live is None:
                    return
                if live.seq > sent:
                    self._sse(live, types)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
        finally:
            sub.close()

    def _replay(self, after: int, types: frozenset[str]) -> int:
        """Send the stored events after ``after``, page by page up to the newest; the
        subscription already buffers what arrives meanwhile, and the returned seq drops
        the overlap. (One page only would lose what lies between it and the live feed.)"""
        sent = after
        while True:
            page = self.api.controller.hooks.list_events(
                EventFilter(after_seq=sent, limit=_REPLAY_PAGE))
            for event in page:
                self._sse(event, types)
                sent = event.seq
            if len(page) < _REPLAY_PAGE:
                return sent

    def _sse(self, event: Event, types: frozenset[str]) -> None:
        if types and event.type not in types:
            return
        data = json.dumps(event.to_json(), default=str)
        self.wfile.write(f"event: {event.type}\nid: {event.seq}\ndata: {data}\n\n".encode())
        self.wfile.flush()
