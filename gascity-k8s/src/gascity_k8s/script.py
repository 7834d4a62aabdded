"""``gc-session-k8s``: the exec session protocol over ``kubectl``.

``gc-session-k8s <op> <name> [args]``; values on stdin, results on stdout; exit 0
success, 1 failure (stderr says why), 2 unknown operation. Pods are built by the
same code as the native ``k8s`` provider's (:func:`gascity_k8s.podspec.build_pod`),
so a city moves between ``exec:gc-session-k8s`` and ``k8s`` and each adopts the
other's pods. Configuration comes from ``GC_K8S_*`` (the ``[session.k8s]`` keys),
``GC_CITY_NAME`` / ``GC_CITY`` and ``KUBECONFIG``; ``GC_K8S_KUBECTL`` names the binary.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pydantic

from gascity.osutil.backoff import Backoff
from gascity.types import CopyEntry

from .incontainer import (
    attach_argv,
    interrupt_argv,
    nudge_argv,
    peek_argv,
    send_keys_argv,
)
from .liveness import AGENT_CONTAINER, pod_liveness, session_name
from .naming import TMUX_SESSION, city_selector, meta_annotation, session_selector
from .podspec import STAGE_ARGV, STAGE_CONTAINER, build_pod
from .settings import K8sSettings
from .staging import stage_tar

__all__ = ["main"]

Pod = dict[str, Any]
EXIT_OK, EXIT_FAIL, EXIT_UNKNOWN = 0, 1, 2


class Failure(Exception):
    """Ends the op with exit 1 and this message on stderr."""


class Kubectl:
    def __init__(self, settings: K8sSettings, env: Mapping[str, str]) -> None:
        binary = env.get("GC_K8S_KUBECTL") or shutil.which("kubectl", path=env.get("PATH"))
        if not binary:
            raise Failure("kubectl not found on PATH (set GC_K8S_KUBECTL)")
        self.base = [binary]
        if settings.kubeconfig:
            self.base += ["--kubeconfig", settings.kubeconfig]
        if settings.context:
            self.base += ["--context", settings.context]
        self.base += ["-n", settings.namespace]

    def run(
        self,
        args: Sequence[str],
        stdin: bytes | None = None,
        check: bool = True,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run(
            [*self.base, *args], input=stdin, capture_output=True, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            raise Failure(
                proc.stderr.decode(errors="replace").strip() or f"kubectl {args[0]} failed"
            )
        return proc

    def json(self, args: Sequence[str]) -> Any:
        return json.loads(self.run([*args, "-o", "json"]).stdout)


def _settings(env: Mapping[str, str]) -> K8sSettings:
    data: dict[str, str] = {}
    for key in K8sSettings.model_fields:
        value = env.get(f"GC_K8S_{key.upper()}")
        if value is not None:
            data[key] = value
    if "kubeconfig" not in data and env.get("KUBECONFIG"):
        data["kubeconfig"] = env["KUBECONFIG"]
    try:
        return K8sSettings.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"GC_K8S_{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise Failure(f"invalid settings: {problems}") from None


class Script:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.settings = _settings(env)
        self.city_dir = env.get("GC_CITY") or ""
        self.city = env.get("GC_CITY_NAME") or (
            Path(self.city_dir).name if self.city_dir else "city"
        )
        self.kubectl = Kubectl(self.settings, env)

    # ------------------------------------------------------------------ helpers

    def find(self, name: str) -> list[Pod]:
        items = self.kubectl.json(["get", "pods", "-l", session_selector(self.city, name)])["items"]
        return [p for p in items if session_name(p) == name]

    def pod(self, name: str) -> str:
        live = [p for p in self.find(name) if not p["metadata"].get("deletionTimestamp")]
        if not live:
            raise Failure(f"no such session: {name}")
        return str(live[0]["metadata"]["name"])

    def exec(
        self,
        pod: str,
        argv: Sequence[str],
        container: str = AGENT_CONTAINER,
        stdin: bytes | None = None,
    ) -> bytes:
        flags = ["-i"] if stdin is not None else []
        return self.kubectl.run(
            ["exec", *flags, pod, "-c", container, "--", *argv], stdin=stdin
        ).stdout

    def read(self, pod: str) -> Pod | None:
        proc = self.kubectl.run(["get", "pod", pod, "-o", "json"], check=False)
        if proc.returncode != 0:
            if b"NotFound" in proc.stderr or b"not found" in proc.stderr:
                return None
            raise Failure(proc.stderr.decode(errors="replace").strip())
        result: Pod = json.loads(proc.stdout)
        return result

    def delete(self, pod: str, grace: int, wait: bool) -> None:
        self.kubectl.run(
            [
                "delete",
                "pod",
                pod,
                f"--grace-period={grace}",
                "--ignore-not-found",
                f"--wait={'true' if wait else 'false'}",
            ]
        )

    def wait_pod(self, pod: str, name: str, deadline: float, ready: Any) -> None:
        pace = Backoff(0.05, 0.5, 1.5)
        while True:
            current = self.read(pod)
            if current is None:
                raise Failure(f"pod {pod} of {name} vanished during startup")
            phase = current.get("status", {}).get("phase")
            if phase in ("Failed", "Succeeded"):
                raise Failure(f"pod {pod} of {name} died during startup ({phase})")
            if ready(current):
                return
            if time.monotonic() > deadline:
                raise Failure(f"pod {pod} of {name} still initializing at the startup timeout")
            pace.sleep()

    # ---------------------------------------------------------------------- ops

    def op_start(self, name: str) -> str:
        config = json.loads(sys.stdin.read() or "{}")
        timeout = float(self.env.get("GC_K8S_STARTUP_TIMEOUT", "110"))
        deadline = time.monotonic() + timeout
        for existing in self.find(name):
            liveness, _ = pod_liveness(existing)
            if liveness.value != "dead":
                raise Failure(
                    f'session "{name}" already exists (pod {existing["metadata"]["name"]})'
                )
            self.delete(existing["metadata"]["name"], 0, wait=True)
        env: dict[str, str] = dict(config.get("env") or {})
        body = build_pod(
            city=self.city,
            name=name,
            command=config.get("command", ""),
            work_dir=config.get("work_dir", ""),
            settings=self.settings,
            agent=env.get("GC_AGENT", ""),
            env=env,
            pre_start=config.get("pre_start") or (),
            session_setup=(*(config.get("session_setup") or ()),
                           *(config.get("session_live") or ())),
            session_setup_script=config.get("session_setup_script", ""),
            city_dir=self.city_dir or None,
            startup_timeout=timeout,
        )
        pod = body["metadata"]["name"]
        created = self.kubectl.run(
            ["create", "--validate=false", "-f", "-", "-o", "name"],
            stdin=json.dumps(body).encode(),
            check=False,
        )
        if created.returncode != 0:
            message = created.stderr.decode(errors="replace").strip()
            raise Failure(
                f'session "{name}" already exists' if "AlreadyExists" in message else message
            )
        try:
            if not self.settings.prebaked:
                self.wait_pod(
                    pod,
                    name,
                    deadline,
                    lambda p: any(
                        s.get("name") == STAGE_CONTAINER and "running" in (s.get("state") or {})
                        for s in p.get("status", {}).get("initContainerStatuses") or []
                    ),
                )
                payload = stage_tar(
                    Path(self.city_dir) if self.city_dir else None,
                    [str(d) for d in config.get("pack_overlay_dirs") or [] if d],
                    str(config.get("overlay_dir") or ""),
                    [
                        CopyEntry(str(e["src"]), str(e.get("rel_dst") or ""))
                        for e in config.get("copy_files") or []
                        if isinstance(e, dict) and e.get("src")
                    ],
                    warn=lambda text: print(f"gc: warning: {name}: {text}", file=sys.stderr),
                )
                self.exec(
                    pod,
                    STAGE_ARGV,
                    container=STAGE_CONTAINER,
                    stdin=payload,
                )
            self.wait_pod(
                pod, name, deadline, lambda p: pod_liveness(p)[0].value in ("alive", "dead")
            )
        except BaseException:
            self.delete(pod, 0, wait=False)
            raise
        if config.get("nudge"):
            self.nudge(pod, config["nudge"])
        return ""

    def nudge(self, pod: str, text: str) -> None:
        self.exec(pod, nudge_argv(text))

    def op_stop(self, name: str) -> str:
        for pod in self.find(name):
            if not pod["metadata"].get("deletionTimestamp"):
                self.delete(pod["metadata"]["name"], self.settings.stop_grace_seconds, wait=False)
        return ""

    def op_is_running(self, name: str) -> str:
        live = [p for p in self.find(name) if not p["metadata"].get("deletionTimestamp")]
        return "true" if live else "false"

    def op_list_running(self, prefix: str) -> str:
        items = self.kubectl.json(["get", "pods", "-l", city_selector(self.city)])["items"]
        names = sorted({n for p in items if (n := session_name(p)) and n.startswith(prefix)})
        return "\n".join(names)

    def op_interrupt(self, name: str) -> str:
        self.exec(self.pod(name), interrupt_argv())
        return ""

    def op_nudge(self, name: str) -> str:
        self.nudge(self.pod(name), sys.stdin.read())
        return ""

    def op_send_keys(self, name: str, *keys: str) -> str:
        self.exec(self.pod(name), send_keys_argv(*keys))
        return ""

    def op_peek(self, name: str, lines: str = "50") -> str:
        count = max(1, int(lines))
        out = self.exec(self.pod(name), peek_argv(count))
        return "\n".join(out.decode(errors="replace").rstrip("\n").split("\n")[-count:])

    def op_clear_scrollback(self, name: str) -> str:
        self.exec(self.pod(name), ["tmux", "clear-history", "-t", TMUX_SESSION])
        return ""

    def _patch_meta(self, name: str, key: str, value: str | None) -> None:
        try:
            annotation = meta_annotation(key)
        except ValueError as exc:
            raise Failure(str(exc)) from None
        patch = json.dumps({"metadata": {"annotations": {annotation: value}}})
        self.kubectl.run(["patch", "pod", self.pod(name), "--type", "merge", "-p", patch])

    def op_set_meta(self, name: str, key: str) -> str:
        self._patch_meta(name, key, sys.stdin.read())
        return ""

    def op_remove_meta(self, name: str, key: str) -> str:
        self._patch_meta(name, key, None)
        return ""

    def op_get_meta(self, name: str, key: str) -> str:
        live = [p for p in self.find(name) if not p["metadata"].get("deletionTimestamp")]
        if not live:
            raise Failure(f"no such session: {name}")
        try:
            annotation = meta_annotation(key)
        except ValueError as exc:
            raise Failure(str(exc)) from None
        return str((live[0]["metadata"].get("annotations") or {}).get(annotation, ""))

    def op_attach(self, name: str) -> int:
        argv = [
            *self.kubectl.base,
            "exec",
            "-it",
            self.pod(name),
            "-c",
            AGENT_CONTAINER,
            "--",
            *attach_argv(),
        ]
        return subprocess.call(argv)


OPS = {
    "start": "op_start",
    "stop": "op_stop",
    "is-running": "op_is_running",
    "list-running": "op_list_running",
    "interrupt": "op_interrupt",
    "nudge": "op_nudge",
    "send-keys": "op_send_keys",
    "peek": "op_peek",
    "clear-scrollback": "op_clear_scrollback",
    "set-meta": "op_set_meta",
    "get-meta": "op_get_meta",
    "remove-meta": "op_remove_meta",
    "attach": "op_attach",
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in OPS:
        return EXIT_UNKNOWN  # process-alive, get-last-activity, copy-to...: not supported
    try:
        script = Script(os.environ)
        result = getattr(script, OPS[args[0]])(*args[1:])
    except Failure as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAIL
    except (TypeError, ValueError) as exc:
        print(f"{args[0]}: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except subprocess.TimeoutExpired as exc:
        print(f"{args[0]}: kubectl timed out after {exc.timeout}s", file=sys.stderr)
        return EXIT_FAIL
    if isinstance(result, int):
        return result
    if result:
        sys.stdout.write(result + "\n")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
