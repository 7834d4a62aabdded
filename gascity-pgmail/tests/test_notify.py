"""LISTEN/NOTIFY: a follower wakes on a push, not on a poll."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gascity.testing import wait_for
from gascity.types import MailDraft
from gascity_pgmail.store import PostgresMail
from gascity_pgmail.testing import PostgresServer

from .conftest import StoreFactory, make_context


def test_wait_wakes_on_mail_from_another_store(make_store: StoreFactory) -> None:
    follower, sender = make_store(), make_store()
    # The first wait subscribes and asks the caller to look once (mail may predate it).
    assert follower.wait_mail("worker", 10.0) is True
    # Silence: the next wait times out.
    t0 = time.monotonic()
    assert follower.wait_mail("worker", 0.3) is False
    assert time.monotonic() - t0 >= 0.25

    woke: list[tuple[bool | None, float]] = []

    def follow() -> None:
        start = time.monotonic()
        woke.append((follower.wait_mail("worker", 20.0), time.monotonic() - start))

    thread = threading.Thread(target=follow)
    thread.start()
    # Mail to someone else must not wake the follower.
    sender.send_mail(MailDraft("mayor", "other", "s", "b"))
    time.sleep(0.2)  # let a wrong wake-up happen if it is going to
    assert woke == []
    sender.send_mail(MailDraft("mayor", "worker", "s", "b"))
    thread.join(10)
    assert woke and woke[0][0] is True
    assert woke[0][1] < 5.0, "woken by the push, well before the 20 s timeout"


def test_mail_between_waits_is_not_lost(make_store: StoreFactory) -> None:
    follower, sender = make_store(), make_store()
    assert follower.wait_mail("worker", 10.0) is True
    sender.send_mail(MailDraft("mayor", "worker", "s", "b"))
    # Sent while nobody was waiting: the next wait returns at once.
    wait_for(lambda: follower.wait_mail("worker", 0.1), 5, what="pending notification")


def test_other_city_does_not_wake(make_store: StoreFactory) -> None:
    follower, stranger = make_store(city="north"), make_store(city="south")
    assert follower.wait_mail("worker", 10.0) is True
    stranger.send_mail(MailDraft("mayor", "worker", "s", "b"))
    assert follower.wait_mail("worker", 0.5) is False


def test_reply_notifies_the_original_sender(make_store: StoreFactory) -> None:
    store = make_store()
    root = store.send_mail(MailDraft("mayor", "worker", "plan", "b"))
    assert store.wait_mail("mayor", 10.0) is True
    store.reply_mail(root.id, "worker", "ack", None)
    assert store.wait_mail("mayor", 5.0) is True


def test_without_notify_the_hook_declines(make_store: StoreFactory) -> None:
    store = make_store(notify=False)
    assert store.wait_mail("worker", 0.1) is None


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


def test_listener_survives_a_restart(own_server: PostgresServer, tmp_path: Path) -> None:
    follower = PostgresMail(make_context(own_server.dsn, tmp_path))
    sender = PostgresMail(make_context(own_server.dsn, tmp_path))
    try:
        assert follower.wait_mail("worker", 10.0) is True
        own_server.restart()
        # The lost connection may have swallowed a push: the follower is told to look.
        assert follower.wait_mail("worker", 10.0) is True
        listener = follower._listener
        assert listener is not None
        wait_for(lambda: listener._listening, 15, what="listener back")
        while follower.wait_mail("worker", 0.05):
            pass  # drain the "look again" flags raised by the reconnect
        sender.send_mail(MailDraft("mayor", "worker", "s", "after restart"))
        assert follower.wait_mail("worker", 10.0) is True
    finally:
        follower.close()
        sender.close()
