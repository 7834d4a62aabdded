"""Gas City's HTTP API: probes, Prometheus metrics, a JSON API, SSE and a live dashboard.

Served by the foreground controller when city.toml sets ``[api] port``; wired in
through the ``gascity.observers`` entry point, so the core never imports it.
"""

from __future__ import annotations

__all__: list[str] = []
