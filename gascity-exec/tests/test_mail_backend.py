"""The ``exec:`` mail backend driven through real scripts written to the reference's
protocol: a POSIX shell one (jq) and a Python one pass the mail kit with string ids;
scripts that answer exit 2, hang or print garbage get clear answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gascity.errors import StoreUnavailable, Unsupported
from gascity.plugins import Hooks, PluginContext
from gascity.testing import hooks_for
from gascity.testing.kits.mail import MailStoreKit
from gascity.types import MailDraft
from gascity_exec.mail import ExecMail

SCRIPTS = Path(__file__).parent / "scripts"
GC = [sys.executable, "-c", "from gascity.cli.main import main; main()"]


def make_mail(script: Path, tmp_path: Path, **settings: object) -> ExecMail:
    ctx = PluginContext(
        role="mail",
        name="exec",
        argument=str(script),
        settings=dict(settings),
        city_name="test-city",
        city_dir=tmp_path,
        env={**os.environ, "MAIL_FILE": str(tmp_path / "mail.json")},
    )
    return ExecMail(ctx)


class TestPythonMailScript(MailStoreKit):
    lists_archived = False
    many_recipients = 20

    @pytest.fixture
    def mail_hooks(self, tmp_path: Path) -> Iterator[Hooks]:
        yield hooks_for(make_mail(SCRIPTS / "mail_store.py", tmp_path), role="mail")


class TestShellMailScript(MailStoreKit):
    lists_archived = False
    many_recipients = 20

    @pytest.fixture
    def mail_hooks(self, tmp_path: Path) -> Iterator[Hooks]:
        yield hooks_for(make_mail(SCRIPTS / "mail_store.sh", tmp_path), role="mail")


def recorder(tmp_path: Path) -> Path:
    """A script that records its argv and stdin, then answers like the reference's."""
    script = tmp_path / "recorder"
    script.write_text(
        "#!/bin/sh\n"
        'printf "%s|" "$@" >> "$LOG"; cat >> "$LOG"; echo >> "$LOG"\n'
        'case "$1" in\n'
        "  send) echo '{\"id\":\"m-1\",\"from\":\"mayor\",\"to\":\"worker\",\"subject\":\"s\","
        '"body":"b","created_at":"2026-01-02T03:04:05.5Z","read":false}\' ;;\n'
        "  count) echo '{\"total\":3,\"unread\":1}' ;;\n"
        "  *) exit 2 ;;\n"
        "esac\n"
    )
    script.chmod(0o755)
    return script


def test_the_wire_is_the_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "log"
    monkeypatch.setenv("LOG", str(log))
    hooks = hooks_for(make_mail(recorder(tmp_path), tmp_path), role="mail")
    sent = hooks.send_mail(MailDraft("mayor", "worker", "", "first line\nmore <b>"))
    assert sent.id == "m-1" and sent.thread_id == "m-1" and not sent.read
    assert sent.created_at.isoformat() == "2026-01-02T03:04:05.500000+00:00"
    count = hooks.mail_count("worker")
    assert (count.open, count.unread) == (3, 1)
    lines = log.read_text().splitlines()
    assert lines == [
        "ensure-running|",
        'send|worker|{"from":"mayor","subject":"first line",'
        '"body":"first line\\nmore \\u003cb\\u003e"}',
        "count|worker|",
    ]


def test_mark_read_delete_and_check_are_the_references_ops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The reference's gc mail mark-read / delete / check call these ops, not read,
    # archive or inbox: a script may give them their own meaning.
    log = tmp_path / "log"
    monkeypatch.setenv("LOG", str(log))
    hooks = hooks_for(make_mail(recorder(tmp_path), tmp_path), role="mail")
    hooks.mark_read("m-1")
    assert hooks.delete_mail("m-1") is True
    assert hooks.mail_check("worker") == []
    assert log.read_text().splitlines()[1:] == [
        "mark-read|m-1|", "delete|m-1|", "check|worker|",
    ]


def test_exit_2_to_everything_optional_is_success(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOG", str(tmp_path / "log"))
    hooks = hooks_for(make_mail(recorder(tmp_path), tmp_path), role="mail")
    assert hooks.mail_inbox("worker") == []
    assert hooks.mail_thread("m-1") == []
    hooks.mark_unread("m-1")
    assert hooks.archive_mail("m-1") is True
    with pytest.raises(Unsupported, match="does not implement read"):
        hooks.read_mail("m-1")


def test_a_hanging_script_times_out_with_the_op_named(tmp_path: Path) -> None:
    script = tmp_path / "hangs"
    script.write_text('#!/bin/sh\n[ "$1" = ensure-running ] && exit 2\nexec sleep 30\n')
    script.chmod(0o755)
    hooks = hooks_for(
        make_mail(script, tmp_path, timeout="500ms", kill_grace="100ms"), role="mail"
    )
    with pytest.raises(StoreUnavailable, match=r"hangs all worker: timed out after 0\.5s"):
        hooks.mail_inbox("worker")


def test_garbage_output_is_a_clear_error_naming_the_op(tmp_path: Path) -> None:
    script = tmp_path / "garbage"
    script.write_text("#!/bin/sh\necho 'ok!'\n")
    script.chmod(0o755)
    hooks = hooks_for(make_mail(script, tmp_path), role="mail")
    with pytest.raises(StoreUnavailable, match=r"garbage count worker: expected \{"):
        hooks.mail_count("worker")
    with pytest.raises(StoreUnavailable, match=r"garbage all worker: expected a JSON array"):
        hooks.mail_inbox("worker")
    with pytest.raises(StoreUnavailable, match=r"garbage send worker: expected a message"):
        hooks.send_mail(MailDraft("a", "worker", "s", "b"))


def test_gc_mail_uses_the_script_with_string_ids(tmp_path: Path) -> None:
    city = tmp_path / "city"
    city.mkdir()
    (city / "city.toml").write_text(
        f'[workspace]\nname = "w"\n\n[mail]\nprovider = "exec:{SCRIPTS / "mail_store.py"}"\n'
    )
    env = {**os.environ, "MAIL_FILE": str(tmp_path / "mail.json")}
    env.pop("GC_MAIL", None)

    def gc(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*GC, "--city", str(city), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    sent = gc(
        "mail", "send", "--from", "mayor", "--to", "worker", "--subject", "Plan",
        "--body", "do it", "--json",
    )
    assert sent.returncode == 0, sent.stderr
    mid = json.loads(sent.stdout)["id"]
    assert mid == "msg-0001"
    checked = gc("mail", "check", "worker")  # the script's check op: one unread
    assert (checked.returncode, checked.stdout.strip()) == (0, "worker: 1 unread"), checked.stderr
    read = gc("mail", "read", mid, "--json")
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout)["body"] == "do it"
    assert gc("mail", "check", "worker").returncode == 1  # nothing unread
    assert gc("mail", "mark-unread", mid).returncode == 0
    marked = gc("mail", "mark-read", mid)
    assert marked.returncode == 0, marked.stderr
    assert gc("mail", "check", "worker").returncode == 1
    deleted = gc("mail", "delete", mid)
    assert deleted.returncode == 0, deleted.stderr
    again = gc("mail", "delete", mid)
    assert again.returncode == 1 and "already archived" in again.stderr
