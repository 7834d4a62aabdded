"""The native Kubernetes session provider: one pod per session.

In a controller, a steady tick reads a watch-fed pod cache (no request at all);
elsewhere ``list_running`` is one pod list by label selector. Metadata lives in pod
annotations and changes with a PATCH. Only the interaction hooks (``nudge``,
``peek``, ``interrupt``, ``send_keys``, ``clear_scrollback``, ``copy_to``) and the
staging upload use exec (a WebSocket on its own client). With leader election, every
create, delete and patch a controller makes is fenced by the lease, and so is each
step of a start (the wait for the pod, the staging, the first nudge) and every exec
that acts on an agent; only ``peek`` stays open to a follower.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from gascity import hookimpl
from gascity.errors import NotLeader, SessionError, SessionExists, SessionNotFound
from gascity.osutil.backoff import poll as _poll
from gascity.plugins import PluginContext, load_settings
from gascity.types import DoctorCheck, Liveness, RunningSession, StartConfig

from .claim import claim_city
from .client import ClientPair, load_configuration
from .coordination import K8sCoordination
from .doctor import k8s_checks
from .incontainer import (
    attach_argv,
    clear_history_argv,
    interrupt_argv,
    nudge_argv,
    peek_argv,
    send_keys_argv,
)
from .lease import LeaseElector
from .liveness import AGENT_CONTAINER, pod_liveness, running_session, session_name
from .naming import city_object, city_selector, meta_annotation, session_selector
from .podcache import PodCache
from .podspec import STAGE_ARGV, STAGE_CONTAINER, WORKSPACE, build_pod
from .settings import K8sSettings
from .staging import stage_tar

__all__ = ["K8sProvider"]

log = logging.getLogger("gascity.k8s")
T = TypeVar("T")
Pod = dict[str, Any]


class K8sProvider:
    """Entry point ``k8s`` in ``gascity.session``; settings ``[session.k8s]``."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.settings = load_settings(ctx, K8sSettings, env_prefix="GC_K8S_")
        self.city = ctx.city_name
        self.ns = self.settings.namespace
        self._clients: ClientPair | None = None
        self._clients_lock = threading.Lock()
        self._exec_lock = threading.Lock()
        self._nudge_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self.cache: PodCache | None = None
        self.coord: K8sCoordination | None = None
        self.identity = self.settings.identity or (
            f"{ctx.env.get('GC_K8S_POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:6]}"
        )
        self.lease_name = city_object(self.city, "leader")
        self.state_configmap = city_object(self.city, "state")
        self.city_path = self.settings.city_path or os.path.realpath(ctx.city_dir)
        self._claimed = False

    def claim(self) -> None:
        """Make sure this namespace's pods of ``self.city`` are this city's (once per
        process): a same-name city elsewhere is refused before any pod is touched."""
        if not self._claimed:
            claim_city(
                self.clients, self.ns, city_object(self.city, "city"), self.city, self.city_path
            )
            self._claimed = True

    @property
    def clients(self) -> ClientPair:
        """The API clients, built on first use: commands that never talk to the
        cluster (``gc config validate``, ``gc config show``) need no kubeconfig."""
        if self._clients is None:
            with self._clients_lock:
                if self._clients is None:
                    pair = ClientPair(load_configuration(self.settings, self.ctx.env))
                    pair.identify(self.identity)
                    self._clients = pair
        return self._clients

    def start_cache(self, wait: float = 10.0) -> PodCache:
        """Start the watch-fed pod cache (the controller does, once); ``list_running``
        reads it from then on, whenever it is synced."""
        self.claim()
        if self.cache is None:
            self.cache = PodCache(
                self.clients,
                self.ns,
                city_selector(self.city),
                resync=self.settings.resync_seconds,
            ).start()
        self.cache.wait_synced(wait)
        return self.cache

    @hookimpl
    def coordination(self) -> K8sCoordination | None:
        """A controller starts: watch the pods, and join the election."""
        self.claim()
        if self.settings.watch_cache:
            self.start_cache()
        if not self.settings.leader_election:
            return None
        if self.coord is None:
            elector = LeaseElector(
                self.clients,
                self.ns,
                self.lease_name,
                self.identity,
                lease_duration=self.settings.lease_duration_seconds,
                renew_deadline=self.settings.renew_deadline_seconds,
                retry_period=self.settings.retry_period_seconds,
            )
            self.coord = K8sCoordination(self.clients, self.ns, elector, self.state_configmap)
            elector.start()
            # So that a lone controller (or a one-shot `gc start`) leads from its first tick.
            elector.attempted.wait(self.settings.renew_deadline_seconds)
        return self.coord

    @hookimpl
    def readiness(self, controller: Any) -> str | None:
        """``/readyz``: a follower is ready (it only waits, and the PodDisruptionBudget
        may count it); the leader is ready while its ticks succeed."""
        if self.coord is not None and not self.coord.elector.in_touch():
            return (
                f"cannot read lease {self.ns}/{self.lease_name} "
                f"(the API server has not answered for {self.settings.lease_duration_seconds:g}s)"
            )
        health = controller.health()
        if health["ready"]:
            return None
        return "leader without a recent good tick" + (
            f" (last: {controller.last_report.summary()})" if controller.last_report else ""
        )

    def _fence(self, what: str) -> None:
        """Refuse ``what`` while this controller takes part in the election and does
        not lead. Pod writes and every exec that acts on an agent (nudge, interrupt,
        keys, scrollback, copy, staging) are fenced: ``pods/exec`` is a create on a
        subresource, and a follower's dashboard API must not type into an agent the
        leader is driving. Peek only reads and stays open to followers. A process that
        never joined the election (a ``gc session nudge`` from the CLI) has no
        coordination and is never fenced."""
        if self.coord is not None:
            self.coord.fence(what)

    # ------------------------------------------------------------ api helpers

    def _api_error(self, exc: Exception) -> int:
        return int(getattr(exc, "status", 0) or 0)

    def _list(self, selector: str) -> list[Pod]:
        self.claim()
        result = self.clients.raw(
            self.clients.core.list_namespaced_pod, self.ns, label_selector=selector
        )
        items: list[Pod] = result.get("items") or []
        return items

    def _find(self, name: str) -> list[Pod]:
        """Every pod of this city whose annotation is exactly ``name``."""
        return [p for p in self._list(session_selector(self.city, name)) if session_name(p) == name]

    def _pod(self, name: str) -> Pod:
        live = [p for p in self._find(name) if not p["metadata"].get("deletionTimestamp")]
        if not live:
            raise SessionNotFound(f"no pod for session {name!r} in namespace {self.ns}")
        return live[0]

    def _read(self, pod: str) -> Pod | None:
        from kubernetes.client.exceptions import ApiException

        try:
            result: Pod = self.clients.raw(self.clients.core.read_namespaced_pod, pod, self.ns)
            return result
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _delete(self, pod: str, grace: int) -> bool:
        from kubernetes.client.exceptions import ApiException

        self._fence(f"deleting pod {pod}")
        try:
            self.clients.raw(
                self.clients.core.delete_namespaced_pod, pod, self.ns, grace_period_seconds=grace
            )
            return True
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise SessionError(f"deleting pod {pod}: {exc.reason}") from None

    def exec(
        self,
        pod: str,
        argv: Sequence[str],
        *,
        container: str = AGENT_CONTAINER,
        stdin: bytes | None = None,
        timeout: float = 30.0,
    ) -> tuple[int, str, str]:
        """Run ``argv`` in the pod (no shell unless argv says so); (exit code, out, err)."""
        from kubernetes.client.exceptions import ApiException
        from kubernetes.stream import stream

        try:
            with self._exec_lock:
                ws = stream(
                    self.clients.exec_core.connect_get_namespaced_pod_exec,
                    pod,
                    self.ns,
                    command=list(argv),
                    container=container,
                    stdin=stdin is not None,
                    stdout=True,
                    stderr=True,
                    tty=False,
                    _preload_content=False,
                )
        except ApiException as exc:
            if exc.status == 404:
                raise SessionNotFound(f"pod {pod} is gone") from None
            raise SessionError(f"exec in pod {pod} failed: {exc.reason or exc.body}") from None
        try:
            if stdin is not None:
                ws.write_stdin(stdin)
                ws.close_channel(0)
            ws.run_forever(timeout=timeout)
            if ws.is_open():
                raise SessionError(f"exec {argv[0]} in pod {pod} timed out after {timeout}s")
            out, err = ws.read_stdout() or "", ws.read_stderr() or ""
            return int(ws.returncode or 0), str(out), str(err)
        finally:
            ws.close()

    def _tmux(self, name: str, argv: Sequence[str]) -> str:
        pod = self._pod(name)["metadata"]["name"]
        code, out, err = self.exec(pod, argv)
        if code != 0:
            raise SessionError(f"{argv[0]} in session {name!r} failed ({code}): {err.strip()}")
        return out

    # ---------------------------------------------------------------- listing

    @hookimpl
    def list_running(self, prefix: str) -> list[RunningSession]:
        sessions = []
        pods = self.cache.snapshot() if self.cache is not None else None
        if pods is None:
            pods = self._list(city_selector(self.city))
        for pod in pods:
            record = running_session(pod)
            if record is not None and record.name.startswith(prefix):
                sessions.append(record)
        return sessions

    # -------------------------------------------------------------- lifecycle

    def _clear_stale(self, name: str, timeout: float) -> None:
        """A live pod means SessionExists; a dead or terminating one is removed first."""
        for pod in self._find(name):
            liveness, _ = pod_liveness(pod)
            if liveness is not Liveness.DEAD:
                raise SessionExists(f"session {name!r} is running (pod {pod['metadata']['name']})")
            pod_id = pod["metadata"]["name"]
            if not pod["metadata"].get("deletionTimestamp"):
                self._delete(pod_id, 0)

            def gone(p: str = pod_id) -> bool | None:
                return True if self._read(p) is None else None

            if _poll(gone, timeout) is None:
                raise SessionError(f"old pod {pod_id} of {name!r} is still terminating")

    @hookimpl
    def start(self, name: str, config: StartConfig) -> bool:
        from kubernetes.client.exceptions import ApiException

        deadline = time.monotonic() + config.startup_timeout
        self._clear_stale(name, config.startup_timeout)
        body = build_pod(
            city=self.city,
            name=name,
            command=config.command,
            work_dir=config.work_dir,
            settings=self.settings,
            agent=config.agent,
            env=config.env,
            pre_start=config.pre_start,
            # session_live runs with the setup in the pod's program, as it did when
            # the controller folded it into session_setup (same pod spec as before).
            session_setup=(*config.session_setup, *config.session_live),
            session_setup_script=config.session_setup_script,
            meta=config.meta,
            city_dir=str(self.ctx.city_dir),
            startup_timeout=config.startup_timeout,
        )
        pod = body["metadata"]["name"]
        self._fence(f"creating pod {pod}")
        try:
            created = self.clients.raw(self.clients.core.create_namespaced_pod, self.ns, body)
        except ApiException as exc:
            if exc.status == 409:
                raise SessionExists(f"pod {pod} for session {name!r} already exists") from None
            raise SessionError(f"creating pod {pod}: {exc.reason}: {exc.body}") from None
        if self.cache is not None:
            self.cache.observe(created)
        try:
            if not self.settings.prebaked:
                self._stage(pod, name, config, deadline)
            self._wait_started(pod, name, deadline)
        except BaseException:
            try:
                self._delete(pod, 0)
            except NotLeader:
                pass  # the new leader owns the half-started pod now
            raise
        if config.nudge:
            self._fence(f"nudging pod {pod}")
            self.nudge(name, config.nudge)
        return True

    def _stage(self, pod: str, name: str, config: StartConfig, deadline: float) -> None:
        """Copy the city, then the start config's overlays and ``copy_files``, into
        ``/workspace`` through the waiting init container (one exec)."""

        def stage_running() -> bool | None:
            self._fence(f"staging pod {pod}")  # a lease lost while waiting ends the start
            current = self._read(pod)
            if current is None:
                raise SessionError(f"pod {pod} of {name!r} vanished while staging")
            self._fail_if_dead(current, name)
            for status in current.get("status", {}).get("initContainerStatuses") or []:
                if status.get("name") == STAGE_CONTAINER and "running" in (
                    status.get("state") or {}
                ):
                    return True
            return None

        if _poll(stage_running, max(0.0, deadline - time.monotonic())) is None:
            raise SessionError(
                f"session {name!r}: pod {pod} still initializing (staging) at the startup timeout"
            )
        payload = stage_tar(
            self.ctx.city_dir,
            config.pack_overlay_dirs,
            config.overlay_dir,
            config.copy_files,
            warn=lambda text: log.warning("session %s: %s", name, text),
        )
        self._fence(f"staging pod {pod}")
        code, _, err = self.exec(
            pod,
            STAGE_ARGV,
            container=STAGE_CONTAINER,
            stdin=payload,
            timeout=max(5.0, deadline - time.monotonic()),
        )
        if code != 0:
            raise SessionError(
                f"session {name!r}: staging the city into {pod} failed: {err.strip()}"
            )

    def _fail_if_dead(self, pod: Pod, name: str) -> None:
        phase = pod.get("status", {}).get("phase")
        if phase in ("Failed", "Succeeded"):
            reasons = []
            for key in ("initContainerStatuses", "containerStatuses"):
                for status in pod["status"].get(key) or []:
                    term = (status.get("state") or {}).get("terminated")
                    if term:
                        reasons.append(
                            f"{status['name']} exited {term.get('exitCode')} "
                            f"({term.get('reason', '')})"
                        )
            raise SessionError(
                f"session {name!r}: pod {pod['metadata']['name']} died during startup: "
                + ("; ".join(reasons) or phase)
            )

    def _wait_started(self, pod: str, name: str, deadline: float) -> None:
        last = ["pending"]

        def started() -> bool | None:
            # Losing the lease while the pod starts ends this start now, not at the
            # startup timeout: the new leader owns the pod from here.
            self._fence(f"starting pod {pod}")
            current = self._read(pod)
            if current is None:
                raise SessionError(f"pod {pod} of {name!r} vanished during startup")
            self._fail_if_dead(current, name)
            liveness, detail = pod_liveness(current)
            last[0] = detail
            if liveness in (Liveness.ALIVE, Liveness.DEAD):
                return True
            return None

        if _poll(started, max(0.0, deadline - time.monotonic())) is None:
            raise SessionError(
                f"session {name!r}: pod {pod} still initializing ({last[0]}) at the startup timeout"
            )

    @hookimpl
    def stop(self, name: str) -> bool:
        stopped = False
        for pod in self._find(name):
            if pod["metadata"].get("deletionTimestamp"):
                continue
            stopped = (
                self._delete(pod["metadata"]["name"], self.settings.stop_grace_seconds) or stopped
            )
        self._nudge_locks.pop(name, None)
        return stopped

    # ------------------------------------------------------------ interaction

    @hookimpl
    def interrupt(self, name: str) -> bool:
        self._fence(f"interrupting session {name!r}")
        self._tmux(name, interrupt_argv())
        return True

    @hookimpl
    def is_running(self, name: str) -> bool | None:
        pods = [p for p in self._find(name) if not p["metadata"].get("deletionTimestamp")]
        states = {pod_liveness(p)[0] for p in pods}
        if Liveness.ALIVE in states:
            return True
        if not states or states == {Liveness.DEAD}:
            return False
        return None  # pending or unknown: the pod cannot say yet

    @hookimpl
    def send_keys(self, name: str, keys: Sequence[str]) -> bool:
        if keys:
            self._fence(f"sending keys to session {name!r}")
            self._tmux(name, send_keys_argv(*keys))
        return True

    @hookimpl
    def clear_scrollback(self, name: str) -> bool:
        self._fence(f"clearing the scrollback of session {name!r}")
        self._tmux(name, clear_history_argv())
        return True

    @hookimpl
    def copy_to(self, name: str, src: str, rel_dst: str) -> bool:
        """A tar of ``src`` unpacked in the agent container, under its working dir."""
        import io
        import posixpath
        import tarfile
        from pathlib import Path

        source = Path(src)
        if not source.exists():
            log.warning("copy_to %s: no such file or directory: %s", name, src)
            return True  # best-effort, as in the reference
        self._fence(f"copying {src} into session {name!r}")
        pod = self._pod(name)
        agent: dict[str, Any] = next(
            (c for c in pod["spec"]["containers"] if c["name"] == AGENT_CONTAINER), {}
        )
        root = posixpath.normpath(agent.get("workingDir") or WORKSPACE)
        dest = posixpath.normpath(posixpath.join(root, rel_dst)) if rel_dst else root
        if dest != root and not dest.startswith(root.rstrip("/") + "/"):
            raise SessionError(f"copy_to: {rel_dst!r} is outside the session's work dir {root}")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            if source.is_dir():
                tar.add(source, arcname=".")
                into = dest
            else:
                tar.add(source, arcname=posixpath.basename(dest) if rel_dst else source.name)
                into = posixpath.dirname(dest) if rel_dst else dest
        argv = ["sh", "-c", 'mkdir -p "$1" && tar -xf - -C "$1"', "copy-to", into]
        self._fence(f"copying {src} into session {name!r}")  # the tar took its time
        code, _, err = self.exec(pod["metadata"]["name"], argv, stdin=buffer.getvalue())
        if code != 0:
            raise SessionError(f"copy_to {name!r} failed ({code}): {err.strip()}")
        return True

    @hookimpl
    def nudge(self, name: str, text: str) -> bool:
        self._fence(f"nudging session {name!r}")
        with self._nudge_locks[name]:
            self._fence(f"nudging session {name!r}")  # the lease may have gone while queued
            self._tmux(name, nudge_argv(text))
        return True

    @hookimpl
    def peek(self, name: str, lines: int) -> str:
        out = self._tmux(name, peek_argv(lines))
        kept = out.rstrip("\n").split("\n")[-lines:] if lines > 0 else []
        return "\n".join(kept) + ("\n" if kept else "")

    @hookimpl
    def process_alive(self, name: str, process_names: Sequence[str]) -> bool | None:
        return None  # a pod listing cannot tell, and exec is kept for interaction only

    @hookimpl
    def attach(self, name: str) -> int:
        pod = self._pod(name)["metadata"]["name"]
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            raise SessionError("attach needs kubectl on PATH")
        argv = [kubectl, "-n", self.ns]
        if self.settings.context:
            argv += ["--context", self.settings.context]
        argv += [
            "exec",
            "-it",
            pod,
            "-c",
            AGENT_CONTAINER,
            "--",
            *attach_argv(),
        ]
        return subprocess.call(argv)

    # ---------------------------------------------------------------- metadata

    def _annotation(self, key: str) -> str:
        try:
            return meta_annotation(key)
        except ValueError as exc:
            raise SessionError(str(exc)) from None

    def _patch_annotations(self, name: str, changes: Mapping[str, str | None]) -> None:
        from kubernetes.client.exceptions import ApiException

        pod = self._pod(name)["metadata"]["name"]
        self._fence(f"patching pod {pod}")
        try:
            patched = self.clients.raw(
                self.clients.core.patch_namespaced_pod,
                pod,
                self.ns,
                {"metadata": {"annotations": dict(changes)}},
            )
        except ApiException as exc:
            if exc.status == 404:
                raise SessionNotFound(f"pod {pod} of {name!r} is gone") from None
            raise SessionError(f"patching pod {pod}: {exc.reason}") from None
        if self.cache is not None:
            self.cache.observe(patched)

    @hookimpl
    def get_meta(self, name: str, key: str) -> str | None:
        annotations = self._pod(name)["metadata"].get("annotations") or {}
        value = annotations.get(self._annotation(key))
        return None if value is None else str(value)

    @hookimpl
    def set_meta(self, name: str, key: str, value: str) -> bool:
        self._patch_annotations(name, {self._annotation(key): value})
        return True

    @hookimpl
    def remove_meta(self, name: str, key: str) -> bool:
        self._patch_annotations(name, {self._annotation(key): None})
        return True

    def leader_line(self) -> str:
        """Who holds the city's lease, for ``gc status`` (one GET when not electing)."""
        if self.coord is not None:
            elector = self.coord.elector
            me = " (this controller)" if elector.may_act() else ""
            return f"{elector.holder or 'nobody'}{me}, lease {self.ns}/{self.lease_name}"
        from kubernetes.client.exceptions import ApiException

        try:
            lease = self.clients.raw(
                self.clients.coordination.read_namespaced_lease, self.lease_name, self.ns
            )
        except ApiException as exc:
            if exc.status == 404:
                return f"nobody (no lease {self.ns}/{self.lease_name} yet)"
            return f"unknown (reading lease {self.ns}/{self.lease_name}: {exc.reason})"
        except Exception as exc:
            return f"unknown (reading lease {self.ns}/{self.lease_name}: {exc})"
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or "nobody"
        return (
            f"{holder}, renewed {spec.get('renewTime') or 'never'}, "
            f"{spec.get('leaseTransitions') or 0} transition(s), lease {self.ns}/{self.lease_name}"
        )

    @hookimpl
    def status_info(self) -> Mapping[str, Any]:
        info: dict[str, Any] = {
            "session.k8s.namespace": self.ns,
            "session.k8s.prebaked": self.settings.prebaked,
        }
        if self.settings.leader_election:
            info["session.k8s.leader"] = self.leader_line()
        return info

    @hookimpl
    def doctor_checks(self) -> list[DoctorCheck]:
        return k8s_checks(self.settings, self.ctx.env, self.city, self.city_path)

    @hookimpl
    def shutdown(self) -> None:
        if self.coord is not None:
            self.coord.release()
        if self.cache is not None:
            self.cache.stop()
        if self._clients is not None:
            self._clients.close()


if TYPE_CHECKING:
    from gascity.hookspecs import SessionProvider

    # mypy checks the class against the role's hook contract.
    _contract: type[SessionProvider] = K8sProvider
