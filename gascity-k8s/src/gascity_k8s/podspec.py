"""The one pod shape, shared by the native provider and ``gc-session-k8s`` so each
adopts the other's pods: same labels, annotation, container, tmux session."""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from .liveness import AGENT_CONTAINER
from .naming import ANNOTATION_NAME, APP, TMUX_SESSION, label_value, meta_annotation, pod_name
from .podenv import WORKSPACE, city_roots, pod_env, pod_path, pod_work_dir
from .settings import K8sSettings

__all__ = [
    "READY_FILE",
    "STAGE_CONTAINER",
    "WORKSPACE",
    "agent_script",
    "build_pod",
    "pod_work_dir",
]

STAGE_CONTAINER = "stage"
READY_FILE = f"{WORKSPACE}/.gc-ready"
# Run by exec in the `stage` init container with the city's tar on stdin; the ready
# file releases the container's wait loop. Shared by the provider and gc-session-k8s
# so both stage pods identically.
STAGE_ARGV = [
    "sh",
    "-c",
    'mkdir -p "$1" && tar -xf - -C "$1" && touch "$2"',
    "stage",
    WORKSPACE,
    READY_FILE,
]
PANE_ALIVE = f'test "$(tmux display-message -p -t {TMUX_SESSION} "#{{pane_dead}}")" = 0'


def agent_script(
    pre_start: Sequence[str], session_setup: Sequence[str], setup_script: str = ""
) -> str:
    """The container's shell program: pre_start, the agent in tmux ``main`` with its
    pane kept after exit so death is observable and output stays peekable, setup,
    then ``sleep infinity``.

    Each pre_start command runs in its own subshell and a failure only warns on
    stderr, as Gas City's spec and the reference's pod program have it (there each
    one is its own ``sh``). The agent command travels in ``$GC_AGENT_COMMAND``,
    never spliced into the text.
    """
    lines = [
        f"( {cmd}\n) || echo 'pre_start failed:' {i} >&2" for i, cmd in enumerate(pre_start)
    ]
    lines += [
        "set -e",
        f"tmux new-session -d -s {TMUX_SESSION} -x 220 -y 50",
        f"tmux set-option -w -t {TMUX_SESSION} remain-on-exit on",
        f'tmux respawn-pane -k -t {TMUX_SESSION} "$GC_AGENT_COMMAND"',
        "set +e",
    ]
    lines += [
        f"{cmd} || echo 'session_setup failed:' {i} >&2" for i, cmd in enumerate(session_setup)
    ]
    if setup_script:
        # One word: the path is data (a city directory's name is the user's).
        lines.append(f"sh {shlex.quote(setup_script)} || echo 'session_setup_script failed' >&2")
    lines.append("exec sleep infinity")
    return "\n".join(lines) + "\n"


def build_pod(
    *,
    city: str,
    name: str,
    command: str,
    work_dir: str,
    settings: K8sSettings,
    agent: str = "",
    env: Mapping[str, str] | None = None,
    pre_start: Sequence[str] = (),
    session_setup: Sequence[str] = (),
    session_setup_script: str = "",
    meta: Mapping[str, str] | None = None,
    city_dir: str | None = None,
    startup_timeout: float = 60.0,
) -> dict[str, Any]:
    """The session's pod. ``env`` is the session's environment as core built it on
    the controller; the pod gets it with the city's paths turned into pod paths
    (:func:`gascity_k8s.podenv.pod_env`)."""
    roots = city_roots(env or {}, city_dir)
    work = pod_work_dir(work_dir, roots)
    env_list = [{"name": k, "value": v} for k, v in sorted(pod_env(env or {}, work, roots).items())]
    env_list += [
        {"name": "GC_AGENT_COMMAND", "value": command or "/bin/sh"},
        {"name": "GC_SESSION_NAME", "value": name},
        {"name": "GC_TMUX_SESSION", "value": TMUX_SESSION},
        {"name": "GC_CITY_NAME", "value": city},
    ]
    annotations = {ANNOTATION_NAME: name}
    for key, value in (meta or {}).items():
        annotations[meta_annotation(key)] = value
    container: dict[str, Any] = {
        "name": AGENT_CONTAINER,
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "workingDir": work,
        "command": ["/bin/sh", "-c"],
        # Core sends the script's path on the controller; in the city, it is under
        # /workspace in the pod.
        "args": [agent_script(pre_start, session_setup,
                              pod_path(session_setup_script, roots) if session_setup_script
                              else "")],
        "env": env_list,
        "stdin": True,
        "tty": True,
        "resources": {
            "requests": {"cpu": settings.cpu_request, "memory": settings.mem_request},
            "limits": {"cpu": settings.cpu_limit, "memory": settings.mem_limit},
        },
        "startupProbe": {
            "exec": {"command": ["tmux", "has-session", "-t", TMUX_SESSION]},
            "periodSeconds": 1,
            "failureThreshold": max(10, math.ceil(startup_timeout)),
        },
        "readinessProbe": {
            "exec": {"command": ["sh", "-c", PANE_ALIVE]},
            "periodSeconds": settings.readiness_period_seconds,
        },
    }
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": settings.stop_grace_seconds,
        "containers": [container],
    }
    if settings.service_account:
        spec["serviceAccountName"] = settings.service_account
    if not settings.prebaked:
        container["volumeMounts"] = [{"name": "ws", "mountPath": WORKSPACE}]
        spec["volumes"] = [{"name": "ws", "emptyDir": {}}]
        spec["initContainers"] = [
            {
                "name": STAGE_CONTAINER,
                "image": settings.image,
                "imagePullPolicy": settings.image_pull_policy,
                "command": ["sh", "-c", f"while [ ! -f {READY_FILE} ]; do sleep 0.2; done"],
                "volumeMounts": [{"name": "ws", "mountPath": WORKSPACE}],
            }
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(city, name),
            "labels": {
                "app": APP,
                "gc-city": label_value(city),
                "gc-session": label_value(name),
                "gc-agent": label_value(agent or name),
            },
            "annotations": annotations,
        },
        "spec": spec,
    }
