"""A kubelet for the emulator: pods run as real local processes.

Each pod gets a sandbox directory; its volumes are directories in it and every
``mountPath`` in a container's command, args, env and working dir is mapped onto
them, so ``/workspace`` inside "the pod" is a real directory. ``TMUX_TMPDIR`` points
into the sandbox, so each pod has its own tmux server and ``tmux`` run by exec
inside the pod reaches it. Init containers run to completion before the main
containers; exec startup/readiness probes run on a short period; deletion sends
SIGTERM, waits the grace period, then SIGKILL, as a real kubelet does.

``simulate=True`` runs nothing: pods go straight to Running and ready, for
benchmarks with a thousand pods.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .store import PodStore, now_iso

__all__ = ["Kubelet", "PodRuntime"]

Pod = dict[str, Any]
BACKOFF_REASONS = ("ErrImagePull", "ImagePullBackOff", "ContainerCreating", "PodInitializing")


@dataclass
class PodRuntime:
    ns: str
    name: str
    sandbox: Path
    uid: str = ""
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    execs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    running_init: str | None = None
    terminating: bool = False

    @property
    def tmux_dir(self) -> Path:
        return self.sandbox / "tmux"


def _mounts(pod: Pod, container: Mapping[str, Any], sandbox: Path) -> list[tuple[str, str]]:
    pairs = []
    for mount in container.get("volumeMounts") or []:
        local = sandbox / "volumes" / mount["name"]
        local.mkdir(parents=True, exist_ok=True)
        pairs.append((str(mount["mountPath"]).rstrip("/") or "/", str(local)))
    return sorted(pairs, key=lambda p: -len(p[0]))


def _mapper(mounts: list[tuple[str, str]]) -> Any:
    patterns = [
        (re.compile(r"(?<![A-Za-z0-9_./-])" + re.escape(mp) + r"(?=/|$|[^A-Za-z0-9_.-])"), local)
        for mp, local in mounts
    ]

    def apply(text: str) -> str:
        for pattern, local in patterns:
            text = pattern.sub(local.replace("\\", "\\\\"), text)
        return text

    return apply


class Kubelet:
    def __init__(
        self, store: PodStore, root: Path, *, simulate: bool = False, probe_period: float = 0.1
    ) -> None:
        self.store = store
        self.root = root
        self.simulate = simulate
        self.probe_period = probe_period
        self.runtimes: dict[tuple[str, str], PodRuntime] = {}
        self.held: set[tuple[str, str]] = set()
        self.hold_new = False
        """When true, new pods stay Pending until :meth:`release` (tests drive phases)."""
        self.simulated: set[tuple[str, str]] = set()
        """Pods to show Running without processes, whatever the mode (see ``add_running_pod``)."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._counter = 0
        store.on_create.append(self._created)
        store.on_delete.append(self._deleted)
        self._prober = threading.Thread(target=self._probe_loop, name="kubelet-probes", daemon=True)
        self._prober.start()

    # ------------------------------------------------------------- test driving

    def release(self, ns: str, name: str) -> None:
        """Let a held pod start."""
        with self._lock:
            self.held.discard((ns, name))
        self._launch(ns, name)

    def set_waiting(self, ns: str, name: str, reason: str, message: str = "") -> None:
        """Show the pod's containers waiting (``ImagePullBackOff``...), still Pending."""

        def mutate(pod: Pod) -> bool:
            pod["status"]["phase"] = "Pending"
            pod["status"]["containerStatuses"] = [
                {
                    "name": c["name"],
                    "ready": False,
                    "started": False,
                    "restartCount": 0,
                    "image": c.get("image", ""),
                    "imageID": "",
                    "state": {"waiting": {"reason": reason, "message": message}},
                }
                for c in pod["spec"]["containers"]
            ]
            return True

        self.store.update_status(ns, name, mutate)

    def set_phase(self, ns: str, name: str, phase: str) -> None:
        def mutate(pod: Pod) -> bool:
            pod["status"]["phase"] = phase
            return True

        self.store.update_status(ns, name, mutate)

    # ------------------------------------------------------------------- events

    def _created(self, ns: str, name: str) -> None:
        with self._lock:
            if (ns, name) in self.simulated:
                self.simulated.discard((ns, name))
                self.store.update_status(ns, name, self._simulated_running)
                return
            if self.hold_new:
                self.held.add((ns, name))
                return
        self._launch(ns, name)

    def _launch(self, ns: str, name: str) -> None:
        if self.simulate:
            self.store.update_status(ns, name, self._simulated_running)
            return
        with self._lock:
            self._counter += 1
            sandbox = self.root / f"p{self._counter}"
            runtime = PodRuntime(ns, name, sandbox, uid=self._uid(ns, name))
            self.runtimes[(ns, name)] = runtime
        (sandbox / "tmux").mkdir(parents=True)
        (sandbox / "home").mkdir()
        threading.Thread(target=self._run_pod, args=(runtime,), daemon=True).start()

    def _uid(self, ns: str, name: str) -> str:
        with self.store.lock:
            pod = self.store.pods.get((ns, name))
            return str(pod["metadata"].get("uid", "")) if pod else ""

    def _deleted(self, ns: str, name: str, grace: int) -> None:
        if self.simulate:
            self.store.remove(ns, name)
            return
        with self._lock:
            runtime = self.runtimes.get((ns, name))
            self.held.discard((ns, name))
        if runtime is None:
            self.store.remove(ns, name)
            return
        runtime.terminating = True
        threading.Thread(target=self._terminate, args=(runtime, grace), daemon=True).start()

    # -------------------------------------------------------------- lifecycle

    @staticmethod
    def _simulated_running(pod: Pod) -> bool:
        now = now_iso()
        pod["spec"]["nodeName"] = "emulated-node"
        pod["status"].update(
            phase="Running",
            startTime=now,
            podIP="10.0.0.1",
            containerStatuses=[
                {
                    "name": c["name"],
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "image": c.get("image", ""),
                    "imageID": "",
                    "state": {"running": {"startedAt": now}},
                }
                for c in pod["spec"]["containers"]
            ],
        )
        pod["status"]["conditions"].append(
            {"type": "Ready", "status": "True", "lastTransitionTime": now}
        )
        return True

    def environment(
        self, runtime: PodRuntime, container: Mapping[str, Any], pod: Pod
    ) -> tuple[dict[str, str], Any, str]:
        mapper = _mapper(_mounts(pod, container, runtime.sandbox))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(runtime.sandbox / "home"),
            "TERM": "xterm-256color",
            "LANG": "C.UTF-8",
            "HOSTNAME": runtime.name,
            "TMUX_TMPDIR": str(runtime.tmux_dir),
        }
        for item in container.get("env") or []:
            if "value" in item:
                env[item["name"]] = mapper(str(item["value"]))
        work = str(container.get("workingDir") or "/")
        mapped = mapper(work)
        if mapped == work and not Path(work).is_dir():
            mapped = str(runtime.sandbox / "rootfs" / work.lstrip("/"))
        Path(mapped).mkdir(parents=True, exist_ok=True)
        return env, mapper, mapped

    def spawn(
        self, runtime: PodRuntime, container_name: str, argv: list[str], stdin: bool
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` inside a container of the pod (exec, probes, the container)."""
        pod = self.store.get(runtime.ns, runtime.name)
        spec = [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]
        container = next(c for c in spec if c["name"] == container_name)
        env, mapper, cwd = self.environment(runtime, container, pod)
        return subprocess.Popen(
            [mapper(a) for a in argv],
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )

    def _status(self, runtime: PodRuntime, mutate: Any) -> None:
        self.store.update_status(runtime.ns, runtime.name, mutate)

    def _run_pod(self, runtime: PodRuntime) -> None:
        try:
            pod = self.store.get(runtime.ns, runtime.name)
        except Exception:
            return
        spec = pod["spec"]
        now = now_iso()
        inits = spec.get("initContainers") or []

        def scheduled(p: Pod) -> bool:
            p["spec"]["nodeName"] = "emulated-node"
            p["status"].update(startTime=now, podIP="10.0.0.1", hostIP="127.0.0.1")
            p["status"]["initContainerStatuses"] = [
                {
                    "name": c["name"],
                    "ready": False,
                    "restartCount": 0,
                    "image": c.get("image", ""),
                    "imageID": "",
                    "state": {"waiting": {"reason": "PodInitializing"}},
                }
                for c in inits
            ]
            p["status"]["containerStatuses"] = [
                {
                    "name": c["name"],
                    "ready": False,
                    "started": False,
                    "restartCount": 0,
                    "image": c.get("image", ""),
                    "imageID": "",
                    "state": {
                        "waiting": {"reason": "PodInitializing" if inits else "ContainerCreating"}
                    },
                }
                for c in spec["containers"]
            ]
            return True

        self._status(runtime, scheduled)
        for index, init in enumerate(inits):
            if runtime.terminating:
                return
            proc = self._start_container(runtime, init)
            runtime.running_init = init["name"]
            self._status(
                runtime,
                lambda p, i=index: self._set_state(
                    p, "initContainerStatuses", i, {"running": {"startedAt": now_iso()}}
                ),
            )
            code = proc.wait()
            runtime.running_init = None
            self._status(
                runtime,
                lambda p, i=index, c=code: self._set_state(
                    p, "initContainerStatuses", i, self._terminated(c)
                ),
            )
            if code != 0:
                self._status(runtime, lambda p: self._phase(p, "Failed"))
                return
        for index, container in enumerate(spec["containers"]):
            if runtime.terminating:
                return
            self._start_container(runtime, container)
            probes = bool(container.get("startupProbe") or container.get("readinessProbe"))

            def running(p: Pod, i: int = index, probes: bool = probes) -> bool:
                status = p["status"]["containerStatuses"][i]
                status["state"] = {"running": {"startedAt": now_iso()}}
                status["started"] = not p["spec"]["containers"][i].get("startupProbe")
                status["ready"] = not probes
                return True

            self._status(runtime, running)
        self._status(runtime, lambda p: self._phase(p, "Running"))
        for index, container in enumerate(spec["containers"]):
            threading.Thread(
                target=self._watch, args=(runtime, index, container["name"]), daemon=True
            ).start()

    def _start_container(
        self, runtime: PodRuntime, container: Mapping[str, Any]
    ) -> subprocess.Popen[bytes]:
        argv = [*(container.get("command") or []), *(container.get("args") or [])] or [
            "sleep",
            "infinity",
        ]
        proc = self.spawn(runtime, container["name"], argv, stdin=False)
        runtime.procs[container["name"]] = proc
        return proc

    def _watch(self, runtime: PodRuntime, index: int, name: str) -> None:
        code = runtime.procs[name].wait()
        if runtime.terminating:
            return

        def done(p: Pod) -> bool:
            self._set_state(p, "containerStatuses", index, self._terminated(code))
            p["status"]["containerStatuses"][index]["ready"] = False
            states = [s["state"] for s in p["status"]["containerStatuses"]]
            if all("terminated" in s for s in states):
                ok = all(s["terminated"]["exitCode"] == 0 for s in states)
                self._phase(p, "Succeeded" if ok else "Failed")
            return True

        self._status(runtime, done)

    @staticmethod
    def _terminated(code: int) -> dict[str, Any]:
        reason = "Completed" if code == 0 else "Error"
        return {
            "terminated": {
                "exitCode": code if code >= 0 else 128 - code,
                "reason": reason,
                "finishedAt": now_iso(),
            }
        }

    @staticmethod
    def _set_state(pod: Pod, key: str, index: int, state: dict[str, Any]) -> bool:
        pod["status"][key][index]["state"] = state
        return True

    @staticmethod
    def _phase(pod: Pod, phase: str) -> bool:
        pod["status"]["phase"] = phase
        ready = phase == "Running" and all(
            s.get("ready") for s in pod["status"].get("containerStatuses", [])
        )
        conds = [c for c in pod["status"]["conditions"] if c["type"] != "Ready"]
        conds.append(
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "lastTransitionTime": now_iso(),
            }
        )
        pod["status"]["conditions"] = conds
        return True

    # ----------------------------------------------------------------- probes

    def _probe_loop(self) -> None:
        while not self._stop.wait(self.probe_period):
            with self._lock:
                runtimes = list(self.runtimes.values())
            for runtime in runtimes:
                if not runtime.terminating and runtime.procs:
                    try:
                        self._probe(runtime)
                    except Exception:
                        continue

    def _probe(self, runtime: PodRuntime) -> None:
        pod = self.store.get(runtime.ns, runtime.name)
        if pod["status"].get("phase") != "Running":
            return
        for index, container in enumerate(pod["spec"]["containers"]):
            status = pod["status"]["containerStatuses"][index]
            if "running" not in status["state"]:
                continue
            started = status.get("started", True)
            if not started:
                probe = container.get("startupProbe")
                if probe and self._exec_probe(runtime, container["name"], probe):
                    started = True
            ready = started
            probe = container.get("readinessProbe")
            if started and probe:
                ready = self._exec_probe(runtime, container["name"], probe)
            if started != status.get("started") or ready != status.get("ready"):

                def mutate(p: Pod, i: int = index, s: bool = started, r: bool = ready) -> bool:
                    cs = p["status"]["containerStatuses"][i]
                    if "running" not in cs["state"]:
                        return False
                    cs["started"], cs["ready"] = s, r
                    return self._phase(p, p["status"]["phase"])

                self._status(runtime, mutate)

    def _exec_probe(self, runtime: PodRuntime, container: str, probe: Mapping[str, Any]) -> bool:
        argv = list(probe.get("exec", {}).get("command") or [])
        if not argv:
            return True
        proc = self.spawn(runtime, container, argv, stdin=False)
        try:
            return proc.wait(timeout=float(probe.get("timeoutSeconds", 1)) + 4) == 0
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return False
        finally:
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()

    # ------------------------------------------------------------ termination

    def _signal_all(self, runtime: PodRuntime, sig: int) -> None:
        for proc in [*runtime.procs.values(), *runtime.execs]:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    pass

    def _kill_tmux(self, runtime: PodRuntime) -> None:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "TMUX_TMPDIR": str(runtime.tmux_dir),
        }
        subprocess.run(
            ["tmux", "kill-server"], env=env, capture_output=True, check=False, timeout=10
        )

    def _terminate(self, runtime: PodRuntime, grace: float) -> None:
        self._signal_all(runtime, signal.SIGTERM)
        self._kill_tmux(runtime)
        deadline = time.monotonic() + grace
        for proc in [*runtime.procs.values(), *runtime.execs]:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        self._signal_all(runtime, signal.SIGKILL)
        for proc in [*runtime.procs.values(), *runtime.execs]:
            proc.wait()
        with self._lock:
            if self.runtimes.get((runtime.ns, runtime.name)) is runtime:
                del self.runtimes[(runtime.ns, runtime.name)]
        self.store.remove(runtime.ns, runtime.name, runtime.uid)
        shutil.rmtree(runtime.sandbox, ignore_errors=True)

    def runtime(self, ns: str, name: str) -> PodRuntime | None:
        with self._lock:
            return self.runtimes.get((ns, name))

    def shutdown(self) -> None:
        self._stop.set()
        with self._lock:
            runtimes = list(self.runtimes.values())
        for runtime in runtimes:
            runtime.terminating = True
            self._signal_all(runtime, signal.SIGKILL)
            self._kill_tmux(runtime)
        self._prober.join(timeout=5)
