"""The commands run by exec inside an agent container, shared by the native provider
and gc-session-k8s so that both drive a pod's tmux session ``main`` the same way."""

from __future__ import annotations

from .naming import TMUX_SESSION

__all__ = ["attach_argv", "interrupt_argv", "nudge_argv", "peek_argv", "send_keys_argv"]


def nudge_argv(text: str) -> list[str]:
    # "$1" keeps the text one argv word; -l types it literally; Enter is its own key.
    return [
        "sh",
        "-c",
        'tmux send-keys -t "$2" -l -- "$1" && tmux send-keys -t "$2" Enter',
        "nudge",
        text,
        TMUX_SESSION,
    ]


def interrupt_argv() -> list[str]:
    return send_keys_argv("C-c")


def send_keys_argv(*keys: str) -> list[str]:
    return ["tmux", "send-keys", "-t", TMUX_SESSION, *keys]


def clear_history_argv() -> list[str]:
    return ["tmux", "clear-history", "-t", TMUX_SESSION]


def peek_argv(lines: int) -> list[str]:
    return ["tmux", "capture-pane", "-p", "-J", "-t", TMUX_SESSION, "-S", f"-{max(1, lines)}"]


def attach_argv() -> list[str]:
    return ["tmux", "attach", "-t", TMUX_SESSION]
