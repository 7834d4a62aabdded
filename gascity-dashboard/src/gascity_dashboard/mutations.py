"""What the API may change: the same operations as ``gc agent suspend|resume``,
``gc session nudge|kill`` and ``gc reload``, run inside the controller process."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from gascity.errors import GasCityError, NotLeader, SessionNotFound
from gascity.reconcile.state import Overrides

if TYPE_CHECKING:
    from gascity.controller.controller import Controller

__all__ = ["ApiError", "agent_name", "kill", "nudge", "reload", "set_agent_suspended"]

# How long a mutation waits for the tick that applies it before answering.
_APPLY_WAIT = 30.0

# A Kubernetes follower replica refuses what would act on the leader's agents. 503,
# not 409: the refusal is about this replica, not the session (the same request
# succeeds on the leader, or here after a failover), and a client or proxy reads 503
# as "try again / elsewhere", while 409 says the request itself must change.
NOT_LEADER_STATUS = 503


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def agent_name(controller: Controller, name: str) -> str:
    """The agent's name here for the reference's qualified name of a rig agent
    (``frontend/witness`` runs as ``frontend--witness``); any other name as it is."""
    if "/" in name:
        for own, rig_agent in controller.loaded.composition.rig_agents.items():
            if rig_agent.qualified == name:
                return own
    return name


def _not_leader(exc: NotLeader) -> ApiError:
    """The provider's refusal, whose text names this replica, the lease and its holder."""
    return ApiError(NOT_LEADER_STATUS, "not_leader", str(exc))


def _known_session(name: str, running: Collection[str]) -> None:
    if name not in running:
        raise ApiError(404, "not_found", f"session {name!r} is not running")


def _must_lead(controller: Controller, what: str) -> None:
    """Refuse on a replica that does not lead: its overrides file is its own (each
    replica has its own city directory), so a suspend written there would not reach
    the leader's agents, and would act only when this replica took over."""
    coordination = controller.coordination
    if coordination is not None and not coordination.may_act():
        raise ApiError(NOT_LEADER_STATUS, "not_leader",
                       f"{coordination.identity} does not lead "
                       f"(holder: {coordination.holder() or 'nobody'}); not {what}")


def set_agent_suspended(controller: Controller, name: str, value: bool) -> dict[str, Any]:
    config = controller.loaded.config
    if config.agent_named(name) is None:
        raise ApiError(404, "not_found", f"agent {name!r} not found")
    _must_lead(controller, f"{'suspending' if value else 'resuming'} agent {name!r}")
    path = controller.paths.overrides
    overrides = Overrides.load(path)
    names = set(overrides.suspended_agents)
    if value:
        names.add(name)
    else:
        names.discard(name)
    overrides.suspended_agents = sorted(names)
    overrides.save(path)
    tick = controller.request_tick(wait=_APPLY_WAIT)
    return {"status": "ok", "agent": name, "suspended": value, "tick": tick}


def nudge(controller: Controller, name: str, text: str,
          running: Collection[str]) -> dict[str, Any]:
    if not text:
        raise ApiError(400, "invalid", "expected a JSON body {\"text\": \"...\"} with text")
    _known_session(name, running)
    try:
        controller.hooks.nudge(name, text)
    except SessionNotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from exc
    except NotLeader as exc:
        raise _not_leader(exc) from exc
    except GasCityError as exc:
        raise ApiError(502, "provider", str(exc)) from exc
    return {"status": "ok", "session": name}


def kill(controller: Controller, name: str, running: Collection[str]) -> dict[str, Any]:
    _known_session(name, running)
    try:
        stopped = controller.hooks.stop(name)
    except NotLeader as exc:
        raise _not_leader(exc) from exc
    except GasCityError as exc:
        raise ApiError(502, "provider", str(exc)) from exc
    return {"status": "ok", "session": name, "stopped": bool(stopped)}


def reload(controller: Controller) -> dict[str, Any]:
    reply = controller.handle_command("reload")
    if reply.startswith("error"):
        raise ApiError(422, "config_rejected", reply.removeprefix("error: "))
    return {"status": "ok", "message": reply.removeprefix("ok ")}
