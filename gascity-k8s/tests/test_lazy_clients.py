"""A city with ``[session] provider = "k8s"`` on a machine with no cluster credentials:
the commands that never talk to Kubernetes work, and the first that does says what
is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gascity.errors import PluginError
from gascity.plugins import PluginContext
from gascity_k8s.provider import K8sProvider


def _no_cluster_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")}
    # HOME without a .kube/ and KUBECONFIG naming a file that does not exist.
    env.update(HOME=str(home), KUBECONFIG=str(tmp_path / "nowhere" / "config"),
               GC_HOME=str(tmp_path / "gc-home"))
    return env


def _city(tmp_path: Path) -> Path:
    city = tmp_path / "city"
    city.mkdir()
    (city / "city.toml").write_text(
        '[workspace]\nname = "demo"\n\n[session]\nprovider = "k8s"\n\n'
        '[[agent]]\nname = "mayor"\nstart_command = "sleep 600"\n'
    )
    return city


def _gc(city: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    gc = Path(sys.executable).parent / "gc"
    return subprocess.run([str(gc), "--city", str(city), *args], capture_output=True,
                          text=True, env=env, check=False, timeout=120)


def test_validate_and_show_need_no_kubeconfig(tmp_path: Path) -> None:
    city, env = _city(tmp_path), _no_cluster_env(tmp_path)
    validate = _gc(city, env, "config", "validate")
    assert validate.returncode == 0, validate.stderr
    assert "session=k8s" in validate.stdout
    show = _gc(city, env, "config", "show")
    assert show.returncode == 0, show.stderr
    assert 'provider = "k8s"' in show.stdout


def test_first_cluster_call_names_the_missing_kubeconfig(tmp_path: Path) -> None:
    city, env = _city(tmp_path), _no_cluster_env(tmp_path)
    status = _gc(city, env, "session", "list")
    assert status.returncode != 0
    assert "cannot load a Kubernetes configuration" in status.stderr
    assert env["KUBECONFIG"] in status.stderr
    assert "invalid configuration" not in status.stderr
    assert "Traceback" not in status.stderr


def test_provider_builds_its_clients_on_first_use(tmp_path: Path) -> None:
    env = _no_cluster_env(tmp_path)
    ctx = PluginContext(role="session", name="k8s", settings={"namespace": "gc"},
                        city_name="demo", city_dir=_city(tmp_path), env=env)
    provider = K8sProvider(ctx)
    assert provider.status_info()["session.k8s.namespace"] == "gc"
    with pytest.raises(PluginError, match="cannot load a Kubernetes configuration"):
        provider.list_running("")
    provider.shutdown()  # nothing was built, nothing to close
