"""The session provider conformance kit: lifecycle, discovery, liveness, metadata and
the best-effort operations (peek, nudge, interrupt), after the reference's groups.

Every check of the reference's ``internal/runtime/runtimetest/conformance.go`` is
here with the reference's expectation (``docs/plugin-authors.md`` has the table);
the knobs below are only for what a provider cannot do by design."""

from __future__ import annotations

import shlex
import threading
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TypeVar

import pytest

from ...errors import SessionError, SessionExists, SessionNotFound, Unsupported
from ...plugins import Hooks
from ...types import META_FINGERPRINT, Liveness, RunningSession, StartConfig
from ..support import wait_for

__all__ = ["OPTIONAL_SESSION_HOOKS", "SessionProviderKit"]

T = TypeVar("T")

OPTIONAL_SESSION_HOOKS = ("is_running", "send_keys", "clear_scrollback", "copy_to")
"""The optional hooks the reference's suite needs (tmux, exec and k8s have them all)."""

ODD_VALUE = "it's \"quoted\"; $HOME `x` \\ ünï"


class SessionProviderKit:
    """Subclass, and provide a ``session_hooks`` fixture yielding a :class:`Hooks`."""

    # Knobs for providers that cannot do something by design.
    supports_meta = True
    supports_peek = True
    supports_nudge = True
    supports_interrupt = True
    supports_pre_start = True
    pre_start_failure_is_fatal = False
    """Gas City's spec: a failing pre_start is reported and the start goes on. True
    only for a provider that stays strict (the start then fails and leaves nothing)."""
    optional_hooks: tuple[str, ...] = ()
    """Optional session hooks the provider must implement (``is_running``,
    ``send_keys``, ``clear_scrollback``, ``copy_to``): checked, then exercised."""
    checks_work_dir = True
    """False where the session's directory is not the caller's (a pod's /workspace)."""
    reports_dead = True
    """The listing reports an exited agent as DEAD (else it may only vanish)."""
    timeout = 20.0
    """Seconds to wait for a real system to show a change."""

    @pytest.fixture
    def session_hooks(self) -> Iterator[Hooks]:
        raise NotImplementedError("subclass the kit and provide a session_hooks fixture")

    @pytest.fixture
    def hooks(self, session_hooks: Hooks) -> Iterator[Hooks]:
        started: list[str] = []
        self._started = started
        yield session_hooks
        for name in started:
            try:
                session_hooks.stop(name)
            except Exception:
                pass

    # ----------------------------------------------------------------- helpers

    def name(self, tag: str = "s") -> str:
        return f"kit-{tag}-{uuid.uuid4().hex[:6]}"

    def config(self, command: str, work_dir: Path | str | None = None, **kw: object) -> StartConfig:
        return StartConfig(
            command=command,
            work_dir=str(work_dir or Path.cwd()),
            startup_timeout=self.timeout,
            **kw,  # type: ignore[arg-type]
        )

    def start(self, hooks: Hooks, name: str, config: StartConfig) -> None:
        self._started.append(name)
        hooks.start(name, config)

    def listed(self, hooks: Hooks, name: str) -> RunningSession | None:
        for record in hooks.list_running(""):
            if record.name == name:
                return record
        return None

    def wait_output(self, hooks: Hooks, name: str, text: str) -> str:
        return wait_for(
            lambda: (out if text in (out := hooks.peek(name, 200)) else None),
            self.timeout,
            what=f"{text!r} in the output of {name}",
        )

    # --------------------------------------------------------------- lifecycle

    def test_start_then_listed(self, hooks: Hooks, tmp_path: Path) -> None:
        name = self.name("start")
        self.start(hooks, name, self.config("sleep 300", tmp_path))
        record = wait_for(lambda: self.listed(hooks, name), self.timeout, what=name)
        assert record.liveness is not Liveness.DEAD
        if hooks.implements("is_running"):
            assert hooks.is_running(name) is True

    def test_optional_hooks_are_implemented(self, hooks: Hooks) -> None:
        missing = [h for h in self.optional_hooks if not hooks.implements(h)]
        assert missing == [], f"the provider does not implement {missing}"

    def test_start_existing_name_raises(self, hooks: Hooks, tmp_path: Path) -> None:
        name = self.name("dup")
        self.start(hooks, name, self.config("sleep 300", tmp_path))
        with pytest.raises(SessionExists):
            hooks.start(name, self.config("sleep 300", tmp_path))
        assert [r.name for r in hooks.list_running("") if r.name == name] == [name]

    def test_stop_is_idempotent(self, hooks: Hooks, tmp_path: Path) -> None:
        name = self.name("stop")
        self.start(hooks, name, self.config("sleep 300", tmp_path))
        assert hooks.stop(name) is True
        wait_for(lambda: self.listed(hooks, name) is None, self.timeout, what=f"{name} gone")
        if hooks.implements("is_running"):
            assert hooks.is_running(name) is False
        assert hooks.stop(name) is False

    def test_stop_unknown_is_noop(self, hooks: Hooks) -> None:
        assert hooks.stop(self.name("never")) is False

    def test_restart_after_stop(self, hooks: Hooks, tmp_path: Path) -> None:
        name = self.name("again")
        self.start(hooks, name, self.config("sleep 300", tmp_path))
        hooks.stop(name)
        wait_for(lambda: self.listed(hooks, name) is None, self.timeout, what=f"{name} gone")
        self.start(hooks, name, self.config("sleep 300", tmp_path))
        assert wait_for(lambda: self.listed(hooks, name), self.timeout, what=name)

    def test_failed_pre_start_fails_start_and_leaves_nothing(
        self, hooks: Hooks, tmp_path: Path
    ) -> None:
        if not self.supports_pre_start:
            pytest.skip("provider declares no pre_start support")
        name = self.name("pre")
        if not self.pre_start_failure_is_fatal:
            # Gas City's spec: the failure is reported, the session still starts.
            self.start(hooks, name, self.config("sleep 300", tmp_path, pre_start=("exit 3",)))
            assert wait_for(lambda: self.listed(hooks, name), self.timeout, what=name)
            return
        with pytest.raises(SessionError):
            self.start(
                hooks, name, self.config("sleep 300", tmp_path, pre_start=("exit 3",))
            )
        assert self.listed(hooks, name) is None

    def test_pre_start_runs_before_the_agent(self, hooks: Hooks, tmp_path: Path) -> None:
        if not self.supports_pre_start or not self.supports_peek:
            pytest.skip("provider declares no pre_start or peek support")
        name = self.name("prerun")
        marker = tmp_path / "pre-marker"
        self.start(
            hooks,
            name,
            self.config(
                f"cat {shlex.quote(str(marker))}; sleep 300",
                tmp_path,
                pre_start=(f"echo pre-ran > {shlex.quote(str(marker))}",),
            ),
        )
        self.wait_output(hooks, name, "pre-ran")

    # --------------------------------------------------------------- discovery

    def test_prefix_filters_listing(self, hooks: Hooks, tmp_path: Path) -> None:
        tag = uuid.uuid4().hex[:6]
        a, b = f"kit-a{tag}-1", f"kit-b{tag}-1"
        self.start(hooks, a, self.config("sleep 300", tmp_path))
        self.start(hooks, b, self.config("sleep 300", tmp_path))
        names = {r.name for r in hooks.list_running(f"kit-a{tag}")}
        assert a in names
        assert b not in names

    def test_many_sessions_listed_in_one_call(self, hooks: Hooks, tmp_path: Path) -> None:
        tag = uuid.uuid4().hex[:6]
        names = [f"kit-m{tag}-{i}" for i in range(1, 6)] + [f"Kit_M{tag}-Upper"]
        for name in names:
            self.start(hooks, name, self.config("sleep 300", tmp_path))
        listed = {r.name for r in hooks.list_running("")}
        assert set(names) <= listed

    def test_concurrent_starts(self, hooks: Hooks, tmp_path: Path) -> None:
        tag = uuid.uuid4().hex[:6]
        names = [f"kit-c{tag}-{i}" for i in range(4)]
        self._started.extend(names)
        errors: list[BaseException] = []

        def go(n: str) -> None:
            try:
                hooks.start(n, self.config("sleep 300", tmp_path))
            except BaseException as exc:  # collected for the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=go, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert set(names) <= {r.name for r in hooks.list_running("")}
        if hooks.implements("is_running"):
            assert [hooks.is_running(n) for n in names] == [True] * len(names)

    # ---------------------------------------------------------------- liveness

    def test_exited_agent_is_never_reported_alive(self, hooks: Hooks, tmp_path: Path) -> None:
        name = self.name("exit")
        self.start(hooks, name, self.config("echo bye", tmp_path))

        def settled() -> bool:
            record = self.listed(hooks, name)
            if record is None:
                return not self.reports_dead
            return record.liveness is Liveness.DEAD

        wait_for(settled, self.timeout, what=f"{name} reported dead")

    def test_process_alive_is_true_false_or_unknown(self, hooks: Hooks, tmp_path: Path) -> None:
        name = self.name("proc")
        self.start(hooks, name, self.config("sleep 300", tmp_path))
        wait_for(lambda: self.listed(hooks, name), self.timeout, what=name)
        assert hooks.process_alive(name, ["gc-no-such-process"]) in (False, None)
        assert hooks.process_alive(name, ["sleep"]) in (True, None)

    # ---------------------------------------------------------------- metadata

    def test_meta_round_trip(self, hooks: Hooks, tmp_path: Path) -> None:
        name = self.name("meta")
        self.start(hooks, name, self.config("sleep 300", tmp_path))
        if not self.supports_meta:
            with pytest.raises(Unsupported):
                hooks.set_meta(name, "k", "v")
            return
        hooks.set_meta(name, "gc.kit", ODD_VALUE)
        assert hooks.get_meta(name, "gc.kit") == ODD_VALUE
        assert hooks.get_meta(name, "gc.unset") is None
        hooks.remove_meta(name, "gc.kit")
        assert hooks.get_meta(name, "gc.kit") is None
        hooks.remove_meta(name, "gc.kit")  # removing an unset key is fine

    def test_initial_meta_is_listed(self, hooks: Hooks, tmp_path: Path) -> None:
        if not self.supports_meta:
            pytest.skip("provider declares no metadata support")
        name = self.name("imeta")
        self.start(
            hooks, name, self.config("sleep 300", tmp_path, meta={META_FINGERPRINT: "abc123"})
        )
        record = wait_for(lambda: self.listed(hooks, name), self.timeout, what=name)
        if record.meta is not None:
            assert record.meta.get(META_FINGERPRINT) == "abc123"
        assert hooks.get_meta(name, META_FINGERPRINT) == "abc123"

    def test_listing_returns_meta_set_later(self, hooks: Hooks, tmp_path: Path) -> None:
        if not self.supports_meta:
            pytest.skip("provider declares no metadata support")
        name = self.name("lmeta")
        self.start(hooks, name, self.config("sleep 300", tmp_path))
        hooks.set_meta(name, "gc.drain", "1")
        record = self.listed(hooks, name)
        assert record is not None
        if record.meta is not None:
            assert record.meta.get("gc.drain") == "1"

    def test_meta_on_missing_session(self, hooks: Hooks) -> None:
        # The reference expects nothing here; a provider may refuse (SessionNotFound)
        # or keep the value, but never makes a session of it.
        if not self.supports_meta:
            pytest.skip("provider declares no metadata support")
        ghost = self.name("ghost")
        try:
            hooks.set_meta(ghost, "k", "v")
        except SessionError:
            pass
        assert self.listed(hooks, ghost) is None
        if hooks.implements("is_running"):
            assert hooks.is_running(ghost) is False

    # ------------------------------------------------------------- best effort

    def test_peek_shows_output(self, hooks: Hooks, tmp_path: Path) -> None:
        name = self.name("peek")
        self.start(hooks, name, self.config("echo kit-marker-$((40+2)); sleep 300", tmp_path))
        if not self.supports_peek:
            with pytest.raises(Unsupported):
                hooks.peek(name, 10)
            return
        self.wait_output(hooks, name, "kit-marker-42")

    def test_env_and_work_dir_reach_the_agent(self, hooks: Hooks, tmp_path: Path) -> None:
        if not self.supports_peek:
            pytest.skip("provider declares no peek support")
        name = self.name("env")
        work = tmp_path / "work dir"
        work.mkdir()
        self.start(
            hooks,
            name,
            self.config(
                'echo "V=$KIT_VAR"; echo "D=$(pwd)"; sleep 300',
                work,
                env={"KIT_VAR": "x y;z"},
            ),
        )
        out = self.wait_output(hooks, name, "V=x y;z")
        if self.checks_work_dir:
            self.wait_output(hooks, name, f"D={work}")
        assert "V=x y;z" in out

    def test_nudge_types_text_literally(self, hooks: Hooks, tmp_path: Path) -> None:
        name = self.name("nudge")
        self.start(hooks, name, self.config("cat", tmp_path))
        wait_for(lambda: self.listed(hooks, name), self.timeout, what=name)
        if not self.supports_nudge:
            with pytest.raises(Unsupported):
                hooks.nudge(name, "hi")
            return
        text = "hello 'kit' $HOME; C-c Enter"
        hooks.nudge(name, text)
        if self.supports_peek:
            out = self.wait_output(hooks, name, text)
            assert text in out

    def test_interrupt_reaches_the_agent(self, hooks: Hooks, tmp_path: Path) -> None:
        name = self.name("int")
        script = "trap 'echo got-int' INT; echo ready; while :; do sleep 0.1; done"
        self.start(hooks, name, self.config(script, tmp_path))
        if not self.supports_interrupt:
            with pytest.raises(Unsupported):
                hooks.interrupt(name)
            return
        if self.supports_peek:
            self.wait_output(hooks, name, "ready")
        hooks.interrupt(name)
        if self.supports_peek:
            self.wait_output(hooks, name, "got-int")

    def test_operations_on_missing_session(self, hooks: Hooks) -> None:
        # The reference's missing-session semantics: interrupt, nudge and send-keys
        # are best-effort (no error). It sets none for peek: an error or nothing.
        ghost = self.name("ghost")
        if self.supports_peek:
            try:
                assert hooks.peek(ghost, 5) == ""
            except SessionError:
                pass
        if self.supports_nudge:
            hooks.nudge(ghost, "x")
        if self.supports_interrupt:
            hooks.interrupt(ghost)
        if hooks.implements("send_keys"):
            hooks.send_keys(ghost, ["Enter"])
        if hooks.implements("is_running"):
            assert hooks.is_running(ghost) is False

    def test_optional_hooks_on_a_running_session(self, hooks: Hooks, tmp_path: Path) -> None:
        # The reference's best-effort group: each optional hook the provider
        # implements works on a running session without error.
        name = self.name("optional")
        self.start(hooks, name, self.config("sleep 300", tmp_path))
        assert wait_for(partial(self.listed, hooks, name), self.timeout, what=name)
        if hooks.implements("is_running"):
            assert wait_for(partial(hooks.is_running, name), self.timeout, what="is_running")
        if hooks.implements("send_keys"):
            hooks.send_keys(name, ["Enter"])
        if hooks.implements("clear_scrollback"):
            hooks.clear_scrollback(name)
        if hooks.implements("copy_to"):
            hooks.copy_to(name, "/nonexistent-path-for-conformance", "")
        hooks.stop(name)
        if hooks.implements("is_running"):
            gone = partial(lambda: hooks.is_running(name) is False)
            assert wait_for(gone, self.timeout, what=f"{name} not running")

    def test_meta_overwrite_and_multiple_keys(self, hooks: Hooks, tmp_path: Path) -> None:
        if not self.supports_meta:
            pytest.skip("provider declares no metadata support")
        name = self.name("metas")
        self.start(hooks, name, self.config("sleep 300", tmp_path))
        hooks.set_meta(name, "key", "v1")
        hooks.set_meta(name, "key", "v2")
        hooks.set_meta(name, "key2", "val2")
        assert hooks.get_meta(name, "key") == "v2"
        assert hooks.get_meta(name, "key2") == "val2"
        assert hooks.get_meta(name, "never-set") is None
        hooks.remove_meta(name, "key")
        assert hooks.get_meta(name, "key") is None
        assert hooks.get_meta(name, "key2") == "val2"

    def test_process_alive_with_no_names_is_true(self, hooks: Hooks, tmp_path: Path) -> None:
        name = self.name("noproc")
        self.start(hooks, name, self.config("sleep 300", tmp_path))
        assert hooks.process_alive(name, []) is True

    def test_process_alive_is_not_true_after_stop(self, hooks: Hooks, tmp_path: Path) -> None:
        # The reference expects false; a provider that cannot tell says unknown (None),
        # never alive.
        name = self.name("procstop")
        self.start(hooks, name, self.config("sleep 300", tmp_path))
        hooks.stop(name)
        wait_for(partial(lambda: self.listed(hooks, name) is None), self.timeout, what="gone")
        try:
            assert hooks.process_alive(name, ["sleep"]) is not True
        except SessionNotFound:
            pass  # no session is no process

    def test_last_activity_without_error(self, hooks: Hooks, tmp_path: Path) -> None:
        name = self.name("activity")
        self.start(hooks, name, self.config("sleep 300", tmp_path))
        try:
            when = hooks.last_activity(name)
        except Unsupported:
            return
        assert when is None or when.tzinfo is not None

    # ------------------------------------------- concurrency on distinct sessions

    def _three_running(self, hooks: Hooks, tmp_path: Path, tag: str) -> list[str]:
        names = [self.name(f"{tag}{i}") for i in range(3)]
        for n in names:
            self.start(hooks, n, self.config("sleep 300", tmp_path))
        for n in names:
            assert wait_for(partial(self.listed, hooks, n), self.timeout, what=n)
        return names

    def _each_at_once(self, names: list[str], op: Callable[[str], T]) -> list[T]:
        """``op`` on every name from its own thread at once; the first error is raised."""
        results: dict[str, T] = {}
        errors: list[BaseException] = []
        gate = threading.Barrier(len(names))

        def run(n: str) -> None:
            gate.wait()
            try:
                results[n] = op(n)
            except BaseException as exc:  # re-raised below, in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return [results[n] for n in names]

    def test_concurrent_stops(self, hooks: Hooks, tmp_path: Path) -> None:
        names = self._three_running(hooks, tmp_path, "cstop")
        self._each_at_once(names, hooks.stop)
        for n in names:
            wait_for(partial(lambda n: self.listed(hooks, n) is None, n), self.timeout,
                     what=f"{n} gone")
            if hooks.implements("is_running"):
                assert hooks.is_running(n) is False

    def test_concurrent_interrupts(self, hooks: Hooks, tmp_path: Path) -> None:
        if not self.supports_interrupt:
            pytest.skip("provider declares no interrupt support")
        names = self._three_running(hooks, tmp_path, "cint")
        self._each_at_once(names, hooks.interrupt)

    def test_concurrent_is_running(self, hooks: Hooks, tmp_path: Path) -> None:
        if not hooks.implements("is_running"):
            pytest.skip("provider has no is_running hook")
        names = self._three_running(hooks, tmp_path, "cis")
        assert self._each_at_once(names, hooks.is_running) == [True, True, True]

    def test_concurrent_listings_by_prefix(self, hooks: Hooks, tmp_path: Path) -> None:
        names = self._three_running(hooks, tmp_path, "clist")
        listings = self._each_at_once(names, hooks.list_running)
        for n, listing in zip(names, listings, strict=True):
            assert n in {r.name for r in listing}

    def test_concurrent_process_alive(self, hooks: Hooks, tmp_path: Path) -> None:
        names = self._three_running(hooks, tmp_path, "cproc")
        assert self._each_at_once(names, lambda n: hooks.process_alive(n, [])) == [True] * 3
        for answer in self._each_at_once(names, lambda n: hooks.process_alive(n, ["sleep"])):
            assert answer in (True, None)  # None: the provider cannot tell
