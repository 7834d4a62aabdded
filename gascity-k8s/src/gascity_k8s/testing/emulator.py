"""An in-process Kubernetes API server for tests and benchmarks.

The official ``kubernetes`` client and a real ``kubectl`` talk to it over HTTP
through a kubeconfig it writes, exactly as to a cluster: discovery, pods CRUD
in namespaces, label and field selectors, ``resourceVersion`` bumped on every
write, ``Status`` bodies with 404/409/422, merge / strategic-merge / JSON patches,
graceful deletion (``deletionTimestamp`` first, then gone), and ``pods/exec``
over WebSocket backed by real local processes (see :mod:`.kubelet`).

It counts requests and can add a fixed latency to each, so tests can assert
"one request per tick" and benchmarks can model a remote cluster.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from aiohttp import web

from .exec_ws import serve_exec
from .kubelet import Kubelet
from .selectors import SelectorError
from .store import ApiError, PodStore, status_body

__all__ = ["KubeEmulator"]

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
            "verbs": ["create", "delete", "get", "list", "patch", "update"],
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
    ],
}


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body), status=status, content_type="application/json")


class KubeEmulator:
    """Start with :meth:`start` (or as a context manager); stop with :meth:`stop`.

    :param latency: seconds added to every request before it is served.
    :param simulate: run no processes; pods become Running and ready at once.
    :param probe_period: how often the kubelet runs exec probes.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        simulate: bool = False,
        probe_period: float = 0.1,
        root: Path | None = None,
    ) -> None:
        self.latency = latency
        self._tmp = tempfile.TemporaryDirectory(prefix="gck8s-") if root is None else None
        assert self._tmp is not None or root is not None
        self.root: Path = root if root is not None else Path(self._tmp.name)  # type: ignore[union-attr]
        self.store = PodStore()
        self.kubelet = Kubelet(self.store, self.root, simulate=simulate, probe_period=probe_period)
        self.requests: Counter[str] = Counter()
        """Requests served, keyed ``"VERB path-kind"`` (``"GET pods"``, ``"PATCH pod"``)."""
        self.log: list[tuple[str, str]] = []
        self.namespaces: set[str] = {"default", "kube-system"}
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

    def reset_counts(self) -> None:
        self.requests.clear()
        self.log.clear()

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
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        kind = request.path.rstrip("/").rsplit("/", 1)[-1]
        if request.match_info.get("name") and kind == request.match_info["name"]:
            kind = "pod"
        self.requests[f"{request.method} {kind}"] += 1
        self.log.append((request.method, request.path_qs))
        if self.latency:
            await asyncio.sleep(self.latency)
        # kubectl withholds bearer tokens over plain HTTP, so only a wrong token is refused.
        auth = request.headers.get("Authorization")
        if auth is not None and auth != f"Bearer {TOKEN}":
            return _json(status_body(401, "Unauthorized", "Unauthorized"), 401)
        try:
            return await handler(request)
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
        return _json({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})

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

    async def _list_pods(self, request: web.Request) -> web.Response:
        if request.query.get("watch") in ("true", "1"):
            raise ApiError(405, "MethodNotAllowed", "watch is not supported by the emulator")
        text = self.store.list_json(
            request.match_info.get("ns"),
            request.query.get("labelSelector"),
            request.query.get("fieldSelector"),
        )
        return web.Response(text=text, content_type="application/json")

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
