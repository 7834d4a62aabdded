"""Prompt templates as Gas City renders them, delivered per prompt_mode, then nudge after
the ready delay; ``gc prime``. Templates and fragments here are written for these
tests in the shape of the reference's packs (``agents/<name>/prompt.template.md``,
``template-fragments/``)."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from gascity.builtin.subprocess_provider import SubprocessProvider
from gascity.cli.main import cli
from gascity.controller import Controller
from gascity.plugins import PluginContext
from gascity.prompt import PromptContext, PromptError, TemplateError, TemplateSet, render_prompt
from gascity.readiness import wait_until_ready
from gascity.testing import MemoryEvents, open_test_city, wait_for
from gascity.types import StartConfig


def _basename(name: str = "") -> str:
    return name.rsplit("/", 1)[-1]


FUNCS: dict[str, Callable[..., str]] = {"cmd": lambda: "gc", "basename": _basename}


def render(text: str, **data: str) -> str:
    templates = TemplateSet(FUNCS)
    return templates.render(templates.parse(text, "t.template.md"), data)


@pytest.mark.parametrize(
    ("text", "data", "expected"),
    [
        ("Hi {{ .AgentName }}.", {"AgentName": "mayor"}, "Hi mayor."),
        ("[{{ .Missing }}]", {}, "[]"),  # missingkey=zero
        ("{{.AgentName}}", {"AgentName": "x"}, "x"),
        ("run `{{ cmd }} mail inbox`", {}, "run `gc mail inbox`"),
        ("{{ basename .AgentName }}", {"AgentName": "harbor/polecat"}, "polecat"),
        ("{{ basename .AgentName }}", {"AgentName": "mayor"}, "mayor"),
        ("a  \n  {{- .X -}}  \n  b", {"X": "!"}, "a!b"),
        ("a {{- .X }} b", {"X": "!"}, "a! b"),
        ('{{ "{{requester}}" }}', {}, "{{requester}}"),
        ("{{ `raw {{x}}` }}", {}, "raw {{x}}"),
        ("a{{/* note */}}b", {}, "ab"),
        ("{{ if .RigName }}rig {{ .RigName }}{{ else }}city{{ end }}", {"RigName": "r"}, "rig r"),
        ("{{ if .RigName }}rig{{ else }}city{{ end }}", {}, "city"),
        ('{{ define "f" }}F={{ .X }}{{ end }}[{{ template "f" . }}]', {"X": "1"}, "[F=1]"),
        ('{{- define "f" -}}\nbody\n{{- end -}}\nmain', {}, "main"),
    ],
)
def test_go_template_subset_renders_as_go_does(
    text: str, data: dict[str, str], expected: str
) -> None:
    assert render(text, **data) == expected


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("ok\n{{ range .Items }}x{{ end }}", 2,
         "unsupported template construct {{ range .Items }}"),
        ("{{ .A | printf }}", 1, "unsupported template construct"),
        ("\n\n{{ $x := .A }}", 3, "unsupported template construct"),
        ("{{ session .A }}", 1, "unknown function 'session'"),
        ("a\n{{ if .A }}open", 2, "{{ if }} is never closed"),
        ("{{ end }}", 1, "{{ end }} without an opening action"),
        ("x {{ .A", 1, "unclosed action"),
        ('{{ template "nope" . }}', 1, 'no such template "nope"'),
        ('{{ with .A }}{{ end }}', 1, "unsupported template construct {{ with .A }}"),
    ],
)
def test_unsupported_constructs_name_the_file_and_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(TemplateError) as info:
        render(text)
    assert str(info.value).startswith(f"t.template.md:{line}: ")
    assert fragment in str(info.value)


def _pack(tmp_path: Path) -> Path:
    """A city with a pack-shaped agent directory: prompt + template-fragments/."""
    agent_dir = tmp_path / "agents" / "mayor"
    (agent_dir / "template-fragments").mkdir(parents=True)
    (agent_dir / "prompt.template.md").write_text(
        "# {{ basename .AgentName }} of {{ .CityRoot }}\n"
        '{{ template "duties" . }}\n'
        "Work: {{ .WorkQuery }} in {{ .WorkDir }}; team {{ .TEAM }}"
    )
    (agent_dir / "template-fragments" / "duties.template.md").write_text(
        '{{ define "duties" }}Run `{{ cmd }} mail inbox`.{{ end }}\n'
        '{{ define "glossary" }}GLOSSARY for {{ .TemplateName }}{{ end }}\n'
        '{{ define "awareness" }}AWARE{{ end }}\n'
    )
    (agent_dir / "template-fragments" / "ignored.md").write_text('{{ define "duties" }}NO{{ end }}')
    return agent_dir


def test_render_prompt_with_fragments_in_reference_order(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _pack(tmp_path)
    ctx = PromptContext(city_root="/c", agent_name="harbor/mayor", template_name="mayor",
                        work_dir="/w", work_query="bd ready", env={"TEAM": "blue",
                                                                    "WorkDir": "not this"})
    out = render_prompt("agents/mayor/prompt.template.md", ctx, city_dir=tmp_path,
                        fragments=["glossary", "awareness"])
    assert out == (
        "# mayor of /c\nRun `gc mail inbox`.\nWork: bd ready in /w; team blue"
        "\n\nGLOSSARY for mayor\n\nAWARE"
    )
    # A fragment nobody defines is reported and skipped, as Gas City does.
    assert render_prompt("agents/mayor/prompt.template.md", ctx, city_dir=tmp_path,
                         fragments=["nope", "awareness"]).endswith("blue\n\nAWARE")
    assert "fragment 'nope' is not defined" in caplog.text
    (tmp_path / "plain.md").write_text("{{ not a template }}")
    assert render_prompt("plain.md", ctx, city_dir=tmp_path) == "{{ not a template }}"
    with pytest.raises(PromptError, match="cannot read"):
        render_prompt("missing.template.md", ctx, city_dir=tmp_path)


def test_ready_prompt_prefix_is_waited_for_then_the_delay_alone(tmp_path: Path) -> None:
    screens = iter(["booting", "\u2502 \u276f in a box is not the prompt",
                    "  \u276f\u00a0type here"])
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    cfg = StartConfig(command="x", work_dir=str(tmp_path), ready_delay_ms=3000,
                      ready_prompt_prefix="\u276f ")
    assert wait_until_ready(cfg, 100.0, lambda: next(screens), sleep=sleep,
                            clock=lambda: now[0])
    assert len(slept) == 2  # seen on the third look, long before the delay
    now[0], slept[:] = 0.0, []
    plain = StartConfig(command="x", work_dir=str(tmp_path), ready_delay_ms=1500)
    assert wait_until_ready(plain, 100.0, None, sleep=sleep, clock=lambda: now[0])
    assert slept == [1.5]
    now[0], slept[:] = 0.0, []
    never = StartConfig(command="x", work_dir=str(tmp_path), ready_delay_ms=0,
                        ready_prompt_prefix="> ")
    assert not wait_until_ready(never, 100.0, lambda: "nothing", sleep=sleep,
                                clock=lambda: now[0])
    assert 9.9 <= now[0] <= 10.5  # at least 10s for a prompt, as Gas City waits


# ------------------------------------------------------------------ a real launch

FAKE_AGENT = """#!/bin/sh
# Records its argv and environment, then every line typed into it, with the time.
python3 - "$@" <<'EOF'
import json, os, sys
out = os.path.join(os.environ["RECORD_DIR"], os.environ["GC_SESSION_NAME"] + ".json")
with open(out, "w") as f:
    json.dump({"argv": sys.argv[1:], "env": dict(os.environ)}, f)
EOF
while IFS= read -r line; do
  printf '%s %s\\n' "$(date +%s.%N)" "$line" >> "$RECORD_DIR/$GC_SESSION_NAME.typed"
done
"""


@pytest.fixture
def fake_providers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("claude", "gemini", "opencode"):
        script = bin_dir / name
        script.write_text(FAKE_AGENT)
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    records = tmp_path / "records"
    records.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("RECORD_DIR", str(records))
    yield records


CITY = """
[workspace]
name = "harbor"
global_fragments = ["glossary"]

[daemon]
shutdown_timeout = "100ms"

[providers.claude]
ready_delay_ms = 400          # the built-in waits 10s; a test does not

[[agent]]
name = "mayor"
provider = "claude"
prompt_template = "agents/mayor/prompt.template.md"
inject_fragments = ["awareness"]
env = { TEAM = "blue" }
nudge = "Check your mail."

[[agent]]
name = "scout"
provider = "gemini"
prompt_mode = "flag"
prompt_flag = "--prompt-interactive"
prompt_template = "agents/mayor/prompt.template.md"
ready_delay_ms = 0
env = { TEAM = "red" }

[[agent]]
name = "coder"
provider = "opencode"
prompt_template = "agents/mayor/prompt.template.md"
ready_delay_ms = 0

[[agent]]
name = "broken"
start_command = "sleep 300"
prompt_template = "bad.template.md"
"""


def test_prompt_delivered_per_prompt_mode_then_nudge_after_the_ready_delay(
    tmp_path: Path, fake_providers: Path
) -> None:
    city = tmp_path / "city"
    city.mkdir()
    _pack(city)
    (city / "city.toml").write_text(CITY)
    (city / "bad.template.md").write_text("line one\n{{ range .X }}{{ end }}\n")
    provider = SubprocessProvider(PluginContext(role="session", name="subprocess",
                                                city_dir=city, settings={"stop_grace": 1}))
    events = MemoryEvents()
    opened = open_test_city(city, session=provider, events=events)
    try:
        started_at = time.time()
        report = Controller(opened).tick()
        assert sorted(report.started) == ["coder", "mayor", "scout"], report.failed
        # The template that cannot be rendered fails that start only, naming file:line.
        assert report.failed["broken"].startswith(f"{city / 'bad.template.md'}:2: unsupported")
        for name in ("mayor", "scout", "coder"):
            wait_for((fake_providers / f"{name}.json").exists, timeout=20, what=name)
        wait_for((fake_providers / "mayor.typed").exists, timeout=20, what="the nudge")
        seen = {n: json.loads((fake_providers / f"{n}.json").read_text())
                for n in ("mayor", "scout", "coder")}
        typed = (fake_providers / "mayor.typed").read_text().split(" ", 1)
    finally:
        for running in provider.list_running(""):
            provider.stop(running.name)
        opened.close()
    root = str(city.resolve())
    prompt = (f"# mayor of {root}\nRun `gc mail inbox`.\nWork:  in {root}; team blue"
              "\n\nGLOSSARY for mayor\n\nAWARE")
    # claude: prompt_mode arg, the preset's args first.
    assert seen["mayor"]["argv"] == ["--dangerously-skip-permissions", "--effort", "max", prompt]
    assert seen["mayor"]["env"]["GC_CITY"] == root
    # gemini with prompt_mode = "flag".
    scout_prompt = prompt.replace("mayor of", "scout of").replace("blue", "red").replace(
        "AWARE", "").replace("GLOSSARY for mayor", "GLOSSARY for scout").rstrip("\n")
    assert seen["scout"]["argv"] == ["--approval-mode", "yolo", "--prompt-interactive",
                                     scout_prompt]
    # opencode's preset has prompt_mode = "none": no prompt on its command line.
    assert seen["coder"]["argv"] == []
    # The nudge is typed only after ready_delay_ms.
    assert typed[1] == "Check your mail.\n"
    assert float(typed[0]) - started_at >= 0.4
    failed = [e for e in events.events if e.type == "session.start_failed"]
    assert [e.subject for e in failed] == ["broken"]


def test_gc_prime_prints_the_rendered_prompt(tmp_path: Path) -> None:
    _pack(tmp_path)
    (tmp_path / "city.toml").write_text(CITY)
    (tmp_path / "bad.template.md").write_text("ok\n{{ $x := 1 }}\n")
    runner = CliRunner()
    out = runner.invoke(cli, ["--city", str(tmp_path), "prime", "mayor"])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("# mayor of ")
    assert out.output.endswith("GLOSSARY for mayor\n\nAWARE")
    # Without a name: $GC_ALIAS, as inside a session.
    env_out = runner.invoke(cli, ["--city", str(tmp_path), "prime"], env={"GC_ALIAS": "scout"})
    assert "team red" in env_out.output
    # A session gc session new --alias named: its alias is no agent, its template is.
    aliased = runner.invoke(cli, ["--city", str(tmp_path), "prime"],
                            env={"GC_ALIAS": "sky", "GC_AGENT": "sky", "GC_TEMPLATE": "scout"})
    assert "team red" in aliased.output
    # No such agent (or no template): the default worker prompt.
    default = runner.invoke(cli, ["--city", str(tmp_path), "prime", "nobody"])
    assert default.exit_code == 0 and "gc mail inbox" in default.output
    bad = runner.invoke(cli, ["--city", str(tmp_path), "prime", "broken"])
    assert bad.exit_code == 1
    assert f"{tmp_path / 'bad.template.md'}:2: unsupported template construct" in bad.output


def test_config_validate_renders_every_prompt_template(tmp_path: Path) -> None:
    _pack(tmp_path)
    (tmp_path / "city.toml").write_text(CITY)
    (tmp_path / "bad.template.md").write_text("ok\n{{ with .X }}{{ end }}\n")
    runner = CliRunner()
    bad = runner.invoke(cli, ["--city", str(tmp_path), "config", "validate"],
                        env={"GC_SESSION": "fake"})
    assert bad.exit_code == 2
    assert (f"agent[3].prompt_template (agent 'broken'): {tmp_path / 'bad.template.md'}:2: "
            "unsupported template construct {{ with .X }}") in bad.output
    (tmp_path / "bad.template.md").write_text("fine {{ .AgentName }}\n")
    good = runner.invoke(cli, ["--city", str(tmp_path), "config", "validate"],
                         env={"GC_SESSION": "fake"})
    assert good.exit_code == 0, good.output


def test_issue_prefix_and_default_branch_are_the_rigs(tmp_path: Path) -> None:
    import subprocess

    from gascity.config.beadprefix import derive_prefix

    # One rig in a git repository whose origin/HEAD names a branch with a slash, one
    # in a plain directory (Gas City's fallback: main).
    (tmp_path / "repo").mkdir()
    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True)
    subprocess.run(["git", "-C", str(tmp_path / "repo"), "symbolic-ref",
                    "refs/remotes/origin/HEAD", "refs/remotes/origin/release/v2"], check=True)
    (tmp_path / "plain").mkdir()
    (tmp_path / "packs/crew/agents/hand").mkdir(parents=True)
    (tmp_path / "packs/crew/pack.toml").write_text('[pack]\nname = "crew"\nschema = 2\n')
    (tmp_path / "packs/crew/agents/hand/agent.toml").write_text('start_command = "hand"\n')
    (tmp_path / "packs/crew/agents/hand/prompt.template.md").write_text(
        "{{ .RigName }} prefix={{ .IssuePrefix }} branch={{ .DefaultBranch }}")
    (tmp_path / "packs/crew/agents/boss/").mkdir()
    (tmp_path / "packs/crew/agents/boss/agent.toml").write_text(
        'scope = "city"\nstart_command = "boss"\n')
    (tmp_path / "packs/crew/agents/boss/prompt.template.md").write_text(
        "city prefix=[{{ .IssuePrefix }}] branch={{ .DefaultBranch }}")
    (tmp_path / "city.toml").write_text(
        '[workspace]\nname = "yard"\n[imports.crew]\nsource = "packs/crew"\n'
        '[[rigs]]\nname = "front-end"\npath = "repo"\nincludes = ["packs/crew"]\n'
        '[[rigs]]\nname = "backoffice"\npath = "plain"\nprefix = "bo9"\n'
        'includes = ["packs/crew"]\n')
    runner = CliRunner()
    shown = {}
    for name in ("front-end--hand", "backoffice--hand", "boss"):
        out = runner.invoke(cli, ["--city", str(tmp_path), "prime", name])
        assert out.exit_code == 0, out.output
        shown[name] = out.output.strip()
    assert shown["front-end--hand"] == "front-end prefix=fe branch=release/v2"
    assert shown["backoffice--hand"] == "backoffice prefix=bo9 branch=main"
    assert shown["boss"] == "city prefix=[] branch=main"
    # Gas City's derivation: initials of words (or camelCase humps), else a short word
    # itself or its first two letters; -py / -go dropped.
    assert [derive_prefix(n) for n in ("front-end", "my_api-go", "myFrontEnd", "web-py",
                                       "gascity", "ui")] == ["fe", "ma", "mfe", "web", "ga",
                                                             "ui"]
