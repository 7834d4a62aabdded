"""`gc doctor` of a k8s city asks the cluster: credentials, API, namespace, RBAC and the
namespace claim. It used to report everything ok without a kubeconfig at all."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gascity.cli.doctor_cmds import run_checks
from gascity.types import DoctorCheck
from gascity_k8s.testing import KubeEmulator
from gascity_k8s.testing.emulator import TOKEN

Factory = Callable[..., Any]


def k8s_city(where: Path, kubeconfig: Path | None, namespace: str = "docs",
             extra: str = "") -> Path:
    where.mkdir(parents=True, exist_ok=True)
    setting = f'kubeconfig = "{kubeconfig}"\n' if kubeconfig else ""
    (where / "city.toml").write_text(
        '[workspace]\nname = "doc"\n\n[session]\nprovider = "k8s"\n\n'
        f'[session.k8s]\nnamespace = "{namespace}"\nprebaked = true\n{setting}{extra}\n'
        '[[agent]]\nname = "mayor"\ncommand = "sleep 300"\n'
    )
    return where


def k8s_lines(city: Path, monkeypatch: pytest.MonkeyPatch,
              kubeconfig_env: str | None = None) -> list[DoctorCheck]:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    if kubeconfig_env is None:
        monkeypatch.delenv("KUBECONFIG", raising=False)
    else:
        monkeypatch.setenv("KUBECONFIG", kubeconfig_env)
    return [c for c in run_checks(city) if c.area == "k8s"]


def levels(checks: list[DoctorCheck]) -> list[str]:
    return [f"{c.level} {c.text}" for c in checks]


def test_a_reachable_cluster_is_checked_line_by_line(
    emulator: KubeEmulator, kubeconfig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    city = k8s_city(tmp_path / "doc", kubeconfig)
    checks = k8s_lines(city, monkeypatch)
    assert [c.level for c in checks] == ["ok"] * 7, levels(checks)
    text = "\n".join(levels(checks))
    assert str(kubeconfig) in text and emulator.url in text
    assert "v1.31.0-gascity-emulator" in text
    for resource in ("pods", "configmaps", "leases"):
        assert f"{resource} in 'docs': listable" in text
    assert "unclaimed" in text and TOKEN not in text
    assert not [c for c in run_checks(city) if c.level == "fail"], levels(run_checks(city))


def test_without_a_kubeconfig_doctor_fails_naming_the_path_it_tried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nowhere = tmp_path / "nowhere" / "config"
    city = k8s_city(tmp_path / "doc", None)
    (check,) = k8s_lines(city, monkeypatch, kubeconfig_env=str(nowhere))
    assert check.level == "fail" and str(nowhere) in check.text, check
    assert "KUBECONFIG" in check.hint
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GC_") and k != "KUBERNETES_SERVICE_HOST"}
    result = subprocess.run(
        [sys.executable, "-c", "from gascity.cli.main import main; main()", "--city", str(city),
         "doctor"], capture_output=True, text=True, timeout=120, check=False,
        env={**env, "KUBECONFIG": str(nowhere)})
    assert result.returncode == 1, result.stdout + result.stderr
    assert any(line.startswith("fail") and "k8s" in line and str(nowhere) in line
               for line in result.stdout.splitlines()), result.stdout
    assert "Traceback" not in result.stderr


def test_an_unreachable_server_and_refused_credentials_fail_without_the_token(
    emulator: KubeEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = emulator.write_kubeconfig(tmp_path / "dead")
    dead.write_text(dead.read_text().replace(f":{emulator.port}", f":{port}"))
    checks = k8s_lines(k8s_city(tmp_path / "a", dead), monkeypatch)
    assert [c.level for c in checks] == ["ok", "fail"], levels(checks)
    assert f"127.0.0.1:{port}" in checks[1].text and "unreachable" in checks[1].text

    wrong = emulator.write_kubeconfig(tmp_path / "wrong")
    secret = "not-the-token-s3cr3t"
    wrong.write_text(wrong.read_text().replace(TOKEN, secret))
    checks = k8s_lines(k8s_city(tmp_path / "b", wrong), monkeypatch)
    assert [c.level for c in checks] == ["ok", "fail"], levels(checks)
    assert "credentials refused" in checks[1].text and "401" in checks[1].text
    assert all(secret not in f"{c.text} {c.hint}" for c in checks)


def test_rbac_that_forbids_a_resource_fails_it_with_a_hint(
    emulator: KubeEmulator, kubeconfig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    city = k8s_city(tmp_path / "doc", kubeconfig)
    emulator.forbidden |= {"GET pods", "GET leases"}
    try:
        checks = {c.text.split(":")[0]: c for c in k8s_lines(city, monkeypatch)}
    finally:
        emulator.forbidden.clear()
    pods, leases = checks["pods in 'docs'"], checks["leases in 'docs'"]
    assert pods.level == "fail" and "403" in pods.text and "Role" in pods.hint
    assert leases.level == "fail"  # leader_election is on by default
    assert checks["configmaps in 'docs'"].level == "ok"
    city = k8s_city(tmp_path / "solo", kubeconfig, extra="leader_election = false\n")
    emulator.forbidden.add("GET leases")
    try:
        checks = {c.text.split(":")[0]: c for c in k8s_lines(city, monkeypatch)}
    finally:
        emulator.forbidden.clear()
    assert checks["leases in 'docs'"].level == "warn", checks


def test_the_claim_of_another_same_name_city_fails_naming_its_path(
    make_provider: Factory, kubeconfig: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    first = k8s_city(tmp_path / "a" / "doc", kubeconfig)
    make_provider(city="doc", namespace="docs", prebaked=True, where=first).claim()
    assert k8s_lines(first, monkeypatch)[-1].level == "ok"
    assert "this city's" in k8s_lines(first, monkeypatch)[-1].text
    second = k8s_city(tmp_path / "b" / "doc", kubeconfig)
    claim = k8s_lines(second, monkeypatch)[-1]
    assert claim.level == "fail" and str(first.resolve()) in claim.text, claim
    assert "gc-doc-city" in claim.hint and str(second.resolve()) in claim.hint
