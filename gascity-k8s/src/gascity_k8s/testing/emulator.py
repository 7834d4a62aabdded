"""An in-process Kubernetes API server for tests and benchmarks.

The official ``kubernetes`` client and a real ``kubectl`` talk to it over HTTP
through a kubeconfig it writes, exactly as to a cluster: discovery, pods CRUD
in namespaces, label and field selectors, ``resourceVersion`` bumped on every
write, ``Status`` bodies with 404/409/422, merge / strategic-merge / JSON patches,
graceful deletion (``deletionTimestamp`` first, then gone), ``pods/exec``
over WebSocket backed by real local processes (see :mod:`.kubelet`), pod watches
(chunked streaming from a ``resourceVersion``, bookmarks, 410 Gone once the history
is compacted, server-side timeouts), and Leases and ConfigMaps with
``resourceVersion`` compare-and-swap (409 on conflict).

It counts requests and response bytes and can add a fixed latency to each, so tests
can assert "one request per tick" and benchmarks can model a remote cluster. Every
write is logged with its client's User-Agent and the Lease holders at that moment,
so a test can prove that no stale leader wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from aiohttp import web

from .exec_ws import serve_exec
from .kubelet import Kubelet
from .objects import ObjectStore
from .rbac import Attributes, Role, attributes
from .selectors import SelectorError, field_matcher, label_matcher
from .store import ApiError, PodStore, status_body

__all__ = ["KubeEmulator", "Write"]

COORDINATION = "/apis/coordination.k8s.io/v1"
WRITES = ("POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class Write:
    """One successful mutating request, as the server saw it."""

    at: float
    method: str
    path: str
    agent: str
    holders: dict[str, tuple[str, bool]]
    """Every Lease of the namespace at that moment: name -> (holder, still valid)."""
    name: str = ""
    """The object written (a create's path does not name it)."""


@dataclass(eq=False)
class _Watch:
    request: web.Request
    response: web.StreamResponse
    wake: asyncio.Event
    expired: bool = False

TOKEN = "gascity-emulator-token"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

API_RESOURCES = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": "v1",
    "resources": [
        {
            "name": "namespaces",
            "singularName": "namespace",
            "namespaced": False,
            "kind": "Namespace",
            "verbs": ["create", "delete", "get", "list"],
            "shortNames": ["ns"],
        },
        {
            "name": "pods",
            "singularName": "pod",
            "namespaced": True,
            "kind": "Pod",
            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
            "shortNames": ["po"],
            "categories": ["all"],
        },
        {
            "name": "pods/exec",
            "singularName": "",
            "namespaced": True,
            "kind": "PodExecOptions",
            "verbs": ["create", "get"],
        },
        {
            "name": "pods/status",
            "singularName": "",
            "namespaced": True,
            "kind": "Pod",
            "verbs": ["get"],
        },
        {
            "name": "configmaps",
            "singularName": "configmap",
            "namespaced": True,
            "kind": "ConfigMap",
            "verbs": ["create", "delete", "get", "list", "patch", "update"],
            "shortNames": ["cm"],
        },
    ],
}

COORDINATION_RESOURCES = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": "coordination.k8s.io/v1",
    "resources": [
        {
            "name": "leases",
            "singularName": "lease",
            "namespaced": True,
            "kind": "Lease",
            "verbs": ["create", "delete", "get", "list", "patch", "update"],
        }
    ],
}


def _written_name(response: web.StreamResponse) -> str:
    body = response.body if isinstance(response, web.Response) else None
    if not isinstance(body, bytes):
        return ""
    try:
        return str(json.loads(body).get("metadata", {}).get("name", ""))
    except (ValueError, AttributeError):
        return ""


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body), status=status, content_type="application/json")


class _PodStream:
    """What one pod watch sends: the matching events after the resourceVersion it
    reached, with the bytes counted per kind of line."""

    def __init__(self, store: PodStore, counter: Counter[str], response: web.StreamResponse,
                 ns: str | None, labels: str | None, fields: str | None) -> None:
        self.store, self.counter, self.response = store, counter, response
        self.ns, self.labels = ns, labels
        self.by_label = label_matcher(labels)
        self.by_field = field_matcher(fields)
        self.last = 0

    async def send(self, line: str, counted: str = "WATCH pods") -> None:
        data = (line + "\n").encode()
        self.counter[counted] += len(data)
        await self.response.write(data)

    def wanted(self, event_ns: str, pod: dict[str, Any]) -> bool:
        return (self.ns is None or event_ns == self.ns) and self.by_label(
            pod["metadata"].get("labels") or {}
        ) and self.by_field(pod)

    async def begin(self, since: str) -> None:
        if since != "0":
            self.last = int(since)
            return
        # "From now": the current objects first, as ADDED.
        snapshot = json.loads(self.store.list_json(self.ns, self.labels))
        self.last = int(snapshot["metadata"]["resourceVersion"])
        for pod in snapshot["items"]:
            if self.by_field(pod):
                await self.send(json.dumps({"type": "ADDED", "object": pod}))

    async def catch_up(self, expired: bool) -> bool:
        """Send what changed since the last pass; ``False`` once the watch ends on an
        ``ERROR`` event (an expired watch, or the store refused)."""
        if expired:
            error = status_body(410, "Expired", "too old resource version: cache reset")
            await self.send(json.dumps({"type": "ERROR", "object": error}))
            return False
        try:
            events, reached = self.store.events_since(self.last)
        except ApiError as exc:
            await self.send(json.dumps({"type": "ERROR", "object": exc.body}))
            return False
        for rv, kind, (event_ns, _), pod, text, previous in events:
            now = self.wanted(event_ns, pod)
            before = previous is not None and self.wanted(event_ns, previous)
            sent = kind
            if kind == "MODIFIED" and now and not before:
                sent = "ADDED"  # it moved into the selector: new to this watch
            elif kind == "MODIFIED" and before and not now and previous is not None:
                # It moved out: this watch sees it go, as it last matched, at this revision.
                gone = copy.deepcopy(previous)
                gone["metadata"]["resourceVersion"] = str(rv)
                await self.send(json.dumps({"type": "DELETED", "object": gone}))
                continue
            if now:
                await self.send(f'{{"type":"{sent}","object":{text}}}')
        self.last = max(self.last, reached)
        return True

    async def bookmark(self) -> None:
        mark = {"kind": "Pod", "apiVersion": "v1",
                "metadata": {"resourceVersion": str(self.last)}}
        await self.send(json.dumps({"type": "BOOKMARK", "object": mark}), "WATCH pods bookmark")


class KubeEmulator:
    """Start with :meth:`start` (or as a context manager); stop with :meth:`stop`.

    :param latency: seconds added to every request before it is served.
    :param simulate: run no processes; pods become Running and ready at once.
    :param probe_period: how often the kubelet runs exec probes.
    :param bookmark_interval: how often a watch that asked for bookmarks gets one.
    :param watch_timeout: the server's cap on a watch without ``timeoutSeconds``.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        simulate: bool = False,
        probe_period: float = 0.1,
        root: Path | None = None,
        bookmark_interval: float = 1.0,
        watch_timeout: float = 300.0,
    ) -> None:
        self.latency = latency
        self.bookmark_interval = bookmark_interval
        self.watch_timeout = watch_timeout
        self._tmp = tempfile.TemporaryDirectory(prefix="gck8s-") if root is None else None
        assert self._tmp is not None or root is not None
        self.root: Path = root if root is not None else Path(self._tmp.name)  # type: ignore[union-attr]
        self.store = PodStore()
        self.kubelet = Kubelet(self.store, self.root, simulate=simulate, probe_period=probe_period)
        self.leases = ObjectStore(
            "Lease", "leases", "coordination.k8s.io/v1", self.store.next_revision
        )
        self.configmaps = ObjectStore("ConfigMap", "configmaps", "v1", self.store.next_revision)
        self.requests: Counter[str] = Counter()
        """Requests served, keyed ``"VERB path-kind"`` (``"GET pods"``, ``"PATCH pod"``,
        ``"WATCH pods"``, ``"PUT lease"``)."""
        self.bytes: Counter[str] = Counter()
        """Response body bytes sent, keyed like :attr:`requests` (watch events included;
        bookmarks apart, as ``"WATCH pods bookmark"``: they come by the clock, not by change)."""
        self.agents: Counter[str] = Counter()
        """Requests by User-Agent (the k8s provider puts its replica identity there)."""
        self.log: list[tuple[str, str]] = []
        self.writes: list[Write] = []
        self._watches: set[_Watch] = set()
        self.namespaces: set[str] = {"default", "kube-system"}
        self.forbidden: set[str] = set()
        """Request keys (as in :attr:`requests`) answered 403 Forbidden, as RBAC would."""
        self.role: Role | None = None
        """When set, every resource request must be granted by this Role (as the API
        server's RBAC authorizer would); refusals are 403 and land in :attr:`denied`."""
        self.denied: list[Attributes] = []
        self._pool = ThreadPoolExecutor(max_workers=128, thread_name_prefix="emu-exec")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ------------------------------------------------------------------- api

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def request_count(self) -> int:
        return sum(self.requests.values())

    @property
    def bytes_sent(self) -> int:
        return sum(self.bytes.values())

    @property
    def active_watches(self) -> int:
        return len(self._watches)

    def reset_counts(self) -> None:
        self.requests.clear()
        self.bytes.clear()
        self.log.clear()

    def lease_holders(self, namespace: str) -> dict[str, tuple[str, bool]]:
        """name -> (holderIdentity, whether renewTime + leaseDurationSeconds is still ahead)."""
        now = time.time()
        holders: dict[str, tuple[str, bool]] = {}
        for item in self.leases.list(namespace)["items"]:
            spec = item.get("spec") or {}
            holder = str(spec.get("holderIdentity") or "")
            valid = False
            renewed = spec.get("renewTime")
            if holder and renewed:
                stamp = datetime.fromisoformat(str(renewed).replace("Z", "+00:00")).timestamp()
                valid = stamp + float(spec.get("leaseDurationSeconds") or 0) > now
            holders[item["metadata"]["name"]] = (holder, valid)
        return holders

    def break_watches(self) -> int:
        """Cut every open watch mid-stream (half an event, then the connection drops),
        as a load balancer or an API server restart does. Returns how many were cut."""
        assert self._loop is not None
        cut = asyncio.run_coroutine_threadsafe(self._break_watches(), self._loop)
        return cut.result(timeout=10)

    async def _break_watches(self) -> int:
        watches = list(self._watches)
        for w in watches:
            try:
                await w.response.write(b'{"type":"MODIFIED","object":{"kind":"Po')
            except (ConnectionError, RuntimeError):
                pass
            if w.request.transport is not None:
                w.request.transport.abort()
        return len(watches)

    def compact(self) -> None:
        """Drop the watch history: every watch from an older revision gets 410 Gone."""
        self.store.compact()

    def expire_watches(self) -> int:
        """What an API server whose watch cache restarts does: compact, answer every
        open watch with an ERROR 410 event and end it. Returns how many were ended."""
        assert self._loop is not None
        self.store.compact()

        async def expire() -> int:
            for w in self._watches:
                w.expired = True
                w.wake.set()
            return len(self._watches)

        return asyncio.run_coroutine_threadsafe(expire(), self._loop).result(timeout=10)

    def write_kubeconfig(
        self, path: Path, namespace: str = "default", context: str = "emulator"
    ) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": TOKEN}}],
            "contexts": [
                {
                    "name": context,
                    "context": {"cluster": "emulator", "user": "tester", "namespace": namespace},
                }
            ],
            "current-context": context,
        }
        path.write_text(yaml.safe_dump(config))
        return path

    def pods(self, namespace: str | None = None, selector: str = "") -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.store.list(namespace, selector)["items"]
        return items

    def add_running_pod(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create a pod that shows Running and ready but runs nothing (for counts at scale)."""
        with self.kubelet._lock:
            self.kubelet.simulated.add((namespace, body["metadata"]["name"]))
        return self.store.create(namespace, body)

    def start(self) -> KubeEmulator:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self._serve())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup() if self._runner else asyncio.sleep(0))
            loop.close()

        self._thread = threading.Thread(target=run, name="kube-emulator", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the Kubernetes emulator did not start")
        return self

    def stop(self) -> None:
        self.kubelet.shutdown()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> KubeEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- server

    async def _serve(self) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=256 * 1024 * 1024)
        r = app.router
        r.add_get("/version", self._version)
        r.add_get("/version/", self._version)  # the client's VersionApi asks this one
        r.add_get("/api", self._api)
        r.add_get("/apis", self._apis)
        r.add_get("/api/v1", self._api_v1)
        r.add_get("/api/v1/pods", self._list_pods)
        r.add_route("*", "/api/v1/namespaces", self._namespaces)
        r.add_get("/api/v1/namespaces/{ns}", self._namespace)
        r.add_get("/api/v1/namespaces/{ns}/pods", self._list_pods)
        r.add_post("/api/v1/namespaces/{ns}/pods", self._create_pod)
        r.add_get("/api/v1/namespaces/{ns}/pods/{name}", self._get_pod)
        r.add_get("/api/v1/namespaces/{ns}/pods/{name}/status", self._get_pod)
        r.add_patch("/api/v1/namespaces/{ns}/pods/{name}", self._patch_pod)
        r.add_put("/api/v1/namespaces/{ns}/pods/{name}", self._put_pod)
        r.add_delete("/api/v1/namespaces/{ns}/pods/{name}", self._delete_pod)
        r.add_route("*", "/api/v1/namespaces/{ns}/pods/{name}/exec", self._exec)
        r.add_get(COORDINATION, self._coordination)
        for prefix, objects in (
            (COORDINATION, self.leases),
            ("/api/v1", self.configmaps),
        ):
            self._object_routes(app, prefix, objects)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def _object_routes(self, app: web.Application, prefix: str, objects: ObjectStore) -> None:
        collection = f"{prefix}/namespaces/{{ns}}/{objects.plural}"
        item = collection + "/{name}"

        async def list_(request: web.Request) -> web.Response:
            return _json(objects.list(request.match_info["ns"]))

        async def create(request: web.Request) -> web.Response:
            return _json(objects.create(request.match_info["ns"], await request.json()), 201)

        async def get(request: web.Request) -> web.Response:
            return _json(objects.get(request.match_info["ns"], request.match_info["name"]))

        async def replace(request: web.Request) -> web.Response:
            ns, name = request.match_info["ns"], request.match_info["name"]
            return _json(objects.replace(ns, name, await request.json()))

        async def patch(request: web.Request) -> web.Response:
            ns, name = request.match_info["ns"], request.match_info["name"]
            body = await request.json()
            return _json(objects.patch(ns, name, body, request.content_type))

        async def delete(request: web.Request) -> web.Response:
            ns, name = request.match_info["ns"], request.match_info["name"]
            return _json(objects.delete(ns, name))

        r = app.router
        r.add_get(collection, list_)
        r.add_post(collection, create)
        r.add_get(item, get)
        r.add_put(item, replace)
        r.add_patch(item, patch)
        r.add_delete(item, delete)

    @staticmethod
    def _kind(request: web.Request) -> str:
        parts = request.path.rstrip("/").split("/")
        name = request.match_info.get("name")
        if name and parts[-1] == name and len(parts) >= 2:
            return parts[-2].removesuffix("s")  # one object: "pod", "lease", "configmap"
        return parts[-1]

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        verb = "WATCH" if request.query.get("watch") in ("true", "1") else request.method
        key = f"{verb} {self._kind(request)}"
        self.requests[key] += 1
        self.agents[request.headers.get("User-Agent", "")] += 1
        self.log.append((request.method, request.path_qs))
        if self.latency:
            await asyncio.sleep(self.latency)
        # kubectl withholds bearer tokens over plain HTTP, so only a wrong token is refused.
        auth = request.headers.get("Authorization")
        if auth is not None and auth != f"Bearer {TOKEN}":
            return _json(status_body(401, "Unauthorized", "Unauthorized"), 401)
        if key in self.forbidden:
            return _json(status_body(403, "Forbidden", f"{key} is forbidden"), 403)
        role = self.role
        attrs = attributes(request.method, request.path, request.query) if role else None
        if role is not None and attrs is not None and not role.allows(attrs):
            self.denied.append(attrs)
            return _json(status_body(403, "Forbidden", attrs.denial(role.user),
                                     name=attrs.name, kind=attrs.resource), 403)
        try:
            response = await handler(request)
            if isinstance(response, web.Response) and response.body is not None:
                self.bytes[key] += len(response.body)  # type: ignore[arg-type]
            if request.method in WRITES and response.status < 400:
                self.writes.append(
                    Write(
                        at=time.time(),
                        method=request.method,
                        path=request.path,
                        agent=request.headers.get("User-Agent", ""),
                        holders=self.lease_holders(request.match_info.get("ns", "")),
                        name=_written_name(response),
                    )
                )
            return response
        except ApiError as exc:
            return _json(exc.body, exc.code)
        except SelectorError as exc:
            return _json(status_body(400, "BadRequest", str(exc)), 400)
        except web.HTTPNotFound:
            return _json(
                status_body(404, "NotFound", "the server could not find the requested resource"),
                404,
            )
        except (ValueError, KeyError, TypeError) as exc:
            return _json(status_body(400, "BadRequest", f"invalid request: {exc}"), 400)

    async def _version(self, request: web.Request) -> web.Response:
        return _json(
            {
                "major": "1",
                "minor": "31",
                "gitVersion": "v1.31.0-gascity-emulator",
                "platform": "linux/amd64",
            }
        )

    async def _api(self, request: web.Request) -> web.Response:
        return _json(
            {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.port}"}
                ],
            }
        )

    async def _apis(self, request: web.Request) -> web.Response:
        version = {"groupVersion": "coordination.k8s.io/v1", "version": "v1"}
        group = {"name": "coordination.k8s.io", "versions": [version], "preferredVersion": version}
        return _json({"kind": "APIGroupList", "apiVersion": "v1", "groups": [group]})

    async def _coordination(self, request: web.Request) -> web.Response:
        return _json(COORDINATION_RESOURCES)

    async def _api_v1(self, request: web.Request) -> web.Response:
        return _json(API_RESOURCES)

    async def _namespaces(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            body = await request.json()
            name = body["metadata"]["name"]
            if name in self.namespaces:
                raise ApiError(409, "AlreadyExists", f'namespaces "{name}" already exists')
            self.namespaces.add(name)
            return _json(
                {
                    "kind": "Namespace",
                    "apiVersion": "v1",
                    "metadata": {"name": name},
                    "status": {"phase": "Active"},
                },
                201,
            )
        return _json(
            {
                "kind": "NamespaceList",
                "apiVersion": "v1",
                "metadata": {},
                "items": [
                    {"metadata": {"name": n}, "status": {"phase": "Active"}}
                    for n in sorted(self.namespaces)
                ],
            }
        )

    async def _namespace(self, request: web.Request) -> web.Response:
        return _json(
            {
                "kind": "Namespace",
                "apiVersion": "v1",
                "metadata": {"name": request.match_info["ns"]},
                "status": {"phase": "Active"},
            }
        )

    async def _list_pods(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") in ("true", "1"):
            return await self._watch_pods(request)
        text = self.store.list_json(
            request.match_info.get("ns"),
            request.query.get("labelSelector"),
            request.query.get("fieldSelector"),
        )
        return web.Response(text=text, content_type="application/json")

    async def _watch_pods(self, request: web.Request) -> web.StreamResponse:
        """A watch as the API server streams it: one JSON event per line in a chunked
        200 response, from the given resourceVersion on, until ``timeoutSeconds``."""
        query = request.query
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        timeout = min(float(query.get("timeoutSeconds") or self.watch_timeout), self.watch_timeout)
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()

        def notify() -> None:
            loop.call_soon_threadsafe(wake.set)

        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        this = _Watch(request, response, wake)
        stream = _PodStream(self.store, self.bytes, response, request.match_info.get("ns"),
                            query.get("labelSelector"), query.get("fieldSelector"))
        self.store.on_change.append(notify)
        self._watches.add(this)  # before the headers go out: a client that saw them can cut it
        try:
            await response.prepare(request)
            await stream.begin(query.get("resourceVersion") or "0")
            deadline = loop.time() + timeout
            next_bookmark = loop.time() + self.bookmark_interval
            while True:
                wake.clear()
                if not await stream.catch_up(this.expired):
                    break
                now = loop.time()
                if now >= deadline:
                    break
                if bookmarks and now >= next_bookmark:
                    await stream.bookmark()
                    next_bookmark = now + self.bookmark_interval
                until = min(deadline, next_bookmark) if bookmarks else deadline
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=max(0.0, until - now))
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the client went away, or the stream was cut
        finally:
            self.store.on_change.remove(notify)
            self._watches.discard(this)
        return response

    async def _create_pod(self, request: web.Request) -> web.Response:
        ns = request.match_info["ns"]
        body = await request.json()
        if request.query.get("dryRun"):
            return _json(body, 201)
        self.namespaces.add(ns)
        return _json(self.store.create(ns, body), 201)

    async def _get_pod(self, request: web.Request) -> web.Response:
        return _json(self.store.get(request.match_info["ns"], request.match_info["name"]))

    async def _patch_pod(self, request: web.Request) -> web.Response:
        body = await request.json()
        return _json(
            self.store.patch(
                request.match_info["ns"], request.match_info["name"], body, request.content_type
            )
        )

    async def _put_pod(self, request: web.Request) -> web.Response:
        body = await request.json()
        return _json(self.store.replace(request.match_info["ns"], request.match_info["name"], body))

    async def _delete_pod(self, request: web.Request) -> web.Response:
        grace: int | None = None
        if "gracePeriodSeconds" in request.query:
            grace = int(request.query["gracePeriodSeconds"])
        if request.can_read_body:
            raw = await request.read()
            if raw.strip():
                options = json.loads(raw)
                if options.get("gracePeriodSeconds") is not None:
                    grace = int(options["gracePeriodSeconds"])
        return _json(self.store.delete(request.match_info["ns"], request.match_info["name"], grace))

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        ns, name = request.match_info["ns"], request.match_info["name"]
        pod = self.store.get(ns, name)
        argv = request.query.getall("command", [])
        if not argv:
            raise ApiError(400, "BadRequest", "you must specify at least 1 command")
        containers = [c["name"] for c in pod["spec"]["containers"]]
        container = request.query.get("container") or containers[0]
        runtime = self.kubelet.runtime(ns, name)
        proc = runtime.procs.get(container) if runtime else None
        usable = (
            runtime is not None
            and not runtime.terminating
            and ((proc is not None and proc.poll() is None) or runtime.running_init == container)
        )
        if not usable:
            raise ApiError(
                400,
                "BadRequest",
                f"unable to upgrade connection: container not found ({container!r})",
            )
        assert runtime is not None
        stdin = request.query.get("stdin") in ("true", "1")
        loop = asyncio.get_running_loop()
        proc = await loop.run_in_executor(
            self._pool, self.kubelet.spawn, runtime, container, list(argv), stdin
        )
        runtime.execs.append(proc)
        try:
            return await serve_exec(request, proc, list(argv), self._pool)
        finally:
            runtime.execs.remove(proc)
