"""Conventions two distributions must share without importing each other.

gc-session-tmux (gascity-exec) stays standard-library only because every protocol
operation is a process start, so it cannot import gascity-tmux's settings; both must
still pick the same tmux server for a city, or a city moving between `tmux` and
`exec:gc-session-tmux` would lose its sessions.
"""

from __future__ import annotations

import pytest

from gascity_exec.tmux_script import socket_for_city as exec_socket
from gascity_tmux.settings import socket_for_city as tmux_socket

CITIES = ["demo", "gc", "my-city_2", "with space", "ünï", "a.b:c", "x" * 80, ""]


@pytest.mark.parametrize("city", CITIES)
def test_both_tmux_providers_choose_the_same_server(city: str) -> None:
    assert exec_socket(city) == tmux_socket(city)
